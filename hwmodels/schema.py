"""The hardware spec language: unit families and the schema of chip and system documents.

This module is data: what fields exist, their unit family, whether they are required and
their plausible range. `hwmodels/validate.py` walks a document against it and
`hwmodels/factory.py` converts valid documents into the frozen objects of `hwmodels/spec.py`.
docs/hardware-spec.md is the human reference for the same content.

Unit convention (one for the whole language): the unit is the suffix of the key, e.g.
`capacity_gb`, `bandwidth_tb_per_s`, `latency_ns`. Prefixes are DECIMAL (GB = 1e9 B,
TB/s = 1e12 B/s); binary prefixes exist only for capacities and only spelled with an `i`
(`_kib`, `_mib`, `_gib`, `_tib`). Bits appear only spelled out (`_gbit_per_s`). Values are
converted to SI base units (B, B/s, s, Hz, FLOP/s, J, W) by the factory.

Kind blocks (`gpu:`, `wafer:`, `lpu:`, `cim:`, `cpu:`) are not listed here: they are derived
from the fields of the kind's params dataclass (see `kind_fields`), so adding a field to, say,
`GpuParams` needs no change in this module. How to add a GpuParams field:

    dram_efficiency: float = field(default=0.8, metadata={
        "yaml": "dram_efficiency", "scale": 1.0, "help": "achieved / peak HBM bandwidth",
        "range": (0.05, 1.0)})

(or `hwmodels.spec.kind_param(...)`). The YAML key's unit suffix selects the unit family
(`launch_overhead_us` → time, scale 1e-6) and then every suffix of that family is accepted.
A field without metadata is read from a key equal to its name, in SI units. Give new fields a
default so existing spec files keep loading.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Union

from infersim.foundation import units as u
from infersim.foundation.schema import Leaf, MapOf, Range, Struct
from infersim.hwmodels.spec import (
    CimParams,
    CpuParams,
    GpuParams,
    HardwareKind,
    LpuParams,
    MeshParams,
    SocParams,
    SystolicParams,
    TensorClass,
    Topology,
    UnitType,
    WaferParams,
)

# --------------------------------------------------------------------------------------------
# Unit families
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class UnitFamily:
    """A physical quantity and the key suffixes allowed for it, with their factor to SI."""

    name: str
    si_unit: str
    suffixes: Mapping[str, float]  # key suffix -> multiply by this to get SI
    labels: Mapping[str, str]  # key suffix -> unit as people write it
    # Suffixes that are NOT allowed because they are ambiguous, with the fix to suggest.
    ambiguous: Mapping[str, str] = dataclasses.field(default_factory=dict)


def _family(name: str, si: str, table: list[tuple[str, float, str]],
            ambiguous: dict[str, str] | None = None) -> UnitFamily:
    return UnitFamily(name, si, types.MappingProxyType({s: f for s, f, _ in table}),
                      types.MappingProxyType({s: lab for s, _, lab in table}),
                      types.MappingProxyType(dict(ambiguous or {})))


_BITS_OR_BYTES = ("bits or bytes? write {base}_gb_per_s for gigabytes per second or "
                  "{base}_gbit_per_s for gigabits per second (binary prefixes are for "
                  "capacities only)")

FAMILIES: dict[str, UnitFamily] = {
    f.name: f for f in (
        _family("capacity", "B", [
            ("bytes", 1.0, "B"), ("kb", u.K, "kB"), ("mb", u.M, "MB"), ("gb", u.G, "GB"),
            ("tb", u.T, "TB"), ("pb", u.P, "PB"), ("kib", u.KiB, "KiB"),
            ("mib", u.MiB, "MiB"), ("gib", u.GiB, "GiB"), ("tib", u.TiB, "TiB")],
            {"b": "bits or bytes? write {base}_bytes",
             "gbit": "capacities are in bytes: write {base}_gb (1 GB = 8 Gbit)",
             "mbit": "capacities are in bytes: write {base}_mb (1 MB = 8 Mbit)"}),
        _family("bandwidth", "B/s", [
            ("bytes_per_s", 1.0, "B/s"), ("mb_per_s", u.M, "MB/s"), ("gb_per_s", u.G, "GB/s"),
            ("tb_per_s", u.T, "TB/s"), ("pb_per_s", u.P, "PB/s"),
            ("gbit_per_s", u.G / u.BITS_PER_BYTE, "Gbit/s"),
            ("tbit_per_s", u.T / u.BITS_PER_BYTE, "Tbit/s"),
            ("pbit_per_s", u.P / u.BITS_PER_BYTE, "Pbit/s")],
            {s: _BITS_OR_BYTES for s in ("gbps", "tbps", "pbps", "mbps", "gbs", "tbs", "pbs",
                                          "gb_s", "tb_s", "gib_per_s", "mib_per_s")}),
        _family("time", "s", [("ps", u.PS, "ps"), ("ns", u.NS, "ns"), ("us", u.US, "µs"),
                              ("ms", u.MS, "ms"), ("s", 1.0, "s")]),
        _family("frequency", "Hz", [("mhz", u.M, "MHz"), ("ghz", u.G, "GHz")]),
        _family("throughput", "FLOP/s", [("gflops", u.G, "GFLOP/s"), ("tflops", u.T, "TFLOP/s"),
                                         ("pflops", u.P, "PFLOP/s")],
                {"tops": "write {base}_tflops (integer OP/s count as FLOP/s)",
                 "pops": "write {base}_pflops (integer OP/s count as FLOP/s)"}),
        _family("energy", "J", [("fj", u.FJ, "fJ"), ("pj", u.PJ, "pJ"), ("nj", u.NJ, "nJ")]),
        _family("energy_per_bit", "J/bit", [("fj_per_bit", u.FJ, "fJ/bit"),
                                            ("pj_per_bit", u.PJ, "pJ/bit")],
                {"pj_per_byte": "write {base}_pj_per_bit (1 pJ/B = 0.125 pJ/bit)"}),
        _family("energy_per_flop", "J/FLOP", [("fj_per_flop", u.FJ, "fJ/FLOP"),
                                              ("pj_per_flop", u.PJ, "pJ/FLOP")],
                {"pj_per_mac": "write pj_per_flop (1 MAC = 2 FLOP: halve the value)"}),
        _family("flop_per_cycle", "FLOP/cycle", [("flop_per_cycle", 1.0, "FLOP/cycle")],
                {"mac_per_cycle": "write flop_per_cycle (1 MAC = 2 FLOP: double the value)"}),
        _family("power", "W", [("w", 1.0, "W"), ("kw", u.K, "kW")]),
        _family("voltage", "V", [("mv", 1e-3, "mV"), ("v", 1.0, "V")]),
        _family("area", "mm²", [("mm2", 1.0, "mm²")]),
        _family("area_um2", "µm²", [("um2", 1.0, "µm²")]),
        _family("length", "nm", [("nm", 1.0, "nm")]),
        _family("money", "USD", [("usd", 1.0, "US$")]),
    )
}


def split_suffix(key: str, base: str, family: UnitFamily) -> str | None:
    """The unit suffix of `key` if it is `<base>_<suffix>` (or just `<suffix>` when base is
    empty) with a suffix of `family`; None otherwise."""
    if base:
        if not key.startswith(base + "_"):
            return None
        suffix = key[len(base) + 1:]
    else:
        suffix = key
    return suffix if suffix in family.suffixes else None


def spell(base: str, suffix: str) -> str:
    return f"{base}_{suffix}" if base else suffix


# --------------------------------------------------------------------------------------------
# Schema nodes: Leaf, Struct and MapOf come from the foundation toolkit; a Quantity (a number
# whose unit is the key's suffix) belongs to the spec language.
# --------------------------------------------------------------------------------------------

# A function of the sibling fields (the mapping the quantity sits in) returning
# (lo, hi, what) in SI, for ranges that depend on context (HBM vs SRAM levels).
RangeFn = Callable[[Mapping[str, Any]], tuple[float, float, str]]


@dataclass(frozen=True)
class Quantity:
    """A number with a unit: key `<base>_<suffix>` with a suffix of `family`.

    `per_dtype`: the value is a mapping {dtype: number} (peak FLOP/s, energy per FLOP).
    `range` is the plausible range in SI; values outside it are reported with a unit-slip hint.
    `positive`: zero is not allowed (sizes, bandwidths, clocks)."""

    base: str
    family: str
    required: bool = False
    help: str = ""
    range: Range = (0.0, math.inf)
    range_fn: RangeFn | None = None
    positive: bool = True
    per_dtype: bool = False

    @property
    def unit_family(self) -> UnitFamily:
        return FAMILIES[self.family]

    def spellings(self) -> list[str]:
        return [spell(self.base, s) for s in self.unit_family.suffixes]


# --------------------------------------------------------------------------------------------
# Plausible ranges of memory levels, by the technology their name starts with
# --------------------------------------------------------------------------------------------

# (name prefixes, label, capacity range B, bandwidth range B/s)
_TECH: tuple[tuple[tuple[str, ...], str, Range, Range], ...] = (
    (("hbm",), "HBM", (1e8, 1.5e12), (1e10, 3e13)),
    (("lpddr", "ddr", "gddr", "dram", "memory"), "DRAM", (1e6, 1e13), (1e8, 5e12)),
    (("l1", "l2", "l3", "llc", "cache", "smem", "infinity", "buffer", "register", "reg"),
     "cache/buffer", (1e3, 4e9), (1e9, 1e17)),
    (("sram", "dimc", "cim", "array", "flash", "rram"), "on-chip SRAM/array",
     (1e3, 1e11), (1e9, 1e17)),
)
_EXTERNAL = ("external store", (1e6, 1e16), (1e7, 1e14))
_ANY = ("memory", (1e3, 1e16), (1e6, 1e17))


def _tech(level: Mapping[str, Any]) -> tuple[str, Range, Range]:
    if level.get("external") is True:
        return _EXTERNAL
    name = str(level.get("__name__", "")).lower()
    for prefixes, label, cap, bw in _TECH:
        if name.startswith(prefixes):
            return label, cap, bw
    return _ANY


def _capacity_range(level: Mapping[str, Any]) -> tuple[float, float, str]:
    label, cap, _ = _tech(level)
    return cap[0], cap[1], f"{label} level {level.get('__name__', '')!r}"


def _bandwidth_range(level: Mapping[str, Any]) -> tuple[float, float, str]:
    label, _, bw = _tech(level)
    return bw[0], bw[1], f"{label} level {level.get('__name__', '')!r}"


# --------------------------------------------------------------------------------------------
# Document schemas
# --------------------------------------------------------------------------------------------

NAME_PATTERN = r"[A-Za-z0-9][A-Za-z0-9._\-]*"
DTYPE_NAMES = ("fp32", "bf16", "fp16", "fp8", "int8", "int4", "fp4")

COMPUTE_UNIT = Struct("compute unit", (
    Leaf("type", "enum", True, "matrix (tensor cores, systolic arrays, CIM arrays) or vector "
         "(SIMD, CUDA cores, digital periphery)", tuple(u.value for u in UnitType)),
    Leaf("count", "int", False, "parallel engines (SMs, cores, tiles, arrays)", range=(1, 1e8)),
    Quantity("peak", "throughput", True, "dense peak per dtype, {dtype: value}",
             (1e8, 3e17), per_dtype=True),
    Quantity("", "energy_per_flop", False, "dynamic energy per FLOP on this unit, "
             "{dtype: value} (overrides the chip-level energy block)", (0.0, 1e-9),
             positive=False, per_dtype=True),
    Quantity("", "flop_per_cycle", False, "dense FLOP (or OP) one engine completes per "
             "clock cycle, {dtype: value}; the peak is then count × this × clock and the "
             "declared `peak` is a datasheet cross-check", (1e-3, 1e9), per_dtype=True),
))

MEMORY_LEVEL = Struct("memory level", (
    Quantity("capacity", "capacity", True, "capacity per chip", range_fn=_capacity_range),
    Quantity("bandwidth", "bandwidth", True, "peak bandwidth per chip",
             range_fn=_bandwidth_range),
    Quantity("latency", "time", False, "access latency", (0.0, 1e-2), positive=False),
    Quantity("energy", "energy_per_bit", False, "access energy per bit moved", (0.0, 1e-10),
             positive=False),
    Leaf("holds", "enum_list", False, "tensor classes that may live here",
         tuple(t.value for t in TensorClass)),
    Leaf("external", "bool", False, "backing store off the chip's working memory (weight "
         "streaming / reload source); never the main memory"),
))

INTERCONNECT = Struct("interconnect", (
    Leaf("topology", "enum", True, "how chips are joined", tuple(t.value for t in Topology)),
    Leaf("links_per_chip", "int", True, "links leaving one chip", range=(1, 4096)),
    Quantity("link_bandwidth", "bandwidth", True, "bandwidth of one link, one direction",
             (1e6, 1e13)),
    Quantity("latency", "time", True, "latency per hop", (0.0, 1e-2), positive=False),
    Quantity("energy", "energy_per_bit", False, "energy per bit on the wire", (0.0, 1e-9),
             positive=False),
), help="chip-to-chip links")

POWER = Struct("power", (
    Quantity("tdp", "power", True, "thermal design power of one chip", (0.01, 1e5)),
    Quantity("idle", "power", True, "static power whenever the chip is on", (0.0, 1e5),
             positive=False),
    Quantity("cap", "power", False, "power limit of one chip (nvidia-smi -pl): the clock "
             "drops along the V/f curve until a step draws at most this; 0 = none",
             (0.0, 1e5), positive=False),
    Quantity("clock_min", "frequency", False, "lowest clock of the V/f curve, at voltage_min "
             "(the power manager's floor; default: half the spec clock)", (1e6, 1e10)),
    Quantity("clock_max", "frequency", False, "highest (boost) clock of the V/f curve, at "
             "voltage_max (default: the spec clock)", (1e6, 1e10)),
    Quantity("voltage_min", "voltage", False, "core voltage at clock_min (default: by "
             "process node, hwmodels/power.py)", (0.2, 2.0)),
    Quantity("voltage_max", "voltage", False, "core voltage at clock_max (default: by "
             "process node)", (0.2, 2.0)),
), required=True)

ENERGY = Struct("energy", (
    Quantity("", "energy_per_flop", False, "dynamic energy per FLOP, {dtype: value}",
             (0.0, 1e-9), positive=False, per_dtype=True),
))

KIND_BLOCKS: dict[HardwareKind, type] = {
    HardwareKind.GPU: GpuParams,
    HardwareKind.WAFER: WaferParams,
    HardwareKind.LPU: LpuParams,
    HardwareKind.CIM: CimParams,
    HardwareKind.CPU: CpuParams,
    HardwareKind.SYSTOLIC: SystolicParams,
    HardwareKind.MESH: MeshParams,
    HardwareKind.SOC: SocParams,
}

BUILD = Struct("build", (
    Leaf("units_on_die", "int", False, "matrix engines physically on the die(s), spares "
         "included (GH100: 144 SMs, 132 enabled)", range=(1, 1e8)),
    Leaf("unit_schedulers", "int", False, "instruction schedulers of one GPU engine; its "
         "control logic scales with them (default 4: an NVIDIA SM's four warp schedulers; an "
         "AMD CDNA CU has 1, serving its four SIMDs in turn)", range=(1, 64)),
    Leaf("dies", "int", False, "compute dies in one package", range=(1, 64)),
    Leaf("mac_dtype", "enum", False, "datatype the matrix datapath is built for (default: "
         "the widest one listed)", DTYPE_NAMES),
    Leaf("sram_ecc_word_bits", "int", False, "data bits of one SECDED-protected word of the "
         "on-die SRAM; its check bits (Hamming bound + 1: 9 for 128) are built beside it "
         "(Groq TSP: 128). 0 = no ECC", range=(0, 4096)),
    Quantity("sram", "capacity", False, "physical cache / scratchpad SRAM (default: the "
             "on-chip memory levels)", (0.0, 1e12), positive=False),
    Quantity("register_file", "capacity", False, "register files and L1 / shared memory",
             (0.0, 1e12), positive=False),
    Leaf("hbm_phys", "int", False, "HBM PHYs on the die(s)", range=(0, 64)),
    Leaf("dram_channels", "int", False, "32-bit LPDDR / GDDR / DDR channels", range=(0, 1024)),
    Quantity("serdes", "bandwidth", False, "off-chip SerDes bandwidth per direction (default: "
             "links x link bandwidth)", (0.0, 1e15), positive=False),
    Leaf("package", "enum", False, "organic substrate, CoWoS-class interposer or wafer-scale",
         ("organic", "cowos", "wafer")),
    Leaf("gross_margin", "float", False, "vendor gross margin (price = cost / (1 - margin))",
         range=(0.0, 0.95)),
    Leaf("volume", "int", False, "packages built over the product's life; the node's design "
         "cost (NRE) is spread over them", range=(1, 1e10)),
    Quantity("cell", "area_um2", False, "CIM array cell area (default: SRAM cell x factor)",
             (1e-4, 10.0)),
    Leaf("base_dies", "int", False, "base (I/O) dies of a chiplet package: memory PHYs, "
         "SerDes and base_sram move onto them (MI300X: 4 IODs)", range=(0, 64)),
    Quantity("base_process", "length", False, "process node of the base dies (default: "
             "the chip's)", (1.0, 1000.0)),
    Quantity("base_sram", "capacity", False, "cache SRAM on the base dies (MI300X Infinity "
             "Cache)", (0.0, 1e12), positive=False),
    Quantity("hbm_stack", "capacity", False, "capacity of one HBM stack on the package; "
             "every one of the hbm_phys stacks is bought, enabled or not (H100: 6 x 16 GB for "
             "80 GB usable)", (0.0, 1e12), positive=False),
    Leaf("base_stacked", "bool", False, "compute dies stacked on the base dies: a base die "
         "is at least the footprint of the compute dies it carries"),
), help="die content for the area and cost models (hwmodels/area.py, hwmodels/capex.py)")

CHIP = Struct("chip spec", (
    Leaf("name", "str", True, "library name (lower-case, hyphens)", pattern=NAME_PATTERN),
    Leaf("kind", "enum", True, "hardware kind", tuple(k.value for k in HardwareKind)),
    Leaf("description", "str"),
    Quantity("clock", "frequency", True, "clock the peak figures are quoted at", (1e6, 1e10)),
    MapOf("compute", COMPUTE_UNIT, True, "compute units by name"),
    MapOf("memory", MEMORY_LEVEL, True, "memory levels by name, nearest to farthest"),
    INTERCONNECT,
    POWER,
    ENERGY,
    Quantity("area", "area", False, "die area", (0.01, 1e5)),
    Quantity("process", "length", False, "process node", (1.0, 1000.0)),
    Quantity("price", "money", False, "price of one chip / card", (0.0, 1e9), positive=False),
    BUILD,
))

SCALE_OUT = Struct("scale_out", (
    Leaf("chips_per_node", "int", True, "chips joined by the scale-up interconnect (one node)",
         range=(1, 1e5)),
    Leaf("links_per_chip", "int", True, "network ports (NICs) per chip", range=(1, 64)),
    Quantity("link_bandwidth", "bandwidth", True, "bandwidth of one port, one direction",
             (1e6, 1e13)),
    Quantity("latency", "time", True, "one message between nodes, end to end",
             (0.0, 1e-2), positive=False),
    Quantity("energy", "energy_per_bit", False, "energy per bit on the network",
             (0.0, 1e-9), positive=False),
), help="the network between nodes (InfiniBand / RoCE); absent: one node")

SYSTEM_BLOCK = Struct("system", (
    Leaf("chip", "str", True, "library name of the chip, or a path relative to this file"),
    Leaf("num_chips", "int", True, "chips in the system", range=(1, 1e6)),
    INTERCONNECT,
    SCALE_OUT,
    Quantity("price", "money", False, "price of the whole system (0: chips × chip price)",
             (0.0, 1e10), positive=False),
    Quantity("extra_power", "power", False, "switches, hosts, cooling beyond the chips' TDP",
             (0.0, 1e8), positive=False),
    Quantity("host", "money", False, "build cost of host CPUs, memory, NICs, switches and "
             "chassis (capex model)", (0.0, 1e9), positive=False),
), required=True)

SYSTEM = Struct("system spec", (
    Leaf("name", "str", True, "library name (lower-case, hyphens)", pattern=NAME_PATTERN),
    Leaf("description", "str"),
    SYSTEM_BLOCK,
))


# --------------------------------------------------------------------------------------------
# Kind blocks, derived from the params dataclasses' field metadata
# --------------------------------------------------------------------------------------------

# GpuParams belongs to the mapper; until its fields carry metadata these are their keys.
_LEGACY_METADATA: dict[tuple[type, str], dict[str, Any]] = {
    (GpuParams, "sm_count"): {"yaml": "sm_count", "scale": 1.0, "range": (1, 1e5),
                              "help": "streaming multiprocessors (compute units)"},
    (GpuParams, "l2_bytes"): {"yaml": "l2_mib", "scale": u.MiB, "range": (0.0, 1e5),
                              "help": "last-level (L2) cache capacity"},
    (GpuParams, "kernel_launch_s"): {"yaml": "kernel_launch_us", "scale": u.US,
                                     "range": (0.0, 1e4),
                                     "help": "device-side fixed cost per kernel (launch + tail)"},
    (GpuParams, "host_launch_s"): {"yaml": "host_launch_us", "scale": u.US,
                                   "range": (0.0, 1e5),
                                   "help": "host-side cost per kernel launch in eager mode"},
}


@dataclass(frozen=True)
class KindField:
    """One field of a kind block: how it is spelled in YAML and converted."""

    attr: str  # dataclass attribute
    key: str  # the YAML key declared in metadata
    base: str  # key without unit suffix ("" when the key has no unit)
    family: str | None  # unit family when the key has a unit suffix
    scale: float  # declared key unit -> SI
    type: str  # "int" | "float" | "str" | "bool"
    range_si: Range
    required: bool
    optional_none: bool  # the annotation allows None
    help: str
    ref: str | None


def _base_type(annotation: Any) -> tuple[str, bool]:
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    allows_none = False
    if origin in (Union, types.UnionType):
        allows_none = type(None) in args
        rest = [a for a in args if a is not type(None)]
        annotation = rest[0] if len(rest) == 1 else float
    for py, name in ((bool, "bool"), (int, "int"), (float, "float"), (str, "str")):
        if annotation is py:
            return name, allows_none
    return "float", allows_none


def _unit_of(key: str, scale: float) -> tuple[str, str | None]:
    """(base, family) when `key` ends with a unit suffix whose factor equals `scale`."""
    best: tuple[str, str | None] = (key, None)
    best_len = 0
    for fam in FAMILIES.values():
        for suffix, factor in fam.suffixes.items():
            if (key.endswith("_" + suffix) and len(suffix) > best_len
                    and math.isclose(factor, scale, rel_tol=1e-9)):
                best, best_len = (key[: -len(suffix) - 1], fam.name), len(suffix)
    return best


_KIND_FIELDS_CACHE: dict[type, tuple[KindField, ...]] = {}


def kind_fields(cls: type) -> tuple[KindField, ...]:
    """The YAML fields of a kind-params dataclass, read from its field metadata."""
    cached = _KIND_FIELDS_CACHE.get(cls)
    if cached is not None:
        return cached
    hints = typing.get_type_hints(cls)
    out = []
    for f in dataclasses.fields(cls):
        md = dict(f.metadata) if "yaml" in f.metadata else _LEGACY_METADATA.get((cls, f.name), {})
        key = str(md.get("yaml", f.name))
        scale = float(md.get("scale", 1.0))
        lo, hi = md.get("range", (0.0, math.inf))
        typ, allows_none = _base_type(hints.get(f.name, float))
        base, family = _unit_of(key, scale)
        required = (f.default is dataclasses.MISSING
                    and f.default_factory is dataclasses.MISSING)
        out.append(KindField(f.name, key, base, family, scale, typ,
                             (float(lo) * scale, float(hi) * scale), required, allows_none,
                             str(md.get("help", "")), md.get("ref")))
    result = tuple(out)
    _KIND_FIELDS_CACHE[cls] = result
    return result

