"""Die area from the microarchitecture: a sum of physical components at the chip's node.

    area = (matrix MACs + vector lanes + per-unit control + SRAM + register files
            + CIM arrays, ADCs, DACs + memory PHYs + SerDes) / (1 - uncore_fraction)

- a MAC of datatype d at node n: the measured TPUv1 systolic MAC (28 nm) x Horowitz's relative
  area of d x (28 nm logic density / density of n): logic shrinks with transistor density;
  an integer array that also runs a float type builds each float product from its integer
  multipliers plus the float multiplier's exponent and alignment logic (`float_on_int_macs`);
- SRAM: bits x bit-cell area / array efficiency (register files: a wider multi-port cell);
  with ECC, the SECDED check bits of every word are stored beside it (`ecc_check_bits`);
- CIM: array cells, one ADC per `adcs_per_array` (ZigZag area fit, ~2^bits), a DAC per row and
  input bit; a digital CIM column readout is an adder tree, 1/64 of an int8 MAC per row;
- PHYs and SerDes: node-independent I/O figures per HBM stack, DRAM channel and 100 Gb/s;
- uncore (network on chip, clocks, host interface, test) a named fraction of the die;
- a wafer-scale engine (`kind: wafer`) is a grid of small cores: each physical core holds its
  datapath, its SRAM in small banks and per-core logic (router, instruction control, cache),
  and sits in a pitch that also holds its share of the fabric wiring, scribe crossings, edge
  and I/O. The SRAM bank efficiency, the per-core logic and the core's share of its pitch
  are derived from a measured wafer core (Cerebras WSE-2 at N7: 38,000 µm², half SRAM;
  `wafer_core_terms`) and carried to the chip's node; there is no separate uncore;
- chiplet packages (`build.base_dies`, MI300X): the memory PHYs, SerDes and the base-die
  cache move onto the base dies at their own node, each with its uncore; the cache is built
  at the bit-cell share of a measured last-level cache die (AMD V-Cache, `llc_efficiency`);
  base dies that carry stacked compute dies add the footprint of those dies (their bond and
  power-via field) beside their own content.

Constants: hwmodels/data/process_nodes.yaml (every number cited). One is fitted: the control
logic of a GPU engine per instruction scheduler (wave selection, scoreboards, dispatch, with
their load/store, special-function and texture paths), `GPU_UNIT_FIXED_MTR`, fit to the two
published GPU dies GA100 and GH100 (`fit_gpu_unit_fixed_mtr`; an NVIDIA SM has 4 schedulers,
an AMD CDNA CU 1 that serves its 4 SIMDs in turn, `build.unit_schedulers`); every other die
is predicted.

Everything here is a pure function of a `Chip`; `None` fields of `AreaBreakdown` say why an
area is not derivable (no `build:` block, a node missing from the table).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from infersim.foundation.errors import InputError
from infersim.foundation.units import BITS_PER_BYTE
from infersim.foundation.yaml import load_document
from infersim.hwmodels.spec import Chip, CimParams, HardwareKind, MemoryLevel, UnitType
from infersim.workloads.dtypes import DType

DATA_FILE = Path(__file__).parent / "data" / "process_nodes.yaml"
UM2_PER_MM2 = 1e6

# Fitted: control logic of a GPU engine per instruction scheduler (with its load/store,
# special-function and texture paths), million transistors (fit_gpu_unit_fixed_mtr on GA100
# 826 mm² and GH100 814 mm², reference hardware-and-published-results.md §1.1 [A2, H4];
# both SMs have 4 schedulers: 131.5 MTr per SM).
GPU_UNIT_FIXED_MTR = 32.88
# Published GPU dies the constant is fitted to: (spec name, die area mm²).
GPU_FIT_DIES = (("a100-sxm-80gb", 826.0), ("h100-sxm", 814.0))

# Names of off-chip DRAM levels (their capacity is not on-die SRAM).
_DRAM_PREFIXES = ("hbm", "lpddr", "ddr", "gddr", "dram", "memory")
_INT_DTYPES = frozenset((DType.INT8, DType.INT4))
# Wider datatypes first: the matrix datapath is built for the widest one listed.
_WIDTH_ORDER = (DType.FP32, DType.BF16, DType.FP16, DType.FP8, DType.INT8, DType.FP4,
                DType.INT4)


@dataclass(frozen=True)
class Node:
    name: str
    logic_mtr_per_mm2: float
    sram_cell_um2: float
    wafer_usd: float
    d0_per_cm2: float
    alpha: float
    design_usd: float


@dataclass(frozen=True)
class Tables:
    nodes: Mapping[str, Node]
    components: Mapping[str, Any]
    cost: Mapping[str, float]
    sources: Mapping[str, str]  # "nodes.<n>.<field>" / "components.<f>" / "cost.<f>" -> text


@functools.lru_cache(maxsize=1)
def tables() -> Tables:
    """The process-node, component and cost tables (hwmodels/data/process_nodes.yaml)."""
    doc = load_document(DATA_FILE.read_text(), str(DATA_FILE))
    data = doc.data
    srcs: dict[str, str] = {}
    nodes = {}
    for name, n in data["nodes"].items():
        nodes[str(name)] = Node(str(name), float(n["logic_mtr_per_mm2"]),
                                float(n["sram_cell_um2"]), float(n["wafer_usd"]),
                                float(n["d0_per_cm2"]), float(n["alpha"]),
                                float(n["design_musd"]) * 1e6)
        srcs.update({f"nodes.{name}.{k}": v for k, v in n["sources"].items()})
    for block in ("components", "cost"):
        srcs.update({f"{block}.{k}": v for k, v in data[block]["sources"].items()})
    comp = {k: v for k, v in data["components"].items() if k != "sources"}
    cost = {k: float(v) for k, v in data["cost"].items() if k != "sources"}
    return Tables(nodes, comp, cost, srcs)


def node_of(chip: Chip) -> Node | None:
    """The process-node row of the chip (`process_nm` rounded), None when not tabulated."""
    if not chip.process_nm:
        return None
    return tables().nodes.get(f"{chip.process_nm:g}")


def node_by_nm(nm: float) -> Node:
    n = tables().nodes.get(f"{nm:g}")
    if n is None:
        known = ", ".join(tables().nodes)
        raise InputError(f"process node {nm:g} nm is not in {DATA_FILE.name} (known: {known})")
    return n


def logic_scale(node: Node) -> float:
    """Area of a logic block at `node` relative to the same block at 28 nm."""
    return node_by_nm(28).logic_mtr_per_mm2 / node.logic_mtr_per_mm2


def mac_area_um2(dtype: DType, node: Node) -> float:
    """Area of one MAC of `dtype` at `node` (measured 28 nm systolic MAC x relative area)."""
    c = tables().components
    rel = c["mac_relative_area"].get(dtype.value)
    if rel is None:
        raise InputError(f"no relative MAC area for {dtype.value} in {DATA_FILE.name} "
                         "(components.mac_relative_area)")
    return float(c["mac_um2_int8_at_28nm"]) * float(rel) * logic_scale(node)


def float_on_int_macs(int_dtype: DType, float_dtype: DType) -> float | None:
    """Extra area of one `float_dtype` product on a matrix array built for `int_dtype`, in
    `int_dtype` MACs: the float multiplier beyond the ceil(significand / int width)² integer
    multipliers it is built from (its exponent, alignment and normalization logic), with
    Horowitz's 45 nm operator areas: (mult_f - n x mult_i) / (mult_i + 32b add). A fused dot
    product rounds once per sum, so no float adder per product. None when not tabulated."""
    c = tables().components
    mult = c["mult_um2_45nm"]
    bits = c["significand_bits"]
    if not all(d.value in mult and d.value in bits for d in (int_dtype, float_dtype)):
        return None
    n = math.ceil(int(bits[float_dtype.value]) / int(bits[int_dtype.value])) ** 2
    extra = float(mult[float_dtype.value]) - n * float(mult[int_dtype.value])
    mac = float(mult[int_dtype.value]) + float(c["add32_um2_45nm"])
    return max(0.0, extra) / mac


def ecc_check_bits(word_bits: int) -> int:
    """SECDED check bits of a `word_bits` data word: the Hamming bound (smallest r with
    2^r >= word + r + 1) plus one parity bit for double-error detection."""
    r = 1
    while 2 ** r < word_bits + r + 1:
        r += 1
    return r + 1


def adc_area_um2(bits: int) -> float:
    """One B-bit ADC (ZigZag AIMC fit at 28 nm): 10^(a·B + b) · 2^B µm²; analog area is taken
    as node-independent."""
    if bits <= 0:
        return 0.0
    c = tables().components
    return 10.0 ** (float(c["adc_area_a"]) * bits + float(c["adc_area_b"])) * 2.0 ** bits


def sram_area_mm2(bits: float, node: Node, cell_factor: float = 1.0) -> float:
    eff = float(tables().components["sram_array_efficiency"])
    return bits * node.sram_cell_um2 * cell_factor / eff / UM2_PER_MM2


def llc_efficiency() -> float:
    """Bit-cell share of a last-level cache macro with its tags, control and vias: the
    measured reference cache die (components.llc_ref_*) = bits x cell / die area."""
    c = tables().components
    node = node_by_nm(float(c["llc_ref_process_nm"]))
    bits = float(c["llc_ref_mib"]) * 2.0 ** 20 * BITS_PER_BYTE
    return bits * node.sram_cell_um2 / (float(c["llc_ref_mm2"]) * UM2_PER_MM2)


@dataclass(frozen=True)
class WaferCoreTerms:
    """Per-core terms of a wafer-scale engine, derived from the measured reference core."""

    sram_efficiency: float  # bit-cell area / SRAM area of a core's small banks
    control_mtr: float  # per-core logic beyond the FMAC datapath (router, control, cache)
    core_share: float  # share of a physical core's pitch on the wafer that is the core


@functools.lru_cache(maxsize=1)
def wafer_core_terms() -> WaferCoreTerms:
    """From the reference core (components.wafer_ref_*): SRAM efficiency = bits x cell /
    (core x SRAM share); control = core x (1 - SRAM share) - FMACs x fp16 MAC area, in MTr
    at the reference node; core share = core / (wafer area / physical cores), physical =
    enabled / enabled share."""
    c = tables().components
    node = node_by_nm(float(c["wafer_ref_process_nm"]))
    core_um2 = float(c["wafer_ref_core_um2"])
    sram_um2 = core_um2 * float(c["wafer_ref_sram_share"])
    eff = float(c["wafer_ref_sram_bytes"]) * BITS_PER_BYTE * node.sram_cell_um2 / sram_um2
    datapath_um2 = float(c["wafer_ref_fmacs"]) * mac_area_um2(DType.FP16, node)
    control_um2 = core_um2 - sram_um2 - datapath_um2
    if control_um2 <= 0 or not 0 < eff <= 1:
        raise InputError(f"{DATA_FILE.name}: components.wafer_ref_*: the reference core's "
                         "logic half must exceed its FMAC datapath and its SRAM half must hold "
                         "its bits (check wafer_ref_core_um2 and wafer_ref_sram_share)")
    physical = float(c["wafer_ref_cores_enabled"]) / float(c["wafer_ref_enabled_share"])
    pitch_um2 = float(c["wafer_ref_wafer_mm2"]) * UM2_PER_MM2 / physical
    return WaferCoreTerms(eff, control_um2 / UM2_PER_MM2 * node.logic_mtr_per_mm2,
                          core_um2 / pitch_um2)


@dataclass(frozen=True)
class AreaBreakdown:
    """Area of one chip package by component, mm²: `components` over its compute dies,
    `base_components` over its base dies; `die_mm2` and `base_die_mm2` per die."""

    components: Mapping[str, float] = field(default_factory=dict)  # all compute dies
    dies: int = 1
    node: str = ""
    unit_mm2: float = 0.0  # one replicated engine (SM, core, array): the harvesting unit
    units_on_die: int = 0
    units_enabled: int = 0
    reason: str = ""  # why the area is not derivable; "" when it is
    base_components: Mapping[str, float] = field(default_factory=dict)  # all base dies
    base_dies: int = 0
    base_node: str = ""

    @property
    def derivable(self) -> bool:
        return not self.reason

    @property
    def compute_mm2(self) -> float:
        return sum(self.components.values()) if self.derivable else math.nan

    @property
    def total_mm2(self) -> float:
        """Silicon of the package: compute dies and base dies."""
        return self.compute_mm2 + sum(self.base_components.values())

    @property
    def die_mm2(self) -> float:
        """One compute die."""
        return self.compute_mm2 / self.dies

    @property
    def base_die_mm2(self) -> float:
        """One base die; NaN without base dies."""
        if not self.base_dies:
            return math.nan
        return sum(self.base_components.values()) / self.base_dies

    @property
    def redundant_mm2(self) -> float:
        """Area a defect may hit without killing the part: spare-able engines and SRAM
        (row/column repair)."""
        return (self.unit_mm2 * self.units_on_die + self.components.get("sram", 0.0)
                + self.components.get("register_file", 0.0))


def _mac_dtype(chip: Chip, unit_peaks: Mapping[DType, float]) -> DType | None:
    b = chip.build
    if b is not None and b.mac_dtype:
        return DType.parse(b.mac_dtype)
    for d in _WIDTH_ORDER:
        if unit_peaks.get(d, 0.0) > 0:
            return d
    return next(iter(unit_peaks), None)


def _is_dram(m: MemoryLevel) -> bool:
    return m.external or m.name.lower().startswith(_DRAM_PREFIXES)


def chip_area(chip: Chip) -> AreaBreakdown:
    """Area by component of `chip` (see module doc); `reason` set when not derivable."""
    b = chip.build
    if b is None:
        return AreaBreakdown(reason="no `build:` block in the spec (die content unknown)")
    node = node_of(chip)
    if not chip.process_nm:
        return AreaBreakdown(reason="no process_nm in the spec")
    if node is None:
        known = ", ".join(tables().nodes)
        return AreaBreakdown(reason=f"process node {chip.process_nm:g} nm is not tabulated "
                             f"(hwmodels/data/process_nodes.yaml has {known})")
    c = tables().components
    parts: dict[str, float] = {}
    clock = chip.clock_hz
    matrix = chip.unit(UnitType.MATRIX)
    enabled = matrix.count if matrix is not None else 1
    # a what-if that enables more engines than the die held puts them on the die
    on_die = max(b.units_on_die, enabled)
    spare = on_die / enabled
    unit_mm2 = 0.0
    cim = chip.params if isinstance(chip.params, CimParams) else None
    if matrix is not None and cim is None:
        d = _mac_dtype(chip, matrix.peak_flops)
        if d is not None and matrix.peak(d) > 0:
            macs = matrix.peak(d) / clock / 2.0 * spare
            parts["matrix"] = macs * mac_area_um2(d, node) / UM2_PER_MM2
            unit_mm2 += parts["matrix"] / on_die
            if d in _INT_DTYPES:
                # float products built on the integer array (Groq MXM: fp16 at 1/4 rate);
                # the widest float's logic serves the narrower ones
                extra = max((matrix.peak(f) / clock / 2.0 * spare * x
                             for f in matrix.peak_flops if f not in _INT_DTYPES
                             and matrix.peak(f) > 0
                             and (x := float_on_int_macs(d, f)) is not None), default=0.0)
                if extra > 0:
                    parts["matrix_float"] = extra * mac_area_um2(d, node) / UM2_PER_MM2
                    unit_mm2 += parts["matrix_float"] / on_die
    vector = chip.unit(UnitType.VECTOR)
    if vector is not None:
        d = next((x for x in _WIDTH_ORDER if vector.peak(x) > 0), None)
        if d is not None:
            # one lane = one FMA per cycle of its widest datatype
            lanes = vector.peak(d) / clock / 2.0
            if matrix is not None and vector.count == matrix.count:
                lanes *= spare  # the lanes live in the same replicated engines
            parts["vector"] = lanes * mac_area_um2(d, node) / UM2_PER_MM2
            if matrix is not None and vector.count == matrix.count:
                unit_mm2 += parts["vector"] / on_die
    if chip.kind == HardwareKind.GPU:
        control_mtr = GPU_UNIT_FIXED_MTR * b.unit_schedulers
        parts["unit_control"] = on_die * control_mtr / node.logic_mtr_per_mm2
        unit_mm2 += control_mtr / node.logic_mtr_per_mm2
    array_bits = 0.0
    if cim is not None:
        cell = b.cell_um2 or node.sram_cell_um2 * float(c["cim_cell_factor"])
        array_bits = float(cim.array_cells * cim.bits_per_cell)
        eff = float(c["sram_array_efficiency"])
        parts["cim_arrays"] = cim.array_cells * cell / eff / UM2_PER_MM2
        readouts = cim.num_arrays * cim.adcs_per_array
        if cim.adc_bits > 0:
            parts["adc"] = readouts * adc_area_um2(cim.adc_bits) / UM2_PER_MM2
        else:  # digital readout: an adder tree over the rows, 1/64 of an int8 MAC per row
            parts["readout"] = (readouts * cim.array_rows * cim.bits_per_cell
                                * mac_area_um2(DType.INT8, node) / 64.0 / UM2_PER_MM2)
        parts["dac"] = (cim.num_arrays * cim.array_rows * cim.input_bits_per_cycle
                        * float(c["dac_um2_per_bit"]) / UM2_PER_MM2)
        # the harvesting unit of a CIM chip is one array with its converters
        unit_mm2 = sum(parts.get(k, 0.0) for k in ("cim_arrays", "adc", "readout", "dac")) \
            / cim.num_arrays
        on_die, enabled = cim.num_arrays, max(1, int(cim.num_arrays * cim.array_utilization))
    wafer = wafer_core_terms() if chip.kind == HardwareKind.WAFER and cim is None else None
    sram_bytes = b.sram_bytes  # declared: the physical SRAM
    if sram_bytes is None:
        on_chip = sum(m.capacity_bytes for m in chip.memory if not _is_dram(m))
        sram_bytes = max(0.0, on_chip - array_bits / BITS_PER_BYTE - b.base_sram_bytes)
        if wafer is not None:
            sram_bytes *= spare  # the memory level is the enabled cores' SRAM
    if b.sram_ecc_word_bits > 0:
        # SECDED check bits are stored beside every data word
        sram_bytes *= 1.0 + ecc_check_bits(b.sram_ecc_word_bits) / b.sram_ecc_word_bits
    if wafer is not None:
        # a core's small banks have more periphery per bit than large macros
        if sram_bytes > 0:
            parts["sram"] = (sram_bytes * BITS_PER_BYTE * node.sram_cell_um2
                             / wafer.sram_efficiency / UM2_PER_MM2)
        parts["core_control"] = on_die * wafer.control_mtr / node.logic_mtr_per_mm2
    elif sram_bytes > 0:
        parts["sram"] = sram_area_mm2(sram_bytes * BITS_PER_BYTE, node)
    if b.register_file_bytes > 0:
        parts["register_file"] = sram_area_mm2(b.register_file_bytes * BITS_PER_BYTE, node,
                                               float(c["register_file_cell_factor"]))
    base_node = node
    if b.base_dies and b.base_process_nm:
        found = tables().nodes.get(f"{b.base_process_nm:g}")
        if found is None:
            return AreaBreakdown(reason=f"base-die process node {b.base_process_nm:g} nm is "
                                 "not tabulated (hwmodels/data/process_nodes.yaml)")
        base_node = found
    # I/O and the base SRAM sit on the base dies when the package has them
    io: dict[str, float] = {} if b.base_dies else parts
    if b.base_sram_bytes > 0:
        # a memory-side cache die carries its tags, control and vias (measured LLC die)
        io["base_sram"] = (b.base_sram_bytes * BITS_PER_BYTE * base_node.sram_cell_um2
                           / llc_efficiency() / UM2_PER_MM2)
    if b.hbm_phys:
        io["hbm_phy"] = b.hbm_phys * float(c["hbm_phy_mm2"])
    if b.dram_channels:
        io["dram_phy"] = b.dram_channels * float(c["dram_channel_phy_mm2"])
    serdes = b.serdes_Bps
    if serdes is None:
        ic = chip.interconnect
        serdes = ic.links_per_chip * ic.link_bandwidth_Bps if ic is not None else 0.0
    if serdes > 0:
        io["serdes"] = (serdes * BITS_PER_BYTE / 100e9
                        * float(c["serdes_mm2_per_lane_per_100gbit"]))
    f = float(c["uncore_fraction"])
    if wafer is not None:
        # the cores fill `core_share` of their pitch; the rest is fabric, scribe and edge
        cores = sum(v for k, v in parts.items() if k != "serdes")
        parts["fabric_scribe"] = cores * (1.0 / wafer.core_share - 1.0)
        # the unit a defect disables is one core with its pitch
        unit_mm2 = (cores + parts["fabric_scribe"]) / on_die
    else:
        parts["uncore"] = sum(parts.values()) * f / (1.0 - f)
    if b.base_dies:
        io["uncore"] = sum(io.values()) * f / (1.0 - f)
        if b.base_stacked:
            # the shadow of the compute dies bonded onto a base die is their bond and
            # power-via field; the base die's cache, PHYs and SerDes sit beside it
            io["stack_footprint"] = sum(parts.values())
    return AreaBreakdown(parts, b.dies, node.name, unit_mm2, int(on_die), int(enabled),
                         base_components=io if b.base_dies else {}, base_dies=b.base_dies,
                         base_node=base_node.name if b.base_dies else "")


def fit_gpu_unit_fixed_mtr(chips: Mapping[str, Chip]) -> float:
    """Least-squares control logic per scheduler (MTr) that makes the GPU dies in `chips`
    (name -> chip, names of GPU_FIT_DIES) match their published areas: area_i = a_i + x ·
    n_i · s_i / D_i (s_i schedulers per engine), so x = Σ w_i (A_i - a_i) / Σ w_i²,
    w_i = n_i · s_i / D_i."""
    num = den = 0.0
    for name, published in GPU_FIT_DIES:
        chip = chips[name]
        br = chip_area(chip)
        node = node_of(chip)
        assert node is not None and br.derivable
        f = float(tables().components["uncore_fraction"])
        fixed = br.components["unit_control"]
        # area without the fitted term, and the weight of the term, both through the uncore
        rest = (br.compute_mm2 / br.dies - fixed / (1.0 - f)) * br.dies
        assert chip.build is not None
        w = (br.units_on_die * chip.build.unit_schedulers / node.logic_mtr_per_mm2
             / (1.0 - f))
        num += w * (published * br.dies - rest)
        den += w * w
    return num / den
