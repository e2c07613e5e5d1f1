"""Wall-clock timing of CPU kernels: warm-up, batched repeats, medians, contention check.

A sample runs the kernel `inner` times back to back (enough calls to last `target_sample_s`,
so timer resolution and Python overhead between samples do not matter) and records seconds
per call. The first calls compile (Numba JIT) and are excluded by the warm-up.

Contention: this machine may be shared. During each sample the process CPU time is compared
with wall time × worker threads; a sample whose ratio falls below `min_cpu_share` ran while
something else held a core and is retried (up to `max_retries` extra samples per case). The
median share is reported, so a contaminated case is visible in the measurement file.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Timing:
    """Seconds per call of one kernel case."""

    median_s: float
    p10_s: float
    p90_s: float
    repeats: int  # accepted samples
    inner: int  # calls per sample
    cpu_share: float  # median of process CPU time / (wall × threads) over accepted samples
    rejected: int  # samples dropped for contention

    def __post_init__(self) -> None:
        if not (math.isfinite(self.median_s) and self.median_s > 0):
            raise ValueError(f"median_s must be positive and finite, got {self.median_s}")


@dataclass(frozen=True)
class TimingPolicy:
    """How hard to time a case: warm-up calls, samples, and the target length of a sample."""

    warmup: int = 2
    repeats: int = 7
    target_sample_s: float = 2e-3
    max_inner: int = 100_000
    min_cpu_share: float = 0.8
    max_retries: int = 4


def _cpu_s() -> float:
    # CLOCK_PROCESS_CPUTIME_ID: all threads of this process, scheduler-accurate (ns).
    return time.process_time()


def time_calls(fn: Callable[[], object], threads: int,
               policy: TimingPolicy = TimingPolicy()) -> Timing:
    """Time `fn()` (one kernel call with its arguments bound) per `policy`."""
    for _ in range(max(1, policy.warmup)):
        fn()
    t0 = time.perf_counter()
    fn()
    one = max(time.perf_counter() - t0, 1e-9)
    inner = int(min(policy.max_inner, max(1, math.ceil(policy.target_sample_s / one))))
    per_call: list[float] = []
    shares: list[float] = []
    rejected = 0
    while len(per_call) < policy.repeats:
        c0 = _cpu_s()
        w0 = time.perf_counter_ns()
        for _ in range(inner):
            fn()
        w1 = time.perf_counter_ns()
        c1 = _cpu_s()
        wall = (w1 - w0) * 1e-9
        share = (c1 - c0) / (wall * threads) if wall > 0 else 1.0
        judged = wall >= 5e-4
        if judged and share < policy.min_cpu_share and rejected < policy.max_retries:
            rejected += 1
            continue
        per_call.append(max(wall / inner, 1e-12))
        if judged:
            shares.append(share)
    arr = np.asarray(per_call)
    return Timing(float(np.median(arr)), float(np.percentile(arr, 10)),
                  float(np.percentile(arr, 90)), len(per_call), inner,
                  float(np.median(shares)) if shares else float("nan"), rejected)
