"""Cost model of an LPU (Groq TSP class): statically scheduled dataflow, SRAM only, kind `lpu`.

Execution model: a token's step runs as one compile-time schedule over every chip of the
system. A layer is split over the tensor-parallel chips of its pipeline stage (the trace's
ops are one chip's shard), the stages follow each other, and every dependent step is a
compute op on a chip or a chip-to-chip (C2C) transfer. For one execution of an op on one
chip:

    compute op:  time = max(compute, SRAM) + t_op (+ `lpu.layer_overhead_us` on attention)
    collective:  time = wire bytes / link bandwidth + hops × C2C hop latency

- compute: FLOPs / peak of the dtype on the matrix unit (MXM) for matmul-class ops, the vector
  unit (VXM) for the rest; bf16 runs at the fp16 rate (same width), other unlisted dtypes are
  emulated (`common.effective_peak`).
- SRAM: every byte of the op at the SRAM bandwidth (the roofline floor). There is no DRAM:
  weights, KV and activations are SRAM-resident by construction (`ctx.weights_on_chip` is
  ignored); whether they fit is a capacity question (`hwmodels.capacity`), not a cost.
- t_op = `lpu.op_overhead_us`: the deterministic latency of one dependent op in the static
  schedule (operands stream from the MEM slices through the functional units and back before
  the next op may start). At batch 1 it dominates the op's streaming time, so a layer costs
  about (its ops) × t_op whatever its width: the one fitted constant
  (validation/data/published/wafer_lpu_fit.json).
- hops: a collective among chips of one node (`lpu.chips_per_node`, wired all-to-all: a
  GroqNode) exchanges directly: 1 hop (all-reduce: reduce-scatter + all-gather, 2); a larger
  group takes the topology's latency-bound steps (`collectives.topology_hops`: dragonfly 3, all-
  reduce 6). A pipeline send is 1 hop (neighbouring stages are placed adjacent). The hop
  latency is the interconnect's per-hop `latency` (one source of truth).

Energy = FLOPs × J/FLOP + bytes × 8 × SRAM J/bit + wire bytes × 8 × link J/bit + idle × time.
Never below `roofline_times` (each collective pays at least one hop). A chip without
`LpuParams` is priced with no fixed overheads and the topology's hops.
"""

from __future__ import annotations

from infersim.hwmodels import collectives
from infersim.hwmodels.cost import Bound, CostContext, CostModelBase, OpCost
from infersim.hwmodels.models.common import (
    collective_time,
    finish,
    mac_energy,
    op_peak,
    op_unit,
)
from infersim.hwmodels.models.roofline import roofline_times
from infersim.hwmodels.spec import Hardware, HardwareKind, LpuParams
from infersim.workloads.ops import Collective, CollectiveShape, Op, OpKind


def lpu_hops(shape: CollectiveShape, p: LpuParams | None, hw: Hardware) -> int:
    """Latency-bound C2C steps of a collective (module docstring); 0 for a 1-chip group."""
    g = shape.group_size
    if g <= 1:
        return 0
    if shape.collective == Collective.SEND_RECV:
        return 1
    if p is not None and g <= p.chips_per_node:
        return 2 if shape.collective == Collective.ALL_REDUCE else 1
    fabric = hw.fabric
    return max(1, collectives.topology_hops(fabric.topology, shape)) if fabric is not None else 1


class LpuModel(CostModelBase):
    """Deterministic SRAM-only dataflow chip with per-op latency and per-hop C2C latency."""

    kind = HardwareKind.LPU

    def op_cost(self, op: Op, hw: Hardware, ctx: CostContext) -> OpCost:
        chip = hw.chip
        p = chip.params if isinstance(chip.params, LpuParams) else None
        floor_c, floor_m, floor_comm = roofline_times(op, hw)
        shape = op.shape
        fabric = hw.fabric
        compute_s = floor_c
        comm_s, hop_s, wire = 0.0, 0.0, 0.0
        overhead = 0.0
        if isinstance(shape, CollectiveShape):
            comm_s, _, wire = collective_time(op, fabric, floor_comm)
            if fabric is not None:
                hop_s = lpu_hops(shape, p, hw) * fabric.latency_s
            overhead = hop_s
        else:
            if op.flops > 0:
                peak = op_peak(chip, op)
                if peak > 0:
                    compute_s = max(compute_s, op.flops / peak)
            if p is not None:
                overhead = p.op_overhead_s
                if op.kind == OpKind.ATTENTION:
                    overhead += p.layer_overhead_s
        energy = (op.flops * mac_energy(chip, op.dtype, op_unit(op))
                  + op.bytes.total * 8 * chip.main_memory.energy_j_per_bit
                  + (wire * 8 * fabric.energy_j_per_bit if fabric is not None else 0.0))
        terms = {Bound.COMPUTE: compute_s, Bound.MEMORY: floor_m, Bound.INTERCONNECT: comm_s}
        return finish(terms, overhead, energy, chip.power.idle_w, compute_s=compute_s,
                      memory_s=floor_m, comm_s=comm_s, detail=(("hop_s", hop_s),))
