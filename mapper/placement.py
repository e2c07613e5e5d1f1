"""Placement of weights / KV / activations on a chip's memory levels.

Per chip, the footprint is the model's resident state that `workloads.build_trace` records in
`Trace.resident` (busiest pipeline stage): every parameter shard (all MoE experts, the whole
embedding-table shard), the KV cache of batch × kv_len tokens and an activation workspace.
It is NOT what one step reads: a decode step touches only top_k experts and a few embedding
rows. A trace assembled by hand without `resident` falls back to what its ops read (weights
and KV read × count / pp, the largest op's activations): a lower bound.

Where they go: everything lives in the chip's main memory (HBM on a GPU, SRAM on an LPU).
A chip with an `external` memory level (wafer + MemoryX, CIM + LPDDR reload store) keeps KV
and activations on chip and as many weights as fit; the rest streams from the external level.
The resident fraction (`CostContext.weights_on_chip`) is the cost model's answer
(`CostModel.resident_weight_fraction`: a CIM chip holds weights in its arrays).

The fit rule itself is `hwmodels.capacity.check_capacity` (called by `mapper.core`), the one
implementation of "does it fit".
"""

from __future__ import annotations

from dataclasses import dataclass

from infersim.workloads.ops import OpKind
from infersim.workloads.trace import Trace


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
    """Per-chip bytes of `trace`'s step: its resident state (module docstring)."""
    r = trace.resident
    if r is not None:
        return Footprint(r.weight_bytes, r.kv_bytes, r.activation_bytes)
    pp = max(1, trace.scenario.parallel.pp)
    w = kv = act = 0.0
    for op in trace.ops:
        b = op.bytes
        w += b.weight * op.count
        if op.kind is OpKind.ATTENTION:
            kv += b.kv_read * op.count
        act = max(act, b.act_in + b.act_out)
    return Footprint(w / pp, kv / pp, act)
