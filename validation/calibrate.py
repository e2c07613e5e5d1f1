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

import os
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import pandas as pd

from infersim.foundation.errors import InfersimError, InputError, SpecError
from infersim.foundation.io import atomic_write_text
from infersim.validation import measure
from infersim.validation.fit import Calibration, fit_all
from infersim.validation.hostinfo import host_info
from infersim.validation.plan import PROFILES, Profile, kernel_cases
from infersim.validation.progress import Progress
from infersim.validation.stats import ErrorStats, error_stats

DATA_DIR = Path(__file__).parent / "data"
REPO_ROOT = Path(__file__).resolve().parent.parent
DEVICES = ("cpu", "cuda")
# Rows of A the CPU GEMM micro-kernel handles at once (validation/kernels/cpu.py): fewer rows
# run its streaming GEMV loop.
GEMM_MICRO_ROWS = 4


class CalibrationError(InfersimError):
    """The measurements could not be turned into a valid spec (e.g. a busy machine)."""

    exit_code = 1


@dataclass(frozen=True)
class CalibrateOptions:
    device: str = "cpu"
    out: Path | None = None  # spec YAML; None → validation/data/<host>-<date>.yaml
    profile: str = "full"
    seed: int = 0
    progress: bool = True
    allow_busy: bool = False  # write results even if other processes disturbed the timing


# Refuse to write a calibration when more than this share of the cases stayed contended after
# the retries (or when the call-overhead measurement itself was): the fit would describe the
# other jobs, not the machine.
MAX_CONTENDED_SHARE = 0.05


@dataclass(frozen=True)
class CalibrateResult:
    spec_path: Path
    data_path: Path
    spec_name: str
    calibration: Calibration
    holdout: ErrorStats  # held-out kernel cases, predicted by the written spec
    transformer: ErrorStats | None
    elapsed_s: float
    summary: tuple[Mapping[str, str], ...] = ()
    warnings: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        return {"spec": str(self.spec_path), "measurements": str(self.data_path),
                "name": self.spec_name, "elapsed_s": self.elapsed_s,
                "call_overhead_s": self.calibration.overhead_s,
                "levels": [{"name": lv.name, "capacity_bytes": lv.capacity_bytes,
                            "bandwidth_Bps": lv.bandwidth_Bps}
                           for lv in self.calibration.levels],
                "matrix_flops": dict(self.calibration.matrix_flops),
                "vector_flops": dict(self.calibration.vector_flops),
                "holdout": self.holdout.to_dict(),
                "transformer": self.transformer.to_dict() if self.transformer else None,
                "warnings": list(self.warnings)}


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


def check_writable(path: Path) -> None:
    """Fail now, before minutes of measuring, if `path` cannot be written: probe by creating
    (and removing) a temporary file in the nearest existing folder."""
    if path.suffix.lower() not in (".yaml", ".yml"):
        raise InputError(f"-o {path}: the calibrated spec is a YAML file; give a path ending "
                         "in .yaml")
    if path.is_dir():
        raise InputError(f"-o {path}: is a directory; give a file path ending in .yaml")
    probe = path.parent
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if not probe.is_dir():
        raise InputError(f"-o {path}: {probe} is not a folder; choose a writable location")
    try:
        fd, tmp = tempfile.mkstemp(prefix=".infersim-probe-", dir=probe)
        os.close(fd)
        os.unlink(tmp)
    except OSError as e:
        raise InputError(f"-o {path}: no permission to write in {probe} ({e.strerror}); "
                         "choose a writable location") from None
    if path.exists() and not os.access(path, os.W_OK):
        raise InputError(f"-o {path}: the existing file is not writable; choose another path")


def _ref(path: Path) -> str:
    """How the spec cites its measurement file: repo-relative when inside the repo."""
    try:
        return path.resolve().relative_to(REPO_ROOT).as_posix()
    except ValueError:
        return str(path.resolve())


def _load_spec_text(text: str, name: str):
    """Load YAML text with the strict hardware loader (through a private temp file)."""
    from infersim.hwmodels.loader import load_hardware

    with tempfile.TemporaryDirectory(prefix="infersim-cal-") as d:
        p = Path(d) / f"{name}.yaml"
        p.write_text(text, encoding="utf-8")
        return load_hardware(p)


