"""Streaming serving metrics with bounded memory, and the frozen `ServingResult`.

Per request the collector keeps one summary record (arrival, first token, finish, lengths,
first-scheduled time, preemptions, replica) in preallocated numpy arrays — O(requests) memory,
never O(tokens). KV-cache occupancy is sampled into a bounded buffer that halves its
resolution when full. A full event log is kept only when asked for (`event_log=True`): one
(time, what, replica, request) tuple per finish, preemption or rejection of a request, and per
iteration (request -1) as it starts, `what` = "iter p=P d=D ctx=C t=T": its prompt tokens,
decoding sequences, their summed context and its priced time in seconds (static batching logs
"static batch b=B").

Definitions (as vLLM's benchmark_serving and MLPerf use them):
- TTFT = first token time − arrival; E2E = finish − arrival.
- TPOT = (finish − first token) / (output tokens − 1), per request with ≥ 2 output tokens.
- ITL (inter-token latency) = per output token after a request's first, the time since that
  request's previous token (stalls behind other requests' prefills, preemption and KV
  hand-off included); its percentiles are over all such tokens of all requests, the p-th the
  smallest ITL with at least p% of the tokens at or below it. The replicas record one
  (ITL, token count) pair per decode iteration for the sequences that also decoded in the
  previous one, plus one pair per sequence that joined since: O(iterations + requests).
- queue delay = first time the request was scheduled − arrival.
- duration = last finish − first arrival; throughput = completed output tokens / duration.
- goodput = requests meeting every SLO (TTFT ≤ slo.ttft_s and TPOT ≤ slo.tpot_s) / duration.
- utilization = busy time / duration, averaged over replicas.
- energy, in the scopes `infersim.api.ENERGY_SCOPES` names: chips only = Σ iteration
  energies (the mapper's step energies: dynamic + the chips' static power while a step runs) +
  chip idle power × idle time; system = chips + system overhead power (hosts, switches, fans)
  × duration; facility = system × PUE. `energy_j` / `energy_per_token_j` are chips only, as
  in `infersim simulate`; the cost uses the facility energy.
- cost per 1M output tokens: `hwmodels.economics.cost_per_mtok_usd` at throughput = output
  tokens / duration and energy per token = energy / output tokens, i.e. (price × duration /
  (lifetime × utilization) + energy / 3.6e6 × USD/kWh × PUE) / output tokens × 1e6; NaN when
  the price is unknown (0), never a misleadingly low number, with `cost_note` saying why.

Steady state (open-loop traffic only; NaN for closed loops, whose arrivals follow service):
- offered_tok_s = output tokens of the admitted requests × (n − 1)/n / arrival span (the
  arrivals' own rate, so a trace is judged against what it offers).
- served_fraction = served tok/s / offered_tok_s, served tok/s = completed output tokens ×
  (m − 1)/m / finish span (first to last completion of the m completed). Shifting every request
  by the same latency leaves it at 1, so the drain of a finite run does not count against it;
  an overloaded run finishes at its capacity, so the fraction tends to capacity / offered.
- queue_growth = rise in mean TTFT from the first to the second half of the arrival span,
  per second of arrival time: ≈ 0 in steady state, ≈ 1 − capacity / offered when overloaded.
- overloaded: served_fraction < 1 − OVERLOAD_EPS or queue_growth > OVERLOAD_EPS.
"""

from __future__ import annotations

import math
from array import array
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from infersim.hwmodels.economics import Economics, cost_note, cost_per_mtok_usd
from infersim.simulator.serving.config import Slo

# Tolerance of the steady-state test: served ≥ (1 − ε) × offered and TTFT rising by < ε s per
# s of arrivals. assumed: 3% — finite runs end with one response time of drain, which must fit
# in the tolerance for runs of ~10^3 requests; larger values let overload pass as capacity.
OVERLOAD_EPS = 0.03

if TYPE_CHECKING:
    import pandas as pd

    from infersim.hwmodels.cost import Infeasibility
    from infersim.simulator.serving.kv_pool import PrefixKvPool

# why a request is rejected (`ServingResult.warnings`)
_TOO_LONG = ("longer than the model's context, the KV cache, or --max-tokens where prompts "
             "run whole: raise --max-tokens")


