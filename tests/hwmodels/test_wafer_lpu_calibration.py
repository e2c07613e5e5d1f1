"""Wafer (Cerebras) and LPU (Groq) decode-latency models: hand computations on made-up specs,
monotonicity, the physical floor, and the published anchors (a few runtime-profile constants
fitted, the rest held out).

The fitted constants and the held-out errors are in validation/data/published/
wafer_lpu_fit.json (`python -m infersim.validation.fitting.wafer_lpu`)."""

from __future__ import annotations

import json
import math
import statistics
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from infersim.api import make_scenario
from infersim.hwmodels import CostContext, cost_model, load_hardware
from infersim.hwmodels.cost import RuntimeProfile
from infersim.hwmodels.loader import load_hardware_text
from infersim.hwmodels.models.roofline import roofline_times
from infersim.hwmodels.registry import MODELS
from infersim.hwmodels.spec import Hardware, HardwareKind
from infersim.mapper import map_trace
from infersim.validation.datasets import published_e2e as P
from infersim.validation.fitting import wafer_lpu
from infersim.workloads import build_trace, ops

TINY_WAFER = """\
# A made-up 100-core wafer small enough to price by hand.
name: tiny-wafer
kind: wafer
clock_ghz: 1
compute:
  pe: {{type: matrix, count: 100, peak_tflops: {{bf16: {peak_tflops}, fp16: {peak_tflops}}}}}
memory:
  sram: {{capacity_mb: 10, bandwidth_gb_per_s: {sram_gbs}, holds: [weights, kv, activations]}}
  memoryx: {{capacity_gb: 10, bandwidth_gb_per_s: 1, holds: [weights], external: true}}
interconnect: {{topology: switch, links_per_chip: 1, link_bandwidth_gb_per_s: 10,
               latency_us: {link_us}}}
power: {{tdp_w: 100, idle_w: 0}}
wafer:
  cores: 100
  fabric_bandwidth_pb_per_s: {fabric_pbs}
  fabric_hop_latency_ns: {hop_ns}
  weight_stream_level: memoryx
  phase_overhead_ns: 100
sources: {{clock_ghz: 'assumed: test', compute: 'assumed: test', memory: 'assumed: test',
          interconnect: 'assumed: test', power: 'assumed: test', wafer: 'assumed: test'}}
"""

TINY_LPU = """\
# A made-up LPU with rates so high that only its fixed latencies show.
name: tiny-lpu
kind: lpu
clock_ghz: 1
compute:
  mxm: {type: matrix, peak_pflops: {bf16: 300, fp16: 300}}
  vxm: {type: vector, peak_pflops: {bf16: 300, fp16: 300}}
memory:
  sram: {capacity_mb: 100, bandwidth_pb_per_s: 100, holds: [weights, kv, activations]}
interconnect: {topology: dragonfly, links_per_chip: 16, link_bandwidth_tb_per_s: 10,
               latency_us: 0.5}
power: {tdp_w: 100, idle_w: 0}
lpu: {matrix_op_cycles: 3000, vector_op_cycles: 3000, reduction_op_cycles: 3000,
      mxm_install_bytes_per_cycle: 1.0e7, chips_per_node: 4}
sources: {clock_ghz: 'assumed: test', compute: 'assumed: test', memory: 'assumed: test',
          interconnect: 'assumed: test', power: 'assumed: test', lpu: 'assumed: test'}
"""


def tiny_wafer(*, peak_tflops: float = 1.0, sram_gbs: float = 100.0, fabric_pbs: float = 0.08,
               hop_ns: float = 10.0, link_us: float = 5.0, chips: int = 1) -> Hardware:
    hw = load_hardware_text(TINY_WAFER.format(peak_tflops=peak_tflops, sram_gbs=sram_gbs,
                                              fabric_pbs=fabric_pbs, hop_ns=hop_ns,
                                              link_us=link_us))
    return replace(hw, num_chips=chips) if chips > 1 else hw


def tiny_llama(layers: int, hidden: int = 64, inter: int = 128, heads: int = 4) -> dict:
    return {"model_type": "llama", "hidden_size": hidden, "intermediate_size": inter,
            "num_hidden_layers": layers, "num_attention_heads": heads,
            "num_key_value_heads": heads, "vocab_size": 256, "max_position_embeddings": 4096,
            "rms_norm_eps": 1e-5, "tie_word_embeddings": False, "hidden_act": "silu"}


