"""Async output processing (the profile's `async_output` knob, vLLM 0.6's): a step's tokens
reach the client when the replica's next iteration ends. Event times derived by hand in
comments.

The injected cost: an iteration with prefill work costs 1.0 s, a decode-only one 0.1 s."""

from __future__ import annotations

import pytest

from infersim.hwmodels.models.gpu.engines import lookup
from infersim.simulator.serving import Policy, ServingPolicy, compiled
from infersim.simulator.serving.replica import output_lag
from infersim.simulator.serving.serve import ReplicaSpec
from tests._support import KnobCost, small_run, trace_run


def run(tmp_path, rows, lag, steps=1.0, kind=Policy.CONTINUOUS):
    return trace_run(tmp_path, rows, KnobCost(async_output=lag, scheduler_steps=steps), kind)


@pytest.mark.parametrize("kind", [Policy.CONTINUOUS, Policy.CHUNKED])
def test_first_token_and_finish_arrive_one_iteration_late(tmp_path, kind):
    # A (3 tokens) and B (2) prefill together [0, 1]; decode steps [1.0, 1.1], [1.1, 1.2].
    # Without the lag: first tokens at 1.0, B finishes at 1.1, A at 1.2.
    r0 = run(tmp_path, [(0, 10, 3), (0, 10, 2)], lag=0.0, kind=kind)
    assert r0.per_request["first_token_s"] == pytest.approx([1.0, 1.0])
    assert r0.per_request["finish_s"] == pytest.approx([1.2, 1.1])
    # With it: the prefill's tokens go out as the next iteration ends (1.1); B's last token
    # (step ending 1.1) as the step after ends (1.2); A's last (step ending 1.2) when the
    # replica goes idle at once, 1.2: no later iteration to wait for.
    r1 = run(tmp_path, [(0, 10, 3), (0, 10, 2)], lag=1.0, kind=kind)
    assert r1.per_request["first_token_s"] == pytest.approx([1.1, 1.1])
    assert r1.per_request["finish_s"] == pytest.approx([1.2, 1.2])
    # the device work and the gaps between tokens do not move
    assert r1.duration_s == pytest.approx(r0.duration_s)
    assert r1.itl == pytest.approx(r0.itl)


def test_the_lag_of_a_prefill_is_the_next_iteration_whatever_it_is(tmp_path):
    # A (4 tokens) alone: prefill [0, 1], decodes [1, 1.1], [1.1, 1.2] (tokens 2, 3). B (2)
    # arrives at 1.15 and prefills [1.2, 2.2] (A waits); its first token goes out when the
    # next iteration, a decode of A and B [2.2, 2.3], ends: 2.3 (A's first went out at 1.1).
    # That decode gives both their last token; the replica then goes idle, so both go out at
    # 2.3 without waiting.
    r = run(tmp_path, [(0, 10, 4), (1.15, 10, 2)], lag=1.0)
    assert r.per_request["first_token_s"] == pytest.approx([1.1, 2.3])
    assert r.per_request["finish_s"] == pytest.approx([2.3, 2.3])
    r0 = run(tmp_path, [(0, 10, 4), (1.15, 10, 2)], lag=0.0)
    assert r0.per_request["first_token_s"] == pytest.approx([1.0, 2.2])


def test_knob_reading_and_engine_scope():
    assert output_lag(KnobCost(async_output=1.0))
    assert not output_lag(KnobCost(async_output=0.0))
    assert not output_lag(lambda *a: (0.1, 0.0))  # no profile: no lag
    assert lookup("vllm-v0-api").value("async_output", 0.0) == 1.0  # vLLM 0.6's API server
    assert lookup("sglang-v03-api").value("async_output", 0.0) == 0.0  # SGLang v0.3: none
    from infersim.hwmodels import load_hardware
    from infersim.simulator.serving.costs import MapperIterationCost
    from infersim.workloads import load_model
    cost = MapperIterationCost(load_model("llama-3.2-1b"), load_hardware("h100-sxm"),
                               runtime="vllm-v0-api")
    assert compiled.why_not(ReplicaSpec(), cost, False, ServingPolicy(), 1, False, None) == ""


@pytest.mark.parametrize("kind", ["continuous", "chunked"])
def test_the_compiled_engine_lags_as_the_reference(kind):
    # vllm-v0-api (async output): both engines stamp every first token and finish at the
    # same iteration end
    a, b = (small_run("vllm-v0-api", kind, engine) for engine in ("simpy", "compiled"))
    for key in ("first_token_s", "finish_s"):
        assert b.per_request[key] == pytest.approx(a.per_request[key], rel=1e-12, abs=1e-12)
    assert b.ttft == pytest.approx(a.ttft) and b.itl == pytest.approx(a.itl)
    # and the lag is there: without it every TTFT is shorter by one iteration or nothing
    c = small_run(lookup("vllm-v0-api").with_values(async_output=0.0), kind, "compiled")
    lagged = a.per_request["first_token_s"] - c.per_request["first_token_s"]
    assert (lagged >= -1e-12).all() and (lagged > 1e-6).mean() > 0.5
