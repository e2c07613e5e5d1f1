"""Cost model of an edge SoC (kind `soc`): GPU, CPU and NPU sharing one LPDDR memory.

Why a kind of its own: an Apple M-series or Snapdragon chip is not an HBM GPU (no SM/L2
tiling worth modelling for the batch-1 matrix-vector work that dominates on-device LLMs) and
not the calibrated host CPU (its caches are irrelevant when every token streams the whole
model from unified memory). What decides speed is which processor the runtime uses, how much
of the shared bandwidth that processor can draw, and what the runtime's kernels reach:

    time = max(FLOPs / (peak(processor, dtype) × e_mm),
               weight bytes / (BW × f_proc × η_w) + other bytes / (BW × f_proc))
           + t_node

- peak: the compute unit named after the processor (`SocParams.processor`: gpu, cpu, npu);
  `e_mm` (`matmul_efficiency`) applies to matmul-class ops; never above the chip roofline.
- BW: the main (LPDDR) memory; f_proc = `cpu_bandwidth_fraction` on the CPU cluster, 1 on the
  GPU/NPU; η_w = `weight_stream_efficiency` of the runtime's fused dequantize-matmul kernels.
  Weight bytes are the format's real bits per weight (GGUF: `workloads.dtypes`): dequantizing
  happens in registers, so no dequantized copy crosses the bus.
- Batched matmuls on GGUF weights (tokens m > 1, a runtime whose profile sets
  `dequant_tile_tokens`, llama.cpp's Metal `kernel_mul_mm`): each threadgroup dequantizes its
  weight slice itself, so every weight is dequantized ceil(m / tile) times. With V = k·n
  weight values and ops per value split into integer work i (loads, bit ops, conversions)
  and FP work f (scale/min multiply-adds) (`hwmodels.edge_runtimes.DEQUANT_OPS`, weighted
  by the format's block mix `workloads.dtypes.GGUF_BLOCK_MIX`):
      t_x = V · ceil(m / tile) · x / (ALU lanes × clock × e_mm),   x = i or f
  lanes × clock = the processor's FP32 peak / 2 (one instruction per lane per cycle; the
  peak counts an FMA as 2 FLOP); e_mm because the instructions issue inside the same
  kernel, under the same barriers and occupancy as its matrix work. One pipeline for
  integer and FP work (`int_fp_concurrent` false: Apple M1/M2): t_mm + t_f + t_i; separate
  pipelines (M3/A17 Pro on): max(t_mm + t_f, t_i), only the FP part shares the FP pipeline
  with the matrix multiply-accumulates.
- t_node = `kernel_overhead_s`: one graph node's encode/dispatch/barrier, per kernel the runtime
  launches (the mapper fuses element-wise ops into their producers, as llama.cpp does).
- Collectives: a single SoC has no fabric; the shared helper prices them if a system has one.

Energy = FLOPs × J/FLOP + every byte × 8 × LPDDR J/bit (all traffic is DRAM traffic at batch 1)
+ idle (static SoC) power × time.
"""

from __future__ import annotations

import math

from infersim.hwmodels.cost import Bound, CostContext, CostModelBase, OpCost
from infersim.hwmodels.edge_runtimes import DEQUANT_OPS, PROFILES
from infersim.hwmodels.models.common import (
    MATRIX_KINDS,
    collective_time,
    effective_peak,
    finish,
    mac_energy,
    op_peak,
)
from infersim.hwmodels.models.roofline import roofline_times
from infersim.hwmodels.spec import (
    SOC_PROCESSORS,
    ComputeUnit,
    Hardware,
    HardwareKind,
    SocParams,
)
from infersim.workloads.dtypes import GGUF_BLOCK_MIX, DType
from infersim.workloads.ops import CollectiveShape, MatmulShape, Op

_DEFAULT = SocParams()


def soc_params(hw: Hardware, ctx: CostContext | None = None) -> SocParams:
    """The chip's SoC parameters (defaults for a chip of another kind) with the context's
    runtime profile applied."""
    p = hw.chip.params if isinstance(hw.chip.params, SocParams) else _DEFAULT
    if ctx is not None and ctx.profile is not None and ctx.profile.kind is HardwareKind.SOC:
        p = ctx.profile.apply(p)
    return p


def processor_unit(hw: Hardware, p: SocParams) -> ComputeUnit | None:
    """The compute unit the runtime runs on (None: the chip has no unit of that name)."""
    name = SOC_PROCESSORS[min(max(int(p.processor), 0), len(SOC_PROCESSORS) - 1)]
    for u in hw.chip.compute:
        if u.name == name:
            return u
    return None


