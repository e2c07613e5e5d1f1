"""`map_trace`: a Trace on a Hardware system under a Runtime → Schedule.

Stages (each a small function; the data between them are plain tuples of frozen records):
1. placement — per-chip footprint (weights, KV, activation workspace), the fit check
   (`Infeasibility`), and the on-chip fraction of weights for SRAM machines;
2. kernels — per runtime, trace ops become launch units: eager/graph split ops into the
   kernels plain PyTorch launches, fused merges neighbours into fusion groups, and a bias
   always rides in its GEMM epilogue (`mapper.kernels`);
3. pricing — every kernel priced by the hardware kind's cost model (the GPU model searches
   tiles / split-K / split-KV / collective algorithms itself); results cached by (op shape,
   hardware fingerprint, runtime, placement) (`mapper.cache`);
4. partition — ops spread over pipeline stages by `workloads.trace.stage_counts` over the
   trace's layer partition (`Trace.stage_layers`: layers balanced by resident weights,
   embedding on the first stage, head on the last, one activation send per stage
   boundary); TP/EP shards are already in the trace, so every op runs on the `tp` chips of
   its stage;
5. timeline — per stage, the host/device recurrence over its kernels (host launch costs only
   under `eager`), in closed form over repeated layers (`mapper.timeline`). Every stage has
   its own host process (one per PP rank) that starts launching at t = 0; a stage's first
   kernel also waits for the activation from the previous stage (the end of its send), so
   stage s runs the recurrence from (device free = end of stage s−1, host = 0):
   start_i = max(end_{i−1}, host_i), with end_{−1} = arrival of the stage input. Step latency
   = end of the last stage + per-step host synchronization; `stage_times_s[s]` = end of
   stage s − end of stage s−1 (they sum to the step). The op-level DES
   (`mapper.streams`, drawn by `simulator.timeline`) replays the same rule event by event;
   a step of several micro-batches (`Scenario.micro_batches`: streams whose collectives run
   under each other's kernels) is run by that DES over one micro-batch's program.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from infersim.hwmodels.capacity import check_capacity
from infersim.hwmodels.cost import (
    COMBINE_KERNEL_S,
    Bound,
    CostContext,
    CostModel,
    Infeasibility,
    OpCost,
    Runtime,
    RuntimeProfile,
)
from infersim.hwmodels.models.gpu.engines import knob as engine_knob
from infersim.hwmodels.registry import cost_model
from infersim.hwmodels.spec import Hardware
from infersim.mapper import cache, streams
from infersim.mapper import kernels as K
from infersim.mapper import placement as P
from infersim.mapper import timeline as T
from infersim.mapper.schedule import MappedOp, Schedule
from infersim.workloads.ops import AttentionShape, Op, OpKind
from infersim.workloads.scenario import Parallelism, Phase, Scenario
from infersim.workloads.trace import Trace, stage_counts


@dataclass(frozen=True, slots=True)
class Unit:
    """Ops that launch together: one op (maybe split into several kernels) or a fusion
    group of ops run as one kernel."""

    members: tuple[Op, ...]
    kernels: tuple[K.Kernel, ...]
    label: str  # fusion label ("" for a single op)


@dataclass(frozen=True, slots=True)
class Priced:
    """A unit priced on one chip: per-kernel device times and the aggregate cost."""

    kernel_times_s: tuple[float, ...]
    cost: OpCost
    mapping: tuple[tuple[str, Any], ...]


# ------------------------------------------------------------------------------------------
# 2. kernels
# ------------------------------------------------------------------------------------------


def build_units(ops: Sequence[Op], runtime: Runtime, split_kernels: bool,
                profile: RuntimeProfile | None = None) -> list[Unit]:
    """Launch units in execution order (see `mapper.kernels` for the rules); `profile`: the
    software stack's knobs (fusions, Hugging Face decomposition)."""
    roles = [K.role(op) for op in ops]
    style = K.EagerStyle.of(profile)
    units: list[Unit] = []
    i = 0
    n = len(ops)
    while i < n:
        op, r = ops[i], roles[i]
        if i + 1 < n:
            label = K.fusion_label(op, r, ops[i + 1], roles[i + 1], runtime, profile)
            if label is not None:
                nxt = ops[i + 1]
                fused = (K.fuse_bias(op, nxt) if label == "gemm_bias"
                         else K.fuse_vector(op, nxt, label))
                units.append(Unit((op, nxt), (K.Kernel(label, fused),), label))
                i += 2
                continue
        if split_kernels and runtime is not Runtime.FUSED:
            cache = _next_attention(ops, roles, i) if r is K.Role.KV_WRITE else None
            ks = tuple(K.eager_kernels(op, r, style=style, cache=cache))
        elif split_kernels and r is K.Role.ROUTER_TOPK and profile is not None:
            router, ups = _moe_neighbours(ops, i)
            ks = tuple(K.moe_routing_kernels(op, router, ups, profile))
        else:
            ks = (K.Kernel(op.name, op),)
        units.append(Unit((op,), ks, ""))
        i += 1
    if runtime is Runtime.FUSED:
        units = _fuse_layer_wrap(units, profile)
    return units


