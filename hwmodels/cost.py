"""The one cost interface every hardware kind implements (the table of models: `registry`).

Composition rules (one place, used by every model and by the mapper):
- Time of one op on one chip = max over the resources it uses of (work / rate), plus fixed
  latencies that cannot overlap (kernel launch, pipeline fill, link latency). `bound` names
  the resource with the largest term.
- Energy of an op = dynamic energy (FLOPs × J/FLOP + bits moved × J/bit at each level +
  wire bits × link J/bit + conversions × J/conversion) + static power × op time.
- Totals over ops: times add along a serial chain; energies always add; throughput of a
  pipeline is limited by its slowest stage.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from enum import Enum
from types import MappingProxyType
from typing import Any, Protocol

from infersim.hwmodels.spec import Hardware, HardwareKind
from infersim.workloads.ops import Op


class Bound(str, Enum):
    COMPUTE = "compute"
    MEMORY = "memory"
    INTERCONNECT = "interconnect"
    LATENCY = "latency"  # fixed overheads dominate (launch, pipeline, hop latency)
    HOST = "host"  # host launch overhead dominates (eager runtime)
    CONVERSION = "conversion"  # ADC/DAC conversions dominate (analog CIM)


class Runtime(str, Enum):
    """The software stack running the model (see docs and design §2)."""

    EAGER = "eager"
    GRAPH = "graph"
    FUSED = "fused"


@dataclass(frozen=True)
class RuntimeProfile:
    """A named software stack: a base launch mode (`base`: how ops become launch units) plus
    the few named constants its software adds (`values`: name -> SI value). On a statically
    scheduled kind (wafer, LPU) the names are kind-param attributes applied over the chip's
    parameters (`apply`); on GPUs they are engine knobs (`hwmodels.models.gpu.engines`).
    Hardware stays in the chip spec; the profile says what the software made of it
    (`source`: where the values come from, e.g. a fit in
    validation/data/published/wafer_lpu_fit.json, or a citation per constant)."""

    name: str
    kind: HardwareKind
    values: tuple[tuple[str, float], ...]
    source: str = ""
    base: Runtime = Runtime.FUSED
    # `values` by name, for `value` (the serving loop reads knobs every iteration)
    _by_name: dict[str, float] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # the first of a repeated name wins, as a search of `values` finds it
        object.__setattr__(self, "_by_name", dict(reversed(self.values)))

    def value(self, name: str, default: float) -> float:
        """The profile's constant `name`, or `default` when the profile does not set it."""
        return self._by_name.get(name, default)

    def apply(self, params: Any) -> Any:
        """`params` (a kind-params dataclass) with this profile's values."""
        from dataclasses import replace

        if params is None or not self.values:
            return params
        return replace(params, **dict(self.values))

    def with_values(self, **values: float) -> RuntimeProfile:
        """A copy with some values replaced (what-ifs and fitting)."""
        return RuntimeProfile(self.name, self.kind, tuple({**dict(self.values),
                                                           **values}.items()), self.source,
                              self.base)


# OpCost.detail key: device seconds of a second kernel the op launches after its main one (a
# split-KV attention's combine: cuDNN SDPA's `lean_reduction_kernel`, FlashAttention's
# combine; a split-K GEMM's reduce: cuBLAS's `splitKreduce_kernel`;
# validation/data/gpu/h200-sxm-2026-12-04/run4/kernel_census.csv). The op's time includes
# it; the mapper counts it as one more kernel the host launches.
COMBINE_KERNEL_S = "combine_kernel_s"
# OpCost.detail key: seconds to write back, after the op's kernels end, the main-memory writes
# they leave dirty in a write-back cache (GPU L2). Not in the op's time: a later kernel pays
# it, and only if it evicts those lines before they are overwritten (a read flush does; an
# engine's recycled activation buffers mostly are overwritten in place).
WRITEBACK_S = "writeback_s"


