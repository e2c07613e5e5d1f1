"""Area (hwmodels/area.py), capex (hwmodels/capex.py) and load power: hand arithmetic for one
simple chip, every knob moving area and cost in its physical direction, and the published
targets (validation/datasets/area_cost_power.py)."""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
from pathlib import Path

import pytest

from infersim.hwmodels import load_hardware
from infersim.hwmodels.area import (
    GPU_FIT_DIES,
    GPU_UNIT_FIXED_MTR,
    chip_area,
    fit_gpu_unit_fixed_mtr,
)
from infersim.hwmodels.capex import (
    capex_usd,
    chip_cost,
    dies_per_wafer,
    harvest_yield,
    negative_binomial_yield,
    system_cost,
)
from infersim.hwmodels.spec import (
    Build,
    Chip,
    ComputeUnit,
    Hardware,
    HardwareKind,
    Interconnect,
    MemoryLevel,
    Power,
    TensorClass,
    Topology,
    UnitType,
)
from infersim.hwmodels.summary import cross_checks, load_power_w, physical
from infersim.workloads.dtypes import DType
from tests._support import ROOT


def _simple_chip(**build: object) -> Chip:
    """7 nm, one int8 array of 1,000 MACs at 1 GHz, 1 MB of SRAM, nothing else."""
    mac = ComputeUnit("mxu", UnitType.MATRIX, {DType.INT8: 2 * 1000 * 1e9}, 1)
    sram = MemoryLevel("sram", 1e6, 1e12, holds=frozenset(TensorClass))
    return Chip("simple", HardwareKind.LPU, 1e9, (mac,), (sram,), None, Power(10.0, 1.0),
                {DType.INT8: 1e-12}, process_nm=7, build=Build(**build))  # type: ignore[arg-type]


def test_simple_chip_area_by_hand() -> None:
    # MACs: 1,000 x 1,212 um2 (TPUv1 int8 MAC at 28 nm) x 14.4 / 91.2 (28 nm / N7 density)
    #     = 191,368 um2; SRAM: 8e6 bits x 0.027 um2 / 0.7 = 308,571 um2; uncore 15%:
    # (0.191368 + 0.308571) / 0.85 = 0.588164 mm2
    a = chip_area(_simple_chip())
    assert a.components["matrix"] == pytest.approx(0.191368, rel=1e-5)
    assert a.components["sram"] == pytest.approx(0.308571, rel=1e-5)
    assert a.die_mm2 == pytest.approx(0.588164, rel=1e-5)


def test_float_products_on_an_int8_array_by_hand() -> None:
    from infersim.hwmodels.area import float_on_int_macs

    # Horowitz 45 nm: an fp16 product on int8 multipliers takes ceil(11/8)² = 4 of them and
    # adds the rest of the fp16 multiplier, 1,640 - 4 x 282 = 512 um², over an int8 MAC
    # (8b mult 282 + 32b add 137 = 419 um²); fp32: ceil(24/8)² = 9, 7,700 - 2,538 = 5,162
    assert float_on_int_macs(DType.INT8, DType.FP16) == pytest.approx(512 / 419)
    assert float_on_int_macs(DType.INT8, DType.FP32) == pytest.approx(5162 / 419)
    assert float_on_int_macs(DType.INT8, DType.BF16) is None  # not tabulated
    # the simple chip's int8 array also running fp16 at 1/4 rate: 250 fp16 products x
    # 512/419 x 191.368 um² (an int8 MAC at N7) = 58,461 um² more, and 15% uncore on it
    chip = _simple_chip(mac_dtype="int8")
    mac = dataclasses.replace(chip.compute[0],
                              peak_flops={DType.INT8: 2e12, DType.FP16: 0.5e12})
    a = chip_area(dataclasses.replace(chip, compute=(mac,)))
    assert a.components["matrix_float"] == pytest.approx(0.058461, rel=1e-4)
    assert a.die_mm2 == pytest.approx(0.588164 + 0.058461 / 0.85, rel=1e-4)
    # an fp16-built array (the widest listed, no mac_dtype) runs int8 on it: nothing added
    plain = _simple_chip()
    fp_built = chip_area(dataclasses.replace(plain, compute=(mac,)))
    assert "matrix_float" not in fp_built.components


