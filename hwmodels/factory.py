"""Step 3 of spec parsing: build the frozen objects of `hwmodels/spec.py` from a VALIDATED
document. Values are converted to SI with the unit table of `hwmodels/schema.py`; every
mapping in the result is read-only (`MappingProxyType`), so cached objects can be shared."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from infersim.hwmodels.schema import FAMILIES, KIND_BLOCKS, kind_fields, split_suffix
from infersim.hwmodels.spec import (
    Build,
    Chip,
    ComputeUnit,
    Hardware,
    HardwareKind,
    Interconnect,
    MemoryLevel,
    Power,
    ScaleOut,
    TensorClass,
    Topology,
    UnitType,
)
from infersim.workloads.dtypes import DType

OVERRIDE_SOURCE = "override (--set)"


_SCALES: dict[tuple[str, str], dict[str, float]] = {}


def _scales(base: str, family: str) -> dict[str, float]:
    """{key spelling: factor to SI} of a quantity, memoized."""
    table = _SCALES.get((base, family))
    if table is None:
        fam = FAMILIES[family]
        table = {(f"{base}_{s}" if base else s): f for s, f in fam.suffixes.items()}
        _SCALES[(base, family)] = table
    return table


def si(block: Mapping[str, Any], base: str, family: str, default: float = 0.0) -> float:
    """Value of the quantity `base` (any unit suffix of `family`) in SI units."""
    table = _scales(base, family)
    for key, value in block.items():
        f = table.get(key)
        if f is not None:
            return float(value) * f
    return default


def si_per_dtype(block: Mapping[str, Any], base: str, family: str) -> Mapping[DType, float]:
    fam = FAMILIES[family]
    for key, value in block.items():
        s = split_suffix(key, base, fam)
        if s is not None:
            return MappingProxyType({DType.parse(str(d)): float(v) * fam.suffixes[s]
                                     for d, v in value.items()})
    return MappingProxyType({})


def build_interconnect(d: Mapping[str, Any] | None) -> Interconnect | None:
    if not d:
        return None
    return Interconnect(Topology(d["topology"]), int(d["links_per_chip"]),
                        si(d, "link_bandwidth", "bandwidth"), si(d, "latency", "time"),
                        si(d, "energy", "energy_per_bit"))


def build_scale_out(d: Mapping[str, Any] | None) -> ScaleOut | None:
    if not d:
        return None
    net = Interconnect(Topology.SWITCH, int(d["links_per_chip"]),
                       si(d, "link_bandwidth", "bandwidth"), si(d, "latency", "time"),
                       si(d, "energy", "energy_per_bit"))
    return ScaleOut(int(d["chips_per_node"]), net)


def build_params(cls: type, block: Mapping[str, Any]) -> Any:
    """An instance of a kind-params dataclass from its YAML block, driven by field metadata."""
    kwargs: dict[str, Any] = {}
    for kf in kind_fields(cls):
        if kf.family is not None:
            fam = FAMILIES[kf.family]
            keys = [k for k in block if split_suffix(k, kf.base, fam) is not None]
            if not keys:
                continue
            raw = block[keys[0]]
            scale = fam.suffixes[split_suffix(keys[0], kf.base, fam) or ""]
        else:
            if kf.key not in block:
                continue
            raw = block[kf.key]
            scale = kf.scale
        if raw is None:
            kwargs[kf.attr] = None
        elif kf.type == "int":
            kwargs[kf.attr] = int(raw)
        elif kf.type == "float":
            kwargs[kf.attr] = float(raw) * scale
        else:
            kwargs[kf.attr] = raw
    return cls(**kwargs)


def _sources(data: Mapping[str, Any], overridden: set[str]) -> Mapping[str, str]:
    src = {str(k): str(v) for k, v in (data.get("sources") or {}).items()}
    for p in sorted(overridden):
        if not p.startswith("sources."):
            src[p] = OVERRIDE_SOURCE
    return MappingProxyType(src)


def unit_peaks(name: str, u: Mapping[str, Any], clock_hz: float,
               overridden: set[str]) -> Mapping[DType, float]:
    """Peak FLOP/s per dtype of compute unit `name`: count × flop_per_cycle × clock for the
    dtypes the unit's microarchitecture is given for (so clock and unit count move it), the
    declared datasheet `peak` otherwise. A peak the user overrode (`--set
    compute.<unit>.peak_tflops.bf16=...`) is an explicit what-if and wins for its dtypes."""
    declared = si_per_dtype(u, "peak", "throughput")
    per_cycle = si_per_dtype(u, "", "flop_per_cycle")
    if not per_cycle:
        return declared
    prefix = f"compute.{name}.peak_"
    forced: set[DType] | None = set()
    for path in overridden:
        if path.startswith(prefix):
            tail = path[len(prefix):].split(".")
            if len(tail) == 1:
                forced = None  # the whole peak mapping was overridden
                break
            assert forced is not None
            forced.add(DType.parse(tail[1]))
    count = int(u.get("count", 1))
    out = dict(declared)
    for d, n in per_cycle.items():
        if forced is None or d in forced:
            continue
        out[d] = count * n * clock_hz
    return MappingProxyType(out)


def build_build(d: Mapping[str, Any] | None) -> Build | None:
    """The `build:` block (die content for the area and cost models); None when absent."""
    if not isinstance(d, Mapping):
        return None
    sram = si(d, "sram", "capacity", -1.0)
    serdes = si(d, "serdes", "bandwidth", -1.0)
    return Build(
        units_on_die=int(d.get("units_on_die", 0)), dies=int(d.get("dies", 1)),
        unit_schedulers=int(d.get("unit_schedulers", 4)),
        mac_dtype=str(d.get("mac_dtype", "")),
        sram_ecc_word_bits=int(d.get("sram_ecc_word_bits", 0)), sram_bytes=sram if sram >= 0 else None,
        register_file_bytes=si(d, "register_file", "capacity"),
        hbm_phys=int(d.get("hbm_phys", 0)), dram_channels=int(d.get("dram_channels", 0)),
        serdes_Bps=serdes if serdes >= 0 else None, package=str(d.get("package", "")),
        gross_margin=(float(d["gross_margin"]) if d.get("gross_margin") is not None
                      else None), cell_um2=si(d, "cell", "area_um2"),
        volume=int(d.get("volume", 0)), base_dies=int(d.get("base_dies", 0)),
        base_process_nm=si(d, "base_process", "length"),
        base_sram_bytes=si(d, "base_sram", "capacity"),
        base_stacked=bool(d.get("base_stacked", False)),
        hbm_stack_bytes=si(d, "hbm_stack", "capacity"))


def build_chip(data: Mapping[str, Any], overridden: set[str] | None = None) -> Chip:
    kind = HardwareKind(data["kind"])
    clock_hz = si(data, "clock", "frequency")
    units = []
    for name, u in data["compute"].items():
        units.append(ComputeUnit(name, UnitType(u["type"]),
                                 unit_peaks(name, u, clock_hz, overridden or set()),
                                 int(u.get("count", 1)),
                                 si_per_dtype(u, "", "energy_per_flop")))
    levels = []
    for name, m in data["memory"].items():
        levels.append(MemoryLevel(
            name, si(m, "capacity", "capacity"), si(m, "bandwidth", "bandwidth"),
            si(m, "latency", "time"), si(m, "energy", "energy_per_bit"),
            frozenset(TensorClass(h) for h in m.get("holds", [])),
            bool(m.get("external", False))))
    pw = data["power"]
    cls = KIND_BLOCKS[kind]
    block = data.get(kind.value)
    params = build_params(cls, block) if isinstance(block, dict) else (
        cls() if not any(kf.required for kf in kind_fields(cls)) else None)
    return Chip(
        name=str(data["name"]), kind=kind, clock_hz=clock_hz,
        compute=tuple(units), memory=tuple(levels),
        interconnect=build_interconnect(data.get("interconnect")),
        power=Power(si(pw, "tdp", "power"), si(pw, "idle", "power"), si(pw, "cap", "power"),
                    si(pw, "clock_min", "frequency"), si(pw, "clock_max", "frequency"),
                    si(pw, "voltage_min", "voltage"), si(pw, "voltage_max", "voltage")),
        mac_energy_j=si_per_dtype(data.get("energy") or {}, "", "energy_per_flop"),
        area_mm2=si(data, "area", "area"), process_nm=si(data, "process", "length"),
        price_usd=si(data, "price", "money"), description=str(data.get("description", "")),
        params=params, sources=_sources(data, overridden or set()),
        build=build_build(data.get("build")))


def build_chip_hardware(data: Mapping[str, Any], origin: str,
                        overridden: set[str] | None = None) -> Hardware:
    """A chip spec loads as a one-chip system."""
    chip = build_chip(data, overridden)
    return Hardware(chip.name, chip, 1, None, 0.0, 0.0, chip.description, chip.sources, origin)


def build_system(data: Mapping[str, Any], chip: Chip, origin: str,
                 overridden: set[str] | None = None) -> Hardware:
    s = data["system"]
    return Hardware(
        name=str(data["name"]), chip=chip, num_chips=int(s["num_chips"]),
        interconnect=build_interconnect(s.get("interconnect")),
        scale_out=build_scale_out(s.get("scale_out")),
        price_usd=si(s, "price", "money"), extra_power_w=si(s, "extra_power", "power"),
        host_usd=si(s, "host", "money"), description=str(data.get("description", "")),
        sources=_sources(data, overridden or set()), origin=origin)