def _moe_neighbours(ops: Sequence[Op], i: int) -> tuple[Op | None, list[Op]]:
    """The router GEMM just before top-k op `i` and the layer's gate-up grouped GEMMs after
    it (same block)."""
    blk = ops[i].block
    prev = ops[i - 1] if i > 0 else None
    router = (prev if prev is not None and prev.block == blk
              and OpKind(prev.kind) is OpKind.MOE_ROUTER else None)
    ups = []
    for o in ops[i + 1:]:
        if o.block != blk:
            break
        if OpKind(o.kind) is OpKind.MOE_EXPERTS and o.name.startswith("experts_gate_up"):
            ups.append(o)
    return router, ups


def _next_attention(ops: Sequence[Op], roles: list[K.Role], i: int) -> AttentionShape | None:
    """The shape of the attention op that follows KV write `i` in the same block."""
    for j in range(i + 1, len(ops)):
        if ops[j].block != ops[i].block:
            return None
        if roles[j] is K.Role.ATTENTION:
            sh = ops[j].shape
            return sh if isinstance(sh, AttentionShape) else None
    return None


def _fuse_layer_wrap(units: list[Unit], profile: RuntimeProfile | None) -> list[Unit]:
    """Fused engines add the residual of layer i in the input norm of layer i+1: fuse the last
    residual of a repeated block with the norm that opens the block (same count)."""
    out = list(units)
    start = 0
    while start < len(out):
        blk = out[start].members[0].block
        end = start
        while end + 1 < len(out) and out[end + 1].members[0].block == blk:
            end += 1
        first, last = out[start], out[end]
        if (end > start and len(first.members) == 1 and len(last.members) == 1
                and not first.label and not last.label):
            a, b = last.members[0], first.members[0]
            ra, rb = K.role(a), K.role(b)
            label = K.pair_label(ra, rb, Runtime.FUSED, profile)
            if label is not None and a.count == b.count and a.count > 1:
                fused = K.fuse_vector(a, b, label)
                out[end] = Unit((a, b), (K.Kernel(label, fused),), label)
                del out[start]
                end -= 1
        start = end + 1
    return out


# ------------------------------------------------------------------------------------------
# 3. pricing
# ------------------------------------------------------------------------------------------


def _mapping_of(c: OpCost, kern: K.Kernel) -> list[tuple[str, Any]]:
    """The cost model's readable mapping; kernels it does not name take the mapper's label."""
    d = list(c.detail)
    if not any(k == "kernel" for k, _ in d):
        d.insert(0, ("kernel", kern.label))
    return d


def kernel_times(costs: Sequence[OpCost]) -> list[float]:
    """Device time of each kernel a unit's calls launch, from their costs: an op whose cost
    names a second kernel (a split-KV combine, a split-K reduce) launches two; not when the
    runtime already splits the op into kernels of its own (a math-path attention's matmul /
    softmax kernels)."""
    times: list[float] = []
    for c in costs:
        second = next((float(v) for k, v in c.detail if k == COMBINE_KERNEL_S), 0.0)
        if second > 0.0 and len(costs) == 1:
            times.extend((c.time_s - second, second))
        else:
            times.append(c.time_s)
    return times


