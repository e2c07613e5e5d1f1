"""Typed, frozen hardware objects. Nothing downstream of the loader reads raw dicts.

All fields are in SI base units (s, B, B/s, FLOP/s, J, W, Hz); see `infersim.units`. The YAML
spec language (see `hwmodels/loader.py` and docs/hardware-spec.md) uses unit-suffixed field
names and is converted to these objects by the loader's factory step.

A `Hardware` is always a system: `num_chips` copies of one `Chip` joined by a scale-up
`Interconnect`. A single chip loads as a 1-chip system.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import MISSING, dataclass, field
from enum import Enum
from types import MappingProxyType
from typing import Any

from infersim.foundation.units import BITS_PER_BYTE, FJ, NS, PJ, US, G, KiB, MiB, P
from infersim.workloads.dtypes import DType


class HardwareKind(str, Enum):
    GPU = "gpu"  # HBM GPU (A100, H100, H200, B200, MI300X)
    WAFER = "wafer"  # wafer-scale SRAM engine (Cerebras WSE)
    LPU = "lpu"  # statically scheduled dataflow chip, SRAM only (Groq)
    CIM = "cim"  # compute-in-memory (digital d-Matrix, analog Mythic / RRAM)
    CPU = "cpu"  # a host CPU, used for calibration against Numba kernels
    SYSTOLIC = "systolic"  # systolic matrix units + HBM, compiled whole-step (TPU v5e/v5p)
    MESH = "mesh"  # a mesh of tile cores with local SRAM + GDDR, Ethernet scale-out (Tenstorrent)
    SOC = "soc"  # edge SoC: GPU/CPU/NPU sharing one LPDDR memory (Apple M, Snapdragon)


class UnitType(str, Enum):
    MATRIX = "matrix"  # tensor cores / systolic arrays / MXM / CIM arrays
    VECTOR = "vector"  # SIMD / CUDA cores / VXM / digital periphery


class Topology(str, Enum):
    ALL_TO_ALL = "all_to_all"
    RING = "ring"
    MESH_2D = "mesh_2d"
    TORUS_2D = "torus_2d"
    TORUS_3D = "torus_3d"
    SWITCH = "switch"
    DRAGONFLY = "dragonfly"


class TensorClass(str, Enum):
    WEIGHTS = "weights"
    KV = "kv"
    ACTIVATIONS = "activations"


def _frozen_map(d: Mapping | None) -> Mapping:
    return MappingProxyType(dict(d or {}))


@dataclass(frozen=True)
class ComputeUnit:
    """A class of compute engines on the chip with dense peak throughput per dtype."""

    name: str
    unit_type: UnitType
    peak_flops: Mapping[DType, float]  # FLOP/s (or OP/s for int) per dtype, dense
    count: int = 1  # parallel engines (SMs, cores, tiles) for wave quantization
    # Dynamic J per FLOP of THIS unit per dtype (YAML `compute.<unit>.pj_per_flop`); empty:
    # the chip-level `Chip.mac_energy_j` applies. Lets a CIM periphery or CUDA cores cost
    # more per FLOP than the arrays / tensor cores running the same dtype.
    energy_j_per_flop: Mapping[DType, float] = field(default_factory=lambda: _frozen_map(None))

    def peak(self, dtype: DType) -> float:
        """Peak FLOP/s for dtype (at its `mma_format`); 0.0 when the unit does not support it."""
        return self.peak_flops.get(dtype.mma_format, 0.0)


@dataclass(frozen=True)
class MemoryLevel:
    """One level of the memory hierarchy (per chip)."""

    name: str
    capacity_bytes: float
    bandwidth_Bps: float
    latency_s: float = 0.0
    energy_j_per_bit: float = 0.0
    holds: frozenset[TensorClass] = frozenset()  # tensor classes that may live here
    # A backing store outside the chip's working memory (Cerebras MemoryX, a CIM card's
    # LPDDR): weights may be streamed or reloaded from it, but it is never `main_memory`.
    external: bool = False


@dataclass(frozen=True)
class Interconnect:
    """Chip-to-chip links. Bandwidth is per link, per direction."""

    topology: Topology
    links_per_chip: int
    link_bandwidth_Bps: float
    latency_s: float  # per hop
    energy_j_per_bit: float = 0.0

    @property
    def chip_bandwidth_Bps(self) -> float:
        """Injection bandwidth of one chip, one direction (all links together)."""
        return self.links_per_chip * self.link_bandwidth_Bps


@dataclass(frozen=True)
class Power:
    tdp_w: float
    idle_w: float  # static power drawn whenever the chip is on
    cap_w: float = 0.0  # power limit per chip; 0 = none (hwmodels/power.py throttles to it)
    # V/f curve (hwmodels/power.py): linear from (clock_min, voltage_min) to (clock_max,
    # voltage_max); 0 = the per-node default of `power.vf_curve`.
    clock_min_hz: float = 0.0
    clock_max_hz: float = 0.0
    voltage_min_v: float = 0.0
    voltage_max_v: float = 0.0


@dataclass(frozen=True)
class Build:
    """How a chip is built, for the area and cost models (hwmodels/area.py, capex.py): the
    physical die content beyond what the performance model needs. YAML block `build:`;
    absent, area and cost are "not derivable" for the chip."""

    units_on_die: int = 0  # engines physically on the die(s), spares included; 0 = count
    # instruction schedulers of a GPU engine; its control logic scales with them
    unit_schedulers: int = 4
    dies: int = 1  # compute dies in one package (the units split evenly over them)
    mac_dtype: str = ""  # datatype the matrix datapath is built for; "" = the widest listed
    # data bits of one SECDED-protected SRAM word; its check bits are stored beside it. 0 = none
    sram_ecc_word_bits: int = 0
    sram_bytes: float | None = None  # physical cache / scratchpad SRAM; None = on-chip levels
    register_file_bytes: float = 0.0  # register files and L1/shared memory (multi-port cells)
    hbm_phys: int = 0  # HBM PHYs on the die(s)
    dram_channels: int = 0  # LPDDR / GDDR / DDR 32-bit channels on the die(s)
    serdes_Bps: float | None = None  # off-chip SerDes per direction; None = interconnect's
    package: str = ""  # organic | cowos | wafer; "" = by kind and memory
    # vendor gross margin: price = build cost / (1 - margin); None = unknown (no price)
    gross_margin: float | None = None
    cell_um2: float = 0.0  # CIM array cell area; 0 = SRAM cell x cim_cell_factor
    volume: int = 0  # packages built over the product's life (amortizes NRE); 0 = no NRE
    # Base (I/O) dies of a chiplet package: they carry the memory PHYs, SerDes and
    # `base_sram_bytes` of cache at their own node; the compute dies keep engines, their
    # caches and register files. 0 = one die type (everything on the compute dies).
    base_dies: int = 0
    base_process_nm: float = 0.0
    base_sram_bytes: float = 0.0
    base_stacked: bool = False  # the compute dies sit on the base dies (3-D hybrid bonding)
    # capacity of one HBM stack on the package; the package buys hbm_phys stacks of it, an
    # enabled subset of which is the spec's usable capacity. 0 = the usable capacity only
    hbm_stack_bytes: float = 0.0


@dataclass(frozen=True)
class Chip:
    name: str
    kind: HardwareKind
    clock_hz: float
    compute: tuple[ComputeUnit, ...]
    memory: tuple[MemoryLevel, ...]  # ordered from the level nearest compute to the farthest
    interconnect: Interconnect | None
    power: Power
    mac_energy_j: Mapping[DType, float] = field(default_factory=dict)  # J per FLOP (dynamic)
    area_mm2: float = 0.0
    process_nm: float = 0.0
    price_usd: float = 0.0
    description: str = ""
    # Kind-specific parameters, typed per kind (GpuParams, WaferParams, LpuParams, CimParams,
    # CpuParams); None when the kind has none.
    params: object | None = None
    sources: Mapping[str, str] = field(default_factory=dict)
    build: Build | None = None  # die content for the area and cost models; None = unknown

    def unit(self, unit_type: UnitType) -> ComputeUnit | None:
        for u in self.compute:
            if u.unit_type == unit_type:
                return u
        return None

    def peak_flops(self, dtype: DType, unit_type: UnitType | None = None) -> float:
        """Best peak FLOP/s for `dtype` over the chip's units (or one unit type)."""
        best = 0.0
        for u in self.compute:
            if unit_type is None or u.unit_type == unit_type:
                best = max(best, u.peak(dtype))
        return best

    def level(self, name: str) -> MemoryLevel:
        for m in self.memory:
            if m.name == name:
                return m
        raise KeyError(name)

    @property
    def main_memory(self) -> MemoryLevel:
        """The farthest (largest) level: HBM on a GPU, SRAM on an LPU, DRAM on a CPU.

        Levels marked `external` (weight-streaming / reload stores such as MemoryX) are
        skipped: on a wafer the main memory is the on-wafer SRAM."""
        for m in reversed(self.memory):
            if not m.external:
                return m
        return self.memory[-1]

    @property
    def external_memory(self) -> MemoryLevel | None:
        """The farthest `external` level (weights streamed / reloaded from it), or None."""
        for m in reversed(self.memory):
            if m.external:
                return m
        return None




