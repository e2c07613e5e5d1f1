"""The Vidur kernel / NCCL data set: the committed extract, the split, the fitted constants in
the specs, and held-out error bounds per fitted mechanism (computed from the committed data)."""

from __future__ import annotations

import json
from functools import cache

import numpy as np
import pandas as pd
import pytest

from infersim.hwmodels import CostContext, cost_model, load_hardware
from infersim.validation.datasets import check_frame, discover, vidur
from infersim.workloads import ops as O

SPEC_KEYS = {  # fit.json field -> (YAML key in the gpu: block, factor to the YAML unit)
    "mma_efficiency": 1.0, "gemm_bw_efficiency": 1.0, "gemm_overlap_exponent": 1.0,
    "gemm_fill_s": 1.0, "clock_boost": 1.0, "boost_tau_s": 1.0,
    "norm_bw_efficiency": 1.0, "activation_bw_efficiency": 1.0, "rope_bw_efficiency": 1.0,
    "elementwise_bw_efficiency": 1.0, "vector_block_inflight_bytes": 1.0,
    "producer_l2_fraction": 1.0,
    "link_efficiency": 1.0, "allreduce_bw_efficiency": 1.0, "collective_latency_s": 1.0,
    "p2p_copy_efficiency": 1.0,  # only where the spec runs send/recv in P2P-read mode (A100)
    "ring_copy_Bps": 1.0,  # only where the spec bounds its rings by it (H100)
}


@cache
def _frame() -> pd.DataFrame:
    return vidur.frame()


def _ape(df: pd.DataFrame) -> np.ndarray:
    return np.abs(df["predicted"].to_numpy() / df["measured"].to_numpy() - 1.0)


def test_extract_is_small_and_complete() -> None:
    comp = vidur.compute_rows()
    net = vidur.network_rows()
    size = sum(p.stat().st_size for p in vidur.DATA.glob("*.csv"))
    assert size < 1_000_000
    assert set(comp.gpu) == {"h100", "a100"}
    assert set(comp.op) == set(vidur.GEMM_OPS + vidur.VECTOR_OPS)
    assert set(net.collective) == {"all_reduce", "send_recv"}
    assert (comp.time_us > 0).all() and (net.time_us > 0).all()
    # README cites the source and the commit
    assert "7d47513" in (vidur.DATA / "README.md").read_text()


def test_split_is_by_model_and_covers_every_class() -> None:
    comp = vidur.compute_rows()
    for gpu, models in vidur.FIT_MODELS.items():
        rows = comp[comp.gpu == gpu]
        fit_models = set(rows[rows.split == "fit"].model)
        held_models = set(rows[rows.split == "held-out"].model)
        assert fit_models == set(models)
        assert held_models and not (fit_models & held_models)
    net = vidur.network_rows()
    for _, g in net.groupby(["gpu", "collective", "group"]):
        assert set(g.split) == {"fit", "held-out"}


def test_dataset_is_registered_with_fit_and_held_out_groups() -> None:
    assert vidur.NAME in {d.name for d in discover()}
    df = check_frame(vidur.load(), vidur.NAME)
    groups = set(df["group"])
    for gpu in ("H100", "A100"):
        for cls in ("gemm", "vector", "collective ≥1 MiB", "collective <1 MiB"):
            assert f"{gpu} {cls} (fit)" in groups
            assert f"{gpu} {cls} (held-out)" in groups


def test_spec_constants_are_the_fitted_ones_and_cite_fit_json() -> None:
    res = json.loads(vidur.FIT_FILE.read_text())["gpus"]
    for gpu, spec in vidur.SPECS.items():
        hw = load_hardware(spec)
        p = hw.chip.params
        vals: dict[str, float] = {}
        for stage in vidur.STAGES:
            vals.update(res[gpu][stage]["values"])
        assert ("p2p_copy_efficiency" in vals) == (p.p2p_read_fifo_bytes > 0), spec
        assert ("ring_copy_Bps" in vals) == (p.ring_copy_Bps > 0), spec
        for k in SPEC_KEYS:
            if k in vals:
                assert getattr(p, k) == pytest.approx(vals[k], rel=6e-3, abs=1e-7), (spec, k)
        assert hw.chip.interconnect is not None
        assert hw.chip.interconnect.latency_s == pytest.approx(vals["hop_latency_s"],
                                                               rel=6e-3)
        for key in ("gpu.mma_efficiency", "gpu.norm_bw_efficiency",
                    "gpu.allreduce_bw_efficiency", "interconnect.latency_us"):
            assert "validation/data/vidur/fit.json" in hw.chip.sources[key], (spec, key)


def test_fitted_constants_are_physically_plausible() -> None:
    res = json.loads(vidur.FIT_FILE.read_text())["gpus"]
    for gpu, spec in vidur.SPECS.items():
        for stage in vidur.STAGES:
            vals = {**res[gpu][stage]["values"], **res[gpu]["harness"]}
            for name, lo, hi in vidur.stage_params(stage, load_hardware(spec)):
                assert lo - 1e-9 <= vals[name] <= hi + 1e-9, (gpu, name)
    # A100 reaches well below its datasheet: ~1.55-1.9 TB/s streaming weights, < 290 TFLOP/s
    a100 = load_hardware("a100-sxm-80gb").chip.params
    assert 0.75 < a100.gemm_bw_efficiency <= 0.95
    assert a100.mma_efficiency < 0.93


