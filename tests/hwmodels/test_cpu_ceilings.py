"""Physical ceilings of a CPU, shared by `hw validate` and `infersim calibrate`."""

from __future__ import annotations

import pytest

from infersim.cli import main
from infersim.hwmodels.validate import cpu_ceiling_problems
from tests._support import ROOT

CALIBRATED = ROOT / "validation" / "data" / "vm-20261126.yaml"


def test_ceiling_by_hand():
    # 2 cores x (256 / 32 lanes) x 2 FMA pipes x 2 FLOP x 3 GHz x 1.5 turbo = 288 GFLOP/s fp32
    ok = cpu_ceiling_problems(2, 256, 2, 3e9, {"simd": {"fp32": 287e9}}, 20e9)
    assert ok == []
    over = cpu_ceiling_problems(2, 256, 2, 3e9, {"simd": {"fp32": 289e9}}, 20e9)
    assert [p for p, _ in over] == ["compute.simd.fp32"]
    assert "288 GFLOP/s" in over[0][1]


def test_fp64_faster_than_fp32_and_dram_out_of_range():
    probs = cpu_ceiling_problems(2, 512, 2, 3e9, {"m": {"fp32": 50e9, "fp64": 60e9}}, 0.4e9)
    assert {p for p, _ in probs} == {"compute.m.fp64", "memory"}


def test_floor_below_scalar_speed():
    probs = cpu_ceiling_problems(4, 256, 2, 3e9, {"m": {"fp32": 0.3e9}}, 20e9)
    assert [p for p, _ in probs] == ["compute.m.fp32"]  # below 4 x 0.1 GFLOP/s


def test_shipped_calibrated_spec_passes(capsys):
    assert main(["hw", "validate", str(CALIBRATED)]) == 0


@pytest.mark.parametrize("old,new,path", [
    ("peak_gflops: {fp32: 164.6, fp64: 109.3}", "peak_gflops: {fp32: 100000, fp64: 109.3}",
     "compute.matrix.peak_gflops.fp32"),
    ("peak_gflops: {fp32: 164.6, fp64: 109.3}", "peak_gflops: {fp32: 164.6, fp64: 300}",
     "compute.matrix.peak_gflops.fp64"),
])
def test_hw_validate_refuses_an_impossible_calibrated_spec(tmp_path, capsys, old, new, path):
    text = CALIBRATED.read_text()
    assert old in text
    bad = tmp_path / "cal.yaml"
    bad.write_text(text.replace(old, new))
    assert main(["hw", "validate", str(bad)]) == 2
    assert path in capsys.readouterr().err
