"""Wafer, LPU and CIM cost models against hand-derived oracles (arithmetic in the tests)."""

from __future__ import annotations

import pytest

from infersim.hwmodels import CostContext, cost_model, load_hardware
from infersim.hwmodels.collectives import topology_hops as collective_hops
from infersim.hwmodels.cost import Bound
from infersim.hwmodels.loader import load_hardware_text
from infersim.hwmodels.spec import Topology
from infersim.workloads import ops
from infersim.workloads.ops import Collective, CollectiveShape, OpKind

TINY_CIM = """\
# A made-up CIM chip small enough to price by hand.
name: tiny-cim
kind: cim
clock_ghz: 1
compute:
  arrays: {type: matrix, peak_tflops: {int8: 1000}}
  simd: {type: vector, peak_tflops: {int8: 1, bf16: 1}}
memory:
  sram: {capacity_mb: 1, bandwidth_tb_per_s: 1, holds: [weights, kv, activations]}
  lpddr: {capacity_gb: 1, bandwidth_gb_per_s: 2, holds: [weights], external: true}
power: {tdp_w: 1, idle_w: 0}
cim:
  array_rows: 4
  array_cols: 8
  num_arrays: {N}
  bits_per_cell: 2
  weight_bits: 4
  input_bits_per_cycle: 2
  adc_bits: 4
  adcs_per_array: 2
  adc_energy_pj: 1.0
  adc_time_ns: 1.0
  dac_energy_pj: 0.5
  array_utilization: 1.0
  reload_bandwidth_gb_per_s: 1
  reload_energy_pj_per_bit: 1.0
sources: {clock_ghz: 'assumed: test', compute: 'assumed: test', memory: 'assumed: test',
          power: 'assumed: test', cim: 'assumed: test'}
"""


def tiny(n_arrays: int):
    return load_hardware_text(TINY_CIM.replace("{N}", str(n_arrays)))


def test_cim_resident_matmul_by_hand():
    hw = tiny(10)
    # m=3, k=6, n=5; int8 activations, int4 weights
    op = ops.matmul(3, 6, 5, "int8", weight_dtype="int4")
    c = cost_model(hw).op_cost(op, hw, CostContext())
    # weight slices = ceil(4 / 2 bits per cell) = 2; input cycles = ceil(8 / 2) = 4
    # row tiles = ceil(6 / 4) = 2; column tiles = ceil(5 * 2 / 8) = 2 -> 4 arrays of 10
    # passes = max(1, 3 vectors * 4 arrays / 10 usable) = 1.2
    # cycle = ceil(8 columns / 2 ADCs) * 1 ns = 4 ns -> array time = 1.2 * 4 * 4 ns = 19.2 ns
    assert c.time_s == pytest.approx(19.2e-9)
    assert c.bound == Bound.CONVERSION
    # ADC conversions = m * cycles * (n * slices) * row tiles = 3 * 4 * 10 * 2 = 240 x 1 pJ
    # DAC conversions = m * cycles * k * column tiles = 3 * 4 * 6 * 2 = 144 x 0.5 pJ
    # bytes: A 18 + C 15 + W 6*5*0.5 = 15 -> 48 B, memory energy 0 (not given), idle 0
    assert dict(c.detail)["adc_conversions"] == 240
    assert c.energy_j == pytest.approx(240e-12 + 72e-12)


def test_cim_weights_that_do_not_fit_are_reloaded():
    hw = tiny(3)  # 3 arrays for a layer that needs 4
    op = ops.matmul(3, 6, 5, "int8", weight_dtype="int4")
    c = cost_model(hw).op_cost(op, hw, CostContext())
    # resident fraction 3/4 -> reload 15 B * 1/4 = 3.75 B at min(1, 2) GB/s = 3.75 ns
    # passes = 3 * 4 / 3 = 4 -> array time 4 * 4 cycles * 4 ns = 64 ns; reload is serial
    assert c.time_s == pytest.approx(64e-9 + 3.75e-9)
    # reload energy 3.75 B * 8 bit * (1 pJ write + 0 source) = 30 pJ
    assert c.energy_j == pytest.approx(240e-12 + 72e-12 + 30e-12)


