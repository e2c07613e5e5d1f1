"""Numba CPU kernels that measure the host: STREAM copy/scale/add/triad, a sum reduction, a
compute-bound vector FMA kernel, a cache-blocked GEMM, and an empty parallel kernel.

Every kernel is multi-threaded with `numba.prange` over `numba.config.NUMBA_NUM_THREADS`
worker threads (static chunking: thread t always gets the same contiguous slice, so a working
set that fits the per-core caches stays there between calls). Outputs are written by the
kernel in full, so callers can poison them with NaN and detect any element left unwritten.

Bytes per call follow the STREAM convention (each array element read or written counts once:
copy/scale 2 arrays, add/triad 3, sum 1); FLOPs count the arithmetic the loop does (scale 1,
add 1, triad 2, sum 1 per element, GEMM 2·m·k·n, vector FMA `VFMA_FLOPS_PER_ELEM`).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

# Independent multiply-add chains per element in `vector_fma` (enough to cover FMA latency ×
# pipes) and steps per chain. FLOPs per element: w = v·c1 (1), six chain seeds (6), the
# chains (2 per step), the final sum of 8 chains (7).
VFMA_CHAINS = 8
VFMA_DEPTH = 8
VFMA_FLOPS_PER_ELEM = 1 + 6 + 2 * VFMA_CHAINS * VFMA_DEPTH + 7

# Default GEMM tile: rows × columns of C per task, and the k-slab kept hot in L1/L2.
GEMM_BM = 64
GEMM_BN = 256
GEMM_BK = 64


@njit(parallel=True, cache=True)
def stream_copy(a: np.ndarray, c: np.ndarray) -> None:  # pragma: no cover - compiled
    """c[i] = a[i]"""
    for i in prange(a.shape[0]):
        c[i] = a[i]


@njit(parallel=True, cache=True)
def stream_scale(c: np.ndarray, b: np.ndarray, s: float) -> None:  # pragma: no cover
    """b[i] = s·c[i]"""
    for i in prange(c.shape[0]):
        b[i] = s * c[i]


@njit(parallel=True, cache=True)
def stream_add(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> None:  # pragma: no cover
    """c[i] = a[i] + b[i]"""
    for i in prange(a.shape[0]):
        c[i] = a[i] + b[i]


@njit(parallel=True, cache=True)
def stream_triad(b: np.ndarray, c: np.ndarray, a: np.ndarray, s: float) -> None:  # pragma: no cover
    """a[i] = b[i] + s·c[i]"""
    for i in prange(b.shape[0]):
        a[i] = b[i] + s * c[i]


@njit(parallel=True, fastmath=True, cache=True)
def reduce_sum(a: np.ndarray) -> float:  # pragma: no cover
    """Σ a[i]; fastmath lets LLVM reassociate the sum into SIMD partial sums."""
    acc = 0.0
    for i in prange(a.shape[0]):
        acc += a[i]
    return acc


@njit(parallel=True, cache=True)
def vector_fma(x: np.ndarray, out: np.ndarray, c1: float, c2: float) -> None:  # pragma: no cover
    """out[i] = Σ of VFMA_CHAINS Horner chains y ← y·w + c2 (VFMA_DEPTH steps) with
    w = x[i]·c1: compute-bound elementwise work, the vector-unit FLOP ceiling.

    No fastmath, and the chains multiply by the element's own value: with reassociation and
    loop-invariant multipliers LLVM folds an affine chain into one multiply-add, and the
    kernel would measure memory traffic instead of arithmetic. Pass c1, c2 as scalars of the
    array's dtype (a Python float is float64 and would promote fp32 arithmetic to fp64)."""
    for i in prange(x.shape[0]):
        v = x[i]
        w = v * c1
        y0 = v
        y1 = v + c2
        y2 = v - c2
        y3 = w
        y4 = w + c2
        y5 = w - c2
        y6 = v + c1
        y7 = w + c1
        for _ in range(VFMA_DEPTH):
            y0 = y0 * w + c2
            y1 = y1 * w + c2
            y2 = y2 * w + c2
            y3 = y3 * w + c2
            y4 = y4 * w + c2
            y5 = y5 * w + c2
            y6 = y6 * w + c2
            y7 = y7 * w + c2
        out[i] = ((y0 + y1) + (y2 + y3)) + ((y4 + y5) + (y6 + y7))


@njit(parallel=True, cache=True)
def empty_parallel(out: np.ndarray) -> None:  # pragma: no cover
    """One trivial write per worker: the fixed cost of calling a parallel kernel."""
    for t in prange(out.shape[0]):
        out[t] = t


