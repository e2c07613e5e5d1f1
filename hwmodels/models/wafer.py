"""Cost model of a wafer-scale SRAM engine (Cerebras WSE class), kind `wafer`.

Execution model: weight-stationary, layer-pipelined dataflow on a 2D mesh of N cores
(`wafer.cores`), each with 1/N of the SRAM capacity and bandwidth and of the peak. At batch 1
a token visits the ops of the model one after the other, and an op can only use the cores
that hold its operands (its *region*); the other cores hold other ops' weights.

For one execution of an op on one wafer (ctx.chip_bytes = B, the bytes this wafer holds for
the step: weights + KV + activation workspace; ρ = `wafer.rate_efficiency`, 1 in the shipped
specs; t_ph = `wafer.phase_overhead_ns`):

    time = max(local compute / ρ, local SRAM / ρ, weight streaming, links)
           + Σ over the op's fabric phases (transit / ρ + t_ph) + fixed latencies

- region: the op runs on a √C × √C square of C cores, C chosen in [C_min, C_max] to
  minimise its time (a compiler places the op): C_min = the fewest cores whose SRAM holds
  its resident operand (b bytes: the weights of a matmul, the KV cache of an attention);
  C_max depends on the placement of the runtime profile (`wafer.layer_regions`):
  layer regions (1): every op keeps its own region, its share of the wafer's bytes
  C = N · b / B (attention at least N / layers on the wafer, its layer's share);
  overlapping regions (0): at batch 1 ops run one after another, any core may hold a slice
  of any op, C_max = N. With local time a/C and phases b·√C + c/√C the optimum is the root
  of b·x³ − c·x − 2a = 0 (x = √C) clamped to the range (`best_side`), so more cores with the
  same per-core resources (a larger C_max) are never slower.
- local SRAM: b / (C · SRAM bandwidth / N), never below the whole-wafer floor (all of the
  op's bytes at the full SRAM bandwidth).
- local compute: FLOPs / (C · peak / N) (unlisted dtypes emulated, `common.effective_peak`).
- fabric phases (dependent, so they add): a GEMV needs two, an input broadcast along the rows
  of its region and a partial-sum reduction along its columns; a decode attention two (query
  broadcast over the KV region, one flash-decoding reduction of (o, max, sum)); a norm two
  (reduce the sum of squares, broadcast the scale) over the cores holding its vector at one
  32-bit word per core. One phase over a side of √C cores has a transit of
  √C × hop latency + (bytes each core forwards) / (one link's bandwidth), the link's
  bandwidth being `fabric_bandwidth` / (8 N) (4 mesh links × 2 directions per core), the
  hop latency `fabric_hop_cycles` / clock (else `fabric_hop_latency_ns`), plus t_ph, the
  software's fixed cost of a phase (task activation, synchronising the region).
  Element-wise ops, RoPE, KV writes and embedding lookups are local: no phase.
- weight streaming: the fraction of the weights NOT resident (1 - ctx.weights_on_chip)
  streams from `wafer.weight_stream_level` (MemoryX) at that level's bandwidth.
- links: collectives / pipeline sends to other wafers: wire bytes / the chip's link
  bandwidth (`common.collective_time`), plus hops × the interconnect's per-hop latency
  (the inter-wafer link latency).
- fixed latency: `wafer.layer_latency_us` once per decoder layer on its attention op (0 in
  the shipped specs: the per-layer latency is the sum of the derived phases).
- wafer I/O: a pipeline send to the next wafer pays `io_handoff_s` on top of its link time
  when the software runs wafer I/O synchronously with compute (the Aug 2024 stack; the
  Oct 2024 release "streamlined wafer IO to run asynchronously from compute", so its
  profile sets 0). The system-I/O physics (1.2 Tb/s, one 16 KB activation: ~0.1 µs, plus
  the switch hop) is far below the gap the Aug 2024 70B row shows; the hand-off's size is
  therefore the fitted constant of that profile, not derived.

t_ph, the hand-off and the placement are software: they are the runtime profile's
(`PROFILES`: cerebras-2024-08, layer regions, t_ph fitted on Llama 3.1 8B on one CS-3, the
synchronous I/O hand-off on Llama 3.1 70B on four; cerebras-2024-10, overlapping regions,
asynchronous I/O, t_ph fitted on Llama 3.1 70B on four; validation/data/published/
wafer_lpu_fit.json); the hop latency, link and SRAM rates come from the chip spec.
With ρ ≤ 1 and t_ph ≥ 0 the model never beats the roofline floor (`roofline_times`).

Energy = FLOPs × J/FLOP + all bytes × 8 × SRAM J/bit + streamed bytes × 8 × MemoryX J/bit +
wire bytes × 8 × link J/bit + idle power × time.

Valid for: a decoder step whose ops each fit the wafer; the mapper decides `weights_on_chip`
and passes `chip_bytes` (this model declares `needs_chip_bytes`). A chip without
`WaferParams` (e.g. a GPU in the conformance suite) is priced with no region, no phases and
streaming from its external level if it has one.
"""

