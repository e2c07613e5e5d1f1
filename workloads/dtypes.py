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

    @property
    def bytes(self) -> float:
        """Bytes per element (sub-byte formats are fractional; block scales are ignored)."""
        return _BYTES[self]

    @property
    def bits(self) -> int:
        return int(_BYTES[self] * BITS_PER_BYTE)

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
}