@pytest.mark.parametrize("gpu", ["H100", "A100"])
def test_gemm_held_out_error_bound(gpu: str) -> None:
    """Measured GEMMs of models not fitted: median within 6 %, p90 within 17 %, no lean."""
    df = _frame()
    held = df[df["group"] == f"{gpu} gemm (held-out)"]
    ape = _ape(held)
    assert len(held) > 300
    assert np.median(ape) < 0.06
    assert np.quantile(ape, 0.9) < 0.17
    signed = held["predicted"] / held["measured"] - 1.0
    assert abs(float(np.median(signed))) < 0.03


@pytest.mark.parametrize("gpu", ["h100", "a100"])
def test_gemm_fill_closes_the_short_k_gap(gpu: str) -> None:
    """Held-out GEMMs with a short main loop (K <= 2048): without the kernel's pipeline fill
    + epilogue drain they are predicted >10 % fast (measured); with it the lean is gone."""
    hw = load_hardware(vidur.SPECS[gpu])
    comp = vidur.compute_rows()
    rows = comp[(comp.gpu == gpu) & (comp.cls == "gemm") & (comp.split == "held-out")]
    k = np.array([vidur.compute_op(r).shape.k for r in rows.itertuples(index=False)])
    rows = rows[k <= 2048]
    assert len(rows) > 30
    meas = 1e-6 * rows["time_us"].to_numpy()

    def lean(fill: float) -> float:
        pred = vidur.predictions(rows, vidur.with_gpu(hw, gemm_fill_s=fill),
                                 vidur.harness(gpu), False)
        return float(np.median(pred / meas - 1.0))

    p = hw.chip.params
    assert 1e-6 < p.gemm_fill_s < 4e-6  # a few microseconds: fill + drain, not a table
    assert lean(0.0) < -0.10
    assert abs(lean(p.gemm_fill_s)) < 0.06


@pytest.mark.parametrize("gpu", ["H100", "A100"])
def test_vector_held_out_error_bound(gpu: str) -> None:
    """Per-class vector efficiencies + the per-token block in-flight cap on held-out
    models: median within 11 %; each class without a lean beyond 15 %."""
    df = _frame()
    held = df[(df["group"] == f"{gpu} vector (held-out)")]
    assert np.median(_ape(held)) < 0.11
    for op in vidur.VECTOR_OPS:
        part = held[held["op"] == op]
        signed = part["predicted"] / part["measured"] - 1.0
        assert abs(float(np.median(signed))) < 0.15, op


def test_phi2_add_times_two_add_kernels() -> None:
    """Vidur's Phi-2 block adds attention output, MLP output and residual in one statement
    (`attn + mlp + residual`, no post-attention norm): its `add` timer covers two add
    kernels. Priced as two, the held-out A100 rows are within 5 % at the median; priced as
    one residual add they read ~50 % fast (measured 78 µs at 4,096 tokens where one
    4,096 x 2,560 fp16 add of the same GPU's profiles takes ~40 µs)."""
    comp = vidur.compute_rows()
    rows = comp[(comp.gpu == "a100") & (comp.model == "phi-2") & (comp.op == "add")]
    assert len(rows) >= 20
    assert all(len(vidur.compute_kernels(r)) == 2 for r in rows.itertuples(index=False))
    llama = comp[(comp.gpu == "a100") & (comp.model == "Llama-2-7b-hf") & (comp.op == "add")]
    assert all(len(vidur.compute_kernels(r)) == 1 for r in llama.itertuples(index=False))
    hw = load_hardware(vidur.SPECS["a100"])
    meas = 1e-6 * rows["time_us"].to_numpy()
    two = vidur.predictions(rows, hw, vidur.harness("a100"), False) / meas - 1.0
    model = cost_model(hw)
    one = np.array([vidur.trace_median(model.op_cost(vidur.compute_op(r), hw, CostContext())
                                       .time_s - hw.chip.params.kernel_launch_s
                                       + vidur.harness("a100")["trace_offset_s"])
                    for r in rows.itertuples(index=False)]) / meas - 1.0
    assert float(np.median(np.abs(two))) < 0.05
    assert float(np.median(one)) < -0.35


@pytest.mark.parametrize("gpu", ["H100", "A100"])
def test_collective_bandwidth_held_out_error_bound(gpu: str) -> None:
    """Link and all-reduce efficiencies on held-out message sizes ≥ 1 MiB."""
    df = _frame()
    held = df[df["group"] == f"{gpu} collective ≥1 MiB (held-out)"]
    assert np.median(_ape(held)) < 0.10


def test_h100_small_all_reduce_median_is_not_twice_slow() -> None:
    """Below 1 MiB the eager calls are bimodal; the median held-out row is within 12 %
    (call latency + NVLink steps + the late-peer wait, no per-size table)."""
    df = _frame()
    held = df[df["group"] == "H100 collective <1 MiB (held-out)"]
    assert len(held) >= 30
    assert np.median(_ape(held)) < 0.12


