"""Wafer / LPU calibration: one constant per spatial hardware kind, fitted on one published
per-user speed and judged on the held-out rows of `validation.datasets.published_e2e`.

    python -m infersim.validation.fitting.wafer_lpu

writes `validation/data/published/wafer_lpu_fit.json` (the fit, its formula, the data and the
held-out errors); the spec fields named there take the fitted values.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from infersim.foundation.errors import InputError
from infersim.foundation.io import atomic_write_text
from infersim.hwmodels import load_hardware
from infersim.validation.datasets.published_e2e import DATA, predict_per_user, read_rows

FIT_FILE = DATA / "wafer_lpu_fit.json"
FIT_COMMAND = "python -m infersim.validation.fitting.wafer_lpu"


@dataclass(frozen=True)
class Calibration:
    """One fitted spec constant: `field` (a dotted YAML path of the chip spec, in its YAML
    unit) is solved so that row `row_id` is reproduced; `bracket` is its plausible range.
    `alternative` names a competing one-constant structure (another field fitted on the same
    row with `alt_fixed` set), reported to show how much the held-out error owes to the
    choice of structure."""

    kind: str
    spec: str
    row_id: str
    field: str
    unit: str
    bracket: tuple[float, float]
    formula: str
    alt_field: str
    alt_fixed: tuple[tuple[str, float], ...]
    alt_bracket: tuple[float, float]
    alt_formula: str


CALIBRATIONS = (
    Calibration(
        "wafer", "cs-3", "cerebras-l31-8b", "wafer.phase_overhead_ns", "ns", (0.0, 20000.0),
        "step = sum over ops of [max(local compute, local SRAM) + sum over the op's fabric "
        "phases (sqrt(C) x hop latency + forwarded bytes / link bandwidth + t_ph)] + "
        "inter-wafer sends (hops x link latency); C = cores x op's resident bytes / wafer's "
        "bytes; phases: GEMV 2, decode attention 2, norm 2, element-wise 0 "
        "(hwmodels/models/wafer.py); t_ph fitted",
        "wafer.rate_efficiency", (("wafer.phase_overhead_ns", 0.0),), (0.01, 1.0),
        "same, t_ph = 0, all local and fabric transit times divided by rate_efficiency"),
    Calibration(
        "lpu", "groq-lpu", "groq-l31-8b", "lpu.op_overhead_us", "us", (0.0, 100.0),
        "step = sum over compute ops of [max(compute, SRAM) + t_op] + sum over collectives of "
        "[wire bytes / link bandwidth + hops x C2C hop latency]; hops: all-reduce within a "
        "GroqNode 2, across nodes 6 (dragonfly), pipeline send 1 (hwmodels/models/lpu.py); "
        "t_op fitted",
        "lpu.layer_overhead_us", (("lpu.op_overhead_us", 0.2),), (0.0, 1000.0),
        "same with t_op = 0.2 us (the previous assumption: ~180 cycles of stream fill/drain) "
        "and a fixed per-layer time fitted instead"),
)


def rows_by_id() -> dict[str, dict[str, str]]:
    return {r["id"]: r for r in read_rows("per_user.csv")}


def _chip_overrides(fields: Mapping[str, float]) -> dict[str, float]:
    # `chip.` reaches the chip of a system spec and is ignored on a chip spec
    return {f"chip.{k}": v for k, v in fields.items()}


def _solve(row: dict[str, str], field: str, bracket: tuple[float, float],
           fixed: Mapping[str, float]) -> float:
    """The value of `field` (YAML unit) at which the row's prediction equals its measurement
    (the prediction is monotonic in the constant: one root in `bracket`)."""
    from scipy.optimize import brentq

    target = float(row["measured"])

    def gap(x: float) -> float:
        pred, note = predict_per_user(row, _chip_overrides({**fixed, field: x}))
        if not math.isfinite(pred):
            raise InputError(f"{row['id']}: cannot be predicted for the fit ({note})")
        return pred - target

    lo, hi = bracket
    if gap(lo) * gap(hi) > 0:
        raise InputError(f"{row['id']}: {field} in [{lo}, {hi}] cannot reproduce "
                         f"{target} {row['unit']}")
    return float(brentq(gap, lo, hi, xtol=1e-9 * max(1.0, hi), rtol=1e-12))


def _judge(kind: str, fields: Mapping[str, float]) -> list[dict[str, Any]]:
    """Predictions of this kind's rows with the fitted constant(s)."""
    out = []
    for r in read_rows("per_user.csv"):
        if load_hardware(r["hardware"]).kind.value != kind:
            continue
        pred, note = predict_per_user(r, _chip_overrides(fields))
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
    """Fit each `CALIBRATIONS` constant on its row, then predict every row of its kind with it
    (and with the alternative structure). Returns the content of `FIT_FILE`."""
    rows = rows_by_id()
    fits = []
    for c in CALIBRATIONS:
        row = rows[c.row_id]
        value = _round_sig(_solve(row, c.field, c.bracket, {}))
        alt_fixed = dict(c.alt_fixed)
        alt = _round_sig(_solve(row, c.alt_field, c.alt_bracket, alt_fixed))
        judged = _judge(c.kind, {c.field: value})
        alt_judged = _judge(c.kind, {**alt_fixed, c.alt_field: alt})
        fits.append({
            "kind": c.kind, "spec": c.spec, "field": c.field, "unit": c.unit, "value": value,
            "plausible_range": list(c.bracket), "formula": c.formula,
            "calibration_row": c.row_id, "rows": judged,
            "held_out_ape": _ape(judged),
            "alternative": {"field": c.alt_field, "fixed": alt_fixed, "value": alt,
                            "formula": c.alt_formula, "rows": alt_judged,
                            "held_out_ape": _ape(alt_judged)}})
    return {"what": ("one constant per spatial hardware kind fitted on one published per-user "
                     "speed, judged on held-out rows (validation/data/published/per_user.csv)"),
            "command": FIT_COMMAND,
            "comparable_quantity": ("cloud-API decode speed at production load vs. 1 / the "
                                    "latency of one batch-1 decode step, layer-pipelined over "
                                    "the row's chips, runtime 'fused'"),
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
        print(f"{f['spec']}: {f['field']} = {f['value']} {f['unit']} "
              f"(fitted on {f['calibration_row']}); held-out APE {f['held_out_ape']}; "
              f"alternative {f['alternative']['field']} = {f['alternative']['value']}: "
              f"held-out APE {f['alternative']['held_out_ape']}")
    print(f"wrote {FIT_FILE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
