"""Capital cost of a chip and a system, from its die area and the fab economics of its node.

    dies per wafer   N = π (d/2)² / A - π d / √(2 A)               (gross dies, edge loss)
    yield            Y = (1 + A_crit · D0 / α)^-α                    (negative binomial)
                         × P(at least `enabled` of `on_die` engines are defect-free)
    known-good die   KGD = wafer price / (N · Y)
    package build    dies × KGD (+ base dies × their KGD at their node) + memory (US$/GB)
                     + package (interposer / substrate / wafer-scale) + test (a fraction)
                     + board (US$/W of TDP) + design cost of each die type's node /
                     packages built (NRE)
    chip price       build / (1 - vendor gross margin)
    system price     chips × chip price + host build / (1 - integrator margin)
    break-even       the volume at which the chip price equals a given price:
                     design / (price · (1 - margin) - build without NRE)

A_crit is the die area a defect kills the part in: everything but the replicated engines
(spare-able by disabling one) and SRAM (row/column repair). On a wafer-scale engine every
core and fabric link is redundant, so only the engine yield counts.

Tables: hwmodels/data/process_nodes.yaml (`nodes`, `cost`). Pure functions; `CostBreakdown`
carries `reason` when a cost is not derivable (no area).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from infersim.foundation.units import G
from infersim.hwmodels.area import AreaBreakdown, chip_area, node_by_nm, node_of, tables
from infersim.hwmodels.spec import Chip, Hardware, HardwareKind, MemoryLevel

MM2_PER_CM2 = 100.0


def dies_per_wafer(die_mm2: float, wafer_diameter_mm: float = 300.0) -> int:
    """Gross dies of `die_mm2` on a round wafer, with the standard edge-loss term."""
    if not die_mm2 > 0:
        raise ValueError(f"die area must be > 0, got {die_mm2}")
    d = wafer_diameter_mm
    n = math.pi * (d / 2.0) ** 2 / die_mm2 - math.pi * d / math.sqrt(2.0 * die_mm2)
    return max(0, math.floor(n))


def negative_binomial_yield(area_mm2: float, d0_per_cm2: float, alpha: float) -> float:
    """Fraction of dies of `area_mm2` with no killer defect (clustered defects, parameter α)."""
    if area_mm2 <= 0:
        return 1.0
    return (1.0 + area_mm2 / MM2_PER_CM2 * d0_per_cm2 / alpha) ** -alpha


def harvest_yield(unit_yield: float, on_die: int, needed: int) -> float:
    """P(at least `needed` of `on_die` independent engines are good), each good with
    `unit_yield` (the binomial tail over the spares)."""
    if needed <= 0 or unit_yield >= 1.0:
        return 1.0
    if needed > on_die or unit_yield <= 0.0:
        return 0.0
    q = 1.0 - unit_yield
    total = 0.0
    for bad in range(0, on_die - needed + 1):
        log_term = (math.lgamma(on_die + 1) - math.lgamma(bad + 1) - math.lgamma(on_die - bad + 1)
                    + bad * math.log(q) + (on_die - bad) * math.log(unit_yield))
        term = math.exp(log_term)
        total += term
        if bad > on_die * q and term < 1e-18:
            break  # past the mode the terms only shrink
    return min(1.0, total)


@dataclass(frozen=True)
class CostBreakdown:
    """Build cost of one chip package by item (US$), its price and the die economics."""

    items: Mapping[str, float] = field(default_factory=dict)
    gross_margin: float | None = None  # None: unknown, so no price (build cost only)
    dies_per_wafer: int = 0
    die_yield: float = math.nan
    kgd_usd: float = math.nan
    reason: str = ""

    @property
    def derivable(self) -> bool:
        return not self.reason

    @property
    def build_usd(self) -> float:
        return sum(self.items.values()) if self.derivable else math.nan

    @property
    def price_usd(self) -> float:
        """The vendor's price; NaN when the margin is unknown."""
        if self.gross_margin is None:
            return math.nan
        return self.build_usd / (1.0 - self.gross_margin)


def _memory_usd(chip: Chip) -> float:
    c = tables().cost
    total = 0.0
    b = chip.build
    for m in chip.memory:
        name = m.name.lower()
        if name.startswith("hbm"):
            # every stack on the package is bought, the disabled ones too (a what-if with
            # more usable HBM than the stacks hold has bigger stacks)
            stacks = b.hbm_phys * b.hbm_stack_bytes if b is not None else 0.0
            bought = max(m.capacity_bytes, stacks)
            total += bought / G * c["hbm_usd_per_gb"]
        elif _on_card_dram(chip, m):
            total += m.capacity_bytes / G * c["dram_usd_per_gb"]
    return total


def _on_card_dram(chip: Chip, m: MemoryLevel) -> bool:
    # A wafer's external store (MemoryX) is a separate appliance, not part of the engine.
    return (m.name.lower().startswith(("lpddr", "ddr", "gddr", "dram"))
            and chip.kind != HardwareKind.WAFER)


def _hbm_stacks(chip: Chip) -> int:
    b = chip.build
    return b.hbm_phys if b is not None else 0


def _package(chip: Chip) -> str:
    b = chip.build
    if b is not None and b.package:
        return b.package
    if chip.kind == HardwareKind.WAFER:
        return "wafer"
    return "cowos" if _hbm_stacks(chip) else "organic"


