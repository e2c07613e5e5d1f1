"""Chunked-local attention (Llama-4) in engines whose KV cache keeps every key of those layers
(`Scenario.chunk_kv_freed` False, the `chunk_kv_freed` engine knob; TensorRT-LLM): queries
still attend within their chunk, but the cache holds the whole context. Expected values are
worked by hand from the config file."""

from __future__ import annotations

import pytest

from infersim.hwmodels import load_hardware
from infersim.hwmodels.runtime_knobs import tune_runtime
from infersim.mapper import engine_scenario
from infersim.simulator.serving import (
    Deployment,
    MapperIterationCost,
    ServingPolicy,
    serve,
)
from infersim.simulator.serving.speculative import kv_groups, layer_tokens
from infersim.workloads import build_trace, load_model
from infersim.workloads.ops import OpKind
from infersim.workloads.scenario import Phase, Scenario
from tests._support import burst

# meta-llama/Llama-4-Scout config.json: 48 layers, every 4th global (12), the other 36
# chunked-local with attention_chunk_size 8192; 8 KV heads x head_dim 128, K and V, bf16:
# 8 x 128 x 2 x 2 B = 4096 B per token per layer
SCOUT_LAYER = 8 * 128 * 2 * 2


@pytest.fixture(scope="module")
def scout():
    return load_model("llama-4-scout")


def _keys(tr):
    return {o.name: o.shape.kv_tokens for o in tr.ops if o.kind is OpKind.ATTENTION}


def test_the_cache_keeps_every_key_while_decode_attends_the_chunk(scout):
    # context 8,300: the query at position 8,300 sees 8300 mod 8192 + 1 = 109 keys of a
    # chunked layer either way; the cache holds 109 of them or all 8,301
    freed = build_trace(scout, Scenario(Phase.DECODE, 2, context=8300))
    kept = build_trace(scout, Scenario(Phase.DECODE, 2, context=8300, chunk_kv_freed=False))
    assert _keys(freed) == _keys(kept) == {"attention": 8301, "attention_chunked": 109}
    assert freed.resident.kv_bytes == pytest.approx(2 * SCOUT_LAYER * (12 * 8301 + 36 * 109))
    assert kept.resident.kv_bytes == pytest.approx(2 * SCOUT_LAYER * 48 * 8301)


def test_the_engine_decides_and_its_knob_moves_it():
    h = load_hardware("h200-sxm")
    sc = Scenario(Phase.DECODE, 1, context=9000)
    assert engine_scenario(sc, h, "trtllm-pytorch").chunk_kv_freed is False
    assert engine_scenario(sc, h, "trtllm").chunk_kv_freed is False
    assert engine_scenario(sc, h, "vllm-v1").chunk_kv_freed is True
    back = tune_runtime(h, "trtllm-pytorch", {"chunk_kv_freed": 1.0})
    assert engine_scenario(sc, h, back).chunk_kv_freed is True


def test_the_serving_pool_keeps_every_key(scout):
    # the pool charges a 20,000-token sequence all 48 layers' keys, not 12 full layers and
    # 36 current chunks (20,000 - 2 x 8192 = 3,616 keys each)
    h = load_hardware("h200-sxm")
    assert MapperIterationCost(scout, h, runtime="trtllm-pytorch").chunk_kv_freed is False
    assert layer_tokens(kv_groups(scout, False), 20_000) == 48 * 20_000
    assert layer_tokens(kv_groups(scout), 20_000) == 12 * 20_000 + 36 * 3616


def test_keeping_every_key_serves_long_prompts_slower(tmp_path):
    # the physical direction of the knob: a cache that frees the out-of-chunk keys holds
    # more sequences of the same KV blocks
    h = load_hardware("h200-sxm")
    traffic = burst(tmp_path, 24, 16000, 512)

    def run(value):
        rt = tune_runtime(h, "trtllm-pytorch", {"chunk_kv_freed": value})
        dep = Deployment(runtime=rt, weights="fp8", activations="fp8", kv="fp8")
        return serve("llama-4-scout", h, traffic, ServingPolicy(max_batch=64,
                                                                  max_tokens=16384),
                     deployment=dep, engine="simpy")

    kept, freed = run(0.0), run(1.0)
    assert kept.feasible and freed.feasible
    assert kept.to_dict()["kv_blocks"] == freed.to_dict()["kv_blocks"]
    assert freed.throughput_tok_s > 1.05 * kept.throughput_tok_s