class BoundedSampler:
    """Keeps at most `capacity` (t, value) samples: when full it drops every other sample and
    doubles its stride, so memory stays bounded and the samples stay evenly spread."""

    def __init__(self, capacity: int = 2048) -> None:
        self.capacity = capacity
        self.stride = 1
        self._n = 0
        self.t: list[float] = []
        self.v: list[float] = []

    @property
    def seen(self) -> int:
        """Samples offered so far (kept or not)."""
        return self._n

    def resume(self, t: list[float], v: list[float], seen: int, stride: int) -> None:
        """Take over the state of a sampler that kept `t`, `v` of `seen` offered samples at
        `stride` (the compiled engine's own sampler)."""
        self.t, self.v, self._n, self.stride = t, v, seen, stride

    def add(self, t: float, v: float) -> None:
        self._n += 1
        if (self._n - 1) % self.stride:
            return
        self.t.append(t)
        self.v.append(v)
        if len(self.t) >= self.capacity:
            self.t = self.t[::2]
            self.v = self.v[::2]
            self.stride *= 2


class WeightedSamples:
    """(value, count) pairs in compact arrays (8 + 8 bytes each); weighted percentiles."""

    def __init__(self) -> None:
        self.v = array("d")
        self.w = array("q")

    def add(self, value: float, count: int) -> None:
        self.v.append(value)
        self.w.append(count)

    def add_ones(self, values: list[float]) -> None:
        """`add(v, 1)` for each value, in order."""
        self.v.extend(values)
        self.w.extend([1] * len(values))

    def stats(self) -> dict[str, float]:
        w = np.frombuffer(self.w, dtype=np.int64) if len(self.w) else np.zeros(0, np.int64)
        total = int(w.sum())
        if not total:
            return {"mean": math.nan, "p50": math.nan, "p90": math.nan, "p99": math.nan}
        v = np.frombuffer(self.v, dtype=np.float64)
        order = np.argsort(v, kind="stable")
        cum100 = w[order]  # in place below: one temporary, not three (10^6-request runs)
        np.cumsum(cum100, out=cum100)
        cum100 *= 100  # integers: the percentile rank is exact
        out = {"mean": float(np.dot(v, w) / total)}
        for q in (50, 90, 99):
            out[f"p{q}"] = float(v[order[np.searchsorted(cum100, q * total)]])
        return out


class Collector:
    """Per-request records plus run-wide counters, filled by the replicas as events happen."""

    def __init__(self, n: int, event_log: bool = False) -> None:
        self.arrival_s = np.full(n, np.nan)
        self.scheduled_s = np.full(n, np.nan)
        self.first_token_s = np.full(n, np.nan)
        self.finish_s = np.full(n, np.nan)
        self.prompt_tokens = np.zeros(n, dtype=np.int64)
        self.output_tokens = np.zeros(n, dtype=np.int64)
        self.preemptions = np.zeros(n, dtype=np.int64)
        self.replica = np.full(n, -1, dtype=np.int64)
        self.rejected = np.zeros(n, dtype=bool)
        self.events: list[tuple[float, str, int, int]] | None = [] if event_log else None
        self.kv = BoundedSampler()
        self.itl = WeightedSamples()

    def log(self, t: float, what: str, replica: int, rid: int) -> None:
        if self.events is not None:
            self.events.append((t, what, replica, rid))


@dataclass(frozen=True)
class ReplicaStats:
    busy_s: float
    energy_j: float  # iterations (dynamic + static while busy), all chips of the replica
    idle_power_w: float
    price_usd: float
    chips: int
    extra_power_w: float = 0.0  # system overhead share, drawn for the whole run


def _pct(x: np.ndarray, q: float) -> float:
    return float(np.percentile(x, q)) if len(x) else math.nan


def _mean(x: np.ndarray) -> float:
    return float(np.mean(x)) if len(x) else math.nan


