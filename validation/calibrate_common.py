"""What CPU and CUDA calibration share: options and result, the output-path check, the
strict load of a generated spec, grading against held-out rows, and the paired atomic write of
a measurement file with its spec."""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from infersim.foundation.errors import InfersimError, SpecError
from infersim.foundation.io import atomic_write_text
from infersim.validation import measure
from infersim.validation.fit import Calibration
from infersim.validation.stats import ErrorStats, error_stats

DATA_DIR = Path(__file__).parent / "data"
REPO_ROOT = Path(__file__).resolve().parent.parent


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
    # wall-clock budget of the measurements, seconds (None: unlimited); see measure.Budget
    budget_s: float | None = 150.0


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
    # CPU: the thread decision and chip scaling (measurement-file header keys → values)
    threads: Mapping[str, str] = field(default_factory=dict)

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
                "threads": dict(self.threads),
                "warnings": list(self.warnings)}


def data_ref(path: Path) -> str:
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


def grade(df: pd.DataFrame, hw) -> tuple[ErrorStats, ErrorStats | None]:
    """Error stats of the held-out kernel rows and of the transformer rows under `hw`."""
    from infersim.validation.closed_loop import predict_kernel_rows, predict_transformer_rows

    held = df[(df.role == "holdout") & (df.phase == "")]
    hstats = error_stats(predict_kernel_rows(held, hw), held.median_s)
    tr = df[df.phase != ""]
    tstats = (error_stats(predict_transformer_rows(tr, hw), tr.median_s)
              if not tr.empty else None)
    return hstats, tstats


def write_pair(data_path: Path, data_text: str, spec_path: Path, spec_text: str) -> None:
    """Write the measurement file, then the spec; never leave one without the other."""
    existed = data_path.exists()
    atomic_write_text(data_path, data_text)
    try:
        atomic_write_text(spec_path, spec_text)
    except BaseException:
        if not existed:
            data_path.unlink(missing_ok=True)
        raise
