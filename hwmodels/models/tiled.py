"""Cost models of tiled matrix-unit chips fed from DRAM: kind `systolic` (TPU v5e/v5p: MXU
systolic arrays, HBM, ICI torus) and kind `mesh` (Tenstorrent Wormhole: a grid of Tensix
cores with local SRAM, GDDR6, Ethernet scale-out). One mechanism, two kinds: they differ in
tile size, software stack (XLA/JetStream vs tt-metal) and fabric, which are spec and profile
values, not code.

For one execution of an op on one chip (clock f, U = the `matrix` unit's count, d =
`array_dim`, r = `row_granule`):

    matmul (M, K, N, groups):  tiles  = groups · ⌈K/d⌉ · ⌈N/d⌉ weight tiles of d × d
                               M'     = ⌈M·imbalance / r⌉ · r   (rows padded to the granule)
                               t_tile = max(2·d²·M' / (peak / U), d / f)
                               compute = ⌈tiles / U⌉ · t_tile
    attention:                 max(FLOPs · (⌈hd/d⌉·d / hd) · (⌈q/r⌉·r / q) / matrix peak,
                                   ⌈KV tiles / U⌉ · d / f),
                               q = query rows per KV head (heads / kv_heads · q_len);
                               KV tiles = batch · kv_heads · ⌈T/d⌉ · (⌈hd/d⌉ + ⌈dv/d⌉) for
                               T cached tokens: every K and V tile of a sequence is loaded
                               into the array for that sequence's few query rows alone
    dequantize:                values stored narrower than the compute dtype (int8 weights,
                               int8 KV under bf16 activations) are converted on the vector
                               unit, `dequant_ops_per_value` lane-ops each at the vector
                               unit's lane rate (its peak / 2: one FMA = 2 FLOP); the vector
                               unit pushes the matrix unit's operands, so this time adds to
                               the matrix time. With `dequant_materialized` the converted
                               copy also goes to main memory and back: + 2 × compute-dtype
                               bytes per value. `kv_scale_bytes` per cached token per layer
                               are read beside a narrow KV cache.
    other ops:                 FLOPs / vector peak
    memory:                    bytes / (main-memory bandwidth · memory_efficiency)
    collective:                the fabric's native schedule (`collectives.native_plan`: torus
                               rings along each dimension) at link_efficiency
    time = max(compute + dequantize, memory, collective) + op_overhead

- A weight tile is stationary: the unit streams M' rows through it at its peak rate and
  loads the next tile (d cycles) behind them, so a skinny matmul (decode, M' < d) is bound by
  tile loads; a 129-wide matmul costs what a 256-wide one costs on a 128 array.
- Peaks are count × flop_per_cycle × clock (the loader derives them), so more units, a
  faster clock or a wider memory are never slower.
- `op_overhead` (issue, synchronisation, pipeline fill of one compiled op) is the software
  constant of a runtime profile (`SystolicModel.profiles`, `MeshModel.profiles`), fitted on one
  published row each by `validation/datasets/published_asic.py` (the others held out). The
  dequantization values of a profile are read from its software's source, not fitted.

Energy = FLOPs × J/FLOP + dequantize lane-ops × the vector unit's J/FLOP + (bytes + extra
dequantize bytes) × 8 × main-memory J/bit + wire bytes × 8 × link J/bit + idle power × time.
Never below `roofline_times`.
"""

from __future__ import annotations

import math

from infersim.hwmodels import collectives
from infersim.hwmodels.cost import Bound, CostContext, CostModelBase, OpCost, RuntimeProfile
from infersim.hwmodels.models.common import (
    effective_peak,
    finish,
    mac_energy,
    op_peak,
    op_unit,
)
from infersim.hwmodels.models.roofline import roofline_times
from infersim.hwmodels.spec import (
    Hardware,
    HardwareKind,
    MeshParams,
    SystolicParams,
    UnitType,
)
from infersim.workloads.ops import AttentionShape, CollectiveShape, MatmulShape, Op, OpKind

