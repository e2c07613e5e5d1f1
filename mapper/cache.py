"""Caches that make a whole-model estimate cheap: hardware fingerprints and per-op costs.

`Hardware` is a frozen dataclass but holds mappings (peak tables, sources), so it is not
hashable. `hw_fingerprint` folds everything that can change a cost into one int, computed once
per Hardware object (memoized by object identity, dropped when the object dies). Two objects
with the same content share a fingerprint, so `--set` sweep variants never collide and equal
variants share cached costs. Provenance (`sources`, `description`, `origin`) is left out.

The cost cache maps (op shape key, hardware fingerprint, runtime, placement) to a priced
`Unit`; it is a plain dict capped at `MAX_ENTRIES` (cleared when full: the working set of a
sweep is small, and clearing is cheaper than LRU bookkeeping on every hit).
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping
from dataclasses import fields, is_dataclass
from enum import Enum
from typing import Any

from infersim.hwmodels.models.gpu.gemm import clear_memo as _clear_gemm_memo
from infersim.hwmodels.spec import Hardware
from infersim.workloads.ops import Op

MAX_ENTRIES = 200_000
_SKIP = frozenset({"sources", "description", "origin"})
_FP: dict[int, tuple[weakref.ref[Hardware], int]] = {}
_COSTS: dict[tuple[Any, ...], Any] = {}
_stats = {"hits": 0, "misses": 0}


def _freeze(obj: Any) -> Any:
    if is_dataclass(obj) and not isinstance(obj, type):
        return (type(obj).__name__, *tuple((f.name, _freeze(getattr(obj, f.name))) for f in fields(obj) if f.name not in _SKIP))
    if isinstance(obj, Mapping):
        return tuple(sorted(((_freeze(k), _freeze(v)) for k, v in obj.items()), key=repr))
    if isinstance(obj, (frozenset, set)):
        return tuple(sorted((_freeze(v) for v in obj), key=repr))
    if isinstance(obj, (list, tuple)):
        return tuple(_freeze(v) for v in obj)
    if isinstance(obj, Enum):
        return obj.value
    return obj


def hw_fingerprint(hw: Hardware) -> int:
    """A content hash of everything in `hw` that can change a cost (memoized per object)."""
    key = id(hw)
    hit = _FP.get(key)
    if hit is not None and hit[0]() is hw:
        return hit[1]
    fp = hash(_freeze(hw))

    def _forget(_ref: weakref.ref[Hardware], k: int = key) -> None:
        _FP.pop(k, None)

    _FP[key] = (weakref.ref(hw, _forget), fp)
    return fp


def op_key(op: Op) -> tuple[Any, ...]:
    """What the cost of one execution depends on (not the op's name, count or block)."""
    return (op.kind, op.dtype, op.flops, op.bytes, op.shape)


def get(key: tuple[Any, ...]) -> Any:
    v = _COSTS.get(key)
    if v is None:
        _stats["misses"] += 1
    else:
        _stats["hits"] += 1
    return v


def put(key: tuple[Any, ...], value: Any) -> None:
    if len(_COSTS) >= MAX_ENTRIES:
        _COSTS.clear()
    _COSTS[key] = value


def clear_cache() -> None:
    """Forget every cached cost and memoized GEMM search (fingerprints stay: they are
    content hashes)."""
    _COSTS.clear()
    _clear_gemm_memo()
    _stats["hits"] = 0
    _stats["misses"] = 0


def cache_info() -> dict[str, int]:
    return {"entries": len(_COSTS), "hits": _stats["hits"], "misses": _stats["misses"]}
