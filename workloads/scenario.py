"""What is being run: phase, sizes, precision and parallelism of one model step."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from infersim.errors import InputError
from workloads.dtypes import DType


class Phase(str, Enum):
    PREFILL = "prefill"  # process `prompt` new tokens per sequence, emit the first token
    DECODE = "decode"  # one new token per sequence over a KV cache of `context` tokens
    CHUNKED_PREFILL = "chunked_prefill"  # `chunk` prompt tokens on top of `context` cached
    SPEC_DECODE = "spec_decode"  # draft `draft_len` tokens with a draft model, verify at once


@dataclass(frozen=True)
class Precision:
    weights: DType = DType.BF16
    activations: DType = DType.BF16
    kv: DType = DType.BF16


@dataclass(frozen=True)
class Parallelism:
    tp: int = 1  # tensor parallel degree
    pp: int = 1  # pipeline parallel degree (stages)
    ep: int = 1  # expert parallel degree (MoE)

    @property
    def chips(self) -> int:
        """Chips used: TP×PP; EP shards experts within the TP×PP chips (EP ≤ TP·PP)."""
        return self.tp * self.pp


@dataclass(frozen=True)
class SpecDecode:
    """Speculative decoding: a draft model proposes `draft_len` tokens, the target verifies
    them in one pass of draft_len+1 query tokens. `acceptance` is the per-token acceptance
    probability; expected tokens per step = (1 - a^(L+1)) / (1 - a)."""

    draft_model: str | None = None  # library name; None = a self-drafting head (Medusa/EAGLE)
    draft_len: int = 4
    acceptance: float = 0.7

    @property
    def expected_tokens(self) -> float:
        a, n = self.acceptance, self.draft_len
        if a >= 1.0:
            return float(n + 1)
        return (1.0 - a ** (n + 1)) / (1.0 - a)


@dataclass(frozen=True)
class Scenario:
    phase: Phase = Phase.DECODE
    batch: int = 1
    prompt: int = 0  # prefill: prompt tokens per sequence
    context: int = 0  # decode / chunked prefill: tokens already in the KV cache
    chunk: int = 0  # chunked prefill: new prompt tokens in this step
    precision: Precision = field(default_factory=Precision)
    parallel: Parallelism = field(default_factory=Parallelism)
    moe_imbalance: float = 1.0  # max/mean tokens per expert (1 = perfectly balanced)
    spec: SpecDecode | None = None

    def __post_init__(self) -> None:
        for name in ("batch", "prompt", "context", "chunk"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 0:
                raise InputError(f"{name} must be a non-negative integer, got {v!r}")
        if self.batch < 1:
            raise InputError(f"batch must be ≥ 1, got {self.batch}")
        for name in ("tp", "pp", "ep"):
            v = getattr(self.parallel, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise InputError(f"{name} must be a positive integer, got {v!r}")
        if self.moe_imbalance < 1.0:
            raise InputError(f"moe_imbalance is max/mean tokens per expert and must be ≥ 1, "
                             f"got {self.moe_imbalance}")
        if self.phase == Phase.PREFILL and self.prompt < 1:
            raise InputError("prefill needs prompt ≥ 1 (tokens in the prompt)")
        if self.phase == Phase.CHUNKED_PREFILL and self.chunk < 1:
            raise InputError("chunked_prefill needs chunk ≥ 1 (new prompt tokens this step)")
        if self.phase == Phase.SPEC_DECODE and self.spec is None:
            object.__setattr__(self, "spec", SpecDecode())

    @property
    def new_tokens(self) -> int:
        """Query tokens per sequence processed by the target model in this step."""
        if self.phase == Phase.PREFILL:
            return self.prompt
        if self.phase == Phase.CHUNKED_PREFILL:
            return self.chunk
        if self.phase == Phase.SPEC_DECODE:
            assert self.spec is not None
            return self.spec.draft_len + 1
        return 1

    @property
    def kv_len(self) -> int:
        """Keys attended by the last query of the step (cache after this step's writes)."""
        if self.phase == Phase.PREFILL:
            return self.prompt
        return self.context + self.new_tokens
