"""A small real Llama-style transformer, run on this machine to grade the simulator end to end.

The model is an HF-style config dict (`SMALL_LLAMA`: hidden 512, 8 heads, 2 KV heads (GQA),
4 layers, SiLU-gated MLP 1536, vocab 4096, RoPE, RMSNorm, untied lm_head), so
`workloads.load_model(SMALL_LLAMA)` + `workloads.build_trace` give exactly the trace the
simulator predicts. Weights are float32 (random, seeded), activations float32.

Implementation: NumPy arrays, one Numba kernel per trace operator
(validation/kernels/llm.py), and the matmuls through the SAME cache-blocked Numba GEMM that
`infersim calibrate` measures for the CPU spec's matrix ceiling (`gemm_tiled`, not NumPy's
BLAS), so the ceiling the model uses comes from the kernel the transformer runs. Per step, as
the trace: embedding gather, then per layer RMSNorm, fused QKV matmul, RoPE on q and k, KV
write, causal GQA attention over the cache, o_proj, residual add, RMSNorm, fused gate/up
matmul, SiLU·mul, down_proj, residual add; then the final RMSNorm over all tokens and the
lm_head on the last token (prefill) or the new token (decode).

`to_hf_state_dict` / `from_hf_state_dict` map the weights to and from the HF
LlamaForCausalLM layout, which the tests use as the independent reference.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from infersim.validation.kernels import llm
from infersim.validation.kernels.cpu import gemm_tiled, gemm_tiles
from infersim.validation.kernels.timing import Timing, TimingPolicy, time_calls

SMALL_LLAMA: dict[str, Any] = {
    "architectures": ["LlamaForCausalLM"],
    "model_type": "llama",
    "hidden_size": 512,
    "intermediate_size": 1536,
    "num_attention_heads": 8,
    "num_key_value_heads": 2,
    "num_hidden_layers": 4,
    "vocab_size": 4096,
    "max_position_embeddings": 4096,
    "rms_norm_eps": 1e-5,
    "rope_theta": 10000.0,
    "hidden_act": "silu",
    "tie_word_embeddings": False,
    "attention_bias": False,
    "mlp_bias": False,
    "torch_dtype": "float32",
}


@dataclass(frozen=True)
class Dims:
    hidden: int
    inter: int
    heads: int
    kv_heads: int
    head_dim: int
    layers: int
    vocab: int
    max_len: int
    eps: float
    theta: float

    @staticmethod
    def of(cfg: Mapping[str, Any]) -> Dims:
        h = int(cfg["hidden_size"])
        heads = int(cfg["num_attention_heads"])
        return Dims(h, int(cfg["intermediate_size"]), heads,
                    int(cfg.get("num_key_value_heads", heads)),
                    int(cfg.get("head_dim", h // heads)), int(cfg["num_hidden_layers"]),
                    int(cfg["vocab_size"]), int(cfg.get("max_position_embeddings", 4096)),
                    float(cfg.get("rms_norm_eps", 1e-5)), float(cfg.get("rope_theta", 1e4)))

    @property
    def q_width(self) -> int:
        return self.heads * self.head_dim

    @property
    def kv_width(self) -> int:
        return self.kv_heads * self.head_dim


@dataclass(frozen=True)
class LayerWeights:
    in_norm: np.ndarray  # [hidden]
    wqkv: np.ndarray  # [hidden, q + 2·kv]  columns: q heads | k heads | v heads
    wo: np.ndarray  # [q, hidden]
    post_norm: np.ndarray  # [hidden]
    wgu: np.ndarray  # [hidden, 2·inter]  columns: gate | up
    wd: np.ndarray  # [inter, hidden]


@dataclass(frozen=True)
class Weights:
    embed: np.ndarray  # [vocab, hidden]
    layers: tuple[LayerWeights, ...]
    final_norm: np.ndarray  # [hidden]
    lm_head: np.ndarray  # [hidden, vocab]

    @property
    def nbytes(self) -> int:
        arrs = [self.embed, self.final_norm, self.lm_head]
        for lw in self.layers:
            arrs += [lw.in_norm, lw.wqkv, lw.wo, lw.post_norm, lw.wgu, lw.wd]
        return int(sum(a.nbytes for a in arrs))


def init_weights(cfg: Mapping[str, Any], seed: int = 0) -> Weights:
    """Random float32 weights, N(0, 0.02²) like HF's initializer, norm gains around 1."""
    d = Dims.of(cfg)
    rng = np.random.default_rng(seed)

    def w(*shape: int) -> np.ndarray:
        return (rng.standard_normal(shape) * 0.02).astype(np.float32)

    def gain() -> np.ndarray:
        return (1.0 + 0.1 * rng.standard_normal(d.hidden)).astype(np.float32)

    layers = tuple(
        LayerWeights(gain(), w(d.hidden, d.q_width + 2 * d.kv_width), w(d.q_width, d.hidden),
                     gain(), w(d.hidden, 2 * d.inter), w(d.inter, d.hidden))
        for _ in range(d.layers))
    return Weights(w(d.vocab, d.hidden), layers, gain(), w(d.hidden, d.vocab))


