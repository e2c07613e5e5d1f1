"""Model architecture as the trace builder needs it: a frozen `ModelConfig` and its parts.

Reading a Hugging Face `config.json` into a `ModelConfig` is `workloads.hf_config`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from infersim.foundation.errors import InputError
from infersim.workloads.dtypes import DType


class Family(StrEnum):
    LLAMA = "llama"
    MISTRAL = "mistral"
    MIXTRAL = "mixtral"
    QWEN2 = "qwen2"
    GEMMA2 = "gemma2"
    PHI3 = "phi3"
    DEEPSEEK_V3 = "deepseek_v3"
    GPT2 = "gpt2"
    QWEN3 = "qwen3"
    QWEN3_MOE = "qwen3_moe"
    GEMMA3 = "gemma3"
    LLAMA4 = "llama4"
    GPT_OSS = "gpt_oss"


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
    router_bias: bool = False  # one value per expert (DeepSeek-V3 correction bias, GPT-OSS)
    expert_bias: bool = False  # biases on each expert's gate_up and down projections (GPT-OSS)
    # group-limited routing (DeepSeek-V3 `n_group` / `topk_group`): the experts form n_group
    # contiguous groups and a token's top_k are chosen within its topk_group best groups
    n_group: int = 1
    topk_group: int = 1


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
class QuantConfig:
    """The checkpoint's weight quantization, from HF `quantization_config`."""

    method: str  # quant_method as written: fp8, mxfp4, awq, gptq, bitsandbytes
    weights: DType  # storage dtype of the quantized weights (block scales not counted)
    experts_only: bool = False  # only MoE expert weights are quantized (GPT-OSS mxfp4)
    group_size: int = 0  # elements sharing one scale (0: per-tensor/channel or unknown)


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
    qk_norm: str = ""  # per-head norm of q and k: "rms" (with gains), "l2" (none), "" (no norm)
    rope_layers: tuple[bool, ...] = ()  # per layer: applies RoPE (empty: every layer does)
    layer_chunks: tuple[int, ...] = ()  # per layer: chunked local attention size, 0 = none
    attention_sinks: bool = False  # one learned softmax-sink logit per head (GPT-OSS)
    mtp_layers: int = 0  # DeepSeek multi-token-prediction modules (speculative draft only)
    quant: QuantConfig | None = None
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
    def num_rope_layers(self) -> int:
        return sum(self.rope_layers) if self.rope_layers else self.num_layers

    @property
    def kv_dim_per_token_per_layer(self) -> int:
        """Values stored in the KV cache per token per layer (K and V; MLA: the latent)."""
        if self.mla is not None:
            return self.mla.latent_dim
        return 2 * self.num_kv_heads * self.head_dim

    def kv_bytes_per_token(self, dtype: str | DType = "bf16") -> float:
        """KV-cache bytes per token over all layers at `dtype` (whole model, no TP split)."""
        return self.kv_dim_per_token_per_layer * self.num_layers * DType.parse(dtype).bytes

    def check_context(self, tokens: int, what: str = "context") -> None:
        """InputError if a sequence of `tokens` exceeds the model's max_position_embeddings."""
        if tokens > self.max_position_embeddings:
            raise InputError(
                f"{self.name}: {what} of {tokens} tokens exceeds the model's maximum context "
                f"(max_position_embeddings = {self.max_position_embeddings}); use a shorter "
                "prompt/context")
