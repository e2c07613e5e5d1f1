"""Request-level serving simulation: arrivals → router → replicas (→ KV hand-off) → metrics.

`serve(model, hw, traffic, policy, ...)` builds the per-iteration cost from the mapper
(`MapperIterationCost`), sizes the paged KV cache from the hardware (`plan_kv`) and runs
`simulate_serving`, which is also usable with any injected `IterationCost` (tests use
hand-checkable fakes).

Replicas: each replica runs on tp × pp chips; with pp > 1 it runs pp virtual engines that
share a pipeline (see `replica.Pipeline`), each with 1/pp of the KV blocks, as vLLM does,
or fewer engines when 1/pp of the blocks could not hold the longest request of the traffic
(then as many as can each hold one: a 72-stage Groq deployment of a 70B model has room for
~20k tokens of KV, not 72 engines' worth of 1,280-token requests). Several replicas may exceed one system's chip
count (they are then several systems); price and power are charged per chip: system
price / num_chips; chip idle power whenever the replica is idle (a step's energy from the
mapper already holds the chips' static power while it runs); system extra power (switches,
hosts) / num_chips for the whole run.
Router: each arrival goes to a replica chosen round-robin or by fewest outstanding requests
(ties: lowest index). Disaggregation: arrivals go to the prefill pool; after its prefill (the
first token is emitted there) a request's KV is sent over the prefill replica's link (one
transfer at a time per replica; tokens × KV bytes/token/chip ÷ per-chip link bandwidth, all
chips in parallel), its prefill blocks are freed, and a decode replica picked by the router
admits it when it has blocks.

Front-end latency (engine knob `request_latency_s`): each request reaches the router that long
after the client's send (open-loop arrivals shifted, a closed-loop user waiting it out) and is
stamped at the send, so TTFT, end-to-end latency and queue time hold it once.

Engines: a run the compiled engine covers (`compiled.why_not`: replicas of one engine each,
one or several behind round robin, continuous or chunked, TensorRT-LLM's scheduling
included (KV reserved for whole requests, whole prompts, the held-request walk, CUDA-graph
padding) and attention data parallelism, no pipeline stages, speculative decoding or
window-capped KV, open-loop traffic, no event log, a `MapperIterationCost`) runs there, as
one Numba loop per replica, when asked for (`engine="compiled"`) or under `auto` from
`COMPILED_AUTO_FROM` requests (where its one-time compile pays off); every other run runs the
simpy processes below. Both give the same result (tests/simulator/test_compiled_engine.py;
several replicas: times to a few ulps, see `compiled`).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import simpy

from infersim.foundation.errors import InputError
from infersim.foundation.fresh_stack import fresh_stack
from infersim.hwmodels.capex import capex_usd
from infersim.hwmodels.cost import Infeasibility
from infersim.hwmodels.economics import Economics
from infersim.hwmodels.spec import Hardware
from infersim.simulator.serving import compiled
from infersim.simulator.serving.config import (
    KV_LINKS,
    Deployment,
    Policy,
    Router,
    ServingPolicy,
    Slo,
)
from infersim.simulator.serving.costs import MapperIterationCost, shared_iteration_cost
from infersim.simulator.serving.kv_pool import PrefixKvPool
from infersim.simulator.serving.kvcache import plan_kv
from infersim.simulator.serving.metrics import (
    Collector,
    ReplicaStats,
    ServingResult,
    prefix_summary,
    summarize,
)
from infersim.simulator.serving.replica import IterationCost, Pipeline, Replica, Seq, profile_knob
from infersim.simulator.serving.schedulers import make_replica
from infersim.simulator.serving.speculative import (
    KvGroups,
    SpecIterationCost,
    kv_groups,
    layer_tokens,
    spec_facts,
    spec_summary,
    window_prefix_summary,
)
from infersim.simulator.serving.traffic import (
    ClosedLoop,
    FixedLengths,
    RequestTable,
    Traffic,
    generate,
)
from infersim.workloads import ModelConfig

ENGINES = ("auto", "compiled", "simpy")  # `simulate_serving(engine=...)`
# `engine="auto"` runs the compiled engine from this many requests: its one-time compile
# (~22 s CPU per checkout, then cached on disk) pays off there. Measured with
# benchmarks/bench_serve.py (2-core Xeon): simpy ~130 µs per request, compiled ~6-17 µs, so
# 10^5 requests take ~13 s on simpy, ~6 s compiled (cache warm) or ~28 s (first call).
COMPILED_AUTO_FROM = 100_000
# the compiled engine's first guess of one replica's KV samples (16 B each) in a
# multi-replica run; a replica with more runs again, sized to them
KV_SAMPLES_MAX = 1 << 22


@dataclass(frozen=True)
class ReplicaSpec:
    """What the serving DES needs to know about one replica besides its iteration cost."""

    chips: int = 1
    kv_blocks: int = 1 << 30
    kv_bytes_per_token_per_chip: float = 0.0  # for swap and hand-off times
    host_link_Bps: float = 64e9  # per chip, one direction
    kv_transfer_Bps: float = 0.0  # per chip, disaggregated hand-off (0 = instantaneous)
    kv_transfer_latency_s: float = 0.0  # per hand-off, on top of the bytes / bandwidth
    idle_power_w: float = 0.0  # static power of the replica's chips (charged when idle)
    extra_power_w: float = 0.0  # its share of system overhead power (charged all the time)
    price_usd: float = 0.0  # whole replica
    pipeline_stages: int = 1  # > 1: that many virtual engines share a pipeline (see Pipeline)
    kv_groups: KvGroups = ()  # (window, chunk, layers): window-capped KV (`speculative`)


class _Pool:
    def __init__(self, replicas: list[Replica], router: Router) -> None:
        self.replicas = replicas
        self.router = router
        self._next = 0

    def pick(self) -> Replica:
        if self.router == Router.ROUND_ROBIN:
            r = self.replicas[self._next % len(self.replicas)]
            self._next += 1
            return r
        return min(self.replicas, key=lambda r: (r.outstanding, r.index))


def front_end_latency(cost: object) -> float:
    """The runtime profile's `request_latency_s` (0 without one)."""
    return profile_knob(cost, "request_latency_s", 0.0)


