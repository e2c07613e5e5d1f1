"""Numba kernels of a Llama-style decoder step, one parallel kernel per operator of the
infersim trace (embedding, RMSNorm, RoPE, KV write, GQA attention, residual add, SiLU·mul;
the matmuls use `validation.kernels.cpu.gemm_tiled`).

One kernel call per trace op keeps the measured step comparable with the prediction: the
calibrated per-call overhead and bandwidths were measured on kernels of the same kind
(`parallel=True` Numba loops over NumPy arrays). Arrays are float32 row-major; token rows
are the leading dimension.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange


@njit(parallel=True, cache=True)
def embed_gather(table: np.ndarray, ids: np.ndarray, out: np.ndarray) -> None:  # pragma: no cover
    """out[t] = table[ids[t]]"""
    for t in prange(ids.shape[0]):
        out[t, :] = table[ids[t], :]


@njit(parallel=True, fastmath=True, cache=True)
def rmsnorm(x: np.ndarray, gain: np.ndarray, eps: float, out: np.ndarray) -> None:  # pragma: no cover
    """out[t] = x[t] / sqrt(mean(x[t]²) + eps) · gain (Llama RMSNorm), all in float32."""
    n = x.shape[1]
    inv_n = np.float32(1.0 / n)
    eps32 = np.float32(eps)
    for t in prange(x.shape[0]):
        ss = np.float32(0.0)
        for j in range(n):
            ss += x[t, j] * x[t, j]
        r = np.float32(1.0) / np.sqrt(ss * inv_n + eps32)
        for j in range(n):
            out[t, j] = x[t, j] * r * gain[j]


@njit(parallel=True, fastmath=True, cache=True)
def rope_inplace(qkv: np.ndarray, heads: int, head_dim: int, pos0: int, cos: np.ndarray,
                 sin: np.ndarray) -> None:  # pragma: no cover
    """Rotate the first `heads` heads (q and k heads) of each row of qkv in place, row t at
    position pos0 + t, Llama "rotate_half" convention: (x1, x2) → (x1·cos − x2·sin,
    x2·cos + x1·sin) over the two halves of each head. cos/sin[p, i] are precomputed per
    position at model load (as serving engines keep a cos/sin cache), so the op is the
    3 FLOP per rotated value the trace counts."""
    half = head_dim // 2
    T = qkv.shape[0]
    for task in prange(T * heads):
        t = task // heads
        h = task % heads
        p = pos0 + t
        base = h * head_dim
        for i in range(half):
            c = cos[p, i]
            s = sin[p, i]
            x1 = qkv[t, base + i]
            x2 = qkv[t, base + half + i]
            qkv[t, base + i] = x1 * c - x2 * s
            qkv[t, base + half + i] = x2 * c + x1 * s


@njit(parallel=True, cache=True)
def kv_write(qkv: np.ndarray, k_off: int, v_off: int, kv_heads: int, head_dim: int,
             k_cache: np.ndarray, v_cache: np.ndarray, pos0: int) -> None:  # pragma: no cover
    """Copy this step's K and V (columns k_off.., v_off.. of qkv) into the caches
    [kv_heads, max_len, head_dim] at positions pos0.."""
    T = qkv.shape[0]
    for task in prange(T * kv_heads):
        t = task // kv_heads
        g = task % kv_heads
        for d in range(head_dim):
            k_cache[g, pos0 + t, d] = qkv[t, k_off + g * head_dim + d]
            v_cache[g, pos0 + t, d] = qkv[t, v_off + g * head_dim + d]


@njit(parallel=True, fastmath=True, cache=True)
def attention_gqa(qkv: np.ndarray, heads: int, kv_heads: int, head_dim: int,
                  k_cache: np.ndarray, v_cache: np.ndarray, pos0: int,
                  out: np.ndarray) -> None:  # pragma: no cover
    """Causal grouped-query attention of the step's queries (first heads·head_dim columns of
    qkv, row t at position pos0 + t) over the cached keys 0..pos0+t; out[t, h·d:(h+1)·d].
    Two passes per (query, head): scores and their max, then exp-weights and the V sum."""
    T = qkv.shape[0]
    group = heads // kv_heads
    scale = np.float32(1.0 / math.sqrt(head_dim))
    for task in prange(T * heads):
        t = task // heads
        h = task % heads
        g = h // group
        n = pos0 + t + 1
        q = qkv[t, h * head_dim:(h + 1) * head_dim]
        scores = np.empty(n, dtype=np.float32)
        m = np.float32(-np.inf)
        for j in range(n):
            s = np.float32(0.0)
            for d in range(head_dim):
                s += q[d] * k_cache[g, j, d]
            s *= scale
            scores[j] = s
            if s > m:
                m = s
        acc = np.zeros(head_dim, dtype=np.float32)
        total = np.float32(0.0)
        for j in range(n):
            p = np.exp(scores[j] - m)
            total += p
            for d in range(head_dim):
                acc[d] += p * v_cache[g, j, d]
        inv = np.float32(1.0) / total
        for d in range(head_dim):
            out[t, h * head_dim + d] = acc[d] * inv


@njit(parallel=True, cache=True)
def add_inplace(x: np.ndarray, y: np.ndarray) -> None:  # pragma: no cover
    """x += y (residual add: reads x and y, writes x)."""
    for t in prange(x.shape[0]):
        for j in range(x.shape[1]):
            x[t, j] += y[t, j]


@njit(parallel=True, fastmath=True, cache=True)
def silu_mul(gu: np.ndarray, width: int, out: np.ndarray) -> None:  # pragma: no cover
    """out = silu(gate) · up with gate = gu[:, :width], up = gu[:, width:2·width]."""
    for t in prange(gu.shape[0]):
        for j in range(width):
            g = gu[t, j]
            out[t, j] = g / (np.float32(1.0) + np.exp(-g)) * gu[t, width + j]
