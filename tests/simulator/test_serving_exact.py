"""Serving DES on hand-checkable cases: every event time below is derived by hand in comments.

The injected cost: an iteration that contains any prefill work costs 1.0 s, a decode-only
iteration costs 0.1 s (energy 0)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from infersim.foundation.errors import InputError
from infersim.simulator.serving import (
    FixedLengths,
    Policy,
    Preemption,
    Router,
    ServingPolicy,
    TraceReplay,
    Traffic,
    simulate_serving,
)
from infersim.simulator.serving.serve import ReplicaSpec
from tests._support import KnobCost


def fixed_cost(prefill, emits, decode_seqs, decode_ctx):
    return (1.0 if prefill else 0.1), 0.0


def trace(tmp_path, rows):
    p = tmp_path / "trace.csv"
    p.write_text("arrival_s,prompt_tokens,output_tokens\n"
                 + "".join(f"{a},{pr},{o}\n" for a, pr, o in rows))
    return Traffic(TraceReplay(str(p)), None, None)


def run(traffic, spec=None, **policy):
    r = simulate_serving(spec or ReplicaSpec(), fixed_cost, traffic, ServingPolicy(**policy))
    pr = r.per_request
    return r, pr["first_token_s"], pr["finish_s"]


def test_static_batching_two_requests(tmp_path):
    # A arrives at 0 and is batched alone (B not there yet): prefill [0, 1] → first token 1.0,
    # two decode steps [1.0, 1.1], [1.1, 1.2] → A done 1.2. B (arrived 0.5) starts at 1.2:
    # prefill [1.2, 2.2], decodes to 2.4.
    r, first, fin = run(trace(tmp_path, [(0, 10, 3), (0.5, 10, 3)]), kind=Policy.STATIC,
                        max_batch=2)
    assert first == pytest.approx([1.0, 2.2])
    assert fin == pytest.approx([1.2, 2.4])
    assert r.ttft["mean"] == pytest.approx((1.0 + 1.7) / 2)
    assert r.tpot["p50"] == pytest.approx(0.1)
    assert r.duration_s == pytest.approx(2.4)
    assert r.throughput_tok_s == pytest.approx(6 / 2.4)


def test_continuous_batching_two_requests(tmp_path):
    # A prefill [0, 1]. At 1.0 B waits, and prefills are prioritized: B prefill [1, 2] (A's
    # decoding stalls). Then both decode [2.0, 2.1], [2.1, 2.2]: both done at 2.2.
    r, first, fin = run(trace(tmp_path, [(0, 10, 3), (0.5, 10, 3)]), kind=Policy.CONTINUOUS,
                        max_batch=2)
    assert first == pytest.approx([1.0, 2.0])
    assert fin == pytest.approx([2.2, 2.2])
    # TPOT: A (2.2 - 1.0) / 2 = 0.6; B 0.1. Queue delay: A 0, B 0.5 (scheduled at 1.0)
    tpot = np.sort((fin - first) / 2)
    assert tpot == pytest.approx([0.1, 0.6])
    assert r.queue_delay["mean"] == pytest.approx(0.25)


def test_chunked_prefill_mixes_decode_and_prefill(tmp_path):
    # A prefill [0, 1]. At 1.0: A decodes and B's whole prompt is one chunk: [1, 2] (1.0 s,
    # it has prefill work) → A token 2 and B token 1 at 2.0. Decode-only [2.0, 2.1] → A done;
    # [2.1, 2.2] → B done.
    _, first, fin = run(trace(tmp_path, [(0, 10, 3), (0.5, 10, 3)]), kind=Policy.CHUNKED,
                        max_batch=2)
    assert first == pytest.approx([1.0, 2.0])
    assert fin == pytest.approx([2.1, 2.2])


def test_chunk_budget_splits_a_long_prompt(tmp_path):
    # budget 4 tokens: a 10-token prompt needs chunks 4, 4, 2 → three 1.0 s steps; the token
    # is out at 3.0, then one decode step → 3.1.
    _, first, fin = run(trace(tmp_path, [(0, 10, 2)]), kind=Policy.CHUNKED, max_tokens=4,
                        max_batch=2)
    assert first == pytest.approx([3.0]) and fin == pytest.approx([3.1])


def test_kv_cache_too_small_forces_recompute_preemption(tmp_path):
    # 4 blocks of 4 tokens. A, B at 0 (prompt 4, output 6). Prefill both [0, 1] (1 block
    # each, 2 free); first tokens at 1.0; caches hold 4 tokens each.
    # Decode 1 writes token 5 of each cache → both need a 2nd block (0 free) [1.0, 1.1];
    # decodes 2-4 fit in the 2nd blocks: [1.1, 1.2], [1.2, 1.3], [1.3, 1.4].
    # Decode 5 needs 2 blocks, 0 free → preempt the latest arrival (B), freeing 2 blocks; A
    # gets one: [1.4, 1.5] → A has 6 tokens, done at 1.5, frees 3 blocks.
    # B (5 tokens generated) recomputes a 4+5 = 9-token prefill [1.5, 2.5], emitting its 6th
    # and last token at 2.5.
    spec = ReplicaSpec(kv_blocks=4)
    r, first, fin = run(trace(tmp_path, [(0, 4, 6), (0, 4, 6)]), spec, block_size=4)
    assert first == pytest.approx([1.0, 1.0])
    assert fin == pytest.approx([1.5, 2.5])
    assert list(r.per_request["preemptions"]) == [0, 1]
    assert r.preemptions == 1
    assert r.kv_peak_occupancy == pytest.approx(1.0)


def test_swap_preemption_charges_host_link_time(tmp_path):
    # Same as above but B's 2 blocks are swapped out: block = 4 tokens × 1e6 B / 40e6 B/s
    # = 0.1 s per block. Decode 5 (A only) costs 0.1 + 0.2 (swap-out) → A done at 1.7.
    # Next step swaps B back in (0.2 s) and decodes its 6th token: 0.1 + 0.2 → done at 2.0.
    spec = ReplicaSpec(kv_blocks=4, kv_bytes_per_token_per_chip=1e6, host_link_Bps=40e6)
    r, _, fin = run(trace(tmp_path, [(0, 4, 6), (0, 4, 6)]), spec, block_size=4,
                    preemption=Preemption.SWAP)
    assert fin == pytest.approx([1.7, 2.0])
    assert r.preemptions == 1


def test_plenty_of_kv_means_no_preemption(tmp_path):
    r, _, fin = run(trace(tmp_path, [(0, 4, 6), (0, 4, 6)]), ReplicaSpec(kv_blocks=1000),
                    block_size=4)
    # prefill [0,1], five decode steps of both → 1.5
    assert fin == pytest.approx([1.5, 1.5]) and r.preemptions == 0


def test_request_that_can_never_fit_is_rejected(tmp_path):
    # 2 blocks of 4 tokens = 8 tokens < 4 + 6
    r, _, fin = run(trace(tmp_path, [(0, 4, 6)]), ReplicaSpec(kv_blocks=2), block_size=4)
    assert r.rejected == 1 and r.completed == 0 and np.isnan(fin[0])


def test_disaggregated_prefill_then_kv_transfer_then_decode(tmp_path):
    # A, B at 0 (prompt 4, output 3). Prefill replica: both prefilled [0, 1] (first tokens
    # 1.0). KV transfer: 4 tokens × 1000 B / 4000 B/s = 1.0 s each, one at a time on the
    # prefill replica's link: A [1, 2], B [2, 3]. Decode replica: A decodes [2.0, 2.1],
    # [2.1, 2.2] → done 2.2; B arrives at 3.0: [3.0, 3.1], [3.1, 3.2] → done 3.2.
    spec = ReplicaSpec(kv_bytes_per_token_per_chip=1000.0, kv_transfer_Bps=4000.0)
    r, first, fin = run(trace(tmp_path, [(0, 4, 3), (0, 4, 3)]), spec,
                        kind=Policy.DISAGGREGATED)
    assert first == pytest.approx([1.0, 1.0])
    assert fin == pytest.approx([2.2, 3.2])
    assert r.replicas == 2


@pytest.mark.parametrize(("router", "ttft_c"), [(Router.ROUND_ROBIN, 1.05),
                                                 (Router.LEAST_OUTSTANDING, 1.0)])
def test_router_policies(tmp_path, router, ttft_c):
    # Two replicas. A (output 100) → replica 0 decodes until 1 + 99 × 0.1 = 10.9;
    # B (output 1) → replica 1, done at 1.0. C arrives at 5.05:
    # round robin sends it to replica 0, which admits it at the next step boundary 5.1
    # (TTFT 0.05 + 1.0); least-outstanding sends it to idle replica 1 (TTFT 1.0).
    tr = trace(tmp_path, [(0, 8, 100), (0, 8, 1), (5.05, 8, 2)])
    r = simulate_serving(ReplicaSpec(), fixed_cost, tr, ServingPolicy(router=router),
                         replicas=2)
    pr = r.per_request
    assert list(pr["replica"]) == ([0, 1, 0] if router == Router.ROUND_ROBIN else [0, 1, 1])
    assert pr["first_token_s"][2] - pr["arrival_s"][2] == pytest.approx(ttft_c)


def test_closed_loop_users_send_after_each_response():
    # 1 user, 3 requests of prompt 8 / output 2: each takes prefill 1.0 + decode 0.1; the next
    # is sent when the previous finishes (think 0.5 s): finishes at 1.1, 2.7, 4.3.
    from infersim.simulator.serving import ClosedLoop

    r = simulate_serving(ReplicaSpec(), fixed_cost,
                         Traffic(ClosedLoop(1, think_s=0.5), FixedLengths(8, 2), 3))
    assert r.per_request["arrival_s"] == pytest.approx([0.0, 1.6, 3.2])
    assert r.per_request["finish_s"] == pytest.approx([1.1, 2.7, 4.3])


def test_energy_idle_power_and_cost_formula(tmp_path):
    # Two requests (0 s and 5.0 s), each busy 1.0 s prefill + 0.1 s decode, each step 10 J →
    # 40 J of steps. Duration 6.1 s; the replica idles 6.1 − 2.2 = 3.9 s at 100 W = 390 J;
    # system overhead 10 W for all 6.1 s = 61 J.
    def cost(prefill, emits, d, ctx):
        return (1.0 if prefill else 0.1), 10.0

    spec = ReplicaSpec(idle_power_w=100.0, extra_power_w=10.0, price_usd=1e6)
    r = simulate_serving(spec, cost, trace(tmp_path, [(0, 8, 2), (5.0, 8, 2)]))
    energy = 40.0 + 390.0 + 61.0  # system scope: chips + overhead
    assert r.duration_s == pytest.approx(6.1)
    assert r.energy_j == pytest.approx(40.0 + 390.0)  # chips only
    assert r.energy_per_token_j == pytest.approx((40.0 + 390.0) / 4)
    assert r.system_energy_j == pytest.approx(energy)
    assert r.to_dict()["system_energy_per_token_j"] == pytest.approx(energy / 4)
    assert r.utilization == pytest.approx(2.2 / 6.1)
    # cost per 1M tokens: capex 1e6 USD × 6.1 s / (4 y × 365.25 d × 86400 s) + energy
    # / 3.6e6 J/kWh × 0.10 USD/kWh, over 4 output tokens, × 1e6
    capex = 1e6 * 6.1 / (4 * 365.25 * 86400)
    opex = energy / 3.6e6 * 0.10
    assert r.cost_per_1m_tokens_usd == pytest.approx((capex + opex) / 4 * 1e6)
    # an unknown price (0) gives NaN, not an energy-only cost
    free = simulate_serving(ReplicaSpec(), cost, trace(tmp_path, [(0, 8, 2)]))
    assert math.isnan(free.cost_per_1m_tokens_usd)
    assert "no price" in free.cost_note and free.to_dict()["cost_note"] == free.cost_note
    assert r.cost_note == ""


def test_goodput_counts_requests_meeting_both_slos(tmp_path):
    from infersim.simulator.serving import Slo

    # continuous two-request case: A TTFT 1.0 TPOT 0.6; B TTFT 1.5 TPOT 0.1; duration 2.2
    tr = trace(tmp_path, [(0, 10, 3), (0.5, 10, 3)])
    r = simulate_serving(ReplicaSpec(), fixed_cost, tr, ServingPolicy(max_batch=2),
                         slo=Slo(ttft_s=2.0, tpot_s=0.2))
    assert r.slo_attainment == pytest.approx(0.5)  # only B meets TPOT ≤ 0.2
    assert r.goodput_req_s == pytest.approx(1 / 2.2)


def test_pipeline_parallel_replica_overlaps_two_micro_batches(tmp_path):
    # pp = 2: two virtual engines share the first stage; a step of t holds it for t/2.
    # A → engine 0: prefill holds the stage [0, 0.5], done at 1.0 (first token).
    # B → engine 1: waits for the stage, holds it [0.5, 1.0], first token at 1.5.
    # A's decode (0.1) gets the stage at 1.0 for 0.05 → token at 1.1 (done);
    # B's decode at 1.5 → done at 1.6. Without the pipeline B would wait until A is done.
    spec = ReplicaSpec(pipeline_stages=2)
    r, first, fin = run(trace(tmp_path, [(0, 8, 2), (0, 8, 2)]), spec)
    assert first == pytest.approx([1.0, 1.5])
    assert fin == pytest.approx([1.1, 1.6])
    assert r.replicas == 1
    # the first stage was busy 0.5 + 0.5 + 0.05 + 0.05 = 1.1 s of the 1.6 s run
    assert r.utilization == pytest.approx(1.1 / 1.6)


class _FlooredCost:
    """fixed_cost's device times under a serving floor of 0.08 s per decoding request (the
    host's output processing), composed as MapperIterationCost composes them."""

    def device(self, prefill, emits, decode_seqs, decode_ctx):
        return fixed_cost(prefill, emits, decode_seqs, decode_ctx)

    def floored(self, t, e, decode_seqs, prefill_emits):
        return max(t, 0.08 * decode_seqs), e

    def __call__(self, prefill, emits, decode_seqs, decode_ctx):
        return self.floored(*self.device(prefill, emits, decode_seqs, decode_ctx),
                            decode_seqs, emits)


