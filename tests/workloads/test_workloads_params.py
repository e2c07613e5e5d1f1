"""Parameter counts read off the trace match the published figures of every library model.

Count = Σ weight bytes / weight-dtype bytes over the ops of a TP=1 prefill trace (MoE: enough
sequences that every expert is touched), with the embedding gathers replaced by the full input
tables (for tied embeddings the lm_head op already holds the shared matrix).
The oracle is the published figure recorded, with its source, in each JSON's `_infersim` block.
"""

from __future__ import annotations

import math

import pytest

from infersim.api import make_scenario
from infersim.workloads import build_trace, list_models, load_model, summarize
from infersim.workloads.model import ModelConfig, PositionKind
from infersim.workloads.ops import OpKind

# Published totals, written here too so a JSON edit cannot move the oracle (billions).
PUBLISHED_B = {
    "llama-3.2-1b": 1.24, "llama-3.1-8b": 8.03, "llama-3.1-70b": 70.6, "llama-3.1-405b": 405.9,
    "mixtral-8x7b": 46.7, "deepseek-v3": 671.0, "mistral-7b": 7.25, "qwen2.5-7b": 7.61,
    "qwen2.5-72b": 72.7, "gemma-2-9b": 9.24, "phi-3-mini": 3.82, "gpt-3-175b": 175.0,
    "llama-3.3-70b": 70.6, "llama-3-70b": 70.6, "llama-3-8b": 8.03, "llama-2-70b": 69.0,
    "llama-2-7b": 6.74,
}


def _trace_params(m: ModelConfig, phase: str) -> float:
    if phase == "prefill":
        batch = 1
        if m.moe:  # P(an expert untouched) = (1 - k/E)^batch < 1e-4
            e, k = m.moe.num_experts, m.moe.top_k
            batch = math.ceil(math.log(1e-4) / math.log(1 - k / e))
        tr = build_trace(m, make_scenario("prefill", batch, prompt=1))
    else:
        tr = build_trace(m, make_scenario("decode", 1, context=0))
    n = sum(o.bytes.weight * o.count for o in tr.ops if o.kind is not OpKind.EMBEDDING) / 2.0
    if not m.tie_word_embeddings:
        n += m.vocab_size * m.hidden_size
    if m.position is PositionKind.LEARNED:
        n += m.max_position_embeddings * m.hidden_size
    return n


@pytest.mark.parametrize("name", sorted(PUBLISHED_B))
def test_total_params_match_published(name: str) -> None:
    m = load_model(name)
    assert m.provenance["published_params"] == pytest.approx(PUBLISHED_B[name] * 1e9)
    assert _trace_params(m, "prefill") == pytest.approx(PUBLISHED_B[name] * 1e9, rel=0.005)


def test_mixtral_active_params(mixtral: ModelConfig) -> None:
    # mistral.ai: "12.9B parameters per token" (embeddings included in Mistral's count)
    assert _trace_params(mixtral, "decode") == pytest.approx(12.9e9, rel=0.005)


def test_deepseek_v3_active_params(deepseek_v3: ModelConfig) -> None:
    """DeepSeek quotes "37B activated" to two significant digits, without the input embedding
    table (the same convention gives 20.85B for DeepSeek-V2's published "21B"). A
    two-digit figure carries ±0.5B of rounding, so we check the rounding, i.e. ±1.35%."""
    active = _trace_params(deepseek_v3, "decode") - deepseek_v3.vocab_size * deepseek_v3.hidden_size
    assert round(active / 1e9) == 37
    assert active == pytest.approx(37e9, abs=0.5e9)


def test_every_library_model_has_provenance_and_loads() -> None:
    names = list_models()
    assert set(PUBLISHED_B) <= set(names)
    for name in names:
        m = load_model(name)
        assert m.provenance.get("source", "").startswith("http"), name
        assert m.provenance.get("published_params_source"), name


def test_summary_agrees_with_trace_count() -> None:
    for name in ("mixtral-8x7b", "gemma-2-9b", "gpt-3-175b", "deepseek-v3"):
        m = load_model(name)
        s = summarize(m)
        assert s.params_total == pytest.approx(_trace_params(m, "prefill"), rel=1e-6)
        assert s.params_active == pytest.approx(_trace_params(m, "decode"), rel=1e-9)
        assert s.weight_bytes("int4") == pytest.approx(s.params_total / 2)
