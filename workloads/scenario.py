"""What is being run: phase, sizes, precision and parallelism of one model step."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import Enum
from numbers import Integral, Real

from infersim.foundation.errors import InputError
from infersim.workloads.dtypes import DType
from infersim.workloads.routing import ROUTING_SKEW_SIGMA


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
    experts: DType | None = None  # MoE expert weights when they differ (GPT-OSS: mxfp4)
    # the output projection (lm_head) when it differs from `weights`: quantized GPU
    # checkpoints keep it 16-bit (NVIDIA ModelOpt's fp8 / int4-AWQ / nvfp4 exports write
    # "exclude_modules": ["lm_head"], modelopt/torch/export/unified_export_hf.py,
    # github.com/NVIDIA/TensorRT-Model-Optimizer; AWQ, GPTQ, bitsandbytes, DeepSeek-V3's and
    # GPT-OSS's checkpoints leave it unquantized too); None = as `weights`
    head: DType | None = None
    # weights as the checkpoint stores them (its quantization_config); resolved per model by
    # `build_trace`, which records the resolved precision in the trace's scenario
    checkpoint: bool = False

    def __post_init__(self) -> None:
        for name in ("activations", "kv"):
            d = getattr(self, name)
            if d.weight_only:
                raise InputError(f"{name}: {d.value} is a GGUF weight storage format "
                                 f"(dequantized inside the matmul); use it for weights only "
                                 f"and give {name} as bf16, fp16 or fp8")

    @property
    def expert_weights(self) -> DType:
        return self.experts or self.weights


def parse_precision(weights: str | DType = "bf16", activations: str | DType | None = None,
                    kv: str | DType | None = None,
                    lm_head: str | DType | None = None) -> Precision:
    """The dtypes of `--weights/--activations/--kv/--lm-head` (one parsing for simulate and
    serve): weights "checkpoint" = as the model's quantization_config stores them (resolved
    by `build_trace`); activations default to the weights' dtype when it is a 16/32-bit
    float, else bf16 (weight-only quantization); the KV cache defaults to the activations'
    dtype; lm_head (the output projection's weights) defaults to the weights' dtype, or to
    bf16 under a quantized checkpoint."""
    checkpoint = isinstance(weights, str) and weights.strip().lower() == "checkpoint"
    w = DType.BF16 if checkpoint else DType.parse(weights, "weights")
    a = DType.parse(activations, "activations") if activations else (
        w if w in (DType.BF16, DType.FP16, DType.FP32) else DType.BF16)
    k = DType.parse(kv, "kv") if kv else a
    h = DType.parse(lm_head, "lm_head") if lm_head else None
    return Precision(w, a, k, head=h, checkpoint=checkpoint)


MOE_EXCHANGES = ("auto", "all_to_all", "hierarchical", "deepep", "allgather")


def step_exchange(exchange: str, phase: Phase) -> str:
    """The exchange a step of `phase` runs under `exchange` (`Parallelism.moe_exchange`):
    "deepep" is DeepEP's auto mode, its normal kernels ("hierarchical") for a step that
    holds prompt tokens and its low-latency kernels ("all_to_all") for a decode step; any
    other value is itself."""
    if exchange != "deepep":
        return exchange
    return ("hierarchical" if phase in (Phase.PREFILL, Phase.CHUNKED_PREFILL)
            else "all_to_all")


def check_moe_exchange(v: object) -> str:
    """`v` if it names a MoE token exchange (`Parallelism.moe_exchange`), else InputError."""
    if v not in MOE_EXCHANGES:
        raise InputError(f"moe_exchange: unknown exchange {v!r}; use one of "
                         f"{', '.join(MOE_EXCHANGES)}")
    return str(v)


def check_routing_skew(v: object) -> float:
    """`v` as a routing skew σ (`Scenario.routing_skew`), else InputError."""
    if not isinstance(v, Real) or isinstance(v, bool) or not 0.0 <= float(v) <= 4.0:
        raise InputError(f"routing_skew is the log-normal σ of the experts' routing "
                         f"popularity and must be a number in [0, 4] (0: uniform routing; "
                         f"default {ROUTING_SKEW_SIGMA}), got {v!r}")
    return float(v)


@dataclass(frozen=True)
class Parallelism:
    """How one step is spread over chips (rules in `workloads.builder`).

    Per pipeline stage, dp × cp groups of tp chips: attention (and dense layers) run data
    parallel over dp groups (each its share of the batch) and context parallel over cp groups
    (each its share of every prompt, prefill only); MoE experts are spread over ep chips of
    the stage's tp·dp (ep ≤ tp·dp), holding (experts + redundant_experts) / ep each."""

    tp: int = 1  # tensor parallel degree
    pp: int = 1  # pipeline parallel degree (stages)
    ep: int = 1  # expert parallel degree (MoE)
    dp: int = 1  # data-parallel attention groups (each tp chips) sharing the experts
    cp: int = 1  # context-parallel groups: a prompt split over cp chips (ring attention)
    redundant_experts: int = 0  # extra copies of hot experts spread with the others (EPLB)
    # how the ep ranks exchange a MoE layer's tokens: "all_to_all" (each token to the ranks
    # of its experts and back, once per expert: DeepEP's low-latency kernels, NVLink
    # all-to-all kernels), "hierarchical" (each token crosses the network once per
    # destination node and the scale-up fabric forwards it once per destination rank; the
    # combine reduces in the node first: DeepEP's normal kernels), "deepep" (DeepEP's auto
    # mode: "hierarchical" for a step with prompt tokens, "all_to_all" for a decode step,
    # `step_exchange`), "allgather" (every token
    # to every rank, the outputs reduce-scattered back: TensorRT-LLM's fallback and vLLM's
    # and SGLang's without DeepEP), "auto" (the runtime's: mapper.engine_scenario; a trace
    # built without a runtime exchanges all-to-all)
    moe_exchange: str = "auto"

    def __post_init__(self) -> None:
        for name in ("tp", "pp", "ep", "dp", "cp"):
            _set_int(self, name, minimum=1)
        _set_int(self, "redundant_experts", minimum=0)
        check_moe_exchange(self.moe_exchange)

    @property
    def chips(self) -> int:
        """Chips used: TP×DP×CP per stage times PP; EP shards experts within a stage's chips."""
        return self.tp * self.dp * self.cp * self.pp

    @property
    def stage_chips(self) -> int:
        """Chips of one pipeline stage (they all run the stage's ops at once)."""
        return self.tp * self.dp * self.cp

    def dp_share(self, n: int) -> int:
        """The busiest data-parallel group's share of `n` sequences or tokens spread evenly
        over the dp groups: ⌈n / dp⌉ (n when dp = 1)."""
        return -(-n // self.dp)


@dataclass(frozen=True)
class SpecDecode:
    """Speculative decoding: a draft model proposes `draft_len` tokens, the target verifies
    them in one pass of draft_len+1 query tokens. `acceptance` is the per-token acceptance
    probability; expected tokens per step = (1 - a^(L+1)) / (1 - a)."""

    draft_model: str | None = None  # library name; None = a self-drafting head (Medusa/EAGLE)
    draft_len: int = 4
    acceptance: float = 0.7

    def __post_init__(self) -> None:
        _set_int(self, "draft_len", minimum=1)
        a = self.acceptance
        if not _is_real(a) or not 0.0 <= float(a) <= 1.0:
            raise InputError(f"acceptance is a per-token probability and must be in [0, 1], "
                             f"got {a!r}")
        object.__setattr__(self, "acceptance", float(a))

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
    # max/mean tokens per expert (1 = perfectly balanced; 0 = derived from uniform top-k
    # routing of the step's tokens, workloads.builder.expected_max_load)
    moe_imbalance: float = 0.0
    spec: SpecDecode | None = None
    # log-normal σ of the experts' routing popularity, which sets how far the busiest
    # expert-parallel rank routes above its even share (workloads.routing; 0: uniform
    # routing, where only the sampling of the step's tokens loads one rank above its share)
    routing_skew: float = ROUTING_SKEW_SIGMA
    # the KV cache keeps only each sequence's current chunk of a chunked-local attention layer
    # (Llama-4), the keys a decode query can see (vLLM's hybrid KV manager); False: it keeps
    # every key (TensorRT-LLM), though queries still attend within their chunk (the engine's
    # `chunk_kv_freed` knob, `mapper.engine_scenario`)
    chunk_kv_freed: bool = True
    # routed tokens of the step (all data-parallel groups) that are one and the same input:
    # the dummy one-token requests an engine pads a decode batch with to replay a captured
    # CUDA graph (TensorRT-LLM's PyTorch backend: token id 1 each, `add_dummy_requests`),
    # which the router sends to the same top-k experts (workloads.routing.
    # busiest_with_identical); they are part of the batch (0: none)
    moe_identical: int = 0
    # the sequences of each data-parallel group split into this many micro-batches that run
    # as independent kernel streams on the same chips, so one's communication (EP dispatch
    # and combine, TP all-reduces) overlaps another's compute: DeepSeek's dual micro-batch
    # overlap, SGLang's --enable-two-batch-overlap (1: one stream, nothing overlaps). The
    # trace holds one micro-batch's ops; the chips store every micro-batch's KV cache
    micro_batches: int = 1

    def __post_init__(self) -> None:
        _set_int(self, "batch", minimum=1)
        _set_int(self, "micro_batches", minimum=1)
        for name in ("prompt", "context", "chunk", "moe_identical"):
            _set_int(self, name, minimum=0)
        share = self.parallel.dp_share(self.batch)
        if self.micro_batches > share:
            raise InputError(f"micro_batches={self.micro_batches} exceeds the {share} "
                             f"sequence(s) of a data-parallel group (batch {self.batch}, "
                             f"dp {self.parallel.dp}): a micro-batch holds whole sequences; "
                             f"use micro_batches ≤ {share} or a larger batch")
        if self.micro_batches > 1 and self.phase == Phase.SPEC_DECODE:
            raise InputError("micro_batches > 1 is modelled for prefill, chunked prefill and "
                             "decode steps, not speculative decoding; use micro_batches=1")
        m = self.moe_imbalance
        if not _is_real(m) or not (float(m) == 0.0 or 1.0 <= float(m) < math.inf):
            raise InputError(f"moe_imbalance is max/mean tokens per expert and must be a finite "
                             f"number ≥ 1 (or 0: derived from the routing), got {m!r}")
        object.__setattr__(self, "moe_imbalance", float(m))
        object.__setattr__(self, "routing_skew", check_routing_skew(self.routing_skew))
        if self.phase == Phase.PREFILL and self.prompt < 1:
            raise InputError("prefill needs prompt ≥ 1 (tokens in the prompt)")
        if self.phase == Phase.CHUNKED_PREFILL and self.chunk < 1:
            raise InputError("chunked_prefill needs chunk ≥ 1 (new prompt tokens this step)")
        if self.phase == Phase.SPEC_DECODE and self.spec is None:
            object.__setattr__(self, "spec", SpecDecode())
        if self.parallel.cp > 1 and self.phase != Phase.PREFILL:
            raise InputError(f"cp={self.parallel.cp}: context parallelism is modelled for "
                             f"prefill only (got phase {self.phase.value}); use cp=1")

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
    def micro_batch(self) -> int:
        """Sequences of one micro-batch of the busiest data-parallel group:
        ⌈dp_share(batch) / micro_batches⌉ (the trace's work)."""
        return -(-self.parallel.dp_share(self.batch) // self.micro_batches)

    @property
    def kv_len(self) -> int:
        """Keys attended by the last query of the step (cache after this step's writes)."""
        if self.phase == Phase.PREFILL:
            return self.prompt
        return self.context + self.new_tokens


def _is_real(v: object) -> bool:
    if not isinstance(v, Real) or isinstance(v, bool):
        return False
    try:
        return not math.isnan(float(v))
    except OverflowError:  # an int beyond float range
        return False


# Largest count a scenario accepts: far beyond any batch, context or parallel degree, and
# small enough that products of counts stay exact in float64 arithmetic downstream.
MAX_COUNT = 10**15


def _set_int(obj: object, name: str, *, minimum: int) -> None:
    """Validate an integer field of a frozen dataclass (numpy integers are accepted and stored
    as `int`). The one rule for counts in a scenario: an integer ≥ `minimum`."""
    v = getattr(obj, name)
    if not isinstance(v, Integral) or isinstance(v, bool) or not minimum <= int(v) <= MAX_COUNT:
        what = "a positive integer" if minimum == 1 else f"an integer ≥ {minimum}"
        raise InputError(f"{name} must be {what} of at most {MAX_COUNT:.0e}, got "
                         f"{str(v)[:40]}")
    object.__setattr__(obj, name, int(v))
