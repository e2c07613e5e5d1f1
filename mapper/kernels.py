"""How a logical trace op becomes kernels under each runtime (design §2 `runtime`).

The trace is logical (one `norm`, one `rope` …). What actually launches depends on the
software stack (`hwmodels.models.gpu.engines`: a base launch mode + knobs), and that belongs
to the mapper:

- `eager` (plain PyTorch) and `graph` (the same kernels captured in a CUDA graph) launch one
  kernel per PyTorch operator; an operator PyTorch has natively is one kernel:
  * RMSNorm: `F.rms_norm`, one kernel; LayerNorm: `F.layer_norm`, one kernel.
  * RoPE (no native operator: `x·cos + rotate_half(x)·sin`, for q and for k): mul(cos), neg
    (half of rotate_half), cat, mul(sin), add — 5 kernels per tensor, 10 in all (each on half
    the op's elements). The per-step cos/sin table (computed once per forward) is left out.
  * KV-cache write: a static cache updated with two index copies (K and V).
  * Gated activation `act(gate) * up`: act, mul — 2 kernels; plain GELU: 1.
  * Residual add, embedding gather, attention (SDPA, one fused kernel), matmuls (cuBLAS; QKV
    and gate-up as the trace fuses them), collectives (NCCL): 1 kernel each. Bias adds ride
    in the GEMM epilogue (addmm).
  * MoE experts: one GEMM per touched expert plus a token gather (up) or index-add (down)
    per expert; router top-k: softmax, topk, sum, div — 4 kernels.
  So a Llama decoder layer is 23 kernels: 1+1+10+2+1+1+1 (norm, qkv, rope, kv write, sdpa,
  o_proj, residual) + 1+1+2+1+1 (norm, gate_up, silu+mul, down, residual).
- framework profiles (`EagerStyle`, knobs of `hwmodels.models.gpu.engines`): how a
  framework's own model code writes the layer, counted from its source. RMSNorm op by op
  (`hf_decomposition`): to(fp32), pow(2), mean(-1), add(eps), rsqrt, mul, to(bf16),
  mul(weight) — 8 kernels (the two casts vanish when activations are already fp32);
  separate q/k/v or gate/up GEMMs (`split_qkv`, `split_gate_up`: equal output slices, same
  bytes and FLOPs); the framework's RoPE kernel count (`rope_kernels`: extra glue kernels
  over one tensor's elements, or fewer whole-tensor kernels for a complex-multiply RoPE);
  the attention call's kernels (`attention_kernels`: mask conversion and the math path,
  score-sized, then the attention itself); KV-head expansion copies (`kv_repeat_kernels`
  always, `gqa_expand_kernels` under GQA only). Per Llama layer: `hf-eager` 47,
  `gpt-fast-eager` 62, `litgpt-eager` 45, `fms-eager` 44 (46 under GQA).
- fused-base engines (vLLM, TensorRT-LLM, SGLang, torch.compile): the trace's ops are the
  launch units (SiLU·mul one kernel, router top-k one kernel, grouped-GEMM experts, paged
  flash attention); residual add + RMSNorm is one kernel (`fuse_add_norm`), RoPE + KV write
  one kernel (`fuse_rope_kv`); bias in the GEMM epilogue everywhere. A GPU engine's MoE
  routing adds the kernels that sort the (token, expert) pairs by expert and, for
  TensorRT-LLM's CUTLASS MoE, the permute of the token rows (`moe_routing_kernels`).

Sub-kernels are built with the `workloads.ops` constructors, so their bytes and FLOPs come
from the one formula home; a sub-kernel's traffic is what that eager kernel really moves
(e.g. the fp32 intermediates of RMSNorm), which is why eager moves more bytes.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from enum import Enum

from infersim.foundation.errors import InputError
from infersim.hwmodels.cost import Runtime, RuntimeProfile
from infersim.hwmodels.models.gpu.engines import knob
from infersim.hwmodels.spec import HardwareKind
from infersim.workloads import ops as O
from infersim.workloads.dtypes import DType
from infersim.workloads.ops import AttentionShape, MatmulShape, Op, OpKind, VectorShape


class Role(str, Enum):
    """What a trace op does, as far as kernel splitting and fusion care."""

    MATMUL = "matmul"
    EXPERTS = "experts"
    ATTENTION = "attention"
    RMS_NORM = "rms_norm"
    LAYER_NORM = "layer_norm"
    ROPE = "rope"
    KV_WRITE = "kv_write"
    RESIDUAL = "residual"
    ACTIVATION = "activation"
    BIAS = "bias"
    ROUTER_TOPK = "router_topk"
    WEIGHTED_SUM = "weighted_sum"
    EMBEDDING = "embedding"
    COLLECTIVE = "collective"
    OTHER = "other"


_LAYERNORM_FLOPS = 7.0  # workloads.builder: LayerNorm 7 FLOP/elem, RMSNorm 4


def role(op: Op) -> Role:
    """Classify a trace op by kind, then by name (the workloads builder's op names)."""
    k = OpKind(op.kind)  # constructors may hold the plain string
    if k in (OpKind.MATMUL, OpKind.MOE_ROUTER):
        return Role.MATMUL
    if k is OpKind.MOE_EXPERTS:
        return Role.EXPERTS
    if k is OpKind.ATTENTION:
        return Role.ATTENTION
    if k is OpKind.COLLECTIVE:
        return Role.COLLECTIVE
    if k is OpKind.ROPE:
        return Role.ROPE
    if k is OpKind.KV_WRITE:
        return Role.KV_WRITE
    if k is OpKind.EMBEDDING:
        return Role.EMBEDDING
    if k is OpKind.NORM:
        sh = op.shape
        fpe = sh.flops_per_elem if isinstance(sh, VectorShape) else 0.0
        if fpe >= _LAYERNORM_FLOPS or "layer_norm" in op.name or "layernorm" in op.name:
            return Role.LAYER_NORM
        return Role.RMS_NORM
    name = op.name
    if "bias" in name:
        return Role.BIAS
    if "residual" in name or name == "embed_add":
        return Role.RESIDUAL
    if "topk" in name:
        return Role.ROUTER_TOPK
    if "weighted_sum" in name:
        return Role.WEIGHTED_SUM
    if name.endswith("act") or "act_" in name or "silu" in name or "gelu" in name:
        return Role.ACTIVATION
    return Role.OTHER


@dataclass(frozen=True, slots=True)
class Kernel:
    """One kernel launch: a label and the op that prices it on the hardware."""

    label: str
    op: Op


def _numel(op: Op) -> int:
    sh = op.shape
    return sh.numel if isinstance(sh, VectorShape) else 1


def _vec(label: str, numel: int, dtype: DType, inputs: float = 1.0, outputs: float = 1.0,
         flops: float = 1.0, weight_bytes: float = 0.0, kv_write: float = 0.0,
         kind: OpKind = OpKind.ELEMENTWISE) -> Kernel:
    return Kernel(label, O.vector(kind, max(1, int(numel)), dtype, inputs=inputs,
                                  outputs=outputs, flops_per_elem=flops,
                                  weight_bytes=weight_bytes, kv_write_bytes=kv_write,
                                  name=label))


def _rms_norm_eager(op: Op) -> list[Kernel]:
    n = _numel(op)
    act = op.dtype
    width = op.bytes.weight / act.bytes if op.bytes.weight > 0 else float(n)
    rows = max(1, round(n / max(1.0, width)))
    f32 = DType.FP32
    ks: list[Kernel] = []
    up = act is not f32
    if up:  # hidden_states.to(torch.float32)
        ks.append(_vec("to_fp32", n, f32, inputs=act.bytes / f32.bytes, flops=0.0))
    ks.append(_vec("pow", n, f32))
    ks.append(_vec("mean", rows, f32, inputs=n / rows))
    ks.append(_vec("add_eps", rows, f32))
    ks.append(_vec("rsqrt", rows, f32))
    ks.append(_vec("mul_rstd", n, f32, inputs=1.0 + rows / n))
    if up:  # .to(input_dtype)
        ks.append(_vec("to_act", n, act, inputs=f32.bytes / act.bytes, flops=0.0))
    ks.append(_vec("mul_weight", n, act, weight_bytes=op.bytes.weight))
    return ks


def _norm_mul(op: Op) -> list[Kernel]:
    """ggml_rms_norm (reads x, writes the normalized x) then ggml_mul by the weight."""
    n = _numel(op)
    act = op.dtype
    return [_vec("rms_norm", n, act, flops=3.0, kind=OpKind.NORM),
            _vec("norm_mul", n, act, weight_bytes=op.bytes.weight)]


def _rope_eager(op: Op) -> list[Kernel]:
    half = max(1, _numel(op) // 2)  # q and k, each rotated separately
    act = op.dtype
    ks: list[Kernel] = []
    for t in ("q", "k"):
        ks.append(_vec(f"{t}_mul_cos", half, act, inputs=1.0))
        ks.append(_vec(f"{t}_neg", half // 2, act))
        ks.append(_vec(f"{t}_cat", half, act, flops=0.0))
        ks.append(_vec(f"{t}_mul_sin", half, act, inputs=1.0))
        ks.append(_vec(f"{t}_add", half, act, inputs=2.0))
    return ks


def _kv_write_eager(op: Op) -> list[Kernel]:
    half = max(1, _numel(op) // 2)
    kvw = op.bytes.kv_write / 2.0
    return [_vec(f"{t}_cache_copy", half, op.dtype, outputs=0.0, flops=0.0, kv_write=kvw,
                 kind=OpKind.KV_WRITE) for t in ("k", "v")]


def _activation_eager(op: Op) -> list[Kernel]:
    sh = op.shape
    n = _numel(op)
    inputs = op.bytes.act_in / (n * op.dtype.bytes) if n else 1.0
    fpe = sh.flops_per_elem if isinstance(sh, VectorShape) else 1.0
    if inputs >= 2.0:  # gated: act(gate) * up
        return [_vec("act", n, op.dtype, flops=fpe - 1.0), _vec("mul", n, op.dtype, inputs=2.0)]
    return [Kernel("act", op)]


def _experts_eager(op: Op) -> list[Kernel]:
    sh = op.shape
    assert isinstance(sh, MatmulShape)
    ks: list[Kernel] = []
    down = "down" in op.name
    w = sh.weight_dtype
    for i in range(sh.groups):
        if not down:  # gather the tokens routed to this expert
            ks.append(_vec(f"gather{i}", sh.m * sh.k, op.dtype, flops=0.0))
        ks.append(Kernel(f"expert{i}", O.matmul(sh.m, sh.k, sh.n, op.dtype,
                                                weight_dtype=w if w is not None else None,
                                                name=f"expert{i}")))
        if down:  # index_add the expert output back
            ks.append(_vec(f"index_add{i}", sh.m * sh.n, op.dtype, inputs=2.0))
    return ks


def _router_topk_eager(op: Op) -> list[Kernel]:
    n = _numel(op)
    act = op.dtype
    return [_vec("softmax", n, DType.FP32, inputs=act.bytes / 4.0, flops=3.0),
            _vec("topk", max(1, int(op.bytes.act_out / act.bytes)), act,
                 inputs=n / max(1.0, op.bytes.act_out / act.bytes), flops=1.0),
            _vec("sum", 1 + n // 64, DType.FP32),
            _vec("div", max(1, int(op.bytes.act_out / act.bytes)), DType.FP32)]


def moe_routing_kernels(topk: Op, router: Op | None, gate_ups: list[Op],
                        profile: RuntimeProfile | None) -> list[Kernel]:
    """A fused engine's launch units for a MoE layer's routing, between its router GEMM
    (`router`) and its first grouped GEMM(s) (`gate_ups`): the top-k kernel, then the
    kernels that sort the layer's (token, expert) pairs by expert (`moe_sort_kernels`, or
    `moe_sort_small_kernels` in the engine's small-batch mode), then with `moe_permute` one
    kernel that copies every pair's token row into expert order in the GEMM's input dtype,
    reading each routed token once. Engine knobs and their sources:
    `hwmodels.models.gpu.engines` (`_TRTLLM_MOE_ROUTING`, `_TRITON_MOE_ROUTING`). The token
    count is the router's (a chip's own tokens before an all-gather exchange)."""
    ks = [Kernel(topk.name, topk)]
    large = knob(profile, "moe_sort_kernels")
    rsh = router.shape if router is not None else None
    if large <= 0 or not isinstance(rsh, MatmulShape) or not gate_ups:
        return ks
    shapes = [g.shape for g in gate_ups if isinstance(g.shape, MatmulShape)]
    tokens = rsh.m
    ids = max(1, round(topk.bytes.act_out / topk.dtype.bytes))
    experts = sum(sh.experts or sh.groups for sh in shapes)
    small = (tokens <= knob(profile, "moe_sort_small_tokens")
             and ids <= knob(profile, "moe_sort_small_ids")
             and experts <= knob(profile, "moe_sort_small_experts"))
    n = int(knob(profile, "moe_sort_small_kernels") if small else large)
    ks.extend(_vec(f"moe_sort{j}", ids, DType.FP32) for j in range(n))
    if knob(profile, "moe_permute") >= 0.5 and shapes:
        # the GEMM's FLOPs count its real pairs (its shape pads each expert to one row count)
        pairs = sum(round(g.flops / (2.0 * g.shape.k * g.shape.n)) for g in gate_ups
                    if isinstance(g.shape, MatmulShape))
        per_token = max(1.0, ids / max(1, tokens))  # top-k
        unique = min(pairs, max(tokens, math.ceil(pairs / per_token)))
        ks.append(_vec(O.MOE_PERMUTE_OP, pairs * shapes[0].k, gate_ups[0].dtype,
                       inputs=unique / max(1, pairs), flops=0.0))
    return ks


@dataclass(frozen=True, slots=True)
class EagerStyle:
    """How a framework writes a decoder layer in PyTorch ops (the eager/graph knobs of
    `hwmodels.models.gpu.engines`); the defaults are plain PyTorch (design.md)."""

    hf_norm: bool = False  # RMSNorm op by op (8 kernels)
    split_qkv: bool = False  # q, k, v projections as three GEMMs
    split_gate_up: bool = False  # gate and up projections as two GEMMs
    rope_kernels: int = 10  # RoPE kernels per layer, q and k together
    attention_kernels: int = 1  # kernels of the attention call (mask conversion, math path)
    kv_repeat_kernels: int = 0  # KV-head expansion kernels launched in every layer
    gqa_expand_kernels: int = 0  # KV-head expansion kernels launched only under GQA
    kv_cat: bool = False  # the cache grows by torch.cat: each step copies the whole cache
    # ggml graph on llama.cpp's CUDA backend (see `ggml_matmul`)
    norm_mul: bool = False  # rms_norm, then a separate mul by the weight
    gemm_casts: bool = False  # f32 -> fp16 input and fp16 -> f32 output around a cuBLAS GEMM
    act_quant: bool = False  # quantized GGUF matmuls first quantize activations to q8_1
    mmq_max_batch: int = 0  # more tokens: GGUF weights dequantized to fp16 + cuBLAS (0: never)
    f16_gemv: bool = False  # 16-bit weights at one token: one dequantize_mul_mat_vec kernel

    @classmethod
    def of(cls, profile: RuntimeProfile | None) -> EagerStyle:
        """The style of `profile`'s knobs (memoized: profiles are frozen)."""
        return _style_of(profile)

    @classmethod
    def _build(cls, profile: RuntimeProfile | None) -> EagerStyle:
        def k(name: str) -> float:
            return knob(profile, name)

        return cls(k("hf_decomposition") >= 0.5, k("split_qkv") >= 0.5,
                   k("split_gate_up") >= 0.5, max(1, round(k("rope_kernels"))),
                   max(1, round(k("attention_kernels"))), max(0, round(k("kv_repeat_kernels"))),
                   max(0, round(k("gqa_expand_kernels"))), k("kv_cat") >= 0.5,
                   k("norm_weight_kernel") >= 0.5, k("gemm_casts") >= 0.5,
                   k("act_quant_kernel") >= 0.5, max(0, round(k("mmq_max_batch"))),
                   k("f16_gemv") >= 0.5)

    @property
    def ggml(self) -> bool:
        return self.gemm_casts or self.act_quant or self.mmq_max_batch > 0 or self.f16_gemv


PLAIN = EagerStyle()


@functools.lru_cache(maxsize=256)
def _style_of(profile: RuntimeProfile | None) -> EagerStyle:
    return EagerStyle._build(profile)


def _kv_cat_eager(op: Op, cache: AttentionShape) -> list[Kernel]:
    """`torch.cat((past, new), dim=2)` for K and V: each reads the past cache and the new
    tokens and writes the whole grown cache (a fresh tensor every step)."""
    half = max(1, _numel(op) // 2)
    full = cache.batch * cache.kv_heads * cache.kv_len * cache.head_dim
    past = max(0, full - half)
    kvw = op.bytes.kv_write / 2.0
    return [_vec(f"{t}_cache_cat", full, cache.kv_dtype, inputs=past / full, outputs=1.0,
                 flops=0.0, kv_write=kvw, kind=OpKind.KV_WRITE) for t in ("k", "v")]


def _split_gemm(op: Op, parts: int, labels: tuple[str, ...]) -> list[Kernel]:
    """One projection GEMM written as `parts` GEMMs over equal slices of its output width
    (same weight bytes and FLOPs in all; slice widths are equal even under GQA)."""
    sh = op.shape
    assert isinstance(sh, MatmulShape)
    w = sh.weight_dtype
    n = max(1, sh.n // parts)
    return [Kernel(lab, O.matmul(sh.m, sh.k, n, op.dtype, weight_dtype=w if w is not None
                                 else None, name=lab)) for lab in labels]


def _attention_eager(op: Op, st: EagerStyle) -> list[Kernel]:
    """The attention call's kernels: KV-head expansion copies, the extra kernels of the
    attention code (mask conversion, the math path's scale/softmax/bmm: score-sized), then
    the attention itself priced as one fused kernel."""
    sh = op.shape
    ks: list[Kernel] = []
    expand = st.kv_repeat_kernels
    if isinstance(sh, AttentionShape) and sh.heads > sh.kv_heads:
        expand += st.gqa_expand_kernels
    if expand and isinstance(sh, AttentionShape):
        full = sh.batch * sh.heads * sh.kv_len * sh.head_dim  # the expanded K (or V)
        for t in ("k", "v"):  # per tensor: index bookkeeping kernels, then one copy
            n_t = expand // 2 + (expand % 2 if t == "k" else 0)
            for i in range(n_t - 1):
                ks.append(_vec(f"{t}_expand_index{i}", sh.heads, DType.FP32))
            ks.append(_vec(f"{t}_expand_copy", full, sh.kv_dtype,
                           inputs=sh.kv_heads / sh.heads, flops=0.0))
    if isinstance(sh, AttentionShape):
        scores = sh.batch * sh.heads * sh.q_len * sh.kv_len
        for i in range(st.attention_kernels - 1):
            ks.append(_vec(f"attn_aux{i}", scores, op.dtype))
    elif st.attention_kernels > 1:
        ks.extend(_vec(f"attn_aux{i}", _numel(op), op.dtype)
                  for i in range(st.attention_kernels - 1))
    ks.append(Kernel(op.name, op))
    return ks


Q8_1_BYTES = 36.0 / 32.0  # ggml block_q8_1: 32 int8 quants + fp16 scale and sum, per value
# ggml's unquantized weight types its CUDA backend multiplies (GGML_TYPE_F16 / F32; ggml
# gained BF16 in May 2024, after these builds)
GGML_DENSE_WEIGHTS = frozenset({DType.FP16, DType.FP32})


def _stream_gemv(gemm: Kernel, x_bytes: float) -> Kernel:
    """A mat-vec kernel of llama.cpp's CUDA backend (mul_mat_vec_q, dequantize_mul_mat_vec):
    a grid of row blocks that streams the weight once at its stored bytes, each row a dot
    product with the activations (`x_bytes` per activation value); priced as a stream kernel
    over those bytes, not as a tensor-core tile loop."""
    op = gemm.op
    sh = op.shape
    assert isinstance(sh, MatmulShape) and sh.weight_dtype is not None
    act = op.dtype
    return Kernel(gemm.label, O.vector(OpKind.MATMUL, max(1, sh.m * sh.n), act,
                                       inputs=x_bytes * sh.k / (act.bytes * sh.n),
                                       flops_per_elem=2.0 * sh.k,
                                       weight_bytes=sh.k * sh.n * sh.weight_dtype.bytes,
                                       name=gemm.label))


def ggml_matmul(gemm: Kernel, st: EagerStyle) -> list[Kernel]:
    """The kernels of one weight matmul in llama.cpp's CUDA backend (ggml_cuda_mul_mat in
    ggml-cuda.cu, CUDA_USE_TENSOR_CORES, Volta or newer):
    - GGUF weights, tokens <= `mmq_max_batch` (MMQ_MAX_BATCH_SIZE 32): quantize_row_q8_1
      of the f32 activations (`act_quant`), then mul_mat_vec_q (one token) or mul_mat_q:
      the weight streams at its real bits per weight (MMQ priced as MMVQ);
    - GGUF weights, more tokens: ggml_cuda_op_mul_mat_cublas dequantizes the weight to an
      fp16 copy (to_fp16_cuda), converts the activations to fp16, runs cublasGemmEx
      (CUBLAS_COMPUTE_16F) on the copy and converts the fp16 output to f32;
    - fp16 weights at one token with `f16_gemv` (build 77178eed, Mar 2024):
      dequantize_mul_mat_vec, one stream kernel; otherwise (build 32d9f7d9, Jan 2024, and
      every prompt) cuBLAS with the input and output casts (`gemm_casts`)."""
    op = gemm.op
    sh = op.shape
    assert isinstance(sh, MatmulShape)
    w = sh.weight_dtype
    act = op.dtype
    f16, f32 = DType.FP16, DType.FP32
    if w is not None and not w.weight_only and w not in GGML_DENSE_WEIGHTS:
        gguf = ", ".join(d.value for d in DType if d.weight_only)
        raise InputError(f"weights: {w.value} is not a weight type llama.cpp's CUDA backend "
                         f"runs (ggml has no {w.value} matmul kernels in these builds); use "
                         f"fp16, fp32 or a GGUF format ({gguf})")
    pre: list[Kernel] = []
    if w is not None and w.weight_only:
        if st.mmq_max_batch <= 0 or sh.m <= st.mmq_max_batch:
            if not st.act_quant:
                return [gemm]
            return [_vec(f"{gemm.label}_quantize_q8_1", sh.m * sh.k, act, flops=3.0,
                         outputs=Q8_1_BYTES / act.bytes), _stream_gemv(gemm, Q8_1_BYTES)]
        pre.append(_vec(f"{gemm.label}_dequantize_f16", sh.k * sh.n, f16, inputs=0.0,
                        weight_bytes=sh.k * sh.n * w.bytes, flops=2.0))
        gemm = Kernel(gemm.label, O.matmul(sh.m, sh.k, sh.n, act, weight_dtype=f16,
                                           name=gemm.label))
    elif st.f16_gemv and sh.m == 1 and w is not None:
        return [_stream_gemv(gemm, f32.bytes)]
    if not st.gemm_casts:
        return [*pre, gemm]
    return [*pre, _vec(f"{gemm.label}_to_fp16", sh.m * sh.k, f16,
                       inputs=f32.bytes / f16.bytes, flops=0.0),
            gemm, _vec(f"{gemm.label}_to_fp32", sh.m * sh.n, f32,
                       inputs=f16.bytes / f32.bytes, flops=0.0)]


def eager_kernels(op: Op, r: Role, hf: bool = False, style: EagerStyle | None = None,
                  cache: AttentionShape | None = None) -> list[Kernel]:
    """The kernels eager PyTorch launches for `op` (also `graph`, captured): plain PyTorch,
    or the framework `style` (Hugging Face op-by-op RMSNorm when `hf`); `cache`: the
    attention that reads the KV cache a KV write appends to (for a growing `torch.cat`
    cache)."""
    st = style if style is not None else (EagerStyle(hf_norm=True) if hf else PLAIN)
    if r is Role.KV_WRITE and st.kv_cat and cache is not None:
        return _kv_cat_eager(op, cache)
    if r is Role.RMS_NORM:
        if st.hf_norm:
            return _rms_norm_eager(op)
        return _norm_mul(op) if st.norm_mul else [Kernel(op.name, op)]
    if r is Role.ROPE:
        half = max(1, _numel(op) // 2)
        if st.rope_kernels < 10:  # a complex-multiply RoPE: a few whole-tensor kernels
            return [_vec(f"rope{i}", half, op.dtype) for i in range(st.rope_kernels)]
        ks = _rope_eager(op)
        # the framework's own RoPE glue (fp32 casts, position ids, table gathers)
        ks.extend(_vec(f"rope_aux{i}", half, op.dtype)
                  for i in range(st.rope_kernels - len(ks)))
        return ks
    if r is Role.ATTENTION and (st.attention_kernels > 1 or st.kv_repeat_kernels
                                or st.gqa_expand_kernels):
        return _attention_eager(op, st)
    if r is Role.MATMUL and isinstance(op.shape, MatmulShape) and op.shape.groups == 1:
        gemms = [Kernel(op.name, op)]
        if st.split_qkv and op.name.endswith("qkv_proj"):
            gemms = _split_gemm(op, 3, ("q_proj", "k_proj", "v_proj"))
        elif st.split_gate_up and op.name.endswith("gate_up_proj"):
            gemms = _split_gemm(op, 2, ("gate_proj", "up_proj"))
        if st.ggml and op.shape.weight_dtype is not None:
            return [k for g in gemms for k in ggml_matmul(g, st)]
        return gemms
    if r is Role.KV_WRITE:
        return _kv_write_eager(op)
    if r is Role.ACTIVATION:
        return _activation_eager(op)
    if r is Role.EXPERTS:
        return _experts_eager(op)
    if r is Role.ROUTER_TOPK:
        return _router_topk_eager(op)
    return [Kernel(op.name, op)]


# ------------------------------------------------------------------------------------------
# Fusion (fused runtime, and bias-in-epilogue everywhere)
# ------------------------------------------------------------------------------------------

# (first role, second role) pairs a production engine runs as one kernel, with the engine
# knob that turns the fusion on.
_FUSED_PAIRS: dict[tuple[Role, Role], tuple[str, str]] = {
    (Role.RESIDUAL, Role.RMS_NORM): ("add_rmsnorm", "fuse_add_norm"),
    (Role.RESIDUAL, Role.LAYER_NORM): ("add_layernorm", "fuse_add_norm"),
    (Role.ROPE, Role.KV_WRITE): ("rope_kv_write", "fuse_rope_kv"),
}


def pair_label(ra: Role, rb: Role, runtime: Runtime, profile: RuntimeProfile | None) -> str | None:
    """The fused kernel's label when the engine fuses roles `ra` then `rb`, else None."""
    if runtime is not Runtime.FUSED:
        return None
    hit = _FUSED_PAIRS.get((ra, rb))
    if hit is None:
        return None
    # GPU engines say which pairs they fuse; a compiled kind's compiler fuses them all
    if profile is None or profile.kind is not HardwareKind.GPU:
        return hit[0]
    return hit[0] if knob(profile, hit[1]) >= 0.5 else None


def fusion_label(a: Op, ra: Role, b: Op, rb: Role, runtime: Runtime,
                 profile: RuntimeProfile | None = None) -> str | None:
    """Label of the kernel that fuses `a` then `b` under `runtime`, or None."""
    if a.count != b.count or a.block != b.block:
        return None
    if rb is Role.BIAS and ra in (Role.MATMUL, Role.EXPERTS):
        if profile is not None and EagerStyle.of(profile).ggml:
            return None  # ggml adds the bias in its own ggml_add node
        return "gemm_bias"  # cuBLAS(Lt) epilogue / addmm, in every other runtime
    label = pair_label(ra, rb, runtime, profile)
    if label is None:
        return None
    if not (isinstance(a.shape, VectorShape) and isinstance(b.shape, VectorShape)):
        return None
    return label


def fuse_vector(a: Op, b: Op, label: str) -> Op:
    """One kernel doing `a` then `b`: it reads every input of both except the tensor `a`
    hands to `b`, writes every output of both (the residual stream stays live), and adds
    weight and KV bytes and FLOPs."""
    sa, sb = a.shape, b.shape
    assert isinstance(sa, VectorShape) and isinstance(sb, VectorShape)
    n = max(sa.numel, sb.numel)
    per = n * a.dtype.bytes
    inputs = max(0.0, (a.bytes.act_in + b.bytes.act_in) / per - 1.0)
    outputs = (a.bytes.act_out + b.bytes.act_out) / per
    flops = (a.flops + b.flops) / n
    return O.vector(b.kind, n, a.dtype, inputs=inputs, outputs=outputs, flops_per_elem=flops,
                    weight_bytes=a.bytes.weight + b.bytes.weight,
                    kv_write_bytes=a.bytes.kv_write + b.bytes.kv_write, name=label)


def fuse_bias(gemm: Op, bias: Op) -> Op:
    """A GEMM with its bias added in the epilogue: the GEMM plus the bias vector read."""
    sh = gemm.shape
    assert isinstance(sh, MatmulShape)
    w = sh.weight_dtype
    extra = bias.bytes.weight
    fused = O.matmul(sh.m, sh.k, sh.n, gemm.dtype, weight_dtype=w if w is not None else None,
                     groups=sh.groups, imbalance=sh.imbalance, name=gemm.name,
                     kind=gemm.kind)
    # the bias vector is one more weight read; FLOPs of the add ride on the epilogue
    return O.Op(fused.name, fused.kind, fused.dtype, fused.flops + bias.flops,
                O.TensorBytes(fused.bytes.weight + extra, fused.bytes.act_in,
                              fused.bytes.act_out, 0.0, 0.0), fused.shape, gemm.count,
                gemm.block)
