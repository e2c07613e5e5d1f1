"""Admission policies: `on_demand` takes a prompt's KV blocks and grows by a block as
decoding needs one (vLLM, SGLang); `reserve` admits a request only when the blocks for its
prompt and its whole output fit beside those promised to the running requests, so nothing
is ever preempted (TensorRT-LLM's GUARANTEED_NO_EVICT, its default capacity scheduler).
Event times derived by hand in comments.

The injected cost: an iteration with prefill work costs 1.0 s, a decode-only one 0.1 s."""

from __future__ import annotations

import numpy as np
import pytest

from infersim.foundation.errors import InputError
from infersim.hwmodels.models.gpu.engines import lookup
from infersim.simulator.serving import (
    Admission,
    Policy,
    ServingPolicy,
    TraceReplay,
    Traffic,
    simulate_serving,
)
from infersim.simulator.serving.serve import ReplicaSpec


def cost(prefill, emits, decode_seqs, decode_ctx):  # type: ignore[no-untyped-def]
    return (1.0 if prefill else 0.1), 0.0


def run(tmp_path, admission, engine="simpy"):  # type: ignore[no-untyped-def]
    # A: prompt 16, 32 output tokens -> at most 16 + 32 = 48 cached tokens = 3 blocks of 16;
    # B: prompt 16, 16 output tokens -> 32 tokens = 2 blocks. Both arrive at 0; 4 blocks.
    p = tmp_path / "trace.csv"
    p.write_text("arrival_s,prompt_tokens,output_tokens\n0,16,32\n0,16,16\n")
    return simulate_serving(ReplicaSpec(kv_blocks=4), cost,
                            Traffic(TraceReplay(str(p)), None, None),
                            ServingPolicy(kind=Policy.CONTINUOUS, max_batch=8,
                                          admission=admission), engine=engine)


def test_reserve_waits_for_the_whole_request_on_demand_does_not(tmp_path) -> None:
    # on demand: both prompts take a block each and prefill together [0, 1] (first tokens);
    # B's 15 more tokens take [1, 2.5]; A, 2 blocks by then, needs its third at 33 cached
    # tokens, after B freed its 2: no preemption; A's 31 decodes end at 1 + 3.1 = 4.1.
    od = run(tmp_path, Admission.ON_DEMAND)
    assert od.per_request["first_token_s"] == pytest.approx([1.0, 1.0])
    assert od.per_request["finish_s"] == pytest.approx([4.1, 2.5])
    # reserve: A holds 3 of the 4 blocks for its life, B's 2 do not fit beside them: A
    # prefills [0, 1] and decodes to 4.1; B then prefills [4.1, 5.1], decodes to 6.6.
    rs = run(tmp_path, Admission.RESERVE)
    assert rs.per_request["first_token_s"] == pytest.approx([1.0, 5.1])
    assert rs.per_request["finish_s"] == pytest.approx([4.1, 6.6])
    assert rs.preemptions == 0


def test_reserve_never_preempts_where_on_demand_must(tmp_path) -> None:
    # three requests of 16 + 48 tokens (4 blocks each) on 8 blocks: on demand admits all
    # three prompts (3 blocks) and must preempt as they grow; reserve runs two at a time
    p = tmp_path / "trace.csv"
    p.write_text("arrival_s,prompt_tokens,output_tokens\n" + "0,16,48\n" * 3)
    res = {a: simulate_serving(ReplicaSpec(kv_blocks=8), cost,
                               Traffic(TraceReplay(str(p)), None, None),
                               ServingPolicy(kind=Policy.CHUNKED, max_batch=8, admission=a),
                               engine="simpy") for a in (Admission.ON_DEMAND, Admission.RESERVE)}
    assert res[Admission.ON_DEMAND].preemptions > 0
    assert res[Admission.RESERVE].preemptions == 0
    assert res[Admission.RESERVE].completed == 3


def test_auto_admission_is_the_runtimes_own() -> None:
    assert ServingPolicy().admission is Admission.AUTO
    assert ServingPolicy().resolved(None).admission is Admission.ON_DEMAND
    for name, adm in (("trtllm", Admission.RESERVE), ("trtllm-pytorch", Admission.RESERVE),
                      ("trtllm-triton", Admission.RESERVE), ("vllm-v1", Admission.ON_DEMAND),
                      ("vllm-v0", Admission.ON_DEMAND), ("sglang", Admission.ON_DEMAND)):
        assert ServingPolicy().resolved(lookup(name)).admission is adm, name
    # an explicit choice is kept whatever the runtime
    assert ServingPolicy(admission=Admission.ON_DEMAND).resolved(
        lookup("trtllm")).admission is Admission.ON_DEMAND


def test_reserve_runs_on_both_engines_alike(tmp_path) -> None:
    from infersim.hwmodels import load_hardware
    from infersim.simulator.serving.costs import MapperIterationCost
    from infersim.workloads import load_model

    # the two-request trace above, priced by TensorRT-LLM's profile (whole prompts): on the
    # compiled engine too B waits for A's reservation
    p = tmp_path / "trace.csv"
    p.write_text("arrival_s,prompt_tokens,output_tokens\n0,16,32\n0,16,16\n")
    mc = MapperIterationCost(load_model("llama-3.2-1b"), load_hardware("h100-sxm"),
                             runtime="trtllm")
    a, b = (simulate_serving(ReplicaSpec(kv_blocks=4), mc, Traffic(TraceReplay(str(p)), None,
                                                                   None),
                             ServingPolicy(max_batch=8), engine=e) for e in ("simpy", "compiled"))
    assert a.preemptions == b.preemptions == 0 and b.completed == 2
    for k, v in a.per_request.items():
        assert np.array_equal(v, b.per_request[k], equal_nan=True), k
    assert b.per_request["scheduled_s"][1] >= b.per_request["finish_s"][0]
    with pytest.raises(InputError, match=r"policy\.admission"):
        ServingPolicy(admission="guaranteed")
