"""Runs of one deployment share their cost table (`costs.shared_iteration_cost`) and get the
numbers a table built for them alone gives."""

from __future__ import annotations

import dataclasses

import pytest

from infersim.simulator.serving import (
    Deployment,
    FixedLengths,
    Poisson,
    ServingPolicy,
    Traffic,
    serve,
)
from infersim.simulator.serving import costs as C
from infersim.workloads import load_model
from tests._support import h100_like


def _run(hw, rate: float, n: int, policy: ServingPolicy = ServingPolicy()) -> dict:  # noqa: B008
    tr = Traffic(Poisson(rate), FixedLengths(512, 48), n)
    return serve(load_model("llama-3.2-1b"), hw, tr, policy,
                 deployment=Deployment(runtime="vllm-v1"), seed=3).to_dict()


@pytest.mark.parametrize("prefix_caching", [False, True])
def test_a_shared_table_gives_the_numbers_of_a_fresh_one(prefix_caching):
    """The same run three ways: on a new table; on the table another traffic (heavier: more
    nodes priced, other decode cells left behind) used first; and again after that. Every
    number of the result is equal, bit for bit. Prefix caching takes the simpy loop, the
    other the compiled engine (which writes its decode cells back to the table)."""
    hw = h100_like()
    policy = ServingPolicy(prefix_caching=prefix_caching)
    C.clear_shared()
    alone = _run(hw, 6.0, 60, policy)
    C.clear_shared()
    _run(hw, 40.0, 120, policy)
    after_other = _run(hw, 6.0, 60, policy)
    again = _run(hw, 6.0, 60, policy)
    assert after_other == alone
    assert again == alone


def test_equal_arguments_share_a_table_and_any_difference_builds_another(monkeypatch):
    """Value-equal model, hardware and arguments get the same table (a copy of the hardware
    object included); another TP degree, another hardware value or a CUDA-graph cap that
    selects other graph sizes get their own; past SHARED_TABLES the least recently used
    is dropped."""
    m, hw = load_model("llama-3.2-1b"), h100_like()
    C.clear_shared()
    a = C.shared_iteration_cost(m, hw, tp=1, runtime="vllm-v1", max_batch=64)
    assert C.shared_iteration_cost(m, dataclasses.replace(hw), tp=1, runtime="vllm-v1",
                                   max_batch=64) is a
    assert C.shared_iteration_cost(m, hw, tp=2, runtime="vllm-v1", max_batch=64) is not a
    other = dataclasses.replace(hw, chip=dataclasses.replace(hw.chip, clock_hz=1.0e9))
    assert C.shared_iteration_cost(m, other, tp=1, runtime="vllm-v1", max_batch=64) is not a
    # vLLM V1 captures graphs up to 512 sequences: caps of 64 and 8 select other sizes
    assert C.shared_iteration_cost(m, hw, tp=1, runtime="vllm-v1", max_batch=8) is not a
    C.clear_shared()
    monkeypatch.setattr(C, "SHARED_TABLES", 2)
    first = C.shared_iteration_cost(m, hw, tp=1, runtime="vllm-v1", max_batch=64)
    C.shared_iteration_cost(m, hw, tp=2, runtime="vllm-v1", max_batch=64)
    assert C.shared_iteration_cost(m, hw, tp=1, runtime="vllm-v1", max_batch=64) is first
    C.shared_iteration_cost(m, hw, tp=4, runtime="vllm-v1", max_batch=64)  # drops tp=2
    C.shared_iteration_cost(m, hw, tp=8, runtime="vllm-v1", max_batch=64)  # drops tp=1
    assert C.shared_iteration_cost(m, hw, tp=1, runtime="vllm-v1", max_batch=64) is not first
    C.clear_shared()


def test_runs_with_other_graph_sizes_share_the_point_tables_and_keep_their_own_axes(
        monkeypatch):
    """Two runs of one deployment whose largest batches select other CUDA-graph sizes
    (TensorRT-LLM pads to the sizes up to its max batch, and to the max batch itself) get
    tables of their own axes that share the mapped steps: a step the first priced is not
    mapped again for the second, and the second reads a point that is a node of the
    first's axis only by interpolating between its own nodes, as a table built for it alone
    does, bit for bit."""
    m, hw = load_model("llama-3.2-1b"), h100_like()
    mapped = []
    real = C.map_trace
    monkeypatch.setattr(C, "map_trace", lambda *a, **k: mapped.append(1) or real(*a, **k))
    C.clear_shared()
    alone = C.shared_iteration_cost(m, hw, tp=1, runtime="trtllm-pytorch", max_batch=600)
    want = alone.n_dec(700), alone.n_dec(256), alone.s_dec(600, 1000.0)
    C.clear_shared()
    first = C.shared_iteration_cost(m, hw, tp=1, runtime="trtllm-pytorch", max_batch=700)
    at_node = first.n_dec(700)  # 700 is a graph size of `first`, a node of its axis
    first.n_dec(256)
    first.s_dec(600, 1000.0)
    second = C.shared_iteration_cost(m, hw, tp=1, runtime="trtllm-pytorch", max_batch=600)
    assert second is not first
    before = len(mapped)
    assert second.n_dec(256) == want[1]  # a node of both: priced once, by `first`
    assert len(mapped) == before
    assert second.s_dec(600, 1000.0) == want[2]
    # 700 is not a node of `second`'s axis: interpolated there, not `first`'s node value
    assert second.n_dec(700) == want[0] != at_node
    C.clear_shared()
