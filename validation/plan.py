"""Measurement plans: which kernel cases a calibration run measures, and which it holds out.

Elementwise (STREAM) kernels sweep the working set geometrically from L1-sized to far beyond
the last-level cache, `per_octave` sizes per doubling. Every third size of each kernel is held
out of the fit (staggered by kernel, so every size region has held-out points of some
kernel); GEMM shapes are held out the same way. Held-out cases are measured exactly like the
others and are used only to grade the calibrated model.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from infersim.validation.kernels.cases import STREAM_KERNELS, Case, Kernel, Role
from infersim.validation.kernels.timing import TimingPolicy

HOLDOUT_EVERY = 3


@dataclass(frozen=True)
class TransformerCase:
    """One measured step of the small transformer (validation/transformer.py)."""

    phase: str  # "prefill" | "decode"
    tokens: int  # prefill: prompt tokens; decode: tokens already in the KV cache

    @property
    def label(self) -> str:
        what = "prompt" if self.phase == "prefill" else "context"
        return f"{self.phase} {what}={self.tokens}"


@dataclass(frozen=True)
class Profile:
    """A calibration profile: sizes, shapes, timing effort."""

    name: str
    ws_min_bytes: float
    ws_max_bytes: float
    per_octave: int
    stream_dtype: str
    gemm_dtypes: tuple[str, ...]
    gemm_shapes: tuple[tuple[int, int, int], ...]  # (m, k, n) of the first dtype
    vfma_elems: int
    policy: TimingPolicy
    gemm_shapes_other: tuple[tuple[int, int, int], ...] | None = None  # other dtypes (None: same)
    attention: tuple[tuple[int, int], ...] = ()  # (q_len, kv_len), fp32
    transformer: tuple[TransformerCase, ...] = ()
    transformer_repeats: int = 5


# GEMMs shaped like transformer layers (k × n of q/k/v, o, gate/up, down, lm_head projections
# of small models) at 1..512 tokens, plus squares
_LLM_SHAPES = tuple((m, k, n) for m in (1, 4, 16, 32, 64, 128, 256, 512)
                    for (k, n) in ((512, 768), (512, 512), (512, 3072), (1536, 512), (512, 4096),
                                   (1024, 2048)))
_SQUARES = tuple((s, s, s) for s in (128, 192, 256, 384, 512, 768, 1024))
_FP64_SHAPES = _SQUARES + tuple(s for s in _LLM_SHAPES if s[0] in (1, 32, 128, 512))
# attention (q_len, kv_len) of the small transformer's heads: decode, prefill, chunked
_ATTENTION = ((1, 128), (1, 512), (1, 1024), (1, 2048), (1, 4096), (16, 16), (32, 32),
              (64, 64), (128, 128), (256, 256), (512, 512), (64, 1024), (128, 2048))

FULL = Profile(
    name="full", ws_min_bytes=4 * 1024, ws_max_bytes=512 * 1024**2, per_octave=3,
    stream_dtype="fp64", gemm_dtypes=("fp32", "fp64"), gemm_shapes=_SQUARES + _LLM_SHAPES,
    gemm_shapes_other=_FP64_SHAPES,
    vfma_elems=1 << 16, policy=TimingPolicy(), attention=_ATTENTION,
    transformer=(TransformerCase("prefill", 32), TransformerCase("prefill", 128),
                 TransformerCase("prefill", 512), TransformerCase("decode", 128),
                 TransformerCase("decode", 512), TransformerCase("decode", 2048)),
)
QUICK = Profile(
    name="quick", ws_min_bytes=4 * 1024, ws_max_bytes=64 * 1024**2, per_octave=1,
    stream_dtype="fp64", gemm_dtypes=("fp32", "fp64"),
    gemm_shapes=((1, 512, 512), (8, 512, 512), (64, 256, 256), (128, 128, 128), (128, 512, 512),
                 (256, 256, 256)),
    vfma_elems=1 << 15, attention=((1, 256), (1, 1024), (32, 32), (128, 128)),
    policy=TimingPolicy(warmup=1, repeats=3, target_sample_s=5e-4, max_retries=2,
                        backoff_s=0.02),
    transformer=(TransformerCase("prefill", 16), TransformerCase("decode", 32)),
    transformer_repeats=3,
)
TINY = Profile(  # CI-size smoke run (CUDA simulator included): seconds, not accuracy
    name="tiny", ws_min_bytes=4 * 1024, ws_max_bytes=64 * 1024, per_octave=1,
    stream_dtype="fp64", gemm_dtypes=("fp32",), gemm_shapes=((4, 16, 16), (8, 16, 32),
                                                            (16, 16, 16)),
    vfma_elems=256, attention=((1, 16), (4, 8)),
    policy=TimingPolicy(warmup=1, repeats=2, target_sample_s=1e-4, max_retries=0),
)
PROFILES = {p.name: p for p in (FULL, QUICK, TINY)}


def stream_sizes(profile: Profile) -> list[float]:
    """Working-set sizes (bytes) of the sweep, geometric, both ends included."""
    octaves = np.log2(profile.ws_max_bytes / profile.ws_min_bytes)
    count = round(octaves * profile.per_octave) + 1
    return [float(x) for x in np.geomspace(profile.ws_min_bytes, profile.ws_max_bytes, count)]


def _held(i: int, offset: int) -> Role:
    return Role.HOLDOUT if (i + offset) % HOLDOUT_EVERY == 1 else Role.FIT


def kernel_cases(profile: Profile) -> list[Case]:
    """All kernel cases of a profile (call overhead, vector FMA, STREAM sweep, GEMMs,
    attention)."""
    cases: list[Case] = [Case(Kernel.EMPTY, role=Role.FIT)]
    for dt in profile.gemm_dtypes:
        cases.append(Case(Kernel.VFMA, dt, profile.vfma_elems, role=Role.FIT))
    dt = profile.stream_dtype
    for ki, kern in enumerate(STREAM_KERNELS):
        arrays = sum(Case.elementwise_shape(kern)[:2])
        elem = Case(kern, dt).elem_bytes
        for i, ws in enumerate(stream_sizes(profile)):
            n = max(1, round(ws / (arrays * elem)))
            cases.append(Case(kern, dt, n, role=_held(i, ki)))
    for di, dt in enumerate(profile.gemm_dtypes):
        shapes = (profile.gemm_shapes if di == 0 or profile.gemm_shapes_other is None
                  else profile.gemm_shapes_other)
        for i, (m, k, n) in enumerate(sorted(shapes, key=lambda s: s[0] * s[1] * s[2])):
            cases.append(Case(Kernel.GEMM, dt, n, m, k, role=_held(i, di)))
    for i, (q, kv) in enumerate(profile.attention):
        cases.append(Case(Kernel.ATTENTION, "fp32", n=kv, m=q, role=_held(i, 2)))
    # With very few sizes the stagger may leave a kernel without a fit point: fit it all.
    return _ensure_fit_points(cases)


def _ensure_fit_points(cases: list[Case]) -> list[Case]:
    out = list(cases)
    for key in {(c.kernel, c.dtype) for c in cases}:
        idx = [i for i, c in enumerate(out) if (c.kernel, c.dtype) == key]
        if all(out[i].role == Role.HOLDOUT for i in idx):
            for i in idx:
                out[i] = replace(out[i], role=Role.FIT)
    return out
