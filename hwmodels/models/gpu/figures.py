"""Per-GPU figures the kernel models share: the spec's parameters, derived once per
`Hardware`, and the main-memory stream (a Little's-law ramp).

A stream of R bytes read and W bytes written takes
`t = t_lat + max(R/(e_r·BW) + W/(e_w·BW), (R+W)/(n_sm·B_inflight/t_lat))`: the HBM latency
once, then the sustained read/write bandwidth (efficiencies e_r, e_w of the peak BW), unless
the kernel runs on so few SMs that the bytes they keep in flight cannot cover the latency.
Small transfers therefore cannot saturate HBM.
"""

from __future__ import annotations

import math
import weakref
from dataclasses import dataclass

from infersim.hwmodels.spec import GpuParams, Hardware, UnitType
from infersim.workloads.dtypes import DType

L2_REUSE_FRACTION = 0.5  # share of L2 an operand may occupy and still be re-used
VECTOR_CLASSES = ("norm", "activation", "rope", "elementwise")
_EIGHT_BIT = (DType.FP8, DType.INT8)


@dataclass(frozen=True, slots=True)
class GpuFigures:
    """Per-hardware figures derived once (hot paths never walk the spec)."""

    sms: int
    l2_bytes: float
    l2_bw: float
    l2_j_bit: float
    hbm_bw: float
    hbm_lat: float
    hbm_j_bit: float
    eff_r: float
    eff_w: float
    inflight: float
    mma_eff: float
    attn_eff: float
    attn_eff_sm80: float  # FlashAttention-2-class kernels (mma.sync); = attn_eff on Ampere
    launch: float
    vec_launch: float  # launch for a vector kernel (gpu.vector_launch_us, else launch)
    link_eff: float
    coll_lat: float
    nvls_eff: float
    ll_step: float  # per-step latency of NCCL's LL ring protocol, 0 = not modelled (s)
    nvls_lat: float  # fixed latency of the NVLS all-reduce, 0 = two fabric steps (s)
    idle_w: float
    l2_lat: float
    l2_eff: float
    red_row_bytes: float
    reread_miss: float
    vec_bps: float
    peak: dict[DType, float]
    vec_peak: dict[DType, float]
    mac_j: dict[DType, float]
    mma_eff_8bit: float  # fp8 / int8 tile-loop efficiency
    mma_eff_fp4: float  # fp4 (block-scaled) tile-loop efficiency
    gemm_bw_eff: float  # 0 = the stream's read/write efficiencies
    attn_dec_bw_eff: float  # decode attention's KV stream share of peak (0 = the stream's)
    attn_dec_sm_rate: float  # decode attention's KV bytes/s per SM where it binds (0 = none)
    attn_dec_cta_rate: float  # FA2 kv-cache decode: KV bytes/s one CTA streams alone (0 = none)
    attn_dec_call: float  # FA2 kv-cache decode: fixed device time per call (s)
    gemm_bw_eff_8bit: float  # fp8 / int8 GEMMs (0 = gemm_bw_eff)
    gemm_p: float  # smooth-max exponent of tile vs stream time (0 = max)
    gemm_fill: float  # GEMM pipeline fill + epilogue drain per kernel (s)
    boost: float  # idle-start SM clock over the sustained one (1 = none)
    boost_tau: float  # its decay time constant under full power (s)
    epi_overlap: bool  # a wave's epilogue hides under the next wave's main loop
    multicast: int  # CTAs per cluster sharing one TMA-multicast operand tile (1 = none)
    vec_eff: dict[str, float]  # per vector-kernel class (VECTOR_CLASSES); 0 = stream's
    wb_bw: float  # rate dirty L2 lines are written back at (elementwise stream, else writes)
    blk_inflight: float  # bytes in flight per block of a one-block-per-token kernel
    fresh_l2: float  # bytes of the previous kernel's output still in L2 (producer_l2_fraction)
    reduce_eff: float  # link efficiency of reducing collectives (0 = link_eff)
    ring_copy: float  # bytes/s a ring all-reduce's channels load + store (0 = no bound)
    p2p_fifo: float  # P2P-read FIFO the sender may run ahead by (bytes; 0 = P2P write)
    p2p_copy_eff: float  # HBM efficiency of the P2P-read sender's local copy (0 = stream's)


_FIGURES: dict[int, tuple[weakref.ref[Hardware], GpuFigures]] = {}


def default_params(hw: Hardware) -> GpuParams:
    """GpuParams for a GPU spec without a `gpu:` block: SM count from the matrix unit count,
    L2 from a memory level named l2, and the class defaults for everything else."""
    chip = hw.chip
    mx = chip.unit(UnitType.MATRIX)
    sms = mx.count if mx is not None else 1
    l2 = next((m.capacity_bytes for m in chip.memory if m.name == "l2"), 0.0)
    return GpuParams(sm_count=sms, l2_bytes=l2, kernel_launch_s=3e-6, host_launch_s=10e-6)


