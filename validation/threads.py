"""How many worker threads the CPU calibration kernels use, and how figures measured with
fewer threads than the chip has become whole-chip figures.

A parallel kernel ends at a barrier: when another process holds one of the cores, the worker
thread that shares that core waits for a scheduler time slice on every call, and the kernel
measures the scheduler, not the hardware. So calibration first finds how many cores are
actually free, with a short throughput probe: a compute-bound kernel run for a fixed window
with 1 and with N threads (N = the threads the chip offers, `NUMBA_NUM_THREADS`). If N
threads deliver at least FREE_EFFICIENCY × N times one thread's throughput, every core is
free and the kernels use N threads. Otherwise, under fair sharing, N threads competing with k
CPU-bound processes on N cores get N²/(N + k) cores' worth of work, so the probe's ratio
ρ = r_N / r_1 gives the cores left free, N − k = 2N − N²/ρ; the kernels use that many threads
(verified by a probe at that count, at least 1).

The fit then describes t < N threads. The whole-chip figures are derived physically (see
`ChipScaling`): compute ceilings and cache bandwidths (per-core FMA units and load/store
ports) scale by the compute scaling factor r_N / r_t, main-memory bandwidth by the STREAM
scaling factor; private-cache capacities by the number of cache instances N threads use.
Both factors are measured by a probe after the kernels when the cores have become free by
then; otherwise they are assumed linear (N / t), with a warning.

Probe results and the decision are written in the measurement file's header
(`ThreadPlan.to_meta`), so `--refit` derives the same spec from the file alone.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from infersim.validation.fit import Calibration
from infersim.validation.hostinfo import header_number

# N threads are "free" when they deliver at least this share of N × one thread's throughput.
# assumed: one CPU-bound competitor on 2 cores gives 2/3 under fair sharing (on this shared
# VM the barrier waits made it 0.06-0.16); 0.8 leaves a margin for probe noise above that.
FREE_EFFICIENCY = 0.8
# A fraction of a core this large still counts as a free core (probe noise)
CORE_ROUNDING = 0.2
# Extra probes allowed when verifying a thread count below N
MAX_VERIFY = 2
PROBE_WINDOW_S = 0.2

Probe = Callable[[int], float]  # threads → throughput (work per second)


@dataclass(frozen=True)
class ThreadPlan:
    """The thread count the kernels use, and why."""

    chip_threads: int  # N: threads the chip offers (cores the spec describes)
    threads: int  # t: threads the kernels used
    probe: Mapping[int, float]  # threads → FLOP/s measured by the probe before measuring
    others_busy_cores: float  # cores other processes used during an idle window (NaN: unknown)
    reason: str

    @property
    def ratio(self) -> float:
        """r_N / r_1 of the probe (NaN without a probe)."""
        p = self.probe
        if 1 in p and self.chip_threads in p and p[1] > 0:
            return p[self.chip_threads] / p[1]
        return math.nan

    def to_meta(self) -> dict[str, str]:
        return {"chip_threads": str(self.chip_threads), "threads_used": str(self.threads),
                "thread_probe_flops": _fmt_probe(self.probe),
                "others_busy_cores": f"{self.others_busy_cores:.2f}",
                "threads_reason": self.reason}


@dataclass(frozen=True)
class ChipScaling:
    """Factors that turn figures measured with `threads` into whole-chip figures."""

    threads: int  # t
    chip_threads: int  # N
    compute: float  # r_N / r_t of the compute probe (or N / t assumed)
    dram: float  # r_N / r_t of the STREAM probe (or N / t assumed)
    measured: bool  # both factors measured (cores free at the end probe)
    probe: Mapping[str, float]  # end-probe throughputs, "compute@t" / "dram@N" → per second
    why: str  # how the factors were obtained, for the spec's sources

    @property
    def identity(self) -> bool:
        return self.threads >= self.chip_threads

    def to_meta(self) -> dict[str, str]:
        return {"scale_compute": f"{self.compute:.6g}", "scale_dram": f"{self.dram:.6g}",
                "scale_measured": "yes" if self.measured else "no",
                "scale_probe": ";".join(f"{k}={v:.6g}" for k, v in self.probe.items()),
                "scale_why": self.why}

    @staticmethod
    def none(threads: int) -> ChipScaling:
        """No scaling: the kernels used every thread of the chip."""
        return ChipScaling(threads, threads, 1.0, 1.0, True, {}, "")

    @staticmethod
    def from_meta(meta: Mapping[str, str], threads: int) -> ChipScaling:
        """Rebuild from a measurement file's header (files without one: no scaling)."""
        n = int(header_number(meta, "chip_threads", threads))
        t = int(header_number(meta, "threads_used", threads))
        if n <= t:
            return ChipScaling.none(t)
        probe = {}
        for part in filter(None, meta.get("scale_probe", "").split(";")):
            k, _, v = part.partition("=")
            probe[k] = float(v)
        return ChipScaling(t, n, header_number(meta, "scale_compute", n / t),
                           header_number(meta, "scale_dram", n / t),
                           meta.get("scale_measured") == "yes", probe,
                           meta.get("scale_why", f"assumed: linear in cores ({n}/{t})"))


