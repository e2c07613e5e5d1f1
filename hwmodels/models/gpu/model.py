"""The GPU cost model: one kernel on one GPU, dispatched to the kernel models of this package.

Every result is at least the shared roofline floor (`roofline_times`) plus the fixed kernel
cost (`kernel_launch_s`: launch latency + ramp-up + tail): efficiencies are ≤ 1, tiles cover
the whole problem, HBM bytes include every compulsory byte. Host-side launch overhead is a
runtime property (`launch_overheads`) the mapper lays on its host/device timeline.

Energy: FLOPs × J/FLOP(dtype) + HBM bits (incl. re-reads) × J/bit + L2 bits × J/bit + link
bits × J/bit + idle power × time.

Collectives over NVLink/NVSwitch: the fastest of NCCL's algorithms (`hwmodels.collectives`:
ring, in-switch NVLS at `nvls_efficiency`, direct, p2p) at `link_efficiency` of the link
bandwidth (`allreduce_bw_efficiency` for reducing collectives), plus `collective_latency_s`
per call; a group spanning nodes runs hierarchically over NVLink and the network
(`collectives.system_plan`).
"""

from __future__ import annotations

from infersim.hwmodels import collectives
from infersim.hwmodels.cost import (
    Bound,
    CostContext,
    CostModelBase,
    LaunchOverheads,
    OpCost,
    Runtime,
)
from infersim.hwmodels.models.gpu.attention import attention_search
from infersim.hwmodels.models.gpu.figures import (
    GpuFigures,
    figures,
    mac_energy_j,
    matrix_peak,
    mma_efficiency,
    params,
    stream_time,
)
from infersim.hwmodels.models.gpu.gemm import gemm_search
from infersim.hwmodels.models.gpu.vector import vector_plan
from infersim.hwmodels.spec import Hardware, HardwareKind
from infersim.workloads.ops import (
    AttentionShape,
    CollectiveShape,
    MatmulShape,
    Op,
    OpKind,
)

# What NCCL runs on one NVLink/NVSwitch node: ring (and tree, no faster within a node),
# NVLS in-switch reduction where the switch has it, direct sends (all-to-all) and p2p. The
# one-shot / two-shot kernels of `hwmodels.collectives` are engine-specific custom
# all-reduces, not NCCL's.
NCCL_ALGORITHMS = frozenset({collectives.Algorithm.RING, collectives.Algorithm.IN_SWITCH,
                             collectives.Algorithm.P2P, collectives.Algorithm.DIRECT})


def collective_time(c: GpuFigures, hw: Hardware, sh: CollectiveShape) -> tuple[float, float, str]:
    """(seconds, wire bytes per chip, algorithm name) of this chip's part of a collective:
    the fastest of NCCL's algorithms (`hwmodels.collectives`) plus the call latency."""
    plan = collectives.system_plan(sh, hw, c.link_eff, c.nvls_eff, allowed=NCCL_ALGORITHMS,
                                   reduce_efficiency=c.reduce_eff)
    if plan is None:
        return 0.0, 0.0, ""
    return c.coll_lat + plan.time_s, plan.wire_bytes, plan.algorithm.value


