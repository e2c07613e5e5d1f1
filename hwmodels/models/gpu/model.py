"""The GPU cost model: one kernel on one GPU, dispatched to the kernel models of this package.

Every result is at least the shared roofline floor (`roofline_times`) plus the fixed kernel
cost (`kernel_launch_s`: launch latency + ramp-up + tail): efficiencies are ≤ 1, tiles cover
the whole problem, HBM bytes include every compulsory byte. Host-side launch overhead is a
runtime property (`step_overheads`) the mapper lays on its host/device timeline.

Clock: the efficiencies are sustained figures (a busy GPU held at its power limit); an op
costed `from_idle` (alone on an idle GPU: `predict_op`, isolated-kernel benchmarks) runs its
tensor-core work `figures.boost_factor` faster when the spec has a `clock_boost`.

Runtimes are the software stacks of `engines` (a base launch mode plus named constants):
the profile decides the per-step CPU time, whether attention is GQA-aware, the attention and
grouped-GEMM efficiencies and whether fp8 activations use the fp8 tensor cores.

Energy: FLOPs × J/FLOP(dtype) + HBM bits (incl. re-reads) × J/bit + L2 bits × J/bit + link
bits × J/bit + idle power × time.

Collectives over NVLink/NVSwitch: the fastest of NCCL's algorithms (`hwmodels.collectives`:
ring, in-switch NVLS at `nvls_efficiency` after its fixed `nvls_latency_us`, direct, p2p) at
`link_efficiency` of the link bandwidth (`allreduce_bw_efficiency` for reducing
collectives; a ring all-reduce no faster than its channels' loads and stores,
`ring_copy_gb_per_s`), plus `collective_latency_s` per call; the ring runs in NCCL's bandwidth
protocol (per step the fabric's `latency_s`) or its LL protocol (`ll_step_latency_us`, at
`NCCL_LL_BANDWIDTH_FRACTION` of the rate), whichever is faster; a group spanning nodes runs
hierarchically over NVLink and the network (`collectives.system_plan`). A send/recv's op
time is the receiver's (the data has arrived); its sender may finish earlier in NCCL's
P2P-read mode (`p2p_sender_time`, detail `sender_s`).
"""

from __future__ import annotations

import math
from dataclasses import replace

from infersim.hwmodels import collectives
from infersim.hwmodels.cost import (
    COMBINE_KERNEL_S,
    WRITEBACK_S,
    Bound,
    CostContext,
    CostModelBase,
    LaunchOverheads,
    OpCost,
    Runtime,
    RuntimeProfile,
)
from infersim.hwmodels.models.gpu import engines as E
from infersim.hwmodels.models.gpu.attention import FLASH_BLOCK_Q, attention_search
from infersim.hwmodels.models.gpu.figures import (
    GpuFigures,
    boost_factor,
    dirty_writeback_s,
    figures,
    gemm_bw_efficiency,
    mac_energy_j,
    matrix_peak,
    mma_efficiency,
    params,
    stream_time,
    vector_peak,
)
from infersim.hwmodels.models.gpu.gemm import (
    TILES,
    GemmChoice,
    gemm_candidates,
    gemm_search,
)
from infersim.hwmodels.models.gpu.vector import vector_plan
from infersim.hwmodels.spec import Hardware, HardwareKind, Topology
from infersim.workloads.dtypes import DType
from infersim.workloads.ops import (
    MOE_ACT_OP,
    MOE_PERMUTE_OP,
    AttentionShape,
    Collective,
    CollectiveShape,
    MatmulShape,
    Op,
    OpKind,
    VectorShape,
)

# What NCCL runs on one NVLink/NVSwitch node: ring (and tree, no faster within a node),
# NVLS in-switch reduction where the switch has it, direct sends (all-to-all) and p2p. The
# one-shot / two-shot kernels of `hwmodels.collectives` are engine-specific custom
# all-reduces, not NCCL's.
NCCL_ALGORITHMS = frozenset({collectives.Algorithm.RING, collectives.Algorithm.IN_SWITCH,
                             collectives.Algorithm.P2P, collectives.Algorithm.DIRECT})


