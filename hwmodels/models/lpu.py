"""Cost model of an LPU (Groq TSP class): statically scheduled dataflow, SRAM only, kind `lpu`.

Execution model: a token's step runs as one compile-time schedule over every chip of the
system. A layer is split over the tensor-parallel chips of its pipeline stage (the trace's
ops are one chip's shard), the stages follow each other (layers pipelined across chips), and
every dependent step is a compute op on a chip's functional units or a chip-to-chip (C2C)
transfer. For one execution of an op on one chip (clock f, all latencies in cycles):

    matrix op (MXM):   max(install, MXM compute, SRAM) + matrix_op_cycles / f
    vector op (VXM):   max(VXM compute, SRAM) + vector_op_cycles / f
    reduction op:      max(VXM compute, SRAM) + reduction_op_cycles / f
    collective:        wire bytes / link bandwidth + hops × C2C hop latency

- install: the MXM is weight-stationary. At batch m each weight is written into a plane once
  and used by m vectors, so a matrix op streams its stationary operand (weights; for
  attention the KV cache) into the planes at P × `mxm_install_bytes_per_cycle` × f bytes/s,
  with P = matrix int8 peak / (2 × mxm_dim² × f) planes working at once (4 on Groq v1). A
  10 MB matrix-vector product thus costs ~0.5 ms/(TB/s of install) while a residual add costs
  ~100 cycles, and a 4× matrix peak (more planes) or a faster clock installs faster.
- MoE experts on a static schedule: the schedule is fixed at compile time, so it cannot
  depend on the router's choice. A chip runs every expert it holds on a fixed-capacity
  buffer and the router's gates zero the unselected outputs (the static-shape dispatch of
  GShard, Lepikhin et al., arXiv:2006.16668 §2.2; assumed for Groq, whose MoE schedule is not
  published): the op installs all of its `MatmulShape.experts` weight matrices, not only the
  top_k a token picks, and multiplies each of them (FLOPs and SRAM bytes scale alike).
- MXM compute: FLOPs / matrix peak of the dtype (fp16 at its own rate; bf16 as fp16);
  VXM compute: FLOPs / vector peak; SRAM: every byte of the op at the SRAM bandwidth (the
  roofline floor). No DRAM: weights, KV and activations are SRAM-resident by construction;
  whether they fit is a capacity question (`hwmodels.capacity`), not a cost.
- op classes: matmul, attention, MoE router and experts → matrix (the router is a GEMV of the
  hidden state with its stationary hidden × experts weights, like every other weight GEMV);
  norm, embedding → reduction;
  element-wise, RoPE, KV write → vector. `vector_op_cycles` and `reduction_op_cycles` are
  hardware figures (stream transit through the slices); `matrix_op_cycles` — the pipeline
  fill/drain plus the compiler's slack around an MXM op — is the software constant of a
  runtime profile (`LpuModel.profiles`, fitted: validation/data/published/wafer_lpu_fit.json).
- hops: a collective among chips of one node (`lpu.chips_per_node`, wired all-to-all: a
  GroqNode) exchanges directly: 1 hop (all-reduce: reduce-scatter + all-gather, 2) at the
  interconnect's per-hop latency; a larger group takes the topology's latency-bound steps
  (`collectives.topology_hops`: dragonfly 3, all-reduce 6) at `lpu.inter_node_hop_latency`
  (default: the same). A pipeline send is 1 hop (neighbouring stages are placed adjacent; a
  stage boundary is an inter-node hop when a stage fills whole nodes).

Energy = FLOPs × J/FLOP + bytes × 8 × SRAM J/bit + wire bytes × 8 × link J/bit + idle × time.
Never below `roofline_times` (each collective pays at least one hop). A chip without
`LpuParams` is priced with no fixed latencies and the topology's hops.
"""

from __future__ import annotations

from infersim.hwmodels import collectives
from infersim.hwmodels.cost import (
    Bound,
    CostContext,
    CostModelBase,
    OpCost,
    RuntimeProfile,
)
from infersim.hwmodels.models.common import (
    MATRIX_KINDS,
    collective_time,
    effective_peak,
    finish,
    mac_energy,
    op_peak,
    op_unit,
)
from infersim.hwmodels.models.roofline import roofline_times
from infersim.hwmodels.spec import Hardware, HardwareKind, LpuParams, UnitType
from infersim.workloads.dtypes import DType
from infersim.workloads.ops import Collective, CollectiveShape, MatmulShape, Op, OpKind

_REDUCTION_KINDS = frozenset({OpKind.NORM, OpKind.EMBEDDING})
_MATRIX_OPS = MATRIX_KINDS

FIT_FILE = "validation/data/published/wafer_lpu_fit.json"
# Software generations of the Groq compiler/runtime: their one constant (cycles of a
# dependent matrix op beyond its weight install), fitted on one published row
# (`python -m infersim.validation.fitting.wafer_lpu`); the other rows held out.
PROFILES: dict[str, RuntimeProfile] = {
    "groq-2024": RuntimeProfile(
        "groq-2024", HardwareKind.LPU, (("matrix_op_cycles", 6606.0),),
        f"fitted on Llama 3.1 8B, 751 tok/s (Artificial Analysis, Sep 2024); {FIT_FILE}"),
    # The API of late 2023 / early 2024 (Llama-2, Mixtral). No published row tells it apart
    # from groq-2024, so it carries the same fitted value (its rows are held out).
    "groq-2023": RuntimeProfile(
        "groq-2023", HardwareKind.LPU, (("matrix_op_cycles", 6606.0),),
        f"same value as groq-2024 (fitted on Llama 3.1 8B); {FIT_FILE}"),
}


