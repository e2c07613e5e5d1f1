"""CPU measurement kernels: results against NumPy (computed here, independently), the
checker's ability to fail (NaN poisoning, wrong values), and timing sanity."""

import math

import numba
import numpy as np
import pytest

from infersim.validation.kernels import check as chk
from infersim.validation.kernels import cpu as k
from infersim.validation.kernels.cases import Case, Kernel, Role
from infersim.validation.kernels.cpu_bench import CpuBench
from infersim.validation.kernels.timing import TimingPolicy, time_calls

RNG_SEED = 1234
SIZES = (1, 7, 1000, 4099)


def _inputs(n, dtype, seed=RNG_SEED):
    rng = np.random.default_rng(seed)
    return (rng.random(n) + 0.5).astype(dtype), (rng.random(n) + 0.5).astype(dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", SIZES)
def test_stream_kernels_match_numpy(n, dtype):
    x, y = _inputs(n, dtype)
    s = dtype(0.75)
    out = np.full(n, np.nan, dtype)
    k.stream_copy(x, out)
    np.testing.assert_array_equal(out, x)
    out[:] = np.nan
    k.stream_scale(x, out, s)
    np.testing.assert_allclose(out, s * x, rtol=2 * np.finfo(dtype).eps)
    out[:] = np.nan
    k.stream_add(x, y, out)
    np.testing.assert_allclose(out, x + y, rtol=2 * np.finfo(dtype).eps)
    out[:] = np.nan
    k.stream_triad(x, y, out, s)
    np.testing.assert_allclose(out, x + s * y, rtol=2 * np.finfo(dtype).eps)
    total = k.reduce_sum(x)
    # any summation order is within n·eps·Σ|x| of the exact sum
    assert abs(total - x.astype(np.float64).sum()) <= n * np.finfo(dtype).eps * np.abs(x).sum()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(1, 5, 3), (4, 64, 17), (33, 70, 96), (65, 130, 257)])
def test_tiled_gemm_matches_numpy(shape, dtype):
    m, kk, n = shape
    rng = np.random.default_rng(7)
    a = (rng.random((m, kk)) + 0.5).astype(dtype)
    b = (rng.random((kk, n)) + 0.5).astype(dtype)
    c = np.full((m, n), np.nan, dtype)
    k.gemm(a, b, c, threads=numba.get_num_threads())
    ref = a.astype(np.float64) @ b.astype(np.float64)
    # positive inputs: relative error of a k-term dot product ≤ k·eps
    np.testing.assert_allclose(c, ref, rtol=kk * np.finfo(dtype).eps)


def test_gemm_tiles_give_every_thread_work_for_gemv():
    # one row block: the n columns are split into ≥ 2 tasks per thread
    bm, bn, _ = k.gemm_tiles(1, 4096, threads=2)
    assert math.ceil(4096 / bn) >= 4
    bm, bn, _ = k.gemm_tiles(512, 4096, threads=2)
    assert (bm, bn) == (k.GEMM_BM, k.GEMM_BN)


def test_vector_fma_matches_float64_reference():
    x, _ = _inputs(513, np.float64)
    out = np.full_like(x, np.nan)
    c1, c2 = 0.999, 0.001
    k.vector_fma(x, out, c1, c2)
    # the kernel's arithmetic, written out independently
    w = x * c1
    ys = [x, x + c2, x - c2, w, w + c2, w - c2, x + c1, w + c1]
    for _ in range(k.VFMA_DEPTH):
        ys = [y * w + c2 for y in ys]
    ref = sum(ys)
    np.testing.assert_allclose(out, ref, rtol=1e-13)
    # FLOPs per element by hand: 1 (w) + 6 (seeds) + 8 chains × 8 steps × 2 + 7 (sum) = 142
    assert k.VFMA_FLOPS_PER_ELEM == 142


def test_empty_kernel_runs_every_worker():
    out = np.full(numba.get_num_threads(), -1, dtype=np.int64)
    k.empty_parallel(out)
    assert out.tolist() == list(range(out.size))


@pytest.mark.parametrize("kernel", [Kernel.COPY, Kernel.SCALE, Kernel.ADD, Kernel.TRIAD,
                                    Kernel.SUM, Kernel.VFMA, Kernel.EMPTY])
@pytest.mark.parametrize("dtype", ["fp32", "fp64"])
def test_bench_check_and_time(kernel, dtype):
    case = Case(kernel, dtype, 3000)
    bench = CpuBench([case], seed=0)
    bench.check(case)  # raises on a wrong or unwritten element
    t = bench.time(case, TimingPolicy(warmup=1, repeats=3, target_sample_s=2e-4))
    assert math.isfinite(t.median_s) and t.median_s > 0
    assert t.p10_s <= t.median_s <= t.p90_s
    assert t.repeats == 3 and t.inner >= 1


