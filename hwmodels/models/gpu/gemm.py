"""GEMMs (matmul, MoE experts, router): a tile search over CUTLASS-like thread-block tiles
(`TILES`) and split-K factors (`SPLITS`), keeping the fastest.

A tile's main loop runs ceil(K/split/tk) iterations, each max(tile FLOPs on one SM's share of
the matrix peak × `mma_efficiency` (per dtype: `mma_efficiency_fp8` for 8-bit), tile operand bytes over one SM's share of the L2
bandwidth); tiles run in waves of `sm_count` (wave quantization). Operands are re-read from
HBM when they do not fit in (half of) the L2: A once per wave-column of tiles, B once per
wave-row. Split-K writes and re-reads fp32 partials. The kernel takes the max of the tile-wave
time and the HBM stream time (a smooth maximum with exponent `gemm_overlap_exponent`: near
the ridge point the pipeline hides neither behind the other), so a small-M GEMV is memory-bound and a large GEMM
compute-bound at the tile's efficiency. The last wave's output tiles drain to HBM after
their main loops with nothing left to overlap (earlier waves' stores hide behind the next
wave): the tile time adds that wave's share of C at the HBM write rate, which matters for a
one-wave GEMM with a short K and a wide output. Each CTA stores its tile through L2 after its
main loop; with `epilogue_overlap` (Hopper's persistent warp-specialized ping-pong kernels,
CUTLASS media/docs/cpp/efficient_gemm.md: one consumer warp group's epilogue overlaps the other's
MMAs) only the last wave's stores add to the tile time. Every GEMM kernel adds `gemm_fill_us`: its operand
pipeline fills before the first MMA and the last tiles' epilogue drains after it (cuBLAS
kernels on H100/A100 take ~2 µs beyond their waves; fitted on Vidur's measured GEMMs).
The GEMM library of engine knob `gemm_tile_set` 1 (cuBLAS 12.8+ `nvjet` kernels on Hopper)
differs in five measured ways: wave-fitting tiles, skinny token extents in steps of 8
(`TILES_WAVE_FIT`), thread-block clusters whose TMA multicasts the shared operand (`tile_feed_bytes`, spec field
`tma_multicast`), a split-K reduce kernel of its own, and TMA operand pipelines that hold a
GEMM on few SMs to each SM's share of the L2 bandwidth rather than to Little's law.
Grouped (MoE) GEMMs run as one grouped kernel: each group's rows are tiled on their own
(small per-expert M wastes the MMA tile), and under `imbalance` (max/mean rows) the busiest
group needs ceil(imbalance·m/tm) row tiles instead of ceil(m/tm); the tiles of all groups
share the SMs' waves.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

from infersim.hwmodels.models.gpu.figures import L2_REUSE_FRACTION, GpuFigures, stream_time

# CUTLASS-like thread-block tiles (rows of A × columns of B). Larger tiles re-use operands
# more (fewer L2 bytes per FLOP); smaller ones waste less on ragged edges and fill more SMs.
TILES: tuple[tuple[int, int], ...] = (
    (256, 128), (128, 256), (128, 128), (128, 64), (64, 128), (64, 64),
)
# The wave-fitting tiles of cuBLAS 12.8+'s Hopper kernels (`nvjet`, engine knob
# `gemm_tile_set` 1): the token (row) extent in steps of one 64-row warpgroup MMA, the weight
# (column) extent in steps of 32 up to 256, at most 192 x 192 accumulators, so a tile can fit
# the token count and the SM count where the list above pads a tile or leaves SMs idle; and
# for skinny GEMMs the operands swapped, the weight on the MMA's 64-row side and the tokens
# on its N side, which runs in steps of 8 (wgmma m64nNk16, N = 8..256), so 1-56 tokens pad
# to a multiple of 8, not to 64. The kernel names measured on an H200 with cuBLAS 13 show
# 64/128/192/256 x 64/80/96/128/168/192, and a token extent of M rounded up to 8 for every
# M <= 64 (validation/data/gpu/h200-sxm-2026-12-04/run3/sweep/gpu_ops.csv, `tile_m`/`tile_n`
# read as weight x token).
TILES_WAVE_FIT: tuple[tuple[int, int], ...] = tuple(sorted(
    {(tm, tn) for tm in (64, 128, 192, 256) for tn in range(64, 257, 32)
     if tm * tn <= 192 * 192} | set(TILES)
    | {(tm, tn) for tm in range(8, 64, 8) for tn in (64, 128, 192, 256)},
    key=lambda t: (-t[0] * t[1], -t[0])))
TILE_SETS: tuple[tuple[tuple[int, int], ...], ...] = (TILES, TILES_WAVE_FIT)
SPLITS: tuple[int, ...] = (1, 2, 3, 4, 6, 8, 12, 16)
_TILE_K_BYTES = 128  # bytes of K per main-loop iteration per operand row (64 bf16, 128 fp8)
MIN_SPLIT_K = 256  # split-K keeps at least this many K elements per split
# output elements one block of the split-K reduce kernel sums (assumed: a vector kernel's
# block, as vector.py's; only its grid's SM count matters, for few outputs)
REDUCE_ELEMS_PER_BLOCK = 4096


def tile_feed_bytes(a_row: float, b_col: float, tiles_m: int, tiles_n: int,
                    cluster: int) -> float:
    """L2 bytes one CTA reads per unit of K: its A rows (`a_row` = tm x operand bytes) and B
    columns (`b_col`). In a thread-block cluster of `cluster` CTAs the TMA multicasts one
    operand tile to all of them, so each CTA's share of that operand's L2 reads is 1/cluster:
    a cluster along N shares the A tile (needs at least `cluster` column tiles), one along
    M shares the B tile; the kernel takes the orientation that saves more."""
    feed = a_row + b_col
    if cluster > 1:
        if tiles_n >= cluster:
            feed = min(feed, a_row / cluster + b_col)
        if tiles_m >= cluster:
            feed = min(feed, a_row + b_col / cluster)
    return feed


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
    time_s: float  # kernel body: max(tile_s, memory_s) (+ split-K handshake or reduce)
    reduce_s: float = 0.0  # the split-K reduce kernel's time within time_s (0 = in-kernel)


def gemm_candidate(c: GpuFigures, m: int, k: int, n: int, groups: int, a_b: float, w_b: float,
                   o_b: float, peak: float, tm: int, tn: int, split: int,
                   imbalance: float = 1.0, mma_eff: float = 0.0,
                   bw_eff: float = -1.0, cluster: int = 1,
                   reduce_kernel: bool = False, tma_stream: bool = False,
                   k_b: float = 0.0) -> GemmChoice:
    """Time of an (m×k)·(k×n) GEMM (× groups) with thread-block tile tm×tn and split-K.
    `mma_eff`: the tile loop's share of `peak` (0 = the GPU's `mma_efficiency`); `bw_eff`:
    its operand stream's share of peak bandwidth (-1 = the GPU's `gemm_bw_efficiency`);
    `cluster`: CTAs per thread-block cluster sharing a multicast operand tile
    (`tile_feed_bytes`; 1 = no clusters). `reduce_kernel`: a split-K GEMM writes its fp32
    partials and a second kernel sums them into C (cuBLAS's `splitKreduce_kernel`), paying
    a launch and its own stream; otherwise the splits reduce in-kernel (one handshake).
    `tma_stream`: the operands stream through a TMA pipeline whose stages keep ~100 KB in
    flight per SM, so a GEMM on few SMs is held by each SM's share of the L2 bandwidth
    (`stream_time`'s `sm_rate`), not by Little's law on `sm_inflight_kib`. `k_b`: bytes per
    value that size the K tile (0 = min(a_b, w_b); block-scaled formats pass their values'
    width, `DType.value_bytes`, as their scales are staged beside the tile)."""
    tiles_m = -(-m // tm)
    tiles_n = -(-n // tn)
    # the busiest group's extra row tiles (its rows are imbalance·m, the others ~m)
    extra_m = max(0, math.ceil(imbalance * m / tm - 1e-9) - tiles_m) if groups > 1 else 0
    tiles = (groups * tiles_m + extra_m) * tiles_n
    ctas = tiles * split
    sms = c.sms
    waves = -(-ctas // sms)
    tk = max(16, int(_TILE_K_BYTES / (k_b or min(a_b, w_b))))
    k_split = -(-k // split)
    k_iters = -(-k_split // tk)
    peak_sm = peak * (mma_eff or c.mma_eff) / sms
    t_mma = 2.0 * tm * tn * tk / peak_sm
    feed = tile_feed_bytes(tm * a_b, tn * w_b, tiles_m, tiles_n, cluster)
    t_feed = feed * tk / (c.l2_bw / sms)
    t_iter = max(t_mma, t_feed)
    out_b = 4.0 if split > 1 else o_b  # split-K partials are fp32
    t_epi = tm * tn * out_b / (c.l2_bw / sms)  # the tile's accumulators stored through L2
    t_cta = c.hbm_lat + k_iters * t_iter + t_epi
    tile_s = waves * t_cta
    if c.epi_overlap:
        # ping-pong: a wave's stores run under the next wave's MMAs; the last one's do not
        tile_s -= (waves - 1) * t_epi
    compute_s = waves * k_iters * t_mma
    # HBM traffic with L2 re-use: a wave covers ~wm × wn tiles of the output.
    a_tot = float(m) * k * groups * a_b
    b_tot = float(k) * n * groups * w_b
    c_tot = float(m) * n * groups * o_b
    l2u = c.l2_bytes * L2_REUSE_FRACTION
    in_flight = max(1, min(tiles, sms // split if split <= sms else 1))
    wm = max(1, min(tiles_m, math.isqrt(in_flight)))
    wn = max(1, min(tiles_n, in_flight // wm))
    ra = 1 if a_tot / groups <= l2u else -(-tiles_n // wn)
    rb = 1 if b_tot / groups <= l2u else -(-tiles_m // wm)
    read = a_tot * ra + b_tot * rb
    write = c_tot
    reduce_s = 0.0
    if split > 1:
        partial = float(split) * m * n * groups * 4.0
        if reduce_kernel:  # the GEMM writes only partials; the reduce reads them, writes C
            write = partial
            blocks = max(1, min(sms, -(-(m * n * groups) // REDUCE_ELEMS_PER_BLOCK)))
            reduce_s = c.launch + stream_time(c, partial, c_tot, blocks)
        else:
            write += partial
            read += partial
    memory_s = stream_time(c, read, write, min(ctas, sms),
                           c.gemm_bw_eff if bw_eff < 0.0 else bw_eff,
                           c.l2_bw / sms if tma_stream else 0.0)
    l2_traffic = float(ctas) * k_iters * feed * tk + write
    # near the ridge point the tile pipeline cannot hide the operand stream behind the MMA
    # (or the reverse): a smooth maximum with the measured exponent `gemm_p`
    # the last wave's epilogue: its tiles finish together and their output drains to HBM
    # with no later tiles to hide behind (earlier waves' stores overlap the next main loops)
    last = ctas - (waves - 1) * sms
    drain_s = stream_time(c, 0.0, write * last / ctas, last) - c.hbm_lat
    tile_s += drain_s
    body = max(tile_s, memory_s)
    if c.gemm_p > 0.0 and body > 0.0:
        lo = min(tile_s, memory_s) / body
        body *= (1.0 + lo ** c.gemm_p) ** (1.0 / c.gemm_p)
    # split-K: one more memory round trip for the partials' handshake; every GEMM kernel:
    # the operand pipeline fills before the first MMA and the last epilogue drains after
    handshake = reduce_s if reduce_kernel else c.hbm_lat
    t = body + (handshake if split > 1 else 0.0) + c.gemm_fill
    if reduce_s > 0.0:
        read += partial
        write += c_tot
    return GemmChoice(tm, tn, split, ctas, waves, tile_s, memory_s, compute_s, t_feed > t_mma,
                      read, write, l2_traffic, ra, rb, t, reduce_s)


# Searches repeat (a serve cost table maps ~5 traces per distinct GEMM shape): results are
# memoized by (id of the GpuFigures object, arguments); each entry holds its figures object,
# so the id cannot be reused while the entry lives, and a hit checks it is the same object.
_MEMO: dict[tuple[object, ...], tuple[GpuFigures, GemmChoice]] = {}
_MEMO_ENTRIES = 1 << 17  # dropped whole when full (cheaper than LRU bookkeeping per hit)


def clear_memo() -> None:
    """Forget every memoized search (a cold estimate starts from none)."""
    _MEMO.clear()


def memo_entries() -> int:
    """How many searches are memoized."""
    return len(_MEMO)


def gemm_search(c: GpuFigures, m: int, k: int, n: int, groups: int, a_b: float, w_b: float,
                o_b: float, peak: float, imbalance: float = 1.0,
                mma_eff: float = 0.0, bw_eff: float = -1.0, tile_set: int = 0,
                k_b: float = 0.0) -> GemmChoice:
    """The fastest (tile, split-K) mapping of a GEMM — the mapper's tiling search over
    `TILE_SETS[tile_set]` (0: `TILES`, 1: `TILES_WAVE_FIT`, in thread-block clusters of the
    GPU's `tma_multicast`: cuBLAS 12.8+'s nvjet kernels run every tile in a cluster)."""
    key = (id(c), m, k, n, groups, a_b, w_b, o_b, peak, imbalance, mma_eff, bw_eff, tile_set,
           k_b)
    hit = _MEMO.get(key)
    if hit is not None and hit[0] is c:
        return hit[1]
    ch = gemm_search_uncached(c, m, k, n, groups, a_b, w_b, o_b, peak, imbalance, mma_eff,
                              bw_eff, tile_set, k_b)
    if len(_MEMO) >= _MEMO_ENTRIES:
        _MEMO.clear()
    _MEMO[key] = (c, ch)
    return ch


def gemm_search_uncached(c: GpuFigures, m: int, k: int, n: int, groups: int, a_b: float,
                         w_b: float, o_b: float, peak: float, imbalance: float = 1.0,
                         mma_eff: float = 0.0, bw_eff: float = -1.0,
                         tile_set: int = 0, k_b: float = 0.0) -> GemmChoice:
    """`gemm_search` without the memo: every (tile, split-K) candidate (`gemm_candidates`),
    first strict minimum in search order (tiles outer, SPLITS inner)."""
    best: GemmChoice | None = None
    for ch in gemm_candidates(c, m, k, n, groups, a_b, w_b, o_b, peak, imbalance, mma_eff,
                              bw_eff, tile_set, k_b):
        if best is None or ch.time_s < best.time_s:
            best = ch
    assert best is not None
    return best


def gemm_candidates(c: GpuFigures, m: int, k: int, n: int, groups: int, a_b: float,
                    w_b: float, o_b: float, peak: float, imbalance: float = 1.0,
                    mma_eff: float = 0.0, bw_eff: float = -1.0, tile_set: int = 0,
                    k_b: float = 0.0, only: tuple[int, int] | None = None
                    ) -> Iterator[GemmChoice]:
    """Every (tile, split-K) mapping the search weighs, in search order (tiles of
    `TILE_SETS[tile_set]` outer, `SPLITS` inner): split-K only while the tiles alone leave
    SMs idle and each split keeps `MIN_SPLIT_K` of K. `only`: that (rows, columns) tile's
    mappings alone, so a library's own choice can be priced by its tile and split
    (`validation.datasets.gpu_measurements.tile_choices`)."""
    # the nvjet library runs every tile in a cluster, sums split-K partials in a kernel of
    # its own (each `_splitK_` kernel of the H200 sweep is followed by cuBLAS's
    # `splitKreduce_kernel`; ~1.7 us of device time each, run4/kernel_census.csv), and feeds
    # its tiles through TMA pipelines (16 stages of a 64 x 8 GEMV tile: the 32-64-CTA GEMVs
    # of the sweep stream ~90 GB/s per SM, where 32 KiB in flight would allow ~55)
    nvjet = tile_set == 1
    cluster = c.multicast if nvjet else 1
    for tm, tn in TILE_SETS[tile_set]:
        if only is not None and (tm, tn) != only:
            continue
        tiles = groups * (-(-m // tm)) * (-(-n // tn))
        for split in SPLITS:
            # split-K only when the tiles alone leave SMs idle and K is long enough
            if split > 1 and (k // split < MIN_SPLIT_K or tiles >= c.sms):
                break
            yield gemm_candidate(c, m, k, n, groups, a_b, w_b, o_b, peak, tm, tn, split,
                                 imbalance, mma_eff, bw_eff, cluster, nvjet, nvjet, k_b)
