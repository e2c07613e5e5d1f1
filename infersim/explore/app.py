"""What the explorer computes: plain functions from a JSON request to a JSON answer.

The web server (`infersim.explore.server`) only routes requests here; tests call these
functions directly. Every answer comes from the public API (`load_model`, `load_hardware`,
`simulate`, `serve`), so the explorer gives the same numbers as the CLI for the same scenario.

A request names a design and a scenario:

    {"model": "llama-3.1-8b" | {HF config.json as an object},
     "hw": "h100-sxm" | null, "hw_yaml": "<an uploaded spec>" | null,
     "overrides": {"memory.hbm.bandwidth_tb_per_s": 4.8},   # the paths `--set` takes
     "runtime": "graph",
     "runtime_knobs": {"graph_max_batch": 256},   # the knobs `--runtime-set` takes
     "scenario": {"phase": "decode", "batch": 1, "context": 1024, "prompt": 0,
                  "tp": 1, "pp": 1, "ep": 1, "weights": "bf16", "activations": null,
                  "kv": null}}
"""

from __future__ import annotations

import math
import shlex
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from infersim.foundation.errors import InputError
from infersim.hwmodels import Hardware, list_hardware
from infersim.hwmodels.loader import load_hardware_text, resolve_spec, spec_document
from infersim.workloads import list_models
from infersim.workloads.dtypes import DType
from infersim.workloads.scenario import Phase

_SCENARIO_KEYS = {"phase": str, "batch": int, "context": int, "prompt": int, "tp": int,
                  "pp": int, "ep": int, "weights": str, "activations": str, "kv": str}
_SCENARIO_FLAGS = {"phase": "--phase", "batch": "--batch", "context": "--context",
                   "prompt": "--prompt", "tp": "--tp", "pp": "--pp", "ep": "--ep",
                   "weights": "--weights", "activations": "--activations", "kv": "--kv"}
_MAX_INT = 10**9  # batch, lengths and parallel degrees beyond this are typos
_TIMELINE_SPANS = 4000  # spans sent to the browser (the first layers of a long step)


def catalog() -> dict[str, Any]:
    """The choices the page offers."""
    return {"models": list_models(), "hardware": list_hardware(),
            "phases": [p.value for p in Phase],
            "dtypes": [d.value for d in DType]}


def _leaves(data: Any, prefix: str = "") -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    if isinstance(data, Mapping):
        for k, v in data.items():
            if prefix == "" and k == "sources":
                continue
            out += _leaves(v, f"{prefix}{k}.")
    elif isinstance(data, (int, float)) and not isinstance(data, bool):
        out.append((prefix[:-1], data))
    return out


def _source_of(path: str, sources: Mapping[str, Any]) -> str:
    """The source of a field: its own entry, else the nearest enclosing one."""
    parts = path.split(".")
    for n in range(len(parts), 0, -1):
        s = sources.get(".".join(parts[:n]))
        if s is not None:
            return str(s)
    return "no source recorded"


def spec_fields(hw: str) -> list[dict[str, Any]]:
    """Every numeric field of a library or file spec as {path, value, source}; `path` is what
    `--set` takes (on a system, its chip's fields carry a `chip.` prefix)."""
    path = resolve_spec(hw)
    doc = spec_document(path)
    out = [{"path": p, "value": v, "source": _source_of(p, doc.get("sources") or {})}
           for p, v in _leaves(doc)]
    system = doc.get("system")
    if isinstance(system, Mapping) and isinstance(system.get("chip"), str):
        chip_doc = spec_document(resolve_spec(system["chip"], relative_to=path.parent))
        out += [{"path": f"chip.{p}", "value": v,
                 "source": _source_of(p, chip_doc.get("sources") or {})}
                for p, v in _leaves(chip_doc)]
    return out


def runtimes_for(hw: str) -> list[str]:
    """The software this hardware kind accepts (its cost model's list); "" = the kind's
    default."""
    from infersim.api import load_hardware
    from infersim.hwmodels.registry import cost_model

    return list(cost_model(load_hardware(hw)).runtimes())


