"""GPU software stacks as runtime profiles (issue 12): per-step CPU overhead, the plain-PyTorch
and Hugging Face eager decompositions counted by hand, predict_op semantics, GQA-aware
attention, validation per kind, and MoE routing (imbalance vs a Monte-Carlo of top-k routing,
grouped-GEMM efficiency under more tokens per expert)."""

from __future__ import annotations

import dataclasses
import itertools
import math

import numpy as np
import pytest

from infersim.api import make_scenario, predict_op
from infersim.cli import main
from infersim.foundation.errors import InputError
from infersim.hwmodels import CostContext, cost_model, load_hardware
from infersim.hwmodels.models.gpu import engines as E
from infersim.hwmodels.models.gpu.figures import (
    L2_REUSE_FRACTION,
    figures,
    matrix_peak,
    mma_efficiency,
)
from infersim.hwmodels.models.gpu.gemm import gemm_search
from infersim.hwmodels.spec import GpuParams
from infersim.mapper import map_trace
from infersim.workloads import build_trace, ops
from infersim.workloads.builder import expected_max_load
from infersim.workloads.dtypes import DType

LAYERS = 2
TINY = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 256,
        "intermediate_size": 512, "num_hidden_layers": LAYERS, "num_attention_heads": 8,
        "num_key_value_heads": 2, "vocab_size": 1024, "max_position_embeddings": 4096,
        "rms_norm_eps": 1e-5, "torch_dtype": "bfloat16"}


def _sched(runtime: str, batch: int = 1, hw: str = "h100-sxm", model: object = None):
    trace = build_trace(model or TINY, make_scenario("decode", batch, context=128))
    return map_trace(trace, load_hardware(hw), runtime)


def _kernels(s) -> int:
    return sum(m.kernels * m.op.count for m in s.ops)


@pytest.mark.parametrize("name,fixed_us,per_seq_us", [
    ("vllm-v0", 2000.0, 144.6), ("vllm-v1", 150.0, 20.0), ("trtllm", 409.1, 0.0),
    ("sglang", None, 0.0), ("torch-compile", None, 0.0), ("graph", None, 0.0)])
def test_each_profile_adds_its_per_step_cpu_time(name: str, fixed_us: float | None,
                                                  per_seq_us: float) -> None:
    # graph-replayed steps have no host gaps: latency = Σ device + the profile's step time,
    # fixed (the chip's step sync when the profile does not set it) + per sequence
    hw = load_hardware("h100-sxm")
    p = hw.chip.params
    assert isinstance(p, GpuParams)
    for batch in (1, 8):
        s = _sched(name, batch)
        fixed = p.step_sync_s if fixed_us is None else fixed_us * 1e-6
        want = fixed + per_seq_us * 1e-6 * batch
        assert s.step_overhead_s == pytest.approx(want, rel=1e-12)
        assert s.latency_s == pytest.approx(s.device_s + want, rel=1e-9)


@pytest.mark.parametrize("ranks,rounds", [(1, 0), (2, 1), (3, 2), (4, 2), (5, 3), (8, 3),
                                          (9, 4), (16, 4), (17, 5)])
def test_broadcast_rounds_are_the_binomial_tree_depth(ranks: int, rounds: int) -> None:
    # a binomial-tree broadcast doubles the ranks holding the message each round:
    # 1 -> 2 -> 4 -> 8 -> 16 -> 32, so n ranks need the smallest r with 2^r >= n
    assert E.bcast_rounds(ranks) == rounds
    assert 2 ** rounds >= ranks and (rounds == 0 or 2 ** (rounds - 1) < ranks)


def test_trtllm_step_pays_one_broadcast_round_per_doubling_of_its_tp_ranks() -> None:
    # TensorRT-LLM's C++ executor: every iteration starts with the TP leader's MPI broadcast
    # of its new requests, so a step of TP n pays step_bcast_round_s x ceil(log2 n) beside the
    # fixed CPU time; TP1 pays none; the knob at 0 adds nothing; the device time is the same
    hw = load_hardware("dgx-h100")
    prof = E.lookup("trtllm")
    assert prof is not None
    fixed, rnd = prof.value("step_overhead_s", -1.0), prof.value("step_bcast_round_s", 0.0)
    assert fixed > 0.0 and rnd > 0.0
    off = prof.with_values(step_bcast_round_s=0.0)
    steps = []
    for tp, rounds in ((1, 0), (2, 1), (4, 2), (8, 3)):
        trace = build_trace(TINY, make_scenario("decode", 8, context=128, tp=tp))
        s, s0 = map_trace(trace, hw, prof), map_trace(trace, hw, off)
        assert s.step_overhead_s == pytest.approx(fixed + rounds * rnd, rel=1e-12)
        assert s0.step_overhead_s == pytest.approx(fixed, rel=1e-12)
        assert s.latency_s - s0.latency_s == pytest.approx(rounds * rnd, rel=1e-9)
        steps.append(s.latency_s - s.device_s)
    assert steps == sorted(steps) and steps[0] < steps[-1]  # more ranks, longer host step
    # a larger round cost lengthens the TP step, not the TP1 one
    more = prof.with_values(step_bcast_round_s=2 * rnd)
    for tp in (1, 4):
        trace = build_trace(TINY, make_scenario("decode", 8, context=128, tp=tp))
        gap = map_trace(trace, hw, more).latency_s - map_trace(trace, hw, prof).latency_s
        assert gap == pytest.approx(rnd * E.bcast_rounds(tp), rel=1e-9, abs=1e-15)