class GpuModel(CostModelBase):
    """Cost model for `HardwareKind.GPU` (see the module docstring)."""

    kind = HardwareKind.GPU
    splits_kernels = True
    caching_allocator = True  # PyTorch/vLLM: serving caps memory (gpu_memory_utilization)

    def launch_overheads(self, hw: Hardware, runtime: Runtime) -> LaunchOverheads:
        """Eager PyTorch pays a host dispatch per kernel; every runtime pays the per-step
        host synchronization."""
        p = params(hw)
        return LaunchOverheads(p.host_launch_s if runtime is Runtime.EAGER else 0.0,
                               p.step_sync_s)

    def op_cost(self, op: Op, hw: Hardware, ctx: CostContext) -> OpCost:
        c = figures(hw)
        sh = op.shape
        if isinstance(sh, CollectiveShape):
            return self._collective(c, op, hw, sh)
        if isinstance(sh, MatmulShape):
            return self._matmul(c, op, hw, sh)
        if isinstance(sh, AttentionShape):
            return self._attention(c, op, hw, sh)
        return self._vector(c, op, hw, sh, ctx.warm_l2)

    def _vector(self, c: GpuFigures, op: Op, hw: Hardware, sh: object,
                    warm: bool) -> OpCost:
        vp = vector_plan(c, op, sh, warm)
        detail: tuple[tuple[str, float | str], ...] = (
            ("blocks", float(vp.blocks)), ("waves", float(vp.waves)),
            ("passes", float(vp.passes)), ("l2_resident", vp.l2_hit))
        if op.kind is OpKind.EMBEDDING:
            detail += (("gather", 1.0),)
        return self._finish(c, op, hw, vp.time_s, vp.compute_s, vp.memory_s, 0.0,
                            vp.hbm_bytes, vp.l2_bytes, 0.0, detail)

    # -- helpers -------------------------------------------------------------------------

    @staticmethod
    def _finish(c: GpuFigures, op: Op, hw: Hardware, body_s: float, compute_s: float,
                memory_s: float, comm_s: float, hbm_bytes: float, l2_bytes: float,
                wire_bytes: float, detail: tuple[tuple[str, float | str], ...]) -> OpCost:
        t = body_s + c.launch
        fabric = hw.fabric
        energy = (op.flops * mac_energy_j(c, op.dtype) + hbm_bytes * 8.0 * c.hbm_j_bit
                  + l2_bytes * 8.0 * c.l2_j_bit
                  + wire_bytes * 8.0 * (fabric.energy_j_per_bit if fabric else 0.0)
                  + c.idle_w * t)
        if comm_s > 0.0 and comm_s >= max(compute_s, memory_s):
            bound = Bound.INTERCONNECT
        elif c.launch > body_s:
            bound = Bound.LATENCY
        elif compute_s >= memory_s:
            bound = Bound.COMPUTE
        else:
            bound = Bound.MEMORY
        return OpCost(t, energy, bound, compute_s, memory_s, comm_s, c.launch, detail)

    def _matmul(self, c: GpuFigures, op: Op, hw: Hardware, sh: MatmulShape) -> OpCost:
        a_b = op.dtype.bytes
        w_b = sh.weight_dtype.bytes if sh.weight_dtype is not None else a_b
        ch = gemm_search(c, sh.m, sh.k, sh.n, sh.groups, a_b, w_b, a_b, matrix_peak(c, op.dtype),
                         max(1.0, sh.imbalance), mma_efficiency(c, op.dtype))
        detail: tuple[tuple[str, float | str], ...] = (
            ("kernel", "gemm"), ("tile", f"{ch.tile_m}x{ch.tile_n}"), ("split_k", ch.split_k),
            ("waves", ch.waves), ("ctas", ch.ctas),
            ("hbm_reads", f"A×{ch.reads_a} B×{ch.reads_b}"))
        # a tile loop starved by L2 operand feed is memory-side, not compute
        mem_side = max(ch.memory_s, ch.tile_s) if ch.feed_bound else ch.memory_s
        comp_side = ch.compute_s if ch.feed_bound else ch.tile_s
        return self._finish(c, op, hw, ch.time_s, comp_side, mem_side, 0.0,
                            ch.read_bytes + ch.write_bytes, ch.l2_bytes, 0.0, detail)

    def _attention(self, c: GpuFigures, op: Op, hw: Hardware, sh: AttentionShape) -> OpCost:
        ch = attention_search(c, op, sh)
        detail: tuple[tuple[str, float | str], ...] = (
            ("kernel", ch.algorithm), ("split_kv", ch.split_kv), ("blocks", ch.blocks),
            ("waves", ch.waves), ("kv_reads", ch.kv_reads))
        hbm = ch.read_bytes + ch.write_bytes
        return self._finish(c, op, hw, ch.time_s, ch.compute_s, ch.memory_s, 0.0, hbm,
                            hbm, 0.0, detail)

    def _collective(self, c: GpuFigures, op: Op, hw: Hardware, sh: CollectiveShape) -> OpCost:
        comm_s, wire, algo = collective_time(c, hw, sh)
        # the local read of the input and write of the result overlap with the transfer
        memory_s = stream_time(c, op.bytes.act_in, op.bytes.act_out, c.sms)
        detail: tuple[tuple[str, float | str], ...] = (
            ("kernel", "collective"), ("algorithm", algo), ("wire_bytes", wire))
        return self._finish(c, op, hw, max(comm_s, memory_s), 0.0, memory_s, comm_s,
                            op.bytes.total, 0.0, wire, detail)