class SmallLlama:
    """The model with its KV cache and per-step buffers (allocated once, reused)."""

    def __init__(self, cfg: Mapping[str, Any], weights: Weights, threads: int,
                 max_tokens: int = 2048):
        self.d = Dims.of(cfg)
        self.w = weights
        self.threads = threads
        d = self.d
        inv_freq = (1.0 / d.theta ** (np.arange(0, d.head_dim, 2, dtype=np.float32)
                                      / d.head_dim)).astype(np.float32)
        angles = np.arange(d.max_len, dtype=np.float32)[:, None] * inv_freq[None, :]
        self.rope_cos = np.cos(angles).astype(np.float32)  # [max_len, head_dim / 2]
        self.rope_sin = np.sin(angles).astype(np.float32)
        self.k_cache = [np.zeros((d.kv_heads, d.max_len, d.head_dim), np.float32)
                        for _ in range(d.layers)]
        self.v_cache = [np.zeros_like(k) for k in self.k_cache]
        t = max_tokens
        f32 = np.float32
        self.x = np.empty((t, d.hidden), f32)
        self.h = np.empty((t, d.hidden), f32)
        self.y = np.empty((t, d.hidden), f32)
        self.qkv = np.empty((t, d.q_width + 2 * d.kv_width), f32)
        self.att = np.empty((t, d.q_width), f32)
        self.gu = np.empty((t, 2 * d.inter), f32)
        self.act = np.empty((t, d.inter), f32)
        self.logits = np.empty((t, d.vocab), f32)

    def fill_cache(self, length: int, seed: int = 0) -> None:
        """Random K/V for positions 0..length-1 (to time a decode step at a given context)."""
        rng = np.random.default_rng(seed)
        for k, v in zip(self.k_cache, self.v_cache, strict=True):
            k[:, :length] = rng.standard_normal(k[:, :length].shape).astype(np.float32)
            v[:, :length] = rng.standard_normal(v[:, :length].shape).astype(np.float32)

    def _mm(self, a: np.ndarray, b: np.ndarray, c: np.ndarray) -> None:
        bm, bn, bk = gemm_tiles(a.shape[0], b.shape[1], self.threads)
        gemm_tiled(a, b, c, bm, bn, bk)

    def forward(self, ids: np.ndarray, pos0: int) -> np.ndarray:
        """Run the tokens `ids` at positions pos0.. (cache 0..pos0-1 already filled); return
        the logits of the last token. One kernel call per trace op."""
        d, w = self.d, self.w
        T = int(ids.shape[0])
        x, h, y = self.x[:T], self.h[:T], self.y[:T]
        qkv, att, gu, act = self.qkv[:T], self.att[:T], self.gu[:T], self.act[:T]
        llm.embed_gather(w.embed, ids, x)
        for li, lw in enumerate(w.layers):
            llm.rmsnorm(x, lw.in_norm, d.eps, h)
            self._mm(h, lw.wqkv, qkv)
            llm.rope_inplace(qkv, d.heads + d.kv_heads, d.head_dim, pos0, self.rope_cos,
                             self.rope_sin)
            llm.kv_write(qkv, d.q_width, d.q_width + d.kv_width, d.kv_heads, d.head_dim,
                         self.k_cache[li], self.v_cache[li], pos0)
            llm.attention_gqa(qkv, d.heads, d.kv_heads, d.head_dim, self.k_cache[li],
                              self.v_cache[li], pos0, att)
            self._mm(att, lw.wo, y)
            llm.add_inplace(x, y)
            llm.rmsnorm(x, lw.post_norm, d.eps, h)
            self._mm(h, lw.wgu, gu)
            llm.silu_mul(gu, d.inter, act)
            self._mm(act, lw.wd, y)
            llm.add_inplace(x, y)
        llm.rmsnorm(x, w.final_norm, d.eps, h)
        last = h[T - 1:T]
        out = self.logits[:1]
        self._mm(last, w.lm_head, out)
        return out[0]


def time_step(model: SmallLlama, phase: str, tokens: int, policy: TimingPolicy,
              seed: int = 0) -> Timing:
    """Seconds of one step: prefill of `tokens` prompt tokens, or one decode step with
    `tokens` tokens already cached."""
    rng = np.random.default_rng(seed)
    if phase == "prefill":
        ids = rng.integers(0, model.d.vocab, size=tokens).astype(np.int64)
        return time_calls(lambda: model.forward(ids, 0), policy)
    if phase == "decode":
        model.fill_cache(tokens, seed)
        ids = rng.integers(0, model.d.vocab, size=1).astype(np.int64)
        return time_calls(lambda: model.forward(ids, tokens), policy)
    raise ValueError(f"phase must be prefill or decode, got {phase!r}")


def to_hf_state_dict(cfg: Mapping[str, Any], weights: Weights) -> dict[str, np.ndarray]:
    """The weights in HF LlamaForCausalLM naming and layout (Linear weights are [out, in])."""
    d = Dims.of(cfg)
    sd: dict[str, np.ndarray] = {"model.embed_tokens.weight": weights.embed,
                                 "model.norm.weight": weights.final_norm,
                                 "lm_head.weight": np.ascontiguousarray(weights.lm_head.T)}
    for i, lw in enumerate(weights.layers):
        p = f"model.layers.{i}."
        q, kv = d.q_width, d.kv_width
        sd[p + "input_layernorm.weight"] = lw.in_norm
        sd[p + "self_attn.q_proj.weight"] = np.ascontiguousarray(lw.wqkv[:, :q].T)
        sd[p + "self_attn.k_proj.weight"] = np.ascontiguousarray(lw.wqkv[:, q:q + kv].T)
        sd[p + "self_attn.v_proj.weight"] = np.ascontiguousarray(lw.wqkv[:, q + kv:].T)
        sd[p + "self_attn.o_proj.weight"] = np.ascontiguousarray(lw.wo.T)
        sd[p + "post_attention_layernorm.weight"] = lw.post_norm
        sd[p + "mlp.gate_proj.weight"] = np.ascontiguousarray(lw.wgu[:, :d.inter].T)
        sd[p + "mlp.up_proj.weight"] = np.ascontiguousarray(lw.wgu[:, d.inter:].T)
        sd[p + "mlp.down_proj.weight"] = np.ascontiguousarray(lw.wd.T)
    return sd
