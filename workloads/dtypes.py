"""Numeric formats. One table of bytes per element; every byte count in infersim uses it."""

from __future__ import annotations

from enum import Enum

from infersim.foundation.errors import InputError
from infersim.foundation.units import BITS_PER_BYTE


class DType(str, Enum):
    """Storage/compute format of a tensor. Values are the names users type."""

    FP32 = "fp32"
    BF16 = "bf16"
    FP16 = "fp16"
    FP8 = "fp8"
    INT8 = "int8"
    INT4 = "int4"
    FP4 = "fp4"  # NVFP4: E2M1 values, one E4M3 scale per 16 (the block-scaled fp4 of Blackwell)
    MXFP4 = "mxfp4"  # OCP MXFP4: E2M1 values, one E8M0 scale per 32 (GPT-OSS checkpoints)
    FP64 = "fp64"  # host CPUs (calibration kernels); no accelerator spec uses it
    # GGUF weight formats (llama.cpp): block-quantized STORAGE formats only. Kernels
    # dequantize them on the fly into the activation dtype (dequant-matmul fusion), so they
    # are never an activation, KV or compute dtype (`weight_only`).
    Q2_K = "q2_k"
    Q3_K_M = "q3_k_m"
    Q4_0 = "q4_0"
    Q4_K_M = "q4_k_m"
    Q5_K_M = "q5_k_m"
    Q6_K = "q6_k"
    Q8_0 = "q8_0"

    @property
    def bytes(self) -> float:
        """Bytes per element stored and moved: sub-byte formats are fractional, and the
        block-scaled formats (fp4 = NVFP4, mxfp4, GGUF) include their scales; int4 is the bare
        4 bits (its group scales, when it has any, are ~3% more and are not counted)."""
        return _BYTES[self]

    @property
    def value_bytes(self) -> float:
        """Bytes of one value without its block scales: what a GEMM's K tile is counted in
        (kernels stage the scales beside the values). fp4 and mxfp4: 0.5; every other format
        its `bytes` (the GGUF formats are dequantized before the MMA and keep their bpw)."""
        return _E2M1_BYTES if self in (DType.FP4, DType.MXFP4) else _BYTES[self]

    @property
    def mma_format(self) -> DType:
        """The format whose matrix-unit peak and energy this one runs at: MXFP4 on the
        block-scaled fp4 MMAs that specs list as `fp4`; every other format its own."""
        return DType.FP4 if self is DType.MXFP4 else self

    @property
    def bits(self) -> int:
        """Nominal bits per element (GGUF formats: the integer bits of their quants)."""
        return int(_BYTES[self] * BITS_PER_BYTE)

    @property
    def bits_per_weight(self) -> float:
        """Stored bits per element including block scales (GGUF: the format's real bpw)."""
        return _BYTES[self] * BITS_PER_BYTE

    @property
    def weight_only(self) -> bool:
        """A storage format that kernels dequantize on the fly (weights only)."""
        return self in _GGUF_BPW

    @classmethod
    def parse(cls, value: str | DType, field: str = "dtype") -> DType:
        if isinstance(value, DType):
            return value
        key = str(value).strip().lower()
        key = _ALIASES.get(key, key)
        try:
            return cls(key)
        except ValueError:
            names = ", ".join(d.value for d in cls)
            raise InputError(f"{field}: unknown dtype {value!r}; use one of {names}") from None


_E2M1_BYTES = 0.5  # one 4-bit E2M1 value, the element of both fp4 formats

_BYTES: dict[DType, float] = {
    DType.FP32: 4.0,
    DType.BF16: 2.0,
    DType.FP16: 2.0,
    DType.FP8: 1.0,
    DType.INT8: 1.0,
    DType.INT4: 0.5,
    # NVFP4: 4-bit E2M1 values plus one 8-bit E4M3 scale per 16-value block = 4.5 bits (the
    # per-tensor fp32 scale is negligible); NVIDIA, "Introducing NVFP4 for Efficient and
    # Accurate Low-Precision Inference" (https://developer.nvidia.com/blog/introducing-nvfp4-
    # for-efficient-and-accurate-low-precision-inference/). An fp4 weight, activation or KV
    # tensor moves its scales with it.
    DType.FP4: _E2M1_BYTES + 1.0 / 16.0,
    # MXFP4: E2M1 values plus one 8-bit E8M0 scale per 32-value block = 4.25 bits (OCP
    # Microscaling Formats (MX) Specification v1.0, 2023, section 5)
    DType.MXFP4: _E2M1_BYTES + 1.0 / 32.0,
    DType.FP64: 8.0,
}

