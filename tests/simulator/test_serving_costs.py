"""The tabulated iteration cost against direct mapper calls, KV sizing, and serve() end to end."""

from __future__ import annotations

import itertools
import math

import pytest

from infersim.simulator.serving import (
    Deployment,
    FixedLengths,
    MapperIterationCost,
    Poisson,
    Policy,
    ServingPolicy,
    Traffic,
    serve,
)
from infersim.simulator.serving.kvcache import plan_kv
from infersim.workloads import load_model
from infersim.workloads.ops import OpKind
from infersim.workloads.scenario import Phase
from tests._support import MULTI_GPU_COMM, TRTLLM_HELD, VLLM_V1_HELD, h100_like

OFF_GRID_DECODE = [(7, 3001), (45, 1537), (183, 5003), (250, 2222)]  # (batch, keys per seq)
OFF_GRID_PREFILL = [(1, 777, 0), (1, 3001, 0), (1, 13001, 0), (3, 1000, 0), (5, 777, 0),
                    (1, 512, 3001), (1, 1000, 7000)]  # (sequences, new tokens, cached)


@pytest.mark.parametrize(("model", "tp"), [("llama-3.1-8b", 1), ("llama-3.1-70b", 8),
                                           ("mixtral-8x7b", 8)])
def test_table_matches_direct_mapper_calls_off_grid(model, tp):
    c = MapperIterationCost(load_model(model), h100_like(tp), tp=tp)
    for b, keys in OFF_GRID_DECODE:
        t, e = c([], 0, b, b * keys)
        dt, de = c.direct_decode(b, keys)
        assert t == pytest.approx(dt, rel=0.03), (b, keys)
        assert e == pytest.approx(de, rel=0.03), (b, keys)
    for b, q, cached in OFF_GRID_PREFILL:
        t, e = c([(q, cached)] * b, b, 0, 0)
        dt, de = c.direct_prefill(b, q, cached)
        assert t == pytest.approx(dt, rel=0.03), (b, q, cached)
        assert e == pytest.approx(de, rel=0.03), (b, q, cached)


def test_table_is_exact_at_small_integer_batches(llama8b):
    c = MapperIterationCost(llama8b, h100_like(1))
    for b in (1, 2, 17, 32):  # exact nodes: batches ≤ 32, contexts ≤ 16 keys
        assert c([], 0, b, b * 16)[0] == pytest.approx(c.direct_decode(b, 16)[0], rel=1e-12)


def test_kv_blocks_from_capacity_by_hand(llama8b):
    # Llama-3.1-8B on one 80 GB chip, bf16: weights ≈ 8.03e9 params × 2 B (published count,
    # Meta model card); KV per token = 2 (K,V) × 8 kv heads × 128 × 32 layers × 2 B = 131072 B.
    # With 90% utilization and no activation reserve: blocks = (72e9 − 16.06e9) / (16 × 131072)
    c = MapperIterationCost(llama8b, h100_like(1))
    facts = c.facts(8192)
    assert facts.kv_bytes_per_token_per_chip == 131072
    plan = plan_kv(h100_like(1), facts, Deployment(activation_reserve_bytes=0.0), 16)
    expected = (0.9 * 80e9 - 8.03e9 * 2) / (16 * 131072)
    assert plan.blocks == pytest.approx(expected, rel=0.01)


