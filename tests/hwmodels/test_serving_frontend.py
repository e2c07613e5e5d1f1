"""The online-serving CPU floor (issue 12): a front-end process streaming chunks
(`stream_chunk_s`, or one call per step of a batching stage, `stream_call_s`) and the engine's output processing per token (`output_token_s`) overlap
the GPU, so a step lasts max(device + step CPU, the slower of the two). Values by hand,
directions, and the sourced / fitted constants of the online profiles."""

from __future__ import annotations

import pytest

from infersim.api import make_scenario, serve
from infersim.hwmodels import load_hardware
from infersim.hwmodels.models.gpu import engines as E
from infersim.mapper import map_trace
from infersim.simulator import ClosedLoop, Deployment, FixedLengths, ServingPolicy, Traffic
from infersim.workloads import build_trace

TINY = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 256,
        "intermediate_size": 512, "num_hidden_layers": 2, "num_attention_heads": 8,
        "num_key_value_heads": 2, "vocab_size": 1024, "max_position_embeddings": 4096,
        "rms_norm_eps": 1e-5, "torch_dtype": "bfloat16"}


def _decode(profile, batch: int):
    trace = build_trace(TINY, make_scenario("decode", batch, context=128))
    return map_trace(trace, load_hardware("h100-sxm"), profile)


def test_floor_by_hand() -> None:
    p = E.lookup("trtllm").with_values(stream_chunk_s=100e-6)
    # decode: one chunk per request per step; prefill: each request's first token
    assert E.frontend_floor(p, 64) == pytest.approx(64 * 100e-6, rel=1e-12)
    assert E.frontend_floor(p, 0, 4) == pytest.approx(4 * 100e-6, rel=1e-12)
    # a 10-step pass returns its tokens at its end: a chunk per request every 10 steps
    ms = p.with_values(scheduler_steps=10.0)
    assert E.frontend_floor(ms, 64) == pytest.approx(64 * 10e-6, rel=1e-12)
    assert E.frontend_floor(ms, 0, 4) == pytest.approx(4 * 100e-6, rel=1e-12)
    assert E.frontend_floor(ms, 64, 4) == pytest.approx(64 * 10e-6 + 4 * 100e-6, rel=1e-12)
    # the engine's per-token output work runs beside the front-end: the slower one counts
    both = ms.with_values(output_token_s=20e-6)
    assert E.frontend_floor(both, 64) == pytest.approx(64 * 20e-6, rel=1e-12)
    assert E.frontend_floor(both, 0, 4) == pytest.approx(4 * 100e-6, rel=1e-12)
    assert E.frontend_floor(both, 64, 4) == pytest.approx(max(64 * 10e-6 + 4 * 100e-6,
                                                              68 * 20e-6), rel=1e-12)
    # offline engines have no front-end
    assert E.frontend_floor(E.lookup("trtllm"), 64) == 0.0
    assert E.frontend_floor(None, 64, 4) == 0.0


def test_held_request_walk_by_hand() -> None:
    from infersim.foundation.errors import InputError

    p = E.lookup("trtllm").with_values(output_token_s=30e-6, held_request_s=8e-6)
    # 100 decoding while the engine holds 1,000: 100 x 30 us + 900 x 8 us
    assert E.frontend_floor(p, 100, 0, held=1000) == pytest.approx(3e-3 + 7.2e-3, rel=1e-12)
    # a first token is the step's own request too: 100 + 4 of 1,000 held
    assert E.frontend_floor(p, 100, 4, held=1000) == pytest.approx(104 * 30e-6 + 896 * 8e-6,
                                                                   rel=1e-12)
    # every held request in the step (or held unknown, 0): the per-request cost alone
    for held in (0, 50, 100):
        assert E.frontend_floor(p, 100, 0, held=held) == pytest.approx(3e-3, rel=1e-12)
    # direction: more held requests or a larger share, a longer floor; none without the knob
    walks = [E.frontend_floor(p.with_values(held_request_s=h), 100, 0, held=1000)
             for h in (0.0, 4e-6, 8e-6, 30e-6)]
    assert walks == sorted(walks) and walks[0] == pytest.approx(3e-3, rel=1e-12)
    assert E.frontend_floor(p, 100, 0, held=2000) > E.frontend_floor(p, 100, 0, held=1000)
    # TensorRT-LLM's PyTorch backend: PR #10273's 29.4 us per request when every held
    # request runs, the fitted 7.8 us of it for each one that does not
    torch = E.lookup("trtllm-pytorch")
    assert E.frontend_floor(torch, 187, 0, held=2048) == pytest.approx(
        187 * 45.11e-3 / 1536 + (2048 - 187) * 7.8e-6, rel=1e-12)
    # a share above the whole per-request cost is bad input, named
    with pytest.raises(InputError, match=r"held_request_s .* output_token_s"):
        E.frontend_floor(p.with_values(held_request_s=40e-6), 100, 0, held=1000)


