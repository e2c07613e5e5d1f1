"""Wall-clock timing of CPU kernels: warm-up, batched repeats, medians, contention check.

A sample runs the kernel `inner` times back to back (enough calls to last `target_sample_s`,
so timer resolution and the Python loop between samples do not matter) and records seconds
per call; it stops early when it has run SAMPLE_CAP times its target (a busy machine). The first calls compile (Numba JIT) and are excluded by the warm-up.

Contention: the machine may be shared. Linux pressure-stall information
(`/proc/pressure/cpu`, "some" total: µs during which a runnable task waited for a CPU) tells
whether anything competed with the kernel's threads during a sample; a kernel that uses every
core and runs alone causes no stall. A sample with a stall fraction above `max_stall` is
contended: up to `max_retries` extra samples are taken (after a short fixed back-off), and
when fewer than `repeats` clean samples result, the fastest `repeats` of all samples are kept
(best-of-N: interference only ever slows a sample down, so the fastest are the least
disturbed) and the kept contended ones are counted, so a busy machine costs a bounded time
and the measurement file still shows it. Without PSI (non-Linux, old kernels) no sample is
judged.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from infersim.foundation.units import NS

_PSI = Path("/proc/pressure/cpu")


def _psi_us() -> int | None:
    """Cumulative µs some task waited for a CPU, or None when PSI is unavailable."""
    try:
        with _PSI.open() as f:
            return int(f.readline().split("total=")[1])
    except (OSError, IndexError, ValueError):
        return None


@dataclass(frozen=True)
class Timing:
    """Seconds per call of one kernel case."""

    median_s: float
    p10_s: float
    p90_s: float
    repeats: int  # samples kept
    inner: int  # calls per sample
    stall: float  # median CPU-pressure stall fraction of the kept samples (NaN: no PSI)
    rejected: int  # samples dropped for contention
    contended: int  # kept samples that were still contended after the retries

    def __post_init__(self) -> None:
        if not (math.isfinite(self.median_s) and self.median_s > 0):
            raise ValueError(f"median_s must be positive and finite, got {self.median_s}")


# A sample lasts at most this many times its target length (see time_calls).
SAMPLE_CAP = 8.0
# Calls timed alone to size a sample (the fastest is taken).
SIZING_CALLS = 3


@dataclass(frozen=True)
class TimingPolicy:
    """How hard to time a case: warm-up calls, samples, and the target length of a sample."""

    warmup: int = 2
    repeats: int = 7
    target_sample_s: float = 2e-3
    max_inner: int = 100_000
    max_stall: float = 0.02
    max_retries: int = 6
    backoff_s: float = 0.05  # pause after a contended sample (the competing job may yield)
    # Busy machine: time each call of a sample alone and keep this quantile of the calls (the
    # calls no other process interrupted; a descheduled worker thread stalls a parallel
    # kernel's barrier for a whole time slice). None: one time for the back-to-back calls.
    call_quantile: float | None = None


def time_calls(fn: Callable[[], object], policy: TimingPolicy = TimingPolicy(),
               clock: Callable[[], int] = time.perf_counter_ns) -> Timing:
    """Time `fn()` (one kernel call with its arguments bound) per `policy`.

    `clock` returns nanoseconds; it is a parameter so a device timer can replace it."""
    for _ in range(max(1, policy.warmup)):
        fn()
    # sized from the fastest of a few calls (one descheduled call would make `inner` 1)
    one = math.inf
    for _ in range(SIZING_CALLS):
        t0 = clock()
        fn()
        one = min(one, max((clock() - t0) * NS, 1e-9))
        if one > policy.target_sample_s * SAMPLE_CAP:
            break  # one call per sample already: only an 8x faster call could change that
    inner = int(min(policy.max_inner, max(1, math.ceil(policy.target_sample_s / one))))
    # A sample stops after SAMPLE_CAP x its target: `inner` was sized from one call, and on a
    # busy machine each call of a parallel kernel may wait a scheduler tick at its barrier.
    # The clock is read after 1, 2, 4 ... calls (a few reads per sample; a sample overshoots
    # the cap by at most its elapsed time).
    limit_ns = policy.target_sample_s * SAMPLE_CAP / NS
    samples: list[tuple[float, float]] = []  # (seconds per call, stall fraction)
    clean = 0
    while clean < policy.repeats and len(samples) < policy.repeats + policy.max_retries:
        p0 = _psi_us()
        w0 = clock()
        done, chunk = 0, 1
        calls: list[int] = []  # per-call ns (call_quantile mode)
        while done < inner:
            n = min(chunk, inner - done)
            if policy.call_quantile is None:
                for _ in range(n):
                    fn()
            else:
                for _ in range(n):
                    c0 = clock()
                    fn()
                    calls.append(clock() - c0)
            done += n
            chunk *= 2
            if done < inner and clock() - w0 > limit_ns:
                break  # descheduled: a sample is a time box, not a call count
        w1 = clock()
        p1 = _psi_us()
        wall_us = max((w1 - w0) * 1e-3, 1e-3)  # ns → µs
        stall = (p1 - p0) / wall_us if p0 is not None and p1 is not None else math.nan
        sample_s = (wall_us * 1e-6 / done if policy.call_quantile is None
                    else float(np.quantile(calls, policy.call_quantile)) * NS)
        samples.append((max(sample_s, 1e-12), stall))
        if stall > policy.max_stall:
            time.sleep(policy.backoff_s)
        else:
            clean += 1
    good = [x for x in samples if not x[1] > policy.max_stall]
    if len(good) >= policy.repeats:
        kept = good[:policy.repeats]
    else:  # best of N: the fastest samples are the least disturbed
        kept = sorted(samples)[:policy.repeats]
    rejected = len(samples) - len(kept)
    contended = sum(1 for x in kept if x[1] > policy.max_stall)
    per_call = [x[0] for x in kept]
    stalls = [x[1] for x in kept]
    arr = np.asarray(per_call)
    st = np.asarray(stalls)
    return Timing(float(np.median(arr)), float(np.percentile(arr, 10)),
                  float(np.percentile(arr, 90)), len(per_call), inner,
                  float(np.median(st)) if np.isfinite(st).any() else math.nan,
                  rejected, contended)


def cpu_busy(window_s: float = 0.2, max_stall: float = TimingPolicy.max_stall) -> bool:
    """Whether other processes keep the CPUs busy now: the PSI stall fraction over a short
    idle window exceeds `max_stall` (False without PSI)."""
    p0 = _psi_us()
    time.sleep(window_s)
    p1 = _psi_us()
    if p0 is None or p1 is None:
        return False
    return (p1 - p0) / (window_s * 1e6) > max_stall