@dataclass(frozen=True)
class ScaleOut:
    """The network between nodes: `chips_per_node` chips share one scale-up fabric (NVLink),
    nodes talk over `network` (InfiniBand / RoCE, one or more NICs per chip: `links_per_chip`
    ports of `link_bandwidth_Bps` each; `latency_s` one message end to end)."""

    chips_per_node: int
    network: Interconnect


@dataclass(frozen=True)
class Hardware:
    """A system of `num_chips` identical chips joined by `interconnect` (scale-up fabric);
    with `scale_out`, the chips form nodes of `scale_out.chips_per_node` joined by a network."""

    name: str
    chip: Chip
    num_chips: int = 1
    interconnect: Interconnect | None = None  # system fabric; falls back to chip's links
    price_usd: float = 0.0  # whole system; 0 means num_chips × chip price
    extra_power_w: float = 0.0  # switches, hosts, cooling overhead of the system
    description: str = ""
    sources: Mapping[str, str] = field(default_factory=dict)
    origin: str = ""  # file or library name it was loaded from
    overrides: tuple[tuple[str, Any], ...] = ()  # `--set` field overrides applied, in order
    scale_out: ScaleOut | None = None  # between nodes; None = one node (or no network)
    host_usd: float = 0.0  # build cost of host CPUs, NICs, switches, chassis (capex model)

    @property
    def chips_per_node(self) -> int:
        """Chips on one scale-up fabric (all of them when there is no scale-out network)."""
        return self.scale_out.chips_per_node if self.scale_out is not None else self.num_chips

    @property
    def label(self) -> str:
        """Name plus the overrides applied, as headers print it: 'h100-sxm (set hbm...=4.8)'."""
        if not self.overrides:
            return self.name
        return f"{self.name} (set " + ", ".join(f"{k}={v}" for k, v in self.overrides) + ")"

    @property
    def kind(self) -> HardwareKind:
        return self.chip.kind

    @property
    def fabric(self) -> Interconnect | None:
        return self.interconnect or self.chip.interconnect

    @property
    def total_price_usd(self) -> float:
        """The declared price (system, or chips × chip price), 0 = unknown. Economics uses
        `hwmodels.capex.capex_usd` (derived from the die economics when the spec
        describes its die); this figure is its cross-check."""
        return self.price_usd or self.num_chips * self.chip.price_usd

    @property
    def total_power_w(self) -> float:
        return self.num_chips * self.chip.power.tdp_w + self.extra_power_w

    def capacity_bytes(self, level: str | None = None) -> float:
        m = self.chip.main_memory if level is None else self.chip.level(level)
        return m.capacity_bytes * self.num_chips


# --------------------------------------------------------------------------------------------
# Kind parameters. Each field carries its YAML spelling and unit in `metadata`, which the
# loader reads to parse, validate (range, type) and convert kind blocks generically:
#   metadata={"yaml": "<key with unit suffix>", "scale": <factor to SI>, "help": "...",
#             "range": (lo, hi)}   # plausible range in the YAML unit, inclusive
# optional: "ref": "memory" (a str naming a memory level of the same chip).
# Adding a field = adding one `kind_param(...)` line (give it a default so existing specs
# still load); no loader change is needed. See docs/hardware-spec.md.
# --------------------------------------------------------------------------------------------


