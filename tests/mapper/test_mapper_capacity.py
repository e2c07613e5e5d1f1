"""Capacity: the mapper sizes a chip's memory from the model's RESIDENT state (every parameter,
every expert, the whole embedding shard, the KV cache of batch × kv_len tokens), not from the
bytes one step reads. Expected values are parameter counts done by hand from each model's
config.json (no biases; norms are gains) and published totals."""

from __future__ import annotations

import pytest

from infersim.hwmodels.spec import Hardware
from infersim.mapper import map_trace
from infersim.mapper.placement import footprint
from infersim.workloads import build_trace, load_model
from infersim.workloads.dtypes import DType
from infersim.workloads.model import ModelConfig
from infersim.workloads.ops import OpKind
from infersim.workloads.scenario import Parallelism, Phase, Precision, Scenario, SpecDecode
from infersim.workloads.trace import Trace


def _decode(model: str, *, batch: int = 1, context: int = 1024, tp: int = 1, pp: int = 1,
            ep: int = 1, **kw: object) -> Trace:
    return build_trace(load_model(model), Scenario(Phase.DECODE, batch, context=context,
                                                   parallel=Parallelism(tp, pp, ep), **kw))


# Llama-3.1-8B (config.json: V 128256, h 4096, 32 layers, 32 heads, 8 KV heads of 128, I 14336)
L8_QKV = 4096 * (4096 + 2 * 8 * 128)
L8_O = 4096 * 4096
L8_MLP = 3 * 4096 * 14336
L8_NORMS = 2 * 4096
L8_TABLE = 128256 * 4096
L8_KV_TOKEN = 32 * 2 * 8 * 128 * 2  # layers × (K, V) × KV heads × head_dim × bf16 bytes


def test_llama_8b_param_count_matches_meta() -> None:
    total = 32 * (L8_QKV + L8_O + L8_MLP + L8_NORMS) + 2 * L8_TABLE + 4096
    assert total == pytest.approx(8.03e9, rel=1e-3)  # Meta model card: 8.03B
    r = _decode("llama-3.1-8b").resident
    assert r is not None and r.weight_bytes == 2 * total