def figures(hw: Hardware) -> GpuFigures:
    key = id(hw)
    hit = _FIGURES.get(key)
    if hit is not None and hit[0]() is hw:
        return hit[1]
    c = _build_figures(hw)

    def _forget(_ref: weakref.ref[Hardware], k: int = key) -> None:
        _FIGURES.pop(k, None)

    _FIGURES[key] = (weakref.ref(hw, _forget), c)
    return c


def _build_figures(hw: Hardware) -> GpuFigures:
    chip = hw.chip
    p = chip.params if isinstance(chip.params, GpuParams) else default_params(hw)
    main = chip.main_memory
    l2 = next((m for m in chip.memory if m.name == "l2"), None)
    l2_bytes = p.l2_bytes or (l2.capacity_bytes if l2 is not None else 0.0)
    # L2 -> SM bandwidth; without an L2 level, operands come at main-memory speed.
    l2_bw = l2.bandwidth_Bps if l2 is not None and l2.bandwidth_Bps > 0 else main.bandwidth_Bps
    peaks: dict[DType, float] = {}
    vec: dict[DType, float] = {}
    for d in DType:
        peaks[d] = chip.peak_flops(d)
        vec[d] = chip.peak_flops(d, UnitType.VECTOR)
    return GpuFigures(
        sms=max(1, int(p.sm_count)), l2_bytes=l2_bytes, l2_bw=l2_bw,
        l2_j_bit=l2.energy_j_per_bit if l2 is not None else 0.0,
        hbm_bw=main.bandwidth_Bps, hbm_lat=main.latency_s, hbm_j_bit=main.energy_j_per_bit,
        eff_r=p.hbm_read_efficiency, eff_w=p.hbm_write_efficiency,
        inflight=p.sm_inflight_bytes, mma_eff=p.mma_efficiency,
        attn_eff=p.attention_efficiency,
        attn_eff_sm80=p.attention_efficiency_sm80 or p.attention_efficiency,
        launch=p.kernel_launch_s,
        vec_launch=p.vector_launch_s or p.kernel_launch_s,
        link_eff=p.link_efficiency, coll_lat=p.collective_latency_s,
        nvls_eff=p.nvls_efficiency, ll_step=p.ll_step_latency_s,
        nvls_lat=p.nvls_latency_s, idle_w=chip.power.idle_w,
        l2_lat=(l2.latency_s if l2 is not None and l2.latency_s > 0 else main.latency_s),
        l2_eff=p.l2_efficiency, red_row_bytes=p.reduction_row_bytes,
        reread_miss=p.reduction_reread_miss, vec_bps=max(1.0, p.vector_blocks_per_sm),
        peak=peaks, vec_peak=vec, mac_j=dict(chip.mac_energy_j),
        mma_eff_8bit=p.mma_efficiency_fp8 or p.mma_efficiency,
        mma_eff_fp4=p.mma_efficiency_fp4 or p.mma_efficiency,
        gemm_bw_eff=p.gemm_bw_efficiency,
        attn_dec_bw_eff=p.decode_attention_bw_efficiency,
        attn_dec_sm_rate=p.decode_attention_sm_bytes_per_cycle * chip.clock_hz,
        attn_dec_cta_rate=p.decode_cta_bytes_per_cycle * chip.clock_hz,
        attn_dec_call=p.decode_call_s,
        gemm_bw_eff_8bit=p.gemm_bw_efficiency_fp8 or p.gemm_bw_efficiency,
        gemm_p=p.gemm_overlap_exponent,
        gemm_fill=p.gemm_fill_s, boost=p.clock_boost, boost_tau=p.boost_tau_s,
        epi_overlap=bool(p.epilogue_overlap), multicast=max(1, int(p.tma_multicast)),
        vec_eff={"norm": p.norm_bw_efficiency, "activation": p.activation_bw_efficiency,
                 "rope": p.rope_bw_efficiency, "elementwise": p.elementwise_bw_efficiency},
        wb_bw=main.bandwidth_Bps * (p.elementwise_bw_efficiency or p.hbm_write_efficiency),
        blk_inflight=p.vector_block_inflight_bytes,
        fresh_l2=p.producer_l2_fraction * l2_bytes, reduce_eff=p.allreduce_bw_efficiency,
        ring_copy=p.ring_copy_Bps,
        p2p_fifo=p.p2p_read_fifo_bytes, p2p_copy_eff=p.p2p_copy_efficiency,
    )


def params(hw: Hardware) -> GpuParams:
    """The GPU parameters of `hw` (the spec's `gpu:` block, or defaults)."""
    p = hw.chip.params
    return p if isinstance(p, GpuParams) else default_params(hw)


# ------------------------------------------------------------------------------------------
# Memory stream (Little's law ramp)
# ------------------------------------------------------------------------------------------


