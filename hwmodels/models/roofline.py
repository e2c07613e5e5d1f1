"""First-order roofline cost model, shared by every kind until its own model lands.

time = max(FLOPs / peak(dtype), bytes / main-memory bandwidth) + launch latency;
energy = FLOPs × J/FLOP + bits × J/bit + idle power × time. This is the physics floor the
refined per-kind models must never beat.
"""

from __future__ import annotations

from hwmodels.cost import Bound, CostContext, OpCost
from hwmodels.spec import Hardware, HardwareKind, UnitType
from workloads.ops import CollectiveShape, Op, OpKind


def roofline_times(op: Op, hw: Hardware) -> tuple[float, float, float]:
    """(compute_s, memory_s, comm_s) lower bounds for one execution on one chip."""
    chip = hw.chip
    if op.kind in (OpKind.MATMUL, OpKind.MOE_EXPERTS, OpKind.ATTENTION, OpKind.MOE_ROUTER):
        peak = chip.peak_flops(op.dtype) or chip.peak_flops(op.dtype, UnitType.VECTOR)
    else:
        peak = chip.peak_flops(op.dtype, UnitType.VECTOR) or chip.peak_flops(op.dtype)
    compute_s = op.flops / peak if peak > 0 else 0.0
    memory_s = op.bytes.total / chip.main_memory.bandwidth_Bps
    comm_s = 0.0
    if isinstance(op.shape, CollectiveShape) and op.shape.group_size > 1:
        fabric = hw.fabric
        if fabric is not None:
            g = op.shape.group_size
            # ring/bus all-reduce moves 2(g-1)/g of the message per chip
            wire = op.shape.bytes * (2 * (g - 1) / g)
            comm_s = wire / fabric.chip_bandwidth_Bps + fabric.latency_s
        memory_s = 0.0
    return compute_s, memory_s, comm_s


class RooflineModel:
    def __init__(self, kind: HardwareKind):
        self.kind = kind

    def op_cost(self, op: Op, hw: Hardware, ctx: CostContext) -> OpCost:
        chip = hw.chip
        compute_s, memory_s, comm_s = roofline_times(op, hw)
        t = max(compute_s, memory_s, comm_s)
        bound = (Bound.COMPUTE if t == compute_s else
                 Bound.MEMORY if t == memory_s else Bound.INTERCONNECT)
        energy = (op.flops * chip.mac_energy_j.get(op.dtype, 0.0)
                  + op.bytes.total * 8 * chip.main_memory.energy_j_per_bit
                  + chip.power.idle_w * t)
        return OpCost(t, energy, bound, compute_s, memory_s, comm_s)

