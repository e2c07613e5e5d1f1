"""Hugging Face style `config.json` → frozen `ModelConfig` (the model library and the parser).

The config.json is the source of truth; a new model of a supported family needs no code, only
its config (drop it in `workloads/models/<name>.json` to add it to the library). Keys whose
name starts with `_` (e.g. our `"_infersim"` provenance block) are ignored by the parser.

Supported families (detected from `model_type`, else from `architectures`):

| family      | model_type      | structure                                                     |
|-------------|-----------------|---------------------------------------------------------------|
| llama       | llama           | RMSNorm, RoPE, GQA, SiLU-gated MLP                            |
| mistral     | mistral         | as llama (+ optional sliding window)                          |
| mixtral     | mixtral         | as mistral with a top-k MoE MLP in every layer                |
| qwen2       | qwen2           | as llama with q/k/v biases                                    |
| gemma2      | gemma2          | 4 norms/layer, GeGLU, tied embeddings, local/global layers    |
| phi3        | phi3            | fused qkv / gate_up projections: same math as llama           |
| deepseek_v3 | deepseek_v3/_v2 | MLA attention; dense first layers, then shared+routed experts |
| gpt2        | gpt2            | LayerNorm, learned positions, 4x GELU MLP, biases everywhere  |
| qwen3       | qwen3           | as llama with a per-head RMSNorm on q and k (no biases)       |
| qwen3_moe   | qwen3_moe       | as qwen3 with a top-k MoE MLP (no shared expert)              |
| gemma3      | gemma3(_text)   | as gemma2 + q/k norm; sliding window on 5 of every 6 layers   |
| llama4      | llama4(_text)   | MoE + one shared expert (optionally interleaved with dense    |
|             |                 | layers); chunked local attention with RoPE, every 4th layer   |
|             |                 | global without RoPE; L2 q/k norm on the RoPE layers           |
| gpt_oss     | gpt_oss         | MoE with biased experts and router, q/k/v/o biases, attention |
|             |                 | sinks, sliding window on alternate layers                     |

Multimodal configs (Llama-4, Gemma-3) are read from their `text_config`; the vision tower is
not modelled. `quantization_config` (fp8, mxfp4, awq, gptq, bitsandbytes) is read into
`ModelConfig.quant`: the checkpoint's weight dtype and whether only the experts are quantized.
DeepSeek-V3's multi-token-prediction module (`num_nextn_predict_layers`) is kept as
`mtp_layers` and runs only as a speculative-decoding draft (`draft_model="mtp"`).
Soft-capping (Gemma-2), rope scaling, dropout and Llama-4's attention temperature tuning do not
change the FLOPs or bytes of a forward step materially and are not represented.
"""

from __future__ import annotations

import json
import math
import os
import re
from dataclasses import replace
from functools import lru_cache
from pathlib import Path
from typing import Any

from infersim.foundation.errors import InputError
from infersim.foundation.suggest import did_you_mean
from infersim.workloads.dtypes import DType
from infersim.workloads.model import (
    Family,
    MLAConfig,
    MLPKind,
    ModelConfig,
    MoEConfig,
    NormKind,
    PositionKind,
    QuantConfig,
)

LIBRARY_DIR = Path(__file__).parent / "models"
# Largest integer a config.json field may hold: 10^12 is beyond every real dimension (layers,
# hidden size, vocabulary, context) by orders of magnitude, and keeps every product of them
# within float and int64 range.
MAX_CONFIG_INT = 10**12


# ------------------------------------------------------------------------------------------------
# Loading
# ------------------------------------------------------------------------------------------------


def list_models() -> list[str]:
    """Names of the configs shipped in the library (`workloads/models/*.json`)."""
    return sorted(p.stem for p in LIBRARY_DIR.glob("*.json"))