# The spec's own constants, no software profile over them (hand computations).
SPEC_ONLY = {k: RuntimeProfile("spec-only", k, ()) for k in (HardwareKind.WAFER, HardwareKind.LPU)}


def step_s(model, hw: Hardware, *, tp: int = 1, pp: int = 1, context: int = 64,
           weights: str = "bf16", runtime: object = None) -> float:
    trace = build_trace(model, make_scenario("decode", 1, context=context, weights=weights,
                                             activations=weights, kv=weights, tp=tp, pp=pp))
    s = map_trace(trace, hw, runtime)
    assert s.infeasible is None, s.infeasible
    return s.latency_s


# ------------------------------------------------------------------------------------------
# hand computations
# ------------------------------------------------------------------------------------------


def test_wafer_gemv_on_its_region_by_hand():
    hw = tiny_wafer()
    op = ops.matmul(1, 200, 300, "bf16")  # weights 200*300*2 = 120,000 B
    c = cost_model(hw).op_cost(op, hw, CostContext(chip_bytes=1_200_000.0))
    # region = 100 cores * 120,000 / 1,200,000 = 10 cores, a sqrt(10) = 3.1623 side
    # local SRAM: 120,000 B at 10 cores * (100 GB/s / 100) = 10 GB/s -> 12 us
    #   (> whole-wafer floor 121,000 B / 100 GB/s = 1.21 us)
    # local compute: 120,000 FLOP at 10 cores * (1 TFLOPS / 100) = 100 GFLOPS -> 1.2 us
    # one mesh link: 0.08 PB/s / (8 * 100) = 1e11 B/s
    # broadcast x: 3.1623 hops * 10 ns + (200 * 2 B / 3.1623) / 1e11 + 100 ns
    # reduce fp32 partial sums: 3.1623 * 10 ns + (300 * 4 B / 3.1623) / 1e11 + 100 ns
    side = math.sqrt(10)
    broadcast = side * 10e-9 + 400 / side / 1e11 + 100e-9
    reduce = side * 10e-9 + 1200 / side / 1e11 + 100e-9
    assert c.time_s == pytest.approx(12e-6 + broadcast + reduce)
    assert dict(c.detail)["region_cores"] == pytest.approx(10.0)
    # the same op alone on the wafer (chip bytes unknown) spreads over all 100 cores
    alone = cost_model(hw).op_cost(op, hw, CostContext())
    # local SRAM 121,000 B / 100 GB/s = 1.21 us; side 10: 2 * (100 ns + 100 ns) + streaming
    expected = 1.21e-6 + 2 * (10 * 10e-9 + 100e-9) + (400 / 10 + 1200 / 10) / 1e11
    assert alone.time_s == pytest.approx(expected)


def test_wafer_decode_attention_by_hand():
    hw = tiny_wafer()
    op = ops.attention(1, 4, 4, 16, 1, 64, causal=False)
    kv = op.bytes.kv_read  # K and V of 64 tokens x 4 heads x 16 x 2 B = 16,384 B
    assert kv == 2 * 64 * 4 * 16 * 2
    c = cost_model(hw).op_cost(op, hw, CostContext(chip_bytes=163_840.0))
    # region = 100 * 16,384 / 163,840 = 10 cores (0.1 of the wafer's SRAM rate and peak)
    # flops = 2*4*64*32 + 5*4*64 = 17,664 at 100 GFLOPS = 176.6 ns;
    # bytes (kv 16,384 + q, o 256) at 10 GB/s = 1.664 us -> memory-bound
    # broadcast q: 4*16*2 B; reduce (o, max, sum) in fp32: 4*18*4 B, each over sqrt(10) hops
    side = math.sqrt(10)
    phases = 2 * (side * 10e-9 + 100e-9) + (128 + 288) / side / 1e11
    local = max(op.bytes.total / 100e9, kv / 10e9, op.flops / 100e9)
    assert op.flops == 17_664
    assert c.time_s == pytest.approx(local + phases)


