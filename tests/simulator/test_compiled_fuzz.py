"""Differential fuzzing of the compiled serving engine against the simpy engine: named edge
cases (each checks that the edge it names is reached) and a fixed list of random
configurations over the scheduler, KV, traffic, runtime and hardware knobs. Both engines run
the same real `MapperIterationCost`; `to_dict()` must agree (rtol 1e-9, counts exact), and
on one replica the per-request records and KV samples exactly (several replicas behind round
robin: `same_times`)."""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from infersim.hwmodels import load_hardware
from infersim.hwmodels.runtime_knobs import tune_runtime
from infersim.simulator.serving import (
    Admission,
    FixedLengths,
    Gamma,
    Lognormal,
    Poisson,
    Prefixes,
    SampledLengths,
    ServingPolicy,
    ServingResult,
    Traffic,
    compiled,
    simulate_serving,
)
from infersim.simulator.serving.costs import MapperIterationCost
from infersim.simulator.serving.serve import ReplicaSpec
from infersim.simulator.serving.traffic import TraceReplay, Uniform, Zipf
from infersim.workloads import load_model
from tests._support import same_times

# (model, hardware, runtime, tp): floors of every GPU runtime profile that has one, a MoE,
# tp = 2 on a DGX, and the wafer, LPU and CIM kinds
DEPLOYMENTS: dict[str, tuple[str, str, str | None, int]] = {
    "dense": ("llama-3.2-1b", "h100-sxm", None, 1),
    "vllm-v0": ("llama-3.2-1b", "h100-sxm", "vllm-v0-api", 1),
    "sglang": ("llama-3.2-1b", "h100-sxm", "sglang-api", 1),
    "sglang-v03": ("llama-3.2-1b", "h100-sxm", "sglang-v03-api", 1),
    "trtllm": ("llama-3.2-1b", "h100-sxm", "trtllm-triton", 1),
    "trtllm-v011": ("llama-3.2-1b", "h100-sxm", "trtllm-triton-v011", 1),
    "trtllm-batched": ("llama-3.2-1b", "h100-sxm", "trtllm-triton", 1),
    "moe": ("qwen3-30b-a3b", "h100-sxm", None, 1),
    "tp2": ("llama-3.1-8b", "dgx-h100", None, 2),
    "wafer": ("llama-3.2-1b", "cs-3", None, 1),
    "lpu": ("llama-3.2-1b", "groq-576", None, 1),
    "cim": ("llama-3.2-1b", "sram-cim", None, 1),
    # TensorRT-LLM's own scheduling: whole prompts (chunked_context 0), and for the PyTorch
    # backend the held-request walk and CUDA-graph padding (a MoE's dummy rows routed alike)
    "trtllm-own": ("llama-3.2-1b", "h100-sxm", "trtllm-triton", 1),
    "trtllm-pytorch": ("llama-3.2-1b", "h100-sxm", "trtllm-pytorch", 1),
    "trtllm-pytorch-moe": ("qwen3-30b-a3b", "h100-sxm", "trtllm-pytorch", 1),
}
# profile knobs a deployment changes: these compare TensorRT-LLM's floors with its chunked
# context on (its own whole-prompt batching: the `trtllm-own` deployments); vLLM V0's with a
# host cost per sequence below its API server's chunk (137 us), so that front-end floor binds
# at large batches (at the fitted 145 us, `engines._VLLM_V0_SEQ_S`, it seldom does)
KNOBS: dict[str, dict[str, float]] = {"vllm-v0": {"step_overhead_per_seq_s": 20e-6},
                                      "trtllm": {"chunked_context": 1.0},
                                      "trtllm-v011": {"chunked_context": 1.0},
                                      # a batched call long enough to bind (5 ms per step)
                                      "trtllm-batched": {"chunked_context": 1.0,
                                                         "stream_call_s": 5e-3}}
_COSTS: dict[tuple[str, bool], MapperIterationCost] = {}


def cost_of(name: str, prefix: bool) -> MapperIterationCost:
    """One cost per deployment; with prefix caching, the sparse cached axes `serve` uses."""
    if (name, prefix) not in _COSTS:
        model, hw, runtime, tp = DEPLOYMENTS[name]
        kw = {"cached_chunk_per_octave": 8, "cached_per_octave": 4} if prefix else {}
        h = load_hardware(hw)
        rt = tune_runtime(h, runtime, KNOBS[name]) if name in KNOBS and runtime else runtime
        _COSTS[name, prefix] = MapperIterationCost(load_model(model), h, runtime=rt, tp=tp,
                                                   **kw)
    return _COSTS[name, prefix]