def test_bench_gemm_check_and_time():
    case = Case(Kernel.GEMM, "fp32", n=40, m=9, k=33, role=Role.HOLDOUT)
    bench = CpuBench([case], seed=0)
    bench.check(case)
    t = bench.time(case, TimingPolicy(warmup=1, repeats=3, target_sample_s=2e-4))
    assert t.median_s > 0 and math.isfinite(t.median_s)


def test_checker_catches_unwritten_elements():
    ref = np.arange(1, 11, dtype=np.float64)
    got = ref.copy()
    got[7] = np.nan  # a kernel that skipped one element leaves the poison
    with pytest.raises(chk.KernelCheckError, match="not written"):
        chk.expect_within("k", got, ref, 2 * np.spacing(ref))


def test_checker_catches_wrong_values():
    ref = np.ones(5)
    got = ref.copy()
    got[2] = 1.0 + 1e-9  # far more than 2 ulp
    with pytest.raises(chk.KernelCheckError, match="element 2"):
        chk.expect_within("k", got, ref, 2 * np.spacing(ref))


def test_bench_check_fails_on_a_broken_kernel(monkeypatch):
    case = Case(Kernel.COPY, "fp64", 100)
    bench = CpuBench([case], seed=0)

    def half_copy(a, c):  # writes only the first half
        c[: a.size // 2] = a[: a.size // 2]

    monkeypatch.setattr(k, "stream_copy", half_copy)
    with pytest.raises(chk.KernelCheckError):
        bench.check(case)


def test_gamma_matches_higham_definition():
    # γ_n = n·u/(1 − n·u), u = eps/2, plus the float64 reference allowance
    u = np.finfo(np.float32).eps / 2
    assert chk.gamma(100, np.float32) == pytest.approx(100 * u / (1 - 100 * u)
                                                       + 4 * np.finfo(np.float64).eps)


def test_time_calls_uses_the_median_of_samples():
    # a fake clock: each call advances 10 ns except the samples' calls, so per-call = 10 ns
    now = [0]

    def clock():
        return now[0]

    def fn():
        now[0] += 10

    t = time_calls(fn, TimingPolicy(warmup=1, repeats=5, target_sample_s=1e-7, max_retries=0),
                   clock=clock)
    assert t.median_s == pytest.approx(10e-9)
    assert t.inner == 10  # ceil(100 ns target / 10 ns per call)


def test_case_bytes_follow_the_stream_convention():
    # copy moves 2 arrays, triad 3, sum 1 (8-byte elements)
    assert Case(Kernel.COPY, "fp64", 1000).bytes == 2 * 8000
    assert Case(Kernel.TRIAD, "fp64", 1000).bytes == 3 * 8000
    assert Case(Kernel.SUM, "fp64", 1000).bytes == 8000
    assert Case(Kernel.TRIAD, "fp64", 1000).flops == 2000
    g = Case(Kernel.GEMM, "fp32", n=30, m=10, k=20)
    assert g.bytes == (10 * 20 + 20 * 30 + 10 * 30) * 4
    assert g.flops == 2 * 10 * 20 * 30


def test_large_outputs_are_checked_in_full_for_writes_and_on_a_sample_for_values(monkeypatch):
    from infersim.validation.kernels.cpu_bench import CHECK_FULL_ELEMS, CHECK_SAMPLE

    n = CHECK_FULL_ELEMS + 5
    case = Case(Kernel.ADD, "fp64", n)
    bench = CpuBench([case], seed=0)
    bench.check(case)  # the real kernel passes
    step = -(-n // CHECK_SAMPLE)

    def skips_last(a, b, c):  # one unwritten element, not on the sample grid
        c[:-1] = a[:-1] + b[:-1]

    assert (n - 1) % step != 0
    monkeypatch.setattr(k, "stream_add", skips_last)
    with pytest.raises(chk.KernelCheckError, match="1 output elements not written"):
        bench.check(case)

    def wrong_on_the_grid(a, b, c):
        c[:] = a + b
        c[step * 3] += 1e-6  # sample element 3

    monkeypatch.setattr(k, "stream_add", wrong_on_the_grid)
    with pytest.raises(chk.KernelCheckError, match="at element 3 "):
        bench.check(case)


def test_gemm_weight_copies_are_disjoint_views_filling_the_cold_bytes():
    case = Case(Kernel.GEMM, "fp32", n=40, m=9, k=33)
    bench = CpuBench([case], seed=0, cold_bytes=1e6)
    _, bs, _ = bench._gemm_arrays(case)
    per_copy = 33 * 40 * 4  # bytes of one B
    assert len(bs) == int(1e6 // per_copy) == 189
    assert all(b.shape == (33, 40) and b.flags.c_contiguous for b in bs)
    assert not np.shares_memory(bs[0], bs[1]) and not np.shares_memory(bs[-2], bs[-1])
    assert not np.array_equal(bs[0], bs[1])  # different random values
    bench.check(case)
    big = Case(Kernel.GEMM, "fp32", n=1000, m=2, k=1000)  # 4 MB: larger than the pool
    _, bs_big, _ = CpuBench([big], seed=0, cold_bytes=1e6)._gemm_arrays(big)
    assert len(bs_big) == 1
