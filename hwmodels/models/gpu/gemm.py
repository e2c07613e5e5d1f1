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
one-wave GEMM with a short K and a wide output. Every GEMM kernel adds `gemm_fill_us`: its operand
pipeline fills before the first MMA and the last tiles' epilogue drains after it (cuBLAS
kernels on H100/A100 take ~2 µs beyond their waves; fitted on Vidur's measured GEMMs).
Grouped (MoE) GEMMs run as one grouped kernel: each group's rows are tiled on their own
(small per-expert M wastes the MMA tile), and under `imbalance` (max/mean rows) the busiest
group needs ceil(imbalance·m/tm) row tiles instead of ceil(m/tm); the tiles of all groups
share the SMs' waves.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from infersim.hwmodels.models.gpu.figures import L2_REUSE_FRACTION, GpuFigures, stream_time

# CUTLASS-like thread-block tiles (rows of A × columns of B). Larger tiles re-use operands
# more (fewer L2 bytes per FLOP); smaller ones waste less on ragged edges and fill more SMs.
TILES: tuple[tuple[int, int], ...] = (
    (256, 128), (128, 256), (128, 128), (128, 64), (64, 128), (64, 64),
)
SPLITS: tuple[int, ...] = (1, 2, 3, 4, 6, 8, 12, 16)
_TILE_K_BYTES = 128  # bytes of K per main-loop iteration per operand row (64 bf16, 128 fp8)
MIN_SPLIT_K = 256  # split-K keeps at least this many K elements per split


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


