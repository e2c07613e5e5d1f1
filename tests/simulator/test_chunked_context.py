"""Mixed batching without chunked context (the `chunked_context` engine knob, 0 on TensorRT-LLM):
a new prompt joins an iteration only whole, and admission stops at the first prompt that does
not fit the token budget left (MicroBatchScheduler in TensorRT-LLM). Event times derived by hand
in comments.

The injected cost: an iteration costs 1.0 s per 100 prompt tokens plus 0.1 s, and logs its
prompt chunks and decoding sequences; its runtime profile carries `mixed_batching` (the
`chunked` policy) and `chunked_context`."""

from __future__ import annotations

import numpy as np
import pytest

from infersim.hwmodels import load_hardware
from infersim.hwmodels.models.gpu.engines import lookup
from infersim.hwmodels.runtime_knobs import tune_runtime
from infersim.simulator.serving import Deployment, Policy, ServingPolicy, serve
from infersim.simulator.serving.replica import chunked_context
from tests._support import KnobCost, burst, trace_run


class TokenCost(KnobCost):
    """1.0 s per 100 prompt tokens + 0.1 s; logs (prompt chunk sizes, decoding sequences)."""

    def __init__(self, chunked: float) -> None:
        super().__init__(mixed_batching=1.0, chunked_context=chunked)
        self.log: list[tuple[tuple[int, ...], int]] = []

    def __call__(self, prefill, emits, decode_seqs, decode_ctx):
        self.log.append((tuple(c for c, _ in prefill), decode_seqs))
        return sum(c for c, _ in prefill) / 100.0 + 0.1, 0.0


def run(tmp_path, rows, chunked, max_tokens=100):
    cost = TokenCost(chunked)
    return trace_run(tmp_path, rows, cost, Policy.CHUNKED, max_tokens), cost.log


def test_the_knob_is_read_from_the_profile():
    assert chunked_context(TokenCost(1.0)) and not chunked_context(TokenCost(0.0))
    assert chunked_context(lambda *a: (0.1, 0.0))  # no profile: chunks, as vLLM V1
    for rt in ("trtllm", "trtllm-pytorch", "trtllm-triton"):
        assert lookup(rt).value("chunked_context", 1.0) == 0.0
    assert lookup("vllm-v1").value("chunked_context", 1.0) == 1.0


def test_a_second_prompt_waits_whole_instead_of_taking_the_budget_left(tmp_path):
    # A (60 tokens, 3 out) and B (60, 2) arrive at 0 with a 100-token budget.
    # Chunked: [0, 1.1] A 60 + B's first 40 (first token A 1.1); [1.1, 1.4] B's last 20 + A's
    # decode (B's first token 1.4, A's second); [1.4, 1.5] both decode: A done, B done.
    r, log = run(tmp_path, [(0, 60, 3), (0, 60, 2)], chunked=1.0)
    assert log == [((60, 40), 0), ((20,), 1), ((), 2)]
    assert r.per_request["first_token_s"] == pytest.approx([1.1, 1.4])
    assert r.per_request["finish_s"] == pytest.approx([1.5, 1.5])
    # Whole prompts: [0, 0.7] A alone (60 + 60 > 100); [0.7, 1.4] B's 60 beside A's decode
    # (60 + 1 <= 100; B's first token and A's second at 1.4); [1.4, 1.5] both decode.
    r, log = run(tmp_path, [(0, 60, 3), (0, 60, 2)], chunked=0.0)
    assert log == [((60,), 0), ((60,), 1), ((), 2)]
    assert r.per_request["first_token_s"] == pytest.approx([0.7, 1.4])
    assert r.per_request["finish_s"] == pytest.approx([1.5, 1.5])


def test_admission_stops_at_the_first_prompt_that_does_not_fit(tmp_path):
    # First come, first served: A (90 tokens, 2 out), B (100, 2), C (10, 2) at 0.
    # [0, 1.0] A's 90 (B's 100 > the 10 left: admission stops, C waits behind B although it
    # would fit); [1.0, 1.1] A decodes alone (100 > 99 left); A done. [1.1, 2.2] B's 100 (C's
    # 10 > 0 left); [2.2, 2.4] C's 10 beside B's decode: C's first token, B done.
    r, log = run(tmp_path, [(0, 90, 2), (0, 100, 2), (0, 10, 2)], chunked=0.0)
    assert log[:4] == [((90,), 0), ((), 1), ((100,), 0), ((10,), 1)]
    assert r.per_request["first_token_s"] == pytest.approx([1.0, 2.2, 2.4])


def test_a_prompt_longer_than_the_budget_is_rejected_not_stalled(tmp_path):
    # without chunking a 150-token prompt can never run in a 100-token iteration
    r, _ = run(tmp_path, [(0, 150, 2), (0, 50, 2)], chunked=0.0)
    assert list(r.per_request["rejected"]) == [True, False]
    r, _ = run(tmp_path, [(0, 150, 2), (0, 50, 2)], chunked=1.0)
    assert list(r.per_request["rejected"]) == [False, False]


def test_whole_prompts_serve_a_prompt_heavy_load_no_faster(tmp_path):
    # the physical direction: a budget whose leftovers go unused can only lower throughput
    h = load_hardware("h100-sxm")
    traffic = burst(tmp_path, 40, 1500, 16)

    def run_knob(value):
        rt = tune_runtime(h, "trtllm", {"chunked_context": value})
        return serve("llama-3.1-8b", h, traffic, ServingPolicy(max_batch=64, max_tokens=2048),
                     deployment=Deployment(runtime=rt, weights="fp8", activations="fp8",
                                           kv="fp8"))

    whole, chunks = run_knob(0.0), run_knob(1.0)
    assert whole.throughput_tok_s < chunks.throughput_tok_s
    assert whole.duration_s > chunks.duration_s


def test_the_compiled_engine_batches_whole_prompts_as_the_reference_does(tmp_path):
    h = load_hardware("h100-sxm")
    rt = tune_runtime(h, "trtllm", {"kv_reservation": 0.0})
    traffic = burst(tmp_path, 40, 3000, 50)  # a few whole prompts fit an iteration's budget
    a, b = (serve("llama-3.1-8b", h, traffic, ServingPolicy(), engine=e,
                  deployment=Deployment(runtime=rt)) for e in ("simpy", "compiled"))
    assert a.to_dict() == b.to_dict()
    for k, v in a.per_request.items():
        assert np.array_equal(v, b.per_request[k], equal_nan=True), k