def test_sram_ecc_check_bits_by_hand() -> None:
    from infersim.hwmodels.area import ecc_check_bits

    # textbook SECDED codes: (13,8), (39,32), (72,64), (137,128)
    assert [ecc_check_bits(w) for w in (8, 32, 64, 128)] == [5, 7, 8, 9]
    # the simple chip's 1 MB SRAM with a 9-bit code per 128-bit word: 0.308571 x 137/128
    a = chip_area(_simple_chip(sram_ecc_word_bits=128))
    assert a.components["sram"] == pytest.approx(0.330267, rel=1e-5)
    # direction: ECC adds area, and a narrower protected word adds more (more bits per bit)
    srams = [chip_area(_simple_chip(sram_ecc_word_bits=w)).components["sram"]
             for w in (0, 256, 128, 64, 32)]
    assert srams == sorted(srams) and len(set(srams)) == len(srams)


def test_groq_tsp_components_by_hand() -> None:
    a = chip_area(load_hardware("groq-lpu").chip)
    # fp16 on the MXM at 1/4 of 409,600 int8 MACs: 102,400 x 512/419 x 1,212 um² x 14.4/30.6
    assert a.components["matrix_float"] == pytest.approx(71.367, rel=1e-4)
    # 220 MiB x 8 bit x 137/128 (SECDED) x 0.064 um² (14 nm HD cell) / 0.7
    assert a.components["sram"] == pytest.approx(180.595, rel=1e-4)


def test_simple_chip_cost_by_hand() -> None:
    chip = _simple_chip(package="organic", gross_margin=0.5)
    c = chip_cost(chip)
    # dies: pi 150^2 / A - pi 300 / sqrt(2 A), A = 0.588164 mm2
    a = 0.588164
    n = math.floor(math.pi * 22500 / a - math.pi * 300 / math.sqrt(2 * a))
    assert c.dies_per_wafer == n
    # critical area = die - the one engine (matrix + its share of nothing) - SRAM
    crit = a - 0.191368 - 0.308571
    y = (1 + crit / 100 * 0.09 / 3) ** -3 * (1 + 0.191368 / 100 * 0.09 / 3) ** -3
    assert c.die_yield == pytest.approx(y, rel=1e-4)
    kgd = 9346 / (n * y)
    package = 0.1 * a + 30
    test = 0.05 * (kgd + package)
    board = 0.5 * 10.0
    assert c.build_usd == pytest.approx(kgd + package + test + board, rel=1e-4)
    assert c.price_usd == pytest.approx(2 * c.build_usd)


def test_wafer_formulas_by_hand() -> None:
    # 100 mm2: pi 22500/100 - pi 300/sqrt(200) = 706.86 - 66.64 = 640.2
    assert dies_per_wafer(100.0) == 640
    # 1 cm2 at 0.1 /cm2, alpha 3: (1 + 0.1/3)^-3 = 0.90631
    assert negative_binomial_yield(100.0, 0.1, 3.0) == pytest.approx(0.906314, rel=1e-5)
    # 2 of 3 engines good, each 0.9: 0.9^3 + 3 x 0.9^2 x 0.1 = 0.972
    assert harvest_yield(0.9, 3, 2) == pytest.approx(0.972)
    assert harvest_yield(0.9, 3, 3) == pytest.approx(0.729)


def test_yield_falls_with_die_area() -> None:
    ys = [negative_binomial_yield(a, 0.09, 3.0) for a in (50, 100, 200, 400, 800)]
    assert all(b < a for a, b in itertools.pairwise(ys))
    assert dies_per_wafer(800) < dies_per_wafer(400)


def _area_cost(name: str, **overrides: object) -> tuple[float, float]:
    hw = load_hardware(name, overrides or None)
    return chip_area(hw.chip).total_mm2, chip_cost(hw.chip).build_usd


@pytest.mark.parametrize("name,field,lo,hi", [
    ("h100-sxm", "build.sram_mb", 60, 120),  # more SRAM
    ("h100-sxm", "build.units_on_die", 144, 160),  # more SMs on the die
    ("h100-sxm", "build.hbm_phys", 5, 6),  # more HBM stacks
    ("mi300x", "build.unit_schedulers", 1, 2),  # more schedulers per CU
    ("sram-cim", "cim.adc_bits", 4, 6),  # wider ADCs (area ~2^bits)
    ("sram-cim", "cim.adcs_per_array", 32, 64),  # more ADCs per array
    ("sram-cim", "cim.num_arrays", 8192, 16384),  # more arrays
])
def test_every_knob_moves_area_and_cost_up(name: str, field: str, lo: float, hi: float) -> None:
    a0, c0 = _area_cost(name, **{field: lo})
    a1, c1 = _area_cost(name, **{field: hi})
    assert a1 > a0 and c1 > c0, (field, a0, a1, c0, c1)


