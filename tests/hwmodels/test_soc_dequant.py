"""Dequantization inside llama.cpp's prompt (batched) matmuls on the `soc` kind.

Hand values come from ggml-metal.metal at llama.cpp build 8e672ef (Nov 2023):
kernel_mul_mm tiles 64 weight rows x 32 tokens per threadgroup and each threadgroup
dequantizes its own weight slice, so a 512-token prompt dequantizes every weight 16 times;
the dequantize_<type> functions below are counted one instruction per C operator."""

from __future__ import annotations

import math

import pytest

from infersim import api
from infersim.hwmodels import load_hardware
from infersim.hwmodels.cost import CostContext
from infersim.hwmodels.edge_runtimes import DEQUANT_OPS, MATMUL_EFFICIENCY, PROFILES
from infersim.hwmodels.models.soc import SocModel, dequant_ops_per_value, dequant_seconds
from infersim.workloads.dtypes import GGUF_BLOCK_MIX, DType
from infersim.workloads.ops import Op, matmul

LLAMACPP = PROFILES["llama.cpp"]


def test_instruction_counts_per_value_read_from_the_kernel_source():
    # dequantize_q8_0, 16 values: setup = d load + 16*il + pointer add (3);
    # per value: int8 load, int8->half, x*d  -> (3 + 16*3) / 16
    assert DEQUANT_OPS["q8_0"].per_value == pytest.approx(51 / 16)
    assert DEQUANT_OPS["q8_0"].fp_per_value == pytest.approx(1.0)
    # dequantize_q4_0: 8 uint16 loads, per uint16 two (and, convert, fma);
    # setup: d load, select, 2 conversions, 2 masks, pointer (7 int) + d/16, d1/256, -8*d (3 fp)
    assert DEQUANT_OPS["q4_0"].per_value == pytest.approx((10 + 8 * 7) / 16)
    assert DEQUANT_OPS["q4_0"].fp_per_value == pytest.approx((3 + 16) / 16)
    # dequantize_q4_K: per value byte load, and, convert, fma (4); setup 29 int + 3 fp
    assert DEQUANT_OPS["q4_k"].per_value == pytest.approx((32 + 16 * 4) / 16)
    # dequantize_q5_K: per value 2 loads, 2 ands, compare+select, convert, add, fma (9)
    assert DEQUANT_OPS["q5_k"].per_value == pytest.approx((38 + 16 * 9) / 16)
    # dequantize_q6_K: per value 2 loads, 2 ands, shift, or, convert, fma (8)
    assert DEQUANT_OPS["q6_k"].per_value == pytest.approx((34 + 16 * 8) / 16)
    # the high-bit K types need more work per value than the plain 4-bit ones
    order = ["q8_0", "q4_0", "q4_k", "q6_k", "q5_k"]
    assert [DEQUANT_OPS[t].per_value for t in order] == sorted(
        DEQUANT_OPS[t].per_value for t in order)


def test_k_quant_mix_follows_the_quantizer_rule():
    # use_more_bits(i, 32): i < 4, i >= 28, or (i - 4) % 3 == 2 -> these 16 layers
    more = [0, 1, 2, 3, 6, 9, 12, 15, 18, 21, 24, 27, 28, 29, 30, 31]
    layer = 4 * 4096**2 + 3 * 4096 * 11008
    q6_share = len(more) * (4096**2 + 4096 * 11008) / (32 * layer)  # attn_v + ffn_down
    assert dict(GGUF_BLOCK_MIX[DType.Q4_K_M]) == pytest.approx(
        {"q4_k": 1 - q6_share, "q6_k": q6_share})
    assert dict(GGUF_BLOCK_MIX[DType.Q5_K_M]) == pytest.approx(
        {"q5_k": 1 - q6_share, "q6_k": q6_share})
    assert all(sum(w for _, w in m) == pytest.approx(1.0) for m in GGUF_BLOCK_MIX.values())
    assert set(GGUF_BLOCK_MIX) == {d for d in DType if d.weight_only}


