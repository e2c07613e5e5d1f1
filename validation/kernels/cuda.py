"""The measurement kernels with `numba.cuda`, for calibrating an NVIDIA GPU.

Grid-stride STREAM copy/scale/add/triad, a vector FMA kernel (same Horner chains as the CPU
one), a block reduction in shared memory finished with one atomic add per block, a
shared-memory tiled GEMM (TILE × TILE tiles of A and B staged per k-step; fp32 and fp64),
and an empty kernel (launch cost). Correctness is checked on the host against NumPy with the
bounds of `validation.kernels.check`; times come from CUDA events around `inner` back-to-back
launches. Under the CUDA simulator (NUMBA_ENABLE_CUDASIM=1, used by the tests) events report
no time, so the host clock is used instead: the code paths run, the numbers mean nothing.

numba.cuda is imported lazily, after `numpy_compat()`: numba-cuda may still reference
`np.row_stack`, which NumPy 2.x removed.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any, cast

import numpy as np

from infersim.foundation.units import MS
from infersim.validation.kernels import check as chk
from infersim.validation.kernels.cases import Case, Kernel
from infersim.validation.kernels.cuda_compat import numpy_compat
from infersim.validation.kernels.timing import Timing, TimingPolicy

TILE = 16  # GEMM tile edge (TILE × TILE threads per block); as in _cuda_kernels
BLOCK = 256  # threads per block of the 1-D kernels; as in _cuda_kernels
_NP = {"fp32": np.float32, "fp64": np.float64}


def simulated() -> bool:
    """True under the CUDA simulator (NUMBA_ENABLE_CUDASIM=1)."""
    return os.environ.get("NUMBA_ENABLE_CUDASIM", "0") not in ("", "0")


def cuda_available() -> bool:
    """Whether numba.cuda sees a usable GPU (or the simulator)."""
    numpy_compat()
    try:
        from numba import cuda

        return bool(cuda.is_available())
    except Exception:  # a broken driver / toolkit is "not available", not a crash
        return False


@dataclass(frozen=True)
class DeviceInfo:
    name: str
    sm_count: int
    l2_bytes: float
    memory_bytes: float
    clock_hz: float
    compute_capability: str
    simulated: bool


def device_info() -> DeviceInfo:
    """What the current CUDA device reports (simulator: placeholders, flagged)."""
    numpy_compat()
    from numba import cuda

    ctx = cuda.current_context()
    dev = ctx.device
    cc = getattr(dev, "compute_capability", (0, 0))
    try:
        total = float(ctx.get_memory_info()[1])
    except Exception:
        total = math.inf
    name = getattr(dev, "name", b"cuda-simulator")
    name = name.decode() if isinstance(name, bytes) else str(name)
    return DeviceInfo(
        name=name,
        sm_count=int(getattr(dev, "MULTIPROCESSOR_COUNT", 1)),
        l2_bytes=float(getattr(dev, "L2_CACHE_SIZE", 1024**2)),
        memory_bytes=total if math.isfinite(total) else 0.0,
        clock_hz=float(getattr(dev, "CLOCK_RATE", 0)) * 1e3,
        compute_capability=f"{cc[0]}.{cc[1]}",
        simulated=simulated(),
    )


def kernels() -> SimpleNamespace:
    """Compile (once) and return the CUDA kernels."""
    numpy_compat()
    from infersim.validation.kernels import _cuda_kernels as ck

    return SimpleNamespace(copy=ck.copy, scale=ck.scale, add=ck.add, triad=ck.triad,
                           vfma=ck.vfma, empty=ck.empty, sum=ck.SUM, gemm=ck.GEMM)


def time_cuda(launch: Callable[[], object], policy: TimingPolicy) -> Timing:
    """Seconds per launch from CUDA events around `inner` back-to-back launches (median of
    `policy.repeats` samples). Under the simulator: host wall clock around a synchronize."""
    numpy_compat()
    from numba import cuda

    sim = simulated()
    for _ in range(max(1, policy.warmup)):
        launch()
    cuda.synchronize()

    def sample(inner: int) -> float:
        if sim:
            t0 = time.perf_counter()
            for _ in range(inner):
                launch()
            cuda.synchronize()
            return (time.perf_counter() - t0) / inner
        # mypy resolves numba.cuda to the simulator's API, whose `event` (= Event) takes no
        # arguments; the real one is `event(timing=True)`
        event = cast("Callable[..., Any]", cuda.event)
        start, end = event(timing=True), event(timing=True)
        start.record()
        for _ in range(inner):
            launch()
        end.record()
        end.synchronize()
        return start.elapsed_time(end) * MS / inner  # CUDA events count milliseconds

    one = max(sample(1), 1e-9)
    inner = int(min(policy.max_inner, max(1, math.ceil(policy.target_sample_s / one))))
    per = np.array([max(sample(inner), 1e-12) for _ in range(policy.repeats)])
    return Timing(float(np.median(per)), float(np.percentile(per, 10)),
                  float(np.percentile(per, 90)), len(per), inner, math.nan, 0, 0)


class CudaBench:
    """Check and time kernel cases on the current CUDA device."""

    device = "cuda"

    def __init__(self, cases: Sequence[Case], seed: int = 0):
        numpy_compat()
        from numba import cuda

        self.cuda = cuda
        self.k = kernels()
        self.rng = np.random.default_rng(seed)
        self.info = device_info()
        self.grid_cap = max(1, 32 * self.info.sm_count)
        # the simulator runs every GPU thread as a Python thread: keep blocks small there
        self.threads = 32 if self.info.simulated else BLOCK
        self._pool: dict[str, tuple[Any, Any, Any, np.ndarray, np.ndarray]] = {}
        need: dict[str, int] = {}
        for c in cases:
            if c.kernel not in (Kernel.GEMM, Kernel.EMPTY):
                need[c.dtype] = max(need.get(c.dtype, 0), c.n)
        for dt, n in need.items():
            x = chk.random_inputs(self.rng, n, _NP[dt])
            y = chk.random_inputs(self.rng, n, _NP[dt])
            self._pool[dt] = (cuda.to_device(x), cuda.to_device(y),
                              cuda.device_array(n, dtype=_NP[dt]), x, y)
        self._flag = cuda.device_array(1, dtype=np.int32)
        self._gemm: tuple[Any, ...] | None = None

    def _blocks(self, n: int) -> int:
        return max(1, min(self.grid_cap, -(-n // self.threads)))

    def _gemm_arrays(self, case: Case) -> tuple[Any, ...]:
        key = (case.dtype, case.m, case.k, case.n)
        if self._gemm is None or self._gemm[0] != key:
            dt = _NP[case.dtype]
            a = chk.random_inputs(self.rng, (case.m, case.k), dt)
            b = chk.random_inputs(self.rng, (case.k, case.n), dt)
            self._gemm = (key, a, b, self.cuda.to_device(a), self.cuda.to_device(b),
                          self.cuda.device_array((case.m, case.n), dtype=dt))
        return self._gemm

    def _launch(self, case: Case) -> Callable[[], object]:
        k = self.k
        if case.kernel == Kernel.EMPTY:
            flag = self._flag
            return lambda: k.empty[1, 32](flag)
        if case.kernel == Kernel.GEMM:
            _, _, _, da, db, dc = self._gemm_arrays(case)
            grid = (-(-case.n // TILE), -(-case.m // TILE))
            g = k.gemm[case.dtype]
            return lambda: g[grid, (TILE, TILE)](da, db, dc)
        dx, dy, dz, _, _ = self._pool[case.dtype]
        n = case.n
        x, y, z = dx[:n], dy[:n], dz[:n]
        blocks = self._blocks(n)
        tpb = self.threads
        scal = _NP[case.dtype](0.75)
        c1, c2 = _NP[case.dtype](0.999), _NP[case.dtype](0.001)
        if case.kernel == Kernel.SUM:
            out = self.cuda.device_array(1, dtype=_NP[case.dtype])
            s = k.sum[case.dtype]
            return lambda: s[blocks, tpb](x, out)
        return {
            Kernel.COPY: lambda: k.copy[blocks, tpb](x, z),
            Kernel.SCALE: lambda: k.scale[blocks, tpb](x, z, scal),
            Kernel.ADD: lambda: k.add[blocks, tpb](x, y, z),
            Kernel.TRIAD: lambda: k.triad[blocks, tpb](x, y, z, scal),
            Kernel.VFMA: lambda: k.vfma[blocks, tpb](x, z, c1, c2),
        }[case.kernel]

    def check(self, case: Case) -> None:
        from infersim.validation.kernels.cpu_bench import VFMA_C1, VFMA_C2, vfma_reference

        name = f"cuda {case.label}"
        cuda = self.cuda
        if case.kernel == Kernel.EMPTY:
            self._flag.copy_to_device(np.zeros(1, np.int32))
            self._launch(case)()
            cuda.synchronize()
            if int(self._flag.copy_to_host()[0]) != 1:
                raise chk.KernelCheckError(f"{name}: the kernel did not run")
            return
        if case.kernel == Kernel.GEMM:
            _, a, b, _, _, dc = self._gemm_arrays(case)
            dc.copy_to_device(np.full((case.m, case.n), np.nan, dtype=_NP[case.dtype]))
            self._launch(case)()
            c = dc.copy_to_host()
            if not np.all(np.isfinite(c)):
                raise chk.KernelCheckError(f"{name}: output elements not written (NaN left)")
            rows = np.unique(np.linspace(0, case.m - 1, min(case.m, 16)).astype(int))
            ref, mag = chk.gemm_reference(a, b, rows)
            chk.expect_within(name, c[rows], ref, chk.gamma(case.k, a.dtype) * mag)
            return
        dx, _dy, dz, x_h, y_h = self._pool[case.dtype]
        n = case.n
        x, y = x_h[:n], y_h[:n]
        if case.kernel == Kernel.SUM:
            out = cuda.to_device(np.zeros(1, dtype=_NP[case.dtype]))
            self.k.sum[case.dtype][self._blocks(n), self.threads](dx[:n], out)
            got = float(out.copy_to_host()[0])
            x64 = x.astype(np.float64)
            chk.expect_within(name, got, x64.sum(), chk.gamma(n, x.dtype) * np.abs(x64).sum())
            return
        dz[:n].copy_to_device(np.full(n, np.nan, dtype=_NP[case.dtype]))
        self._launch(case)()
        z = dz[:n].copy_to_host()
        s = x.dtype.type(0.75)
        if case.kernel == Kernel.VFMA:
            assert (VFMA_C1, VFMA_C2) == (0.999, 0.001)
            ref, mag = vfma_reference(x)
            chk.expect_within(name, z, ref, chk.gamma(6, x.dtype) * mag)
            return
        ref = {Kernel.COPY: x, Kernel.SCALE: s * x, Kernel.ADD: x + y,
               Kernel.TRIAD: x + s * y}[case.kernel]
        # the GPU may contract b + s·c into one FMA: one rounding fewer, within 2 ulp
        chk.expect_within(name, z, ref, 2 * np.spacing(np.abs(ref)))

    def time(self, case: Case, policy: TimingPolicy) -> Timing:
        return time_cuda(self._launch(case), policy)

    def release(self) -> None:
        self._pool.clear()
        self._gemm = None
