"""The compiled serving engine gives the simpy engine's result: a randomized grid of policies,
preemption modes, prefix caching, traffic shapes, a cache small enough to preempt and
max_context rejections; several replicas behind round robin (times to ulps, `same_times`);
out-of-scope runs fall back (auto) or are refused (compiled)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from infersim.foundation.errors import InputError
from infersim.hwmodels import load_hardware
from infersim.hwmodels.models.gpu import engines as E
from infersim.simulator.serving import (
    ClosedLoop,
    FixedLengths,
    Lognormal,
    Poisson,
    Prefixes,
    SampledLengths,
    ServingPolicy,
    Traffic,
    compiled,
    simulate_serving,
)
from infersim.simulator.serving.costs import MapperIterationCost
from infersim.simulator.serving.metrics import Collector
from infersim.simulator.serving.serve import ReplicaSpec
from infersim.simulator.serving.traffic import TraceReplay, generate
from infersim.workloads import load_model
from tests._support import same_times


@pytest.fixture(scope="module")
def cost() -> MapperIterationCost:
    # the sparse cached axes `serve` uses with prefix caching (fewer mapper calls)
    return MapperIterationCost(load_model("llama-3.2-1b"), load_hardware("h100-sxm"),
                               cached_chunk_per_octave=8, cached_per_octave=4)


def run(cost, engine, traffic, policy, spec, **kw):  # type: ignore[no-untyped-def]
    cost.restore_decode_cells()  # history of the decode cells: both engines start from none
    return simulate_serving(spec, cost, traffic, policy, seed=kw.pop("seed", 3),
                            engine=engine, **kw)


def assert_same(a, b, times=None) -> None:  # type: ignore[no-untyped-def]
    """Equal results; `times`: the check of per-request records and KV samples (default:
    exactly equal)."""
    da, db = a.to_dict(), b.to_dict()
    assert da.keys() == db.keys()
    for k, x in da.items():
        y = db[k]
        if isinstance(x, float) and not isinstance(x, bool):
            assert (math.isnan(x) and math.isnan(y)) or math.isclose(x, y, rel_tol=1e-9), k
        else:
            assert x == y, k
    if times is not None:
        times(a, b)
        return
    for k, x in a.per_request.items():
        assert np.array_equal(x, b.per_request[k], equal_nan=True), k
    assert a.kv_samples == b.kv_samples


def grid():  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(15)
    cases = []
    for kind in ("continuous", "chunked"):
        for prefix in (False, True):
            for preemption in ("recompute", "swap"):
                if prefix and preemption == "swap":
                    continue  # prefix caching runs with recompute only
                for lengths in ("fixed", "lognormal"):
                    cases.append((kind, prefix, preemption, lengths,
                                  int(rng.integers(0, 1000))))
    return cases


@pytest.mark.parametrize(("kind", "prefix", "preemption", "lengths", "seed"), grid())
def test_compiled_equals_simpy(cost, kind, prefix, preemption, lengths, seed) -> None:
    rng = np.random.default_rng(seed)
    if lengths == "fixed":
        ln = FixedLengths(int(rng.integers(200, 800)), int(rng.integers(60, 200)))
    else:
        ln = SampledLengths(Lognormal.from_mean(500, 0.9, 1, 3000),
                            Lognormal.from_mean(150, 0.9, 1, 800))
    px = (Prefixes(int(rng.integers(1, 6)), int(rng.integers(16, 300)),
                   int(rng.integers(1, 4))) if prefix or rng.random() < 0.5 else None)
    traffic = Traffic(Poisson(float(rng.uniform(20, 60))), ln, 1500, px)
    policy = ServingPolicy(kind=kind, prefix_caching=prefix, preemption=preemption,
                           max_batch=int(rng.integers(16, 96)),
                           max_tokens=int(rng.choice([1024, 2048, 8192])))
    # a cache of a few long requests: preemptions and (lognormal) rejections happen
    spec = ReplicaSpec(kv_blocks=int(rng.integers(200, 500)), kv_bytes_per_token_per_chip=3e4,
                       idle_power_w=100.0)
    max_context = 2500 if lengths == "lognormal" else None
    a = run(cost, "simpy", traffic, policy, spec, max_context=max_context, seed=seed)
    b = run(cost, "compiled", traffic, policy, spec, max_context=max_context, seed=seed)
    assert_same(a, b)
    assert a.completed > 0


def test_preemption_rejection_and_floor_cases_are_exercised(cost) -> None:
    """The grid is not vacuous: preemptions (both modes) and rejections occur, prefix hits
    occur, and a runtime with a serving floor gives the same answer in both engines."""
    tr = Traffic(Poisson(50.0), SampledLengths(Lognormal.from_mean(600, 1.0, 1, 4000),
                                               Lognormal.from_mean(150, 1.0, 1, 900)),
                 1200, Prefixes(3, 200, 3))
    spec = ReplicaSpec(kv_blocks=400, kv_bytes_per_token_per_chip=3e4)
    for preemption in ("recompute", "swap"):
        pol = ServingPolicy(kind="chunked", preemption=preemption, max_tokens=1024)
        a = run(cost, "simpy", tr, pol, spec, max_context=3000)
        b = run(cost, "compiled", tr, pol, spec, max_context=3000)
        assert_same(a, b)
        assert a.preemptions > 0 and a.rejected > 0
    pol = ServingPolicy(prefix_caching=True, max_batch=64)
    a = run(cost, "simpy", tr, pol, spec)
    b = run(cost, "compiled", tr, pol, spec)
    assert_same(a, b)
    assert a.prefix_cache["hit_tokens"] > 0 and a.preemptions > 0
    floored = MapperIterationCost(load_model("llama-3.2-1b"), load_hardware("h100-sxm"),
                                  runtime="vllm-v0-api")
    tr2 = Traffic(Poisson(30.0), FixedLengths(300, 60), 600)
    a = run(floored, "simpy", tr2, ServingPolicy(), spec)
    b = run(floored, "compiled", tr2, ServingPolicy(), spec)
    assert_same(a, b)


def test_auto_falls_back_and_compiled_refuses_out_of_scope(cost) -> None:
    tr = Traffic(Poisson(20.0), FixedLengths(200, 20), 100)
    spec = ReplicaSpec(kv_blocks=2000)
    # in scope for the compiled engine
    assert compiled.why_not(spec, cost, False, ServingPolicy(prefix_caching=True), 1, False,
                            None) == ""
    # several replicas behind round robin: in scope; behind least_outstanding (routing by
    # replica state), closed loop, static policy, an event log: out of scope
    lo = ServingPolicy(router="least_outstanding")
    assert compiled.why_not(spec, cost, False, ServingPolicy(), 8, False, None) == ""
    assert "least_outstanding" in compiled.why_not(spec, cost, False, lo, 2, False, None)
    # pipeline stages share a gate across replicas' micro-batches: the reference engine's
    staged = ReplicaSpec(kv_blocks=2000, pipeline_stages=2)
    assert "pp > 1" in compiled.why_not(staged, cost, False, ServingPolicy(), 1, False, None)
    auto = simulate_serving(spec, cost, tr, lo, replicas=2, engine="auto")
    simpy_ = simulate_serving(spec, cost, tr, lo, replicas=2, engine="simpy")
    assert_same(auto, simpy_)
    closed = Traffic(ClosedLoop(4), FixedLengths(200, 20), 50)
    for pol, kw, why in ((lo, {"replicas": 2}, "2 replicas behind the least_outstanding"),
                         (ServingPolicy(), {"event_log": True}, "an event log")):
        with pytest.raises(InputError, match=why):
            simulate_serving(spec, cost, tr, pol, engine="compiled", **kw)
    with pytest.raises(InputError, match="closed-loop"):
        simulate_serving(spec, cost, closed, ServingPolicy(), engine="compiled")
    with pytest.raises(InputError, match="static"):
        simulate_serving(spec, cost, tr, ServingPolicy(kind="static"), engine="compiled")
    with pytest.raises(InputError, match="not a MapperIterationCost"):
        simulate_serving(spec, lambda *a: (0.01, 1.0), tr, ServingPolicy(), engine="compiled")
    with pytest.raises(InputError, match="engine"):
        simulate_serving(spec, cost, tr, ServingPolicy(), engine="fast")
    # the event log comes from the simpy engine under auto
    assert simulate_serving(spec, cost, tr, ServingPolicy(), event_log=True).events


def spy_runs(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Count the compiled engine's runs: one entry per `compiled.run` call."""
    calls: list[int] = []
    real = compiled.run

    def spy(*a, **k):  # type: ignore[no-untyped-def]
        calls.append(1)
        return real(*a, **k)

    monkeypatch.setattr(compiled, "run", spy)
    return calls