def _start_worker_threads() -> None:
    """Run one parallel kernel so the threading layer is up (and reported by host_info)."""
    import numpy as np

    from infersim.validation.kernels.cpu import empty_parallel

    empty_parallel(np.zeros(1, dtype=np.int64))


def refuse_if_busy(df: pd.DataFrame, allow: bool) -> None:
    """CalibrationError when the measurements were disturbed by other processes."""
    contended = df.contended > 0
    empty = df[df.kernel == "empty"]
    bad_share = float(contended.mean()) if len(df) else 0.0
    if allow or (bad_share <= MAX_CONTENDED_SHARE and not (empty.contended > 0).any()):
        return
    raise CalibrationError(
        f"other processes competed for the CPU during {int(contended.sum())} of {len(df)} "
        "measurements (even after retries), so they describe the other jobs, not this "
        "machine; nothing was written. Rerun on an idle machine, or pass --allow-busy to "
        "write them anyway")


# Physical ceilings of a CPU, for checking fitted numbers. assumed: the widest SIMD shipping in
# CPUs (AVX-512 or 512-bit SVE) with two FMA pipes per core: 16 fp32 / 8 fp64 lanes × 2 pipes ×
# 2 FLOP per FMA per cycle; a clock up to 1.5 × the nominal (turbo), 6 GHz when unknown.
# DRAM: 0.5 GB/s (one slow channel) to 2 TB/s (beyond HBM-equipped server CPUs, ~1 TB/s).
FLOP_PER_CYCLE = {"fp32": 64.0, "fp64": 32.0, "fp16": 128.0, "bf16": 128.0}
TURBO = 1.5
CLOCK_UNKNOWN_HZ = 6e9
DRAM_BPS_RANGE = (0.5e9, 2e12)


def check_physical(cal: Calibration, host: Any) -> None:
    """CalibrationError unless every fitted number is physically possible on this host:
    FLOP/s ≤ cores × SIMD FLOP per cycle × clock, fp64 no faster than fp32, and a DRAM
    bandwidth in a plausible range. (A busy machine makes timings slow, never fast; a number
    above a ceiling means the fit went wrong, e.g. on a sample that measured nothing.)"""
    clock = host.tsc_hz * TURBO if host.tsc_hz > 0 else CLOCK_UNKNOWN_HZ
    cores = max(1, int(host.logical_cpus))
    problems = []
    for what, table in (("matrix", cal.matrix_flops), ("vector", cal.vector_flops)):
        for dtype, flops in table.items():
            cap = cores * FLOP_PER_CYCLE.get(dtype, 128.0) * clock
            if not flops > 0 or flops > cap:
                problems.append(f"{what} {dtype} {flops / 1e9:.4g} GFLOP/s exceeds {cores} cores "
                                f"× {FLOP_PER_CYCLE.get(dtype, 128.0):g} FLOP/cycle × "
                                f"{clock / 1e9:.2f} GHz = {cap / 1e9:.4g} GFLOP/s")
        if "fp32" in table and "fp64" in table and table["fp64"] > 1.1 * table["fp32"]:
            problems.append(f"{what} fp64 ({table['fp64'] / 1e9:.4g} GFLOP/s) faster than fp32 "
                            f"({table['fp32'] / 1e9:.4g} GFLOP/s)")
    if cal.levels:
        dram = cal.levels[-1].bandwidth_Bps
        lo, hi = DRAM_BPS_RANGE
        if not lo <= dram <= hi:
            problems.append(f"main-memory bandwidth {dram / 1e9:.4g} GB/s is outside "
                            f"[{lo / 1e9:g}, {hi / 1e9:g}] GB/s")
    if problems:
        raise CalibrationError("the fitted model is physically impossible, no spec was "
                               "written: " + "; ".join(problems))


