"""Speculative decoding and window-capped KV inside `serve` (simulator/serving/speculative.py).

Expected values are derived independently: acceptance by a per-token Monte Carlo, event times by
hand (comments), window-capped KV by counting layers from the model's published config, and
per-step costs by `infersim.api.simulate` (the mapper's SPEC_DECODE step)."""

from __future__ import annotations

import heapq
import itertools
import json
import math

import numpy as np
import pytest

from infersim.cli import main
from infersim.foundation.errors import InputError
from infersim.hwmodels import load_hardware
from infersim.simulator.serving import (
    ClosedLoop,
    FixedLengths,
    Poisson,
    Policy,
    SampledLengths,
    ServingPolicy,
    Traffic,
    serve,
    simulate_serving,
)
from infersim.simulator.serving.serve import ReplicaSpec
from infersim.simulator.serving.speculative import (
    StepwiseDecode,
    WindowKvPool,
    draw_accepted,
    kv_groups,
    layer_tokens,
)
from infersim.simulator.serving.traffic import Uniform
from infersim.workloads import build_trace, load_model
from infersim.workloads.ops import OpKind
from infersim.workloads.scenario import Phase, Scenario, SpecDecode


def _monte_carlo(rng: np.random.Generator, n: int, k: int, a: float) -> np.ndarray:
    """Accepted drafts the plain way: verify draft tokens one by one, stop at the first miss."""
    ok = rng.random((n, k)) < a
    return np.where(ok.all(axis=1), k, np.argmin(ok, axis=1))


@pytest.mark.parametrize(("k", "a"), [(1, 0.5), (4, 0.7), (4, 0.9), (7, 0.3), (3, 0.0),
                                      (5, 1.0)])
def test_accepted_tokens_match_a_per_token_monte_carlo(k, a):
    n = 200_000
    draws = draw_accepted(np.random.default_rng(1), n, SpecDecode(None, k, a))
    brute = _monte_carlo(np.random.default_rng(2), n, k, a)
    # the whole distribution of accepted drafts, 0..k, agrees
    p_draw = np.bincount(draws, minlength=k + 1) / n
    p_brute = np.bincount(brute, minlength=k + 1) / n
    assert np.abs(p_draw - p_brute).max() < 0.006
    # and the mean tokens per step agrees with (1 − A^(K+1)) / (1 − A) (K + 1 at A = 1)
    expected = k + 1 if a == 1.0 else (1 - a ** (k + 1)) / (1 - a)
    assert SpecDecode(None, k, a).expected_tokens == pytest.approx(expected, rel=1e-12)
    sd = math.sqrt(max(brute.var(), 1e-12) / n)
    assert abs((1 + draws.mean()) - expected) < 5 * sd + 1e-12
    assert abs((1 + brute.mean()) - expected) < 5 * sd + 1e-12


def flat_cost(prefill, emits, d, ctx):
    """Prefill iterations 1.0 s, decode-only 0.1 s (a spec step is priced by the caller)."""
    return (1.0 if prefill else 0.1), 0.0


def one_request(prompt, output):
    return Traffic(ClosedLoop(1, 0.0), FixedLengths(prompt, output), 1)


@pytest.mark.parametrize("kind", [Policy.CONTINUOUS, Policy.CHUNKED, Policy.DISAGGREGATED])
def test_full_acceptance_by_hand(kind):
    # K = 3, A = 1: prefill [0, 1] emits token 1; each 0.1 s step then emits 4 tokens:
    # tokens 2-5 at 1.1, 6-9 at 1.2 → finish 1.2. TPOT = 0.2 / 8; ITL: two gaps of 0.1 s and
    # six tokens that arrive with the first of their step (0 s). (Disaggregated: the KV
    # hand-off is instantaneous with the default ReplicaSpec.)
    pol = ServingPolicy(kind, spec=SpecDecode(None, 3, 1.0))
    r = simulate_serving(ReplicaSpec(), flat_cost, one_request(10, 9), pol)
    assert r.per_request["first_token_s"][0] == pytest.approx(1.0)
    assert r.per_request["finish_s"][0] == pytest.approx(1.2)
    assert r.tpot["mean"] == pytest.approx(0.2 / 8)
    assert r.itl["mean"] == pytest.approx(0.2 / 8)
    assert r.itl["p50"] == 0.0 and r.itl["p99"] == pytest.approx(0.1)
    assert r.speculative["verify_steps"] == 2
    assert r.speculative["tokens_per_step"] == pytest.approx(4.0)


