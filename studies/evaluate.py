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

import math
import traceback
from collections.abc import Callable, Mapping, Sequence
from functools import lru_cache
from typing import Any

from infersim.foundation.errors import InfersimError
from infersim.foundation.fresh_stack import fresh_stack
from infersim.hwmodels.capex import capex_usd
from infersim.hwmodels.economics import (
    Economics,
    cost_note,
    cost_per_mtok_usd,
)

# Metrics of `evaluate: simulate`, in table order.
SIMULATE_METRICS: tuple[str, ...] = (
    "feasible", "reason", "latency_s", "tokens_per_s", "tokens_per_s_per_user",
    "prompt_tokens_per_s", "ttft_s", "energy_j", "energy_per_token_j",
    "system_energy_per_token_j", "power_w", "flops", "bytes", "weight_bytes", "kv_bytes",
    "chips", "system_chips", "price_usd", "cost_per_mtok_usd", "cost_note", "compute_utilization",
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
                           "runtime": params.get("runtime"), "hw": [],
                           "scenario": {}, "traffic": {}, "economics": {},
                           "runtime_knobs": {}}
    for k, v in params.items():
        group, _, rest = k.partition(".")
        if rest and group in ("scenario", "traffic", "economics", "runtime_knobs"):
            out[group][rest] = v
        elif rest and group == "hw":
            out["hw"].append((rest, v))
    out["hw"] = tuple(sorted(out["hw"]))
    return out


@fresh_stack  # a hot loop: the same speed at any caller depth (foundation.fresh_stack)
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


def _runtime(p: Mapping[str, Any], hw: Any) -> Any:
    """The point's runtime: its name, or its profile with the `runtime_knobs.*` changed."""
    from infersim.hwmodels.runtime_knobs import with_knobs

    return with_knobs(hw, p["runtime"], p["runtime_knobs"], "runtime_knobs")


def simulate_point(params: Mapping[str, Any]) -> Any:
    """The `SimResult` of one point (model step), through the front door."""
    from infersim.api import simulate

    p = split_params(params)
    hw = _hardware(p["hardware"], p["hw"])
    model = _model(p["model"])
    return simulate(model, hw, runtime=_runtime(p, hw), **p["scenario"]), hw, p


def simulate_metrics(params: Mapping[str, Any]) -> dict[str, Any]:
    from infersim.workloads.ops import totals

    r, hw, p = simulate_point(params)
    sched = r.schedule
    sc = sched.trace.scenario
    chips = sc.parallel.chips
    tot = totals(sched.trace.ops)  # once: FLOPs and bytes by tensor class
    tb = tot.bytes
    lat = r.latency_s
    chip = hw.chip
    price = capex_usd(hw) * min(chips, hw.num_chips) / hw.num_chips
    econ = Economics(**p["economics"]) if p["economics"] else _ECON
    compute_s = 0.0
    for mo in sched.ops:
        op = mo.op
        peak = chip.peak_flops(op.dtype)
        if peak > 0:
            compute_s += op.flops * op.count / peak
    bw = chip.main_memory.bandwidth_Bps
    inf = r.infeasible
    return {
        "feasible": inf is None,
        "reason": str(inf) if inf is not None else "",
        "latency_s": lat,
        "tokens_per_s": r.tokens_per_s,
        "tokens_per_s_per_user": r.tokens_per_s / sc.batch,
        "prompt_tokens_per_s": math.nan if r.prompt_tokens_per_s is None
        else r.prompt_tokens_per_s,
        "ttft_s": math.nan if r.ttft_s is None else r.ttft_s,
        "energy_j": r.energy_j,  # chips only, as `infersim simulate`
        "energy_per_token_j": r.energy_per_token_j,
        "system_energy_per_token_j": r.system_energy_per_token_j,  # + host and network
        "power_w": r.energy_j / lat if lat > 0 else math.nan,
        "flops": tot.flops,
        "bytes": tb.total,
        "weight_bytes": tb.weight,
        "kv_bytes": tb.kv_read + tb.kv_write,
        "chips": chips,
        "system_chips": hw.num_chips,
        "price_usd": price,
        # electricity is paid for the whole system (× PUE inside), as in `infersim serve`
        "cost_per_mtok_usd": cost_per_mtok_usd(price, r.tokens_per_s,
                                               r.system_energy_per_token_j, econ),
        "cost_note": cost_note(price, hw.name),
        "compute_utilization": compute_s / lat if lat > 0 else math.nan,
        "bandwidth_utilization": tb.total / (bw * lat) if lat > 0 and bw > 0 else math.nan,
        "memory_capacity_bytes": hw.capacity_bytes(),
    }


_ECON = Economics()