# Real bits per weight of the GGUF formats: bytes moved per weight, scales included.
# Q4_0 and Q8_0 are uniform block formats: one fp16 scale per block of 32 quants, i.e.
# (2 + 32*4/8) B / 32 = 4.5 bpw and (2 + 32) B / 32 = 8.5 bpw (ggml block_q4_0 / block_q8_0).
# The K-quant "mixes" quantize some tensors (attn_v, ffn_down, output) at a higher K type, so
# their bpw is a whole-model figure: llama.cpp tools/quantize/README.md, table "Llama 2 7B"
# (https://github.com/ggml-org/llama.cpp/blob/master/tools/quantize/README.md). The pure
# K-quant blocks are 2.625 (Q2_K), 3.4375 (Q3_K), 4.5 (Q4_K), 5.5 (Q5_K), 6.5625 (Q6_K) bpw
# (k-quants PR https://github.com/ggml-org/llama.cpp/pull/1684); the mixes sit above them.
_GGUF_BPW: dict[DType, float] = {
    DType.Q2_K: 3.35,
    DType.Q3_K_M: 3.91,
    DType.Q4_0: 4.5,
    DType.Q4_K_M: 4.84,
    DType.Q5_K_M: 5.68,
    DType.Q6_K: 6.56,
    DType.Q8_0: 8.5,
}
_BYTES.update({d: bpw / BITS_PER_BYTE for d, bpw in _GGUF_BPW.items()})


def _more_bits(i: int, n: int) -> bool:
    """llama.cpp's `use_more_bits(i_layer, num_layers)` (llama.cpp, build 8e672ef, in
    llama_model_quantize_internal's type choice): the first and last eighth of the layers and
    every third layer between them get the larger K type."""
    return i < n // 8 or i >= 7 * n // 8 or (i - n // 8) % 3 == 2


def _llama7b_block_mix() -> dict[DType, tuple[tuple[str, float], ...]]:
    # Tensors of one Llama-2-7B layer (d 4096, ffn 11008, 32 layers) by the type llama.cpp's
    # quantizer gives each (llama.cpp build 8e672ef: attn_v / ffn_down / attn_output rules);
    # the share of every block type in the layers' matmul weights. The output matrix is
    # left out: in a prompt it multiplies one token (a mat-vec kernel, no tile dequant).
    d, f, n = 4096, 11008, 32
    sizes = {"q": d * d, "k": d * d, "v": d * d, "o": d * d, "gate": d * f, "up": d * f,
             "down": d * f}
    total = n * sum(sizes.values())

    def mix(rule: dict[str, tuple[str, ...]], base: str) -> tuple[tuple[str, float], ...]:
        acc: dict[str, float] = {}
        for name, size in sizes.items():
            for i in range(n):
                t = rule.get(name, (base,) * n)[i]
                acc[t] = acc.get(t, 0.0) + size / total
        return tuple(sorted(acc.items()))

    more6 = tuple("q6_k" if _more_bits(i, n) else "" for i in range(n))
    first2_q5 = tuple("q5_k" if i < 2 else "q4_k" for i in range(n))
    return {
        DType.Q2_K: mix({"v": ("q3_k",) * n, "down": ("q3_k",) * n, "o": ("q3_k",) * n},
                        "q2_k"),
        DType.Q3_K_M: mix({"v": first2_q5, "down": first2_q5, "o": ("q4_k",) * n}, "q3_k"),
        DType.Q4_0: (("q4_0", 1.0),),
        DType.Q4_K_M: mix({"v": tuple(t or "q4_k" for t in more6),
                           "down": tuple(t or "q4_k" for t in more6)}, "q4_k"),
        DType.Q5_K_M: mix({"v": tuple(t or "q5_k" for t in more6),
                           "down": tuple(t or "q5_k" for t in more6)}, "q5_k"),
        DType.Q6_K: (("q6_k", 1.0),),
        DType.Q8_0: (("q8_0", 1.0),),
    }


# GGUF block types (ggml type names, lower case) of each format's layer matmul weights, with
# their share of those weights: the K-quant "mixes" are several block types.
GGUF_BLOCK_MIX: dict[DType, tuple[tuple[str, float], ...]] = _llama7b_block_mix()

_ALIASES = {
    "float32": "fp32",
    "float64": "fp64",
    "double": "fp64",
    "float": "fp32",
    "bfloat16": "bf16",
    "float16": "fp16",
    "half": "fp16",
    "e4m3": "fp8",
    "fp8_e4m3": "fp8",
    "float8": "fp8",
    "nvfp4": "fp4",
    "mxint8": "int8",
    "mxint4": "int4",
    "f16": "fp16",  # GGUF spelling
    "f32": "fp32",
}