def load_checked(text: str, name: str, df: pd.DataFrame, hint: str = ""):
    """Load the generated spec; implausible fitted values become a CalibrationError that
    says why (usually a machine busy with other work during the measurements)."""
    try:
        return _load_spec_text(text, name)
    except SpecError as e:
        busy = measure.contention_summary(df)
        why = "; ".join(str(p) for p in e.problems)
        raise CalibrationError(
            "the fitted model is implausible, nothing was written: " + why + ". "
            + (hint or busy or "Rerun on an idle machine")) from None


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
    check_writable(spec_path)
    data_path = spec_path.with_suffix(".csv")
    plan = level_plan(host)
    cases = kernel_cases(profile)
    tcases = profile.transformer
    from infersim.validation.kernels.cpu_bench import CpuBench

    weight = (sum(measure.case_weight(c) for c in cases)
              + sum(measure.transformer_weight(t) for t in tcases))
    progress = Progress(weight, len(cases) + len(tcases), stream, enabled=opts.progress)
    progress.note(f"calibrating {host.cpu_model} with {host.threads} thread(s), "
                  f"{profile.name} profile: {len(cases)} kernel cases, {len(tcases)} "
                  "transformer steps")
    bench = CpuBench(cases, opts.seed)
    rows = measure.measure_kernels(bench, cases, profile.policy, progress)
    bench.release()
    rows += measure.measure_transformer(tcases, profile, host.threads, progress, opts.seed)
    df = measure.to_frame(rows)
    meta = {"device": "cpu", "profile": profile.name, "seed": opts.seed, "spec": _ref(spec_path),
            **{k: v for k, v in host.to_dict().items()},
            "elapsed_s": f"{time.monotonic() - start:.1f}"}
    # the raw measurements are kept whatever the fit says (--refit works from them)
    atomic_write_text(data_path, measure.measurement_text(df, meta))
    progress.note("fitting the machine model")
    try:
        kern = df[df.phase == ""]
        cal = fit_all(kern, plan.names, plan.nominal_bytes, float(host.memory_bytes or 16e9),
                      GEMM_MICRO_ROWS)
        check_physical(cal, host)
        text = cpu_spec_yaml(cal, host, plan, _ref(data_path), profile.name)
        hw = load_checked(text, spec_name(host), df)
    except CalibrationError as e:
        raise CalibrationError(f"{e}; the measurements are kept in {data_path} (fit them again "
                               f"with `infersim calibrate --refit {data_path}`)") from None
    holdout, tstats = grade(df, hw)
    warn = measure.contention_summary(df)
    _write_pair(data_path, measure.measurement_text(df, meta), spec_path, text)
    return CalibrateResult(spec_path, data_path, spec_name(host), cal, holdout, tstats,
                           time.monotonic() - start, tuple(fitted_summary(cal, plan)),
                           (warn,) if warn else ())


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
    check_writable(spec_path)
    host = HostInfo.from_meta(dict(meas.meta))
    plan = level_plan(host)
    df = meas.frame
    cal = fit_all(df[df.phase == ""], plan.names, plan.nominal_bytes,
                  float(host.memory_bytes or 16e9), GEMM_MICRO_ROWS)
    check_physical(cal, host)
    text = cpu_spec_yaml(cal, host, plan, _ref(data_path), meas.meta.get("profile", "?"))
    hw = load_checked(text, spec_name(host), df)
    holdout, tstats = grade(df, hw)
    atomic_write_text(spec_path, text)
    return CalibrateResult(spec_path, data_path, spec_name(host), cal, holdout, tstats,
                           time.monotonic() - start, tuple(fitted_summary(cal, plan)))


def grade(df: pd.DataFrame, hw) -> tuple[ErrorStats, ErrorStats | None]:
    """Error stats of the held-out kernel rows and of the transformer rows under `hw`."""
    from infersim.validation.closed_loop import predict_kernel_rows, predict_transformer_rows

    held = df[(df.role == "holdout") & (df.phase == "")]
    hstats = error_stats(predict_kernel_rows(held, hw), held.median_s)
    tr = df[df.phase != ""]
    tstats = (error_stats(predict_transformer_rows(tr, hw), tr.median_s)
              if not tr.empty else None)
    return hstats, tstats


def _write_pair(data_path: Path, data_text: str, spec_path: Path, spec_text: str) -> None:
    """Write the measurement file, then the spec; never leave one without the other."""
    existed = data_path.exists()
    atomic_write_text(data_path, data_text)
    try:
        atomic_write_text(spec_path, spec_text)
    except BaseException:
        if not existed:
            data_path.unlink(missing_ok=True)
        raise


def profile_of(quick: bool, profile: str | None) -> str:
    if profile:
        return profile
    return "quick" if quick else "full"


def describe_profile(p: Profile) -> str:
    return (f"{p.name}: working sets {p.ws_min_bytes / 1024:.0f} KiB–"
            f"{p.ws_max_bytes / 1024**2:.0f} MiB, {len(p.gemm_shapes)} GEMM shapes × "
            f"{len(p.gemm_dtypes)} dtypes, {len(p.transformer)} transformer steps")