# NCCL's LL protocol runs a ring at 1/4 of the bandwidth protocol's bus bandwidth (the ring
# all-reduce LL refinement `busBw *= 1.0/4.0` of NCCL's tuning model, src/graph/tuning.cc,
# github.com/NVIDIA/nccl, in 2.18-2.20, the Vidur profiles' era; 2.21+ takes 1/2 capped at
# a per-node llMaxBw, 141 GB/s of bus bandwidth on one Hopper node) and at its own per-step
# latency (`gpu.ll_step_latency_us`). A spec's `interconnect.latency_us` is the bandwidth
# protocol's per-step latency (fitted on the >= 1 MiB Vidur all-reduces); small messages (a
# decode step's all-reduce) run LL.
NCCL_LL_BANDWIDTH_FRACTION = 0.25


def nccl_plan(c: GpuFigures, hw: Hardware, sh: CollectiveShape
              ) -> collectives.CollectivePlan | None:
    """The fastest of NCCL's algorithms and protocols (`hwmodels.collectives`; the LL ring
    where the spec gives `ll_step_latency_us`) for this chip's part of a collective; None for
    a group of one or a system without links."""
    ll = (collectives.LowLatency(c.ll_step, NCCL_LL_BANDWIDTH_FRACTION)
          if c.ll_step > 0.0 else None)
    return collectives.system_plan(sh, hw, c.link_eff, c.nvls_eff, allowed=NCCL_ALGORITHMS,
                                   reduce_efficiency=c.reduce_eff, low_latency=ll,
                                   in_switch_latency_s=c.nvls_lat if c.nvls_lat > 0 else None,
                                   ring_copy_Bps=c.ring_copy)


def p2p_sender_time(c: GpuFigures, plan: collectives.CollectivePlan, latency: float) -> float:
    """Seconds until the SENDER's kernel of a send/recv of `plan` finishes, `latency` being
    the call latency (the receiver's time is latency + `plan.time_s`). In P2P-read mode
    (`p2p_read_fifo_mib` > 0: NCCL's default on NVLink-connected Ampere, `p2pUseRead` in
    src/transport/p2p.cc) the sender copies the message into a FIFO in its own HBM (read +
    write at `p2p_copy_efficiency`) while the receiver reads it over the link; the sender's
    last chunk enters the FIFO once all but `p2p_read_fifo_mib` (NCCL_BUFFSIZE, default
    4 MiB: src/init.cc) have been read, so it finishes at max(copy, (bytes − FIFO) at the
    link rate). In P2P-write mode the sender writes over the link itself and finishes with
    the transfer."""
    m = plan.wire_bytes
    if c.p2p_fifo <= 0.0 or m <= 0.0:
        return latency + plan.time_s
    copy_s = stream_time(c, m, m, c.sms, c.p2p_copy_eff) - c.hbm_lat
    drain_s = plan.bandwidth_s * max(0.0, m - c.p2p_fifo) / m
    return latency + plan.latency_s + max(copy_s, drain_s)


# (m, k, n, groups, a_b, w_b, o_b, peak, imbalance, mma_eff, bw_eff, tile_set, k_b): what
# `gemm_search` and `gemm_candidates` take after the figures
GemmArgs = tuple[int, int, int, int, float, float, float, float, float, float, float, int,
                 float]


