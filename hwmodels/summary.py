"""Flat views of a `Hardware` for people and diffs: every field with its SI unit, and the
derived figures (ridge points, bytes per FLOP, totals, energy ceiling) of `infersim hw show`.

Derived figures (all from the loaded objects, SI units):
- ridge point of a dtype at a memory level = peak FLOP/s / level bandwidth (FLOP/byte):
  ops with a lower arithmetic intensity are memory-bound there;
- bytes per FLOP = main-memory bandwidth / peak (the inverse of the ridge);
- totals of a system: main-memory capacity × chips, price, power (TDP × chips + extra);
- energy ceiling per dtype = TDP / peak (J/FLOP): a chip cannot spend more per FLOP at full
  utilization; the spec's dynamic J/FLOP must stay below it.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from infersim.hwmodels.spec import Hardware, Interconnect

_SUFFIX_UNITS = (("_Bps", "B/s"), ("_bytes", "B"), ("_j_per_bit", "J/bit"), ("_j", "J"),
                 ("_s", "s"), ("_hz", "Hz"), ("_w", "W"), ("_usd", "USD"), ("_mm2", "mm²"),
                 ("_nm", "nm"))


def _unit_of_attr(attr: str) -> str:
    for suffix, unit in _SUFFIX_UNITS:
        if attr.endswith(suffix):
            return unit
    return ""


def _ic(prefix: str, ic: Interconnect | None, out: dict[str, tuple[Any, str]]) -> None:
    if ic is None:
        return
    out[f"{prefix}.topology"] = (ic.topology.value, "")
    out[f"{prefix}.links_per_chip"] = (ic.links_per_chip, "")
    out[f"{prefix}.link_bandwidth"] = (ic.link_bandwidth_Bps, "B/s")
    out[f"{prefix}.latency"] = (ic.latency_s, "s")
    out[f"{prefix}.energy"] = (ic.energy_j_per_bit, "J/bit")


def flatten(hw: Hardware) -> dict[str, tuple[Any, str]]:
    """Every field of the system and its chip as {path: (value, unit)}, SI units."""
    c = hw.chip
    out: dict[str, tuple[Any, str]] = {
        "name": (hw.name, ""), "kind": (hw.kind.value, ""), "num_chips": (hw.num_chips, ""),
        "chip.name": (c.name, ""), "chip.clock": (c.clock_hz, "Hz"),
    }
    for u in c.compute:
        out[f"chip.compute.{u.name}.type"] = (u.unit_type.value, "")
        out[f"chip.compute.{u.name}.count"] = (u.count, "")
        for d, v in u.peak_flops.items():
            out[f"chip.compute.{u.name}.peak.{d.value}"] = (v, "FLOP/s")
        for d, v in u.energy_j_per_flop.items():
            out[f"chip.compute.{u.name}.energy.{d.value}"] = (v, "J/FLOP")
    for m in c.memory:
        p = f"chip.memory.{m.name}"
        out[f"{p}.capacity"] = (m.capacity_bytes, "B")
        out[f"{p}.bandwidth"] = (m.bandwidth_Bps, "B/s")
        out[f"{p}.latency"] = (m.latency_s, "s")
        out[f"{p}.energy"] = (m.energy_j_per_bit, "J/bit")
        out[f"{p}.holds"] = (",".join(sorted(h.value for h in m.holds)), "")
        out[f"{p}.external"] = (m.external, "")
    _ic("chip.interconnect", c.interconnect, out)
    out["chip.power.tdp"] = (c.power.tdp_w, "W")
    out["chip.power.idle"] = (c.power.idle_w, "W")
    for d, v in c.mac_energy_j.items():
        out[f"chip.energy.{d.value}"] = (v, "J/FLOP")
    out["chip.area"] = (c.area_mm2, "mm²")
    out["chip.process"] = (c.process_nm, "nm")
    out["chip.price"] = (c.price_usd, "USD")
    if c.params is not None and dataclasses.is_dataclass(c.params):
        for f in dataclasses.fields(c.params):
            out[f"chip.{c.kind.value}.{f.name}"] = (getattr(c.params, f.name),
                                                    _unit_of_attr(f.name))
    _ic("system.interconnect", hw.interconnect, out)
    out["system.price"] = (hw.price_usd, "USD")
    out["system.extra_power"] = (hw.extra_power_w, "W")
    return out


def derived(hw: Hardware) -> dict[str, tuple[float, str]]:
    """Derived figures: ridge points, bytes/FLOP, totals, energy ceiling (see module doc)."""
    c = hw.chip
    main = c.main_memory
    dtypes = sorted({d for u in c.compute for d in u.peak_flops}, key=lambda d: d.value)
    out: dict[str, tuple[float, str]] = {}
    for d in dtypes:
        peak = c.peak_flops(d)
        out[f"peak.{d.value}"] = (peak, "FLOP/s per chip")
        out[f"ridge.{d.value}.{main.name}"] = (peak / main.bandwidth_Bps, "FLOP/B")
        for m in c.memory:
            if m is not main:
                out[f"ridge.{d.value}.{m.name}"] = (peak / m.bandwidth_Bps, "FLOP/B")
        out[f"bytes_per_flop.{d.value}"] = (main.bandwidth_Bps / peak, "B/FLOP")
        out[f"energy_ceiling.{d.value}"] = (c.power.tdp_w / peak, "J/FLOP")
    out["total.capacity"] = (hw.capacity_bytes(), "B")
    out["total.bandwidth"] = (main.bandwidth_Bps * hw.num_chips, "B/s")
    out["total.price"] = (hw.total_price_usd, "USD")
    out["total.tdp"] = (hw.total_power_w, "W")
    return out
