"""Independent FLOP count: the real Hugging Face modules, built from the same config.json on
PyTorch's meta device (no weights, no downloads), run under FlopCounterMode.

HF's projections are `aten.mm`/`aten.addmm` (plus `aten.bmm` for the MoE experts under the
"batched_mm" experts implementation); eager attention is two `aten.bmm` per layer over the
full q_len × kv_len score matrix (masked, not skipped). We compare
- projection FLOPs (everything but the attention bmm) with the trace's matmul FLOPs, and
- attention bmm FLOPs with the trace's attention FLOPs minus its softmax term. Decode
  (q_len = 1) scores the same pairs both ways; prefill HF scores T² pairs where causal
  attention needs T(T+1)/2, a relation written out below.
Models are cut to 2 layers for speed (3 for DeepSeek-V3 so one MoE layer is included).
"""

from __future__ import annotations

import dataclasses
import json
import re
from typing import Any

import pytest

from infersim.api import make_scenario
from infersim.workloads import build_trace, load_model
from infersim.workloads.hf_config import LIBRARY_DIR
from infersim.workloads.model import ModelConfig
from infersim.workloads.ops import OpKind

torch = pytest.importorskip("torch", reason="torch is needed for the independent FLOP count")
transformers = pytest.importorskip("transformers",
                                   reason="transformers is needed for the HF reference modules")

pytestmark = [pytest.mark.torch, pytest.mark.filterwarnings("ignore::FutureWarning")]

_ATTN_MODULE = re.compile(r"layers\.\d+\.self_attn$")


def _hf_config(name: str | dict[str, Any], layers: int) -> Any:
    if isinstance(name, dict):
        cfg = dict(name)
    else:
        cfg = json.loads((LIBRARY_DIR / f"{name}.json").read_text())
    cfg = {k: v for k, v in cfg.items() if not k.startswith("_")}
    cfg.pop("quantization_config", None)  # DeepSeek-V3 ships fp8 weights; we count in bf16
    cfg["num_hidden_layers"] = layers
    model_type = cfg.pop("model_type")
    hc = transformers.AutoConfig.for_model(model_type, **cfg)
    return hc


def _hf_counts(name: str | dict[str, Any], layers: int, batch: int, new: int, context: int,
               experts: list[float] | None = None) -> tuple[float, float]:
    """(projection FLOPs, attention-bmm FLOPs) of one HF forward on the meta device; the
    FLOPs of modules named `*.experts` are appended to `experts` when given."""
    from torch.utils.flop_counter import FlopCounterMode

    hc = _hf_config(name, layers)
    with torch.device("meta"):
        model = transformers.AutoModelForCausalLM.from_config(
            hc, dtype=torch.bfloat16, attn_implementation="eager")
        if hasattr(model, "set_experts_implementation") and (
                getattr(hc, "num_local_experts", None) or getattr(hc, "n_routed_experts", None)
                or getattr(hc, "num_experts", None)):
            model.set_experts_implementation("batched_mm")  # no data-dependent loop on meta
        ids = torch.zeros(batch, new, dtype=torch.long)
        kw: dict[str, Any] = {}
        if context:
            cache = transformers.DynamicCache(config=hc)
            hd = getattr(hc, "head_dim", None) or hc.hidden_size // hc.num_attention_heads
            for i in range(layers):
                k = torch.empty(batch, hc.num_key_value_heads, context, hd, dtype=torch.bfloat16)
                cache.update(k, k.clone(), i)
            pos = torch.arange(context, context + new)
            kw = dict(past_key_values=cache, cache_position=pos,
                      position_ids=pos.expand(batch, new), use_cache=True)
        else:
            kw = dict(attention_mask=torch.ones(batch, new, dtype=torch.long), use_cache=False)
        with FlopCounterMode(display=False) as fc, torch.no_grad():
            model(input_ids=ids, logits_to_keep=1 if not context else 0, **kw)
    counts = fc.get_flop_counts()
    glob = {str(k): v for k, v in counts["Global"].items()}
    attn = sum(v for mod, c in counts.items() if _ATTN_MODULE.search(mod)
               for op, v in c.items() if str(op).startswith("aten.bmm"))
    matmul = sum(v for op, v in glob.items()
                 if op in ("aten.mm.default", "aten.addmm.default", "aten.bmm.default",
                           "aten.mm", "aten.addmm", "aten.bmm"))
    if experts is not None:
        experts.append(float(sum(sum(c.values()) for mod, c in counts.items()
                                 if re.search(r"layers\.\d+\.feed_forward\.experts$", mod))))
    return float(matmul - attn), float(attn)


def _cut(m: ModelConfig, layers: int) -> ModelConfig:
    return dataclasses.replace(m, num_layers=layers, layer_windows=m.layer_windows[:layers],
                               moe_layers=m.moe_layers[:layers])


CASES = ["llama-3.1-8b", "mistral-7b", "mixtral-8x7b", "qwen2.5-7b", "gemma-2-9b", "phi-3-mini"]