@dataclass(frozen=True, slots=True)
class OpCost:
    """Cost of ONE execution of an op on the hardware (multiply by op.count for totals)."""

    time_s: float
    energy_j: float
    bound: Bound
    compute_s: float = 0.0  # time the compute units alone would need
    memory_s: float = 0.0  # time the memory system alone would need
    comm_s: float = 0.0  # time on chip-to-chip links
    overhead_s: float = 0.0  # fixed latencies (launch, hops, pipeline fill)
    # The mapping the model chose, in readable names and numbers, e.g. (("kernel", "gemm"),
    # ("tile", "128x128"), ("waves", 3)); shown as is by the mapper and `infersim map`.
    detail: tuple[tuple[str, float | str], ...] = ()

    def __post_init__(self) -> None:
        for name in ("time_s", "energy_j"):
            v = getattr(self, name)
            if not math.isfinite(v) or v < 0:
                raise ValueError(f"OpCost.{name} must be finite and ≥ 0, got {v}")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["bound"] = self.bound.value
        d["detail"] = dict(self.detail)
        return d


@dataclass(frozen=True)
class Infeasibility:
    """A structured 'does not fit': what was demanded, what exists, the gap, and levers."""

    resource: str  # e.g. "hbm capacity per chip"
    demand: float
    capacity: float
    unit: str  # e.g. "B"
    levers: tuple[str, ...] = ()
    detail: dict[str, float] = field(default_factory=dict)

    @property
    def gap(self) -> float:
        return self.demand - self.capacity

    def __str__(self) -> str:
        def fmt(x: float) -> str:
            return f"{x / 1e9:.2f} G{self.unit}" if self.unit == "B" else f"{x:g} {self.unit}"

        levers = "; ".join(self.levers)
        return (f"does not fit: {self.resource} needs {fmt(self.demand)}, has "
                f"{fmt(self.capacity)} (short by {fmt(self.gap)})"
                + (f". Levers: {levers}" if levers else ""))

    def to_dict(self) -> dict[str, Any]:
        return {"resource": self.resource, "demand": self.demand, "capacity": self.capacity,
                "gap": self.gap, "unit": self.unit, "levers": list(self.levers),
                **{f"detail_{k}": v for k, v in self.detail.items()}}


@dataclass(frozen=True)
class CostContext:
    """What a cost model needs to know beyond the op: the runtime and the placement."""

    runtime: Runtime = Runtime.GRAPH
    # The software generation of a statically scheduled kind (wafer, LPU); None = the
    # constants of the chip spec alone.
    profile: RuntimeProfile | None = None
    # Fraction of the op's weight bytes that are resident in on-chip SRAM (wafer/LPU/CIM);
    # the rest stream from the farthest memory level.
    weights_on_chip: float = 1.0
    # Bytes one chip is responsible for in the step: its weights (resident or streamed), KV
    # cache and activation workspace (`mapper.placement.Footprint.total_bytes`). Spatial
    # (weight-stationary) models size the region of cores an op occupies by its share of
    # these bytes (hwmodels/models/wafer.py). 0 = unknown: the op is alone on the chip.
    # The mapper fills it only for cost models that declare `needs_chip_bytes = True`.
    chip_bytes: float = 0.0
    # Decoder layers this chip holds (its pipeline stage's share; 0 = unknown). A spatial
    # model gives each layer at least 1/layers of the chip (its attention included).
    layers_on_chip: int = 0
    # The op's activation operands (act_in + act_out) were touched just before it — by the
    # previous call of a repeated benchmark, or by the producing kernel in a step — so they sit
    # in the chip's last-level cache when they fit (GPU L2). Weights and KV are never credited.
    warm_l2: bool = False
    # The op runs alone on an idle chip (`mapper.core.op_latency`, isolated-kernel
    # benchmarks), not back to back inside a step: a GPU whose spec has a clock boost
    # (`gpu.clock_boost`) starts it above the clock it sustains under load.
    from_idle: bool = False


@dataclass(frozen=True, slots=True)
class LaunchOverheads:
    """Host-side costs a runtime adds around the device work of one step."""

    host_per_kernel_s: float = 0.0  # host time to launch one kernel (eager dispatch)
    step_sync_s: float = 0.0  # per-step host synchronization / scheduling
    # a serving front-end in its own process (HTTP streaming, detokenization) overlaps the
    # device, so it only bounds the step from below: the time it needs for the step's chunks
    frontend_floor_s: float = 0.0


