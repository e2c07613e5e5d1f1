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
    assert (p.mma_efficiency_fp4, p.decode_attention_sm_bytes_per_cycle) == (
        v["gpu.mma_efficiency_fp4"], v["gpu.decode_attention_sm_bytes_per_cycle"])
    # the stream shares stay the HBM's: the fitted limit is the kernel's own, per SM and clock
    assert p.decode_attention_bw_efficiency == 0.0
    # the HBM's own stream shares stay the assumed ones: weights stream at full speed
    assert (p.hbm_read_efficiency, p.hbm_write_efficiency) == (0.927, 0.734)
    # the systems of B200s price with the same chip
    q = load_hardware("hgx-b200").chip.params
    assert (q.mma_efficiency_fp4, q.decode_attention_sm_bytes_per_cycle) == (
        p.mma_efficiency_fp4, p.decode_attention_sm_bytes_per_cycle)
    b200 = {rid for rid, (hw, _) in sp.SPEC_FITTED.items() if hw == "b200"}
    assert set(fit["rows"]) == b200 == {b200_fp4.PREFILL_ROW, b200_fp4.DECODE_ROW}


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
    # a weight-bound NVFP4 GEMV: 4-bit values + one 1-byte scale per 16, so
    # 8192 x 28672 x (8 + 1) / 16 B = 132 MB at ~0.927 x 7.672 TB/s = 18.6 us
    op = O.matmul(1, 8192, 28672, "fp4", name="x")
    t = predict_op(op, "b200", "graph")
    stream = 8192 * 28672 * (8 + 1) / 16 / (0.927 * 7.672e12)
    assert stream < t < stream * 1.4
    slower = load_hardware("b200", {"gpu.decode_attention_bw_efficiency": 0.3,
                                    "gpu.decode_attention_sm_bytes_per_cycle": 5.0})
    assert predict_op(op, slower, "graph") == t


def test_decode_attention_share_moves_decode_attention_only_and_in_its_direction() -> None:
    # 64 sequences x 4096 keys, fp8 KV, 8 KV heads of 128: 2 x 64 x 4096 x 8 x 128 B = 537 MB
    dec = O.attention(64, 64, 8, 128, 1, 4096, False, "bf16", kv_dtype="fp8")
    pre = O.attention(1, 64, 8, 128, 4096, 4096, True, "bf16", kv_dtype="fp8")
    # the share alone (the kernel's own per-SM limit off)
    lo = load_hardware("b200", {"gpu.decode_attention_bw_efficiency": 0.4,
                                "gpu.decode_attention_sm_bytes_per_cycle": 0.0})
    hi = load_hardware("b200", {"gpu.decode_attention_bw_efficiency": 0.8,
                                "gpu.decode_attention_sm_bytes_per_cycle": 0.0})
    # an engine's paged cache (engine knob paged_kv); plain PyTorch's contiguous one keeps
    # the generic read share, whatever the spec's paged share
    t_lo, t_hi = predict_op(dec, lo, "trtllm-pytorch"), predict_op(dec, hi, "trtllm-pytorch")
    assert t_lo > t_hi
    assert predict_op(dec, lo, "graph") == predict_op(dec, hi, "graph")
    # KV-bound: the stream time scales about as 1 / share
    assert 1.6 < t_lo / t_hi < 2.0
    kv = 2.0 * 64 * 4096 * 8 * 128
    assert t_lo == pytest.approx(kv / (0.4 * 8e12), rel=0.1)
    assert predict_op(pre, lo, "trtllm-pytorch") == predict_op(pre, hi, "trtllm-pytorch")
    # 0 = the stream's read / write shares (every other GPU spec): H100 unchanged by default
    h100 = load_hardware("h100-sxm")
    assert h100.chip.params.decode_attention_bw_efficiency == 0.0
    same = load_hardware("h100-sxm", {"gpu.decode_attention_bw_efficiency": 0.0})
    assert predict_op(dec, same, "graph") == predict_op(dec, h100, "graph")


