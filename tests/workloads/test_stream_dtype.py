"""8-bit activations quantize GEMM inputs only: the residual stream, norms, collectives and
logits between the GEMMs stay 16-bit (workloads/builder.py `_Step.stream`)."""

from __future__ import annotations

from infersim.api import load_model, make_scenario
from infersim.workloads import build_trace
from infersim.workloads.dtypes import DType


def _ops(activations: str) -> dict[str, object]:
    sc = make_scenario("decode", 4, context=100, weights="fp8", activations=activations, tp=2)
    return {o.name: o for o in build_trace(load_model("llama-3.1-8b"), sc).ops}


def test_fp8_activations_keep_the_residual_stream_and_all_reduces_bf16() -> None:
    ops = _ops("fp8")
    # 4 tokens x hidden 4096 x 2 bytes (bf16), summed over the TP pair after o_proj
    assert ops["attn_allreduce"].shape.bytes == 4 * 4096 * 2
    assert ops["attn_allreduce"].dtype is DType.BF16
    assert ops["qkv_proj"].dtype is DType.FP8 and ops["down_proj"].dtype is DType.FP8
    for name in ("input_norm", "attn_residual", "act", "rope", "embed_tokens"):
        assert ops[name].dtype is DType.BF16, name
    # logits gathered across the pair: 4 rows x ceil(128256 / 2) x 2 bytes
    assert ops["logits_allgather"].shape.bytes == 4 * 64128 * 2


def test_16_bit_activations_are_unchanged() -> None:
    ops = _ops("bf16")
    assert ops["attn_allreduce"].shape.bytes == 4 * 4096 * 2
    assert ops["qkv_proj"].dtype is DType.BF16 and ops["input_norm"].dtype is DType.BF16



def _head(weights: str, activations: str | None = None, lm_head: str | None = None,
          model: str = "llama-3.1-8b") -> object:
    sc = make_scenario("decode", 4, context=100, weights=weights, activations=activations,
                       lm_head=lm_head)
    tr = build_trace(load_model(model), sc)
    return next(o for o in tr.ops if o.name == "lm_head")


def test_a_16_bit_lm_head_under_8_bit_weights() -> None:
    """A ModelOpt fp8 checkpoint (lm_head excluded): the 128256 x 4096 output matrix at 2
    bytes, run as a bf16 GEMM on the bf16 stream; without --lm-head it follows the weights."""
    head = _head("fp8", "fp8", lm_head="bf16")
    assert head.shape.weight_dtype is DType.BF16 and head.dtype is DType.BF16
    assert head.bytes.weight == 128256 * 4096 * 2
    plain = _head("fp8", "fp8")
    assert plain.shape.weight_dtype is DType.FP8 and plain.dtype is DType.FP8
    assert plain.bytes.weight == 128256 * 4096
    # the other layers do not move
    sc = make_scenario("decode", 4, context=100, weights="fp8", activations="fp8")
    base = build_trace(load_model("llama-3.1-8b"), sc)
    bf16_head = build_trace(load_model("llama-3.1-8b"), make_scenario(
        "decode", 4, context=100, weights="fp8", activations="fp8", lm_head="bf16"))
    assert bf16_head.weight_bytes() - base.weight_bytes() == 128256 * 4096


def test_quantized_checkpoints_keep_lm_head_bf16() -> None:
    """Every quantization_config method read (DeepSeek-V3's block fp8 here) leaves the
    output projection unquantized: 129280 x 7168 at 2 bytes."""
    head = _head("checkpoint", model="deepseek-v3")
    assert head.shape.weight_dtype is DType.BF16
    assert head.bytes.weight == 129280 * 7168 * 2


def test_fp8_moe_keeps_its_activation_function_and_weighted_sum_bf16() -> None:
    """A fused-MoE layer under fp8 activations: the expert GEMMs take fp8 inputs, the
    activation function and the weighted sum of the top-k outputs run on the bf16 stream,
    as the dense MLP's act. Mixtral-8x7B, 4 decode tokens, one chip: 8 (token, expert)
    pairs x 14,336 columns; act reads gate and up (2 x 8 x 14,336 x 2 B) and writes
    8 x 14,336 x 2 B; the weighted sum reads the 2 outputs per token (2 x 4 x 4096 x 2 B)
    and writes 4 x 4096 x 2 B."""
    sc = make_scenario("decode", 4, context=100, weights="fp8", activations="fp8")
    ops = {o.name: o for o in build_trace(load_model("mixtral-8x7b"), sc).ops}
    assert ops["experts_gate_up"].dtype is DType.FP8 and ops["experts_down"].dtype is DType.FP8
    act, wsum = ops["experts_act"], ops["experts_weighted_sum"]
    assert act.dtype is DType.BF16 and wsum.dtype is DType.BF16
    assert act.bytes.act_in == 2 * 8 * 14336 * 2 and act.bytes.act_out == 8 * 14336 * 2
    assert wsum.bytes.act_in == 2 * 4 * 4096 * 2 and wsum.bytes.act_out == 4 * 4096 * 2