def unit_peak(u: ComputeUnit, dtype: DType) -> float:
    """Peak FLOP/s of one unit for `dtype`: listed, else the best emulation on a listed dtype
    (a narrower dtype runs at most at the rate of a wider one it is computed in)."""
    direct = u.peak(dtype)
    if direct > 0:
        return direct
    return max((pk * min(1.0, d.bits / dtype.bits) for d, pk in u.peak_flops.items()),
               default=0.0)


def dequant_ops_per_value(dtype: DType) -> tuple[float, float]:
    """(integer, FP) instructions per dequantized value of a GGUF format's block mix
    ((0, 0) for a format the runtime does not dequantize)."""
    mix = GGUF_BLOCK_MIX.get(dtype, ())
    return (sum(w * DEQUANT_OPS[t].int_per_value for t, w in mix),
            sum(w * DEQUANT_OPS[t].fp_per_value for t, w in mix))


def dequant_seconds(op: Op, u: ComputeUnit | None, p: SocParams) -> tuple[float, float]:
    """(integer, FP) seconds of the repeated dequantization inside one batched quantized
    matmul (module docstring); (0, 0) when the op has none."""
    shape = op.shape
    if (p.dequant_tile_tokens <= 0 or u is None or not isinstance(shape, MatmulShape)
            or shape.weight_dtype is None or shape.m <= 1):
        return 0.0, 0.0
    ops_int, ops_fp = dequant_ops_per_value(shape.weight_dtype)
    rate = unit_peak(u, DType.FP32) / 2.0 * p.matmul_efficiency
    if rate <= 0 or ops_int + ops_fp <= 0:
        return 0.0, 0.0
    passes = math.ceil(shape.m / p.dequant_tile_tokens)
    values = float(shape.k) * shape.n * shape.groups * passes
    return values * ops_int / rate, values * ops_fp / rate


class SocModel(CostModelBase):
    """Unified-memory edge SoC running an edge runtime profile (see module docstring)."""

    kind = HardwareKind.SOC
    profiles = PROFILES

    def op_cost(self, op: Op, hw: Hardware, ctx: CostContext) -> OpCost:
        chip = hw.chip
        p = soc_params(hw, ctx)
        floor_c, floor_m, floor_comm = roofline_times(op, hw)
        unit = processor_unit(hw, p)
        peak = unit_peak(unit, op.dtype) if unit is not None else op_peak(chip, op)
        if peak <= 0:
            peak = effective_peak(chip, op.dtype)
        eff = p.matmul_efficiency if op.kind in MATRIX_KINDS else 1.0
        mma_s = op.flops / (peak * eff) if peak > 0 else 0.0
        deq_int_s, deq_fp_s = dequant_seconds(op, unit, p)
        if p.int_fp_concurrent:
            core_s = max(mma_s + deq_fp_s, deq_int_s)
        else:
            core_s = mma_s + deq_fp_s + deq_int_s
        compute_s = max(core_s, floor_c)
        bw = chip.main_memory.bandwidth_Bps
        if SOC_PROCESSORS[min(max(int(p.processor), 0), 2)] == "cpu":
            bw *= p.cpu_bandwidth_fraction
        b = op.bytes
        if isinstance(op.shape, CollectiveShape) and op.shape.group_size > 1:
            memory_s = 0.0
        else:
            memory_s = max(b.weight / (bw * p.weight_stream_efficiency)
                           + (b.total - b.weight) / bw, floor_m)
        band_s, lat_s, wire = collective_time(op, hw.fabric, floor_comm)
        comm_s = band_s + lat_s
        fabric = hw.fabric
        dyn = (op.flops * mac_energy(chip, op.dtype, unit.unit_type if unit else None)
               + b.total * 8.0 * chip.main_memory.energy_j_per_bit
               + wire * 8.0 * (fabric.energy_j_per_bit if fabric is not None else 0.0))
        detail: tuple[tuple[str, float], ...] = (("processor", float(p.processor)),)
        if deq_int_s + deq_fp_s > 0:
            detail += (("dequant_int_s", deq_int_s), ("dequant_fp_s", deq_fp_s))
        return finish({Bound.COMPUTE: compute_s, Bound.MEMORY: memory_s,
                       Bound.INTERCONNECT: comm_s}, p.kernel_overhead_s, dyn,
                      chip.power.idle_w, compute_s=compute_s, memory_s=memory_s,
                      comm_s=comm_s, detail=detail)