def test_tensorrt_llm_sizes_kv_from_the_memory_the_weights_leave_free(llama8b):
    """TensorRT-LLM's KV cache is kv_cache_free_gpu_mem_fraction (0.9) of what the weights,
    activations and its own process (CUDA context, buffers, the driver's share: 1.634 GB by
    hand from its memory guide's log) leave free, not vLLM's 0.9 of the whole memory minus
    the weights: by hand on an 80 GB chip, (80e9 - 16.06e9 - 1.634e9) x 0.9 / (16 x 131072)
    blocks; the knob moves it, and gpu_memory_utilization does not. vLLM V1 takes 0.9 of the
    whole less the weights and its process's 2.33 GB (by hand from its profiling log)."""
    c = MapperIterationCost(llama8b, h100_like(1))
    facts = c.facts(8192)
    weights = facts.weight_bytes_per_chip
    assert weights == pytest.approx(8.03e9 * 2, rel=0.01)
    for runtime in ("trtllm", "trtllm-pytorch", "trtllm-triton"):
        plan = plan_kv(h100_like(1), facts, Deployment(runtime=runtime,
                                                       activation_reserve_bytes=0.0), 16)
        assert plan.blocks == math.floor(0.9 * (80e9 - weights - TRTLLM_HELD)
                                         / (16 * 131072)), runtime
    vllm = plan_kv(h100_like(1), facts, Deployment(runtime="vllm-v1",
                                                   activation_reserve_bytes=0.0), 16)
    assert vllm.blocks == math.floor((0.9 * 80e9 - weights - VLLM_V1_HELD) / (16 * 131072))
    assert vllm.blocks < plan.blocks
    from infersim.hwmodels.models.gpu.engines import lookup

    more = lookup("trtllm").with_values(kv_free_fraction=0.95)
    hi = plan_kv(h100_like(1), facts, Deployment(runtime=more, activation_reserve_bytes=0.0,
                                                 gpu_memory_utilization=0.5), 16)
    assert hi.blocks == math.floor(0.95 * (80e9 - weights - TRTLLM_HELD) / (16 * 131072))
    # a share above the free memory is refused in one line naming the knob
    from infersim.foundation.errors import InputError

    with pytest.raises(InputError, match=r"kv_free_fraction 1\.2 is a share"):
        plan_kv(h100_like(1), facts, Deployment(runtime=more.with_values(kv_free_fraction=1.2)),
                16)


def test_runtime_memory_comes_out_of_the_kv_cache_one_for_one(llama8b):
    """The `runtime_memory_bytes` knob (memory the engine process holds beside weights, KV
    and activations) shrinks the KV pool by itself under vLLM's convention and by
    kv_free_fraction x itself under TensorRT-LLM's; more of it never gives more blocks,
    and a KV-bound run serves fewer tokens per second."""
    from infersim.hwmodels.models.gpu.engines import lookup

    c = MapperIterationCost(llama8b, h100_like(1))
    facts = c.facts(8192)
    weights = facts.weight_bytes_per_chip
    for name, pool in (("vllm-v1", lambda held: 0.9 * 80e9 - weights - held),
                       ("trtllm", lambda held: 0.9 * (80e9 - weights - held))):
        last = None
        for held in (0.0, 1e9, 4e9, 16e9):
            rt = lookup(name).with_values(runtime_memory_bytes=held)
            p = plan_kv(h100_like(1), facts, Deployment(runtime=rt,
                                                        activation_reserve_bytes=0.0), 16)
            assert p.blocks == math.floor(pool(held) / (16 * 131072)), (name, held)
            assert last is None or p.blocks < last
            last = p.blocks
    # KV-bound: a 4 GB pool holds ~23 sequences of 1,280 tokens (x 131072 B = 168 MB each),
    # far fewer than 200 req/s keeps waiting; 2 GB more held leaves about half as many in
    # flight, so the run serves fewer tokens per second
    traffic = Traffic(Poisson(200.0), FixedLengths(1024, 256), 400)
    runs = []
    for held in (0.0, 2e9):
        rt = lookup("vllm-v1").with_values(runtime_memory_bytes=held)
        dep = Deployment(runtime=rt, activation_reserve_bytes=80e9 * 0.9 - weights - 4e9)
        runs.append(serve("llama-3.1-8b", h100_like(1), traffic, deployment=dep, seed=1))
    assert all(r.feasible for r in runs)
    assert runs[1].throughput_tok_s < runs[0].throughput_tok_s


def test_communication_memory_comes_out_of_a_multi_chip_replicas_kv_cache(llama8b):
    """The `comm_memory_bytes` knob (NCCL's and the custom all-reduce's buffers) shrinks the
    KV pool of each chip of a replica of more than one chip, by itself under vLLM's
    convention and by kv_free_fraction x itself under TensorRT-LLM's, and leaves a one-chip
    replica alone; the shipped vLLM V1 and TensorRT-LLM profiles hold vLLM's measured
    1.79 GiB (its TP2 run's non-torch memory less its TP1 run's)."""
    from infersim.hwmodels.models.gpu.engines import lookup

    for name in ("vllm-v1", "trtllm", "trtllm-pytorch"):
        assert lookup(name).value("comm_memory_bytes", 0.0) == pytest.approx(MULTI_GPU_COMM)
    for tp in (1, 2):
        c = MapperIterationCost(llama8b, h100_like(tp), tp=tp)
        facts = c.facts(8192)
        weights = facts.weight_bytes_per_chip
        block = 16 * facts.kv_bytes_per_token_per_chip
        for name, free_frac in (("vllm-v1", 0.0), ("trtllm", 0.9)):
            last = None
            for comm in (0.0, 1e9, 4e9):
                rt = lookup(name).with_values(runtime_memory_bytes=0.0,
                                              comm_memory_bytes=comm)
                p = plan_kv(h100_like(tp), facts, Deployment(
                    tp=tp, runtime=rt, activation_reserve_bytes=0.0), 16)
                held = comm if tp > 1 else 0.0
                pool = (0.9 * 80e9 - weights - held if free_frac == 0.0
                        else free_frac * (80e9 - weights - held))
                assert p.blocks == math.floor(pool / block), (name, tp, comm)
                assert last is None or (p.blocks < last if tp > 1 else p.blocks == last)
                last = p.blocks


