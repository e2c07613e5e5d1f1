"""Hand-derived checks: wave quantization, collectives, the eager recurrence, capacity.

Every expected value is computed in the test from the spec's published numbers with the
arithmetic written out."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from infersim.hwmodels import CostContext, cost_model, load_hardware
from infersim.hwmodels.models.gpu import gemm as G
from infersim.hwmodels.models.gpu.figures import figures
from infersim.hwmodels.spec import Hardware
from infersim.mapper import timeline as T
from infersim.workloads import ops as O


def test_wave_quantization_132_vs_133_tiles_on_h100(h100: Hardware) -> None:
    p = h100.chip.params
    assert p.sm_count == 132
    c = figures(h100)
    k = 8192
    # 128x128 tiles: 12 x 11 = 132 tiles (one wave), 7 x 19 = 133 tiles (two waves)
    one = G.gemm_candidate(c, 128 * 12, k, 128 * 11, 1, 2.0, 2.0, 2.0, 989.4e12, 128, 128, 1)
    two = G.gemm_candidate(c, 128 * 7, k, 128 * 19, 1, 2.0, 2.0, 2.0, 989.4e12, 128, 128, 1)
    assert (one.ctas, one.waves) == (132, 1)
    assert (two.ctas, two.waves) == (133, 2)
    # one thread block: HBM latency + K/64 main-loop iterations + epilogue write
    l2 = h100.chip.level("l2").bandwidth_Bps
    hbm_lat = h100.chip.main_memory.latency_s
    per_sm_peak = 989.4e12 * p.mma_efficiency / 132
    t_mma = 2 * 128 * 128 * 64 / per_sm_peak
    t_feed = (128 * 2 + 128 * 2) * 64 / (l2 / 132)
    t_epi = 128 * 128 * 2 / (l2 / 132)  # the tile's bf16 output stored through L2
    t_cta = hbm_lat + (k // 64) * max(t_mma, t_feed) + t_epi
    # + the last wave's output drain: its tiles' share of C written at the HBM write rate,
    # or at what its SMs keep in flight over the latency (Little's law) if that is lower
    hbm = h100.chip.main_memory.bandwidth_Bps

    def drain(c_bytes: float, sms: int) -> float:
        return max(c_bytes / (hbm * p.hbm_write_efficiency),
                   c_bytes / (sms * p.sm_inflight_bytes / hbm_lat))

    assert one.tile_s == pytest.approx(t_cta + drain(1536 * 1408 * 2, 132), rel=1e-12)
    # two waves: only the 133rd tile (1 of 133) drains exposed, from one SM; H100's ping-pong
    # kernels (epilogue_overlap) store the first wave's tiles under the second wave's MMAs
    assert p.epilogue_overlap
    assert two.tile_s == pytest.approx(2 * t_cta - t_epi + drain(896 * 2432 * 2 / 133, 1),
                                       rel=1e-12)
    # both are compute(tile)-bound at K=8192; the kernel joins tile and stream time by the
    # smooth maximum (t^p + s^p)^(1/p), p = gemm_overlap_exponent, plus the kernel's pipeline
    # fill + epilogue drain (gemm_fill_us)
    q = p.gemm_overlap_exponent
    for ch in (one, two):
        assert ch.tile_s > ch.memory_s
        assert ch.time_s == pytest.approx(
            (ch.tile_s ** q + ch.memory_s ** q) ** (1.0 / q) + p.gemm_fill_s, rel=1e-12)
    assert two.time_s / one.time_s > 1.8  # the tile time doubles, the stream does not


def test_epilogue_overlap_hides_all_but_the_last_waves_stores(h100: Hardware) -> None:
    """The knob moves time in its physical direction, by exactly the hidden stores."""
    off = replace(h100, chip=replace(h100.chip, params=replace(h100.chip.params,
                                                               epilogue_overlap=False)))
    c_on, c_off = figures(h100), figures(off)
    t_epi = 128 * 128 * 2 / (c_on.l2_bw / 132)
    for m, n, waves in ((128 * 12, 128 * 11, 1), (128 * 7, 128 * 19, 2), (2048, 4096, 4)):
        on = G.gemm_candidate(c_on, m, 8192, n, 1, 2.0, 2.0, 2.0, 989.4e12, 128, 128, 1)
        of = G.gemm_candidate(c_off, m, 8192, n, 1, 2.0, 2.0, 2.0, 989.4e12, 128, 128, 1)
        assert on.waves == of.waves == waves
        assert of.tile_s - on.tile_s == pytest.approx((waves - 1) * t_epi, rel=1e-9)
        assert on.time_s <= of.time_s
        if waves > 1:
            assert on.time_s < of.time_s


@settings(max_examples=40, deadline=None)
@given(m=st.integers(1, 8192), k=st.integers(64, 16384), n=st.integers(64, 16384))
def test_tile_search_is_the_brute_force_minimum(m: int, k: int, n: int, a100: Hardware) -> None:
    c = figures(a100)
    best = G.gemm_search(c, m, k, n, 1, 2.0, 2.0, 2.0, 312e12)
    brute = min(G.gemm_candidate(c, m, k, n, 1, 2.0, 2.0, 2.0, 312e12, tm, tn, s).time_s
                for tm, tn in G.TILES for s in G.SPLITS
                if s == 1 or (k // s >= G.MIN_SPLIT_K and -(-m // tm) * -(-n // tn) < c.sms))
    assert best.time_s == pytest.approx(brute, rel=1e-12)


def test_tp8_allreduce_matches_hand_formula_on_dgx_h100(dgx_h100: Hardware) -> None:
    p = dgx_h100.chip.params
    f = dgx_h100.fabric
    B, g = 64e6, 8
    bw = 18 * 25e9  # 18 NVLink4 links x 25 GB/s per direction
    assert f.chip_bandwidth_Bps == pytest.approx(bw)
    # NCCL's algorithms on one NVSwitch node: ring (at the reducing-collective efficiency)
    # and NVLS in-switch reduction; one-shot / two-shot are engine kernels, not NCCL's
    eff = bw * p.allreduce_bw_efficiency
    ring = 2 * (g - 1) * f.latency_s + 2 * (g - 1) / g * B / eff
    # NVLS after its fixed latency (NCCL's tuning model, `gpu.nvls_latency_us`)
    assert p.nvls_latency_s == pytest.approx(25e-6)
    nvls = p.nvls_latency_s + B / (bw * p.nvls_efficiency)
    # the default (graph) runtime replays the collective kernel at a kernel's launch latency;
    # `collective_latency_us` is the eager call's (fitted on eager NCCL calls)
    call = min(p.collective_latency_s, p.kernel_launch_s)
    comm = call + min(ring, nvls)
    # shared roofline floor: each chip must receive the m reduced bytes (in-network
    # reduction reaches it), over one hop; every algorithm above respects it unclamped
    floor = B / bw + f.latency_s
    assert comm >= floor
    expected = comm + p.kernel_launch_s
    op = O.collective("all_reduce", B, g)
    got = cost_model(dgx_h100).op_cost(op, dgx_h100, CostContext()).time_s
    assert got == pytest.approx(expected, rel=1e-9)


def test_tp8_allreduce_small_message_is_latency_bound(dgx_h100: Hardware) -> None:
    p = dgx_h100.chip.params
    f = dgx_h100.fabric
    B, g = 16384.0, 8  # one decode token of an 8192-wide bf16 activation
    # NVLS: its fixed latency, the message once; the ring: 14 steps, in NCCL's bandwidth
    # protocol (the fabric's step latency) or its LL protocol (`ll_step_latency_us` a step
    # at 1/4 of the rate). Every candidate is latency-bound at this size; LL wins.
    rate = f.chip_bandwidth_Bps * p.allreduce_bw_efficiency
    wire = 2 * (g - 1) / g * B
    nvls = p.nvls_latency_s + B / (f.chip_bandwidth_Bps * p.nvls_efficiency)
    ring = 2 * (g - 1) * f.latency_s + wire / rate
    ring_ll = 2 * (g - 1) * p.ll_step_latency_s + wire / (rate / 4)
    best = min(nvls, ring, ring_ll)
    assert best == ring_ll
    for t, steps in ((nvls, p.nvls_latency_s), (ring, 2 * (g - 1) * f.latency_s),
                     (ring_ll, 2 * (g - 1) * p.ll_step_latency_s)):
        assert steps > 0.5 * t  # latency-bound
    expected = min(p.collective_latency_s, p.kernel_launch_s) + best + p.kernel_launch_s
    got = cost_model(dgx_h100).op_cost(O.collective("all_reduce", B, g), dgx_h100, CostContext()).time_s
    assert got == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize("B", [16384.0, 64e6])
def test_tp2_allreduce_runs_nccl_ll_for_small_messages_and_simple_for_large(
        dgx_h100: Hardware, B: float) -> None:
    """Two GPUs: the ring's two steps in NCCL's LL protocol (`ll_step_latency_us` a step, 1/4
    of the bandwidth: src/graph/tuning.cc) beat its bandwidth protocol (the fabric's fitted step
    latency) on a decode-sized message and lose on a prefill-sized one. Either protocol is no
    faster than the ring kernel's own loads and stores, (6 − 4/g) bytes per message byte at
    `ring_copy_gb_per_s`."""
    p = dgx_h100.chip.params
    f = dgx_h100.fabric
    g = 2
    rate = f.chip_bandwidth_Bps * p.allreduce_bw_efficiency
    wire = 2 * (g - 1) / g * B
    assert p.ring_copy_Bps > 0
    copy = (6 - 4 / g) * B / p.ring_copy_Bps
    simple = 2 * (g - 1) * f.latency_s + max(wire / rate, copy)
    assert p.ll_step_latency_s == pytest.approx(0.6e-6)
    ll = 2 * (g - 1) * p.ll_step_latency_s + max(wire / (rate / 4), copy)
    nvls = p.nvls_latency_s + B / (f.chip_bandwidth_Bps * p.nvls_efficiency)
    best = min(simple, ll, nvls)
    assert best == (ll if B < 1e6 else simple)
    expected = min(p.collective_latency_s, p.kernel_launch_s) + best + p.kernel_launch_s
    oc = cost_model(dgx_h100).op_cost(O.collective("all_reduce", B, g), dgx_h100,
                                      CostContext())
    assert oc.time_s == pytest.approx(expected, rel=1e-9)
    detail = dict(oc.detail)
    assert detail["algorithm"] == "ring"
    assert detail["protocol"] == ("low_latency" if B < 1e6 else "bandwidth")


def test_eager_recurrence_hand_example() -> None:
    # host launches take 5 us each; device work 1, 10, 1 us
    # kernel 1: launched at 5, runs 5-6; kernel 2: launched at 10, runs 10-20;
    # kernel 3: launched at 15, waits for the device, runs 20-21
    us = 1e-6
    brute = T.simulate_kernels([5 * us] * 3, [1 * us, 10 * us, 1 * us])
    flat = [x for pair in brute for x in pair]
    assert flat == pytest.approx([5 * us, 6 * us, 10 * us, 20 * us, 20 * us, 21 * us])
    st_ = T.run([T.Block((5 * us,) * 3, (1 * us, 10 * us, 1 * us), 1)])
    assert st_.device_free_s == pytest.approx(21 * us)
    assert st_.host_s == pytest.approx(15 * us)


@settings(max_examples=200, deadline=None)
@given(data=st.lists(st.tuples(st.floats(0, 50), st.floats(0, 50)), min_size=1, max_size=8),
       reps=st.lists(st.integers(1, 6), min_size=1, max_size=3), start=st.floats(0, 100))
def test_closed_form_matches_brute_force(data: list[tuple[float, float]], reps: list[int],
                                         start: float) -> None:
    h = tuple(x for x, _ in data)
    d = tuple(y for _, y in data)
    blocks = [T.Block(h, d, r) for r in reps]
    closed = T.run(blocks, T.TimelineState(start, 0.0))
    hh: list[float] = []
    dd: list[float] = []
    for r in reps:
        hh += list(h) * r
        dd += list(d) * r
    end = start
    hc = 0.0
    for hi, di in zip(hh, dd, strict=True):
        hc += hi
        end = max(end, hc) + di
    assert closed.device_free_s == pytest.approx(end, rel=1e-9, abs=1e-9)


def test_405b_bf16_on_one_h100_is_infeasible() -> None:
    import infersim as isim

    r = isim.simulate("llama-3.1-405b", "h100-sxm", phase="decode", batch=1, context=1024)
    assert not r.feasible
    inf = r.infeasible
    # weights: 405.9e9 parameters (published) x 2 bytes = 811.8 GB, plus a tiny KV cache
    assert inf.demand == pytest.approx(811.8e9, rel=0.01)
    assert inf.capacity == pytest.approx(85.52e9 + 50e6, rel=0.01)  # HBM 81559 MiB (+ L2)
    assert inf.gap == pytest.approx(inf.demand - inf.capacity)
    assert any("chips" in lv for lv in inf.levers)
    # ≥ ceil(811.8 / 80) = 11 H100s would be needed
    assert inf.detail["chips_needed"] == math.ceil(inf.demand / inf.capacity)
    assert math.ceil(811.8e9 / 80e9) == 11


def test_system_with_too_few_chips_is_infeasible() -> None:
    import infersim as isim

    r = isim.simulate("llama-3.1-8b", "h100-sxm", phase="decode", batch=1, context=128, tp=2)
    assert not r.feasible and r.infeasible.unit == "chips"


def test_a100_system_replace_keeps_chip_links(a100: Hardware) -> None:
    hw = replace(a100, num_chips=4)
    assert hw.fabric is not None and hw.fabric.links_per_chip == 12


def test_nvls_fixed_latency_knob_by_hand() -> None:
    """`gpu.nvls_latency_us` is the in-switch all-reduce's fixed latency (NCCL's tuning
    model: 25 us on NVLink, the shipped H100 value): an 8-GPU decode-sized all-reduce runs
    the LL ring and a 256 MB one runs NVLS, each by hand; 0 falls back to two fabric steps,
    which makes NVLS cheaper."""
    B_small, B_big, g = 16384.0, 256e6, 8
    hw = load_hardware("dgx-h100")
    p, f = hw.chip.params, hw.fabric
    assert p.nvls_latency_s == pytest.approx(25e-6)
    bw = f.chip_bandwidth_Bps
    rate = bw * p.allreduce_bw_efficiency
    call = min(p.collective_latency_s, p.kernel_launch_s) + p.kernel_launch_s

    def by_hand(B: float) -> tuple[float, float, float]:
        wire = 2 * (g - 1) / g * B
        return (25e-6 + B / (bw * p.nvls_efficiency),  # NVLS
                2 * (g - 1) * f.latency_s + wire / rate,  # ring, bandwidth protocol
                2 * (g - 1) * p.ll_step_latency_s + wire / (rate / 4))  # ring, LL

    def got(h, B: float) -> float:
        return cost_model(h).op_cost(O.collective("all_reduce", B, g), h, CostContext()).time_s

    nvls, ring, ll = by_hand(B_small)
    assert ll < min(nvls, ring)
    assert got(hw, B_small) == pytest.approx(call + ll, rel=1e-9)
    nvls, ring, ll = by_hand(B_big)
    assert nvls < min(ring, ll)
    assert got(hw, B_big) == pytest.approx(call + nvls, rel=1e-9)
    zero = load_hardware("dgx-h100", {"chip.gpu.nvls_latency_us": 0.0})
    assert zero.chip.params.nvls_latency_s == 0.0
    two_steps = 2 * f.latency_s + B_big / (bw * p.nvls_efficiency)
    assert got(zero, B_big) == pytest.approx(call + two_steps, rel=1e-9)
    assert got(hw, B_big) > got(zero, B_big)
