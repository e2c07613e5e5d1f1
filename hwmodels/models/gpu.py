"""GPU (HBM) cost model: device time and energy of one kernel on one GPU.

What it models (design §5), each with a physical parameter of the spec (`GpuParams`, memory
levels, interconnect):

- Memory: a Little's-law ramp. A stream of R bytes read and W bytes written takes
  `t = t_lat + max(R/(e_r·BW) + W/(e_w·BW), (R+W)/(n_sm·B_inflight/t_lat))`: the HBM latency
  once, then the sustained read/write bandwidth (efficiencies e_r, e_w of the peak BW), unless
  the kernel runs on so few SMs that the bytes they keep in flight cannot cover the latency.
  Small transfers therefore cannot saturate HBM.
- Fixed kernel cost: `kernel_launch_s` (launch latency + ramp-up + tail) on every kernel.
  Host-side launch overhead (eager runtime) is the mapper's business: it lays kernels on a
  host/device timeline.
- GEMMs (matmul, MoE experts, router): a tile search over CUTLASS-like thread-block tiles
  (`TILES`) and split-K factors (`SPLITS`), keeping the fastest. A tile's main loop runs
  ceil(K/split/tk) iterations, each max(tile FLOPs on one SM's share of the matrix peak ×
  `mma_efficiency`, tile operand bytes over one SM's share of the L2 bandwidth); tiles run in
  waves of `sm_count` (wave quantization). Operands are re-read from HBM when they do not fit
  in (half of) the L2: A once per wave-column of tiles, B once per wave-row. Split-K writes and
  re-reads fp32 partials. The kernel takes the max of the tile-wave time and the HBM stream
  time, so a small-M GEMV is memory-bound and a large GEMM compute-bound at the tile's
  efficiency. Matrix pipes serve every dtype the chip's matrix unit lists.
- Attention: flash-attention prefill (one thread block per (batch, head, 128-query block),
  causal blocks skip masked key blocks, compute at `attention_efficiency` of the GEMM rate,
  waves over SMs, K/V re-read when a wave's heads do not fit in L2) and flash-decoding
  (one block per (batch, kv-head, KV split); the split count is searched so that few heads
  still spread the KV read over many SMs; a combine kernel when split > 1). The faster of
  the applicable algorithms is kept.
- Vector ops (norms, elementwise, RoPE, KV writes, embedding gathers): CUDA-core FLOPs vs
  the memory stream, with thread blocks of 4096 elements (of the larger of input and
  output, so row reductions spread over many SMs).
- Collectives over NVLink/NVSwitch: ring (2(g−1) link hops, 2(g−1)/g·B on the wire),
  two-shot and one-shot direct algorithms on a switch, and in-switch reduction (NVLS, at
  `nvls_efficiency` of the link bandwidth) where the fabric has it; time = call latency +
  hops × link latency + wire bytes / (link bandwidth × `link_efficiency`); the fastest
  algorithm is kept. Every candidate moves at least the floor's bytes per chip
  (`collective_floor_bytes`: m for an all-reduce, which NVLS reaches) at efficiencies ≤ 1
  over at least one hop, so it respects the shared floor without a clamp.
- Energy: FLOPs × J/FLOP(dtype) + HBM bits (incl. re-reads) × J/bit + L2 bits × J/bit + link
  bits × J/bit + idle power × time.

Every result is at least the shared roofline floor (`roofline_times`) plus the fixed kernel
cost: efficiencies are ≤ 1, tiles cover the whole problem, HBM bytes include every compulsory
byte. Valid for dense GEMM/attention shapes of LLM inference; grouped (MoE) GEMMs are priced
as one grouped kernel whose busiest group scales the tile work by `imbalance`.
"""

from __future__ import annotations

import math
import weakref
from dataclasses import dataclass

from infersim.hwmodels.cost import Bound, CostContext, OpCost
from infersim.hwmodels.spec import GpuParams, Hardware, HardwareKind, Topology, UnitType
from infersim.workloads.dtypes import DType
from infersim.workloads.ops import (
    AttentionShape,
    Collective,
    CollectiveShape,
    MatmulShape,
    Op,
    OpKind,
    VectorShape,
)