def test_multi_step_scheduling_pays_the_cpu_time_once_per_pass_of_decode_steps() -> None:
    # vLLM --num-scheduler-steps 10: of 10 decode steps one pays V0's CPU time (2 ms +
    # 144.6 us/seq, engines._VLLM_V0_SEQ_S), the other nine only the graph launch + token
    # copy (step_sync_us)
    hw = load_hardware("h100-sxm")
    p = hw.chip.params
    assert isinstance(p, GpuParams)
    ms = E.lookup("vllm-v0").with_values(scheduler_steps=10.0)
    batch = 8
    cpu = 2000e-6 + 144.6e-6 * batch
    dec = map_trace(build_trace(TINY, make_scenario("decode", batch, context=128)), hw, ms)
    assert dec.step_overhead_s == pytest.approx((cpu + 9 * p.step_sync_s) / 10, rel=1e-12)
    one = _sched("vllm-v0", batch)  # the same kernels, every step scheduled
    assert one.device_s == pytest.approx(dec.device_s, rel=1e-12)
    assert one.latency_s - dec.latency_s == pytest.approx(cpu - dec.step_overhead_s, rel=1e-9)
    # a prefill step is scheduled on its own: the whole CPU time
    pre = map_trace(build_trace(TINY, make_scenario("prefill", 1, prompt=64)), hw, ms)
    assert pre.step_overhead_s == pytest.approx(2000e-6 + 144.6e-6, rel=1e-12)


def test_vllm_v0_step_is_slower_than_v1_by_the_cpu_difference() -> None:
    a, b = _sched("vllm-v0", 4), _sched("vllm-v1", 4)
    # same fusions except RoPE + KV write (one more kernel in v0)
    cpu = (2000e-6 + 4 * 144.6e-6) - (150e-6 + 4 * 20e-6)
    assert a.latency_s - b.latency_s >= cpu
    assert a.latency_s - b.latency_s == pytest.approx(cpu + a.device_s - b.device_s, rel=1e-9)


def test_eager_launches_the_plain_pytorch_kernels_counted_by_hand() -> None:
    # plain PyTorch Llama layer: rms_norm 1, qkv 1, rope 10 (5 per tensor), kv copies 2,
    # sdpa 1, o_proj 1, add 1 | rms_norm 1, gate_up 1, silu 1, mul 1, down 1, add 1 = 23;
    # plus embedding 1, final norm 1, lm_head 1
    assert _kernels(_sched("eager")) == 23 * LAYERS + 3
    assert _kernels(_sched("graph")) == 23 * LAYERS + 3
    # Hugging Face transformers Llama: LlamaRMSNorm op by op 8 (x2), q/k/v 3, RoPE 12,
    # cat 2, eager attention 6, o_proj 1, add 1, gate/up 2, act 1, mul 1, down 1, add 1 = 47;
    # the final norm is 8 kernels too
    assert _kernels(_sched("hf-eager")) == 47 * LAYERS + 3 + 7


def test_fused_engines_fuse_what_their_profile_says() -> None:
    # trtllm: residual+norm fused (one kernel for each pair incl. the wrap into the next
    # layer's input norm), RoPE+KV write fused: per layer norm/add pairs 2, qkv, rope_kv,
    # attention, o_proj, gate_up, act, down = 9; the first input norm and the final
    # residual+norm pair stay at the ends
    n_trt = _kernels(_sched("trtllm"))
    n_v0 = _kernels(_sched("vllm-v0"))  # RoPE and KV write separate: one more per layer
    assert n_v0 - n_trt == LAYERS
    assert _kernels(_sched("fused")) == n_trt  # `fused` is an alias of trtllm
    s = _sched("fused")
    assert s.latency_s == _sched("trtllm").latency_s