FIT_SOURCE = "validation/datasets/published_asic.py (python -m infersim.validation.datasets." \
             "published_asic --fit)"

# jetstream-pytorch as benchmarked in March-April 2024 (github.com/AI-Hypercomputer/
# jetstream-pytorch, jetstream_pt/layers.py and cache_manager.py at b7ebb23 (2024-03-22) and
# 90ef0f3 (2024-04-23)): int8 weights are weight-only (`F.linear(bf16 x, int8 W) * scaler`:
# the int8 operand is promoted to bf16, the MXU runs bf16, the per-channel scale multiplies
# the output); the int8 KV cache is read by the same mixed einsum (keys promoted to bf16) with
# one bf16 scale per token for K and one for V (shape (batch, 1, cache, 1), replicated on
# every chip) multiplying the scores. So each stored int8 value costs one convert on the
# vector unit and nothing else; XLA fuses the convert into the dot (an unfused bf16 copy of
# the cache would make int8 slower than bf16, which the published pairs rule out). Its
# `repeat_kv` broadcast of K and V to every query head is folded into the dot (the KV tiles
# are priced per KV head): unfolded, the Llama-3-8B bf16 calibration row's attention alone
# would take 11.2 ms of its 11.9 ms decode step.
_JETSTREAM_DEQUANT = (("dequant_ops_per_value", 1.0), ("dequant_materialized", 0.0),
                      ("kv_scale_bytes", 4.0))

SYSTOLIC_PROFILES: dict[str, RuntimeProfile] = {
    # JetStream (MaxText / PyTorch-XLA engines, 2024): XLA compiles the whole decode step;
    # its one fitted constant is the fixed time of a compiled op.
    "jetstream-2024": RuntimeProfile(
        "jetstream-2024", HardwareKind.SYSTOLIC,
        (("op_overhead_s", 4.052e-6), *_JETSTREAM_DEQUANT),
        "op_overhead_s fitted on jetstream-pytorch Llama-3-8B bf16 on v5e-8 (8,249 tok/s, "
        "2024-04-24); " + FIT_SOURCE + "; dequantization from jetstream_pt/layers.py and "
        "cache_manager.py at commits b7ebb23 and 90ef0f3 (one convert per int8 value, scales "
        "on the outputs, 2 bf16 scales per cached token)"),
}
MESH_PROFILES: dict[str, RuntimeProfile] = {
    # tt-metal / TT-NN with trace capture (2025 releases): host dispatch is replayed from a
    # trace; what remains per op is the on-device launch and core synchronisation.
    "tt-metal-2025": RuntimeProfile(
        "tt-metal-2025", HardwareKind.MESH, (("op_overhead_s", 4.303e-5),),
        "fitted on tt-metal Llama-3.1-8B batch 32 on n150 (26.0 t/s/u, v0.62.0-rc35) with the "
        "demo's Bfp4_b/Bfp8_b weight and Bfp8_b KV storage; "
        + FIT_SOURCE),
    # tt-metal's Galaxy-specific Llama-3 70B demo (models/demos/llama3_70b_galaxy, 2025): a
    # prefetcher sub-device streams the next matmul's weights from DRAM into an L1 ring
    # buffer while other ops run, collectives are fused with matmuls and use persistent
    # buffers, the decode step is a replayed trace. Its fixed cost per op is MEASURED, not
    # fitted: the mean op-to-op gap of the 16 ops of a decoder layer (0.728 us) plus the
    # kernel time of its smallest op (RotaryEmbeddingLlamaFusedQK, 2.234 us, a few KB of
    # data), from the demo's device-profiler targets tests/decoder_perf_targets_6u.json
    # (tt-metal commit 02cd859b857d6f03107c831e180a7d7cc8d1b059).
    "tt-galaxy-2025": RuntimeProfile(
        "tt-galaxy-2025", HardwareKind.MESH, (("op_overhead_s", 2.962e-6),),
        "measured: mean op_to_op 0.728 us + RotaryEmbeddingLlamaFusedQK kernel 2.234 us, "
        "tenstorrent/tt-metal models/demos/llama3_70b_galaxy/tests/decoder_perf_targets_6u"
        ".json at 02cd859b857d6f03107c831e180a7d7cc8d1b059"),
}