def test_zero_acceptance_advances_one_token_per_step():
    # A = 0: one token per step, as plain decoding: 1 + 8 steps of 0.1 s after the prefill
    plain = simulate_serving(ReplicaSpec(), flat_cost, one_request(10, 9), ServingPolicy())
    spec = simulate_serving(ReplicaSpec(), flat_cost, one_request(10, 9),
                            ServingPolicy(spec=SpecDecode(None, 4, 0.0)))
    assert spec.per_request["finish_s"][0] == pytest.approx(1.0 + 8 * 0.1)
    assert spec.per_request["finish_s"][0] == pytest.approx(plain.per_request["finish_s"][0])
    assert spec.speculative["verify_steps"] == 8
    assert spec.speculative["tokens_per_step"] == 1.0


def test_draws_follow_the_seed():
    tr = Traffic(ClosedLoop(4, 0.0), FixedLengths(10, 40), 12)
    pol = ServingPolicy(spec=SpecDecode(None, 4, 0.6))
    a, b, c = (simulate_serving(ReplicaSpec(), flat_cost, tr, pol, seed=s) for s in (3, 3, 4))
    assert np.array_equal(a.per_request["finish_s"], b.per_request["finish_s"])
    assert not np.array_equal(a.per_request["finish_s"], c.per_request["finish_s"])


def test_draft_slots_are_reserved():
    # block 4 tokens, K = 3, A = 1, prompt 5 (2 blocks). Before the first verify step the
    # sequence needs slots for 5 + 4 tokens: 3 blocks of 4 (plain decoding: 6 tokens, 2).
    def occupancy_at(t, r):
        return [v for s, v in r.kv_samples if s == pytest.approx(t)][-1]

    spec = simulate_serving(ReplicaSpec(kv_blocks=4), flat_cost, one_request(5, 9),
                            ServingPolicy(block_size=4, spec=SpecDecode(None, 3, 1.0)))
    plain = simulate_serving(ReplicaSpec(kv_blocks=4), flat_cost, one_request(5, 9),
                             ServingPolicy(block_size=4))
    assert occupancy_at(1.0, spec) == pytest.approx(3 / 4)
    assert occupancy_at(1.0, plain) == pytest.approx(2 / 4)
    # slots are capped by the tokens still to come: prompt 5 + output 3 fits 2 blocks alone
    # and finishes (one step of 2 tokens over 5 + 2 ≤ 8 slots)
    r = simulate_serving(ReplicaSpec(kv_blocks=2), flat_cost, one_request(5, 3),
                         ServingPolicy(block_size=4, spec=SpecDecode(None, 3, 1.0)))
    assert r.completed == 1 and r.per_request["finish_s"][0] == pytest.approx(1.1)


def test_spec_needs_a_continuous_kind_of_policy():
    with pytest.raises(InputError, match="speculative"):
        ServingPolicy(Policy.STATIC, spec=SpecDecode())


# ---- window-capped KV ------------------------------------------------------------------------

def test_gemma3_window_capped_kv_is_a_hand_count():
    # google/gemma-3-27b-it config.json: 62 layers, sliding_window 1024,
    # sliding_window_pattern 6 (every 6th layer global): 10 global + 52 sliding layers.
    m = load_model("gemma-3-27b")
    c = 32_768
    hand = 10 * c + 52 * 1024
    assert layer_tokens(kv_groups(m), c) == hand
    assert layer_tokens(kv_groups(m), 700) == 62 * 700  # below the window: every layer full
    # blocks of 16 tokens × 62 layers, rounded up per sequence
    assert WindowKvPool(10, 16, kv_groups(m)).blocks_for(c) == math.ceil(hand / (62 * 16))
    # the mapper's resident KV of a decode step ending at c cached tokens holds the same keys
    tr = build_trace(m, Scenario(Phase.DECODE, 1, context=c - 1))
    res = tr.resident
    per_layer_token = res.stage_kv_bytes_per_token[0] / 62
    assert res.stage_kv_bytes[0] == pytest.approx(hand * per_layer_token, rel=1e-12)