def _two_pipelined_runs(tmp_path, cost):
    """Two requests at t = 0 with 8-token prompts on a pp = 2 replica under `cost`: with 2
    outputs each, then with 3."""
    spec = ReplicaSpec(pipeline_stages=2)
    return tuple(simulate_serving(spec, cost, trace(tmp_path, [(0, 8, n), (0, 8, n)]),
                                  ServingPolicy()) for n in (2, 3))


class _RingCost(_FlooredCost):
    """_FlooredCost under a profile whose pipeline puts the host's work on each micro-batch's
    own cycle (`pp_host_ring`, TensorRT-LLM's PyTorch PP loop), and nothing else."""

    def __init__(self, ring: float = 1.0) -> None:
        self.runtime = KnobCost(pp_host_ring=ring).runtime


@pytest.mark.parametrize("ring,finish2,finish3", [
    # no profile, or the ring off: pp = 2 as above, but a decode step of one request has a
    # host floor of 0.08 s beside its 0.1 s on the device: the step lasts 0.1, and the first
    # stage is held for max(0.1 / 2, 0.08) = 0.08 (each rank's one executor loop handles every
    # micro-batch's requests in turn), not 0.05. A: prefill [0, 0.5] on the stage, first token
    # 1.0; B: stage [0.5, 1.0], first token 1.5; A's decode holds the stage [1.0, 1.08], token
    # at 1.1; B's [1.5, 1.58], token at 1.6 (the latencies are unchanged; the stage is busier).
    # Three outputs: the second decode of each waits for the first's floor, not half a step:
    # A's decodes hold the stage [1.0, 1.08] and [1.1, 1.18]; B's [1.5, 1.58], [1.6, 1.68].
    (None, [1.1, 1.6], [1.2, 1.7]),
    (0.0, [1.1, 1.6], [1.2, 1.7]),
    # the ring on: each micro-batch's next iteration waits for its tokens' host work (0.08 s)
    # after its last stage: A's decode holds the stage [1.0, 1.08], leaves the last stage at
    # 1.1, its token is out at 1.18; B: stage [1.5, 1.58], last stage 1.6, token 1.68 (the
    # prefills have no decoding request, so no floor: first tokens 1.0 and 1.5 as before).
    # Three outputs: A's decodes [1.0, 1.18] and [1.18, 1.36] (stage 1.18-1.26); B's [1.5,
    # 1.68] and [1.68, 1.86]: each cycle is the 0.1 s step plus the 0.08 s host work.
    (1.0, [1.18, 1.68], [1.36, 1.86]),
])
def test_a_pipeline_holds_the_host_floor_on_its_stage_and_with_the_ring_on_its_cycle(
        tmp_path, ring, finish2, finish3):
    r, r3 = _two_pipelined_runs(tmp_path, _FlooredCost() if ring is None else _RingCost(ring))
    assert r.per_request["first_token_s"] == pytest.approx([1.0, 1.5])
    assert r.per_request["finish_s"] == pytest.approx(finish2)
    assert r3.per_request["finish_s"] == pytest.approx(finish3)
    # the stage is busy for both prefills' halves and each decode's floor
    assert r.utilization == pytest.approx((0.5 + 0.5 + 2 * 0.08) / finish2[1])
    assert r3.utilization == pytest.approx((0.5 + 0.5 + 4 * 0.08) / finish3[1])
    # direction: the ring never shortens a run
    off, off3 = _two_pipelined_runs(tmp_path, _RingCost(0.0))
    assert r.duration_s >= off.duration_s and r3.duration_s >= off3.duration_s