# CUTLASS-like thread-block tiles (rows of A × columns of B). Larger tiles re-use operands
# more (fewer L2 bytes per FLOP); smaller ones waste less on ragged edges and fill more SMs.
TILES: tuple[tuple[int, int], ...] = (
    (256, 128), (128, 256), (128, 128), (128, 64), (64, 128), (64, 64),
)
SPLITS: tuple[int, ...] = (1, 2, 3, 4, 6, 8, 12, 16)
KV_SPLITS: tuple[int, ...] = (1, 2, 4, 8, 16, 32, 64, 128)
_TILE_K_BYTES = 128  # bytes of K per main-loop iteration per operand row (64 bf16, 128 fp8)
_MIN_SPLIT_K = 256  # split-K keeps at least this many K elements per split
_VEC_ELEMS_PER_BLOCK = 4096  # elements one thread block of a vector kernel handles
_L2_REUSE_FRACTION = 0.5  # share of L2 an operand may occupy and still be re-used
_FLASH_BLOCK_Q = 128  # query rows per flash-attention thread block (64 if head_dim > 128)
_FLASH_BLOCK_K = 64  # keys per flash-attention inner iteration
_DECODE_MIN_ROWS = 16  # MMA minimum rows: decode attention pads query rows up to this
_MIN_KV_CHUNK = 64  # flash-decoding keeps at least this many keys per split
# Eager PyTorch softmax keeps a row in registers (one warp per row, "persistent softmax") only
# up to 1024 elements (aten/src/ATen/native/cuda/SoftMax.cu, dim_size <= 1024); longer rows
# run one thread block per row that passes over the row in memory: max, sum of exp, normalize.
_SOFTMAX_ROW_IN_REGISTERS = 1024
_SOFTMAX_PASSES = 3  # max, sum of exp, normalize (+ the write)
_LAYERNORM_PASSES = 3  # mean, variance, normalize (+ the write)
_RMSNORM_PASSES = 2  # sum of squares, normalize (+ the write)
_LAYERNORM_FPE = 7.0  # FLOP/element at and above which a norm is a LayerNorm (builder)

ALGORITHMS = ("ring", "two_shot", "one_shot", "nvls", "p2p", "direct")  # collective codes


@dataclass(frozen=True, slots=True)
class _Consts:
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
    launch: float
    link_eff: float
    coll_lat: float
    nvls_eff: float
    idle_w: float
    l2_lat: float
    l2_eff: float
    red_row_bytes: float
    reread_miss: float
    vec_bps: float
    peak: dict[DType, float]
    vec_peak: dict[DType, float]
    mac_j: dict[DType, float]


_CONSTS: dict[int, tuple[weakref.ref[Hardware], _Consts]] = {}


def default_params(hw: Hardware) -> GpuParams:
    """GpuParams for a GPU spec without a `gpu:` block: SM count from the matrix unit count,
    L2 from a memory level named l2, and the class defaults for everything else."""
    chip = hw.chip
    mx = chip.unit(UnitType.MATRIX)
    sms = mx.count if mx is not None else 1
    l2 = next((m.capacity_bytes for m in chip.memory if m.name == "l2"), 0.0)
    return GpuParams(sm_count=sms, l2_bytes=l2, kernel_launch_s=3e-6, host_launch_s=10e-6)


def _consts(hw: Hardware) -> _Consts:
    key = id(hw)
    hit = _CONSTS.get(key)
    if hit is not None and hit[0]() is hw:
        return hit[1]
    c = _build_consts(hw)

    def _forget(_ref: weakref.ref[Hardware], k: int = key) -> None:
        _CONSTS.pop(k, None)

    _CONSTS[key] = (weakref.ref(hw, _forget), c)
    return c