def test_tensor_parallel_shards_by_hand() -> None:
    # TP=2: q/k/v, o, gate/up/down, embedding and lm_head split in two; norms replicated
    per_chip = (32 * ((L8_QKV + L8_O + L8_MLP) // 2 + L8_NORMS) + L8_TABLE + 4096)
    r = _decode("llama-3.1-8b", tp=2).resident
    assert r is not None
    assert r.weight_bytes == 2 * per_chip
    assert r.stage_kv_bytes_per_token == (L8_KV_TOKEN / 2,)  # 4 of the 8 KV heads per chip


def test_pipeline_stages_by_hand() -> None:
    # PP=2: 16 layers each; the embedding on stage 0, final norm + lm_head on stage 1
    layer = L8_QKV + L8_O + L8_MLP + L8_NORMS
    r = _decode("llama-3.1-8b", pp=2, context=999).resident
    assert r is not None
    assert r.stage_weight_bytes == (2 * (16 * layer + L8_TABLE),
                                    2 * (16 * layer + L8_TABLE + 4096))
    assert r.stage_kv_bytes_per_token == (L8_KV_TOKEN / 2, L8_KV_TOKEN / 2)
    assert r.kv_tokens == 1000
    assert r.busiest_stage == 1 and r.weight_bytes == r.stage_weight_bytes[1]


def test_tied_embeddings_are_held_by_both_end_stages() -> None:
    # Llama-3.2-1B ties lm_head to the token table (128256 × 2048): one copy at PP=1; at
    # PP=2 the first stage (embedding) and the last (lm_head) each hold it.
    layer = 2048 * (2048 + 2 * 8 * 64) + 2048 * 2048 + 3 * 2048 * 8192 + 2 * 2048
    table = 128256 * 2048
    one = _decode("llama-3.2-1b").resident
    two = _decode("llama-3.2-1b", pp=2).resident
    assert one is not None and two is not None
    assert one.weight_bytes == 2 * (16 * layer + table + 2048)
    assert one.weight_bytes == pytest.approx(2 * 1.24e9, rel=1e-2)  # Meta: 1.24B
    assert two.stage_weight_bytes == (2 * (8 * layer + table), 2 * (8 * layer + table + 2048))


def test_moe_holds_every_expert_under_expert_parallelism() -> None:
    # Mixtral-8x7B TP=2, EP=2: 4 of the 8 experts per chip, each whole (tp/ep = 1);
    # attention and vocab shards halved; router (4096 × 8) and norms replicated.
    expert = 3 * 4096 * 14336
    attn = (L8_QKV + L8_O) // 2  # Mixtral has Llama-8B's attention shapes
    per_layer = attn + 4 * expert + 4096 * 8 + 2 * 4096
    per_chip = 32 * per_layer + 32000 * 4096 + 4096
    r = _decode("mixtral-8x7b", tp=2, ep=2).resident
    assert r is not None and r.weight_bytes == 2 * per_chip


def test_mla_latent_cache_is_replicated_over_tp() -> None:
    # DeepSeek-V3 caches one latent of kv_lora_rank + qk_rope_head_dim = 512 + 64 values per
    # token and layer, replicated on every TP chip: 61 × 576 × 2 B whatever the TP degree.
    for tp in (1, 8):
        r = _decode("deepseek-v3", tp=tp, ep=1, context=100).resident
        assert r is not None and r.stage_kv_bytes_per_token == (61 * 576 * 2,)


def test_draft_model_is_resident_on_the_first_stage(llama8b: ModelConfig) -> None:
    spec = SpecDecode("llama-3.2-1b", draft_len=3, acceptance=0.7)
    sd = build_trace(llama8b,
                     Scenario(Phase.SPEC_DECODE, 1, context=100, spec=spec)).resident
    target = _decode("llama-3.1-8b").resident
    draft = _decode("llama-3.2-1b").resident
    assert sd is not None and target is not None and draft is not None
    assert sd.weight_bytes == target.weight_bytes + draft.weight_bytes
    assert sd.stage_kv_bytes_per_token[0] == (L8_KV_TOKEN
                                              + draft.stage_kv_bytes_per_token[0])


def test_mixtral_decode_does_not_fit_one_h100_though_a_step_reads_two_experts(
        h100: Hardware) -> None:
    # 46.7B parameters (Mistral AI) × 2 B = 93.4 GB > 85.52 GB (81559 MiB), although one decode token reads
    # only 2 of the 8 experts per layer (~25 GB of weights).
    expert = 3 * 4096 * 14336
    params = 32 * (L8_QKV + L8_O + 8 * expert + 4096 * 8 + 2 * 4096) + 2 * 32000 * 4096 + 4096
    assert params == pytest.approx(46.7e9, rel=1e-3)
    tr = _decode("mixtral-8x7b")
    assert tr.weight_bytes() < 80e9 / 2  # what the step reads would "fit"
    s = map_trace(tr, h100, "graph")
    assert not s.feasible
    assert s.infeasible is not None
    assert s.infeasible.demand >= 2 * params
    assert s.infeasible.demand == pytest.approx(93.4e9, rel=0.01)
    assert s.infeasible.capacity == 85.52e9
    # the H100 spec lets activations sit in L2, so the binding set is weights + KV in HBM
    d = s.infeasible.detail
    assert s.infeasible.demand == d["weights_bytes"] + d["kv_bytes"]
    assert s.memory_per_chip_bytes == s.infeasible.demand + d["activations_bytes"]


def test_llama_70b_bf16_fits_dgx_h100_at_tp8(dgx_h100: Hardware) -> None:
    s = map_trace(_decode("llama-3.1-70b", tp=8), dgx_h100, "fused")
    assert s.feasible
    # 70.6B parameters (Meta) × 2 B / 8 chips ≈ 17.6 GB per chip (+ small KV/activations)
    assert s.memory_per_chip_bytes == pytest.approx(70.6e9 * 2 / 8, rel=0.01)


def test_llama_405b_on_one_h100_reports_the_whole_demand(h100: Hardware) -> None:
    layer = (16384 * (16384 + 2 * 8 * 128) + 16384 * 16384 + 3 * 16384 * 53248 + 2 * 16384)
    params = 126 * layer + 2 * 128256 * 16384 + 16384
    assert params == pytest.approx(405.85e9, rel=1e-3)
    kv = 126 * 2 * 8 * 128 * 2 * 1025  # one sequence, 1024 cached + 1 new token, bf16
    s = map_trace(_decode("llama-3.1-405b"), h100, "graph")
    inf = s.infeasible
    assert inf is not None
    assert inf.demand == pytest.approx(2 * params + kv, rel=1e-3)  # ≈ 811.7 GB + 0.53 GB
    assert inf.detail["chips_needed"] == -(-inf.demand // 85.52e9) == 10  # of 85.52 GB


def test_kv_cache_that_outgrows_memory_is_named(h100: Hardware) -> None:
    small = map_trace(_decode("llama-3.1-8b"), h100, "graph")
    assert small.feasible
    # 256 sequences × 131072 tokens × 131072 B/token = 4.40 TB of KV cache
    big = _decode("llama-3.1-8b", batch=256, context=131071)
    s = map_trace(big, h100, "graph")
    inf = s.infeasible
    assert inf is not None
    assert "KV cache" in inf.resource
    assert inf.detail["kv_bytes"] == 256 * 131072 * L8_KV_TOKEN
    assert any("KV" in lever for lever in inf.levers)


def test_fp8_kv_halves_the_cache_and_int4_weights_quarter_them(llama8b: ModelConfig) -> None:
    sc = Scenario(Phase.DECODE, 4, context=511, precision=Precision(DType.INT4, DType.BF16, DType.FP8))
    r = build_trace(llama8b, sc).resident
    ref = _decode("llama-3.1-8b", batch=4, context=511).resident
    assert r is not None and ref is not None
    assert r.kv_bytes == ref.kv_bytes / 2
    assert r.weight_bytes == ref.weight_bytes / 4


def test_hand_built_trace_falls_back_to_what_its_ops_read() -> None:
    tr = _decode("llama-3.1-8b")
    bare = Trace(tr.model, tr.scenario, tr.ops)  # no resident state
    fp = footprint(bare)
    assert fp.weight_bytes == sum(o.bytes.weight * o.count for o in tr.ops)
    assert fp.kv_bytes == sum(o.bytes.kv_read * o.count for o in tr.ops
                              if o.kind is OpKind.ATTENTION)


def test_balanced_layers_by_hand_and_against_brute_force() -> None:
    from itertools import product

    from infersim.workloads.trace import balanced_layers, even_layers

    assert balanced_layers(80, [0.0] * 72, 1.0) == even_layers(80, 72)
    # Llama-3-70B int8 on 72 stages of TP8 LPUs: the vocab shard (128256/8 × 8192 B = 131 MB)
    # outweighs a layer (107 MB): the end stages take no layer, stages 1-10 take two.
    want = (0,) + (2,) * 10 + (1,) * 60 + (0,)
    assert balanced_layers(80, [131.0] + [0.0] * 70 + [131.0], 107.0) == want
    # the water-filling split minimizes the largest stage (brute force over all splits)
    for fixed in ([5.0, 0.0, 3.0], [0.0, 9.0, 0.0], [2.5, 2.5, 7.0]):
        for layers in range(8):
            got = balanced_layers(layers, fixed, 2.0)
            assert sum(got) == layers
            best = min(max(f + 2.0 * n for f, n in zip(fixed, split, strict=True))
                       for split in product(range(layers + 1), repeat=3)
                       if sum(split) == layers)
            assert max(f + 2.0 * n for f, n in zip(fixed, got, strict=True)) == best


def test_repeated_ops_follow_the_layer_split() -> None:
    from infersim.workloads import ops as O
    from infersim.workloads.trace import stage_counts

    layer_op = O.matmul(1, 8, 8, count=10, block="layer")
    assert stage_counts(layer_op, (2, 3, 5)) == [2, 3, 5]
    # 4 executions over layer ranges [0,2), [2,5), [5,10): floor(4·N/10) boundaries 0, 2, 4
    assert stage_counts(layer_op.with_count(4), (2, 3, 5)) == [0, 2, 2]
    assert stage_counts(layer_op.with_block("head").with_count(1), (2, 3, 5)) == [0, 0, 1]
    assert stage_counts(layer_op.with_block("embed").with_count(1), (2, 3, 5)) == [1, 0, 0]


def test_llama_3_70b_int8_fits_576_lpus_with_the_embedding_stage_holding_no_layer(
        groq_576: Hardware) -> None:
    # one Llama-3-70B layer per TP8 chip, int8: (8192·(8192 + 2·1024) + 8192² + 3·8192·28672)
    # / 8 + 2·8192 (norms) = 106,971,136 B; two layers = 213.9 MB ≤ 220 MiB of SRAM
    layer = (8192 * (8192 + 2 * 1024) + 8192 * 8192 + 3 * 8192 * 28672) // 8 + 2 * 8192
    sc = Scenario(Phase.DECODE, 1, context=2048, parallel=Parallelism(8, 72),
                  precision=Precision(DType.INT8, DType.BF16, DType.BF16))
    tr = build_trace(load_model("llama-3-70b"), sc)
    assert tr.stage_layers[0] == 0 and tr.stage_layers[-1] == 0 and max(tr.stage_layers) == 2
    assert tr.resident is not None and tr.resident.weight_bytes == 2 * layer
    assert map_trace(tr, groq_576).feasible
