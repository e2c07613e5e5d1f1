"""The points of a study: grid and random designs, and the stable key of a point.

A point is stored compactly as a tuple of values aligned with `Points.names`; `Points.params(i)`
gives the flat parameter mapping. The key of a point is a hash of its canonical JSON, so the
same parameters give the same key in every process, on every machine, in every run — this is
what lets a killed sweep resume without duplicating points.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from infersim.studies.types import Dimension, Method, Study


@dataclass(frozen=True)
class Points:
    names: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]

    def __len__(self) -> int:
        return len(self.rows)

    def params(self, i: int) -> dict[str, Any]:
        return dict(zip(self.names, self.rows[i], strict=True))

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for r in self.rows:
            yield dict(zip(self.names, r, strict=True))

    def keys(self) -> list[str]:
        return [point_key(dict(zip(self.names, r, strict=True))) for r in self.rows]


def canonical(params: Mapping[str, Any]) -> str:
    """Canonical JSON of a point: sorted keys, numpy scalars as Python numbers."""
    return json.dumps({k: _plain(v) for k, v in params.items()}, sort_keys=True,
                      separators=(",", ":"), allow_nan=False)


def point_key(params: Mapping[str, Any]) -> str:
    """Stable 96-bit key of a point (hex), independent of dict order and process."""
    return hashlib.blake2b(canonical(params).encode(), digest_size=12).hexdigest()


def _plain(v: Any) -> Any:
    if isinstance(v, np.generic):
        return v.item()
    return v


def design(study: Study) -> Points:
    """The points of a grid or random study (optimize studies generate points as they go)."""
    if study.search.method is Method.GRID:
        return grid_points(study)
    if study.search.method is Method.RANDOM:
        return random_points(study)
    raise ValueError("optimize studies have no fixed design; use studies.optimize")


def _names(study: Study) -> tuple[tuple[str, ...], list[int], tuple[Any, ...]]:
    """Parameter names, index of each sweep dimension in them, and the fixed base row."""
    names = study.parameters
    base = tuple(study.fixed.get(n) for n in names)
    idx = [names.index(d.name) for d in study.sweep]
    return names, idx, base


def grid_points(study: Study) -> Points:
    """Full factorial design, in the order the dimensions are listed (last varies fastest)."""
    names, idx, base = _names(study)
    rows = []
    for combo in itertools.product(*(d.grid_values() for d in study.sweep)):
        row = list(base)
        for i, v in zip(idx, combo, strict=True):
            row[i] = v
        rows.append(tuple(row))
    return Points(names, tuple(rows))


def sample_value(dim: Dimension, rng: np.random.Generator) -> Any:
    """One draw: uniform over a list; uniform or log-uniform over a range (integers rounded)."""
    if dim.range is None:
        return dim.values[int(rng.integers(len(dim.values)))]
    r = dim.range
    if r.log:
        x = math.exp(rng.uniform(math.log(r.low), math.log(r.high)))
    else:
        x = float(rng.uniform(r.low, r.high))
    if r.integer:
        return int(min(max(round(x), r.low), r.high))
    return x


def space_size(study: Study) -> float:
    """Number of distinct points (inf when a dimension is continuous)."""
    n = 1.0
    for d in study.sweep:
        if d.range is None:
            n *= len(d.values)
        elif d.range.integer:
            n *= d.range.high - d.range.low + 1
        else:
            return math.inf
    return n


def random_points(study: Study) -> Points:
    """`search.n` distinct points drawn with numpy.random.default_rng(search.seed).

    Draws repeat until n distinct points exist; when the space has fewer than n points, all
    of them are returned (in draw order)."""
    names, idx, base = _names(study)
    rng = np.random.default_rng(study.search.seed)
    want = int(min(study.search.n, space_size(study)))
    seen: set[tuple[Any, ...]] = set()
    rows: list[tuple[Any, ...]] = []
    attempts = 0
    while len(rows) < want and attempts < 100 * max(want, 1):
        attempts += 1
        row = list(base)
        for i, d in zip(idx, study.sweep, strict=True):
            row[i] = sample_value(d, rng)
        t = tuple(row)
        if t not in seen:
            seen.add(t)
            rows.append(t)
    return Points(names, tuple(rows))
