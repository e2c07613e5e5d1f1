"""A fused MoE kernel that sizes its buffers for every (token, expert) row of a step
(TensorRT-LLM's CUTLASS MoE, the `moe_workspace` engine knob) takes them from the KV cache.
Expected values by hand from the Qwen3-235B-A22B config and TensorRT-LLM's workspace layout."""

from __future__ import annotations

import math

import pytest

from infersim.hwmodels import load_hardware
from infersim.hwmodels.runtime_knobs import tune_runtime
from infersim.simulator.serving import Deployment, MapperIterationCost
from infersim.simulator.serving.kvcache import plan_kv
from infersim.workloads import build_trace, load_model
from infersim.workloads.dtypes import DType
from infersim.workloads.scenario import Parallelism, Phase, Precision, Scenario
from tests._support import MULTI_GPU_COMM, TRTLLM_HELD

# Qwen3-235B-A22B: hidden 4096, 128 experts, top-8, expert intermediate 1536 (gated)
H, K, W = 4096, 8, 1536
# per routed row: fp8 permuted input (4096) and activation output (1536), bf16 gate-up
# output (2 x 1536) and down output (4096), three int32 row indices
PER_ROW = (H + W) * 1 + (2 * W + H) * 2 + 12


def test_workspace_by_hand():
    m = load_model("qwen3-235b-a22b")
    prec = Precision(weights=DType.FP8, activations=DType.FP8, kv=DType.FP8)
    # 8 attention-DP groups of one GPU, 1,024 prompt tokens each: 8,192 routed tokens
    sc = Scenario(Phase.PREFILL, 1, prompt=1024, precision=prec,
                  parallel=Parallelism(tp=1, ep=8, dp=8))
    res = build_trace(m, sc).resident
    assert PER_ROW == 19980
    assert res.moe_workspace_bytes == 8 * 1024 * K * PER_ROW
    assert build_trace("llama-3.1-8b", Scenario(Phase.PREFILL, 1, prompt=1024)
                       ).resident.moe_workspace_bytes == 0.0


def test_the_kv_cache_gets_what_the_workspace_leaves():
    m = load_model("qwen3-235b-a22b")
    h = load_hardware("dgx-h100")
    kw = dict(tp=1, ep=8, dp=8, weights="fp8", activations="fp8", kv="fp8")
    on = MapperIterationCost(m, h, runtime="trtllm-pytorch", **kw)
    off_rt = tune_runtime(h, "trtllm-pytorch", {"moe_workspace": 0.0})
    off = MapperIterationCost(m, h, runtime=off_rt, **kw)
    tokens = 65536  # the replica's max_tokens: 8,192 per rank, all gathered at the experts
    f_on, f_off = on.facts(tokens), off.facts(tokens)
    assert f_on.max_activation_bytes_per_chip == pytest.approx(tokens * K * PER_ROW)
    assert f_off.max_activation_bytes_per_chip < f_on.max_activation_bytes_per_chip / 5
    dep = Deployment(tp=1, ep=8, dp=8, runtime="trtllm-pytorch", weights="fp8",
                     activations="fp8", kv="fp8", activation_reserve_bytes=None)
    p_on, p_off = plan_kv(h, f_on, dep, 32), plan_kv(h, f_off, dep, 32)
    # TensorRT-LLM's KV share, 0.9 of what weights, twice the activations, its process's
    # own memory (TRTLLM_HELD, by hand from its memory guide's log) and, on these 8 GPUs,
    # the communication buffers (MULTI_GPU_COMM, from vLLM's TP2 log) leave of HBM
    cap = next(x.capacity_bytes for x in h.chip.memory if x.name == "hbm")
    want = math.floor(0.9 * (cap - f_on.weight_bytes_per_chip
                             - 2 * f_on.max_activation_bytes_per_chip - TRTLLM_HELD
                             - MULTI_GPU_COMM)
                      / (32 * f_on.kv_bytes_per_token_per_chip))
    assert p_on.blocks == want
    assert p_on.blocks < p_off.blocks
