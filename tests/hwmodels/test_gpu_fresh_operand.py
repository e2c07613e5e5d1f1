"""A residual add reads the output its projection just wrote from L2 (`VectorShape.fresh_inputs`,
the GPU's `producer_l2_fraction`): by-hand bytes, the knob's direction, no double count with a
warm L2, and the builder's marking."""

from __future__ import annotations

import itertools

import pytest

from infersim.api import load_model, make_scenario
from infersim.hwmodels import CostContext, cost_model, load_hardware
from infersim.hwmodels.models.gpu import figures, vector_plan
from infersim.hwmodels.spec import Hardware
from infersim.validation.datasets import vidur
from infersim.workloads import build_trace
from infersim.workloads import ops as O
from infersim.workloads.ops import OpKind

MIB = float(1 << 20)


def _add(numel: int, fresh: float) -> O.Op:
    return O.vector(OpKind.ELEMENTWISE, numel, "fp16", inputs=2.0, name="residual",
                    fresh_inputs=fresh)


def _with_fraction(hw: Hardware, f: float) -> Hardware:
    return vidur.with_gpu(hw, producer_l2_fraction=f)


def test_the_fresh_input_is_read_from_l2_up_to_the_producers_share() -> None:
    hw = load_hardware("h100-sxm")
    c = figures(hw)
    # the spec: l2_mb 50 (10^6 bytes), producer_l2_fraction 0.090 -> 4.5 MB of the output
    cap = 0.090 * 50e6
    assert c.fresh_l2 == pytest.approx(cap, rel=1e-12)
    # 1 Mi fp16 elements: the fresh input is 2 MiB, all of it in L2; the residual (2 MiB)
    # and the output (2 MiB) still go to main memory
    small_cold, small = _add(1 << 20, 0.0), _add(1 << 20, 1.0)
    a = vector_plan(c, small_cold, small_cold.shape)
    b = vector_plan(c, small, small.shape)
    assert a.hbm_bytes - b.hbm_bytes == pytest.approx(2 * MIB, rel=1e-12)
    assert b.hbm_bytes == pytest.approx(4 * MIB, rel=1e-12)
    assert b.l2_hit == pytest.approx(2 / 6, rel=1e-12)  # 2 of the 6 MiB footprint
    # 16 Mi elements: a 32 MiB fresh input, of which only the producer's share is in L2
    big_cold, big = _add(1 << 24, 0.0), _add(1 << 24, 1.0)
    a = vector_plan(c, big_cold, big_cold.shape)
    b = vector_plan(c, big, big.shape)
    assert a.hbm_bytes - b.hbm_bytes == pytest.approx(cap, rel=1e-12)
    assert b.time_s < a.time_s


@pytest.mark.parametrize("numel", [1 << 22, 1 << 24, 1 << 26])
def test_a_larger_producer_share_never_slows_the_add(numel: int) -> None:
    hw = load_hardware("h100-sxm")
    op = _add(numel, 1.0)
    times = []
    for f in (0.0, 0.05, 0.1, 0.2, 0.3, 0.5):
        h = _with_fraction(hw, f)
        times.append(cost_model(h).op_cost(op, h, CostContext()).time_s)
    assert all(b <= a for a, b in itertools.pairwise(times))
    assert times[3] < times[0]  # these adds stream from memory: more fresh bytes, faster
    # share 0: the fresh mark changes nothing; an add without it ignores the share
    h0, h5 = _with_fraction(hw, 0.0), _with_fraction(hw, 0.5)
    plain = _add(numel, 0.0)
    assert times[0] == cost_model(h0).op_cost(plain, h0, CostContext()).time_s
    assert (cost_model(h5).op_cost(plain, h5, CostContext()).time_s
            == cost_model(h0).op_cost(plain, h0, CostContext()).time_s)


def test_a_warm_l2_is_not_counted_twice() -> None:
    # a repeated benchmark call (warm_l2) already serves the footprint from L2: the fresh
    # mark adds nothing on top
    hw = load_hardware("h100-sxm")
    warm = CostContext(warm_l2=True)
    for numel in (1 << 20, 1 << 24):
        a = cost_model(hw).op_cost(_add(numel, 0.0), hw, warm)
        b = cost_model(hw).op_cost(_add(numel, 1.0), hw, warm)
        assert a.time_s == b.time_s


def test_the_builder_marks_the_residual_adds_and_nothing_else() -> None:
    sc = make_scenario("prefill", 1, context=512)
    for op in build_trace(load_model("llama-3.1-8b"), sc).ops:
        fresh = getattr(op.shape, "fresh_inputs", 0.0)
        if op.name in ("attn_residual", "mlp_residual"):
            assert fresh == 1.0, op.name
        else:
            assert fresh == 0.0, op.name


def test_more_fresh_inputs_than_inputs_is_refused() -> None:
    with pytest.raises(ValueError, match=r"fresh_inputs 3\.0 must lie between 0 and inputs 2\.0"):
        _add(1 << 10, 3.0)


def test_the_vidur_harness_add_reads_one_fresh_input_and_one_cold() -> None:
    # Vidur's `add` timer covers `residual + hidden_states` right after the MLP: the down
    # projection's output is fresh, the residual is not (an ungated block's parallel
    # residual runs two such adds, each reading the previous kernel's output)
    from types import SimpleNamespace

    r = SimpleNamespace(gpu="h100", model="Llama-2-70b-hf", n_head=64, n_kv_head=8,
                        n_embd=8192, n_ffn=28672, gated=1, tp=1, tokens=1024, op="add")
    (op,) = vidur.compute_kernels(r)
    assert op.shape.fresh_inputs == 1.0 and op.bytes.act_in == 2 * 1024 * 8192 * 2
    phi = SimpleNamespace(**{**vars(r), "gated": 0})
    assert [k.shape.fresh_inputs for k in vidur.compute_kernels(phi)] == [1.0, 1.0]
    # 16 MiB fresh of which the H100 keeps 4.5 MB: the add's main-memory bytes by hand
    hw = load_hardware("h100-sxm")
    vp = vector_plan(figures(hw), op, op.shape)
    assert vp.hbm_bytes == pytest.approx(3 * 1024 * 8192 * 2 - 0.090 * 50e6, rel=1e-12)
