"""Wafer / LPU calibration: the few software constants of each runtime profile, each fitted
on one published per-user speed (in `CALIBRATIONS` order, a later constant at the earlier
ones' values) and judged on the held-out rows of the same profile
(`validation.datasets.published_e2e`).

    python -m infersim.validation.fitting.wafer_lpu

writes `validation/data/published/wafer_lpu_fit.json` (the fit, its formula, the data and the
held-out errors); the runtime profiles named there carry the fitted values.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from infersim.foundation.errors import InputError
from infersim.foundation.io import atomic_write_text
from infersim.validation.datasets.published_e2e import DATA, predict_per_user, read_rows

FIT_FILE = DATA / "wafer_lpu_fit.json"
FIT_COMMAND = "python -m infersim.validation.fitting.wafer_lpu"


@dataclass(frozen=True)
class Calibration:
    """One fitted profile constant: `attr` (a kind-params attribute, SI) of runtime profile
    `profile` is solved so that row `row_id` is reproduced; `bracket` is its plausible range
    in `unit` (`scale` = SI per unit). `shared_with`: other profiles that carry the same
    value (no published row tells them apart); their rows are judged too."""

    kind: str
    profile: str
    row_id: str
    attr: str
    unit: str
    scale: float
    bracket: tuple[float, float]
    formula: str
    shared_with: tuple[str, ...] = ()


_WAFER_FORMULA = (
    "step = sum over ops of [max(local compute, local SRAM) + sum over the op's fabric phases "
    "(sqrt(C) x hop latency + forwarded bytes / link bandwidth + t_ph)] + inter-wafer sends "
    "(hops x link latency); C between the fewest cores holding the operand and its share of "
    "the wafer's bytes (attention: at least its layer's share), chosen to minimise the op's "
    "time; phases: GEMV 2, decode attention 2, norm 2, element-wise 0; each wafer-to-wafer "
    "send + t_io where wafer I/O is synchronous with compute (hwmodels/models/wafer.py); "
    "t_ph, t_io fitted")
_LPU_FORMULA = (
    "step = sum over compute ops of [max(MXM install, compute, SRAM) + latency cycles of the "
    "op class / clock] + sum over collectives of [wire bytes / link bandwidth + hops x C2C hop "
    "latency]; install = stationary bytes / (planes x 5,120 B/cycle x clock); vector ops 100 "
    "cycles, reductions 250 (assumed, hardware); matrix ops t_mx cycles (fitted); hops: "
    "all-reduce within a GroqNode 2, across nodes 6 (dragonfly), pipeline send 1 "
    "(hwmodels/models/lpu.py)")

CALIBRATIONS = (
    Calibration("wafer", "cerebras-2024-08", "cerebras-l31-8b", "phase_overhead_s", "ns",
                1e-9, (0.0, 20000.0), _WAFER_FORMULA),
    # after the phase overhead of the same profile (a single-wafer row has no hand-off)
    Calibration("wafer", "cerebras-2024-08", "cerebras-l31-70b", "io_handoff_s", "us",
                1e-6, (0.0, 5000.0), _WAFER_FORMULA),
    Calibration("wafer", "cerebras-2024-10", "cerebras-l31-70b-oct24", "phase_overhead_s",
                "ns", 1e-9, (0.0, 20000.0), _WAFER_FORMULA),
    Calibration("lpu", "groq-2024", "groq-l31-8b", "matrix_op_cycles", "cycles", 1.0,
                (0.0, 1e5), _LPU_FORMULA, shared_with=("groq-2023",)),
)


def rows_by_id() -> dict[str, dict[str, str]]:
    return {r["id"]: r for r in read_rows("per_user.csv")}


def profile_of(c: Calibration, name: str | None = None) -> Any:
    """The runtime profile `c` fits (or one it shares its value with), as shipped."""
    from infersim.hwmodels.registry import MODELS
    from infersim.hwmodels.spec import HardwareKind

    return MODELS[HardwareKind(c.kind)].resolve_runtime(name or c.profile)[1]


def _predict_with(row: dict[str, str], profile: Any) -> tuple[float, str]:
    return predict_per_user({**row, "runtime": profile})


def _solve(row: dict[str, str], c: Calibration) -> float:
    """The value of the profile constant (in `c.unit`) at which the row's prediction equals
    its measurement (the prediction is monotonic in the constant: one root in the bracket)."""
    from scipy.optimize import brentq

    target = float(row["measured"])
    base = profile_of(c)

    def gap(x: float) -> float:
        pred, note = _predict_with(row, base.with_values(**{c.attr: x * c.scale}))
        if not math.isfinite(pred):
            raise InputError(f"{row['id']}: cannot be predicted for the fit ({note})")
        return pred - target

    lo, hi = c.bracket
    if gap(lo) * gap(hi) > 0:
        raise InputError(f"{row['id']}: {c.attr} in [{lo}, {hi}] {c.unit} cannot reproduce "
                         f"{target} {row['unit']}")
    return float(brentq(gap, lo, hi, xtol=1e-9 * max(1.0, hi), rtol=1e-12))


def _judge(c: Calibration, value: float) -> list[dict[str, Any]]:
    """Predictions of the rows of `c.profile` with the constant at `value` (unit of c)."""
    out = []
    for r in read_rows("per_user.csv"):
        if r["runtime"] not in (c.profile, *c.shared_with):
            continue
        prof = profile_of(c, r["runtime"]).with_values(**{c.attr: value * c.scale})
        pred, note = _predict_with(r, prof)
        meas = float(r["measured"])
        out.append({"id": r["id"], "model": r["model"], "hardware": r["hardware"],
                    "chips": int(r["chips"]), "tp": int(r["tp"]), "pp": int(r["pp"]),
                    "use": r["use"], "split": r["split"], "measured": meas,
                    "predicted": round(pred, 3), "ratio": round(pred / meas, 4),
                    **({"note": note} if note else {})})
    return out


def _round_sig(x: float, sig: int = 4) -> float:
    return 0.0 if x == 0 else round(x, sig - 1 - math.floor(math.log10(abs(x))))


def fit_spatial() -> dict[str, Any]:
    """Fit each `CALIBRATIONS` constant on its row, then predict every row of its profile
    with it. Returns the content of `FIT_FILE`."""
    rows = rows_by_id()
    fits: list[dict[str, Any]] = []
    for c in CALIBRATIONS:
        value = _round_sig(_solve(rows[c.row_id], c))
        judged = _judge(c, value)
        fits.append({
            "kind": c.kind, "profile": c.profile, "shared_with": list(c.shared_with),
            "field": c.attr, "unit": c.unit,
            "value": value, "plausible_range": list(c.bracket), "formula": c.formula,
            "calibration_row": c.row_id, "rows": judged, "held_out_ape": _ape(judged)})
    held = sorted(e for f in fits for e in f["held_out_ape"].values())
    median = held[len(held) // 2] if len(held) % 2 else 0.5 * (held[len(held) // 2 - 1]
                                                                + held[len(held) // 2])
    return {"what": ("the software constants of the spatial kinds' runtime profiles, each "
                     "fitted on one published per-user speed, judged on the profile's held-out "
                     "rows "
                     "(validation/data/published/per_user.csv)"),
            "command": FIT_COMMAND,
            "comparable_quantity": ("cloud-API decode speed at production load vs. 1 / the "
                                    "latency of one batch-1 decode step, layer-pipelined over "
                                    "the row's chips"),
            "fitted_constants": len(fits),
            "held_out_rows": len(held),
            "held_out_median_ape": round(median, 4),
            "fits": fits}


def _ape(judged: list[dict[str, Any]]) -> dict[str, float]:
    return {j["id"]: round(abs(j["ratio"] - 1.0), 4) for j in judged
            if j["use"] == "pass_fail" and j["split"] == "held-out"}


def write_fit(path: Path = FIT_FILE) -> dict[str, Any]:
    doc = fit_spatial()
    atomic_write_text(path, json.dumps(doc, indent=1, ensure_ascii=False) + "\n")
    return doc


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m infersim.validation.fitting.wafer_lpu")
    ap.parse_args(argv)
    doc = write_fit()
    for f in doc["fits"]:
        print(f"{f['profile']}: {f['field']} = {f['value']} {f['unit']} "
              f"(fitted on {f['calibration_row']}); held-out APE {f['held_out_ape']}")
    print(f"held-out median APE {doc['held_out_median_ape']} over "
          f"{doc['held_out_rows']} rows, {doc['fitted_constants']} constants")
    print(f"wrote {FIT_FILE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
