"""The MoE activation between the expert GEMMs: one thread block per (token, expert) row, and
TensorRT-LLM's issue-bound `doActivationKernel` (engine knob `moe_row_ops`), checked against
NVIDIA's published kernel timings and by hand."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import infersim as isim
from infersim.hwmodels.models.gpu.engines import lookup
from infersim.hwmodels.models.gpu.figures import figures, vector_peak
from infersim.validation.fitting import trtllm_moe_act
from infersim.workloads import build_trace, load_model
from infersim.workloads.builder import moe_act_op
from infersim.workloads.dtypes import DType
from infersim.workloads.model import MLPKind
from infersim.workloads.ops import MOE_ACT_OP

FIT = Path(__file__).resolve().parents[2] / "validation" / "data" / "published" / \
    "trtllm_moe_act_fit.json"
# NVIDIA/TensorRT-LLM PR #11165: doActivation alone on a B200, bf16 in, NVFP4 out,
# intermediate 2,048, top-8, column "before #9838" (µs)
PUBLISHED_US = {512: 42.685, 1024: 69.843, 4096: 248.408}


def _act_us(tokens: int, runtime) -> float:
    hw = isim.load_hardware("b200")
    op = moe_act_op(tokens * 8, 2048, DType.BF16, MLPKind.SILU_GATED)
    return isim.predict_op(op, hw, runtime=runtime) * 1e6


def test_the_trace_prices_the_activation_per_row():
    # Qwen3-30B-A3B, 64 tokens, top-8, moe_intermediate 768: 512 rows of 768 gated outputs
    sc = isim.make_scenario("prefill", 1, prompt=64, routing_skew=0.0)
    act = next(o for o in build_trace(load_model("qwen3-30b-a3b"), sc).ops
               if o.name == MOE_ACT_OP)
    assert act.shape.block_rows == 64 * 8
    assert act.shape.numel == 64 * 8 * 768
    assert act.bytes.act_in == 2 * 64 * 8 * 768 * 2  # gate and up halves, bf16


def test_trtllm_activation_is_issue_bound_at_the_fitted_rate():
    hw = isim.load_hardware("b200")
    k = lookup("trtllm-pytorch").value("moe_row_ops", 0.0)
    assert k == json.loads(FIT.read_text())["value"]
    rate = vector_peak(figures(hw), DType.FP32)
    for tokens in (1024, 4096):
        # by hand: elements x operations per element / the chip's vector rate, plus at most
        # the kernel's launch and latency (a few µs)
        body = tokens * 8 * 2048 * k / rate * 1e6
        t = _act_us(tokens, "trtllm-pytorch")
        assert body <= t <= body + 5.0


def test_the_refit_reproduces_the_committed_value():
    # `python -m infersim.validation.fitting.trtllm_moe_act` from the three published timings
    assert trtllm_moe_act.MEASURED_US == PUBLISHED_US
    assert trtllm_moe_act.fit()["value"] == json.loads(FIT.read_text())["value"]


def test_fitted_rate_reads_the_published_timings_within_15_percent():
    for tokens, us in PUBLISHED_US.items():
        assert _act_us(tokens, "trtllm-pytorch") == pytest.approx(us, rel=0.15)
    # without it the kernel is priced as a streaming one, 3-4x fast
    hw = isim.load_hardware("b200")
    plain = isim.tune_runtime(hw, "trtllm-pytorch", {"moe_row_ops": 0.0})
    assert _act_us(4096, plain) < PUBLISHED_US[4096] / 3.0


@pytest.mark.parametrize("runtime", ["trtllm", "trtllm-pytorch"])
def test_more_operations_per_element_never_speed_it_up(runtime):
    hw = isim.load_hardware("h100-sxm")
    times = [_act_us(2048, isim.tune_runtime(hw, runtime, {"moe_row_ops": k}))
             for k in (0.0, 50.0, 200.0, 400.0)]
    assert times == sorted(times) and times[-1] > times[0]


def test_the_knob_touches_only_the_moe_activation():
    hw = isim.load_hardware("b200")
    slow = isim.tune_runtime(hw, "trtllm-pytorch", {"moe_row_ops": 1000.0})
    fast = isim.tune_runtime(hw, "trtllm-pytorch", {"moe_row_ops": 0.0})
    dense = isim.simulate("llama-3.1-8b", hw, "decode", 64, context=512, runtime=slow)
    same = isim.simulate("llama-3.1-8b", hw, "decode", 64, context=512, runtime=fast)
    assert dense.latency_s == same.latency_s
    moe = isim.simulate("qwen3-30b-a3b", hw, "decode", 64, context=512, runtime=slow)
    base = isim.simulate("qwen3-30b-a3b", hw, "decode", 64, context=512, runtime=fast)
    diff = (moe.ops.set_index("name")["total_time_s"]
            - base.ops.set_index("name")["total_time_s"])
    assert diff[diff != 0].index.tolist() == [MOE_ACT_OP]
    assert diff[MOE_ACT_OP] > 0


def _layer_ops_us(activations: str, knob: float):
    """{op name: µs} of one Qwen3-30B-A3B layer's MoE ops, 512-token prefill on a B200 under
    trtllm-pytorch with `moe_row_ops` at `knob` (uniform routing)."""
    hw = isim.load_hardware("b200")
    rt = isim.tune_runtime(hw, "trtllm-pytorch", {"moe_row_ops": knob})
    r = isim.simulate("qwen3-30b-a3b", hw, "prefill", 1, prompt=512, runtime=rt,
                      weights=activations, activations=activations, routing_skew=0.0)
    return r.ops.set_index("name")["time_s"] * 1e6


def test_the_nvfp4_permute_runs_at_the_same_rate_and_an_fp8_one_streams():
    hw = isim.load_hardware("b200")
    k = lookup("trtllm-pytorch").value("moe_row_ops", 0.0)
    # NVFP4 GEMM inputs: expandInputRows quantizes every (token, expert) row of the hidden
    # size on the way: 512 tokens x 8 experts x 2,048 values at k operations each
    slow, plain = _layer_ops_us("fp4", k), _layer_ops_us("fp4", 0.0)
    issue = 512 * 8 * 2048 * k / vector_peak(figures(hw), DType.FP32) * 1e6
    # the routing op holds the permute, whose streaming time the issue time replaces
    extra = slow["router_topk"] - plain["router_topk"]
    assert issue - plain["router_topk"] <= extra < issue
    # fp8 GEMM inputs: the rows are copied as they are, priced as a stream
    f8, f8_plain = _layer_ops_us("fp8", k), _layer_ops_us("fp8", 0.0)
    assert f8["router_topk"] == f8_plain["router_topk"]
    assert f8[MOE_ACT_OP] > f8_plain[MOE_ACT_OP]  # the activation is issue-bound either way
