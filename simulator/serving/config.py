"""Typed configuration of a serving simulation: policy, deployment and SLOs (economics:
`hwmodels.economics.Economics`, shared with the studies)."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from enum import StrEnum

from infersim.foundation.errors import InputError
from infersim.hwmodels.cost import RuntimeProfile
from infersim.workloads.scenario import SpecDecode, check_moe_exchange, check_routing_skew

# Most replicas (per pool) one simulation runs. The DES holds one engine per replica and the
# least-outstanding router scans them all per request (measured: 10^5 replicas × 1000 requests
# took 42 s with least_outstanding, 10^4 took 5 s, on a 2-core CI machine). Round-robin replicas
# are independent, so a larger fleet is simulated as one replica at rate / replicas.
MAX_REPLICAS = 10_000


# Named links for the disaggregated KV hand-off, per chip and direction:
# (bytes/s, latency s per transfer, source). The latency is the RDMA set-up of one transfer.
KV_LINKS: dict[str, tuple[float, float, str]] = {
    "ib-ndr": (50e9, 5e-6, "400 Gb/s InfiniBand NDR, one ConnectX-7 per GPU as in DGX H100 "
               "(NVIDIA DGX H100 user guide); latency assumed: a few µs for an RDMA write"),
    "eth-400": (50e9, 2e-6, "400 Gb/s Ethernet, e.g. d-Matrix JetStream (~2 µs; reference "
                "§1.4 [D2])"),
    "eth-100": (12.5e9, 10e-6, "100 Gb/s Ethernet; latency assumed: TCP/RoCE stack, ~10 µs"),
    "pcie5": (64e9, 2e-6, "PCIe Gen5 x16, 128 GB/s bidirectional (reference table 1.1 [H4]); "
              "latency assumed"),
}


class Policy(StrEnum):
    """How a replica forms its iterations."""

    AUTO = "auto"  # the runtime's own: chunked if its profile has mixed_batching, else continuous
    STATIC = "static"  # fixed batches run to completion (padded to the longest request)
    CONTINUOUS = "continuous"  # vLLM-style iteration-level scheduling, prefill-prioritized
    CHUNKED = "chunked"  # Sarathi-style token budget: all decodes + prefill chunks per step
    DISAGGREGATED = "disaggregated"  # separate prefill and decode replicas, KV moved between


class Preemption(StrEnum):
    RECOMPUTE = "recompute"  # drop the KV; the request re-runs prefill over prompt + output
    SWAP = "swap"  # move the KV to host memory over the host link, bring it back later


class Admission(StrEnum):
    """How a replica decides that a waiting request's KV cache fits."""

    AUTO = "auto"  # the runtime's own: reserve if its profile has kv_reservation, else on_demand
    ON_DEMAND = "on_demand"  # the prompt's blocks now, one block as decoding needs it;
    # preempt the latest arrivals when the pool runs out (vLLM, SGLang)
    RESERVE = "reserve"  # blocks for the prompt and every output token up front, so nothing is
    # ever preempted (TensorRT-LLM's GUARANTEED_NO_EVICT capacity scheduler)


class Router(StrEnum):
    ROUND_ROBIN = "round_robin"
    LEAST_OUTSTANDING = "least_outstanding"  # fewest requests queued + running


