"""Expert-parallel load under skewed routing (`workloads.routing`) and the engines' MoE token
exchange (`Parallelism.moe_exchange`, `mapper.engine_scenario`): independent derivations,
the fit's reproduction, and the knobs' physical direction."""

from __future__ import annotations

import dataclasses
import itertools
import json
import math

import numpy as np
import pytest
from scipy.integrate import quad
from scipy.stats import norm

from infersim.api import load_hardware, make_scenario, simulate
from infersim.foundation.errors import InputError
from infersim.mapper import engine_scenario
from infersim.validation.fitting import routing_skew as fit
from infersim.workloads.routing import (
    EPLB_DRIFT_SIGMA,
    ROUTING_SKEW_SIGMA,
    busiest_with_identical,
    expected_max_normal,
    hot_rank_factor,
    rank_load_factor,
    rank_loads,
    sampling_excess,
)


def test_expected_max_normal_closed_forms() -> None:
    assert expected_max_normal(1) == 0.0
    assert expected_max_normal(2) == pytest.approx(1.0 / math.sqrt(math.pi), rel=1e-9)
    assert expected_max_normal(3) == pytest.approx(1.5 / math.sqrt(math.pi), rel=1e-9)


def test_sampling_excess_of_two_ranks_matches_the_binomial_sum() -> None:
    # n pairs over 2 ranks: the busiest holds E[max(X, n − X)], X ~ Binomial(n, 1/2)
    for n in (16, 64, 128, 512):
        exact = sum(max(x, n - x) * math.comb(n, x) for x in range(n + 1)) / 2 ** n
        assert sampling_excess(2, n / 2) == pytest.approx(exact / (n / 2) - 1.0, rel=0.03)


def test_two_ranks_one_expert_each_matches_quadrature() -> None:
    # 2 experts on 2 ranks: max/mean = 2·max(X, Y)/(X + Y) = 2/(1 + exp(-|D|)) with
    # D = ln X − ln Y ~ N(0, 2σ²): a one-dimensional integral, no sampling
    for sigma in (0.5, 1.0, 1.5):
        s = sigma * math.sqrt(2.0)
        exact, _ = quad(lambda d, s=s: 2.0 / (1.0 + math.exp(-abs(d))) * norm.pdf(d, 0.0, s),
                        -12 * s, 12 * s)
        assert rank_load_factor(2, 2, 2, sigma) == pytest.approx(exact, rel=0.02)


def test_uniform_and_single_rank_are_even() -> None:
    assert rank_load_factor(128, 8, 128, 0.0) == 1.0
    assert rank_load_factor(128, 1, 128, 1.0) == 1.0
    assert hot_rank_factor(128, 1, 128, 1.0, 10.0) == 1.0
    # uniform routing keeps the sampling term: 1 + E[max of 8 normals]/sqrt(pairs)
    assert hot_rank_factor(128, 8, 128, 0.0, 100.0) == pytest.approx(
        1.0 + expected_max_normal(8) / 10.0)


def test_identical_rows_by_hand() -> None:
    # none: the busiest rank is hot_rank_factor's; one rank: every pair, the k experts hot
    assert busiest_with_identical(16, 4, 16, 1.08, 187.0, 0, 1)[0] == pytest.approx(
        187.0 * hot_rank_factor(16, 4, 16, 1.08, 187.0), rel=1e-12)
    assert busiest_with_identical(128, 1, 128, 1.08, 300.0, 50, 8) == (300.0 + 50 * 8, 8.0)
    # identical rows sent to every expert (k = E) put E/ep experts' worth on every rank:
    # the busiest is the real busiest plus u·E/ep
    real = 64.0 * hot_rank_factor(16, 4, 16, 1.08, 64.0)
    top, held = busiest_with_identical(16, 4, 16, 1.08, 64.0, 100, 16)
    assert (top, held) == (pytest.approx(real + 100 * 4, rel=1e-12), 4.0)
    # top-1: one expert takes all u rows, so some rank runs at least u of them
    top1, held1 = busiest_with_identical(16, 4, 16, 1.08, 64.0, 1000, 1)
    assert top1 > 1000.0 and held1 == pytest.approx(1.0, abs=0.01)
    # more identical rows never lighten the busiest rank
    t = [busiest_with_identical(128, 8, 128, 1.08, 200.0, u, 8)[0] for u in (0, 10, 100, 1000)]
    assert all(a < b for a, b in itertools.pairwise(t))


