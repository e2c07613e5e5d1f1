"""A fused engine's MoE routing kernels (`mapper.kernels.moe_routing_kernels`): how many
kernels sort the (token, expert) pairs, and what TensorRT-LLM's permute moves, by hand from
the engines' source (cited in `hwmodels.models.gpu.engines`)."""

from __future__ import annotations

import pytest

from infersim.api import load_hardware, make_scenario
from infersim.hwmodels.models.gpu.engines import lookup
from infersim.mapper import kernels as K
from infersim.mapper import map_trace
from infersim.workloads import build_trace, load_model


def _names(model: str, runtime: str, phase: str, batch: int, **kw) -> list[str]:
    sc = make_scenario(phase, batch, routing_skew=0.0, **kw)
    df = map_trace(build_trace(load_model(model), sc), load_hardware("h100-sxm"),
                   runtime).to_frame().set_index("name")
    return str(df.loc["router_topk", "map_kernel_names"]).split("+")


def test_trtllm_sorts_in_one_kernel_up_to_256_tokens_then_three():
    # fusedBuildExpertMapsSortFirstToken for <= 256 tokens, else the three-step prologue;
    # then expandInputRows permutes the rows
    small = _names("qwen3-30b-a3b", "trtllm", "decode", 256, context=512)
    assert small == ["router_topk", "moe_sort0", "moe_permute"]
    large = _names("qwen3-30b-a3b", "trtllm", "prefill", 1, prompt=257)
    assert large == ["router_topk", "moe_sort0", "moe_sort1", "moe_sort2", "moe_permute"]


def test_triton_fused_moe_aligns_without_a_permute():
    # moe_align_block_size: zero-filled cumsum + one small-batch kernel below 1024 ids and
    # at most 64 experts (Mixtral: 8 experts, top-2), else + two kernels (Qwen3: 128 experts)
    assert _names("mixtral-8x7b", "vllm-v1", "decode", 511, context=256) == [
        "router_topk", "moe_sort0", "moe_sort1"]
    assert _names("mixtral-8x7b", "vllm-v1", "decode", 512, context=256) == [
        "router_topk", "moe_sort0", "moe_sort1", "moe_sort2"]
    assert _names("qwen3-30b-a3b", "sglang", "decode", 1, context=256) == [
        "router_topk", "moe_sort0", "moe_sort1", "moe_sort2"]


def test_plain_pytorch_has_no_engine_routing_kernels():
    sc = make_scenario("decode", 8, context=256)
    for rt in ("graph", "eager"):
        df = map_trace(build_trace(load_model("qwen3-30b-a3b"), sc), load_hardware("h100-sxm"),
                       rt).to_frame().set_index("name")
        assert "moe_sort0" not in str(df.loc["router_topk", "map_kernel_names"])


def _permute(prompt: int):
    """(the expert gate-up GEMMs, TensorRT-LLM's routing kernels) of a Qwen3-30B-A3B fp8
    prefill of `prompt` tokens under uniform routing."""
    sc = make_scenario("prefill", 1, prompt=prompt, weights="fp8", activations="fp8",
                       routing_skew=0.0)
    ops = list(build_trace(load_model("qwen3-30b-a3b"), sc).ops)
    i = next(j for j, o in enumerate(ops) if o.name == "router_topk")
    ups = [o for o in ops[i + 1:] if o.name.startswith("experts_gate_up")]
    return ups, K.moe_routing_kernels(ops[i], ops[i - 1], ups, lookup("trtllm"))


def test_permute_writes_every_pair_row_in_the_gemm_input_dtype():
    # Qwen3-30B-A3B: 1,024 prompt tokens x top-8 = 8,192 (token, expert) rows of 2,048 fp8
    # values written, each of the 1,024 token rows read once: 16.8 MB + 2.1 MB
    _, ks = _permute(1024)
    permute = ks[-1].op
    assert ks[-1].label == "moe_permute"
    assert permute.bytes.act_out == pytest.approx(8192 * 2048 * 1.0)
    assert permute.bytes.act_in == pytest.approx(1024 * 2048 * 1.0)


def test_permute_moves_the_real_pairs_not_the_gemms_padded_rows():
    # 1,000 tokens x top-8 = 8,000 pairs over Qwen3's 128 experts: the grouped GEMM's shape
    # holds ceil(8,000 / 128) = 63 rows per expert (8,064), the permute writes the 8,000
    ups, ks = _permute(1000)
    assert ups[0].shape.m * ups[0].shape.groups == 63 * 128
    permute = ks[-1].op
    assert permute.bytes.act_out == pytest.approx(8000 * 2048 * 1.0)