def _fmt_probe(p: Mapping[int, float]) -> str:
    return ";".join(f"{k}:{v:.4g}" for k, v in sorted(p.items())) or "none"


def free_cores(n: int, ratio: float) -> float:
    """Cores left free by CPU-bound competitors under fair sharing, from ρ = r_N / r_1:
    N threads sharing N cores with k competitors get N²/(N + k) cores, so N − k = 2N − N²/ρ."""
    if not (ratio > 0):
        return 0.0
    return max(0.0, 2.0 * n - n * n / ratio)


def decide_threads(chip_threads: int, probe: Probe, others_busy_cores: float = math.nan
                   ) -> ThreadPlan:
    """Choose the thread count from a throughput probe (see module docstring). `probe(t)`
    returns the throughput with t threads; tests pass a fake."""
    n = max(1, int(chip_threads))
    if n == 1:
        return ThreadPlan(1, 1, {}, others_busy_cores, "one worker thread configured")
    seen: dict[int, float] = {}

    def best(t: int, times: int = 1) -> float:
        # the fastest window: a burst of another job only ever slows one down
        seen[t] = max([seen.get(t, 0.0)] + [probe(t) for _ in range(times)])
        return seen[t]

    r1, rn = best(1, 2), best(n, 2)
    eff = rn / (n * r1) if r1 > 0 else 0.0
    if eff >= FREE_EFFICIENCY:
        return ThreadPlan(n, n, seen, others_busy_cores,
                          f"all {n} cores free: {n} threads gave {eff:.2f} x {n} x one thread")
    t = int(min(n - 1, max(1, math.floor(free_cores(n, rn / r1) + CORE_ROUNDING))))
    tries = 0
    while t > 1 and tries < MAX_VERIFY:
        tries += 1
        if best(t) >= FREE_EFFICIENCY * t * r1:
            break
        t -= 1
    return ThreadPlan(n, t, seen, others_busy_cores,
                      f"cores busy: {n} threads gave {eff:.2f} x {n} x one thread "
                      f"(about {free_cores(n, rn / r1):.1f} core(s) free); using {t}")


def chip_scaling(plan: ThreadPlan, compute_probe: Probe, dram_probe: Probe) -> ChipScaling:
    """The factors from t to N threads: measured by probes now if the cores are free now
    (compute r_N ≥ FREE_EFFICIENCY × N/t × r_t), else assumed linear in cores."""
    t, n = plan.threads, plan.chip_threads
    if t >= n:
        return ChipScaling.none(t)
    ct, cn = compute_probe(t), compute_probe(n)
    probe = {f"compute@{t}": ct, f"compute@{n}": cn}
    if ct > 0 and cn >= FREE_EFFICIENCY * (n / t) * ct:
        dt, dn = dram_probe(t), dram_probe(n)
        probe.update({f"dram@{t}": dt, f"dram@{n}": dn})
        return ChipScaling(t, n, cn / ct, dn / dt if dt > 0 else n / t, True, probe,
                           f"scaling from {t} to {n} threads measured by a probe after the "
                           "kernels, when the cores were free")
    return ChipScaling(t, n, n / t, n / t, False, probe,
                       f"assumed: linear in cores ({n}/{t}); the cores stayed busy, so the "
                       f"scaling from {t} to {n} threads could not be measured (the probe "
                       f"gave {cn / ct if ct > 0 else math.nan:.2f}x with competitors)")


# -- the real probes ---------------------------------------------------------------------------