from __future__ import annotations

import math

from infersim.hwmodels.cost import Bound, CostContext, CostModelBase, OpCost, RuntimeProfile
from infersim.hwmodels.models.common import collective_time, finish, mac_energy, op_peak, op_unit
from infersim.hwmodels.models.roofline import roofline_times
from infersim.hwmodels.spec import Hardware, HardwareKind, MemoryLevel, WaferParams
from infersim.workloads.ops import (
    AttentionShape,
    Collective,
    CollectiveShape,
    MatmulShape,
    Op,
    OpKind,
    VectorShape,
)

MESH_LINK_DIRECTIONS = 8  # a 2D-mesh core: 4 neighbour links x 2 directions
WORD_BYTES = 4.0  # one fabric word (a 32-bit wavelet); partial sums travel as fp32 words
_WEIGHT_KINDS = frozenset({OpKind.MATMUL, OpKind.MOE_ROUTER, OpKind.MOE_EXPERTS})


def _stream_level(hw: Hardware, p: WaferParams | None) -> MemoryLevel | None:
    chip = hw.chip
    if p is not None:
        for m in chip.memory:
            if m.name == p.weight_stream_level:
                return m
    return chip.external_memory


def region_cores(operand_bytes: float, chip_bytes: float, cores: float) -> float:
    """Cores holding an operand of `operand_bytes` when the wafer's `chip_bytes` are spread
    over its `cores` in proportion to their size (1 ≤ C ≤ cores; all cores if unknown)."""
    if chip_bytes <= operand_bytes or chip_bytes <= 0:
        return float(cores)
    return min(float(cores), max(1.0, cores * operand_bytes / chip_bytes))


def phase_s(side: float, forward_bytes: float, hop_s: float, link_Bps: float) -> float:
    """One broadcast or reduction along a chain of `side` cores: the head of the data crosses
    `side` hops, and the `forward_bytes` each core passes on follow at one link's bandwidth
    (pipelined)."""
    return side * hop_s + forward_bytes / link_Bps


def fabric_phases(op: Op, region: float, n_cores: float) -> tuple[tuple[float, float], ...]:
    """(side in cores, bytes each core forwards) of each dependent fabric phase of `op` on a
    region of `region` cores (module docstring); () for a local op."""
    sh = op.shape
    side = math.sqrt(region)
    a = op.dtype.bytes
    if isinstance(sh, MatmulShape) and sh.weight_dtype is not None:
        rows = sh.m * max(1, sh.groups)
        return ((side, rows * sh.k * a / side),                 # broadcast x along rows
                (side, rows * sh.n * WORD_BYTES / side))        # reduce fp32 partial sums
    if isinstance(sh, AttentionShape):
        queries = sh.batch * sh.q_len * sh.heads
        return ((side, queries * sh.head_dim * a / side),
                (side, queries * (sh.dv + 2) * WORD_BYTES / side))
    if op.kind is OpKind.NORM and isinstance(sh, VectorShape):
        span = min(n_cores, max(1.0, math.ceil(sh.numel * a / WORD_BYTES)))
        s = math.sqrt(span)
        return ((s, WORD_BYTES), (s, WORD_BYTES))
    return ()