def load_model(x: str | Path | dict[str, Any] | ModelConfig) -> ModelConfig:
    """A model from the library (name, case-insensitive, or the HF repo id it was taken from),
    a path to a config.json (or to a folder holding one), or a dict with the contents of a
    config.json. Library and file loads are cached (files: by path, mtime and size)."""
    if isinstance(x, ModelConfig):
        return x
    if isinstance(x, dict):
        name = str(x.get("_name") or x.get("_name_or_path") or x.get("model_type") or "custom")
        return parse_config(x, name=name, source="dict")
    if isinstance(x, str | Path) and (len(str(x)) > 1024 or "\0" in str(x)):
        raise InputError(f"model name or path too long or invalid: {str(x)[:60]!r}...")
    if isinstance(x, str) and x.strip().lower() in _hf_repo_index() and not Path(x).exists():
        return _load_library(_hf_repo_index()[x.strip().lower()])  # e.g. "Qwen/Qwen2.5-7B"
    if isinstance(x, str) and _looks_like_hub_id(x):
        found = _load_path(str(resolve_hub_id(x.strip())))  # e.g. "Qwen/Qwen3-8B", cached
        return replace(found, name=x.strip().split("/")[-1].lower(), source=f"hf:{x.strip()}")
    if isinstance(x, Path) or (isinstance(x, str) and _looks_like_path(x)):
        return _load_path(str(x))
    if not isinstance(x, str):
        raise InputError(f"model: expected a name, a path or a dict, got {type(x).__name__}")
    return _load_library(x.strip().lower())


@lru_cache(maxsize=1)
def _hf_repo_index() -> dict[str, str]:
    """Lower-cased HF repo id (from each library file's `_infersim.hf_repo`) → library name."""
    index: dict[str, str] = {}
    for path in sorted(LIBRARY_DIR.glob("*.json")):
        meta = json.loads(path.read_text(encoding="utf-8")).get("_infersim") or {}
        repo = meta.get("hf_repo")
        if isinstance(repo, str):
            index.setdefault(repo.lower(), path.stem)
    return index


_HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*/[A-Za-z0-9][A-Za-z0-9_.-]*$")


def _looks_like_hub_id(s: str) -> bool:
    """"owner/name" that is not a file or folder here and not a .json path."""
    t = s.strip()
    return bool(_HUB_ID.match(t)) and not t.endswith(".json") and not Path(t).exists()


def resolve_hub_id(repo_id: str) -> Path:
    """The config.json of a Hugging Face hub id from the LOCAL cache (never the network):
    `huggingface_hub.try_to_load_from_cache`, honouring HF_HUB_CACHE / HF_HOME. InputError with
    one line when huggingface_hub is not installed or the id is not cached."""
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        raise InputError(f"model {repo_id!r} is not a library model or a file, and Hugging Face "
                         "ids need huggingface_hub: pip install 'infersim[hf]' (or pass the "
                         "path to its config.json)") from None
    cache = os.environ.get("HF_HUB_CACHE") or (
        str(Path(os.environ["HF_HOME"]) / "hub") if os.environ.get("HF_HOME") else None)
    found = try_to_load_from_cache(repo_id, "config.json", cache_dir=cache)
    if not isinstance(found, str):
        where = cache or "the default Hugging Face cache"
        raise InputError(f"model {repo_id!r}: no config.json for it in {where} (infersim never "
                         f"downloads); fetch it with `hf download {repo_id} config.json` or pass "
                         "the path to a config.json")
    return Path(found)


def _looks_like_path(s: str) -> bool:
    return s.endswith(".json") or "/" in s or "\\" in s or Path(s).is_file()


@lru_cache(maxsize=256)
def _load_library(name: str) -> ModelConfig:
    path = LIBRARY_DIR / f"{name}.json"
    if not path.is_file():
        names = list_models()
        hint = did_you_mean(name, names, cutoff=0.5)
        hint = f"; {hint}" if hint else ""
        raise InputError(f"unknown model {name!r}{hint} (`infersim models list` shows "
                         f"{len(names)} library models; or pass a path to a config.json)")
    return parse_config(_read_json(path), name=name, source=f"library:{name}")


def _load_path(text: str) -> ModelConfig:
    path = Path(text).expanduser()
    if path.is_dir():
        path = path / "config.json"
    if not path.is_file():
        raise InputError(f"{path}: no such file (give a library model name or the path to an "
                         "HF config.json)")
    stat = path.stat()
    return _load_path_cached(str(path.resolve()), stat.st_mtime_ns, stat.st_size)