def test_more_matrix_units_cost_area() -> None:
    chip = load_hardware("groq-lpu").chip
    mxm = chip.compute[0]
    bigger = dataclasses.replace(mxm, peak_flops={d: 2 * v for d, v in mxm.peak_flops.items()},
                                 count=8)
    chip2 = dataclasses.replace(chip, compute=(bigger, *chip.compute[1:]),
                                build=dataclasses.replace(chip.build, units_on_die=8))
    assert chip_area(chip2).total_mm2 > chip_area(chip).total_mm2
    assert chip_cost(chip2).build_usd > chip_cost(chip).build_usd


def test_smaller_node_means_less_area() -> None:
    areas = [chip_area(load_hardware("h100-sxm", {"process_nm": nm}).chip).total_mm2
             for nm in (7, 5, 3)]
    assert areas[0] > areas[1] > areas[2]


def test_adc_count_costs_static_power() -> None:
    lo = load_hardware("sram-cim", {"cim.adc_static_w": 1e-5, "cim.adcs_per_array": 32})
    hi = load_hardware("sram-cim", {"cim.adc_static_w": 1e-5, "cim.adcs_per_array": 64})
    # 16,384 arrays x 32 more ADCs x 10 uW = 5.24 W more at load
    assert load_power_w(hi.chip)[0] - load_power_w(lo.chip)[0] == pytest.approx(
        16384 * 32 * 1e-5)


def test_load_power_by_hand() -> None:
    # idle 1 W + int8 2e12 FLOP/s x 1 pJ = 3 W; SRAM main memory adds nothing
    chip = _simple_chip()
    assert load_power_w(chip)[0] == pytest.approx(3.0)
    # 4 links x 10 GB/s x 8 bit x 2 pJ/bit = 0.64 W more
    links = Interconnect(Topology.RING, 4, 10e9, 1e-6, 2e-12)
    assert load_power_w(dataclasses.replace(chip, interconnect=links))[0] == pytest.approx(3.64)
    # a power cap throttles the demand to it; a GPU is held at its TDP, an LPU is not
    capped = dataclasses.replace(chip, power=Power(10.0, 1.0, cap_w=2.5))
    assert load_power_w(capped)[0] == pytest.approx(2.5)
    small_tdp = Power(2.0, 1.0)
    gpu = dataclasses.replace(chip, kind=HardwareKind.GPU, power=small_tdp)
    assert load_power_w(gpu)[0] == pytest.approx(2.0) and "power-limited" in load_power_w(gpu)[1]
    assert load_power_w(dataclasses.replace(chip, power=small_tdp))[0] == pytest.approx(3.0)


def test_gpu_control_constant_is_the_fit() -> None:
    chips = {n: load_hardware(n).chip for n, _ in GPU_FIT_DIES}
    assert fit_gpu_unit_fixed_mtr(chips) == pytest.approx(GPU_UNIT_FIXED_MTR, rel=0.01)


def test_llc_efficiency_by_hand() -> None:
    from infersim.hwmodels.area import llc_efficiency

    # AMD V-Cache die: 64 MiB of L3 at the N7 0.027 um² cell in 41 mm²
    assert llc_efficiency() == pytest.approx(64 * 2**20 * 8 * 0.027 / 41e6, rel=1e-9)


def test_gpu_control_scales_with_schedulers() -> None:
    # an MI300X XCD: 40 CUs at N5 (171.3 MTr/mm²), each with 1 instruction scheduler,
    # carry 40 x 1 x 32.88 / 171.3 = 7.678 mm² of control; at an SM's 4 schedulers, 4x that
    mi = load_hardware("mi300x").chip
    xcd = chip_area(mi).components["unit_control"] / 8
    assert xcd == pytest.approx(40 * 32.88 / 171.3, rel=1e-3)
    four = load_hardware("mi300x", {"build.unit_schedulers": 4}).chip
    assert chip_area(four).components["unit_control"] / 8 == pytest.approx(4 * xcd)
    assert chip_area(four).die_mm2 > chip_area(mi).die_mm2