def _build_consts(hw: Hardware) -> _Consts:
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
    return _Consts(
        sms=max(1, int(p.sm_count)), l2_bytes=l2_bytes, l2_bw=l2_bw,
        l2_j_bit=l2.energy_j_per_bit if l2 is not None else 0.0,
        hbm_bw=main.bandwidth_Bps, hbm_lat=main.latency_s, hbm_j_bit=main.energy_j_per_bit,
        eff_r=p.hbm_read_efficiency, eff_w=p.hbm_write_efficiency,
        inflight=p.sm_inflight_bytes, mma_eff=p.mma_efficiency,
        attn_eff=p.attention_efficiency, launch=p.kernel_launch_s,
        link_eff=p.link_efficiency, coll_lat=p.collective_latency_s,
        nvls_eff=p.nvls_efficiency, idle_w=chip.power.idle_w,
        l2_lat=(l2.latency_s if l2 is not None and l2.latency_s > 0 else main.latency_s),
        l2_eff=p.l2_efficiency, red_row_bytes=p.reduction_row_bytes,
        reread_miss=p.reduction_reread_miss, vec_bps=max(1.0, p.vector_blocks_per_sm),
        peak=peaks, vec_peak=vec, mac_j=dict(chip.mac_energy_j),
    )


def params(hw: Hardware) -> GpuParams:
    """The GPU parameters of `hw` (the spec's `gpu:` block, or defaults)."""
    p = hw.chip.params
    return p if isinstance(p, GpuParams) else default_params(hw)


# ------------------------------------------------------------------------------------------
# Memory stream (Little's law ramp)
# ------------------------------------------------------------------------------------------


def stream_time(c: _Consts, read: float, write: float, active_sms: float) -> float:
    """Seconds to read `read` and write `write` bytes of main memory from `active_sms` SMs."""
    t_bw = read / (c.hbm_bw * c.eff_r) + write / (c.hbm_bw * c.eff_w)
    if c.hbm_lat > 0.0:
        cap = max(1.0, active_sms) * c.inflight / c.hbm_lat
        t_bw = max(t_bw, (read + write) / cap)
    return c.hbm_lat + t_bw


def _peak(c: _Consts, dtype: DType) -> float:
    p = c.peak.get(dtype, 0.0)
    if p > 0.0:
        return p
    # A dtype the chip cannot compute in (e.g. int4 activations): it is up-converted.
    return c.peak.get(DType.FP16, 0.0) or c.peak.get(DType.BF16, 0.0) or max(c.peak.values())


def _vec_peak(c: _Consts, dtype: DType) -> float:
    # Elementwise kernels compute in fp32 registers whatever the storage dtype.
    return (c.vec_peak.get(dtype, 0.0) or c.vec_peak.get(DType.FP32, 0.0)
            or max(c.vec_peak.values(), default=0.0) or _peak(c, DType.FP32))


def _mac_j(c: _Consts, dtype: DType) -> float:
    if dtype in c.mac_j:
        return c.mac_j[dtype]
    return min(c.mac_j.values(), default=0.0)


# ------------------------------------------------------------------------------------------
# GEMM
# ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class GemmChoice:
    """One evaluated GEMM mapping: tile, split-K, and the times and bytes it implies."""

    tile_m: int
    tile_n: int
    split_k: int
    ctas: int
    waves: int
    tile_s: float  # tile-wave (compute/L2-feed) time
    memory_s: float  # HBM stream time incl. re-reads
    compute_s: float  # pure MMA time of the tiles (≤ tile_s)
    feed_bound: bool  # the tile loop waits on L2 operand feed rather than on the MMA pipe
    read_bytes: float
    write_bytes: float
    l2_bytes: float
    reads_a: int
    reads_b: int
    time_s: float  # kernel body: max(tile_s, memory_s) (+ split-K handshake)


