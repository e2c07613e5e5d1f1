"""Error statistics of predictions against measurements — one definition for every data set.

APE (absolute percentage error) of one case = |predicted − measured| / |measured|, as a
fraction (0.05 = 5%). A group of N cases is summarized by the median and the 90th percentile
of its APEs (numpy's default linear interpolation between order statistics), plus the signed
median of (predicted − measured)/measured, which shows a systematic bias (negative =
the model is optimistic / predicts less time). Rows with a non-finite or non-positive
measurement or a non-finite prediction are excluded and counted.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, TypeAlias

import numpy as np
import numpy.typing as npt
import pandas as pd

# anything np.asarray turns into floats (explicit alias: pandas is untyped, so without the
# annotation mypy takes this union for a plain variable, not a type)
Values: TypeAlias = Sequence[float] | npt.NDArray[Any] | pd.Series


@dataclass(frozen=True)
class ErrorStats:
    n: int
    median_ape: float
    p90_ape: float
    max_ape: float
    median_signed: float
    excluded: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def ape(predicted: Values, measured: Values) -> npt.NDArray[np.float64]:
    """|predicted − measured| / |measured| elementwise (NaN where undefined)."""
    p = np.asarray(predicted, dtype=float)
    m = np.asarray(measured, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where((m > 0) & np.isfinite(m) & np.isfinite(p), np.abs(p - m) / np.abs(m),
                        np.nan)


def error_stats(predicted: Values, measured: Values) -> ErrorStats:
    """Median / p90 / max APE and signed median error over the valid pairs."""
    p = np.asarray(predicted, dtype=float)
    m = np.asarray(measured, dtype=float)
    e = ape(p, m)
    ok = np.isfinite(e)
    if not ok.any():
        return ErrorStats(0, math.nan, math.nan, math.nan, math.nan, int(e.size))
    signed = (p[ok] - m[ok]) / m[ok]
    return ErrorStats(int(ok.sum()), float(np.median(e[ok])), float(np.percentile(e[ok], 90)),
                      float(np.max(e[ok])), float(np.median(signed)), int((~ok).sum()))


def summarize(df: pd.DataFrame, by: Sequence[str] = ("dataset", "group")) -> pd.DataFrame:
    """One row per group of `df` (columns predicted, measured) with its ErrorStats."""
    rows = []
    for key, g in df.groupby(list(by), sort=True):
        keys = key if isinstance(key, tuple) else (key,)
        st = error_stats(g["predicted"].to_numpy(), g["measured"].to_numpy())
        rows.append({**dict(zip(by, keys, strict=True)), **st.to_dict()})
    cols = [*by, *ErrorStats.__dataclass_fields__]
    return pd.DataFrame(rows, columns=cols)


def print_rows(df: pd.DataFrame, summary: bool = True) -> None:
    """Print a data set's rows (group, case, measured, predicted and their ratio) and, with
    `summary`, its `summarize` table: what a data set's command line shows."""
    import pandas as pd

    with pd.option_context("display.width", 200, "display.max_colwidth", 60,
                           "display.max_rows", 500):
        print(df.assign(ratio=df.predicted / df.measured)[
            ["group", "case", "measured", "predicted", "ratio"]].to_string(index=False))
        if summary:
            print()
            print(summarize(df).to_string(index=False))


def worst_cases(df: pd.DataFrame, n: int = 10) -> pd.DataFrame:
    """The `n` rows with the largest APE, largest first, with an `ape` column."""
    out = df.assign(ape=ape(df["predicted"], df["measured"]))
    return out.dropna(subset=["ape"]).sort_values("ape", ascending=False).head(n)