class CostModel(Protocol):
    """One per hardware kind: everything the mapper may know about a kind goes through it.

    `op_cost` prices one execution of an op on ONE chip (collectives: this chip's share of
    the collective, with `hw` giving the group's fabric). The attributes and the other
    methods answer the mapper's placement and launch questions, so the mapper never reads a
    kind-specific params class."""

    kind: HardwareKind
    # The mapper passes `CostContext.chip_bytes` (spatial models size an op's region of
    # cores by its share of the chip's bytes).
    needs_chip_bytes: bool
    # Ops run as the separate kernels a framework launches (GPU eager/graph): the mapper
    # splits them before pricing.
    splits_kernels: bool

    @property
    def profiles(self) -> Mapping[str, RuntimeProfile]:
        """Named software profiles of a statically scheduled kind (empty: framework
        runtimes)."""
        ...
    # Memory is managed by a caching allocator (GPU frameworks): a serving engine may only
    # use a fraction of it (vLLM's gpu_memory_utilization). Statically allocated SRAM
    # machines use all of it.
    caching_allocator: bool
    # Token counts at which op costs step (tiles, waves): costs jump between every multiple of
    # `token_tile` and the next count (0: smooth in tokens). Serving tables put nodes there.
    token_tile: int

    def op_cost(self, op: Op, hw: Hardware, ctx: CostContext) -> OpCost: ...

    def launch_overheads(self, hw: Hardware, runtime: Runtime) -> LaunchOverheads: ...

    def step_overheads(self, hw: Hardware, runtime: Runtime, profile: RuntimeProfile | None,
                       sequences: int = 1, *, decode: bool = False,
                       ranks: int = 1) -> LaunchOverheads:
        """Host costs of one step of `sequences` sequences under (`runtime`, `profile`): what
        the mapper lays on its host/device timeline (a profile's per-step CPU time
        included; `decode`: the step is a decode step, which an engine may schedule several
        of at once; `ranks`: the chips of a stage, each preparing the step on its own
        host, that start it in lockstep)."""
        ...

    def serving_floor_s(self, profile: RuntimeProfile | None, decoding: int,
                        first_tokens: int = 0) -> float:
        """Seconds of serving CPU work beside the device (front-end, output processing) for
        one iteration that decodes `decoding` requests and emits `first_tokens` first
        tokens: a lower bound on the iteration (0 where the software has none)."""
        ...

    def graphed_prefill(self, runtime: Runtime | RuntimeProfile
                        ) -> Runtime | RuntimeProfile:
        """`runtime` with its prompt steps launched as its decode steps are: the same
        runtime unless the software replays graphs for decode only, when prompts run
        eagerly (the serving table prices a step's extra logits rows against it, so an
        eager prompt's host launches are paid once per step)."""
        ...

    def decode_graph_cap(self, profile: RuntimeProfile | None) -> int:
        """Largest decode batch the software replays from a captured graph (larger ones
        launch from the host, so a decode step's cost jumps past it; serving tables put
        nodes on both sides); 0: no such step."""
        ...

    def decode_graph_sizes(self, profile: RuntimeProfile | None,
                           max_batch: int) -> tuple[int, ...]:
        """The decode batch sizes the software captured graphs for and pads a
        generation-only serving step up to, ascending (`max_batch`: the engine's largest
        decode batch); empty where it does not pad."""
        ...

    def resident_weight_fraction(self, hw: Hardware, weight_bytes: float, kv_bytes: float,
                                 activation_bytes: float, weight_bits: int | None) -> float: ...

    def runtimes(self) -> tuple[str, ...]:
        """The runtime names this kind accepts (the first is the default)."""
        ...

    def warnings(self, hw: Hardware) -> tuple[str, ...]:
        """Design warnings about the hardware (e.g. an ADC narrower than a partial sum)."""
        ...

    def resolve_runtime(self, runtime: Runtime | str | RuntimeProfile | None, hw_name: str = ""
                        ) -> tuple[Runtime, RuntimeProfile | None]:
        """(how ops become launch units, the software profile) for `runtime` on this kind;
        InputError naming the accepted names when the kind does not run that software."""
        ...


