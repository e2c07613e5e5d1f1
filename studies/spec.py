"""Loading and validating a design study: YAML → every problem collected → a frozen `Study`
(the types are in `studies/types.py`).

Study file format (every field documented in docs/studies.md):

    name: hbm-sweep                      # [a-z0-9_-]+
    description: HBM bandwidth vs batch on an H100-like chip
    evaluate: simulate                   # simulate (one model step) | serve (request-level)
    fixed:                               # base parameters of every point
      model: llama-3.1-8b
      hardware: h100-sxm
      runtime: graph                     # GPU: graph | eager | trtllm | vllm-v1 | ...
      hw: {memory.hbm.capacity_gb: 96}   # hardware overrides, as `--set` paths
      scenario: {phase: decode, batch: 1, context: 1024, weights: bf16}
      traffic: {rate: 5, requests: 200}  # serve only: keyword arguments of infersim.api.serve
      economics: {lifetime_years: 4, usd_per_kwh: 0.10}
    sweep:                               # the dimensions varied: a list, or a range
      hw.memory.hbm.bandwidth_tb_per_s: [2, 4, 8]
      scenario.batch: {min: 1, max: 256, log: true, int: true, num: 9}
      model: [llama-3.1-8b, mistral-7b]
    search: {method: grid}               # grid | random (n, seed) | optimize (n_trials, seed,
                                         #   population, objectives)
    metrics: [latency_s, tokens_per_s_per_user, cost_per_mtok_usd]
    plots:
      - {kind: pareto, x: cost_per_mtok_usd, y: tokens_per_s_per_user}

A point is a flat mapping from parameter name to value: `model`, `hardware`, `runtime`,
`hw.<spec field path>`, `scenario.<knob>`, `traffic.<knob>`, `economics.<knob>`,
`runtime_knobs.<knob>` (a constant of the runtime's profile, as `--runtime-set`). Loading
collects EVERY problem of the file (field path, line, fix) into one `SpecError`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

from infersim.foundation.errors import InfersimError, InputError, SpecError
from infersim.foundation.schema import Checker
from infersim.foundation.suggest import did_you_mean
from infersim.foundation.yaml import ParsedDoc, load_document
from infersim.studies.types import (
    Dimension,
    Evaluate,
    Goal,
    Method,
    Objective,
    PlotKind,
    PlotSpec,
    Range,
    Search,
    Study,
)

# Scenario knobs: name -> (type, minimum). Mirrors infersim.api.make_scenario's keywords.
SCENARIO_KNOBS: Mapping[str, tuple[type, float | None]] = MappingProxyType({
    "phase": (str, None), "batch": (int, 1), "prompt": (int, 0), "context": (int, 0),
    "chunk": (int, 0), "weights": (str, None), "activations": (str, None), "kv": (str, None),
    "tp": (int, 1), "pp": (int, 1), "ep": (int, 1), "dp": (int, 1), "moe_imbalance": (float, 0.0),
    "draft_model": (str, None), "draft_len": (int, 1), "acceptance": (float, 0.0),
    "moe_exchange": (str, None), "routing_skew": (float, 0.0), "micro_batches": (int, 1),
})

# Economics knobs (see hwmodels/economics.py for meaning and defaults).
ECONOMICS_KNOBS: Mapping[str, tuple[type, float | None]] = MappingProxyType({
    "lifetime_years": (float, 0.0), "usd_per_kwh": (float, 0.0), "utilization": (float, 0.0),
    "pue": (float, 1.0),
})

_TOP_PARAMS = ("model", "hardware", "runtime")
_GROUPS = ("hw", "scenario", "traffic", "economics", "runtime_knobs")


def _runtime_knob_names() -> tuple[str, ...]:
    """Every constant a runtime profile may have changed (`hwmodels.runtime_knobs`): the GPU
    engine knobs and the names the compiled kinds' profiles set; each point's runtime
    checks its own."""
    from infersim.hwmodels.runtime_knobs import catalog, knob_names

    return tuple(dict.fromkeys(n for p in catalog() for n in knob_names(p)))


def _runtimes() -> tuple[str, ...]:
    """Framework runtimes and every compiled kind's profiles (each point's kind validates
    its own: a GPU runtime on an LPU is an error there)."""
    from infersim.hwmodels.registry import MODELS

    names: list[str] = []
    for m in MODELS.values():
        names += [n for n in m.runtimes() if n not in names]
    return tuple(names)


_NAME_PATTERN = r"[a-z0-9][a-z0-9_-]*"
_RANGE_KEYS = {"min", "max", "log", "int", "num"}
_TOP_KEYS = ("name", "description", "evaluate", "fixed", "sweep", "search", "metrics", "plots")
_SEARCH_KEYS = ("method", "n", "seed", "n_trials", "population", "objectives")
_PLOT_KEYS = ("kind", "x", "y", "group", "color", "logx", "logy", "where", "title", "goals",
              "points")

DEFAULT_FIXED: Mapping[str, Any] = MappingProxyType({
    "model": "llama-3.1-8b", "hardware": "h100-sxm",
})


# --------------------------------------------------------------------------------------------
# Loading: strict YAML → collect every problem → frozen Study.
# --------------------------------------------------------------------------------------------


def load_study(path: str | Path, *, check_refs: bool = True) -> Study:
    """Load and validate a study YAML file. Raises one `SpecError` listing every problem.

    With `check_refs`, model and hardware names, and one value of each `hw.*` override, are
    resolved through the model and hardware loaders so that typos surface before any point
    runs."""
    p = Path(path)
    if not p.is_file():
        what = "is a folder, not a study file" if p.is_dir() else "no such study file"
        raise InputError(f"{p}: {what} (give a study YAML file; see docs/studies.md)")
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise InputError(f"{p}: not a UTF-8 text file ({e.reason}); a study is a YAML file"
                         ) from None
    doc = load_document(text, str(p), empty_fix="start with `name:`, `sweep:` ... (see "
                        "docs/studies.md)")
    data, lines = doc.data, doc.lines
    return parse_study(_resolve_paths(data, p.parent), str(p), lines, check_refs=check_refs)


def _resolve_paths(data: Any, base: Path) -> Any:
    """Model/hardware values that are files relative to the study's folder become absolute
    paths (so the study runs from any working directory)."""
    if not isinstance(data, dict):
        return data

    def fix(v: Any) -> Any:
        if isinstance(v, str) and v.endswith((".yaml", ".yml", ".json")):
            cand = base / v
            if not Path(v).is_absolute() and cand.exists():
                return str(cand.resolve())
        return v

    out = dict(data)
    fixed = out.get("fixed")
    if isinstance(fixed, dict):
        out["fixed"] = {k: (fix(v) if k in ("model", "hardware") else v)
                        for k, v in fixed.items()}
    sweep = out.get("sweep")
    if isinstance(sweep, dict):
        out["sweep"] = {k: ([fix(x) for x in v] if k in ("model", "hardware") and
                            isinstance(v, list) else v) for k, v in sweep.items()}
    return out


def parse_study(data: Any, source: str = "<study>", lines: Mapping[str, int] | None = None,
                *, check_refs: bool = True) -> Study:
    """Validate a study given as plain data (`lines`: field path → line, for messages)."""
    v = _Validator(source, ParsedDoc(data, dict(lines or {})))
    study = v.study(data)
    if study is not None and check_refs and not v.problems:
        v.check_refs(study)
    if v.problems or study is None:
        raise SpecError(source, v.problems)
    return study


class _Validator(Checker):
    def __init__(self, source: str, doc: ParsedDoc):
        super().__init__(doc.line)
        self.source = source

    # ---- top level -----------------------------------------------------------------------
    def study(self, data: Any) -> Study | None:
        if not isinstance(data, dict):
            self.add("(file)", "a study file must be a YAML mapping",
                     "start with `name:`, `sweep:` ... (see docs/studies.md)")
            return None
        self.unknown_keys(data, _TOP_KEYS, "")
        name = data.get("name")
        if name is None:
            self.add("name", "missing required field", "add `name: my-study`")
            name = ""
        elif not self.text("name", name, pattern=_NAME_PATTERN,
                           pattern_fix="lower-case letters, digits, '-' or '_', e.g. "
                           "`name: hbm-sweep`"):
            name = str(name)
        desc = data.get("description", "")
        if not self.text("description", desc, allow_empty=True):
            desc = str(desc)
        ev_raw = data.get("evaluate", "simulate")
        evaluate = Evaluate.SIMULATE
        if self.choice("evaluate", ev_raw, [e.value for e in Evaluate]):
            evaluate = Evaluate(ev_raw)
        fixed = self.fixed(data.get("fixed", {}), evaluate)
        sweep = self.sweep(data.get("sweep", {}), evaluate)
        search = self.search(data.get("search", {}), sweep)
        metrics = self.metrics(data.get("metrics", []), evaluate)
        plots = self.plots(data.get("plots", []), evaluate)
        for o in search.objectives:
            self.check_metric(o.metric, evaluate, f"search.objectives.{o.metric}")
        return Study(name, desc, evaluate, MappingProxyType(fixed), sweep, search, metrics,
                     plots, self.source, MappingProxyType(dict(data)))

    # ---- parameters ----------------------------------------------------------------------
    def param_name(self, name: str, path: str, evaluate: Evaluate) -> bool:
        if name in _TOP_PARAMS:
            return True
        group, _, rest = name.partition(".")
        if group not in _GROUPS or not rest:
            allowed = [*_TOP_PARAMS, *(f"{g}.<field>" for g in _GROUPS)]
            hint = did_you_mean(name, [*_TOP_PARAMS, *(f"scenario.{k}" for k in SCENARIO_KNOBS)])
            self.add(path, f"unknown parameter {name!r}", hint or f"use one of {', '.join(allowed)}")
            return False
        if group == "scenario" and rest not in SCENARIO_KNOBS:
            hint = did_you_mean(name, [f"scenario.{k}" for k in SCENARIO_KNOBS])
            self.add(path, f"unknown scenario knob {rest!r}",
                     hint or f"scenario knobs: {', '.join(SCENARIO_KNOBS)}")
            return False
        if group == "economics" and rest not in ECONOMICS_KNOBS:
            hint = did_you_mean(name, [f"economics.{k}" for k in ECONOMICS_KNOBS])
            self.add(path, f"unknown economics knob {rest!r}",
                     hint or f"economics knobs: {', '.join(ECONOMICS_KNOBS)}")
            return False
        if group == "runtime_knobs" and rest not in _runtime_knob_names():
            hint = did_you_mean(rest, _runtime_knob_names())
            self.add(path, f"unknown runtime knob {rest!r}",
                     hint or f"runtime knobs: {', '.join(_runtime_knob_names())}")
            return False
        if group == "traffic" and evaluate is not Evaluate.SERVE:
            self.add(path, "traffic parameters only apply to `evaluate: serve`",
                     "set `evaluate: serve` or remove the traffic parameter")
            return False
        if group == "traffic":
            from infersim.studies.evaluate import TRAFFIC_KNOBS

            if rest not in TRAFFIC_KNOBS:
                hint = did_you_mean(name, [f"traffic.{k}" for k in TRAFFIC_KNOBS])
                self.add(path, f"unknown traffic knob {rest!r}",
                         hint or f"traffic knobs: {', '.join(TRAFFIC_KNOBS)}")
                return False
        return True

    def param_value(self, name: str, value: Any, path: str) -> None:
        """Type/range check of one value of a known parameter (hw/traffic: checked later)."""
        if name == "runtime":
            if value is not None and value not in _runtimes():
                self.add(path, f"unknown runtime {value!r}",
                         f"use one of {', '.join(_runtimes())}, or omit it (the kind's default)")
            return
        if name in ("model", "hardware"):
            if not isinstance(value, str) or not value:
                self.add(path, f"{name} must be a library name or a file path, got {value!r}")
            return
        group, _, rest = name.partition(".")
        if group == "runtime_knobs":  # ≥ 0, or -1 where a GPU knob means the chip's figure
            if self.number(path, value, what=rest, lo=-1.0) and -1.0 < value < 0.0:
                self.add(path, f"{rest} must be ≥ 0 (or -1: the chip's figure), got {value!r}")
            return
        knobs = SCENARIO_KNOBS if group == "scenario" else (
            ECONOMICS_KNOBS if group == "economics" else None)
        if knobs is None:
            if value is None or isinstance(value, (dict, list)):
                self.add(path, f"a value must be a number, text or boolean, got {value!r}")
            return
        typ, lo = knobs[rest]
        if typ is str:
            if value is not None and not isinstance(value, str):
                self.add(path, f"{rest} must be text, got {value!r}")
            elif rest in ("weights", "activations", "kv") and value is not None:
                from infersim.workloads.dtypes import DType

                try:
                    DType.parse(value, rest)
                except InputError as e:
                    self.add(path, str(e).split(": ", 1)[-1])
            elif rest == "phase":
                from infersim.workloads.scenario import Phase

                if value not in {p.value for p in Phase}:
                    self.add(path, f"unknown phase {value!r}",
                             f"use one of {', '.join(p.value for p in Phase)}")
            return
        if not self.number(path, value, exact_int=typ is int, what=rest,
                           lo=-math.inf if lo is None else lo):
            return
        if name in ("scenario.acceptance", "economics.utilization") and value > 1:
            self.add(path, f"{rest} is a fraction and must be ≤ 1, got {value!r}")
        if name in ("economics.lifetime_years", "economics.utilization") and value <= 0:
            self.add(path, f"{rest} must be > 0, got {value!r}")

    def fixed(self, raw: Any, evaluate: Evaluate) -> dict[str, Any]:
        out = dict(DEFAULT_FIXED)
        if not isinstance(raw, dict):
            self.add("fixed", "must be a mapping of parameters",
                     "e.g. `fixed: {model: llama-3.1-8b, hardware: h100-sxm}`")
            return out
        flat: dict[str, tuple[Any, str]] = {}
        for k, val in raw.items():
            k = str(k)
            if k in _GROUPS:
                if not isinstance(val, dict):
                    self.add(f"fixed.{k}", f"must be a mapping of {k} fields")
                    continue
                for sub, sv, path in _flatten(val, k, f"fixed.{k}"):
                    flat[sub] = (sv, path)
            else:
                flat[k] = (val, f"fixed.{k}")
        for name, (val, path) in flat.items():
            if self.param_name(name, path, evaluate):
                self.param_value(name, val, path)
                out[name] = val
        return out

    def sweep(self, raw: Any, evaluate: Evaluate) -> tuple[Dimension, ...]:
        if raw is None:
            return ()
        if not isinstance(raw, dict):
            self.add("sweep", "must be a mapping of parameter → list of values or range")
            return ()
        dims: list[Dimension] = []
        for name, val, path in _flatten(raw, "", "sweep", stop=_is_range):
            if not self.param_name(name, path, evaluate):
                continue
            if isinstance(val, list):
                if not val:
                    self.add(path, "empty list of values", "give at least one value")
                    continue
                for i, item in enumerate(val):
                    self.param_value(name, item, f"{path}[{i}]")
                if len(set(map(repr, val))) != len(val):
                    self.add(path, "repeated values", "list each value once")
                dims.append(Dimension(name, tuple(val)))
            elif isinstance(val, dict):
                r = self.range(val, path, name)
                if r is not None:
                    dims.append(Dimension(name, (), r))
            else:
                self.add(path, f"expected a list of values or a range, got {val!r}",
                         "e.g. `[1, 8, 64]` or `{min: 1, max: 64, log: true, int: true}`")
        return tuple(dims)

    def range(self, d: dict[str, Any], path: str, name: str) -> Range | None:
        self.unknown_keys(d, sorted(_RANGE_KEYS), f"{path}.")
        ok = True
        for k in ("min", "max"):
            if k not in d:
                self.add(f"{path}.{k}", "missing range bound", f"add `{k}: <number>`")
                ok = False
            else:
                ok = self.number(f"{path}.{k}", d[k]) and ok
        num = d.get("num", 0)
        ok = self.number(f"{path}.num", num, exact_int=True, lo=0) and ok
        log, integer = d.get("log", False), d.get("int", False)
        for k, flag in (("log", log), ("int", integer)):
            ok = self.flag(f"{path}.{k}", flag) and ok
        if not ok:
            return None
        lo, hi = float(d["min"]), float(d["max"])
        if hi < lo:
            self.add(path, f"max ({hi:g}) is below min ({lo:g})", "swap the bounds")
            return None
        if log and lo <= 0:
            self.add(f"{path}.min", "a log range needs min > 0")
            return None
        if integer:
            lo_i, hi_i = math.ceil(lo), math.floor(hi)
            self.param_value(name, lo_i, f"{path}.min")
            return Range(lo_i, hi_i, log, True, num)
        group, _, rest = name.partition(".")
        if group == "scenario" and SCENARIO_KNOBS.get(rest, (None,))[0] is int:
            self.add(path, f"{rest} takes integers but this range is continuous",
                     f"add `int: true`, e.g. {{min: {lo:g}, max: {hi:g}, int: true}}")
            return Range(math.ceil(lo), math.floor(hi), log, True, num)  # reported above
        self.param_value(name, lo, f"{path}.min")
        return Range(lo, hi, log, False, num)

    def search(self, raw: Any, sweep: tuple[Dimension, ...]) -> Search:
        if not isinstance(raw, dict):
            self.add("search", "must be a mapping", "e.g. `search: {method: grid}`")
            return Search()
        self.unknown_keys(raw, _SEARCH_KEYS, "search.")
        m_raw = raw.get("method", "grid")
        if not self.choice("search.method", m_raw, [m.value for m in Method], "method"):
            return Search()
        method = Method(m_raw)
        ints: dict[str, int] = {}
        for k, default, lo in (("n", 0, 1), ("seed", 0, 0), ("n_trials", 0, 1),
                               ("population", 16, 2)):
            val = raw.get(k, default)
            if k in raw and not self.number(f"search.{k}", val, exact_int=True, lo=lo):
                val = default
            ints[k] = val
        objectives: list[Objective] = []
        obj_raw = raw.get("objectives", {})
        if not isinstance(obj_raw, dict):
            self.add("search.objectives", "must map metric → minimize | maximize",
                     "e.g. `objectives: {latency_s: minimize, tokens_per_s: maximize}`")
        else:
            for metric, goal in obj_raw.items():
                try:
                    objectives.append(Objective(str(metric), Goal(goal)))
                except ValueError:
                    self.add(f"search.objectives.{metric}", f"unknown goal {goal!r}",
                             "use minimize or maximize")
        if method is Method.RANDOM and "n" not in raw:
            self.add("search.n", "random search needs the number of points",
                     "add `n: 100` under search")
        if method is Method.OPTIMIZE:
            if "n_trials" not in raw:
                self.add("search.n_trials", "optimize needs a number of trials",
                         "add `n_trials: 200` under search")
            if not objectives and isinstance(obj_raw, dict):
                self.add("search.objectives", "optimize needs at least one objective",
                         "e.g. `objectives: {tokens_per_s_per_user: maximize}`")
        if method is Method.GRID:
            for d in sweep:
                if d.range is not None and d.range.num < 1 and not d.range.integer:
                    self.add(f"sweep.{d.name}.num", "a continuous range in a grid search "
                             "needs the number of points", "add `num: 5` to the range")
        if not sweep:
            self.add("sweep", "nothing to sweep", "add at least one parameter under `sweep:`")
        return Search(method, ints["n"], ints["seed"], ints["n_trials"], ints["population"],
                      tuple(objectives))

    # ---- metrics and plots -----------------------------------------------------------------
    def check_metric(self, metric: str, evaluate: Evaluate, path: str) -> bool:
        if evaluate is Evaluate.SERVE:  # serving metric names come from ServingResult
            return True
        from infersim.studies.evaluate import SIMULATE_METRICS

        if metric not in SIMULATE_METRICS:
            self.add(path, f"unknown metric {metric!r}",
                     did_you_mean(metric, SIMULATE_METRICS) or "see `infersim sweep --metrics`")
            return False
        return True

    def metrics(self, raw: Any, evaluate: Evaluate) -> tuple[str, ...]:
        if not isinstance(raw, list) or not all(isinstance(m, str) for m in raw):
            self.add("metrics", "must be a list of metric names",
                     "e.g. `metrics: [latency_s, tokens_per_s]`")
            return ()
        for i, m in enumerate(raw):
            self.check_metric(m, evaluate, f"metrics[{i}]")
        return tuple(raw)

    def plots(self, raw: Any, evaluate: Evaluate) -> tuple[PlotSpec, ...]:
        if not isinstance(raw, list):
            self.add("plots", "must be a list of plot specifications",
                     "e.g. `- {kind: line, x: scenario.batch, y: latency_s}`")
            return ()
        out = []
        for i, p in enumerate(raw):
            path = f"plots[{i}]"
            if not isinstance(p, dict):
                self.add(path, "a plot is a mapping with at least `kind`")
                continue
            self.unknown_keys(p, _PLOT_KEYS, f"{path}.")
            if not self.choice(f"{path}.kind", p.get("kind"), [k.value for k in PlotKind],
                               "plot kind"):
                continue
            kind = PlotKind(p.get("kind"))
            flags_ok = all([self.flag(f"{path}.{k}", p[k]) for k in ("logx", "logy") if k in p])
            points = p.get("points", 8)
            if not self.number(f"{path}.points", points, exact_int=True, lo=1) or not flags_ok:
                continue
            y_raw = p.get("y", [])
            y = tuple(y_raw) if isinstance(y_raw, list) else (y_raw,) if y_raw else ()
            x = str(p.get("x", ""))
            need_xy = kind in (PlotKind.PARETO, PlotKind.LINE, PlotKind.SCATTER, PlotKind.BAR)
            if need_xy and (not x or not y):
                self.add(path, f"a {kind.value} plot needs `x` and `y`")
            metric_axes = list(y) + ([x] if kind in (PlotKind.PARETO, PlotKind.SCATTER) else [])
            for m in metric_axes:
                self.check_metric(str(m), evaluate, f"{path}.y")
            where = p.get("where", {})
            if not isinstance(where, dict):
                self.add(f"{path}.where", "must map parameter → value")
                where = {}
            if kind in (PlotKind.ROOFLINE, PlotKind.BREAKDOWN) and evaluate is Evaluate.SERVE:
                self.add(f"{path}.kind", f"{kind.value} plots need `evaluate: simulate`")
            goals_raw = p.get("goals", ["minimize", "maximize"])
            try:
                g = tuple(Goal(s) for s in goals_raw)
                if len(g) != 2:
                    raise ValueError
                goals: tuple[Goal, Goal] = (g[0], g[1])
            except (ValueError, TypeError):
                self.add(f"{path}.goals", "must be two goals for (x, y)",
                         "e.g. `goals: [minimize, maximize]`")
                goals = (Goal.MINIMIZE, Goal.MAXIMIZE)
            out.append(PlotSpec(kind, x, tuple(str(v) for v in y), str(p.get("group", p.get("color", ""))),
                                bool(p.get("logx", False)), bool(p.get("logy", False)),
                                MappingProxyType(dict(where)), str(p.get("title", "")), goals,
                                points))
        return tuple(out)

    # ---- references to the model and hardware libraries ----------------------------------
    def check_refs(self, study: Study) -> None:
        from infersim.api import load_hardware, load_model

        def values(name: str) -> list[tuple[Any, str]]:
            for d in study.sweep:
                if d.name == name:
                    return [(v, f"sweep.{name}[{i}]") for i, v in enumerate(d.grid_values())]
            return [(study.fixed[name], f"fixed.{name}")] if name in study.fixed else []

        def model(v: Any) -> Any:
            return load_model(v)

        for val, path in values("model"):
            self._try(path, model, val)
        for val, path in values("scenario.draft_model"):
            if val is not None:
                self._try(path, model, val)
        hw_vals = values("hardware")
        for val, path in hw_vals:
            self._try(path, load_hardware, val)
        first_hw = hw_vals[0][0] if hw_vals else "h100-sxm"
        for name in study.parameters:
            if name.startswith("hw."):
                vals = values(name)
                if vals:
                    val, path = vals[0]
                    self._try(path, load_hardware, first_hw, {name[3:]: val})

    def _try(self, path: str, fn: Callable[..., Any], *args: Any) -> None:
        try:
            fn(*args)
        except SpecError as e:
            for p in e.problems:
                self.add(path, f"{p.path}: {p.message}", p.fix)
        except InfersimError as e:
            self.add(path, str(e))


def _is_range(v: Any) -> bool:
    """A sweep value that is a mapping with a bound is a range (its other keys are checked)."""
    return isinstance(v, dict) and ("min" in v or "max" in v)


def _flatten(d: dict[str, Any], prefix: str, path: str,
             stop: Callable[[Any], bool] | None = None) -> list[tuple[str, Any, str]]:
    """Nested mappings → [(dotted name, value, field path)]; `stop` marks leaf mappings."""
    out: list[tuple[str, Any, str]] = []
    for k, v in d.items():
        name = f"{prefix}.{k}" if prefix else str(k)
        p = f"{path}.{k}"
        if isinstance(v, dict) and not (stop and stop(v)) and v:
            out += _flatten(v, name, p, stop)
        else:
            out.append((name, v, p))
    return out