def kind_param(yaml_key: str, help: str, range: tuple[float, float] = (0.0, float("inf")), *,
               scale: float = 1.0, default: Any = MISSING, ref: str | None = None) -> Any:
    """A dataclass field for a kind-params class, with the metadata the loader reads."""
    md: dict[str, Any] = {"yaml": yaml_key, "scale": scale, "help": help, "range": range}
    if ref is not None:
        md["ref"] = ref
    if default is MISSING:
        return field(metadata=md)
    return field(default=default, metadata=md)


@dataclass(frozen=True)
class GpuParams:
    """Parameters of the GPU cost model (hwmodels/models/gpu.py) and of the runtime model in
    the mapper (host launch overheads). Each field carries its YAML key (with unit suffix),
    the factor to SI, a description and a plausible range in the YAML unit; the loader
    builds this class generically from that metadata (see `kind_param`).

    To add a field: append one `kind_param(...)` line WITH a default (so older specs load),
    then add the value and its `sources:` entry to the `gpu:` block of each GPU spec."""

    sm_count: int = kind_param("sm_count", "streaming multiprocessors (compute units) that "
                               "thread blocks are scheduled on; sets wave quantization", (1, 4096))
    l2_bytes: float = kind_param("l2_mib", "last-level on-chip cache shared by all SMs; decides "
                                 "whether GEMM operands are re-read from HBM", (0.0, 4096.0),
                                 scale=MiB)
    kernel_launch_s: float = kind_param(
        "kernel_launch_us", "device-side fixed cost of one kernel back-to-back in a stream or "
        "graph: launch latency + ramp-up + tail drain", (0.0, 100.0), scale=US)
    host_launch_s: float = kind_param(
        "host_launch_us", "host CPU time per kernel launched by a plain eager framework "
        "(Python + dispatcher + driver), amortizing the host-only ops (views, reshapes) of an "
        "eager model forward", (0.0, 1000.0), scale=US)
    hbm_read_efficiency: float = kind_param(
        "hbm_read_efficiency", "sustained fraction of peak main-memory bandwidth for a read "
        "stream with enough parallelism (refresh, bank conflicts, page misses)", (0.05, 1.0),
        default=0.9)
    hbm_write_efficiency: float = kind_param(
        "hbm_write_efficiency", "sustained fraction of peak main-memory bandwidth for the "
        "write part of a stream (read/write bus turnaround)", (0.05, 1.0), default=0.8)
    sm_inflight_bytes: float = kind_param(
        "sm_inflight_kib", "bytes one SM keeps in flight to memory; with the memory latency "
        "it caps the bandwidth a kernel using few SMs can draw (Little's law)", (0.5, 4096.0),
        scale=KiB, default=32.0 * 1024.0)
    mma_efficiency: float = kind_param(
        "mma_efficiency", "sustained fraction of the dense matrix-unit peak inside a large "
        "GEMM tile loop (clock throttling under load, issue overhead)", (0.05, 1.0),
        default=0.85)
    attention_efficiency: float = kind_param(
        "attention_efficiency", "throughput of fused (flash) attention relative to a dense "
        "GEMM tile loop (softmax on the special-function units, rescaling, masking)",
        (0.05, 1.0), default=0.6)
    attention_efficiency_sm80: float = kind_param(
        "attention_efficiency_sm80", "attention_efficiency of flash-attention kernels written "
        "for Ampere's warp-level mma.sync (FlashAttention-2 class) where the chip's own kernels "
        "use a newer tensor-core path (Hopper's wgmma and TMA); 0 = attention_efficiency (the "
        "chip's native kernels are that class, as on Ampere and Ada)", (0.0, 1.0), default=0.0)
    link_efficiency: float = kind_param(
        "link_efficiency", "sustained fraction of the scale-up link bandwidth a collective "
        "library reaches on large messages (protocol headers, flow control)", (0.05, 1.0),
        default=0.8)
    collective_latency_s: float = kind_param(
        "collective_latency_us", "fixed cost of one collective call beyond link hops "
        "(kernel launch, handshakes/flags between peers)", (0.0, 1000.0), scale=US,
        default=5e-6)
    nvls_efficiency: float = kind_param(
        "nvls_efficiency", "all-reduce with reduction in the switch (NVLink SHARP / NVLS): "
        "algorithm bandwidth as a fraction of the per-direction link bandwidth; 0 when the "
        "fabric cannot reduce in-network", (0.0, 1.0), default=0.0)
    nvls_latency_s: float = kind_param(
        "nvls_latency_us", "fixed latency of the in-switch (NVLS) all-reduce beyond the call "
        "(multicast setup and the switch's reduction pipeline), independent of the group "
        "size; 0 = two fabric steps (`interconnect.latency_us`)", (0.0, 1000.0), scale=US,
        default=0.0)
    ll_step_latency_s: float = kind_param(
        "ll_step_latency_us", "per-step latency of a ring in the collective library's "
        "low-latency protocol (NCCL's LL: flag-carrying 8-byte stores, no per-chunk "
        "handshake) at 1/4 of the ring's link rate; the ring also runs in the bandwidth "
        "protocol at the fabric's per-step latency (`interconnect.latency_us`) and the faster "
        "one is taken; 0 = no low-latency protocol modelled", (0.0, 100.0), scale=US,
        default=0.0)
    step_sync_s: float = kind_param(
        "step_sync_us", "per-step host/device round trip: launching the step (or its graph) "
        "and synchronizing to read the sampled token back", (0.0, 10000.0), scale=US,
        default=20e-6)
    l2_efficiency: float = kind_param(
        "l2_efficiency", "sustained fraction of the L2 level's peak bandwidth a streaming "
        "kernel draws when its operands are L2-resident (warm L2)", (0.05, 1.0), default=0.7)
    reduction_row_bytes: float = kind_param(
        "reduction_row_kib", "largest row (as fp32 accumulators) one thread block of a row "
        "reduction (softmax, norm) holds in registers/shared memory; longer rows are looped "
        "over in several passes through memory", (0.125, 4096.0), scale=KiB,
        default=32.0 * 1024.0)
    reduction_reread_miss: float = kind_param(
        "reduction_reread_miss", "fraction of the extra passes of a looped row reduction "
        "(rows longer than reduction_row_kib) that miss L2 and re-read main memory",
        (0.0, 1.0), default=1.0)
    vector_blocks_per_sm: float = kind_param(
        "vector_blocks_per_sm", "thread blocks of a vector / row-reduction kernel resident "
        "on one SM at a time (occupancy); sets its waves", (1.0, 64.0), default=2.0)
    mma_efficiency_fp8: float = kind_param(
        "mma_efficiency_fp8", "sustained fraction of the dense fp8 / int8 matrix-unit peak "
        "inside a large GEMM tile loop (the 8-bit pipes reach a lower share of their doubled "
        "peak: operand feed and scaling epilogues); 0 = same as mma_efficiency", (0.0, 1.0),
        default=0.0)
    mma_efficiency_fp4: float = kind_param(
        "mma_efficiency_fp4", "sustained fraction of the dense fp4 matrix-unit peak inside a "
        "GEMM tile loop (block-scaled NVFP4 / MXFP4 MMAs: scale factors fed beside the "
        "operands, and at four times the 16-bit rate a power cap may bind first); 0 = same "
        "as mma_efficiency", (0.0, 1.0), default=0.0)
    decode_attention_bw_efficiency: float = kind_param(
        "decode_attention_bw_efficiency", "sustained fraction of peak main-memory bandwidth a "
        "decode-attention kernel streams a paged KV cache at (pages at scattered addresses, "
        "split-KV partials; engines with engine knob paged_kv, not plain PyTorch's contiguous "
        "cache); 0 = the stream's hbm_read/write_efficiency", (0.0, 1.0), default=0.0)
    decode_attention_sm_bytes_per_cycle: float = kind_param(
        "decode_attention_sm_bytes_per_cycle", "KV bytes a decode-attention kernel consumes "
        "per SM per clock where its own pipeline (fp8 KV unpacked beside the MMAs, paged "
        "gathers), not the memory, binds: a limit that scales with SMs x clock; 0 = none",
        (0.0, 4096.0), default=0.0)
    decode_cta_bytes_per_cycle: float = kind_param(
        "decode_cta_bytes_per_cycle", "KV bytes one CTA of FlashAttention-2's kv-cache decode "
        "kernel streams per clock when few CTAs share the memory (its own page-gather -> MMA "
        "pipeline; engines with engine knob fa2_decode): a wave of fewer CTAs than the memory "
        "can feed runs at this rate per CTA; 0 = no such limit", (0.0, 4096.0), default=0.0)
    decode_call_s: float = kind_param(
        "decode_call_us", "fixed device time of one FlashAttention-2 kv-cache decode call "
        "beyond gemm_fill_us (engines with engine knob fa2_decode); 0 = none", (0.0, 1000.0),
        scale=1e-6, default=0.0)
    gemm_bw_efficiency: float = kind_param(
        "gemm_bw_efficiency", "sustained fraction of peak main-memory bandwidth a GEMM draws "
        "when it streams its operands (skinny-M, weight-bound GEMMs); 0 = the stream's "
        "hbm_read/write_efficiency", (0.0, 1.0), default=0.0)
    gemm_bw_efficiency_fp8: float = kind_param(
        "gemm_bw_efficiency_fp8", "the same for fp8 / int8 GEMM kernels (their skinny-M "
        "tile pipelines stream weights at a lower share of peak than the 16-bit ones); 0 = "
        "gemm_bw_efficiency", (0.0, 1.0), default=0.0)
    gemm_overlap_exponent: float = kind_param(
        "gemm_overlap_exponent", "p of the smooth maximum (t_mma^p + t_stream^p)^(1/p) that "
        "joins a GEMM's tile-loop time and operand-stream time: large p = perfect overlap "
        "(the roofline max), p = 1 = no overlap; near the ridge point the pipeline cannot "
        "hide one behind the other; 0 = the plain max", (0.0, 64.0), default=0.0)
    gemm_fill_s: float = kind_param(
        "gemm_fill_us", "fixed device time of a GEMM kernel beyond its tile waves: filling "
        "the operand pipeline before the first MMA and draining the last tiles' epilogue "
        "(accumulators to memory) after the last one; a fused attention kernel (two chained "
        "GEMMs behind the same pipeline) pays it too", (0.0, 100.0), scale=US, default=0.0)
    clock_boost: float = kind_param(
        "clock_boost", "SM clock a kernel starts at on an idle (cool) GPU over the clock the "
        "power limiter holds under sustained load (GPU Boost); the efficiencies of this block "
        "are sustained figures. Tensor-core work of t seconds launched alone from idle "
        "(`CostContext.from_idle`: predict_op, isolated-kernel benchmarks) runs on average "
        "1 + (clock_boost - 1)(tau/t)(1 - exp(-t/tau)) times faster (`gpu.figures."
        "boost_factor`); a model step runs its kernels back to back at the sustained clock; "
        "1 = no boost", (1.0, 1.5), default=1.0)
    boost_tau_s: float = kind_param(
        "boost_tau_us", "time constant tau in which a kernel drawing full power falls from "
        "the boost clock to the sustained one", (0.0, 1e5), scale=US, default=0.0)
    epilogue_overlap: bool = kind_param(
        "epilogue_overlap", "GEMM kernels store one output tile while the tensor cores run "
        "the next (persistent warp-specialized ping-pong kernels, Hopper on): only the last "
        "wave's epilogue is exposed; false: every wave's CTAs finish their main loop, then "
        "store", default=False)
    tma_multicast: int = kind_param(
        "tma_multicast", "CTAs of a GEMM's thread-block cluster that share one operand tile: "
        "the tensor memory accelerator reads it from L2 once and multicasts it into each "
        "CTA's shared memory (Hopper on), so the shared operand's L2 feed per CTA drops by "
        "this factor; 1 = no clusters (Ampere and earlier)", (1, 16), default=1)
    norm_bw_efficiency: float = kind_param(
        "norm_bw_efficiency", "sustained fraction of peak main-memory bandwidth of a fused "
        "RMSNorm / LayerNorm kernel; 0 = the stream's hbm_read/write_efficiency", (0.0, 1.0),
        default=0.0)
    activation_bw_efficiency: float = kind_param(
        "activation_bw_efficiency", "the same for an activation kernel (SiLU-and-mul, GELU)",
        (0.0, 1.0), default=0.0)
    rope_bw_efficiency: float = kind_param(
        "rope_bw_efficiency", "the same for a rotary-embedding kernel (q and k in place)",
        (0.0, 1.0), default=0.0)
    elementwise_bw_efficiency: float = kind_param(
        "elementwise_bw_efficiency", "the same for a plain elementwise kernel (residual add, "
        "bias, copy, KV-cache write)", (0.0, 1.0), default=0.0)
    producer_l2_fraction: float = kind_param(
        "producer_l2_fraction", "share of the L2 that still holds the output of the kernel "
        "just before when the next kernel starts (the producer's last-written lines; the "
        "rest of the L2 holds its other operands' lines): a kernel reading that fresh "
        "output (a residual add after its projection) reads up to this much of it from L2, "
        "not main memory; 0 = every operand streams from main memory", (0.0, 0.5),
        default=0.0)
    allreduce_bw_efficiency: float = kind_param(
        "allreduce_bw_efficiency", "sustained fraction of the link bandwidth of a ring "
        "all-reduce / reduce-scatter (the reduction kernel and its chunked protocol cost more "
        "than a plain send/recv at link_efficiency); 0 = link_efficiency", (0.0, 1.0),
        default=0.0)
    vector_block_inflight_bytes: float = kind_param(
        "vector_block_inflight_kib", "bytes one thread block of a one-block-per-token kernel "
        "(vLLM-style norm, activation, RoPE) keeps in flight; with the memory latency it caps "
        "the bandwidth of a step with few tokens (Little's law); 0 = no per-block cap",
        (0.0, 4096.0), scale=1024.0, default=0.0)
    ring_copy_Bps: float = kind_param(
        "ring_copy_gb_per_s", "bytes per second the collective library's ring all-reduce "
        "kernels load and store on one GPU (their few channel thread blocks: the local "
        "input, the FIFOs, the peer's buffer, the output; (6 − 4/g) bytes per message byte, "
        "`collectives.ring_copy_bytes`): where this is slower than the links, it sets the "
        "ring's bandwidth time; 0 = the links alone", (0.0, 100000.0), scale=1e9,
        default=0.0)
    p2p_read_fifo_bytes: float = kind_param(
        "p2p_read_fifo_mib", "P2P-read mode of the collective library's point-to-point "
        "transport (NCCL's default on NVLink-connected Ampere GPUs): the sender copies its "
        "data into a FIFO in its own memory and the receiver reads it over the link, so the "
        "sender's kernel finishes once all but this many bytes have been read (NCCL's "
        "Simple-protocol buffer, NCCL_BUFFSIZE); 0 = P2P write, the sender writes over the "
        "link and finishes with the transfer", (0.0, 4096.0), scale=MiB, default=0.0)
    p2p_copy_efficiency: float = kind_param(
        "p2p_copy_efficiency", "in P2P-read mode, sustained fraction of peak main-memory "
        "bandwidth (read + write traffic) of the sender's copy into its FIFO, run by the "
        "few thread blocks of the transport's channels; 0 = the stream's hbm_read/write "
        "efficiencies", (0.0, 1.0), default=0.0)
    vector_launch_s: float = kind_param(
        "vector_launch_us", "kernel_launch_us for a vector kernel (elementwise, norm, RoPE, "
        "KV write): the launch gap between dependent kernels plus the kernel's own fixed "
        "device time, which for a grid of short single-pass blocks (no operand pipeline to "
        "fill, a one-block tail) is shorter than a GEMM's; 0 = kernel_launch_us",
        (0.0, 100.0), scale=US, default=0.0)