def test_eager_host_dispatch_dominates_a_tiny_model() -> None:
    s = _sched("eager")
    p = load_hardware("h100-sxm").chip.params
    assert isinstance(p, GpuParams)
    n = _kernels(s)
    # host-bound: the last kernel starts after n dispatches, then the step sync
    assert s.latency_s >= n * p.host_launch_s + p.step_sync_s
    assert s.latency_s <= n * p.host_launch_s + p.step_sync_s + s.device_s


def test_predict_op_eager_is_host_dispatch_plus_device_time() -> None:
    hw = load_hardware("a100-sxm-80gb")
    p = hw.chip.params
    assert isinstance(p, GpuParams)
    mm = ops.matmul(m=1, k=4096, n=6144, dtype="bf16")
    dev = predict_op(mm, hw, "graph")
    assert dev == pytest.approx(cost_model(hw).op_cost(mm, hw, CostContext()).time_s)
    assert predict_op(mm, hw) == dev  # default: graph (device time)
    # one kernel from an idle GPU: it starts when its host dispatch ends
    assert predict_op(mm, hw, "eager") == pytest.approx(p.host_launch_s + dev, rel=1e-12)


def test_predict_op_hf_eager_norm_runs_the_recurrence_over_its_eight_kernels() -> None:
    hw = load_hardware("h100-sxm")
    p = hw.chip.params
    assert isinstance(p, GpuParams)
    x = ops.vector("norm", 4096, "bf16", flops_per_elem=4.0, weight_bytes=4096 * 2,
                   name="input_norm")
    model = cost_model(hw)
    from infersim.mapper.kernels import Role, eager_kernels

    ks = eager_kernels(x, Role.RMS_NORM, hf=True)
    assert len(ks) == 8
    ctx = CostContext()
    end = 0.0
    for i, k in enumerate(ks):  # brute force: start_i = max(end_{i-1}, (i+1)·h)
        end = max(end, (i + 1) * p.host_launch_s) + model.op_cost(k.op, hw, ctx).time_s
    assert predict_op(x, hw, "hf-eager") == pytest.approx(end, rel=1e-12)
    # plain eager: F.rms_norm is one kernel
    one = model.op_cost(x, hw, ctx).time_s
    assert predict_op(x, hw, "eager") == pytest.approx(p.host_launch_s + one, rel=1e-12)


def test_gqa_unaware_attention_reads_kv_once_per_query_head() -> None:
    hw = load_hardware("h100-sxm")
    m = cost_model(hw)
    att = ops.attention(batch=8, heads=32, kv_heads=8, head_dim=128, q_len=1, kv_len=32768,
                        causal=False, dtype="bf16")
    v1 = m.op_cost(att, hw, CostContext(profile=E.lookup("trtllm")))
    # gpt-fast (torch-compile) expands the KV heads with repeat_interleave before SDPA
    v0 = m.op_cost(att, hw, CostContext(profile=E.lookup("torch-compile")))
    # long-context decode is KV-bandwidth bound: 32/8 = 4x the KV bytes -> ~4x the time
    assert v0.memory_s / v1.memory_s == pytest.approx(4.0, rel=0.05)
    assert v0.time_s / v1.time_s == pytest.approx(4.0, rel=0.1)
    # vLLM 0.5-0.6 decodes with FlashAttention-2's paged kernel: GQA-aware, each KV head read
    # once (scheduled as that kernel schedules itself, `fa2_decode`: its own waves, not the
    # balanced split of TensorRT-LLM's, so the same bytes and nearly the same time)
    fa2 = m.op_cost(att, hw, CostContext(profile=E.lookup("vllm-v0")))
    assert dict(fa2.detail)["kernel"] == "fa2_decode"
    assert fa2.memory_s == pytest.approx(v1.memory_s, rel=0.02)
    assert fa2.time_s == pytest.approx(v1.time_s, rel=0.05)