class _HeldCost(_FlooredCost):
    """_FlooredCost whose host also walks every request the engine holds (`held_request_s`):
    0.04 s for each held request beyond the iteration's own, the ring as `ring`."""

    def __init__(self, ring: float = 0.0) -> None:
        self.runtime = KnobCost(pp_host_ring=ring, held_request_s=0.04).runtime
        self.held_seen: list[int] = []

    def floored(self, t, e, decode_seqs, prefill_emits, held=0):
        self.held_seen.append(held)
        own = decode_seqs + prefill_emits
        return max(t, 0.08 * decode_seqs + 0.04 * max(held - own, 0)), e

    def __call__(self, prefill, emits, decode_seqs, decode_ctx, held=0):
        return self.floored(*self.device(prefill, emits, decode_seqs, decode_ctx),
                            decode_seqs, emits, held)


@pytest.mark.parametrize("ring,first,finish", [
    # _two_pipelined_runs' first run (2 outputs each, pp = 2: one request per micro-batch)
    # with the walk: the engine holds both requests (A decoding, B prefilling on the other
    # micro-batch) when A decodes at 1.0, so A's step costs max(0.1, 0.08 + 0.04 x 1) = 0.12 s
    # and holds the stage that long: token at 1.12. B decodes at 1.5, A finished: it holds only
    # B, the floor is 0.08 as without the walk: stage [1.5, 1.58], token 1.6. Each prefill
    # (1.0 s, its stage share 0.5 s) walks the other request, 0.04 s, hidden: first tokens 1.0
    # and 1.5.
    (0.0, [1.0, 1.5], [1.12, 1.6]),
    # the ring on: every step's host work follows it on its micro-batch's cycle. A's prefill
    # [0, 1.0] + its 0.04 s walk: first token 1.04; B's prefill from 0.5 (the stage is free)
    # holds both too: 1.5 + 0.04 = 1.54. A's decode from 1.04, both held: 0.12 s + 0.12 s of
    # host work, token at 1.28; B's from 1.54, A gone: 0.1 + 0.08, token at 1.72.
    (1.0, [1.04, 1.54], [1.28, 1.72]),
])
def test_a_pipelines_host_walks_the_requests_of_every_micro_batch_it_holds(
        tmp_path, ring, first, finish):
    cost = _HeldCost(ring)
    spec = ReplicaSpec(pipeline_stages=2)
    r = simulate_serving(spec, cost, trace(tmp_path, [(0, 8, 2), (0, 8, 2)]), ServingPolicy())
    assert r.per_request["first_token_s"] == pytest.approx(first)
    assert r.per_request["finish_s"] == pytest.approx(finish)
    # held counts the requests of both micro-batches (Replica.held), never more than exist
    assert max(cost.held_seen) == 2 and min(cost.held_seen) == 1
    # a slot cap: with max_batch 1 the list holds at most 1 x 2 stages, as before
    capped = _HeldCost(ring)
    simulate_serving(spec, capped, trace(tmp_path, [(0, 8, 2)] * 5), ServingPolicy(max_batch=1))
    assert max(capped.held_seen) == 2
    # direction: the walk never shortens a run; without the knob the first run's finishes
    base = simulate_serving(spec, _RingCost(ring), trace(tmp_path, [(0, 8, 2), (0, 8, 2)]),
                            ServingPolicy())
    assert sum(r.per_request["finish_s"]) > sum(base.per_request["finish_s"])