def runtime_knobs(hw: str, runtime: str = "") -> dict[str, Any]:
    """The constants of the software `runtime` ("" = the kind's default) runs on `hw`, as
    `infersim runtimes show` lists them: {runtime: its profile's name, knobs: [{knob, value,
    default, set, meaning}]}; no knobs for a kind without a software profile."""
    from infersim.api import load_hardware
    from infersim.hwmodels.registry import cost_model
    from infersim.hwmodels.runtime_knobs import knob_rows

    h = load_hardware(hw)
    _, prof = cost_model(h).resolve_runtime(runtime or None, h.name)
    if prof is None:
        return {"runtime": runtime, "knobs": []}
    return {"runtime": prof.name, "knobs": knob_rows(prof)}


def suggested_knobs(hw: str, fields: list[dict[str, Any]]) -> list[str]:
    """The knobs a page starts with: main-memory bandwidth and capacity, the matrix peak in
    bf16 (else the first dtype) and the clock, as `--set` paths of this spec."""
    from infersim.api import load_hardware
    from infersim.hwmodels.spec import UnitType

    chip = load_hardware(hw).chip
    main = chip.main_memory.name
    mx = chip.unit(UnitType.MATRIX)
    unit = mx.name if mx is not None else ""
    prefix = "chip." if any(f["path"].startswith("chip.") for f in fields) else ""
    paths = [f["path"] for f in fields]
    out: list[str] = []
    for pat in (f"{prefix}memory.{main}.bandwidth_", f"{prefix}memory.{main}.capacity_",
                f"{prefix}compute.{unit}.peak_", f"{prefix}clock_"):
        cands = [p for p in paths if p.startswith(pat)]
        if ".peak_" in pat:
            cands = sorted(cands, key=lambda p: (not p.endswith(".bf16"), p))
        if cands:
            out.append(cands[0])
    return out


def _numbers(req: Mapping[str, Any], key: str, example: str) -> dict[str, Any]:
    """The request's `key`: an object of names to finite numbers (InputError otherwise)."""
    given = req.get(key) or {}
    if not isinstance(given, Mapping):
        raise InputError(f"{key}: expected an object of names to numbers, e.g. {example}")
    out: dict[str, Any] = {}
    for k, v in given.items():
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise InputError(f"{key}.{str(k)[:40]}: expected a finite number, "
                             f"got {str(v)[:30]!r}")
        out[str(k)] = v
    return out


def _overrides(req: Mapping[str, Any]) -> dict[str, Any]:
    return _numbers(req, "overrides", '{"memory.hbm.bandwidth_tb_per_s": 4.8}')


def _runtime_knobs(req: Mapping[str, Any]) -> dict[str, float]:
    return {k: float(v) for k, v in
            _numbers(req, "runtime_knobs", '{"graph_max_batch": 256}').items()}


def _runtime(req: Mapping[str, Any], hw: Hardware) -> Any:
    """The request's runtime: its name (None: the kind's default), or its profile with the
    `runtime_knobs` changed, as `--runtime-set` does."""
    from infersim.hwmodels.runtime_knobs import with_knobs

    return with_knobs(hw, req.get("runtime") or None, _runtime_knobs(req), "runtime_knobs")


def _hardware(req: Mapping[str, Any]) -> Hardware:
    from infersim.api import load_hardware

    ov = _overrides(req)
    text = req.get("hw_yaml")
    if text:
        if not isinstance(text, str) or len(text) > 1_000_000:
            raise InputError("hw_yaml: expected the text of one YAML spec (at most 1 MB)")
        return load_hardware_text(text, "uploaded spec", ov or None,
                                  base_dir=resolve_spec("h100-sxm").parent)
    name = req.get("hw") or "h100-sxm"
    if not isinstance(name, str):
        raise InputError("hw: expected a library name, e.g. h100-sxm")
    return load_hardware(name, ov or None)