class CostModelBase:
    """Defaults for kinds without host launches or kernel splitting; subclasses implement
    `op_cost` and override what differs."""

    kind: HardwareKind
    needs_chip_bytes = False
    splits_kernels = False
    caching_allocator = False
    token_tile = 0
    # Named software profiles of a statically scheduled kind (name -> profile; the first is
    # the newest and the default). Empty: the kind runs the framework runtimes (`Runtime`).
    profiles: Mapping[str, RuntimeProfile] = MappingProxyType({})

    def runtimes(self) -> tuple[str, ...]:
        if self.profiles:
            return tuple(self.profiles)
        return tuple(r.value for r in Runtime)

    def resolve_runtime(self, runtime: Runtime | str | RuntimeProfile | None, hw_name: str = ""
                        ) -> tuple[Runtime, RuntimeProfile | None]:
        from infersim.foundation.errors import InputError

        on = f"{hw_name} ({self.kind.value})" if hw_name else f"{self.kind.value} hardware"
        if self.profiles:
            # A compiler schedules the whole step: ops are fused as the compiler does.
            if runtime is None:
                return Runtime.FUSED, next(iter(self.profiles.values()))
            if isinstance(runtime, RuntimeProfile):
                if runtime.kind != self.kind:
                    raise InputError(f"runtime: profile {runtime.name!r} is for "
                                     f"{runtime.kind.value} hardware, not {on}")
                return Runtime.FUSED, runtime
            name = runtime.value if isinstance(runtime, Runtime) else str(runtime)
            prof = self.profiles.get(name)
            if prof is None:
                what = ("a GPU framework runtime" if name in {r.value for r in Runtime}
                        else "not software of this kind")
                raise InputError(f"runtime: {name!r} is {what}; {on} runs its own compiled "
                                 f"software: use one of {', '.join(self.profiles)} (or omit "
                                 f"--runtime for {next(iter(self.profiles))})")
            return Runtime.FUSED, prof
        if runtime is None:
            return Runtime.GRAPH, None
        if isinstance(runtime, RuntimeProfile):
            raise InputError(f"runtime: profile {runtime.name!r} is for "
                             f"{runtime.kind.value} hardware, not {on}")
        try:
            return Runtime(runtime), None
        except ValueError:
            raise InputError(f"runtime: unknown runtime {runtime!r} for {on}; use one of "
                             f"{', '.join(self.runtimes())}") from None

    def launch_overheads(self, hw: Hardware, runtime: Runtime) -> LaunchOverheads:
        return LaunchOverheads()

    def step_overheads(self, hw: Hardware, runtime: Runtime, profile: RuntimeProfile | None,
                       sequences: int = 1, *, decode: bool = False,
                       ranks: int = 1) -> LaunchOverheads:
        return self.launch_overheads(hw, runtime)

    def serving_floor_s(self, profile: RuntimeProfile | None, decoding: int,
                        first_tokens: int = 0) -> float:
        return 0.0

    def graphed_prefill(self, runtime: Runtime | RuntimeProfile
                        ) -> Runtime | RuntimeProfile:
        return runtime

    def decode_graph_cap(self, profile: RuntimeProfile | None) -> int:
        return 0

    def decode_graph_sizes(self, profile: RuntimeProfile | None,
                           max_batch: int) -> tuple[int, ...]:
        return ()

    def warnings(self, hw: Hardware) -> tuple[str, ...]:
        """Design warnings about the hardware (printed by `simulate`); none by default."""
        return ()

    def resident_weight_fraction(self, hw: Hardware, weight_bytes: float, kv_bytes: float,
                                 activation_bytes: float, weight_bits: int | None) -> float:
        """Fraction of the weights resident on chip: 1 without an external memory level;
        with one (wafer + MemoryX), what main memory holds after KV and activations."""
        chip = hw.chip
        if chip.external_memory is None or weight_bytes <= 0:
            return 1.0
        cap = chip.main_memory.capacity_bytes - kv_bytes - activation_bytes
        return max(0.0, min(1.0, cap / weight_bytes))
