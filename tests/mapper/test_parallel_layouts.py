"""Expert parallelism across data-parallel attention groups, context parallelism, and the
capacity each GPU needs, checked against hand arithmetic from the model config."""

from __future__ import annotations

import math

import pytest

from infersim.api import make_scenario, simulate
from infersim.foundation.errors import InputError
from infersim.workloads.builder import build_trace
from infersim.workloads.routing import expected_max_normal

# DeepSeek-V3 config.json: hidden 7168, moe_intermediate 2048, 256 routed experts, top-8,
# 61 layers of which the first 3 are dense, MLA latent 512 + 64 rope dims
H, I_EXP, E, K = 7168, 2048, 256, 8
MOE_LAYERS, LAYERS, LATENT = 58, 61, 512 + 64
EXPERT_FP8 = 3 * H * I_EXP  # gate, up, down at 1 byte


def _trace(**kw):
    base = dict(phase="decode", batch=256, context=4095, weights="fp8")
    base.update(kw)
    return build_trace("deepseek-v3", make_scenario(**base))


def test_each_gpu_holds_its_attention_shared_weights_and_its_experts():
    full = _trace(batch=1).resident.weight_bytes  # tp=1: every weight on one GPU
    ep32 = _trace(tp=1, dp=32, ep=32).resident.weight_bytes
    ep32r = _trace(tp=1, dp=32, ep=32, redundant_experts=32).resident.weight_bytes
    ep144r = _trace(tp=1, dp=144, ep=144, redundant_experts=32).resident.weight_bytes
    # everything but the routed experts is replicated per GPU; 256/32 = 8 experts per GPU
    assert ep32 == pytest.approx(full - MOE_LAYERS * (E - 8) * EXPERT_FP8, rel=1e-12)
    # DeepSeek's prefill unit: (256 + 32) / 32 = 9 experts per GPU; decode: 288 / 144 = 2
    assert ep32r - ep32 == pytest.approx(MOE_LAYERS * 1 * EXPERT_FP8, rel=1e-12)
    assert ep32r - ep144r == pytest.approx(MOE_LAYERS * (9 - 2) * EXPERT_FP8, rel=1e-12)


def test_each_gpu_holds_only_its_data_parallel_groups_kv():
    tr = _trace(tp=1, dp=32, ep=32, batch=256, context=4095)
    # 256 / 32 = 8 sequences × 4096 tokens × 61 layers × 576 latent values × 2 B (bf16)
    assert tr.resident.kv_bytes == pytest.approx(8 * 4096 * LAYERS * LATENT * 2, rel=1e-12)