def test_chunked_local_layers_keep_their_chunk():
    # Llama-4 chunked local attention, chunk 8192 (every 4th layer global): at 20,000 tokens a
    # local layer keeps 20,000 − 2 × 8192 = 3,616 keys
    m = load_model("llama-4-scout")
    g = kv_groups(m)
    n_global = sum(n for w, ch, n in g if not w and not ch)
    n_local = sum(n for w, ch, n in g if ch == 8192)
    assert n_global + n_local == m.num_layers == 48 and n_global == 12
    assert layer_tokens(g, 20_000) == 12 * 20_000 + 36 * (20_000 - 2 * 8192)


def test_llama4_chunked_decode_is_priced_at_its_current_chunk():
    # meta-llama/Llama-4-Scout config.json: attention_chunk_size 8192. A decode step over a
    # context of 8,300 tokens: its query (position 8,300) attends 8300 mod 8192 + 1 = 109 keys
    # in a chunked layer, 8,301 in a global one. serve's table must price what the mapper
    # prices there, also just past a chunk end (interpolating across the drop charged the
    # previous chunk: +2.7% at 8,193 keys before nodes sat on both sides of it).
    from infersim.simulator.serving.costs import MapperIterationCost

    m = load_model("llama-4-scout")
    tr = build_trace(m, Scenario(Phase.DECODE, 1, context=8300))
    keys = {o.name: o.shape.kv_tokens for o in tr.ops if o.kind is OpKind.ATTENTION}
    assert keys == {"attention": 8301, "attention_chunked": 109}
    assert layer_tokens(kv_groups(m), 8301) == 12 * 8301 + 36 * 109
    cost = MapperIterationCost(m, load_hardware("h100-sxm"))
    for x in (8192, 8193, 8301, 16385):
        want = cost.device_step(cost.schedule(cost.scenario(Phase.DECODE, 2, context=x - 1)))
        got = cost.device([], 0, 2, 2 * x)
        assert got[0] == pytest.approx(want[0], rel=1e-3)


@pytest.mark.parametrize(("model", "low", "high"), [("llama-4-scout", 50, 8300),
                                                    ("gemma-3-27b", 300, 6000)])
def test_mixed_contexts_price_each_group_at_its_own_keys(model, low, high):
    # 32 decoders at `low` cached tokens and 32 at `high`: every part of a memory-bound decode
    # step is affine in the keys its layers read, so the batch costs the mean of the mapper's
    # two uniform batches (64 at low, 64 at high). Pricing every layer at the mean context
    # instead charges Llama-4's chunked layers (50 + 8,300)/2 + 1 keys, not (51 + 109)/2.
    import types

    from infersim.simulator.serving.costs import MapperIterationCost
    from infersim.simulator.serving.speculative import GroupKeysCost

    m = load_model(model)
    cost = MapperIterationCost(m, load_hardware("h100-sxm"))
    groups = kv_groups(m)
    zones = [(w, ch) for w, ch, _ in groups if w or ch]
    keys = [32 * sum(min(c + 1, w) if w else c % ch + 1 for c in (low, high))
            for w, ch in zones]
    priced = GroupKeysCost(cost, groups, types.SimpleNamespace(group_keys=lambda: keys))
    ctx = 32 * (low + 1 + high + 1)
    want = sum(cost.device_step(cost.schedule(cost.scenario(Phase.DECODE, 64, context=c)))[0]
               for c in (low, high)) / 2
    assert priced([], 0, 64, ctx)[0] == pytest.approx(want, rel=1e-6)
    assert cost([], 0, 64, ctx)[0] > 1.05 * want  # every layer at the mean context
    # equal contexts: nothing moves
    same = [64 * (min(high + 1, w) if w else high % ch + 1) for w, ch in zones]
    even = GroupKeysCost(cost, groups, types.SimpleNamespace(group_keys=lambda: same))
    assert even([], 0, 64, 64 * (high + 1)) == cost([], 0, 64, 64 * (high + 1))


