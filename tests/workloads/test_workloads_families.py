"""The 2025 families' structure, quantization_config, hub ids from the local HF cache, and
chunked attention, each against an independent count or the config facts."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import pytest

from infersim.api import make_scenario
from infersim.foundation.errors import InputError
from infersim.workloads import build_trace, load_model
from infersim.workloads import ops as O
from infersim.workloads.dtypes import DType
from infersim.workloads.hf_config import LIBRARY_DIR, parse_quantization
from infersim.workloads.model import Family
from infersim.workloads.ops import OpKind
from infersim.workloads.scenario import Precision, Scenario

# ---- structure read from the configs -----------------------------------------------------------

def test_gemma3_five_local_layers_per_global() -> None:
    m = load_model("gemma-3-27b")
    assert m.family is Family.GEMMA3 and m.num_layers == 62
    globals_ = [i for i, w in enumerate(m.layer_windows) if w == 0]
    assert globals_ == list(range(5, 62, 6))  # layers 6, 12, ... (1-based) are global
    assert set(m.layer_windows) == {0, 1024}
    assert m.vocab_size == 262208 and m.tie_word_embeddings and m.qk_norm == "rms"


def test_llama4_chunked_rope_layers_and_global_nope_layers() -> None:
    for name, moe_every in (("llama-4-scout", 1), ("llama-4-maverick", 2)):
        m = load_model(name)
        assert m.family is Family.LLAMA4
        nope = [i for i, r in enumerate(m.rope_layers) if not r]
        assert nope == list(range(3, 48, 4))  # every 4th layer: global, no RoPE
        assert all((c == 0) == (i in nope) for i, c in enumerate(m.layer_chunks))
        assert set(m.layer_chunks) == {0, 8192}
        assert m.moe is not None and m.moe.num_shared_experts == 1 and m.moe.top_k == 1
        assert [i for i, f in enumerate(m.moe_layers) if f] == list(
            range(moe_every - 1, 48, moe_every))
        assert m.intermediate_size == 16384 and m.moe.expert_intermediate_size == 8192


def test_gpt_oss_structure() -> None:
    m = load_model("gpt-oss-120b")
    assert m.attention_sinks and m.qkv_bias and m.o_bias
    assert m.moe is not None and m.moe.expert_bias and m.moe.router_bias
    assert m.layer_windows[:4] == (128, 0, 128, 0)
    assert m.quant is not None and m.quant.weights is DType.MXFP4 and m.quant.experts_only


def test_trace_ops_of_new_features_match_hand_counts() -> None:
    """One decode token at TP=1: sinks hold one value per head per layer; Qwen3's q/k norm one
    gain vector per head_dim for q and one for k; Llama-4's L2 q/k norm has no gains and runs
    only on the 36 RoPE layers."""
    tr = build_trace(load_model("gpt-oss-20b"), make_scenario("decode", 1, context=10))
    sinks = next(o for o in tr.ops if o.name == "attention_sinks")
    assert sinks.count == 24 and sinks.bytes.weight == 64 * 2
    tr = build_trace(load_model("qwen3-8b"), make_scenario("decode", 1, context=10))
    qk = next(o for o in tr.ops if o.name == "qk_norm")
    assert qk.count == 36 and qk.bytes.weight == 2 * 128 * 2
    assert qk.shape.numel == (32 + 8) * 128
    tr = build_trace(load_model("llama-4-scout"), make_scenario("decode", 1, context=10))
    qk = next(o for o in tr.ops if o.name == "qk_norm")
    rope = next(o for o in tr.ops if o.name == "rope")
    assert qk.count == rope.count == 36 and qk.bytes.weight == 0


def test_mxfp4_applies_to_experts_only() -> None:
    """GPT-OSS ships experts in MXFP4 and the rest in bf16: with Precision.experts = mxfp4,
    the expert matmuls read 4.25 bits per weight (4-bit values and one 1-byte scale per 32)
    and nothing else changes."""
    m = load_model("gpt-oss-20b")
    bf = build_trace(m, make_scenario("decode", 8, context=100))
    sc = make_scenario("decode", 8, context=100)
    mx = build_trace(m, Scenario(sc.phase, sc.batch, sc.prompt, sc.context, sc.chunk,
                                 Precision(DType.BF16, DType.BF16, DType.BF16, DType.MXFP4)))
    for a, b in zip(bf.ops, mx.ops, strict=True):
        if a.kind is OpKind.MOE_EXPERTS:
            assert b.bytes.weight == pytest.approx(a.bytes.weight / 2 * (0.5 + 1 / 32),
                                                   rel=1e-12)
        else:
            assert b.bytes == a.bytes
        assert b.flops == a.flops


# ---- quantization_config -----------------------------------------------------------------------

@pytest.mark.parametrize("qc, dtype, experts_only, group", [
    ({"quant_method": "fp8", "fmt": "e4m3", "activation_scheme": "dynamic",
      "weight_block_size": [128, 128]}, DType.FP8, False, 128 * 128),
    ({"quant_method": "mxfp4", "modules_to_not_convert": ["model.layers.*.self_attn",
                                                          "model.layers.*.mlp.router",
                                                          "model.embed_tokens", "lm_head"]},
     DType.MXFP4, True, 32),
    ({"quant_method": "awq", "bits": 4, "group_size": 128, "version": "gemm",
      "zero_point": True}, DType.INT4, False, 128),
    ({"quant_method": "gptq", "bits": 4, "group_size": 128, "desc_act": False,
      "sym": True}, DType.INT4, False, 128),
    ({"quant_method": "gptq", "bits": 8, "group_size": -1}, DType.INT8, False, 0),
    ({"quant_method": "bitsandbytes", "load_in_4bit": True}, DType.INT4, False, 64),
])
def test_quantization_config_read_into_weight_dtype(qc: dict[str, Any], dtype: DType,
                                                    experts_only: bool, group: int) -> None:
    q = parse_quantization(qc)
    assert q is not None
    assert (q.weights, q.experts_only, q.group_size) == (dtype, experts_only, group)


def test_library_quantized_checkpoints() -> None:
    ds = load_model("deepseek-v3").quant
    assert ds is not None and ds.method == "fp8" and ds.weights is DType.FP8
    assert load_model("qwen3-8b").quant is None


def test_bad_quantization_config_is_one_clear_line() -> None:
    with pytest.raises(InputError, match=r"quantization_config\.quant_method: unsupported "
                                         r"'hqq'.*fp8, mxfp4, awq, gptq"):
        parse_quantization({"quant_method": "hqq"}, "x/config.json")
    with pytest.raises(InputError, match=r"quantization_config\.bits: awq with 3 bits"):
        parse_quantization({"quant_method": "awq", "bits": 3})


# ---- hub ids from the local Hugging Face cache -------------------------------------------------

def _fake_cache(root: Path, repo: str, cfg: dict[str, Any]) -> None:
    """The layout huggingface_hub writes: models--owner--name/{refs/main, snapshots/<rev>/}."""
    base = root / ("models--" + repo.replace("/", "--"))
    rev = "0123456789abcdef0123456789abcdef01234567"
    (base / "refs").mkdir(parents=True)
    (base / "refs" / "main").write_text(rev)
    snap = base / "snapshots" / rev
    snap.mkdir(parents=True)
    (snap / "config.json").write_text(json.dumps(cfg))


def test_hub_id_resolved_from_local_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                          ) -> None:
    pytest.importorskip("huggingface_hub")
    cfg = json.loads((LIBRARY_DIR / "qwen3-8b.json").read_text())
    cfg.pop("_infersim")
    cfg["num_hidden_layers"] = 3  # a different model from the library one
    _fake_cache(tmp_path, "SomeOrg/Tiny-Qwen3", cfg)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    m = load_model("SomeOrg/Tiny-Qwen3")
    assert (m.family, m.num_layers, m.name) == (Family.QWEN3, 3, "tiny-qwen3")
    assert m.source == "hf:SomeOrg/Tiny-Qwen3"
    with pytest.raises(InputError, match=r"'SomeOrg/Absent'.*no config\.json.*never downloads"):
        load_model("SomeOrg/Absent")


def test_hub_id_without_huggingface_hub_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    import builtins

    real = builtins.__import__

    def no_hub(name: str, *a: Any, **k: Any) -> Any:
        if name.startswith("huggingface_hub"):
            raise ImportError(name)
        return real(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", no_hub)
    with pytest.raises(InputError, match=r"need huggingface_hub: pip install 'infersim\[hf\]'"):
        load_model("SomeOrg/Not-A-Library-Model")


# ---- chunked local attention -------------------------------------------------------------------

@pytest.mark.parametrize("q_len, kv_len, chunk", [
    (1, 1, 4), (1, 9, 4), (1, 8, 4), (5, 5, 4), (7, 20, 4), (16, 16, 4), (3, 30, 7),
    (30, 30, 7), (1, 100, 128)])
def test_chunked_attention_pairs_and_keys_brute_force(q_len: int, kv_len: int,
                                                      chunk: int) -> None:
    """Query i at absolute position p = kv_len - q_len + i sees keys j with
    j // chunk == p // chunk and j <= p (HF Llama-4's chunked mask)."""
    op = O.attention(1, 2, 1, 8, q_len, kv_len, chunk=chunk)
    first = kv_len - q_len
    seen = [(first + i, j) for i, j in itertools.product(range(q_len), range(kv_len))
            if j <= first + i and j // chunk == (first + i) // chunk]
    assert op.shape.attended_pairs == len(seen)
    assert op.shape.kv_tokens == len({j for _, j in seen})


def test_checkpoint_weights_follow_quantization_config() -> None:
    """weights="checkpoint": DeepSeek-V3 fp8 everywhere, GPT-OSS mxfp4 experts with bf16 rest,
    Qwen3 (no quantization_config) bf16; the trace records the resolved precision."""
    sc = make_scenario("decode", 4, context=64, weights="checkpoint")
    ds = build_trace(load_model("deepseek-v3"), sc)
    assert ds.scenario.precision.weights is DType.FP8 and ds.scenario.precision.experts is None
    assert ds.scenario.precision.activations is DType.BF16
    oss = build_trace(load_model("gpt-oss-20b"), sc)
    assert (oss.scenario.precision.weights, oss.scenario.precision.experts) == (DType.BF16,
                                                                                DType.MXFP4)
    up = next(o for o in oss.ops if o.name.startswith("experts_gate_up"))
    assert up.shape.weight_dtype is DType.MXFP4
    qwen = build_trace(load_model("qwen3-8b"), sc)
    assert qwen.scenario.precision.weights is DType.BF16