def test_bad_scheduler_count_is_one_clear_error() -> None:
    from infersim.foundation.errors import SpecError

    with pytest.raises(SpecError, match=r"build\.unit_schedulers"):
        load_hardware("mi300x", {"build.unit_schedulers": -1})
    with pytest.raises(SpecError, match=r"build\.sram_ecc_word_bits"):
        load_hardware("groq-lpu", {"build.sram_ecc_word_bits": -128})


def test_not_derivable_without_build_block() -> None:
    h100 = load_hardware("h100-sxm")
    hw = dataclasses.replace(h100, chip=dataclasses.replace(h100.chip, build=None))
    phys = physical(hw)
    assert math.isnan(phys["area.die"][0]) and "build" in phys["area.die"][2]
    assert math.isnan(phys["cost.system"][0])
    # economics falls back to the declared price
    assert capex_usd(hw) == hw.total_price_usd == 30000


def test_economics_uses_the_derived_price() -> None:
    hw = load_hardware("dgx-h100")
    sc = system_cost(hw)
    assert capex_usd(hw) == pytest.approx(sc.price_usd)
    # system = 8 x chip price + host / (1 - 0.2)
    assert sc.price_usd == pytest.approx(8 * sc.chip.price_usd + 66000 / 0.8)
    assert capex_usd(hw) != hw.total_price_usd


def test_wafer_reports_the_wafer_and_its_components() -> None:
    phys = physical(load_hardware("cs-3"))
    assert phys["area.die"][0] == 46225
    assert phys["area.components"][0] > 0


def test_hw_show_json_and_validate_warnings(capsys: pytest.CaptureFixture[str],
                                            tmp_path: Path) -> None:
    from infersim.cli import main

    assert main(["hw", "show", "h100-sxm", "--json"]) == 0
    der = json.loads(capsys.readouterr().out)["derived"]
    for key, unit in (("area.die", "mm²"), ("cost.chip", "USD"), ("cost.system", "USD"),
                      ("power.load", "W")):
        assert der[key]["unit"] == unit and der[key]["value"] > 0 and der[key]["source"]
    spec = (ROOT / "hwmodels/specs/groq-lpu.yaml").read_text()
    assert "area_mm2: 725\n" in spec
    wrong = tmp_path / "groq-lpu.yaml"
    wrong.write_text(spec.replace("area_mm2: 725\n", "area_mm2: 900\n"))
    assert main(["hw", "validate", str(wrong)]) == 0
    out = capsys.readouterr().out
    assert "warning: area_mm2: declared 900" in out
    assert main(["hw", "validate", str(ROOT / "hwmodels/specs/groq-lpu.yaml")]) == 0
    assert "area_mm2" not in capsys.readouterr().out  # derived 680 mm², within 10%


def test_cross_check_tolerances() -> None:
    hw = load_hardware("h100-sxm")
    assert not any("area_mm2" in w for w in cross_checks(hw))  # 804 vs 814 mm2
    assert any("area_mm2" in w for w in cross_checks(hw, area_tol=0.001))


def test_published_targets() -> None:
    from infersim.validation.datasets import area_cost_power as ds

    data = ds.rows()
    err = {(r["group"], r["case"]): r["predicted"] / r["measured"] - 1 for r in data}
    # the fitted GPU dies and the held-out Blackwell and Groq dies within 10%
    for case in ("a100-sxm-80gb", "h100-sxm", "b200", "groq-lpu"):
        assert abs(err[("die area", case)]) < 0.10, case
    # both MI300X die types are graded (held out: nothing was fitted on AMD dies)
    assert math.isfinite(err[("die area", "mi300x-xcd")])
    assert math.isfinite(err[("die area", "mi300x-iod")])
    # held-out system prices within 25% where the model has the die and host content
    for case in ("dgx-a100", "dgx-h100", "hgx-b200", "mi300x"):
        assert abs(err[("system price", case)]) < 0.25, case
    # every load-power row within 15%: the GPUs held at their limits by their demand
    # (L2 and HBM streams included), the SRAM machines with their SRAM streams
    g = ds.grade(data)
    assert g["load power"]["met"] and g["load power"]["compared"] == len(ds.POWERS)
    assert g["die area"]["compared"] == len(ds.DIE_AREAS)
    assert set(g["die area"]["within"]) >= {"a100-sxm-80gb", "h100-sxm", "b200", "groq-lpu"}