def test_stepwise_engine_sums_each_groups_keys():
    # a serve engine of a windowed model wraps the mapper's cost; its key sums by hand for
    # decoders at 5 and 20 cached tokens, window 8 and chunk 16: 6 + 8 and 6 + 5
    import simpy

    from infersim.simulator.serving.costs import MapperIterationCost
    from infersim.simulator.serving.metrics import Collector
    from infersim.simulator.serving.replica import Seq
    from infersim.simulator.serving.schedulers import make_replica
    from infersim.simulator.serving.speculative import GroupKeysCost

    cost = MapperIterationCost(load_model("llama-3.2-1b"), load_hardware("h100-sxm"))
    groups = ((0, 0, 1), (8, 0, 1), (0, 16, 1))
    e = make_replica(simpy.Environment(), 0, ServingPolicy(), 100, 0.0, 1e9, cost,
                     Collector(2, False), groups=groups)
    assert isinstance(e.cost, GroupKeysCost)
    for rid, c in enumerate((5, 20)):
        s = Seq(rid, c, 4)
        s.cache = c
        e.dec[rid] = s
    assert e.group_keys() == [6 + 8, 6 + 5]


@pytest.mark.parametrize("groups", [((0, 0, 1), (8, 0, 3)), ((0, 0, 2), (0, 16, 2)),
                                    ((8, 0, 2), (32, 0, 1)), ((0, 0, 3),), ((0, 12, 2),)])
def test_room_is_safe_and_tight(groups):
    # brute force over lengths: kept keys per layer counted one by one (a chunked layer keeps
    # the keys of its current chunk: positions ⌊(c − 1)/chunk⌋·chunk … c − 1)
    pool = WindowKvPool(10, 4, groups)

    def kept(c):
        out = 0
        for w, ch, n in groups:
            first = max(c - w, 0) if w else (c - 1) // ch * ch if ch and c else 0
            out += n * (c - first)
        return out

    assert all(pool.held(c) == kept(c) for c in range(300))
    assert all(pool.peak(c) == max(kept(x) for x in range(c + 1)) for c in range(300))
    for b in range(1, 30):
        for start in range(1, 120):
            if pool.blocks_for(start) > b:
                continue
            c = pool.room(b, start)
            if c >= 1 << 62:
                assert all(w for w, _, _ in groups) and pool.peak(10**6) <= b * pool._den
                continue
            assert c >= start and all(kept(x) <= b * pool._den for x in range(start, c + 1))
            # tight: the next length needs more, or starts a new chunk (checked again there)
            chunked = [ch for _, ch, _ in groups if ch]
            assert kept(c + 1) > b * pool._den or any(c % ch == 0 for ch in chunked)


def test_chunked_blocks_are_freed_at_a_chunk_boundary():
    # 1 global + 2 chunked layers (chunk 8), block 4 tokens: 3·4 = 12 layer-tokens per block.
    # At c = 8: 8 + 2·8 = 24 → 2 blocks; at c = 9 the chunked layers hold only token 8:
    # 9 + 2·1 = 11 → 1 block; at 16, 16 + 2·8 = 32 → 3; at 17, 17 + 2 = 19 → 2 (peak still 3).
    pool = WindowKvPool(10, 4, ((0, 0, 1), (0, 8, 2)))
    assert [pool.blocks_for(c) for c in (8, 9, 16, 17)] == [2, 1, 3, 2]
    assert pool.peak_blocks(16) == 3 and pool.peak_blocks(17) == 3


