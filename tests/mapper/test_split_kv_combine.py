"""A split-KV decode attention launches its combine as a second kernel (cuDNN SDPA's
`lean_reduction_kernel` in the H200 kernel census), which an eager host pays one more
launch for; an unsplit one launches one kernel."""

from __future__ import annotations

import pytest

from infersim.api import make_scenario
from infersim.hwmodels import CostContext, cost_model, load_hardware
from infersim.hwmodels.cost import COMBINE_KERNEL_S
from infersim.mapper import map_trace
from infersim.workloads import build_trace
from infersim.workloads import ops as O


def _attention_row(batch: int):  # type: ignore[no-untyped-def]
    hw = load_hardware("h200-sxm")
    s = map_trace(build_trace("llama-3.2-1b", make_scenario("decode", batch, context=1024)),
                  hw, "eager")
    f = s.to_frame()
    return hw, f[f["name"] == "attention"].iloc[0]


def test_split_attention_is_two_kernels_and_two_host_launches() -> None:
    hw, row = _attention_row(1)
    op = O.attention(1, 32, 8, 64, 1, 1025, False, "bf16")
    detail = dict(cost_model(hw).op_cost(op, hw, CostContext()).detail)
    assert detail["split_kv"] > 1 and detail[COMBINE_KERNEL_S] > 0
    host = hw.chip.params.host_launch_s
    assert row["kernels"] == 2
    assert row["host_s"] == pytest.approx(2 * host)


def test_unsplit_attention_is_one_kernel() -> None:
    hw, row = _attention_row(64)
    op = O.attention(64, 32, 8, 64, 1, 1025, False, "bf16")
    detail = dict(cost_model(hw).op_cost(op, hw, CostContext()).detail)
    assert detail["split_kv"] == 1 and COMBINE_KERNEL_S not in detail
    assert row["kernels"] == 1
    assert row["host_s"] == pytest.approx(hw.chip.params.host_launch_s)


def test_predict_op_times_a_split_attention_as_the_step_launches_it() -> None:
    """One answer everywhere: `predict_op` under `eager` launches the op's kernels as a step
    does, the split-KV combine with its own host dispatch. By hand: from an idle GPU the
    first kernel starts after one dispatch, the combine after the later of the second
    dispatch and the first kernel's end."""
    from infersim.api import predict_op

    hw = load_hardware("h200-sxm")
    op = O.attention(1, 32, 8, 64, 1, 1025, False, "bf16")
    oc = cost_model(hw).op_cost(op, hw, CostContext(from_idle=True))
    second = dict(oc.detail)[COMBINE_KERNEL_S]
    first = oc.time_s - second
    host = hw.chip.params.host_launch_s
    by_hand = max(host + first, 2 * host) + second
    assert predict_op(op, hw, "eager") == pytest.approx(by_hand, rel=1e-12)
    # and under a graph it is the op's device time, both kernels
    assert predict_op(op, hw, "graph") == pytest.approx(oc.time_s, rel=1e-12)