class GpuModel(CostModelBase):
    """Cost model for `HardwareKind.GPU` (see the module docstring)."""

    kind = HardwareKind.GPU
    splits_kernels = True
    caching_allocator = True  # PyTorch/vLLM: serving caps memory (gpu_memory_utilization)
    # GEMM row tiles (256/128/64) and flash-attention query blocks (128/64) count whole tiles
    token_tile = math.gcd(*(tm for tm, _ in TILES), FLASH_BLOCK_Q // 2)

    def runtimes(self) -> tuple[str, ...]:
        return (*E.engines(), *E.ALIASES)

    def resolve_runtime(self, runtime: Runtime | str | RuntimeProfile | None, hw_name: str = ""
                        ) -> tuple[Runtime, RuntimeProfile | None]:
        """(base launch mode, engine profile) of `runtime` (None: `graph`)."""
        from infersim.foundation.errors import InputError

        on = f"{hw_name} (gpu)" if hw_name else "gpu hardware"
        if isinstance(runtime, RuntimeProfile):
            if runtime.kind is not self.kind:
                raise InputError(f"runtime: profile {runtime.name!r} is for "
                                 f"{runtime.kind.value} hardware, not {on}")
            return runtime.base, runtime
        name = "graph" if runtime is None else (
            runtime.value if isinstance(runtime, Runtime) else str(runtime))
        prof = E.lookup(name)
        if prof is None:
            raise InputError(f"runtime: unknown runtime {name!r} for {on}; use one of "
                             f"{', '.join(self.runtimes())}")
        return prof.base, prof

    def launch_overheads(self, hw: Hardware, runtime: Runtime) -> LaunchOverheads:
        """Eager PyTorch pays a host dispatch per kernel; every runtime pays the per-step
        host synchronization."""
        p = params(hw)
        return LaunchOverheads(p.host_launch_s if runtime is Runtime.EAGER else 0.0,
                               p.step_sync_s)

    def step_overheads(self, hw: Hardware, runtime: Runtime, profile: RuntimeProfile | None,
                       sequences: int = 1, *, decode: bool = False,
                       ranks: int = 1) -> LaunchOverheads:
        """Host dispatch per kernel (eager base, or an engine without CUDA graphs) and the
        profile's CPU time per step: fixed (default the chip's step sync) + per sequence,
        + `step_bcast_round_s` per round of a broadcast over the stage's `ranks`
        (`engines.bcast_rounds`).
        With `scheduler_steps` N > 1 a decode step pays that CPU time once per N steps; the
        other N − 1 steps only launch their graph and copy the token (the chip's step
        sync): cpu / N + sync · (1 − 1/N). The front-end floor: `engines.frontend_floor`."""
        p = params(hw)
        node = E.knob(profile, "host_node_s")
        cap = self.decode_graph_cap(profile)
        graphed = (E.knob(profile, "cuda_graphs") >= 0.5
                   and (decode or E.knob(profile, "prefill_graphs") >= 0.5)
                   and (not decode or cap <= 0 or sequences <= cap))
        per_kernel = ((p.host_launch_s if node < 0.0 else node)
                      if runtime is Runtime.EAGER or not graphed else 0.0)
        fixed = E.knob(profile, "step_overhead_s")
        fixed = p.step_sync_s if fixed < 0.0 else fixed
        per_seq = E.knob(profile, "step_overhead_per_seq_s")
        cpu = (fixed + per_seq * max(1, sequences)
               + E.knob(profile, "step_bcast_round_s") * E.bcast_rounds(ranks))
        n = E.knob(profile, "scheduler_steps")
        if decode and n > 1.0:
            cpu = cpu / n + p.step_sync_s * (1.0 - 1.0 / n)
        n_seq = max(1, sequences)
        floor = self.serving_floor_s(profile, *((n_seq, 0) if decode else (0, n_seq)))
        return LaunchOverheads(per_kernel, cpu, floor)

    def serving_floor_s(self, profile: RuntimeProfile | None, decoding: int,
                        first_tokens: int = 0) -> float:
        return E.frontend_floor(profile, decoding, first_tokens)

    def decode_graph_cap(self, profile: RuntimeProfile | None) -> int:
        """The engine's `graph_max_batch` (0: graphs for any decode batch)."""
        return max(0, int(E.knob(profile, "graph_max_batch")))

    def decode_graph_sizes(self, profile: RuntimeProfile | None,
                           max_batch: int) -> tuple[int, ...]:
        """`graph_padding`: the captured CUDA-graph batch sizes (`engines.graph_batch_sizes`);
        none without it."""
        if E.knob(profile, "graph_padding") < 0.5:
            return ()
        return E.graph_batch_sizes(max_batch)

    def graphed_prefill(self, runtime: Runtime | RuntimeProfile
                        ) -> Runtime | RuntimeProfile:
        """An engine that captures CUDA graphs for decode only (`prefill_graphs` 0, as
        `step_overheads` reads it) with its prompts graphed too; anything else as is."""
        if (isinstance(runtime, RuntimeProfile) and E.knob(runtime, "cuda_graphs") >= 0.5
                and E.knob(runtime, "prefill_graphs") < 0.5):
            return runtime.with_values(prefill_graphs=1.0)
        return runtime

    def op_cost(self, op: Op, hw: Hardware, ctx: CostContext) -> OpCost:
        c = figures(hw)
        sh = op.shape
        if isinstance(sh, CollectiveShape):
            # `collective_latency_us` is fitted on eager NCCL calls timed with CUDA events
            # (Vidur network profiles), so it holds the host-side enqueue the GPU waits for;
            # a captured graph replays the collective kernel at a kernel's launch latency.
            graphed = (ctx.runtime is not Runtime.EAGER
                       and E.knob(ctx.profile, "cuda_graphs") >= 0.5)
            own = self._engine_allreduce(c, op, hw, sh, ctx.profile)
            auto = E.knob(ctx.profile, "custom_ar_auto") >= 0.5
            if own is not None and not auto:  # vLLM: its kernel whenever it runs
                return own
            # an engine that keeps NCCL off NVLink SHARP (`nccl_nvls` 0) runs its ring
            nc = c if E.knob(ctx.profile, "nccl_nvls") >= 0.5 else replace(c, nvls_eff=0.0)
            nccl = self._collective(nc, op, hw, sh,
                                    min(c.coll_lat, c.launch) if graphed else c.coll_lat)
            return own if own is not None and own.time_s < nccl.time_s else nccl
        if isinstance(sh, MatmulShape):
            return self._matmul(c, op, hw, sh, ctx.profile, self._matmul_clock(c, op, hw, sh, ctx))
        if isinstance(sh, AttentionShape):
            oc = self._attention(c, op, hw, sh, ctx.profile)
            if ctx.from_idle and c.boost > 1.0:
                g = boost_factor(oc.compute_s, c.boost, c.boost_tau)
                oc = self._attention(c, op, hw, sh, ctx.profile, g)
            return oc
        return self._vector(c, op, hw, sh, ctx.warm_l2, ctx.profile)

    def _vector(self, c: GpuFigures, op: Op, hw: Hardware, sh: object,
                warm: bool, profile: RuntimeProfile | None = None) -> OpCost:
        vp = vector_plan(c, op, sh, warm)
        # the engine's per-row MoE kernels, issue-bound: the activation, and the permute where
        # it quantizes each row to NVFP4 on the way (the same per-row skeleton and the same
        # quantization routine); their vector operations per element at the chip's vector
        # rate (engine knob `moe_row_ops`)
        row_kernel = op.name == MOE_ACT_OP or (op.name == MOE_PERMUTE_OP and op.dtype.bits <= 4)
        ops_per_elem = E.knob(profile, "moe_row_ops") if row_kernel else 0.0
        if ops_per_elem > 0.0 and isinstance(sh, VectorShape):
            issue_s = sh.numel * ops_per_elem / vector_peak(c, DType.FP32)
            if issue_s > vp.compute_s:
                vp = replace(vp, compute_s=issue_s, time_s=max(vp.time_s, issue_s))
        detail: tuple[tuple[str, float | str], ...] = (
            ("blocks", float(vp.blocks)), ("waves", float(vp.waves)),
            ("passes", float(vp.passes)), ("l2_resident", vp.l2_hit),
            (WRITEBACK_S, vp.writeback_s))
        if op.kind is OpKind.EMBEDDING:
            detail += (("gather", 1.0),)
        return self._finish(c, op, hw, vp.time_s, vp.compute_s, vp.memory_s, 0.0,
                            vp.hbm_bytes, vp.l2_bytes, 0.0, detail, c.vec_launch)

    # -- helpers -------------------------------------------------------------------------

    @staticmethod
    def _finish(c: GpuFigures, op: Op, hw: Hardware, body_s: float, compute_s: float,
                memory_s: float, comm_s: float, hbm_bytes: float, l2_bytes: float,
                wire_bytes: float, detail: tuple[tuple[str, float | str], ...],
                launch: float = -1.0) -> OpCost:
        """The op's cost: its kernel body plus the per-kernel `launch` (-1: the chip's
        `kernel_launch_us`), energy, and what bounds it."""
        launch = c.launch if launch < 0.0 else launch
        t = body_s + launch
        fabric = hw.fabric
        energy = (op.flops * mac_energy_j(c, op.dtype) + hbm_bytes * 8.0 * c.hbm_j_bit
                  + l2_bytes * 8.0 * c.l2_j_bit
                  + wire_bytes * 8.0 * (fabric.energy_j_per_bit if fabric else 0.0)
                  + c.idle_w * t)
        if comm_s > 0.0 and comm_s >= max(compute_s, memory_s):
            bound = Bound.INTERCONNECT
        elif launch > body_s:
            bound = Bound.LATENCY
        elif compute_s >= memory_s:
            bound = Bound.COMPUTE
        else:
            bound = Bound.MEMORY
        return OpCost(t, energy, bound, compute_s, memory_s, comm_s, launch, detail)

    @staticmethod
    def _gemm_args(c: GpuFigures, op: Op, sh: MatmulShape, profile: RuntimeProfile | None,
                   clock: float) -> GemmArgs:
        """The arguments of `gemm_search` / `gemm_candidates` for `op` (after `c`): its
        dims, operand bytes, the MMA dtype's peak, efficiencies and the library's tile set.
        `clock` as `_matmul`'s."""
        a_b = op.dtype.bytes
        wdt = sh.weight_dtype or op.dtype
        w_b = wdt.bytes
        mdt = op.dtype
        if mdt is DType.FP8 and E.knob(profile, "fp8_gemm") < 0.5:
            mdt = DType.BF16  # no fp8 kernel: dequantized, 16-bit MMA
            a_b = mdt.bytes
        k_b = min(mdt.value_bytes, wdt.value_bytes)  # the K tile counts values, not scales
        eff = mma_efficiency(c, mdt)
        if op.kind is OpKind.MOE_EXPERTS:
            eff *= E.knob(profile, "moe_efficiency")
        eff = min(1.0, eff * clock)
        return (sh.m, sh.k, sh.n, sh.groups, a_b, w_b, a_b, matrix_peak(c, mdt),
                max(1.0, sh.imbalance), eff, gemm_bw_efficiency(c, mdt),
                1 if E.knob(profile, "gemm_tile_set") >= 0.5 else 0, k_b)

    def gemm_choices(self, op: Op, hw: Hardware, ctx: CostContext,
                     tile: tuple[int, int] | None = None
                     ) -> tuple[GemmChoice, tuple[GemmChoice, ...]]:
        """(the mapping `op_cost` prices a GEMM op with, every candidate its tile search
        weighs; `tile`: only that (rows, columns) tile's), at the clock `op_cost` uses
        (`ctx.from_idle`: boosted): a library's own tile can be priced beside the search's
        pick. `op_cost`'s time is the pick's `time_s` plus the launch (`OpCost.overhead_s`)."""
        sh = op.shape
        if not isinstance(sh, MatmulShape):
            raise TypeError(f"gemm_choices: {op.name} is not a GEMM")
        c = figures(hw)
        args = self._gemm_args(c, op, sh, ctx.profile, self._matmul_clock(c, op, hw, sh, ctx))
        return gemm_search(c, *args), tuple(gemm_candidates(c, *args, only=tile))

    def _matmul_clock(self, c: GpuFigures, op: Op, hw: Hardware, sh: MatmulShape,
                      ctx: CostContext) -> float:
        """The tensor cores' clock a GEMM runs at, over the sustained one: 1, or for an op
        alone from idle on a GPU with a boost (`ctx.from_idle`) the boost its sustained-clock
        MMA time allows (`figures.boost_factor`)."""
        if not (ctx.from_idle and c.boost > 1.0):
            return 1.0
        return boost_factor(self._matmul(c, op, hw, sh, ctx.profile).compute_s, c.boost,
                            c.boost_tau)

    def _matmul(self, c: GpuFigures, op: Op, hw: Hardware, sh: MatmulShape,
                profile: RuntimeProfile | None = None, clock: float = 1.0) -> OpCost:
        """`clock`: the tensor cores' clock over the sustained one (`figures.boost_factor`
        for an op from idle), raising the tile loop's efficiency up to the peak."""
        ch = gemm_search(c, *self._gemm_args(c, op, sh, profile, clock))
        detail: tuple[tuple[str, float | str], ...] = (
            ("kernel", "gemm"), ("tile", f"{ch.tile_m}x{ch.tile_n}"), ("split_k", ch.split_k),
            ("waves", ch.waves), ("ctas", ch.ctas),
            ("hbm_reads", f"A×{ch.reads_a} B×{ch.reads_b}"))
        # no WRITEBACK_S: the GEMM model drains its output to main memory inside the kernel
        # (earlier waves' stores under later main loops, the last wave's as its drain)
        if ch.reduce_s > 0.0:  # the split-K partials' reduce is a kernel of its own
            detail += ((COMBINE_KERNEL_S, ch.reduce_s),)
        # a tile loop starved by L2 operand feed is memory-side, not compute
        mem_side = max(ch.memory_s, ch.tile_s) if ch.feed_bound else ch.memory_s
        comp_side = ch.compute_s if ch.feed_bound else ch.tile_s
        return self._finish(c, op, hw, ch.time_s, comp_side, mem_side, 0.0,
                            ch.read_bytes + ch.write_bytes, ch.l2_bytes, 0.0, detail)

    def _attention(self, c: GpuFigures, op: Op, hw: Hardware, sh: AttentionShape,
                   profile: RuntimeProfile | None = None, clock: float = 1.0) -> OpCost:
        """`clock` as `_matmul`'s (the attention MMA rate up to the peak)."""
        eff = E.knob(profile, "attention_efficiency")
        if eff > 0.0:
            c = replace(c, attn_eff=eff)
        elif E.knob(profile, "attention_sm80") >= 0.5:  # FlashAttention-2-class kernels
            c = replace(c, attn_eff=c.attn_eff_sm80)
        if clock != 1.0:
            c = replace(c, attn_eff=min(c.attn_eff * clock, 1.0 / c.mma_eff))
        if c.attn_dec_bw_eff > 0.0 and E.knob(profile, "paged_kv") < 0.5:
            c = replace(c, attn_dec_bw_eff=0.0)  # a contiguous cache: the generic read share
        ch = attention_search(c, op, sh, gqa_aware=E.knob(profile, "gqa_aware") >= 0.5,
                              fa2_decode=E.knob(profile, "fa2_decode") >= 0.5)
        detail: tuple[tuple[str, float | str], ...] = (
            ("kernel", ch.algorithm), ("split_kv", ch.split_kv), ("blocks", ch.blocks),
            ("waves", ch.waves), ("kv_reads", ch.kv_reads),
            (WRITEBACK_S, dirty_writeback_s(c, ch.read_bytes + ch.write_bytes,
                                            ch.write_bytes)))
        if ch.split_kv > 1:  # the partials' combine is a kernel of its own (a launch)
            detail += ((COMBINE_KERNEL_S, c.launch),)
        hbm = ch.read_bytes + ch.write_bytes
        return self._finish(c, op, hw, ch.time_s, ch.compute_s, ch.memory_s, 0.0, hbm,
                            hbm, 0.0, detail)

    def _engine_allreduce(self, c: GpuFigures, op: Op, hw: Hardware, sh: CollectiveShape,
                          profile: RuntimeProfile | None) -> OpCost | None:
        """The engine's own all-reduce kernel (`engines` knobs `custom_ar_*`: vLLM's custom
        all-reduce, TensorRT-LLM's AllReduce) where it runs: an all-reduce of fewer than
        `custom_ar_max_bytes` bytes over 2-8 GPUs of one NVSwitch node (a switched fabric
        of several links per GPU: a PCIe card has one, and vLLM runs its kernel beyond 2
        GPUs only when they are fully NVLink-connected). Its time is
        the measured call (`validation.fitting.custom_allreduce`): a fixed cost, one per
        peer, and the two-shot wire bytes at the kernel's own throughput. None elsewhere."""
        g, m = sh.group_size, sh.bytes
        fabric = hw.fabric
        if (sh.collective is not Collective.ALL_REDUCE or not 2 <= g <= 8
                or m >= E.knob(profile, "custom_ar_max_bytes") or fabric is None
                or fabric.topology is not Topology.SWITCH or fabric.links_per_chip < 2
                or (hw.scale_out is not None and g > hw.scale_out.chips_per_node)):
            return None
        wire = collectives.ring_wire_bytes(sh)
        t = collectives.engine_allreduce_s(E.knob(profile, "custom_ar_base_s"),
                                           E.knob(profile, "custom_ar_peer_s"),
                                           E.knob(profile, "custom_ar_s_per_byte"), sh)
        memory_s = stream_time(c, op.bytes.act_in, op.bytes.act_out, c.sms)
        detail: tuple[tuple[str, float | str], ...] = (
            ("kernel", "collective"), ("algorithm", "engine_kernel"), ("protocol", "engine"),
            ("wire_bytes", wire))
        return self._finish(c, op, hw, max(t - c.launch, 0.0), 0.0, memory_s, t,
                            op.bytes.total, 0.0, wire, detail)

    def _collective(self, c: GpuFigures, op: Op, hw: Hardware, sh: CollectiveShape,
                    call_latency: float) -> OpCost:
        plan = nccl_plan(c, hw, sh)
        comm_s = call_latency + plan.time_s if plan is not None else 0.0
        wire = plan.wire_bytes if plan is not None else 0.0
        # the local read of the input and write of the result overlap with the transfer
        memory_s = stream_time(c, op.bytes.act_in, op.bytes.act_out, c.sms)
        detail: tuple[tuple[str, float | str], ...] = (
            ("kernel", "collective"), ("algorithm", plan.algorithm.value if plan else ""),
            ("protocol", plan.protocol if plan else ""),
            ("wire_bytes", wire))
        if plan is not None and sh.collective is Collective.SEND_RECV:
            # the op's time is the receiver's (the data has arrived); the sender's kernel
            # may finish earlier (P2P read: it runs ahead by the FIFO)
            sender = p2p_sender_time(c, plan, call_latency)
            detail += (("sender_s", max(sender, memory_s) + c.launch),)
        return self._finish(c, op, hw, max(comm_s, memory_s), 0.0, memory_s, comm_s,
                            op.bytes.total, 0.0, wire, detail)