def test_a100_sends_run_ahead_by_the_p2p_read_fifo() -> None:
    """A100 send/recv, held-out sizes 1-28 MB: the timed sender moves 1.2-7.3 MB at ~470 GB/s,
    above the 300 GB/s of its NVLinks, which only a sender that does not wait for the link
    can do. With NCCL's P2P-read FIFO (4 MiB) the held-out rows' median error is below 6 % and
    they do not lean slow; priced as P2P write (sender = transfer), the same spec with the
    same fitted constants predicts them >10 % slow at the median."""
    hw = load_hardware(vidur.SPECS["a100"])
    net = vidur.network_rows()
    rows = net[(net.gpu == "a100") & (net.collective == "send_recv") & (net.split == "held-out")
               & (net.bytes >= 1 << 20) & (net.bytes <= 28e6)]
    assert len(rows) >= 7
    meas = 1e-6 * rows["time_us"].to_numpy()
    h = vidur.harness("a100")
    read = vidur.predictions(rows, hw, h, True) / meas - 1.0
    write = vidur.predictions(rows, vidur.with_gpu(hw, p2p_read_fifo_bytes=0.0), h,
                              True) / meas - 1.0
    assert float(np.median(np.abs(read))) < 0.06
    assert abs(float(np.median(read))) < 0.05
    assert float(np.median(write)) > 0.10


def test_pairs_wait_for_the_late_peer_too() -> None:
    """A100 all-reduce between 2 GPUs, 1-8 MiB: the measured time exceeds the model's
    latency + bandwidth time (no harness wait) by more than 20 µs at the median, and the
    harness's expected wait at those sizes is that gap (within 50 %), so the wait applies
    to pairs as well."""
    hw = load_hardware(vidur.SPECS["a100"])
    net = vidur.network_rows()
    rows = net[(net.gpu == "a100") & (net.collective == "all_reduce") & (net.group == 2)
               & (net.bytes >= 1 << 20) & (net.bytes <= 8 << 20)]
    assert len(rows) >= 8
    h = vidur.harness("a100")
    bare = vidur.predictions(rows, hw, {**h, "ahead_share": 0.0}, True)
    waited = vidur.predictions(rows, hw, h, True)
    gap = 1e-6 * rows["time_us"].to_numpy() - bare
    assert float(np.median(gap)) > 20e-6
    assert float(np.median(waited - bare)) == pytest.approx(float(np.median(gap)), rel=0.5)


def test_harness_wait_by_hand() -> None:
    """`harness_allreduce_s`: share π of runs ahead, issue period P, exponent p:
    π (P^p + t^p)^(1/p) + (1 − π) t."""
    f = vidur.harness_allreduce_s
    h = {"issue_period_s": 40e-6, "ahead_share": 1.0, "wait_exponent": 1.0}
    assert f(10e-6, h) == pytest.approx(50e-6)  # p = 1: the wait adds whole
    assert f(10e-6, {**h, "ahead_share": 0.5}) == pytest.approx(0.5 * 50e-6 + 0.5 * 10e-6)
    assert f(30e-6, {**h, "wait_exponent": 2.0}) == pytest.approx(50e-6)  # 3-4-5
    assert f(10e-6, {**h, "wait_exponent": 16.0}) == pytest.approx(40e-6, rel=1e-6)
    assert f(400e-6, {**h, "wait_exponent": 16.0}) == pytest.approx(400e-6, rel=1e-6)
    assert f(10e-6, {**h, "ahead_share": 0.0}) == 10e-6  # behind: its peers wait for it
    assert f(10e-6, {}) == 10e-6  # no harness constants: the kernel alone


def test_h100_wait_vanishes_once_the_kernel_outlasts_the_issue_period() -> None:
    """H100 held-out all-reduces: at 1-8 MB the timed kernel lasts the loop's issue period
    more than its transfer (the wait is > 15 % of the measured time at the median), at
    16-64 MB the GPUs are the slower side and the fitted harness adds < 2 % to the bare
    kernel; within 8 % of the measurements at the median in both bands. Fitted: a blend
    exponent above 1 (the wait does not simply add, as it did before 2026-12-06)."""
    hw = load_hardware(vidur.SPECS["h100"])
    h = vidur.harness("h100")
    assert h["wait_exponent"] > 1.5
    net = vidur.network_rows()
    ar = net[(net.gpu == "h100") & (net.collective == "all_reduce")
             & (net.split == "held-out")]
    for lo, hi, wait_lo, wait_hi in ((1 << 20, 8e6, 0.15, 1.0), (16e6, 70e6, 0.0, 0.02)):
        rows = ar[(ar.bytes >= lo) & (ar.bytes < hi)]
        assert len(rows) >= 8
        meas = 1e-6 * rows["time_us"].to_numpy()
        waited = vidur.predictions(rows, hw, h, True)
        bare = vidur.predictions(rows, hw, {**h, "ahead_share": 0.0}, True)
        assert wait_lo < float(np.median((waited - bare) / meas)) < wait_hi, lo
        assert float(np.median(np.abs(waited / meas - 1.0))) < 0.08, lo