def test_wafer_layer_is_fourteen_phases_when_rates_are_free():
    """With free rates and 0 ns hops, a Llama layer on a wafer costs its dependent phases
    only: 2 x (residual+RMSNorm) x 2 + (qkv, o, gate_up, down GEMVs) x 2 + attention x 2
    = 14 phases of 100 ns."""
    hw = tiny_wafer(peak_tflops=300_000, sram_gbs=1e8, fabric_pbs=1e4, hop_ns=0.0)
    rt = SPEC_ONLY[HardwareKind.WAFER]
    per_layer = step_s(tiny_llama(3), hw, runtime=rt) - step_s(tiny_llama(2), hw, runtime=rt)
    assert per_layer == pytest.approx(14 * 100e-9, rel=1e-4)


def test_lpu_layer_is_ops_times_op_latency_plus_node_hops():
    """Free rates, every op class 3,000 cycles at 1 GHz: a tp-2 Llama layer on an LPU costs
    its 9 fused compute ops x 3 us (residual+norm, qkv, rope+kv write, attention, o_proj,
    residual+norm, gate_up, act, down) plus 2 all-reduces inside one node x 2 hops x 0.5 us."""
    hw = replace(load_hardware_text(TINY_LPU), num_chips=2)
    rt = SPEC_ONLY[HardwareKind.LPU]
    per_layer = (step_s(tiny_llama(3), hw, tp=2, runtime=rt)
                 - step_s(tiny_llama(2), hw, tp=2, runtime=rt))
    assert per_layer == pytest.approx(9 * 3e-6 + 2 * 2 * 0.5e-6, rel=1e-6)
    # 8 chips do not fit one node of 4: each all-reduce takes 2 x dragonfly diameter 3 hops
    hw8 = replace(hw, num_chips=8)
    per_layer8 = (step_s(tiny_llama(3, heads=8), hw8, tp=8, runtime=rt)
                  - step_s(tiny_llama(2, heads=8), hw8, tp=8, runtime=rt))
    assert per_layer8 == pytest.approx(9 * 3e-6 + 2 * 6 * 0.5e-6, rel=1e-6)


def test_lpu_static_schedule_installs_every_held_expert():
    """A static schedule cannot follow the router: a decode token picks 2 of the 8 experts a
    chip holds, but the chip installs all 8 weight matrices into its MXM planes. Groq LPU:
    4 planes of 320 x 320 int8 MACs at 0.9 GHz (the derived 737 TOPS), each taking 5,120 B
    per cycle = 18.43 TB/s of install; 8 experts x 4,096 x 3,584 int8 weights = 117.4 MB
    -> 6.37 us."""
    hw = load_hardware("groq-lpu")
    ctx = CostContext(profile=SPEC_ONLY[HardwareKind.LPU])
    routed = ops.matmul(1, 4096, 3584, "int8", groups=2, kind=ops.OpKind.MOE_EXPERTS)
    held = ops.matmul(1, 4096, 3584, "int8", groups=2, experts=8, kind=ops.OpKind.MOE_EXPERTS)
    install_Bps = 4 * 0.9e9 * 5120
    c = cost_model(hw).op_cost(held, hw, ctx)
    assert dict(c.detail)["install_s"] == pytest.approx(8 * 4096 * 3584 / install_Bps)
    # the same op without the held-expert count prices the 2 routed matrices only
    r = cost_model(hw).op_cost(routed, hw, ctx)
    assert dict(r.detail)["install_s"] == pytest.approx(2 * 4096 * 3584 / install_Bps)
    assert c.time_s - r.time_s == pytest.approx(6 * 4096 * 3584 / install_Bps)
    assert c.energy_j > r.energy_j
    # the router is a weight GEMV (hidden x experts): a matrix op with its matrix latency
    prof = MODELS[HardwareKind.LPU].profiles["groq-2024"]
    router = ops.matmul(1, 4096, 8, "int8", kind=ops.OpKind.MOE_ROUTER)
    rc = cost_model(hw).op_cost(router, hw, CostContext(profile=prof))
    assert rc.overhead_s == pytest.approx(dict(prof.values)["matrix_op_cycles"] / 0.9e9)
    # the trace says how many experts the chip holds: Mixtral at tp 8, each chip 1/8 of all 8
    tr = build_trace("mixtral-8x7b", make_scenario("decode", 1, context=64, weights="int8",
                                                   activations="int8", kv="int8", tp=8))
    up = next(o for o in tr.ops if o.name == "experts_gate_up")
    assert (up.shape.groups, up.shape.experts) == (2, 8)


