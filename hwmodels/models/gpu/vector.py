"""Vector and row-reduction kernels (norms, elementwise, RoPE, KV writes, embedding gathers):
CUDA-core FLOPs vs the memory stream, with the launch geometry and passes of the kernel."""

from __future__ import annotations

from dataclasses import dataclass

from infersim.hwmodels.models.gpu.figures import (
    L2_REUSE_FRACTION,
    GpuFigures,
    dirty_writeback_s,
    stream_time,
    vector_peak,
)
from infersim.workloads.ops import Op, OpKind, VectorShape

_VEC_ELEMS_PER_BLOCK = 4096  # elements one thread block of a vector kernel handles
# Eager PyTorch softmax keeps a row in registers (one warp per row, "persistent softmax") only
# up to 1024 elements (aten/src/ATen/native/cuda/SoftMax.cu, dim_size <= 1024); longer rows
# run one thread block per row that passes over the row in memory: max, sum of exp, normalize.
_SOFTMAX_ROW_IN_REGISTERS = 1024
_SOFTMAX_PASSES = 3  # max, sum of exp, normalize (+ the write)
_LAYERNORM_PASSES = 3  # mean, variance, normalize (+ the write)
_RMSNORM_PASSES = 2  # sum of squares, normalize (+ the write)
_LAYERNORM_FPE = 7.0  # FLOP/element at and above which a norm is a LayerNorm (builder)
_ACTIVATION_FPE = 4.0  # FLOP/element at and above which an elementwise op is an activation
# (SiLU·mul 5, GELU 9 in workloads/builder.py; add / bias / copy ≤ 1)


def vector_class(op: Op) -> str:
    """Kernel class of a vector op, which selects its measured bandwidth efficiency
    (`GpuFigures.vec_eff`): norm, activation, rope or elementwise (add, bias, KV write, ...).
    Softmax-like row reductions are not norms and keep the generic stream."""
    if op.kind is OpKind.NORM:
        return "norm"
    if op.kind is OpKind.ROPE:
        return "rope"
    sh = op.shape
    if (op.kind is OpKind.ELEMENTWISE and isinstance(sh, VectorShape) and sh.row_len == 0
            and sh.flops_per_elem >= _ACTIVATION_FPE):
        return "activation"
    if op.kind in (OpKind.ELEMENTWISE, OpKind.KV_WRITE) and not (
            isinstance(sh, VectorShape) and sh.row_len > 0):
        return "elementwise"
    return ""


@dataclass(frozen=True, slots=True)
class VectorPlan:
    """How one elementwise or row-reduction kernel runs: launch geometry, passes over its
    input, where its bytes come from, and the resulting times."""

    rows: int  # reduced rows (1 per block-row for elementwise kernels)
    blocks: int  # thread blocks
    waves: int  # ceil(blocks / (SMs x resident blocks per SM))
    passes: int  # read passes over the input (1 when the row is held on chip)
    phases: int  # dependent memory phases per block (barriers between reduction passes)
    l2_hit: float  # fraction of the activation footprint served from L2 (warm or fresh)
    hbm_bytes: float  # bytes to/from main memory
    l2_bytes: float  # bytes served by L2 (warm operands and re-read passes that hit)
    compute_s: float
    memory_s: float  # max(main-memory stream, L2 stream)
    latency_s: float  # (phases + waves - 1) x access latency (short rows, few rows)
    time_s: float  # kernel body: max of the above
    writeback_s: float  # its main-memory writes left dirty in L2, written back later


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


