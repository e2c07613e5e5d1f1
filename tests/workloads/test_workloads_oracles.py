"""Hand-derived oracles for the trace builder: every expected value is written out by hand."""

from __future__ import annotations

import itertools
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from infersim.api import make_scenario
from infersim.workloads import build_trace, load_model, summarize
from infersim.workloads.builder import experts_touched
from infersim.workloads.dtypes import DType
from infersim.workloads.model import ModelConfig
from infersim.workloads.ops import AttentionShape, Collective, CollectiveShape, OpKind

TINY = {  # a made-up Llama: every number below is computed by hand from these
    "model_type": "llama", "hidden_size": 64, "num_hidden_layers": 2,
    "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 16,
    "intermediate_size": 128, "vocab_size": 100, "max_position_embeddings": 512,
}


def _ops(tr, kind=None, name=None):
    return [o for o in tr.ops if (kind is None or o.kind is kind) and (name is None
                                                                       or o.name == name)]


def test_tiny_llama_decode_by_hand() -> None:
    tr = build_trace(load_model(TINY), make_scenario("decode", 1, context=10))
    # matmul FLOPs per layer (m = 1 token): qkv 2·64·(4+2+2)·16 = 16384, o 2·64·64 = 8192,
    # gate_up 2·64·256 = 32768, down 2·128·64 = 16384 → 73728; ×2 layers + lm_head 2·64·100
    assert tr.matmul_flops() == 2 * 73728 + 12800
    # weights (bf16, 2 B): per layer (64·128 + 64·64 + 64·256 + 128·64) = 36864 elems + two
    # RMSNorm gains of 64 → 36992 elems; ×2 layers + final norm 64 + lm_head 6400 + one
    # gathered embedding row 64
    assert tr.weight_bytes() == 2 * (2 * 36992 + 64 + 6400 + 64)
    # KV cache: 2 (K,V) · 2 kv heads · 16 dims · 2 B = 128 B per token per layer
    assert tr.bytes.kv_write == 2 * 128  # one new token, 2 layers
    assert tr.bytes.kv_read == 2 * 11 * 128  # kv_len = 10 + 1 tokens, 2 layers
    att = _ops(tr, OpKind.ATTENTION)[0]
    # 4 heads × 11 keys: 2·(16+16) FLOPs per pair for QK and PV + 5 softmax
    assert att.flops == 4 * 11 * (2 * 32 + 5)
    assert att.count == 2


def test_tiny_llama_prefill_lm_head_last_token_only() -> None:
    tr = build_trace(load_model(TINY), make_scenario("prefill", 3, prompt=20))
    lm = _ops(tr, name="lm_head")[0]
    assert lm.shape.m == 3  # one row per sequence
    qkv = _ops(tr, name="qkv_proj")[0]
    assert qkv.shape.m == 60  # 3 × 20 tokens
    att = _ops(tr, OpKind.ATTENTION)[0]
    assert att.shape.attended_pairs == 20 * 21 // 2  # causal


def test_llama_31_8b_kv_bytes_per_token(llama8b: ModelConfig) -> None:
    assert llama8b.kv_bytes_per_token("bf16") == 2 * 8 * 128 * 32 * 2 == 131072
    assert summarize(llama8b).kv_bytes_per_token("fp8") == 65536
    # one decode token writes exactly that
    tr = build_trace(llama8b, make_scenario("decode", 1, context=5))
    assert tr.bytes.kv_write == 131072


def test_deepseek_v3_latent_kv(deepseek_v3: ModelConfig) -> None:
    # (kv_lora_rank 512 + rope 64) values per token per layer, 61 layers, bf16
    assert deepseek_v3.kv_bytes_per_token("bf16") == (512 + 64) * 61 * 2
    tr = build_trace(deepseek_v3, make_scenario("decode", 1, context=999))
    att = _ops(tr, OpKind.ATTENTION)[0]
    assert att.bytes.kv_read == 1000 * 576 * 2  # latent read once (shared K/V)


def test_decode_kv_read_linear_in_context(llama8b: ModelConfig) -> None:
    reads = [build_trace(llama8b, make_scenario("decode", 2, context=c)).bytes.kv_read
             for c in (100, 1100, 2100)]
    per_token = 2 * 131072  # batch 2
    assert reads[1] - reads[0] == 1000 * per_token
    assert reads[2] - reads[1] == 1000 * per_token
    assert reads[0] == 101 * per_token


def test_tp2_halves_matmul_flops_and_adds_two_allreduces_per_layer(llama8b: ModelConfig) -> None:
    one = build_trace(llama8b, make_scenario("decode", 4, context=64, tp=1))
    two = build_trace(llama8b, make_scenario("decode", 4, context=64, tp=2))
    assert two.matmul_flops() == one.matmul_flops() / 2  # vocab 128256 is even
    layer_ar = [o for o in two.ops if o.kind is OpKind.COLLECTIVE and o.block == "layer"
                and o.shape.collective is Collective.ALL_REDUCE]
    assert sum(o.count for o in layer_ar) == 2 * 32
    assert all(o.shape.bytes == 4 * 4096 * 2 for o in layer_ar)  # tokens·hidden·2 B
    assert not [o for o in one.ops if o.kind is OpKind.COLLECTIVE]