def test_h100_ring_all_reduce_is_bound_by_its_kernels_loads_and_stores() -> None:
    """H100's 4-60 MB all-reduce lines grow with the group as the ring kernel's (6 − 4/g)
    loads and stores per message byte (`collectives.ring_copy_bytes`), not as its wire
    bytes 2(g−1)/g: measured slopes 1 : 1.30 : 1.43 at g = 2 : 4 : 8. With the fitted copy
    rate the predicted slopes keep that shape within 10 % per group; with the links alone
    (`ring_copy_gb_per_s` 0, the same efficiencies) g = 2 is > 15 % too steep against
    g = 8 (the wire's 1 : 1.75)."""
    net = vidur.network_rows()
    hw = load_hardware(vidur.SPECS["h100"])
    assert hw.chip.params.ring_copy_Bps > 0
    h = vidur.harness("h100")
    rows = net[(net.gpu == "h100") & (net.collective == "all_reduce")]
    meas = vidur.allreduce_lines(rows).set_index("group")["measured_us_per_mb"]

    def slopes(on):
        pred = vidur.predictions(rows, on, h, True)
        return vidur.allreduce_lines(rows, pred).set_index("group")["predicted_us_per_mb"]

    copy = slopes(hw)
    links = slopes(vidur.with_gpu(hw, ring_copy_Bps=0.0))
    for g in (2, 4, 8):
        assert abs(copy[g] / meas[g] - 1.0) < 0.10, g
    shape = (links[8] / links[2]) / (meas[8] / meas[2])
    assert shape > 1.15
    assert abs((copy[8] / copy[2]) / (meas[8] / meas[2]) - 1.0) < 0.08


def test_ring_copy_bound_by_hand() -> None:
    """An 8-GPU ring all-reduce of 64 MB on H100: bandwidth time max(wire / (link x
    allreduce efficiency), (6 − 4/8) x 64 MB / copy rate); a faster copy rate never makes
    it slower, and 0 leaves the links alone; a send/recv is not bounded by it."""
    from infersim.hwmodels import collectives
    from infersim.workloads.ops import Collective, CollectiveShape

    hw = load_hardware("h100-sxm")
    p, fabric = hw.chip.params, hw.chip.interconnect
    m = 64e6
    shape = CollectiveShape(Collective.ALL_REDUCE, m, 8)
    assert collectives.ring_copy_bytes(shape) == pytest.approx(5.5 * m)
    wire_s = 1.75 * m / (fabric.chip_bandwidth_Bps * p.allreduce_bw_efficiency)
    times = {}
    for rate in (0.0, 0.5e12, p.ring_copy_Bps, 4e12):
        ring = [x for x in collectives.plans(shape, fabric, p.allreduce_bw_efficiency,
                                             ring_copy_Bps=rate)
                if x.algorithm is collectives.Algorithm.RING]
        times[rate] = ring[0].bandwidth_s
    assert times[0.0] == pytest.approx(wire_s)
    assert times[0.5e12] == pytest.approx(max(wire_s, 5.5 * m / 0.5e12))
    assert times[0.5e12] >= times[p.ring_copy_Bps] >= times[4e12] == pytest.approx(wire_s)
    send = CollectiveShape(Collective.SEND_RECV, m, 2)
    assert collectives.ring_copy_bytes(send) == 0.0


@pytest.mark.parametrize("gpu", ["H100", "A100"])
def test_collectives_of_every_size_meet_the_issue_target(gpu: str) -> None:
    """Issue 12's target for measured collectives, every size together: median ≤ 10 % on
    the fit rows and on the held-out sizes."""
    df = _frame()
    for split in ("fit", "held-out"):
        rows = df[df["group"].isin([f"{gpu} collective <1 MiB ({split})",
                                     f"{gpu} collective ≥1 MiB ({split})"])]
        assert len(rows) >= 70
        assert float(np.median(_ape(rows))) <= 0.10, split


def test_fp8_gemm_peak_efficiency_differs_from_bf16() -> None:
    hw = load_hardware("h100-sxm")
    p = hw.chip.params
    assert p.mma_efficiency_fp8 != pytest.approx(p.mma_efficiency)
    ctx = CostContext()
    m = n = k = 8192
    t16 = cost_model(hw).op_cost(O.matmul(m, k, n, "bf16"), hw, ctx).time_s
    t8 = cost_model(hw).op_cost(O.matmul(m, k, n, "fp8"), hw, ctx).time_s
    # a large compute-bound GEMM: achieved FLOP/s = peak x the dtype's efficiency (within the
    # tile / wave overheads common to both)
    achieved16 = 2.0 * m * n * k / t16
    achieved8 = 2.0 * m * n * k / t8
    ratio = achieved8 / achieved16
    expected = (1978.9 * p.mma_efficiency_fp8) / (989.4 * p.mma_efficiency)
    assert ratio == pytest.approx(expected, rel=0.1)
    assert 1100e12 < achieved8 < 1400e12  # ~1,280 TFLOP/s measured on H100 SXM