def test_event_log_only_when_asked(tmp_path):
    tr = trace(tmp_path, [(0, 10, 3), (0.5, 10, 3)])
    quiet = simulate_serving(ReplicaSpec(), fixed_cost, tr, ServingPolicy(max_batch=2))
    assert quiet.events is None
    r = simulate_serving(ReplicaSpec(), fixed_cost, tr, ServingPolicy(max_batch=2),
                         event_log=True)
    assert r.events is not None
    finishes = [(round(t, 9), rid) for t, what, _, rid in r.events if what == "finish"]
    arrivals = [(t, rid) for t, what, _, rid in r.events if what == "arrive"]
    assert arrivals == [(0.0, 0), (0.5, 1)]
    assert finishes == [(2.2, 0), (2.2, 1)]  # the continuous-batching hand timeline above


# Per-token inter-token latency: every token after a request's first, the time since that
# request's previous token, listed by hand from the timelines derived in the tests above.
ITL_CASES = {
    # A: tokens 1.0, 2.1, 2.2; B: 2.0, 2.1, 2.2 (A's decode stalls behind B's prefill)
    "continuous": ([(0, 10, 3), (0.5, 10, 3)], {}, dict(max_batch=2), [1.1, 0.1, 0.1, 0.1]),
    # A: 1.0, 2.0, 2.1 (its decode rides in B's 1.0 s mixed step); B: 2.0, 2.1, 2.2
    "chunked": ([(0, 10, 3), (0.5, 10, 3)], {}, dict(kind=Policy.CHUNKED, max_batch=2),
                [1.0, 0.1, 0.1, 0.1]),
    # A: 1.0 ... 1.4 then 1.5; B: 1.0 ... 1.4, preempted, recomputed: 6th token at 2.5
    "recompute": ([(0, 4, 6), (0, 4, 6)], dict(kv_blocks=4), dict(block_size=4),
                  [0.1] * 9 + [1.1]),
    # A's 6th token waits for B's swap-out (1.7); B's comes back after 0.2 s swap-in (2.0)
    "swap": ([(0, 4, 6), (0, 4, 6)],
             dict(kv_blocks=4, kv_bytes_per_token_per_chip=1e6, host_link_Bps=40e6),
             dict(block_size=4, preemption=Preemption.SWAP), [0.1] * 8 + [0.3, 0.6]),
    # first tokens at 1.0; A decodes at 2.1, 2.2 after its 1 s transfer, B at 3.1, 3.2
    "disaggregated": ([(0, 4, 3), (0, 4, 3)],
                      dict(kv_bytes_per_token_per_chip=1000.0, kv_transfer_Bps=4000.0),
                      dict(kind=Policy.DISAGGREGATED), [1.1, 0.1, 2.1, 0.1]),
    # A (output 2) and B (output 4) batched: one 0.1 s step per token after the first
    "static": ([(0, 10, 2), (0, 10, 4)], {}, dict(kind=Policy.STATIC, max_batch=2),
               [0.1] * 4),
}