def price_unit(unit: Unit, model: CostModel, hw: Hardware, ctx: CostContext,
               hw_fp: int) -> Priced:
    key = (tuple(cache.op_key(k.op) for k in unit.kernels),
           tuple(k.label for k in unit.kernels), hw_fp, ctx.runtime, ctx.profile,
           ctx.layers_on_chip,
           round(ctx.weights_on_chip, 6), ctx.chip_bytes)
    hit = cache.get(key)
    if hit is not None:
        return hit
    costs = [model.op_cost(k.op, hw, ctx) for k in unit.kernels]
    if len(costs) == 1:
        agg = costs[0]
        mapping = _mapping_of(agg, unit.kernels[0])
    else:
        main = max(range(len(costs)), key=lambda j: costs[j].time_s)
        agg = OpCost(
            sum(c.time_s for c in costs), sum(c.energy_j for c in costs), costs[main].bound,
            sum(c.compute_s for c in costs), sum(c.memory_s for c in costs),
            sum(c.comm_s for c in costs), sum(c.overhead_s for c in costs),
            costs[main].detail)
        if agg.overhead_s > agg.time_s - agg.overhead_s:
            agg = OpCost(agg.time_s, agg.energy_j, Bound.LATENCY, agg.compute_s, agg.memory_s,
                         agg.comm_s, agg.overhead_s, agg.detail)
        mapping = _mapping_of(costs[main], unit.kernels[main])
        mapping.append(("kernel_names", "+".join(k.label for k in unit.kernels)))
    if unit.label:
        mapping.append(("fused", unit.label))
    times = kernel_times(costs)
    mapping.append(("kernels", len(times)))
    pr = Priced(tuple(times), agg, tuple(mapping))
    cache.put(key, pr)
    return pr


# ------------------------------------------------------------------------------------------
# 4. partition
# ------------------------------------------------------------------------------------------


# ------------------------------------------------------------------------------------------
# 5. timeline
# ------------------------------------------------------------------------------------------


def unit_host_s(unit: Unit, n_kernels: int, host_per_kernel: float,
                collective_host_s: float, mode_s: float = 0.0) -> tuple[float, ...]:
    """Host time of each kernel of `unit`: one dispatch each, except a collective called
    from an eager framework, which costs the framework's collective call
    (`collective_host_s`, engine knob; < 0: one dispatch); a Python function mode adds
    `mode_s` to each call. Nothing when the host does not launch kernels one by one
    (graphs, fused engines)."""
    if host_per_kernel <= 0.0:
        return (host_per_kernel,) * n_kernels
    if collective_host_s >= 0.0 and K.role(unit.members[0]) is K.Role.COLLECTIVE:
        return (collective_host_s + mode_s,) * n_kernels
    return (host_per_kernel + mode_s,) * n_kernels


def eager_host_knobs(profile: RuntimeProfile | None) -> tuple[float, float]:
    """(collective_host_s, function_mode_s) of a GPU eager profile (-1, 0 otherwise)."""
    if profile is None:
        return -1.0, 0.0
    return (profile.value("collective_host_s", -1.0),
            max(0.0, profile.value("function_mode_s", 0.0)))


def _stage_blocks(items: list[tuple[Unit, Priced, int]], host_per_kernel: float,
                  collective_host_s: float = -1.0, mode_s: float = 0.0) -> list[T.Block]:
    """Group consecutive units of the same block into repeated kernel blocks."""
    blocks: list[T.Block] = []
    i = 0
    n = len(items)
    while i < n:
        blk = items[i][0].members[0].block
        j = i
        while j + 1 < n and items[j + 1][0].members[0].block == blk:
            j += 1
        seg = items[i:j + 1]
        counts = [c for _, _, c in seg if c > 0]
        rep = 0
        for c in counts:
            rep = math.gcd(rep, c)
        if rep:
            host: list[float] = []
            dev: list[float] = []
            for _unit, pr, c in seg:
                mult = c // rep
                hs = unit_host_s(_unit, len(pr.kernel_times_s), host_per_kernel,
                                 collective_host_s, mode_s)
                for _ in range(mult):
                    dev.extend(pr.kernel_times_s)
                    host.extend(hs)
            blocks.append(T.Block(tuple(host), tuple(dev), rep))
        i = j + 1
    return blocks


