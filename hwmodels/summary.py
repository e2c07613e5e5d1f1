"""Flat views of a `Hardware` for people and diffs: every field with its SI unit, and the
derived figures (ridge points, bytes per FLOP, totals, energy ceiling) of `infersim hw show`.

Derived figures (all from the loaded objects, SI units):
- ridge point of a dtype at a memory level = peak FLOP/s / level bandwidth (FLOP/byte):
  ops with a lower arithmetic intensity are memory-bound there;
- bytes per FLOP = main-memory bandwidth / peak (the inverse of the ridge);
- totals of a system: main-memory capacity × chips, price, power (TDP × chips + extra);
- energy ceiling per dtype = TDP / peak (J/FLOP): a chip cannot spend more per FLOP at full
  utilization; the spec's dynamic J/FLOP must stay below it;
- area, cost and load power (`physical`): die area from the microarchitecture
  (hwmodels/area.py), chip and system price from the die economics (hwmodels/capex.py), and the
  power at full load from the energy model: the matrix units at their dense peak, main memory
  and the on-chip SRAM levels streaming at their peaks, on top of the static power.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from infersim.foundation.units import BITS_PER_BYTE
from infersim.hwmodels.capex import capex_usd
from infersim.hwmodels.spec import (
    Chip,
    CimParams,
    Hardware,
    HardwareKind,
    Interconnect,
    TensorClass,
    UnitType,
)
from infersim.workloads.dtypes import DType

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
    out["total.price"] = (capex_usd(hw), "USD")  # derived when derivable (capex.py)
    out["total.price_declared"] = (hw.total_price_usd, "USD")
    out["total.tdp"] = (hw.total_power_w, "W")
    out.update({k: (v, u) for k, (v, u, _) in physical(hw).items()})
    return out


# Off-chip memory technologies by level name (hwmodels/schema.py classifies them the same way).
_DRAM_PREFIXES = ("hbm", "lpddr", "ddr", "gddr", "dram", "memory")

# Datatype of the "dense GEMM at peak" that defines the load power, in order of preference.
_LOAD_DTYPES = (DType.BF16, DType.FP16, DType.FP8, DType.INT8, DType.INT4, DType.FP32)


# Kinds whose firmware holds the board at its rated power by lowering the clock (NVIDIA's
# "SW power cap" clock-throttle reason, AMD's package power tracking): at full load they draw
# the TDP whenever the unthrottled demand exceeds it.
_POWER_MANAGED = frozenset({HardwareKind.GPU})


def load_power_w(chip: Chip) -> tuple[float, str]:
    """(W, how) one chip draws at full load: every engine at its peak at once, the design
    point its power delivery is sized for: static (idle) power + the matrix units at their
    dense peak × J/FLOP + off-chip main memory and every on-chip SRAM level streaming at
    peak bandwidth × J/bit + every chip-to-chip link sending at its rate × J/bit; a
    power-managed chip (a GPU at its TDP, or any chip with `power.cap_w`) is throttled to its
    limit."""
    matrix = chip.unit(UnitType.MATRIX)
    for d in _LOAD_DTYPES:
        peak = matrix.peak(d) if matrix is not None else 0.0
        e = (matrix.energy_j_per_flop.get(d) if matrix is not None else None) \
            or chip.mac_energy_j.get(d, 0.0)
        if peak > 0 and e > 0:
            break
    else:
        return math.nan, "not derivable: no matrix dtype with both a peak and a J/FLOP"
    main = chip.main_memory
    # Off-chip main memory (HBM, DRAM) streams beside the GEMM.
    off_chip = main.name.lower().startswith(_DRAM_PREFIXES)
    mem_w = main.bandwidth_Bps * BITS_PER_BYTE * main.energy_j_per_bit if off_chip else 0.0
    # On-chip SRAM levels (caches, an LPU's or wafer's SRAM) stream at their peak too: their
    # reads are operand delivery, which the spec's J/FLOP (the datapath) does not hold. A CIM
    # chip's weight arrays are the exception: the MAC happens in them, its J/FLOP is the read.
    cim = isinstance(chip.params, CimParams)
    sram = [m for m in chip.memory
            if not m.external and not m.name.lower().startswith(_DRAM_PREFIXES)
            and not (cim and TensorClass.WEIGHTS in m.holds)]
    sram_w = sum(m.bandwidth_Bps * BITS_PER_BYTE * m.energy_j_per_bit for m in sram)
    ic = chip.interconnect
    # each chip pays for the bits it sends; the bits it receives are its peers' sends
    link_w = (ic.chip_bandwidth_Bps * BITS_PER_BYTE * ic.energy_j_per_bit
              if ic is not None else 0.0)
    idle = chip.power.idle_w
    if isinstance(chip.params, CimParams):
        idle += chip.params.adc_static_power_w()
    demand = idle + peak * e + mem_w + sram_w + link_w
    how = (f"idle {idle:.0f} W + {d.value} dense peak × J/FLOP {peak * e:.0f} W"
           + (f" + {main.name} stream {mem_w:.0f} W" if off_chip else "")
           + (f" + on-chip SRAM ({', '.join(m.name for m in sram)}) stream {sram_w:.0f} W"
              if sram_w > 0 else "")
           + (f" + links {link_w:.0f} W" if link_w > 0 else ""))
    limit = chip.power.cap_w or (chip.power.tdp_w if chip.kind in _POWER_MANAGED
                                 else math.inf)
    if demand > limit:
        return limit, f"power-limited at {limit:.0f} W (unthrottled demand {demand:.0f} W: {how})"
    return demand, how


def physical(hw: Hardware) -> dict[str, tuple[float, str, str]]:
    """Area, cost and load power: {figure: (value, unit, source)}; NaN with the reason as
    the source when a figure is not derivable (the spec lacks a `build:` block, ...)."""
    from infersim.hwmodels.area import chip_area
    from infersim.hwmodels.capex import chip_cost, system_cost

    c = hw.chip
    out: dict[str, tuple[float, str, str]] = {}
    area = chip_area(c)
    why = f"not derivable: {area.reason}"
    if c.kind == HardwareKind.WAFER and area.derivable:
        wafer = c.area_mm2 or area.total_mm2
        out["area.die"] = (wafer, "mm²", "the whole wafer (declared area_mm2)" if c.area_mm2
                           else "the wafer's components (hwmodels/area.py)")
        out["area.components"] = (area.total_mm2, "mm²",
                                  "physical cores (datapath, SRAM, control) in their "
                                  "pitch, and I/O (hwmodels/area.py)")
    else:
        out["area.die"] = (area.die_mm2 if area.derivable else math.nan, "mm²",
                           f"microarchitecture at {area.node} nm (hwmodels/area.py)"
                           if area.derivable else why)
        if area.derivable and area.base_dies:
            out["area.base_die"] = (area.base_die_mm2, "mm²",
                                    f"one of {area.base_dies} base dies at {area.base_node} nm "
                                    "(hwmodels/area.py)")
        if area.derivable and (area.dies > 1 or area.base_dies):
            out["area.package"] = (area.total_mm2, "mm²", f"{area.dies} dies" + (
                f" + {area.base_dies} base dies" if area.base_dies else ""))
    cost = chip_cost(c, area)
    sc = system_cost(hw)
    if cost.derivable:
        out["die.per_wafer"] = (float(cost.dies_per_wafer), "", "gross dies with edge loss")
        out["die.yield"] = (cost.die_yield, "", "negative binomial × engine harvesting")
        out["cost.chip_build"] = (cost.build_usd, "USD", ", ".join(
            f"{k} {v:,.0f}" for k, v in cost.items.items()))
        if cost.gross_margin is None:
            for k in ("cost.chip", "cost.system"):
                out[k] = (math.nan, "USD", "not derivable: no build.gross_margin (the price "
                          "is the build cost / (1 - the vendor's margin))")
        else:
            out["cost.chip"] = (cost.price_usd, "USD",
                                f"build / (1 - gross margin {cost.gross_margin:g}) "
                                "(hwmodels/capex.py)")
            out["cost.system"] = (sc.price_usd, "USD",
                                  f"{hw.num_chips} × chip + host build {hw.host_usd:,.0f} / "
                                  "(1 - integrator margin)")
    else:
        for k in ("cost.chip", "cost.system"):
            out[k] = (math.nan, "USD", f"not derivable: {cost.reason}")
    w, how = load_power_w(c)
    out["power.load"] = (w, "W", how)
    if hw.num_chips > 1:
        out["power.load_system"] = (w * hw.num_chips + hw.extra_power_w, "W",
                                    f"{hw.num_chips} × chip + extra {hw.extra_power_w:,.0f} W")
    return out


def cross_checks(hw: Hardware, area_tol: float = 0.10, price_tol: float = 0.25,
                 ) -> list[str]:
    """Warnings where a declared figure disagrees with the derived one: die area beyond
    `area_tol`, price beyond `price_tol` (the declared price is only a cross-check)."""
    phys = physical(hw)
    warn = []
    c = hw.chip
    area = phys.get("area.components" if c.kind == HardwareKind.WAFER else "area.die")
    if c.area_mm2 and area is not None and math.isfinite(area[0]):
        err = area[0] / c.area_mm2 - 1.0
        if abs(err) > area_tol:
            warn.append(f"area_mm2: declared {c.area_mm2:,.0f} mm² vs derived {area[0]:,.0f} "
                        f"mm² ({err:+.0%}, tolerance {area_tol:.0%})")
    price = phys["cost.system"][0]
    declared = hw.total_price_usd
    if declared and math.isfinite(price):
        err = price / declared - 1.0
        if abs(err) > price_tol:
            warn.append(f"price_usd: declared {declared:,.0f} USD vs derived "
                        f"{price:,.0f} USD ({err:+.0%}, tolerance {price_tol:.0%})")
    return warn
