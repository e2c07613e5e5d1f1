"""KV cache of sliding-window and chunked-attention layers: a layer keeps only the keys its
queries can still see (min(context, window) in a decode step), in capacity and in the bytes
attention reads. Expected values are worked by hand from the config files."""

from __future__ import annotations

import pytest

from infersim.api import make_scenario, simulate
from infersim.workloads.builder import build_trace

# Gemma-3-27B: 62 layers, every 6th global (10 global, 52 sliding with window 1024),
# 16 KV heads × head_dim 128, K and V, bf16 -> 8192 B per token per layer
G3_LAYER = 16 * 128 * 2 * 2


def _resident(model: str, phase: str = "decode", **kw):
    return build_trace(model, make_scenario(phase, **kw)).resident


def test_gemma3_decode_kv_by_hand():
    r = _resident("gemma-3-27b", batch=2, context=31999)  # kv_len 32000
    want = 2 * G3_LAYER * (10 * 32000 + 52 * 1024)
    assert r.kv_bytes == pytest.approx(want, rel=1e-12)
    # the full-context bound stays available per token
    assert r.stage_kv_bytes_per_token[0] * r.kv_tokens == pytest.approx(
        2 * G3_LAYER * 62 * 32000, rel=1e-12)


def test_short_context_is_not_capped():
    r = _resident("gemma-3-27b", batch=1, context=499)  # kv_len 500 < window
    assert r.kv_bytes == pytest.approx(G3_LAYER * 62 * 500, rel=1e-12)


def test_gpt_oss_alternating_window_by_hand():
    # 24 layers alternating window 128 / global; 8 KV heads × 64 × 2 × 2 B = 2048 B
    r = _resident("gpt-oss-20b", batch=4, context=8191)
    assert r.kv_bytes == pytest.approx(4 * 2048 * (12 * 8192 + 12 * 128), rel=1e-12)


def test_prefill_holds_the_whole_prompt_for_its_own_queries():
    # the step's last queries need every earlier key of the prompt inside the window; the
    # first need the keys before them: all prompt tokens are live during the step
    r = _resident("gemma-3-27b", "prefill", batch=1, prompt=8192)
    assert r.kv_bytes == pytest.approx(G3_LAYER * 62 * 8192, rel=1e-12)


def test_pipeline_stages_split_the_capped_cache():
    one = _resident("gemma-3-27b", batch=1, context=31999)
    two = _resident("gemma-3-27b", batch=1, context=31999, pp=2)
    assert sum(two.stage_kv(s) for s in range(2)) == pytest.approx(one.kv_bytes, rel=1e-12)


def test_capacity_uses_the_capped_cache():
    """Gemma-3-27B at 128k context, batch 10 on one H200 (143771 MiB = 150.75 GB): the
    full-context bound (10 × 62 × 131072 × 8 KiB = 666 GB) cannot fit; the capped cache
    (10 × 8 KiB × (10 × 131072 + 52 × 1024) = 112 GB) plus 54 GB of bf16 weights misses
    150.75 GB; at batch 4 (45 GB of KV; the full bound would be 266 GB) it fits."""
    kv8 = 10 * G3_LAYER * (10 * 131072 + 52 * 1024)
    big = simulate("gemma-3-27b", "h200-sxm", "decode", 10, context=131071)
    assert not big.feasible
    assert big.schedule.memory_per_chip_bytes - kv8 == pytest.approx(55e9, rel=0.05)
    assert simulate("gemma-3-27b", "h200-sxm", "decode", 4, context=131071).feasible


def test_attention_reads_only_the_window():
    tr = build_trace("gemma-3-27b", make_scenario("decode", 1, context=31999))
    sliding = next(o for o in tr.ops if o.name == "attention_sliding")
    assert sliding.bytes.kv_read == pytest.approx(16 * 1024 * 128 * 2 * 2, rel=1e-12)