def test_every_hbm_stack_on_the_package_is_bought() -> None:
    from infersim.hwmodels.area import tables

    usd = tables().cost["hbm_usd_per_gb"]
    # H100: six 16 GiB (17.18 GB) stacks on the package, five enabled for 85.52 GB usable
    # (81559 MiB): 6 x 17.18 = 103.08 GB bought
    h100 = chip_cost(load_hardware("h100-sxm").chip)
    assert h100.items["memory"] == pytest.approx(6 * 17.18 * usd, rel=1e-6)
    # without the stack size only the usable 85.52 GB is counted, and the price falls
    usable = chip_cost(load_hardware("h100-sxm", {"build.hbm_stack_gb": 0}).chip)
    assert usable.items["memory"] == pytest.approx(h100.items["memory"] * 85.52 / (6 * 17.18), rel=1e-6)
    assert usable.price_usd < h100.price_usd
    # a what-if with more usable HBM than the stacks hold buys bigger stacks
    big = chip_cost(load_hardware("h100-sxm", {"memory.hbm.capacity_gb": 160}).chip)
    assert big.items["memory"] == pytest.approx(160 * usd, rel=1e-6)


def test_process_nodes_have_sources() -> None:
    from infersim.hwmodels.area import tables

    t = tables()
    for name in t.nodes:
        for f in ("logic_mtr_per_mm2", "sram_cell_um2", "wafer_usd", "d0_per_cm2", "alpha",
                  "design_musd"):
            assert t.sources.get(f"nodes.{name}.{f}"), (name, f)
    for k in t.components:
        assert t.sources.get(f"components.{k}"), k
    for k in t.cost:
        assert t.sources.get(f"cost.{k}"), k


def test_hardware_helper_builds_a_host() -> None:
    hw = Hardware("x", load_hardware("a100-sxm-80gb").chip, 8, host_usd=1000.0)
    sc = system_cost(hw)
    assert sc.price_usd == pytest.approx(8 * sc.chip.price_usd + 1000.0 / 0.8)


def test_fewer_engines_on_die_than_enabled_is_a_clear_error() -> None:
    from infersim.foundation.errors import SpecError

    with pytest.raises(SpecError, match="units_on_die"):
        load_hardware("h100-sxm", {"build.units_on_die": 100})


def test_sram_read_energy_by_hand() -> None:
    from infersim.hwmodels.power import sram_read_energy_j_per_bit

    # 64 KiB bank at 14 nm: 0.16 pJ x sqrt(64/8) x sqrt(0.064/0.346) x (0.80/0.90)^2
    #   = 0.16 x 2.8284 x 0.43009 x 0.79012 = 0.15379 pJ/bit
    assert sram_read_energy_j_per_bit(65536, 14) == pytest.approx(0.15379e-12, rel=1e-4)
    # 6 KiB bank at 5 nm: 0.16 x 0.86603 x 0.24636 x 0.69444 = 0.023706 pJ/bit
    assert sram_read_energy_j_per_bit(6144, 5) == pytest.approx(0.023706e-12, rel=1e-4)


def test_sram_bank_scaling_reproduces_horowitz_larger_banks() -> None:
    from infersim.hwmodels.power import sram_read_energy_j_per_bit

    # The anchor is Horowitz's 8 KB read (10 pJ per 64 bits); his 32 KB (~20 pJ) and 1 MB
    # (~100 pJ) reads are data the sqrt(size) rule was not set on: within 15% of both.
    e8 = sram_read_energy_j_per_bit(8 * 1024, 7)
    assert sram_read_energy_j_per_bit(32 * 1024, 7) / e8 == pytest.approx(20 / 10, rel=0.15)
    assert sram_read_energy_j_per_bit(1024 * 1024, 7) / e8 == pytest.approx(100 / 10, rel=0.15)


def test_sram_energy_moves_with_bank_and_node() -> None:
    from infersim.hwmodels.power import sram_read_energy_j_per_bit

    banks = [sram_read_energy_j_per_bit(b, 7) for b in (2048, 8192, 65536, 1 << 20)]
    assert all(b > a for a, b in itertools.pairwise(banks))  # longer lines, more charge
    nodes = [sram_read_energy_j_per_bit(8192, nm) for nm in (28, 14, 7, 5)]
    assert all(b < a for a, b in itertools.pairwise(nodes))  # smaller cells, lower voltage
    with pytest.raises(ValueError):
        sram_read_energy_j_per_bit(0, 7)


