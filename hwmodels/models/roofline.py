"""Roofline floors: the physics every kind-specific cost model must respect (tests enforce it).

`roofline_times`: max(FLOPs / peak(dtype), bytes / main-memory bandwidth, floor link bytes /
link bandwidth + one hop) — the floor the GPU, wafer, LPU and CIM models never beat.
`residence_floor`: the same with activations allowed in any faster level declared to hold
them — the floor for cache-aware models (CPU) and the energy floor for all.

Collectives: the floor is the fewest bytes one chip must move through its link in its
busier direction (the fabric's `chip_bandwidth_Bps` is per direction), whatever the algorithm
— ring, tree, direct, or in-network reduction (NVLS): `hwmodels.collectives.floor_bytes`.
"""

from __future__ import annotations

from infersim.hwmodels import collectives
from infersim.hwmodels.spec import Hardware, UnitType
from infersim.workloads.ops import CollectiveShape, Op, OpKind


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
            wire = collectives.floor_bytes(op.shape)
            comm_s = wire / fabric.chip_bandwidth_Bps + fabric.latency_s
        memory_s = 0.0
    return compute_s, memory_s, comm_s


def residence_floor(op: Op, hw: Hardware) -> tuple[float, float]:
    """(seconds, joules) that NO model of any kind may beat, wherever data may live.

    Weights and KV stream from main memory (`Chip.main_memory`). Activations may be spread
    over every level declared to hold them, fastest first, each up to its capacity (main
    memory, unlimited, takes the rest when its turn comes), all levels working in parallel. The time floor is the largest of:
    compute at peak, weight/KV bytes at main bandwidth, each level's activation share at its
    bandwidth, and the collective floor. Energy floor: weight/KV bits at main memory's J/bit,
    activation bits at the cheapest level allowed to hold them (no FLOP energy: some specs
    leave it at 0); for a collective, the floor bytes on the wire at the fabric's J/bit.
    This is never above `roofline_times` (everything from main memory), the floor that the GPU,
    wafer, LPU and CIM models keep; the cache-aware CPU model is held to this one.
    """
    from infersim.hwmodels.spec import TensorClass

    chip = hw.chip
    main = chip.main_memory
    compute_s, _, comm_s = roofline_times(op, hw)
    if isinstance(op.shape, CollectiveShape):
        # Only the wire is certain: the message may be read from and written to anywhere.
        fabric = hw.fabric
        wire_j = (8 * collectives.floor_bytes(op.shape) * fabric.energy_j_per_bit
                  if fabric is not None else 0.0)
        return max(compute_s, comm_s), wire_j
    act = op.bytes.act_in + op.bytes.act_out
    stream = op.bytes.total - act
    holders = [m for m in chip.memory
               if m is not main and TensorClass.ACTIVATIONS in m.holds]
    main_bytes = stream
    mem_s = 0.0
    left = act
    for level in sorted([*holders, main], key=lambda m: -m.bandwidth_Bps):
        if level is main:  # unlimited: takes whatever is left
            main_bytes += left
            break
        share = min(left, level.capacity_bytes)
        mem_s = max(mem_s, share / level.bandwidth_Bps)
        left -= share
    mem_s = max(mem_s, main_bytes / main.bandwidth_Bps)
    act_j = min([m.energy_j_per_bit for m in holders] + [main.energy_j_per_bit])
    return max(compute_s, mem_s), 8 * (stream * main.energy_j_per_bit + act * act_j)
