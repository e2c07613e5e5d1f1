"""The CPU cost model (hwmodels/models/cpu.py) on a hand-made spec, against hand arithmetic."""

import math

import pytest

from infersim.hwmodels import load_hardware
from infersim.hwmodels.cost import Bound, CostContext
from infersim.hwmodels.models.cpu import CpuModel, seconds_per_byte, served_fractions
from infersim.hwmodels.models.roofline import roofline_times
from infersim.hwmodels.registry import cost_model
from infersim.workloads import ops as O
from infersim.workloads.ops import OpKind

SPEC = """\
# unit-test CPU: round numbers so every expected value is hand arithmetic
name: cpu-test
kind: cpu
clock_ghz: 3.0
compute:
  matrix: {type: matrix, count: 2, peak_gflops: {fp32: 100, fp64: 50}}
  vector: {type: vector, count: 2, peak_gflops: {fp32: 400, fp64: 200}}
memory:
  l1: {capacity_kib: 64, bandwidth_gb_per_s: 400, energy_pj_per_bit: 0.1, holds: [activations]}
  l2: {capacity_mib: 1, bandwidth_gb_per_s: 200, energy_pj_per_bit: 0.5, holds: [activations]}
  dram: {capacity_gb: 16, bandwidth_gb_per_s: 20, energy_pj_per_bit: 20, holds: [weights, kv, activations]}
power: {tdp_w: 20, idle_w: 4}
energy: {pj_per_flop: {fp32: 2, fp64: 4}}
cpu: {cores: 2, simd_width_bits: 512, call_overhead_us: 2.0}
sources:
  clock_ghz: "assumed: test"
  compute: "assumed: test"
  memory: "assumed: test"
  power: "assumed: test"
  energy: "assumed: test"
  cpu: "assumed: test"
"""

KiB = 1024.0
OVH = 2e-6


@pytest.fixture(scope="module")
def hw(tmp_path_factory):
    p = tmp_path_factory.mktemp("spec") / "cpu-test.yaml"
    p.write_text(SPEC)
    return load_hardware(p)


def test_registered_for_cpu(hw):
    assert isinstance(cost_model(hw), CpuModel)


def test_served_fractions_by_hand():
    caps = [64.0, 1024.0]
    assert served_fractions(32.0, caps) == [1.0, 0.0, 0.0]
    assert served_fractions(128.0, caps) == [0.5, 0.5, 0.0]
    assert served_fractions(2048.0, caps) == [64 / 2048, 960 / 2048, 1024 / 2048]
    assert seconds_per_byte(128.0, caps, [4.0, 2.0, 1.0]) == pytest.approx(0.5 / 4 + 0.5 / 2)


def test_l1_resident_elementwise(hw):
    # triad of 1000 fp32: 3 arrays × 4000 B = 12 kB ≤ 64 KiB → L1 at 400 GB/s; 2000 FLOP on
    # the vector unit (400 GFLOP/s) = 5 ns < 30 ns of memory
    op = O.vector(OpKind.ELEMENTWISE, 1000, "fp32", inputs=2, outputs=1, flops_per_elem=2)
    c = cost_model(hw).op_cost(op, hw, CostContext())
    assert c.memory_s == pytest.approx(12000 / 400e9)
    assert c.compute_s == pytest.approx(2000 / 400e9)
    assert c.time_s == pytest.approx(OVH + 12000 / 400e9)
    assert c.bound is Bound.LATENCY  # 2 µs overhead ≫ 30 ns


def test_working_set_split_between_levels(hw):
    # copy of n fp64 elements touches 2 arrays: 16 B per element, 128 KiB working set;
    # 64 KiB from L1, 64 KiB from L2
    n = int(128 * KiB / 16)
    op = O.vector(OpKind.ELEMENTWISE, n, "fp64", inputs=1, outputs=1, flops_per_elem=0)
    c = cost_model(hw).op_cost(op, hw, CostContext())
    w = 128 * KiB
    assert c.memory_s == pytest.approx(w * (0.5 / 400e9 + 0.5 / 200e9))
    assert c.time_s == pytest.approx(OVH + c.memory_s)
    assert c.bound is Bound.LATENCY  # 0.49 µs of traffic < 2 µs call overhead