def _scenario(req: Mapping[str, Any]) -> dict[str, Any]:
    sc = req.get("scenario") or {}
    if not isinstance(sc, Mapping):
        raise InputError("scenario: expected an object, e.g. {\"phase\": \"decode\"}")
    out: dict[str, Any] = {}
    for k, v in sc.items():
        typ = _SCENARIO_KEYS.get(k)
        if typ is None:
            raise InputError(f"scenario.{k}: unknown field; use one of "
                             f"{', '.join(_SCENARIO_KEYS)}")
        if v is None or v == "":
            continue
        if typ is int:
            if isinstance(v, bool) or not isinstance(v, (int, float)) or v != int(v) \
                    or not 0 <= v <= _MAX_INT:
                raise InputError(f"scenario.{k}: expected a whole number from 0 to "
                                 f"{_MAX_INT}, got {v!r}")
            v = int(v)
        elif not isinstance(v, str):
            raise InputError(f"scenario.{k}: expected a name, got {v!r}")
        out[k] = v
    if out.get("phase", "decode") != "prefill":
        out.pop("prompt", None)
    elif not out.get("prompt"):
        raise InputError("scenario.prompt: a prefill needs a prompt length ≥ 1")
    return out


def _model(req: Mapping[str, Any]) -> Any:
    m = req.get("model") or "llama-3.1-8b"
    if not isinstance(m, (str, Mapping)):
        raise InputError("model: expected a library name or an HF config.json object")
    return dict(m) if isinstance(m, Mapping) else m


def command_line(req: Mapping[str, Any]) -> str:
    """The `infersim simulate` command that gives the same numbers (library designs)."""
    parts = ["infersim", "simulate"]
    m = req.get("model") or "llama-3.1-8b"
    parts += ["--model", m if isinstance(m, str) else "CONFIG.json"]
    parts += ["--hw", "SPEC.yaml" if req.get("hw_yaml") else str(req.get("hw") or "h100-sxm")]
    for k, v in sorted(_overrides(req).items()):
        parts += ["--set", f"{k}={v:g}"]
    for k, v in _scenario(req).items():
        parts += [_SCENARIO_FLAGS[k], str(v)]
    if req.get("runtime"):
        parts += ["--runtime", str(req["runtime"])]
    for k, v in sorted(_runtime_knobs(req).items()):
        parts += ["--runtime-set", f"{k}={v:g}"]
    return " ".join(shlex.quote(p) for p in parts)


def _roofline(hw: Hardware, dtype: str) -> dict[str, Any]:
    chip = hw.chip
    try:
        peak = chip.peak_flops(DType(dtype))
    except ValueError:
        peak = 0.0
    peak = peak or max((chip.peak_flops(d) for d in DType), default=0.0)
    return {"peak_flops": peak, "bandwidth_Bps": chip.main_memory.bandwidth_Bps,
            "memory": chip.main_memory.name}


def _simulate(req: Mapping[str, Any]) -> tuple[Any, Hardware, dict[str, Any]]:
    from infersim.api import simulate

    hw = _hardware(req)
    sc = _scenario(req)
    # no runtime: the hardware kind's default (graph on GPUs, the newest compiled profile)
    return simulate(_model(req), hw, runtime=_runtime(req, hw), **sc), hw, sc


def timeline(req: Mapping[str, Any]) -> dict[str, Any]:
    """The op-level timeline of the step (the first kernels of a long step): the simpy
    replay of the schedule, slower than the estimate, so the page asks for it separately."""
    from infersim.simulator.timeline import simulate_timeline

    r, _, _ = _simulate(req)
    if not r.feasible:
        return {"timeline": [], "timeline_truncated": False}
    tl = simulate_timeline(r.schedule)
    spans = [{"op": s.op, "kind": s.kind, "lane": s.lane.value, "stage": s.stage,
              "start_s": s.start_s, "end_s": s.end_s} for s in tl.spans[:_TIMELINE_SPANS]]
    return {"timeline": spans, "timeline_truncated": len(tl.spans) > _TIMELINE_SPANS,
            "makespan_s": tl.makespan_s}


