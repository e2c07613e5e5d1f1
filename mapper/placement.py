"""Placement of weights / KV / activations on a chip's memory levels, and the fit check.

Per chip (trace ops are per-chip shards; counts span all pipeline stages, so a stage holds
1/pp of the layer weights and KV):
- weights  = Σ weight bytes × count / pp (parameters are read once per step, so the trace's
  weight traffic is the resident weight set) plus the token-embedding table shard (the trace
  only reads the gathered rows of it; tied embeddings are already lm_head's weight);
- KV cache = Σ attention KV bytes read × count / pp (the cache after this step);
- activation workspace = the largest op's activation in + out (buffers are reused op to op).

Where they go: everything lives in the chip's main memory (HBM on a GPU, SRAM on an LPU).
A chip with an `external` memory level (wafer + MemoryX, CIM + LPDDR reload store) keeps KV
and activations on chip and as many weights as fit; the rest streams from the external level
(`CostContext.weights_on_chip` = the resident fraction). A CIM chip holds weights in its
arrays (`CimParams.weight_capacity_bytes`).

The fit check itself is `hwmodels.capacity.check_capacity` (called by `mapper.core`); the
`check_fit` below is a simpler standalone version kept for callers without a Trace split.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from hwmodels.cost import Infeasibility
from hwmodels.spec import CimParams, Hardware
from infersim.errors import InfersimError
from workloads.ops import MatmulShape, OpKind
from workloads.trace import Trace


@dataclass(frozen=True, slots=True)
class Footprint:
    """Bytes one chip must hold for a step."""

    weight_bytes: float
    kv_bytes: float
    activation_bytes: float

    @property
    def total_bytes(self) -> float:
        return self.weight_bytes + self.kv_bytes + self.activation_bytes


def footprint(trace: Trace) -> Footprint:
    pp = max(1, trace.scenario.parallel.pp)
    w = kv = act = 0.0
    gathered = 0.0
    head: MatmulShape | None = None
    for op in trace.ops:
        b = op.bytes
        if op.kind is OpKind.EMBEDDING and op.name == "embed_tokens":
            gathered += b.weight * op.count
        else:
            w += b.weight * op.count
        if op.kind is OpKind.ATTENTION:
            kv += b.kv_read * op.count
        if op.name == "lm_head" and isinstance(op.shape, MatmulShape):
            head = op.shape
        act = max(act, b.act_in + b.act_out)
    w += _embedding_table(trace, head, gathered)
    return Footprint(w / pp, kv / pp, act)


def _embedding_table(trace: Trace, head: MatmulShape | None, gathered: float) -> float:
    """Resident bytes of the token-embedding table on one chip: the whole vocab-parallel
    shard (vocab/tp × hidden, the lm_head's shape), not only the rows a step gathers; zero
    extra when the embeddings are tied to lm_head (already counted as its weight)."""
    if head is None or head.weight_dtype is None:
        return gathered
    try:
        from workloads.model import load_model

        tied = load_model(trace.model).tie_word_embeddings
    except InfersimError:  # a model given as an anonymous dict: assume untied (conservative)
        tied = False
    if tied:
        return 0.0
    return max(gathered, float(head.k) * head.n * head.weight_dtype.bytes)


def weights_on_chip(hw: Hardware, fp: Footprint, weight_bits: int | None = None) -> float:
    """Fraction of the weights resident on chip (1.0 on chips without an external level).
    `weight_bits`: the weights' precision (CIM arrays hold more low-bit weights)."""
    chip = hw.chip
    p = chip.params
    if isinstance(p, CimParams):
        cap = p.weight_capacity_bytes(weight_bits)
    elif chip.external_memory is not None:
        cap = chip.main_memory.capacity_bytes - fp.kv_bytes - fp.activation_bytes
    else:
        return 1.0
    if fp.weight_bytes <= 0:
        return 1.0
    return max(0.0, min(1.0, cap / fp.weight_bytes))


def check_fit(trace: Trace, hw: Hardware, fp: Footprint) -> Infeasibility | None:
    """None if the step fits the chips it uses, else a structured report."""
    par = trace.scenario.parallel
    chips = par.chips
    if chips > hw.num_chips:
        return Infeasibility(
            "chips in the system", chips, hw.num_chips, "chips",
            (f"use a system with ≥ {chips} chips (tp×pp = {par.tp}×{par.pp})",
             f"lower tp/pp to at most {hw.num_chips} chips"),
            {"tp": float(par.tp), "pp": float(par.pp)})
    chip = hw.chip
    ext = chip.external_memory
    main = chip.main_memory
    if ext is not None:
        # weights may stream from the external level; KV and activations must fit on chip
        on_chip = fp.kv_bytes + fp.activation_bytes
        if on_chip > main.capacity_bytes:
            return _report(f"{main.name} capacity per chip (KV + activations)", on_chip,
                           main.capacity_bytes, trace, fp, chips)
        if fp.weight_bytes > ext.capacity_bytes:
            return _report(f"{ext.name} capacity per chip (weights)", fp.weight_bytes,
                           ext.capacity_bytes, trace, fp, chips)
        return None
    if fp.total_bytes > main.capacity_bytes:
        return _report(f"{main.name} capacity per chip", fp.total_bytes, main.capacity_bytes,
                       trace, fp, chips)
    return None


def _report(resource: str, demand: float, capacity: float, trace: Trace, fp: Footprint,
            chips: int) -> Infeasibility:
    need = math.ceil(demand * chips / capacity) if capacity > 0 else 0
    prec = trace.scenario.precision
    levers = []
    if need > chips:
        levers.append(f"spread over ≥ {need} chips (raise tp/pp; now {chips})")
    if fp.weight_bytes > 0 and prec.weights.bits > 4:
        levers.append(f"quantize weights below {prec.weights.value} (weights are "
                      f"{fp.weight_bytes / 1e9:.1f} GB per chip)")
    if fp.kv_bytes > 0:
        levers.append(f"shorten context or batch, or store KV in fp8 (KV is "
                      f"{fp.kv_bytes / 1e9:.2f} GB per chip)")
    return Infeasibility(resource, demand, capacity, "B", tuple(levers),
                         {"weight_bytes": fp.weight_bytes, "kv_bytes": fp.kv_bytes,
                          "activation_bytes": fp.activation_bytes, "chips_needed": float(need)})