# ------------------------------------------------------------------------------------------
# map_trace
# ------------------------------------------------------------------------------------------


def _fit(trace: Trace, hw: Hardware, fp: P.Footprint) -> Infeasibility | None:
    """The hardware layer's capacity check (`hwmodels.capacity.check_capacity`) on the
    per-chip footprint; weights may stream from an external level where the chip has one."""
    par = trace.scenario.parallel
    stream = hw.chip.external_memory is not None
    return check_capacity(hw, fp.weight_bytes, fp.kv_bytes, fp.activation_bytes, par.chips,
                          stream_weights=stream,
                          weight_bits=trace.scenario.precision.weights.bits)


def engine_scenario(sc: Scenario, hw: Hardware,
                    runtime: Runtime | str | RuntimeProfile | None = None) -> Scenario:
    """`sc` with what its runtime decides about the trace itself resolved: the MoE token
    exchange of `Parallelism.moe_exchange` "auto" becomes the engine's
    (`moe_allgather_max_ep` of `hwmodels.models.gpu.engines`: all-gather + reduce-scatter
    for EP groups up to it, else all-to-all; a scenario that already names its exchange
    keeps it), and an engine that keeps every key of a chunked-local attention layer in its
    KV cache (`chunk_kv_freed` 0: TensorRT-LLM) turns `Scenario.chunk_kv_freed` off. Build
    the trace of this scenario, then map it under the same runtime."""
    _rt, profile = cost_model(hw).resolve_runtime(runtime, hw.name)  # once for both
    par = _engine_exchange(sc.parallel, profile)
    chunked = sc.chunk_kv_freed and engine_knob(profile, "chunk_kv_freed") >= 0.5
    if par is sc.parallel and chunked == sc.chunk_kv_freed:
        return sc
    return dataclasses.replace(sc, parallel=par, chunk_kv_freed=chunked)


def engine_chunk_kv_freed(hw: Hardware,
                          runtime: Runtime | str | RuntimeProfile | None = None) -> bool:
    """Whether `runtime`'s KV cache frees the keys of a chunked-local layer that no query can
    see any more, keeping each sequence's current chunk (`Scenario.chunk_kv_freed`; the
    engine's `chunk_kv_freed` knob)."""
    _rt, profile = cost_model(hw).resolve_runtime(runtime, hw.name)
    return engine_knob(profile, "chunk_kv_freed") >= 0.5


def engine_parallelism(par: Parallelism, hw: Hardware,
                       runtime: Runtime | str | RuntimeProfile | None = None) -> Parallelism:
    """`par` with its MoE token exchange "auto" resolved as `engine_scenario` does."""
    if par.moe_exchange != "auto":
        return par
    _rt, profile = cost_model(hw).resolve_runtime(runtime, hw.name)
    return _engine_exchange(par, profile)


def _engine_exchange(par: Parallelism, profile: RuntimeProfile | None) -> Parallelism:
    """`par` with its exchange "auto" resolved under the resolved engine `profile`."""
    if par.moe_exchange != "auto":
        return par
    limit = engine_knob(profile, "moe_allgather_max_ep")
    ex = "allgather" if 1 < par.ep <= limit else "all_to_all"
    return dataclasses.replace(par, moe_exchange=ex)


def map_trace(trace: Trace, hw: Hardware,
              runtime: Runtime | str | RuntimeProfile | None = None) -> Schedule:
    """Map one model step onto `hw` under `runtime` (see the module docstring); None = the
    kind's default (graph on framework kinds, the newest profile of a compiled kind). The
    kind validates the name (`CostModel.resolve_runtime`): a GPU framework runtime on an LPU
    is an InputError, never a silent change.

    A chip with a power cap (`power.cap_w`) runs the step at the highest clock whose power
    while its kernels run (`Schedule.busy_power_w`) is under the cap
    (`hwmodels.power.solve_clock`); the schedule's `hardware` is then the chip at that clock
    and `dvfs` records the choice."""
    if hw.chip.power.cap_w <= 0:
        return _map_step(trace, hw, runtime)
    from infersim.hwmodels.power import solve_clock

    def evaluate(h: Hardware) -> tuple[float, Schedule]:
        s = _map_step(trace, h, runtime)
        return (s.busy_power_w if s.feasible else 0.0), s

    _, sched, throttle = solve_clock(hw, evaluate)
    return dataclasses.replace(sched, dvfs=throttle)