def _resident_operand_bytes(op: Op) -> float:
    """Bytes of the operand that stays put on the wafer (weights, or the KV cache)."""
    if op.kind in _WEIGHT_KINDS:
        return op.bytes.weight
    if op.kind is OpKind.ATTENTION:
        return op.bytes.kv_read
    return 0.0


FIT_FILE = "validation/data/published/wafer_lpu_fit.json"
# Software generations of the Cerebras inference stack: the one constant each (the fixed
# time of a dependent fabric phase: task activation and synchronisation of a region), fitted
# on one published row each (`python -m infersim.validation.fitting.wafer_lpu`);
# the other rows held out.
PROFILES: dict[str, RuntimeProfile] = {
    "cerebras-2024-10": RuntimeProfile(
        "cerebras-2024-10", HardwareKind.WAFER,
        (("layer_regions", 0), ("phase_overhead_s", 110.8e-9), ("io_handoff_s", 0.0)),
        "overlapping regions (the release rewrote the matmul and broadcast/reduce kernels); "
        "wafer I/O asynchronous from compute (no hand-off stall); "
        "phase overhead fitted on Llama 3.1 70B on 4 CS-3, ~2,100 tok/s (Oct 2024, its "
        f"speculative decoding included); {FIT_FILE}"),
    "cerebras-2024-08": RuntimeProfile(
        "cerebras-2024-08", HardwareKind.WAFER,
        (("layer_regions", 1), ("phase_overhead_s", 800.8e-9), ("io_handoff_s", 122.5e-6)),
        "layer regions (layers mapped to their own regions of the wafer, Hot Chips 2024); "
        "phase overhead fitted on Llama 3.1 8B on 1 CS-3, 1,800 tok/s (Aug 2024 launch); "
        "wafer I/O synchronous with compute (made asynchronous in the Oct 2024 release): "
        "the hand-off stall fitted on Llama 3.1 70B on 4 CS-3, 450 tok/s; "
        f"{FIT_FILE}"),
}


def best_side(a: float, b: float, c: float, x_min: float, x_max: float) -> float:
    """argmin over x in [x_min, x_max] of a/x² + b·x + c/x (a, b, c ≥ 0): the side of the
    square region that balances local work (a/x²) against fabric hops (b·x) and streaming
    (c/x). Unimodal for x > 0, so a larger x_max never gives a larger minimum."""
    x_min = max(1.0, min(x_min, x_max))
    if b <= 0:
        return x_max

    def g(x: float) -> float:  # derivative × x³
        return b * x ** 3 - c * x - 2.0 * a

    if g(x_max) <= 0:
        return x_max
    if g(x_min) >= 0:
        return x_min
    lo, hi = x_min, x_max
    for _ in range(80):
        mid = 0.5 * (lo + hi)
        if g(mid) < 0:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


