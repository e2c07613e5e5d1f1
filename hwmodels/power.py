"""Power caps and DVFS: the highest clock whose power stays under a chip's power limit.

A chip with `power.cap_w` > 0 runs each model step at the highest clock f on its grid
(`CLOCK_STEP_HZ` below the spec clock f0) whose power while the chip runs its kernels is at
most the cap, as a GPU's power limiter (`nvidia-smi -pl`) does (the mapper passes
`Schedule.busy_power_w`: waits for the host or for other pipeline stages draw static power
only and do not dilute it). At clock f, with V(f) from the V/f curve:

- compute peaks scale with f (count × FLOP per cycle × f); on-chip SRAM / cache bandwidth and
  a wafer's fabric scale with f too (same clock domain); HBM / DRAM bandwidth, chip-to-chip
  links and host overheads do not (their own clocks);
- dynamic energy per operation scales with (V(f)/V(f0))² (E = C·V² per switched capacitance),
  for FLOPs and on-chip SRAM accesses; HBM / DRAM and link energy per bit do not;
- static power scales with V(f)/V(f0) (leakage current × V, leakage taken as constant).

The step's power P(f) = dynamic energy × (V/V0)² / busy time + static power × V/V0 never
falls as f rises (busy time can only shrink, energy per FLOP and static power only grow), so a
bisection over the clock grid finds the answer. A compute-bound step (prefill) slows almost in proportion to f; a memory-bound
decode step draws less power, so it keeps its clock or loses little speed.

The V/f curve is linear from (clock_min, voltage_min) to (clock_max, voltage_max), flat at
voltage_min below clock_min (below the minimum voltage only the clock can fall). A spec gives it
in its `power:` block with sources; missing values default to the process node's voltages
(`NODE_VOLTAGES`), clock_max to the spec clock and clock_min to half of it.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass
from types import MappingProxyType
from typing import TypeVar

from infersim.hwmodels.spec import Chip, Hardware, MemoryLevel, WaferParams

# NVIDIA data-center GPUs expose application / locked clocks in 15 MHz steps
# (`nvidia-smi -q -d SUPPORTED_CLOCKS`: 1980, 1965, 1950, ... MHz on H100); used for every kind.
CLOCK_STEP_HZ = 15e6

# (largest node in nm, voltage at the lowest DVFS clock, voltage at the spec clock) in V.
# assumed: supply voltages of logic processes as published for their nominal corner and
# typical minimum DVFS operating points (28 nm ~0.9 V nominal; 16/12 nm 0.8 V; 7 nm 0.75 V;
# 5/4/3 nm ~0.75 V with ~0.6 V at the low end of the DVFS range); a spec's own
# `power.voltage_min_v` / `voltage_max_v` replace them.
NODE_VOLTAGES: tuple[tuple[float, float, float], ...] = (
    (5.0, 0.60, 0.75),
    (7.0, 0.60, 0.75),
    (16.0, 0.65, 0.80),
    (1e9, 0.70, 0.90),
)
DEFAULT_CLOCK_MIN_FRACTION = 0.5  # assumed: DVFS floors sit near half the rated clock

# Memory levels clocked off the core clock (their own PHY / DRAM clock), by name prefix,
# as hwmodels/schema.py classifies technologies.
_OFF_CHIP_PREFIXES = ("hbm", "lpddr", "ddr", "gddr", "dram", "memory")


@dataclass(frozen=True)
class VfCurve:
    """Core voltage as a function of clock: linear between two points, flat below the first."""

    clock_min_hz: float
    clock_max_hz: float
    voltage_min_v: float
    voltage_max_v: float
    source: str  # "spec" or the per-node default used

    def voltage(self, clock_hz: float) -> float:
        if clock_hz <= self.clock_min_hz or self.clock_max_hz <= self.clock_min_hz:
            return self.voltage_min_v
        x = (clock_hz - self.clock_min_hz) / (self.clock_max_hz - self.clock_min_hz)
        return self.voltage_min_v + x * (self.voltage_max_v - self.voltage_min_v)


def vf_curve(chip: Chip) -> VfCurve:
    """The chip's V/f curve: its spec fields, per-node defaults for the missing ones."""
    p = chip.power
    node = chip.process_nm or 1e9
    v_lo, v_hi = next((lo, hi) for top, lo, hi in NODE_VOLTAGES if node <= top)
    given = all(x > 0 for x in (p.clock_min_hz, p.clock_max_hz, p.voltage_min_v,
                                p.voltage_max_v))
    f_max = p.clock_max_hz or chip.clock_hz
    f_min = p.clock_min_hz or DEFAULT_CLOCK_MIN_FRACTION * chip.clock_hz
    source = "spec" if given else f"default for {chip.process_nm:g} nm (hwmodels/power.py)"
    return VfCurve(min(f_min, f_max), f_max, p.voltage_min_v or v_lo, p.voltage_max_v or v_hi,
                   source)


def node_voltage_v(process_nm: float) -> float:
    """Nominal core voltage of a process node (the spec-clock end of `NODE_VOLTAGES`)."""
    return next(hi for top, _, hi in NODE_VOLTAGES if (process_nm or 1e9) <= top)