def test_dram_sized_working_set_tends_to_dram_bandwidth(hw):
    n = 50_000_000  # 800 MB of copy traffic
    op = O.vector(OpKind.ELEMENTWISE, n, "fp64", inputs=1, outputs=1, flops_per_elem=0)
    c = cost_model(hw).op_cost(op, hw, CostContext())
    w = 16.0 * n
    expect = 64 * KiB / 400e9 + (1024 * KiB - 64 * KiB) / 200e9 + (w - 1024 * KiB) / 20e9
    assert c.memory_s == pytest.approx(expect)
    assert c.memory_s == pytest.approx(w / 20e9, rel=2e-3)


def test_weights_stream_from_dram_even_when_small(hw):
    # a GEMV whose 2 MB of weights would fit nowhere but DRAM holds weights: caches hold
    # activations only in this spec, so the weight bytes go at 20 GB/s
    op = O.matmul(1, 512, 1024, "fp32")
    c = cost_model(hw).op_cost(op, hw, CostContext())
    wb = 512 * 1024 * 4.0
    act = (512 + 1024) * 4.0
    w = wb + act  # working set
    act_s = act * seconds_per_byte(w, [64 * KiB, 1024 * KiB], [400e9, 200e9, 20e9])
    assert c.memory_s == pytest.approx(wb / 20e9 + act_s)
    assert c.time_s >= max(roofline_times(op, hw)) * 0.999  # essentially the DRAM floor
    assert c.bound is Bound.MEMORY


def test_gemm_is_priced_on_the_matrix_ceiling(hw):
    # 256³ fp32 GEMM: 33.5 MFLOP at the GEMM kernel's 100 GFLOP/s (not the 400 of the vector
    # kernel, which is the chip's best peak and what the roofline floor uses)
    op = O.matmul(256, 256, 256, "fp32", weight_dtype=None)
    c = cost_model(hw).op_cost(op, hw, CostContext())
    flops = 2 * 256**3
    assert c.compute_s == pytest.approx(flops / 100e9)
    assert c.time_s == pytest.approx(OVH + flops / 100e9)
    assert c.bound is Bound.COMPUTE
    fc, _, _ = roofline_times(op, hw)
    assert fc == pytest.approx(flops / 400e9) and c.compute_s >= fc


def test_energy_by_hand(hw):
    # triad, 1000 fp32 in L1: 2000 FLOP × 2 pJ + 12000 B × 8 × 0.1 pJ + 4 W × time
    op = O.vector(OpKind.ELEMENTWISE, 1000, "fp32", inputs=2, outputs=1, flops_per_elem=2)
    c = cost_model(hw).op_cost(op, hw, CostContext())
    expect = 2000 * 2e-12 + 12000 * 8 * 0.1e-12 + 4.0 * c.time_s
    assert c.energy_j == pytest.approx(expect)


def test_more_bandwidth_is_never_slower(hw, tmp_path):
    faster = SPEC.replace("bandwidth_gb_per_s: 20,", "bandwidth_gb_per_s: 40,")
    p = tmp_path / "cpu-test-2x.yaml"
    p.write_text(faster.replace("name: cpu-test", "name: cpu-test-2x"))
    hw2 = load_hardware(p)
    for op in (O.matmul(1, 4096, 4096, "fp32"),
               O.vector(OpKind.NORM, 10_000_000, "fp32", inputs=1, outputs=1)):
        a = cost_model(hw).op_cost(op, hw, CostContext()).time_s
        b = cost_model(hw2).op_cost(op, hw2, CostContext()).time_s
        assert b <= a and math.isfinite(b)


def test_template_spec_loads_and_prices(hw, cpu_host):
    # the library's cpu-host template works with this model too
    c = cost_model(cpu_host).op_cost(O.matmul(8, 512, 512, "fp32"), cpu_host, CostContext())
    assert c.time_s > 0 and math.isfinite(c.energy_j)
