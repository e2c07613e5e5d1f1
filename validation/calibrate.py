"""`infersim calibrate`: measure this machine, fit its model, write a measurement file and a
calibrated hardware spec.

Steps: check the output path is writable (before measuring anything) → run the kernel plan
(check each kernel against NumPy, then time it) with a progress line per step on stderr →
time the small transformer (CPU; validation rows, never fitted) → fit the machine model on
the `fit` rows → write the spec YAML, load it back with the strict hardware loader → predict
the held-out rows with it → only then write the measurement file and the spec, each
atomically. An interruption or error at any point before the end leaves no output file.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any, TextIO

from infersim.foundation.errors import InputError
from infersim.foundation.io import atomic_write_text
from infersim.foundation.paths import check_output_file
from infersim.foundation.progress import Progress
from infersim.validation import measure
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
from infersim.validation.hostinfo import host_info
from infersim.validation.plan import PROFILES, kernel_cases

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
    host = host_info()
    from infersim.validation.spec_writer import cpu_spec_yaml, fitted_summary, level_plan, spec_name

    spec_path = Path(opts.out) if opts.out is not None else DATA_DIR / f"{host.slug}.yaml"
    check_output_file("-o", spec_path, example="spec.yaml", suffixes=(".yaml", ".yml"))
    data_path = spec_path.with_suffix(".csv")
    plan = level_plan(host)
    cases = kernel_cases(profile)
    tcases = profile.transformer
    from infersim.validation.kernels.cpu_bench import CpuBench

    weight = (sum(measure.case_weight(c) for c in cases)
              + sum(measure.transformer_weight(t) for t in tcases))
    progress = Progress(weight, steps=len(cases) + len(tcases), stream=stream,
                        enabled=opts.progress, clock=time.monotonic)
    progress.note(f"calibrating {host.cpu_model} with {host.threads} thread(s), "
                  f"{profile.name} profile: {len(cases)} kernel cases, {len(tcases)} "
                  "transformer steps")
    from infersim.validation.kernels.timing import cpu_busy

    budget = measure.Budget(opts.budget_s, start=start, start_busy=cpu_busy())
    bench = CpuBench(cases, opts.seed)
    rows = measure.measure_kernels(bench, cases, profile.policy, progress, budget)
    bench.release()
    rows += measure.measure_transformer(tcases, profile, host.threads, progress, opts.seed,
                                        budget)
    df = measure.to_frame(rows)
    meta = {"device": "cpu", "profile": profile.name, "seed": opts.seed, "spec": data_ref(spec_path),
            **{k: v for k, v in host.to_dict().items()},
            "elapsed_s": f"{time.monotonic() - start:.1f}",
            "budget_s": "none" if opts.budget_s is None else f"{opts.budget_s:g}",
            "lean_cases": str(budget.lean_cases), "skipped_cases": str(len(budget.skipped))}
    # the raw measurements are kept whatever the fit says (--refit works from them)
    atomic_write_text(data_path, measure.measurement_text(df, meta))
    progress.note("fitting the machine model")
    try:
        kern = df[df.phase == ""]
        cal = fit_all(kern, plan.names, plan.nominal_bytes, float(host.memory_bytes or 16e9),
                      GEMM_MICRO_ROWS)
        check_physical(cal, host)
        text = cpu_spec_yaml(cal, host, plan, data_ref(data_path), profile.name)
        hw = load_checked(text, spec_name(host), df)
    except CalibrationError as e:
        raise CalibrationError(f"{e}; the measurements are kept in {data_path} (fit them again "
                               f"with `infersim calibrate --refit {data_path}`)") from None
    holdout, tstats = grade(df, hw)
    warns = tuple(w for w in (measure.contention_summary(df), budget.note()) if w)
    write_pair(data_path, measure.measurement_text(df, meta), spec_path, text)
    return CalibrateResult(spec_path, data_path, spec_name(host), cal, holdout, tstats,
                           time.monotonic() - start, tuple(fitted_summary(cal, plan)), warns)


def refit(data_path: Path, out: Path | None = None) -> CalibrateResult:
    """Fit and write a spec again from an existing CPU measurement file (no measuring): the
    calibration is reproducible from the committed data alone."""
    from infersim.validation.hostinfo import HostInfo
    from infersim.validation.spec_writer import cpu_spec_yaml, fitted_summary, level_plan, spec_name

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
    host = HostInfo.from_meta(dict(meas.meta))
    plan = level_plan(host)
    df = meas.frame
    cal = fit_all(df[df.phase == ""], plan.names, plan.nominal_bytes,
                  float(host.memory_bytes or 16e9), GEMM_MICRO_ROWS)
    check_physical(cal, host)
    text = cpu_spec_yaml(cal, host, plan, data_ref(data_path), meas.meta.get("profile", "?"))
    hw = load_checked(text, spec_name(host), df)
    holdout, tstats = grade(df, hw)
    atomic_write_text(spec_path, text)
    return CalibrateResult(spec_path, data_path, spec_name(host), cal, holdout, tstats,
                           time.monotonic() - start, tuple(fitted_summary(cal, plan)))


def profile_of(quick: bool, profile: str | None) -> str:
    if profile:
        return profile
    return "quick" if quick else "full"
