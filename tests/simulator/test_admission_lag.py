"""Overlap scheduling's admission lag (the profile's `admission_lag` knob, SGLang 0.4's
`event_loop_overlap`): a request that arrives while an iteration runs joins the iteration
after next when other work runs the next one anyway. Event times derived by hand in
comments.

The injected cost: an iteration with prefill work costs 1.0 s, a decode-only one 0.1 s."""

from __future__ import annotations

import pytest

from infersim.hwmodels.models.gpu.engines import lookup
from infersim.simulator.serving import Policy
from infersim.simulator.serving.replica import admission_lag
from tests._support import KnobCost, small_run, trace_run


def run(tmp_path, rows, lag, kind=Policy.CONTINUOUS):
    return trace_run(tmp_path, rows, KnobCost(admission_lag=lag), kind)


@pytest.mark.parametrize("kind", [Policy.CONTINUOUS, Policy.CHUNKED])
def test_a_request_arriving_during_a_step_joins_the_step_after_next(tmp_path, kind):
    # A (10 tokens out) prefills [0, 1] and decodes 0.1 s steps from 1.0. B arrives at
    # 1.15, inside the decode [1.1, 1.2].
    # Without the lag B is admitted at 1.2 and prefills [1.2, 2.2]: first token 2.2.
    # With it the step [1.2, 1.3] was launched before B was seen: B prefills [1.3, 2.3].
    r0 = run(tmp_path, [(0, 10, 10), (1.15, 10, 2)], lag=0.0, kind=kind)
    r1 = run(tmp_path, [(0, 10, 10), (1.15, 10, 2)], lag=1.0, kind=kind)
    assert r0.per_request["first_token_s"] == pytest.approx([1.0, 2.2])
    assert r1.per_request["first_token_s"] == pytest.approx([1.0, 2.3])
    # B (2 tokens) finishes one decode step later too: 2.3 -> 2.4. A's 7 tokens after its
    # third are the same steps in another order: continuous, A waits out B's prefill-only
    # iteration either way and ends at 2.9 (2.2 or 2.3 + its 7 or 6 remaining steps);
    # chunked, A decodes inside B's prefill iteration too and ends at 2.8.
    a_end = 2.9 if kind == Policy.CONTINUOUS else 2.8
    assert r0.per_request["finish_s"] == pytest.approx([a_end, 2.3])
    assert r1.per_request["finish_s"] == pytest.approx([a_end, 2.4])


def test_an_idle_engine_takes_a_request_at_once(tmp_path):
    # A (2 tokens) prefills [0, 1], decodes [1.0, 1.1] and is done: nothing else runs. B
    # arrives at 1.05, inside that last step; with no work left the overlap loop launches it
    # as soon as the step ends (1.1), as without the lag: prefill [1.1, 2.1].
    for lag in (0.0, 1.0):
        r = run(tmp_path, [(0, 10, 2), (1.05, 10, 2)], lag=lag)
        assert r.per_request["first_token_s"] == pytest.approx([1.0, 2.1])
    # and a request arriving while the engine is idle starts at its arrival
    r = run(tmp_path, [(0, 10, 2), (5.0, 10, 2)], lag=1.0)
    assert r.per_request["first_token_s"] == pytest.approx([1.0, 6.0])


def test_the_lag_is_sglang_04s_not_sglang_03s():
    assert admission_lag(KnobCost(admission_lag=1.0))
    assert not admission_lag(KnobCost(admission_lag=0.0))
    assert not admission_lag(lambda *a: (0.1, 0.0))  # no profile: no lag
    for name in ("sglang", "sglang-api", "trtllm-pytorch"):  # event_loop_overlap,
        assert lookup(name).value("admission_lag", 0.0) == 1.0  # _executor_loop_overlap
    assert lookup("trtllm").value("admission_lag", 0.0) == 0.0  # the C++ executor
    assert lookup("sglang-v03-api").value("admission_lag", 0.0) == 0.0  # event_loop_normal
    assert lookup("vllm-v0-api").value("admission_lag", 0.0) == 0.0


@pytest.mark.parametrize("kind", ["continuous", "chunked"])
def test_the_compiled_engine_admits_as_the_reference(kind):
    # sglang-api: both engines admit every request in the same iteration, so every first
    # token and finish is equal
    a, b = (small_run("sglang-api", kind, engine) for engine in ("simpy", "compiled"))
    for key in ("scheduled_s", "first_token_s", "finish_s"):
        assert b.per_request[key] == pytest.approx(a.per_request[key], rel=1e-12, abs=1e-12)
    # and the lag is there: with it most requests start later (the batches, and so a few
    # starts, differ either way) and they start later on the mean
    c = small_run(lookup("sglang-api").with_values(admission_lag=0.0), kind, "compiled")
    later = a.per_request["scheduled_s"] - c.per_request["scheduled_s"]
    assert (later > 1e-6).mean() > 0.3 and later.mean() > 0
