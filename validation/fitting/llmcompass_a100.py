"""Refit the A100 GPU constants and the harness constants of the LLMCompass data set on its
calibration half (see `validation.datasets.llmcompass_a100` for the data and the split).

    python -m infersim.validation.fitting.llmcompass_a100 [--rows] [--check]

writes `validation/data/llmcompass/calibration.json`; copy the fitted `gpu` values into the
`gpu:` block of `hwmodels/specs/a100-sxm-80gb.yaml`.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Sequence
from dataclasses import replace
from typing import Any, cast

from infersim.foundation.units import US
from infersim.hwmodels import Hardware, load_hardware
from infersim.hwmodels.spec import GpuParams
from infersim.validation.datasets.llmcompass_a100 import (
    CALIBRATION,
    SPEC,
    Case,
    cases,
    error_stats,
    frame,
    predict,
)
from infersim.validation.stats import print_rows

FIT_GPU = ("hbm_read_efficiency", "hbm_write_efficiency", "mma_efficiency",
           "reduction_reread_miss")
FIT_HARNESS = ("eager_matmul_s", "compiled_s", "eager_op_s")  # the harness constants fitted
HUBER = 0.05  # residuals in log space beyond ±5 % count linearly (robust to odd kernels)


def with_gpu(hw: Hardware, **values: float) -> Hardware:
    """`hw` with the named float fields of its GpuParams (e.g. FIT_GPU) replaced."""
    p = hw.chip.params
    assert isinstance(p, GpuParams)
    # mypy checks a **dict[str, float] against every field, the int `sm_count` included;
    # callers pass float fields only
    fields = cast("dict[str, Any]", values)
    return replace(hw, chip=replace(hw.chip, params=replace(p, **fields)))


def _huber(r: Any) -> float:
    import numpy as np

    a = np.abs(r)
    return float(np.mean(np.where(a <= HUBER, 0.5 * a * a, HUBER * (a - 0.5 * HUBER))))


def residuals(rows: list[Case], hw: Hardware, harness: dict[str, float]) -> Any:
    """log(pred/meas) of `rows` on `hw` with the harness constants `harness`."""
    import numpy as np

    pred = np.array([predict(c, hw, harness) for c in rows])
    return np.log(pred / np.array([c.measured_s for c in rows]))


def calibration_rows() -> list[Case]:
    """The rows the fit sees: the data set's calibration half."""
    return [c for c in cases() if c.split == "calibration"]


def calibration_loss(gpu: dict[str, float], harness: dict[str, float],
                     rows: list[Case] | None = None, base: Hardware | None = None) -> float:
    """The fit's objective at given constants: the mean Huber loss of `residuals` over `rows`
    (default `calibration_rows`) on `base` (default the spec) with its GPU fields `gpu`
    (FIT_GPU) replaced. The fit passes its rows and spec once, not per evaluation."""
    rows = calibration_rows() if rows is None else rows
    base = load_hardware(SPEC) if base is None else base
    return _huber(residuals(rows, with_gpu(base, **gpu), harness))