def test_dispatch_and_expert_work_per_gpu_by_hand():
    tr = _trace(tp=1, dp=32, ep=32, batch=256, routing_skew=0.0)
    ops = {o.name: o for o in tr.ops}
    # 256 tokens × 8 picks over 32 GPUs: 64 token-expert pairs each on average; under uniform
    # routing the busiest GPU is above that by sampling alone, E[max of 32 normals]/sqrt(64)
    # (workloads.routing.hot_rank_factor); each GPU dispatches its own 8 tokens' 8 copies of
    # a 7168-wide bf16 row, the busiest receiving hot times that
    hot = 1.0 + expected_max_normal(32) / 8.0
    disp = ops["moe_dispatch"]
    assert disp.shape.group_size == 32
    assert disp.shape.bytes == pytest.approx(8 * K * H * 2 * hot, rel=1e-9)
    (up,) = [o for o in tr.ops if o.name.startswith("experts_gate_up")]  # one launch
    assert up.flops / (2.0 * H * 2 * I_EXP) == math.ceil(256 * K // 32 * hot)
    assert up.shape.m == math.ceil(math.ceil(256 * K // 32 * hot) / up.shape.groups)
    # the expert matrices are whole (no tensor split): n = 2 × 2048 for gate+up
    assert all(o.shape.n == 2 * I_EXP for o in tr.ops if o.name.startswith("experts_gate_up"))
    assert "moe_allreduce" not in ops  # tp = 1: nothing to re-replicate


def test_ep_with_dp_must_cover_every_gpu_and_divide_the_experts():
    with pytest.raises(InputError, match="tp·dp"):
        _trace(tp=1, dp=32, ep=16)
    with pytest.raises(InputError, match="redundant"):
        _trace(tp=1, dp=48, ep=48, redundant_experts=1)
    with pytest.raises(InputError, match="no experts"):
        build_trace("llama-3.1-8b", make_scenario("decode", 8, redundant_experts=8))


def test_data_parallel_dense_replicas_split_the_batch():
    one = simulate("llama-3.1-8b", "dgx-h100", "decode", 32, context=1024)
    two = simulate("llama-3.1-8b", "dgx-h100", "decode", 64, context=1024, dp=2)
    assert two.latency_s == pytest.approx(one.latency_s, rel=1e-12)
    assert two.tokens_per_s == pytest.approx(2 * one.tokens_per_s, rel=1e-12)
    assert two.energy_j == pytest.approx(2 * one.energy_j, rel=1e-12)


def test_deepseek_deployment_fits_across_nodes_but_not_in_one_node():
    inside = simulate("deepseek-v3", "dgx-h100", "decode", 64, context=4095, weights="fp8",
                      tp=8)
    assert not inside.feasible  # 671 B fp8 weights > 8 × 80 GB with KV
    across = simulate("deepseek-v3", "dgx-h800x4", "decode", 256, context=4095,
                      weights="fp8", tp=1, dp=32, ep=32, redundant_experts=32)
    assert across.feasible
    a2a = across.ops[across.ops.name == "moe_dispatch"]
    assert a2a["map_algorithm"].iloc[0] == "hierarchical"  # EP32 crosses the 4 nodes


# --- context parallelism -------------------------------------------------------------------


def _prefill(prompt: int, cp: int):
    return simulate("llama-3.1-8b", "dgx-h100", "prefill", 1, prompt=prompt, cp=cp)


def test_cp_prefill_time_falls_with_cp_at_128k_prompts():
    t = [_prefill(131072, cp).latency_s for cp in (1, 2, 4, 8)]
    assert t[0] > t[1] > t[2] > t[3]
    # attention is quadratic and dominant: 8 GPUs give well over half the ideal 8× speed-up
    assert t[0] / t[3] > 4


def test_cp_prefill_time_rises_at_short_prompts():
    # 64 tokens: the ring's 7 KV hand-offs per layer cost more than the split work saves
    assert _prefill(64, 8).latency_s > _prefill(64, 1).latency_s


def test_cp_ring_exchange_and_kv_shard_by_hand():
    tr = build_trace("llama-3.1-8b", make_scenario("prefill", 1, prompt=8192, cp=4))
    ring = next(o for o in tr.ops if o.name == "cp_ring_kv")
    # per layer 3 hand-offs of this GPU's 2048 tokens × 8 KV heads × 128 × (K, V) × 2 B
    assert ring.count == 32 * 3
    assert ring.shape.bytes == 2048 * 8 * 128 * 2 * 2
    # each GPU keeps its quarter of the prompt: 2048 tokens × 32 layers × 8 × 128 × 2 × 2 B
    assert tr.resident.kv_bytes == pytest.approx(2048 * 32 * 8 * 128 * 2 * 2, rel=1e-12)
    att = next(o for o in tr.ops if o.name == "attention")
    # causal work split evenly: the 4 GPUs together score the prompt's pairs once
    full = 8192 * 8193 // 2
    assert 4 * att.shape.attended_pairs == pytest.approx(full, rel=2e-3)


def test_cp_is_prefill_only():
    with pytest.raises(InputError, match="prefill only"):
        make_scenario("decode", 1, context=100, cp=2)
