"""Every shipped spec × models × phases through the front door: finite positive latency and
energy, or an infeasibility report — never NaN/inf, never a crash."""

from __future__ import annotations

import math

import pytest

import infersim as isim
from infersim.hwmodels import Infeasibility
from tests._support import SPECS

MODELS = ["llama-3.1-8b", "llama-3.1-70b", "mixtral-8x7b"]
PHASES = {"prefill512": dict(phase="prefill", prompt=512),
          "decode1024": dict(phase="decode", context=1024)}


@pytest.mark.parametrize("phase", list(PHASES))
@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("path", SPECS, ids=lambda p: p.stem)
def test_spec_model_phase(path, model, phase):
    r = isim.simulate(model, path.stem, **PHASES[phase])
    assert not math.isnan(r.latency_s) and not math.isnan(r.energy_j)
    if r.feasible:
        assert math.isfinite(r.latency_s) and r.latency_s > 0
        assert math.isfinite(r.energy_j) and r.energy_j > 0
    else:
        inf = r.infeasible
        assert isinstance(inf, Infeasibility)
        assert inf.demand > inf.capacity and inf.unit and inf.levers
        assert str(inf).startswith("does not fit")
