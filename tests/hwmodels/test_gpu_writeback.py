"""The GPU model's two per-kernel terms measured on the H200: the write-back of the lines a
kernel leaves dirty in L2 (`WRITEBACK_S`), and the vector kernels' own launch cost
(`gpu.vector_launch_us`)."""

from __future__ import annotations

import dataclasses

import pytest

from infersim.hwmodels import CostContext, cost_model, load_hardware
from infersim.hwmodels.cost import WRITEBACK_S
from infersim.hwmodels.spec import GpuParams
from infersim.workloads import ops as O
from infersim.workloads.ops import OpKind

MIB = float(1 << 20)
CTX = CostContext(from_idle=True)


def _writeback(hw, op) -> float:  # type: ignore[no-untyped-def]
    return float(dict(cost_model(hw).op_cost(op, hw, CTX).detail)[WRITEBACK_S])


def _with_gpu(hw, **values):  # type: ignore[no-untyped-def]
    p = hw.chip.params
    assert isinstance(p, GpuParams)
    return dataclasses.replace(hw, chip=dataclasses.replace(
        hw.chip, params=dataclasses.replace(p, **values)))


def test_an_add_leaves_the_written_third_of_l2_dirty() -> None:
    hw = load_hardware("h200-sxm")
    bw = 4.8e12 * 0.93  # the H200's 4.8 TB/s at its elementwise stream share, 0.930
    l2 = 60e6  # the spec's gpu.l2_mb: 60
    # add of 16 Mi bf16 elements: reads 64 MiB, writes 32 MiB, each line once; the L2
    # holds the last lines, a third of them written: 20 MB dirty
    big = O.vector(OpKind.ELEMENTWISE, 1 << 24, "bf16", inputs=2.0, name="add")
    assert _writeback(hw, big) == pytest.approx(l2 / 3 / bw, rel=1e-9)
    # 4 Mi elements: all 8 MiB it wrote are still in L2
    mid = O.vector(OpKind.ELEMENTWISE, 1 << 22, "bf16", inputs=2.0, name="add")
    assert _writeback(hw, mid) == pytest.approx(8 * MIB / bw, rel=1e-9)
    # a copy writes half its lines: 30 MB of a 256 MiB copy are dirty
    cp = O.vector(OpKind.ELEMENTWISE, 1 << 27, "bf16", flops_per_elem=0.0, name="copy")
    assert _writeback(hw, cp) == pytest.approx(l2 / 2 / bw, rel=1e-9)


def test_writeback_is_not_part_of_the_op_time() -> None:
    # a later kernel pays it, and only if it evicts the lines: the op's own time is its
    # body plus its launch, whatever the L2 holds dirty
    hw = load_hardware("h200-sxm")
    op = O.vector(OpKind.ELEMENTWISE, 1 << 24, "bf16", inputs=2.0, name="add")
    small_l2 = _with_gpu(hw, l2_bytes=1 * MIB)
    a = cost_model(hw).op_cost(op, hw, CTX)
    b = cost_model(small_l2).op_cost(op, small_l2, CTX)
    assert a.time_s == pytest.approx(b.time_s, rel=1e-12)
    assert _writeback(small_l2, op) < 0.1 * _writeback(hw, op)  # L2 bounds the dirty bytes


def test_a_gemm_drains_its_output_inside_the_kernel() -> None:
    hw = load_hardware("h200-sxm")
    oc = cost_model(hw).op_cost(O.matmul(4096, 4096, 4096, "bf16"), hw, CTX)
    assert WRITEBACK_S not in dict(oc.detail)


def test_vector_launch_prices_vector_kernels_only() -> None:
    hw = load_hardware("h200-sxm")
    p = hw.chip.params
    assert isinstance(p, GpuParams)
    assert p.vector_launch_s == pytest.approx(1.8e-6) and p.kernel_launch_s == pytest.approx(2e-6)
    vec = O.vector(OpKind.ELEMENTWISE, 4096, "bf16", inputs=2.0, name="add")
    gemm = O.matmul(16, 4096, 4096, "bf16")
    m = cost_model(hw)
    assert m.op_cost(vec, hw, CTX).overhead_s == pytest.approx(1.8e-6)
    assert m.op_cost(gemm, hw, CTX).overhead_s == pytest.approx(2e-6)
    # the knob moves a vector op's time by exactly its change, and nothing else's
    slower = _with_gpu(hw, vector_launch_s=3e-6)
    assert (cost_model(slower).op_cost(vec, slower, CTX).time_s
            - m.op_cost(vec, hw, CTX).time_s) == pytest.approx(1.2e-6, rel=1e-9)
    assert cost_model(slower).op_cost(gemm, slower, CTX).time_s == pytest.approx(
        m.op_cost(gemm, hw, CTX).time_s, rel=1e-12)
    # unset (0, every other GPU spec): a vector kernel pays kernel_launch_us
    h100 = load_hardware("h100-sxm")
    hp = h100.chip.params
    assert isinstance(hp, GpuParams) and hp.vector_launch_s == 0.0
    assert cost_model(h100).op_cost(vec, h100, CTX).overhead_s == pytest.approx(
        hp.kernel_launch_s)
