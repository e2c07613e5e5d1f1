"""Pareto fronts: the non-dominated points of a table under min/max objectives.

Point a dominates b when a is at least as good in every objective and strictly better in one.
Identical points do not dominate each other (both stay on the front). Rows with a NaN in any
objective are never on the front. Two objectives use a sort-and-sweep in O(n log n); more use
a block-vectorized pairwise check.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

from infersim.studies.types import Goal

if TYPE_CHECKING:
    import pandas as pd


def _as_min(values: np.ndarray, goals: Sequence[Goal | str]) -> np.ndarray:
    """Flip maximized columns so every objective is minimized."""
    v = np.array(values, dtype=float, copy=True)
    for j, g in enumerate(goals):
        if Goal(g) is Goal.MAXIMIZE:
            v[:, j] = -v[:, j]
    return v


def non_dominated(values: np.ndarray, goals: Sequence[Goal | str]) -> np.ndarray:
    """Boolean mask of the non-dominated rows of an (n, k) array."""
    n = len(values)
    if n == 0:
        return np.zeros(0, dtype=bool)
    v = _as_min(np.asarray(values, dtype=float).reshape(n, len(goals)), goals)
    mask = np.zeros(n, dtype=bool)
    finite = np.all(np.isfinite(v), axis=1)
    idx = np.flatnonzero(finite)
    if idx.size == 0:
        return mask
    w = v[idx]
    if w.shape[1] == 1:
        mask[idx[w[:, 0] == w[:, 0].min()]] = True
        return mask
    if w.shape[1] == 2:
        mask[idx[_front_2d(w)]] = True
        return mask
    keep = np.ones(len(w), dtype=bool)
    block = 512
    for s in range(0, len(w), block):
        part = w[s:s + block]
        le = np.all(w[None, :, :] <= part[:, None, :], axis=2)  # (b, n): w_j <= part_i
        lt = np.any(w[None, :, :] < part[:, None, :], axis=2)
        keep[s:s + block] = ~np.any(le & lt, axis=1)
    mask[idx[keep]] = True
    return mask


def _front_2d(w: np.ndarray) -> np.ndarray:
    """Sort by (x, y); sweep keeping the best y so far. Ties in x: only the best y survives,
    exact duplicates of a front point survive together."""
    order = np.lexsort((w[:, 1], w[:, 0]))
    keep = np.zeros(len(w), dtype=bool)
    best_y = np.inf
    prev: tuple[float, float] | None = None
    prev_kept = False
    for i in order:
        x, y = w[i, 0], w[i, 1]
        if prev is not None and (x, y) == prev:
            keep[i] = prev_kept
            continue
        prev_kept = y < best_y
        if prev_kept:
            best_y = y
        keep[i] = prev_kept
        prev = (x, y)
    return keep


def pareto_front(frame: pd.DataFrame, objectives: Mapping[str, Goal | str]) -> pd.Series:
    """Boolean Series (aligned with `frame`): True for rows on the Pareto front."""
    import pandas as pd

    cols = list(objectives)
    mask = non_dominated(frame[cols].to_numpy(dtype=float), [objectives[c] for c in cols])
    return pd.Series(mask, index=frame.index, name="pareto")