@pytest.mark.parametrize("name", CASES)
def test_prefill_matmul_flops_match_hf(name: str) -> None:
    batch, prompt, layers = 2, 64, 2
    hf_proj, hf_attn = _hf_counts(name, layers, batch, prompt, 0)
    m = _cut(load_model(name), layers)
    tr = build_trace(m, make_scenario("prefill", batch, prompt=prompt))
    assert tr.matmul_flops() == pytest.approx(hf_proj, rel=0.01)
    # causal attention scores T(T+1)/2 of HF's T² pairs (softmax term removed: 5 FLOP/pair)
    attn = [o for o in tr.ops if o.kind is OpKind.ATTENTION]
    ours = sum((o.flops - 5.0 * o.shape.batch * o.shape.heads * o.shape.attended_pairs)
               * o.count for o in attn)
    assert ours == pytest.approx(hf_attn * (prompt + 1) / (2 * prompt), rel=1e-9)


@pytest.mark.parametrize("name", CASES)
def test_decode_matmul_flops_match_hf(name: str) -> None:
    batch, context, layers = 3, 100, 2
    hf_proj, hf_attn = _hf_counts(name, layers, batch, 1, context)
    m = _cut(load_model(name), layers)
    tr = build_trace(m, make_scenario("decode", batch, context=context))
    assert tr.matmul_flops() == pytest.approx(hf_proj, rel=0.01)
    attn = [o for o in tr.ops if o.kind is OpKind.ATTENTION]
    ours = sum((o.flops - 5.0 * o.shape.batch * o.shape.heads * o.shape.attended_pairs)
               * o.count for o in attn)
    assert ours == pytest.approx(hf_attn, rel=1e-9)


def test_deepseek_v3_prefill_matmul_flops_match_hf(deepseek_v3: ModelConfig) -> None:
    """MLA in its naive (decompressing) form plus shared + routed experts: 3 dense layers and
    one MoE layer. HF caches decompressed K/V, so its decode is not our absorbed decode and
    only prefill is compared."""
    batch, prompt, layers = 2, 64, 4
    hf_proj, hf_attn = _hf_counts("deepseek-v3", layers, batch, prompt, 0)
    m = _cut(deepseek_v3, layers)
    assert m.num_moe_layers == 1
    tr = build_trace(m, make_scenario("prefill", batch, prompt=prompt))
    assert tr.matmul_flops() == pytest.approx(hf_proj, rel=0.01)
    attn = [o for o in tr.ops if o.kind is OpKind.ATTENTION]
    ours = sum((o.flops - 5.0 * o.shape.batch * o.shape.heads * o.shape.attended_pairs)
               * o.count for o in attn)
    assert ours == pytest.approx(hf_attn * (prompt + 1) / (2 * prompt), rel=1e-9)


# ------------------------------------------------------------------------------------------------
# 2025 families: tiny configs of the same structure (built here), same comparison
# ------------------------------------------------------------------------------------------------

_TINY_COMMON: dict[str, Any] = {"hidden_size": 128, "num_attention_heads": 4,
                                "num_key_value_heads": 2, "head_dim": 48, "vocab_size": 512,
                                "max_position_embeddings": 4096, "tie_word_embeddings": False}
TINY: dict[str, dict[str, Any]] = {
    "qwen3": {**_TINY_COMMON, "model_type": "qwen3", "intermediate_size": 320},
    "qwen3_moe": {**_TINY_COMMON, "model_type": "qwen3_moe", "intermediate_size": 320,
                  "num_experts": 8, "num_experts_per_tok": 2, "moe_intermediate_size": 96,
                  "decoder_sparse_step": 1, "mlp_only_layers": [1]},
    "gemma3_text": {**_TINY_COMMON, "model_type": "gemma3_text", "intermediate_size": 320,
                    "sliding_window": 512, "tie_word_embeddings": True,
                    "layer_types": ["sliding_attention", "full_attention"]},
    "gpt_oss": {**_TINY_COMMON, "model_type": "gpt_oss", "intermediate_size": 96,
                "num_local_experts": 8, "num_experts_per_tok": 2, "sliding_window": 512,
                "layer_types": ["sliding_attention", "full_attention"]},
    "llama4_text": {**_TINY_COMMON, "model_type": "llama4_text", "intermediate_size": 96,
                    "intermediate_size_mlp": 320, "num_local_experts": 4,
                    "num_experts_per_tok": 1, "interleave_moe_layer_step": 2,
                    "attention_chunk_size": 2048, "no_rope_layers": [1, 0]},
}