def test_decode_attention_rate_scales_with_sms_and_clock_not_with_the_memory() -> None:
    """`decode_attention_sm_bytes_per_cycle`: a KV-bound decode attention (64 sequences x
    4,096 fp8 keys, 8 KV heads of 128: 537 MB) takes about KV / (SMs x clock x rate) where
    that is longer than the memory stream: on the B200 148 x 1.85 GHz x 17.77 B = 4.87 TB/s
    of its 7.67 TB/s; halving the rate doubles it; the GB200 (the same HBM at a 10/9 clock) is
    10/9 faster; a prefill is untouched; 0 = no such limit (every spec but the Blackwells)."""
    dec = O.attention(64, 64, 8, 128, 1, 4096, False, "bf16", kv_dtype="fp8")
    pre = O.attention(1, 64, 8, 128, 4096, 4096, True, "bf16", kv_dtype="fp8")
    kv = 2.0 * 64 * 4096 * 8 * 128
    b200 = load_hardware("b200")
    rate = b200.chip.params.decode_attention_sm_bytes_per_cycle
    t = predict_op(dec, b200, "graph")
    assert t == pytest.approx(kv / (148 * b200.chip.clock_hz * rate), rel=0.1)
    half = load_hardware("b200", {"gpu.decode_attention_sm_bytes_per_cycle": rate / 2})
    assert 1.8 < predict_op(dec, half, "graph") / t < 2.05
    assert predict_op(pre, half, "graph") == predict_op(pre, b200, "graph")
    gb = predict_op(dec, "gb200", "graph")
    assert t / gb == pytest.approx(2.06 / 1.85, rel=0.03)
    off = load_hardware("b200", {"gpu.decode_attention_sm_bytes_per_cycle": 0.0})
    assert predict_op(dec, off, "graph") < t  # then the 7.67 TB/s stream at 0.927 binds
    assert load_hardware("h100-sxm").chip.params.decode_attention_sm_bytes_per_cycle == 0.0


def test_mxfp4_runs_on_the_fp4_mmas_and_moves_fewer_scale_bytes() -> None:
    # MXFP4 (one 1-byte scale per 32 values) runs at the fp4 peak and the fp4 tile-loop
    # share; a weight-bound GEMV moves (8 + 0.5) / (8 + 1) of NVFP4's bytes, so it is faster
    big = (4096, 8192, 8192)
    lo = load_hardware("b200", {"gpu.mma_efficiency_fp4": 0.3})
    hi = load_hardware("b200", {"gpu.mma_efficiency_fp4": 0.9})
    mx = O.matmul(*big, "mxfp4", name="x")
    assert predict_op(mx, lo, "graph") > predict_op(mx, hi, "graph")
    assert predict_op(mx, "b200", "graph") == pytest.approx(
        predict_op(O.matmul(*big, "fp4", name="x"), "b200", "graph"), rel=0.02)
    gemv_mx = O.matmul(1, 8192, 28672, "mxfp4", name="x")
    gemv_nv = O.matmul(1, 8192, 28672, "fp4", name="x")
    assert gemv_mx.bytes.weight == pytest.approx(gemv_nv.bytes.weight * 8.5 / 9.0, rel=1e-12)
    assert predict_op(gemv_mx, "b200", "graph") < predict_op(gemv_nv, "b200", "graph")


def test_block_scaled_k_tile_counts_values_not_scales() -> None:
    # An NVFP4 operand is 4.5 bits a value with its scales, but the K tile holds 128 bytes
    # of 4-bit values (256 values) and the scales beside them: an 8192-deep GEMM runs 32
    # K steps, not ceil(8192 / int(128 / 0.5625)) = 37 (2.5 % of padded MMA work)
    from infersim.hwmodels.models.gpu.figures import figures, matrix_peak, mma_efficiency
    from infersim.hwmodels.models.gpu.gemm import gemm_candidate
    from infersim.workloads.dtypes import DType

    c = figures(load_hardware("b200"))
    peak, eff = matrix_peak(c, DType.FP4), mma_efficiency(c, DType.FP4)
    b = DType.FP4.bytes
    assert DType.FP4.value_bytes == DType.MXFP4.value_bytes == 0.5
    args = (c, 8192, 8192, 8192, 1, b, b, 2.0, peak, 128, 256, 1, 1.0, eff)
    values = gemm_candidate(*args, k_b=DType.FP4.value_bytes)
    scaled = gemm_candidate(*args)  # k_b = 0: the K tile sized by the stored bytes
    t_step = 2.0 * 128 * 256 * 256 / (peak * eff / c.sms)
    assert values.compute_s == pytest.approx(values.waves * 32 * t_step, rel=1e-12)
    assert scaled.compute_s == pytest.approx(values.compute_s * 37 * 227 / (32 * 256), rel=1e-12)