@dataclass(frozen=True)
class WaferParams:
    """Parameters of the wafer-scale cost model (hwmodels/models/wafer.py).

    The on-wafer SRAM is the chip's main memory level; the level named by
    `weight_stream_level` (marked `external: true`) feeds weights when they do not fit.
    The inter-wafer link latency is NOT repeated here: it is the per-hop `latency` of the
    interconnect (the chip's, or the system's for a multi-wafer system), one source of truth."""

    cores: int = kind_param("cores", "processing elements on the wafer (a 2D mesh); an op's "
                            "region is its share of them", (1, 1e8))
    fabric_bandwidth_Bps: float = kind_param(
        "fabric_bandwidth_pb_per_s", "aggregate on-wafer fabric bandwidth over all cores, "
        "links and directions; one mesh link carries this / (8 x cores) per direction",
        (0.01, 1e4), scale=P)
    fabric_hop_latency_s: float = kind_param(
        "fabric_hop_latency_ns", "latency of one core-to-core fabric hop", (0.0, 1e3),
        scale=NS)
    weight_stream_level: str = kind_param(
        "weight_stream_level", "memory level (external) weights stream from when they do not "
        "fit in SRAM", ref="memory")
    fabric_hop_cycles: float = kind_param(
        "fabric_hop_cycles", "cycles of one core-to-core fabric hop; when > 0 the hop latency "
        "is this / clock (so the clock moves it) instead of fabric_hop_latency_ns",
        (0.0, 1e4), default=0.0)
    layer_latency_s: float = kind_param(
        "layer_latency_us", "extra fixed latency per decoder layer on top of the derived "
        "per-op fabric phases (charged on the layer's attention op); 0 = none",
        (0.0, 1e4), scale=US, default=0.0)
    # Fitted by validation/fitting/wafer_lpu.py (validation/data/published/wafer_lpu_fit.json).
    phase_overhead_s: float = kind_param(
        "phase_overhead_ns", "fixed time of one dependent fabric phase (a broadcast or a "
        "reduction across an op's region) beyond its hops and streaming: task activation "
        "and synchronisation of the region's cores by the software stack", (0.0, 1e5),
        scale=NS, default=0.0)
    layer_regions: int = kind_param(
        "layer_regions", "placement: 1 = every op keeps its own region, sized by its share of "
        "the wafer's bytes (a layer-pipelined placement; attention gets at least its layer's "
        "share); 0 = regions overlap (at batch 1 any core may hold a slice of any op); "
        "normally set by the runtime profile", (0, 1), default=1)
    rate_efficiency: float = kind_param(
        "rate_efficiency", "achieved fraction of the peak per-core SRAM bandwidth, per-core "
        "compute and fabric link rate inside one op at batch 1; divides the region-local "
        "and fabric-phase times; 1 = peak", (0.01, 1.0), default=1.0)
    # Fitted by validation/fitting/wafer_lpu.py (validation/data/published/wafer_lpu_fit.json).
    io_handoff_s: float = kind_param(
        "io_handoff_us", "fixed time of one wafer-to-wafer activation hand-off beyond the link's "
        "latency and bytes, when the software runs wafer I/O synchronously with compute "
        "(both wafers stall); 0 = I/O overlapped with compute; normally set by the runtime "
        "profile", (0.0, 1e4), scale=US, default=0.0)