def test_gpu_engine_names_are_gpu_only(capsys: pytest.CaptureFixture[str]) -> None:
    lpu = load_hardware("groq-lpu")
    with pytest.raises(InputError, match="vllm-v1"):
        cost_model(lpu).resolve_runtime("vllm-v1", lpu.name)
    rc = main(["simulate", "--model", "llama-3.1-8b", "--hw", "groq-lpu", "--runtime",
               "vllm-v1"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "vllm-v1" in err[0] and "groq" in err[0]
    h100 = load_hardware("h100-sxm")
    with pytest.raises(InputError, match="trtllm"):
        cost_model(h100).resolve_runtime("tensorrt", h100.name)


def test_registry_rejects_unknown_knobs() -> None:
    from infersim.hwmodels.cost import Runtime, RuntimeProfile
    from infersim.hwmodels.spec import HardwareKind

    with pytest.raises(ValueError, match="no_such_knob"):
        E.register(RuntimeProfile("x", HardwareKind.GPU, (("no_such_knob", 1.0),), "",
                                  Runtime.FUSED))


# -- MoE ---------------------------------------------------------------------------------


def _monte_carlo_max(tokens: int, experts: int, k: int, reps: int, seed: int) -> float:
    rng = np.random.default_rng(seed)
    out = np.empty(reps)
    for r in range(reps):
        # each token picks k distinct experts uniformly: the k smallest of E uniforms
        picks = np.argpartition(rng.random((tokens, experts)), k - 1, axis=1)[:, :k]
        out[r] = np.bincount(picks.ravel(), minlength=experts).max()
    return float(out.mean())


@pytest.mark.parametrize("tokens,experts,k", [
    (1, 8, 2), (4, 8, 2), (16, 8, 2), (256, 8, 2), (64, 64, 6), (512, 64, 6), (32, 128, 8),
    (2048, 256, 8)])
def test_expected_max_load_matches_monte_carlo_routing(tokens: int, experts: int,
                                                       k: int) -> None:
    mc = _monte_carlo_max(tokens, experts, k, reps=600, seed=tokens + experts)
    got = expected_max_load(tokens, experts, k)
    mean = tokens * k / experts
    assert got >= mean  # a maximum is never below the mean
    assert got == pytest.approx(mc, rel=0.04 if mean >= 4 else 0.12)


def test_routing_imbalance_is_derived_by_default_and_shrinks_with_tokens() -> None:
    def imb(batch: int) -> float:
        t = build_trace("mixtral-8x7b", make_scenario("decode", batch, context=512))
        return next(o.shape.imbalance for o in t.ops if o.kind.value == "moe_experts")

    i64, i1024 = imb(64), imb(1024)
    # 64 tokens, top-2 of 8: mean 16 per expert, busiest ~ expected_max_load
    assert i64 == pytest.approx(expected_max_load(64, 8, 2) / 16, rel=1e-9)
    assert 1.0 < i1024 < i64  # the law of large numbers evens the load out
    t = build_trace("mixtral-8x7b", make_scenario("decode", 64, context=512,
                                                   moe_imbalance=1.0))
    assert {o.shape.imbalance for o in t.ops if o.kind.value == "moe_experts"} == {1.0}


@pytest.mark.parametrize("hw", ["h100-sxm", "a100-sxm-80gb"])
def test_more_tokens_per_expert_never_lowers_grouped_gemm_efficiency(hw: str) -> None:
    # doubling the rows per expert never wastes more of the MMA tile (ceil(2m/t) <= 2
    # ceil(m/t)) nor adds waves per FLOP. Checked while an expert's token block fits in the
    # L2 share the GEMM model re-uses (beyond it the model re-reads the token block once per
    # wave column, as fitted to Vidur's large GEMMs; not a tile effect).
    c = figures(load_hardware(hw))
    peak = matrix_peak(c, DType.BF16)
    eff = mma_efficiency(c, DType.BF16)
    for groups, k, n in ((8, 4096, 28672), (64, 2048, 2816), (2, 7168, 4096)):
        prev = 0.0
        m = 1
        while m * k * 2 <= c.l2_bytes * L2_REUSE_FRACTION:
            ch = gemm_search(c, m, k, n, groups, 2, 2, 2, peak, 1.0, eff)
            util = 2.0 * m * k * n * groups / (ch.time_s * peak)
            assert util >= prev * (1 - 1e-9), (groups, k, n, m)
            assert util <= 1.0
            prev = util
            m *= 2


def test_engine_without_fp8_kernels_runs_fp8_gemms_at_the_16_bit_rate() -> None:
    from infersim.hwmodels.cost import Runtime, RuntimeProfile
    from infersim.hwmodels.spec import HardwareKind

    hw = load_hardware("h100-sxm")
    p = hw.chip.params
    assert isinstance(p, GpuParams)
    no_fp8 = RuntimeProfile("no-fp8", HardwareKind.GPU, (("fp8_gemm", 0.0),), "", Runtime.FUSED)
    big = ops.matmul(m=8192, k=8192, n=8192, dtype="fp8")
    m = cost_model(hw)
    t8 = m.op_cost(big, hw, CostContext(profile=E.lookup("trtllm"))).time_s
    t16 = m.op_cost(big, hw, CostContext(profile=no_fp8)).time_s
    # compute-bound: time ∝ 1 / (peak × tile-loop efficiency) of the pipe that runs it
    want = (hw.chip.peak_flops(DType.FP8) * p.mma_efficiency_fp8
            / (hw.chip.peak_flops(DType.BF16) * p.mma_efficiency))
    assert t16 / t8 == pytest.approx(want, rel=0.1)


def test_engine_without_cuda_graphs_pays_a_host_dispatch_per_kernel() -> None:
    from infersim.hwmodels.cost import Runtime, RuntimeProfile
    from infersim.hwmodels.spec import HardwareKind

    hw = load_hardware("h100-sxm")
    p = hw.chip.params
    assert isinstance(p, GpuParams)
    nog = RuntimeProfile("no-graphs", HardwareKind.GPU, (("cuda_graphs", 0.0),
                                                          ("fuse_add_norm", 1.0)), "",
                         Runtime.FUSED)
    s = map_trace(build_trace(TINY, make_scenario("decode", 1, context=128)), hw, nog)
    assert s.host_s == pytest.approx(_kernels(s) * p.host_launch_s, rel=1e-9)
    assert s.latency_s >= s.host_s + p.step_sync_s


def test_eager_prefill_pays_the_host_dispatch_only_where_it_exceeds_the_kernel() -> None:
    # vLLM V0 and SGLang capture CUDA graphs for decode only (`prefill_graphs` 0): a prefill
    # step runs the host/device recurrence with the engine's host time per kernel (its Python
    # layer code, `host_node_s`; gpu.host_launch_us without one); decode does not
    hw = load_hardware("h100-sxm")
    p = hw.chip.params
    assert isinstance(p, GpuParams)
    model = cost_model(hw)
    prof = E.lookup("vllm-v0")
    assert prof is not None
    assert model.step_overheads(hw, prof.base, prof, decode=True).host_per_kernel_s == 0.0
    assert model.step_overheads(hw, prof.base, prof).host_per_kernel_s == E.knob(
        prof, "host_node_s") > p.host_launch_s
    plain = prof.with_values(host_node_s=-1.0)
    assert model.step_overheads(hw, prof.base, plain).host_per_kernel_s == p.host_launch_s
    graphed = prof.with_values(prefill_graphs=1.0)
    assert model.step_overheads(hw, prof.base, graphed).host_per_kernel_s == 0.0
    for prompt in (8, 2048):
        trace = build_trace(TINY, make_scenario("prefill", 1, prompt=prompt))
        eager, replay = map_trace(trace, hw, prof), map_trace(trace, hw, graphed)
        assert eager.latency_s >= replay.latency_s
        # a device-bound step (long prompt) hides the dispatch under its kernels, a short one
        # is host-bound: at least one dispatch per kernel
        if prompt == 8:
            assert eager.latency_s - eager.step_overhead_s >= _kernels(eager) * p.host_launch_s


def test_decode_batches_above_the_captured_graphs_run_eagerly() -> None:
    # vLLM V0 captures decode CUDA graphs for batches 1, 2, 4, 8, ..., 256 only
    # (graph_max_batch 256): a decode step of 256 sequences replays a graph, one of 257 runs
    # the model from Python, each kernel paying the engine's host time (host_node_s), and is
    # never faster; an engine without a cap graphs any batch
    hw = load_hardware("h100-sxm")
    model = cost_model(hw)
    prof = E.lookup("vllm-v0")
    assert prof is not None and E.knob(prof, "graph_max_batch") == 256.0
    for name in ("sglang", "sglang-api", "sglang-v03-api"):  # SGLang 0.3-0.4: up to 160
        sg = E.lookup(name)
        assert sg is not None and E.knob(sg, "graph_max_batch") == 160.0, name
    for name in ("trtllm", "vllm-v1", "graph"):  # no cap modelled
        other = E.lookup(name)
        assert other is not None and E.knob(other, "graph_max_batch") == 0.0, name
    node = E.knob(prof, "host_node_s")
    assert model.decode_graph_cap(prof) == 256 and model.decode_graph_cap(None) == 0
    assert model.step_overheads(hw, prof.base, prof, 256, decode=True).host_per_kernel_s == 0.0
    assert model.step_overheads(hw, prof.base, prof, 257, decode=True).host_per_kernel_s == node
    uncapped = prof.with_values(graph_max_batch=0.0)
    assert model.step_overheads(hw, prof.base, uncapped, 4096,
                                decode=True).host_per_kernel_s == 0.0
    sc = make_scenario("decode", 300, context=128)
    trace = build_trace(TINY, sc)
    eager, replay = map_trace(trace, hw, prof), map_trace(trace, hw, uncapped)
    assert eager.host_s == pytest.approx(_kernels(eager) * node, rel=1e-9)
    assert replay.host_s == 0.0
    assert eager.latency_s >= eager.host_s > 0.0
    assert eager.latency_s > replay.latency_s


def test_python_engine_host_time_per_kernel_moves_short_prompts_only() -> None:
    # host_node_s of vLLM V0 / SGLang (their Python layer code, eager prompts): raising it
    # lengthens a short prompt's step, which the host launches set (by at least the extra
    # host time of its kernels, counted by hand below), and leaves a decode step (a replayed
    # CUDA graph) unchanged; a long prompt of a real model (Llama-3.1-8B, 4096 tokens) has
    # kernels that outlast the dispatch, so it does not move
    from infersim.workloads import load_model

    hw = load_hardware("h100-sxm")
    prof = E.lookup("vllm-v0")
    assert prof is not None
    more = prof.with_values(host_node_s=2.0 * E.knob(prof, "host_node_s"))

    def lat(p, phase, model=TINY, **kw):  # type: ignore[no-untyped-def]
        return map_trace(build_trace(model, make_scenario(phase, 1, **kw)), hw, p)

    short, short2 = lat(prof, "prefill", prompt=8), lat(more, "prefill", prompt=8)
    extra = _kernels(short) * E.knob(prof, "host_node_s")  # one more host time per kernel
    assert short2.latency_s - short.latency_s >= 0.95 * extra
    dec, dec2 = lat(prof, "decode", context=128), lat(more, "decode", context=128)
    assert dec2.latency_s == dec.latency_s
    big = load_model("llama-3.1-8b")
    long_ = lat(prof, "prefill", model=big, prompt=4096)
    long2 = lat(more, "prefill", model=big, prompt=4096)
    assert long2.latency_s == pytest.approx(long_.latency_s, rel=1e-3)


def test_graphed_prefill_graphs_only_the_prompts_of_decode_only_graph_engines() -> None:
    from infersim.hwmodels.cost import Runtime

    m = cost_model(load_hardware("h100-sxm"))
    # vLLM V0 and SGLang replay graphs for decode only: their prompts get graphed
    for name in ("vllm-v0", "sglang", "vllm-v0-api"):
        prof = E.lookup(name)
        assert prof is not None and E.knob(prof, "prefill_graphs") == 0.0
        g = m.graphed_prefill(prof)
        assert E.knob(g, "prefill_graphs") == 1.0, name
        assert {k: v for k, v in g.values if k != "prefill_graphs"} == \
            {k: v for k, v in prof.values if k != "prefill_graphs"}, name
    # a C++ runtime already graphs its prompts; plain eager PyTorch graphs nothing
    trt = E.lookup("trtllm")
    assert trt is not None and m.graphed_prefill(trt) is trt
    assert m.graphed_prefill(Runtime.EAGER) is Runtime.EAGER
    # a kind without host launches keeps any runtime
    lpu = cost_model(load_hardware("groq-lpu"))
    assert lpu.graphed_prefill(Runtime.FUSED) is Runtime.FUSED


def test_boost_factor_hand_values() -> None:
    from infersim.hwmodels.models.gpu.figures import boost_factor

    # 1 + (b - 1)(tau/t)(1 - exp(-t/tau)): b at t -> 0, 1 + 0.2(1 - 1/e) at t = tau,
    # ~1 + 0.2 tau/t for t >> tau; ratio 1 or tau 0 switch it off
    assert boost_factor(0.0, 1.2, 1e-4) == 1.2
    assert boost_factor(1e-4, 1.2, 1e-4) == pytest.approx(1.0 + 0.2 * (1.0 - math.exp(-1.0)))
    assert boost_factor(1e-1, 1.2, 1e-4) == pytest.approx(1.0 + 0.2 * 1e-3, rel=1e-9)
    assert boost_factor(1e-9, 1.2, 1e-4) == pytest.approx(1.2, rel=1e-5)
    assert boost_factor(1e-3, 1.0, 1e-4) == 1.0
    assert boost_factor(1e-3, 1.3, 0.0) == 1.0


def test_from_idle_gemm_runs_its_tensor_core_work_at_the_boosted_clock_by_hand() -> None:
    """A compute-bound GEMM costed from idle runs its tile loop at mma_efficiency x
    boost_factor(t) of its sustained tensor-core time t; a step's GEMM (default context)
    and a memory-bound vector op are unchanged; a spec without a boost is unchanged."""
    from infersim.hwmodels.models.gpu.figures import boost_factor
    from infersim.workloads import ops as O
    from infersim.workloads.ops import OpKind

    def with_gpu(hw, **values):  # type: ignore[no-untyped-def]
        return dataclasses.replace(hw, chip=dataclasses.replace(
            hw.chip, params=dataclasses.replace(hw.chip.params, **values)))

    hw = load_hardware("h100-sxm")
    p = hw.chip.params
    model = cost_model(hw)
    for m in (4096, 64):
        op = O.matmul(m, 8192, 8192, "bf16")
        busy = model.op_cost(op, hw, CostContext())
        idle = model.op_cost(op, hw, CostContext(from_idle=True))
        g = boost_factor(busy.compute_s, p.clock_boost, p.boost_tau_s)
        assert 1.0 < g < p.clock_boost
        # the same GEMM on a spec whose sustained efficiency is raised by g, by hand
        by_hand = model.op_cost(op, with_gpu(hw, mma_efficiency=p.mma_efficiency * g),
                                CostContext())
        assert idle.compute_s == pytest.approx(by_hand.compute_s, rel=1e-12)
        assert idle.time_s == pytest.approx(by_hand.time_s, rel=1e-12)
        assert idle.compute_s < busy.compute_s
        if m == 4096:  # compute-bound: faster; 64 tokens stream the weights: unchanged
            assert idle.time_s < busy.time_s
        else:
            assert busy.bound.value == "memory" and idle.time_s == busy.time_s
    vec = O.vector(OpKind.ELEMENTWISE, 1 << 24, "bf16")
    assert (model.op_cost(vec, hw, CostContext(from_idle=True)).time_s
            == model.op_cost(vec, hw, CostContext()).time_s)
    flat = with_gpu(hw, clock_boost=1.0)
    op = O.matmul(4096, 8192, 8192, "bf16")
    assert (model.op_cost(op, flat, CostContext(from_idle=True)).time_s
            == model.op_cost(op, flat, CostContext()).time_s)


@pytest.mark.parametrize("field,values", [("gpu.clock_boost", (1.0, 1.1, 1.25, 1.4)),
                                          ("gpu.boost_tau_us", (0.0, 100.0, 347.0, 2000.0))])
def test_boost_knobs_speed_up_an_op_from_idle_and_leave_a_step_alone(field, values) -> None:
    """More boost, or a boost that lasts longer, never slows an op launched alone from idle
    (`predict_op`) and speeds up a compute-bound GEMM; a model step runs at the sustained
    clock, so neither knob moves it."""
    from infersim.workloads import ops as O

    op = O.matmul(2048, 8192, 8192, "bf16")  # ~0.5 ms of tensor-core work on H100
    times = [predict_op(op, load_hardware("h100-sxm", {field: v})) for v in values]
    assert all(b < a for a, b in itertools.pairwise(times)), times
    from infersim.api import simulate

    steps = [simulate("llama-3.1-8b", load_hardware("h100-sxm", {field: v}), "prefill", 1,
                      prompt=2048).latency_s for v in values]
    assert len(set(steps)) == 1, steps


def test_ll_step_latency_knob_slows_small_allreduces_up_to_the_bandwidth_protocol() -> None:
    """A slower LL ring step slows a decode-sized TP2 all-reduce (LL runs it) until the
    bandwidth protocol's ring (the fabric's step latency) is the faster one, and leaves a
    prefill-sized one (the bandwidth protocol runs it) alone; 0 turns LL off, giving the
    bandwidth protocol's time by hand."""
    from infersim.workloads import ops as O

    small, big = O.collective("all_reduce", 16384.0, 2), O.collective("all_reduce", 64e6, 2)
    values = (0.2, 0.47, 0.8, 1.0)

    def cost(op, v):
        hw = load_hardware("dgx-h100", {"chip.gpu.ll_step_latency_us": v})
        return cost_model(hw).op_cost(op, hw, CostContext()).time_s

    smalls = [cost(small, v) for v in values]
    assert all(b > a for a, b in itertools.pairwise(smalls)), smalls
    assert len({cost(big, v) for v in values}) == 1
    hw = load_hardware("dgx-h100", {"chip.gpu.ll_step_latency_us": 0.0})
    p, f = hw.chip.params, hw.fabric
    rate = f.chip_bandwidth_Bps * p.allreduce_bw_efficiency
    # the ring no faster than its kernel's (6 − 4/2) loads and stores per byte
    ring = 2 * f.latency_s + max(16384.0 / rate, 4 * 16384.0 / p.ring_copy_Bps)
    nvls = p.nvls_latency_s + 16384.0 / (f.chip_bandwidth_Bps * p.nvls_efficiency)
    by_hand = min(p.collective_latency_s, p.kernel_launch_s) + min(ring, nvls) + p.kernel_launch_s
    assert cost(small, 0.0) == pytest.approx(by_hand, rel=1e-9)
    assert smalls[-1] < cost(small, 0.0)


def test_graph_padding_captures_the_listed_sizes_up_to_the_engines_own_cap():
    # the performance overview's sizes 1, 2, 4, ..., 256, 384, 512, 1024, 2048, 4096, 8192,
    # kept up to the engine's largest decode batch, which is captured itself when a listed
    # size exceeds it (TensorRT-LLM's _filter_cuda_graph_batch_sizes); by hand
    gpu = cost_model(load_hardware("h100-sxm"))
    prof = E.lookup("trtllm-pytorch")
    listed = (1, 2, 4, 8, 16, 32, 64, 128, 256, 384, 512, 1024, 2048, 4096, 8192)
    assert gpu.decode_graph_sizes(prof, 8192) == listed
    assert gpu.decode_graph_sizes(prof, 2304) == (*listed[:11], 1024, 2048, 2304)
    assert gpu.decode_graph_sizes(prof, 300) == (*listed[:9], 300)
    assert gpu.decode_graph_sizes(prof, 16384) == listed  # no listed size exceeds it
    assert gpu.decode_graph_sizes(prof, 0) == ()  # no cap known: nothing captured
    # padding off (the LLM API's default) or an engine without it: nothing to pad to
    assert gpu.decode_graph_sizes(prof.with_values(graph_padding=0.0), 8192) == ()
    assert gpu.decode_graph_sizes(E.lookup("vllm-v1"), 8192) == ()


def test_profile_values_read_by_name() -> None:
    # a profile's constant by name, its default when unset, the first of a repeated name
    # (as a search of `values` finds it); a copy with values replaced reads the new ones and
    # equal profiles stay equal and hash alike (the lookup table is not part of either)
    from infersim.hwmodels.cost import RuntimeProfile
    from infersim.hwmodels.spec import HardwareKind

    p = RuntimeProfile("x", HardwareKind.GPU, (("a", 1.0), ("b", 2.0), ("a", 3.0)))
    assert (p.value("a", 0.0), p.value("b", 0.0), p.value("c", 7.0)) == (1.0, 2.0, 7.0)
    q = p.with_values(b=5.0)
    assert (q.value("a", 0.0), q.value("b", 0.0)) == (3.0, 5.0)
    r = RuntimeProfile("x", HardwareKind.GPU, (("a", 1.0), ("b", 2.0), ("a", 3.0)))
    assert r == p and hash(r) == hash(p)


def test_serving_floor_terms_are_the_profiles() -> None:
    # the serving table reads the floor's constants once: for a GPU engine they are its
    # profile's (the per-iteration floor then matches `frontend_floor` for every batch), for
    # a kind without a floor they are zeros
    from infersim.simulator.serving import MapperIterationCost
    from infersim.simulator.serving.costs import floor_terms
    from infersim.workloads import load_model

    prof = E.lookup("trtllm-triton")
    c = MapperIterationCost(load_model("llama-3.1-8b"), load_hardware("h100-sxm"),
                            runtime=prof)
    assert c.floor_terms == E.frontend_terms(prof)
    for d, f in ((0, 0), (1, 0), (7, 2), (300, 5)):
        assert c.floored(0.0, 0.0, d, f)[0] == E.frontend_floor(prof, d, f)
    wafer = cost_model(load_hardware("cs-3"))
    assert floor_terms(wafer, None) == (0.0, 0.0, 1.0, 0.0, 0.0)
    # the PyTorch backend's walk of its held requests: floored passes them on, per
    # data-parallel group as the rest (held 0 = the iteration's own requests)
    torch = E.lookup("trtllm-pytorch")
    t = MapperIterationCost(load_model("llama-3.1-8b"), load_hardware("h100-sxm"),
                            runtime=torch)
    assert t.floored(0.0, 0.0, 187, 0, 2048)[0] == E.frontend_floor(torch, 187, 0, 2048)
    assert t.floored(0.0, 0.0, 187, 0, 2048)[0] > t.floored(0.0, 0.0, 187, 0)[0]
    assert t.floored(0.0, 0.0, 187, 0, 187)[0] == t.floored(0.0, 0.0, 187, 0)[0]
