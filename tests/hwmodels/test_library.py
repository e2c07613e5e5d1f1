"""The shipped spec library: every file loads strictly, and derived figures match datasheet
arithmetic done by hand here (reference: /work/shared/reference/hardware-and-published-results.md)."""

from __future__ import annotations

import math

import pytest

from infersim.foundation.errors import SpecError
from infersim.foundation.yaml import load_document
from infersim.hwmodels import load_hardware
from infersim.hwmodels.capacity import check_capacity
from infersim.hwmodels.loader import SPEC_DIR, list_hardware, load_hardware_text
from infersim.hwmodels.summary import derived
from infersim.workloads.dtypes import DType
from tests._support import ROOT, SPECS

REQUIRED = {"a100-sxm-80gb", "h100-sxm", "h200-sxm", "b200", "mi300x", "cs-3", "groq-lpu",
            "corsair", "mythic-m1076", "sram-cim", "rram-cim", "cpu-host", "dgx-h100",
            "dgx-h200", "cs-3x4", "groq-576", "corsair-8"}


def test_library_has_the_required_specs():
    names = set(list_hardware())
    assert names >= REQUIRED, REQUIRED - names
    assert len(names) >= 14


@pytest.mark.parametrize("path", SPECS, ids=lambda p: p.stem)
def test_every_shipped_spec_loads_and_is_named_after_its_file(path):
    hw = load_hardware(path)
    assert hw.name == path.stem
    assert path.stem == path.stem.lower() and " " not in path.stem


@pytest.mark.parametrize("path", SPECS, ids=lambda p: p.stem)
def test_every_spec_opens_with_a_comment_block(path):
    lines = path.read_text().splitlines()
    head = []
    for line in lines:
        if not line.startswith("#"):
            break
        head.append(line)
    assert len(head) >= 3, f"{path.name}: start with a comment block (decisions, omissions)"
    assert any("Omitted" in h or "omitted" in h for h in head), path.name


@pytest.mark.parametrize("path", SPECS, ids=lambda p: p.stem)
def test_dynamic_energy_per_flop_is_below_the_tdp_ceiling(path):
    """Reference §4.1: energy/op above TDP/peak at full utilization means a wrong model."""
    chip = load_hardware(path).chip
    for dtype, e in chip.mac_energy_j.items():
        peak = chip.peak_flops(dtype)
        if peak > 0:
            assert e <= chip.power.tdp_w / peak, (path.stem, dtype)
    for unit in chip.compute:
        for dtype, e in unit.energy_j_per_flop.items():
            assert unit.peak(dtype) > 0, (path.stem, unit.name, dtype)
            assert e <= chip.power.tdp_w / unit.peak(dtype), (path.stem, unit.name, dtype)


def test_every_yaml_file_in_the_repo_loads_with_the_strict_loader():
    files = [p for p in ROOT.rglob("*.y*ml")
             if p.suffix in (".yaml", ".yml")
             and not any(part.startswith(".") for part in p.relative_to(ROOT).parts)]
    assert len(files) >= len(SPECS)
    for p in files:
        load_document(p.read_text(encoding="utf-8"), str(p))  # raises on any problem


def test_strict_loader_rejects_duplicate_keys_and_reads_exponent_floats():
    with pytest.raises(SpecError, match=r"line 4: b\.c: duplicate key 'c'"):
        load_document("a: 1\nb:\n  c: 2\n  c: 3\n", "x.yaml")
    doc = load_document("x: 1e9\ny: 2.5e-6\nz: yes", "x.yaml")
    assert doc.data == {"x": 1e9, "y": 2.5e-6, "z": "yes"}


# ---- derived figures vs datasheet arithmetic ------------------------------------------------

def test_h100_ridge_point_bf16():
    # 132 SM x 4,096 bf16 FLOP/cycle x 1.83 GHz (= the 989.4 TFLOPS datasheet peak) / 3.35 TB/s
    # HBM3 (NVIDIA H100 page and Hopper whitepaper)
    expected = 132 * 4096 * 1.83e9 / 3.35e12  # = 295.3 FLOP/B
    assert derived(load_hardware("h100-sxm"))["ridge.bf16.hbm"][0] == pytest.approx(expected)
    assert expected == pytest.approx(989.4e12 / 3.35e12, rel=1e-4)


def test_h200_ridge_point_bf16():
    # same compute as H100, 4.8 TB/s HBM3e (NVIDIA H200 page)
    expected = 132 * 4096 * 1.83e9 / 4.8e12  # = 206.1 FLOP/B
    assert derived(load_hardware("h200-sxm"))["ridge.bf16.hbm"][0] == pytest.approx(expected)