def test_per_token_kernel_is_capped_by_block_in_flight_bytes() -> None:
    """One block per token: at T=1 a SiLU-and-mul over 24,576 outputs runs on one SM and
    takes ≥ its bytes over one block's Little's-law bandwidth; the grid-stride version of
    the same op spreads over many SMs and is faster."""
    hw = load_hardware("h100-sxm")
    p = hw.chip.params
    ctx = CostContext()
    f = 24576
    per_tok = O.vector(O.OpKind.ELEMENTWISE, f, "fp16", inputs=2.0, flops_per_elem=5.0,
                       block_rows=1)
    grid = O.vector(O.OpKind.ELEMENTWISE, f, "fp16", inputs=2.0, flops_per_elem=5.0)
    t_tok = cost_model(hw).op_cost(per_tok, hw, ctx).time_s
    t_grid = cost_model(hw).op_cost(grid, hw, ctx).time_s
    lat = hw.chip.main_memory.latency_s
    bytes_ = 3 * f * 2.0
    assert t_tok >= bytes_ * lat / p.vector_block_inflight_bytes
    assert t_grid < t_tok


def test_trace_median_hand_values() -> None:
    """Median of 20 whole-µs samples of a kernel lasting d µs (each floor(d) or floor(d)+1,
    the latter with probability frac(d)): whole d is exact; frac 0.5 gives floor + 0.5 by
    symmetry (P(S≥10) + P(S≥11) = 1 for S ~ Binomial(20, 0.5)); frac 0.1 stays at the floor
    (P(S ≥ 10) ≈ 7e-6) and frac 0.9 reaches the ceiling."""
    assert vidur.trace_median(3e-6) == pytest.approx(3e-6, abs=1e-15)
    assert vidur.trace_median(2.5e-6) == pytest.approx(2.5e-6, abs=1e-15)
    assert vidur.trace_median(7.1e-6) == pytest.approx(7e-6, abs=1e-11)
    assert vidur.trace_median(7.9e-6) == pytest.approx(8e-6, abs=1e-11)
    # continuous and increasing across the steps
    ts = np.linspace(0.2e-6, 12e-6, 600)
    vals = np.array([vidur.trace_median(t) for t in ts])
    assert np.all(np.diff(vals) >= 0.0)
    assert float(np.max(np.abs(np.diff(vals)))) < 0.2e-6


def test_profiles_hold_whole_microsecond_medians() -> None:
    """The premise of `trace_median`: every recorded module time is a median of whole µs,
    i.e. a multiple of 0.5 µs."""
    t = vidur.compute_rows()["time_us"].to_numpy()
    assert np.all(np.abs(2.0 * t - np.round(2.0 * t)) < 1e-6)


def test_harness_down_projection_input_is_zero_in_fp16() -> None:
    """The premise of `ZERO_OPERAND_OPS`: with every parameter U(-1e-3, 1e-3) (embedding and
    RMSNorm gain included), SiLU(gate)·up of a fused gate/up GEMM rounds to zero in fp16."""
    rng = np.random.default_rng(0)
    e, f, t = 4096, 512, 8

    def u(*shape: int) -> np.ndarray:
        return rng.uniform(-1e-3, 1e-3, shape).astype(np.float32)

    x = u(t, e)
    x = x / np.sqrt(np.mean(x * x, axis=1, keepdims=True) + 1e-6) * u(e)
    x16 = x.astype(np.float16)
    w = u(e, 2 * f).astype(np.float16)
    gu = (x16.astype(np.float32) @ w.astype(np.float32)).astype(np.float16).astype(np.float32)
    g, up = gu[:, :f], gu[:, f:]
    act = (g / (1.0 + np.exp(-g)) * up).astype(np.float16)
    assert np.all(act == 0.0)
    assert np.any(gu != 0.0)  # the GEMM itself is not zero: only the product underflows


def test_zero_operand_gain_appears_only_on_the_power_capped_gpu() -> None:
    """The fitted MMA gain of all-zero operands is a clock gain under a power cap: H100's
    modelled GEMM demand exceeds its 700 W TDP (hwmodels/summary.py), A100's stays below
    400 W, and only H100's fit finds a gain (the bound `ZERO_GAIN_MAX` is H100's ratio of
    dynamic demand to dynamic budget)."""
    from infersim.hwmodels.summary import load_power_w

    for gpu, capped in (("h100", True), ("a100", False)):
        _, how = load_power_w(load_hardware(vidur.SPECS[gpu]).chip)
        assert ("power-limited" in how) is capped
        gain = vidur.harness(gpu)["zero_operand_mma_gain"]
        assert (gain > 1.05) is capped, (gpu, gain)
        assert 1.0 <= gain <= vidur.ZERO_GAIN_MAX