@dataclass(frozen=True)
class ServingResult:
    """Summary of a serving simulation. Times in s, energy in J, money in USD."""

    model: str
    hardware: str
    policy: str
    replicas: int
    chips: int
    requests: int
    completed: int
    rejected: int
    duration_s: float
    output_tokens: int
    ttft: dict[str, float]  # mean, p50, p90, p99
    tpot: dict[str, float]
    e2e: dict[str, float]
    queue_delay: dict[str, float]
    throughput_tok_s: float
    throughput_req_s: float
    goodput_req_s: float
    slo_attainment: float
    preemptions: int
    kv_blocks: int
    kv_peak_occupancy: float
    kv_mean_occupancy: float
    utilization: float
    energy_j: float  # chips only
    energy_per_token_j: float  # chips only, per output token
    cost_per_1m_tokens_usd: float
    slo: Slo
    infeasible: Infeasibility | None = None
    system_energy_j: float = math.nan  # chips + system overhead power for the run
    pue: float = 1.0
    cost_note: str = ""  # why the cost is NaN (no price in the spec); "" when known
    offered_tok_s: float = math.nan  # see "Steady state" in the module doc
    served_fraction: float = math.nan
    queue_growth: float = math.nan
    per_request: dict[str, np.ndarray] = field(default_factory=dict, compare=False, repr=False)
    kv_samples: tuple[tuple[float, float], ...] = field(default=(), compare=False, repr=False)
    events: tuple[tuple[float, str, int, int], ...] | None = field(default=None, compare=False,
                                                                   repr=False)
    # prefix caching only (see `prefix_summary`); empty when it is off
    prefix_cache: dict[str, float] = field(default_factory=dict)
    # speculative decoding only (`speculative.spec_summary`); empty when it is off
    speculative: dict[str, Any] = field(default_factory=dict)
    # per output token after the first (see ITL in the module doc): mean, p50, p90, p99
    itl: dict[str, float] = field(default_factory=lambda: WeightedSamples().stats())


    @property
    def feasible(self) -> bool:
        return self.infeasible is None

    @property
    def system_energy_per_token_j(self) -> float:
        return self.system_energy_j / self.output_tokens if self.output_tokens else math.nan

    def __repr__(self) -> str:
        if not self.feasible:
            return f"ServingResult({self.model} on {self.hardware}: does not fit)"
        return (f"ServingResult({self.model} on {self.hardware}, {self.policy}, "
                f"{self.completed}/{self.requests} requests, TTFT p50 {self.ttft['p50']:.4g} s, "
                f"TPOT p50 {self.tpot['p50']:.4g} s, {self.throughput_tok_s:.4g} tok/s, "
                f"{self.energy_per_token_j:.4g} J/token (chips))")

    def _repr_html_(self) -> str:
        import html

        rows = "".join(f"<tr><th style='text-align:left'>{html.escape(str(k))}</th>"
                       f"<td>{html.escape(f'{v:.4g}' if isinstance(v, float) else str(v))}"
                       "</td></tr>" for k, v in self.to_dict().items()
                       if not isinstance(v, dict | list))
        return f"<b>{html.escape(repr(self))}</b><table>{rows}</table>"

    @property
    def overloaded(self) -> bool:
        """Offered load beyond what the run served (see "Steady state" in the module doc)."""
        return bool(self.served_fraction < 1 - OVERLOAD_EPS or
                    self.queue_growth > OVERLOAD_EPS)

    def warnings(self) -> list[str]:
        """What makes the headline numbers misleading: nothing served, overload, rejections."""
        out: list[str] = []
        if not self.feasible:
            return out
        if self.requests and self.completed == 0:
            why = (f"all {self.rejected} rejected (a request {_TOO_LONG})" if self.rejected
                   else "none finished")
            out.append(f"no request completed: {why}; every latency is NaN")
            return out
        if self.rejected:
            out.append(f"{self.rejected} of {self.requests} requests rejected ({_TOO_LONG})")
        if self.overloaded:
            out.append(f"offered load exceeds capacity: {self.offered_tok_s:,.4g} output tok/s "
                       f"offered, {self.throughput_tok_s:,.4g} served over the run, TTFT rising "
                       f"{self.queue_growth:.3g} s per s of arrivals; latencies grow with the "
                       "run length (lower --rate, or use --find-max-rate)")
        return out

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "model": self.model, "hardware": self.hardware, "policy": self.policy,
            "replicas": self.replicas, "chips": self.chips, "feasible": self.feasible,
            "requests": self.requests, "completed": self.completed, "rejected": self.rejected,
            "duration_s": self.duration_s, "output_tokens": self.output_tokens,
        }
        for name in ("ttft", "tpot", "itl", "e2e", "queue_delay"):
            for k, v in getattr(self, name).items():
                d[f"{name}_{k}_s"] = v
        d.update(
            throughput_tok_s=self.throughput_tok_s,
            throughput_tok_s_per_chip=self.throughput_tok_s / self.chips if self.chips else 0.0,
            throughput_req_s=self.throughput_req_s, goodput_req_s=self.goodput_req_s,
            slo_ttft_s=self.slo.ttft_s, slo_tpot_s=self.slo.tpot_s,
            slo_attainment=self.slo_attainment, preemptions=self.preemptions,
            kv_blocks=self.kv_blocks, kv_peak_occupancy=self.kv_peak_occupancy,
            kv_mean_occupancy=self.kv_mean_occupancy, utilization=self.utilization,
            energy_j=self.energy_j, energy_per_token_j=self.energy_per_token_j,
            system_energy_j=self.system_energy_j,
            system_energy_per_token_j=self.system_energy_per_token_j,
            facility_energy_per_token_j=self.system_energy_per_token_j * self.pue, pue=self.pue,
            energy_scope="energy_j / energy_per_token_j: chips only; system_*: + host and "
                         "network (spec extra_power_w); facility_*: system × PUE",
            cost_per_1m_tokens_usd=self.cost_per_1m_tokens_usd, cost_note=self.cost_note,
            offered_tok_s=self.offered_tok_s, served_fraction=self.served_fraction,
            queue_growth=self.queue_growth, overloaded=self.overloaded,
            warnings=self.warnings(),
        )
        for k, v in self.prefix_cache.items():
            d[f"prefix_{k}"] = v
        for k, v in self.speculative.items():
            d[f"spec_{k}"] = v
        if self.infeasible is not None:
            d["infeasible"] = self.infeasible.to_dict()
            d["reason"] = str(self.infeasible)
        return d

    def requests_frame(self) -> pd.DataFrame:
        """One row per request: arrival, first token, finish, lengths, TTFT, TPOT, E2E..."""
        import pandas as pd

        df = pd.DataFrame(self.per_request)
        if len(df):
            df["ttft_s"] = df["first_token_s"] - df["arrival_s"]
            df["e2e_s"] = df["finish_s"] - df["arrival_s"]
            n = df["output_tokens"].where(df["output_tokens"] > 1)
            df["tpot_s"] = (df["finish_s"] - df["first_token_s"]) / (n - 1)
        return df


