"""Checks of a study against the result table it will produce, made before any point runs."""

from __future__ import annotations

from infersim.foundation.errors import Problem, SpecError
from infersim.foundation.suggest import did_you_mean
from infersim.studies.types import PlotKind, Study


def result_columns(study: Study) -> tuple[set[str], set[str]]:
    """(every column of the study's result table, the numeric metric columns among them)."""
    from infersim.studies.evaluate import metric_kinds

    kinds = metric_kinds(study.evaluate.value)
    shown = [m for m in study.metrics if m in kinds] if study.metrics else list(kinds)
    shown += ["feasible", "reason"]
    cols = {"key", "status", *study.parameters, *shown}
    numeric = {m for m in shown if kinds.get(m) == "number"}
    return cols, numeric


def check_plots(study: Study) -> None:
    """Every column a plot names must exist in the result table (checked before any point
    runs, so a typo costs nothing); y axes (and pareto/scatter x) must be numeric metrics."""
    cols, numeric = result_columns(study)
    params = set(study.parameters)
    problems: list[Problem] = []

    def hint(name: str, pool: set[str]) -> str:
        dotted = [c for c in sorted(pool) if c.endswith("." + name)]
        return (f"did you mean {dotted[0]!r}?" if dotted else did_you_mean(name, sorted(pool))
                or "use a swept or fixed parameter, or a metric listed under `metrics:`")

    for i, spec in enumerate(study.plots):
        metric_axes = list(spec.y) + ([spec.x] if spec.kind in (PlotKind.PARETO,
                                                               PlotKind.SCATTER) else [])
        fields = [("x", spec.x), *(("y", y) for y in spec.y), ("group", spec.group),
                  *(("where", w) for w in spec.where)]
        for field_name, name in fields:
            if not name:
                continue
            if name not in cols:
                problems.append(Problem(f"plots[{i}].{field_name}",
                                        f"{name!r} is not a column of the results",
                                        hint(name, cols)))
            elif name in metric_axes and name not in numeric and name not in params:
                problems.append(Problem(f"plots[{i}].{field_name}",
                                        f"{name!r} is not a numeric metric",
                                        hint(name, numeric)))
    if problems:
        raise SpecError(study.source or f"study {study.name}", problems)