def test_tp_beyond_kv_heads_replicates_kv_heads(llama70b: ModelConfig) -> None:
    # 64 heads, 8 KV heads
    tr = build_trace(llama70b, make_scenario("decode", 1, context=10, tp=16))
    att = _ops(tr, OpKind.ATTENTION)[0]
    assert (att.shape.heads, att.shape.kv_heads) == (4, 1)
    assert _ops(tr, name="qkv_proj")[0].shape.n == (4 + 2) * 128


def test_int4_weight_bytes_quarter_of_bf16() -> None:
    m = load_model("qwen2.5-7b")
    bf16 = build_trace(m, make_scenario("decode", 1, context=10, weights="bf16"))
    int4 = build_trace(m, make_scenario("decode", 1, context=10, weights="int4"))
    assert int4.weight_bytes() == bf16.weight_bytes() / 4
    assert int4.flops == bf16.flops


def test_speculative_decode_tokens_and_draft_steps(llama8b: ModelConfig) -> None:
    tr = build_trace(llama8b, make_scenario("spec_decode", 2, context=100, draft_len=4,
                                            draft_model="llama-3.2-1b"))
    target_qkv = next(o for o in _ops(tr, name="qkv_proj") if o.block != "draft")
    assert target_qkv.shape.m == 2 * 5  # batch × (draft_len + 1) verified tokens
    assert _ops(tr, name="lm_head")[0].shape.m == 10  # logits for every verified token
    draft_att = [o for o in tr.ops if o.block == "draft" and o.kind is OpKind.ATTENTION]
    assert sorted(o.shape.kv_len for o in draft_att) == [101, 102, 103, 104]
    assert all(o.count == 16 for o in draft_att)  # the 1B draft's 16 layers
    draft_qkv = next(o for o in tr.ops if o.block == "draft" and o.name == "qkv_proj")
    assert draft_qkv.count == 4 * 16 and draft_qkv.shape.m == 2


def test_self_drafting_heads(llama8b: ModelConfig) -> None:
    tr = build_trace(llama8b, make_scenario("spec_decode", 1, context=10, draft_len=3))
    heads = [o for o in tr.ops if o.block == "draft"]
    mm = {o.name: o for o in heads if o.kind is OpKind.MATMUL}
    assert mm["draft_heads"].flops == 2 * 4096 * 4096 * 3
    assert mm["draft_heads_lm"].flops == 2 * 4096 * 128256 * 3


def test_chunked_prefill_attention_pairs() -> None:
    m = load_model("mistral-7b")
    tr = build_trace(m, make_scenario("chunked_prefill", 1, context=300, chunk=50))
    att = _ops(tr, OpKind.ATTENTION)[0]
    assert att.shape.attended_pairs == 50 * 300 + 50 * 51 // 2
    assert _ops(tr, name="lm_head")[0].shape.m == 1


def test_pipeline_parallel_send_recv(llama70b: ModelConfig) -> None:
    tr = build_trace(llama70b, make_scenario("decode", 8, context=10, pp=4))
    pp = [o for o in tr.ops if isinstance(o.shape, CollectiveShape)
          and o.shape.collective is Collective.SEND_RECV]
    assert len(pp) == 1 and pp[0].count == 3 and pp[0].shape.bytes == 8 * 8192 * 2


def test_gemma2_sliding_window_layers() -> None:
    m = load_model("gemma-2-9b")  # 42 layers, even ones slide over 4096 keys
    tr = build_trace(m, make_scenario("decode", 1, context=6000))
    att = {o.name: o for o in _ops(tr, OpKind.ATTENTION)}
    assert att["attention"].count == att["attention_sliding"].count == 21
    per_token = 2 * 8 * 256 * 2  # K and V, 8 kv heads, head_dim 256, bf16
    assert att["attention"].bytes.kv_read == 6001 * per_token
    assert att["attention_sliding"].bytes.kv_read == 4096 * per_token
    assert len(_ops(tr, OpKind.NORM)) == 5  # 4 per layer + final


def test_moe_expert_flops_exact_and_touched_experts(mixtral: ModelConfig) -> None:
    assert experts_touched(8, 2, 1) == pytest.approx(2.0)  # one token: exactly top_k
    assert experts_touched(8, 2, 2) == pytest.approx(8 * (1 - 0.75 ** 2))  # 3.5
    tr = build_trace(mixtral, make_scenario("decode", 3, context=10))
    ex = _ops(tr, OpKind.MOE_EXPERTS)
    # 3 tokens × top-2 = 6 (token, expert) pairs through gate_up (4096→2·14336) and down
    assert sum(o.flops for o in ex) == 6 * (2 * 4096 * 28672 + 2 * 14336 * 4096)
    # expected distinct experts 8·(1 - (6/8)^3) = 4.625 → 5 expert weight sets read
    up = [o for o in ex if o.name.startswith("experts_gate_up")]
    assert sum(o.shape.groups for o in up) == 5
    assert sum(o.bytes.weight for o in up) == 5 * 4096 * 28672 * 2