def chip_cost(chip: Chip, area: AreaBreakdown | None = None) -> CostBreakdown:
    """Build cost, price and die economics of one chip package (see module doc)."""
    area = area or chip_area(chip)
    if not area.derivable:
        return CostBreakdown(reason=area.reason)
    node = node_of(chip)
    assert node is not None and chip.build is not None
    c = tables().cost
    wafer_d = c["wafer_diameter_mm"]
    die = area.die_mm2
    package = _package(chip)
    unit_y = negative_binomial_yield(area.unit_mm2, node.d0_per_cm2, node.alpha)
    y_units = harvest_yield(unit_y, area.units_on_die, area.units_enabled)
    if package == "wafer":
        n = 1
        y = y_units  # cores and fabric links route around defects
    else:
        n = dies_per_wafer(die, wafer_d)
        if n == 0:
            return CostBreakdown(reason=f"a {die:,.0f} mm² die does not fit a "
                                 f"{wafer_d:g} mm wafer")
        crit = max(0.0, die - area.redundant_mm2 / area.dies)
        y = negative_binomial_yield(crit, node.d0_per_cm2, node.alpha) * y_units
    if not y > 0:
        return CostBreakdown(reason="no die yields (every die has a killer defect)")
    kgd = node.wafer_usd / (n * y)
    items = {"dies": kgd * area.dies}
    base = tables().nodes[area.base_node] if area.base_dies else None
    if base is not None:
        # base dies: their cache SRAM is repairable, the rest of the die is critical
        bdie = area.base_die_mm2
        bn = dies_per_wafer(bdie, wafer_d)
        if bn == 0:
            return CostBreakdown(reason=f"a {bdie:,.0f} mm² base die does not fit a "
                                 f"{wafer_d:g} mm wafer")
        bcrit = max(0.0, bdie - area.base_components.get("base_sram", 0.0) / area.base_dies)
        by = negative_binomial_yield(bcrit, base.d0_per_cm2, base.alpha)
        items["base_dies"] = base.wafer_usd / (bn * by) * area.base_dies
    items["memory"] = _memory_usd(chip)
    stacks = _hbm_stacks(chip)
    stacked = chip.build.base_stacked
    # silicon footprint on the interposer: stacked compute dies add none of their own
    footprint = (0.0 if stacked and base is not None else die * area.dies) \
        + (area.base_die_mm2 * area.base_dies if base is not None else 0.0)
    placed = area.dies + area.base_dies
    if package == "cowos":
        ip_area = (footprint + stacks * c["hbm_stack_mm2"]) * c["interposer_margin"]
        ip_node = node_by_nm(65)
        ip_n = dies_per_wafer(ip_area, wafer_d)
        if ip_n == 0:
            return CostBreakdown(reason=f"a {ip_area:,.0f} mm² interposer does not fit a wafer")
        ip_y = negative_binomial_yield(ip_area, ip_node.d0_per_cm2, ip_node.alpha)
        items["package"] = (c["interposer_wafer_usd"] / (ip_n * ip_y)
                            + c["assembly_usd_per_component"] * (placed + stacks))
    elif package == "wafer":
        items["package"] = c["wafer_scale_package_usd"]
    else:
        items["package"] = (c["organic_substrate_usd_per_mm2"] * footprint
                            + c["assembly_usd_per_component"] * placed)
    items["test"] = c["test_fraction"] * sum(items.values())
    items["board"] = c["board_usd_per_w"] * chip.power.tdp_w
    if chip.build.volume:
        items["design_nre"] = design_usd(chip, area) / chip.build.volume
    return CostBreakdown(items, chip.build.gross_margin, n, y, kgd)


def design_usd(chip: Chip, area: AreaBreakdown | None = None) -> float:
    """One-time design cost (NRE) of the chip's die types, each at its node's design cost;
    NaN when the area (and so the node) is not derivable."""
    area = area or chip_area(chip)
    node = node_of(chip)
    if not area.derivable or node is None:
        return math.nan
    base = tables().nodes[area.base_node] if area.base_dies else None
    return node.design_usd + (base.design_usd if base is not None else 0.0)


def break_even_volume(chip: Chip, price_usd: float) -> float:
    """Packages over which the design cost must be recovered for the chip's derived price to
    equal `price_usd`, its build and margin kept: design / (price · (1 − margin) − build
    without NRE). NaN when no volume reaches it (or no margin is known)."""
    area = chip_area(chip)
    cb = chip_cost(chip, area)
    if not cb.derivable or cb.gross_margin is None:
        return math.nan
    room = price_usd * (1.0 - cb.gross_margin) - (cb.build_usd - cb.items.get("design_nre", 0.0))
    return design_usd(chip, area) / room if room > 0 else math.nan


@dataclass(frozen=True)
class SystemCost:
    chip: CostBreakdown
    num_chips: int
    host_build_usd: float

    @property
    def derivable(self) -> bool:
        return self.chip.derivable

    @property
    def price_usd(self) -> float:
        m = tables().cost["system_integration_margin"]
        return self.num_chips * self.chip.price_usd + self.host_build_usd / (1.0 - m)

    @property
    def build_usd(self) -> float:
        return self.num_chips * self.chip.build_usd + self.host_build_usd


def system_cost(hw: Hardware) -> SystemCost:
    """Price of the whole system: its chips plus the host build with an integrator margin."""
    return SystemCost(chip_cost(hw.chip), hw.num_chips, hw.host_usd)


def capex_usd(hw: Hardware) -> float:
    """The capital cost economics amortizes: the derived system price when the spec has the
    die content to derive it, else the declared price (0 = unknown)."""
    sc = system_cost(hw)
    if sc.derivable and math.isfinite(sc.price_usd):
        return sc.price_usd
    return hw.total_price_usd