@lru_cache(maxsize=64)
def _load_path_cached(path: str, _mtime: int, _size: int) -> ModelConfig:
    p = Path(path)
    name = p.parent.name if p.name == "config.json" else p.stem
    return parse_config(_read_json(p), name=name.lower(), source=str(p))


def _read_json(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise InputError(f"{path}: cannot read ({e.strerror})") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise InputError(f"{path}: not valid JSON (line {e.lineno}, column {e.colno}: {e.msg}); "
                         "give an HF config.json") from None
    if not isinstance(data, dict):
        raise InputError(f"{path}: expected a JSON object (an HF config.json), got "
                         f"{type(data).__name__}")
    return data


# ------------------------------------------------------------------------------------------------
# Parsing: strict key reading, family rules, then one frozen object
# ------------------------------------------------------------------------------------------------

_MODEL_TYPES: dict[str, Family] = {
    "llama": Family.LLAMA,
    "mistral": Family.MISTRAL,
    "mixtral": Family.MIXTRAL,
    "qwen2": Family.QWEN2,
    "gemma2": Family.GEMMA2,
    "phi3": Family.PHI3,
    "deepseek_v3": Family.DEEPSEEK_V3,
    "deepseek_v2": Family.DEEPSEEK_V3,
    "gpt2": Family.GPT2,
    "qwen3": Family.QWEN3,
    "qwen3_moe": Family.QWEN3_MOE,
    "gemma3": Family.GEMMA3,
    "gemma3_text": Family.GEMMA3,
    "llama4": Family.LLAMA4,
    "llama4_text": Family.LLAMA4,
    "gpt_oss": Family.GPT_OSS,
}

_ARCHITECTURES: dict[str, Family] = {
    "LlamaForCausalLM": Family.LLAMA,
    "MistralForCausalLM": Family.MISTRAL,
    "MixtralForCausalLM": Family.MIXTRAL,
    "Qwen2ForCausalLM": Family.QWEN2,
    "Gemma2ForCausalLM": Family.GEMMA2,
    "Phi3ForCausalLM": Family.PHI3,
    "DeepseekV3ForCausalLM": Family.DEEPSEEK_V3,
    "DeepseekV2ForCausalLM": Family.DEEPSEEK_V3,
    "GPT2LMHeadModel": Family.GPT2,
    "Qwen3ForCausalLM": Family.QWEN3,
    "Qwen3MoeForCausalLM": Family.QWEN3_MOE,
    "Gemma3ForCausalLM": Family.GEMMA3,
    "Gemma3ForConditionalGeneration": Family.GEMMA3,
    "Llama4ForCausalLM": Family.LLAMA4,
    "Llama4ForConditionalGeneration": Family.LLAMA4,
    "GptOssForCausalLM": Family.GPT_OSS,
}


class _Reader:
    """Reads keys of one config dict, collecting every problem before raising."""

    def __init__(self, cfg: dict[str, Any], source: str):
        self.cfg = cfg
        self.source = source
        self.problems: list[str] = []

    def int(self, key: str, default: int | None = None, *, minimum: int = 1) -> int:
        if key not in self.cfg or self.cfg[key] is None:
            if default is None:
                self.problems.append(f"missing required key {key!r}")
                return 1
            return default
        v = self.cfg[key]
        if (isinstance(v, bool) or not isinstance(v, (int, float))
                or (isinstance(v, float) and not math.isfinite(v)) or v != int(v)
                or v < minimum or v > MAX_CONFIG_INT):
            self.problems.append(f"key {key!r} must be an integer in [{minimum}, "
                                 f"{MAX_CONFIG_INT:.0e}], got {str(v)[:40]}")
            return max(minimum, 1)
        return int(v)

    def bool(self, key: str, default: bool) -> bool:
        v = self.cfg.get(key, default)
        if v is None:
            return default
        if not isinstance(v, bool):
            self.problems.append(f"key {key!r} must be true or false, got {v!r}")
            return default
        return v

    def str(self, key: str, default: str) -> str:
        v = self.cfg.get(key, default)
        return str(v) if v is not None else default

    def raise_if_any(self) -> None:
        if self.problems:
            raise InputError(f"{self.source}: " + "; ".join(self.problems))


def detect_family(cfg: dict[str, Any], source: str = "config") -> Family:
    mt = cfg.get("model_type")
    if isinstance(mt, str) and mt in _MODEL_TYPES:
        return _MODEL_TYPES[mt]
    for arch in cfg.get("architectures") or ():
        if arch in _ARCHITECTURES:
            return _ARCHITECTURES[arch]
    supported = ", ".join(sorted(_MODEL_TYPES))
    if mt is None:
        raise InputError(f"{source}: missing required key 'model_type' (and no known "
                         f"'architectures'); supported model_type values: {supported}")
    raise InputError(f"{source}: unsupported model_type {mt!r}; supported: {supported}")


def parse_config(cfg: dict[str, Any], *, name: str, source: str) -> ModelConfig:
    """Build a ModelConfig from the contents of an HF config.json (keys starting with `_` are
    metadata and ignored). Raises InputError naming every missing or malformed key."""
    src = "config.json" if source == "dict" else source
    if source.startswith("library:"):
        src = str(LIBRARY_DIR / f"{name}.json")
    raw_meta = cfg.get("_infersim")
    meta: dict[str, Any] = raw_meta if isinstance(raw_meta, dict) else {}
    cfg = {k: v for k, v in cfg.items() if not str(k).startswith("_")}
    family = detect_family(cfg, src)
    quant = parse_quantization(cfg.get("quantization_config"), src)
    r = _Reader(_language_config(cfg, family), src)
    if family is Family.GPT2:
        model = _parse_gpt2(r, name, source)
    else:
        model = _parse_decoder(r, family, name, source)
        model.update(_parse_recent(r, family, model))
    r.raise_if_any()
    return ModelConfig(**{**model, "quant": quant, "provenance": dict(meta)})


def _parse_gpt2(r: _Reader, name: str, source: str) -> dict[str, Any]:
    hidden = r.int("n_embd")
    heads = r.int("n_head")
    layers = r.int("n_layer")
    inner = r.int("n_inner", 4 * hidden)
    if hidden % heads:
        r.problems.append(f"n_embd ({hidden}) must be a multiple of n_head ({heads})")
    return dict(
        name=name, family=Family.GPT2, model_type=r.str("model_type", "gpt2"),
        hidden_size=hidden, num_layers=layers, num_heads=heads, num_kv_heads=heads,
        head_dim=hidden // heads, intermediate_size=inner, vocab_size=r.int("vocab_size"),
        max_position_embeddings=r.int("n_positions"), mlp=MLPKind.GELU, norm=NormKind.LAYER,
        norms_per_layer=2, qkv_bias=True, o_bias=True, mlp_bias=True,
        position=PositionKind.LEARNED, rope_dim=0,
        tie_word_embeddings=r.bool("tie_word_embeddings", True),
        layer_windows=(0,) * layers, moe=None, moe_layers=(False,) * layers, mla=None,
        source=source,
    )


def _parse_decoder(r: _Reader, family: Family, name: str, source: str) -> dict[str, Any]:
    hidden = r.int("hidden_size")
    layers = r.int("num_hidden_layers")
    heads = r.int("num_attention_heads")
    kv_heads = r.int("num_key_value_heads", heads)
    head_dim = r.int("head_dim", max(1, hidden // heads))
    vocab = r.int("vocab_size")
    max_pos = r.int("max_position_embeddings")
    if heads % kv_heads:
        r.problems.append(f"num_attention_heads ({heads}) must be a multiple of "
                          f"num_key_value_heads ({kv_heads})")

    act = r.str("hidden_activation", "") or r.str("hidden_act", "silu")
    if family in (Family.GEMMA2, Family.GEMMA3) or act.startswith("gelu"):
        mlp = MLPKind.GELU_GATED
    elif act in ("silu", "swish"):
        mlp = MLPKind.SILU_GATED
    else:
        r.problems.append(f"key 'hidden_act': unsupported activation {act!r} (use silu or gelu)")
        mlp = MLPKind.SILU_GATED

    bias = r.bool("attention_bias", family in (Family.QWEN2, Family.GPT_OSS))
    qkv_bias = True if family is Family.QWEN2 else bias
    o_bias = bias and family is not Family.QWEN2  # Qwen2: biases on q/k/v only
    mlp_bias = r.bool("mlp_bias", False)
    partial = float(r.cfg.get("partial_rotary_factor") or 1.0)

    windows = _layer_windows(r, family, layers)
    moe: MoEConfig | None = None
    moe_layers = (False,) * layers
    mla: MLAConfig | None = None
    intermediate = r.int("intermediate_size")
    rope_dim = int(head_dim * partial)

    if family is Family.MIXTRAL:
        moe = MoEConfig(num_experts=r.int("num_local_experts"),
                        top_k=r.int("num_experts_per_tok"),
                        expert_intermediate_size=intermediate)
        moe_layers = (True,) * layers
    elif family is Family.DEEPSEEK_V3:
        n_routed = r.int("n_routed_experts", 0, minimum=0)
        if n_routed:
            moe = MoEConfig(
                num_experts=n_routed, top_k=r.int("num_experts_per_tok"),
                expert_intermediate_size=r.int("moe_intermediate_size"),
                num_shared_experts=r.int("n_shared_experts", 0, minimum=0),
                router_bias=r.str("topk_method", "") == "noaux_tc",
                n_group=r.int("n_group", 1), topk_group=r.int("topk_group", 1),
            )
            if moe.topk_group > moe.n_group or n_routed % moe.n_group:
                r.problems.append(f"keys 'n_group' ({moe.n_group}) and 'topk_group' "
                                  f"({moe.topk_group}): n_group must divide n_routed_experts "
                                  f"({n_routed}) and topk_group must be at most n_group")
            first_dense = r.int("first_k_dense_replace", 0, minimum=0)
            freq = r.int("moe_layer_freq", 1)
            moe_layers = tuple(i >= first_dense and i % freq == 0 for i in range(layers))
        mla = MLAConfig(
            q_lora_rank=r.int("q_lora_rank", 0, minimum=0),
            kv_lora_rank=r.int("kv_lora_rank"),
            qk_nope_head_dim=r.int("qk_nope_head_dim"),
            qk_rope_head_dim=r.int("qk_rope_head_dim"),
            v_head_dim=r.int("v_head_dim"),
        )
        head_dim = mla.qk_head_dim
        rope_dim = mla.qk_rope_head_dim
        kv_heads = heads

    return dict(
        name=name, family=family, model_type=r.str("model_type", family.value),
        hidden_size=hidden, num_layers=layers, num_heads=heads, num_kv_heads=kv_heads,
        head_dim=head_dim, intermediate_size=intermediate, vocab_size=vocab,
        max_position_embeddings=max_pos, mlp=mlp, norm=NormKind.RMS,
        norms_per_layer=4 if family in (Family.GEMMA2, Family.GEMMA3) else 2,
        qkv_bias=qkv_bias, o_bias=o_bias, mlp_bias=mlp_bias, position=PositionKind.ROPE,
        rope_dim=rope_dim,
        tie_word_embeddings=r.bool("tie_word_embeddings",
                                   family in (Family.GEMMA2, Family.GEMMA3)),
        layer_windows=windows, moe=moe, moe_layers=moe_layers, mla=mla, source=source,
    )


def _layer_windows(r: _Reader, family: Family, layers: int) -> tuple[int, ...]:
    """Sliding-window size per layer (0 = full attention), following what HF applies:
    Mistral/Mixtral/Phi-3: `sliding_window` on every layer when set; Qwen2: only when
    `use_sliding_window` is true, for layers ≥ `max_window_layers`; Gemma-2: `layer_types`
    if present, else even layers sliding, odd layers global."""
    window = r.cfg.get("sliding_window")
    if not window:
        return (0,) * layers
    w = r.int("sliding_window")
    types = r.cfg.get("layer_types")
    if isinstance(types, list) and len(types) == layers:
        return tuple(w if t == "sliding_attention" else 0 for t in types)
    if family is Family.GEMMA2:
        return tuple(w if i % 2 == 0 else 0 for i in range(layers))
    if family is Family.GEMMA3:  # HF Gemma3TextConfig: every `sliding_window_pattern`-th global
        every = r.int("sliding_window_pattern", 6)
        return tuple(w if (i + 1) % every else 0 for i in range(layers))
    if family is Family.GPT_OSS:  # HF GptOssConfig default: even layers sliding
        return tuple(w if i % 2 == 0 else 0 for i in range(layers))
    if family in (Family.QWEN2, Family.QWEN3, Family.QWEN3_MOE):
        if not r.bool("use_sliding_window", False):
            return (0,) * layers
        first = r.int("max_window_layers", layers, minimum=0)
        return tuple(w if i >= first else 0 for i in range(layers))
    if family in (Family.MISTRAL, Family.MIXTRAL, Family.PHI3):
        return (w,) * layers
    return (0,) * layers


# ------------------------------------------------------------------------------------------------
# Families after 2024 (Qwen3, Qwen3-MoE, Gemma-3, Llama-4, GPT-OSS), quantization_config
# ------------------------------------------------------------------------------------------------

# Keys a real config.json may omit because HF fills them from the config class defaults
# (transformers Gemma3TextConfig: the released Gemma-3 configs leave these out).
_TEXT_DEFAULTS: dict[Family, dict[str, Any]] = {
    Family.GEMMA3: {"vocab_size": 262208, "max_position_embeddings": 131072,
                    "hidden_activation": "gelu_pytorch_tanh", "sliding_window": 4096,
                    "sliding_window_pattern": 6, "num_key_value_heads": 4, "head_dim": 256},
}


def _language_config(cfg: dict[str, Any], family: Family) -> dict[str, Any]:
    """The keys of the language model: a multimodal config's `text_config` (with top-level keys
    it does not set, e.g. tie_word_embeddings) and the family's HF class defaults."""
    text = cfg.get("text_config")
    out = dict(cfg)
    if isinstance(text, dict):
        out = {k: v for k, v in cfg.items() if k not in ("text_config", "vision_config")}
        out.update(text)
        out["model_type"] = cfg.get("model_type", out.get("model_type"))
    for k, v in _TEXT_DEFAULTS.get(family, {}).items():
        out.setdefault(k, v)
    return out


def _parse_recent(r: _Reader, family: Family, base: dict[str, Any]) -> dict[str, Any]:
    """Fields of the families added after 2024 (overrides of `_parse_decoder`'s result)."""
    layers = base["num_layers"]
    out: dict[str, Any] = {}
    if family in (Family.QWEN3, Family.QWEN3_MOE, Family.GEMMA3):
        out["qk_norm"] = "rms"
    if family is Family.QWEN3_MOE:
        n = r.int("num_experts", 0, minimum=0)
        if n:
            out["moe"] = MoEConfig(num_experts=n, top_k=r.int("num_experts_per_tok"),
                                   expert_intermediate_size=r.int("moe_intermediate_size"))
            dense = _int_list(r, "mlp_only_layers")
            step = r.int("decoder_sparse_step", 1)
            out["moe_layers"] = tuple(i not in dense and (i + 1) % step == 0
                                      for i in range(layers))
    elif family is Family.GPT_OSS:
        top_k = r.int("num_experts_per_tok", r.int("experts_per_token", 4))
        out["moe"] = MoEConfig(num_experts=r.int("num_local_experts"), top_k=top_k,
                               expert_intermediate_size=base["intermediate_size"],
                               router_bias=True, expert_bias=True)
        out["moe_layers"] = (True,) * layers
        out["attention_sinks"] = True
    elif family is Family.LLAMA4:
        out.update(_parse_llama4(r, layers, base["intermediate_size"]))
    elif family is Family.DEEPSEEK_V3:
        out["mtp_layers"] = r.int("num_nextn_predict_layers", 0, minimum=0)
    return out


def _parse_llama4(r: _Reader, layers: int, expert_width: int) -> dict[str, Any]:
    """Llama-4 text model, with HF Llama4TextConfig's rules for absent per-layer lists: a NoPE
    (global, no RoPE) layer every `no_rope_layer_interval`-th layer, MoE layers every
    `interleave_moe_layer_step`-th; dense layers are `intermediate_size_mlp` wide, experts and
    the shared expert `intermediate_size`."""
    out: dict[str, Any] = {}
    interval = r.int("no_rope_layer_interval", 4)
    rope_flags = _int_list(r, "no_rope_layers") or [int((i + 1) % interval != 0)
                                                    for i in range(layers)]
    if len(rope_flags) != layers:
        r.problems.append(f"key 'no_rope_layers' must list {layers} layers, got "
                          f"{len(rope_flags)}")
        rope_flags = [1] * layers
    rope = tuple(bool(f) for f in rope_flags)
    step = r.int("interleave_moe_layer_step", 1)
    moe_idx = _int_list(r, "moe_layers")
    moe_set = set(moe_idx) if r.cfg.get("moe_layers") is not None else set(
        range(step - 1, layers, step))
    chunk = r.int("attention_chunk_size", 0, minimum=0)
    types = r.cfg.get("layer_types")
    if isinstance(types, list) and len(types) == layers:
        chunks = tuple(chunk if t == "chunked_attention" else 0 for t in types)
    else:
        chunks = tuple(chunk if f else 0 for f in rope)
    out["moe"] = MoEConfig(num_experts=r.int("num_local_experts"),
                           top_k=r.int("num_experts_per_tok", 1),
                           expert_intermediate_size=expert_width, num_shared_experts=1)
    out["moe_layers"] = tuple(i in moe_set for i in range(layers))
    out["intermediate_size"] = r.int("intermediate_size_mlp", expert_width)
    out["rope_layers"] = rope
    out["layer_chunks"] = chunks
    out["qk_norm"] = "l2" if r.bool("use_qk_norm", True) else ""
    return out


def _int_list(r: _Reader, key: str) -> list[int]:
    v = r.cfg.get(key)
    if v is None:
        return []
    if not isinstance(v, list) or not all(isinstance(x, int) and not isinstance(x, bool)
                                          for x in v):
        r.problems.append(f"key {key!r} must be a list of integers, got {v!r}")
        return []
    return list(v)


_QUANT_METHODS = "fp8, mxfp4, awq, gptq, bitsandbytes"


def parse_quantization(q: Any, source: str = "config.json") -> QuantConfig | None:
    """`quantization_config` of an HF config.json → QuantConfig (None when absent).

    fp8 (DeepSeek-V3, `fmt` e4m3) → fp8; mxfp4 (GPT-OSS) → fp4, experts only when attention,
    router, embeddings and lm_head are in `modules_to_not_convert`; awq / gptq → int{bits};
    bitsandbytes → int4 (load_in_4bit) or int8 (load_in_8bit)."""
    if q is None:
        return None
    where = f"{source}: quantization_config"
    if not isinstance(q, dict):
        raise InputError(f"{where} must be an object, got {type(q).__name__}")
    method = str(q.get("quant_method", "")).lower()
    if method == "fp8":
        block = q.get("weight_block_size")
        group = block[0] * block[1] if isinstance(block, list) and len(block) == 2 else 0
        return QuantConfig("fp8", DType.FP8, group_size=int(group))
    if method == "mxfp4":
        skip = [str(x) for x in q.get("modules_to_not_convert") or ()]
        experts_only = any("self_attn" in x for x in skip) or any("router" in x for x in skip)
        return QuantConfig("mxfp4", DType.MXFP4, experts_only=experts_only, group_size=32)
    if method in ("awq", "gptq"):
        bits = q.get("bits", q.get("w_bit"))
        if bits not in (4, 8):
            raise InputError(f"{where}.bits: {method} with {bits!r} bits is not supported "
                             "(use 4 or 8)")
        group = q.get("group_size", q.get("q_group_size", 0))
        return QuantConfig(method, DType.INT4 if bits == 4 else DType.INT8,
                           group_size=max(0, int(group or 0)))
    if method == "bitsandbytes":
        if q.get("load_in_4bit"):
            return QuantConfig(method, DType.INT4, group_size=64)
        if q.get("load_in_8bit"):
            return QuantConfig(method, DType.INT8)
        raise InputError(f"{where}: bitsandbytes needs load_in_4bit or load_in_8bit true")
    raise InputError(f"{where}.quant_method: unsupported {method or 'missing'!r}; supported: "
                     f"{_QUANT_METHODS} (or remove quantization_config to model bf16 weights)")