_MATMUL_KINDS = frozenset({OpKind.MATMUL, OpKind.MOE_EXPERTS, OpKind.MOE_ROUTER})


def _pad(x: float, q: int) -> float:
    """x rounded up to a multiple of q (q ≥ 1; x > 0)."""
    return math.ceil(x / q) * q if x > 0 else 0.0


def matmul_compute_s(shape: MatmulShape, peak: float, units: int, dim: int, granule: int,
                     clock_hz: float) -> float:
    """Seconds of the matrix units for a matmul: whole d × d weight tiles over U units in
    waves, each tile streaming M' padded rows at the unit's rate or waiting for its d-cycle
    weight load, whichever is longer."""
    if peak <= 0 or units < 1:
        return 0.0
    tiles = shape.groups * math.ceil(shape.k / dim) * math.ceil(shape.n / dim)
    rows = _pad(shape.m * max(1.0, shape.imbalance), granule)
    t_tile = 2.0 * dim * dim * rows / (peak / units)
    if clock_hz > 0:
        t_tile = max(t_tile, dim / clock_hz)
    return math.ceil(tiles / units) * t_tile


def kv_stream_s(shape: AttentionShape, units: int, dim: int, clock_hz: float) -> float:
    """Seconds to load every K and V tile of the cache into the matrix units: each sequence
    and KV head has its own K (T × hd) and V (T × dv), used by only that head's query rows,
    so every d × d tile is loaded once (d cycles) whatever the query count."""
    if clock_hz <= 0 or units < 1:
        return 0.0
    t = math.ceil(shape.kv_tokens / dim)
    tiles = shape.batch * shape.kv_heads * t * (math.ceil(shape.head_dim / dim)
                                                + math.ceil(shape.dv / dim))
    return math.ceil(tiles / units) * dim / clock_hz


def narrow_values(op: Op) -> float:
    """Stored weight or KV values of `op` narrower than its compute dtype (converted before
    the matrix unit): k·n·groups of a matmul with narrower weights, the cached values read by
    an attention with a narrower KV cache; 0 otherwise."""
    shape, wide = op.shape, op.dtype.bits_per_weight
    if isinstance(shape, MatmulShape) and shape.weight_dtype is not None \
            and shape.weight_dtype.bits_per_weight < wide:
        return float(shape.k) * shape.n * shape.groups
    if isinstance(shape, AttentionShape) and shape.kv_dtype.bits_per_weight < wide:
        return op.bytes.kv_read / shape.kv_dtype.bytes
    return 0.0