def simulate_serving(
    spec: ReplicaSpec,
    cost: IterationCost,
    traffic: Traffic,
    policy: ServingPolicy = ServingPolicy(),  # noqa: B008 (frozen dataclass: safe default)
    *,
    replicas: int = 1,
    slo: Slo = Slo(),  # noqa: B008
    economics: Economics = Economics(),  # noqa: B008
    seed: int = 0,
    event_log: bool = False,
    max_context: int | None = None,
    labels: tuple[str, str] = ("", ""),
    decode: tuple[ReplicaSpec, IterationCost] | None = None,
    engine: str = "auto",
) -> ServingResult:
    """Run the serving DES with an explicit cost function (see module docstring). `decode`:
    the disaggregated decode pool's own replica and cost (other hardware or deployment);
    None = the same as the prefill pool's. `engine`: "compiled", "simpy" or "auto" (compiled
    where `compiled.why_not` allows it and the run has at least `COMPILED_AUTO_FROM`
    requests; the results are the same)."""
    if not isinstance(seed, int | np.integer) or isinstance(seed, bool) or seed < 0:
        raise InputError(f"seed must be an integer ≥ 0, got {seed!r}")
    if engine not in ENGINES:
        raise InputError(f"engine: unknown value {engine!r}; use one of {', '.join(ENGINES)}")
    policy = policy.resolved(getattr(cost, "runtime", None))
    rng = np.random.default_rng(seed)
    table = generate(traffic, rng)
    lead = front_end_latency(cost)
    if lead > 0.0 and not isinstance(traffic.arrival, ClosedLoop):
        table = dataclasses.replace(table, arrival_s=table.arrival_s + lead)
    n = len(table)
    col = Collector(n, event_log)
    col.prompt_tokens[:] = table.prompt_tokens
    col.output_tokens[:] = table.output_tokens
    env = simpy.Environment()
    closed = isinstance(traffic.arrival, ClosedLoop)
    why = compiled.why_not(spec, cost, closed, policy, replicas, event_log, decode)
    if engine == "compiled" and why:
        raise InputError(f"engine compiled: it does not simulate {why}; use engine auto or "
                         f"simpy")
    if engine == "compiled" or (engine == "auto" and not why and n >= COMPILED_AUTO_FROM):
        assert isinstance(cost, MapperIterationCost)
        try:
            stats, pools = _run_compiled(spec, cost, table, col, policy,
                                         _prefix_owners(table, traffic, policy), max_context,
                                         replicas)
        except compiled.NodeTableFull:  # a run of unusual breadth: the simpy engine
            return simulate_serving(spec, cost, traffic, policy, replicas=replicas, slo=slo,
                                    economics=economics, seed=seed, event_log=event_log,
                                    max_context=max_context, labels=labels, decode=decode,
                                    engine="simpy")
        del table  # memory: the results' sort needs room (10^6-request runs)
        col.arrival_s -= lead  # the client's send
        return _result(col, stats, pools, spec, policy, slo, economics, labels, closed)
    done: dict[int, simpy.Event] = {}

    def on_finish(rid: int) -> None:
        ev = done.pop(rid, None)
        if ev is not None:
            ev.succeed()

    finish_cb = on_finish if closed else None
    kvpt = spec.kv_bytes_per_token_per_chip

    pp = spec.pipeline_stages
    groups: list[tuple[list[Replica], ReplicaSpec]] = []
    if decode is not None and policy.kind != Policy.DISAGGREGATED:
        raise InputError("a decode pool of its own (decode hardware / deployment) needs the "
                         "disaggregated policy")
    dspec, dcost = decode if decode is not None else (spec, cost)

    lengths = table.prompt_tokens + table.output_tokens
    if max_context is not None:
        lengths = lengths[lengths <= max_context]
    longest = int(lengths.max()) if len(lengths) else 0

    def group(first: int, pol: ServingPolicy, sp: ReplicaSpec, c: IterationCost,
              **kw: Any) -> list[Replica]:
        """One replica: a single engine, or up to pp virtual engines sharing a pipeline,
        each with room for the longest request where the blocks allow (module docstring)."""
        n = sp.pipeline_stages
        pl = Pipeline(env, n, sp.idle_power_w) if n > 1 else None
        need = math.ceil(longest / pol.block_size) if longest > 0 else 1
        engines_n = max(1, min(n, sp.kv_blocks // need))
        engines = [make_replica(env, first + v, pol, sp.kv_blocks // engines_n,
                                sp.kv_bytes_per_token_per_chip, sp.host_link_Bps, c, col,
                                on_finish=finish_cb, pipeline=pl, groups=sp.kv_groups,
                                seed=seed, **kw)
                   for v in range(engines_n)]
        groups.append((engines, sp))
        return engines

    if policy.kind == Policy.DISAGGREGATED:
        decode_policy = ServingPolicy(Policy.CONTINUOUS, policy.max_batch, policy.max_tokens,
                                      policy.block_size, policy.preemption, policy.router,
                                      spec=policy.spec)
        first = policy.prefill_replicas * pp
        dec = [e for j in range(policy.decode_replicas)
               for e in group(first + j * dspec.pipeline_stages, decode_policy, dspec, dcost)]
        dec_pool = _Pool(dec, policy.router)
        links: dict[int, simpy.Resource] = {}
        # each prefill chip sends its KV shard over its own link; min(chips) streams in
        # parallel when the pools differ in size (equal pools: every chip its own stream)
        streams_Bps = spec.kv_transfer_Bps * min(spec.chips, dspec.chips)
        kv_bytes_per_token = kvpt * spec.chips
        layers = sum(n for _, _, n in spec.kv_groups)

        def kv_tokens(c: int) -> float:  # window-capped: the keys kept, in all-layer tokens
            return layer_tokens(spec.kv_groups, c) / layers if layers else c

        def transfer(src: Replica, s: Seq):  # type: ignore[no-untyped-def]
            link = links.setdefault(src.index // pp, simpy.Resource(env, capacity=1))
            with link.request() as req:
                yield req
                if streams_Bps > 0:
                    yield env.timeout(spec.kv_transfer_latency_s
                                      + kv_tokens(s.cache) * kv_bytes_per_token / streams_Bps)
            src.release(s.blocks)
            s.kv_ready = True
            dec_pool.pick().submit(s)

        def hand_off(src: Replica, s: Seq) -> None:
            env.process(transfer(src, s))

        front = [e for i in range(policy.prefill_replicas)
                 for e in group(i * pp, policy, spec, cost, on_prefilled=hand_off)]
    else:
        front = [e for i in range(replicas) for e in group(i * pp, policy, spec, cost)]
    if len(groups) == 1 and len(groups[0][0]) == 1:
        groups[0][0][0].solo = True
    # interleave virtual engines across replicas so round robin alternates replicas
    pool = _Pool(sorted(front, key=lambda r: (r.index % pp, r.index)), policy.router)
    identify = _prefix_identities(_prefix_owners(table, traffic, policy))

    def submit(i: int) -> None:
        col.arrival_s[i] = env.now
        p, o = int(table.prompt_tokens[i]), int(table.output_tokens[i])
        if col.events is not None:
            col.log(env.now, "arrive", -1, i)
        if max_context is not None and p + o > max_context:
            col.rejected[i] = True
            on_finish(i)
            return
        r = pool.pick()
        col.replica[i] = r.index // pp
        s = Seq(i, p, o)
        if identify is not None:
            identify(s)
        r.submit(s)

    if closed:
        assert isinstance(traffic.arrival, ClosedLoop)
        think = traffic.arrival.think_s
        counter = iter(range(n))

        def user():  # type: ignore[no-untyped-def]
            for i in counter:
                ev = done[i] = env.event()
                if lead > 0.0:  # the request's way through the front-end
                    yield env.timeout(lead)
                submit(i)
                yield ev
                if think > 0:
                    yield env.timeout(think)

        for _ in range(traffic.arrival.users):
            env.process(user())
    else:
        arrivals = table.arrival_s

        def open_loop():  # type: ignore[no-untyped-def]
            for i in range(n):
                t = float(arrivals[i])
                if t > env.now:
                    yield env.timeout(t - env.now)
                submit(i)

        env.process(open_loop())
    env.run()
    stats = [ReplicaStats(sum(e.busy_s for e in g), sum(e.energy_j for e in g),
                          sp.idle_power_w, sp.price_usd, sp.chips, sp.extra_power_w)
             for g, sp in groups]
    pools = [e.kv for g, _ in groups for e in g if isinstance(e.kv, PrefixKvPool)]
    col.arrival_s -= lead  # the client's send
    res = _result(col, stats, pools, spec, policy, slo, economics, labels, closed)
    if policy.spec is not None:
        res = dataclasses.replace(res, speculative=spec_summary(
            [e for g, _ in groups for e in g], policy.spec))
    return res


def _run_compiled(spec: ReplicaSpec, cost: MapperIterationCost, table: RequestTable,
                  col: Collector, policy: ServingPolicy,
                  owners: tuple[np.ndarray, np.ndarray, np.ndarray] | None,
                  max_context: int | None, replicas: int
                  ) -> tuple[list[ReplicaStats], list[PrefixKvPool]]:
    """The compiled engine: one run, or under round robin one per replica on the requests
    the simpy router gives it (the k-th arrival past the context check goes to replica
    k mod R; nothing else couples the replicas), merged into `col` as the simpy replicas
    fill it. Returns the replicas' stats and prefix-cache pools."""
    def stats(busy: float, energy: float) -> ReplicaStats:
        return ReplicaStats(busy, energy, spec.idle_power_w, spec.price_usd, spec.chips,
                            spec.extra_power_w)

    if replicas == 1:
        busy, energy, px = compiled.run(spec, cost, table, col, policy, owners, max_context)
        return [stats(busy, energy)], [px] if px is not None else []
    clock = compiled.arrival_clock(np.asarray(table.arrival_s, np.float64))
    col.arrival_s[:] = clock[:, 0]
    ok = np.ones(len(table), bool)
    if max_context is not None:  # rejected at arrival, before the router picks
        ok = table.prompt_tokens + table.output_tokens <= max_context
        col.rejected[:] = ~ok
    admitted = np.flatnonzero(ok)
    nodes = [np.full(compiled.NODE_SLOTS, -1, np.int64), np.zeros((compiled.NODE_SLOTS, 2)), 0]
    out: list[ReplicaStats] = []
    pools: list[PrefixKvPool] = []
    kv: list[tuple[np.ndarray, ...]] = []
    start = cost.decode_cells()  # the simpy fallback starts from the same decode cells
    for r in range(replicas):
        rows = admitted[r::replicas]
        sub = RequestTable(table.arrival_s[rows], table.prompt_tokens[rows],
                           table.output_tokens[rows])
        mine = None
        if owners is not None:  # conversations renumbered within the replica
            mine = (owners[0][rows], owners[1][rows],
                    np.unique(owners[2][rows], return_inverse=True)[1].astype(np.int64))
        # every KV sample kept (the merge below samples the replicas' joint sequence). A
        # step emits a token or prefills a chunk: iterations ≲ output tokens + chunks; a
        # run with more runs again from the same decode cells
        cells = cost.decode_cells()
        size = min(int(sub.output_tokens.sum()) + 2 * len(rows) + 64, KV_SAMPLES_MAX)
        while True:
            part = Collector(len(rows))
            try:
                busy, energy, px = compiled.run(spec, cost, sub, part, policy, mine, None,
                                                clock[rows], nodes, size)
            except compiled.NodeTableFull:
                cost.restore_decode_cells(start)
                raise
            if part.kv.stride == 1:
                break
            cost.restore_decode_cells(cells)
            size = part.kv.seen + 1
        col.itl.v.extend(part.itl.v)
        col.itl.w.extend(part.itl.w)
        out.append(stats(busy, energy))
        if px is not None:
            pools.append(px)
        for name in ("scheduled_s", "first_token_s", "finish_s", "preemptions", "rejected"):
            getattr(col, name)[rows] = getattr(part, name)
        col.replica[rows] = np.where(part.replica >= 0, r, -1)
        kv.append(_kv_keys(np.asarray(part.kv.t), np.asarray(part.kv.v), r, rows, clock[rows, 0],
                           part))
    t, v, who, first = (np.concatenate([k[i] for k in kv]) for i in range(4))
    order = np.lexsort((first, who, t))
    tie = np.flatnonzero(t[order][1:] == t[order][:-1])
    if len(tie):
        order = _order_ties(order, tie, t, who, first)
    # `BoundedSampler.add` over that sequence: it keeps every stride-th sample, the stride
    # doubling each time capacity − 1 strides no longer cover the samples seen
    stride = 1
    while len(order) > (col.kv.capacity - 1) * stride:
        stride *= 2
    kept = order[::stride]
    col.kv.resume(t[kept].tolist(), v[kept].tolist(), len(order), stride)
    return out, pools


def _kv_keys(t: np.ndarray, v: np.ndarray, r: int, rows: np.ndarray, arrival: np.ndarray,
             part: Collector) -> tuple[np.ndarray, ...]:
    """A replica's KV samples for the merge: (time, occupancy, replica, the first request
    of the arrival that woke it for this step, or −1 after a step of its own). A step starts
    on a wake-up when nothing was in flight just before it."""
    fin = np.sort(part.finish_s[~np.isnan(part.finish_s)])
    rej = arrival[part.rejected]  # rejected where they arrive
    busy = (np.searchsorted(arrival, t) - np.searchsorted(fin, t)
            - np.searchsorted(rej, t))
    at = np.minimum(np.searchsorted(arrival, t), len(rows) - 1)
    first = np.where(busy == 0, rows[at] if len(rows) else -1, -1)
    return t, v, np.full(len(t), r), first


def _order_ties(order: np.ndarray, tie: np.ndarray, t: np.ndarray, who: np.ndarray,
                first: np.ndarray) -> np.ndarray:
    """Samples of several replicas at one time, in simpy's event order: steps that ended
    then (their timeouts were scheduled earlier, in the order their replicas' previous steps
    ran), then replicas woken by the arrivals then (in the order the router handed them
    requests)."""
    order = order.copy()
    pos = np.empty(len(order), np.int64)
    pos[order] = np.arange(len(order))
    prev = np.full(len(order), -1, np.int64)  # each sample's replica's previous sample
    by_rep = np.lexsort((t, who))
    same = who[by_rep][1:] == who[by_rep][:-1]
    prev[by_rep[1:][same]] = by_rep[:-1][same]
    starts = tie[np.r_[True, tie[1:] != tie[:-1] + 1]]
    ends = tie[np.r_[tie[1:] != tie[:-1] + 1, True]] + 2
    for a, b in zip(starts.tolist(), ends.tolist(), strict=True):
        group = order[a:b]
        key = [(int(first[j] >= 0), int(first[j]) if first[j] >= 0 else
                int(pos[prev[j]]) if prev[j] >= 0 else -1) for j in group.tolist()]
        group = group[sorted(range(len(group)), key=key.__getitem__)]
        order[a:b] = group
        pos[group] = np.arange(a, b)
    return order


def _result(col: Collector, stats: list[ReplicaStats], pools: list[PrefixKvPool],
            spec: ReplicaSpec, policy: ServingPolicy, slo: Slo, economics: Economics,
            labels: tuple[str, str], closed: bool) -> ServingResult:
    """The run's `ServingResult` (with the prefix-cache summary under prefix caching)."""
    res = summarize(col, stats, model=labels[0], hardware=labels[1], policy=policy.kind.value,
                    kv_blocks=spec.kv_blocks, slo=slo, economics=economics,
                    open_loop=not closed)
    if not policy.prefix_caching:
        return res
    block_bytes = policy.block_size * spec.kv_bytes_per_token_per_chip
    return dataclasses.replace(res, prefix_cache=prefix_summary(pools, block_bytes)
                               | window_prefix_summary(pools, block_bytes))


def _prefix_owners(table: RequestTable, traffic: Traffic, policy: ServingPolicy
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """With prefix caching: each request's block owners (see `kv_pool.PrefixKvPool`) as
    (system-prompt owner, its full blocks, conversation owner): system prompt k is owner k,
    conversation c owner S + c (S system prompts); without `Prefixes` every request is its
    own conversation."""
    if not policy.prefix_caching:
        return None
    px = traffic.prefixes
    n_sys = px.system_prompts if px is not None else 0
    sys_full = px.system_tokens // policy.block_size if px is not None else 0
    sys_id, conv = table.system_id, table.conversation
    n = len(table)
    if sys_id is None or conv is None:
        return np.zeros(n, np.int64), np.zeros(n, np.int64), np.arange(n, dtype=np.int64)
    k = np.asarray(sys_id, np.int64)
    return (np.maximum(k, 0), np.where(k >= 0, sys_full, 0).astype(np.int64),
            n_sys + np.asarray(conv, np.int64))


def _prefix_identities(owners: tuple[np.ndarray, np.ndarray, np.ndarray] | None
                       ) -> Callable[[Seq], None] | None:
    """A function giving each `Seq` its block owners (`_prefix_owners`)."""
    if owners is None:
        return None
    sys_owner, sys_full, owner = owners

    def identify(s: Seq) -> None:
        s.sys_owner = int(sys_owner[s.rid])
        s.sys_full = int(sys_full[s.rid])
        s.owner = int(owner[s.rid])

    return identify


def infeasible_result(model: str, hardware: str, policy: ServingPolicy, why: Infeasibility,
                      slo: Slo, requests: int, chips: int) -> ServingResult:
    """A result that says 'does not fit' (every metric NaN, nothing completed)."""
    nan = math.nan
    q = {"mean": nan, "p50": nan, "p90": nan, "p99": nan}
    return ServingResult(model, hardware, policy.kind.value, 0, chips, requests, 0, 0, nan, 0,
                         q, q, q, q, nan, nan, nan, 0.0, 0, 0, nan, nan, nan, nan, nan, nan,
                         slo, infeasible=why)


@fresh_stack  # a hot loop: the same speed at any caller depth (foundation.fresh_stack)
def serve(
    model: str | Path | dict[str, Any] | ModelConfig,
    hw: str | Path | Hardware,
    traffic: Traffic,
    policy: ServingPolicy = ServingPolicy(),  # noqa: B008
    *,
    deployment: Deployment = Deployment(),  # noqa: B008
    slo: Slo = Slo(),  # noqa: B008
    economics: Economics = Economics(),  # noqa: B008
    seed: int = 0,
    event_log: bool = False,
    decode_hw: str | Path | Hardware | None = None,
    decode_deployment: Deployment | None = None,
    engine: str = "auto",
) -> ServingResult:
    """Simulate serving `traffic` with `model` on `hw` (see the module docstring; `engine` as
    in `simulate_serving`).

    Heterogeneous disaggregation: with the disaggregated policy, `decode_hw` and / or
    `decode_deployment` give the decode pool its own hardware and deployment (None: those of
    the prefill pool). The KV hand-off runs over the prefill deployment's link
    (`Deployment.kv_link` or `kv_transfer_Bps`, else the prefill system's fabric).

    Returns a `ServingResult`; "does not fit" (weights or not even one KV block) is a result
    with `infeasible` set, not an exception."""
    from infersim.hwmodels import load_hardware
    from infersim.workloads import load_model

    for name, value, kind in (("traffic", traffic, Traffic), ("policy", policy, ServingPolicy),
                              ("deployment", deployment, Deployment), ("slo", slo, Slo),
                              ("economics", economics, Economics)):
        if not isinstance(value, kind):
            raise InputError(f"{name}: expected a {kind.__name__} (from simulator import "
                             f"{kind.__name__}), got {type(value).__name__}")
    if decode_deployment is not None and not isinstance(decode_deployment, Deployment):
        raise InputError(f"decode_deployment: expected a Deployment, got "
                         f"{type(decode_deployment).__name__}")
    m = load_model(model)
    drafter = policy.spec.draft_model if policy.spec is not None else None
    if drafter is not None and drafter.strip().lower() == "mtp" and not m.mtp_layers:
        raise InputError(f"speculative decoding with mtp: {m.name} has no multi-token-prediction "
                         f"module (num_nextn_predict_layers is 0); use --spec-decode medusa or "
                         f"draft:MODEL")
    if isinstance(traffic.lengths, FixedLengths):  # every request the same: too long is an error
        m.check_context(traffic.lengths.prompt_tokens + traffic.lengths.output_tokens,
                        "prompt_tokens + output_tokens")
    h = hw if isinstance(hw, Hardware) else load_hardware(hw)
    dep = deployment
    hetero = decode_hw is not None or decode_deployment is not None
    if hetero and policy.kind != Policy.DISAGGREGATED:
        raise InputError("a decode pool of its own (--decode-hw / --decode-tp) needs "
                         "--policy disaggregated")
    if policy.kind == Policy.DISAGGREGATED and dep.replicas != 1:
        raise InputError("with the disaggregated policy set pool sizes with "
                         "prefill_replicas/decode_replicas (--prefill-replicas, "
                         "--decode-replicas), not replicas")
    if policy.spec is not None and (dep.dp > 1 or (decode_deployment or dep).dp > 1):
        raise InputError("speculative decoding with attention data parallelism (dp > 1) is "
                         "not modelled; use dp 1 or drop the speculative policy")
    n_req = traffic.num_requests or 0
    built = _replica(m, h, dep, policy)
    if isinstance(built, Infeasibility):
        n_rep = (policy.prefill_replicas + policy.decode_replicas
                 if policy.kind == Policy.DISAGGREGATED else dep.replicas)
        return infeasible_result(m.name, h.name, policy, built, slo, n_req,
                                 dep.chips_per_replica * n_rep)
    cost, spec = built
    decode = None
    label = h.name
    if hetero:
        dh = h if decode_hw is None else (decode_hw if isinstance(decode_hw, Hardware)
                                          else load_hardware(decode_hw))
        ddep = decode_deployment or dep
        dbuilt = _replica(m, dh, ddep, policy)
        label = f"{h.name} → {dh.name}"
        if isinstance(dbuilt, Infeasibility):
            return infeasible_result(m.name, label, policy, dbuilt, slo, n_req,
                                     dep.chips_per_replica * policy.prefill_replicas
                                     + ddep.chips_per_replica * policy.decode_replicas)
        decode = (dbuilt[1], dbuilt[0])
    return simulate_serving(spec, cost, traffic, policy, replicas=dep.replicas, slo=slo,
                            economics=economics, seed=seed, event_log=event_log,
                            max_context=m.max_position_embeddings, labels=(m.name, label),
                            decode=decode, engine=engine)


def _replica(m: ModelConfig, h: Hardware, dep: Deployment, policy: ServingPolicy
             ) -> tuple[IterationCost, ReplicaSpec] | Infeasibility:
    """The iteration cost and replica facts of `dep` on `h`, or why it does not fit."""
    from infersim.hwmodels.registry import cost_model

    chips = dep.chips_per_replica
    # runs of one deployment share their tables (`shared_iteration_cost`: same numbers)
    cost = shared_iteration_cost(m, h, tp=dep.tp, pp=dep.pp, ep=dep.ep, dp=dep.dp,
                                 moe_exchange=dep.moe_exchange, routing_skew=dep.routing_skew,
                                 runtime=dep.runtime or None,  # validated per kind
                                 weights=dep.weights, activations=dep.activations, kv=dep.kv,
                                 lm_head=dep.lm_head,
                                 cached_chunk_per_octave=8 if policy.prefix_caching else None,
                                 cached_per_octave=4 if policy.prefix_caching else 16,
                                 max_batch=min(policy.max_batch, policy.max_tokens))
    # A statically allocated chip (no caching allocator: wafer, LPU, CIM) streams a long
    # prefill through the activation buffers of its largest batch, so its workspace is that
    # of max_batch tokens; a GPU engine reserves for a whole max_tokens iteration.
    caching = cost_model(h).caching_allocator
    work = policy.max_tokens if caching else min(policy.max_tokens, policy.max_batch)
    facts = (cost.facts(work) if policy.spec is None
             else spec_facts(cost, policy.spec, work))  # + the draft's weights and KV
    if facts.infeasible is not None:
        return facts.infeasible
    plan = plan_kv(h, facts, dep, policy.block_size)
    if isinstance(plan, Infeasibility):
        return plan
    fabric = h.fabric
    link_Bps, link_s = (KV_LINKS[dep.kv_link][:2] if dep.kv_link else (0.0, 0.0))
    transfer = (dep.kv_transfer_Bps or link_Bps
                or (fabric.chip_bandwidth_Bps if fabric else 0.0))
    it_cost = cost if policy.spec is None else SpecIterationCost(cost, policy.spec)
    # each data-parallel group holds its own requests' KV: the replica's pool is dp chips'
    return it_cost, ReplicaSpec(chips=chips, kv_blocks=plan.blocks * dep.dp,
                             kv_bytes_per_token_per_chip=facts.kv_bytes_per_token_per_chip,
                             host_link_Bps=dep.host_link_Bps, kv_transfer_Bps=transfer,
                             kv_transfer_latency_s=link_s,
                             idle_power_w=chips * h.chip.power.idle_w,
                             extra_power_w=chips * h.extra_power_w / h.num_chips,
                             price_usd=chips * capex_usd(h) / h.num_chips,
                             pipeline_stages=dep.pp,
                             kv_groups=kv_groups(m, cost.chunk_kv_freed))