def test_chunk_boundary_frees_blocks_in_a_run():
    # 1 global + 3 chunked layers (chunk 8), block 4: 16 layer-tokens per block, a pool of 5.
    # A and B (prompt 7, output 6) prefill together [0, 1] (7 + 21 = 28 → 2 blocks each) and
    # decode 5 steps of 0.1 s to cache 12. Past token 8 the chunked layers start a new chunk:
    # c = 9 holds 9 + 3 = 12 (1 block), c = 12 holds 12 + 12 = 24 (2): never more than 2 each,
    # so both finish at 1.5 without preemption. A window of 8 instead (12 + 24 = 36 → 3 blocks
    # each, 6 > 5) must preempt.
    tr = Traffic(ClosedLoop(2, 0.0), FixedLengths(7, 6), 2)
    pol = ServingPolicy(block_size=4)
    chunked = simulate_serving(ReplicaSpec(kv_blocks=5, kv_groups=((0, 0, 1), (0, 8, 3))),
                               flat_cost, tr, pol)
    assert chunked.preemptions == 0
    assert chunked.per_request["finish_s"] == pytest.approx([1.5, 1.5])
    window = simulate_serving(ReplicaSpec(kv_blocks=5, kv_groups=((0, 0, 1), (8, 0, 3))),
                              flat_cost, tr, pol)
    assert window.preemptions >= 1


def test_admission_uses_the_capped_count():
    # 4 layers (1 global, 3 with window 8), block 4 tokens: a request of 40 + 4 tokens holds
    # ⌈(44 + 3·8) / 16⌉ = 5 blocks capped, ⌈44 / 4⌉ = 11 uncapped. A pool of 8 blocks serves
    # it only with the cap.
    groups = ((0, 0, 1), (8, 0, 3))
    tr = one_request(40, 4)
    pol = ServingPolicy(block_size=4)
    capped = simulate_serving(ReplicaSpec(kv_blocks=8, kv_groups=groups), flat_cost, tr, pol)
    full = simulate_serving(ReplicaSpec(kv_blocks=8), flat_cost, tr, pol)
    assert capped.completed == 1 and full.rejected == 1
    # 3 decode steps after the prefill: the same timings as the uncapped engine would have
    assert capped.per_request["finish_s"][0] == pytest.approx(1.0 + 3 * 0.1)


@pytest.mark.parametrize("preemption", ["recompute", "swap"])
def test_preemption_by_hand(preemption):
    # block 4, 4 blocks, K = 3, A = 1; A and B: prompt 4, output 9, both at t = 0.
    # [0, 1] both prefill (1 block each), token 1. Step 1 needs slots for 4 + 4 tokens: 2
    # blocks each, [1.0, 1.1] → 5 tokens each, cache 8. Step 2 needs 3 blocks each: B (the
    # later arrival) is preempted, A runs [1.1, 1.2] → 9 tokens, done, frees its 3 blocks.
    # recompute: B prefills its 4 + 5 tokens [1.2, 2.2] (token 6), then one step of 3 tokens
    # [2.2, 2.3]. swap (no host traffic here: 0 KV bytes): B swaps back in, [1.2, 1.3] → done.
    tr = Traffic(ClosedLoop(2, 0.0), FixedLengths(4, 9), 2)
    pol = ServingPolicy(block_size=4, preemption=preemption, spec=SpecDecode(None, 3, 1.0))
    r = simulate_serving(ReplicaSpec(kv_blocks=4), flat_cost, tr, pol)
    assert r.preemptions == 1 and r.completed == 2
    assert r.per_request["first_token_s"] == pytest.approx([1.0, 1.0])
    b_end = 2.3 if preemption == "recompute" else 1.3
    assert r.per_request["finish_s"] == pytest.approx([1.2, b_end])


def _full_scan_need(self):
    """Reference `_decode_need`: every decoder's blocks recounted every iteration."""
    need = {rid: self._need(s) for rid, s in self.dec.items()}
    total = sum(need.values())
    while total > self.kv.free and self.dec:
        rid = -heapq.heappop(self._victims)
        s = self.dec.get(rid)
        if s is not None:
            total -= need.pop(rid)
            self._preempt(s)
    for rid, n in need.items():
        self.dec[rid].blocks += n
    self.kv.take(total)