def _tiny_counts(kind: str, batch: int, new: int, context: int
                 ) -> tuple[float, float, float, Any]:
    """HF (projection, attention, expert-module) FLOPs and our decode/prefill trace."""
    cfg = dict(TINY[kind], num_hidden_layers=2)
    experts: list[float] = []
    hf_proj, hf_attn = _hf_counts(cfg, 2, batch, new, context, experts)
    m = load_model(cfg)
    sc = (make_scenario("prefill", batch, prompt=new) if not context
          else make_scenario("decode", batch, context=context))
    return hf_proj, hf_attn, experts[0], build_trace(m, sc)


def _ours_attention_bmm(tr: Any) -> float:
    return sum((o.flops - 5.0 * o.shape.batch * o.shape.heads * o.shape.attended_pairs)
               * o.count for o in tr.ops if o.kind is OpKind.ATTENTION)


def _projection_flops(tr: Any, kind: str, hf_experts: float) -> tuple[float, float]:
    """(ours, HF's) projection FLOPs. HF's Llama-4 experts run every token through all E
    experts (scaled by the router score, 0 for the unrouted): its expert bmm FLOPs are E/top_k
    times the routed work, so that module is compared as such and left out of the sums."""
    ours = tr.matmul_flops()
    if kind != "llama4_text":
        return ours, 0.0
    cfg = TINY[kind]
    routed = sum(o.flops * o.count for o in tr.ops if o.kind is OpKind.MOE_EXPERTS)
    assert hf_experts == pytest.approx(
        routed * cfg["num_local_experts"] / cfg["num_experts_per_tok"], rel=1e-9)
    return ours - routed, hf_experts


@pytest.mark.parametrize("kind", sorted(TINY))
def test_2025_family_prefill_flops_match_hf(kind: str) -> None:
    batch, prompt = 2, 64
    hf_proj, hf_attn, hf_exp, tr = _tiny_counts(kind, batch, prompt, 0)
    ours, drop = _projection_flops(tr, kind, hf_exp)
    assert ours == pytest.approx(hf_proj - drop, rel=0.01)
    assert _ours_attention_bmm(tr) == pytest.approx(hf_attn * (prompt + 1) / (2 * prompt),
                                                    rel=1e-9)


@pytest.mark.parametrize("kind", sorted(TINY))
def test_2025_family_decode_flops_match_hf(kind: str) -> None:
    batch, context = 3, 100
    hf_proj, hf_attn, hf_exp, tr = _tiny_counts(kind, batch, 1, context)
    ours, drop = _projection_flops(tr, kind, hf_exp)
    assert ours == pytest.approx(hf_proj - drop, rel=0.01)
    assert _ours_attention_bmm(tr) == pytest.approx(hf_attn, rel=1e-9)


def _library_cut(name: str, layers: int) -> dict[str, Any]:
    """A library config.json cut to `layers` layers (inside text_config when nested), with
    per-layer lists cut to match: the real file, parsed by both sides."""
    cfg = json.loads((LIBRARY_DIR / f"{name}.json").read_text())
    cfg.pop("quantization_config", None)  # FLOPs do not depend on the stored dtype
    text = cfg["text_config"] if isinstance(cfg.get("text_config"), dict) else cfg
    text["num_hidden_layers"] = layers
    for key in ("layer_types", "no_rope_layers"):
        if key in text:
            text[key] = text[key][:layers]
    if "moe_layers" in text:
        text["moe_layers"] = [i for i in text["moe_layers"] if i < layers]
    return cfg


@pytest.mark.parametrize("name, layers", [("qwen3-8b", 2), ("qwen3-30b-a3b", 2),
                                          ("gpt-oss-20b", 2), ("gemma-3-27b", 6),
                                          ("llama-4-maverick", 4)])
def test_2025_library_configs_prefill_flops_match_hf(name: str, layers: int) -> None:
    """The released config.json files (nested text_config for Gemma-3 and Llama-4, absent
    keys left to HF defaults) read the same way by HF and by infersim: prefill projection and
    attention FLOPs. Layer cuts keep one global layer (Gemma-3: the 6th; Llama-4: the 4th,
    with a dense and an MoE layer for Maverick)."""
    batch, prompt = 1, 32
    cfg = _library_cut(name, layers)
    experts: list[float] = []
    hf_proj, hf_attn = _hf_counts(cfg, layers, batch, prompt, 0, experts)
    m = load_model(cfg)
    assert m.num_layers == layers
    tr = build_trace(m, make_scenario("prefill", batch, prompt=prompt))
    ours = tr.matmul_flops()
    if m.family.value == "llama4":  # HF runs every token through all experts (see above)
        assert m.moe is not None
        routed = sum(o.flops * o.count for o in tr.ops if o.kind is OpKind.MOE_EXPERTS)
        assert experts[0] == pytest.approx(routed * m.moe.num_experts / m.moe.top_k, rel=1e-9)
        ours, hf_proj = ours - routed, hf_proj - experts[0]
    assert ours == pytest.approx(hf_proj, rel=0.01)
    assert _ours_attention_bmm(tr) == pytest.approx(hf_attn * (prompt + 1) / (2 * prompt),
                                                    rel=1e-9)
