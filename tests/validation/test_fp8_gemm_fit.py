"""`gpu.gemm_bw_efficiency_fp8`: derived from one external kernel measurement (cutlass #1139)."""

from __future__ import annotations

import json

import pytest

from infersim.api import predict_op
from infersim.hwmodels.loader import load_hardware
from infersim.validation.fitting import fp8_gemm
from infersim.workloads import ops as O


def test_the_spec_value_times_the_measured_skinny_fp8_gemms() -> None:
    # cutlass #1139: 16 x 14336 x 4096 fp8 on H100 SXM at ~2.2 TB/s; bytes by hand:
    # A 16*4096 + B 4096*14336 + D 16*14336 = 65,536 + 58,720,256 + 229,376 = 59,015,168
    assert fp8_gemm.gemm_bytes(16, 14336, 4096) == 59_015_168
    t = predict_op(O.matmul(16, 4096, 14336, "fp8", name="x"), "h100-sxm", "graph")
    assert t == pytest.approx(59_015_168 / 2.2e12, rel=0.01)


def test_committed_fit_matches_the_specs() -> None:
    fit = json.loads(fp8_gemm.OUT.read_text())
    assert fit["source"] == "https://github.com/NVIDIA/cutlass/issues/1139"
    for name in ("h100-sxm", "h200-sxm"):
        assert load_hardware(name).chip.params.gemm_bw_efficiency_fp8 == fit["value"]
    assert all(abs(s["efficiency"] - fit["value"]) < 0.01 for s in fit["shapes"])


def test_the_knob_moves_only_8_bit_gemms_and_in_its_direction() -> None:
    fp8 = O.matmul(16, 4096, 14336, "fp8", name="x")
    bf16 = O.matmul(16, 4096, 14336, "bf16", name="x")
    lo = load_hardware("h100-sxm", {"gpu.gemm_bw_efficiency_fp8": 0.6})
    hi = load_hardware("h100-sxm", {"gpu.gemm_bw_efficiency_fp8": 0.9})
    assert predict_op(fp8, lo, "graph") > predict_op(fp8, hi, "graph")
    assert predict_op(bf16, lo, "graph") == predict_op(bf16, hi, "graph")
    # weight-bound: the stream time scales about as 1 / efficiency
    ratio = predict_op(fp8, lo, "graph") / predict_op(fp8, hi, "graph")
    assert 1.2 < ratio < 0.9 / 0.6