# traffic.<knob> of `evaluate: serve` studies (all optional; defaults as `infersim serve`).
TRAFFIC_KNOBS: tuple[str, ...] = (
    "arrival", "rate", "cv", "users", "think_s", "requests", "prompt", "output", "seed",
    "policy", "max_batch", "max_tokens", "block_size", "replicas", "slo_ttft_s", "slo_tpot_s",
)
_SERVE_SCENARIO = ("tp", "pp", "ep", "dp", "weights", "kv", "moe_exchange", "routing_skew")


def _serve_metrics(params: Mapping[str, Any]) -> dict[str, Any]:
    """Serving metrics through `infersim.api.serve`: traffic.* builds the arrival process,
    lengths, policy and SLOs; scenario.tp/pp/ep/dp/weights/kv and runtime the deployment."""
    from infersim.api import serve
    from infersim.foundation.errors import InputError
    from infersim.simulator import (
        ClosedLoop,
        Deployment,
        FixedLengths,
        Gamma,
        Poisson,
        ServingPolicy,
        Slo,
        Traffic,
    )

    p = split_params(params)
    t = dict(p["traffic"])
    unknown = sorted(set(t) - set(TRAFFIC_KNOBS))
    bad_sc = sorted(set(p["scenario"]) - set(_SERVE_SCENARIO))
    if unknown or bad_sc:
        raise InputError(f"serve studies take traffic.{{{', '.join(TRAFFIC_KNOBS)}}} and "
                         f"scenario.{{{', '.join(_SERVE_SCENARIO)}}}; got "
                         f"{', '.join(unknown + ['scenario.' + b for b in bad_sc])}")
    arrival = t.get("arrival", "poisson")
    n = int(t.get("requests", 1000))
    rate = float(t.get("rate", 1.0))
    if arrival == "poisson":
        arr: Any = Poisson(rate)
    elif arrival == "gamma":
        arr = Gamma(rate, float(t.get("cv", 2.0)))
    elif arrival == "closed":
        arr = ClosedLoop(int(t.get("users", 1)), float(t.get("think_s", 0.0)))
    else:
        raise InputError(f"traffic.arrival {arrival!r}: use poisson, gamma or closed")
    traffic = Traffic(arr, FixedLengths(int(t.get("prompt", 1024)), int(t.get("output", 256))), n)
    pol = ServingPolicy()
    policy = ServingPolicy(t.get("policy", pol.kind), int(t.get("max_batch", pol.max_batch)),
                           int(t.get("max_tokens", pol.max_tokens)),
                           int(t.get("block_size", pol.block_size)))
    sc = p["scenario"]
    hw = _hardware(p["hardware"], p["hw"])
    dep = Deployment(int(sc.get("tp", 1)), int(sc.get("pp", 1)), int(sc.get("ep", 1)),
                     int(t.get("replicas", 1)), _runtime(p, hw) or "",
                     sc.get("weights", "bf16"), sc.get("kv"), dp=int(sc.get("dp", 1)),
                     moe_exchange=sc.get("moe_exchange", "auto"),
                     routing_skew=sc.get("routing_skew"))
    slo = Slo(t.get("slo_ttft_s", 2.0), t.get("slo_tpot_s", 0.1))
    eco = Economics(**p["economics"]) if p["economics"] else Economics()
    res = serve(_model(p["model"]), hw, traffic, policy, deployment=dep, slo=slo,
                economics=eco, seed=int(t.get("seed", 0)))
    d = {k: v for k, v in res.to_dict().items() if not isinstance(v, (dict, list))}
    d.setdefault("feasible", getattr(res, "infeasible", None) is None)
    return d


@lru_cache(maxsize=2)
def metric_kinds(kind: str) -> dict[str, str]:
    """Metric name → "number" or "text" for an evaluator, in table order (for checking plot
    and metric names before a sweep runs)."""
    if kind == "simulate":
        return {m: "text" if m in ("reason", "cost_note") else "number"
                for m in SIMULATE_METRICS}
    # serving: the keys of a ServingResult, read off a two-request run with a fixed cost
    from infersim.simulator.serving import FixedLengths, Poisson, Traffic, simulate_serving
    from infersim.simulator.serving.serve import ReplicaSpec

    r = simulate_serving(ReplicaSpec(), lambda p, e, d, c: (1.0, 0.0),
                         Traffic(Poisson(1.0), FixedLengths(1, 1), 2))
    out = {k: "text" if isinstance(v, str) else "number"
           for k, v in r.to_dict().items() if not isinstance(v, dict | list)}
    out["reason"] = "text"
    return out


_EVALUATORS: dict[str, Callable[[Mapping[str, Any]], dict[str, Any]]] = {
    "simulate": simulate_metrics,
    "serve": _serve_metrics,
}
