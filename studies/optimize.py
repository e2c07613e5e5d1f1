"""Search spaces for the multi-objective optimizer (optuna's NSGA-II sampler).

A list dimension becomes a categorical choice; a range a float or integer distribution
(log-scaled when `log: true`). The loop itself is in `studies.runner._run_optimize`.
"""

from __future__ import annotations

from typing import Any

from infersim.studies.types import Study


def distributions(study: Study) -> dict[str, Any]:
    from optuna.distributions import (
        CategoricalDistribution,
        FloatDistribution,
        IntDistribution,
    )

    out: dict[str, Any] = {}
    for d in study.sweep:
        if d.range is None:
            out[d.name] = CategoricalDistribution(list(d.values))
        elif d.range.integer:
            out[d.name] = IntDistribution(int(d.range.low), int(d.range.high), log=d.range.log)
        else:
            out[d.name] = FloatDistribution(d.range.low, d.range.high, log=d.range.log)
    return out