def attention_padding(shape: AttentionShape, dim: int, granule: int) -> float:
    """Factor ≥ 1 by which tile padding inflates attention FLOPs: head_dim to the array side,
    query rows per KV head to the row granule."""
    hd = max(shape.head_dim, shape.v_head_dim or shape.head_dim)
    q = max(1, shape.heads // max(1, shape.kv_heads)) * max(1, shape.q_len)
    return (_pad(hd, dim) / hd) * (_pad(q, granule) / q)


class TiledModel(CostModelBase):
    """Shared mechanism of the `systolic` and `mesh` kinds (see the module docstring)."""

    params_cls: type[SystolicParams] = SystolicParams

    def _params(self, hw: Hardware, ctx: CostContext) -> SystolicParams:
        chip = hw.chip
        p = chip.params if isinstance(chip.params, SystolicParams) else self.params_cls()
        if ctx.profile is not None and ctx.profile.kind == self.kind:
            p = ctx.profile.apply(p)
        return p

    def op_cost(self, op: Op, hw: Hardware, ctx: CostContext) -> OpCost:
        chip = hw.chip
        p = self._params(hw, ctx)
        floor_c, floor_m, floor_comm = roofline_times(op, hw)
        shape = op.shape
        fabric = hw.fabric
        compute_s, memory_s, comm_s, wire, hop_s = floor_c, 0.0, 0.0, 0.0, 0.0
        dq_ops, dq_bytes = 0.0, 0.0
        matrix = chip.unit(UnitType.MATRIX)
        units = matrix.count if matrix is not None else 1
        if isinstance(shape, CollectiveShape):
            if fabric is not None and shape.group_size > 1:
                plan = collectives.native_plan(shape, fabric, p.link_efficiency)
                comm_s = max(plan.bandwidth_s, floor_comm - fabric.latency_s)
                hop_s, wire = plan.latency_s, plan.wire_bytes
        else:
            memory_s = op.bytes.total / (chip.main_memory.bandwidth_Bps * p.memory_efficiency)
            peak = op_peak(chip, op)
            if isinstance(shape, MatmulShape) and op.kind in _MATMUL_KINDS:
                mpeak = effective_peak(chip, op.dtype, UnitType.MATRIX)
                if mpeak > 0:
                    compute_s = max(compute_s, matmul_compute_s(
                        shape, mpeak, units, p.array_dim, p.row_granule, chip.clock_hz))
                elif peak > 0:
                    compute_s = max(compute_s, op.flops / peak)
            elif isinstance(shape, AttentionShape) and peak > 0:
                compute_s = max(compute_s, op.flops * attention_padding(
                    shape, p.array_dim, p.row_granule) / peak,
                    kv_stream_s(shape, units, p.array_dim, chip.clock_hz))
            elif peak > 0:
                compute_s = max(compute_s, op.flops / peak)
            dq_ops, dq_bytes = self._dequant(op, p)
            lane_rate = effective_peak(chip, op.dtype, UnitType.VECTOR) / 2.0  # FMA = 2 FLOP
            compute_s += dq_ops / lane_rate if lane_rate > 0 else 0.0
            memory_s += dq_bytes / (chip.main_memory.bandwidth_Bps * p.memory_efficiency)
        overhead = hop_s + p.op_overhead_s
        energy = (op.flops * mac_energy(chip, op.dtype, op_unit(op))
                  + dq_ops * mac_energy(chip, op.dtype, UnitType.VECTOR)
                  + (op.bytes.total + dq_bytes) * 8 * chip.main_memory.energy_j_per_bit
                  + (wire * 8 * fabric.energy_j_per_bit if fabric is not None else 0.0))
        terms = {Bound.COMPUTE: compute_s, Bound.MEMORY: max(memory_s, floor_m),
                 Bound.INTERCONNECT: comm_s}
        return finish(terms, overhead, energy, chip.power.idle_w, compute_s=compute_s,
                      memory_s=max(memory_s, floor_m), comm_s=comm_s,
                      detail=(("hop_s", hop_s), ("array_dim", float(p.array_dim))))

    @staticmethod
    def _dequant(op: Op, p: SystolicParams) -> tuple[float, float]:
        """(vector-unit lane-ops, extra main-memory bytes) of converting `op`'s narrow stored
        values to its compute dtype (see the module docstring)."""
        values = narrow_values(op)
        if values <= 0:
            return 0.0, 0.0
        extra = 0.0
        if isinstance(op.shape, AttentionShape) and p.kv_scale_bytes > 0:
            s = op.shape
            extra += s.batch * s.kv_tokens * p.kv_scale_bytes
        if p.dequant_materialized > 0:
            extra += 2.0 * values * op.dtype.bytes  # written once, read back once
        return values * p.dequant_ops_per_value, extra


class SystolicModel(TiledModel):
    """TPU-style chip: MXU systolic arrays, HBM, ICI torus, XLA-compiled step."""

    kind = HardwareKind.SYSTOLIC
    params_cls = SystolicParams
    profiles = SYSTOLIC_PROFILES


class MeshModel(TiledModel):
    """Tenstorrent-style chip: a grid of Tensix cores on 32 × 32 tiles, GDDR6, Ethernet."""

    kind = HardwareKind.MESH
    params_cls = MeshParams
    profiles = MESH_PROFILES