def test_auto_picks_compiled_from_the_size_where_its_compile_pays_off(cost, monkeypatch
                                                                       ) -> None:
    import importlib

    serve_mod = importlib.import_module("infersim.simulator.serving.serve")
    calls = spy_runs(monkeypatch)
    tr = Traffic(Poisson(20.0), FixedLengths(200, 20), 100)
    spec = ReplicaSpec(kv_blocks=2000)
    small = simulate_serving(spec, cost, tr, ServingPolicy())  # 100 < COMPILED_AUTO_FROM
    assert calls == []
    monkeypatch.setattr(serve_mod, "COMPILED_AUTO_FROM", 100)
    big = simulate_serving(spec, cost, tr, ServingPolicy())
    assert calls == [1]
    assert_same(small, big)
    # out of scope: simpy whatever the size
    simulate_serving(spec, cost, tr, ServingPolicy(router="least_outstanding"), replicas=2)
    assert calls == [1]
    simulate_serving(spec, cost, tr, ServingPolicy(), replicas=3)  # round robin: one per replica
    assert calls == [1, 1, 1, 1]


def test_deterministic_for_a_seed(cost) -> None:
    tr = Traffic(Poisson(40.0), SampledLengths(Lognormal.from_mean(400, 0.8, 1, 3000),
                                               Lognormal.from_mean(60, 0.8, 1, 400)), 800,
                 Prefixes(2, 100, 2))
    pol = ServingPolicy(kind="chunked", prefix_caching=True, max_tokens=1024)
    spec = ReplicaSpec(kv_blocks=500)
    a, b = (run(cost, "compiled", tr, pol, spec, seed=7) for _ in range(2))
    assert a.to_dict() == b.to_dict()
    c = run(cost, "compiled", tr, pol, spec, seed=8)
    assert c.to_dict()["ttft_mean_s"] != a.to_dict()["ttft_mean_s"]


