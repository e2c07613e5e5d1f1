"""`infersim hw list | show | validate | diff` through infersim.cli.main."""

from __future__ import annotations

import json

import pytest

from infersim.cli import main
from infersim.hwmodels.loader import list_hardware
from tests._support import H100_TEXT, SPEC_DIR


def test_hw_list_shows_every_library_spec(capsys):
    assert main(["hw", "list"]) == 0
    out = capsys.readouterr().out
    for name in list_hardware():
        assert name in out


def test_hw_list_json_has_system_totals(capsys):
    assert main(["hw", "list", "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["dgx-h100"]["capacity_bytes"] == pytest.approx(8 * 81559 * 2**20, rel=1e-4)  # nvidia-smi
    assert rows["dgx-h100"]["bf16_flops"] == pytest.approx(8 * 132 * 4096 * 1.83e9)


def test_hw_show_json_with_derived_figures_and_overrides(capsys):
    assert main(["hw", "show", "h100-sxm", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    peak = 132 * 4096 * 1.83e9  # SMs x bf16 FLOP/cycle x clock (= 989.4 TFLOPS datasheet)
    assert d["derived"]["ridge.bf16.hbm"]["value"] == pytest.approx(peak / 3.35e12)
    assert d["derived"]["energy_ceiling.bf16"]["value"] == pytest.approx(700 / peak)
    assert main(["hw", "show", "h100-sxm", "--json", "--set",
                 "memory.hbm.bandwidth_tb_per_s=4.8"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["derived"]["ridge.bf16.hbm"]["value"] == pytest.approx(peak / 4.8e12)
    assert d["chip_sources"]["memory.hbm.bandwidth_tb_per_s"].startswith("override")


def test_hw_show_table(capsys):
    assert main(["hw", "show", "cs-3"]) == 0
    out = capsys.readouterr().out
    assert "ridge.bf16.sram" in out and "total.tdp" in out


def test_unknown_hardware_is_a_one_line_error_with_a_suggestion(capsys):
    assert main(["hw", "show", "h100"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err
    assert "did you mean 'h100-sxm'" in err


def test_bad_override_is_reported_with_its_path(capsys):
    assert main(["hw", "show", "h100-sxm", "--set", "memory.hbn.capacity_gb=96"]) == 2
    assert "memory.hbn.capacity_gb" in capsys.readouterr().err


def test_hw_validate_ok_and_problems(tmp_path, capsys):
    good = SPEC_DIR / "h100-sxm.yaml"
    bad = tmp_path / "bad.yaml"
    bad.write_text(H100_TEXT.replace("capacity_gb: 85.52", "capacity_gb: 85520")
                   .replace("bandwidth_tb_per_s: 3.35", "bandwidth_gbps: 3350"))
    assert main(["hw", "validate", str(good)]) == 0
    assert f"{good}: ok" in capsys.readouterr().out
    assert main(["hw", "validate", str(good), str(bad)]) == 2
    cap = capsys.readouterr()
    assert f"{good}: ok" in cap.out
    assert "3 problem(s)" in cap.err  # + the sources entry of the renamed key
    assert "memory.hbm.capacity_gb" in cap.err and "memory.hbm.bandwidth_gbps" in cap.err
    assert "line " in cap.err


def test_hw_diff_lists_the_fields_that_differ(capsys):
    assert main(["hw", "diff", "h100-sxm", "h200-sxm", "--json"]) == 0
    rows = {r["field"]: r for r in json.loads(capsys.readouterr().out)["differences"]}
    assert rows["chip.memory.hbm.capacity"]["a"] == 85.52e9
    assert rows["chip.memory.hbm.capacity"]["b"] == 150.75e9
    assert rows["chip.memory.hbm.bandwidth"]["unit"] == "B/s"
    assert "chip.compute.tensor.peak.bf16" not in rows  # same compute
    assert main(["hw", "diff", "h100-sxm", "h100-sxm"]) == 0
    assert "no differences" in capsys.readouterr().out


def test_hw_without_an_action_prints_usage(capsys):
    assert main(["hw"]) == 2