def test_shape_table_buckets_and_medians_by_hand() -> None:
    # three H100 fit GEMM rows: two in M (64,192] × K (0,2048] with errors +10 % and -30 %,
    # one at M = 4096, K = 8192 (bucket (1024,4096] × (4096,8192]) at -5 %; a vector row and
    # an A100 row that must not leak into the H100 buckets
    df = pd.DataFrame({
        "gpu": ["h100", "h100", "h100", "h100", "a100"],
        "split": ["fit"] * 5,
        "cls": ["gemm", "gemm", "gemm", "vector", "gemm"],
        "m": [96, 192, 4096, 0, 96], "k": [1024, 2048, 8192, 0, 1024],
        "predicted": [1.1, 0.7, 0.95, 3.0, 2.0], "measured": [1.0, 1.0, 1.0, 1.0, 1.0]})
    t = vidur.shape_table(df)
    h = t[t.gpu == "h100"].set_index(["M", "K"])
    assert list(h.index) == [("(64,192]", "(0,2048]"), ("(1024,4096]", "(4096,8192]")]
    assert h.loc[("(64,192]", "(0,2048]"), "n"] == 2
    # median of +10 and -30 is -10; median of |+10|, |-30| is 20
    assert h.loc[("(64,192]", "(0,2048]"), "median_signed_pct"] == pytest.approx(-10.0)
    assert h.loc[("(64,192]", "(0,2048]"), "median_abs_pct"] == pytest.approx(20.0)
    assert h.loc[("(1024,4096]", "(4096,8192]"), "median_signed_pct"] == pytest.approx(-5.0)
    a = t[t.gpu == "a100"]
    assert len(a) == 1 and a.iloc[0]["median_signed_pct"] == pytest.approx(100.0)


def test_frame_carries_gemm_dims() -> None:
    d = _frame()
    g = d[(d.cls == "gemm") & (d.case.str.contains("Llama-2-7b-hf tp1 T=384 mlp_up_proj"))]
    # Llama-2-7B gated MLP: K = 4096 (hidden), N = 2 × 11008 (gate + up), M = tokens
    assert g[["m", "k", "n"]].to_numpy().tolist() == [[384, 4096, 22016]] * len(g)
    assert (d.loc[d.cls != "gemm", ["m", "k", "n"]] == 0).all().all()


def test_monotone_floor_pools_the_inverted_pair_by_hand() -> None:
    # one sequence measured 1, 3, 2, 4 µs at M = 1, 2, 4, 8: M = 4 runs faster than M = 2.
    # The best non-decreasing log fit pools the pair at their geometric mean sqrt(6), so the
    # floor is sqrt(6)/3 - 1 and sqrt(6)/2 - 1 there and 0 elsewhere; a second, monotone
    # sequence (other op) has a zero floor. Rows are given out of order on purpose.
    rows = pd.DataFrame({
        "gpu": ["h100"] * 6, "model": ["x"] * 6, "tp": [1] * 6,
        "op": ["attn_pre_proj"] * 4 + ["mlp_up_proj"] * 2,
        "tokens": [4, 1, 8, 2, 1, 2], "time_us": [2.0, 1.0, 4.0, 3.0, 5.0, 6.0]})
    f = vidur.monotone_floor(rows)
    r6 = np.sqrt(6.0)
    assert f == pytest.approx([r6 / 2 - 1, 0.0, 0.0, r6 / 3 - 1, 0.0, 0.0])


def test_harness_kernels_are_costed_from_idle() -> None:
    """The harness times each kernel alone: its GEMM rows get the spec's idle-start clock
    boost (a long compute-bound GEMM only by the decayed share), its vector rows do not."""
    d = vidur.compute_rows()
    d = d[(d.gpu == "h100") & (d.model == "Llama-2-7b-hf") & (d.tp == 1)
          & (d.tokens == 4096)]
    hw, h = load_hardware("h100-sxm"), vidur.harness("h100")
    assert hw.chip.params.clock_boost > 1.0
    flat = vidur.with_gpu(hw, clock_boost=1.0)
    base, boosted = vidur.predictions(d, flat, h, False), vidur.predictions(d, hw, h, False)
    gemm = d.op.isin(vidur.GEMM_OPS).to_numpy()
    assert (boosted[gemm] < base[gemm]).all()
    assert np.array_equal(boosted[~gemm], base[~gemm])


def test_class_lines_pool_size_classes_by_hand() -> None:
    """The report's per-class lines: collectives of both size groups pooled, medians and
    p90s by hand (numpy's linear-interpolation percentile), other data sets ignored."""
    df = pd.DataFrame({
        "dataset": ["vidur"] * 5 + ["other"],
        "group": ["H100 collective <1 MiB (fit)", "H100 collective ≥1 MiB (fit)",
                  "H100 collective ≥1 MiB (fit)", "H100 gemm (held-out)",
                  "H100 gemm (held-out)", "H100 gemm (fit)"],
        "predicted": [1.1, 0.8, 1.3, 2.0, 1.0, 9.0],
        "measured": [1.0, 1.0, 1.0, 1.0, 1.0, 1.0]})
    lines = vidur.class_lines(df)
    # collective fit |errors| 0.1, 0.2, 0.3: median 20 %, p90 = 0.2 + 0.8 * 0.1 = 28 %
    assert lines == ["H100 collective: fit n=3: median 20.0%, p90 28.0%",
                     "H100 gemm: held-out n=2: median 50.0%, p90 90.0%"]


