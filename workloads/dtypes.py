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
    FP4 = "fp4"
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
        """Bytes per element (sub-byte formats are fractional; block scales are ignored)."""
        return _BYTES[self]

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


_BYTES: dict[DType, float] = {
    DType.FP32: 4.0,
    DType.BF16: 2.0,
    DType.FP16: 2.0,
    DType.FP8: 1.0,
    DType.INT8: 1.0,
    DType.INT4: 0.5,
    DType.FP4: 0.5,
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
    "mxfp4": "fp4",
    "mxint8": "int8",
    "mxint4": "int4",
    "f16": "fp16",  # GGUF spelling
    "f32": "fp32",
}
