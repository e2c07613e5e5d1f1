"""Trace builder: the operators of one step of a model under a Scenario, for ONE chip.

Every FLOP and byte comes from the constructors in `workloads/ops.py`; this module only decides
which operators run, with which shapes and how often. Ops of identical layers are emitted once
with `count` = number of such layers (all pipeline stages together), so totals are exact.

Modelling decisions (each is a choice real serving engines make; see vLLM's model files):
- Tensor parallelism (Megatron style): q/k/v, gate/up column-parallel, o/down row-parallel, so
  an all-reduce of tokens·hidden activations follows o_proj and down_proj (and the MoE block).
  KV heads are split across TP chips; when tp > kv_heads each chip keeps one KV head,
  replicated tp/kv_heads times, as vLLM does (tp must then be a multiple of kv_heads).
  Embedding and lm_head are vocab-parallel: the embedding gather is followed by an all-reduce,
  the logits by an all-gather. MLA (DeepSeek): q_a/kv_a projections are replicated, q_b/kv_b
  column-parallel, o_proj row-parallel; the latent KV cache is replicated on every TP chip.
- Expert parallelism runs inside the TP group (ep must divide tp and the expert count): each
  chip holds E/ep experts, each split tp/ep ways. The trace's chip is the busiest EP rank,
  which the others wait for: it processes ceil(tokens·top_k/ep · hot) token-expert pairs,
  hot = max/mean pairs of the ranks under the router's skew and this step's sampling
  (`workloads.routing.hot_rank_factor`, `Scenario.routing_skew`; at most tokens·min(top_k,
  E/ep)). Identical rows among the tokens (`Scenario.moe_identical`: a padded CUDA graph's
  dummy requests) all go to one k-subset of the experts: the busiest rank is then the
  largest of its real pairs plus u per such expert it holds, and that expert's GEMM rows
  grow by u (`workloads.routing.busiest_with_identical`).
  `Parallelism.moe_exchange` sets how tokens travel: "all_to_all" dispatches each token to
  its experts' ranks and combines them back (dispatch at the activation dtype,
  combine at ≥ 16 bits: the expert outputs are summed in bf16, as DeepEP's combine does;
  the busiest rank receives hot times the even share); "hierarchical" is the same
  exchange sending each token row once per destination node over the network and once
  per destination rank over the scale-up fabric (the op carries the model's routing,
  `ops.TokenRouting`; the collective model prices it, `hwmodels.collectives`); "deepep"
  is "hierarchical" in a step with prompt tokens and "all_to_all" in a decode step
  (`scenario.step_exchange`, DeepEP's auto mode); "allgather" all-gathers every
  token to every rank, each rank sums its experts' outputs for all of them and a
  reduce-scatter returns each rank its own (replicated tokens under TP attention skip the
  gather and end in an all-reduce). "auto" is resolved by the runtime
  (`mapper.engine_scenario`); a trace built without one exchanges all-to-all.
- Expert parallelism across data-parallel attention (dp > 1, DeepSeek-V3's deployment): each
  of dp groups of tp chips runs attention, dense layers and shared experts on its
  ceil(batch/dp) sequences; the experts (plus `redundant_experts` copies) are spread whole over
  all ep = tp·dp chips of the stage, (E + R)/ep each. A chip dispatches ceil(T/ep) of the
  stage's T = dp·(its group's tokens) tokens and processes ceil(T·top_k/ep) pairs; a TP group
  re-replicates its activations with one all-reduce after the MoE block.
- Context parallelism (cp > 1, prefill only): every prompt is split over cp chips, each
  running the linear layers on its ceil(prompt/cp) tokens; the causal attention work is
  balanced over the ring (zig-zag order), modelled as each chip's queries attending the mean
  key length (prompt·(cp+1)/(2cp)); per layer cp−1 ring steps pass a chip's K/V block to its
  neighbour (not overlapped with compute: an upper bound); a chip caches its prompt share.
- MoE routing is uniform: a token picks top_k distinct experts, so T tokens touch
  E·(1 - (1 - top_k/E)^T) distinct experts in expectation (exact for uniform routing; one
  token touches exactly top_k). The expectation is rounded to an integer number of weight
  matrices read; the P token-expert pairs are split over them as evenly as integers allow
  (two grouped matmuls when P is not a multiple), so FLOPs are exact.
  `Scenario.moe_imbalance` (max/mean tokens per expert) is passed to the hardware model; 0
  (the default) derives it from the routing: the expected busiest of the chip's experts
  under uniform top-k routing of the step's tokens (`expected_max_load`).
- Pipeline parallelism: pp-1 activation transfers (send/recv of tokens·hidden) per step.
- lm_head runs on the LAST token of each sequence in prefill and chunked prefill (serving
  engines compute logits only where a token is sampled); on every token in decode and in the
  speculative verify pass. The final norm runs over all tokens.
- MLA attention: prefill and chunked prefill decompress K/V with kv_b (naive form, MHA over
  qk_nope+qk_rope dims; chunked prefill decompresses the cached context too); decode and
  speculative decoding use the weight-absorbed form (MQA over the cached latent of
  kv_lora_rank + qk_rope_head_dim values, read once: `shared_kv`).
- Speculative decoding: a draft model (library name) runs draft_len decode steps (its attention
  over context+1 … context+draft_len keys), same TP, then the target verifies draft_len+1
  tokens in one pass. `draft_model="mtp"` drafts with the target's own multi-token-prediction
  module (DeepSeek-V3: one decoder layer + eh_proj per drafted token, sharing the embedding
  and lm_head). Without a draft model, Medusa-style heads (Cai et al. 2024,
  arXiv:2401.10774): per drafted token one hidden×hidden residual block and one hidden×vocab
  head, run as two grouped matmuls over the draft_len heads. Draft ops carry block="draft".
  The draft's catch-up on accepted tokens is not modelled.
  Placement with pp > 1: a draft model sits whole on the first stage (block "draft") unless
  its weights exceed the mean per-stage load ((target + draft) / pp): then no balanced
  partition could hold it there (a 72-stage Groq deployment holds ~1 GB per stage and chip
  of a 70B target; an 8B draft is 1 GB alone), so its layers are pipelined over the stages
  (block "draft_layer"): its embedding on the first stage (block "draft"), its norm and
  lm_head on the last ("draft_head"), its layers water-filled onto the stages holding the
  fewest bytes after the target's partition (`Trace.draft_stage_layers`); each drafted
  token crosses every stage boundary and returns to the first stage: draft_len × pp
  activation sends (block "draft_pp", draft_len per stage).
- Families after 2024: Qwen3/Gemma-3 per-head q/k RMSNorm (gains replicated on every TP
  chip, 4 FLOP per value); Llama-4's gain-free L2 q/k norm and RoPE only on its RoPE layers,
  chunked local attention there (a query sees the keys of its own chunk: `attention(chunk=)`)
  and global attention on the NoPE layers; GPT-OSS attention sinks (one logit per head,
  2 FLOP per query-head row), expert biases (read for the experts touched, all resident).
  Precision.experts gives the expert matrices their own dtype (MXFP4 GPT-OSS).
- All parameters (norm gains and biases too) are stored at the weight dtype; activations and
  logits at the activation dtype, except that 8-bit activations (fp8 / int8) are GEMM and
  attention inputs only: norms, residual adds, activation functions, RoPE, KV writes'
  inputs, collectives and logits stay bf16 (`_Step.stream`: the engines' W8A8 paths fuse
  the quantization into the kernel before each GEMM); the KV cache at the KV dtype.
- Elementwise FLOPs count elementary operations (exp, tanh, rsqrt = 1): RMSNorm 4/elem,
  LayerNorm 7, SiLU·mul 5, GELU(tanh)·mul 10, GELU 9, RoPE 3 per rotated value, residual 1.
  Gemma-2 soft-capping and embedding scaling are left out (negligible, FLOP-irrelevant).

Resident state (`Trace.resident`, what one chip stores, as opposed to what the step reads):
- weights: every op's weight shard as above, except that the token embedding counts its whole
  vocab-parallel shard (ceil(vocab/tp) × hidden; with tied embeddings it is lm_head's matrix,
  counted once, unless pp > 1 puts embedding and head on different stages: then both hold
  it), learned positions their whole (replicated) table, and MoE layers all E/ep local experts
  (not only the experts this step touches). The embedding and a draft model (speculative
  decoding, its own weights) sit on the first pipeline stage, final norm and lm_head on the
  last; layers are split over the stages so as to balance their resident weights
  (`workloads.trace.balanced_layers`: an end stage holding a large vocabulary table gets
  fewer layers; even when the ends weigh the same) and recorded in `Trace.stage_layers`,
  which the mapper follows (`workloads.trace.stage_counts`).
- KV cache: batch × kv_len tokens, per token the KV this chip writes for one token (the
  sharded KV heads, or the replicated MLA latent) over the stage's layers, at the KV dtype;
  a draft model's cache is counted at the same number of tokens (an upper bound by one).
  Sliding-window and chunked-attention layers (Gemma-2/3, Mistral, Llama-4, GPT-OSS) keep
  only the keys this step's queries can see — min(kv_len, window) in a decode step, the whole
  prompt in a prefill — as engines with per-layer windows (vLLM's hybrid KV manager) free
  the rest (`Trace.resident.stage_kv_bytes`); the per-token figure stays the full-context
  bound. Under `Scenario.chunk_kv_freed` False (TensorRT-LLM) chunked layers keep every key.
- activation workspace: the largest op's activation in + out (buffers reused op to op).
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from infersim.foundation.errors import InputError
from infersim.workloads import ops as O
from infersim.workloads.dtypes import DType
from infersim.workloads.hf_config import load_model
from infersim.workloads.model import MLPKind, ModelConfig, NormKind, PositionKind
from infersim.workloads.ops import Collective, Op, OpKind
from infersim.workloads.routing import busiest_with_identical, hot_rank_factor
from infersim.workloads.scenario import Parallelism, Phase, Scenario, step_exchange
from infersim.workloads.trace import (
    ResidentBytes,
    Trace,
    balanced_layers,
    even_layers,
    repeated,
    stage_counts,
)

_NORM_FLOPS = {NormKind.RMS: 4.0, NormKind.LAYER: 7.0}
_ACT_FLOPS = {MLPKind.SILU_GATED: 5.0, MLPKind.GELU_GATED: 10.0, MLPKind.GELU: 9.0}
_ROPE_FLOPS = 3.0
_ROUTER_FLOPS = 5.0  # softmax/sigmoid + top-k selection per (token, expert) score


@dataclass(frozen=True)
class _Step:
    """One forward pass of one model: sizes and dtypes the op emitters need."""

    batch: int
    q_len: int  # new tokens per sequence
    kv_len: int  # keys attended by the last query (cache incl. this step's tokens)
    head_rows: int  # rows that get logits
    absorbed_mla: bool  # use MLA's weight-absorbed form
    act: DType
    w: DType
    kv: DType
    tp: int
    pp: int
    ep: int
    imbalance: float
    block: str = ""  # "" = normal blocks; "draft" overrides every block
    w_exp: DType | None = None  # MoE expert weights (None: as `w`)
    w_head: DType | None = None  # lm_head weights (None: as `w`)
    dp: int = 1  # data-parallel attention groups sharing the experts
    cp: int = 1  # context-parallel chips a prompt is split over
    expert_slots: int = 0  # experts + redundant copies (0: the model's expert count)
    moe_tokens: int = 0  # tokens the stage's MoE layer routes, all dp groups (0: `tokens`)
    routing_skew: float = 0.0  # log-normal σ of expert popularity (workloads.routing)
    moe_exchange: str = "all_to_all"  # how EP ranks exchange tokens (Parallelism.moe_exchange)
    moe_identical: int = 0  # identical rows among the routed tokens (Scenario.moe_identical)

    @property
    def we(self) -> DType:
        return self.w_exp or self.w

    @property
    def stream(self) -> DType:
        """Dtype of the tensors between GEMMs (residual stream, norms, activation functions,
        RoPE, collectives, logits): 8-bit activations quantize GEMM inputs only, the
        quantization fused into the kernel before each GEMM; the rest stays 16-bit, as
        TensorRT-LLM's and vLLM's fp8 (W8A8) paths run it."""
        return self.act if self.act.bytes >= DType.BF16.bytes else DType.BF16

    @property
    def head_w(self) -> DType:
        """lm_head's weight dtype (`Precision.head`; None: the weights')."""
        return self.w_head or self.w

    @property
    def head(self) -> DType:
        """lm_head's compute dtype: a 16-bit head runs a 16-bit GEMM on the stream."""
        return self.stream if self.head_w.bytes >= DType.BF16.bytes else self.act

    @property
    def tokens(self) -> int:
        return self.batch * self.q_len


