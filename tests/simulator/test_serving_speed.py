"""The serving simulator's speed memos change no result: table brackets, decode-cost cells and the
preemption-victim heap (`benchmarks/bench_serve.py` measures the speed itself)."""

from __future__ import annotations

import heapq
import random
from bisect import bisect_left

import pytest

from infersim.simulator.serving import (
    FixedLengths,
    MapperIterationCost,
    Poisson,
    ServingPolicy,
    Traffic,
    replica,
    simulate_serving,
)
from infersim.simulator.serving.costs import Axis
from infersim.simulator.serving.serve import ReplicaSpec
from tests._support import h100_like


@pytest.mark.parametrize("axis", [Axis(512, 32, tile=128, tiles_upto=16384), Axis(16, 16),
                                  Axis(16, 4, first=0),
                                  Axis(16, 8, tile=128, tiles_upto=4096, snap_above=128)])
def test_bracket_equals_a_scan_of_the_nodes_also_when_remembered(axis):
    rng = random.Random(1)
    nodes = axis.nodes
    xs = [rng.randint(nodes[0], 40_000) for _ in range(300)] + [rng.uniform(nodes[0], 9e3)
                                                               for _ in range(100)]
    for x in xs + xs:  # the second pass answers from the memo
        lo = max(n for n in nodes if n <= x)
        hi = min(n for n in nodes if n >= x)
        w = 0.0 if hi == lo else (x - lo) / (hi - lo)
        assert axis.bracket(x) == (lo, hi, w), x
    with pytest.raises(ValueError, match="outside the table axis"):
        axis.bracket(nodes[-1] + 1)


def test_decode_price_does_not_depend_on_the_batch_sizes_priced_before(llama8b):
    # batch sizes come and go between iterations; each (batch, context cell) keeps its line,
    # so a price equals that of a fresh table asked only that question
    hw = h100_like(1)
    busy = MapperIterationCost(llama8b, hw)
    queries = [(d, d * k + d // 3) for k in (700, 1500, 710, 3100, 705)
               for d in (5, 9, 5, 40, 9)]
    for d, ctx in queries * 2:
        assert busy([], 0, d, ctx) == MapperIterationCost(llama8b, hw)([], 0, d, ctx)
    assert bisect_left(busy.ctx.nodes, 700) > 0  # the contexts are off the exact range


def test_victim_heap_stays_bounded_over_a_long_run(monkeypatch):
    # every join pushes a victim entry and finishes leave stale ones behind: without the
    # purge the heap held one entry per request ever decoded (here 3000)
    seen = [0]
    push = heapq.heappush

    def spy(heap, item):  # type: ignore[no-untyped-def]
        push(heap, item)
        if isinstance(item, int):  # a victim entry (finish entries are tuples)
            seen[0] = max(seen[0], len(heap))

    monkeypatch.setattr(replica.heapq, "heappush", spy)
    r = simulate_serving(ReplicaSpec(), lambda p, e, d, c: (1e-3 if p else 1e-4, 0.0),
                         Traffic(Poisson(50.0), FixedLengths(20, 30), 3000),
                         ServingPolicy(max_batch=8))
    assert r.completed == 3000
    assert 8 < seen[0] <= 2 * 8 + 64 + 1
