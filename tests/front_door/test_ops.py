"""Operator constructors: FLOPs and bytes against hand arithmetic and brute force."""

import itertools

import pytest

from infersim.foundation.errors import InputError
from infersim.workloads import ops
from infersim.workloads.dtypes import DType


def test_matmul_hand_arithmetic():
    op = ops.matmul(1, 4096, 6144, "bf16")
    assert op.flops == 2 * 1 * 4096 * 6144
    assert op.bytes.weight == 4096 * 6144 * 2
    assert op.bytes.act_in == 4096 * 2
    assert op.bytes.act_out == 6144 * 2


def test_matmul_weight_only_quantization_bytes():
    bf16 = ops.matmul(16, 8192, 8192, "bf16")
    int4 = ops.matmul(16, 8192, 8192, "bf16", weight_dtype="int4")
    assert int4.bytes.weight == bf16.bytes.weight / 4
    assert int4.bytes.act_in == bf16.bytes.act_in
    assert int4.flops == bf16.flops


def test_matmul_groups_scale_everything():
    one = ops.matmul(8, 64, 32)
    four = ops.matmul(8, 64, 32, groups=4)
    assert four.flops == 4 * one.flops
    assert four.bytes.total == 4 * one.bytes.total


def test_decode_attention_gqa_hand_arithmetic():
    op = ops.attention(batch=1, heads=32, kv_heads=8, head_dim=128, q_len=1, kv_len=1024,
                       causal=False)
    # scores + weighted sum: 2 FLOP per MAC, (128 + 128) MACs per (query, key) pair per head
    assert op.flops == 2 * 32 * 1024 * 256 + 5 * 32 * 1024
    # K and V of 8 kv heads, 1024 positions, 128 dims, 2 bytes
    assert op.bytes.kv_read == 2 * 8 * 1024 * 128 * 2
    assert op.bytes.act_in == 32 * 128 * 2


@pytest.mark.parametrize("q_len,kv_len", [(1, 1), (4, 4), (2, 5), (7, 7), (3, 10)])
def test_causal_pairs_brute_force(q_len, kv_len):
    op = ops.attention(1, 1, 1, 8, q_len, kv_len, causal=True)
    first = kv_len - q_len  # absolute position of the first new query
    brute = sum(1 for i, j in itertools.product(range(q_len), range(kv_len)) if j <= first + i)
    assert op.shape.attended_pairs == brute


def test_kv_dtype_changes_only_kv_bytes():
    a = ops.attention(2, 8, 8, 64, 1, 100, False, "bf16")
    b = ops.attention(2, 8, 8, 64, 1, 100, False, "bf16", kv_dtype="fp8")
    assert b.bytes.kv_read == a.bytes.kv_read / 2
    assert b.bytes.act_in == a.bytes.act_in


def test_all_reduce_flops_are_the_reduction_adds():
    op = ops.collective("all_reduce", message_bytes=8192 * 2, group_size=8, dtype="bf16")
    assert op.flops == 8192 * 7 / 8


@pytest.mark.parametrize("bad", [0, -1, 1.5, True])
def test_bad_sizes_are_input_errors(bad):
    with pytest.raises(InputError):
        ops.matmul(bad, 4, 4)


def test_bad_dtype_lists_choices():
    with pytest.raises(InputError, match="bf16"):
        ops.matmul(1, 4, 4, "bf61")


def test_dtype_bytes_table():
    assert [DType(d).bytes for d in ("fp32", "bf16", "fp8", "int4")] == [4, 2, 1, .5]
    # block-scaled fp4 moves its scales: NVFP4 one 1-byte scale per 16 values, MXFP4 per 32
    assert DType("fp4").bytes == (16 * 0.5 + 1) / 16 == 0.5625
    assert DType("mxfp4").bytes == (32 * 0.5 + 1) / 32 == 0.53125
    assert DType.parse("nvfp4") is DType.FP4 and DType("fp4").bits == DType("mxfp4").bits == 4