def gemm_candidate(c: GpuFigures, m: int, k: int, n: int, groups: int, a_b: float, w_b: float,
                   o_b: float, peak: float, tm: int, tn: int, split: int,
                   imbalance: float = 1.0, mma_eff: float = 0.0) -> GemmChoice:
    """Time of an (m×k)·(k×n) GEMM (× groups) with thread-block tile tm×tn and split-K.
    `mma_eff`: the tile loop's share of `peak` (0 = the GPU's `mma_efficiency`)."""
    tiles_m = -(-m // tm)
    tiles_n = -(-n // tn)
    # the busiest group's extra row tiles (its rows are imbalance·m, the others ~m)
    extra_m = max(0, math.ceil(imbalance * m / tm - 1e-9) - tiles_m) if groups > 1 else 0
    tiles = (groups * tiles_m + extra_m) * tiles_n
    ctas = tiles * split
    sms = c.sms
    waves = -(-ctas // sms)
    tk = max(16, int(_TILE_K_BYTES / min(a_b, w_b)))
    k_split = -(-k // split)
    k_iters = -(-k_split // tk)
    peak_sm = peak * (mma_eff or c.mma_eff) / sms
    t_mma = 2.0 * tm * tn * tk / peak_sm
    t_feed = (tm * a_b + tn * w_b) * tk / (c.l2_bw / sms)
    t_iter = max(t_mma, t_feed)
    out_b = 4.0 if split > 1 else o_b  # split-K partials are fp32
    t_cta = c.hbm_lat + k_iters * t_iter + tm * tn * out_b / (c.l2_bw / sms)
    tile_s = waves * t_cta
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
    if split > 1:
        partial = float(split) * m * n * groups * 4.0
        write += partial
        read += partial
    memory_s = stream_time(c, read, write, min(ctas, sms), c.gemm_bw_eff)
    l2_traffic = float(ctas) * k_iters * (tm * a_b + tn * w_b) * tk + write
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
    t = body + (c.hbm_lat if split > 1 else 0.0) + c.gemm_fill
    return GemmChoice(tm, tn, split, ctas, waves, tile_s, memory_s, compute_s, t_feed > t_mma,
                      read, write, l2_traffic, ra, rb, t)


# The search grid in search order (TILES outer, SPLITS inner), as arrays for the vector pass.
_GRID_TM = np.array([tm for tm, _ in TILES for _ in SPLITS], dtype=np.int64)
_GRID_TN = np.array([tn for _, tn in TILES for _ in SPLITS], dtype=np.int64)
_GRID_SPLIT = np.array([s for _ in TILES for s in SPLITS], dtype=np.int64)
_GRID_SPLIT_F = _GRID_SPLIT.astype(np.float64)
_GRID_TILE = np.repeat(np.arange(len(TILES)), len(SPLITS))
_TILE_TM = np.array([tm for tm, _ in TILES], dtype=np.int64)
_TILE_TN = np.array([tn for _, tn in TILES], dtype=np.int64)
# from this many candidates on, one numpy pass beats a Python loop over them (measured on
# the shared 2-core dev machine, random H100 shapes: ~150-220 µs per pass whatever the
# count, ~7 µs per candidate in the loop; equal at 30-31 candidates)
_VECTOR_MIN_CANDIDATES = 30

# Searches repeat (a serve cost table maps ~5 traces per distinct GEMM shape): results are
# memoized by (id of the GpuFigures object, arguments); each entry holds its figures object,
# so the id cannot be reused while the entry lives, and a hit checks it is the same object.
_MEMO: dict[tuple[object, ...], tuple[GpuFigures, GemmChoice]] = {}
_MEMO_ENTRIES = 1 << 17  # dropped whole when full (cheaper than LRU bookkeeping per hit)


def clear_memo() -> None:
    """Forget every memoized search (a cold estimate starts from none)."""
    _MEMO.clear()


def gemm_search(c: GpuFigures, m: int, k: int, n: int, groups: int, a_b: float, w_b: float,
                o_b: float, peak: float, imbalance: float = 1.0,
                mma_eff: float = 0.0) -> GemmChoice:
    """The fastest (tile, split-K) mapping of a GEMM — the mapper's tiling search."""
    key = (id(c), m, k, n, groups, a_b, w_b, o_b, peak, imbalance, mma_eff)
    hit = _MEMO.get(key)
    if hit is not None and hit[0] is c:
        return hit[1]
    ch = gemm_search_uncached(c, m, k, n, groups, a_b, w_b, o_b, peak, imbalance, mma_eff)
    if len(_MEMO) >= _MEMO_ENTRIES:
        _MEMO.clear()
    _MEMO[key] = (c, ch)
    return ch


def gemm_search_uncached(c: GpuFigures, m: int, k: int, n: int, groups: int, a_b: float,
                         w_b: float, o_b: float, peak: float, imbalance: float = 1.0,
                         mma_eff: float = 0.0) -> GemmChoice:
    """`gemm_search` without the memo: only the candidates' times are evaluated (no record
    per candidate), the first strict minimum in search order is kept, and the winner's
    record is built by `gemm_candidate` itself. Many candidates (split-K regimes) are timed
    in one numpy pass, a few in a plain loop (numpy's per-call overhead loses there); both
    repeat `gemm_candidate`'s operations in its order, so element-wise IEEE + − × ÷ give its
    bits, and the powers are taken by Python in both."""
    n_split = sum(1 for s in SPLITS[1:] if k // s >= MIN_SPLIT_K)
    idle = sum(1 for tm, tn in TILES if groups * (-(-m // tm)) * (-(-n // tn)) < c.sms)
    if len(TILES) + n_split * idle >= _VECTOR_MIN_CANDIDATES:
        try:
            with np.errstate(divide="raise", invalid="raise", over="ignore"):
                i = candidate_index_numpy(c, m, k, n, groups, a_b, w_b, o_b, peak,
                                          imbalance, mma_eff)
        except FloatingPointError:
            i = -1  # a degenerate input: the scalar loop gives (or raises) what it always did
    else:
        i = candidate_index_loop(c, m, k, n, groups, a_b, w_b, o_b, peak, imbalance, mma_eff)
    if i < 0:
        return _search_scalar(c, m, k, n, groups, a_b, w_b, o_b, peak, imbalance, mma_eff)
    tm, tn = TILES[i // len(SPLITS)]
    return gemm_candidate(c, m, k, n, groups, a_b, w_b, o_b, peak, tm, tn,
                          SPLITS[i % len(SPLITS)], imbalance, mma_eff)


def _search_scalar(c: GpuFigures, m: int, k: int, n: int, groups: int, a_b: float,
                   w_b: float, o_b: float, peak: float, imbalance: float,
                   mma_eff: float) -> GemmChoice:
    best: GemmChoice | None = None
    for tm, tn in TILES:
        tiles = groups * (-(-m // tm)) * (-(-n // tn))
        for split in SPLITS:
            # split-K only when the tiles alone leave SMs idle and K is long enough
            if split > 1 and (k // split < MIN_SPLIT_K or tiles >= c.sms):
                break
            ch = gemm_candidate(c, m, k, n, groups, a_b, w_b, o_b, peak, tm, tn, split,
                                imbalance, mma_eff)
            if best is None or ch.time_s < best.time_s:
                best = ch
    assert best is not None
    return best


def candidate_index_numpy(c: GpuFigures, m: int, k: int, n: int, groups: int, a_b: float,
                          w_b: float, o_b: float, peak: float, imbalance: float,
                          mma_eff: float) -> int:
    """Grid cell (tile index × len(SPLITS) + split index) of the fastest candidate, all
    timed in one numpy pass (-1: not decidable here, e.g. a NaN time). Each line mirrors
    `gemm_candidate` with the same operation order. Call under np.errstate(divide="raise",
    invalid="raise"), so that a division the scalar model would refuse is not hidden."""
    sms = c.sms
    tiles_m_t = -(-m // _TILE_TM)
    tiles_n_t = -(-n // _TILE_TN)
    if groups > 1:
        need = np.ceil(imbalance * m / _TILE_TM - 1e-9).astype(np.int64)
        extra_t = np.maximum(0, need - tiles_m_t)
    else:
        extra_t = np.zeros(len(TILES), dtype=np.int64)
    g = _GRID_TILE
    tiles_m = tiles_m_t[g]
    tiles_n = tiles_n_t[g]
    tiles = (groups * tiles_m + extra_t[g]) * tiles_n
    split = _GRID_SPLIT
    # the search's split-K filter (the scalar loop's `break` is monotone in split)
    ok = (split == 1) | ((k // split >= MIN_SPLIT_K) & ((groups * tiles_m_t * tiles_n_t)[g]
                                                        < sms))
    ctas = tiles * split
    waves = -(-ctas // sms)
    tm = _GRID_TM
    tn = _GRID_TN
    tk = max(16, int(_TILE_K_BYTES / min(a_b, w_b)))
    k_split = -(-k // split)
    k_iters = -(-k_split // tk)
    peak_sm = peak * (mma_eff or c.mma_eff) / sms
    t_mma = 2.0 * tm * tn * tk / peak_sm
    t_feed = (tm * a_b + tn * w_b) * tk / (c.l2_bw / sms)
    t_iter = np.maximum(t_mma, t_feed)
    out_b = np.where(split > 1, 4.0, float(o_b))
    t_cta = c.hbm_lat + k_iters * t_iter + tm * tn * out_b / (c.l2_bw / sms)
    tile_s = waves * t_cta
    a_tot = float(m) * k * groups * a_b
    b_tot = float(k) * n * groups * w_b
    c_tot = float(m) * n * groups * o_b
    l2u = c.l2_bytes * L2_REUSE_FRACTION
    in_flight = np.maximum(1, np.minimum(tiles, np.where(split <= sms, sms // split, 1)))
    root = np.sqrt(in_flight.astype(np.float64)).astype(np.int64)  # isqrt, corrected below
    root -= root * root > in_flight
    root += (root + 1) * (root + 1) <= in_flight
    wm = np.maximum(1, np.minimum(tiles_m, root))
    wn = np.maximum(1, np.minimum(tiles_n, in_flight // wm))
    ra = 1 if a_tot / groups <= l2u else -(-tiles_n // wn)
    rb = 1 if b_tot / groups <= l2u else -(-tiles_m // wm)
    base_read = a_tot * ra + b_tot * rb
    partial = _GRID_SPLIT_F * m * n * groups * 4.0
    multi = split > 1
    write = np.where(multi, c_tot + partial, c_tot)
    read = np.where(multi, base_read + partial, base_read)
    # stream_time(c, read, write, min(ctas, sms), c.gemm_bw_eff), element-wise
    eff = c.gemm_bw_eff
    if eff > 0.0:
        t_bw = (read + write) / (c.hbm_bw * eff)
    else:
        t_bw = read / (c.hbm_bw * c.eff_r) + write / (c.hbm_bw * c.eff_w)
    if c.hbm_lat > 0.0:
        cap = np.maximum(1.0, np.minimum(ctas, sms)) * c.inflight / c.hbm_lat
        t_bw = np.maximum(t_bw, (read + write) / cap)
    memory_s = c.hbm_lat + t_bw
    # drain: stream_time(c, 0.0, write * last / ctas, last) - c.hbm_lat, element-wise
    last = ctas - (waves - 1) * sms
    w_last = write * last / ctas
    d_bw = 0.0 / (c.hbm_bw * c.eff_r) + w_last / (c.hbm_bw * c.eff_w)
    if c.hbm_lat > 0.0:
        cap = np.maximum(1.0, last) * c.inflight / c.hbm_lat
        d_bw = np.maximum(d_bw, (0.0 + w_last) / cap)
    tile_s = tile_s + ((c.hbm_lat + d_bw) - c.hbm_lat)
    body = np.maximum(tile_s, memory_s)
    p = c.gemm_p
    if p > 0.0:
        pos = body > 0.0
        lo = (np.minimum(tile_s, memory_s) / np.where(pos, body, 1.0)).tolist()
        inv = 1.0 / p
        fac = [(1.0 + x ** p) ** inv if y else 1.0 for x, y in
               zip(lo, pos.tolist(), strict=True)]
        body = body * np.array(fac)
    t = body + np.where(multi, c.hbm_lat, 0.0) + c.gemm_fill
    t = np.where(ok, t, np.inf)
    i = int(np.argmin(t))
    return -1 if t[i] != t[i] else i


def candidate_index_loop(c: GpuFigures, m: int, k: int, n: int, groups: int, a_b: float,
                         w_b: float, o_b: float, peak: float, imbalance: float,
                         mma_eff: float) -> int:
    """Grid cell (as `candidate_index_numpy`) of the fastest candidate, timed one by one:
    `gemm_candidate`'s time only, same operation order, per-tile and per-split terms
    hoisted out of the candidate loop."""
    sms = c.sms
    hbm_bw = c.hbm_bw
    lat = c.hbm_lat
    l2_sm = c.l2_bw / sms
    tk = max(16, int(_TILE_K_BYTES / min(a_b, w_b)))
    peak_sm = peak * (mma_eff or c.mma_eff) / sms
    a_tot = float(m) * k * groups * a_b
    b_tot = float(k) * n * groups * w_b
    c_tot = float(m) * n * groups * o_b
    l2u = c.l2_bytes * L2_REUSE_FRACTION
    a_fits = a_tot / groups <= l2u
    b_fits = b_tot / groups <= l2u
    eff = c.gemm_bw_eff
    bw_eff = hbm_bw * eff
    bw_r = hbm_bw * c.eff_r
    bw_w = hbm_bw * c.eff_w
    inflight = c.inflight
    p = c.gemm_p
    inv_p = 1.0 / p if p > 0.0 else 0.0
    fill = c.gemm_fill
    zero_r = 0.0 / bw_r
    k_iters_of = [-((-k // s) // tk) for s in SPLITS]  # ceil(ceil(k/split)/tk)
    best_t = 0.0
    best_i = -1
    i = 0
    for tm, tn in TILES:
        tiles_m = -(-m // tm)
        tiles_n = -(-n // tn)
        extra_m = max(0, math.ceil(imbalance * m / tm - 1e-9) - tiles_m) if groups > 1 else 0
        tiles = (groups * tiles_m + extra_m) * tiles_n
        search_tiles = groups * tiles_m * tiles_n
        t_mma = 2.0 * tm * tn * tk / peak_sm
        t_feed = (tm * a_b + tn * w_b) * tk / l2_sm
        t_iter = max(t_mma, t_feed)
        for j, split in enumerate(SPLITS):
            if split > 1 and (k // split < MIN_SPLIT_K or search_tiles >= sms):
                break
            ctas = tiles * split
            waves = -(-ctas // sms)
            k_iters = k_iters_of[j]
            out_b = 4.0 if split > 1 else o_b
            tile_s = waves * (lat + k_iters * t_iter + tm * tn * out_b / l2_sm)
            in_flight = max(1, min(tiles, sms // split if split <= sms else 1))
            wm = max(1, min(tiles_m, math.isqrt(in_flight)))
            wn = max(1, min(tiles_n, in_flight // wm))
            ra = 1 if a_fits else -(-tiles_n // wn)
            rb = 1 if b_fits else -(-tiles_m // wm)
            read = a_tot * ra + b_tot * rb
            write = c_tot
            if split > 1:
                partial = float(split) * m * n * groups * 4.0
                write += partial
                read += partial
            # stream_time(c, read, write, min(ctas, sms), c.gemm_bw_eff)
            t_bw = (read + write) / bw_eff if eff > 0.0 else read / bw_r + write / bw_w
            if lat > 0.0:
                t_bw = max(t_bw, (read + write) / (max(1.0, min(ctas, sms)) * inflight / lat))
            memory_s = lat + t_bw
            # the last wave's drain: stream_time(c, 0.0, w, last) - c.hbm_lat
            last = ctas - (waves - 1) * sms
            w = write * last / ctas
            d_bw = zero_r + w / bw_w
            if lat > 0.0:
                d_bw = max(d_bw, (0.0 + w) / (max(1.0, last) * inflight / lat))
            tile_s += (lat + d_bw) - lat
            body = max(tile_s, memory_s)
            if p > 0.0 and body > 0.0:
                body *= (1.0 + (min(tile_s, memory_s) / body) ** p) ** inv_p
            t = body + (lat if split > 1 else 0.0) + fill
            if best_i < 0 or t < best_t:
                best_t = t
                best_i = i + j
        i += len(SPLITS)
    return best_i
