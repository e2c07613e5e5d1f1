"""The range-based prefix cache (`kv_pool.PrefixKvPool`) against a block-by-block reference:
the same simulation, event for event, on workloads that evict, preempt and share prefixes."""

from __future__ import annotations

import sys
from collections import OrderedDict
from typing import Any

import numpy as np
import pytest

from infersim.simulator.serving import (
    Lognormal,
    Poisson,
    Prefixes,
    SampledLengths,
    ServingPolicy,
    Traffic,
    simulate_serving,
)
from infersim.simulator.serving import replica as replica_module
from infersim.simulator.serving.kv_pool import KvBlockPool
from infersim.simulator.serving.serve import ReplicaSpec

OWNER_SHIFT = 20


class BlockwisePool(KvBlockPool):
    """One dict entry per cached block and an LRU of block keys (O(blocks) per call)."""

    __slots__ = ("cached", "counts", "lru", "peak_cached")

    def __init__(self, blocks: int, block_size: int) -> None:
        super().__init__(blocks, block_size)
        self.cached: dict[int, int] = {}
        self.lru: OrderedDict[int, None] = OrderedDict()
        self.peak_cached = 0
        # query tokens, hit tokens, query blocks, hit blocks
        self.counts = [0, 0, 0, 0]

    def take(self, blocks: int) -> None:
        self.free -= blocks
        n = min(len(self.lru) - self.free, len(self.lru))  # evictions so the take fits
        if n > 0:
            pop, cached = self.lru.popitem, self.cached
            for _ in range(n):
                del cached[pop(last=False)[0]]

    def acquire(self, s: Any, prompt: int) -> int:
        """Reference the longest cached prefix of `s`'s prompt (at most the blocks before its
        last token, which must be computed to emit a token); return the blocks hit."""
        limit = (prompt - 1) // self.block_size
        cached = self.cached
        sb, ob, sf = s.sys_owner << OWNER_SHIFT, s.owner << OWNER_SHIFT, s.sys_full
        h = 0
        while h < limit:
            k = (sb if h < sf else ob) | h
            r = cached.get(k)
            if r is None:
                break
            if r == 0:
                del self.lru[k]
                self.free -= 1
            cached[k] = r + 1
            h += 1
        s.keyed = h
        c = self.counts
        c[0] += prompt
        c[1] += h * self.block_size
        c[2] += limit
        c[3] += h
        return h

    def register(self, s: Any, tokens: int) -> None:
        """`s` has computed KV for `tokens` tokens: its full blocks become cached (referenced
        by `s`), up to the first one another sequence already cached."""
        cached = self.cached
        sb, ob, sf = s.sys_owner << OWNER_SHIFT, s.owner << OWNER_SHIFT, s.sys_full
        for j in range(s.keyed, tokens // self.block_size):
            k = (sb if j < sf else ob) | j
            if k in cached:
                break
            cached[k] = 1
            s.keyed = j + 1
        if len(cached) > self.peak_cached:
            self.peak_cached = len(cached)

    def release_seq(self, s: Any) -> None:
        self.register(s, s.cache)
        cached, lru = self.cached, self.lru
        sb, ob, sf = s.sys_owner << OWNER_SHIFT, s.owner << OWNER_SHIFT, s.sys_full
        freed = s.blocks - s.keyed
        for j in range(s.keyed - 1, -1, -1):
            k = (sb if j < sf else ob) | j
            r = cached[k] - 1
            cached[k] = r
            if r == 0:
                lru[k] = None
                freed += 1
        self.free += freed
        s.keyed = 0


def cost(prefill, emits, d, ctx):
    t = 0.002 + 1e-5 * sum(q for q, _ in prefill) + 1e-6 * ctx if prefill else 0.01 + 1e-7 * ctx
    return t, 1.0


def run(monkeypatch, pool, blocks, policy, px, seed):
    serve_module = sys.modules["infersim.simulator.serving.serve"]
    if pool is not None:
        monkeypatch.setattr(replica_module, "PrefixKvPool", pool)
        monkeypatch.setattr(serve_module, "PrefixKvPool", pool)
    tr = Traffic(Poisson(30.0), SampledLengths(Lognormal.from_mean(300, 0.8, 1, 3000),
                                               Lognormal.from_mean(60, 0.8, 1, 600)), 800, px)
    r = simulate_serving(ReplicaSpec(kv_blocks=blocks), cost, tr,
                         ServingPolicy(kind=policy, prefix_caching=True, max_tokens=4096),
                         seed=seed)
    monkeypatch.undo()
    return r


@pytest.mark.parametrize("blocks", [300, 3000])
@pytest.mark.parametrize("policy", ["continuous", "chunked"])
@pytest.mark.parametrize("px", [Prefixes(4, 200, 3), Prefixes(0, 0, 5), None])
def test_range_pool_replays_the_blockwise_pool(monkeypatch, blocks, policy, px):
    a = run(monkeypatch, None, blocks, policy, px, 1)
    b = run(monkeypatch, BlockwisePool, blocks, policy, px, 1)
    assert a.prefix_cache == b.prefix_cache and a.prefix_cache["query_blocks"] > 0
    for k, v in a.per_request.items():
        assert np.array_equal(v, b.per_request[k], equal_nan=True), k
    assert (a.preemptions, a.itl) == (b.preemptions, b.itl)
