"""Validation data sets, as plug-ins: every module `validation/datasets/<name>.py` exposes

    NAME: str                      # short identifier, e.g. "cpu_kernels"
    DESCRIPTION: str               # one sentence: what was measured, where, by whom
    def load() -> pandas.DataFrame # columns COLUMNS below, one row per compared case

`infersim validate` discovers them by scanning this package (modules starting with "_" are
skipped), so a new data set needs no registration. `predicted` and `measured` share `unit`
("s" for seconds per call or step, "tok/s" for throughput); `group` splits a data set for the
statistics (e.g. "operators", "end-to-end"); `notes` says anything that qualifies a row
(precision, speculative decoding, held-out or fitted, ...). A module may also set
`LIST_ROWS = True`: the report then lists every one of its rows, ungraded ones included.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd

COLUMNS = ("dataset", "group", "case", "predicted", "measured", "unit", "notes")


@dataclass(frozen=True)
class Dataset:
    name: str
    description: str
    load: Callable[[], pd.DataFrame]
    module: str
    list_rows: bool = False  # the report lists every row (module attribute LIST_ROWS)


def discover() -> list[Dataset]:
    """Every data-set module of this package, sorted by name."""
    found = []
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
        if info.name.startswith("_") or info.ispkg:
            continue
        mod = importlib.import_module(f"{__name__}.{info.name}")
        name = getattr(mod, "NAME", None)
        load = getattr(mod, "load", None)
        if not isinstance(name, str) or not callable(load):
            continue  # a helper module, not a data set
        found.append(Dataset(name, str(getattr(mod, "DESCRIPTION", "")), load, mod.__name__,
                             bool(getattr(mod, "LIST_ROWS", False))))
    return found


def check_frame(df: pd.DataFrame, name: str) -> pd.DataFrame:
    """The frame with exactly COLUMNS (in order); a clear error when a column is missing."""
    missing = [c for c in COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"data set {name}: load() returned no column(s) {', '.join(missing)}; "
                         f"expected {', '.join(COLUMNS)}")
    out = df.loc[:, list(COLUMNS)].copy()
    out["predicted"] = pd.to_numeric(out["predicted"], errors="coerce")
    out["measured"] = pd.to_numeric(out["measured"], errors="coerce")
    return out
