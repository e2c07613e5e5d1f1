"""Capacity planning: the highest request rate whose TTFT and TPOT percentiles meet the SLOs.

Search: start at a guess; double while the SLOs hold (or halve until they do), then bisect
between the last passing and the first failing rate until they are within `rel_tol`. Every
evaluation uses the same seed, so the arrival pattern is the same draws rescaled in time
(inter-arrival = standard draw / rate): the search is deterministic, and a higher rate is the
same trace compressed, which keeps the pass/fail boundary well defined in practice (queueing
delays are not guaranteed monotone in the rate, so the answer is one boundary the bisection
finds, not a proof that every lower rate passes).

A rate passes only in steady state (`ServingResult.overloaded` is false: the run served what
was offered and TTFT did not rise through it). Percentiles alone are not enough: a finite run
above capacity ends with a backlog that a loose SLO tolerates, so the bisection would climb
without bound (all requests arriving at once still "meet" a 1000 s TTFT).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from infersim.foundation.errors import InputError
from infersim.simulator.serving.config import Slo
from infersim.simulator.serving.metrics import ServingResult
from infersim.simulator.serving.traffic import RATE_RANGE

# Fewest requests per simulation for the steady-state test to mean anything (the drain after
# the last arrival must be a small part of the run).
MIN_REQUESTS = 100


@dataclass(frozen=True)
class CapacityResult:
    max_rate_rps: float  # 0.0 when even the lowest rate tried misses the SLOs
    percentile: float
    result: ServingResult | None  # the simulation at max_rate_rps
    evaluations: tuple[tuple[float, bool, float, float], ...]  # (rate, ok, ttft_pX, tpot_pX)

    def to_dict(self) -> dict[str, object]:
        d: dict[str, object] = {"max_rate_rps": self.max_rate_rps,
                                "found": self.max_rate_rps > 0,
                                "slo_percentile": self.percentile,
                                "evaluations": len(self.evaluations)}
        if self.result is not None:
            d.update({f"at_max_{k}": v for k, v in self.result.to_dict().items()
                      if isinstance(v, int | float)})
        return d


def slo_percentiles(r: ServingResult, q: float) -> tuple[float, float]:
    """(TTFT, TPOT) at percentile q over completed requests (NaN if none)."""
    pr = r.per_request
    if not pr:
        return math.nan, math.nan
    fin, first, arr, out = pr["finish_s"], pr["first_token_s"], pr["arrival_s"], \
        pr["output_tokens"]
    ok = ~np.isnan(fin)
    ttft = (first - arr)[ok]
    multi = ok & (out > 1)
    tpot = (fin - first)[multi] / (out[multi] - 1)
    tt = float(np.percentile(ttft, q)) if len(ttft) else math.nan
    tp = float(np.percentile(tpot, q)) if len(tpot) else 0.0
    return tt, tp


def meets(r: ServingResult, slo: Slo) -> tuple[bool, float, float]:
    """(meets the SLOs in steady state, TTFT pX, TPOT pX) of one simulation."""
    tt, tp = slo_percentiles(r, slo.percentile)
    if r.requests < MIN_REQUESTS:
        raise InputError(f"capacity search needs at least {MIN_REQUESTS} requests per "
                         f"simulation to test for steady state, got {r.requests}; raise "
                         "--requests")
    good = (r.feasible and r.completed > 0 and not math.isnan(tt) and not r.overloaded
            and not math.isnan(r.served_fraction))
    if slo.ttft_s is not None:
        good = good and tt <= slo.ttft_s
    if slo.tpot_s is not None:
        good = good and tp <= slo.tpot_s
    return good, tt, tp


@dataclass(frozen=True)
class PoolSizes:
    """The cheapest (prefill, decode) pool sizes meeting the SLOs at one rate."""

    prefill: int  # 0 when no size tried meets the SLOs
    decode: int
    result: ServingResult | None
    evaluations: tuple[tuple[int, int, bool, float, float], ...]  # (np, nd, ok, ttft, tpot)

    def to_dict(self) -> dict[str, object]:
        d: dict[str, object] = {"prefill_replicas": self.prefill,
                                "decode_replicas": self.decode, "found": self.prefill > 0,
                                "evaluations": len(self.evaluations)}
        if self.result is not None:
            d.update({f"at_best_{k}": v for k, v in self.result.to_dict().items()
                      if isinstance(v, int | float)})
        return d


def find_pool_sizes(run: Callable[[int, int], ServingResult], slo: Slo, *,
                    max_replicas: int = 8) -> PoolSizes:
    """Disaggregated pools: for each prefill pool size 1..max_replicas, the smallest decode
    pool meeting `slo` (bisection: assumes more decode replicas never hurt), then the pair of
    lowest cost per 1M output tokens (fewest chips where the price is unknown)."""
    if not isinstance(max_replicas, int) or isinstance(max_replicas, bool) or \
            not 1 <= max_replicas <= 64:
        raise InputError(f"max_replicas must be an integer in 1..64, got {max_replicas!r}")
    evals: list[tuple[int, int, bool, float, float]] = []
    found: dict[tuple[int, int], ServingResult] = {}

    def ok(npf: int, nd: int) -> bool:
        r = run(npf, nd)
        good, tt, tp = meets(r, slo)
        evals.append((npf, nd, good, tt, tp))
        if good:
            found[(npf, nd)] = r
        return good

    for npf in range(1, max_replicas + 1):
        if not ok(npf, max_replicas):
            continue
        lo, hi = 0, max_replicas  # lo fails (or untried 0), hi passes
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if ok(npf, mid):
                hi = mid
            else:
                lo = mid
    if not found:
        return PoolSizes(0, 0, None, tuple(evals))

    def rank(k: tuple[int, int]) -> tuple[float, int, int]:
        c = found[k].cost_per_1m_tokens_usd
        return (c if not math.isnan(c) else math.inf, found[k].chips, k[0])

    best = min(found, key=rank)
    return PoolSizes(best[0], best[1], found[best], tuple(evals))


def find_max_rate(run: Callable[[float], ServingResult], slo: Slo, *, guess_rps: float = 1.0,
                  rel_tol: float = 0.02, max_evals: int = 40) -> CapacityResult:
    """Largest rate (req/s) for which `run(rate)` meets `slo` at `slo.percentile`."""
    if slo.ttft_s is None and slo.tpot_s is None:
        raise InputError("capacity search needs at least one SLO (--slo-ttft and/or --slo-tpot)")
    if not (0 < rel_tol < 1) or not RATE_RANGE[0] <= guess_rps <= RATE_RANGE[1]:
        raise InputError(f"find_max_rate needs {RATE_RANGE[0]:g} ≤ guess_rps ≤ "
                         f"{RATE_RANGE[1]:g} and 0 < rel_tol < 1")
    evals: list[tuple[float, bool, float, float]] = []
    results: dict[float, ServingResult] = {}

    def ok(rate: float) -> bool:
        r = run(rate)
        good, tt, tp = meets(r, slo)
        evals.append((rate, good, tt, tp))
        results[rate] = r
        return good

    lo, hi = 0.0, guess_rps
    if ok(hi):
        lo = hi
        while len(evals) < max_evals and lo * 2 <= RATE_RANGE[1]:
            hi = lo * 2
            if not ok(hi):
                break
            lo = hi
    else:
        while len(evals) < max_evals and hi / 2 >= RATE_RANGE[0]:
            lo = hi / 2
            if ok(lo):
                break
            hi, lo = lo, 0.0
        if lo == 0.0:
            return CapacityResult(0.0, slo.percentile, None, tuple(evals))
    while len(evals) < max_evals and (hi - lo) > rel_tol * hi:
        mid = 0.5 * (lo + hi)
        if ok(mid):
            lo = mid
        else:
            hi = mid
    return CapacityResult(lo, slo.percentile, results.get(lo), tuple(evals))