def test_weights_that_do_not_fit_are_an_infeasibility_not_a_crash():
    # Llama-3.1-70B bf16 is ~141 GB of weights: never fits one 80 GB chip
    r = serve("llama-3.1-70b", h100_like(1),
              Traffic(Poisson(1.0), FixedLengths(128, 16), 10))
    assert not r.feasible
    assert r.infeasible is not None and r.infeasible.demand > r.infeasible.capacity
    d = r.to_dict()
    assert d["feasible"] is False and "does not fit" in d["reason"]
    assert math.isnan(d["ttft_p50_s"])


def test_serve_end_to_end_flow_conservation_and_bounds(llama8b):
    # Light load (2 req/s × 64 output tokens): the system keeps up, so output throughput over
    # the run ≈ offered tokens / run time; TTFT can never beat a lone prefill step.
    tr = Traffic(Poisson(2.0), FixedLengths(512, 64), 300)
    r = serve("llama-3.1-8b", h100_like(1), tr, ServingPolicy(kind=Policy.CONTINUOUS), seed=3)
    assert r.feasible and r.completed == 300 and r.rejected == 0
    assert r.output_tokens == 300 * 64
    assert r.throughput_req_s == pytest.approx(300 / r.duration_s)
    c = MapperIterationCost(llama8b, h100_like(1))
    lone_prefill = c.direct_prefill(1, 512)[0]
    assert r.ttft["p50"] >= lone_prefill * (1 - 1e-9)
    assert r.tpot["p50"] >= c.direct_decode(1, 513)[0] * (1 - 1e-9)
    assert 0 < r.utilization < 1
    assert r.energy_per_token_j > 0 and r.cost_per_1m_tokens_usd > 0
    for k in ("ttft_p50_s", "ttft_p99_s", "tpot_p50_s", "tpot_p99_s", "throughput_tok_s",
              "e2e_p50_s", "goodput_req_s"):
        assert k in r.to_dict()


@pytest.mark.parametrize("kind", list(Policy))
def test_every_policy_completes_all_requests(kind):
    tr = Traffic(Poisson(4.0), FixedLengths(256, 32), 120)
    pol = ServingPolicy(kind=kind, max_tokens=2048)
    r = serve("llama-3.1-8b", h100_like(2), tr, pol, seed=1)
    assert r.completed == 120, kind
    assert r.output_tokens == 120 * 32


def test_mixed_iteration_is_priced_as_what_it_is(llama8b):
    # A chunked-prefill iteration: a 256-token chunk over 1024 cached tokens (its last chunk:
    # it emits a token), a 100-token first chunk of another prompt, and 8 decoders at 1024
    # keys each. Composed by hand from the mapper's per-op times of three separate steps:
    # every op but attention and the logits head sees all 256 + 100 + 8 tokens (a prefill of
    # 364 tokens); the logits head computes the 8 + 1 emitting rows (as a 9-sequence decode);
    # attention is the decoders' read of their own KV (a decode of 8 at 1024 keys) plus each
    # chunk's causal attention over its prefix (a chunked prefill of 256 over 1024; a
    # 100-token prefill); one step overhead. All shapes are table nodes: no interpolation.
    c = MapperIterationCost(llama8b, h100_like(1))

    def ops(sc, keep):
        s = c.schedule(sc)
        return sum(mo.time_s for mo in s.ops if keep(mo.op)), s.step_overhead_s

    def attn(op):
        return op.kind == OpKind.ATTENTION

    body, overhead = ops(c.scenario(Phase.PREFILL, 1, prompt=364),
                         lambda op: not attn(op) and op.name != "lm_head")
    head, _ = ops(c.scenario(Phase.DECODE, 9, context=1), lambda op: op.name == "lm_head")
    dec, _ = ops(c.scenario(Phase.DECODE, 8, context=1023), attn)
    chunk, _ = ops(c.scenario(Phase.CHUNKED_PREFILL, 1, context=1024, chunk=256), attn)
    first, _ = ops(c.scenario(Phase.PREFILL, 1, prompt=100), attn)
    expected = overhead + body + head + dec + chunk + first
    t, _ = c([(256, 1024), (100, 0)], 1, 8, 8 * 1024)
    assert t == pytest.approx(expected, rel=1e-9)
    # not a prefill of all its tokens: that prices the decoders' attention as 8 more causal
    # prompt tokens, blind to the 8 × 1024 keys they read
    assert t > 1.02 * c.direct_prefill(1, 364)[0]