def test_repeatability_pairs_one_gemm_measured_under_different_models_by_hand() -> None:
    """Pairs are rows of different models with the same (op, M, K, N) on one GPU: Qwen-72B
    and Llama-2-70B share the 8192 x 8192 attn_post_proj at TP 1; the same model twice, another
    op of that shape or another GPU make no pair."""
    base = {"n_head": 64, "n_embd": 8192, "n_ffn": 24576, "gated": 1, "tp": 1, "tokens": 64}
    rows = [
        {**base, "gpu": "h100", "model": "Qwen-72B", "n_kv_head": 64, "op": "attn_post_proj",
         "time_us": 100.0},
        {**base, "gpu": "h100", "model": "Llama-2-70b-hf", "n_kv_head": 8,
         "op": "attn_post_proj", "time_us": 110.0},
        {**base, "gpu": "h100", "model": "Meta-Llama-3-70B", "n_kv_head": 8,
         "op": "attn_post_proj", "time_us": 104.0},
        {**base, "gpu": "h100", "model": "Qwen-72B", "n_kv_head": 64, "op": "attn_post_proj",
         "time_us": 150.0, "tokens": 128},  # another M: no partner
        {**base, "gpu": "h100", "model": "Llama-2-70b-hf", "n_kv_head": 8,
         "op": "mlp_down_proj", "n_ffn": 8192, "time_us": 300.0},  # same (M, K, N), other op
        {**base, "gpu": "a100", "model": "Llama-2-70b-hf", "n_kv_head": 8,
         "op": "attn_post_proj", "time_us": 200.0},  # alone on its GPU
    ]
    got = vidur.repeatability(pd.DataFrame(rows))
    # pairs 100/110, 100/104, 104/110 -> 10 %, 4 %, 5.77 %; median 5.77 %,
    # p90 = 5.77 + 0.8 x (10 - 5.77) %
    gaps = sorted([0.10, 0.04, 110 / 104 - 1])
    assert list(got) == ["h100"]
    n, med, p90 = got["h100"]
    assert n == 3
    assert med == pytest.approx(gaps[1])
    assert p90 == pytest.approx(gaps[1] + 0.8 * (gaps[2] - gaps[1]))
    assert vidur.repeat_lines(pd.DataFrame(rows)) == [
        f"H100 gemm repeatability: 3 pairs of one (op, M, K, N) measured under different "
        f"models are {100 * gaps[1]:.1f}% apart at the median, "
        f"{100 * (gaps[1] + 0.8 * (gaps[2] - gaps[1])):.1f}% at p90 (the noise floor of the "
        "gemm errors above)"]


def test_inversions_flag_gemms_timed_slower_than_a_larger_gemm_by_hand() -> None:
    """A row inverts when its measured time exceeds 1.1 x the fastest time of the same op,
    K and N at a larger M on its GPU: 384 tokens in 150 us against 512 in 120 us (1.25 x)
    does; 256 in 100 us (faster than every larger one) does not, nor 640 in 125 us
    (1.04 x the 768-token 120 us, within the margin), nor the largest; another op or
    another GPU of the same K x N is not compared."""
    base = {"cls": "gemm", "k": 4096.0, "n": 8192.0}
    rows = [
        {**base, "gpu": "h100", "split": "fit", "op": "mlp_up_proj", "m": 256.0,
         "measured": 100.0, "predicted": 100.0},
        {**base, "gpu": "h100", "split": "fit", "op": "mlp_up_proj", "m": 384.0,
         "measured": 150.0, "predicted": 105.0},
        {**base, "gpu": "h100", "split": "held-out", "op": "mlp_up_proj", "m": 512.0,
         "measured": 120.0, "predicted": 132.0},
        {**base, "gpu": "h100", "split": "fit", "op": "mlp_up_proj", "m": 640.0,
         "measured": 125.0, "predicted": 125.0},
        {**base, "gpu": "h100", "split": "fit", "op": "mlp_up_proj", "m": 768.0,
         "measured": 120.0, "predicted": 120.0},
        {**base, "gpu": "h100", "split": "fit", "op": "attn_pre_proj", "m": 128.0,
         "measured": 500.0, "predicted": 500.0},  # other op: no larger partner
        {**base, "gpu": "a100", "split": "fit", "op": "mlp_up_proj", "m": 128.0,
         "measured": 900.0, "predicted": 900.0},  # other GPU: no larger partner
        {**base, "gpu": "h100", "split": "fit", "op": "rmsnorm", "cls": "vector", "m": 0.0,
         "measured": 1.0, "predicted": 9.0},  # not a GEMM
    ]
    got = vidur.inversions(pd.DataFrame(rows))
    # h100 fit: 256, 384, 640, 768, attn 128 -> errors 0, 30 %, 0, 0, 0; only 384 inverts
    fit_err = sorted([0.0, 0.3, 0.0, 0.0, 0.0])
    assert got[("h100", "fit")] == (5, 1, pytest.approx(np.percentile(fit_err, 90)), 0.0)
    assert got[("h100", "held-out")] == (1, 0, pytest.approx(0.1), pytest.approx(0.1))
    assert got[("a100", "fit")] == (1, 0, 0.0, 0.0)
    line = vidur.inversion_lines(pd.DataFrame(rows))[1]
    assert line.startswith("H100 gemm rows timed more than 10% slower")
    assert "fit 1 of 5 (p90 |error| 18.0% with them, 0.0% without)" in line