def static_expert_factor(op: Op) -> float:
    """How many times the routed work of an MoE experts op a static schedule runs: every
    expert matrix the op's share of the chip holds, over the ones its tokens picked (1 for
    any other op)."""
    sh = op.shape
    if op.kind is not OpKind.MOE_EXPERTS or not isinstance(sh, MatmulShape):
        return 1.0
    return max(1.0, sh.experts / max(1, sh.groups))


def lpu_hops(shape: CollectiveShape, p: LpuParams | None, hw: Hardware) -> tuple[int, bool]:
    """(latency-bound C2C steps of a collective, whether they leave a node); (0, False) for
    a 1-chip group."""
    g = shape.group_size
    if g <= 1:
        return 0, False
    node = p.chips_per_node if p is not None else 1
    if shape.collective == Collective.SEND_RECV:
        return 1, node > 1
    if p is not None and g <= node:
        return (2 if shape.collective == Collective.ALL_REDUCE else 1), False
    fabric = hw.fabric
    hops = max(1, collectives.topology_hops(fabric.topology, shape)) if fabric else 1
    return hops, True


def mxm_install_Bps(hw: Hardware, p: LpuParams) -> float:
    """Bytes/s the matrix planes accept as stationary operands: planes × bytes/cycle × f,
    planes = int8 (else the best) matrix peak / (2 × dim² × f)."""
    chip = hw.chip
    peak = (effective_peak(chip, DType.INT8, UnitType.MATRIX)
            or effective_peak(chip, DType.FP16, UnitType.MATRIX))
    if peak <= 0 or p.mxm_dim <= 0:
        return 0.0
    macs_per_plane_cycle = float(p.mxm_dim) ** 2
    planes_x_clock = peak / (2.0 * macs_per_plane_cycle)  # planes × f
    return planes_x_clock * p.mxm_install_bytes_per_cycle


class LpuModel(CostModelBase):
    """Deterministic SRAM-only dataflow chip: functional-unit latencies in cycles, MXM weight
    install, per-hop C2C latency."""

    kind = HardwareKind.LPU
    profiles = PROFILES

    def op_cost(self, op: Op, hw: Hardware, ctx: CostContext) -> OpCost:
        chip = hw.chip
        p = chip.params if isinstance(chip.params, LpuParams) else None
        if p is not None and ctx.profile is not None and ctx.profile.kind == self.kind:
            p = ctx.profile.apply(p)
        floor_c, floor_m, floor_comm = roofline_times(op, hw)
        shape = op.shape
        fabric = hw.fabric
        compute_s = floor_c
        install_s = 0.0
        comm_s, hop_s, wire = 0.0, 0.0, 0.0
        overhead = 0.0
        f = chip.clock_hz
        if isinstance(shape, CollectiveShape):
            comm_s, _, wire = collective_time(op, fabric, floor_comm)
            if fabric is not None:
                hops, inter = lpu_hops(shape, p, hw)
                lat = fabric.latency_s
                if inter and p is not None and p.inter_node_hop_latency_s > 0:
                    lat = p.inter_node_hop_latency_s
                hop_s = hops * lat
            overhead = hop_s
        else:
            dense = static_expert_factor(op)
            if dense > 1.0:  # all held experts run: their weights are read and multiplied
                compute_s *= dense
                floor_m *= 1.0 + (dense - 1.0) * op.bytes.weight / max(op.bytes.total, 1.0)
            if op.flops > 0:
                peak = op_peak(chip, op)
                if peak > 0:
                    compute_s = max(compute_s, dense * op.flops / peak)
            if p is not None and f > 0:
                if op.kind in _MATRIX_OPS:
                    stationary = dense * op.bytes.weight + op.bytes.kv_read
                    bw = mxm_install_Bps(hw, p)
                    if bw > 0:
                        install_s = stationary / bw
                    overhead = p.matrix_op_cycles / f
                elif op.kind in _REDUCTION_KINDS:
                    overhead = p.reduction_op_cycles / f
                else:
                    overhead = p.vector_op_cycles / f
                if op.kind == OpKind.ATTENTION:
                    overhead += p.layer_overhead_s
        dense = static_expert_factor(op)
        energy = (dense * op.flops * mac_energy(chip, op.dtype, op_unit(op))
                  + (op.bytes.total + (dense - 1.0) * op.bytes.weight) * 8
                  * chip.main_memory.energy_j_per_bit
                  + (wire * 8 * fabric.energy_j_per_bit if fabric is not None else 0.0))
        mxm_s = max(compute_s, install_s)
        terms = {Bound.COMPUTE: mxm_s, Bound.MEMORY: floor_m, Bound.INTERCONNECT: comm_s}
        return finish(terms, overhead, energy, chip.power.idle_w, compute_s=mxm_s,
                      memory_s=floor_m, comm_s=comm_s,
                      detail=(("hop_s", hop_s), ("install_s", install_s)))
