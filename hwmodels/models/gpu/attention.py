"""Fused attention: flash-attention prefill and flash-decoding (split-KV).

Prefill runs one thread block per (batch, head, 128-query block); causal blocks skip masked
key blocks; compute at `attention_efficiency` of the GEMM rate (`attention_efficiency_sm80`
for an engine whose kernels are FlashAttention-2 class, engine knob `attention_sm80`); waves
over SMs; K/V re-read when a wave's heads do not fit in L2. A block's Q tile must arrive
before its first MMA and its O tile leaves after its last, so that traffic adds to the
block's main loop at the SM's share of the HBM stream instead of hiding behind it: this is
what makes short sequences slower per FLOP (FlashAttention-3 at 467 TFLOP/s at 512 tokens
and 648 at 16k on an H100, with the same blocks per SM at every length, Shah et al. 2024,
arXiv:2407.08608; the model reads 453 and 617 with no constant fitted to that ramp;
`validation/datasets/attention_kernels.py`). Flash-decoding runs one block per (batch,
kv-head, KV split); the split count is searched so that few heads still spread the KV read
over many SMs, with a combine kernel when split > 1 (each split pays at least one key tile);
it streams its KV at the GPU's `decode_attention_bw_efficiency` share of peak when the spec
sets one (paged gathers; 0 = the stream's read / write shares), and no faster than its
active SMs consume KV at `decode_attention_sm_bytes_per_cycle` each per clock where the spec
sets that (a kernel whose own pipeline binds: the limit grows with SMs x clock, the memory's
does not). The faster applicable algorithm is kept.
An engine whose decode attention is FlashAttention-2's kv-cache kernel (`flash_attn_with_kvcache`,
engine knob `fa2_decode`: vLLM V0's FLASH_ATTN backend, Sarathi-Serve) does not search: the
kernel runs one CTA per (sequence, KV head, KV split) with the KV group's query rows in one
64-row tile, two CTAs resident per SM, and picks its split count by its own heuristic
(`fa2_num_splits`): none once the unsplit CTAs fill 80% of the resident slots, else the
fewest splits whose wave efficiency is within 85% of the best. Its CTAs run in waves of
those slots: a full wave streams the KV at the HBM share, a wave of few CTAs no faster
than each CTA's own page-gather → MMA pipeline (`gpu.decode_cta_bytes_per_cycle`), so the
time steps up as a new wave starts (on an A100 at 55 and 109 sequences of a 4-KV-head
layer: 220 > 216 and 436 > 432 CTAs) where a balanced schedule grows smoothly; the call adds
its fixed device time `gpu.decode_call_us` (fitted with the two on Vidur's A100 profile,
`validation/fitting/paged_decode.py`).
Either kernel adds `gemm_fill_us`, as a GEMM does: a flash-attention kernel is two chained
tensor-core GEMMs behind the same operand pipeline, which fills before its first MMA and
drains its output tiles after the last (assumed equal to the GEMMs' fitted figure; without
it the H200's cuDNN SDPA rows read 18.5% median, 15% fast, and with it 12.4%, 10% fast:
validation/data/gpu/README.md).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, replace

from infersim.hwmodels.models.gpu.figures import (
    L2_REUSE_FRACTION,
    GpuFigures,
    matrix_peak,
    stream_time,
)
from infersim.workloads.ops import AttentionShape, Op

KV_SPLITS: tuple[int, ...] = (1, 2, 4, 8, 16, 32, 64, 128)
FLASH_BLOCK_Q = 128  # query rows per flash-attention thread block (64 if head_dim > 128)
_FLASH_BLOCK_K = 64  # keys per flash-attention inner iteration
_DECODE_MIN_ROWS = 16  # MMA minimum rows: decode attention pads query rows up to this


@dataclass(frozen=True, slots=True)
class AttnChoice:
    algorithm: str  # "flash_prefill" or "flash_decode" (flash-decoding, split-KV)
    blocks: int  # thread blocks
    waves: int
    split_kv: int
    compute_s: float
    memory_s: float
    time_s: float
    read_bytes: float
    write_bytes: float
    kv_reads: int


def _flash_prefill(c: GpuFigures, op: Op, sh: AttentionShape, peak: float) -> AttnChoice:
    b, h, kvh, hd, dv = sh.batch, sh.heads, sh.kv_heads, sh.head_dim, sh.dv
    q, kv = sh.q_len, sh.kv_tokens
    br = FLASH_BLOCK_Q if hd <= 128 else 64
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
    # the block's own rows: its Q tile arrives before its first MMA and its O tile leaves
    # after its last, so neither hides behind its main loop; every SM is in the same phase,
    # so each moves them at its share of the HBM stream
    t_qo = br * (hd + dv) * op.dtype.bytes / (c.hbm_bw * c.eff_r / c.sms)
    t_cta = c.hbm_lat + t_qo + max(flops_mm / blocks / peak_sm, feed / blocks)
    compute_s = waves * t_cta
    # K/V of the heads in flight must fit in L2 to be read once from HBM
    kv_head_bytes = float(kv) * per_tok * kvb
    heads_in_flight = max(1, min(b * kvh, -(-min(blocks, c.sms) // max(1, qb * (h // kvh)))))
    l2u = c.l2_bytes * L2_REUSE_FRACTION
    working = kv_head_bytes * heads_in_flight
    reads = 1 if working <= l2u else min(qb * (h // kvh), -(-int(working) // max(1, int(l2u))))
    read = op.bytes.act_in + op.bytes.kv_read * reads
    write = op.bytes.act_out
    memory_s = stream_time(c, read, write, min(blocks, c.sms))
    return AttnChoice("flash_prefill", blocks, waves, 1, compute_s, memory_s,
                      max(compute_s, memory_s) + c.gemm_fill,
                      read, write, reads)


def _flash_decode(c: GpuFigures, op: Op, sh: AttentionShape, peak: float) -> AttnChoice:
    b, h, kvh, hd, dv = sh.batch, sh.heads, sh.kv_heads, sh.head_dim, sh.dv
    kv = sh.kv_tokens
    rows = sh.q_len * (h // kvh)
    rows_p = max(_DECODE_MIN_ROWS, -(-rows // _DECODE_MIN_ROWS) * _DECODE_MIN_ROWS)
    per_tok = hd if sh.shared_kv else hd + dv
    peak_sm = peak * c.mma_eff * c.attn_eff / c.sms
    best: AttnChoice | None = None
    for split in KV_SPLITS:
        if split > 1 and split > kv:
            break
        # A block's MMA loop walks its keys in tiles of _FLASH_BLOCK_K, so a split shorter
        # than a tile still pays a whole tile: that, the partial outputs and the combine
        # launch are what stop over-splitting. Every split is open to every context, so a
        # longer context never gains a configuration a shorter one lacked.
        keys = max(1, -(-kv // split))
        tile_keys = -(-keys // _FLASH_BLOCK_K) * _FLASH_BLOCK_K
        blocks = b * kvh * split
        waves = -(-blocks // c.sms)
        flops_cta = 2.0 * rows_p * tile_keys * (hd + dv)
        feed_cta = keys * per_tok * sh.kv_dtype.bytes / (c.l2_bw / c.sms)
        t_cta = c.hbm_lat + max(flops_cta / peak_sm, feed_cta)
        compute_s = waves * t_cta
        read = op.bytes.act_in + op.bytes.kv_read
        write = op.bytes.act_out
        extra = 0.0
        if split > 1:  # fp32 partial outputs + log-sum-exp, then a combine kernel reads them
            partial = float(b) * h * sh.q_len * split * (dv + 1) * 4.0
            write += partial
            read += partial
            extra = c.launch
        memory_s = stream_time(c, read, write, min(blocks, c.sms), c.attn_dec_bw_eff)
        if c.attn_dec_sm_rate > 0.0:  # the kernel's own KV pipeline, per SM and clock
            compute_s = max(compute_s, op.bytes.kv_read / (min(blocks, c.sms) * c.attn_dec_sm_rate))
        t = max(compute_s, memory_s) + extra + c.gemm_fill
        ch = AttnChoice("flash_decode", blocks, waves, split, compute_s, memory_s, t, read, write, 1)
        if best is None or ch.time_s < best.time_s:
            best = ch
    assert best is not None
    return best


# FlashAttention-2's kv-cache kernel (flash-attn 2.x csrc/flash_attn/flash_api.cpp,
# `num_splits_heuristic` and `set_params_splitkv`; flash_fwd_launch_template.h
# `run_mha_fwd_splitkv_dispatch`): 64 query rows per CTA (kBlockM), 256 / 128 / 64 keys per
# tile for head dims <= 64 / <= 128 / above (kBlockN); the heuristic is given twice the SM
# count (two CTAs resident per SM) and stops splitting at 80% of it; among the eligible split
# counts up to 128 it takes the first within 85% of the best wave efficiency.
FA2_BLOCK_M = 64
FA2_CTAS_PER_SM = 2
FA2_NO_SPLIT_FILL = 0.8
FA2_SPLIT_EFF = 0.85
FA2_MAX_SPLITS = 128


def fa2_block_n(head_dim: int) -> int:
    """Keys per tile of FlashAttention-2's kv-cache kernel."""
    return 256 if head_dim <= 64 else (128 if head_dim <= 128 else 64)