def gemm_candidate(c: _Consts, m: int, k: int, n: int, groups: int, a_b: float, w_b: float,
                   o_b: float, peak: float, tm: int, tn: int, split: int,
                   imbalance: float = 1.0) -> GemmChoice:
    """Time of an (m×k)·(k×n) GEMM (× groups) with thread-block tile tm×tn and split-K."""
    tiles_m = -(-m // tm)
    tiles_n = -(-n // tn)
    tiles = groups * tiles_m * tiles_n
    ctas = tiles * split
    sms = c.sms
    waves = -(-ctas // sms)
    tk = max(16, int(_TILE_K_BYTES / min(a_b, w_b)))
    k_split = -(-k // split)
    k_iters = -(-k_split // tk)
    peak_sm = peak * c.mma_eff / sms
    t_mma = 2.0 * tm * tn * tk / peak_sm
    t_feed = (tm * a_b + tn * w_b) * tk / (c.l2_bw / sms)
    t_iter = max(t_mma, t_feed)
    out_b = 4.0 if split > 1 else o_b  # split-K partials are fp32
    t_cta = c.hbm_lat + k_iters * t_iter + tm * tn * out_b / (c.l2_bw / sms)
    tile_s = waves * t_cta * imbalance
    compute_s = waves * k_iters * t_mma * imbalance
    # HBM traffic with L2 re-use: a wave covers ~wm × wn tiles of the output.
    a_tot = float(m) * k * groups * a_b
    b_tot = float(k) * n * groups * w_b
    c_tot = float(m) * n * groups * o_b
    l2u = c.l2_bytes * _L2_REUSE_FRACTION
    in_flight = max(1, min(tiles, sms // split if split <= sms else 1))
    wm = max(1, min(tiles_m, math.isqrt(in_flight)))
    wn = max(1, min(tiles_n, in_flight // wm))
    ra = 1 if a_tot / groups <= l2u else -(-tiles_n // wn)
    rb = 1 if b_tot / groups <= l2u else -(-tiles_m // wm)
    read = a_tot * ra + b_tot * rb
    write = c_tot
    if split > 1:
        partial = float(split) * m * n * groups * 4.0
        write += partial
        read += partial
    memory_s = stream_time(c, read, write, min(ctas, sms))
    l2_traffic = float(ctas) * k_iters * (tm * a_b + tn * w_b) * tk + write
    t = max(tile_s, memory_s) + (c.hbm_lat if split > 1 else 0.0)
    return GemmChoice(tm, tn, split, ctas, waves, tile_s, memory_s, compute_s, t_feed > t_mma,
                      read, write, l2_traffic, ra, rb, t)


def gemm_search(c: _Consts, m: int, k: int, n: int, groups: int, a_b: float, w_b: float,
                o_b: float, peak: float, imbalance: float = 1.0) -> GemmChoice:
    """The fastest (tile, split-K) mapping of a GEMM — the mapper's tiling search."""
    best: GemmChoice | None = None
    for tm, tn in TILES:
        tiles = groups * (-(-m // tm)) * (-(-n // tn))
        for split in SPLITS:
            # split-K only when the tiles alone leave SMs idle and K is long enough
            if split > 1 and (k // split < _MIN_SPLIT_K or tiles >= c.sms):
                break
            ch = gemm_candidate(c, m, k, n, groups, a_b, w_b, o_b, peak, tm, tn, split,
                                imbalance)
            if best is None or ch.time_s < best.time_s:
                best = ch
    assert best is not None
    return best


# ------------------------------------------------------------------------------------------
# Attention
# ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AttnChoice:
    algorithm: int  # 0 = flash prefill, 1 = flash-decoding (split-KV)
    blocks: int  # thread blocks
    waves: int
    split_kv: int
    compute_s: float
    memory_s: float
    time_s: float
    read_bytes: float
    write_bytes: float
    kv_reads: int


def _flash_prefill(c: _Consts, op: Op, sh: AttentionShape, peak: float) -> AttnChoice:
    b, h, kvh, hd, dv = sh.batch, sh.heads, sh.kv_heads, sh.head_dim, sh.dv
    q, kv = sh.q_len, sh.kv_tokens
    br = _FLASH_BLOCK_Q if hd <= 128 else 64
    bc = _FLASH_BLOCK_K
    qb = -(-q // br)
    blocks = b * h * qb
    waves = -(-blocks // c.sms)
    # Key blocks each query block visits (masked key blocks are skipped; padding to bc).
    prefix = sh.kv_len - q
    if sh.causal:
        # block j sees prefix + (j+1)·br keys (capped by q): arithmetic series, rounded to bc
        total_keys = qb * prefix + br * qb * (qb + 1) / 2.0
        total_keys = min(total_keys, float(qb) * sh.kv_len)
        if sh.window:
            total_keys = min(total_keys, float(qb) * (sh.window + br))
        total_keys += qb * bc / 2.0  # ragged last key block of each query block
    else:
        total_keys = float(qb) * (-(-kv // bc) * bc)
    pairs_padded = br * total_keys  # per (batch, head)
    flops_mm = 2.0 * b * h * pairs_padded * (hd + dv)
    peak_sm = peak * c.mma_eff * c.attn_eff / c.sms
    kvb = sh.kv_dtype.bytes
    per_tok = hd if sh.shared_kv else hd + dv
    # L2 feed of K/V tiles into each block
    feed = b * h * total_keys * per_tok * kvb / (c.l2_bw / c.sms)
    t_cta = c.hbm_lat + max(flops_mm / blocks / peak_sm, feed / blocks)
    compute_s = waves * t_cta
    # K/V of the heads in flight must fit in L2 to be read once from HBM
    kv_head_bytes = float(kv) * per_tok * kvb
    heads_in_flight = max(1, min(b * kvh, -(-min(blocks, c.sms) // max(1, qb * (h // kvh)))))
    l2u = c.l2_bytes * _L2_REUSE_FRACTION
    working = kv_head_bytes * heads_in_flight
    reads = 1 if working <= l2u else min(qb * (h // kvh), -(-int(working) // max(1, int(l2u))))
    read = op.bytes.act_in + op.bytes.kv_read * reads
    write = op.bytes.act_out
    memory_s = stream_time(c, read, write, min(blocks, c.sms))
    return AttnChoice(0, blocks, waves, 1, compute_s, memory_s, max(compute_s, memory_s),
                      read, write, reads)


def _flash_decode(c: _Consts, op: Op, sh: AttentionShape, peak: float) -> AttnChoice:
    b, h, kvh, hd, dv = sh.batch, sh.heads, sh.kv_heads, sh.head_dim, sh.dv
    kv = sh.kv_tokens
    rows = sh.q_len * (h // kvh)
    rows_p = max(_DECODE_MIN_ROWS, -(-rows // _DECODE_MIN_ROWS) * _DECODE_MIN_ROWS)
    per_tok = hd if sh.shared_kv else hd + dv
    flops_pad = 2.0 * b * kvh * rows_p * kv * (hd + dv)
    peak_sm = peak * c.mma_eff * c.attn_eff / c.sms
    best: AttnChoice | None = None
    for split in KV_SPLITS:
        if split > 1 and kv / split < _MIN_KV_CHUNK:
            break
        blocks = b * kvh * split
        waves = -(-blocks // c.sms)
        feed = b * kvh * kv * per_tok * sh.kv_dtype.bytes / (c.l2_bw / c.sms)
        t_cta = c.hbm_lat + max(flops_pad / blocks / peak_sm, feed / blocks)
        compute_s = waves * t_cta
        read = op.bytes.act_in + op.bytes.kv_read
        write = op.bytes.act_out
        extra = 0.0
        if split > 1:  # fp32 partial outputs + log-sum-exp, then a combine kernel reads them
            partial = float(b) * h * sh.q_len * split * (dv + 1) * 4.0
            write += partial
            read += partial
            extra = c.launch
        memory_s = stream_time(c, read, write, min(blocks, c.sms))
        t = max(compute_s, memory_s) + extra
        ch = AttnChoice(1, blocks, waves, split, compute_s, memory_s, t, read, write, 1)
        if best is None or ch.time_s < best.time_s:
            best = ch
    assert best is not None
    return best


def attention_search(c: _Consts, op: Op, sh: AttentionShape) -> AttnChoice:
    """Fastest applicable fused-attention algorithm (flash prefill / flash-decoding)."""
    peak = _peak(c, op.dtype)
    best = _flash_prefill(c, op, sh, peak)
    if sh.q_len * (sh.heads // sh.kv_heads) <= 128:
        dec = _flash_decode(c, op, sh, peak)
        if dec.time_s < best.time_s:
            best = dec
    return best


# ------------------------------------------------------------------------------------------
# Vector / row-reduction kernels
# ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class VectorPlan:
    """How one elementwise or row-reduction kernel runs: launch geometry, passes over its
    input, where its bytes come from, and the resulting times."""

    rows: int  # reduced rows (1 per block-row for elementwise kernels)
    blocks: int  # thread blocks
    waves: int  # ceil(blocks / (SMs x resident blocks per SM))
    passes: int  # read passes over the input (1 when the row is held on chip)
    phases: int  # dependent memory phases per block (barriers between reduction passes)
    l2_hit: float  # fraction of the activation footprint served from a warm L2
    hbm_bytes: float  # bytes to/from main memory
    l2_bytes: float  # bytes served by L2 (warm operands and re-read passes that hit)
    compute_s: float
    memory_s: float  # max(main-memory stream, L2 stream)
    latency_s: float  # (phases + waves - 1) x access latency (short rows, few rows)
    time_s: float  # kernel body: max of the above


def row_passes(op: Op, sh: VectorShape, row_bytes_on_chip: float) -> tuple[int, bool]:
    """(read passes over the input, row held on chip) of a row reduction.

    A softmax (a non-norm vector op with a row length: eager PyTorch) holds its row in
    registers up to 1024 elements; a norm (compiled / fused kernel) holds it while the row's
    fp32 accumulators fit `reduction_row_kib`. A row held on chip is read once; a longer row is
    looped over: softmax max / sum-exp / normalize = 3 reads, LayerNorm mean / variance /
    normalize = 3, RMSNorm sum of squares / normalize = 2 (then one write)."""
    n = sh.row_len
    if op.kind is OpKind.NORM:
        if n * 4.0 <= row_bytes_on_chip:
            return 1, True
        return (_LAYERNORM_PASSES if sh.flops_per_elem >= _LAYERNORM_FPE
                else _RMSNORM_PASSES), False
    if n <= _SOFTMAX_ROW_IN_REGISTERS:
        return 1, True
    return _SOFTMAX_PASSES, False


def vector_plan(c: _Consts, op: Op, sh: object, warm_l2: bool = False) -> VectorPlan:
    """Time of one elementwise / row-reduction kernel.

    Geometry: a row reduction runs one thread block per row (rows held on chip pack
    4096 / row_len rows per block); an elementwise kernel one block per 4096 elements (of the
    larger of input and output). `vector_blocks_per_sm` blocks are resident per SM, so blocks
    run in waves; each block goes through `phases` dependent memory phases (load, each
    reduction barrier, write) that cost one access latency each, so a few short rows finish
    in ~phases x latency whatever their bytes; each further wave adds one latency (its chain
    overlaps the resident blocks').

    Bytes: the input is read `passes` times (`row_passes`); the re-read passes of a looped row
    miss L2 at `reduction_reread_miss`. With `warm_l2` (repeated benchmark call, producer ->
    consumer activation) the activation footprint (act_in + act_out) is served from L2 for
    the share of it that fits the usable half of L2 (`_L2_REUSE_FRACTION`: A100/H100 L2 is two
    partitions that may each hold a copy); weights and KV always stream from main memory.
    L2 bytes stream at the L2 level's bandwidth x `l2_efficiency`, main-memory bytes through
    `stream_time`; the two overlap (max). Never faster than the roofline of the level where
    the data lives: each level's bytes over that level's peak bandwidth."""
    b = op.bytes
    act_in, act_out = b.act_in, b.act_out
    other_r = b.weight + b.kv_read
    other_w = b.kv_write
    passes, phases, rows = 1, 1, 1
    if isinstance(sh, VectorShape) and sh.row_len > 0:
        passes, on_chip = row_passes(op, sh, c.red_row_bytes)
        rows = max(1, sh.numel // sh.row_len)
        per_block = max(1, _VEC_ELEMS_PER_BLOCK // sh.row_len) if on_chip else 1
        blocks = -(-rows // per_block)
        phases = passes + 1 if not on_chip else 2
    else:
        numel = sh.numel if isinstance(sh, VectorShape) else 1
        elems = max(numel, int((act_in + other_r) / max(op.dtype.bytes, 0.5)))
        blocks = max(1, -(-elems // _VEC_ELEMS_PER_BLOCK))
        rows = blocks
    waves = max(1, -(-blocks // max(1, int(c.sms * c.vec_bps))))
    active = min(blocks, c.sms)
    foot = act_in + act_out
    hit = 0.0
    if warm_l2 and c.l2_bytes > 0.0 and foot > 0.0:
        hit = min(1.0, c.l2_bytes * _L2_REUSE_FRACTION / foot)
    extra = act_in * (passes - 1)
    miss_extra = extra * c.reread_miss * (1.0 - hit)
    hbm_r = (1.0 - hit) * act_in + other_r + miss_extra
    hbm_w = (1.0 - hit) * act_out + other_w
    l2_served = hit * foot + (extra - miss_extra)
    t_hbm = stream_time(c, hbm_r, hbm_w, active) if hbm_r + hbm_w > 0.0 else 0.0
    t_l2 = 0.0
    if l2_served > 0.0:
        t_l2 = l2_served / (c.l2_bw * c.l2_eff)
        if c.l2_lat > 0.0:  # Little's law: few active SMs cannot cover the L2 latency
            t_l2 = max(t_l2, l2_served / (max(1.0, active) * c.inflight / c.l2_lat))
        t_l2 += c.l2_lat
    lat = c.hbm_lat if hbm_r + hbm_w > 0.0 else c.l2_lat
    # a block's phases are a dependent chain; later waves overlap their chains with the
    # blocks still resident, so each extra wave adds one latency
    latency_s = (phases + waves - 1) * lat
    peak = _vec_peak(c, op.dtype)
    compute_s = op.flops / peak if peak > 0 else 0.0
    memory_s = max(t_hbm, t_l2)
    t = max(compute_s, memory_s, latency_s)
    return VectorPlan(rows, blocks, waves, passes, phases, hit, hbm_r + hbm_w,
                      l2_served + hbm_r + hbm_w, compute_s, memory_s, latency_s, t)


# ------------------------------------------------------------------------------------------
# Collectives
# ------------------------------------------------------------------------------------------


def collective_time(c: _Consts, hw: Hardware, sh: CollectiveShape) -> tuple[float, float, int]:
    """(seconds, wire bytes per chip, algorithm code) of this chip's part of a collective."""
    g = sh.group_size
    fabric = hw.fabric
    if g <= 1 or fabric is None:
        return 0.0, 0.0, 0
    bw = fabric.chip_bandwidth_Bps * c.link_eff
    hop = fabric.latency_s
    B = sh.bytes
    switch = fabric.topology in (Topology.SWITCH, Topology.ALL_TO_ALL)
    cands: list[tuple[float, float, int]] = []
    coll = sh.collective
    if coll is Collective.ALL_REDUCE:
        ring_wire = 2.0 * (g - 1) / g * B
        cands.append((2 * (g - 1) * hop + ring_wire / bw, ring_wire, 0))
        if switch:
            cands.append((2 * hop + ring_wire / bw, ring_wire, 1))  # reduce-scatter+all-gather
            cands.append((hop + (g - 1) * B / bw, (g - 1) * B, 2))  # one-shot: pull all peers
            if c.nvls_eff > 0.0 and fabric.topology is Topology.SWITCH:
                # in-switch reduction: send B up, receive the reduced B back
                cands.append((2 * hop + B / (fabric.chip_bandwidth_Bps * c.nvls_eff), B, 3))
    elif coll is Collective.ALL_GATHER:
        wire = (g - 1) * B
        cands.append(((g - 1) * hop + wire / bw, wire, 0))
        if switch:
            cands.append((hop + wire / bw, wire, 5))
    elif coll is Collective.REDUCE_SCATTER:
        wire = (g - 1) / g * B
        cands.append(((g - 1) * hop + wire / bw, wire, 0))
        if switch:
            cands.append((hop + wire / bw, wire, 5))
    elif coll is Collective.ALL_TO_ALL:
        wire = (g - 1) / g * B
        steps = 1 if switch else g - 1
        cands.append((steps * hop + wire / bw, wire, 5 if switch else 0))
    else:  # SEND_RECV: one peer; on a switch all links carry it
        cands.append((hop + B / bw, B, 4))
    t, wire, algo = min(cands)
    return c.coll_lat + t, wire, algo


# ------------------------------------------------------------------------------------------
# The cost model
# ------------------------------------------------------------------------------------------


class GpuModel:
    """Cost model for `HardwareKind.GPU` (see the module docstring)."""

    kind = HardwareKind.GPU

    def op_cost(self, op: Op, hw: Hardware, ctx: CostContext) -> OpCost:
        c = _consts(hw)
        sh = op.shape
        if isinstance(sh, VectorShape) or not isinstance(
                sh, (CollectiveShape, MatmulShape, AttentionShape)):
            return self._vector_ctx(c, op, hw, sh, ctx.warm_l2)
        if isinstance(sh, CollectiveShape):
            return self._collective(c, op, hw, sh)
        if isinstance(sh, MatmulShape):
            return self._matmul(c, op, hw, sh)
        if isinstance(sh, AttentionShape):
            return self._attention(c, op, hw, sh)
        return self._vector(c, op, hw, sh)

    def _vector_ctx(self, c: _Consts, op: Op, hw: Hardware, sh: object,
                    warm: bool) -> OpCost:
        vp = vector_plan(c, op, sh, warm)
        detail: tuple[tuple[str, float], ...] = (
            ("blocks", float(vp.blocks)), ("waves", float(vp.waves)),
            ("passes", float(vp.passes)), ("l2_resident", vp.l2_hit))
        if op.kind is OpKind.EMBEDDING:
            detail += (("gather", 1.0),)
        return self._finish(c, op, hw, vp.time_s, vp.compute_s, vp.memory_s, 0.0,
                            vp.hbm_bytes, vp.l2_bytes, 0.0, detail)

    # -- helpers -------------------------------------------------------------------------

    @staticmethod
    def _finish(c: _Consts, op: Op, hw: Hardware, body_s: float, compute_s: float,
                memory_s: float, comm_s: float, hbm_bytes: float, l2_bytes: float,
                wire_bytes: float, detail: tuple[tuple[str, float], ...]) -> OpCost:
        t = body_s + c.launch
        fabric = hw.fabric
        energy = (op.flops * _mac_j(c, op.dtype) + hbm_bytes * 8.0 * c.hbm_j_bit
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

    def _matmul(self, c: _Consts, op: Op, hw: Hardware, sh: MatmulShape) -> OpCost:
        a_b = op.dtype.bytes
        w_b = sh.weight_dtype.bytes if sh.weight_dtype is not None else a_b
        ch = gemm_search(c, sh.m, sh.k, sh.n, sh.groups, a_b, w_b, a_b, _peak(c, op.dtype),
                         max(1.0, sh.imbalance))
        detail = (("tile_m", float(ch.tile_m)), ("tile_n", float(ch.tile_n)),
                  ("split_k", float(ch.split_k)), ("ctas", float(ch.ctas)),
                  ("waves", float(ch.waves)), ("hbm_reads_a", float(ch.reads_a)),
                  ("hbm_reads_b", float(ch.reads_b)))
        # a tile loop starved by L2 operand feed is memory-side, not compute
        mem_side = max(ch.memory_s, ch.tile_s) if ch.feed_bound else ch.memory_s
        comp_side = ch.compute_s if ch.feed_bound else ch.tile_s
        return self._finish(c, op, hw, ch.time_s, comp_side, mem_side, 0.0,
                            ch.read_bytes + ch.write_bytes, ch.l2_bytes, 0.0, detail)

    def _attention(self, c: _Consts, op: Op, hw: Hardware, sh: AttentionShape) -> OpCost:
        ch = attention_search(c, op, sh)
        detail = (("algorithm", float(ch.algorithm)), ("blocks", float(ch.blocks)),
                  ("waves", float(ch.waves)), ("split_kv", float(ch.split_kv)),
                  ("hbm_reads_kv", float(ch.kv_reads)))
        hbm = ch.read_bytes + ch.write_bytes
        return self._finish(c, op, hw, ch.time_s, ch.compute_s, ch.memory_s, 0.0, hbm,
                            hbm, 0.0, detail)

    def _collective(self, c: _Consts, op: Op, hw: Hardware, sh: CollectiveShape) -> OpCost:
        comm_s, wire, algo = collective_time(c, hw, sh)
        # the local read of the input and write of the result overlap with the transfer
        memory_s = stream_time(c, op.bytes.act_in, op.bytes.act_out, c.sms)
        detail = (("algorithm", float(algo)), ("wire_bytes", wire))
        return self._finish(c, op, hw, max(comm_s, memory_s), 0.0, memory_s, comm_s,
                            op.bytes.total, 0.0, wire, detail)