def test_batched_front_end_floor_by_hand() -> None:
    # a stage that takes a step's chunks in one call: the call once, each chunk its share
    b = E.lookup("trtllm").with_values(stream_call_s=300e-6, stream_chunk_s=5e-6)
    assert E.frontend_floor(b, 64) == pytest.approx(300e-6 + 64 * 5e-6, rel=1e-12)
    assert E.frontend_floor(b, 0, 4) == pytest.approx(300e-6 + 4 * 5e-6, rel=1e-12)
    assert E.frontend_floor(b, 64, 4) == pytest.approx(300e-6 + 68 * 5e-6, rel=1e-12)
    assert E.frontend_floor(b, 0, 0) == 0.0  # nothing streamed: no call
    # a 10-step pass: 5 decoders stream a chunk every 10 steps, a call on half the steps
    ms = b.with_values(scheduler_steps=10.0)
    assert E.frontend_floor(ms, 5) == pytest.approx(0.5 * 300e-6 + 0.5 * 5e-6, rel=1e-12)
    assert E.frontend_floor(ms, 50) == pytest.approx(300e-6 + 5 * 5e-6, rel=1e-12)
    # the call cost moves the floor up, never down; batching beats a call per chunk
    costs = [E.frontend_floor(b.with_values(stream_call_s=c), 64)
             for c in (0.0, 100e-6, 300e-6, 1e-3)]
    assert costs == sorted(costs) and costs[0] == pytest.approx(64 * 5e-6, rel=1e-12)
    per_chunk = E.lookup("trtllm").with_values(stream_chunk_s=300e-6)
    batched = E.lookup("trtllm").with_values(stream_call_s=300e-6)
    assert E.frontend_floor(batched, 64) == pytest.approx(300e-6, rel=1e-12)
    assert E.frontend_floor(per_chunk, 64) == pytest.approx(64 * E.frontend_floor(batched, 64))


def test_step_latency_is_the_longer_of_gpu_plus_cpu_and_the_floor() -> None:
    base = _decode("trtllm", 32)
    slow = E.lookup("trtllm").with_values(stream_chunk_s=1e-3)  # 32 ms of chunks: binds
    s = _decode(slow, 32)
    assert s.device_s == pytest.approx(base.device_s, rel=1e-12)  # same kernels
    assert s.latency_s == pytest.approx(32 * 1e-3, rel=1e-12)
    assert s.latency_s > base.device_s + base.step_overhead_s
    # a floor below the GPU step is hidden entirely (the front-end overlaps the GPU)
    fast = E.lookup("trtllm").with_values(stream_chunk_s=1e-9)
    assert _decode(fast, 32).latency_s == pytest.approx(base.latency_s, rel=1e-12)


@pytest.mark.parametrize(("knob", "costs", "chunks_per_cost"), [
    # a call per chunk: deep in the front-end-bound regime a decode step of 64 requests lasts
    # 64 chunks, so the token rate approaches 1 / stream_chunk_s
    ("stream_chunk_s", (0.0, 50e-6, 200e-6, 800e-6), 1),
    # one batched call per step: 64 tokens per call
    ("stream_call_s", (0.0, 1e-3, 20e-3, 80e-3), 64),
])
def test_a_slower_front_end_never_serves_faster(knob: str, costs: tuple[float, ...],
                                                chunks_per_cost: int) -> None:
    def tok_s(cost_s: float) -> float:
        prof = E.lookup("trtllm").with_values(**{knob: cost_s})
        res = serve("llama-3-8b", "h100-sxm",
                    Traffic(ClosedLoop(users=64), FixedLengths(128, 64), 64),
                    ServingPolicy(max_batch=64, max_tokens=8192),
                    deployment=Deployment(tp=1, runtime=prof, weights="bf16"))
        f = res.requests_frame()
        return float(f["output_tokens"].sum() / (f["finish_s"].max() - f["arrival_s"].min()))

    rates = [tok_s(c) for c in costs]
    assert rates == sorted(rates, reverse=True) and rates[-1] < 0.5 * rates[0]
    # (prefill and ramp make the bound-regime rate a little lower than the limit)
    limit = chunks_per_cost / costs[-1]
    assert 0.8 * limit < rates[-1] < limit