@functools.lru_cache(maxsize=4096)
def fa2_num_splits(units: int, slots: int, n_blocks: int) -> int:
    """FlashAttention-2's KV split count for `units` CTAs before splitting (sequence x head x
    64-row query tile), `slots` resident CTAs (2 x SMs) and `n_blocks` key tiles: 1 once the
    units fill `FA2_NO_SPLIT_FILL` of the slots; else, over the split counts up to
    min(`FA2_MAX_SPLITS`, slots, n_blocks) that change the tiles per split, the first whose
    wave efficiency (waves / ceil(waves)) is within `FA2_SPLIT_EFF` of the best."""
    if units >= FA2_NO_SPLIT_FILL * slots:
        return 1
    top = max(1, min(FA2_MAX_SPLITS, slots, n_blocks))
    eff: list[tuple[int, float]] = []
    for s in range(1, top + 1):
        if s > 1 and -(-n_blocks // s) == -(-n_blocks // (s - 1)):
            continue  # the same tiles per split as one split fewer
        waves = units * s / slots
        eff.append((s, waves / math.ceil(waves)))
    best = max(e for _, e in eff)
    return next(s for s, e in eff if e >= FA2_SPLIT_EFF * best)


def _fa2_decode(c: GpuFigures, op: Op, sh: AttentionShape, peak: float) -> AttnChoice:
    """FlashAttention-2's kv-cache kernel for one query token per sequence (see the module
    docstring): its own split count, waves of `FA2_CTAS_PER_SM` x SMs CTAs, each wave the
    slower of its KV at the HBM share and one CTA's KV at its own pipeline rate
    (`attn_dec_cta_rate`) or padded MMAs; the call's whole traffic at the waves' share bounds
    them from below."""
    b, h, kvh, hd, dv = sh.batch, sh.heads, sh.kv_heads, sh.head_dim, sh.dv
    kv = sh.kv_tokens
    # one query token: a KV group's query heads are the rows of one 64-row tile
    # (FA2's seqlenq_ngroups_swapped)
    units = b * kvh * -(-(h // kvh) // FA2_BLOCK_M)
    bn = fa2_block_n(hd)
    n_blocks = max(1, -(-kv // bn))
    slots = c.sms * FA2_CTAS_PER_SM
    split = fa2_num_splits(units, slots, n_blocks)
    keys = min(-(-n_blocks // split) * bn, kv)
    per_tok = hd if sh.shared_kv else hd + dv
    cta_bytes = keys * per_tok * sh.kv_dtype.bytes
    ctas = units * split
    bw = c.hbm_bw * (c.attn_dec_bw_eff or c.eff_r)
    # a CTA's MMAs: its padded 64-row tile against its keys, on its share of the SM
    cta_flops = 2.0 * FA2_BLOCK_M * keys * (hd + dv)
    sm_rate = peak * c.mma_eff * c.attn_eff / c.sms

    def wave(n: int) -> float:
        per_sm = min(FA2_CTAS_PER_SM, -(-n // c.sms))
        t = max(n * cta_bytes / bw, cta_flops * per_sm / sm_rate)
        if c.attn_dec_cta_rate > 0.0:
            t = max(t, cta_bytes / c.attn_dec_cta_rate)
        return t

    full, tail = divmod(ctas, slots)
    compute_s = full * wave(slots) + (wave(tail) if tail else 0.0)
    read = op.bytes.act_in + op.bytes.kv_read
    write = op.bytes.act_out
    extra = 0.0
    if split > 1:  # fp32 partial outputs + log-sum-exp, summed by the combine kernel
        partial = float(b) * h * sh.q_len * split * (dv + 1) * 4.0
        write += partial
        read += partial
        extra = c.launch + stream_time(c, partial, op.bytes.act_out, min(c.sms, b * h))
    memory_s = (read + write) / bw
    t = max(compute_s, memory_s) + extra + c.gemm_fill + c.attn_dec_call
    return AttnChoice("fa2_decode", ctas, full + (1 if tail else 0), split, compute_s,
                      memory_s, t, read, write, 1)


def attention_search(c: GpuFigures, op: Op, sh: AttentionShape,
                     gqa_aware: bool = True, fa2_decode: bool = False) -> AttnChoice:
    """Fastest applicable fused-attention algorithm (flash prefill / flash-decoding).
    `gqa_aware` False: the kernel runs every query head on its own (one block per query head,
    or K/V expanded to all heads), so each KV head is read once per query head sharing it.
    `fa2_decode`: a decode call runs FlashAttention-2's kv-cache kernel as it schedules
    itself (`_fa2_decode`) instead of the best split-KV schedule."""
    if not gqa_aware and sh.heads > sh.kv_heads and not sh.shared_kv:
        g = sh.heads // sh.kv_heads
        sh = replace(sh, kv_heads=sh.heads)
        op = replace(op, shape=sh, bytes=replace(op.bytes, kv_read=op.bytes.kv_read * g))
    peak = matrix_peak(c, op.dtype)
    best = _flash_prefill(c, op, sh, peak)
    if fa2_decode and sh.q_len == 1:
        return _fa2_decode(c, op, sh, peak)
    if sh.q_len * (sh.heads // sh.kv_heads) <= 128:
        dec = _flash_decode(c, op, sh, peak)
        if dec.time_s < best.time_s:
            best = dec
    return best