def test_synchronous_wafer_io_stalls_each_wafer_boundary_once():
    """The Aug 2024 stack's hand-off constant is paid once per wafer boundary (pp - 1), the
    Oct 2024 stack (asynchronous wafer I/O) pays none; a single wafer has no boundary."""
    model = tiny_llama(8)
    aug = MODELS[HardwareKind.WAFER].profiles["cerebras-2024-08"]
    t_io = dict(aug.values)["io_handoff_s"]
    assert t_io > 0
    for pp in (1, 2, 4):
        hw = tiny_wafer(chips=pp)
        sync = step_s(model, hw, pp=pp, runtime=aug)
        free = step_s(model, hw, pp=pp, runtime=aug.with_values(io_handoff_s=0.0))
        assert sync - free == pytest.approx((pp - 1) * t_io, rel=1e-9)
    oct24 = MODELS[HardwareKind.WAFER].profiles["cerebras-2024-10"]
    assert dict(oct24.values)["io_handoff_s"] == 0.0


# ------------------------------------------------------------------------------------------
# monotonicity and the physical floor
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["cs-3", "groq-lpu"])
def test_more_layers_is_slower_and_a_wider_model_is_not_faster(name: str):
    hw = load_hardware(name)
    hw = replace(hw, num_chips=8) if name == "groq-lpu" else hw
    tp = 8 if name == "groq-lpu" else 1
    by_layers = [step_s(tiny_llama(n, 512, 1024, 8), hw, tp=tp) for n in (2, 4, 8)]
    assert by_layers == sorted(by_layers) and len(set(by_layers)) == 3
    by_width = [step_s(tiny_llama(4, h, 2 * h, 8), hw, tp=tp) for h in (256, 512, 1024, 2048)]
    assert by_width == sorted(by_width)


def test_each_extra_wafer_boundary_adds_one_link_latency():
    model = tiny_llama(8)
    for pp in (2, 4):
        base = step_s(model, tiny_wafer(link_us=5.0, chips=pp), pp=pp)
        slow = step_s(model, tiny_wafer(link_us=25.0, chips=pp), pp=pp)
        assert slow - base == pytest.approx((pp - 1) * 20e-6, rel=1e-9)


@settings(max_examples=60, deadline=None)
@given(m=st.integers(1, 64), k=st.integers(16, 16384), n=st.integers(16, 65536),
       share=st.floats(1e-6, 1.0))
def test_wafer_region_model_never_beats_the_roofline(m: int, k: int, n: int, share: float,
                                                     cs3: Hardware):
    op = ops.matmul(m, k, n, "bf16")
    c = cost_model(cs3).op_cost(op, cs3, CostContext(chip_bytes=op.bytes.weight / share))
    assert c.time_s >= max(roofline_times(op, cs3)) * (1 - 1e-12)


@pytest.mark.parametrize("row_id", ["cerebras-l31-70b", "groq-l2-70b"])
def test_anchor_decode_is_latency_bound_not_sram_bandwidth_bound(row_id: str):
    """Reference §2.3: 70B on 4 wafers / 576 LPUs is far from the SRAM roofline; the step
    must still never be faster than it (weights read once at the aggregate SRAM rate)."""
    r = wafer_lpu.rows_by_id()[row_id]
    hw = P.hardware(r["hardware"], int(r["chips"]))
    t = step_s(r["model"], hw, tp=int(r["tp"]), pp=int(r["pp"]), context=int(r["context"]),
               weights=r["weights"], runtime=r["runtime"])
    trace = build_trace(r["model"], make_scenario("decode", 1, context=int(r["context"]),
                                                  weights=r["weights"], tp=int(r["tp"]),
                                                  pp=int(r["pp"])))
    chips = int(r["tp"]) * int(r["pp"])
    sram_bound = trace.bytes.weight * chips / (chips * hw.chip.main_memory.bandwidth_Bps)
    assert t > 20 * sram_bound


# ------------------------------------------------------------------------------------------
# published anchors
# ------------------------------------------------------------------------------------------

