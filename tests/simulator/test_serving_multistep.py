"""Multi-iteration decode and the decode-only cost path give the results of one simpy step per
iteration (`Replica.multi_step = False`), up to float rounding."""

from __future__ import annotations

import numpy as np
import pytest
import simpy

from infersim.simulator.serving import (
    ClosedLoop,
    Lognormal,
    Poisson,
    Policy,
    Prefixes,
    SampledLengths,
    ServingPolicy,
    TraceReplay,
    Traffic,
    simulate_serving,
)
from infersim.simulator.serving.replica import Replica
from infersim.simulator.serving.serve import ReplicaSpec


def fixed_cost(prefill, emits, decode_seqs, decode_ctx):
    return (1.0 if prefill else 0.1), 0.0


def shaped_cost(prefill, emits, decode_seqs, decode_ctx):
    """Depends on every input, so a mispriced or misplaced iteration shows in the results."""
    t = (2e-3 + sum(1e-5 * q + 1e-9 * q * c for q, c in prefill) + 3e-5 * emits
         + 5e-4 * decode_seqs + 2e-8 * decode_ctx)
    return t, 300.0 * t + 1e-3 * decode_seqs


def count_timeouts(monkeypatch):
    calls = [0]

    def timeout(self, delay=0, value=None):
        calls[0] += 1
        return simpy.Timeout(self, delay, value)

    monkeypatch.setattr(simpy.Environment, "timeout", timeout)
    return calls


def test_one_request_decodes_in_one_timeout_by_hand(tmp_path, monkeypatch):
    # prefill [0, 1] emits token 1; tokens 2..5 at 1.1, 1.2, 1.3, 1.4 (nothing else can
    # happen: no other request) → one timeout for the prefill, one for the 4 decodes
    # (the arrival at 0 needs none)
    p = tmp_path / "t.csv"
    p.write_text("arrival_s,prompt_tokens,output_tokens\n0,10,5\n")
    calls = count_timeouts(monkeypatch)
    r = simulate_serving(ReplicaSpec(), fixed_cost, Traffic(TraceReplay(str(p)), None, None))
    assert calls[0] == 2
    assert r.per_request["finish_s"] == pytest.approx([1.4])
    assert r.itl["mean"] == pytest.approx(0.1) and r.itl["p99"] == pytest.approx(0.1)
    assert r.utilization == pytest.approx(1.0)
    assert len(r.kv_samples) == 5  # one occupancy sample per iteration, as single steps


LN = SampledLengths(Lognormal.from_mean(200, 0.8, 1, 1500), Lognormal.from_mean(60, 0.8, 1, 400))
CASES = {
    "continuous": (Traffic(Poisson(3.0), LN, 300), ServingPolicy(), {}),
    "overloaded": (Traffic(Poisson(40.0), LN, 300), ServingPolicy(max_batch=16), {}),
    "chunked": (Traffic(Poisson(5.0), LN, 300), ServingPolicy(Policy.CHUNKED, max_tokens=256),
                {}),
    "small_kv_recompute": (Traffic(Poisson(8.0), LN, 300), ServingPolicy(),
                           {"kv_blocks": 120}),
    "small_kv_swap": (Traffic(Poisson(8.0), LN, 300), ServingPolicy(preemption="swap"),
                      {"kv_blocks": 120}),
    "chunked_small_kv": (Traffic(Poisson(8.0), LN, 300),
                         ServingPolicy(Policy.CHUNKED, max_tokens=256), {"kv_blocks": 120}),
    "prefix": (Traffic(Poisson(6.0), LN, 300, Prefixes(3, 64, 3)),
               ServingPolicy(prefix_caching=True), {"kv_blocks": 200}),
    "disaggregated": (Traffic(Poisson(6.0), LN, 300),
                      ServingPolicy(Policy.DISAGGREGATED, decode_replicas=2), {}),
    "pipeline": (Traffic(Poisson(6.0), LN, 300), ServingPolicy(), {"pipeline_stages": 2}),
    "closed_loop": (Traffic(ClosedLoop(6, 0.3), LN, 200), ServingPolicy(), {}),
    "two_replicas": (Traffic(Poisson(8.0), LN, 300),
                     ServingPolicy(router="least_outstanding", max_batch=8), {}),
}