def test_identical_rows_against_brute_force_routing() -> None:
    # uniform routing (σ = 0): 4 ranks of 4 experts, 200 real tokens top-1 spread at random
    # plus 60 identical rows on one random expert, the busiest rank by brute force
    rng = np.random.default_rng(11)
    trials = 20000
    real = rng.integers(0, 16, size=(trials, 200)) // 4
    loads = np.stack([(real == r).sum(axis=1) for r in range(4)], axis=1).astype(float)
    loads[np.arange(trials), rng.integers(0, 16, size=trials) // 4] += 60
    brute = loads.max(axis=1).mean()
    model, _ = busiest_with_identical(16, 4, 16, 0.0, 50.0, 60, 1)
    assert model == pytest.approx(brute, rel=0.03)


def test_skew_raises_and_redundant_experts_lower_the_busiest_rank() -> None:
    f = [rank_load_factor(256, 32, 256, s) for s in (0.3, 0.6, 1.0, 1.4)]
    assert all(a < b for a, b in itertools.pairwise(f))
    # EPLB: 32 extra copies of the hottest experts over the same 32 ranks
    assert rank_load_factor(256, 32, 288, 1.0) < 0.5 * (rank_load_factor(256, 32, 256, 1.0)
                                                         + 1.0)


def test_eplb_packing_keeps_slots_per_rank_and_total_load() -> None:
    p = np.random.default_rng(3).lognormal(0.0, 1.0, size=(16, 64))
    loads = rank_loads(p, 8, 72)  # 9 slots per rank
    assert np.allclose(loads.sum(axis=1), p.sum(axis=1))


def test_fit_reproduces_the_constant_and_its_file() -> None:
    r = fit.fit()
    assert r["value"] == ROUTING_SKEW_SIGMA
    assert r["fitted_on"]["model_imbalance_ratio"] == pytest.approx(fit.IMBALANCE, abs=0.02)
    # not fitted: the spread of the ranks' loads at the same σ
    assert r["checks"]["std_over_mean"]["model"] == pytest.approx(fit.STD / fit.MEAN, rel=0.05)
    saved = json.loads(fit.OUT.read_text())
    assert saved["value"] == ROUTING_SKEW_SIGMA
    # the EPLB drift: fitted on the post-EPLB imbalance-ratio, checked on its std/mean,
    # which perfect knowledge of the popularities misses by 40%
    d = r["eplb_drift"]
    assert d["value"] == EPLB_DRIFT_SIGMA == saved["eplb_drift"]["value"]
    assert d["model_imbalance_ratio"] == pytest.approx(fit.EPLB_IMBALANCE, abs=0.005)
    assert r["checks"]["after_eplb"]["model_std_over_mean"] == pytest.approx(
        fit.EPLB_STD / fit.MEAN, rel=0.10)
    perfect_cv = fit.statistics_at(ROUTING_SKEW_SIGMA, fit.EPLB_EP, fit.EPLB_SLOTS)[1]
    assert perfect_cv < 0.7 * fit.EPLB_STD / fit.MEAN


def test_eplb_drift_raises_the_busiest_rank_only_with_redundant_experts() -> None:
    f = [rank_load_factor(256, 32, 288, 1.0, d) for d in (0.0, 0.05, 0.1, 0.2)]
    assert all(a < b for a, b in itertools.pairwise(f))
    # without redundant slots there is no placement to plan: drift changes nothing
    assert rank_load_factor(256, 32, 256, 1.0, 0.3) == rank_load_factor(256, 32, 256, 1.0, 0.0)
    # a placement planned on drifted popularities, loaded with the true ones, keeps the load
    p = np.random.default_rng(5).lognormal(0.0, 1.0, size=(8, 64))
    assert np.allclose(rank_loads(p, 8, 72, 0.3).sum(axis=1), p.sum(axis=1))


def test_identical_rows_load_the_busiest_ranks_experts() -> None:
    # a decode step of 3072 rows over dp 8 x ep 8, 204 of them identical (CUDA-graph
    # padding's dummies): their 8 experts each get all 204, so the busiest rank's grouped
    # GEMM has a hotter expert (its pairs need not grow: the identical rows skip the
    # popular experts' skew) and the step does not get faster; top-1 Llama-4 Scout over
    # ep 4 puts all of them on one rank; a dense model has no experts to load
    from infersim.hwmodels import load_hardware
    from infersim.mapper import map_trace
    from infersim.workloads.builder import build_trace
    from infersim.workloads.dtypes import DType
    from infersim.workloads.scenario import Parallelism, Phase, Precision, Scenario

    par = Parallelism(tp=1, dp=8, ep=8, moe_exchange="allgather")
    prec = Precision(DType.FP8, DType.FP8, DType.FP8)

    def experts(u: int, model: str = "qwen3-30b-a3b") -> list:
        sc = Scenario(Phase.DECODE, 3072, context=1000, precision=prec, parallel=par,
                      moe_identical=u)
        return [o for o in build_trace(model, sc).ops if o.name.startswith("experts_")]

    base, padded = experts(0), experts(204)
    up0 = next(o for o in base if o.name == "experts_gate_up")
    up1 = next(o for o in padded if o.name == "experts_gate_up")
    assert up1.shape.imbalance > up0.shape.imbalance
    hw = load_hardware("dgx-h200")
    scout = Parallelism(tp=1, dp=4, ep=4, moe_exchange="allgather")
    t = [map_trace(build_trace("llama-4-scout", Scenario(
        Phase.DECODE, 1024, context=1000, precision=prec, parallel=scout, moe_identical=u)),
        hw, "trtllm-pytorch").latency_s for u in (0, 64, 204, 1000)]
    assert all(a < b for a, b in itertools.pairwise(t))
    dense = Scenario(Phase.DECODE, 64, context=100, precision=prec)
    assert build_trace("llama-3.1-8b", dense).ops == build_trace(
        "llama-3.1-8b", dataclasses.replace(dense, moe_identical=20)).ops
    with pytest.raises(InputError):
        Scenario(Phase.DECODE, 64, moe_identical=-1)


def test_routing_skew_slows_an_expert_parallel_prefill_only() -> None:
    def step(skew: float, ep: int) -> float:
        return simulate("qwen3-30b-a3b", "dgx-h100", "prefill", 8 if ep > 1 else 1,
                        prompt=2048, tp=1, dp=ep, ep=ep, weights="fp8",
                        activations="fp8", runtime="trtllm", routing_skew=skew).latency_s

    assert step(0.0, 8) < step(0.5, 8) < step(1.0, 8)
    assert step(0.0, 1) == step(1.0, 1)  # one GPU holds every expert: nothing to wait for


def test_engines_resolve_the_exchange() -> None:
    hw = load_hardware("dgx-h100")

    def ex(ep: int, runtime: str, chosen: str = "auto") -> str:
        sc = make_scenario("decode", 8, tp=1, dp=ep, ep=ep, moe_exchange=chosen)
        return engine_scenario(sc, hw, runtime).parallel.moe_exchange

    assert ex(8, "trtllm") == "allgather"  # TensorRT-LLM: reduce-scatter up to EP8
    assert ex(8, "vllm-v1") == "allgather"  # vLLM's default backend
    assert ex(8, "graph") == "all_to_all"  # no engine: a plain all-to-all
    assert ex(8, "trtllm", "all_to_all") == "all_to_all"  # a named exchange stays
    hw16 = load_hardware("dgx-h800x4")  # 32 GPUs over 4 nodes
    sc16 = make_scenario("decode", 16, tp=1, dp=16, ep=16)
    assert engine_scenario(sc16, hw16, "trtllm").parallel.moe_exchange == "all_to_all"


def test_bad_exchange_and_skew_are_input_errors() -> None:
    with pytest.raises(InputError, match="moe_exchange"):
        make_scenario("decode", 1, moe_exchange="broadcast")
    with pytest.raises(InputError, match="routing_skew"):
        make_scenario("decode", 1, routing_skew=-1.0)


def test_serve_takes_the_same_knobs_as_simulate() -> None:
    # one answer everywhere: a serving iteration cost built with the deployment's exchange and
    # skew prices a prefill as `simulate` does with the same knobs
    from infersim.simulator.serving import MapperIterationCost
    from infersim.workloads import load_model

    hw = load_hardware("dgx-h100")
    for skew, ex in ((0.0, "all_to_all"), (1.5, "auto")):
        c = MapperIterationCost(load_model("qwen3-30b-a3b"), hw, tp=1, ep=8, dp=8,
                                runtime="trtllm", weights="fp8", activations="fp8",
                                moe_exchange=ex, routing_skew=skew)
        direct = c.direct_prefill(8, 1024)[0]
        sim = simulate("qwen3-30b-a3b", hw, "prefill", 8, prompt=1024, tp=1, dp=8, ep=8,
                       weights="fp8", activations="fp8", runtime="trtllm",
                       moe_exchange=ex, routing_skew=skew)
        assert direct == pytest.approx(sim.latency_s, rel=0.02), (skew, ex)
    with pytest.raises(InputError, match="routing_skew"):
        from infersim.simulator.serving import Deployment
        Deployment(routing_skew=9.0)
