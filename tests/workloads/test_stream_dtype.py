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