def _map_step(trace: Trace, hw: Hardware,
              runtime: Runtime | str | RuntimeProfile | None = None) -> Schedule:
    rt, profile = cost_model(hw).resolve_runtime(runtime, hw.name)
    par = trace.scenario.parallel
    tp, pp = par.stage_chips, max(1, par.pp)  # every chip of a stage runs the stage's ops
    fp = P.footprint(trace)
    infeasible = _fit(trace, hw, fp)
    model = cost_model(hw)
    woc = model.resident_weight_fraction(hw, fp.weight_bytes, fp.kv_bytes,
                                         fp.activation_bytes,
                                         trace.scenario.precision.weights.bits)
    chip_bytes = fp.total_bytes if model.needs_chip_bytes else 0.0
    layers_here = max(trace.layer_partition(), default=0) if model.needs_chip_bytes else 0
    ctx = CostContext(runtime=rt, profile=profile, weights_on_chip=woc, chip_bytes=chip_bytes,
                      layers_on_chip=layers_here)
    hw_fp = cache.hw_fingerprint(hw)
    # host work per sequence is each data-parallel attention group's own (its scheduler /
    # executor process runs beside the others): the busiest group's sequences
    # ... and every chip of a stage runs its own executor loop (step_bcast_round_s)
    launch = model.step_overheads(hw, rt, profile, par.dp_share(trace.scenario.batch),
                                  decode=trace.scenario.phase is Phase.DECODE,
                                  ranks=par.stage_chips)
    host_k = launch.host_per_kernel_s
    coll_h, mode_s = eager_host_knobs(profile)
    step_s = launch.step_sync_s

    units = build_units(trace.ops, rt, split_kernels=model.splits_kernels, profile=profile)
    layers = trace.layer_partition()
    priced = [price_unit(u, model, hw, ctx, hw_fp) for u in units]

    per_stage: list[list[tuple[Unit, Priced, int]]] = [[] for _ in range(pp)]
    tail: list[list[tuple[Unit, Priced, int]]] = [[] for _ in range(pp)]
    mapped: list[MappedOp] = []
    zero = OpCost(0.0, 0.0, Bound.LATENCY)
    device_total = 0.0
    op_energy = 0.0
    busy_chip_s = 0.0
    for u, pr in zip(units, priced, strict=True):
        lead = u.members[0]
        counts = stage_counts(lead, layers, trace.draft_stage_layers)
        group = "+".join(m.name for m in u.members) if len(u.members) > 1 else ""
        nk = len(pr.kernel_times_s)
        for s, c in enumerate(counts):
            if c <= 0:
                continue
            (tail if lead.block == "pp" else per_stage)[s].append((u, pr, c))
            for j, m in enumerate(u.members):
                first = j == 0
                mo = MappedOp(m.with_count(c) if m.count != c else m, pr.cost if first else zero,
                              tp, s, group, pr.mapping if first else (("fused", u.label),),
                              nk if first else 0,
                              sum(unit_host_s(u, nk, host_k, coll_h, mode_s)) if first else 0.0,
                              pr.kernel_times_s if first else ())
                mapped.append(mo)
                if first:
                    device_total += mo.time_s
                    op_energy += mo.energy_j
                    busy_chip_s += mo.time_s * tp
    stage_times: list[float] = []
    host_total = 0.0
    arrival = 0.0  # when the stage's input activation is there (end of the previous stage)
    mbs = trace.scenario.micro_batches
    if mbs > 1:  # independent streams: one micro-batch's collectives under another's kernels
        stage_times, host_total = _streams(trace, hw, rt, mapped, mbs, host_k)
        arrival = sum(stage_times)
        device_total, op_energy, busy_chip_s = (mbs * device_total, mbs * op_energy,
                                                mbs * busy_chip_s)
        mapped = [dataclasses.replace(mo, op=mo.op.with_count(mo.op.count * mbs))
                  for mo in mapped]
    for s in range(pp if mbs == 1 else 0):
        blocks = _stage_blocks(per_stage[s] + tail[s], host_k, coll_h, mode_s)
        # this stage's host launches from t = 0, its device waits for the input
        st = T.run(blocks, T.TimelineState(device_free_s=arrival, host_s=0.0))
        end = max(arrival, st.device_free_s)
        stage_times.append(end - arrival)
        arrival = end
        host_total += st.host_s
    # a front-end process slower than the step sets the pace of the steps it streams
    latency = max(arrival + step_s, launch.frontend_floor_s)
    chips = par.chips
    idle_w = hw.chip.power.idle_w
    energy = op_energy + idle_w * max(0.0, latency * chips - busy_chip_s)
    return Schedule(trace, hw, rt, tuple(mapped), latency, energy, infeasible,
                    tuple(stage_times), device_total, host_total, step_s, woc, fp.total_bytes,
                    profile.name if profile is not None else "",
                    frontend_floor_s=launch.frontend_floor_s)