def stream_time(c: GpuFigures, read: float, write: float, active_sms: float,
                efficiency: float = 0.0, sm_rate: float = 0.0) -> float:
    """Seconds to read `read` and write `write` bytes of main memory from `active_sms` SMs.
    `efficiency` > 0: the kernel class's own sustained fraction of peak for both directions
    (measured per class) instead of the generic read/write efficiencies. `sm_rate` > 0: each
    SM streams at most this many bytes/s (a TMA-pipelined kernel, whose shared-memory stages
    keep far more in flight than Little's law on `sm_inflight_kib` asks, is held by the SM's
    share of the L2 bandwidth instead)."""
    if efficiency > 0.0:
        t_bw = (read + write) / (c.hbm_bw * efficiency)
    else:
        t_bw = read / (c.hbm_bw * c.eff_r) + write / (c.hbm_bw * c.eff_w)
    if sm_rate > 0.0:
        t_bw = max(t_bw, (read + write) / (max(1.0, active_sms) * sm_rate))
    elif c.hbm_lat > 0.0:
        cap = max(1.0, active_sms) * c.inflight / c.hbm_lat
        t_bw = max(t_bw, (read + write) / cap)
    return c.hbm_lat + t_bw


def dirty_writeback_s(c: GpuFigures, accessed: float, write: float) -> float:
    """Seconds to write back the main-memory writes of a kernel that are still dirty in L2
    when it ends. L2 is a write-back cache that keeps the lines the kernel touched last; of
    the kernel's L2 accesses (`accessed`: every byte through L2, re-reads included) the
    written share is dirty, so min(write, L2 x write / accessed) bytes remain, written back
    at the elementwise stream's rate (`elementwise_bw_efficiency`; the generic write
    efficiency without one) by whatever evicts them. A streaming kernel touches each line
    once, so about a third of an add's lines are dirty at its end. Checked on the
    H200 flush probe (validation/data/gpu/h200-sxm-2026-12-04/run7: a read flush after add /
    silu of 1-64 M elements runs 0.3-6.8 us longer than after a flush, ~0.95 of peak
    bandwidth over the dirty bytes this gives)."""
    if write <= 0.0 or c.l2_bytes <= 0.0 or c.wb_bw <= 0.0:
        return 0.0
    return min(write, c.l2_bytes * write / max(accessed, write)) / c.wb_bw


def matrix_peak(c: GpuFigures, dtype: DType) -> float:
    p = c.peak.get(dtype, 0.0)
    if p > 0.0:
        return p
    # A dtype the chip cannot compute in (e.g. int4 activations): it is up-converted.
    return c.peak.get(DType.FP16, 0.0) or c.peak.get(DType.BF16, 0.0) or max(c.peak.values())


def mma_efficiency(c: GpuFigures, dtype: DType) -> float:
    """Sustained share of the matrix peak of `dtype` inside a large GEMM tile loop."""
    native = c.peak.get(dtype, 0.0) > 0.0  # else up-converted: runs on the 16-bit pipe
    if not native:
        return c.mma_eff
    if dtype.mma_format is DType.FP4:
        return c.mma_eff_fp4
    return c.mma_eff_8bit if dtype in _EIGHT_BIT else c.mma_eff


def gemm_bw_efficiency(c: GpuFigures, dtype: DType) -> float:
    """Sustained share of peak main-memory bandwidth a GEMM of `dtype` streams its operands
    at (0 = the stream's read/write efficiencies)."""
    native = c.peak.get(dtype, 0.0) > 0.0
    return c.gemm_bw_eff_8bit if dtype in _EIGHT_BIT and native else c.gemm_bw_eff


def vector_peak(c: GpuFigures, dtype: DType) -> float:
    # Elementwise kernels compute in fp32 registers whatever the storage dtype.
    return (c.vec_peak.get(dtype, 0.0) or c.vec_peak.get(DType.FP32, 0.0)
            or max(c.vec_peak.values(), default=0.0) or matrix_peak(c, DType.FP32))


def mac_energy_j(c: GpuFigures, dtype: DType) -> float:
    if dtype in c.mac_j:
        return c.mac_j[dtype]
    return min(c.mac_j.values(), default=0.0)


def boost_factor(t_s: float, ratio: float, tau_s: float) -> float:
    """Mean SM clock, over the sustained one, of tensor-core work that takes `t_s` seconds at
    the sustained clock when it starts on an idle GPU: the clock starts `ratio` x higher and
    the power limiter brings it down with time constant `tau_s`,
    1 + (ratio - 1)(tau/t)(1 - exp(-t/tau)): `ratio` for t -> 0, 1 for t >> tau."""
    if ratio <= 1.0 or tau_s <= 0.0:
        return 1.0
    if t_s <= 0.0:
        return ratio
    return 1.0 + (ratio - 1.0) * (tau_s / t_s) * -math.expm1(-t_s / tau_s)