@pytest.mark.parametrize("hw", ["h100-sxm", "a100-sxm-80gb"])
def test_prefix_hit_tables_agree_with_the_mapper_across_tile_steps(hw):
    # GEMM row tiles and flash-attention query blocks make a step's time jump between n·64 and
    # n·64 + 1 tokens; the tables as serve() builds them with prefix caching (sparse axes) must
    # not interpolate across those jumps (before: −17.9% at 1026 new over 576 cached, h100)
    from infersim.hwmodels import load_hardware

    c = MapperIterationCost(load_model("llama-3.1-8b"), load_hardware(hw),
                            cached_chunk_per_octave=8, cached_per_octave=4)
    for q in (515, 516, 1023, 1024, 1025, 1026, 2497, 2498, 4095, 4097):
        for cached in (0, 576, 3001):
            t = c([(q, cached)], 1, 0, 0)[0]
            assert t == pytest.approx(c.direct_prefill(1, q, cached)[0], rel=0.01), (q, cached)


def test_chunk_nodes_past_the_model_context_extend_the_attention_line():
    """The last chunks of a prompt near the model's maximum bracket a cached-axis node past
    it, which the mapper refuses: the table extends the line through max − q and half of it.
    Checked against the same model with a 4× longer context, where that node is real (chunk
    attention is affine in the cached keys, so the two agree closely)."""
    import dataclasses

    from infersim.hwmodels import load_hardware
    from infersim.simulator.serving import simulate_serving
    from infersim.simulator.serving.serve import ReplicaSpec

    m = load_model("llama-3.2-1b")
    h = load_hardware("h100-sxm")
    short = MapperIterationCost(m, h)
    wide = MapperIterationCost(dataclasses.replace(
        m, max_position_embeddings=4 * m.max_position_embeddings), h)
    q = 2048
    c = short.cached.bracket(m.max_position_embeddings - q + 100)[1]  # the node above
    assert c + q > m.max_position_embeddings  # a node the mapper refuses for this model
    hi = m.max_position_embeddings - q
    lo = hi // 2
    (t1, _), (t0, _) = (short.s_pf(1, q, x) for x in (hi, lo))
    t = short.s_pf(1, q, c)[0]
    assert t == pytest.approx(t1 + (t1 - t0) * (c - hi) / (hi - lo), rel=1e-12)
    assert t == pytest.approx(wide.s_pf(1, q, c)[0], rel=0.02)
    # and a chunked serve of a near-maximum prompt runs (it stopped with an InputError)
    r = simulate_serving(ReplicaSpec(), short, Traffic(Poisson(1.0), FixedLengths(130_000, 4),
                                                       1),
                         ServingPolicy(kind="chunked", max_tokens=q),
                         max_context=m.max_position_embeddings)
    assert r.completed == 1


def test_an_eager_prompt_step_pays_its_host_launches_once():
    # vLLM V0 runs prompts eagerly (prefill_graphs 0): each kernel costs a host launch, and a
    # one-layer step's launches set the time of a short prompt on a small model. An iteration
    # of several prompts of different lengths is one step, so it pays those launches once:
    # its time over the same iteration with prompts replayed as graphs is the eager excess
    # of ONE step of all its tokens (direct mapper calls), not one per prompt.
    from infersim.hwmodels import load_hardware
    from infersim.hwmodels.models.gpu.engines import lookup

    eager = lookup("vllm-v0")
    graphed = eager.with_values(prefill_graphs=1.0)
    model, hw = load_model("llama-3.2-1b"), load_hardware("h100-sxm")
    ce = MapperIterationCost(model, hw, runtime=eager)
    cg = MapperIterationCost(model, hw, runtime=graphed)
    qs = [37, 61, 90, 118, 150, 203]  # distinct lengths: one table group each
    groups = [(q, 0) for q in qs]
    excess = ce(groups, len(qs), 0, 0)[0] - cg(groups, len(qs), 0, 0)[0]
    one_step = ce.direct_prefill(1, sum(qs))[0] - cg.direct_prefill(1, sum(qs))[0]
    single = ce.direct_prefill(1, qs[0])[0] - cg.direct_prefill(1, qs[0])[0]
    assert single > 1e-4  # the host launches do show: this step is host-bound
    assert excess == pytest.approx(one_step, rel=0.05, abs=2e-5)
    assert excess < 2.0 * single  # not once per prompt (6x)