def both(dep: str, traffic: Traffic, policy: ServingPolicy, spec: ReplicaSpec,
         max_context: int | None = None, seed: int = 0, replicas: int = 1) -> ServingResult:
    """Run both engines from the same start; assert equal results; return the simpy one.
    Several replicas: times equal to rounding (see `same_times`), the rest as one.
    Admission `auto` runs on demand here (the cases' preemptions); `reserve` is asked for
    explicitly (the TensorRT-LLM cases)."""
    cost = cost_of(dep, policy.prefix_caching)
    if policy.admission == Admission.AUTO:
        policy = dataclasses.replace(policy, admission=Admission.ON_DEMAND)
    assert compiled.why_not(spec, cost, False, policy, replicas, False, None) == ""
    out = []
    for engine in ("simpy", "compiled"):
        cost.restore_decode_cells()  # history of the decode cells: both engines start from none
        out.append(simulate_serving(spec, cost, traffic, policy, seed=seed, engine=engine,
                                    max_context=max_context, replicas=replicas))
    a, b = out
    da, db = a.to_dict(), b.to_dict()
    assert da.keys() == db.keys()
    for k, x in da.items():
        y = db[k]
        if isinstance(x, float) and not isinstance(x, bool):
            assert (math.isnan(x) and math.isnan(y)) or math.isclose(x, y, rel_tol=1e-9), \
                (k, x, y)
        else:
            assert x == y, (k, x, y)
    if replicas == 1:
        for k, x in a.per_request.items():
            assert np.array_equal(x, b.per_request[k], equal_nan=True), k
        assert a.kv_samples == b.kv_samples
    else:
        same_times(a, b)
    return a



def spec_(kv_blocks: int = 1 << 30, **kw: Any) -> ReplicaSpec:
    return ReplicaSpec(kv_blocks=kv_blocks, kv_bytes_per_token_per_chip=3e4,
                       idle_power_w=100.0, extra_power_w=5.0, **kw)