def _streams(trace: Trace, hw: Hardware, rt: Runtime, mapped: list[MappedOp], mbs: int,
             host_per_kernel: float) -> tuple[list[float], float]:
    """(stage times, host time) of `mbs` micro-batches run as streams: the op-level DES
    (`mapper.streams`, what `simulator.timeline` draws) over the program of one micro-batch
    (`mapped`), each kernel holding its lanes, each stage's host launching every
    micro-batch's kernels in turn. A stage's time runs from the end of the previous one to
    the end of its last kernel."""
    par = trace.scenario.parallel
    one = Schedule(trace, hw, rt, tuple(mapped), 0.0, 0.0)
    default = max(host_per_kernel, 0.0)
    kernels = [k if k.host_s >= 0 else dataclasses.replace(k, host_s=default)
               for k in streams.expand(one, par.pp)]
    spans, _ = streams.run_kernels(kernels, stages=par.pp, chips_per_stage=par.tp,
                                   micro_batches=mbs)
    times, arrival = [], 0.0
    for s in range(par.pp):
        end = max([arrival, *(sp.end_s for sp in spans if sp.stage == s)])
        times.append(end - arrival)
        arrival = end
    return times, mbs * sum(k.host_s for k in kernels)


def op_latency(op: Op, hw: Hardware,
               runtime: Runtime | str | RuntimeProfile | None = None) -> float:
    """Seconds for ONE execution of `op` launched alone on one idle chip of `hw` (what
    `infersim.predict_op` returns).

    On a kind that launches kernels from a host (GPU), `op` becomes the kernels `runtime`
    launches for it (`build_units`) and the result is the host/device recurrence of
    `mapper.timeline` from an idle GPU with the host at t = 0: under an eager base each
    kernel waits for its host dispatch (`host_launch_us`), so this is what CUDA events
    around the eager PyTorch call measure (host dispatch + launch + kernel); under `graph`
    and CUDA-graph engines the host cost is 0 and the result is the device time (launch
    latency and tails included). No per-step cost (scheduling, sampling) is added: that
    belongs to a model step. The op is costed `from_idle` (a GPU with a clock boost starts
    it above its sustained clock). Other kinds: the cost model's time for the op."""
    model = cost_model(hw)
    rt, profile = model.resolve_runtime(runtime, hw.name)
    ctx = CostContext(runtime=rt, profile=profile, from_idle=True)
    if not model.splits_kernels:
        return model.op_cost(op, hw, ctx).time_s
    # one op of a decode step: an engine's CUDA graph replays it (no host dispatch)
    host_k = model.step_overheads(hw, rt, profile, decode=True).host_per_kernel_s
    coll_h, mode_s = eager_host_knobs(profile)
    dev: list[float] = []
    host: list[float] = []
    for u in build_units([op.with_count(1)], rt, split_kernels=True, profile=profile):
        # the kernels a step launches for it (`price_unit`), each with its host dispatch
        times = kernel_times([model.op_cost(k.op, hw, ctx) for k in u.kernels])
        dev.extend(times)
        host.extend(unit_host_s(u, len(times), host_k, coll_h, mode_s))
    st = T.run([T.Block(tuple(host), tuple(dev), 1)])
    return st.device_free_s
