"""Correctness of the measurement kernels against NumPy, with rigorous error bounds.

Inputs are fresh random numbers in [0.5, 1.5) (never zero, so a kernel that skips work or
reads the wrong array cannot pass by accident); outputs are poisoned with NaN before the
kernel runs, so any element the kernel fails to write makes the check fail.

Bounds: a sum of n terms in floating point, in any order, is within γ_n · Σ|terms| of the
exact value, γ_n = n·u / (1 − n·u) with u the unit roundoff (Higham, "Accuracy and Stability
of Numerical Algorithms", 2nd ed., §3.1). GEMM and reductions are checked against that bound
with the reference computed in float64 (NumPy einsum/sum, no threaded BLAS).
"""

from __future__ import annotations

import numpy as np


class KernelCheckError(RuntimeError):
    """A measurement kernel produced a wrong result (a bug or a broken machine)."""


def gamma(n: int, dtype: np.dtype | type) -> float:
    """γ_n for the unit roundoff of `dtype` (plus a small allowance for the float64
    reference's own rounding)."""
    u = float(np.finfo(dtype).eps) / 2.0
    nu = n * u
    if nu >= 0.5:
        return 1.0
    return nu / (1.0 - nu) + 4 * float(np.finfo(np.float64).eps)


def random_inputs(rng: np.random.Generator, shape: int | tuple[int, ...],
                  dtype: np.dtype | type) -> np.ndarray:
    """Fresh random values in [0.5, 1.5): nonzero, of one sign, well scaled."""
    return (rng.random(shape) + 0.5).astype(dtype, copy=False)


def expect_within(name: str, got: np.ndarray | float, ref: np.ndarray | float,
                  bound: np.ndarray | float) -> None:
    """|got − ref| ≤ bound elementwise, and every element written."""
    g = np.asarray(got, dtype=np.float64)
    if not np.all(np.isfinite(g)):
        bad = int(np.count_nonzero(~np.isfinite(g)))
        raise KernelCheckError(f"{name}: {bad} output elements not written (NaN poison left)")
    err = np.abs(g - np.asarray(ref, dtype=np.float64))
    excess = err - np.asarray(bound, dtype=np.float64)
    if np.any(excess > 0):
        i = int(np.argmax(excess))
        raise KernelCheckError(f"{name}: error {err.flat[i]:.3g} at element {i} exceeds the "
                               f"rounding bound {np.broadcast_to(bound, err.shape).flat[i]:.3g}")


def gemm_reference(A: np.ndarray, B: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(exact-ish C[rows], |A|·|B|[rows]) in float64 for the rounding bound."""
    a = A[rows].astype(np.float64)
    b = B.astype(np.float64)
    return (np.einsum("ik,kj->ij", a, b, optimize=False),
            np.einsum("ik,kj->ij", np.abs(a), np.abs(b), optimize=False))


def attention_reference(qkv: np.ndarray, k_cache: np.ndarray, v_cache: np.ndarray, heads: int,
                        kv_heads: int, head_dim: int, pos0: int) -> np.ndarray:
    """Causal GQA attention in float64 with NumPy: query row t (position pos0 + t) of head h
    attends keys 0..pos0+t of KV head h // (heads / kv_heads)."""
    T = qkv.shape[0]
    group = heads // kv_heads
    q = qkv[:, :heads * head_dim].astype(np.float64).reshape(T, heads, head_dim)
    out = np.empty((T, heads * head_dim))
    for h in range(heads):
        kk = k_cache[h // group].astype(np.float64)
        vv = v_cache[h // group].astype(np.float64)
        for t in range(T):
            n = pos0 + t + 1
            s = kk[:n] @ q[t, h] / np.sqrt(head_dim)
            p = np.exp(s - s.max())
            out[t, h * head_dim:(h + 1) * head_dim] = (p / p.sum()) @ vv[:n]
    return out