def test_a_decode_batch_above_the_captured_graphs_steps_to_eager_at_the_cap():
    # vLLM V0 captures decode graphs up to 256 sequences (graph_max_batch): the table has
    # nodes on both sides of the cap, so a decode iteration of 256 sequences replays its
    # graph and one of 257 pays the host launches, each equal to the direct mapper call,
    # with no interpolation across the jump
    from infersim.hwmodels import load_hardware
    from infersim.hwmodels.models.gpu.engines import lookup

    prof = lookup("vllm-v0")
    model, hw = load_model("llama-3.2-1b"), load_hardware("h100-sxm")
    c = MapperIterationCost(model, hw, runtime=prof)
    keys = 300
    at, above = (c.device([], 0, b, b * keys)[0] for b in (256, 257))
    assert at == pytest.approx(c.direct_decode(256, keys)[0], rel=1e-6)
    assert above == pytest.approx(c.direct_decode(257, keys)[0], rel=1e-6)
    uncapped = MapperIterationCost(model, hw, runtime=prof.with_values(graph_max_batch=0.0))
    graphed = uncapped.device([], 0, 257, 257 * keys)[0]
    s = c.schedule(c.scenario(Phase.DECODE, 257, context=keys - 1))
    # the eager step is host-bound on a 1B model: at least one engine host time per kernel,
    # then the step's CPU work
    node = prof.value("host_node_s", 0.0)
    assert above >= s.kernels * node + s.step_overhead_s - 1e-12
    assert above > graphed


def test_a_padded_graph_runs_the_token_parallel_ops_at_the_captured_batch():
    # TensorRT-LLM's PyTorch backend (graph_padding, the performance overview's captured
    # sizes ..., 256, 384, 512, 1024, 2048, ...) runs a generation-only iteration of 600
    # sequences as the graph of 1024: by hand, the unpadded table's N_dec(1024) plus the 600
    # real sequences' attention S_dec(600, x); an iteration at a captured size, and one
    # holding a prompt (eager, no graph), cost what they cost unpadded
    from infersim.hwmodels import load_hardware
    from infersim.hwmodels.models.gpu.engines import lookup

    prof = lookup("trtllm-pytorch")
    assert prof.value("graph_padding", 0.0) == 1.0
    model, hw = load_model("llama-3.1-8b"), load_hardware("h100-sxm")
    pad = MapperIterationCost(model, hw, runtime=prof, weights="fp8", max_batch=2048)
    flat = MapperIterationCost(model, hw, runtime=prof.with_values(graph_padding=0.0),
                               weights="fp8", max_batch=2048)
    assert pad.graph_padded and not flat.graph_padded
    keys = 700
    by_hand = flat.n_dec(1024)[0] + flat.s_dec(600, keys)[0]
    assert pad.device([], 0, 600, 600 * keys)[0] == pytest.approx(by_hand, rel=1e-9)
    assert pad.device([], 0, 600, 600 * keys)[0] > flat.device([], 0, 600, 600 * keys)[0]
    assert pad.device([], 0, 512, 512 * keys)[0] == pytest.approx(
        flat.device([], 0, 512, 512 * keys)[0], rel=1e-9)
    mixed = ([(300, 0)], 1, 600, 600 * keys)
    assert pad.device(*mixed)[0] == pytest.approx(flat.device(*mixed)[0], rel=1e-9)
    # the next captured size at or above a batch, by hand from the overview's list
    assert [pad.graph_batch(b) for b in (1, 3, 200, 257, 385, 600, 1100, 2048)] == \
        [1, 4, 256, 384, 512, 1024, 2048, 2048]
    # the engine's largest decode batch is captured too: 2100 pads to 2048's successor, the
    # cap 2304, not to 4096; above every captured size there is no graph to pad to
    capped = MapperIterationCost(model, hw, runtime=prof, weights="fp8", max_batch=2304)
    assert [capped.graph_batch(b) for b in (1025, 2049, 2100, 2304)] == [2048, 2304, 2304, 2304]
    wide = MapperIterationCost(model, hw, runtime=prof, weights="fp8", max_batch=16384)
    assert [wide.graph_batch(b) for b in (5000, 9000)] == [8192, 9000]