def test_online_profiles_carry_their_engine_and_the_sourced_constants() -> None:
    api = E.lookup("vllm-v0-api")
    v0 = E.lookup("vllm-v0")
    assert api is not None and v0 is not None
    for k, v in v0.values:  # the engine's own knobs are unchanged
        assert api.value(k, -1.0) == v
    # 33% of v0.5.3's time per output token at 13.5 req/s x 179 tokens (the v0.6.0 post)
    assert E.knob(api, "stream_chunk_s") == pytest.approx(0.33 / (13.5 * 179), rel=1e-12)
    assert E.knob(api, "stream_chunk_s") == pytest.approx(136.6e-6, rel=1e-3)
    # output processing is part of v0.5.3's 29% scheduling share (120 us per token)
    assert 0 < E.knob(api, "output_token_s") < 0.29 / (13.5 * 179)
    assert E.knob(E.lookup("sglang-api"), "stream_chunk_s") == E.knob(api, "stream_chunk_s")
    # Triton's ensemble: v0.11 (r24.07) detokenizes each chunk in a call of its own; from
    # tensorrtllm_backend v0.13 a step's chunks pass in one batched call of the same cost
    v011, triton = E.lookup("trtllm-triton-v011"), E.lookup("trtllm-triton")
    assert E.knob(v011, "stream_chunk_s") == pytest.approx(144.9e-6, rel=1e-12)
    assert E.knob(v011, "stream_call_s") == 0.0
    assert E.knob(triton, "stream_call_s") == E.knob(v011, "stream_chunk_s")
    assert E.knob(triton, "stream_chunk_s") == 0.0
    assert E.knob(triton, "request_latency_s") == E.knob(v011, "request_latency_s") > 0
    assert "fused" in E.ALIASES and E.lookup("fused") is E.lookup("trtllm")  # offline


def test_schedule_records_the_floor_and_the_timeline_replays_it() -> None:
    from infersim.simulator.timeline import simulate_timeline

    slow = E.lookup("trtllm").with_values(stream_chunk_s=1e-3)
    s = _decode(slow, 32)
    assert s.frontend_floor_s == pytest.approx(32e-3, rel=1e-12)
    assert s.to_dict()["frontend_floor_s"] == s.frontend_floor_s
    tl = simulate_timeline(s)
    assert tl.makespan_s == pytest.approx(s.latency_s, rel=1e-9)  # one answer
    base = _decode("trtllm", 32)
    assert base.frontend_floor_s == 0.0
    assert simulate_timeline(base).makespan_s == pytest.approx(base.latency_s, rel=1e-9)


def test_serve_iterations_get_the_floor_of_what_they_stream() -> None:
    from infersim.api import load_model
    from infersim.simulator.serving.costs import MapperIterationCost

    model, hw = load_model("llama-3-8b"), load_hardware("h100-sxm")
    slow = E.lookup("trtllm").with_values(stream_chunk_s=1e-3)
    c = MapperIterationCost(model, hw, runtime=slow)
    plain = MapperIterationCost(model, hw, runtime="trtllm")
    # a pure decode iteration: the mapper's step (one answer), here the floor 64 x 1 ms
    t = c([], 0, 64, 64 * 129)[0]
    assert t == pytest.approx(c.direct_decode(64, 129)[0], rel=1e-9)
    assert t == pytest.approx(64e-3, rel=1e-9)
    # a mixed iteration (a 256-token prompt emitting its first token + 64 decoders) streams
    # 65 chunks: 65 ms, above its GPU time, which is what it costs without a front-end
    gpu = plain([(256, 0)], 1, 64, 64 * 129)[0]
    assert gpu < 65e-3
    assert c([(256, 0)], 1, 64, 64 * 129)[0] == pytest.approx(65e-3, rel=1e-12)
    # a floor below the GPU time changes nothing
    fast = MapperIterationCost(model, hw, runtime=E.lookup("trtllm").with_values(
        stream_chunk_s=1e-7))
    assert fast([(256, 0)], 1, 64, 64 * 129)[0] == pytest.approx(gpu, rel=1e-9)