@dataclass(frozen=True)
class LpuParams:
    """Parameters of the LPU (statically scheduled dataflow, SRAM only) cost model
    (hwmodels/models/lpu.py).

    SRAM per chip is the chip's single memory level (`memory.sram`): weights, KV and
    activations must fit in the aggregate SRAM of the chips used; there is no DRAM. The
    per-hop chip-to-chip latency is the interconnect's `latency` (one source of truth).
    Hardware latencies are in cycles (they scale with the clock); `matrix_op_cycles` is the
    software constant of a runtime profile (`LpuModel.profiles`)."""

    mxm_dim: int = kind_param(
        "mxm_dim", "side of one matrix-unit plane (a dim x dim weight-stationary MAC array); "
        "with the matrix peak it sets how many planes work at once", (1, 1e5), default=320)
    mxm_install_bytes_per_cycle: float = kind_param(
        "mxm_install_bytes_per_cycle", "weight bytes written into ONE matrix plane per cycle "
        "(the streams that feed it); at batch 1 every weight is installed once, so this "
        "bounds a matrix-vector product", (1.0, 1e7), default=5120.0)
    matrix_op_cycles: float = kind_param(
        "matrix_op_cycles", "cycles from the start of a dependent matrix op (MXM: GEMV, "
        "attention) until its result can feed the next op, beyond streaming its weights: "
        "pipeline fill/drain and the schedule's slack; normally set by the runtime profile",
        (0.0, 1e7), default=0.0)
    vector_op_cycles: float = kind_param(
        "vector_op_cycles", "cycles of a dependent element-wise op (VXM): operands stream "
        "from the memory slices through the vector unit and back", (0.0, 1e6), default=100.0)
    reduction_op_cycles: float = kind_param(
        "reduction_op_cycles", "cycles of a dependent op that reduces across lanes (norm, "
        "softmax, router top-k, embedding gather): a vector pass plus a cross-lane reduction "
        "through the switch unit", (0.0, 1e6), default=250.0)
    layer_overhead_s: float = kind_param(
        "layer_overhead_us", "extra deterministic time per decoder layer (synchronisation of "
        "the layer's chips beyond its collectives), charged once per layer; 0 = none",
        (0.0, 1e4), scale=US, default=0.0)
    chips_per_node: int = kind_param(
        "chips_per_node", "chips wired all-to-all (one C2C hop apart, e.g. a GroqNode); a "
        "collective within one node takes direct one-hop steps, a larger group the "
        "topology's hops", (1, 1e4), default=1)
    inter_node_hop_latency_s: float = kind_param(
        "inter_node_hop_latency_us", "latency of one C2C hop between nodes (longer cables, "
        "a dragonfly global link); 0 = the interconnect's per-hop latency", (0.0, 1e3),
        scale=1e-6, default=0.0)