def test_attention_data_parallel_groups_pad_to_the_busiest_groups_captured_batch():
    # dp 8 groups, 2875 sequences: the busiest group holds ceil(2875 / 8) = 360, every group
    # pads to 384, the experts see 8 x 384 = 3072 rows, 197 of them the one dummy request
    # repeated (TensorRT-LLM's _get_padded_batch extends the batch with the same
    # cuda_graph_dummy_request), which the router sends to the same 8 experts; by hand: the
    # 3072-row step with 197 identical rows less its attention, plus the 2875 real
    # sequences' attention; without padding the table reads 2875
    from infersim.hwmodels import load_hardware
    from infersim.hwmodels.models.gpu.engines import lookup

    prof = lookup("trtllm-pytorch")
    kw = dict(tp=1, dp=8, ep=8, weights="fp8", max_batch=8 * 2304)
    model, hw = load_model("qwen3-30b-a3b"), load_hardware("dgx-h200")
    pad = MapperIterationCost(model, hw, runtime=prof, **kw)
    flat = MapperIterationCost(model, hw, runtime=prof.with_values(graph_padding=0.0), **kw)
    assert pad.graph_batch(2875) == 3072 and flat.graph_batch(2875) == 2875
    keys = 1500
    step = pad.schedule(pad.scenario(Phase.DECODE, 3072, context=1, identical=197))
    token_parallel = step.latency_s - sum(mo.time_s for mo in step.ops
                                          if mo.op.kind == OpKind.ATTENTION)
    by_hand = token_parallel + flat.s_dec(2875, keys)[0]
    assert pad.device([], 0, 2875, 2875 * keys)[0] == pytest.approx(by_hand, rel=1e-9)


def test_identical_dummy_rows_of_a_padded_graph_load_one_expert():
    # Llama 4 Scout routes top-1: a padded graph's dummy rows all land on one expert, so its
    # rank's grouped GEMM runs them all; priced as ordinary tokens spread over the experts
    # (as before), the padded step would read faster. 4 groups of 150 pad to 4 x 256.
    from infersim.hwmodels import load_hardware
    from infersim.hwmodels.models.gpu.engines import lookup

    prof = lookup("trtllm-pytorch")
    kw = dict(tp=1, dp=4, ep=4, weights="fp8", activations="fp8", kv="fp8", max_batch=4 * 1024)
    model, hw = load_model("llama-4-scout"), load_hardware("dgx-h200")
    pad = MapperIterationCost(model, hw, runtime=prof, **kw)
    flat = MapperIterationCost(model, hw, runtime=prof.with_values(graph_padding=0.0), **kw)
    assert pad.graph_batch(600) == 1024
    keys = 1200
    spread = flat.n_dec(1024)[0] + flat.s_dec(600, keys)[0]
    assert pad.device([], 0, 600, 600 * keys)[0] > spread * 1.02
    # the token-parallel part (all but the real sequences' attention) of the same graph
    # never costs less with more dummies in it, and is the unpadded 1024 with none
    n = [pad.device([], 0, d, d * keys)[0] - flat.s_dec(d, keys)[0]
         for d in (1024, 1000, 900, 800, 700, 600, 520)]
    assert n[0] == pytest.approx(flat.n_dec(1024)[0], rel=1e-9)
    assert all(a <= b * (1 + 1e-9) for a, b in itertools.pairwise(n))


def test_a_moe_decode_step_does_not_get_cheaper_with_more_sequences():
    # the busiest EP rank's expert GEMM is one grouped launch over its touched experts: more
    # sequences never cost less (it was priced as two launches split by rows per expert,
    # q and q + 1, each with half the tiles, so 50 sequences over dp 8 x ep 8 cost more
    # than 57); the token-parallel table, padding off, over every batch to 160
    from infersim.hwmodels import load_hardware
    from infersim.hwmodels.models.gpu.engines import lookup

    prof = lookup("trtllm-pytorch").with_values(graph_padding=0.0)
    c = MapperIterationCost(load_model("qwen3-30b-a3b"), load_hardware("dgx-h200"),
                            runtime=prof, tp=1, dp=8, ep=8, weights="fp8", activations="fp8",
                            kv="fp8")
    t = [c.n_dec(b)[0] for b in range(1, 161)]
    assert all(b >= a * (1 - 1e-9) for a, b in itertools.pairwise(t))
