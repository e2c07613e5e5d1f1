"""The residence-aware floor, worked by hand on the cpu-host template's cache levels."""

import pytest

from infersim.hwmodels.models.roofline import residence_floor, roofline_times
from infersim.workloads import ops
from infersim.workloads.ops import OpKind


def test_activation_floor_fills_fastest_levels_first(cpu_host):
    lv = {m.name: m for m in cpu_host.chip.memory}
    # 1 Mi fp32 elements in and out: 8 MiB of activations, no weights.
    op = ops.vector(OpKind.ELEMENTWISE, 2**20, "fp32", flops_per_elem=0.0)
    act = 8 * 2**20
    # by hand: fastest level first, each up to its capacity, levels in parallel
    order = sorted((m for m in cpu_host.chip.memory if m is not cpu_host.chip.main_memory),
                   key=lambda m: -m.bandwidth_Bps)
    left, worst = act, 0.0
    for m in order:
        share = min(left, m.capacity_bytes)
        worst = max(worst, share / m.bandwidth_Bps)
        left -= share
    worst = max(worst, left / lv["dram"].bandwidth_Bps)
    t, e = residence_floor(op, cpu_host)
    assert t == pytest.approx(worst)
    assert t < max(roofline_times(op, cpu_host))  # caches make it faster than DRAM alone
    cheapest = min(m.energy_j_per_bit for m in cpu_host.chip.memory)
    assert e == pytest.approx(act * 8 * cheapest)


def test_weights_always_from_main_memory(cpu_host):
    op = ops.matmul(1, 1024, 1024, "fp32")  # 4 MiB of weights, fits L3 but is streamed
    t, _ = residence_floor(op, cpu_host)
    assert t >= op.bytes.weight / cpu_host.chip.main_memory.bandwidth_Bps