@pytest.mark.parametrize("name,bank,nm", [("groq-lpu", 65536, 14), ("cs-3", 6144, 5)])
def test_sram_machine_energies_are_the_bank_model(name: str, bank: int, nm: float) -> None:
    from infersim.hwmodels.power import sram_read_energy_j_per_bit

    sram = load_hardware(name).chip.main_memory
    assert sram.energy_j_per_bit == pytest.approx(sram_read_energy_j_per_bit(bank, nm),
                                                  rel=0.01)


def test_load_power_counts_on_chip_sram_streams_by_hand() -> None:
    chip = _simple_chip()
    sram = dataclasses.replace(chip.memory[0], energy_j_per_bit=0.1e-12)
    # idle 1 W + int8 2e12 FLOP/s x 1 pJ = 3 W, + 1e12 B/s x 8 bit x 0.1 pJ/bit = 0.8 W
    w, how = load_power_w(dataclasses.replace(chip, memory=(sram,)))
    assert w == pytest.approx(3.8) and "on-chip SRAM (sram)" in how
    # a CIM chip's weight arrays are its compute: their reads are not a second stream
    base = load_power_w(load_hardware("sram-cim").chip)[0]
    arrays = load_power_w(load_hardware(
        "sram-cim", {"memory.cim_arrays.energy_pj_per_bit": 0.1}).chip)[0]
    buffer = load_power_w(load_hardware(
        "sram-cim", {"memory.buffer.energy_pj_per_bit": 0.5}).chip)[0]
    assert arrays == pytest.approx(base)
    # the buffer streams 16 TB/s: 0.25 -> 0.5 pJ/bit adds 16e12 x 8 x 0.25e-12 = 32 W
    assert buffer - base == pytest.approx(32.0)


def _chiplet(**build: object) -> Chip:
    """The simple chip (0.588164 mm² compute die, its 1 MB SRAM kept) on two 7 nm base dies
    with 1 MB more SRAM (without `sram_bytes` the base SRAM is taken out of the chip's
    on-chip levels)."""
    return _simple_chip(base_dies=2, base_process_nm=7, base_sram_bytes=1e6, sram_bytes=1e6,
                        **build)


def test_base_dies_by_hand() -> None:
    # base: 1 MB of cache at the V-Cache bit-cell share (64 MiB x 8 x 0.027 um² / 41 mm² =
    # 0.353549): 8e6 x 0.027 / 0.353549 = 0.610948 mm² + one HBM PHY 11 mm², uncore 15%:
    # 11.610948 / 0.85 = 13.659939 mm² over 2 base dies; the compute die keeps its 0.588164
    a = chip_area(_chiplet(hbm_phys=1))
    assert a.die_mm2 == pytest.approx(0.588164, rel=1e-5)
    assert a.base_die_mm2 == pytest.approx(13.659939 / 2, rel=1e-5)
    assert a.total_mm2 == pytest.approx(0.588164 + 13.659939, rel=1e-5)
    assert "hbm_phy" not in a.components
    # without sram_bytes, the base SRAM is the part of the on-chip 1 MB level it holds
    assert "sram" not in chip_area(_simple_chip(base_dies=2, base_sram_bytes=1e6)).components
    # the same cache alone is 0.610948 / 0.85 = 0.718762 mm²; stacked, the base dies also
    # hold the 0.588164 mm² footprint of the compute die bonded onto them
    flat = chip_area(_chiplet())
    stacked = chip_area(_chiplet(base_stacked=True))
    assert flat.base_die_mm2 == pytest.approx(0.718762 / 2, rel=1e-5)
    assert stacked.base_die_mm2 == pytest.approx((0.718762 + 0.588164) / 2, rel=1e-5)
    # base dies are silicon to buy and one more design to pay for
    plain = chip_cost(_simple_chip(package="organic", volume=1000))
    chiplet = chip_cost(_chiplet(package="organic", volume=1000))
    assert chiplet.items["base_dies"] > 0
    assert chiplet.items["design_nre"] == pytest.approx(2 * plain.items["design_nre"])


