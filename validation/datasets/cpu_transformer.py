"""A small real Llama-style transformer (validation/transformer.py) run on this machine's
CPU by `infersim calibrate`: measured prefill and decode step times vs the simulator's
prediction (`infersim.api.simulate` on the calibrated spec, runtime graph)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from infersim.validation.datasets._calibration_files import CalibrationRun, calibration_runs

NAME = "cpu_transformer"
DESCRIPTION = ("Prefill and decode steps of a 4-layer GQA Llama (hidden 512, 8/2 heads, vocab "
               "4096, fp32; NumPy + Numba kernels, Numba GEMM) measured on this repository's "
               "CPU, predicted from its trace with the calibrated spec")


def frame_for(run: CalibrationRun) -> pd.DataFrame:
    from infersim.hwmodels.loader import load_hardware
    from infersim.validation.closed_loop import predict_transformer_rows

    df = run.measurements.frame
    rows = df[df.phase != ""]
    if rows.empty:
        return pd.DataFrame()
    hw = load_hardware(run.spec_path)
    pred = predict_transformer_rows(rows, hw)
    case = [f"{r.phase} {'prompt' if r.phase == 'prefill' else 'context'}={int(r.tokens)}"
            for r in rows.itertuples(index=False)]
    return pd.DataFrame({
        "dataset": NAME, "group": "end-to-end", "case": case, "predicted": pred.to_numpy(),
        "measured": rows.median_s.to_numpy(), "unit": "s",
        "notes": [f"{run.label}; batch 1, fp32, runtime graph" for _ in case]})


def load_from(paths: list[Path] | None = None) -> pd.DataFrame:
    from infersim.validation.measure import read_measurements

    runs = (calibration_runs() if paths is None
            else [CalibrationRun(read_measurements(p), p.with_suffix(".yaml")) for p in paths])
    frames = [f for f in (frame_for(r) for r in runs) if not f.empty]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
        columns=["dataset", "group", "case", "predicted", "measured", "unit", "notes"])


def load() -> pd.DataFrame:
    return load_from(None)