def test_extract_more_without_profiles_is_one_clear_error(tmp_path) -> None:
    """--extract-more on a folder without Vidur profiles: an InputError naming it, exit 2,
    and the committed CSVs are not touched."""
    from infersim.foundation.errors import InputError

    before = (vidur.DATA / "compute.csv").read_bytes()
    with pytest.raises(InputError, match=str(tmp_path)):
        vidur.profiles([tmp_path])
    assert vidur.main(["--extract", "--extract-more", str(tmp_path)]) == 2
    assert (vidur.DATA / "compute.csv").read_bytes() == before


def test_allreduce_lines_recover_exact_lines_by_hand() -> None:
    """Rows on time = a + b x MB give back (a, b), measured and predicted; rows outside the
    4-60 MB band and send/recv rows are left out."""
    mb = np.array([1.0, 5.0, 10.0, 20.0, 40.0, 80.0])
    rows = []
    for g, (a, b) in ((4, (20.0, 4.0)), (8, (50.0, 4.5))):
        for x in mb:
            rows.append({"gpu": "h100", "collective": "all_reduce", "group": g,
                         "bytes": x * 1e6, "time_us": a + b * x})
    rows.append({"gpu": "h100", "collective": "send_recv", "group": 2, "bytes": 1e7,
                 "time_us": 99.0})
    net = pd.DataFrame(rows)
    pred = 1e-6 * (10.0 + 2.0 * net["bytes"].to_numpy() / 1e6)  # predicted: 10 us + 2 us/MB
    got = vidur.allreduce_lines(net, pred)
    assert list(got["group"]) == [4, 8] and list(got["rows"]) == [4, 4]  # 5, 10, 20, 40 MB
    assert got["measured_us"].tolist() == pytest.approx([20.0, 50.0])
    assert got["measured_us_per_mb"].tolist() == pytest.approx([4.0, 4.5])
    assert got["predicted_us"].tolist() == pytest.approx([10.0, 10.0])
    assert got["predicted_us_per_mb"].tolist() == pytest.approx([2.0, 2.0])


def test_vidur_all_reduces_ran_as_rings_not_nvls(monkeypatch: pytest.MonkeyPatch) -> None:
    """Why the harness prices Vidur's all-reduces without NVLink SHARP (`HARNESS_NVLS`): in
    the 4-60 MB lines the time per MB grows with the group as a ring's 2(g−1)/g wire bytes do,
    on the H100 as on the A100 (whose switch cannot reduce at all); an NVLS all-reduce moves
    about the message once per GPU whatever g is. Priced with NVLS, the H100 8-GPU slope
    falls >15 % below the measured one; priced as NCCL's ring it is within 10 %."""
    assert vidur.HARNESS_NVLS is False
    net = vidur.network_rows()
    lines = vidur.allreduce_lines(net).set_index(["gpu", "group"])["measured_us_per_mb"]
    for gpu in ("h100", "a100"):
        assert lines[(gpu, 8)] > lines[(gpu, 4)] > lines[(gpu, 2)]
        assert lines[(gpu, 8)] / lines[(gpu, 2)] > 1.3
    hw = load_hardware(vidur.SPECS["h100"])
    assert hw.chip.params.nvls_efficiency > 0  # the spec's NVLS stays for production systems
    h = vidur.harness("h100")
    rows = net[(net.gpu == "h100") & (net.collective == "all_reduce") & (net.group == 8)]
    ring = vidur.predictions(rows, hw, h, True)
    # the harness switches NVLS off itself: the same as a spec without it
    no_nvls = vidur.predictions(rows, vidur.with_gpu(hw, nvls_efficiency=0.0), h, True)
    assert np.allclose(ring, no_nvls, rtol=1e-12)
    sub = net.loc[rows.index]
    meas_slope = lines[("h100", 8)]
    ring_slope = vidur.allreduce_lines(sub, ring).set_index("group")["predicted_us_per_mb"][8]
    assert abs(ring_slope / meas_slope - 1) < 0.10
    monkeypatch.setattr(vidur, "HARNESS_NVLS", True)
    nvls = vidur.predictions(rows, hw, h, True)
    nvls_slope = vidur.allreduce_lines(sub, nvls).set_index("group")["predicted_us_per_mb"][8]
    assert nvls_slope / meas_slope - 1 < -0.15


def test_fit_only_without_fit_is_a_one_line_error(capsys: pytest.CaptureFixture[str]) -> None:
    """`--fit-only` names what `--fit` refits; alone it would refit nothing: exit 2, one
    line naming the flag and the fix, fit.json untouched."""
    before = vidur.FIT_FILE.read_bytes()
    assert vidur.main(["--fit-only", "collective"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("--fit-only:") and "--fit" in err[0]
    assert vidur.FIT_FILE.read_bytes() == before
