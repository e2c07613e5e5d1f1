"""Prefix caching with sliding-window and chunked-local layer groups (`WindowPrefixKvPool`).

Expected values come from a block-by-block replay with one set per layer group (no ranges,
no run tables), from hand counts on a hand-made sequence of requests, and from counting the
pool's state after a run (every reference returned)."""

from __future__ import annotations

import numpy as np
import pytest

from infersim.simulator.serving import (
    Poisson,
    Prefixes,
    SampledLengths,
    ServingPolicy,
    Traffic,
    Uniform,
    simulate_serving,
)
from infersim.simulator.serving.replica import Seq
from infersim.simulator.serving.serve import ReplicaSpec
from infersim.simulator.serving.speculative import WindowPrefixKvPool
from infersim.simulator.serving.traffic import generate

BS = 4


def cost(prefill, emits, d, ctx):
    """Prefill time grows with the uncached tokens only; decode a fixed 10 ms."""
    return (0.002 + 1e-4 * sum(q for q, _ in prefill) if prefill else 0.01), 1.0


def first_block(w, ch, t):
    """The block of the first key a layer still keeps after t tokens (written out: a window
    keeps its last w tokens, a chunked layer the tokens since its chunk's start)."""
    if w:
        return max(t - w, 0) // BS
    if ch and t:
        return (t - 1) // ch * ch // BS
    return 0