def test_expert_parallel_all_to_all(mixtral: ModelConfig) -> None:
    # uniform routing (routing_skew 0): the busiest of 2 ranks is above the even 64 pairs
    # only by sampling, E[max of 2 standard normals] = 1/sqrt(pi), over sqrt(64)
    tr = build_trace(mixtral, make_scenario("prefill", 1, prompt=64, tp=2, ep=2,
                                            moe_exchange="all_to_all", routing_skew=0.0))
    hot = 1.0 + 1.0 / math.sqrt(math.pi) / 8.0
    a2a = [o for o in tr.ops if isinstance(o.shape, CollectiveShape)
           and o.shape.collective is Collective.ALL_TO_ALL]
    assert [o.name for o in a2a] == ["moe_dispatch", "moe_combine"]
    # the busiest chip receives its 32 tokens' × top-2 copies × 4096 × 2 B, times hot
    for o in a2a:
        assert o.shape.bytes == pytest.approx(32 * 2 * 4096 * 2 * hot, rel=1e-6)
        assert o.count == 32
    ex = _ops(tr, OpKind.MOE_EXPERTS)
    # this chip: ceil(64·2/2 · hot) = 69 pairs over its 4 experts (full width: tp/ep = 1):
    # the FLOPs of 69 rows of 4096 x 2·14336, in one grouped launch of 4 experts whose
    # tiles hold ceil(69 / 4) = 18 rows each
    (up,) = [o for o in ex if "gate_up" in o.name]
    assert up.flops == 2.0 * 69 * 4096 * 2 * 14336
    assert (up.shape.groups, up.shape.m) == (4, 18)


def test_expert_parallel_allgather_exchange(mixtral: ModelConfig) -> None:
    # data-parallel attention (tp 1, dp 2, ep 2), 64 tokens per group: every rank gathers
    # all 128 tokens (each contributes its 64 × 4096 × 2 B) and reduce-scatters the 128
    # summed rows (128 × 4096 × 2 B in); no all-to-all
    tr = build_trace(mixtral, make_scenario("prefill", 2, prompt=64, tp=1, dp=2, ep=2,
                                            moe_exchange="allgather", routing_skew=0.0))
    coll = {o.name: o.shape for o in tr.ops if isinstance(o.shape, CollectiveShape)}
    assert coll["moe_dispatch"].collective is Collective.ALL_GATHER
    assert coll["moe_dispatch"].bytes == 64 * 4096 * 2
    assert coll["moe_combine"].collective is Collective.REDUCE_SCATTER
    assert coll["moe_combine"].bytes == 128 * 4096 * 2
    # the finalize writes all 128 rows, reading this rank's pairs: ceil(128·2/2 · hot)
    hot = 1.0 + 1.0 / math.sqrt(math.pi) / math.sqrt(128.0)
    ws = _ops(tr, name="experts_weighted_sum")[0]
    assert ws.shape.numel == 128 * 4096
    assert ws.bytes.act_in == pytest.approx(math.ceil(128 * hot) * 4096 * 2)
    # under TP attention (tp = ep = 2, dp 1) the tokens are already on both ranks: no
    # gather, an all-reduce of the 64 rows after the experts
    tp = build_trace(mixtral, make_scenario("prefill", 1, prompt=64, tp=2, ep=2,
                                            moe_exchange="allgather"))
    names = [o.name for o in tp.ops if isinstance(o.shape, CollectiveShape)]
    assert "moe_dispatch" not in names and "moe_combine" not in names
    assert "moe_allreduce" in names


def test_gpt3_learned_positions_and_biases() -> None:
    m = load_model("gpt-3-175b")
    tr = build_trace(m, make_scenario("decode", 1, context=10))
    names = {o.name for o in tr.ops}
    assert {"embed_positions", "qkv_bias", "o_bias", "up_bias", "down_bias"} <= names
    assert "rope" not in names
    # 4x GELU MLP: up 12288→49152
    assert _ops(tr, name="up_proj")[0].shape.n == 4 * 12288


@settings(max_examples=200, deadline=None)
@given(q=st.integers(1, 40), extra=st.integers(0, 60), w=st.integers(0, 80))
def test_attended_pairs_match_brute_force(q: int, extra: int, w: int) -> None:
    kv = q + extra
    shape = AttentionShape(1, 1, 1, 8, q, kv, True, 0, DType.BF16, w, False)
    brute = sum(min(p + 1, w) if w else p + 1 for p in range(kv - q, kv))
    assert shape.attended_pairs == brute
    # keys any query can see: the union of the windows
    seen = set(itertools.chain.from_iterable(
        range(max(0, p + 1 - w) if w else 0, p + 1) for p in range(kv - q, kv)))
    assert shape.kv_tokens == len(seen)