def test_base_die_knobs_move_area_and_cost() -> None:
    flat = {"build.base_stacked": False}
    a0, c0 = _area_cost("mi300x", **flat, **{"build.base_sram_mb": 128})
    a1, c1 = _area_cost("mi300x", **flat, **{"build.base_sram_mb": 512})
    assert a1 > a0 and c1 > c0
    n6 = chip_area(load_hardware("mi300x", flat).chip).base_die_mm2
    n16 = chip_area(load_hardware("mi300x", {**flat, "build.base_process_nm": 16}).chip)
    assert n16.base_die_mm2 > n6  # a coarser node holds the same cache in more area
    # an IOD: the footprint of its two XCDs beside 64 MB of Infinity Cache at the V-Cache
    # share (512e6 x 0.027 / 0.353549 = 39.10 mm²), two HBM PHYs (22 mm²) and a quarter of
    # 512 GB/s of SerDes (1,024 Gb/s x 0.45 / 100 = 4.608 mm²), with 15% uncore
    mi = chip_area(load_hardware("mi300x").chip)
    own = (64e6 * 8 * 0.027 / 0.353549 / 1e6 + 22.0 + 4.608) / 0.85
    assert mi.base_die_mm2 == pytest.approx(2 * mi.die_mm2 + own, rel=1e-4)


@pytest.mark.parametrize("overrides,field", [
    ({"build.hbm_stack_gb": 8}, "build.hbm_stack_gb"),  # 6 x 8 GB < the 80 GB usable
    ({"build.base_sram_mb": 64}, "build.base_sram_mb"),  # base SRAM without base dies
    ({"build.base_stacked": True}, "build.base_stacked"),
])
def test_inconsistent_build_fields_are_one_clear_error(overrides: dict[str, object],
                                                       field: str) -> None:
    from infersim.foundation.errors import SpecError

    with pytest.raises(SpecError, match=field):
        load_hardware("h100-sxm", overrides)


def test_wafer_core_terms_by_hand() -> None:
    from infersim.hwmodels.area import wafer_core_terms

    # WSE-2 core at N7 (Hot Chips 34): 38,000 um², half SRAM, 48 KiB, 4 fp16 FMACs
    fmac_n7 = 1212 * 13.9 * 14.4 / 91.2  # TPUv1 MAC x fp16/int8 area x 28 nm / N7 density
    t = wafer_core_terms()
    assert t.sram_efficiency == pytest.approx(49152 * 8 * 0.027 / 19000, rel=1e-9)  # 0.5588
    assert t.control_mtr == pytest.approx((19000 - 4 * fmac_n7) * 91.2e-6, rel=1e-9)  # 0.762
    # pitch of a physical core: 46,225 mm² / (850,000 / 0.9875) = 53,703 um² (WSE-1's
    # 1-1.5% spare cores, middle), so the core fills 0.7076 of it
    assert t.core_share == pytest.approx(38000 / (46225e6 * 0.9875 / 850000), rel=1e-9)


def test_wafer_area_by_hand() -> None:
    # WSE-3 at N5: 970,000 physical cores (900,000 enabled), 8 fp16 FMACs and 48 KiB each
    fmac_n7 = 1212 * 13.9 * 14.4 / 91.2
    fmac_n5 = 1212 * 13.9 * 14.4 / 171.3
    eff = 49152 * 8 * 0.027 / 19000
    control_mtr = (19000 - 4 * fmac_n7) * 91.2e-6
    matrix = 970000 * 8 * fmac_n5 / 1e6
    sram = 44e9 * 970 / 900 * 8 * 0.021 / eff / 1e6
    control = 970000 * control_mtr / 171.3
    cores = matrix + sram + control
    pitch_share = 38000 / (46225e6 * 0.9875 / 850000)
    a = chip_area(load_hardware("cs-3").chip)
    assert a.components["matrix"] == pytest.approx(matrix, rel=1e-6)
    assert a.components["sram"] == pytest.approx(sram, rel=1e-6)
    assert a.components["core_control"] == pytest.approx(control, rel=1e-6)
    assert a.components["fabric_scribe"] == pytest.approx(cores * (1 / pitch_share - 1),
                                                          rel=1e-6)
    assert "uncore" not in a.components  # the measured pitch holds it
    # a disabled core takes its whole pitch with it
    assert a.unit_mm2 == pytest.approx(cores / pitch_share / 970000, rel=1e-6)


