"""Evaluate points of a study (runs inside executor workers).

`evaluate_chunk(kind, names, rows)` evaluates a chunk of points and returns one
`(status, result)` per point. Workers keep models and hardware variants in per-process caches
(keyed by name and the tuple of `hw.*` overrides), so a sweep parses each YAML spec and model
config once per worker, not once per point.

Status: "ok" (result holds the metrics; `feasible` may be False with a `reason`), "invalid"
(the combination of parameters is rejected by infersim, e.g. TP not dividing the heads: the
message is in `reason`), or "error" (an unexpected exception: a bug to report).
"""

from __future__ import annotations

import inspect
import math
import traceback
from collections.abc import Callable, Mapping, Sequence
from functools import lru_cache
from typing import Any

from infersim.errors import InfersimError
from studies.economics import Economics, cost_per_mtok_usd

# Metrics of `evaluate: simulate`, in table order.
SIMULATE_METRICS: tuple[str, ...] = (
    "feasible", "reason", "latency_s", "tokens_per_s", "tokens_per_s_per_user", "energy_j",
    "energy_per_token_j", "power_w", "flops", "bytes", "weight_bytes", "kv_bytes",
    "chips", "system_chips", "price_usd", "cost_per_mtok_usd", "compute_utilization",
    "bandwidth_utilization", "memory_capacity_bytes",
)

Status = str
ChunkResult = list[tuple[Status, dict[str, Any]]]

_HW_CACHE_SIZE = 4096


@lru_cache(maxsize=256)
def _model(name: str) -> Any:
    from infersim.api import load_model

    return load_model(name)


@lru_cache(maxsize=_HW_CACHE_SIZE)
def _hardware(name: str, overrides: tuple[tuple[str, Any], ...]) -> Any:
    from infersim.api import load_hardware

    return load_hardware(name, dict(overrides) or None)


def split_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """Group a flat point into model, hardware, overrides, runtime, scenario, traffic, econ."""
    out: dict[str, Any] = {"model": params.get("model"), "hardware": params.get("hardware"),
                           "runtime": params.get("runtime", "graph"), "hw": [],
                           "scenario": {}, "traffic": {}, "economics": {}}
    for k, v in params.items():
        group, _, rest = k.partition(".")
        if rest and group in ("scenario", "traffic", "economics"):
            out[group][rest] = v
        elif rest and group == "hw":
            out["hw"].append((rest, v))
    out["hw"] = tuple(sorted(out["hw"]))
    return out


def evaluate_chunk(kind: str, names: Sequence[str],
                   rows: Sequence[Sequence[Any]]) -> ChunkResult:
    """Evaluate each point of a chunk; never raises for a single bad point."""
    fn = _EVALUATORS[kind]
    out: ChunkResult = []
    for row in rows:
        params = dict(zip(names, row, strict=True))
        try:
            out.append(("ok", fn(params)))
        except InfersimError as e:
            out.append(("invalid", {"feasible": False, "reason": str(e)}))
        except Exception as e:  # a bug must not kill a long sweep; it is reported at the end
            tb = traceback.format_exc(limit=4)
            out.append(("error", {"feasible": False, "reason": f"{type(e).__name__}: {e}",
                                  "traceback": tb}))
    return out


def evaluate_point(kind: str, params: Mapping[str, Any]) -> tuple[Status, dict[str, Any]]:
    """Evaluate one point in this process (used for re-simulating a point for plots)."""
    names = tuple(params)
    return evaluate_chunk(kind, names, [tuple(params[n] for n in names)])[0]


def simulate_point(params: Mapping[str, Any]) -> Any:
    """The `SimResult` of one point (model step), through the front door."""
    from infersim.api import simulate

    p = split_params(params)
    hw = _hardware(p["hardware"], p["hw"])
    model = _model(p["model"])
    return simulate(model, hw, runtime=p["runtime"], **p["scenario"]), hw, p


def _simulate_metrics(params: Mapping[str, Any]) -> dict[str, Any]:
    r, hw, p = simulate_point(params)
    d = r.to_dict()
    sched = r.schedule
    sc = sched.trace.scenario
    chips = sc.parallel.chips
    tb = sched.trace.bytes
    lat = r.latency_s
    chip = hw.chip
    price = hw.total_price_usd * min(chips, hw.num_chips) / hw.num_chips
    econ = Economics(**p["economics"])
    compute_s = 0.0
    for mo in sched.ops:
        op = mo.op
        peak = chip.peak_flops(op.dtype)
        if peak > 0:
            compute_s += op.flops * op.count / peak
    bw = chip.main_memory.bandwidth_Bps
    return {
        "feasible": r.feasible,
        "reason": d.get("reason", ""),
        "latency_s": lat,
        "tokens_per_s": r.tokens_per_s,
        "tokens_per_s_per_user": d["tokens_per_s_per_user"],
        "energy_j": r.energy_j,
        "energy_per_token_j": r.energy_per_token_j,
        "power_w": r.energy_j / lat if lat > 0 else math.nan,
        "flops": d["flops"],
        "bytes": d["bytes"],
        "weight_bytes": tb.weight,
        "kv_bytes": tb.kv_read + tb.kv_write,
        "chips": chips,
        "system_chips": hw.num_chips,
        "price_usd": price,
        "cost_per_mtok_usd": cost_per_mtok_usd(price, r.tokens_per_s, r.energy_per_token_j,
                                               econ),
        "compute_utilization": compute_s / lat if lat > 0 else math.nan,
        "bandwidth_utilization": tb.total / (bw * lat) if lat > 0 and bw > 0 else math.nan,
        "memory_capacity_bytes": hw.capacity_bytes(),
    }


def _serve_metrics(params: Mapping[str, Any]) -> dict[str, Any]:
    """Serving metrics through `infersim.api.serve` (keyword arguments: scenario + traffic)."""
    import infersim.api as api

    serve = getattr(api, "serve", None)
    if serve is None:
        raise RuntimeError("infersim.api.serve is not available in this version")
    p = split_params(params)
    hw = _hardware(p["hardware"], p["hw"])
    kwargs = {**p["scenario"], **p["traffic"], "runtime": p["runtime"]}
    accepted = _accepted_kwargs(serve)
    if accepted is not None:
        unknown = sorted(set(kwargs) - accepted)
        if unknown:
            from infersim.errors import InputError

            raise InputError(f"serve does not take {', '.join(unknown)}; it takes "
                             f"{', '.join(sorted(accepted))}")
    res = serve(_model(p["model"]), hw, **kwargs)
    d = dict(res.to_dict())
    d.setdefault("feasible", True)
    return d


@lru_cache(maxsize=8)
def _accepted_kwargs(fn: Callable[..., Any]) -> frozenset[str] | None:
    sig = inspect.signature(fn)
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in sig.parameters.values()):
        return None
    return frozenset(list(sig.parameters)[2:])


_EVALUATORS: dict[str, Callable[[Mapping[str, Any]], dict[str, Any]]] = {
    "simulate": _simulate_metrics,
    "serve": _serve_metrics,
}
