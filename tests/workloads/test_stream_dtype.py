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
