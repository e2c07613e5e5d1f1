"""Model architecture: a Hugging Face style `config.json` parsed into a frozen `ModelConfig`.

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

Soft-capping (Gemma-2), rope scaling, dropout and the DeepSeek MTP module do not change the
FLOPs or bytes of a forward step of the main model and are not represented.
"""

from __future__ import annotations

import difflib
import json
import math
from dataclasses import dataclass, field
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from infersim.foundation.errors import InputError

if TYPE_CHECKING:
    from infersim.workloads.dtypes import DType
    from infersim.workloads.summary import ModelSummary

LIBRARY_DIR = Path(__file__).parent / "models"


class Family(StrEnum):
    LLAMA = "llama"
    MISTRAL = "mistral"
    MIXTRAL = "mixtral"
    QWEN2 = "qwen2"
    GEMMA2 = "gemma2"
    PHI3 = "phi3"
    DEEPSEEK_V3 = "deepseek_v3"
    GPT2 = "gpt2"


class MLPKind(StrEnum):
    """Feed-forward form. Gated: down(act(gate(x)) * up(x)); plain: down(act(up(x)))."""

    SILU_GATED = "silu_gated"  # SwiGLU (Llama, Mistral, Qwen, Phi-3, DeepSeek)
    GELU_GATED = "gelu_gated"  # GeGLU (Gemma-2)
    GELU = "gelu"  # GPT-2/3: up, GELU, down

    @property
    def gated(self) -> bool:
        return self is not MLPKind.GELU


class NormKind(StrEnum):
    RMS = "rmsnorm"  # gain only
    LAYER = "layernorm"  # gain and bias


class PositionKind(StrEnum):
    ROPE = "rope"  # rotary, applied to q and k in every layer
    LEARNED = "learned"  # a learned position-embedding table added once at the input


@dataclass(frozen=True)
class MoEConfig:
    """Mixture-of-experts MLP. `layers` marks which decoder layers are MoE (others are dense)."""

    num_experts: int  # routed experts
    top_k: int  # routed experts per token
    expert_intermediate_size: int
    num_shared_experts: int = 0  # always-on experts (DeepSeek), each expert_intermediate_size wide
    router_bias: bool = False  # DeepSeek-V3 e_score_correction_bias (one value per expert)


@dataclass(frozen=True)
class MLAConfig:
    """Multi-head latent attention (DeepSeek-V2/V3). The KV cache holds one compressed latent
    of kv_lora_rank + qk_rope_head_dim values per token per layer, shared by all heads."""

    q_lora_rank: int  # 0: q is projected directly from the hidden state (no q_a/q_b)
    kv_lora_rank: int
    qk_nope_head_dim: int
    qk_rope_head_dim: int
    v_head_dim: int

    @property
    def qk_head_dim(self) -> int:
        return self.qk_nope_head_dim + self.qk_rope_head_dim

    @property
    def latent_dim(self) -> int:
        """Values cached per token per layer."""
        return self.kv_lora_rank + self.qk_rope_head_dim


@dataclass(frozen=True)
class ModelConfig:
    """A decoder-only transformer, as the trace builder needs it. Sizes are element counts."""

    name: str
    family: Family
    model_type: str
    hidden_size: int
    num_layers: int
    num_heads: int
    num_kv_heads: int
    head_dim: int
    intermediate_size: int  # dense MLP width (0 if every layer is MoE)
    vocab_size: int
    max_position_embeddings: int
    mlp: MLPKind = MLPKind.SILU_GATED
    norm: NormKind = NormKind.RMS
    norms_per_layer: int = 2
    qkv_bias: bool = False
    o_bias: bool = False
    mlp_bias: bool = False
    position: PositionKind = PositionKind.ROPE
    rope_dim: int = 0  # rotary dims per head (0: none)
    tie_word_embeddings: bool = False
    layer_windows: tuple[int, ...] = ()  # per layer: sliding window in tokens, 0 = global
    moe: MoEConfig | None = None
    moe_layers: tuple[bool, ...] = ()  # per layer: True if the MLP is MoE
    mla: MLAConfig | None = None
    source: str = ""  # file path or "library:<name>"
    provenance: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    # ---- derived facts -------------------------------------------------------------------
    @property
    def num_moe_layers(self) -> int:
        return sum(self.moe_layers)

    @property
    def num_dense_layers(self) -> int:
        return self.num_layers - self.num_moe_layers

    @property
    def kv_dim_per_token_per_layer(self) -> int:
        """Values stored in the KV cache per token per layer (K and V; MLA: the latent)."""
        if self.mla is not None:
            return self.mla.latent_dim
        return 2 * self.num_kv_heads * self.head_dim

    def kv_bytes_per_token(self, dtype: str | DType = "bf16") -> float:
        """KV-cache bytes per token over all layers at `dtype` (whole model, no TP split)."""
        from infersim.workloads.dtypes import DType as _DType

        return self.kv_dim_per_token_per_layer * self.num_layers * _DType.parse(dtype).bytes

    def summary(self, context: int = 1024) -> ModelSummary:
        """Parameters, bytes and FLOPs per token (see `workloads.summary.summarize`)."""
        from infersim.workloads.summary import summarize

        return summarize(self, context=context)

    def check_context(self, tokens: int, what: str = "context") -> None:
        """InputError if a sequence of `tokens` exceeds the model's max_position_embeddings."""
        if tokens > self.max_position_embeddings:
            raise InputError(
                f"{self.name}: {what} of {tokens} tokens exceeds the model's maximum context "
                f"(max_position_embeddings = {self.max_position_embeddings}); use a shorter "
                "prompt/context")


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


def _looks_like_path(s: str) -> bool:
    return s.endswith(".json") or "/" in s or "\\" in s or Path(s).is_file()


@lru_cache(maxsize=256)
def _load_library(name: str) -> ModelConfig:
    path = LIBRARY_DIR / f"{name}.json"
    if not path.is_file():
        names = list_models()
        close = difflib.get_close_matches(name, names, n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
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
}


# Largest integer a config.json field may hold: 10^12 is beyond every real dimension (layers,
# hidden size, vocabulary, context) by orders of magnitude, and keeps every product of them
# within float and int64 range.
MAX_CONFIG_INT = 10**12


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
    r = _Reader(cfg, src)
    if family is Family.GPT2:
        model = _parse_gpt2(r, name, source)
    else:
        model = _parse_decoder(r, family, name, source)
    r.raise_if_any()
    return ModelConfig(**{**model, "provenance": dict(meta)})


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
    if family is Family.GEMMA2 or act.startswith("gelu"):
        mlp = MLPKind.GELU_GATED
    elif act in ("silu", "swish"):
        mlp = MLPKind.SILU_GATED
    else:
        r.problems.append(f"key 'hidden_act': unsupported activation {act!r} (use silu or gelu)")
        mlp = MLPKind.SILU_GATED

    bias = r.bool("attention_bias", family is Family.QWEN2)
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
            )
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
        norms_per_layer=4 if family is Family.GEMMA2 else 2,
        qkv_bias=qkv_bias, o_bias=o_bias, mlp_bias=mlp_bias, position=PositionKind.ROPE,
        rope_dim=rope_dim,
        tie_word_embeddings=r.bool("tie_word_embeddings", family is Family.GEMMA2),
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
    if family is Family.QWEN2:
        if not r.bool("use_sliding_window", False):
            return (0,) * layers
        first = r.int("max_window_layers", layers, minimum=0)
        return tuple(w if i >= first else 0 for i in range(layers))
    if family in (Family.MISTRAL, Family.MIXTRAL, Family.PHI3):
        return (w,) * layers
    return (0,) * layers
