"""Edge SoCs (kind soc), GGUF weight formats and the llama.cpp / MLC-LLM profiles.

Hand values: Llama-2-7B's linear layers hold 32 x (4 x 4096^2 + 3 x 4096 x 11008) + 4096 x
32000 (lm_head) = 6,607,077,376 weights (config: hidden 4096, intermediate 11008, vocab
32000, 32 layers, no GQA)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from infersim import api
from infersim.foundation.errors import InputError
from infersim.hwmodels import load_hardware
from infersim.hwmodels.cost import RuntimeProfile
from infersim.hwmodels.edge_runtimes import (
    MATMUL_EFFICIENCY,
    NODE_OVERHEAD_S,
    PROFILES,
    STREAM_EFFICIENCY,
)
from infersim.hwmodels.spec import HardwareKind
from infersim.workloads import build_trace
from infersim.workloads.dtypes import DType
from infersim.workloads.ops import OpKind
from tests._support import SPEC_DIR, double_main_bandwidth

EDGE_SPECS = ("m1-max", "m2-ultra", "m3-max", "m4-max", "snapdragon-x-elite",
              "snapdragon-8-gen-3")
GGUF = ("q2_k", "q3_k_m", "q4_0", "q4_k_m", "q5_k_m", "q6_k", "q8_0")
LLAMA2_7B_LINEAR = 32 * (4 * 4096**2 + 3 * 4096 * 11008) + 4096 * 32000
# A profile with ideal kernels: full bandwidth, full peak, no per-node cost.
IDEAL = PROFILES["llama.cpp"].with_values(weight_stream_efficiency=1.0, matmul_efficiency=1.0,
                                          kernel_overhead_s=0.0)


def test_gguf_bits_per_weight_are_the_llama_cpp_figures():
    # block formats by their layout: fp16 scale + 32 quants
    assert DType.Q4_0.bits_per_weight == pytest.approx((16 + 32 * 4) / 32)
    assert DType.Q8_0.bits_per_weight == pytest.approx((16 + 32 * 8) / 32)
    # K-quant mixes: the llama.cpp quantize README table (Llama 2 7B)
    assert DType.Q4_K_M.bits_per_weight == pytest.approx(4.84)
    assert DType.Q5_K_M.bits_per_weight == pytest.approx(5.68)
    assert DType.Q6_K.bits_per_weight == pytest.approx(6.56)
    # 7B weights at Q4_K_M: 7e9 x 4.84 / 8 bytes
    assert 7e9 * DType.Q4_K_M.bytes == pytest.approx(4.235e9)
    assert DType.parse("Q4_K_M") is DType.Q4_K_M and DType.parse("f16") is DType.FP16
    assert all(DType.parse(f).weight_only for f in GGUF)
    assert not DType.BF16.weight_only


def test_trace_moves_the_real_bits_per_weight():
    for fmt in ("q4_k_m", "q8_0", "q2_k"):
        tr = build_trace("llama-2-7b", api.make_scenario("decode", 1, context=64, weights=fmt))
        w = sum(o.bytes.weight * o.count for o in tr.ops if o.kind is OpKind.MATMUL)
        assert w == pytest.approx(LLAMA2_7B_LINEAR * DType.parse(fmt).bits_per_weight / 8,
                                  rel=1e-9)
        # compute happens after dequantization, in the activation dtype
        assert {o.dtype for o in tr.ops if o.kind is OpKind.MATMUL} == {DType.BF16}


def test_gguf_is_not_an_activation_or_kv_dtype():
    with pytest.raises(InputError, match="weights only"):
        api.make_scenario("decode", 1, weights="q4_k_m", activations="q4_k_m")
    r = subprocess.run([sys.executable, "-m", "infersim", "simulate", "--model", "llama-3.2-1b",
                        "--hw", "m4-max", "--kv", "q8_0"], capture_output=True, text=True)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "kv" in r.stderr and "q8_0" in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_edge_specs_load_validate_and_derive_their_peaks():
    r = subprocess.run([sys.executable, "-m", "infersim", "hw", "validate",
                        *(str(SPEC_DIR / f"{s}.yaml") for s in EDGE_SPECS)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    # GPU peak = cores x 128 ALUs x 2 FLOP x clock (Apple); the spec's number agrees
    for name, cores, ghz in (("m2-ultra", 76, 1.398), ("m4-max", 40, 1.578)):
        hw = load_hardware(name)
        assert hw.kind is HardwareKind.SOC
        gpu = next(u for u in hw.chip.compute if u.name == "gpu")
        assert gpu.peak(DType.FP32) == pytest.approx(cores * 128 * 2 * ghz * 1e9, rel=0.01)
    assert load_hardware("m2-ultra").chip.main_memory.bandwidth_Bps == 800e9


def test_batch1_decode_is_bytes_over_bandwidth():
    # ideal kernels: one token = weights + KV read once at the LPDDR bandwidth
    hw = load_hardware("m2-ultra")
    ctx = 64
    r = api.simulate("llama-2-7b", hw, "decode", 1, context=ctx, weights="q4_0",
                     activations="fp16", runtime=IDEAL)
    kv = 2 * 32 * 4096 * 2 * (ctx + 1)  # K and V, 32 layers, 4096 wide, fp16
    hand = (LLAMA2_7B_LINEAR * 4.5 / 8 + kv) / 800e9
    assert r.latency_s == pytest.approx(hand, rel=0.01)
    # the fitted profile: weight bytes at eta x BW plus one node overhead per graph node
    # (the kernels the fused runtime launches: elementwise ops fused into their producers)
    r2 = api.simulate("llama-2-7b", hw, "decode", 1, context=ctx, weights="q4_0",
                      activations="fp16", runtime="llama.cpp")
    nodes = sum(m.kernels * m.op.count for m in r2.schedule.ops)
    assert 32 * 5 < nodes < sum(m.op.count for m in r2.schedule.ops)
    hand2 = (LLAMA2_7B_LINEAR * 4.5 / 8 / STREAM_EFFICIENCY + kv) / 800e9 \
        + nodes * NODE_OVERHEAD_S
    assert r2.latency_s == pytest.approx(hand2, rel=0.01)


def test_prefill_is_flops_over_peak_when_compute_bound():
    hw = load_hardware("m4-max")
    tr = build_trace("llama-2-7b", api.make_scenario("prefill", 1, prompt=512, weights="fp16",
                                                     activations="fp16"))
    mm = sum(o.flops * o.count for o in tr.ops if o.kind in (OpKind.MATMUL, OpKind.ATTENTION))
    r = api.simulate("llama-2-7b", hw, "prefill", 1, prompt=512, weights="fp16",
                     activations="fp16", runtime="llama.cpp")
    peak = 40 * 256 * 1.578e9  # 16.2 TFLOPS fp16 (= fp32 rate on Apple GPUs)
    # matmul-class work at the fitted efficiency is the bulk; the rest adds < 10 %
    assert mm / (peak * MATMUL_EFFICIENCY) <= r.latency_s <= 1.1 * mm / (peak * MATMUL_EFFICIENCY)


@pytest.mark.parametrize("spec", EDGE_SPECS)
def test_fewer_bits_and_more_bandwidth_never_slower(spec):
    hw = load_hardware(spec)
    hw2 = double_main_bandwidth(hw)
    order = sorted([*GGUF, "fp16"], key=lambda f: DType.parse(f).bits_per_weight)
    for rt in PROFILES:
        lat = []
        for f in order:
            kw = dict(context=256, weights=f, activations="fp16", runtime=rt)
            t = api.simulate("llama-3.2-1b", hw, "decode", 1, **kw).latency_s
            t2 = api.simulate("llama-3.2-1b", hw2, "decode", 1, **kw).latency_s
            assert t2 <= t * (1 + 1e-12), (spec, rt, f)
            lat.append(t)
        assert lat == sorted(lat), (spec, rt, order, lat)


def test_runtime_names_are_checked_per_kind():
    soc = load_hardware("m4-max")
    with pytest.raises(InputError, match=r"llama\.cpp"):
        api.simulate("llama-3.2-1b", soc, runtime="vllm")
    with pytest.raises(InputError):
        api.simulate("llama-3.2-1b", "h100-sxm", runtime="llama.cpp")
    assert api.simulate("llama-3.2-1b", soc).schedule is not None  # default: llama.cpp


def test_cpu_backend_is_bounded_by_the_cpu_share_of_bandwidth():
    hw = load_hardware("m2-ultra")  # cpu_bandwidth_fraction 0.5
    kw = dict(context=64, weights="q4_0", activations="fp16")
    cpu = PROFILES["llama.cpp-cpu"].with_values(kernel_overhead_s=0.0)
    gpu = PROFILES["llama.cpp"].with_values(kernel_overhead_s=0.0)
    t_cpu = api.simulate("llama-2-7b", hw, "decode", 1, runtime=cpu, **kw).latency_s
    t_gpu = api.simulate("llama-2-7b", hw, "decode", 1, runtime=gpu, **kw).latency_s
    assert t_cpu == pytest.approx(2.0 * t_gpu, rel=0.01)  # both bandwidth-bound


def test_profile_is_a_runtime_profile_of_the_soc_kind():
    for p in PROFILES.values():
        assert isinstance(p, RuntimeProfile) and p.kind is HardwareKind.SOC and p.source