def test_cim_dynamic_matmuls_run_on_the_periphery():
    hw = tiny(10)
    op = ops.attention(1, 2, 2, 4, 1, 8, causal=False, dtype="bf16")
    c = cost_model(hw).op_cost(op, hw, CostContext())
    # flops = 2*1*2*8*(4+4) + 5*1*2*8 = 256 + 80 = 336 on the 1 TFLOPS bf16 SIMD unit
    assert c.time_s == pytest.approx(336 / 1e12)


def test_corsair_bit_slicing_reproduces_both_published_peaks():
    """The spec's readout time was derived from the 2.4 POPS MXINT8 figure only; the same
    parameters must give the separately published 9.6 POPS MXINT4 (d-Matrix via The Register)."""
    hw = load_hardware("corsair", {"cim.array_utilization": 1.0})
    model = cost_model(hw)
    for dtype, published in (("int8", 2.4e15), ("int4", 9.6e15)):
        op = ops.matmul(8192, 8192, 8192, dtype)
        rate = op.flops / model.op_cost(op, hw, CostContext()).time_s
        assert rate == pytest.approx(published, rel=0.01), dtype


@pytest.mark.parametrize("name,dtype", [("mythic-m1076", "int8"), ("rram-cim", "int8"),
                                        ("sram-cim", "int4")])
def test_cim_spec_timing_is_consistent_with_its_listed_peak(name, dtype):
    hw = load_hardware(name, {"cim.array_utilization": 1.0})
    op = ops.matmul(2048, 1024, 1024, dtype)
    rate = op.flops / cost_model(hw).op_cost(op, hw, CostContext()).time_s
    assert rate == pytest.approx(hw.chip.peak_flops(op.dtype), rel=0.02)


def test_lpu_gemv_is_weight_install_plus_matrix_latency_and_an_add_is_cheap():
    hw = load_hardware("groq-lpu")
    model = cost_model(hw)
    rt, prof = model.resolve_runtime("groq-2024")
    ctx = CostContext(runtime=rt, profile=prof)
    cycles = dict(prof.values)["matrix_op_cycles"]  # fitted: wafer_lpu_fit.json
    op = ops.matmul(1, 4096, 4096, "bf16")
    c = model.op_cost(op, hw, ctx)
    # planes x clock = 750-class int8 peak (4 x 204,800 OP/cycle x 0.9 GHz) / (2 x 320^2);
    # install = 4 planes x 5,120 B/cycle x 0.9 GHz = 18.432 TB/s: 33,554,432 B -> 1.8205 us
    # (> SRAM 33,570,816 B / 80 TB/s = 419.6 ns, > compute 2*4096^2 / 184.3 TFLOPS = 182 ns)
    install = 4096 * 4096 * 2 / (4 * 5120 * 0.9e9)
    assert c.time_s == pytest.approx(install + cycles / 0.9e9)
    # a residual add of the same activations: one VXM pass of 100 cycles
    add = model.op_cost(ops.vector(OpKind.ELEMENTWISE, 4096, "bf16", inputs=2.0), hw, ctx)
    # VXM: 4,096 FLOP / (5,120 ALUs x 2 x 0.9 GHz) = 0.44 ns > SRAM 24,576 B / 80 TB/s
    assert add.time_s == pytest.approx(100 / 0.9e9 + 4096 / (5120 * 2 * 0.9e9))
    assert add.time_s < c.time_s / 50


def test_lpu_all_reduce_pays_node_or_dragonfly_hops(groq_576):
    msg = 8192 * 2
    c8 = cost_model(groq_576).op_cost(ops.collective("all_reduce", msg, 8), groq_576,
                                        CostContext())
    # wire = 2 * 7/8 * msg over 16 links x 15 GB/s; 8 chips = one GroqNode wired all-to-all:
    # reduce-scatter + all-gather = 2 hops x 0.5 us; collectives pay no op latency
    assert c8.time_s == pytest.approx(2 * 7 / 8 * msg / (16 * 15e9) + 2 * 0.5e-6)
    c16 = cost_model(groq_576).op_cost(ops.collective("all_reduce", msg, 16), groq_576,
                                        CostContext())
    # 16 chips span two nodes: 2 x dragonfly diameter 3 = 6 hops
    assert c16.time_s == pytest.approx(2 * 15 / 16 * msg / (16 * 15e9) + 6 * 0.5e-6)


