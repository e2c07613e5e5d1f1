"""Model summary: parameter counts, weight/KV bytes and FLOPs per token, derived from traces.

Parameter counts are read off the weight bytes of traces built by `build_trace` (one source of
truth for which weights exist), not from a separate formula:
- total: a TP=1 prefill over enough single-token sequences that every expert is touched,
  with the embedding gathers replaced by the full tables (the lm_head op carries the output
  matrix, which for tied embeddings is the input table, counted once);
- active: a TP=1 decode step of one token (top_k routed experts), counting the input embedding
  table in full (Mistral's convention for Mixtral's "12.9B active"; DeepSeek quotes active
  parameters without the input table — subtract `params_embedding` for that convention).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from infersim.workloads.builder import build_trace
from infersim.workloads.dtypes import DType
from infersim.workloads.model import ModelConfig, PositionKind
from infersim.workloads.ops import OpKind
from infersim.workloads.scenario import Phase, Precision, Scenario
from infersim.workloads.trace import Trace


@dataclass(frozen=True)
class ModelSummary:
    """Facts about one model. Element counts are parameters; bytes are at the dtype named."""

    name: str
    family: str
    layers: int
    hidden_size: int
    heads: int
    kv_heads: int
    head_dim: int
    vocab_size: int
    max_context: int  # max_position_embeddings
    experts: int  # routed experts (0: dense)
    experts_per_token: int
    params_total: float
    params_active: float  # per token (MoE: routed top-k + shared), input embedding included
    # (tied embeddings: the shared matrix is counted once, as lm_head)
    params_embedding: float  # input embedding table(s) (token + learned positions)
    kv_bytes_per_token_per_layer_bf16: float
    kv_bytes_per_token_bf16: float
    flops_per_token_decode: float  # one decode token at `context` (batch 1, TP 1)
    context: int  # context the decode FLOPs were computed at

    def weight_bytes(self, dtype: str | DType = "bf16") -> float:
        """Bytes of all parameters at `dtype`."""
        return self.params_total * DType.parse(dtype).bytes

    def kv_bytes_per_token(self, dtype: str | DType = "bf16") -> float:
        """KV-cache bytes per token, all layers, at `dtype`."""
        return self.kv_bytes_per_token_bf16 / 2.0 * DType.parse(dtype).bytes

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for dt in ("bf16", "fp8", "int4"):
            d[f"weight_bytes_{dt}"] = self.weight_bytes(dt)
        d["kv_bytes_per_token_fp8"] = self.kv_bytes_per_token("fp8")
        return d


def weight_elements(trace: Trace, *, include_embedding: bool = True) -> float:
    """Parameters read by the ops of `trace` (weight bytes / weight dtype bytes per op)."""
    prec = trace.scenario.precision
    total = 0.0
    for op in trace.ops:
        if op.kind is OpKind.EMBEDDING and not include_embedding:
            continue
        wdt = getattr(op.shape, "weight_dtype", None) or prec.weights
        total += op.bytes.weight * op.count / wdt.bytes
    return total


def embedding_elements(m: ModelConfig) -> float:
    """Input embedding tables: tokens (vocab × hidden) plus learned positions, if any."""
    n = float(m.vocab_size) * m.hidden_size
    if m.position is PositionKind.LEARNED:
        n += float(m.max_position_embeddings) * m.hidden_size
    return n


def param_counts(m: ModelConfig) -> tuple[float, float]:
    """(total, active-per-token) parameters of `m`, read from TP=1 traces (module docstring)."""
    prec = Precision(DType.BF16, DType.BF16, DType.BF16)
    batch = 1
    if m.moe is not None:  # enough tokens that E·(1-k/E)^T < 0.01: every expert touched
        e, k = m.moe.num_experts, m.moe.top_k
        batch = max(1, math.ceil(math.log(0.01 / e) / math.log(1.0 - k / e))) if k < e else 1
    pre = build_trace(m, Scenario(Phase.PREFILL, batch=batch, prompt=1, precision=prec))
    dec = build_trace(m, Scenario(Phase.DECODE, batch=1, context=0, precision=prec))
    emb = embedding_elements(m)
    # lm_head reads the whole output matrix; with tied embeddings that matrix IS the token
    # table, so only the (learned-position) rest of the input tables is added.
    untied = emb - (float(m.vocab_size) * m.hidden_size if m.tie_word_embeddings else 0.0)
    total = weight_elements(pre, include_embedding=False) + untied
    active = weight_elements(dec, include_embedding=False) + untied
    return total, active


def summarize(m: ModelConfig, context: int = 1024) -> ModelSummary:
    """Summary of `m`; decode FLOPs per token at `context` tokens of KV cache."""
    total, active = param_counts(m)
    ctx = min(context, m.max_position_embeddings - 1)
    dec = build_trace(m, Scenario(Phase.DECODE, batch=1, context=ctx))
    kv_layer = m.kv_dim_per_token_per_layer * DType.BF16.bytes
    return ModelSummary(
        name=m.name, family=m.family.value, layers=m.num_layers, hidden_size=m.hidden_size,
        heads=m.num_heads, kv_heads=1 if m.mla is not None else m.num_kv_heads,
        head_dim=m.head_dim, vocab_size=m.vocab_size, max_context=m.max_position_embeddings,
        experts=m.moe.num_experts if m.moe else 0,
        experts_per_token=m.moe.top_k if m.moe else 0,
        params_total=total, params_active=active, params_embedding=embedding_elements(m),
        kv_bytes_per_token_per_layer_bf16=kv_layer,
        kv_bytes_per_token_bf16=kv_layer * m.num_layers,
        flops_per_token_decode=dec.flops, context=ctx,
    )
