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


def _hf_config(name: str, layers: int) -> Any:
    cfg = json.loads((LIBRARY_DIR / f"{name}.json").read_text())
    cfg = {k: v for k, v in cfg.items() if not k.startswith("_")}
    cfg.pop("quantization_config", None)  # DeepSeek-V3 ships fp8 weights; we count in bf16
    cfg["num_hidden_layers"] = layers
    model_type = cfg.pop("model_type")
    hc = transformers.AutoConfig.for_model(model_type, **cfg)
    return hc


def _hf_counts(name: str, layers: int, batch: int, new: int, context: int
               ) -> tuple[float, float]:
    """(projection FLOPs, attention-bmm FLOPs) of one HF forward on the meta device."""
    from torch.utils.flop_counter import FlopCounterMode

    hc = _hf_config(name, layers)
    with torch.device("meta"):
        model = transformers.AutoModelForCausalLM.from_config(
            hc, dtype=torch.bfloat16, attn_implementation="eager")
        if hasattr(model, "set_experts_implementation") and (
                getattr(hc, "num_local_experts", None) or getattr(hc, "n_routed_experts", None)):
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