def _gate_up(dtype: DType, m: int = 512) -> Op:
    return matmul(m, 4096, 22016, DType.FP16, weight_dtype=dtype, name="gate_up_proj")


def test_dequant_term_by_hand_for_one_matmul():
    hw = load_hardware("m2-ultra")  # one pipeline for int and FP
    op = _gate_up(DType.Q4_0)
    lanes_hz = 76 * 128 * 1.398e9  # 76 cores x 128 ALUs x 1.398 GHz (FP32 peak = 2x this)
    rate = lanes_hz * MATMUL_EFFICIENCY  # instructions/s
    values = 4096 * 22016 * math.ceil(512 / 32)
    t_int = values * (7 / 16 + 2.5) / rate
    t_fp = values * (3 / 16 + 1.0) / rate
    ctx = CostContext(profile=LLAMACPP)
    p = LLAMACPP.apply(hw.chip.params)
    unit = next(u for u in hw.chip.compute if u.name == "gpu")
    assert dequant_seconds(op, unit, p) == pytest.approx((t_int, t_fp))
    mma = op.flops / (2 * lanes_hz * MATMUL_EFFICIENCY)
    cost = SocModel().op_cost(op, hw, ctx)
    assert cost.compute_s == pytest.approx(mma + t_int + t_fp)
    # M3 Max issues int and FP at once: only the FP part adds to the matrix work
    hw3 = load_hardware("m3-max")
    rate3 = 40 * 128 * 1.38e9 * MATMUL_EFFICIENCY
    cost3 = SocModel().op_cost(op, hw3, ctx)
    assert cost3.compute_s == pytest.approx(
        max(op.flops / (2 * rate3) + values * (3 / 16 + 1.0) / rate3,
            values * (7 / 16 + 2.5) / rate3))


def _pp512(hw, weights: str, runtime=LLAMACPP) -> float:
    return api.simulate("llama-2-7b", hw, "prefill", 1, prompt=512, weights=weights,
                        activations="fp16", runtime=runtime).latency_s


def test_knob_directions():
    hw = load_hardware("m2-ultra")
    ops = {f: sum(dequant_ops_per_value(DType.parse(f))) for f in ("q8_0", "q4_0", "q6_k")}
    assert ops["q8_0"] < ops["q4_0"] < ops["q6_k"]
    t = {f: _pp512(hw, f) for f in ("fp16", "q8_0", "q4_0", "q6_k")}
    # more instructions per value -> slower prompt (the GEMMs are compute-bound, so the
    # bytes of the formats do not decide it); fp16 has no term
    assert t["fp16"] < t["q8_0"] < t["q4_0"] < t["q6_k"]
    assert dequant_ops_per_value(DType.FP16) == (0.0, 0.0)
    # concurrent integer/FP issue -> faster for quantized weights, no change for fp16
    conc = load_hardware("m2-ultra", {"soc.int_fp_concurrent": True})
    assert _pp512(conc, "q4_0") < t["q4_0"]
    assert _pp512(conc, "fp16") == pytest.approx(t["fp16"], rel=1e-12)
    # a wider token tile dequantizes each weight fewer times; no tile = no term
    assert _pp512(hw, "q4_0", LLAMACPP.with_values(dequant_tile_tokens=64)) < t["q4_0"]
    none = LLAMACPP.with_values(dequant_tile_tokens=0)
    assert _pp512(hw, "q4_0", none) < _pp512(hw, "q8_0", none) * 1.001  # bytes only
    # batch-1 decode (a mat-vec kernel, m = 1) has no dequantization term
    op = _gate_up(DType.Q4_0, m=1)
    unit = next(u for u in hw.chip.compute if u.name == "gpu")
    assert dequant_seconds(op, unit, LLAMACPP.apply(hw.chip.params)) == (0.0, 0.0)


def test_bad_concurrency_value_is_one_clear_error():
    from infersim.foundation.errors import SpecError

    with pytest.raises(SpecError, match=r"soc\.int_fp_concurrent"):
        load_hardware("m3-max", {"soc.int_fp_concurrent": 2})
