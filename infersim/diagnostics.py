"""Diagnostics: one-line findings a reader of a result should not miss.

Each finding is {"code": ..., "message": ...}; tables print the message on one line, `--json`
carries the list under "diagnostics". Codes:

- `weights_streamed`: part of the weights do not fit on chip and stream from an external
  memory level every step (wafer + MemoryX, CIM + reload store): the step is bound by that link.
- `chips_idle`: the step uses fewer chips than the system has.
- `fewer_chips_fit`: the model state would fit on fewer chips than the parallelism uses, so a
  cheaper parallelism (fewer chips per replica, more replicas) would do if its latency is enough.
- `overloaded`: a serving run offered more requests per second than it served and its queue
  kept growing (the mean queue delay of the last quarter of arrivals exceeds that of the first
  quarter by more than `_GROWTH_TTFTS` unloaded TTFTs), so TTFT depends on how long the run is.
  Below capacity the two quarters differ by noise (~1% of a TTFT for Llama-70B on a DGX H100
  at 10 req/s against a capacity of ~11); above it the growth is seconds.
- `kv_full`: the KV cache reached its capacity at peak (admissions wait, or requests preempt).
- `preemptions`: requests were preempted (KV blocks reclaimed), with the rate per request.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

# A served rate below this fraction of the offered rate is a candidate overload (a finite run
# also ends with a drain tail, hence the queue-growth test as well).
_OVERLOAD_SERVED_FRACTION = 0.95
_GROWTH_TTFTS = 5.0
_KV_FULL = 0.99


def _d(code: str, message: str) -> dict[str, str]:
    return {"code": code, "message": message}


def diagnose_step(r: Any) -> list[dict[str, str]]:
    """Findings about one simulated step (`infersim simulate`, `map`, the API)."""
    out: list[dict[str, str]] = []
    s = r.schedule
    hw = s.hardware
    sc = s.trace.scenario
    chips = sc.parallel.chips
    if s.weights_on_chip < 1.0 and r.feasible:
        ext = hw.chip.external_memory
        where = ext.name if ext is not None else "an external memory level"
        out.append(_d("weights_streamed",
                      f"weights spill: {100 * (1 - s.weights_on_chip):.0f}% of the weights do not "
                      f"fit on chip and stream from {where} every step; lower the batch or "
                      "context (KV shares the on-chip memory) or use more chips"))
    if chips < hw.num_chips:
        out.append(_d("chips_idle",
                      f"this step uses {chips} of the system's {hw.num_chips} chips; spread the "
                      f"model with --tp/--pp (e.g. --pp {hw.num_chips}) or count the rest as "
                      "other replicas"))
    need = min_chips_that_fit(r)
    if r.feasible and need is not None and need < chips:
        out.append(_d("fewer_chips_fit",
                      f"the model state fits on {need} chip(s) but tp {sc.parallel.tp} × "
                      + (f"dp {sc.parallel.dp} × " if sc.parallel.dp > 1 else "")
                      + f"pp {sc.parallel.pp} uses {chips}: a cheaper parallelism (fewer chips per "
                      "replica, more replicas) would do if its latency is acceptable"))
    return out


def min_chips_that_fit(r: Any) -> int | None:
    """Smallest power-of-two chip count whose main memory holds the step's resident state
    (weights + KV + workspace, all chips together), or None when not known. Power of two
    because TP degrees divide head counts that are powers of two in practice."""
    s = r.schedule
    chips = s.trace.scenario.parallel.chips
    cap = s.hardware.chip.main_memory.capacity_bytes
    if cap <= 0 or s.memory_per_chip_bytes <= 0 or s.hardware.chip.external_memory is not None:
        return None
    total = s.memory_per_chip_bytes * chips
    n = 1
    while n * cap < total:
        n *= 2
    return n


def queue_growth(per_request: Mapping[str, np.ndarray]) -> tuple[float, float]:
    """(growth, ttft0): mean queue delay of the last quarter of arrivals minus that of the
    first quarter, and the median TTFT of the first quarter (before a queue could build up).
    NaN when there are too few requests."""
    arr = np.asarray(per_request.get("arrival_s", ()), dtype=float)
    sched = np.asarray(per_request.get("scheduled_s", ()), dtype=float)
    first = np.asarray(per_request.get("first_token_s", ()), dtype=float)
    ok = ~np.isnan(first) & ~np.isnan(sched)
    if ok.sum() < 8:
        return math.nan, math.nan
    order = np.argsort(arr[ok], kind="stable")
    q = (sched[ok] - arr[ok])[order]
    ttft = (first[ok] - arr[ok])[order]
    k = len(q) // 4
    return float(q[-k:].mean() - q[:k].mean()), float(np.median(ttft[:k]))


def diagnose_serving(d: dict[str, Any], offered_rps: float | None,
                     per_request: Mapping[str, np.ndarray] | None = None,
                     ) -> list[dict[str, str]]:
    """Findings about a serving run from its `ServingResult.to_dict()` and per-request
    records; `offered_rps` is the open-loop arrival rate (None for closed loop and trace
    replay)."""
    out: list[dict[str, str]] = []
    if not d.get("feasible", True):
        return out
    served = d.get("throughput_req_s", 0.0)
    util = d.get("utilization", 0.0)
    growth, ttft0 = queue_growth(per_request or {})
    if offered_rps and offered_rps > 0 and math.isfinite(served):
        if served < _OVERLOAD_SERVED_FRACTION * offered_rps \
                and growth > _GROWTH_TTFTS * ttft0:
            out.append(_d("overloaded",
                          f"overloaded: offered {offered_rps:.3g} req/s but the system serves "
                          f"about {served:.3g} req/s (its capacity here, utilization "
                          f"{100 * util:.0f}%); the queue grows all run, so TTFT grows with "
                          "--requests; lower --rate, add --replicas, or find the SLO rate with "
                          "--find-max-rate"))
        else:
            out.append(_d("load",
                          f"load: offered {offered_rps:.3g} req/s, below capacity (the queue "
                          f"did not grow); {served:.3g} req/s served over the run including "
                          f"its final drain, utilization {100 * util:.0f}%"))
    if d.get("kv_peak_occupancy", 0.0) >= _KV_FULL:
        out.append(_d("kv_full",
                      f"KV cache full at peak ({d.get('kv_blocks', 0)} blocks): admissions "
                      "wait for free blocks; more memory, a smaller --kv dtype or a lower "
                      "--max-batch relieves it"))
    pre = d.get("preemptions", 0)
    done = d.get("completed", 0)
    if pre:
        rate = pre / done if done else math.inf
        out.append(_d("preemptions",
                      f"{pre} preemptions ({rate:.2g} per completed request): KV blocks were "
                      "reclaimed and work redone" + (" — a preemption storm" if rate >= 1 else "")))
    return out
