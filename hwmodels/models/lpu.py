"""Cost model of an LPU (Groq TSP class): statically scheduled dataflow, SRAM only, kind `lpu`.

What it models, for one execution of an op on one chip:

    time = max(compute, SRAM, links) + op overhead [+ layer overhead] [+ hops × hop latency]

- compute: FLOPs / peak of the dtype on the matrix unit (MXM) for matmul-class ops, the vector
  unit (VXM) for the rest; bf16 runs at the fp16 rate (same width), other unlisted dtypes are
  emulated (`common.effective_peak`).
- SRAM: every byte of the op at the SRAM bandwidth (the roofline floor). There is no DRAM:
  weights, KV and activations are SRAM-resident by construction (`ctx.weights_on_chip` is
  ignored); whether they fit is a capacity question (`hwmodels.capacity`), not a cost.
- links: collectives over the chip-to-chip network: wire bytes / the chip's link bandwidth,
  plus the topology's latency-bound steps (`common.collective_hops`) × the interconnect's
  per-hop latency (the C2C hop latency). Pipeline sends are one hop.
- deterministic overheads (the static schedule has no jitter): `lpu.op_overhead_us` per op
  (stream fill/drain through the functional-unit chain) and `lpu.layer_overhead_us` once per
  decoder layer, charged on the layer's attention op.

Energy = FLOPs × J/FLOP + bytes × 8 × SRAM J/bit + wire bytes × 8 × link J/bit + idle × time.
Never below `roofline_times`. A chip without `LpuParams` is priced with no fixed overheads.
"""

from __future__ import annotations

from hwmodels.cost import Bound, CostContext, OpCost
from hwmodels.models.common import collective_time, finish, mac_energy, op_peak, op_unit
from hwmodels.models.roofline import roofline_times
from hwmodels.spec import Hardware, HardwareKind, LpuParams
from workloads.ops import CollectiveShape, Op, OpKind


class LpuModel:
    """Deterministic SRAM-only dataflow chip with per-hop chip-to-chip latency."""

    kind = HardwareKind.LPU

    def op_cost(self, op: Op, hw: Hardware, ctx: CostContext) -> OpCost:
        chip = hw.chip
        p = chip.params if isinstance(chip.params, LpuParams) else None
        floor_c, floor_m, floor_comm = roofline_times(op, hw)
        is_coll = isinstance(op.shape, CollectiveShape)
        compute_s = floor_c
        if not is_coll and op.flops > 0:
            peak = op_peak(chip, op)
            if peak > 0:
                compute_s = max(compute_s, op.flops / peak)
        comm_s, hop_s, wire = collective_time(op, hw.fabric, floor_comm)
        overhead = hop_s
        if p is not None:
            overhead += p.op_overhead_s
            if op.kind == OpKind.ATTENTION:
                overhead += p.layer_overhead_s
        fabric = hw.fabric
        energy = (op.flops * mac_energy(chip, op.dtype, op_unit(op))
                  + op.bytes.total * 8 * chip.main_memory.energy_j_per_bit
                  + (wire * 8 * fabric.energy_j_per_bit if fabric is not None else 0.0))
        terms = {Bound.COMPUTE: compute_s, Bound.MEMORY: floor_m, Bound.INTERCONNECT: comm_s}
        return finish(terms, overhead, energy, chip.power.idle_w, compute_s=compute_s,
                      memory_s=floor_m, comm_s=comm_s, detail=(("hop_s", hop_s),))
