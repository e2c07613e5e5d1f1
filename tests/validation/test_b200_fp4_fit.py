"""The B200 spec's fp4 tile-loop share and decode attention's KV stream share: fitted on two
published TensorRT-LLM runs (validation/fitting/b200_fp4.py), the knobs' directions, and what
they leave alone."""

from __future__ import annotations

import json

import pytest

from infersim.api import predict_op
from infersim.hwmodels.loader import load_hardware
from infersim.validation.datasets import serving_published as sp
from infersim.validation.fitting import b200_fp4
from infersim.workloads import ops as O


def test_committed_fit_matches_the_spec() -> None:
    fit = json.loads(b200_fp4.OUT.read_text())
    p = load_hardware("b200").chip.params
    v = fit["values"]
    assert (p.mma_efficiency_fp4, p.decode_attention_bw_efficiency) == (
        v["gpu.mma_efficiency_fp4"], v["gpu.decode_attention_bw_efficiency"])
    # the HBM's own stream shares stay the assumed ones: weights stream at full speed
    assert (p.hbm_read_efficiency, p.hbm_write_efficiency) == (0.927, 0.734)
    # the systems of B200s price with the same chip
    q = load_hardware("hgx-b200").chip.params
    assert (q.mma_efficiency_fp4, q.decode_attention_bw_efficiency) == (
        p.mma_efficiency_fp4, p.decode_attention_bw_efficiency)
    assert set(fit["rows"]) == set(sp.SPEC_FITTED) == {b200_fp4.PREFILL_ROW,
                                                       b200_fp4.DECODE_ROW}


def test_the_two_calibration_rows_are_reproduced_at_the_spec_values() -> None:
    rows = {r["id"]: r for r in sp.rows()}
    for rid in sp.SPEC_FITTED:
        value, _ = sp.predict(rows[rid])
        assert value == pytest.approx(float(rows[rid]["measured"]), rel=0.005), rid


def test_fp4_share_moves_only_fp4_gemms_and_in_its_direction() -> None:
    fp4 = O.matmul(4096, 8192, 8192, "fp4", name="x")  # compute-bound
    fp8 = O.matmul(4096, 8192, 8192, "fp8", name="x")
    bf16 = O.matmul(4096, 8192, 8192, "bf16", name="x")
    lo = load_hardware("b200", {"gpu.mma_efficiency_fp4": 0.4})
    hi = load_hardware("b200", {"gpu.mma_efficiency_fp4": 0.8})
    assert predict_op(fp4, lo, "graph") > predict_op(fp4, hi, "graph")
    assert predict_op(fp8, lo, "graph") == predict_op(fp8, hi, "graph")
    assert predict_op(bf16, lo, "graph") == predict_op(bf16, hi, "graph")
    # compute-bound: the tile loop's time scales about as 1 / share
    ratio = predict_op(fp4, lo, "graph") / predict_op(fp4, hi, "graph")
    assert 1.6 < ratio < 2.0
    # 0 = the generic mma_efficiency, which then prices fp4 as it prices bf16's share
    same = load_hardware("b200", {"gpu.mma_efficiency_fp4": 0.0, "gpu.mma_efficiency": 0.8})
    assert predict_op(fp4, same, "graph") == predict_op(fp4, hi, "graph")


def test_a_gpu_without_an_fp4_pipe_ignores_the_fp4_share() -> None:
    # H100 has no fp4 tensor-core peak: fp4 operands run up-converted on the 16-bit pipe
    op = O.matmul(4096, 8192, 8192, "fp4", name="x")
    lo = load_hardware("h100-sxm", {"gpu.mma_efficiency_fp4": 0.3})
    hi = load_hardware("h100-sxm", {"gpu.mma_efficiency_fp4": 0.9})
    assert predict_op(op, lo, "graph") == predict_op(op, hi, "graph")


def test_b200_weight_streams_keep_the_hbm_share() -> None:
    # a weight-bound fp4 GEMV: 8192 x 28672 x 0.5 B = 117 MB at ~0.927 x 8 TB/s = 15.8 us
    op = O.matmul(1, 8192, 28672, "fp4", name="x")
    t = predict_op(op, "b200", "graph")
    stream = 8192 * 28672 * 0.5 / (0.927 * 8e12)
    assert stream < t < stream * 1.4
    slower = load_hardware("b200", {"gpu.decode_attention_bw_efficiency": 0.3})
    assert predict_op(op, slower, "graph") == t


def test_decode_attention_share_moves_decode_attention_only_and_in_its_direction() -> None:
    # 64 sequences x 4096 keys, fp8 KV, 8 KV heads of 128: 2 x 64 x 4096 x 8 x 128 B = 537 MB
    dec = O.attention(64, 64, 8, 128, 1, 4096, False, "bf16", kv_dtype="fp8")
    pre = O.attention(1, 64, 8, 128, 4096, 4096, True, "bf16", kv_dtype="fp8")
    lo = load_hardware("b200", {"gpu.decode_attention_bw_efficiency": 0.4})
    hi = load_hardware("b200", {"gpu.decode_attention_bw_efficiency": 0.8})
    t_lo, t_hi = predict_op(dec, lo, "graph"), predict_op(dec, hi, "graph")
    assert t_lo > t_hi
    # KV-bound: the stream time scales about as 1 / share
    assert 1.6 < t_lo / t_hi < 2.0
    kv = 2.0 * 64 * 4096 * 8 * 128
    assert t_lo == pytest.approx(kv / (0.4 * 8e12), rel=0.1)
    assert predict_op(pre, lo, "graph") == predict_op(pre, hi, "graph")
    # 0 = the stream's read / write shares (every other GPU spec): H100 unchanged by default
    h100 = load_hardware("h100-sxm")
    assert h100.chip.params.decode_attention_bw_efficiency == 0.0
    same = load_hardware("h100-sxm", {"gpu.decode_attention_bw_efficiency": 0.0})
    assert predict_op(dec, same, "graph") == predict_op(dec, h100, "graph")