def replay(traffic, seed, groups):
    """One request at a time with room for everything (nothing evicted): per group, the set
    of cached block names. A look-up hits h blocks when every global group has blocks 0..h−1
    and every windowed group has its blocks first_block(h·BS)..h−1 (largest such h below the
    block of the prompt's last token); all full blocks a request wrote are cached when it
    finishes (prompt + output − 1 tokens)."""
    t = generate(traffic, np.random.default_rng(seed))
    sys_tokens = traffic.prefixes.system_tokens
    sets = [set() for _ in groups]
    hits = looked = 0
    reused = [0] * len(groups)
    for i in range(len(t)):
        p, o = int(t.prompt_tokens[i]), int(t.output_tokens[i])
        k, c = int(t.system_id[i]), int(t.conversation[i])

        def name(j, k=k, c=c):
            return ("sys", k, j) if (j + 1) * BS <= sys_tokens and k >= 0 else ("conv", c, j)

        limit = (p - 1) // BS
        looked += limit

        def ok(h):
            return all(name(j) in s for (w, ch, _), s in zip(groups, sets, strict=True)
                       for j in range(first_block(w, ch, h * BS), h))

        h = limit
        while not ok(h):
            h -= 1
        hits += h
        for g, (w, ch, _) in enumerate(groups):
            if h:
                reused[g] += h - first_block(w, ch, h * BS)
        for s in sets:
            s.update(name(j) for j in range((p + o - 1) // BS))
    return hits, looked, reused, [len(s) for s in sets]


@pytest.mark.parametrize("groups", [((0, 0, 1), (8, 0, 3)), ((0, 0, 1), (0, 16, 3)),
                                    ((10, 0, 2),), ((0, 0, 2), (6, 0, 1), (0, 12, 1))])
def test_group_hits_and_cached_blocks_equal_a_replay(groups):
    traffic = Traffic(Poisson(50.0), SampledLengths(Uniform(5, 30), Uniform(2, 12)), 200,
                      Prefixes(system_prompts=3, system_tokens=40, turns=3))
    pol = ServingPolicy(max_batch=1, block_size=BS, prefix_caching=True)
    r = simulate_serving(ReplicaSpec(kv_blocks=100_000, kv_bytes_per_token_per_chip=8.0,
                                     kv_groups=groups), cost, traffic, pol, seed=3)
    assert r.completed == 200
    hits, looked, reused, cached = replay(traffic, 3, groups)
    pc = r.prefix_cache
    assert (pc["hit_blocks"], pc["query_blocks"]) == (hits, looked)
    assert 0 < hits < looked
    layers = sum(n for _, _, n in groups)
    for g, (w, ch, n) in enumerate(groups):
        name = f"window{w}" if w else f"chunk{ch}" if ch else "global"
        assert pc[f"{name}_layers"] == n
        assert pc[f"{name}_hit_blocks"] == reused[g]
        assert pc[f"{name}_cached_blocks_peak"] == cached[g]
        # a block of one layer: 4 tokens × 8 B per all-layer token / layers
        assert pc[f"{name}_cache_bytes_peak_per_chip"] == pytest.approx(
            cached[g] * n * BS * 8.0 / layers)
    assert all(reused[g] < hits for g, (w, ch, _) in enumerate(groups) if w or ch)


def test_window_hit_needs_only_its_last_window_and_loses_to_lru_first():
    # By hand. 1 global layer + 3 layers with a window of 8 tokens (2 blocks of 4), a pool of
    # 8 all-layer blocks = 32 layer-blocks (a global block costs 1, a window block 3).
    # A: system prompt 0 (16 tokens, blocks s0..s3) + 4 tokens (block a4), output 2.
    #   look-up: nothing. Holds global 0..4 (5) + window 3..4 (2 × 3 = 6): 11 taken.
    #   After the prefill (20 tokens, 5 full blocks): window blocks s2, s1, s0 are below the
    #   window: cached evictable (9 more layer-blocks, LRU: w-s2, w-s1, w-s0).
    #   decode to 21 tokens: +1 global, +1 window block (4). Finish: global a4..s0 then window
    #   a4, s3 join the LRU; the private block 5 is freed.
    pool = WindowPrefixKvPool(8, BS, ((0, 0, 1), (8, 0, 3)))
    a = Seq(0, 20, 2)
    a.sys_owner, a.sys_full, a.owner = 0, 4, 10
    assert pool.acquire(a, 20) == 0
    pool.take(pool.admit_units(a, 20, 0))
    assert pool.free == 32 - 11
    a.cache, a.blocks = 20, pool.blocks_for(20)
    assert a.blocks == 11
    pool.register(a, 20)
    assert pool.units == [5, 5] and pool.evictable == 9 and pool.free == 21
    pool.slide(a, 21)
    grow = pool.span(21, 21) - a.blocks
    assert grow == 4
    pool.take(grow)
    a.blocks += grow
    a.cache = 21
    pool.release_seq(a)
    assert pool.free == 32 and pool.evictable == 20  # 5 global + 5 window blocks cached
    # B: another system prompt, 20 + 2 tokens: 15 layer-blocks while running, and its own 3
    # window blocks below the window after its prefill. Empty room is 12 when B takes 11:
    # then 1 left, so caching B's below-window blocks evicts the oldest: A's w-s2, w-s1,
    # w-s0 (one per block of 3).
    b = Seq(1, 20, 2)
    b.sys_owner, b.sys_full, b.owner = 1, 4, 11
    assert pool.acquire(b, 20) == 0
    pool.take(pool.admit_units(b, 20, 0))
    b.cache, b.blocks = 20, pool.blocks_for(20)
    pool.register(b, 20)
    w = pool.by_group[1]
    assert [(0 * 2 + 1, j) in w for j in range(4)] == [False, False, False, True]
    assert pool.by_group[0].keys() >= {(1, j) for j in range(4)}
    # C: system prompt 0 again, 20 tokens: the global group still has s0..s3 (run of 4), but
    # the window group at 4 blocks needs s2, s3 and s2 is gone; at 3 it needs s1, s2; at 2,
    # s0, s1; at 1, s0: no hit. (A full-layer cache would have hit 4 blocks.)
    c = Seq(2, 20, 2)
    c.sys_owner, c.sys_full, c.owner = 0, 4, 12
    assert pool.acquire(c, 20) == 0
    assert pool.counts[3] == 0 and pool.reused == [0, 0]
    # D: system prompt 1 (B's, still cached in both groups): 4 blocks hit; the window group
    # reuses its last window, blocks 2 and 3.
    d = Seq(3, 20, 2)
    d.sys_owner, d.sys_full, d.owner = 1, 4, 13
    assert pool.acquire(d, 20) == 4
    assert pool.reused == [4, 2]


def test_every_reference_comes_back():
    # a tight pool with preemptions: after the run no block is referenced, every cached block
    # is evictable, and all of the pool is free again
    import infersim.simulator.serving.speculative as sp

    pools = []

    class Spy(sp.WindowPrefixKvPool):
        def __init__(self, *a, **k):
            super().__init__(*a, **k)
            pools.append(self)

    traffic = Traffic(Poisson(50.0), SampledLengths(Uniform(5, 30), Uniform(2, 12)), 300,
                      Prefixes(system_prompts=3, system_tokens=40, turns=3))
    for groups, policy in ((((0, 0, 1), (8, 0, 3)), "continuous"),
                           (((0, 0, 1), (0, 16, 3)), "chunked")):
        pools.clear()
        mp = pytest.MonkeyPatch()
        mp.setattr(sp, "WindowPrefixKvPool", Spy)
        try:
            r = simulate_serving(ReplicaSpec(kv_blocks=25, kv_groups=groups), cost, traffic,
                                 ServingPolicy(policy, max_batch=8, block_size=BS,
                                               prefix_caching=True), seed=4)
        finally:
            mp.undo()
        kv = pools[0]
        assert r.completed == 300 and r.preemptions > 5
        assert not any(v for d in kv.by_group for v in d.values())
        cached = sum(kv.zones[g][2] * kv.units[g] for g in range(len(groups)))
        assert kv.free == kv.total and kv.evictable == kv.ncached == cached


def test_cli_reports_each_layer_group(capsys):
    # GPT-OSS-20B (openai/gpt-oss-20b config.json): 24 layers alternating a 128-token window
    # and full attention: 12 + 12. 40 requests share one 512-token system prompt (32 blocks):
    # the global group reuses all 32 blocks of each hit, the window group its last 128
    # tokens (8 blocks).
    import json

    from infersim.cli import main

    base = ["serve", "--model", "gpt-oss-20b", "--hw", "h100-sxm", "--rate", "4",
            "--requests", "40", "--prompt", "64", "--output", "8", "--system-prompts", "1",
            "--system-tokens", "512", "--prefix-caching"]
    assert main([*base, "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["prefix_global_layers"] == 12 and d["prefix_window128_layers"] == 12
    assert d["prefix_hit_blocks"] == 32 * 39
    assert d["prefix_global_hit_blocks"] == 32 * 39
    assert d["prefix_window128_hit_blocks"] == 8 * 39
    # equal layer counts: a cached block costs the same in both groups
    g, w = (d[f"prefix_{k}_cache_bytes_peak_per_chip"] / d[f"prefix_{k}_cached_blocks_peak"]
            for k in ("global", "window128"))
    assert g == pytest.approx(w)
    assert main(base) == 0
    out = capsys.readouterr().out
    assert "global layers (12)" in out and "window128 layers (12)" in out


@pytest.mark.parametrize("groups", [((0, 0, 1), (8, 0, 3)), ((0, 0, 1), (0, 16, 3)),
                                    ((6, 0, 2),)])
def test_block_checks_only_when_blocks_can_change(monkeypatch, groups):
    # a decoder's windows are rechecked only once its top block fills or a window's first
    # block moves (`steady`); rechecking every iteration must give the very same run
    traffic = Traffic(Poisson(50.0), SampledLengths(Uniform(5, 40), Uniform(2, 30)), 300,
                      Prefixes(system_prompts=3, system_tokens=40, turns=3))
    pol = ServingPolicy("chunked", max_batch=8, block_size=BS, prefix_caching=True)
    sp = ReplicaSpec(kv_blocks=25, kv_groups=groups)
    fast = simulate_serving(sp, cost, traffic, pol, seed=2)
    monkeypatch.setattr(WindowPrefixKvPool, "steady", lambda self, a, t: t)
    slow = simulate_serving(sp, cost, traffic, pol, seed=2)
    assert fast.preemptions == slow.preemptions
    assert fast.preemptions > 5 or all(w for w, _, _ in groups)  # windows only: room enough
    assert fast.prefix_cache == slow.prefix_cache
    for k in ("first_token_s", "finish_s"):
        assert np.array_equal(fast.per_request[k], slow.per_request[k], equal_nan=True)