def evaluate(req: Mapping[str, Any]) -> dict[str, Any]:
    """One design × scenario: headline numbers, the roofline points, the energy and time
    breakdown and the equivalent command line (the op timeline: `timeline`)."""
    r, hw, sc = _simulate(req)
    d = r.to_dict()
    ops = r.ops
    points = []
    for row in ops.itertuples(index=False):
        nbytes = (row.weight_bytes + row.act_in_bytes + row.act_out_bytes + row.kv_read_bytes
                  + row.kv_write_bytes)
        points.append({"name": row.name, "kind": row.kind, "count": int(row.count),
                       "flops": float(row.flops), "bytes": float(nbytes),
                       "intensity": float(row.flops / nbytes) if nbytes > 0 else 0.0,
                       "achieved_flops": float(row.flops / row.time_s) if row.time_s > 0 else 0.0,
                       "time_s": float(row.time_s), "total_time_s": float(row.total_time_s),
                       "energy_j": float(row.energy_j), "bound": str(row.bound)})
    by_kind = ops.groupby("kind")[["total_time_s", "energy_j"]].sum()
    breakdown = [{"kind": k, "time_s": float(v.total_time_s), "energy_j": float(v.energy_j)}
                 for k, v in by_kind.iterrows()]
    inf = r.infeasible
    return {"result": {k: (None if isinstance(v, float) and not math.isfinite(v) else v)
                       for k, v in d.items()},
            "infeasible": str(inf) if inf is not None else None,
            "ops": points, "breakdown": breakdown,
            "roofline": _roofline(hw, sc.get("activations") or sc.get("weights") or "bf16"),
            "hardware": hw.name, "command": command_line(req)}