def test_cli_engine_flag(capsys) -> None:
    """`serve --engine`: the same JSON from both engines; compiled out of scope is one line
    and exit 2."""
    from infersim.cli import main

    args = ["serve", "--model", "llama-3.2-1b", "--hw", "h100-sxm", "--requests", "300",
            "--prompt", "256", "--output", "32", "--rate", "20", "--prefix-caching",
            "--system-prompts", "2", "--system-tokens", "128", "--turns", "2", "--json"]
    outs = []
    for engine in ("simpy", "compiled", "auto"):
        assert main([*args, "--engine", engine]) == 0
        outs.append(json.loads(capsys.readouterr().out))
    assert outs[0] == outs[1] == outs[2]
    # three replicas behind round robin: both engines through the front door
    three = []
    for engine in ("simpy", "compiled"):
        assert main([*args, "--engine", engine, "--replicas", "3"]) == 0
        three.append(json.loads(capsys.readouterr().out))
    assert three[0]["replicas"] == three[1]["replicas"] == 3
    for k, x in three[0].items():
        if isinstance(x, float):
            assert math.isclose(x, three[1][k], rel_tol=1e-9) or x != x, k
        else:
            assert x == three[1][k], k
    assert main([*args, "--engine", "compiled", "--replicas", "2", "--router",
                 "least_outstanding"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "least_outstanding router" in err[0]


def test_buffer_growth_keeps_results(cost, monkeypatch) -> None:
    """Buffers started at one row (ITL samples, finish heap, fresh list, prefix runs) grow
    inside the loop without changing the result; a max_batch above the request count too."""
    monkeypatch.setattr(compiled, "_ROWS", 1)
    monkeypatch.setattr(compiled, "_ITL_PER_REQUEST", 0)
    tr = Traffic(Poisson(60.0), SampledLengths(Lognormal.from_mean(500, 1.0, 1, 3000),
                                               Lognormal.from_mean(150, 1.0, 1, 800)),
                 900, Prefixes(3, 200, 3))
    spec = ReplicaSpec(kv_blocks=350)
    for kind in ("continuous", "chunked"):
        pol = ServingPolicy(kind=kind, prefix_caching=True, max_batch=5000, max_tokens=2048)
        a = run(cost, "simpy", tr, pol, spec, max_context=3000)
        b = run(cost, "compiled", tr, pol, spec, max_context=3000)
        assert_same(a, b)
        assert a.preemptions > 0


def test_a_run_that_fills_the_node_table_runs_on_simpy(cost, monkeypatch) -> None:
    """More table nodes than the compiled engine holds: the same run on the simpy engine."""
    tr = Traffic(Poisson(50.0), SampledLengths(Lognormal.from_mean(400, 0.8, 1, 3000),
                                               Lognormal.from_mean(60, 0.8, 1, 400)), 300)
    spec = ReplicaSpec(kv_blocks=2000)
    ref = simulate_serving(spec, cost, tr, ServingPolicy(), engine="simpy")
    monkeypatch.setattr(compiled, "NODE_SLOTS", 8)  # room for 4 nodes
    with pytest.raises(compiled.NodeTableFull):
        compiled.run(spec, cost, generate(tr, np.random.default_rng(0)),
                     Collector(300), ServingPolicy(), None, None)
    assert_same(simulate_serving(spec, cost, tr, ServingPolicy(), engine="compiled"), ref)
    # several replicas share one node table: full in a later replica, the whole run on simpy
    monkeypatch.undo()
    cost.restore_decode_cells()
    ref = simulate_serving(spec, cost, tr, ServingPolicy(), replicas=3, engine="simpy")
    cost.restore_decode_cells()
    monkeypatch.setattr(compiled, "NODE_SLOTS", 1024)  # 511 nodes: the first replica needs 374
    calls = spy_runs(monkeypatch)
    assert_same(simulate_serving(spec, cost, tr, ServingPolicy(), replicas=3,
                                 engine="compiled"), ref)
    assert len(calls) == 2  # the second replica filled the table


RR_CASES = {
    # shared system prompts cached in every replica, lognormal lengths, context rejections
    "prefix_shared_system_prompts": (2, "continuous", "recompute", True, "lognormal", 2500),
    "chunked_swap": (3, "chunked", "swap", False, "fixed", None),
    "chunked_prefix_8": (8, "chunked", "recompute", True, "fixed", None),
    "continuous_8": (8, "continuous", "recompute", False, "lognormal", 2500),
}


@pytest.mark.parametrize("name", list(RR_CASES))
def test_round_robin_replicas_equal_simpy(cost, name) -> None:
    """Several replicas behind round robin: the compiled engine's per-replica runs merge to
    the simpy engine's result (times to rounding, `same_times`); each admitted request goes
    to replica k mod R, k its rank among the admitted arrivals (the router's rule)."""
    reps, kind, preemption, prefix, lengths, max_context = RR_CASES[name]
    rng = np.random.default_rng(len(name))
    ln = (FixedLengths(int(rng.integers(200, 800)), int(rng.integers(60, 200)))
          if lengths == "fixed" else
          SampledLengths(Lognormal.from_mean(500, 0.9, 1, 3000),
                         Lognormal.from_mean(150, 0.9, 1, 800)))
    traffic = Traffic(Poisson(50.0 * reps), ln, 250 * reps,
                      Prefixes(3, 200, 3) if prefix else None)
    policy = ServingPolicy(kind=kind, prefix_caching=prefix, preemption=preemption,
                           max_batch=48, max_tokens=2048)
    spec = ReplicaSpec(kv_blocks=200, kv_bytes_per_token_per_chip=3e4, idle_power_w=100.0,
                       extra_power_w=7.0)
    a = run(cost, "simpy", traffic, policy, spec, max_context=max_context, replicas=reps)
    b = run(cost, "compiled", traffic, policy, spec, max_context=max_context, replicas=reps)
    assert_same(a, b, same_times)
    assert a.completed > 0 and a.replicas == reps
    if prefix:
        assert a.prefix_cache["hit_tokens"] > 0
    else:
        assert a.preemptions > 0  # the cache binds
    if max_context is not None:
        assert a.rejected > 0
    table = generate(traffic, np.random.default_rng(3))
    ok = table.prompt_tokens + table.output_tokens <= (max_context or 1 << 62)
    want = np.full(len(ok), -1)
    want[ok] = np.arange(ok.sum()) % reps
    assert np.array_equal(b.per_request["replica"], want)


def test_round_robin_more_replicas_than_requests_and_ties_at_zero(cost, tmp_path) -> None:
    """Five requests, all at t = 0, on 8 replicas: three replicas stay idle for the whole
    run, and draw idle power (chips) and overhead power (system) for all of it; with 5
    replicas (one request each, the same timelines) the run lasts as long, so the 8-replica
    energies exceed the 5-replica ones by 3 replicas × power × duration exactly (to
    rounding)."""
    path = tmp_path / "trace.csv"
    path.write_text("arrival_s,prompt_tokens,output_tokens\n"
                    + "".join(f"0.0,{p},{o}\n" for p, o in
                              ((300, 40), (700, 90), (120, 10), (900, 60), (50, 200))))
    tr = Traffic(TraceReplay(str(path)), None, None, Prefixes(2, 64, 1))
    spec = ReplicaSpec(kv_blocks=400, idle_power_w=100.0, extra_power_w=7.0)
    pol = ServingPolicy(prefix_caching=True)
    out = {}
    for reps in (5, 8):
        a = run(cost, "simpy", tr, pol, spec, replicas=reps)
        b = run(cost, "compiled", tr, pol, spec, replicas=reps)
        assert_same(a, b, same_times)
        out[reps] = a
    five, eight = out[5], out[8]
    assert eight.completed == 5 and eight.duration_s == five.duration_s
    assert math.isclose(eight.energy_j - five.energy_j, 3 * 100.0 * five.duration_s,
                        rel_tol=1e-9)
    assert math.isclose(eight.system_energy_j - five.system_energy_j,
                        3 * 107.0 * five.duration_s, rel_tol=1e-9)
    assert math.isclose(eight.utilization, five.utilization * 5 / 8, rel_tol=1e-12)
    # ties at t = 0 with 3 replicas: two requests each on replicas 0 and 1, in arrival order
    a = run(cost, "simpy", tr, pol, spec, replicas=3)
    b = run(cost, "compiled", tr, pol, spec, replicas=3)
    assert_same(a, b, same_times)
    assert b.per_request["replica"].tolist() == [0, 1, 2, 0, 1]


# TensorRT-LLM's scheduling in the compiled engine: the C++ executor (`trtllm`: KV reserved
# for whole requests, whole prompts in mixed batches) and the PyTorch backend
# (`trtllm-pytorch`: also the host's walk of every held request, admission one iteration late,
# and generation-only iterations padded to a captured CUDA graph's batch; a MoE model's dummy
# rows routed to the same experts), on a dense and a MoE model, under both policies; and
# attention data parallelism (dp groups: the busiest group's prompt work, each group's host
# floor, the padded batch of the busiest group), as the PyTorch backend runs MoE models.
TRTLLM_CASES = {  # model, runtime, policy, lengths, (hardware, ep, dp)
    "cpp_dense_auto": ("llama-3.2-1b", "trtllm", "auto", "lognormal", ("h100-sxm", 1, 1)),
    "cpp_dense_continuous": ("llama-3.2-1b", "trtllm", "continuous", "fixed",
                             ("h100-sxm", 1, 1)),
    "pytorch_dense_auto": ("llama-3.2-1b", "trtllm-pytorch", "auto", "lognormal",
                           ("h100-sxm", 1, 1)),
    "pytorch_moe_auto": ("qwen3-30b-a3b", "trtllm-pytorch", "auto", "fixed", ("h100-sxm", 1, 1)),
    "pytorch_moe_continuous": ("qwen3-30b-a3b", "trtllm-pytorch", "continuous", "lognormal",
                               ("h100-sxm", 1, 1)),
    "pytorch_moe_dp2_auto": ("qwen3-30b-a3b", "trtllm-pytorch", "auto", "lognormal",
                             ("dgx-h100", 2, 2)),
    "pytorch_moe_dp4_continuous": ("qwen3-30b-a3b", "trtllm-pytorch", "continuous", "fixed",
                                   ("dgx-h100", 4, 4)),
    # a host slow enough that each group's floor (its share of the requests) binds
    "pytorch_moe_dp2_host_bound": ("qwen3-30b-a3b", "trtllm-pytorch-slow-host", "auto",
                                   "lognormal", ("dgx-h100", 2, 2)),
}


def _runtime(name: str) -> object:
    if name == "trtllm-pytorch-slow-host":
        base = E.lookup("trtllm-pytorch")
        assert base is not None
        return base.with_values(output_token_s=2e-3, held_request_s=1e-3)
    return name


@pytest.fixture(scope="module")
def trtllm_costs() -> dict[tuple[str, str, str, int, int], MapperIterationCost]:
    return {}


@pytest.mark.parametrize("name", list(TRTLLM_CASES))
def test_trtllm_scheduling_equals_simpy(trtllm_costs, name) -> None:
    from infersim.simulator.serving.config import Admission
    from infersim.simulator.serving.replica import chunked_context

    model, runtime, kind, lengths, (hw, ep, dp) = TRTLLM_CASES[name]
    key = (model, runtime, hw, ep, dp)
    if key not in trtllm_costs:
        trtllm_costs[key] = MapperIterationCost(load_model(model), load_hardware(hw),
                                                runtime=_runtime(runtime), ep=ep, dp=dp,
                                                max_batch=64)
    cost = trtllm_costs[key]
    rng = np.random.default_rng(len(name))
    ln = (FixedLengths(int(rng.integers(300, 900)), int(rng.integers(60, 300)))
          if lengths == "fixed" else
          SampledLengths(Lognormal.from_mean(600, 0.9, 1, 3000),
                         Lognormal.from_mean(200, 0.9, 1, 1000)))
    traffic = Traffic(Poisson(40.0), ln, 700)
    policy = ServingPolicy(kind=kind, max_batch=64, max_tokens=2048).resolved(cost.runtime)
    # a cache of a few dozen requests: reservations bind, and whole prompts wait for room
    spec = ReplicaSpec(kv_blocks=int(rng.integers(600, 900)), kv_bytes_per_token_per_chip=3e4,
                       idle_power_w=100.0)
    assert compiled.why_not(spec, cost, False, policy, 1, False, None) == ""
    assert policy.admission == Admission.RESERVE
    assert kind == "continuous" or not chunked_context(cost)  # whole prompts
    assert cost.graph_padded == runtime.startswith("trtllm-pytorch")
    a = run(cost, "simpy", traffic, policy, spec, max_context=3000)
    b = run(cost, "compiled", traffic, policy, spec, max_context=3000)
    assert_same(a, b)
    assert a.completed > 0 and a.preemptions == 0  # reserved: decoding never runs out


def test_trtllm_scheduling_knobs_move_the_compiled_result() -> None:
    """Each TensorRT-LLM scheduling rule the compiled engine now runs changes its result the
    way the reference engine's does (not a no-op there): reserving KV for whole requests
    queues more (TTFT up), the held-request walk lengthens host-bound iterations (TPOT up), and
    CUDA-graph padding runs a decode batch at a captured size (TPOT up)."""
    base = E.lookup("trtllm-pytorch")
    assert base is not None
    m, h = load_model("llama-3.2-1b"), load_hardware("h100-sxm")
    traffic = Traffic(Poisson(60.0), SampledLengths(Lognormal.from_mean(600, 0.9, 1, 3000),
                                                    Lognormal.from_mean(200, 0.9, 1, 1000)),
                      700)
    spec = ReplicaSpec(kv_blocks=700, kv_bytes_per_token_per_chip=3e4, idle_power_w=100.0)

    def serve(**values: float) -> dict[str, float]:
        cost = MapperIterationCost(m, h, runtime=base.with_values(**values), max_batch=64)
        pol = ServingPolicy(max_batch=64, max_tokens=2048)
        a = run(cost, "simpy", traffic, pol, spec, max_context=3000)
        b = run(cost, "compiled", traffic, pol, spec, max_context=3000)
        assert_same(a, b)
        return b.to_dict()

    ref = serve()
    assert serve(kv_reservation=0.0)["ttft_mean_s"] < ref["ttft_mean_s"]
    # the walk at its most (every held request costs a decoding one's host work) binds here
    walk = serve(held_request_s=base.value("output_token_s", 0.0))
    assert walk["tpot_mean_s"] > ref["tpot_mean_s"]
    assert serve(graph_padding=0.0)["tpot_mean_s"] < ref["tpot_mean_s"]