Check = Callable[[ServingResult], bool]
LN = SampledLengths(Lognormal.from_mean(400, 1.0, 1, 3000), Lognormal.from_mean(80, 1.0, 1, 600))
# name: (deployment, traffic, policy, spec, max_context, what the case must reach)
NAMED: dict[str, tuple[str, Traffic, ServingPolicy, ReplicaSpec, int | None, Check]] = {
    "max_batch_1": ("dense", Traffic(Poisson(30.0), LN, 200), ServingPolicy(max_batch=1),
                    spec_(), None, lambda r: r.completed == 200),
    "max_batch_2_chunked": ("dense", Traffic(Poisson(30.0), LN, 300),
                            ServingPolicy(kind="chunked", max_batch=2, max_tokens=256),
                            spec_(), None, lambda r: r.completed == 300),
    "max_batch_large": ("dense", Traffic(Poisson(500.0), LN, 500),
                        ServingPolicy(max_batch=100_000), spec_(), None,
                        lambda r: r.completed == 500),
    # continuous: a prompt above max_tokens can never be scheduled
    "max_tokens_below_prompts": ("dense", Traffic(Poisson(40.0), LN, 600),
                                 ServingPolicy(max_tokens=300), spec_(), None,
                                 lambda r: 0 < r.rejected < 600),
    # chunked: long prompts go through in many chunks
    "chunked_many_chunks": ("dense", Traffic(Poisson(40.0), LN, 300),
                            ServingPolicy(kind="chunked", max_tokens=32), spec_(), None,
                            lambda r: r.completed == 300),
    "block_size_1": ("dense", Traffic(Poisson(60.0), LN, 500),
                     ServingPolicy(block_size=1), spec_(kv_blocks=4000), None,
                     lambda r: r.preemptions > 0),
    "block_size_7_chunked": ("dense", Traffic(Poisson(60.0), LN, 500),
                             ServingPolicy(kind="chunked", block_size=7, max_tokens=512),
                             spec_(kv_blocks=700), None, lambda r: r.preemptions > 0),
    "block_size_32_swap": ("dense", Traffic(Poisson(60.0), LN, 500),
                           ServingPolicy(block_size=32, preemption="swap"),
                           spec_(kv_blocks=150), None, lambda r: r.preemptions > 0),
    # a cache of 3 blocks: the watermark and requests that never fit
    "watermark_3_blocks": ("dense", Traffic(Poisson(20.0), SampledLengths(Uniform(1, 60),
                                                                          Uniform(1, 20)), 300),
                           ServingPolicy(), spec_(kv_blocks=3), None,
                           lambda r: r.completed > 0 and r.rejected > 0),
    "watermark_50_chunked": ("dense", Traffic(Poisson(50.0), SampledLengths(Uniform(1, 400),
                                                                            Uniform(1, 200)),
                                              400),
                             ServingPolicy(kind="chunked", max_tokens=128), spec_(kv_blocks=50),
                             None, lambda r: r.completed > 0 and r.preemptions > 0),
    # swap over a 100 MB/s host link: swaps dominate the iteration time
    "swap_slow_host_link": ("dense", Traffic(Poisson(60.0), LN, 500),
                            ServingPolicy(kind="chunked", preemption="swap", max_tokens=1024),
                            spec_(kv_blocks=200, host_link_Bps=1e8), None,
                            lambda r: r.preemptions > 0),
    "max_context_rejections": ("dense", Traffic(Poisson(40.0), LN, 600), ServingPolicy(),
                               spec_(), 500, lambda r: 0 < r.rejected < 600),
    "one_token_prompts_and_outputs": ("dense", Traffic(Poisson(200.0), FixedLengths(1, 1), 1000),
                                      ServingPolicy(kind="chunked"), spec_(kv_blocks=20),
                                      None, lambda r: r.completed == 1000),
    "one_token_outputs": ("dense", Traffic(Poisson(100.0), SampledLengths(Zipf(1.1, 1, 2000),
                                                                          Uniform(1, 1)), 600),
                          ServingPolicy(), spec_(), None, lambda r: r.completed == 600),
    # system prompts longer than the prompts, many turns, prefix caching under eviction
    "prefix_eviction_pressure": ("dense", Traffic(Poisson(80.0),
                                                  SampledLengths(Uniform(1, 40), Uniform(1, 60)),
                                                  1200, Prefixes(6, 700, 8)),
                                 ServingPolicy(prefix_caching=True), spec_(kv_blocks=150), None,
                                 lambda r: r.prefix_cache["hit_tokens"] > 0
                                 and r.prefix_cache["cached_blocks_peak"] >= 140
                                 and r.preemptions > 0),
    "prefix_chunked_block_7": ("dense", Traffic(Poisson(80.0),
                                                SampledLengths(Uniform(1, 40), Uniform(1, 60)),
                                                1000, Prefixes(4, 500, 6)),
                               ServingPolicy(kind="chunked", prefix_caching=True, block_size=7,
                                             max_tokens=256), spec_(kv_blocks=900), None,
                               lambda r: r.prefix_cache["hit_tokens"] > 0),
    "poisson_burst": ("dense", Traffic(Poisson(5000.0), LN, 1500), ServingPolicy(max_batch=64),
                      spec_(kv_blocks=1500), None, lambda r: r.preemptions > 0),
    "idle_gaps": ("dense", Traffic(Poisson(0.5), LN, 200), ServingPolicy(kind="chunked"),
                  spec_(), None, lambda r: r.completed == 200),
    # arrivals closer than float spacing at the clock's scale, and ~12 days apart
    "rate_1e9_gamma": ("dense", Traffic(Gamma(1e9, 1000.0), LN, 300), ServingPolicy(),
                       spec_(kv_blocks=300), None, lambda r: r.preemptions > 0),
    "rate_1e-6": ("dense", Traffic(Poisson(1e-6), LN, 50, Prefixes(2, 100, 3)),
                  ServingPolicy(kind="chunked", prefix_caching=True), spec_(), None,
                  lambda r: r.completed == 50),
    "gamma_bursty": ("dense", Traffic(Gamma(100.0, 4.0), LN, 800), ServingPolicy(),
                     spec_(kv_blocks=800), None, lambda r: r.preemptions > 0),
}
for _dep in ("vllm-v0", "sglang", "sglang-v03", "trtllm", "trtllm-v011", "trtllm-batched", "moe",
             "tp2", "wafer", "lpu", "cim"):
    for _kind in ("continuous", "chunked"):
        NAMED[f"{_dep}_{_kind}"] = (
            _dep, Traffic(Poisson(200.0), FixedLengths(500, 120), 300, Prefixes(2, 300, 2)),
            ServingPolicy(kind=_kind, max_tokens=1024 if _kind == "chunked" else 4096),
            spec_(kv_blocks=150), None,
            lambda r: r.completed > 0 and r.preemptions > 0)
for _dep in ("trtllm-own", "trtllm-pytorch", "trtllm-pytorch-moe"):
    for _kind in ("continuous", "chunked"):
        # KV reserved for whole requests: nothing is preempted, requests wait for room
        NAMED[f"{_dep}_{_kind}_reserve"] = (
            _dep, Traffic(Poisson(200.0), LN, 400),
            ServingPolicy(kind=_kind, admission="reserve", max_batch=64,
                          max_tokens=1024 if _kind == "chunked" else 4096),
            spec_(kv_blocks=400), 3000,
            lambda r: r.completed > 0 and r.preemptions == 0
            and np.nanmax(r.per_request["scheduled_s"] - r.per_request["arrival_s"]) > 0.1)


