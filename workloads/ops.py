"""Operators: the unit of work every layer of infersim talks about.

An `Op` is one kernel-sized piece of a transformer step with exact FLOPs and bytes split by
tensor class. The constructors in this module (`matmul`, `attention`, `vector`, `collective`)
hold the ONLY formulas for FLOPs and bytes; the trace builder and the front door's
`isim.ops.*` both call them.

Conventions
- FLOPs: one multiply-accumulate = 2 FLOP. Vector ops count their elementwise arithmetic.
- Bytes are the ideal (compulsory) traffic of the op run alone: every input read once, every
  output written once. Caching/reuse effects belong to the hardware cost models, not here.
- `count` is how many times the op runs in the step (e.g. once per decoder layer). FLOPs and
  bytes are per execution; totals multiply by `count`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import Enum
from typing import Any

from infersim.foundation.errors import InputError
from infersim.workloads.dtypes import DType

# The names of a MoE layer's per-row kernels that engines with their own MoE kernels price
# apart (engine knob `moe_row_ops`): the activation between its two expert GEMMs
# (`workloads.builder`) and the permute of every (token, expert) row into expert order
# before the first (`mapper.kernels.moe_routing_kernels`).
MOE_ACT_OP = "experts_act"
MOE_PERMUTE_OP = "moe_permute"


class OpKind(str, Enum):
    MATMUL = "matmul"
    ATTENTION = "attention"
    NORM = "norm"
    ELEMENTWISE = "elementwise"
    ROPE = "rope"
    EMBEDDING = "embedding"
    MOE_ROUTER = "moe_router"
    MOE_EXPERTS = "moe_experts"
    KV_WRITE = "kv_write"
    COLLECTIVE = "collective"


class Collective(str, Enum):
    ALL_REDUCE = "all_reduce"
    ALL_GATHER = "all_gather"
    REDUCE_SCATTER = "reduce_scatter"
    ALL_TO_ALL = "all_to_all"
    SEND_RECV = "send_recv"


@dataclass(frozen=True, slots=True)
class TensorBytes:
    """Bytes moved by one execution of an op, by tensor class."""

    weight: float = 0.0
    act_in: float = 0.0
    act_out: float = 0.0
    kv_read: float = 0.0
    kv_write: float = 0.0

    @property
    def total(self) -> float:
        return self.weight + self.act_in + self.act_out + self.kv_read + self.kv_write

    def __add__(self, other: TensorBytes) -> TensorBytes:
        return TensorBytes(
            self.weight + other.weight,
            self.act_in + other.act_in,
            self.act_out + other.act_out,
            self.kv_read + other.kv_read,
            self.kv_write + other.kv_write,
        )

    def scaled(self, factor: float) -> TensorBytes:
        return TensorBytes(
            self.weight * factor,
            self.act_in * factor,
            self.act_out * factor,
            self.kv_read * factor,
            self.kv_write * factor,
        )


@dataclass(frozen=True, slots=True)
class MatmulShape:
    """C[m, n] = A[m, k] @ W[k, n], repeated over `groups` independent weight matrices
    (groups > 1 for MoE experts: each group is one expert, m = tokens routed to it on
    average, and `imbalance` = max/mean tokens per expert)."""

    m: int
    k: int
    n: int
    groups: int = 1
    weight_dtype: DType | None = None  # None: both operands are activations
    imbalance: float = 1.0
    experts: int = 0  # MoE: expert matrices this op's share of the chip's experts holds


@dataclass(frozen=True, slots=True)
class AttentionShape:
    """Fused (flash-style) attention over a KV cache: softmax(Q K^T) V."""

    batch: int
    heads: int
    kv_heads: int
    head_dim: int
    q_len: int
    kv_len: int
    causal: bool
    v_head_dim: int = 0  # 0 means same as head_dim
    kv_dtype: DType = DType.BF16
    window: int = 0  # sliding-window attention: each query sees at most `window` keys (0: all)
    shared_kv: bool = False  # V is a slice of the cached K vector (MLA latent): read once
    chunk: int = 0  # chunked local attention (Llama-4): a query sees only keys of its chunk

    @property
    def dv(self) -> int:
        return self.v_head_dim or self.head_dim

    @property
    def kv_tokens(self) -> int:
        """Cached tokens read per (batch, kv head): all kv_len, or the last q_len + window - 1
        under a sliding window (the keys any of the q_len queries can see)."""
        if self.window and self.causal:
            return min(self.kv_len, self.window + self.q_len - 1)
        if self.chunk and self.causal:  # from the chunk of the first query to the last key
            return self.kv_len - (self.kv_len - self.q_len) // self.chunk * self.chunk
        return self.kv_len

    @property
    def attended_pairs(self) -> int:
        """Number of (query, key) pairs actually scored per (batch, head).

        Causal: query i of q_len sits at absolute position kv_len - q_len + i and sees that many
        keys plus itself. Non-causal: every query sees all kv_len keys. Sliding window w
        (causal only): query at position p sees min(p + 1, w) keys."""
        if not self.causal:
            return self.q_len * self.kv_len
        prefix = self.kv_len - self.q_len
        full = self.q_len * prefix + self.q_len * (self.q_len + 1) // 2
        if self.chunk:
            return _chunk_pairs(self.kv_len, self.chunk) - _chunk_pairs(prefix, self.chunk)
        w = self.window
        if not w or w >= self.kv_len:
            return full
        # positions p = prefix .. kv_len-1 see p+1 keys while p+1 <= w, then w keys
        first, last = prefix + 1, self.kv_len  # keys seen = p+1 ranges over [first, last]
        capped_from = max(first, w)  # from here on each query sees exactly w keys
        below = max(0, capped_from - first)  # queries with p+1 in [first, capped_from)
        below_sum = (first + capped_from - 1) * below // 2
        return below_sum + (last - capped_from + 1) * w if last >= capped_from else full


def _chunk_pairs(n: int, c: int) -> int:
    """Keys scored by queries at positions 0..n-1 under causal chunked attention of chunk c:
    the query at p sees the (p mod c) + 1 keys of its chunk up to itself."""
    full, r = divmod(n, c)
    return full * c * (c + 1) // 2 + r * (r + 1) // 2


@dataclass(frozen=True, slots=True)
class VectorShape:
    """Elementwise / reduction work over `numel` output elements."""

    numel: int
    flops_per_elem: float = 1.0
    # Elements of one reduced row for row-wise ops (norms, softmax); 0 = elementwise / unknown.
    # Lets a cost model price the kernel's passes over a row and its one-block-per-row launch.
    row_len: int = 0
    # Rows (tokens) a one-block-per-token kernel (vLLM's activation, RoPE, KV write) launches
    # one thread block each for; 0 = a grid-stride kernel over `numel`.
    block_rows: int = 0
    # Input tensors (of `numel` elements each) that the kernel just before this one wrote:
    # a residual add reads its projection's fresh output, whose last-written lines are
    # still in L2 (the GPU's `producer_l2_fraction`); 0 = every input comes from memory.
    fresh_inputs: float = 0.0


@dataclass(frozen=True, slots=True)
class TokenRouting:
    """How a MoE layer's tokens pick their experts, for an all-to-all that sends each token
    row once per destination rather than once per (token, expert) pair: `top_k` of
    `experts` routed experts (laid out in contiguous blocks over the ranks), chosen within
    `topk_group` of `n_group` contiguous expert groups (DeepSeek-V3's group-limited routing,
    8 groups and 4 per token; 1 and 1: unrestricted)."""

    experts: int
    top_k: int
    n_group: int = 1
    topk_group: int = 1


@dataclass(frozen=True, slots=True)
class CollectiveShape:
    """A collective over `group_size` chips; `bytes` is the message size per chip (the size of
    the tensor each participant contributes, e.g. the activation being all-reduced).

    `routing` marks a hierarchical (node-deduplicated) MoE all-to-all: `bytes` counts every
    (token, expert) pair, as the flat exchange sends them, and the collective model sends
    each token row once per destination node over the network and once per destination
    rank over the scale-up fabric (`hwmodels.collectives`)."""

    collective: Collective
    bytes: float
    group_size: int
    routing: TokenRouting | None = None


Shape = MatmulShape | AttentionShape | VectorShape | CollectiveShape


@dataclass(frozen=True, slots=True)
class Op:
    name: str
    kind: OpKind
    dtype: DType  # compute / activation dtype
    flops: float
    bytes: TensorBytes
    shape: Shape
    count: int = 1
    block: str = ""  # where in the model: "embed", "layer", "moe_layer", "head", "draft", ...

    def with_count(self, count: int) -> Op:
        return replace(self, count=count)

    def with_block(self, block: str) -> Op:
        return replace(self, block=block)

    @property
    def intensity(self) -> float:
        """Arithmetic intensity in FLOP/byte of compulsory traffic (0 for pure data movement)."""
        total = self.bytes.total
        return self.flops / total if total > 0 else 0.0

    def to_row(self) -> dict[str, Any]:
        row: dict[str, Any] = {
            "name": self.name,
            "kind": self.kind.value,
            "block": self.block,
            "dtype": self.dtype.value,
            "count": self.count,
            "flops": self.flops,
            "weight_bytes": self.bytes.weight,
            "act_in_bytes": self.bytes.act_in,
            "act_out_bytes": self.bytes.act_out,
            "kv_read_bytes": self.bytes.kv_read,
            "kv_write_bytes": self.bytes.kv_write,
        }
        s = self.shape
        if isinstance(s, MatmulShape):
            row.update(m=s.m, k=s.k, n=s.n, groups=s.groups)
        elif isinstance(s, AttentionShape):
            row.update(
                batch=s.batch, heads=s.heads, kv_heads=s.kv_heads, head_dim=s.head_dim,
                q_len=s.q_len, kv_len=s.kv_len, causal=s.causal,
            )
        elif isinstance(s, VectorShape):
            row.update(numel=s.numel)
        else:
            row.update(collective=s.collective.value, message_bytes=s.bytes, group_size=s.group_size)
        return row


def _positive(**values: float) -> None:
    for key, v in values.items():
        if not isinstance(v, (int, float)) or isinstance(v, bool) or v < 1 or v != int(v):
            raise InputError(f"{key} must be a positive integer, got {v!r}")


# --------------------------------------------------------------------------------------------
# Constructors: the single home of every FLOP and byte formula.
# --------------------------------------------------------------------------------------------


def matmul(
    m: int,
    k: int,
    n: int,
    dtype: str | DType = DType.BF16,
    *,
    weight_dtype: str | DType | None = "same",
    groups: int = 1,
    imbalance: float = 1.0,
    name: str = "matmul",
    count: int = 1,
    block: str = "",
    kind: OpKind = OpKind.MATMUL,
    experts: int = 0,
) -> Op:
    """A GEMM/GEMV with a weight operand W[k, n] (or two activations if weight_dtype=None).

    FLOPs = 2·m·k·n·groups. Bytes: A (m×k) and C (m×n) at the activation dtype, W (k×n per
    group) at the weight dtype — compulsory traffic, each operand once."""
    _positive(m=m, k=k, n=n, groups=groups)
    act = DType.parse(dtype)
    wdt: DType | None
    if weight_dtype == "same":
        wdt = act
    elif weight_dtype is None:
        wdt = None
    else:
        wdt = DType.parse(weight_dtype, "weight_dtype")
    flops = 2.0 * m * k * n * groups
    a_in = float(m) * k * groups * act.bytes
    out = float(m) * n * groups * act.bytes
    w = float(k) * n * groups * (wdt.bytes if wdt is not None else act.bytes)
    if wdt is None:  # second operand is an activation
        tb = TensorBytes(act_in=a_in + w, act_out=out)
    else:
        tb = TensorBytes(weight=w, act_in=a_in, act_out=out)
    shape = MatmulShape(m=m, k=k, n=n, groups=groups, weight_dtype=wdt, imbalance=imbalance,
                        experts=experts)
    return Op(name, kind, act, flops, tb, shape, count, block)


def attention(
    batch: int,
    heads: int,
    kv_heads: int,
    head_dim: int,
    q_len: int,
    kv_len: int,
    causal: bool = True,
    dtype: str | DType = DType.BF16,
    *,
    kv_dtype: str | DType | None = None,
    v_head_dim: int = 0,
    name: str = "attention",
    count: int = 1,
    block: str = "",
    window: int = 0,
    shared_kv: bool = False,
    chunk: int = 0,
) -> Op:
    """Fused attention (QK^T, softmax, ·V) of q_len new queries over kv_len cached keys.

    FLOPs = 2·batch·heads·pairs·(head_dim + v_head_dim) + 5·batch·heads·pairs (softmax:
    max, sub, exp, sum, scale), with `pairs` the (query, key) pairs scored (causal masking
    skips the rest, as flash attention does; a sliding `window` caps the keys per query; a
    `chunk` (chunked local attention) limits a query to the keys of its own chunk).
    Bytes: Q in and O out at the activation dtype, K and V read once from the cache at the KV
    dtype (`kv_tokens` of them per kv head; with `shared_kv` — MLA's latent cache, where V is
    the first v_head_dim values of the cached K vector — only head_dim values per token)."""
    _positive(batch=batch, heads=heads, kv_heads=kv_heads, head_dim=head_dim, q_len=q_len,
              kv_len=kv_len)
    if heads % kv_heads:
        raise InputError(f"heads ({heads}) must be a multiple of kv_heads ({kv_heads})")
    if q_len > kv_len:
        raise InputError(f"q_len ({q_len}) cannot exceed kv_len ({kv_len}): the KV cache "
                         "includes the new tokens")
    act = DType.parse(dtype)
    kvd = DType.parse(kv_dtype, "kv_dtype") if kv_dtype is not None else act
    if window < 0 or window != int(window):
        raise InputError(f"window must be a non-negative integer, got {window!r}")
    if chunk < 0 or chunk != int(chunk) or (chunk and window):
        raise InputError(f"chunk must be a non-negative integer and not combined with a window, "
                         f"got chunk={chunk!r}, window={window!r}")
    if shared_kv and v_head_dim > head_dim:
        raise InputError(f"shared_kv needs v_head_dim ({v_head_dim}) ≤ head_dim ({head_dim})")
    shape = AttentionShape(batch, heads, kv_heads, head_dim, q_len, kv_len, causal,
                           v_head_dim, kvd, int(window), bool(shared_kv), int(chunk))
    dv = shape.dv
    pairs = float(shape.attended_pairs)
    flops = 2.0 * batch * heads * pairs * (head_dim + dv) + 5.0 * batch * heads * pairs
    per_token = head_dim if shared_kv else head_dim + dv
    tb = TensorBytes(
        act_in=float(batch) * heads * q_len * head_dim * act.bytes,
        act_out=float(batch) * heads * q_len * dv * act.bytes,
        kv_read=float(batch) * kv_heads * shape.kv_tokens * per_token * kvd.bytes,
    )
    return Op(name, OpKind.ATTENTION, act, flops, tb, shape, count, block)


def vector(
    kind: OpKind,
    numel: int,
    dtype: str | DType = DType.BF16,
    *,
    inputs: float = 1.0,
    outputs: float = 1.0,
    flops_per_elem: float = 1.0,
    weight_bytes: float = 0.0,
    kv_write_bytes: float = 0.0,
    name: str | None = None,
    count: int = 1,
    block: str = "",
    row_len: int = 0,
    block_rows: int = 0,
    fresh_inputs: float = 0.0,
) -> Op:
    """Elementwise or row-wise op producing `numel` elements from `inputs` input tensors of the
    same size (norms, activations, residual adds, RoPE, embedding gather, KV-cache writes).

    Bytes: inputs·numel read and outputs·numel written at the activation dtype, plus explicit
    weight bytes (norm gains, embedding rows) and KV-cache bytes written. `row_len`: elements
    of one reduced row of a row-wise op (norm, softmax), 0 for elementwise. `fresh_inputs`:
    how many of the inputs the kernel just before wrote (`VectorShape.fresh_inputs`)."""
    _positive(numel=numel)
    if not 0.0 <= fresh_inputs <= inputs:
        raise ValueError(f"fresh_inputs {fresh_inputs} must lie between 0 and inputs {inputs}")
    act = DType.parse(dtype)
    tb = TensorBytes(
        weight=weight_bytes,
        act_in=inputs * numel * act.bytes,
        act_out=outputs * numel * act.bytes,
        kv_write=kv_write_bytes,
    )
    return Op(name or kind.value, kind, act, flops_per_elem * numel, tb,
              VectorShape(numel, flops_per_elem, max(0, int(row_len)), max(0, int(block_rows)),
                          float(fresh_inputs)),
              count, block)


def collective(
    collective: Collective | str,
    message_bytes: float,
    group_size: int,
    dtype: str | DType = DType.BF16,
    *,
    name: str | None = None,
    count: int = 1,
    block: str = "",
    routing: TokenRouting | None = None,
) -> Op:
    """A communication op. FLOPs are the reduction adds of an all-reduce/reduce-scatter
    ((g-1)/g of the message elements per chip); bytes are the message read and written once
    locally. The bytes on the wire are the interconnect model's business (`routing`: a
    hierarchical all-to-all, `CollectiveShape`)."""
    coll = Collective(collective)
    _positive(group_size=group_size)
    act = DType.parse(dtype)
    elems = message_bytes / act.bytes
    g = group_size
    reduce_flops = elems * (g - 1) / g if coll in (Collective.ALL_REDUCE,
                                                  Collective.REDUCE_SCATTER) else 0.0
    tb = TensorBytes(act_in=message_bytes, act_out=message_bytes)
    return Op(name or coll.value, OpKind.COLLECTIVE, act, reduce_flops, tb,
              CollectiveShape(coll, message_bytes, g, routing), count, block)


@dataclass(frozen=True)
class OpTotals:
    flops: float = 0.0
    bytes: TensorBytes = field(default_factory=TensorBytes)


def totals(ops: tuple[Op, ...] | list[Op]) -> OpTotals:
    f = 0.0
    b = TensorBytes()
    for op in ops:
        f += op.flops * op.count
        b = b + op.bytes.scaled(op.count)
    return OpTotals(f, b)
