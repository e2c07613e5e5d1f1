"""CPU kernels of committed `infersim calibrate` runs, predicted by the spec each run wrote.

Group "operators": the held-out sizes and shapes (never seen by the fit). Group
"operators (fit)": the sizes the fit used — in-sample, shown for completeness.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from infersim.validation.datasets._calibration_files import CalibrationRun, calibration_runs

NAME = "cpu_kernels"
DESCRIPTION = ("Numba STREAM copy/scale/add/triad/sum, vector-FMA and tiled-GEMM kernels "
               "measured on this repository's CPU by `infersim calibrate` "
               "(validation/data/*.csv), predicted with the calibrated spec")


def frame_for(run: CalibrationRun) -> pd.DataFrame:
    from infersim.hwmodels.loader import load_hardware
    from infersim.validation.closed_loop import predict_kernel_rows
    from infersim.validation.kernels.cases import Kernel

    df = run.measurements.frame
    rows = df[(df.phase == "") & (df.kernel != Kernel.EMPTY.value)]
    hw = load_hardware(run.spec_path)
    pred = predict_kernel_rows(rows, hw)
    case = [f"gemm {r.dtype} {r.m}x{r.k}x{r.n}" if r.kernel == "gemm"
            else f"{r.kernel} {r.dtype} {r.working_set_bytes / 1024:.0f} KiB"
            for r in rows.itertuples(index=False)]
    return pd.DataFrame({
        "dataset": NAME,
        "group": ["operators" if r == "holdout" else "operators (fit)" for r in rows.role],
        "case": case, "predicted": pred.to_numpy(), "measured": rows.median_s.to_numpy(),
        "unit": "s",
        "notes": [f"{run.label}; {r.role}; {int(r.flops)} FLOP, {int(r.bytes)} B"
                  for r in rows.itertuples(index=False)],
        # extra columns used by the roofline plot (ignored by the statistics)
        "flops": rows.flops.to_numpy(), "bytes": rows.bytes.to_numpy(),
        "kernel": rows.kernel.to_numpy(), "spec": str(run.spec_path)})


def load_from(paths: list[Path] | None = None) -> pd.DataFrame:
    """Rows of the given measurement files (default: every committed CPU run)."""
    from infersim.validation.measure import read_measurements

    runs = (calibration_runs() if paths is None
            else [CalibrationRun(read_measurements(p), p.with_suffix(".yaml")) for p in paths])
    frames = [frame_for(r) for r in runs]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
        columns=["dataset", "group", "case", "predicted", "measured", "unit", "notes"])


def load() -> pd.DataFrame:
    return load_from(None)