def _window(fn: Callable[[], object], work: float, window_s: float) -> float:
    """Work per second of `fn` (one call = `work`) over about `window_s`."""
    fn()  # warm: JIT, page faults, worker threads up
    calls, t0 = 0, time.perf_counter()
    while True:
        fn()
        calls += 1
        dt = time.perf_counter() - t0
        if dt >= window_s:
            return calls * work / dt


def _with_threads(t: int, fn: Callable[[], float]) -> float:
    import numba

    before = numba.get_num_threads()
    numba.set_num_threads(t)
    try:
        return fn()
    finally:
        numba.set_num_threads(before)


def compute_probe(window_s: float = PROBE_WINDOW_S) -> Probe:
    """A probe: FLOP/s of the vector FMA kernel (fp64, 2^17 elements, ~0.1 ms per core per
    call: compute-bound and in the private caches) with t threads."""
    import numpy as np

    from infersim.validation.kernels import cpu as k

    x = np.linspace(0.5, 1.5, 1 << 17)
    out = np.empty_like(x)
    c1, c2 = x.dtype.type(0.999), x.dtype.type(0.001)
    work = float(k.VFMA_FLOPS_PER_ELEM * x.size)
    return lambda t: _with_threads(t, lambda: _window(lambda: k.vector_fma(x, out, c1, c2),
                                                      work, window_s))


def dram_probe(window_s: float = PROBE_WINDOW_S, elems: int = 1 << 23) -> Probe:
    """A probe: STREAM triad bytes/s on 3 × 64 MiB fp64 arrays (beyond any last-level cache
    of a small machine) with t threads."""
    import numpy as np

    from infersim.validation.kernels import cpu as k

    a, b, c = (np.full(elems, 1.0) for _ in range(3))
    s = a.dtype.type(0.75)
    work = 3.0 * 8 * elems
    return lambda t: _with_threads(t, lambda: _window(lambda: k.stream_triad(a, b, c, s),
                                                      work, window_s))


_STAT = Path("/proc/stat")


def _cpu_jiffies() -> tuple[int, int] | None:
    """(busy, total) jiffies of all CPUs, or None without /proc/stat."""
    try:
        with _STAT.open() as f:
            v = [int(x) for x in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    if len(v) < 4:
        return None
    idle = v[3] + (v[4] if len(v) > 4 else 0)  # idle + iowait
    return sum(v[:8]) - idle, sum(v[:8])


def others_busy_cores(cpus: int, window_s: float = 0.2) -> float:
    """Cores other processes kept busy while this one slept (NaN without /proc/stat)."""
    a = _cpu_jiffies()
    time.sleep(window_s)
    b = _cpu_jiffies()
    if a is None or b is None or b[1] <= a[1]:
        return math.nan
    return cpus * (b[0] - a[0]) / (b[1] - a[1])


def scale_calibration(cal: Calibration, s: ChipScaling, chip_nominal: Sequence[float]
                      ) -> Calibration:
    """Whole-chip figures from a calibration made with s.threads threads: compute ceilings and
    cache bandwidths × s.compute (per-core FMA units and load/store ports), main memory ×
    s.dram, cache capacities × the instances N threads use over those t threads use
    (`chip_nominal`: the chip's nominal capacity per cache level). Kernel properties (call
    overhead, GEMM half rows, weight-stream and attention efficiencies) are kept."""
    if s.identity:
        return cal
    levels = []
    for i, lv in enumerate(cal.levels):
        if i < len(cal.levels) - 1:
            grow = chip_nominal[i] / lv.nominal_capacity_bytes
            levels.append(replace(lv, capacity_bytes=lv.capacity_bytes * grow,
                                  bandwidth_Bps=lv.bandwidth_Bps * s.compute,
                                  nominal_capacity_bytes=float(chip_nominal[i])))
        else:
            levels.append(replace(lv, bandwidth_Bps=lv.bandwidth_Bps * s.dram))
    note = (f"measured with {s.threads} of {s.chip_threads} threads; compute and cache "
            f"bandwidth x {s.compute:.3g}, DRAM x {s.dram:.3g} "
            + ("(measured)" if s.measured else "(assumed linear)"))
    return replace(cal, levels=tuple(levels),
                   matrix_flops={k: v * s.compute for k, v in cal.matrix_flops.items()},
                   vector_flops={k: v * s.compute for k, v in cal.vector_flops.items()},
                   notes=(*cal.notes, note))
