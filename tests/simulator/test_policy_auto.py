"""The default serving policy `auto`: the runtime's own scheduling. Engines with in-flight
batching (the profile's `mixed_batching` knob: TensorRT-LLM, vLLM V1) put a new prompt into
the iteration of the running decodes (`chunked`); the others give it an iteration of its own
(`continuous`). Event times derived by hand in comments.

The injected cost: an iteration with prefill work costs 1.0 s, a decode-only one 0.1 s."""

from __future__ import annotations

import pytest

from infersim.hwmodels.cost import RuntimeProfile
from infersim.hwmodels.models.gpu.engines import lookup
from infersim.hwmodels.spec import HardwareKind
from infersim.simulator.serving import (
    Policy,
    ServingPolicy,
    TraceReplay,
    Traffic,
    simulate_serving,
)
from infersim.simulator.serving.serve import ReplicaSpec


class StepCost:
    def __init__(self, mixed: float | None) -> None:
        knobs = () if mixed is None else (("mixed_batching", mixed),)
        self.runtime = RuntimeProfile("test", HardwareKind.GPU, knobs)

    def __call__(self, prefill, emits, decode_seqs, decode_ctx):
        return (1.0 if prefill else 0.1), 0.0


def run(tmp_path, mixed, kind=Policy.AUTO):
    # A: arrives at 0, prompt 10, 3 output tokens; B: arrives at 0.15, prompt 10, 2 tokens
    p = tmp_path / "trace.csv"
    p.write_text("arrival_s,prompt_tokens,output_tokens\n0,10,3\n0.15,10,2\n")
    return simulate_serving(ReplicaSpec(), StepCost(mixed),
                            Traffic(TraceReplay(str(p)), None, None),
                            ServingPolicy(kind=kind, max_batch=8), engine="simpy")


def test_default_kind_is_auto_and_resolves_by_the_profile() -> None:
    assert ServingPolicy().kind is Policy.AUTO
    assert ServingPolicy().resolved(None).kind is Policy.CONTINUOUS
    assert ServingPolicy().resolved("graph").kind is Policy.CONTINUOUS
    for name, kind in (("trtllm", Policy.CHUNKED), ("trtllm-triton", Policy.CHUNKED),
                       ("vllm-v1", Policy.CHUNKED), ("vllm-v0", Policy.CONTINUOUS),
                       ("vllm-v0-api", Policy.CONTINUOUS), ("sglang", Policy.CONTINUOUS),
                       ("graph", Policy.CONTINUOUS)):
        prof = lookup(name)
        assert prof is not None
        assert ServingPolicy().resolved(prof).kind is kind, name
    # an explicit kind is kept whatever the runtime
    trt = lookup("trtllm")
    assert ServingPolicy(kind=Policy.CONTINUOUS).resolved(trt).kind is Policy.CONTINUOUS


def test_in_flight_batching_lets_decodes_run_beside_a_new_prompt(tmp_path) -> None:
    # Separate prefill iterations (mixed_batching 0): A's prompt [0, 1]; B (waiting since
    # 0.15) gets [1, 2] alone while A waits; A and B decode [2, 2.1] (B done); A [2.1, 2.2].
    sep = run(tmp_path, mixed=0.0)
    assert sep.policy == "continuous"
    assert sep.per_request["first_token_s"] == pytest.approx([1.0, 2.0])
    assert sep.per_request["finish_s"] == pytest.approx([2.2, 2.1])
    # In-flight batching: B's prompt and A's decode share [1, 2]; then both decode
    # [2, 2.1], where A (3 tokens) and B (2) are done.
    mixed = run(tmp_path, mixed=1.0)
    assert mixed.policy == "chunked"
    assert mixed.per_request["first_token_s"] == pytest.approx([1.0, 2.0])
    assert mixed.per_request["finish_s"] == pytest.approx([2.1, 2.1])
    # `auto` gives the same numbers as the kind it resolves to; no profile = continuous
    assert run(tmp_path, mixed=1.0, kind=Policy.CHUNKED).per_request["finish_s"] == \
        pytest.approx(mixed.per_request["finish_s"])
    assert run(tmp_path, mixed=None).per_request["finish_s"] == \
        pytest.approx(sep.per_request["finish_s"])