def test_wafer_streams_non_resident_weights_from_memoryx(cs3):
    op = ops.matmul(1, 8192, 8192, "bf16")
    c = cost_model(cs3).op_cost(op, cs3, CostContext(weights_on_chip=0.5))
    # half of 8192*8192*2 B = 67,108,864 B at MemoryX's 150 GB/s = 447 us, plus the GEMV's two
    # fabric phases (fixed latencies, a few us: tests/hwmodels/test_wafer_lpu_calibration.py)
    assert c.time_s - c.overhead_s == pytest.approx(67_108_864 / 150e9)
    assert 0 < c.overhead_s < 10e-6
    assert c.bound == Bound.MEMORY
    resident = cost_model(cs3).op_cost(op, cs3, CostContext(weights_on_chip=1.0))
    assert resident.time_s < c.time_s / 100


def test_wafer_attention_and_norm_pay_their_fabric_phases():
    hw = load_hardware("cs-3")
    model = cost_model(hw)
    rt, prof = model.resolve_runtime("cerebras-2024-10")  # overlapping regions
    t_ph = dict(prof.values)["phase_overhead_s"]  # fitted: wafer_lpu_fit.json
    ctx = CostContext(runtime=rt, profile=prof)
    link = 214e15 / 8 / (8 * 900_000)  # B/s per mesh link and direction
    op = ops.attention(1, 32, 8, 128, 1, 1024, causal=False)
    c = model.op_cost(op, hw, ctx)
    # Brute force over the region size C (between the fewest cores whose 48.9 KB of SRAM
    # hold the KV and all 900,000): local work at per-core rates + 2 phases (broadcast q in
    # bf16, reduce (o, max, sum) in fp32) of sqrt(C) hops of one 1.1 GHz cycle + streaming,
    # + 2 t_ph; peak = 900k cores x 8-wide fp16 SIMD x 2 FLOP x 1.1 GHz
    peak, bw, n, hop = 900_000 * 16 * 1.1e9, 21e15, 900_000, 1 / 1.1e9
    kv = op.bytes.kv_read
    fwd = 32 * 128 * 2 + 32 * 130 * 4
    need = kv / (44e9 / n)
    best = min(max(op.flops / (cc / n * peak), kv / (cc / n * bw))
               + 2 * cc ** 0.5 * hop + fwd / cc ** 0.5 / link
               for cc in (need * (n / need) ** (i / 200_000) for i in range(200_001)))
    assert c.time_s == pytest.approx(best + 2 * t_ph, rel=1e-6)
    norm = ops.vector(ops.OpKind.NORM, 4096)
    # 4096 bf16 elements at one 4-byte word per core span 2048 cores (side 45.25): 2 phases
    expected = 2 * (2048 ** 0.5 * hop + 4 / link + t_ph)
    got = model.op_cost(norm, hw, ctx).time_s
    assert got == pytest.approx(expected, rel=1e-3)  # + the norm's own body, < 1 ns


@pytest.mark.parametrize("topology,coll,g,hops", [
    (Topology.RING, Collective.ALL_REDUCE, 8, 14),        # 2 (g - 1)
    (Topology.RING, Collective.ALL_GATHER, 8, 7),         # g - 1
    (Topology.MESH_2D, Collective.ALL_REDUCE, 16, 12),    # 2 x 2 x (4 - 1)
    (Topology.TORUS_2D, Collective.ALL_REDUCE, 16, 8),    # 2 x 2 x ceil(3 / 2)
    (Topology.DRAGONFLY, Collective.ALL_REDUCE, 64, 6),   # 2 x diameter 3
    (Topology.DRAGONFLY, Collective.ALL_TO_ALL, 64, 3),
    (Topology.SWITCH, Collective.ALL_REDUCE, 8, 2),       # reduce-scatter + all-gather
    (Topology.ALL_TO_ALL, Collective.REDUCE_SCATTER, 8, 1),
    (Topology.RING, Collective.SEND_RECV, 8, 1),
    (Topology.RING, Collective.ALL_REDUCE, 1, 0),
])
def test_collective_hops(topology, coll, g, hops):
    assert collective_hops(topology, CollectiveShape(coll, 1024.0, g)) == hops
