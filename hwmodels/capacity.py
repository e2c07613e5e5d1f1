"""Capacity checks: does a model's state fit the memory of the chips used?

`check_capacity(hw, weight_bytes, kv_bytes, activation_bytes, chips)` takes the bytes ONE
chip must hold (its shard) and returns None when they fit, or an `Infeasibility` naming the
demand, the capacity, the gap and the levers (more chips, quantization, shorter context,
weight streaming). It is independent of the mapper, which calls it.

What "fits" means: each tensor class (weights, KV, activations) may live only in the memory
levels whose `holds` list names it. Levels marked `external` (MemoryX, a CIM card's LPDDR)
count only for weights and only with `stream_weights=True` (weight streaming / reloads).
Demands fit iff, for every set S of tensor classes, the bytes of S are at most the capacity
of the levels that may hold some class of S (Hall's condition for splitting the classes over
levels; with three classes all 7 sets are checked). The reported violation is the set with
the largest gap, so the demand and "chips needed" include everything that competes for the
same memory.

Chips needed assumes the demand shards evenly: ceil(demand × chips / capacity per chip).
"""

from __future__ import annotations

import math
from itertools import combinations

from infersim.foundation.errors import InputError
from infersim.hwmodels.cost import Infeasibility
from infersim.hwmodels.spec import Hardware, MemoryLevel, TensorClass

_ORDER = (TensorClass.WEIGHTS, TensorClass.KV, TensorClass.ACTIVATIONS)
_LABEL = {TensorClass.WEIGHTS: "weights", TensorClass.KV: "KV cache",
          TensorClass.ACTIVATIONS: "activations"}


def _gb(x: float) -> str:
    return f"{x / 1e9:.3g} GB" if x >= 1e8 else f"{x / 1e6:.3g} MB"


def _may_hold(level: MemoryLevel, cls: TensorClass, stream_weights: bool) -> bool:
    if cls not in level.holds:
        return False
    return not level.external or (stream_weights and cls == TensorClass.WEIGHTS)


def check_capacity(hw: Hardware, weight_bytes: float, kv_bytes: float,
                   activation_bytes: float = 0.0, chips: int = 1, *,
                   stream_weights: bool = False, weight_bits: int | None = None
                   ) -> Infeasibility | None:
    """None if the per-chip demands fit one chip of `hw`, else an `Infeasibility`.

    `weight_bytes`, `kv_bytes`, `activation_bytes`: bytes one chip holds (its shard).
    `chips`: chips the model is spread over (must be ≤ hw.num_chips).
    `stream_weights`: weights may live in `external` levels (wafer weight streaming, CIM
    reloads from LPDDR). `weight_bits`: current weight precision, to size the quantization
    lever (e.g. 16 for bf16)."""
    for name, v in (("weight_bytes", weight_bytes), ("kv_bytes", kv_bytes),
                    ("activation_bytes", activation_bytes)):
        if not math.isfinite(v) or v < 0:
            raise InputError(f"{name} must be a finite number ≥ 0, got {v!r}")
    if not isinstance(chips, int) or chips < 1:
        raise InputError(f"chips must be a positive integer, got {chips!r}")
    if chips > hw.num_chips:
        return Infeasibility(
            "chips", float(chips), float(hw.num_chips), "chips",
            (f"use a system with ≥ {chips} chips of {hw.chip.name}",
             "lower the parallel degree (tp × dp × cp × pp)"))
    demand = {TensorClass.WEIGHTS: weight_bytes, TensorClass.KV: kv_bytes,
              TensorClass.ACTIVATIONS: activation_bytes}
    levels = hw.chip.memory
    worst: tuple[float, tuple[TensorClass, ...], float, float, list[MemoryLevel]] | None = None
    active = [c for c in _ORDER if demand[c] > 0]
    for r in range(1, len(active) + 1):
        for subset in combinations(active, r):
            need = sum(demand[c] for c in subset)
            where = [lv for lv in levels
                     if any(_may_hold(lv, c, stream_weights) for c in subset)]
            cap = sum(lv.capacity_bytes for lv in where)
            gap = need - cap
            if gap > 0 and (worst is None or gap > worst[0]):
                worst = (gap, subset, need, cap, where)
    if worst is None:
        return None
    _, subset, need, cap, where = worst
    names = "+".join(lv.name for lv in where) or "no level"
    what = " + ".join(_LABEL[c] for c in subset)
    chips_needed = math.ceil(need * chips / cap) if cap > 0 else 0
    levers: list[str] = []
    if cap > 0:
        tail = (f" (this system has {hw.num_chips})" if chips_needed > hw.num_chips else
                "; raise tp/pp to spread the model")
        levers.append(f"needs ≥ {chips_needed} chips of {hw.chip.name}{tail}")
    else:
        holds = ", ".join(_LABEL[c] for c in subset)
        levers.append(f"no memory level of {hw.chip.name} may hold {holds} (check `holds:`)")
    if TensorClass.WEIGHTS in subset and weight_bytes > 0:
        bits = weight_bits or 16
        for target, label in ((8, "int8/fp8"), (4, "int4/fp4")):
            if target < bits:
                saved = weight_bytes * (1 - target / bits)
                if need - saved <= cap:
                    levers.append(f"quantize weights to {label} ({_gb(weight_bytes)} → "
                                  f"{_gb(weight_bytes - saved)} per chip)")
                    break
        else:
            if bits > 4:
                levers.append(f"quantize weights (even int4 would need "
                              f"{_gb(weight_bytes * 4 / bits)} per chip: combine with more "
                              "chips)")
        ext = hw.chip.external_memory
        if not stream_weights and ext is not None and TensorClass.WEIGHTS in ext.holds:
            levers.append(f"stream weights from {ext.name} (weight streaming / reloads; "
                          "slower)")
    if TensorClass.KV in subset and kv_bytes > 0:
        levers.append(f"shorter context or smaller batch (KV cache needs {_gb(kv_bytes)} "
                      "per chip), or an fp8 KV cache")
    detail = {"chips_needed": float(chips_needed), "weights_bytes": weight_bytes,
              "kv_bytes": kv_bytes, "activations_bytes": activation_bytes,
              "chips": float(chips)}
    return Infeasibility(f"{names} capacity per chip for {what}", need, cap, "B",
                         tuple(levers), detail)
