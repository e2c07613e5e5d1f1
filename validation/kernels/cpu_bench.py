"""Run the CPU kernel cases: check each against NumPy, then time it.

Array pools: elementwise cases of one dtype share three preallocated arrays (two random
inputs, one output) and take views of the first n elements, so a sweep over sizes allocates
and fills memory once.

GEMM cases get fresh random A, and B — the weights in a model — is cold, as in a model step
where every weight matrix is used once and the rest of the model evicts it before the next
step: each call takes the next of enough copies of B to fill `cold_bytes`, while A and C
(activations) stay cache-resident. The copies are consecutive views of one random pool per
dtype, filled once.
Attention cases run the small transformer's kernel on random Q/K/V.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numba
import numpy as np
import numpy.typing as npt

from infersim.validation.kernels import check as chk
from infersim.validation.kernels import cpu as k
from infersim.validation.kernels import llm
from infersim.validation.kernels.cases import ATTN_HEAD_DIM, ATTN_HEADS, ATTN_KV_HEADS, Case, Kernel
from infersim.validation.kernels.timing import Timing, TimingPolicy, time_calls

_NP = {"fp32": np.float32, "fp64": np.float64}
SCALAR = 0.75  # the scalar s of scale/triad; any nonzero value
VFMA_C1, VFMA_C2 = 0.999, 0.001  # inputs in [0.5, 1.5): chains stay in range

# Elementwise outputs longer than this are checked on a strided sample of CHECK_SAMPLE elements
# (after a full pass for unwritten elements): the kernels' index arithmetic is the same at
# every size, and smaller sizes are checked element by element.
CHECK_FULL_ELEMS = 1 << 20
CHECK_SAMPLE = 1 << 16

Array = npt.NDArray[Any]
GemmArrays = tuple[Array, list[Array], Array]  # A, copies of B, C
AttentionArrays = tuple[Array, list[Array], list[Array], Array]  # QKV, K/V cache copies, out


def worker_threads() -> int:
    """Worker threads the kernels use: `numba.config.NUMBA_NUM_THREADS` (env NUMBA_NUM_THREADS),
    or fewer if `numba.set_num_threads` lowered it."""
    return int(numba.get_num_threads())


class CpuBench:
    device = "cpu"

    def __init__(self, cases: Sequence[Case], seed: int = 0, cold_bytes: float = 96e6):
        self.cold_bytes = cold_bytes
        self.rng = np.random.default_rng(seed)
        self.threads = worker_threads()
        self._pool: dict[str, tuple[Array, Array, Array]] = {}
        need: dict[str, int] = {}
        for c in cases:
            if c.kernel not in (Kernel.GEMM, Kernel.EMPTY, Kernel.ATTENTION):
                need[c.dtype] = max(need.get(c.dtype, 0), c.n)
        for dt, n in need.items():
            x = chk.random_inputs(self.rng, n, _NP[dt])
            y = chk.random_inputs(self.rng, n, _NP[dt])
            self._pool[dt] = (x, y, np.empty(n, dtype=_NP[dt]))
        self._empty_out = np.zeros(max(1, self.threads), dtype=np.int64)
        # the arrays of the last GEMM / attention case, keyed by (kind, dtype, sizes...)
        self._gemm_cache: tuple[tuple[str, str, int, int, int], GemmArrays] | None = None
        self._attn_cache: tuple[tuple[str, str, int, int], AttentionArrays] | None = None
        self._cold: dict[str, Array] = {}  # dtype -> random values the GEMMs' B copies view

    # -- one call of a case, with its arrays bound ------------------------------------------
    def _call(self, case: Case) -> Callable[[], object]:
        if case.kernel == Kernel.EMPTY:
            out = self._empty_out
            return lambda: k.empty_parallel(out)
        if case.kernel == Kernel.GEMM:
            a, bs, c = self._gemm_arrays(case)
            bm, bn, bk = k.gemm_tiles(case.m, case.n, self.threads)
            turn = [0]

            def call() -> None:
                i = turn[0]
                turn[0] = (i + 1) % len(bs)
                k.gemm_tiled(a, bs[i], c, bm, bn, bk)

            return call
        if case.kernel == Kernel.ATTENTION:
            qkv, kcs, vcs, out = self._attention_arrays(case)
            pos0 = case.n - case.m
            nxt = [0]

            def attend() -> None:
                i = nxt[0]
                nxt[0] = (i + 1) % len(kcs)
                llm.attention_gqa(qkv, ATTN_HEADS, ATTN_KV_HEADS, ATTN_HEAD_DIM, kcs[i],
                                  vcs[i], pos0, out)

            return attend
        x, y, z = (arr[: case.n] for arr in self._pool[case.dtype])
        s = x.dtype.type(SCALAR)  # a scalar of the array dtype: no promotion to float64
        c1, c2 = x.dtype.type(VFMA_C1), x.dtype.type(VFMA_C2)
        return {
            Kernel.COPY: lambda: k.stream_copy(x, z),
            Kernel.SCALE: lambda: k.stream_scale(x, z, s),
            Kernel.ADD: lambda: k.stream_add(x, y, z),
            Kernel.TRIAD: lambda: k.stream_triad(x, y, z, s),
            Kernel.SUM: lambda: k.reduce_sum(x),
            Kernel.VFMA: lambda: k.vector_fma(x, z, c1, c2),
        }[case.kernel]

    def _gemm_arrays(self, case: Case) -> GemmArrays:
        """A, copies of B (the first is the checked one), C."""
        key = ("gemm", case.dtype, case.m, case.k, case.n)
        cached = self._gemm_cache
        if cached is not None and cached[0] == key:
            return cached[1]
        dt = _NP[case.dtype]
        per = case.k * case.n
        pool = self._cold_pool(case.dtype)
        if per <= pool.size:  # consecutive views of the pool: no fill per case
            copies = min(4096, pool.size // per)
            bs = [pool[i * per:(i + 1) * per].reshape(case.k, case.n) for i in range(copies)]
        else:  # one B larger than the pool is cold by itself
            bs = [chk.random_inputs(self.rng, (case.k, case.n), dt)]
        arrs: GemmArrays = (chk.random_inputs(self.rng, (case.m, case.k), dt), bs,
                            np.empty((case.m, case.n), dtype=dt))
        self._gemm_cache = (key, arrs)
        return arrs

    def _cold_pool(self, dtype: str) -> Array:
        """`cold_bytes` of random values per dtype, made once: the copies of every GEMM's B
        are consecutive views of it (filling ~100 MB per case costs more than timing it)."""
        pool = self._cold.get(dtype)
        if pool is None:
            elems = math.ceil(self.cold_bytes / np.dtype(_NP[dtype]).itemsize)
            pool = self._cold[dtype] = chk.random_inputs(self.rng, elems, _NP[dtype])
        return pool

    def _attention_arrays(self, case: Case) -> AttentionArrays:
        """Q/K/V rows, copies of the K and V caches (cold, like weights), output."""
        key = ("attention", case.dtype, case.m, case.n)
        cached = self._attn_cache
        if cached is not None and cached[0] == key:
            return cached[1]
        dt = _NP[case.dtype]
        width = (ATTN_HEADS + 2 * ATTN_KV_HEADS) * ATTN_HEAD_DIM
        qkv = chk.random_inputs(self.rng, (case.m, width), dt)
        kc = chk.random_inputs(self.rng, (ATTN_KV_HEADS, case.n, ATTN_HEAD_DIM), dt)
        vc = chk.random_inputs(self.rng, (ATTN_KV_HEADS, case.n, ATTN_HEAD_DIM), dt)
        copies = max(1, min(4096, math.ceil(self.cold_bytes / (2 * kc.nbytes))))
        out = np.empty((case.m, ATTN_HEADS * ATTN_HEAD_DIM), dtype=dt)
        arrs: AttentionArrays = (qkv, [kc] + [kc.copy() for _ in range(copies - 1)],
                                 [vc] + [vc.copy() for _ in range(copies - 1)], out)
        self._attn_cache = (key, arrs)
        return arrs

    # -- correctness ----------------------------------------------------------------------
    def check(self, case: Case) -> None:
        """Run the case once on poisoned outputs and compare with NumPy."""
        name = case.label
        if case.kernel == Kernel.EMPTY:
            out = self._empty_out
            out[:] = -1
            k.empty_parallel(out)
            if not np.array_equal(out, np.arange(out.size)):
                raise chk.KernelCheckError(f"{name}: workers did not all run")
            return
        if case.kernel == Kernel.GEMM:
            a, bs, c = self._gemm_arrays(case)
            b = bs[0]
            c[...] = np.nan
            bm, bn, bk = k.gemm_tiles(case.m, case.n, self.threads)
            k.gemm_tiled(a, b, c, bm, bn, bk)
            rows = np.unique(np.linspace(0, case.m - 1, min(case.m, 16)).astype(int))
            if not np.all(np.isfinite(c)):
                raise chk.KernelCheckError(f"{name}: output elements not written (NaN left)")
            ref, mag = chk.gemm_reference(a, b, rows)
            chk.expect_within(name, c[rows], ref, chk.gamma(case.k, a.dtype) * mag)
            return
        if case.kernel == Kernel.ATTENTION:
            qkv, kcs, vcs, out = self._attention_arrays(case)
            kc, vc = kcs[0], vcs[0]
            out[...] = np.nan
            llm.attention_gqa(qkv, ATTN_HEADS, ATTN_KV_HEADS, ATTN_HEAD_DIM, kc, vc,
                              case.n - case.m, out)
            ref = chk.attention_reference(qkv, kc, vc, ATTN_HEADS, ATTN_KV_HEADS,
                                          ATTN_HEAD_DIM, case.n - case.m)
            # softmax-weighted means of values in [0.5, 1.5): float32 rounding of a
            # kv-term sum, relative to the output magnitude
            chk.expect_within(name, out, ref, chk.gamma(4 * case.n, out.dtype) * np.abs(ref) + 1e-6)
            return
        x, y, z = (arr[: case.n] for arr in self._pool[case.dtype])
        z[:] = np.nan
        if case.kernel == Kernel.SUM:
            got = k.reduce_sum(x)
            x64 = x.astype(np.float64, copy=False)
            chk.expect_within(name, got, x64.sum(), chk.gamma(case.n, x.dtype) * np.abs(x64).sum())
            return
        self._call(case)()
        s = x.dtype.type(SCALAR)
        if case.n > CHECK_FULL_ELEMS:
            # beyond the caches: every element written (one pass), values on a strided sample
            # (full-size NumPy temporaries cost seconds per case on a starved machine)
            if not np.isfinite(z).all():
                bad = int(np.count_nonzero(~np.isfinite(z)))
                raise chk.KernelCheckError(f"{name}: {bad} output elements not written "
                                           "(NaN poison left)")
            step = -(-case.n // CHECK_SAMPLE)
            x, y, z = x[::step], y[::step], z[::step]
        if case.kernel == Kernel.VFMA:
            ref, mag = vfma_reference(x)
            chk.expect_within(name, z, ref, chk.gamma(4, x.dtype) * mag)
            return
        ref = {Kernel.COPY: x, Kernel.SCALE: s * x, Kernel.ADD: x + y,
               Kernel.TRIAD: x + s * y}[case.kernel]
        chk.expect_within(name, z, ref, 2 * np.spacing(np.abs(ref)))

    # -- timing ---------------------------------------------------------------------------
    def time(self, case: Case, policy: TimingPolicy) -> Timing:
        return time_calls(self._call(case), policy)

    def release(self) -> None:
        self._pool.clear()
        self._cold.clear()
        self._gemm_cache = None
        self._attn_cache = None


def _abs_sum(ys: Sequence[Array]) -> Array:
    """|ys[0]| + |ys[1]| + ..., summed left to right (as the builtin sum would)."""
    total = np.abs(ys[0])
    for y in ys[1:]:
        total = total + np.abs(y)
    return total


def vfma_reference(x: Array) -> tuple[Array, Array]:
    """float64 value of `vector_fma` and a magnitude for its rounding bound: the sum of
    |chain values| over every step, each step's earlier errors carried forward by |w|."""
    v = x.astype(np.float64)
    w = v * VFMA_C1
    ys = [v, v + VFMA_C2, v - VFMA_C2, w, w + VFMA_C2, w - VFMA_C2, v + VFMA_C1, w + VFMA_C1]
    mag = _abs_sum(ys)
    for _ in range(k.VFMA_DEPTH):
        ys = [y * w + VFMA_C2 for y in ys]
        mag = mag * np.maximum(np.abs(w), 1.0) + _abs_sum(ys)
    total = ((ys[0] + ys[1]) + (ys[2] + ys[3])) + ((ys[4] + ys[5]) + (ys[6] + ys[7]))
    return total, mag
