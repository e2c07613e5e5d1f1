"""Chunked-local attention (Llama-4) in engines that run it in context steps only
(`Scenario.chunked_decode` False, the `chunked_decode` engine knob; TensorRT-LLM): a decode
step attends every cached key of a chunked layer and the cache keeps them all, while prompts
still attend within their chunks. Expected values are worked by hand from the config file."""

from __future__ import annotations

import pytest

from infersim.hwmodels import load_hardware
from infersim.hwmodels.runtime_knobs import tune_runtime
from infersim.mapper import engine_scenario
from infersim.simulator.serving import (
    Deployment,
    FixedLengths,
    MapperIterationCost,
    ServingPolicy,
    TraceReplay,
    Traffic,
    serve,
)
from infersim.simulator.serving.speculative import kv_groups, layer_tokens
from infersim.workloads import build_trace, load_model
from infersim.workloads.ops import OpKind
from infersim.workloads.scenario import Phase, Scenario

# meta-llama/Llama-4-Scout config.json: 48 layers, every 4th global (12), the other 36
# chunked-local with attention_chunk_size 8192; 8 KV heads x head_dim 128, K and V, bf16:
# 8 x 128 x 2 x 2 B = 4096 B per token per layer
SCOUT_LAYER = 8 * 128 * 2 * 2


@pytest.fixture(scope="module")
def scout():
    return load_model("llama-4-scout")


def _keys(tr):
    return {o.name: o.shape.kv_tokens for o in tr.ops if o.kind is OpKind.ATTENTION}


def test_decode_attends_every_key_and_keeps_them(scout):
    # context 8,300: the query at position 8,300 sees 8300 mod 8192 + 1 = 109 keys of a
    # chunked layer under chunked decode; without it every layer reads all 8,301
    on = build_trace(scout, Scenario(Phase.DECODE, 2, context=8300))
    off = build_trace(scout, Scenario(Phase.DECODE, 2, context=8300, chunked_decode=False))
    assert _keys(on) == {"attention": 8301, "attention_chunked": 109}
    assert _keys(off) == {"attention": 8301}
    assert on.resident.kv_bytes == pytest.approx(2 * SCOUT_LAYER * (12 * 8301 + 36 * 109))
    assert off.resident.kv_bytes == pytest.approx(2 * SCOUT_LAYER * 48 * 8301)


def test_prompts_still_attend_within_their_chunks(scout):
    sc = Scenario(Phase.PREFILL, 1, prompt=12000, chunked_decode=False)
    assert _keys(build_trace(scout, sc)) == _keys(build_trace(scout, Scenario(
        Phase.PREFILL, 1, prompt=12000)))


def test_the_engine_decides_and_its_knob_moves_it():
    h = load_hardware("h200-sxm")
    sc = Scenario(Phase.DECODE, 1, context=9000)
    assert engine_scenario(sc, h, "trtllm-pytorch").chunked_decode is False
    assert engine_scenario(sc, h, "trtllm").chunked_decode is False
    assert engine_scenario(sc, h, "vllm-v1").chunked_decode is True
    back = tune_runtime(h, "trtllm-pytorch", {"chunked_decode": 1.0})
    assert engine_scenario(sc, h, back).chunked_decode is True


def test_the_serving_pool_keeps_every_key(scout):
    # the pool charges a 20,000-token sequence all 48 layers' keys, not 12 full layers and
    # 36 current chunks (20,000 - 2 x 8192 = 3,616 keys each)
    h = load_hardware("h200-sxm")
    assert MapperIterationCost(scout, h, runtime="trtllm-pytorch").chunked_decode is False
    assert layer_tokens(kv_groups(scout, False), 20_000) == 48 * 20_000
    assert layer_tokens(kv_groups(scout), 20_000) == 12 * 20_000 + 36 * 3616


def test_keeping_every_key_serves_long_prompts_slower(tmp_path):
    # the physical direction of the knob: an engine that frees the out-of-chunk keys and
    # decodes over the current chunk holds more sequences and reads fewer keys per token
    h = load_hardware("h200-sxm")
    trace = tmp_path / "t.csv"
    trace.write_text("arrival_s,prompt_tokens,output_tokens\n" + "0,1,1\n" * 24)
    traffic = Traffic(TraceReplay(str(trace)), FixedLengths(16000, 512), 24)

    def run(value):
        rt = tune_runtime(h, "trtllm-pytorch", {"chunked_decode": value})
        dep = Deployment(runtime=rt, weights="fp8", activations="fp8", kv="fp8")
        return serve("llama-4-scout", h, traffic, ServingPolicy(max_batch=64,
                                                                  max_tokens=16384),
                     deployment=dep, engine="simpy")

    kept, freed = run(0.0), run(1.0)
    assert kept.feasible and freed.feasible
    assert kept.to_dict()["kv_blocks"] == freed.to_dict()["kv_blocks"]
    assert freed.throughput_tok_s > 1.05 * kept.throughput_tok_s
