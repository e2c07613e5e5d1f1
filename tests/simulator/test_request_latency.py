"""The serving front-end's latency per request (the profile's `request_latency_s` knob): a
request reaches the engine that long after the client sends it, and its times are measured
from the send. Event times derived by hand in comments.

The injected cost: an iteration with prefill work costs 1.0 s, a decode-only one 0.1 s."""

from __future__ import annotations

import numpy as np
import pytest

from infersim.foundation.errors import InputError
from infersim.hwmodels import load_hardware
from infersim.hwmodels.models.gpu.engines import knob, lookup
from infersim.hwmodels.runtime_knobs import tune_runtime
from infersim.simulator.serving import (
    ClosedLoop,
    FixedLengths,
    ServingPolicy,
    Traffic,
    simulate_serving,
)
from infersim.simulator.serving.serve import ReplicaSpec, front_end_latency
from tests._support import KnobCost, small_run, trace_run


def ttft(res):
    return np.asarray(res.per_request["first_token_s"] - res.per_request["arrival_s"])


def without_and_with(tmp_path, rows, latency):
    """The trace `rows` replayed with no front-end latency and with `latency` seconds."""
    return (trace_run(tmp_path, rows, KnobCost()),
            trace_run(tmp_path, rows, KnobCost(request_latency_s=latency)))


def test_ttft_and_e2e_hold_the_latency_once_and_the_gaps_between_tokens_do_not(tmp_path):
    r0, r1 = without_and_with(tmp_path, [(0.0, 10, 3), (5.0, 10, 2)], 0.25)
    # A: prefill [0, 1] (first token), decodes [1.0, 1.1], [1.1, 1.2]: done at 1.2. B: idle
    # engine, prefill [5, 6], one decode to 6.1. With 0.25 s the engine sees them at 0.25
    # and 5.25: every event 0.25 s later, the arrivals stamped at the sends (0 and 5).
    assert r0.per_request["first_token_s"] == pytest.approx([1.0, 6.0])
    assert r1.per_request["first_token_s"] == pytest.approx([1.25, 6.25])
    assert r1.per_request["finish_s"] == pytest.approx([1.45, 6.35])
    assert r1.per_request["arrival_s"] == pytest.approx([0.0, 5.0])
    assert ttft(r1) == pytest.approx(ttft(r0) + 0.25)
    assert r1.e2e["mean"] == pytest.approx(r0.e2e["mean"] + 0.25)
    assert r1.tpot["mean"] == pytest.approx(r0.tpot["mean"])  # 0.1 s between tokens both
    assert r1.itl["mean"] == pytest.approx(r0.itl["mean"])


def test_the_engine_batches_the_requests_as_they_reach_it(tmp_path):
    # A at 0 (20 tokens), B at 1.05. Without latency B arrives during A's decode [1.0, 1.1]
    # and prefills [1.1, 2.1]. With 0.3 s A reaches the engine at 0.3 (prefill [0.3, 1.3])
    # and B at 1.35, during A's decode [1.3, 1.4]: B prefills [1.4, 2.4], first token 2.4
    r0, r1 = without_and_with(tmp_path, [(0.0, 10, 20), (1.05, 10, 2)], 0.3)
    assert r0.per_request["first_token_s"] == pytest.approx([1.0, 2.1])
    assert r1.per_request["first_token_s"] == pytest.approx([1.3, 2.4])
    # B at 0.78 arrives in A's prefill [0, 1] and starts at 1.0, a wait of 0.22 s; with
    # 0.3 s it reaches the engine at 1.08, in A's prefill [0.3, 1.3], and starts at 1.3: the
    # same wait. Every arrival shifted alike keeps the schedule: TTFT + 0.3 s exactly
    s0, s1 = without_and_with(tmp_path, [(0.0, 10, 20), (0.78, 10, 2)], 0.3)
    assert s0.per_request["first_token_s"] == pytest.approx([1.0, 2.0])
    assert ttft(s1) == pytest.approx(ttft(s0) + 0.3)


def test_a_closed_loop_user_waits_the_latency_out_before_each_request():
    cost = KnobCost(request_latency_s=0.5)
    spec = ReplicaSpec()
    # one user, 3 requests of 10 + 1 tokens: each a 1.0 s prefill (the first token is the
    # last). Without latency they run [0, 1], [1, 2], [2, 3]; with 0.5 s each reaches the
    # engine 0.5 s after its send, and the user sends the next at the last one's finish:
    # sends 0, 1.5, 3.0; engine [0.5, 1.5], [2.0, 3.0], [3.5, 4.5]
    res = simulate_serving(spec, cost, Traffic(ClosedLoop(users=1), FixedLengths(10, 1), 3),
                           ServingPolicy(max_batch=8), engine="simpy")
    assert res.per_request["arrival_s"] == pytest.approx([0.0, 1.5, 3.0])
    assert res.per_request["finish_s"] == pytest.approx([1.5, 3.0, 4.5])
    assert ttft(res) == pytest.approx([1.5, 1.5, 1.5])


def test_the_compiled_engine_gives_the_reference_times():
    prof = lookup("sglang-api").with_values(request_latency_s=0.004)
    a, b = (small_run(prof, "continuous", engine) for engine in ("simpy", "compiled"))
    for key in ("arrival_s", "first_token_s", "finish_s"):
        assert b.per_request[key] == pytest.approx(a.per_request[key], rel=1e-12, abs=1e-12)
    c = small_run(lookup("sglang-api").with_values(request_latency_s=0.0), "continuous",
                  "compiled")
    # the same arrivals as sent; a first token no earlier than 4 ms past the run without
    # latency less what batching differently can move (Poisson arrivals shifted uniformly
    # keep every schedule: exactly 4 ms)
    assert b.per_request["arrival_s"] == pytest.approx(c.per_request["arrival_s"], abs=1e-12)
    assert np.allclose(ttft(b) - ttft(c), 0.004, atol=1e-9)


def test_the_knob_is_read_from_the_profile_and_validated():
    assert front_end_latency(KnobCost(request_latency_s=0.01)) == 0.01
    assert front_end_latency(KnobCost()) == 0.0
    assert front_end_latency(lambda *a: (0.1, 0.0)) == 0.0  # no profile
    assert knob(lookup("trtllm"), "request_latency_s") == 0.0  # offline trtllm-bench
    assert knob(lookup("trtllm-triton"), "request_latency_s") > 0.0  # the Triton ensemble
    with pytest.raises(InputError, match="request_latency_s"):
        tune_runtime(load_hardware("h100-sxm"), "trtllm", {"request_latency_s": -1e-3})
