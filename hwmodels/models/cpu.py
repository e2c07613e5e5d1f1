"""Cost model of a host CPU calibrated by `infersim calibrate` (kind `cpu`).

What it models (one execution of an op, multi-threaded kernels on all cores):

    time = call overhead + max(FLOPs / ceiling(dtype, unit), Σ_class bytes_class × s_class(W))

- Call overhead: the fixed cost of calling one kernel (Python dispatch, waking the worker
  threads, the join barrier), `CpuParams.call_overhead_s`, measured with an empty kernel.
- Compute ceiling: the spec's compute units are ACHIEVED ceilings of kernels, not datasheet
  peaks: `matrix` = the blocked GEMM kernel (matmul, attention, MoE, router), `vector` = an
  elementwise FMA kernel (everything else). Each falls back to the other unit if absent.
  A GEMM with m rows of A reaches m / (m + `gemm_half_rows`) of the matrix ceiling (per-tile
  fixed costs amortized over the rows), except below `gemm_stream_rows` rows, where the
  kernel streams B with a GEMV loop that pays no such cost; attention runs at
  `attention_efficiency` of it
  (softmax exponentials and two passes over K/V are not GEMM-shaped work).
- Memory: W = the op's working set = its compulsory bytes (`op.bytes.total`). The bytes of a
  working set that is used again and again are served by the cache levels in proportion to
  what each level holds: level i serves (min(W, C_i) − min(W, C_{i−1})) / W of them, with
  C_i the capacity of level i and the last level (DRAM) serving the rest; s(W) = Σ f_i / B_i
  seconds per byte. This "fill" form gives the gradual transitions measured between levels
  (caches are not perfect LRU, and a working set split over cores fills private caches
  unevenly). A tensor class only uses the levels whose `holds` list contains it, plus main
  memory: the calibrated spec lets caches hold activations only, so weights and KV — reused
  once per model step, after the rest of the model has passed through the caches — stream
  from DRAM; weights at `weight_stream_efficiency` of its bandwidth (a GEMM reads its weight
  matrix as many strided row streams, which DRAM serves less well than one stream).

Assumptions and limits: all cores run every op (no overlap of ops); no prefetch-distance or
TLB effects beyond what the fitted plateaus absorb; writes cost the same as reads (the
STREAM kernels on the calibrated host showed no systematic read/write asymmetry beyond the
fit's scatter); NUMA is ignored.

Floor: the compute term is never below `roofline_times`' compute term (the GEMM ceiling is at
most the best peak of the chip), and bytes of classes that no cache may hold are priced at
main-memory bandwidth, as `roofline_times` does. Activation bytes whose working set fits a
cache are priced at that cache's measured bandwidth — faster than `roofline_times`' main-memory
term, which assumes cold data; that is the cache effect this model exists to capture.

Energy = FLOPs × J/FLOP(dtype) + Σ_levels bytes served × 8 × J/bit(level) + idle W × time.
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence

from infersim.hwmodels.cost import Bound, CostContext, CostModelBase, OpCost
from infersim.hwmodels.models.roofline import roofline_times
from infersim.hwmodels.spec import (
    Chip,
    CpuParams,
    Hardware,
    HardwareKind,
    MemoryLevel,
    TensorClass,
    UnitType,
)
from infersim.workloads.ops import CollectiveShape, MatmulShape, Op, OpKind

_MATRIX_KINDS = frozenset({OpKind.MATMUL, OpKind.MOE_EXPERTS, OpKind.ATTENTION,
                           OpKind.MOE_ROUTER})


def served_fractions(working_set_bytes: float, capacities_bytes: Sequence[float]) -> list[float]:
    """Fraction of a reused working set's bytes served by each level, nearest level first.

    `capacities_bytes` lists the capacity of every level but the last, which has no limit.
    Level i serves the part of the working set that fits in it but not in the levels before
    it: (min(W, C_i) − min(W, C_{i−1})) / W. Fractions sum to 1. W ≤ 0 is served by level 0."""
    w = working_set_bytes
    if w <= 0:
        return [1.0] + [0.0] * len(capacities_bytes)
    out: list[float] = []
    below = 0.0
    for cap in capacities_bytes:
        upto = min(w, max(cap, below))
        out.append((upto - below) / w)
        below = upto
    out.append((w - below) / w)
    return out


def seconds_per_byte(working_set_bytes: float, capacities_bytes: Sequence[float],
                     bandwidths_Bps: Sequence[float]) -> float:
    """s(W) = Σ_i f_i(W) / B_i: average seconds per byte of a working set of W bytes over a
    hierarchy with len(bandwidths_Bps) levels (capacities of all but the last)."""
    fr = served_fractions(working_set_bytes, capacities_bytes)
    return sum(f / b for f, b in zip(fr, bandwidths_Bps, strict=True) if f > 0.0)


class _Hierarchy:
    """The levels each tensor class may use, precomputed once per chip."""

    __slots__ = ("by_class", "levels", "ref")

    def __init__(self, chip: Chip):
        self.ref = weakref.ref(chip)
        main = chip.main_memory
        usable = tuple(m for m in chip.memory if not m.external)
        self.levels = usable
        self.by_class: dict[str, tuple[tuple[int, ...], tuple[float, ...], tuple[float, ...]]] = {}
        p = chip.params
        eff_w = p.weight_stream_efficiency if isinstance(p, CpuParams) else 1.0
        for cls in TensorClass:
            idx = tuple(i for i, m in enumerate(usable) if m is main or cls in m.holds)
            caps = tuple(usable[i].capacity_bytes for i in idx[:-1])
            bws = tuple(usable[i].bandwidth_Bps
                        * (eff_w if cls is TensorClass.WEIGHTS and usable[i] is main else 1.0)
                        for i in idx)
            self.by_class[cls.value] = (idx, caps, bws)


_CACHE: dict[int, _Hierarchy] = {}


def _hierarchy(chip: Chip) -> _Hierarchy:
    h = _CACHE.get(id(chip))
    if h is None or h.ref() is not chip:
        h = _Hierarchy(chip)
        _CACHE[id(chip)] = h
    return h


def _level_traffic(h: _Hierarchy, cls: str, nbytes: float, w: float,
                   per_level: list[float]) -> float:
    """Seconds to move `nbytes` of class `cls`; adds the bytes each level serves to
    `per_level`."""
    if nbytes <= 0.0:
        return 0.0
    idx, caps, bws = h.by_class[cls]
    fr = served_fractions(w, caps)
    t = 0.0
    for i, f, b in zip(idx, fr, bws, strict=True):
        if f > 0.0:
            t += nbytes * f / b
            per_level[i] += nbytes * f
    return t


def compute_ceiling(chip: Chip, op: Op) -> float:
    """FLOP/s ceiling for the op: matrix unit (GEMM kernel) for matmul-like ops, vector unit
    (elementwise kernel) for the rest, each falling back to the other when absent; times the
    kernel efficiencies of `CpuParams` (GEMM rows, attention)."""
    first, second = ((UnitType.MATRIX, UnitType.VECTOR) if op.kind in _MATRIX_KINDS
                     else (UnitType.VECTOR, UnitType.MATRIX))
    peak = chip.peak_flops(op.dtype, first) or chip.peak_flops(op.dtype, second)
    p = chip.params
    if isinstance(p, CpuParams):
        if op.kind is OpKind.ATTENTION:
            peak *= p.attention_efficiency
        elif (isinstance(op.shape, MatmulShape) and p.gemm_half_rows > 0
              and op.shape.m >= p.gemm_stream_rows):
            peak *= gemm_row_efficiency(op.shape.m, p.gemm_half_rows)
    return peak


def gemm_row_efficiency(rows: float, half_rows: float) -> float:
    """m / (m + m½): the share of the GEMM ceiling reached with m rows of A, when each tile
    pays a fixed cost worth m½ rows of work (accumulator set-up, B-slab loads)."""
    return rows / (rows + half_rows) if rows > 0 else 0.0


class CpuModel(CostModelBase):
    """Cache-hierarchy cost model of a calibrated host CPU (see module docstring)."""

    kind = HardwareKind.CPU

    def op_cost(self, op: Op, hw: Hardware, ctx: CostContext) -> OpCost:
        chip = hw.chip
        params = chip.params
        overhead = params.call_overhead_s if isinstance(params, CpuParams) else 0.0
        peak = compute_ceiling(chip, op)
        compute_s = op.flops / peak if peak > 0 else 0.0
        floor_c, _, comm_s = roofline_times(op, hw)
        compute_s = max(compute_s, floor_c)
        h = _hierarchy(chip)
        per_level = [0.0] * len(h.levels)
        if isinstance(op.shape, CollectiveShape) and op.shape.group_size > 1:
            memory_s = 0.0
        else:
            b = op.bytes
            w = b.total
            memory_s = (_level_traffic(h, "weights", b.weight, w, per_level)
                        + _level_traffic(h, "kv", b.kv_read + b.kv_write, w, per_level)
                        + _level_traffic(h, "activations", b.act_in + b.act_out, w, per_level))
        work = max(compute_s, memory_s, comm_s)
        t = overhead + work
        if overhead >= work:
            bound = Bound.LATENCY
        elif work == compute_s:
            bound = Bound.COMPUTE
        elif work == memory_s:
            bound = Bound.MEMORY
        else:
            bound = Bound.INTERCONNECT
        energy = (op.flops * chip.mac_energy_j.get(op.dtype, 0.0)
                  + sum(nb * 8.0 * lvl.energy_j_per_bit
                        for nb, lvl in zip(per_level, h.levels, strict=True))
                  + chip.power.idle_w * t)
        return OpCost(t, energy, bound, compute_s, memory_s, comm_s, overhead)


def levels_for(chip: Chip, cls: TensorClass) -> tuple[MemoryLevel, ...]:
    """The memory levels a tensor class may be served from on this chip (nearest first)."""
    h = _hierarchy(chip)
    return tuple(h.levels[i] for i in h.by_class[cls.value][0])