def sram_read_energy_j_per_bit(bank_bytes: float, process_nm: float) -> float:
    """Read energy per bit of an SRAM bank of `bank_bytes` at `process_nm`: Horowitz's 45 nm
    8 KB bank x sqrt(bank / 8 KB) (word and bit lines grow with the side of the array)
    x sqrt(cell / 45 nm cell) (wire length per cell) x (V / 0.9 V)² (E = C·V²); constants in
    hwmodels/data/process_nodes.yaml `components`."""
    from infersim.hwmodels.area import node_by_nm, tables

    if not bank_bytes > 0:
        raise ValueError(f"SRAM bank size must be > 0 bytes, got {bank_bytes}")
    c = tables().components
    cell = node_by_nm(process_nm).sram_cell_um2
    return (float(c["sram_read_pj_per_bit_8kb_45nm"]) * 1e-12
            * math.sqrt(bank_bytes / 8192.0)
            * math.sqrt(cell / float(c["sram_cell_um2_45nm"]))
            * (node_voltage_v(process_nm) / float(c["sram_voltage_45nm_v"])) ** 2)


def _on_chip(m: MemoryLevel) -> bool:
    return not m.external and not m.name.lower().startswith(_OFF_CHIP_PREFIXES)


def at_clock(hw: Hardware, clock_hz: float) -> Hardware:
    """`hw` with its chip run at `clock_hz` (see the module docstring for what scales).
    The result has no cap: its clock is already the one chosen."""
    chip = hw.chip
    f0 = chip.clock_hz
    curve = vf_curve(chip)
    r = clock_hz / f0
    vr = curve.voltage(clock_hz) / curve.voltage(f0)
    units = tuple(dataclasses.replace(
        u, peak_flops=MappingProxyType({d: x * r for d, x in u.peak_flops.items()}),
        energy_j_per_flop=MappingProxyType(
            {d: x * vr * vr for d, x in u.energy_j_per_flop.items()}))
        for u in chip.compute)
    levels = tuple(dataclasses.replace(m, bandwidth_Bps=m.bandwidth_Bps * r,
                                       energy_j_per_bit=m.energy_j_per_bit * vr * vr)
                   if _on_chip(m) else m for m in chip.memory)
    params = chip.params
    if isinstance(params, WaferParams):
        params = dataclasses.replace(params, fabric_bandwidth_Bps=params.fabric_bandwidth_Bps * r,
                                     fabric_hop_latency_s=params.fabric_hop_latency_s / r)
    power = dataclasses.replace(chip.power, idle_w=chip.power.idle_w * vr, cap_w=0.0)
    new_chip = dataclasses.replace(
        chip, clock_hz=clock_hz, compute=units, memory=levels, power=power, params=params,
        mac_energy_j=MappingProxyType({d: x * vr * vr for d, x in chip.mac_energy_j.items()}))
    return dataclasses.replace(hw, chip=new_chip)


@dataclass(frozen=True)
class Throttle:
    """What the power limiter chose for one step (per chip)."""

    cap_w: float
    clock_hz: float
    nominal_clock_hz: float
    voltage_v: float
    power_w: float  # power per chip while it runs its kernels, at `clock_hz`
    nominal_power_w: float  # the same at the spec clock, uncapped
    at_floor: bool  # even the lowest clock draws more than the cap

    @property
    def throttled(self) -> bool:
        return self.clock_hz < self.nominal_clock_hz

    def to_dict(self) -> dict[str, float | bool]:
        return dataclasses.asdict(self)


T = TypeVar("T")


def solve_clock(hw: Hardware, evaluate: Callable[[Hardware], tuple[float, T]]
                ) -> tuple[Hardware, T, Throttle | None]:
    """(hardware at the chosen clock, its result, the throttle record; None without a cap).

    `evaluate(hw)` runs the step on `hw` and returns (power per chip in W, result).
    The clock grid is f0, f0 − CLOCK_STEP_HZ, ... down to the V/f curve's clock_min; the
    answer is the highest grid clock with power ≤ cap (clock_min when none is)."""
    cap = hw.chip.power.cap_w
    p0, res0 = evaluate(hw)
    if cap <= 0:
        return hw, res0, None
    f0 = hw.chip.clock_hz
    curve = vf_curve(hw.chip)
    if p0 <= cap:
        return hw, res0, Throttle(cap, f0, f0, curve.voltage(f0), p0, p0, False)
    steps = max(1, int((f0 - min(curve.clock_min_hz, f0)) // CLOCK_STEP_HZ))
    seen: dict[int, tuple[Hardware, float, T]] = {}

    def run(k: int) -> tuple[Hardware, float, T]:
        if k not in seen:
            h = at_clock(hw, f0 - k * CLOCK_STEP_HZ)
            p, res = evaluate(h)
            seen[k] = (h, p, res)
        return seen[k]

    lo, hi = 0, steps  # power(lo) > cap; find the smallest k with power(k) <= cap
    if run(hi)[1] > cap:
        h, p, res = run(hi)
        return h, res, Throttle(cap, h.chip.clock_hz, f0, curve.voltage(h.chip.clock_hz), p,
                                p0, True)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if run(mid)[1] <= cap:
            hi = mid
        else:
            lo = mid
    h, p, res = run(hi)
    return h, res, Throttle(cap, h.chip.clock_hz, f0, curve.voltage(h.chip.clock_hz), p, p0,
                            False)


__all__ = ["CLOCK_STEP_HZ", "NODE_VOLTAGES", "Throttle", "VfCurve", "at_clock", "node_voltage_v",
           "solve_clock", "sram_read_energy_j_per_bit", "vf_curve"]