ROWS = [r for r in P.read_rows("per_user.csv")
        if load_hardware(r["hardware"]).kind.value in ("wafer", "lpu")]
HELD_OUT = [r for r in ROWS if r["use"] == "pass_fail" and r["split"] == "held-out"]
CALIBRATION = [r for r in ROWS if r["split"] == "calibration"]
# Held-out rows are cloud APIs at production load, quoted by vendors and third parties: the
# same Groq system was quoted at 240 and ~300 tok/s for Llama-2-70B, and Llama 3.1 70B (250)
# differs from Llama-2-70B (300) by 17 % though the two cost the same per token up to the
# vocabulary. The target is a median held-out error of at most 10 %; the recorded errors
# (wafer_lpu_fit.json) are Groq Llama-2-7B 0.6 %, Llama 3.1 70B 8.2 %, Llama-2-70B 9.7 %,
# Mixtral 12 % (router and every held expert on the matrix unit of a static schedule; Groq's
# MoE schedule is not public), Cerebras 405B 4.4 %. Cerebras 70B (Aug 2024) calibrates the
# synchronous wafer I/O hand-off of its stack.
HELD_OUT_MEDIAN = 0.10
HELD_OUT_WORST = 0.15


def test_held_out_anchors_median_error_at_most_ten_percent():
    errs = []
    for row in HELD_OUT:
        pred, note = P.predict_per_user(row)
        assert math.isfinite(pred), note
        errs.append(abs(pred / float(row["measured"]) - 1))
    assert len(errs) >= 5
    assert statistics.median(errs) <= HELD_OUT_MEDIAN
    assert max(errs) <= HELD_OUT_WORST


@pytest.mark.parametrize("row", CALIBRATION, ids=lambda r: r["id"])
def test_calibration_row_is_reproduced_by_the_rounded_profile_constant(row: dict[str, str]):
    pred, _ = P.predict_per_user(row)
    assert pred == pytest.approx(float(row["measured"]), rel=2e-3)


def test_excluded_rows_are_flagged_and_profiles_calibrate_on_their_rows():
    later = {r["id"] for r in ROWS if r["use"] == "excluded"}
    assert later == {"groq-l31-70b-specdec"}
    df = P.load()
    assert set(df[df["case"].isin(later)]["group"]) == {"per-user (excluded)"}
    assert set(df[df["case"].isin({r["id"] for r in CALIBRATION})]["group"]) == {
        "per-user wafer (calibration)", "per-user lpu (calibration)"}
    # every wafer/LPU row names a profile of its kind
    for r in ROWS:
        kind = load_hardware(r["hardware"]).kind
        assert r["runtime"] in MODELS[kind].runtimes()


def test_profile_constants_are_the_recorded_fit_and_the_fit_reproduces():
    doc = json.loads(wafer_lpu.FIT_FILE.read_text())
    assert doc["fitted_constants"] == 4 and doc["held_out_median_ape"] <= HELD_OUT_MEDIAN
    for f in doc["fits"]:
        scale = {"ns": 1e-9, "us": 1e-6}.get(f["unit"], 1.0)
        for name in (f["profile"], *f["shared_with"]):
            prof = MODELS[HardwareKind(f["kind"])].profiles[name]
            assert dict(prof.values)[f["field"]] == pytest.approx(f["value"] * scale)
            assert "wafer_lpu_fit.json" in prof.source
    again = wafer_lpu.fit_spatial()
    for old, new in zip(doc["fits"], again["fits"], strict=True):
        assert new["value"] == pytest.approx(old["value"], rel=1e-3)


@pytest.mark.parametrize("row", [r for r in ROWS if r["hardware"].startswith("groq")],
                         ids=lambda r: r["id"])
def test_groq_rows_use_the_derived_whole_node_mapping(row: dict[str, str]):
    """Groq does not publish tp/pp: the rows use the narrowest whole-GroqNode tensor
    parallelism and the fewest stages that fit (576 chips where the size is quoted)."""
    chips = 576 if row["hardware"] == "groq-576" else None
    tp, pp = P.lpu_mapping(row["model"], row["weights"], int(row["context"]), chips)
    assert (int(row["tp"]), int(row["pp"]), int(row["chips"])) == (tp, pp, tp * pp)