def serving_curve(req: Mapping[str, Any], points: int = 6,
                  requests: int = 300) -> dict[str, Any]:
    """Latency vs offered load for the design (continuous batching, Poisson arrivals):
    TTFT and TPOT percentiles at request rates from 20% to 120% of the saturated throughput,
    which a short overloaded probe run measures."""
    from infersim.api import serve
    from infersim.simulator import Deployment, FixedLengths, Poisson, Traffic

    hw = _hardware(req)
    sc = _scenario(req)
    prompt = int(sc.get("prompt") or sc.get("context") or 1024)
    output = int(req.get("output") or 128)
    if not 1 <= output <= 100_000:
        raise InputError(f"output: expected 1 to 100000 tokens, got {output}")
    dep = Deployment(tp=sc.get("tp", 1), pp=sc.get("pp", 1), ep=sc.get("ep", 1),
                     runtime=_runtime(req, hw) or "",  # "": the kind's default
                     weights=sc.get("weights", "bf16"), kv=sc.get("kv"))
    model = _model(req)
    lengths = FixedLengths(prompt, output)

    def run(rate: float, n: int) -> dict[str, Any]:
        return serve(model, hw, Traffic(Poisson(rate), lengths, n), deployment=dep,
                     seed=0).to_dict()

    probe = run(1e6, max(50, requests // 2))  # every request at once: the saturated rate
    if not probe.get("feasible", True) or not probe.get("throughput_req_s"):
        return {"points": [], "capacity_req_s": 0.0, "prompt": prompt, "output": output,
                "note": "the design serves no request (does not fit or all rejected)"}
    cap = float(probe["throughput_req_s"])
    rows = []
    for i in range(points):
        rate = cap * (0.2 + i * 1.0 / max(1, points - 1))
        res = run(rate, requests)
        rows.append({"rate": rate, **{k: res.get(k) for k in
                     ("ttft_p50_s", "ttft_p99_s", "tpot_p50_s", "tpot_p99_s",
                      "throughput_tok_s")}})
    return {"points": rows, "capacity_req_s": cap, "prompt": prompt, "output": output}


def compare(a: Mapping[str, Any], b: Mapping[str, Any]) -> dict[str, Any]:
    """Two designs side by side: the spec fields that differ and both results."""
    ra, rb = evaluate(a), evaluate(b)
    fa = {f["path"]: f["value"] for f in spec_fields(str(a.get("hw") or "h100-sxm"))}
    fb = {f["path"]: f["value"] for f in spec_fields(str(b.get("hw") or "h100-sxm"))}
    fa.update(_overrides(a))
    fb.update(_overrides(b))
    fa.update({f"runtime.{k}": v for k, v in _runtime_knobs(a).items()})
    fb.update({f"runtime.{k}": v for k, v in _runtime_knobs(b).items()})
    diff = [{"path": p, "a": fa.get(p), "b": fb.get(p)}
            for p in sorted(set(fa) | set(fb)) if fa.get(p) != fb.get(p)]
    keys = ("latency_s", "tokens_per_s", "energy_per_token_j", "feasible")
    return {"spec_diff": diff, "a": {k: ra["result"].get(k) for k in keys},
            "b": {k: rb["result"].get(k) for k in keys}}


def design_yaml(req: Mapping[str, Any]) -> str:
    """The current design as a spec file: the library spec with the overrides applied and
    each overridden field's source set to the explorer."""
    name = str(req.get("hw") or "h100-sxm")
    doc = spec_document(resolve_spec(name))
    ov = _overrides(req)
    sources = dict(doc.get("sources") or {})
    for path, value in ov.items():
        node: Any = doc
        keys = path.removeprefix("chip.").split(".") if "system" not in doc else path.split(".")
        for k in keys[:-1]:
            if not isinstance(node, dict) or k not in node:
                raise InputError(f"overrides.{path}: no such field in {name}")
            node = node[k]
        node[keys[-1]] = value
        sources[".".join(keys)] = "override (infersim explore)"
    doc["sources"] = sources
    return yaml.safe_dump(doc, sort_keys=False, allow_unicode=True)


def pareto_front(xs: list[float], ys: list[float]) -> list[int]:
    """Indices of the points no other point beats on both x and y (both minimized), in
    increasing x: sort by (x, y) and keep each point whose y is below every y before it."""
    order = sorted((i for i in range(len(xs)) if math.isfinite(xs[i]) and math.isfinite(ys[i])),
                   key=lambda i: (xs[i], ys[i]))
    front: list[int] = []
    best = math.inf
    for i in order:
        if ys[i] < best:
            front.append(i)
            best = ys[i]
    return front


def pareto(store: str | Path, x: str | None = None, y: str | None = None) -> dict[str, Any]:
    """A sweep's points (results.csv of `infersim sweep` / `study run`) and the Pareto front of
    two result columns, both minimized (default: the first latency-like and the first
    cost- or energy-like column)."""
    import pandas as pd

    p = Path(store)
    csv = p / "results.csv" if p.is_dir() else p
    if not csv.is_file():
        raise InputError(f"{store}: no results.csv here (run `infersim sweep` first)")
    df = pd.read_csv(csv).head(20000)
    num = [c for c in df.columns if pd.api.types.is_numeric_dtype(df[c])]
    if not num:
        raise InputError(f"{csv}: no numeric result columns")
    x = x or next((c for c in num if "latency" in c or "tpot" in c), num[0])
    y = y or next((c for c in num if "cost" in c or "energy" in c), num[-1])
    for name, col in (("x", x), ("y", y)):
        if col not in num:
            raise InputError(f"{name}={col!r}: not a numeric column of {csv}; use one of "
                             f"{', '.join(num)}")
    front = pareto_front([float(v) for v in df[x]], [float(v) for v in df[y]])
    return {"columns": num, "x": x, "y": y, "front": front,
            "rows": df.to_dict(orient="records")}