@njit(parallel=True, fastmath=True, cache=True)
def gemm_tiled(A: np.ndarray, B: np.ndarray, C: np.ndarray, bm: int, bn: int,
               bk: int) -> None:  # pragma: no cover
    """C = A @ B (row-major), cache-blocked: one parallel task per bm × bn tile of C, with the
    tile accumulated in a private buffer over k-slabs of bk. Micro-kernel: 4 rows of A × 2 rows
    of B per pass over 4 accumulator rows (each loaded B element feeds 4 FMAs, each
    accumulator load/store 2); leftover rows (all rows when m < 4) take 4 rows of B per pass.
    The B rows in flight at once keep enough cache misses outstanding when B comes from
    DRAM."""
    M, K = A.shape
    N = B.shape[1]
    nbm = (M + bm - 1) // bm
    nbn = (N + bn - 1) // bn
    for t in prange(nbm * nbn):
        i0 = (t // nbn) * bm
        j0 = (t % nbn) * bn
        i1 = min(M, i0 + bm)
        j1 = min(N, j0 + bn)
        w = j1 - j0
        acc = np.zeros((i1 - i0, w), dtype=C.dtype)
        for k0 in range(0, K, bk):
            k1 = min(K, k0 + bk)
            i = i0
            while i + 4 <= i1:  # 4 rows of A × 2 rows of B per pass over the accumulators
                r0 = acc[i - i0]
                r1 = acc[i - i0 + 1]
                r2 = acc[i - i0 + 2]
                r3 = acc[i - i0 + 3]
                k = k0
                while k + 2 <= k1:
                    a00 = A[i, k]
                    a01 = A[i, k + 1]
                    a10 = A[i + 1, k]
                    a11 = A[i + 1, k + 1]
                    a20 = A[i + 2, k]
                    a21 = A[i + 2, k + 1]
                    a30 = A[i + 3, k]
                    a31 = A[i + 3, k + 1]
                    b0 = B[k, j0:j1]
                    b1 = B[k + 1, j0:j1]
                    for j in range(w):
                        x0 = b0[j]
                        x1 = b1[j]
                        r0[j] += a00 * x0 + a01 * x1
                        r1[j] += a10 * x0 + a11 * x1
                        r2[j] += a20 * x0 + a21 * x1
                        r3[j] += a30 * x0 + a31 * x1
                    k += 2
                while k < k1:
                    a00 = A[i, k]
                    a10 = A[i + 1, k]
                    a20 = A[i + 2, k]
                    a30 = A[i + 3, k]
                    b0 = B[k, j0:j1]
                    for j in range(w):
                        x0 = b0[j]
                        r0[j] += a00 * x0
                        r1[j] += a10 * x0
                        r2[j] += a20 * x0
                        r3[j] += a30 * x0
                    k += 1
                i += 4
            while i < i1:  # leftover rows (all rows when m < 4): 4 rows of B per pass
                r0 = acc[i - i0]
                k = k0
                while k + 4 <= k1:
                    a0 = A[i, k]
                    a1 = A[i, k + 1]
                    a2 = A[i, k + 2]
                    a3 = A[i, k + 3]
                    b0 = B[k, j0:j1]
                    b1 = B[k + 1, j0:j1]
                    b2 = B[k + 2, j0:j1]
                    b3 = B[k + 3, j0:j1]
                    for j in range(w):
                        r0[j] += (a0 * b0[j] + a1 * b1[j]) + (a2 * b2[j] + a3 * b3[j])
                    k += 4
                while k < k1:
                    a0 = A[i, k]
                    b0 = B[k, j0:j1]
                    for j in range(w):
                        r0[j] += a0 * b0[j]
                    k += 1
                i += 1
        for i in range(i0, i1):
            C[i, j0:j1] = acc[i - i0]


def gemm_tiles(m: int, n: int, threads: int) -> tuple[int, int, int]:
    """Tile sizes (bm, bn, bk) for an m × n output: the default tile, narrowed along n when m
    fits one row block so that at least 2 tasks per thread exist (GEMV-like shapes)."""
    bm, bn = GEMM_BM, GEMM_BN
    if m <= bm:
        want = max(1, 2 * threads)
        per = -(-n // want)
        bn = max(16, min(GEMM_BN, -(-per // 16) * 16))
    return bm, bn, GEMM_BK


def gemm(A: np.ndarray, B: np.ndarray, C: np.ndarray, threads: int) -> None:
    """C = A @ B with the tile chooser above."""
    bm, bn, bk = gemm_tiles(A.shape[0], B.shape[1], threads)
    gemm_tiled(A, B, C, bm, bn, bk)