@dataclass(frozen=True)
class CimParams:
    """Parameters of the compute-in-memory cost model (hwmodels/models/cim.py).

    Weight-stationary arrays of `array_rows` × `array_cols` cells, `bits_per_cell` bits per
    cell. A w-bit weight occupies ceil(w / bits_per_cell) columns (weight bit slicing); an
    a-bit input is applied in ceil(a / input_bits_per_cycle) cycles (input bit slicing, one
    DAC conversion per row per cycle). Each column read is one ADC conversion (none when
    `adc_bits` is 0: a digital adder tree). The chip's vector unit is the digital periphery
    that runs non-GEMM ops and dynamic (activation × activation) matmuls."""

    array_rows: int = kind_param("array_rows", "rows (inputs) per array", (1, 1e5))
    array_cols: int = kind_param("array_cols", "columns (bit lines) per array", (1, 1e5))
    num_arrays: int = kind_param("num_arrays", "arrays on the chip", (1, 1e9))
    bits_per_cell: int = kind_param("bits_per_cell", "weight bits stored per cell", (1, 8))
    weight_bits: int = kind_param(
        "weight_bits", "native weight precision the arrays are built for", (1, 16))
    input_bits_per_cycle: int = kind_param(
        "input_bits_per_cycle", "input bits applied per array cycle (DAC resolution)", (1, 16))
    adc_bits: int = kind_param("adc_bits", "ADC resolution; 0 = digital CIM (no ADC)", (0, 16))
    adcs_per_array: int = kind_param(
        "adcs_per_array", "ADCs (or digital column readouts) shared by one array's columns",
        (1, 1e5))
    adc_energy_j: float = kind_param(
        "adc_energy_pj", "energy per ADC conversion (0 for digital CIM)", (0.0, 1e3),
        scale=PJ)
    adc_time_s: float = kind_param(
        "adc_time_ns", "time per ADC conversion (digital CIM: one readout cycle)", (0.0, 1e4),
        scale=NS)
    dac_energy_j: float = kind_param(
        "dac_energy_pj", "energy per DAC conversion (one row driven for one cycle)",
        (0.0, 1e3), scale=PJ)
    array_utilization: float = kind_param(
        "array_utilization", "fraction of the arrays usable for weights (spares, mapping "
        "fragmentation)", (0.01, 1.0))
    reload_bandwidth_Bps: float = kind_param(
        "reload_bandwidth_gb_per_s", "rate at which arrays are (re)written with weights when a "
        "layer does not fit", (1e-6, 1e6), scale=G)
    reload_energy_j_per_bit: float = kind_param(
        "reload_energy_pj_per_bit", "energy per weight bit written into the arrays "
        "(excluding the read from the source memory)", (0.0, 1e6), scale=PJ)
    adc_ref_bits: int = kind_param(
        "adc_ref_bits", "resolution the adc_energy/adc_time figures are quoted at; another "
        "adc_bits scales them with the ZigZag AIMC ADC model (energy ∝ 100·B + 0.001·4^B, "
        "delay ∝ B); 0 = adc_bits (no scaling)", (0, 16), default=0)

    adc_static_w: float = kind_param(
        "adc_static_w", "static (bias) power of one ADC, drawn whenever the chip is on, beyond "
        "power.idle; 0 = none: a SAR ADC's power is switching energy per conversion (a "
        "dynamic comparator and capacitor DAC, no bias current), so its power is "
        "rate x energy per conversion (`adc_power_w`), charged per conversion",
        (0.0, 1.0), default=0.0)
    adc_fom_fj: float = kind_param(
        "adc_fom_fj", "Walden figure of merit of the ADCs, P / (2^bits x conversion rate), in fJ "
        "per conversion step; when > 0 one conversion costs FoM x 2^adc_bits (instead of "
        "adc_energy_pj scaled by the ZigZag model); Murmann's ADC survey: median 25 fJ for "
        "single-channel SAR ADCs at 0.1-3 GS/s", (0.0, 1e4), scale=FJ, default=0.0)

    def adc_static_power_w(self) -> float:
        """Static power of all the chip's ADCs (num_arrays × adcs_per_array × adc_static_w)."""
        return self.num_arrays * self.adcs_per_array * self.adc_static_w if self.adc_bits \
            else 0.0

    def adc_conversion_j(self) -> float:
        """Energy of one conversion at `adc_bits`: FoM × 2^bits (Walden) when `adc_fom_fj`
        is set, else the quoted `adc_energy_pj` scaled by `adc_scale`; 0 without ADCs."""
        if self.adc_bits <= 0:
            return 0.0
        if self.adc_fom_fj > 0:
            return self.adc_fom_fj * 2.0 ** self.adc_bits
        return self.adc_energy_j * self.adc_scale()[0]

    def adc_conversion_s(self) -> float:
        """Time of one conversion (or digital readout) at `adc_bits`."""
        return self.adc_time_s * self.adc_scale()[1]

    def adc_power_w(self) -> float:
        """Power of one ADC converting at its full rate: energy per conversion × rate
        (Walden: FoM × 2^bits × f_s); 0 without ADCs."""
        t = self.adc_conversion_s()
        return self.adc_conversion_j() / t if t > 0 else 0.0

    def adc_scale(self) -> tuple[float, float]:
        """(energy factor, time factor) of one conversion at `adc_bits` relative to the quoted
        figures at `adc_ref_bits` (ZigZag AIMC ADC fit to 3 macros, reference §4.3 [Z2]:
        E = (100 fF·B + 0.001 fF·4^B)·VDD², delay ∝ B)."""
        ref, b = self.adc_ref_bits or self.adc_bits, self.adc_bits
        if ref <= 0 or b <= 0 or b == ref:
            return 1.0, 1.0

        def g(x: int) -> float:
            return 100.0 * x + 0.001 * 4.0 ** x

        return g(b) / g(ref), b / ref

    def partial_sum_bits(self) -> int:
        """Bits a column's partial sum needs: one row tile of array_rows products of an
        input slice (input_bits_per_cycle) and a weight slice (bits_per_cell)."""
        import math

        return (self.input_bits_per_cycle + self.bits_per_cell
                + math.ceil(math.log2(max(2, self.array_rows))))

    @property
    def array_cells(self) -> int:
        return self.array_rows * self.array_cols * self.num_arrays

    def weight_capacity_bytes(self, weight_bits: int | None = None) -> float:
        """Bytes of `weight_bits`-bit weights (default: native) the usable arrays hold."""
        wb = weight_bits or self.weight_bits
        slices = -(-wb // self.bits_per_cell)
        weights_per_array = self.array_rows * (self.array_cols // slices)
        usable = int(self.num_arrays * self.array_utilization)
        return usable * weights_per_array * wb / BITS_PER_BYTE


@dataclass(frozen=True)
class CpuParams:
    """Parameters of a host CPU (calibrated by `infersim calibrate`); caches are memory
    levels of the chip, DRAM is its main memory."""

    cores: int = kind_param("cores", "physical cores used", (1, 4096))
    simd_width_bits: int = kind_param("simd_width_bits", "SIMD register width (AVX2 = 256)",
                                      (64, 4096))
    fma_units_per_core: int = kind_param("fma_units_per_core", "SIMD FMA pipes per core",
                                         (1, 8), default=2)
    # Added by the validation layer (hwmodels/models/cpu.py reads it; `infersim calibrate`
    # fits it): the fixed cost of one kernel call, charged once per op execution.
    call_overhead_s: float = kind_param(
        "call_overhead_us", "fixed cost of one kernel call (Python dispatch + waking the "
        "worker threads + the join barrier), charged once per op", (0.0, 1e4), scale=US,
        default=0.0)
    gemm_half_rows: float = kind_param(
        "gemm_half_rows", "rows of A (m) at which the GEMM kernel reaches half of its matrix "
        "ceiling: per-tile fixed costs amortized over the rows of a tile, efficiency "
        "m / (m + gemm_half_rows); 0 = no row dependence", (0.0, 1e5), default=0.0)
    attention_efficiency: float = kind_param(
        "attention_efficiency", "FLOP rate of the attention kernel relative to the matrix "
        "ceiling (softmax exponentials, two passes over K and V)", (0.001, 1.0), default=1.0)
    weight_stream_efficiency: float = kind_param(
        "weight_stream_efficiency", "fraction of the main-memory (STREAM) bandwidth a GEMM "
        "reaches while streaming its weight operand from main memory (many strided row "
        "streams instead of one contiguous stream)", (0.01, 1.0), default=1.0)
    gemm_stream_rows: int = kind_param(
        "gemm_stream_rows", "GEMMs with fewer rows of A than this run the kernel's streaming "
        "(GEMV) path, which pays no per-tile row cost (gemm_half_rows does not apply)",
        (0, 1e4), default=0)


@dataclass(frozen=True)
class SystolicParams:
    """Parameters of the tiled matrix-unit cost model (hwmodels/models/tiled.py), kind
    `systolic` (TPU-style MXUs). The matrix units are the chip's `matrix` compute unit (its
    `count` engines); main memory is the chip's farthest level."""

    array_dim: int = kind_param(
        "array_dim", "side of one matrix unit (a dim x dim weight-stationary systolic array); "
        "a matmul's K and N are padded to multiples of it and each dim x dim weight tile "
        "takes dim cycles to load", (1, 4096), default=128)
    row_granule: int = kind_param(
        "row_granule", "rows (tokens) the matrix unit streams per pass; a matmul's M is "
        "padded to a multiple of it", (1, 4096), default=8)
    memory_efficiency: float = kind_param(
        "memory_efficiency", "sustained fraction of peak main-memory bandwidth of a "
        "streaming op", (0.05, 1.0), default=0.9)
    link_efficiency: float = kind_param(
        "link_efficiency", "sustained fraction of the chip-to-chip link bandwidth a "
        "collective reaches", (0.05, 1.0), default=0.9)
    op_overhead_s: float = kind_param(
        "op_overhead_us", "fixed time of one compiled op beyond its compute, memory and link "
        "time (issue, synchronisation, pipeline fill/drain); normally set by the runtime "
        "profile", (0.0, 1e4), scale=US, default=0.0)
    dequant_ops_per_value: float = kind_param(
        "dequant_ops_per_value", "vector-unit operations per stored value narrower than the "
        "op's compute dtype (int8 weights or KV under bf16 activations) to convert it before "
        "the matrix unit; they run in the issue stream that feeds the matrix unit, so they add "
        "to its time; 0 = converted by load-path hardware; normally set by the runtime profile",
        (0.0, 64.0), default=0.0)
    dequant_materialized: float = kind_param(
        "dequant_materialized", "1 = the converted (compute-dtype) copy of narrow weights or "
        "KV is written to main memory and read back by the matmul (an unfused convert); 0 = "
        "the convert is fused into the operand load; normally set by the runtime profile",
        (0.0, 1.0), default=0.0)
    kv_scale_bytes: float = kind_param(
        "kv_scale_bytes", "bytes of quantization scales read per cached token per layer (K and "
        "V together) with a KV cache stored narrower than the compute dtype; normally set by "
        "the runtime profile", (0.0, 1024.0), default=0.0)


@dataclass(frozen=True)
class MeshParams(SystolicParams):
    """Parameters of the tiled cost model for kind `mesh` (a 2-D grid of tile cores such as
    Tenstorrent Tensix: each core's matrix engine works on `array_dim` x `array_dim` tiles;
    the cores are the `matrix` unit's `count`)."""

    array_dim: int = kind_param(
        "array_dim", "side of the square tile one core's matrix engine works on; a matmul's K "
        "and N are padded to multiples of it", (1, 4096), default=32)
    row_granule: int = kind_param(
        "row_granule", "rows (tokens) of one tile; a matmul's M is padded to a multiple of it",
        (1, 4096), default=32)
# The processors of an edge SoC a runtime may run on (`SocParams.processor` indexes this;
# the chip's compute unit of that name does the work).
SOC_PROCESSORS = ("gpu", "cpu", "npu")


@dataclass(frozen=True)
class SocParams:
    """Parameters of the edge-SoC cost model (hwmodels/models/soc.py).

    Hardware: every processor shares the one LPDDR main memory; the CPU cluster alone cannot
    draw all of it (`cpu_bandwidth_fraction`). Software: the runtime profile (llama.cpp,
    MLC-LLM: `hwmodels.edge_runtimes`) sets which processor runs the model and what its
    kernels reach (`weight_stream_efficiency`, `matmul_efficiency`, `kernel_overhead_s`)."""

    cpu_bandwidth_fraction: float = kind_param(
        "cpu_bandwidth_fraction", "share of the main-memory bandwidth the CPU cluster alone can "
        "draw (the GPU reaches all of it)", (0.01, 1.0), default=1.0)
    processor: int = kind_param(
        "processor", "processor the runtime runs on: 0 = gpu, 1 = cpu, 2 = npu (the compute "
        "unit of that name); normally set by the runtime profile", (0, 2), default=0)
    weight_stream_efficiency: float = kind_param(
        "weight_stream_efficiency", "fraction of the memory bandwidth the runtime's fused "
        "dequantize-matmul kernels reach while streaming weights", (0.01, 1.0), default=1.0)
    matmul_efficiency: float = kind_param(
        "matmul_efficiency", "fraction of the processor's peak the runtime's matmul and "
        "attention kernels reach when compute-bound (prompt processing)", (0.01, 1.0),
        default=1.0)
    kernel_overhead_s: float = kind_param(
        "kernel_overhead_us", "fixed cost of one graph node (kernel encode + dispatch + the "
        "barrier before the next dependent node), charged once per kernel (a fused group "
        "of ops) execution",
        (0.0, 1e4), scale=US, default=0.0)
    int_fp_concurrent: bool = kind_param(
        "int_fp_concurrent", "the processor issues integer and FP instructions to separate "
        "pipelines at once (Apple GPUs from M3/A17 Pro on), so a kernel's integer work can "
        "hide under its FP matrix work; false: one pipeline runs both in turn",
        default=False)
    dequant_tile_tokens: int = kind_param(
        "dequant_tile_tokens", "tokens of one threadgroup tile of the runtime's batched "
        "quantized matmul: each weight is dequantized once per tile of tokens; 0 = the "
        "runtime's kernels are not priced for it", (0, 4096), default=0)
