"""Kernel cases: what one measurement runs, and its bytes and FLOPs by convention.

Bytes follow the STREAM convention: every element of every array the kernel reads or writes
counts once (copy/scale: 2 arrays, add/triad: 3, sum: 1, vector FMA: 2); write-allocate
traffic is not counted. The working set is the same number of bytes (the arrays the call
touches). GEMM C = A·B counts A, B and C once (m·k + k·n + m·n elements) and 2·m·k·n FLOPs.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from infersim.validation.kernels.cpu import VFMA_FLOPS_PER_ELEM


class Kernel(str, Enum):
    EMPTY = "empty"  # an empty parallel kernel: the fixed cost of one call
    COPY = "copy"  # c = a
    SCALE = "scale"  # b = s·c
    ADD = "add"  # c = a + b
    TRIAD = "triad"  # a = b + s·c
    SUM = "sum"  # Σ a
    VFMA = "vfma"  # compute-bound elementwise FMA chains (vector-unit ceiling)
    GEMM = "gemm"  # C = A·B, cache-blocked; B (the weights) cold: fetched from DRAM
    ATTENTION = "attention"  # causal GQA attention of the small transformer's shape


STREAM_KERNELS = (Kernel.COPY, Kernel.SCALE, Kernel.ADD, Kernel.TRIAD, Kernel.SUM)

# (arrays read, arrays written, FLOPs per element) of the elementwise kernels
_ELEMENTWISE: dict[Kernel, tuple[int, int, float]] = {
    Kernel.COPY: (1, 1, 0.0),
    Kernel.SCALE: (1, 1, 1.0),
    Kernel.ADD: (2, 1, 1.0),
    Kernel.TRIAD: (2, 1, 2.0),
    Kernel.SUM: (1, 0, 1.0),
    Kernel.VFMA: (1, 1, float(VFMA_FLOPS_PER_ELEM)),
}

_ELEM_BYTES = {"fp32": 4, "fp64": 8}

# Attention cases use the small transformer's head layout (validation/transformer.py).
ATTN_HEADS, ATTN_KV_HEADS, ATTN_HEAD_DIM = 8, 2, 64


class Role(str, Enum):
    FIT = "fit"  # used to fit the calibrated spec
    HOLDOUT = "holdout"  # never used by the fit; predicted by the calibrated model


@dataclass(frozen=True)
class Case:
    """One kernel at one size. Elementwise kernels use `n` elements; GEMM is m × k × n;
    attention has m = new queries (q_len) over n = keys (kv_len, cache included)."""

    kernel: Kernel
    dtype: str = "fp64"
    n: int = 1
    m: int = 0
    k: int = 0
    role: Role = Role.FIT

    def __post_init__(self) -> None:
        if self.dtype not in _ELEM_BYTES:
            raise ValueError(f"dtype {self.dtype!r}: kernels run in fp32 or fp64")
        if self.n < 1 or (self.kernel == Kernel.GEMM and (self.m < 1 or self.k < 1)) or (
                self.kernel == Kernel.ATTENTION and not 1 <= self.m <= self.n):
            raise ValueError(f"bad size for {self.kernel.value}: m={self.m} k={self.k} n={self.n}")

    def attention_op(self):  # -> workloads.ops.Op
        """The attention operator of this case (one home for its FLOPs and bytes)."""
        from infersim.workloads import ops as O

        return O.attention(1, ATTN_HEADS, ATTN_KV_HEADS, ATTN_HEAD_DIM, self.m, self.n,
                           causal=True, dtype=self.dtype)

    @property
    def elem_bytes(self) -> int:
        return _ELEM_BYTES[self.dtype]

    @property
    def read_bytes(self) -> float:
        if self.kernel == Kernel.ATTENTION:
            b = self.attention_op().bytes
            return b.act_in + b.kv_read
        if self.kernel == Kernel.GEMM:
            return float(self.m * self.k + self.k * self.n) * self.elem_bytes
        if self.kernel == Kernel.EMPTY:
            return 0.0
        return float(_ELEMENTWISE[self.kernel][0] * self.n * self.elem_bytes)

    @property
    def write_bytes(self) -> float:
        if self.kernel == Kernel.ATTENTION:
            return self.attention_op().bytes.act_out
        if self.kernel == Kernel.GEMM:
            return float(self.m * self.n * self.elem_bytes)
        if self.kernel == Kernel.EMPTY:
            return 0.0
        return float(_ELEMENTWISE[self.kernel][1] * self.n * self.elem_bytes)

    @property
    def weight_bytes(self) -> float:
        """Bytes of the GEMM's B operand: the weights when the GEMM is a model layer."""
        return float(self.k * self.n * self.elem_bytes) if self.kernel == Kernel.GEMM else 0.0

    @property
    def kv_bytes(self) -> float:
        """KV-cache bytes an attention case reads."""
        return self.attention_op().bytes.kv_read if self.kernel == Kernel.ATTENTION else 0.0

    @property
    def bytes(self) -> float:
        """Bytes moved per call by the STREAM convention (= the working set)."""
        return self.read_bytes + self.write_bytes

    @property
    def flops(self) -> float:
        if self.kernel == Kernel.ATTENTION:
            return self.attention_op().flops
        if self.kernel == Kernel.GEMM:
            return 2.0 * self.m * self.k * self.n
        if self.kernel == Kernel.EMPTY:
            return 0.0
        return _ELEMENTWISE[self.kernel][2] * self.n

    @property
    def label(self) -> str:
        if self.kernel == Kernel.ATTENTION:
            return f"attention {self.dtype} q={self.m} kv={self.n}"
        if self.kernel == Kernel.GEMM:
            return f"gemm {self.dtype} {self.m}x{self.k}x{self.n}"
        return f"{self.kernel.value} {self.dtype} n={self.n}"

    @staticmethod
    def elementwise_shape(kernel: Kernel) -> tuple[int, int, float]:
        """(arrays read, arrays written, FLOPs per element) of an elementwise kernel."""
        return _ELEMENTWISE[kernel]
