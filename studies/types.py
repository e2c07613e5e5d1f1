"""The types of a design study: frozen objects built by `studies/spec.py` from a study file.

A point of a study is a flat mapping from parameter name to value: `model`, `hardware`,
`runtime`, `hw.<spec field path>`, `scenario.<knob>`, `traffic.<knob>`, `economics.<knob>`,
`runtime_knobs.<knob>` (a constant of the runtime's profile, as `--runtime-set`).
The file format is documented in docs/studies.md and in `studies/spec.py`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any


class Evaluate(str, Enum):
    SIMULATE = "simulate"  # one model step: infersim.api.simulate
    SERVE = "serve"  # request-level serving: infersim.api.serve


class Method(str, Enum):
    GRID = "grid"
    RANDOM = "random"
    OPTIMIZE = "optimize"


class Goal(str, Enum):
    MINIMIZE = "minimize"
    MAXIMIZE = "maximize"


class PlotKind(str, Enum):
    PARETO = "pareto"  # metric vs metric, non-dominated front highlighted
    LINE = "line"  # metric vs parameter, one line per group
    SCATTER = "scatter"  # metric vs metric, coloured by a parameter
    BAR = "bar"  # metric per parameter value, grouped bars
    ROOFLINE = "roofline"  # every operator of one point under the hardware's roofline
    BREAKDOWN = "breakdown"  # operator time by kind, one stacked bar per point


@dataclass(frozen=True)
class Range:
    """A continuous or integer interval. Grid search takes `num` points (log-spaced if log)."""

    low: float
    high: float
    log: bool = False
    integer: bool = False
    num: int = 0

    def grid(self) -> tuple[float | int, ...]:
        if self.num <= 1:
            vals: list[float] = [self.low]
        elif self.log:
            a, b = math.log(self.low), math.log(self.high)
            vals = [math.exp(a + (b - a) * i / (self.num - 1)) for i in range(self.num)]
        else:
            vals = [self.low + (self.high - self.low) * i / (self.num - 1)
                    for i in range(self.num)]
        if self.integer:
            out: list[float | int] = []
            for v in vals:
                iv = round(v)
                if iv not in out:
                    out.append(iv)
            return tuple(out)
        return tuple(vals)


@dataclass(frozen=True)
class Dimension:
    """One swept parameter: an explicit list of values, or a range."""

    name: str
    values: tuple[Any, ...] = ()
    range: Range | None = None

    def grid_values(self) -> tuple[Any, ...]:
        return self.values if self.range is None else self.range.grid()


@dataclass(frozen=True)
class Objective:
    metric: str
    goal: Goal


@dataclass(frozen=True)
class Search:
    method: Method = Method.GRID
    n: int = 0  # random: number of points
    seed: int = 0  # random / optimize
    n_trials: int = 0  # optimize: number of evaluated trials
    population: int = 16  # optimize: NSGA-II population (and batch) size
    objectives: tuple[Objective, ...] = ()


@dataclass(frozen=True)
class PlotSpec:
    kind: PlotKind
    x: str = ""
    y: tuple[str, ...] = ()
    group: str = ""  # line/bar: one series per value; scatter/pareto: colour
    logx: bool = False
    logy: bool = False
    where: Mapping[str, Any] = field(default_factory=dict)  # roofline/breakdown: point filter
    title: str = ""
    goals: tuple[Goal, Goal] = (Goal.MINIMIZE, Goal.MAXIMIZE)  # pareto: goals for (x, y)
    points: int = 8  # breakdown: at most this many points


@dataclass(frozen=True)
class Study:
    """A resolved study. `fixed` and dimension names are flat parameter paths."""

    name: str
    description: str
    evaluate: Evaluate
    fixed: Mapping[str, Any]
    sweep: tuple[Dimension, ...]
    search: Search
    metrics: tuple[str, ...]
    plots: tuple[PlotSpec, ...]
    source: str = ""
    config: Mapping[str, Any] = field(default_factory=dict)  # the YAML document as loaded

    @property
    def parameters(self) -> tuple[str, ...]:
        """All parameter names of a point: fixed ones, then swept ones."""
        names = list(self.fixed)
        names += [d.name for d in self.sweep if d.name not in self.fixed]
        return tuple(names)

    def resolved_config(self) -> dict[str, Any]:
        """A plain dict that reproduces this study (written next to its outputs)."""
        d: dict[str, Any] = {"name": self.name, "description": self.description,
                             "evaluate": self.evaluate.value, "fixed": dict(self.fixed)}
        sw: dict[str, Any] = {}
        for dim in self.sweep:
            if dim.range is None:
                sw[dim.name] = list(dim.values)
            else:
                r = dim.range
                sw[dim.name] = {"min": r.low, "max": r.high, "log": r.log, "int": r.integer,
                                "num": r.num}
        d["sweep"] = sw
        s = self.search
        srch: dict[str, Any] = {"method": s.method.value}
        if s.method is Method.RANDOM:
            srch.update(n=s.n, seed=s.seed)
        elif s.method is Method.OPTIMIZE:
            srch.update(n_trials=s.n_trials, population=s.population, seed=s.seed)
        if s.objectives:
            srch["objectives"] = {o.metric: o.goal.value for o in s.objectives}
        d["search"] = srch
        d["metrics"] = list(self.metrics)
        d["plots"] = [_plot_dict(p) for p in self.plots]
        return d


def _plot_dict(p: PlotSpec) -> dict[str, Any]:
    d: dict[str, Any] = {"kind": p.kind.value}
    if p.x:
        d["x"] = p.x
    if p.y:
        d["y"] = list(p.y) if len(p.y) > 1 else p.y[0]
    for k in ("group", "title"):
        if getattr(p, k):
            d[k] = getattr(p, k)
    if p.logx:
        d["logx"] = True
    if p.logy:
        d["logy"] = True
    if p.where:
        d["where"] = dict(p.where)
    return d