@pytest.mark.parametrize(("preemption", "kind", "groups"), [
    ("recompute", Policy.CONTINUOUS, ((0, 0, 1), (24, 0, 3))),
    ("swap", Policy.CONTINUOUS, ((0, 0, 1), (24, 0, 3))),
    ("recompute", Policy.CHUNKED, ((0, 0, 1), (24, 0, 3))),
    ("recompute", Policy.CONTINUOUS, ((0, 0, 1), (0, 32, 3))),
    ("swap", Policy.CHUNKED, ((0, 0, 1), (0, 32, 3)))])
def test_block_checks_match_a_full_scan(monkeypatch, preemption, kind, groups):
    # a tight, windowed (or chunked-local) pool with speculation: preemptions on every path;
    # the due-iteration heap must give the very same run as recounting every decoder every
    # iteration
    tr = Traffic(Poisson(40.0), SampledLengths(Uniform(8, 120), Uniform(4, 90)), 300)
    pol = ServingPolicy(kind, block_size=4, preemption=preemption, max_tokens=512,
                        spec=SpecDecode(None, 3, 0.6))
    sp = ReplicaSpec(kv_blocks=160, kv_groups=groups)
    fast = simulate_serving(sp, flat_cost, tr, pol, seed=5)
    monkeypatch.setattr(StepwiseDecode, "_decode_need", _full_scan_need)
    slow = simulate_serving(sp, flat_cost, tr, pol, seed=5)
    assert fast.preemptions > 10
    assert fast.preemptions == slow.preemptions
    for k in ("first_token_s", "finish_s"):
        assert np.array_equal(fast.per_request[k], slow.per_request[k], equal_nan=True)


def test_disaggregated_hand_off_moves_the_capped_kv():
    # 1 global + 3 window-8 layers, 1 B of KV per all-layer token, 100 B/s: a 40-token prompt
    # moves (40 + 3·8) / 4 = 16 tokens' worth, 0.16 s (uncapped 0.4 s); then one 0.1 s step
    groups = ((0, 0, 1), (8, 0, 3))
    tr = one_request(40, 2)
    pol = ServingPolicy(Policy.DISAGGREGATED)
    for g, end in ((groups, 1.26), ((), 1.5)):
        sp = ReplicaSpec(kv_bytes_per_token_per_chip=1.0, kv_transfer_Bps=100.0, kv_groups=g)
        r = simulate_serving(sp, flat_cost, tr, pol)
        assert r.per_request["finish_s"][0] == pytest.approx(end)


# ---- against the mapper ------------------------------------------------------------------------

@pytest.mark.parametrize(("model", "drafter"), [("llama-3.2-1b", None),
                                                ("llama-3.1-8b", "llama-3.2-1b")])
def test_serve_step_equals_simulate(model, drafter):
    # A = 1, K = 2: prompt 16, output 7 → two verify steps of 3 tokens, over 16 then 19
    # cached tokens (both nodes of the cost table)
    from infersim.api import simulate

    sd = SpecDecode(drafter, 2, 1.0)
    r = serve(model, "h100-sxm", one_request(16, 7), ServingPolicy(spec=sd))
    steps = [simulate(model, "h100-sxm", "spec_decode", 1, context=c, draft_model=drafter,
                      draft_len=2, acceptance=1.0).latency_s for c in (16, 19)]
    pr = r.per_request
    assert pr["finish_s"][0] - pr["first_token_s"][0] == pytest.approx(sum(steps), rel=1e-9)
    # the first token: the target's prefill, plus the draft model's own prefill of the prompt
    ttft = simulate(model, "h100-sxm", "prefill", 1, prompt=16).latency_s
    if drafter is not None:
        ttft += simulate(drafter, "h100-sxm", "prefill", 1, prompt=16).latency_s
    assert pr["first_token_s"][0] - pr["arrival_s"][0] == pytest.approx(ttft, rel=1e-9)


