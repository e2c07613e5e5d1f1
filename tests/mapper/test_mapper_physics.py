"""Physics guards of the GPU cost model, over random shapes and every shipped GPU spec.

Each property is derived independently of the model's formulas: the roofline floor is the
shared `roofline_times` (peak FLOP/s and main-memory bandwidth); the energy floor is the
compulsory bytes × the main memory's J/bit; monotonicity compares two hardware variants."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from infersim.hwmodels import CostContext, HardwareKind, cost_model, load_hardware
from infersim.hwmodels.models.roofline import roofline_times
from infersim.hwmodels.spec import Hardware
from infersim.workloads import ops as O
from tests._support import SPECS, double_main_bandwidth


def _gpu_specs() -> list[Hardware]:
    out = []
    for p in SPECS:
        hw = load_hardware(p)
        if hw.kind is HardwareKind.GPU:
            out.append(hw)
    return out


GPUS = _gpu_specs()
SETTINGS = settings(max_examples=60, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])

matmuls = st.builds(
    lambda m, k, n, g, dt, wdt: O.matmul(m, k, n, dt, weight_dtype=wdt, groups=g),
    st.integers(1, 16384), st.integers(16, 32768), st.integers(16, 32768),
    st.sampled_from([1, 1, 1, 4, 32]), st.sampled_from(["bf16", "fp16", "fp8"]),
    st.sampled_from(["same", "int8", "int4", "fp8"]))


@st.composite
def attentions(draw: st.DrawFn) -> O.Op:
    kvh = draw(st.sampled_from([1, 2, 8]))
    heads = kvh * draw(st.sampled_from([1, 4, 8]))
    kv_len = draw(st.integers(1, 32768))
    q_len = draw(st.one_of(st.just(1), st.integers(1, min(kv_len, 8192))))
    return O.attention(draw(st.integers(1, 64)), heads, kvh, draw(st.sampled_from([64, 128])),
                       q_len, kv_len, draw(st.booleans()),
                       kv_dtype=draw(st.sampled_from(["bf16", "fp8"])))


vectors = st.builds(
    lambda n, inputs, kind: O.vector(kind, n, inputs=inputs),
    st.integers(1, 1 << 28), st.sampled_from([1.0, 2.0]),
    st.sampled_from([O.OpKind.NORM, O.OpKind.ELEMENTWISE, O.OpKind.ROPE]))

any_op = st.one_of(matmuls, attentions(), vectors)


def _check_floor(op: O.Op, hw: Hardware) -> None:
    c = cost_model(hw).op_cost(op, hw, CostContext())
    floor = max(roofline_times(op, hw))
    assert c.time_s >= floor * (1 - 1e-12), (op, hw.name, c.time_s, floor)
    e_floor = op.bytes.total * 8 * hw.chip.main_memory.energy_j_per_bit
    assert c.energy_j >= e_floor * (1 - 1e-12), (op, hw.name, c.energy_j, e_floor)


@pytest.mark.parametrize("hw", GPUS, ids=lambda h: h.name)
@SETTINGS
@given(op=any_op)
def test_never_beats_roofline_nor_energy_floor(hw: Hardware, op: O.Op) -> None:
    _check_floor(op, hw)


@pytest.mark.parametrize("hw", GPUS, ids=lambda h: h.name)
@SETTINGS
@given(g=st.sampled_from([2, 4, 8]), mb=st.floats(1e3, 1e9),
       coll=st.sampled_from(["all_reduce", "all_gather", "reduce_scatter", "all_to_all"]))
def test_collectives_never_beat_floor(hw: Hardware, g: int, mb: float, coll: str) -> None:
    system = replace(hw, num_chips=8) if hw.num_chips < 8 else hw
    _check_floor(O.collective(coll, mb, g), system)


@pytest.mark.parametrize("hw", GPUS, ids=lambda h: h.name)
@SETTINGS
@given(op=any_op)
def test_twice_the_bandwidth_is_never_slower(hw: Hardware, op: O.Op) -> None:
    fast = double_main_bandwidth(hw)
    t1 = cost_model(hw).op_cost(op, hw, CostContext()).time_s
    t2 = cost_model(fast).op_cost(op, fast, CostContext()).time_s
    assert t2 <= t1 * (1 + 1e-12)


def test_memory_bound_gemv_speeds_up_with_bandwidth(h100: Hardware) -> None:
    """A batch-1 GEMV over 117 MB of weights is memory-bound: doubling HBM bandwidth must cut
    its body time substantially (more than a third)."""
    op = O.matmul(1, 8192, 7168)
    t1 = cost_model(h100).op_cost(op, h100, CostContext())
    fast = double_main_bandwidth(h100)
    t2 = cost_model(fast).op_cost(op, fast, CostContext())
    assert t1.bound.value == "memory"
    assert (t2.time_s - t2.overhead_s) < 0.67 * (t1.time_s - t1.overhead_s)


@pytest.mark.parametrize("name", ["a100-sxm-80gb", "h100-sxm"])
def test_decode_attention_grows_with_context(name: str) -> None:
    hw = load_hardware(name)
    times = [cost_model(hw).op_cost(O.attention(8, 32, 8, 128, 1, kv), hw, CostContext()).time_s
             for kv in (128, 1024, 8192, 65536)]
    assert times == sorted(times) and len(set(times)) == len(times)
