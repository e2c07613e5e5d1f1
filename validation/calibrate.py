"""`infersim calibrate`: measure this machine, fit its model, write a measurement file and a
calibrated hardware spec.

Steps: check the output path is writable (before measuring anything) → decide how many worker
threads the kernels use from what is free now (validation/threads.py: a 1-vs-N-thread
throughput probe; fewer threads when other processes hold cores) → run the kernel plan
(check each kernel against NumPy, then time it) with a progress line per step on stderr →
time the small transformer (CPU; validation rows, never fitted) → fit the machine model on
the `fit` rows, load its spec back with the strict hardware loader and predict the held-out
rows with it → derive the whole-chip figures when fewer threads than the chip's were used
(scaling measured by a probe if the cores are free by then, else assumed linear, with a
warning), checked against the physical ceilings and the strict loader → only then write the
measurement file and the spec, each atomically. An interruption or error at any point before
the end leaves no output file.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TextIO

from infersim.foundation.errors import InputError
from infersim.foundation.io import atomic_write_text
from infersim.foundation.paths import check_output_file
from infersim.foundation.progress import Progress
from infersim.validation import measure
from infersim.validation import threads as thr
from infersim.validation.calibrate_common import (
    DATA_DIR,
    CalibrateOptions,
    CalibrateResult,
    CalibrationError,
    data_ref,
    grade,
    load_checked,
    write_pair,
)
from infersim.validation.fit import Calibration, fit_all
from infersim.validation.hostinfo import HostInfo, host_info
from infersim.validation.plan import PROFILES, kernel_cases
from infersim.validation.stats import ErrorStats

__all__ = ["CalibrateOptions", "CalibrateResult", "CalibrationError", "calibrate",
           "check_device", "profile_of", "refit"]

DEVICES = ("cpu", "cuda")
# Rows of A the CPU GEMM micro-kernel handles at once (validation/kernels/cpu.py): fewer rows
# run its streaming GEMV loop.
GEMM_MICRO_ROWS = 4


def check_device(device: str) -> None:
    """Reject an unknown device, or `cuda` where no GPU is present (one-line InputError)."""
    if device not in DEVICES:
        raise InputError(f"--device: unknown device {device!r}; use one of "
                         f"{', '.join(DEVICES)}")
    if device == "cuda":
        from infersim.validation.kernels.cuda import cuda_available

        if not cuda_available():
            raise InputError("--device cuda: no CUDA GPU is available here "
                             "(numba.cuda.is_available() is False); run on a machine with an "
                             "NVIDIA GPU and driver, or use --device cpu")


def _start_worker_threads() -> None:
    """Run one parallel kernel so the threading layer is up (and reported by host_info)."""
    import numpy as np

    from infersim.validation.kernels.cpu import empty_parallel

    empty_parallel(np.zeros(1, dtype=np.int64))


# The host's SIMD width is not probed: the ceilings assume the widest SIMD shipping in CPUs
# (512-bit AVX-512/SVE) with two FMA pipes per core; the clock is the TSC (nominal) clock, or
# 4 GHz when unknown (hw validate's CPU_TURBO is applied on top).
ASSUMED_SIMD_BITS = 512
ASSUMED_FMA_UNITS = 2
CLOCK_UNKNOWN_HZ = 4e9


def check_physical(cal: Calibration, host: Any) -> None:
    """CalibrationError unless every fitted number is physically possible on this host, with
    the same ceilings `hw validate` applies to every cpu spec (hwmodels.validate)."""
    from infersim.hwmodels.validate import cpu_ceiling_problems

    clock = host.tsc_hz if host.tsc_hz > 0 else CLOCK_UNKNOWN_HZ
    cores = max(1, int(host.logical_cpus))
    peaks = {"matrix": dict(cal.matrix_flops), "vector": dict(cal.vector_flops)}
    dram = cal.levels[-1].bandwidth_Bps if cal.levels else None
    problems = cpu_ceiling_problems(cores, ASSUMED_SIMD_BITS, ASSUMED_FMA_UNITS, clock, peaks,
                                    dram)
    if problems:
        raise CalibrationError("the fitted model is physically impossible, no spec was "
                               "written: " + "; ".join(m for _, m in problems))


def calibrate(opts: CalibrateOptions, stream: TextIO | None = None) -> CalibrateResult:
    """Run a calibration (see module docstring). Raises InputError for bad options."""
    stream = stream if stream is not None else sys.stderr
    check_device(opts.device)
    if opts.profile not in PROFILES:
        raise InputError(f"--profile: unknown profile {opts.profile!r}; use one of "
                         f"{', '.join(PROFILES)}")
    profile = PROFILES[opts.profile]
    start = time.monotonic()
    if opts.device == "cuda":
        from infersim.validation.cuda_calibrate import calibrate_cuda

        return calibrate_cuda(opts, profile, stream)
    _start_worker_threads()
    chip_threads = configured_threads()
    host = host_info(threads=chip_threads)
    spec_path = Path(opts.out) if opts.out is not None else DATA_DIR / f"{host.slug}.yaml"
    check_output_file("-o", spec_path, example="spec.yaml", suffixes=(".yaml", ".yml"))
    import numba

    tplan = thr.decide_threads(chip_threads, thr.compute_probe(),
                               thr.others_busy_cores(host.logical_cpus))
    before = numba.get_num_threads()
    numba.set_num_threads(tplan.threads)
    try:
        return _calibrate_cpu(opts, replace(host, threads=tplan.threads), tplan, spec_path,
                              start, stream)
    finally:
        numba.set_num_threads(before)


def configured_threads() -> int:
    """Threads the kernels may use, the cores the spec describes: NUMBA_NUM_THREADS (default:
    the logical CPUs), or fewer if the caller lowered it with numba.set_num_threads."""
    import numba

    return int(numba.get_num_threads())


def _calibrate_cpu(opts: CalibrateOptions, host: HostInfo, tplan: thr.ThreadPlan,
                   spec_path: Path, start: float, stream: TextIO) -> CalibrateResult:
    """Measure with `tplan.threads` threads (already set), fit, scale to the chip, write."""
    from infersim.validation.kernels.cpu_bench import CpuBench
    from infersim.validation.kernels.timing import cpu_busy

    profile = PROFILES[opts.profile]
    data_path = spec_path.with_suffix(".csv")
    cases = kernel_cases(profile)
    tcases = profile.transformer
    weight = (sum(measure.case_weight(c) for c in cases)
              + sum(measure.transformer_weight(t) for t in tcases))
    progress = Progress(weight, steps=len(cases) + len(tcases), stream=stream,
                        enabled=opts.progress, clock=time.monotonic)
    progress.note(f"calibrating {host.cpu_model} with {host.threads} thread(s) "
                  f"({tplan.reason}), {profile.name} profile: {len(cases)} kernel cases, "
                  f"{len(tcases)} transformer steps")
    busy = cpu_busy()
    budget = measure.Budget(opts.budget_s, start=start, start_busy=busy)
    bench = CpuBench(cases, opts.seed)
    rows = measure.measure_kernels(bench, cases, profile.policy, progress, budget)
    bench.release()
    rows += measure.measure_transformer(tcases, profile, host.threads, progress, opts.seed,
                                        budget)
    scaling = (thr.chip_scaling(tplan, thr.compute_probe(), thr.dram_probe())
               if tplan.threads < tplan.chip_threads else thr.ChipScaling.none(host.threads))
    df = measure.to_frame(rows)
    meta = {"device": "cpu", "profile": profile.name, "seed": opts.seed, "spec": data_ref(spec_path),
            **{k: v for k, v in host.to_dict().items()},
            "elapsed_s": f"{time.monotonic() - start:.1f}",
            **budget.meta(),
            "psi_busy_at_start": "yes" if busy else "no",
            **tplan.to_meta(), **({} if scaling.identity else scaling.to_meta())}
    # the raw measurements are kept whatever the fit says (--refit works from them)
    atomic_write_text(data_path, measure.measurement_text(df, meta))
    progress.note("fitting the machine model")
    try:
        fitted = _fit(df, host, scaling, data_path, profile.name)
    except CalibrationError as e:
        raise CalibrationError(f"{e}; the measurements are kept in {data_path} (fit them again "
                               f"with `infersim calibrate --refit {data_path}`)") from None
    warns = tuple(w for w in (measure.contention_summary(df), budget.note(),
                              _threads_note(scaling)) if w)
    write_pair(data_path, measure.measurement_text(df, meta), spec_path, fitted.text)
    return CalibrateResult(spec_path, data_path, fitted.name, fitted.cal, fitted.holdout,
                           fitted.transformer, time.monotonic() - start,
                           tuple(fitted.summary), warns, _threads_dict(meta))


@dataclass(frozen=True)
class _Fitted:
    name: str
    cal: Calibration  # whole-chip figures
    text: str  # the spec YAML
    holdout: ErrorStats
    transformer: ErrorStats | None
    summary: tuple[Mapping[str, str], ...]


def _fit(df: Any, host: HostInfo, scaling: thr.ChipScaling, data_path: Path, profile: str
         ) -> _Fitted:
    """Fit the rows measured with host.threads threads; grade the held-out and transformer
    rows with that spec (what was measured); derive and check the whole-chip spec."""
    from infersim.validation.spec_writer import cpu_spec_yaml, fitted_summary, level_plan, spec_name

    plan = level_plan(host)
    cal = fit_all(df[df.phase == ""], plan.names, plan.nominal_bytes,
                  float(host.memory_bytes or 16e9), GEMM_MICRO_ROWS)
    check_physical(cal, host)
    name = spec_name(host)
    text = cpu_spec_yaml(cal, host, plan, data_ref(data_path), profile)
    holdout, tstats = grade(df, load_checked(text, name, df))
    if not scaling.identity:
        chip_host = replace(host, threads=scaling.chip_threads)
        chip_plan = level_plan(chip_host)
        cal = thr.scale_calibration(cal, scaling, chip_plan.nominal_bytes)
        check_physical(cal, host)
        text = cpu_spec_yaml(cal, chip_host, chip_plan, data_ref(data_path), profile, scaling)
        load_checked(text, name, df)
        plan = chip_plan
    return _Fitted(name, cal, text, holdout, tstats, tuple(fitted_summary(cal, plan)))


def _threads_note(s: thr.ChipScaling) -> str:
    if s.identity or s.measured:
        return ""
    return (f"warning: other processes held cores: the kernels ran with {s.threads} of "
            f"{s.chip_threads} threads, and the whole-chip compute and bandwidth figures "
            f"assume linear scaling (x {s.compute:.3g}); rerun on an idle machine to measure it")


def _threads_dict(meta: Mapping[str, Any]) -> dict[str, str]:
    keys = ("chip_threads", "threads_used", "threads_reason", "thread_probe_flops",
            "others_busy_cores", "scale_compute", "scale_dram", "scale_measured")
    return {k: str(meta[k]) for k in keys if k in meta}


def refit(data_path: Path, out: Path | None = None) -> CalibrateResult:
    """Fit and write a spec again from an existing CPU measurement file (no measuring): the
    calibration is reproducible from the committed data alone."""
    start = time.monotonic()
    if not data_path.is_file():
        raise InputError(f"--refit {data_path}: no such measurement file")
    try:
        meas = measure.read_measurements(data_path)
    except (OSError, ValueError) as e:
        raise InputError(f"--refit {data_path}: not a measurement file ({e})") from None
    if meas.meta.get("device") != "cpu":
        raise InputError(f"--refit {data_path}: only CPU measurement files can be re-fitted "
                         f"(device is {meas.meta.get('device')!r})")
    spec_path = out if out is not None else data_path.with_suffix(".yaml")
    check_output_file("-o", spec_path, example="spec.yaml", suffixes=(".yaml", ".yml"))
    try:
        host = HostInfo.from_meta(dict(meas.meta))
        scaling = thr.ChipScaling.from_meta(meas.meta, host.threads)
    except ValueError as e:  # a hand-edited header: name the file and the field
        raise InputError(f"--refit {data_path}: {e}") from None
    fitted = _fit(meas.frame, host, scaling, data_path, meas.meta.get("profile", "?"))
    atomic_write_text(spec_path, fitted.text)
    return CalibrateResult(spec_path, data_path, fitted.name, fitted.cal, fitted.holdout,
                           fitted.transformer, time.monotonic() - start, fitted.summary,
                           (_threads_note(scaling),) if _threads_note(scaling) else (),
                           _threads_dict(meas.meta))


def profile_of(quick: bool, profile: str | None) -> str:
    if profile:
        return profile
    return "quick" if quick else "full"
