"""The roofline floor for collectives: per-chip link bytes any algorithm must move, and the
GPU model (no longer clamped to it) never beating it."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from infersim.hwmodels.collectives import floor_bytes as collective_floor_bytes
from infersim.hwmodels.cost import CostContext
from infersim.hwmodels.loader import load_hardware
from infersim.hwmodels.models.gpu import GpuModel
from infersim.hwmodels.models.roofline import roofline_times
from infersim.hwmodels.spec import Hardware, HardwareKind
from infersim.workloads import ops as O
from infersim.workloads.ops import Collective, CollectiveShape
from tests._support import SPECS

M = 6e6  # bytes each participant contributes


def _ring_bytes(coll: Collective, g: int, m: float) -> tuple[float, float]:
    """(sent, received) by chip 0 in the textbook ring algorithms, step by step: each step
    every chip passes one chunk to its right neighbour."""
    chunk = m / g if coll in (Collective.ALL_REDUCE, Collective.REDUCE_SCATTER) else m
    steps = {Collective.ALL_REDUCE: 2 * (g - 1), Collective.REDUCE_SCATTER: g - 1,
             Collective.ALL_GATHER: g - 1}[coll]
    sent = recv = 0.0
    for _ in range(steps):
        sent += chunk
        recv += chunk
    return sent, recv


@pytest.mark.parametrize("g", [2, 3, 4, 8, 72])
def test_floor_is_below_every_algorithm_and_tight_for_the_best(g: int) -> None:
    def floor(c: Collective) -> float:
        return collective_floor_bytes(CollectiveShape(c, M, g))

    # all_reduce: ring moves 2(g-1)/g·m; one-shot pulls (g-1)·m; in-switch reduction (NVLS)
    # sends m up and receives the reduced m back — the floor m
    ring_ar = max(_ring_bytes(Collective.ALL_REDUCE, g, M))
    assert ring_ar == pytest.approx(2 * (g - 1) / g * M)
    assert floor(Collective.ALL_REDUCE) == M <= ring_ar * (1 + 1e-12)
    assert floor(Collective.ALL_REDUCE) <= (g - 1) * M
    # all_gather: every chip receives the g-1 other contributions (ring is optimal)
    assert floor(Collective.ALL_GATHER) == max(_ring_bytes(Collective.ALL_GATHER, g, M))
    # reduce_scatter: every chip sends its share of the g-1 other shards (ring is optimal)
    assert floor(Collective.REDUCE_SCATTER) == pytest.approx(
        max(_ring_bytes(Collective.REDUCE_SCATTER, g, M)))
    # all_to_all: (g-1) of the g parts leave the chip; send_recv: the whole message
    assert floor(Collective.ALL_TO_ALL) == pytest.approx((g - 1) / g * M)
    assert floor(Collective.SEND_RECV) == M


def test_single_chip_group_moves_nothing() -> None:
    assert collective_floor_bytes(CollectiveShape(Collective.ALL_REDUCE, M, 1)) == 0.0


def test_floor_time_on_dgx_h100_by_hand(dgx_h100: Hardware) -> None:
    bw = 18 * 25e9  # 18 NVLink4 links × 25 GB/s per direction (reference table 1.1)
    op = O.collective("all_reduce", 64e6, 8)
    assert roofline_times(op, dgx_h100)[2] == pytest.approx(64e6 / bw + dgx_h100.fabric.latency_s)
    ag = O.collective("all_gather", 8e6, 8)
    assert roofline_times(ag, dgx_h100)[2] == pytest.approx(7 * 8e6 / bw
                                                            + dgx_h100.fabric.latency_s)


GPU_SPECS = [p for p in SPECS if load_hardware(p).kind is HardwareKind.GPU]
_MODEL = GpuModel()
_KINDS = ["all_reduce", "all_gather", "reduce_scatter", "all_to_all", "send_recv"]


@settings(max_examples=150, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(spec=st.sampled_from(GPU_SPECS), which=st.integers(0, 3),
       a=st.integers(1, 16384), b=st.integers(1, 16384), c=st.integers(1, 32768),
       coll=st.sampled_from(_KINDS), exp=st.floats(1.0, 10.0), g=st.integers(2, 72),
       dt=st.sampled_from(["bf16", "fp8", "fp32"]))
def test_gpu_model_never_beats_the_floor(spec, which, a, b, c, coll, exp, g, dt) -> None:
    hw = load_hardware(spec)
    if which == 0:
        op = O.matmul(a, b, c, dt, weight_dtype=dt)
    elif which == 1:
        op = O.attention(1 + a % 64, 8, 8, 128, 1 + b % 4096, 1 + b % 4096 + c, True, dt)
    elif which == 2:
        op = O.vector(O.OpKind.ELEMENTWISE, a * b, dt, flops_per_elem=float(c % 16))
    else:
        op = O.collective(coll, 10.0 ** exp, g, dt)
    cost = _MODEL.op_cost(op, hw, CostContext())
    assert cost.time_s >= max(roofline_times(op, hw)) * (1 - 1e-9)


@pytest.mark.parametrize("g", [2, 4, 8])
def test_low_latency_ring_wins_below_the_hand_computed_crossover(g: int) -> None:
    """A ring offered in a low-latency protocol (per-step latency h_ll at a fraction f of the
    rate) beside the bandwidth protocol (step latency h): the two times are equal where
    2(g-1)(h - h_ll) = w (1/(f B) - 1/B), w the ring's wire bytes; below that message size
    the low-latency ring is the best plan, above it the bandwidth protocol's."""
    from dataclasses import replace

    from infersim.hwmodels.collectives import Algorithm, LowLatency, best_plan

    fabric = replace(load_hardware("dgx-h100").fabric, latency_s=3e-6)
    ll = LowLatency(hop_latency_s=0.5e-6, bandwidth_fraction=0.25)
    rate = fabric.chip_bandwidth_Bps * 0.8
    per_byte = 1 / (ll.bandwidth_fraction * rate) - 1 / rate
    wire_star = 2 * (g - 1) * (3e-6 - 0.5e-6) / per_byte
    m_star = wire_star / (2 * (g - 1) / g)
    for m, hop in ((0.5 * m_star, 0.5e-6), (2.0 * m_star, 3e-6)):
        plan = best_plan(CollectiveShape(Collective.ALL_REDUCE, m, g), fabric, 0.8,
                         allowed={Algorithm.RING}, low_latency=ll)
        assert plan is not None and plan.algorithm is Algorithm.RING
        assert plan.latency_s == pytest.approx(2 * (g - 1) * hop)
    # without the protocol the ring pays the bandwidth protocol's steps at any size
    plain = best_plan(CollectiveShape(Collective.ALL_REDUCE, 0.5 * m_star, g), fabric, 0.8,
                      allowed={Algorithm.RING})
    assert plain is not None and plain.latency_s == pytest.approx(2 * (g - 1) * 3e-6)
