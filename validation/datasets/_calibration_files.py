"""Shared by the CPU data sets: find committed calibration runs (a measurement file
`validation/data/<stem>.csv` with its calibrated spec `<stem>.yaml`) and predict their rows
with that spec."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from infersim.validation.measure import Measurements, read_measurements

DATA_DIR = Path(__file__).resolve().parent.parent / "data"


@dataclass(frozen=True)
class CalibrationRun:
    measurements: Measurements
    spec_path: Path

    @property
    def label(self) -> str:
        m = self.measurements.meta
        return f"{m.get('hostname', '?')} {m.get('date_utc', '')}".strip()


def calibration_runs(device: str = "cpu", folder: Path = DATA_DIR) -> list[CalibrationRun]:
    """Committed runs of `device`, oldest first (by file name)."""
    runs = []
    for csv in sorted(folder.glob("*.csv")):
        spec = csv.with_suffix(".yaml")
        if not spec.is_file():
            continue
        try:
            meas = read_measurements(csv)
        except (OSError, ValueError):
            continue
        if meas.meta.get("device") == device:
            runs.append(CalibrationRun(meas, spec))
    return runs