def test_groq_chips_needed_for_llama_3_1_70b_at_8_bits(groq_lpu):
    # 70.6 B parameters x 1 byte; Groq SRAM is 220 MiB = 230.7 MB per chip (ISCA'22)
    need = 70.6e9
    sram = 220 * 2**20
    expected = math.ceil(need / sram)
    assert expected == 307  # also ceil(70.6e9 / 230e6) = 307
    inf = check_capacity(groq_lpu, need, 0.0, weight_bits=8)
    assert inf is not None
    assert inf.detail["chips_needed"] == expected
    assert any("≥ 307 chips" in lever for lever in inf.levers)
    assert inf.capacity == sram


def test_dgx_h100_total_hbm_is_640_gb(dgx_h100):
    assert dgx_h100.num_chips == 8
    assert dgx_h100.capacity_bytes() == pytest.approx(8 * 81559 * 2**20, rel=1e-4)  # 8 x nvidia-smi total


def test_groq_576_aggregate_sram_holds_llama2_70b_at_8_bits(groq_576):
    # reference §1.3: 576 x 230 MB = 132 GB of SRAM
    assert groq_576.capacity_bytes() == pytest.approx(576 * 220 * 2**20)
    assert groq_576.capacity_bytes() > 70e9


def test_cs3_dense_peak_is_the_simd_datapath_not_the_sparse_quote(cs3, h100):
    # 900k cores x 8 FMAC (8-wide fp16 SIMD) x 2 FLOP x 1.1 GHz = 15.84 PFLOPS dense
    dense = cs3.chip.peak_flops(DType.BF16)
    assert dense == pytest.approx(15.84e15)
    # Cerebras: WSE-3 = 2x WSE-2; WSE-2 = 850k cores x 4 FMAC x 2 x 1.1 GHz = 7.48 PFLOPS
    assert dense == pytest.approx(2 * 850_000 * 4 * 2 * 1.1e9, rel=0.10)
    # "125 PFLOPS, about 62 H100s" is sparse against sparse: 62 x H100's 2:4-sparse bf16
    # (2 x dense) = 122.7 PFLOPS, ~8x the dense datapath
    assert 62 * 2 * h100.chip.peak_flops(DType.BF16) == pytest.approx(125e15, rel=0.03)
    assert 125e15 / dense == pytest.approx(7.9, rel=0.01)


def test_system_totals_use_chip_prices_unless_given(h100, dgx_h100):
    assert dgx_h100.total_price_usd == 8 * h100.chip.price_usd
    assert load_hardware("hgx-b200").total_price_usd == 500_000


def test_clock_moves_the_derived_peak_on_every_kind():
    # peak = count x flop_per_cycle x clock: halving the clock halves it (H100: 132 SM x 4,096
    # bf16 FLOP/cycle; Groq: 4 MXM planes x 204,800 int8 OP/cycle; CS-3: 900k cores x 8-wide
    # fp16 SIMD x 2 FLOP at 1.1 GHz)
    for name, clock, dtype, expected in (("h100-sxm", 1.83, DType.BF16, 132 * 4096 * 1.83e9),
                                         ("groq-lpu", 0.9, DType.INT8, 4 * 204800 * 0.9e9),
                                         ("cs-3", 1.1, DType.BF16, 900000 * 16 * 1.1e9)):
        hw = load_hardware(name)
        assert hw.chip.peak_flops(dtype) == pytest.approx(expected)
        half = load_hardware(name, overrides={"clock_ghz": clock / 2})
        assert half.chip.peak_flops(dtype) == pytest.approx(expected / 2)


def test_an_overridden_peak_wins_over_the_derived_one():
    hw = load_hardware("groq-lpu", overrides={"compute.mxm.peak_tflops.int8": 3000})
    assert hw.chip.peak_flops(DType.INT8) == pytest.approx(3000e12)
    assert hw.chip.peak_flops(DType.FP16) == pytest.approx(4 * 51200 * 0.9e9)


def test_a_per_cycle_figure_far_from_the_datasheet_is_reported():
    text = (SPEC_DIR / "groq-lpu.yaml").read_text()
    bad = text.replace("flop_per_cycle: {int8: 204800", "flop_per_cycle: {int8: 409600")
    with pytest.raises(SpecError, match=r"compute\.mxm\.flop_per_cycle\.int8.*disagrees"):
        load_hardware_text(bad)