def build_trace(model: str | Path | dict[str, Any] | ModelConfig, scenario: Scenario) -> Trace:
    """The ops one chip runs for one step of `model` under `scenario` (see module docstring)."""
    m = load_model(model)
    sc = checkpoint_scenario(m, scenario)
    prec, par = sc.precision, sc.parallel
    validate_parallelism(m, par)
    new = sc.new_tokens
    kv_len = sc.kv_len
    m.check_context(kv_len, "prompt" if sc.phase is Phase.PREFILL else "context + new tokens")
    absorbed = sc.phase in (Phase.DECODE, Phase.SPEC_DECODE)
    share = par.dp_share(sc.batch)  # the busiest data-parallel group's sequences
    batch = sc.micro_batch  # ... of which one micro-batch's run as this trace's ops
    q_len, att_kv = new, kv_len
    if par.cp > 1:  # this chip's share of every prompt; its queries see half the rest
        q_len = math.ceil(new / par.cp)
        att_kv = max(q_len, math.ceil(kv_len * (par.cp + 1) / (2 * par.cp)))
    head_rows = batch * new if sc.phase in (Phase.DECODE, Phase.SPEC_DECODE) else batch
    step = _Step(batch, q_len, att_kv, head_rows, absorbed, prec.activations, prec.weights,
                 prec.kv, par.tp, par.pp, par.ep, sc.moe_imbalance, w_exp=prec.experts,
                 w_head=prec.head,
                 dp=par.dp, cp=par.cp,
                 expert_slots=(m.moe.num_experts + par.redundant_experts) if m.moe else 0,
                 moe_tokens=batch * q_len * par.dp, routing_skew=sc.routing_skew,
                 moe_exchange=step_exchange(par.moe_exchange, sc.phase),
                 moe_identical=-(-sc.moe_identical // sc.micro_batches))
    ops = _forward(m, step)
    per_op = _resident_per_exec(m, step, ops)
    extra_w, extra_kv = 0.0, 0.0  # resident on the first stage: the draft model / heads
    draft_ends: _PerExec = []  # a pipelined draft: its embedding and head,
    draft_body: _PerExec = []  # ... and its layers
    n_draft = 0
    if sc.phase is Phase.SPEC_DECODE:
        assert sc.spec is not None
        draft, extra_w, extra_kv = _draft_ops(m, sc)
        target_w = sum(w * op.count for op, w, _ in per_op)
        if (step.pp > 1 and extra_w * step.pp > target_w + extra_w
                and _separate_draft(sc.spec.draft_model)):
            draft, draft_res, n_draft = _pipelined_draft(sc)
            draft_ends = [e for e in draft_res if e[0].block != "draft_layer"]
            draft_body = [e for e in draft_res if e[0].block == "draft_layer"]
            extra_w = extra_kv = 0.0
        ops += draft
    layers = _partition(m.num_layers, per_op + draft_ends, step.pp, extra_w)
    stage_w, stage_kv = _stage_sums(per_op + draft_ends, layers)
    stage_w[0] += extra_w
    stage_kv[0] += extra_kv
    draft_layers: tuple[int, ...] = ()
    draft_kv = [0.0] * len(layers)
    if draft_body:  # the draft's layers fill the stages with the most room left
        per_layer = sum(w * op.count for op, w, _ in draft_body) / n_draft
        draft_layers = balanced_layers(n_draft, stage_w, per_layer)
        dw, draft_kv = _stage_sums(draft_body, draft_layers)
        stage_w = [a + b for a, b in zip(stage_w, dw, strict=True)]
        stage_kv = [a + b for a, b in zip(stage_kv, draft_kv, strict=True)]
    # every micro-batch in flight holds its own activations and MoE buffers
    mb = sc.micro_batches
    act = mb * max((o.bytes.act_in + o.bytes.act_out for o in ops), default=0.0)
    kv_tokens = share * math.ceil(kv_len / par.cp)  # a CP chip keeps its share of the prompt
    held = _held_kv(ops, per_op, layers, share, new, kv_len, par.cp, sc.chunk_kv_freed)
    if held is not None:
        held[0] += extra_kv * kv_tokens
        for st, kv_tok in enumerate(draft_kv):
            held[st] += kv_tok * kv_tokens
    resident = ResidentBytes(tuple(stage_w), tuple(stage_kv), kv_tokens, act,
                             tuple(held) if held is not None else (),
                             mb * _moe_workspace(m, step))
    return Trace(model=m.name, scenario=sc, ops=tuple(ops), resident=resident,
                 stage_layers=layers, draft_stage_layers=draft_layers)


def _held_kv(ops: list[Op], per_op: _PerExec, layers: tuple[int, ...], batch: int, new: int,
             kv_len: int, cp: int, chunk_freed: bool = True) -> list[float] | None:
    """KV bytes one chip of each stage holds when some layers attend a sliding window or a
    local chunk (None when every layer is global): a layer keeps, per sequence, the keys any
    query of this step can see (`AttentionShape.kv_tokens` at the true kv_len and q_len: the
    window for a decode step, the whole prompt in a prefill), at its per-token KV bytes; a
    chunked layer keeps every key unless `chunk_freed`."""
    att = [o for o in ops if o.kind is OpKind.ATTENTION and not o.block.startswith("draft")
           and isinstance(o.shape, O.AttentionShape)]
    if not any(o.shape.window or (o.shape.chunk and chunk_freed) for o in att
               if isinstance(o.shape, O.AttentionShape)):
        return None
    per_layer = sum(kv * op.count for op, _, kv in per_op if not op.block.startswith("draft"))
    n_layers = sum(o.count for o in att)
    if not n_layers:
        return None
    per_layer /= n_layers  # every layer caches the same per-token KV (one KV-head layout)
    out = [0.0] * len(layers)
    for o in att:
        sh = o.shape
        assert isinstance(sh, O.AttentionShape)
        keep = (kv_len if sh.chunk and not chunk_freed
                else dataclasses.replace(sh, q_len=new, kv_len=kv_len).kv_tokens)
        counts = [o.count] if len(layers) == 1 else stage_counts(o, layers)
        for st, c in enumerate(counts):
            out[st] += per_layer * c * batch * math.ceil(keep / cp)
    return out


def checkpoint_scenario(m: ModelConfig, sc: Scenario) -> Scenario:
    """`sc` with `Precision(checkpoint=True)` resolved from the model's quantization_config:
    the quantized dtype for all weights, or for the experts only (GPT-OSS mxfp4); bf16 where
    the checkpoint is not quantized."""
    prec = sc.precision
    if not prec.checkpoint:
        return sc
    q = m.quant
    w, experts = prec.weights, None
    if q is not None and q.experts_only and m.moe is not None:
        experts = q.weights
    elif q is not None:
        w = q.weights
    # every quantization_config method parse_quantization reads leaves lm_head 16-bit
    head = prec.head or (DType.BF16 if q is not None and w is not prec.weights else None)
    return dataclasses.replace(sc, precision=dataclasses.replace(
        prec, weights=w, experts=experts, head=head, checkpoint=False))


_PerExec = list[tuple[Op, float, float]]  # (op, resident weight bytes, KV bytes per token)


def _resident_per_exec(m: ModelConfig, s: _Step, ops: list[Op]) -> _PerExec:
    """Per op with resident state: weight bytes one execution keeps resident on one chip and
    KV bytes per cached token it writes (rules in the module docstring)."""
    out: _PerExec = []
    for op in ops:
        w = _resident_weight(m, s, op)
        kv_tok = op.bytes.kv_write / s.tokens if op.kind is OpKind.KV_WRITE else 0.0
        if w or kv_tok:
            out.append((op, w, kv_tok))
    return out


def _partition(layers: int, per_op: _PerExec, pp: int, first_extra_bytes: float
               ) -> tuple[int, ...]:
    """Layers per pipeline stage balancing resident weight bytes (`balanced_layers`): the
    embedding (and a draft model) weigh on the first stage, the head on the last."""
    if pp == 1:
        return (layers,)
    fixed = [0.0] * pp
    fixed[0] += first_extra_bytes
    per_layer = 0.0
    ends = even_layers(1, pp)  # a count-1 op of a first/last-stage block
    for op, w, _ in per_op:
        if repeated(op):
            per_layer += w * op.count / layers
        else:
            for st, c in enumerate(stage_counts(op, ends)):
                fixed[st] += w * c
    return balanced_layers(layers, fixed, per_layer)


def _stage_sums(per_op: _PerExec, layers: tuple[int, ...]) -> tuple[list[float], list[float]]:
    """(weight bytes, KV bytes per cached token) one chip of each stage holds."""
    pp = len(layers)
    weights = [0.0] * pp
    kv_per_token = [0.0] * pp
    for op, w, kv_tok in per_op:
        counts = [op.count] if pp == 1 else stage_counts(op, layers)
        for st, c in enumerate(counts):
            weights[st] += w * c
            kv_per_token[st] += kv_tok * c
    return weights, kv_per_token


def _resident_weight(m: ModelConfig, s: _Step, op: Op) -> float:
    """Weight bytes one execution of `op` keeps resident on one chip (not only those it reads)."""
    if op.kind is OpKind.EMBEDDING:
        if op.name == "embed_positions":  # learned positions: whole table, replicated
            return float(m.max_position_embeddings) * m.hidden_size * s.w.bytes
        if m.tie_word_embeddings and s.pp == 1:  # the table is lm_head's weight
            return 0.0
        return float(math.ceil(m.vocab_size / s.tp)) * m.hidden_size * s.w.bytes
    if op.kind is OpKind.MOE_EXPERTS and m.moe is not None:
        # all local experts stay resident, not only the touched ones the op reads
        if not isinstance(op.shape, O.MatmulShape):
            return 0.0
        return op.bytes.weight / op.shape.groups * (_slots(m, s) // s.ep)
    if op.name in _EXPERT_BIAS and m.moe is not None:  # every local expert's bias is resident
        width = _expert_width(m, s)
        per_expert = 2 * width if op.name == "experts_gate_up_bias" else m.hidden_size
        return float(per_expert) * s.w.bytes * (_slots(m, s) // s.ep)
    return op.bytes.weight


_EXPERT_BIAS = ("experts_gate_up_bias", "experts_down_bias")


def _slots(m: ModelConfig, s: _Step) -> int:
    """Expert copies spread over the EP chips: the experts plus the redundant ones."""
    assert m.moe is not None
    return s.expert_slots or m.moe.num_experts


def validate_parallelism(m: ModelConfig, par: Parallelism) -> None:
    """InputError (naming the model and the numbers) if `par` cannot shard `m`."""
    tp, pp, ep, dp = par.tp, par.pp, par.ep, par.dp
    who = m.name
    if m.num_heads % tp:
        raise InputError(f"tp={tp} must divide num_attention_heads ({m.num_heads}) of {who}")
    if m.mla is None and m.num_kv_heads % tp and tp % m.num_kv_heads:
        raise InputError(f"tp={tp} must divide num_key_value_heads ({m.num_kv_heads}) of {who}, "
                         "or be a multiple of it (KV heads are then replicated)")
    if m.num_dense_layers and m.intermediate_size % tp:
        raise InputError(f"tp={tp} must divide intermediate_size ({m.intermediate_size}) of "
                         f"{who}")
    if pp > m.num_layers:
        raise InputError(f"pp={pp} exceeds the {m.num_layers} layers of {who}")
    if ep > 1 and m.moe is None:
        raise InputError(f"ep={ep} but {who} has no experts (use ep=1)")
    if par.redundant_experts and m.moe is None:
        raise InputError(f"redundant_experts={par.redundant_experts} but {who} has no experts "
                         "(use 0)")
    if m.moe is not None:
        slots = m.moe.num_experts + par.redundant_experts
        what = (f"the {m.moe.num_experts} experts" if not par.redundant_experts else
                f"the {m.moe.num_experts} + {par.redundant_experts} redundant experts")
        if slots % ep:
            raise InputError(f"ep={ep} must divide {what} of {who}")
        if dp > 1 and ep != tp * dp:
            raise InputError(f"ep={ep} with dp={dp}: data-parallel attention spreads whole "
                             f"experts over every GPU of the stage, so ep must equal tp·dp = "
                             f"{tp * dp}")
        if tp % ep and dp == 1:
            raise InputError(f"ep={ep} must divide tp={tp} (expert parallelism inside the "
                             "tensor-parallel group), or give --dp N with ep = tp·dp "
                             "(experts across data-parallel attention groups)")
        shard = tp * dp // ep
        if m.moe.expert_intermediate_size % shard:
            raise InputError(f"tp/ep={shard} must divide the expert width "
                             f"({m.moe.expert_intermediate_size}) of {who}")
        if m.moe.num_shared_experts and (
                m.moe.num_shared_experts * m.moe.expert_intermediate_size) % tp:
            raise InputError(f"tp={tp} must divide the shared-expert width of {who}")


# ------------------------------------------------------------------------------------------------
# One forward pass
# ------------------------------------------------------------------------------------------------


def _forward(m: ModelConfig, s: _Step) -> list[Op]:
    ops: list[Op] = []
    ops += _embedding(m, s)
    ops += _attention_block(m, s)
    ops += _mlp_block(m, s)
    if s.pp > 1:
        ops.append(O.collective(Collective.SEND_RECV, s.tokens * m.hidden_size * s.stream.bytes,
                                2, s.stream, name="pp_send_recv", count=s.pp - 1, block=_b(s, "pp")))
    ops += _head(m, s)
    return ops


def _b(s: _Step, block: str) -> str:
    return s.block or block


def _norm(m: ModelConfig, s: _Step, name: str, rows: int, width: int, count: int,
          block: str) -> Op:
    gains = width * (2 if m.norm is NormKind.LAYER else 1)
    # engines run RMSNorm as one thread block per token (vLLM, TRT-LLM, SGLang kernels)
    return O.vector(OpKind.NORM, rows * width, s.stream, flops_per_elem=_NORM_FLOPS[m.norm],
                    weight_bytes=gains * s.w.bytes, name=name, count=count, block=_b(s, block),
                    row_len=width, block_rows=rows if m.norm is NormKind.RMS else 0)


def _bias(s: _Step, name: str, rows: int, width: int, count: int, block: str) -> Op:
    return O.vector(OpKind.ELEMENTWISE, rows * width, s.stream, weight_bytes=width * s.w.bytes,
                    name=name, count=count, block=_b(s, block))


def _allreduce(m: ModelConfig, s: _Step, name: str, count: int, block: str,
               group: int | None = None) -> list[Op]:
    g = s.tp if group is None else group
    if g <= 1:
        return []
    return [O.collective(Collective.ALL_REDUCE, s.tokens * m.hidden_size * s.stream.bytes, g,
                         s.stream, name=name, count=count, block=_b(s, block))]


def _embedding(m: ModelConfig, s: _Step) -> list[Op]:
    t, h = s.tokens, m.hidden_size
    ops = [O.vector(OpKind.EMBEDDING, t * h, s.stream, inputs=0.0, flops_per_elem=0.0,
                    weight_bytes=t * h * s.w.bytes / s.tp, name="embed_tokens",
                    block=_b(s, "embed"))]
    ops += _allreduce(m, s, "embed_allreduce", 1, "embed")
    if m.position is PositionKind.LEARNED:
        ops.append(O.vector(OpKind.EMBEDDING, t * h, s.stream, inputs=0.0, flops_per_elem=0.0,
                            weight_bytes=t * h * s.w.bytes, name="embed_positions",
                            block=_b(s, "embed")))
        ops.append(O.vector(OpKind.ELEMENTWISE, t * h, s.stream, inputs=2.0, name="embed_add",
                            block=_b(s, "embed")))
    return ops


def _attention_block(m: ModelConfig, s: _Step) -> list[Op]:
    L, t, h = m.num_layers, s.tokens, m.hidden_size
    blk = "layer"
    ops = [_norm(m, s, "input_norm", t, h, L, blk)]
    if m.mla is not None:
        ops += _mla(m, s)
    else:
        ops += _mha(m, s)
    if m.norms_per_layer == 4:  # Gemma-2: norm on the attention output before the residual
        ops.append(_norm(m, s, "post_attn_norm", t, h, L, blk))
    ops.append(O.vector(OpKind.ELEMENTWISE, t * h, s.stream, inputs=2.0, name="attn_residual",
                        fresh_inputs=1.0, count=L, block=_b(s, blk)))
    return ops


def _cp_ring(s: _Step, block_bytes: float, layers: int) -> list[Op]:
    """Ring attention (context parallelism): per layer, cp−1 steps each passing this chip's
    K/V block (its share of the prompt) to the next chip of the ring. Priced serially after
    the layer's KV write (no overlap with the attention math: an upper bound)."""
    if s.cp <= 1:
        return []
    return [O.collective(Collective.SEND_RECV, block_bytes, 2, s.act, name="cp_ring_kv",
                         count=layers * (s.cp - 1), block=_b(s, "layer"))]


def _windows(m: ModelConfig) -> list[tuple[int, int]]:
    """(window, layers) groups, global attention (0) first; chunked layers are left out."""
    counts: dict[int, int] = {}
    chunks = m.layer_chunks or (0,) * m.num_layers
    for w, c in zip(m.layer_windows or (0,) * m.num_layers, chunks, strict=True):
        if not c:
            counts[w] = counts.get(w, 0) + 1
    return sorted(counts.items())


def _chunks(m: ModelConfig) -> list[tuple[int, int]]:
    """(chunk, layers) groups of chunked local attention (Llama-4)."""
    counts: dict[int, int] = {}
    for c in m.layer_chunks:
        if c:
            counts[c] = counts.get(c, 0) + 1
    return sorted(counts.items())


def _mha(m: ModelConfig, s: _Step) -> list[Op]:
    L, t, h, hd = m.num_layers, s.tokens, m.hidden_size, m.head_dim
    blk = _b(s, "layer")
    heads = m.num_heads // s.tp
    kvh = max(1, m.num_kv_heads // s.tp)
    qkv_n = (heads + 2 * kvh) * hd
    ops = [O.matmul(t, h, qkv_n, s.act, weight_dtype=s.w, name="qkv_proj", count=L, block=blk)]
    if m.qkv_bias:
        ops.append(_bias(s, "qkv_bias", t, qkv_n, L, "layer"))
    if m.qk_norm:  # per-head norm of q and k; Llama-4's (l2, no gains) only on RoPE layers
        gains = 2 * hd * s.w.bytes if m.qk_norm == "rms" else 0.0
        n_norm = L if m.qk_norm == "rms" else m.num_rope_layers
        if n_norm:
            ops.append(O.vector(OpKind.NORM, t * (heads + kvh) * hd, s.stream,
                                flops_per_elem=_NORM_FLOPS[NormKind.RMS], weight_bytes=gains,
                                name="qk_norm", count=n_norm, block=blk, row_len=hd))
    if m.position is PositionKind.ROPE and m.rope_dim and m.num_rope_layers:
        ops.append(O.vector(OpKind.ROPE, t * (heads + kvh) * m.rope_dim, s.stream,
                            flops_per_elem=_ROPE_FLOPS, name="rope", count=m.num_rope_layers,
                            block=blk, block_rows=t))
    kv_numel = t * kvh * 2 * hd
    ops.append(O.vector(OpKind.KV_WRITE, kv_numel, s.stream, outputs=0.0, flops_per_elem=0.0,
                        kv_write_bytes=kv_numel * s.kv.bytes, name="kv_write", count=L,
                        block=blk))
    ops += _cp_ring(s, kv_numel * s.kv.bytes, L)
    for window, n in _windows(m):
        ops.append(O.attention(s.batch, heads, kvh, hd, s.q_len, s.kv_len, True, s.act,
                               kv_dtype=s.kv, window=window, count=n, block=blk,
                               name="attention" if not window else "attention_sliding"))
    for chunk, n in _chunks(m):
        ops.append(O.attention(s.batch, heads, kvh, hd, s.q_len, s.kv_len, True, s.act,
                               kv_dtype=s.kv, chunk=chunk, count=n, block=blk,
                               name="attention_chunked"))
    if m.attention_sinks:  # one extra logit per (query, head) in the softmax denominator
        ops.append(O.vector(OpKind.ELEMENTWISE, t * heads, s.act, inputs=0.0, outputs=0.0,
                            flops_per_elem=2.0, weight_bytes=heads * s.w.bytes,
                            name="attention_sinks", count=L, block=blk))
    ops.append(O.matmul(t, heads * hd, h, s.act, weight_dtype=s.w, name="o_proj", count=L,
                        block=blk))
    if m.o_bias:
        ops.append(_bias(s, "o_bias", t, h, L, "layer"))
    ops += _allreduce(m, s, "attn_allreduce", L, "layer")
    return ops


def _mla(m: ModelConfig, s: _Step) -> list[Op]:
    assert m.mla is not None
    a = m.mla
    L, t, h = m.num_layers, s.tokens, m.hidden_size
    blk = _b(s, "layer")
    heads = m.num_heads // s.tp

    def mm(name: str, mm_m: int, k: int, n: int, groups: int = 1) -> Op:
        return O.matmul(mm_m, k, n, s.act, weight_dtype=s.w, groups=groups, name=name, count=L,
                        block=blk)

    ops: list[Op] = []
    if a.q_lora_rank:
        ops.append(mm("q_a_proj", t, h, a.q_lora_rank))
        ops.append(_norm(m, s, "q_a_norm", t, a.q_lora_rank, L, "layer"))
        ops.append(mm("q_b_proj", t, a.q_lora_rank, heads * a.qk_head_dim))
    else:
        ops.append(mm("q_proj", t, h, heads * a.qk_head_dim))
    ops.append(mm("kv_a_proj", t, h, a.latent_dim))
    ops.append(_norm(m, s, "kv_a_norm", t, a.kv_lora_rank, L, "layer"))
    ops.append(O.vector(OpKind.ROPE, t * (heads + 1) * a.qk_rope_head_dim, s.stream,
                        flops_per_elem=_ROPE_FLOPS, name="rope", count=L, block=blk))
    kv_numel = t * a.latent_dim
    ops.append(O.vector(OpKind.KV_WRITE, kv_numel, s.stream, outputs=0.0, flops_per_elem=0.0,
                        kv_write_bytes=kv_numel * s.kv.bytes, name="kv_write", count=L,
                        block=blk))
    ops += _cp_ring(s, kv_numel * s.kv.bytes, L)
    windows = _windows(m)
    if s.absorbed_mla:
        ops.append(mm("q_absorb", t, a.qk_nope_head_dim, a.kv_lora_rank, groups=heads))
        for window, n in windows:
            ops.append(O.attention(s.batch, heads, 1, a.latent_dim, s.q_len, s.kv_len, True,
                                   s.act, kv_dtype=s.kv, v_head_dim=a.kv_lora_rank,
                                   shared_kv=True, window=window, count=n, block=blk,
                                   name="attention_latent"))
        ops.append(mm("v_absorb", t, a.kv_lora_rank, a.v_head_dim, groups=heads))
    else:
        rows = s.batch * (s.kv_len if s.kv_len > s.q_len else s.q_len)
        ops.append(mm("kv_b_proj", rows, a.kv_lora_rank,
                      heads * (a.qk_nope_head_dim + a.v_head_dim)))
        for window, n in windows:
            ops.append(O.attention(s.batch, heads, heads, a.qk_head_dim, s.q_len, s.kv_len, True,
                                   s.act, kv_dtype=s.act, v_head_dim=a.v_head_dim,
                                   window=window, count=n, block=blk, name="attention"))
    ops.append(mm("o_proj", t, heads * a.v_head_dim, h))
    ops += _allreduce(m, s, "attn_allreduce", L, "layer")
    return ops


def _mlp_block(m: ModelConfig, s: _Step) -> list[Op]:
    L, t, h = m.num_layers, s.tokens, m.hidden_size
    ops: list[Op] = []
    pre = "pre_ffn_norm" if m.norms_per_layer == 4 else "post_attn_norm"
    ops.append(_norm(m, s, pre, t, h, L, "layer"))
    dense = m.num_dense_layers
    if dense:
        ops += _dense_mlp(m, s, "", m.intermediate_size // s.tp, dense, "layer")
        ops += _allreduce(m, s, "mlp_allreduce", dense, "layer")
    if m.num_moe_layers:
        ops += _moe(m, s)
    if m.norms_per_layer == 4:
        ops.append(_norm(m, s, "post_ffn_norm", t, h, L, "layer"))
    ops.append(O.vector(OpKind.ELEMENTWISE, t * h, s.stream, inputs=2.0, name="mlp_residual",
                        fresh_inputs=1.0, count=L, block=_b(s, "layer")))
    return ops


def moe_act_op(pairs: int, width: int, dtype: DType, mlp: MLPKind, *, count: int = 1,
               block: str = "") -> Op:
    """A MoE layer's activation between its expert GEMMs: `pairs` (token, expert) rows of
    `width` outputs on the `dtype` stream; a gated one reads gate and up and runs one
    thread block per row (`experts_act`, `ops.MOE_ACT_OP`)."""
    return O.vector(OpKind.ELEMENTWISE, pairs * width, dtype,
                    inputs=2.0 if mlp.gated else 1.0, flops_per_elem=_ACT_FLOPS[mlp],
                    name=O.MOE_ACT_OP, count=count, block=block,
                    block_rows=pairs if mlp.gated else 0)


def _dense_mlp(m: ModelConfig, s: _Step, prefix: str, width: int, count: int,
               block: str) -> list[Op]:
    """gate/up (fused), activation, down for `s.tokens` rows with a per-chip width."""
    t, h = s.tokens, m.hidden_size
    blk = _b(s, block)
    gated = m.mlp.gated
    up_n = 2 * width if gated else width
    ops = [O.matmul(t, h, up_n, s.act, weight_dtype=s.w, count=count, block=blk,
                    name=f"{prefix}gate_up_proj" if gated else f"{prefix}up_proj")]
    if m.mlp_bias:
        ops.append(_bias(s, f"{prefix}up_bias", t, up_n, count, block))
    ops.append(O.vector(OpKind.ELEMENTWISE, t * width, s.stream, inputs=2.0 if gated else 1.0,
                        flops_per_elem=_ACT_FLOPS[m.mlp], name=f"{prefix}act", count=count,
                        block=blk, block_rows=t if gated else 0))  # act-and-mul: per token
    ops.append(O.matmul(t, width, h, s.act, weight_dtype=s.w, count=count, block=blk,
                        name=f"{prefix}down_proj"))
    if m.mlp_bias:
        ops.append(_bias(s, f"{prefix}down_bias", t, h, count, block))
    return ops


def experts_touched(num_experts: int, top_k: int, tokens: int) -> float:
    """Expected distinct experts hit when `tokens` tokens each pick `top_k` distinct experts
    uniformly at random: E·(1 - (1 - k/E)^T). Exact for uniform routing; T=1 gives k."""
    return num_experts * (1.0 - (1.0 - top_k / num_experts) ** tokens)


@functools.lru_cache(maxsize=4096)
def expected_max_load(tokens: int, num_experts: int, top_k: int, among: int = 0) -> float:
    """Expected largest number of tokens routed to one of `among` experts (default all) when
    `tokens` tokens each pick `top_k` distinct experts of `num_experts` uniformly at random.

    One expert's load is Binomial(tokens, k/E) with CDF F. E[max] = Σ_{t≥1} P(max ≥ t);
    treating the `among` loads as independent, P(max < t) = F(t−1)^among. The real loads are
    negatively dependent (every token places exactly k), which makes a high maximum slightly
    more likely, so the sum is floored by the pigeonhole bound ceil(tokens·k/E) (exact for one
    token: 1). Against a Monte-Carlo of top-k routing it is within 4% once the mean load is ≥ 4
    tokens (tests/workloads/test_moe_routing.py). Uniform routing is what a load-balancing
    loss trains toward; a trained router is at least this skewed."""
    from scipy.stats import binom

    n, e = int(tokens), max(1, among or num_experts)
    if n <= 0:
        return 0.0
    p = min(1.0, top_k / num_experts)
    if p >= 1.0:
        return float(n)
    hi = int(binom.isf(1e-12 / e, n, p)) + 2  # P(max ≥ hi) < 1e-12
    t = np.arange(1, min(n, hi) + 1)
    indep = float(np.sum(1.0 - binom.cdf(t - 1, n, p) ** e))
    floor = math.ceil(n * top_k / num_experts - 1e-9) if e == num_experts else 1
    return max(indep, float(floor))


def routing_imbalance(tokens: int, num_experts: int, top_k: int, ep: int, groups: int,
                      pairs: int) -> float:
    """max/mean rows of one chip's grouped expert GEMM under uniform top-k routing: the
    expected busiest of its E/ep experts over the mean rows per touched expert
    (`pairs / groups`)."""
    mean = pairs / max(1, groups)
    if mean <= 0:
        return 1.0
    return max(1.0, expected_max_load(tokens, num_experts, top_k,
                                      max(1, num_experts // ep)) / mean)


def _expert_width(m: ModelConfig, s: _Step) -> int:
    """An expert's intermediate columns on one chip: sharded over the tp·dp/ep chips that
    share each expert."""
    assert m.moe is not None
    return m.moe.expert_intermediate_size // (s.tp * s.dp // s.ep)


def _moe_workspace(m: ModelConfig, s: _Step) -> float:
    """Bytes of a fused MoE kernel's buffers sized for every (token, expert) row of the step's
    routed tokens T (all data-parallel groups'): per row the permuted input at the activation
    dtype, the gate-up GEMM's output and the down GEMM's output on the 16-bit stream, the
    activation's output at the activation dtype, and three 4-byte row indices — TensorRT-LLM's
    CUTLASS MoE (`CutlassMoeFCRunner::getWorkspaceBufferSizes` in its moe_kernels.cu:
    k × num_rows rows of permuted_data, glu_inter, fc1_result and fc2_result)."""
    if m.moe is None:
        return 0.0
    rows = (s.moe_tokens or s.tokens) * m.moe.top_k
    width = _expert_width(m, s)
    up_n = 2 * width if m.mlp.gated else width
    h = m.hidden_size
    per_row = (h + width) * s.act.bytes + (up_n + h) * s.stream.bytes + 12
    return float(rows * per_row)


# ops of a MoE layer named here whose work is the whole stage's routed tokens (every
# data-parallel group's, `_moe`): the token exchange; with every op named experts_*
_STAGE_WIDE = ("moe_dispatch", "moe_combine")


def stage_wide(op: Op) -> bool:
    """Whether `op` works on the whole pipeline stage's routed tokens (every data-parallel
    group's: the routed experts and their token exchange, `_moe`), which the groups wait on
    together, rather than on its own group's tokens (attention, dense layers, router, shared
    experts, head)."""
    return op.name in _STAGE_WIDE or op.name.startswith("experts_")


def _experts_gemm(pairs: int, rows: int, k: int, n: int, s: _Step, groups: int, imb: float,
                  name: str, count: int, block: str, held: int) -> Op:
    """One grouped expert GEMM: `groups` experts' tiles at `rows` rows each (its shape, which
    the hardware prices), with the FLOPs and activation bytes of the `pairs` rows it has."""
    op = O.matmul(rows, k, n, s.act, weight_dtype=s.we, groups=groups, imbalance=imb,
                  name=name, count=count, block=block, kind=OpKind.MOE_EXPERTS, experts=held)
    exact = O.matmul(pairs, k, n, s.act, weight_dtype=s.we)
    return dataclasses.replace(op, flops=exact.flops, bytes=dataclasses.replace(
        op.bytes, act_in=exact.bytes.act_in, act_out=exact.bytes.act_out))


def _moe(m: ModelConfig, s: _Step) -> list[Op]:
    assert m.moe is not None
    moe = m.moe
    n_layers, t, h = m.num_moe_layers, s.tokens, m.hidden_size
    blk = _b(s, "moe_layer")
    E, k = moe.num_experts, moe.top_k
    T = s.moe_tokens or t  # tokens routed over the stage's ep chips (all dp groups)
    ops = [O.matmul(t, h, E, s.act, weight_dtype=s.w, name="router", count=n_layers, block=blk,
                    kind=OpKind.MOE_ROUTER)]
    ops.append(O.vector(OpKind.ELEMENTWISE, t * E, s.act, outputs=k / E,
                        flops_per_elem=_ROUTER_FLOPS,
                        weight_bytes=E * s.w.bytes if moe.router_bias else 0.0,
                        name="router_topk", count=n_layers, block=blk))
    e_local = _slots(m, s) // s.ep
    width = _expert_width(m, s)
    # the busiest EP rank: its share of the pairs over the even one (workloads.routing);
    # identical rows (a padded CUDA graph's dummy requests) all go to the same k experts, so
    # it is the largest of a rank's real pairs plus u per such expert it holds
    u = min(s.moe_identical, T)
    hot_experts = 0.0
    if u > 0:
        busiest, hot_experts = busiest_with_identical(E, s.ep, _slots(m, s), s.routing_skew,
                                                      (T - u) * k / s.ep, u, k)
        hot = busiest / (T * k / s.ep)
        pairs = min(math.ceil(busiest), T * min(k, e_local))
    else:
        hot = hot_rank_factor(E, s.ep, _slots(m, s), s.routing_skew, T * k / s.ep)
        pairs = min(math.ceil(T * k / s.ep * hot), T * min(k, e_local))
    owned = math.ceil(T / s.ep)  # tokens this chip dispatches and whose outputs it sums
    # allgather exchange (`Parallelism.moe_exchange`): every rank gets every token and sums
    # its experts' outputs of all of them, reduce-scattered back (replicated tokens under TP
    # attention need no gather and end in an all-reduce)
    gathered = s.moe_exchange == "allgather" and s.ep > 1
    routing = (O.TokenRouting(E, k, moe.n_group, moe.topk_group)
               if s.moe_exchange == "hierarchical" else None)
    if gathered and s.dp > 1:
        ops.append(O.collective(Collective.ALL_GATHER, owned * h * s.act.bytes, s.ep, s.act,
                                name="moe_dispatch", count=n_layers, block=blk))
    elif s.ep > 1 and not gathered:  # the busiest rank receives its pairs' rows
        msg = owned * k * h * s.act.bytes * hot
        ops.append(O.collective(Collective.ALL_TO_ALL, msg, s.ep, s.act, name="moe_dispatch",
                                count=n_layers, block=blk, routing=routing))
    # distinct expert copies this chip reads: the touched share of its slots
    touched = experts_touched(E, k, T) / s.ep * (_slots(m, s) / E)
    groups = max(1, min(e_local, pairs, round(touched)))
    # one grouped GEMM launch over the touched experts (every expert's tiles in one grid),
    # each priced at the larger of the two row counts the pairs split into (q or q + 1:
    # the same row tiles); the busiest expert's rows as uniform top-k routing of this step's
    # tokens gives them (`routing_imbalance`, over the mean pairs / groups) or s.imbalance
    rows = -(-pairs // groups)
    mean = pairs / groups
    imb = max(1.0, (s.imbalance or routing_imbalance(t, E, k, s.ep, groups, pairs)) * mean
              / rows)
    if hot_experts > 0.0 and not s.imbalance:  # an identical rows' expert: u rows more
        real = max(0.0, pairs - hot_experts * u) / groups
        imb = max(imb, (u + real) / rows)
    up_n = 2 * width if m.mlp.gated else width
    ops.append(_experts_gemm(pairs, rows, h, up_n, s, groups, imb, "experts_gate_up",
                             n_layers, blk, e_local))
    if moe.expert_bias:
        ops.append(O.vector(OpKind.ELEMENTWISE, pairs * up_n, s.act, inputs=1.0,
                            weight_bytes=groups * up_n * s.w.bytes, name="experts_gate_up_bias",
                            count=n_layers, block=blk))
    # the activation function and the weighted sum run on the 16-bit stream, as the dense
    # MLP's (8-bit activations are GEMM inputs only: the fused-MoE kernels of TensorRT-LLM,
    # vLLM and SGLang write their GEMM outputs and the activation's in bf16 and quantize the
    # next GEMM's input). A gated activation runs one thread block per (token, expert) row,
    # as the dense MLP's act-and-mul: vLLM's silu_and_mul, which the Triton fused-MoE path of
    # vLLM and SGLang calls on the gate-up output, and TensorRT-LLM's doActivationKernel
    # ("one token per CTA", NVIDIA/TensorRT-LLM PR #9838; 256 threads per row,
    # flashinfer-ai/flashinfer PR #3761)
    ops.append(moe_act_op(pairs, width, s.stream, m.mlp, count=n_layers, block=blk))
    ops.append(_experts_gemm(pairs, rows, width, h, s, groups, imb, "experts_down",
                             n_layers, blk, e_local))
    if moe.expert_bias:
        ops.append(O.vector(OpKind.ELEMENTWISE, pairs * h, s.act, inputs=1.0,
                            weight_bytes=groups * h * s.w.bytes, name="experts_down_bias",
                            count=n_layers, block=blk))
    if gathered:  # every token's row, summing the local experts' outputs (zero elsewhere)
        ops.append(O.vector(OpKind.ELEMENTWISE, T * h, s.stream, inputs=pairs / T,
                            flops_per_elem=2.0 * pairs / T, name="experts_weighted_sum",
                            count=n_layers, block=blk))
    else:
        ops.append(O.vector(OpKind.ELEMENTWISE, owned * h, s.stream, inputs=float(k),
                            flops_per_elem=2.0 * k, name="experts_weighted_sum",
                            count=n_layers, block=blk))
    if gathered and s.dp > 1:  # each rank keeps its own tokens' sums
        ops.append(O.collective(Collective.REDUCE_SCATTER, T * h * s.stream.bytes, s.ep,
                                s.stream, name="moe_combine", count=n_layers, block=blk))
    elif s.ep > 1 and not gathered:
        # expert outputs return at ≥ 16 bits for the weighted sum (DeepEP: bf16)
        msg = owned * k * h * s.stream.bytes * hot
        ops.append(O.collective(Collective.ALL_TO_ALL, msg, s.ep, s.stream, name="moe_combine",
                                count=n_layers, block=blk, routing=routing))
    if moe.num_shared_experts:
        shared_w = moe.num_shared_experts * moe.expert_intermediate_size // s.tp
        ops += _dense_mlp(m, s, "shared_", shared_w, n_layers, "moe_layer")
    # the TP group restores its replicated activations (sums shared-expert partials and the
    # token shares it combined); data-parallel groups are already whole after combine
    needs_reduce = (s.tp > 1 if s.dp > 1 else
                    s.ep == 1 or gathered or moe.num_shared_experts > 0 or s.tp // s.ep > 1)
    if needs_reduce:
        ops += _allreduce(m, s, "moe_allreduce", n_layers, "moe_layer")
    return ops


def _head(m: ModelConfig, s: _Step) -> list[Op]:
    h = m.hidden_size
    blk = _b(s, "head")
    vocab = math.ceil(m.vocab_size / s.tp)
    ops = [_norm(m, s, "final_norm", s.tokens, h, 1, "head"),
           O.matmul(s.head_rows, h, vocab, s.head, weight_dtype=s.head_w, name="lm_head",
                    block=blk)]
    if s.tp > 1:
        ops.append(O.collective(Collective.ALL_GATHER, s.head_rows * vocab * s.stream.bytes,
                                s.tp, s.stream, name="logits_allgather", block=blk))
    return ops


# ------------------------------------------------------------------------------------------------
# Speculative decoding: draft work
# ------------------------------------------------------------------------------------------------


def _draft_ops(m: ModelConfig, sc: Scenario) -> tuple[list[Op], float, float]:
    """(draft ops, resident draft weight bytes, draft KV bytes per cached token), per chip."""
    assert sc.spec is not None
    spec, prec, par = sc.spec, sc.precision, sc.parallel
    L = spec.draft_len
    if L < 1:
        raise InputError(f"draft_len must be ≥ 1, got {L}")
    if spec.draft_model is None:
        heads = _medusa_heads(m, sc)
        return heads, sum(o.bytes.weight * o.count for o in heads), 0.0
    if spec.draft_model.strip().lower() == "mtp":
        return _mtp_draft(m, sc)
    d = load_model(spec.draft_model)
    dpar = Parallelism(tp=par.tp)
    try:
        validate_parallelism(d, dpar)
    except InputError as e:
        raise InputError(f"draft model: {e}") from None
    d.check_context(sc.context + L, "draft context")
    steps: list[Op] = []
    resident: tuple[list[float], list[float]] = ([0.0], [0.0])
    for i in range(L):
        st = _Step(sc.batch, 1, sc.context + 1 + i, sc.batch, True, prec.activations,
                   prec.weights, prec.kv, par.tp, 1, 1, sc.moe_imbalance, block="draft",
                   w_exp=prec.experts, w_head=prec.head)
        one = _forward(d, st)
        if i == 0:
            resident = _stage_sums(_resident_per_exec(d, st, one), (d.num_layers,))
        steps += one
    return _merge(steps), resident[0][0], resident[1][0]


def _separate_draft(name: str | None) -> bool:
    """A draft model of its own (not Medusa heads, not the target's MTP module)."""
    return name is not None and name.strip().lower() != "mtp"


# a pipelined draft's blocks: its embedding on the first stage, its head on the last, its
# layers spread over the stages as the target's (workloads.trace.stage_counts)
_DRAFT_BLOCKS = {"embed": "draft", "head": "draft_head"}


def _pipelined_draft(sc: Scenario) -> tuple[list[Op], _PerExec, int]:
    """(draft ops, their resident state per op, the draft's layers) for a draft model whose
    layers are pipelined over the target's stages (module docstring)."""
    assert sc.spec is not None and sc.spec.draft_model is not None
    prec, par, L = sc.precision, sc.parallel, sc.spec.draft_len
    d = load_model(sc.spec.draft_model)

    def relabel(o: Op) -> Op:
        return dataclasses.replace(o, block=_DRAFT_BLOCKS.get(o.block, "draft_layer"))

    steps: list[Op] = []
    per_op: _PerExec = []
    for i in range(L):
        # pp as the target's: a tied embedding table is held by both end stages
        st = _Step(sc.batch, 1, sc.context + 1 + i, sc.batch, True, prec.activations,
                   prec.weights, prec.kv, par.tp, par.pp, 1, sc.moe_imbalance,
                   w_exp=prec.experts, w_head=prec.head)
        one = [relabel(o) for o in _forward(d, st) if o.block != "pp"]
        if i == 0:
            per_op = _resident_per_exec(d, st, one)
        steps += one
    # each drafted token crosses the pp - 1 stage boundaries and returns to the first stage
    act = prec.activations
    steps.append(O.collective(Collective.SEND_RECV, sc.batch * d.hidden_size * act.bytes, 2,
                              act, name="draft_pp_send_recv", count=L * par.pp,
                              block="draft_pp"))
    return _merge(steps), per_op, d.num_layers


def _mtp_draft(m: ModelConfig, sc: Scenario) -> tuple[list[Op], float, float]:
    """DeepSeek-V3 multi-token prediction as the draft (arXiv:2412.19437 §2.2; README_WEIGHTS):
    per drafted token, RMSNorm of the previous hidden state and of the next token's embedding,
    eh_proj (2·hidden → hidden, replicated on every TP chip), one decoder layer like the main
    model's MoE layers, then the shared final norm and lm_head. Drafted token i uses module
    i mod num_nextn_predict_layers. Embedding and lm_head are the main model's (not resident
    twice); each module keeps its own layer weights and KV cache."""
    assert sc.spec is not None
    if not m.mtp_layers:
        raise InputError(f"draft_model='mtp': {m.name} has no multi-token-prediction module "
                         "(num_nextn_predict_layers is 0); give a draft model name or omit it "
                         "for Medusa heads")
    prec, par = sc.precision, sc.parallel
    one = dataclasses.replace(
        m, name=f"{m.name}-mtp", num_layers=1, layer_windows=m.layer_windows[-1:],
        layer_chunks=m.layer_chunks[-1:], rope_layers=m.rope_layers[-1:],
        moe_layers=(m.moe is not None,), mtp_layers=0)
    h = m.hidden_size
    steps: list[Op] = []
    resident_w, resident_kv = 0.0, 0.0
    for i in range(sc.spec.draft_len):
        st = _Step(sc.batch, 1, sc.context + 1 + i, sc.batch, True, prec.activations,
                   prec.weights, prec.kv, par.tp, 1, par.ep, sc.moe_imbalance, block="draft",
                   w_exp=prec.experts, w_head=prec.head, routing_skew=sc.routing_skew,
                   moe_exchange=step_exchange(par.moe_exchange, Phase.DECODE))
        t = st.tokens
        ops = [_norm(m, st, "mtp_enorm", t, h, 1, "draft"),
               _norm(m, st, "mtp_hnorm", t, h, 1, "draft"),
               O.matmul(t, 2 * h, h, st.act, weight_dtype=st.w, name="mtp_eh_proj",
                        block="draft")]
        ops += _forward(one, st)
        if i == 0:
            own = [(op, w, kv) for op, w, kv in _resident_per_exec(one, st, ops)
                   if op.kind is not OpKind.EMBEDDING and op.name != "lm_head"]
            ws, kvs = _stage_sums(own, (1,))
            resident_w, resident_kv = ws[0] * m.mtp_layers, kvs[0] * m.mtp_layers
        steps += ops
    return _merge(steps), resident_w, resident_kv


def _medusa_heads(m: ModelConfig, sc: Scenario) -> list[Op]:
    assert sc.spec is not None
    prec, tp, L = sc.precision, sc.parallel.tp, sc.spec.draft_len
    h, b = m.hidden_size, sc.batch
    vocab = math.ceil(m.vocab_size / tp)
    a, w = prec.activations, prec.weights
    ops = [O.matmul(b, h, h, a, weight_dtype=w, groups=L, name="draft_heads", block="draft"),
           O.vector(OpKind.ELEMENTWISE, L * b * h, a, inputs=2.0, flops_per_elem=5.0,
                    name="draft_heads_act", block="draft"),
           O.matmul(b, h, vocab, a, weight_dtype=w, groups=L, name="draft_heads_lm",
                    block="draft")]
    if tp > 1:
        ops.append(O.collective(Collective.ALL_GATHER, L * b * vocab * a.bytes, tp, a,
                                name="draft_logits_allgather", block="draft"))
    return ops


def _merge(ops: Iterable[Op]) -> list[Op]:
    """Fold ops that differ only in `count` into one (order of first appearance kept)."""
    merged: dict[Op, int] = {}
    for op in ops:
        key = op.with_count(1)
        merged[key] = merged.get(key, 0) + op.count
    return [op.with_count(c) for op, c in merged.items()]