def vector_plan(c: GpuFigures, op: Op, sh: object, warm_l2: bool = False) -> VectorPlan:
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
    the share of it that fits the usable half of L2 (`L2_REUSE_FRACTION`: A100/H100 L2 is two
    partitions that may each hold a copy); weights and KV always stream from main memory.
    Without it, the inputs the kernel just before wrote (`VectorShape.fresh_inputs`: a
    residual add's projection output) are read from L2 up to the GPU's `fresh_l2` bytes
    (`producer_l2_fraction` of the L2: the producer's last-written lines, the rest of the
    L2 holding its other operands); only the residual adds declare it: the one-block-per-token
    norm / activation / RoPE kernels, whose inputs are as fresh, showed no such gain on
    Vidur's H100 / A100 rows (with the whole usable L2 fresh, their fitted efficiencies
    fell to 0.30 and still ran 17-29% fast), so their measured efficiencies keep it.
    L2 bytes stream at the L2 level's bandwidth x `l2_efficiency`, main-memory bytes through
    `stream_time` at the kernel class's measured efficiency (`vector_class`: norm,
    activation, rope, elementwise); the two overlap (max). A one-block-per-token kernel
    (`block_rows`, and norms) keeps `vector_block_inflight_kib` in flight per resident block,
    so a step with few tokens cannot draw the full bandwidth. Never faster than the roofline of the level where
    the data lives: each level's bytes over that level's peak bandwidth."""
    b = op.bytes
    act_in, act_out = b.act_in, b.act_out
    other_r = b.weight + b.kv_read
    other_w = b.kv_write
    passes, phases, rows = 1, 1, 1
    if isinstance(sh, VectorShape) and sh.row_len > 0 and sh.block_rows > 0:
        # a per-token row reduction (engine RMSNorm): one block per row that reads the row,
        # reduces, then reads it again to normalize and writes it
        rows = blocks = sh.block_rows
        passes, phases = _RMSNORM_PASSES, _RMSNORM_PASSES + 1
    elif isinstance(sh, VectorShape) and sh.row_len > 0:
        passes, on_chip = row_passes(op, sh, c.red_row_bytes)
        rows = max(1, sh.numel // sh.row_len)
        per_block = max(1, _VEC_ELEMS_PER_BLOCK // sh.row_len) if on_chip else 1
        blocks = -(-rows // per_block)
        phases = passes + 1 if not on_chip else 2
    elif isinstance(sh, VectorShape) and sh.block_rows > 0:
        rows = blocks = sh.block_rows  # one thread block per token
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
        hit = min(1.0, c.l2_bytes * L2_REUSE_FRACTION / foot)
    # an input the kernel just before wrote: its last-written lines are still in L2
    fresh = 0.0
    if not warm_l2 and isinstance(sh, VectorShape) and sh.fresh_inputs > 0.0 and sh.numel:
        fresh = min(sh.fresh_inputs * sh.numel * op.dtype.bytes, c.fresh_l2, act_in)
    extra = act_in * (passes - 1)
    miss_extra = extra * c.reread_miss * (1.0 - hit)
    hbm_r = (1.0 - hit) * act_in - fresh + other_r + miss_extra
    hbm_w = (1.0 - hit) * act_out + other_w
    l2_served = hit * foot + fresh + (extra - miss_extra)
    cls = vector_class(op)
    per_token = isinstance(sh, VectorShape) and sh.block_rows > 0
    # the norm / activation / RoPE efficiencies were measured on one-block-per-token engine
    # kernels (vLLM); a grid-stride or compiled kernel of that class keeps the generic stream
    eff = c.vec_eff.get(cls, 0.0) if (per_token or cls == "elementwise") else 0.0
    t_hbm = stream_time(c, hbm_r, hbm_w, active, eff) if hbm_r + hbm_w > 0.0 else 0.0
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
    peak = vector_peak(c, op.dtype)
    compute_s = op.flops / peak if peak > 0 else 0.0
    memory_s = max(t_hbm, t_l2)
    total = hbm_r + hbm_w + l2_served
    if per_token and c.blk_inflight > 0.0 and total > 0.0:
        # one block per token: the resident blocks' in-flight bytes cap the stream at
        # Little's law over the byte-weighted access latency
        resident = min(blocks, c.sms * c.vec_bps)
        lat_avg = ((hbm_r + hbm_w) * c.hbm_lat + l2_served * c.l2_lat) / total
        if lat_avg > 0.0:
            memory_s = max(memory_s, lat_avg + total * lat_avg / (resident * c.blk_inflight))
    t = max(compute_s, memory_s, latency_s)
    return VectorPlan(rows, blocks, waves, passes, phases,
                      hit + fresh / foot if foot > 0.0 else hit, hbm_r + hbm_w,
                      l2_served + hbm_r + hbm_w, compute_s, memory_s, latency_s, t,
                      dirty_writeback_s(c, l2_served + hbm_r + hbm_w, hbm_w))
