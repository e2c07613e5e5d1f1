"""Cost model of a wafer-scale SRAM engine (Cerebras WSE class), kind `wafer`.

What it models, for one execution of an op on one wafer:

    time = max(compute, SRAM, weight streaming, fabric, links) + fixed latencies

- compute: FLOPs / peak of the dtype (unlisted dtypes emulated, `common.effective_peak`);
  the wafer's layer-pipelined dataflow keeps the cores busy even at batch 1, so no GEMV
  penalty is applied (its cost is the per-layer latency below).
- SRAM: all bytes of the op at the on-wafer SRAM bandwidth (the roofline floor: the SRAM is
  the chip's main memory; MemoryX is an `external` level).
- weight streaming: the fraction of the op's weights NOT resident (1 - ctx.weights_on_chip)
  streams from `wafer.weight_stream_level` (MemoryX) at that level's bandwidth.
- fabric: activations (in + out) cross the on-wafer fabric between layer regions.
- links: collectives / pipeline sends to other wafers: wire bytes / the chip's link
  bandwidth (`common.collective_wire_bytes`), plus hops × the interconnect's per-hop latency
  (the inter-wafer link latency).
- fixed latency: `wafer.layer_latency_us` once per decoder layer, charged on the layer's
  attention op (every decoder layer has exactly one), for the activation hand-off between
  layer regions and the pipeline fill/drain.

Energy = FLOPs × J/FLOP + all bytes × 8 × SRAM J/bit + streamed bytes × 8 × MemoryX J/bit +
wire bytes × 8 × link J/bit + idle power × time.

Valid for: decoder steps whose layers fit the wafer's cores (one layer region per layer);
assumes the mapper has decided `weights_on_chip`. Never below `roofline_times`.
A chip without `WaferParams` (e.g. a GPU in the conformance suite) is priced with no
layer latency, no fabric term and streaming from its external level if it has one.
"""

from __future__ import annotations

from hwmodels.cost import Bound, CostContext, OpCost
from hwmodels.models.common import collective_time, finish, mac_energy, op_peak, op_unit
from hwmodels.models.roofline import roofline_times
from hwmodels.spec import Hardware, HardwareKind, MemoryLevel, WaferParams
from workloads.ops import CollectiveShape, Op, OpKind


def _stream_level(hw: Hardware, p: WaferParams | None) -> MemoryLevel | None:
    chip = hw.chip
    if p is not None:
        for m in chip.memory:
            if m.name == p.weight_stream_level:
                return m
    return chip.external_memory


class WaferModel:
    """Wafer-scale SRAM engine: resident or streamed weights, per-layer pipeline latency."""

    kind = HardwareKind.WAFER

    def op_cost(self, op: Op, hw: Hardware, ctx: CostContext) -> OpCost:
        chip = hw.chip
        p = chip.params if isinstance(chip.params, WaferParams) else None
        floor_c, floor_m, floor_comm = roofline_times(op, hw)
        main = chip.main_memory
        is_coll = isinstance(op.shape, CollectiveShape)
        compute_s = floor_c
        if not is_coll and op.flops > 0:
            peak = op_peak(chip, op)
            if peak > 0:
                compute_s = max(compute_s, op.flops / peak)
        streamed = 0.0
        stream_s = 0.0
        ext = _stream_level(hw, p)
        resident = min(1.0, max(0.0, ctx.weights_on_chip))
        if op.bytes.weight > 0 and resident < 1.0 and ext is not None:
            streamed = op.bytes.weight * (1.0 - resident)
            stream_s = streamed / ext.bandwidth_Bps
        fabric_s = 0.0
        if p is not None and not is_coll:
            fabric_s = (op.bytes.act_in + op.bytes.act_out) / p.fabric_bandwidth_Bps
        comm_s, overhead, wire = collective_time(op, hw.fabric, floor_comm)
        if p is not None and op.kind == OpKind.ATTENTION:
            overhead += p.layer_latency_s
        fabric_ic = hw.fabric
        energy = (op.flops * mac_energy(chip, op.dtype, op_unit(op))
                  + op.bytes.total * 8 * main.energy_j_per_bit
                  + (streamed * 8 * ext.energy_j_per_bit if ext is not None else 0.0)
                  + (wire * 8 * fabric_ic.energy_j_per_bit if fabric_ic is not None else 0.0))
        terms = {Bound.COMPUTE: compute_s, Bound.MEMORY: max(floor_m, stream_s),
                 Bound.INTERCONNECT: max(comm_s, fabric_s)}
        return finish(terms, overhead, energy, chip.power.idle_w, compute_s=compute_s,
                      memory_s=max(floor_m, stream_s), comm_s=comm_s,
                      detail=(("streamed_bytes", streamed), ("stream_s", stream_s),
                              ("fabric_s", fabric_s)))