def prefix_summary(pools: list[PrefixKvPool], block_bytes_per_chip: float) -> dict[str, float]:
    """Prefix-cache statistics over all engines: tokens and blocks looked up and found (a
    look-up is one admission to prefill, recomputations included; blocks looked up = the full
    blocks before the prompt's last token), the hit rates, and the peak count of cached
    blocks (referenced or evictable) in any one engine, also as bytes per chip."""
    q_tok = sum(p.counts[0] for p in pools)
    h_tok = sum(p.counts[1] for p in pools)
    q_blk = sum(p.counts[2] for p in pools)
    h_blk = sum(p.counts[3] for p in pools)
    peak = max((p.peak_cached for p in pools), default=0)
    return {"query_tokens": q_tok, "hit_tokens": h_tok,
            "token_hit_rate": h_tok / q_tok if q_tok else 0.0,
            "query_blocks": q_blk, "hit_blocks": h_blk,
            "block_hit_rate": h_blk / q_blk if q_blk else 0.0,
            "cached_blocks_peak": peak, "cache_bytes_peak_per_chip": peak * block_bytes_per_chip}


def summarize(c: Collector, stats: list[ReplicaStats], *, model: str, hardware: str,
              policy: str, kv_blocks: int, slo: Slo,
              economics: Economics = Economics(),  # noqa: B008 (frozen)
              open_loop: bool = True) -> ServingResult:
    """Turn the collector's records into a `ServingResult` (formulas in the module doc)."""
    itl = c.itl.stats()  # first: its sort's temporaries are the largest (memory peak)
    done = ~np.isnan(c.finish_s)
    arr = c.arrival_s[done]
    first = c.first_token_s[done]
    fin = c.finish_s[done]
    out = c.output_tokens[done]
    ttft = first - arr
    e2e = fin - arr
    multi = out > 1
    tpot = (fin[multi] - first[multi]) / (out[multi] - 1)
    qd = c.scheduled_s[done] - arr
    start = float(np.nanmin(c.arrival_s)) if np.any(~np.isnan(c.arrival_s)) else 0.0
    duration = float(fin.max() - start) if len(fin) else 0.0
    ok = np.ones(len(fin), dtype=bool)
    if slo.ttft_s is not None:
        ok &= ttft <= slo.ttft_s
    if slo.tpot_s is not None:
        tp_all = np.where(multi, (fin - first) / np.maximum(out - 1, 1), 0.0)
        ok &= tp_all <= slo.tpot_s
    tokens = int(out.sum())

    def stats_of(x: np.ndarray) -> dict[str, float]:
        return {"mean": _mean(x), "p50": _pct(x, 50), "p90": _pct(x, 90), "p99": _pct(x, 99)}

    busy_energy = sum(s.energy_j for s in stats)
    idle_energy = sum(s.idle_power_w * max(duration - s.busy_s, 0.0) for s in stats)
    extra_energy = sum(s.extra_power_w * duration for s in stats)
    chips_energy = busy_energy + idle_energy
    energy = chips_energy + extra_energy  # system scope
    chips = sum(s.chips for s in stats)
    # one pool of unknown price (0) makes the whole price unknown, not cheaper
    price = sum(s.price_usd for s in stats) if all(s.price_usd > 0 for s in stats) else 0.0
    util = _mean(np.array([s.busy_s / duration for s in stats])) if duration > 0 else 0.0
    occ = np.asarray(c.kv.v)
    per_request = {
        "arrival_s": c.arrival_s, "scheduled_s": c.scheduled_s,
        "first_token_s": c.first_token_s, "finish_s": c.finish_s,
        "prompt_tokens": c.prompt_tokens, "output_tokens": c.output_tokens,
        "preemptions": c.preemptions, "replica": c.replica, "rejected": c.rejected,
    }
    offered, served, growth = (_steady_state(c, done) if open_loop else
                               (math.nan, math.nan, math.nan))
    return ServingResult(
        model=model, hardware=hardware, policy=policy, replicas=len(stats), chips=chips,
        requests=len(c.finish_s), completed=int(done.sum()), rejected=int(c.rejected.sum()),
        duration_s=duration, output_tokens=tokens, ttft=stats_of(ttft), tpot=stats_of(tpot),
        e2e=stats_of(e2e), queue_delay=stats_of(qd), itl=itl,
        throughput_tok_s=tokens / duration if duration > 0 else 0.0,
        throughput_req_s=len(fin) / duration if duration > 0 else 0.0,
        goodput_req_s=int(ok.sum()) / duration if duration > 0 else 0.0,
        slo_attainment=float(ok.mean()) if len(ok) else 0.0,
        preemptions=int(c.preemptions.sum()), kv_blocks=kv_blocks,
        kv_peak_occupancy=float(occ.max()) if len(occ) else 0.0,
        kv_mean_occupancy=float(occ.mean()) if len(occ) else 0.0,
        utilization=util, energy_j=chips_energy,
        energy_per_token_j=chips_energy / tokens if tokens else math.nan,
        system_energy_j=energy, pue=economics.pue,
        cost_per_1m_tokens_usd=cost_per_mtok_usd(
            price, tokens / duration if duration > 0 else 0.0,
            energy / tokens if tokens else 0.0, economics),
        cost_note=cost_note(price, hardware),
        offered_tok_s=offered, served_fraction=served / offered if offered > 0 else math.nan,
        queue_growth=growth,
        slo=slo, per_request=per_request,
        kv_samples=tuple(zip(c.kv.t, c.kv.v, strict=True)),
        events=tuple(c.events) if c.events is not None else None,
    )


def _steady_state(c: Collector, done: np.ndarray) -> tuple[float, float, float]:
    """(offered tok/s, served tok/s, TTFT growth in s per s of arrivals); see the module doc."""
    adm = ~c.rejected & ~np.isnan(c.arrival_s)
    arr = c.arrival_s[adm]
    n = len(arr)
    span = float(arr.max() - arr.min()) if n else 0.0
    if n < 2 or span <= 0:
        return math.nan, math.nan, math.nan
    offered = float(c.output_tokens[adm].sum()) * (n - 1) / n / span
    fin = c.finish_s[done]
    m = len(fin)
    fspan = float(fin.max() - fin.min()) if m else 0.0
    served = (float(c.output_tokens[done].sum()) * (m - 1) / m / fspan if fspan > 0 else
              (math.inf if m > 1 else 0.0))
    a = c.arrival_s[done]
    ttft = c.first_token_s[done] - a
    mid = float(arr.min()) + span / 2
    lo, hi = a < mid, a >= mid
    if lo.sum() < 2 or hi.sum() < 2:
        return offered, served, math.nan
    growth = (float(ttft[hi].mean() - ttft[lo].mean())
              / max(float(a[hi].mean() - a[lo].mean()), 1e-300))
    return offered, served, growth
