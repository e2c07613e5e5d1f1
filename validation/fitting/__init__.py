"""Fitting routines for the few spec constants that validation data sets calibrate.

Each module refits from the committed data (the data set's loader in `validation.datasets`),
writes its result file and says which spec fields take the values. The data-set modules only
load and predict; they never fit.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any


def fit_main(argv: Sequence[str] | None, module: str, doc: str, fit: Callable[[], dict[str, Any]],
             summary: Callable[[dict[str, Any]], str], out: Path) -> int:
    """The command line of a fitting module: refit, print `summary` of the result and write
    it to `out` as JSON (`--check`: print only)."""
    import argparse
    import json

    from infersim.foundation.io import atomic_write_text

    ap = argparse.ArgumentParser(prog=f"python -m {module}", description=doc.split("\n\n")[0])
    ap.add_argument("--check", action="store_true", help="print, do not write the fit file")
    args = ap.parse_args(argv)
    res = fit()
    print(summary(res))
    if not args.check:
        atomic_write_text(out, json.dumps(res, indent=2) + "\n")
        print(f"wrote {out}")
    return 0


def bisect_rising(f: Callable[[float], float], target: float, lo: float, hi: float,
                  tol: float, what: str) -> float:
    """The x in [lo, hi] (to within `tol`) at which `f`, rising in x, reaches `target`, by
    bisection (robust to the small steps of a fixed-seed Monte Carlo `f`); ValueError naming
    `what` when the bracket does not hold it."""
    if f(lo) > target or f(hi) < target:
        raise ValueError(f"no {what} in [{lo}, {hi}] gives {target:g}")
    while hi - lo > tol:
        mid = 0.5 * (lo + hi)
        if f(mid) < target:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


def rows_summary(res: dict[str, Any]) -> str:
    """A published-rows fit's result in one line (`fit_main`'s summary): its fitted values
    (`res["values"]`) and each row's prediction at them against its measurement
    (`res["rows"]`: id -> predicted_tok_s, measured_tok_s)."""
    import json

    return json.dumps(res["values"]) + " on " + ", ".join(
        f"{rid} ({v['predicted_tok_s']:g} of {v['measured_tok_s']:g} tok/s)"
        for rid, v in res["rows"].items())