class WaferModel(CostModelBase):
    """Wafer-scale SRAM engine: ops on regions of a 2D mesh, fabric phases, weight streaming."""

    kind = HardwareKind.WAFER
    needs_chip_bytes = True  # the mapper passes CostContext.chip_bytes (region sizes)
    profiles = PROFILES

    def op_cost(self, op: Op, hw: Hardware, ctx: CostContext) -> OpCost:
        chip = hw.chip
        p = chip.params if isinstance(chip.params, WaferParams) else None
        if p is not None and ctx.profile is not None and ctx.profile.kind == self.kind:
            p = ctx.profile.apply(p)
        floor_c, floor_m, floor_comm = roofline_times(op, hw)
        main = chip.main_memory
        is_coll = isinstance(op.shape, CollectiveShape)
        compute_s = floor_c
        peak = 0.0
        if not is_coll and op.flops > 0:
            peak = op_peak(chip, op)
            if peak > 0:
                compute_s = max(compute_s, op.flops / peak)
        resident = min(1.0, max(0.0, ctx.weights_on_chip))
        ext = _stream_level(hw, p)
        streamed = stream_s = 0.0
        if op.bytes.weight > 0 and resident < 1.0 and ext is not None:
            streamed = op.bytes.weight * (1.0 - resident)
            stream_s = streamed / ext.bandwidth_Bps
        memory_s = floor_m
        phases = 0.0
        region = 0.0
        eff = 1.0
        if p is not None and not is_coll:
            eff = p.rate_efficiency
            n = float(p.cores)
            operand = _resident_operand_bytes(op)
            held = operand * (resident if op.kind in _WEIGHT_KINDS else 1.0)
            # Cores the op may use. Layer regions (a layer-pipelined placement): its share of
            # the wafer's bytes, attention at least its layer's share. Overlapping regions:
            # at batch 1 ops run one after another, so any core may hold a slice of any op's
            # operand: up to all cores. Either way at least the fewest cores whose SRAM holds
            # the operand.
            if p.layer_regions:
                avail = region_cores(operand, ctx.chip_bytes, n) if operand > 0 else n
                if op.kind is OpKind.ATTENTION and ctx.layers_on_chip > 0:
                    avail = min(n, max(avail, n / ctx.layers_on_chip))
            else:
                avail = n
            per_core_cap = main.capacity_bytes / n
            need = min(avail, max(1.0, held / per_core_cap)) if per_core_cap > 0 else 1.0
            link_Bps = p.fabric_bandwidth_Bps / (MESH_LINK_DIRECTIONS * n)
            hop = (p.fabric_hop_cycles / chip.clock_hz
                   if p.fabric_hop_cycles > 0 and chip.clock_hz > 0 else p.fabric_hop_latency_s)
            # local time x region, per-phase hops and total forwarded bytes (x side)
            local_x = max(op.flops / (peak / n) if peak > 0 else 0.0,
                          held / (main.bandwidth_Bps / n)) / eff
            plan = fabric_phases(op, avail, n)
            if op.kind is OpKind.NORM or not plan:
                region = avail
                side_plan = plan
            else:
                fwd_total = sum(fwd * sd for sd, fwd in plan)  # bytes each phase streams
                b = len(plan) * hop / eff
                c = fwd_total / (link_Bps * eff)
                x = best_side(local_x, b, c, math.sqrt(need), math.sqrt(avail))
                region = x * x
                side_plan = fabric_phases(op, region, n)
            share = region / n
            memory_s = max(floor_m, held / (share * main.bandwidth_Bps))
            if peak > 0:
                compute_s = max(compute_s, op.flops / (share * peak))
            phases = sum(phase_s(side, fwd, hop, link_Bps) / eff
                         + p.phase_overhead_s for side, fwd in side_plan)
        comm_s, overhead, wire = collective_time(op, hw.fabric, floor_comm)
        overhead += phases
        if (p is not None and isinstance(op.shape, CollectiveShape)
                and op.shape.collective is Collective.SEND_RECV and op.shape.group_size > 1):
            overhead += p.io_handoff_s  # a stage boundary is a wafer boundary
        if p is not None and op.kind == OpKind.ATTENTION:
            overhead += p.layer_latency_s
        fabric_ic = hw.fabric
        energy = (op.flops * mac_energy(chip, op.dtype, op_unit(op))
                  + op.bytes.total * 8 * main.energy_j_per_bit
                  + (streamed * 8 * ext.energy_j_per_bit if ext is not None else 0.0)
                  + (wire * 8 * fabric_ic.energy_j_per_bit if fabric_ic is not None else 0.0))
        local_mem = memory_s / eff
        terms = {Bound.COMPUTE: compute_s / eff, Bound.MEMORY: max(local_mem, stream_s),
                 Bound.INTERCONNECT: comm_s}
        return finish(terms, overhead, energy, chip.power.idle_w, compute_s=compute_s / eff,
                      memory_s=max(local_mem, stream_s), comm_s=comm_s,
                      detail=(("region_cores", region), ("phases_s", phases),
                              ("streamed_bytes", streamed), ("stream_s", stream_s)))