def _run(case, multi, monkeypatch):
    traffic, policy, spec_kw = CASES[case]
    monkeypatch.setattr(Replica, "multi_step", multi)
    calls = count_timeouts(monkeypatch)
    spec = ReplicaSpec(kv_bytes_per_token_per_chip=1e5, **spec_kw)
    r = simulate_serving(spec, shaped_cost, traffic, policy, seed=3,
                         replicas=2 if case == "two_replicas" else 1)
    return r, calls[0]


@pytest.mark.parametrize("case", sorted(CASES))
def test_multi_step_equals_one_step_per_iteration(case, monkeypatch):
    ref, ref_steps = _run(case, False, monkeypatch)
    r, steps = _run(case, True, monkeypatch)
    assert steps <= ref_steps
    for k, v in ref.per_request.items():
        if v.dtype.kind == "f":
            np.testing.assert_allclose(r.per_request[k], v, rtol=1e-9, equal_nan=True)
        else:
            np.testing.assert_array_equal(r.per_request[k], v)
    np.testing.assert_allclose(np.array(r.kv_samples), np.array(ref.kv_samples), rtol=1e-9)
    for name in ("itl", "ttft", "tpot", "e2e"):
        for q, v in getattr(ref, name).items():
            assert getattr(r, name)[q] == pytest.approx(v, rel=1e-9)
    for name in ("energy_j", "utilization", "duration_s", "kv_mean_occupancy"):
        assert getattr(r, name) == pytest.approx(getattr(ref, name), rel=1e-9)
    assert r.preemptions == ref.preemptions and r.completed == ref.completed
    assert r.prefix_cache == ref.prefix_cache


def test_multi_step_is_used_where_nothing_can_interrupt(monkeypatch):
    # one engine, light load: most decode runs end at a finish or an arrival, not each step
    _, ref_steps = _run("continuous", False, monkeypatch)
    _, steps = _run("continuous", True, monkeypatch)
    assert steps < 0.5 * ref_steps
    # overloaded with a full batch: the queue head waits for a slot, arrivals change nothing
    _, ref_steps = _run("overloaded", False, monkeypatch)
    _, steps = _run("overloaded", True, monkeypatch)
    assert steps < 0.9 * ref_steps


def test_decode_only_cost_equals_the_composition():
    from infersim.hwmodels import load_hardware
    from infersim.simulator.serving.costs import MapperIterationCost
    from infersim.workloads import load_model

    c = MapperIterationCost(load_model("llama-3.2-1b"), load_hardware("h100-sxm"))
    rng = np.random.default_rng(0)
    for _ in range(60):
        d = int(rng.integers(1, 300))
        ctx = d * int(rng.integers(1, 6000)) + int(rng.integers(0, d))
        t, e = c([], 0, d, ctx)
        # the module docstring's composition for P = 0, k = 0, from the table terms
        (nt, ne), (dt, de), (st, se) = c.n_pf(d), c.n_dec(d), c.s_dec(d, ctx / d)
        assert t == pytest.approx(nt + dt - nt + st, rel=1e-12)
        assert e == pytest.approx(ne + de - ne + se, rel=1e-12)


@pytest.mark.parametrize("hw", ["a100-sxm-80gb", "h100-sxm"])
def test_sparse_cached_axis_changes_prefix_hit_prefills_little(hw):
    # serve() prices prefix-cache hits on a 4/octave cached-token axis; against the 16/octave
    # axis the iteration time moves by ≤ 1.1e-3 (measured on 100 random pairs, a100 worst)
    from infersim.hwmodels import load_hardware
    from infersim.simulator.serving.costs import MapperIterationCost
    from infersim.workloads import load_model

    m, h = load_model("llama-3.1-8b"), load_hardware(hw)
    fine = MapperIterationCost(m, h, cached_chunk_per_octave=8)
    sparse = MapperIterationCost(m, h, cached_chunk_per_octave=8, cached_per_octave=4)
    assert len(sparse.cached.nodes) < len(fine.cached.nodes) / 3
    rng = np.random.default_rng(2)
    worst = 0.0
    for _ in range(25):
        q = int(np.exp(rng.uniform(np.log(16), np.log(4096))))
        c = 16 * int(np.exp(rng.uniform(0, np.log(512))))
        a, b = fine([(q, c)], 1, 0, 0)[0], sparse([(q, c)], 1, 0, 0)[0]
        worst = max(worst, abs(b / a - 1))
    assert worst <= 2e-3
