"""Helpers shared by the wafer, LPU and CIM cost models (one formula per concept).

- `effective_peak`: the FLOP/s a chip reaches for a dtype it may not list (bf16 on an
  fp16-only chip runs at the fp16 rate; a wider dtype is emulated on a narrower unit at
  bits_narrow / bits_wide of its rate). The roofline floor (`roofline_times`) counts an
  unlisted dtype as free compute, so these models are never below it.
- `collective_time`: the fabric's native collective schedule (`hwmodels.collectives`), never
  below the roofline floor.
- `finish`: applies the composition rule of `hwmodels.cost` (max of resource times + fixed
  latencies) and names the bound.
"""

from __future__ import annotations

from collections.abc import Mapping

from infersim.hwmodels import collectives
from infersim.hwmodels.cost import Bound, OpCost
from infersim.hwmodels.spec import Chip, Interconnect, UnitType
from infersim.workloads.dtypes import DType
from infersim.workloads.ops import CollectiveShape, Op, OpKind

MATRIX_KINDS = frozenset({OpKind.MATMUL, OpKind.MOE_EXPERTS, OpKind.ATTENTION,
                          OpKind.MOE_ROUTER})
_SAME_WIDTH = {DType.BF16: DType.FP16, DType.FP16: DType.BF16, DType.FP8: DType.INT8,
               DType.INT8: DType.FP8, DType.FP4: DType.INT4, DType.INT4: DType.FP4}


def effective_peak(chip: Chip, dtype: DType, unit_type: UnitType | None = None) -> float:
    """Peak FLOP/s for `dtype` on the chip's units of `unit_type` (None: any unit).

    Listed dtype → its peak; else a same-width dtype's peak (bf16 ↔ fp16, fp8 ↔ int8,
    fp4 ↔ int4); else the best emulation on a listed dtype d at peak(d) × min(1, bits(d) /
    bits(dtype)). 0.0 when the units support nothing."""
    direct = chip.peak_flops(dtype, unit_type)
    if direct > 0:
        return direct
    twin = _SAME_WIDTH.get(dtype.mma_format)
    if twin is not None:
        p = chip.peak_flops(twin, unit_type)
        if p > 0:
            return p
    best = 0.0
    for u in chip.compute:
        if unit_type is not None and u.unit_type != unit_type:
            continue
        for d, p in u.peak_flops.items():
            best = max(best, p * min(1.0, d.bits / dtype.bits))
    return best


def op_peak(chip: Chip, op: Op, prefer: UnitType | None = None) -> float:
    """Peak for an op: matrix-class ops prefer the matrix unit, others the vector unit; each
    falls back to the other."""
    if prefer is None:
        prefer = UnitType.MATRIX if op.kind in MATRIX_KINDS else UnitType.VECTOR
    return effective_peak(chip, op.dtype, prefer) or effective_peak(chip, op.dtype)


def mac_energy(chip: Chip, dtype: DType, unit_type: UnitType | None = None) -> float:
    """J per FLOP for `dtype` on the chip's unit of `unit_type` (None: chip level).

    A unit's own `energy_j_per_flop` entry wins; otherwise the chip-level table. An unlisted
    dtype costs its same-width twin's energy (bf16 ↔ fp16...), else the narrowest listed wider
    dtype's (int4 runs as int8), else the widest listed dtype's scaled by the width ratio
    (emulation does proportionally more work)."""
    if unit_type is not None:
        for u in chip.compute:
            if u.unit_type == unit_type and u.energy_j_per_flop:
                e = _lookup(u.energy_j_per_flop, dtype)
                if e is not None:
                    return e
    return _lookup(chip.mac_energy_j, dtype) or 0.0


def _lookup(table: Mapping[DType, float], dtype: DType) -> float | None:
    dtype = dtype.mma_format
    e = table.get(dtype)
    if e is not None:
        return e
    twin = _SAME_WIDTH.get(dtype)
    if twin is not None and twin in table:
        return table[twin]
    if not table:
        return None
    wider = [d for d in table if d.bits >= dtype.bits]
    if wider:
        narrowest = min(d.bits for d in wider)
        return min(table[d] for d in wider if d.bits == narrowest)
    widest = max(table, key=lambda d: d.bits)
    return table[widest] * dtype.bits / widest.bits


def op_unit(op: Op) -> UnitType:
    """The unit type an op prefers: matrix for matmul-class ops, vector otherwise."""
    return UnitType.MATRIX if op.kind in MATRIX_KINDS else UnitType.VECTOR


def collective_time(op: Op, fabric: Interconnect | None, floor_comm_s: float = 0.0
                    ) -> tuple[float, float, float]:
    """(bandwidth seconds, latency seconds, wire bytes) of a collective op on `fabric`.

    The bandwidth part is never below the roofline floor's bandwidth part (`floor_comm_s`
    minus the one hop latency it includes), and there is at least one hop, so bandwidth +
    latency ≥ the floor."""
    shape = op.shape
    if not isinstance(shape, CollectiveShape) or shape.group_size <= 1 or fabric is None:
        return floor_comm_s, 0.0, 0.0
    plan = collectives.native_plan(shape, fabric)
    return (max(plan.bandwidth_s, floor_comm_s - fabric.latency_s), plan.latency_s,
            plan.wire_bytes)


def finish(terms: dict[Bound, float], overhead_s: float, energy_dynamic_j: float,
           idle_w: float, *, compute_s: float, memory_s: float, comm_s: float,
           detail: tuple[tuple[str, float], ...] = ()) -> OpCost:
    """Compose per the rules of `hwmodels.cost`: time = max(resource times) + fixed latencies;
    energy = dynamic + idle power × time. The bound is the largest term (LATENCY when the
    fixed latencies exceed every resource time)."""
    bound, t_max = Bound.COMPUTE, 0.0
    for b, t in terms.items():
        if t > t_max:
            bound, t_max = b, t
    if overhead_s > t_max:
        bound = Bound.LATENCY
    t = t_max + overhead_s
    return OpCost(t, energy_dynamic_j + idle_w * t, bound, compute_s, memory_s, comm_s,
                  overhead_s, detail)