@pytest.mark.parametrize("case", sorted(ITL_CASES))
def test_per_token_itl_distribution_by_hand(tmp_path, case):
    rows, spec, policy, itls = ITL_CASES[case]
    r, _, _ = run(trace(tmp_path, rows), ReplicaSpec(**spec), **policy)
    x = sorted(itls)
    n = len(x)
    # p-th percentile: the smallest ITL with at least p% of the tokens at or below it
    expected = {f"p{q}": x[math.ceil(q / 100 * n) - 1] for q in (50, 90, 99)}
    assert r.itl == pytest.approx({"mean": sum(x) / n, **expected})
    assert r.to_dict()["itl_p99_s"] == pytest.approx(expected["p99"])


def test_heterogeneous_pools_and_kv_link(tmp_path):
    # Prefill pool: 2 chips, the fixed cost, 1000 B of KV per token per chip, link 4000 B/s
    # per chip with 0.5 s set-up. Decode pool: 1 chip whose decode step costs 0.05 s. A
    # 4-token prompt's KV is 4 × 2 × 1000 = 8000 B over min(2, 1) = 1 stream of 4000 B/s:
    # 2.0 s + 0.5 s. A, B at 0 (prompt 4, output 3): both prefilled [0, 1]; transfers A
    # [1, 3.5], B [3.5, 6.0]; A decodes [3.5, 3.55], [3.55, 3.6]; B [6.0, 6.05], [6.05, 6.1].
    pre = ReplicaSpec(chips=2, kv_bytes_per_token_per_chip=1000.0, kv_transfer_Bps=4000.0,
                      kv_transfer_latency_s=0.5, price_usd=3.0)
    dec = ReplicaSpec(chips=1, kv_bytes_per_token_per_chip=2000.0, price_usd=1.0)
    r = simulate_serving(pre, fixed_cost, trace(tmp_path, [(0, 4, 3), (0, 4, 3)]),
                         ServingPolicy(kind=Policy.DISAGGREGATED),
                         decode=(dec, lambda p, e, d, c: (0.05, 0.0)))
    pr = r.per_request
    assert pr["first_token_s"] == pytest.approx([1.0, 1.0])
    assert pr["finish_s"] == pytest.approx([3.6, 6.1])
    assert r.chips == 3 and r.replicas == 2
    with pytest.raises(InputError, match="disaggregated"):
        simulate_serving(pre, fixed_cost, trace(tmp_path, [(0, 4, 3)]), ServingPolicy(),
                         decode=(dec, fixed_cost))