def fit(maxiter: int = 6000) -> dict[str, Any]:
    """Robust least squares on log(pred/meas) over the calibration rows only.

    One stage fits the A100 GPU constants and the three harness constants on all calibration
    rows (matmul, softmax, layernorm, gelu): softmax is priced by its row passes and launch
    geometry, so its rows inform the HBM efficiencies like any streaming kernel. The second
    stage (the eager-op harness constant alone, GPU constants fixed) runs on no rows; it keeps
    the keys of the result file (`loss_stage2`, `rows_stage2`)."""
    import numpy as np
    from scipy.optimize import minimize, minimize_scalar

    base = load_hardware(SPEC)
    stage1 = calibration_rows()
    stage2: list[Case] = []
    p0 = base.chip.params
    assert isinstance(p0, GpuParams)
    lo_hi = {"hbm_read_efficiency": (0.3, 1.0), "hbm_write_efficiency": (0.3, 1.0),
             "mma_efficiency": (0.3, 1.0), "reduction_reread_miss": (0.0, 1.0)}
    h1 = FIT_HARNESS

    def unpack(x: np.ndarray) -> tuple[dict[str, float], dict[str, float]]:
        gpu = {}
        for j, k in enumerate(FIT_GPU):
            lo, hi = lo_hi[k]
            gpu[k] = lo + (hi - lo) / (1.0 + math.exp(-x[j]))
        harness = {k: US * math.exp(x[len(FIT_GPU) + j]) for j, k in enumerate(h1)}
        return gpu, harness

    def loss1(x: np.ndarray) -> float:
        return calibration_loss(*unpack(x), stage1, base)

    x0 = np.zeros(len(FIT_GPU) + len(h1))
    for j, k in enumerate(FIT_GPU):
        lo, hi = lo_hi[k]
        v = min(max(getattr(p0, k), lo + 1e-3 * (hi - lo)), hi - 1e-3 * (hi - lo))
        x0[j] = math.log((v - lo) / (hi - v))
    x0[len(FIT_GPU):] = math.log(20.0)
    best = None
    for _restart in range(3):  # Nelder-Mead restarts from its own optimum
        res = minimize(loss1, x0 if best is None else best.x, method="Nelder-Mead",
                       options={"maxiter": maxiter, "xatol": 1e-5, "fatol": 1e-9})
        if best is None or res.fun < best.fun - 1e-12:
            best = res
        else:
            break
    assert best is not None
    gpu, harness = unpack(best.x)
    hw = with_gpu(base, **gpu)

    def loss2(log_us: float) -> float:
        r = residuals(stage2, hw, {**harness, "eager_op_s": US * math.exp(log_us)})
        return _huber(r)

    loss_2 = 0.0
    if stage2:
        r2 = minimize_scalar(loss2, bounds=(math.log(0.1), math.log(200.0)),
                             method="bounded")
        harness["eager_op_s"] = US * math.exp(float(r2.x))
        loss_2 = float(r2.fun)
    return {"gpu": gpu, "harness": harness, "loss_stage1": float(best.fun),
            "loss_stage2": loss_2, "rows_stage1": len(stage1),
            "rows_stage2": len(stage2), "spec": SPEC,
            "method": "Nelder-Mead on the mean Huber loss (delta 0.05) of log(pred/meas) "
                      "over all calibration rows (matmul/softmax/layernorm/gelu): GPU "
                      "constants (HBM read/write efficiency, MMA efficiency, looped-reduction "
                      "re-read miss fraction, each bounded to [lo, hi] by a logistic map) "
                      "and the three harness constants"}


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m infersim.validation.fitting.llmcompass_a100")
    ap.add_argument("--rows", action="store_true", help="print every row")
    ap.add_argument("--check", action="store_true",
                    help=f"refit and print the result beside the committed {CALIBRATION.name} "
                         "(each one's loss on today's model); write nothing")
    args = ap.parse_args(argv)
    from infersim.foundation.io import atomic_write_text

    committed: dict[str, Any] = {}
    if args.check:  # read what it compares against before the minute-long refit
        try:
            committed = committed_calibration()
        except ValueError as e:
            print(f"--check: {e}", file=sys.stderr)
            return 2
    res = fit()
    if args.check:
        print(check_lines(res, committed))
        return 0
    atomic_write_text(CALIBRATION, json.dumps(res, indent=2) + "\n")
    print(json.dumps(res, indent=2))
    df = frame(with_gpu(load_hardware(SPEC), **res["gpu"]), res["harness"])
    print("\nwith the fitted constants (copy the gpu values into the spec):")
    if args.rows:
        print_rows(df, summary=False)
    print(error_stats(df).to_string(index=False))
    return 0


def committed_calibration() -> dict[str, Any]:
    """The committed calibration file, with every key `check_lines` reads; ValueError (one
    line naming the file, the missing field and the fix) when it is absent or incomplete."""
    fix = "fix: rerun python -m infersim.validation.fitting.llmcompass_a100 to write it"
    try:
        data = json.loads(CALIBRATION.read_text())
    except FileNotFoundError:
        raise ValueError(f"{CALIBRATION}: not found ({fix})") from None
    except json.JSONDecodeError as e:
        raise ValueError(f"{CALIBRATION}: not JSON ({e.msg}, line {e.lineno}; {fix})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{CALIBRATION}: not a JSON object ({fix})")
    keys = [("gpu", k) for k in FIT_GPU] + [("harness", k) for k in FIT_HARNESS]
    for part, k in keys:
        if not isinstance(data.get(part), dict) or not isinstance(data[part].get(k),
                                                                   (int, float)):
            raise ValueError(f"{CALIBRATION}: field {part}.{k} missing or not a number ({fix})")
    if not isinstance(data.get("loss_stage1"), (int, float)):
        raise ValueError(f"{CALIBRATION}: field loss_stage1 missing or not a number ({fix})")
    return cast("dict[str, Any]", data)


def check_lines(res: dict[str, Any], committed: dict[str, Any]) -> str:
    """A refit `res` beside the `committed` calibration: each constant, and the loss of both
    on today's model (the committed file records the loss it had when it was fitted)."""
    lines = [f"{'constant':24s} {'committed':>12s} {'refit':>12s}"]
    for part in ("gpu", "harness"):
        for k, v in res[part].items():
            lines.append(f"{k:24s} {committed[part][k]:12.6g} {v:12.6g}")
    now = calibration_loss(committed["gpu"], committed["harness"])
    lines.append(f"loss of the committed values on today's model {now:.6g} (recorded "
                 f"{committed['loss_stage1']:.6g}); of the refit {res['loss_stage1']:.6g}")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