def test_wafer_reference_core_round_trips() -> None:
    # WSE-2 built from its own facts (N7, 850,000 enabled cores of 4 FMACs, 48 KiB each,
    # 850,000 / 0.9875 physical) fills its 46,225 mm² wafer: the per-core terms reproduce the
    # measured core they come from
    wse2 = load_hardware("cs-3", {
        "process_nm": 7, "compute.pe.count": 850000, "wafer.cores": 850000,
        "compute.pe.peak_pflops": {"fp16": 7.48, "bf16": 7.48},
        "compute.pe.flop_per_cycle": {"fp16": 8, "bf16": 8},
        "memory.sram.capacity_gb": 850000 * 49152 / 1e9, "build.units_on_die": 860759})
    a = chip_area(wse2.chip)
    assert a.total_mm2 - a.components["serdes"] == pytest.approx(46225, rel=1e-5)


@pytest.mark.parametrize("field,lo,hi", [
    ("memory.sram.capacity_gb", 44, 60),  # more SRAM per core
    ("build.units_on_die", 930000, 970000),  # more physical (spare) cores
    ("process_nm", 5, 7),  # a coarser node
])
def test_wafer_knobs_move_area_up(field: str, lo: float, hi: float) -> None:
    a0 = chip_area(load_hardware("cs-3", {field: lo}).chip).total_mm2
    a1 = chip_area(load_hardware("cs-3", {field: hi}).chip).total_mm2
    assert a1 > a0, (field, a0, a1)


def test_wafer_declared_sram_is_physical() -> None:
    # the memory level holds the 900,000 enabled cores' SRAM; a declared build SRAM is the
    # physical SRAM of all 970,000 cores, so 44 GB x 970 / 900 declared is the same wafer
    derived = chip_area(load_hardware("cs-3").chip)
    declared = chip_area(load_hardware("cs-3", {"build.sram_gb": 44 * 970 / 900}).chip)
    assert declared.components["sram"] == pytest.approx(derived.components["sram"], rel=1e-9)


def test_bad_wafer_reference_core_is_one_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from infersim.foundation.errors import InputError
    from infersim.hwmodels import area

    t = area.tables()
    # a reference core whose logic half cannot hold its own 4 FMACs
    bad = dataclasses.replace(t, components={**t.components, "wafer_ref_core_um2": 20000})
    monkeypatch.setattr(area, "tables", lambda: bad)
    area.wafer_core_terms.cache_clear()
    try:
        with pytest.raises(InputError, match="wafer_ref_core_um2"):
            area.wafer_core_terms()
    finally:
        area.wafer_core_terms.cache_clear()


def test_a_price_range_is_graded_against_its_nearest_point() -> None:
    from infersim.validation.datasets.area_cost_power import PRICES, graded_price, rows

    assert graded_price(2.5e6, 2e6, 3e6) == 2.5e6  # inside: no error
    assert graded_price(1.5e6, 2e6, 3e6) == 2e6  # below: the low end, -25%
    assert graded_price(4e6, 2e6, 3e6) == 3e6  # above: the high end
    assert graded_price(7.0, 5.0, 5.0) == 5.0  # one published figure
    with pytest.raises(ValueError):
        graded_price(1.0, 3.0, 2.0)
    # every row's measured value is a point of its published range
    spans = {name: (lo, hi) for name, lo, hi, _ in PRICES}
    for r in rows():
        if r["group"] == "system price":
            lo, hi = spans[r["case"]]
            assert lo <= r["measured"] <= hi, r["case"]


def test_break_even_volume_prices_the_chip_at_the_target() -> None:
    from infersim.hwmodels.capex import break_even_volume, system_cost

    # one die type (Groq) and compute + base dies, each with its own design cost (MI300X)
    for name, target in (("groq-lpu", 20_000.0), ("mi300x", 20_000.0)):
        hw = load_hardware(name)
        vol = break_even_volume(hw.chip, target)
        # the design cost recovered over that many chips prices one at the target (volume is
        # an integer count: within one chip's share of the NRE)
        at = system_cost(load_hardware(name, {"build.volume": round(vol)}))
        assert at.chip.price_usd == pytest.approx(target, rel=1e-3), name
        # fewer chips to recover the design over: a dearer chip
        assert break_even_volume(hw.chip, 2 * target) < vol, name
        # a price below the build without NRE is reached by no volume
        assert math.isnan(break_even_volume(hw.chip, 100.0)), name