@dataclass(frozen=True)
class ServingPolicy:
    """Scheduler knobs (names follow vLLM where one exists).

    - kind: how iterations are formed (`Policy`); the default `auto` is the runtime's own
      scheduling, resolved by `resolved`: `chunked` where the runtime profile's
      `mixed_batching` knob is set (TensorRT-LLM's in-flight batching, vLLM V1), else
      `continuous` (prefill-prioritized, as vLLM V0 and SGLang by default).

    - max_batch: most sequences in one iteration (vLLM max_num_seqs; default 256, vLLM's).
    - max_tokens: most tokens in one iteration (vLLM max_num_batched_tokens); for `chunked`
      it is the token budget per iteration. Default 8192 (assumed: a common production value;
      Sarathi-Serve uses budgets of 512-2048 for tight TPOT SLOs).
    - block_size: KV-cache block in tokens (vLLM default 16).
    - prefill_replicas / decode_replicas: pool sizes under `disaggregated`.
    - prefix_caching: reuse the KV blocks of shared prompt prefixes (vLLM's automatic prefix
      caching; `kv_pool.PrefixKvPool`); continuous and chunked policies, recompute preemption.
    - spec: speculative decoding (draft model / MTP / Medusa heads, draft_len, acceptance;
      `speculative`); None = plain decoding. Not with the static policy.
    - admission: when a waiting request's KV fits (`Admission`); `auto` is the runtime's
      own, resolved by `resolved`: `reserve` where the runtime profile's `kv_reservation`
      knob is set (TensorRT-LLM), else `on_demand` (vLLM, SGLang).
    """

    kind: Policy = Policy.AUTO
    max_batch: int = 256
    max_tokens: int = 8192
    block_size: int = 16
    preemption: Preemption = Preemption.RECOMPUTE
    router: Router = Router.ROUND_ROBIN
    prefill_replicas: int = 1
    decode_replicas: int = 1
    prefix_caching: bool = False
    spec: SpecDecode | None = None
    admission: Admission = Admission.AUTO

    def __post_init__(self) -> None:
        for name in ("max_batch", "max_tokens", "block_size", "prefill_replicas",
                     "decode_replicas"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise InputError(f"policy.{name} must be a positive integer, got {v!r}")
        for name in ("prefill_replicas", "decode_replicas"):
            _check_replicas(f"policy.{name}", getattr(self, name))
        for name, enum in (("kind", Policy), ("preemption", Preemption), ("router", Router),
                           ("admission", Admission)):
            v = getattr(self, name)
            try:
                object.__setattr__(self, name, enum(v))
            except ValueError:
                raise InputError(f"policy.{name}: unknown value {v!r}; use one of "
                                 f"{', '.join(e.value for e in enum)}") from None
        if not isinstance(self.prefix_caching, bool):
            raise InputError(f"policy.prefix_caching must be true or false, got "
                             f"{self.prefix_caching!r}")
        if self.prefix_caching and (self.kind not in (Policy.AUTO, Policy.CONTINUOUS,
                                                      Policy.CHUNKED)
                                    or self.preemption != Preemption.RECOMPUTE):
            raise InputError("prefix caching is simulated for the continuous and chunked "
                             "policies with recompute preemption; change --policy/--preemption "
                             "or drop --prefix-caching")
        if self.spec is not None and (not isinstance(self.spec, SpecDecode)
                                      or self.kind == Policy.STATIC):
            raise InputError(f"policy.spec: speculative decoding (a SpecDecode) runs with the "
                             f"continuous, chunked or disaggregated policy, not {self.kind}; "
                             f"change --policy or drop --spec-decode")


    def resolved(self, runtime: object) -> ServingPolicy:
        """This policy with `auto` (kind and admission) replaced by the scheduling of
        `runtime` (a RuntimeProfile, or anything else = no profile: `continuous`,
        `on_demand`)."""
        prof = runtime if isinstance(runtime, RuntimeProfile) else None
        out = self
        if self.kind == Policy.AUTO:
            mixed = prof is not None and prof.value("mixed_batching", 0.0) >= 0.5
            out = replace(out, kind=Policy.CHUNKED if mixed else Policy.CONTINUOUS)
        if self.admission == Admission.AUTO:
            rsv = prof is not None and prof.value("kv_reservation", 0.0) >= 0.5
            out = replace(out, admission=Admission.RESERVE if rsv else Admission.ON_DEMAND)
        return out


@dataclass(frozen=True)
class Deployment:
    """How the model is placed: parallelism per replica, replicas, runtime, precision, memory.

    - gpu_memory_utilization: fraction of each chip's KV-holding memory the engine may use
      (vLLM's knob, default 0.9 as in vLLM); not used by an engine that sizes its KV cache
      from the memory left free (runtime knob `kv_free_fraction` > 0: TensorRT-LLM).
    - activation_reserve_bytes: per chip, kept free for activations; None = estimated as twice
      the largest single-op activation footprint of an iteration of `max_tokens` tokens.
    - host_link_Bps: per chip, one direction, for KV swapping. Default 64e9 (PCIe Gen5 x16,
      128 GB/s bidirectional; reference table 1.1 [H4], Hopper whitepaper).
    - kv_transfer_Bps: per chip, for disaggregated KV hand-off; None = the system fabric's
      per-chip injection bandwidth (`Interconnect.chip_bandwidth_Bps`).
    - dp: attention data parallelism inside the replica (MoE models, ep = tp·dp): dp groups
      of tp chips, each with its own requests, KV cache and scheduler process, run every
      iteration in lockstep and share the experts. The replica's KV pool is the groups'
      pools together; an iteration's token-parallel work is the busiest group's share of
      its tokens (requests spread evenly) with the experts seeing them all; the host work
      per request (the serving floor) is each group's own.
    """

    tp: int = 1
    pp: int = 1
    ep: int = 1
    replicas: int = 1
    runtime: str | RuntimeProfile = ""  # "" = the kind's default, as in `simulate`:
    # DEFAULT_RUNTIME on GPUs, the newest compiled profile on wafer/LPU; a RuntimeProfile
    # object = a registered profile with some knobs changed (`RuntimeProfile.with_values`)
    weights: str = "bf16"
    kv: str | None = None
    gpu_memory_utilization: float = 0.9
    activation_reserve_bytes: float | None = None
    host_link_Bps: float = 64e9
    kv_transfer_Bps: float | None = None
    activations: str | None = None
    kv_link: str | None = None  # a KV_LINKS name for the hand-off (kv_transfer_Bps wins)
    lm_head: str | None = None  # the output projection's weights (None: as `weights`, or
    # bf16 under a quantized checkpoint; `Precision.head`)
    dp: int = 1  # data-parallel attention groups of tp chips in one replica, sharing the
    # experts (ep = tp·dp): TensorRT-LLM's enable_attention_dp, SGLang's --enable-dp-attention
    moe_exchange: str = "auto"  # how the EP chips exchange MoE tokens (Parallelism.moe_exchange;
    # "auto": the runtime's)
    routing_skew: float | None = None  # the experts' routing popularity σ (Scenario.routing_skew;
    # None: the fitted workloads.routing.ROUTING_SKEW_SIGMA)

    def __post_init__(self) -> None:
        for name in ("tp", "pp", "ep", "replicas", "dp"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise InputError(f"{name} must be a positive integer, got {v!r}")
        _check_replicas("replicas", self.replicas)
        if self.kv_link is not None and self.kv_link not in KV_LINKS:
            raise InputError(f"kv_link: unknown link {self.kv_link!r}; use one of "
                             f"{', '.join(KV_LINKS)}")
        check_moe_exchange(self.moe_exchange)
        if self.routing_skew is not None:
            check_routing_skew(self.routing_skew)
        u = self.gpu_memory_utilization
        if not _is_number(u) or not (0 < u <= 1):
            raise InputError(f"gpu_memory_utilization must be in (0, 1], got {u}")
        for name in ("host_link_Bps", "kv_transfer_Bps", "activation_reserve_bytes"):
            v = getattr(self, name)
            if v is not None and (not _is_number(v) or not math.isfinite(v) or v < 0 or
                                  (v == 0 and name != "activation_reserve_bytes")):
                raise InputError(f"{name} must be a positive number, got {v}")

    @property
    def chips_per_replica(self) -> int:
        return self.tp * self.dp * self.pp


@dataclass(frozen=True)
class Slo:
    """Service-level objectives a request must meet to count toward goodput. Defaults are
    the MLPerf Inference Llama-3.1-8B Server constraints (TTFT ≤ 2 s, TPOT ≤ 100 ms; MLPerf
    Inference rules, https://github.com/mlcommons/inference_policies)."""

    ttft_s: float | None = 2.0
    tpot_s: float | None = 0.1
    percentile: float = 99.0  # used by capacity planning (find_max_rate)

    def __post_init__(self) -> None:
        for name in ("ttft_s", "tpot_s"):
            v = getattr(self, name)
            if v is not None and (not _is_number(v) or not math.isfinite(v) or v <= 0):
                raise InputError(f"slo {name} must be a positive number of seconds, got {v!r}")
        if not _is_number(self.percentile) or not (0 < self.percentile <= 100):
            raise InputError(f"slo percentile must be in (0, 100], got {self.percentile}")


def _is_number(v: object) -> bool:
    """A real number that fits a float (an int beyond 1e308 is not usable as seconds etc.)."""
    if not isinstance(v, int | float) or isinstance(v, bool):
        return False
    try:
        float(v)
    except OverflowError:
        return False
    return True


def _check_replicas(name: str, v: int) -> None:
    if v > MAX_REPLICAS:
        raise InputError(f"{name} = {v:,} is more than one simulation runs (at most "
                         f"{MAX_REPLICAS:,}); with round-robin routing, replicas are independent: "
                         "simulate one replica at rate / replicas")