def test_mixed_iteration_shares_the_token_parallel_work():
    # a verify step with a prefill chunk in it costs more than either alone and less than
    # both run one after the other (the weights are read once for all tokens)
    from infersim.simulator.serving.costs import MapperIterationCost
    from infersim.simulator.serving.speculative import SpecIterationCost

    base = MapperIterationCost(load_model("llama-3.1-8b"), load_hardware("h100-sxm"))
    c = SpecIterationCost(base, SpecDecode(None, 4, 0.7))
    spec_only = c([], 0, 8, 8 * 513)[0]
    prefill_only = c([(256, 0)], 1, 0, 0)[0]
    mixed = c([(256, 0)], 1, 8, 8 * 513)[0]
    assert max(spec_only, prefill_only) < mixed < spec_only + prefill_only
    assert spec_only == pytest.approx(c.step(8, 512)[0], rel=1e-12)


def test_higher_acceptance_lowers_tpot_and_zero_costs_extra():
    tr = Traffic(ClosedLoop(4, 0.0), FixedLengths(256, 64), 16)
    plain = serve("llama-3.2-1b", "h100-sxm", tr).tpot["mean"]
    tpot = [serve("llama-3.2-1b", "h100-sxm", tr,
                  ServingPolicy(spec=SpecDecode(None, 4, a))).tpot["mean"]
            for a in (0.0, 0.5, 0.8, 0.95)]
    assert tpot[0] > plain  # A = 0: a token per step, plus the heads and a 5-token verify
    assert all(x > y for x, y in itertools.pairwise(tpot))


def test_cli_serve_spec_decode_and_bad_input(capsys):
    small = ["serve", "--model", "llama-3.2-1b", "--hw", "h100-sxm", "--requests", "20",
             "--prompt", "128", "--output", "32"]
    assert main([*small, "--spec-decode", "medusa", "--spec-tokens", "3", "--acceptance",
                 "0.6", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["spec_draft_len"] == 3 and d["spec_acceptance"] == 0.6
    assert 1.0 <= d["spec_tokens_per_step"] <= 4.0
    assert main([*small, "--spec-decode", "draft:llama-3.2-1b"]) == 0
    assert "tokens per verify step" in capsys.readouterr().out
    for extra, needle in ((["--spec-decode", "eagle"], "--spec-decode"),
                          (["--acceptance", "0.5"], "--spec-decode"),
                          (["--spec-decode", "mtp", "--acceptance", "2"], "acceptance"),
                          (["--spec-decode", "mtp"], "--spec-decode medusa or draft:MODEL"),
                          (["--spec-decode", "draft:no-such-model"], "no-such-model"),
                          (["--spec-decode", "medusa", "--policy", "static"], "static")):
        assert main([*small, *extra]) == 2
        err = capsys.readouterr().err.strip()
        assert needle in err and len(err.splitlines()) == 1 and "Traceback" not in err


def test_spec_iteration_gets_one_serving_floor_of_what_it_streams():
    # behind a streaming front end (trtllm-triton-v011: 144.9 µs per chunk, a chunk per decoder per
    # step), a verify step of D decoders lasts at least D × 144.9 µs; the table holds the
    # device step only, so a small batch costs its device time
    from infersim.hwmodels.models.gpu.engines import frontend_floor, lookup
    from infersim.simulator.serving.costs import MapperIterationCost
    from infersim.simulator.serving.speculative import SpecIterationCost

    hw = load_hardware("h100-sxm")
    sd = SpecDecode(None, 2, 0.7)
    base = MapperIterationCost(load_model("llama-3.2-1b"), hw, runtime="trtllm-triton-v011")
    c = SpecIterationCost(base, sd)
    prof = lookup("trtllm-triton-v011")
    for d in (1, 256):
        dev = c.step(d, 128.0)[0]
        floor = frontend_floor(prof, d)
        assert floor == pytest.approx(d * 144.9e-6, rel=1e-12)
        assert c([], 0, d, d * 129)[0] == pytest.approx(max(dev, floor), rel=1e-12)
    assert c.step(1, 128.0)[0] > frontend_floor(prof, 1)  # one decoder: the device binds
    assert c([], 0, 256, 256 * 129)[0] == pytest.approx(256 * 144.9e-6)  # the floor binds
    assert c.step(256, 128.0)[0] < frontend_floor(prof, 256)  # not folded into the table