@pytest.mark.parametrize("name", list(NAMED))
def test_named_case(name: str) -> None:
    dep, traffic, policy, spec, max_context, reached = NAMED[name]
    assert reached(both(dep, traffic, policy, spec, max_context)), name


@pytest.mark.parametrize("dep", ["vllm-v0", "sglang", "sglang-v03", "trtllm-v011",
                                 "trtllm-batched"])
def test_serving_floor_binds(dep: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Large decode batches, where the runtime's serving floor is longer than the device's
    iteration (the chips wait at idle power): the compiled engine prices that floor too."""
    cost = cost_of(dep, False)
    real, binds = cost.floored, []

    def spy(t: float, e: float, decode_seqs: int, prefill_emits: int,
            held: int = 0) -> tuple[float, float]:
        out = real(t, e, decode_seqs, prefill_emits, held)
        binds.append(out[0] > t)
        return out

    monkeypatch.setattr(cost, "floored", spy)  # counts the simpy engine's iterations
    both(dep, Traffic(Poisson(2000.0), FixedLengths(200, 300), 600),
         ServingPolicy(max_batch=128), spec_())
    assert sum(binds) > len(binds) // 4


@pytest.mark.parametrize(("grid_s", "replicas"), [(0.0, 1), (0.01, 1), (0.0, 3), (0.01, 8)])
def test_trace_replay_with_simultaneous_arrivals(tmp_path: Any, grid_s: float,
                                                 replicas: int) -> None:
    """A replayed trace whose arrivals tie (all at 0, or on a 10 ms grid): the engines must
    take simultaneous arrivals in the same order (and the router hand them out in it)."""
    rng = np.random.default_rng(4)
    t = np.sort(rng.uniform(0.0, 2.0, 200))
    t = np.round(t / grid_s) * grid_s if grid_s else t * 0.0
    path = tmp_path / "trace.csv"
    rows = [f"{float(a)!r},{int(p)},{int(o)}" for a, p, o in
            zip(t, rng.integers(1, 1500, 200), rng.integers(1, 150, 200), strict=True)]
    path.write_text("arrival_s,prompt_tokens,output_tokens\n" + "\n".join(rows) + "\n")
    for kind in ("continuous", "chunked"):
        r = both("dense", Traffic(TraceReplay(str(path)), None, None, Prefixes(2, 200, 3)),
                 ServingPolicy(kind=kind, max_batch=32, max_tokens=2048),
                 spec_(kv_blocks=300 if replicas == 1 else 110), replicas=replicas)
        assert r.completed > 0 and r.preemptions > 0
        assert len(set(t.tolist())) < 200  # ties happen


def _dist(rng: np.random.Generator, high: int) -> Any:
    c = int(rng.integers(0, 3))
    if c == 0:
        return Uniform(1, high)
    if c == 1:
        return Lognormal.from_mean(max(1.0, high / 4), float(rng.uniform(0.3, 1.5)), 1, high)
    return Zipf(float(rng.uniform(0.5, 2.0)), 1, high)


def random_case(seed: int) -> tuple[str, Traffic, ServingPolicy, ReplicaSpec, int | None]:
    """One random configuration; the cache is sized from the longest conversation so most
    runs complete requests and some preempt."""
    rng = np.random.default_rng(seed)
    dep = str(rng.choice(list(DEPLOYMENTS))) if rng.random() < 0.4 else "dense"
    prefix = bool(rng.random() < 0.4)
    bs = int(rng.choice([1, 7, 16, 32]))
    pmax, omax = int(rng.choice([1, 2, 50, 500, 3000])), int(rng.choice([1, 2, 40, 300]))
    lengths = (FixedLengths(int(rng.integers(1, pmax + 1)), int(rng.integers(1, omax + 1)))
               if rng.random() < 0.3 else SampledLengths(_dist(rng, pmax), _dist(rng, omax)))
    px = None
    if prefix or rng.random() < 0.3:
        sp = int(rng.integers(0, 5))
        px = Prefixes(sp, int(rng.integers(1, 800)) if sp else 0, int(rng.integers(1, 9)))
    rate = float(rng.choice([0.5, 5.0, 40.0, 300.0, 5000.0]))
    arrival = Poisson(rate) if rng.random() < 0.7 else Gamma(rate, float(rng.uniform(0.3, 4)))
    policy = ServingPolicy(kind=str(rng.choice(["continuous", "chunked"])),
                           prefix_caching=prefix,
                           preemption="recompute" if prefix or rng.random() < 0.5 else "swap",
                           max_batch=int(rng.choice([1, 2, 3, 8, 32, 256, 5000])),
                           max_tokens=int(rng.choice([8, 64, 200, 512, 1024, 8192, 8192])),
                           block_size=bs)
    longest = (pmax + omax) * (px.turns if px else 1) + (px.system_tokens if px else 0)
    blocks = max(1, int(-(-longest // bs) * float(rng.choice([1.0, 1.3, 2.5, 6.0, 20.0]))))
    if rng.random() < 0.15:
        blocks = int(rng.choice([3, 7, 20, 50, 1 << 30]))
    spec = ReplicaSpec(kv_blocks=blocks, chips=DEPLOYMENTS[dep][3],
                       kv_bytes_per_token_per_chip=float(rng.choice([0.0, 3e4, 1e6])),
                       host_link_Bps=float(rng.choice([64e9, 1e8, 1e6])),
                       idle_power_w=float(rng.choice([0.0, 100.0])),
                       extra_power_w=float(rng.choice([0.0, 7.0])))
    max_context = int(rng.choice([0, 0, 0, 0, 10, 100, 600, 2000])) or None
    return dep, Traffic(arrival, lengths, int(rng.integers(20, 400)), px), policy, spec, \
        max_context


RANDOM_SEEDS = list(range(60))


@pytest.mark.parametrize("seed", RANDOM_SEEDS)
def test_random_case(seed: int) -> None:
    dep, traffic, policy, spec, max_context = random_case(seed)
    both(dep, traffic, policy, spec, max_context, seed=seed)


@pytest.mark.parametrize("seed", RANDOM_SEEDS[:24])
def test_random_case_round_robin(seed: int) -> None:
    """The random configurations on 2, 3 or 8 replicas behind round robin."""
    dep, traffic, policy, spec, max_context = random_case(seed)
    replicas = int(np.random.default_rng(seed + 1000).choice([2, 3, 8]))
    both(dep, traffic, policy, spec, max_context, seed=seed, replicas=replicas)


def test_random_cases_reach_the_edges() -> None:
    """The random list is not vacuous: it covers both policies, preemption in both modes,
    rejections, prefix hits and runs that complete requests (counted over its configs)."""
    kinds, swaps, rejects, hits, done = set(), 0, 0, 0, 0
    for seed in RANDOM_SEEDS[:30]:
        dep, traffic, policy, spec, max_context = random_case(seed)
        cost = cost_of(dep, policy.prefix_caching)
        cost.restore_decode_cells()
        r = simulate_serving(spec, cost, traffic, policy, seed=seed, engine="compiled",
                             max_context=max_context)
        kinds.add(policy.kind.value)
        swaps += r.preemptions > 0 and policy.preemption.value == "swap"
        rejects += r.rejected > 0
        hits += policy.prefix_caching and r.prefix_cache["hit_tokens"] > 0
        done += r.completed > 0
    assert kinds == {"continuous", "chunked"}
    assert swaps > 0 and rejects > 0 and hits > 0 and done >= 15


def test_compiled_is_deterministic_for_a_seed() -> None:
    dep, traffic, policy, spec, max_context = random_case(7)
    cost = cost_of(dep, policy.prefix_caching)
    runs = []
    for _ in range(2):
        cost.restore_decode_cells()
        runs.append(simulate_serving(spec, cost, traffic, policy, seed=11, engine="compiled",
                                     max_context=max_context).to_dict())
    assert json.dumps(runs[0], sort_keys=True) == json.dumps(runs[1], sort_keys=True)


def test_cli_engine_flag_with_a_floor_runtime(capsys: pytest.CaptureFixture[str]) -> None:
    """`serve --engine` goes through the front door: same JSON from both engines with a
    runtime whose serving floor is not zero (the compiled engine prices that floor itself)."""
    from infersim.cli import main

    args = ["serve", "--model", "llama-3.2-1b", "--hw", "h100-sxm", "--runtime", "vllm-v0-api",
            "--requests", "300", "--prompt", "300", "--output", "40", "--rate", "30",
            "--policy", "chunked", "--max-tokens", "256", "--json"]
    outs = []
    for engine in ("simpy", "compiled"):
        assert main([*args, "--engine", engine]) == 0
        outs.append(json.loads(capsys.readouterr().out))
    assert outs[0] == outs[1]
    assert outs[0]["runtime"] == "vllm-v0-api"
