"""Speculative decoding and window-capped KV inside a serving replica.

Speculative decoding (`ServingPolicy.spec`, a `workloads.SpecDecode`): every decode iteration
drafts K = draft_len tokens per running sequence (K small steps of a draft model, DeepSeek's
MTP module, or Medusa heads) and verifies them in one target pass of K + 1 query tokens. Its
cost is the mapper's SPEC_DECODE step, the very step `simulate --phase spec_decode` prices
(`SpecIterationCost`: exact at table nodes, bilinear in batch × mean context between them).
Each sequence then advances by 1 + a tokens, a = accepted drafts: the leading run of per-token
successes with probability A, capped at K (E[1 + a] = (1 − A^(K+1)) / (1 − A)), drawn from a
generator seeded by (seed, engine index), so a run is deterministic for a seed. Before an
iteration a sequence holds KV blocks for cache + K + 1 tokens (the K draft slots are reserved;
at most the tokens it still has to produce);
the cache grows by the accepted tokens only. A draft model's own KV cache and weights are
counted per token and per chip from the SPEC_DECODE trace (`spec_facts`). The tokens of one
iteration reach the client together: per the ITL definition the first waits the iteration's
gap, the others 0; TPOT = (finish − first token) / (tokens − 1) reflects the multi-token steps.

Window-capped KV (models with sliding-window or chunked-local layers: Gemma-2/3, GPT-OSS,
Mistral, Llama-4): a sequence with c cached tokens keeps, per layer, min(c, window) keys of a
sliding-window layer, c − ⌊(c − 1)/chunk⌋·chunk of a chunked-local layer (the current chunk:
the next token, at position c, attends c mod chunk + 1 keys with itself) and c of a global
one: the keys a decode query can still see, as the mapper's resident KV counts them
(`workloads.builder._held_kv`, `layer_tokens`) and as vLLM's hybrid KV manager frees the rest
(`SlidingWindowManager` / `ChunkedLocalAttentionManager.remove_skipped_blocks`). Without prefix
caching the pool charges blocks of block_size tokens × all layers: blocks(c) = ⌈held(c) /
(layers × block_size)⌉, held(c) = Σ_l kept keys (rounded per sequence, not per layer). A
decoder's blocks grow with its window and shrink when its chunked layers start a new chunk;
a request is rejected when its peak (every chunked layer at its fullest chunk) cannot fit.
With prefix caching, `WindowPrefixKvPool` keeps blocks per layer group (its docstring).
Admission, decode growth, preemption and swap use these counts. Attention time is the
mapper's, which caps the keys; a plain decode batch's windowed groups are priced at their own
mean of kept keys (`GroupKeysCost`; speculative steps still at the batch's mean context). Not
modelled: a prefill's transient full-prompt KV in windowed layers (the cap applies from
admission).

Engines with either feature decode step by step (`StepwiseDecode`): each decoder's cache and
output count are updated every iteration, O(decoders) per iteration, instead of the O(1)
shared-counter bookkeeping of `replica.Replica`; a decoder's blocks are re-counted only from
the first iteration its cache could outgrow them.
"""

from __future__ import annotations

import dataclasses
import heapq
import weakref
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import numpy as np

from infersim.foundation.errors import InputError
from infersim.hwmodels.registry import cost_model
from infersim.simulator.serving.costs import TE, Axis, MapperIterationCost, ReplicaFacts
from infersim.simulator.serving.kv_pool import KvBlockPool, PrefixKvPool
from infersim.simulator.serving.replica import Replica, Seq
from infersim.workloads import ModelConfig, load_model
from infersim.workloads.ops import AttentionShape, OpKind
from infersim.workloads.scenario import Phase, Scenario, SpecDecode

KvGroups = tuple[tuple[int, int, int], ...]  # (window, chunk, layers); (0, 0, n) = global


def kv_groups(m: ModelConfig, chunked: bool = True) -> KvGroups:
    """The model's attention layers grouped by (sliding window, local chunk); without
    `chunked` (an engine that keeps every key of a chunked-local layer in its KV cache,
    `Scenario.chunk_kv_freed`) those layers keep every key, as global ones do."""
    n = m.num_layers
    wins = m.layer_windows or (0,) * n
    chunks = (m.layer_chunks if chunked else ()) or (0,) * n
    count: dict[tuple[int, int], int] = {}
    for w, c in zip(wins, chunks, strict=True):
        count[(w, c)] = count.get((w, c), 0) + 1
    return tuple((w, c, k) for (w, c), k in sorted(count.items()))


def capped(groups: KvGroups) -> bool:
    return any(w or c for w, c, _ in groups)


def layer_tokens(groups: KvGroups, c: int) -> int:
    """Σ over layers of the cached keys kept for a sequence of c tokens (module docstring)."""
    if c <= 0:
        return 0
    total = 0
    for w, ch, n in groups:
        total += n * (min(c, w) if w else c - (c - 1) // ch * ch if ch else c)
    return total


class WindowKvPool(KvBlockPool):
    """A `KvBlockPool` whose sequences hold window-capped blocks (module docstring)."""

    __slots__ = ("_cover", "_den", "_in_chunk", "chunks", "groups")

    def __init__(self, blocks: int, block_size: int, groups: KvGroups) -> None:
        super().__init__(blocks, block_size)
        self.groups = groups
        self.chunks = tuple(sorted({ch for w, ch, _ in groups if ch and not w}))
        self._cover: dict[int, int] = {}
        self._in_chunk: dict[tuple[int, int], int] = {}  # (blocks, chunk end) -> room
        self._den = sum(n for _, _, n in groups) * block_size

    def held(self, c: int) -> int:
        """Layer-tokens a sequence of c tokens holds (`layer_tokens`): a chunked-local layer
        keeps its current chunk only, so held drops when c enters a new chunk."""
        return layer_tokens(self.groups, c)

    def peak(self, c: int) -> int:
        """The most layer-tokens a sequence holds on its way to c tokens. With one chunk size
        held rises within a chunk and is larger at each later chunk's end: the max of c and
        the last chunk end; else Σ_l min(c, window or chunk), an upper bound."""
        if len(self.chunks) == 1:
            return max(self.held(c), self.held(c // self.chunks[0] * self.chunks[0]))
        return sum(n * (min(c, w or ch) if w or ch else c) for w, ch, n in self.groups)

    def blocks_for(self, tokens: int) -> int:
        return -(-self.held(tokens) // self._den)

    def peak_blocks(self, tokens: int) -> int:
        return -(-self.peak(tokens) // self._den)

    def room(self, blocks: int, start: int = 1) -> int:
        """Most tokens `blocks` hold from `start` on: the largest c with held ≤ blocks ×
        layers × block_size all the way from start; with chunked layers at most the end of
        start's chunk (held is monotone up to it), else from 0 (monotone: kept per blocks)."""
        cap = blocks * self._den
        if len(self.chunks) == 1:
            # held rises through start's chunk (hi - ch, hi]: the answer is start - 1 or the
            # chunk's largest c that fits, whatever start is (kept per blocks and chunk)
            ch = self.chunks[0]
            hi = -(-start // ch) * ch
            g = self._in_chunk.get((blocks, hi))
            if g is None:
                g = self._in_chunk[(blocks, hi)] = self._search(hi - ch, hi, cap)
            return max(start - 1, g)
        if self.chunks:
            lo, hi = start - 1, min(-(-start // ch) * ch for ch in self.chunks)
        elif blocks in self._cover:
            return self._cover[blocks]
        elif self.held(1 << 62) <= cap:  # every layer capped and all of it fits
            lo = hi = 1 << 62
        else:  # held(c) ≥ c up to the largest window, and all of held(∞) > cap beyond
            lo, hi = 0, cap + 1
        lo = self._search(lo, hi, cap)
        if not self.chunks:
            self._cover[blocks] = lo
        return lo

    def _search(self, lo: int, hi: int, cap: int) -> int:
        """The largest c in (lo, hi] with held(c) ≤ cap (held rising there), else lo."""
        while lo < hi:
            mid = (lo + hi + 1) // 2
            lo, hi = (mid, hi) if self.held(mid) <= cap else (lo, mid - 1)
        return lo


class WindowPrefixKvPool(PrefixKvPool):
    """Prefix caching with blocks per layer group, as vLLM v1's hybrid KV-cache manager
    (`HybridKVCacheCoordinator` over `FullAttentionManager`, `SlidingWindowManager`,
    `ChunkedLocalAttentionManager`). Memory is counted in layer-blocks (block_size tokens of
    one layer): a group's block costs its layer count. Block j of a prompt has one key (its
    token prefix, `PrefixKvPool._parts`), cached per group.

    - A sequence of t tokens holds, in group g, blocks [lo_g(t), ⌈t/block⌉): lo_g = 0 for a
      global group, else the block of its first kept key (`layer_tokens`). Blocks that leave
      the window are dropped (cached ones become evictable).
    - Look-up: a global group hits the longest cached run from block 0; a windowed group at
      h blocks needs only [lo_g(h·block), h) cached. The hit is the largest h ≤ every global
      group's run (≤ the full blocks before the last token) that every windowed group also
      hits; group g then reuses h − lo_g(h·block) blocks.
    - After its prefill and on release, every full block a sequence wrote is cached in
      every group: those in its window referenced by it (up to the first one another
      sequence cached, as `PrefixKvPool`), those below it (below the window after the
      prefill, as vLLM frees them after the step, or slid out while decoding) evictable at
      once, taking empty room or evicting older cached blocks (left out if every block is
      referenced). On release its cached blocks lose a reference, its private ones are freed.
    - Unreferenced cached blocks are evictable (counted free), evicted oldest release first,
      deepest block first within one release. One dict entry per block and group: O(blocks)
      per admission and release."""

    __slots__ = ("by_group", "hold", "peak_units", "queue", "reused", "units", "zones")

    def __init__(self, blocks: int, block_size: int, groups: KvGroups) -> None:
        layers = sum(n for _, _, n in groups)
        super().__init__(blocks * layers, block_size)
        self.zones = groups
        self.by_group: list[dict[tuple[int, int], int]] = [{} for _ in groups]  # key: refs
        self.queue: OrderedDict[tuple[int, tuple[int, int]], None] = OrderedDict()  # LRU
        self.hold: dict[int, list[list[int]]] = {}  # rid: per group [lo, keyed, hit]
        self.units = [0] * len(groups)  # cached blocks per group
        self.peak_units = [0] * len(groups)
        self.reused = [0] * len(groups)  # blocks the hits reused per group

    def first(self, g: int, t: int) -> int:
        """lo_g(t): group g's first block a sequence of t tokens still holds."""
        w, ch, _ = self.zones[g]  # t − kept keys (`layer_tokens`), in blocks
        return (max(t - w, 0) if w else (t - 1) // ch * ch if ch and t > 0 else 0) // self.block_size

    def blocks_for(self, tokens: int) -> int:
        return self.span(tokens, tokens)

    def span(self, a: int, t: int) -> int:
        """Layer-blocks of the window of a tokens up to block ⌈t/block⌉ (a ≤ t)."""
        top = -(-t // self.block_size)
        return sum(n * (top - self.first(g, a)) for g, (_, _, n) in enumerate(self.zones))

    def peak_blocks(self, tokens: int, ahead: int = 0) -> int:
        """At most this many layer-blocks on the way to `tokens`, `ahead` draft slots
        included (a windowed group: its window and the slots, + 1 for a window not aligned
        to blocks)."""
        top, bs = -(-tokens // self.block_size), self.block_size
        return sum(n * (min(top, -(-((w or ch) + ahead) // bs) + 1) if w or ch else top)
                   for w, ch, n in self.zones)

    def _keys(self, s: Any, n: int, start: int = 0) -> list[tuple[int, int]]:
        """Keys of s's blocks start..n−1 (`PrefixKvPool._parts`)."""
        sk, ck, sf = s.sys_owner * 2 + 1, s.owner * 2, s.sys_full
        return [(sk, j) if j < sf else (ck, j) for j in range(start, n)]

    def _cache(self, g: int, key: tuple[int, int], refs: int) -> None:
        self.by_group[g][key] = refs
        self.units[g] += 1
        self.ncached += self.zones[g][2]
        if self.units[g] > self.peak_units[g]:
            self.peak_units[g] = self.units[g]
        if self.ncached > self.peak_cached:
            self.peak_cached = self.ncached

    def _evict(self, need: int) -> None:
        """Evict oldest evictable blocks until `need` layer-blocks more are empty."""
        queue = self.queue
        while need > 0 and queue:
            (g, key), _ = queue.popitem(last=False)
            del self.by_group[g][key]
            n = self.zones[g][2]
            self.units[g] -= 1
            self.ncached -= n
            self.evictable -= n
            need -= n

    def take(self, blocks: int) -> None:
        self.free -= blocks
        if self.free < self.evictable:
            self._evict(self.evictable - self.free)

    def _ref(self, g: int, key: tuple[int, int]) -> None:
        refs = self.by_group[g][key]
        if not refs:  # evictable → referenced
            del self.queue[(g, key)]
            n = self.zones[g][2]
            self.evictable -= n
            self.free -= n
        self.by_group[g][key] = refs + 1

    def _unref(self, g: int, key: tuple[int, int]) -> None:
        refs = self.by_group[g][key] - 1
        self.by_group[g][key] = refs
        if not refs:
            self.queue[(g, key)] = None
            n = self.zones[g][2]
            self.evictable += n
            self.free += n

    def acquire(self, s: Any, prompt: int) -> int:
        bs = self.block_size
        limit = (prompt - 1) // bs
        h, keys = limit, self._keys(s, limit)
        for g, (w, ch, _) in enumerate(self.zones):
            if not w and not ch:
                got, run = self.by_group[g], 0
                while run < h and keys[run] in got:
                    run += 1
                h = run
        # the largest h every windowed group hits: no block of [lo_g(h·block), h) missing
        wins = [g for g, (w, ch, _) in enumerate(self.zones) if w or ch]
        if not all(keys[k] in self.by_group[g] for g in wins
                   for k in range(self.first(g, h * bs), h)):
            rows = []  # per windowed group: the last missing block before i, for i ≤ h
            for g in wins:
                got, miss, row = self.by_group[g], -1, [-1]
                for k in range(h):
                    if keys[k] not in got:
                        miss = k
                    row.append(miss)
                rows.append((g, row))
            while h > 0 and any(row[h] >= self.first(g, h * bs) for g, row in rows):
                h -= 1
        lo_p = [self.first(g, prompt) for g in range(len(self.zones))]
        for g in range(len(self.zones)):
            for k in range(lo_p[g], h):
                self._ref(g, keys[k])
            if h:
                self.reused[g] += h - self.first(g, h * bs)
        self.hold[s.rid] = [[lo, max(lo, h), h] for lo in lo_p]
        c = self.counts
        c[0] += prompt
        c[1] += h * bs
        c[2] += limit
        c[3] += h
        return h

    def admit_units(self, s: Any, prompt: int, h: int) -> int:
        """Layer-blocks the admission takes besides the hit: the prompt's blocks after it."""
        top = -(-prompt // self.block_size)
        return sum(n * (top - max(h, self.first(g, prompt)))
                   for g, (_, _, n) in enumerate(self.zones))

    def register(self, s: Any, tokens: int) -> None:
        hold = self.hold.get(s.rid)
        if hold is None:
            return
        n = tokens // self.block_size
        keys = self._keys(s, n)
        for g, zone in enumerate(hold):
            lo, keyed, hit = zone
            got = self.by_group[g]
            # written below the window (prefill): cached and evictable at once
            for j in range(min(lo, n) - 1, hit - 1, -1):
                key = keys[j]
                if key in got:
                    continue
                size = self.zones[g][2]
                if self.free - self.evictable < size:
                    if self.evictable < size:
                        break
                    self._evict(size - (self.free - self.evictable))
                self._cache(g, key, 0)
                self.queue[(g, key)] = None
                self.evictable += size
            zone[2] = max(hit, min(lo, n))
            while keyed < n:
                key = keys[keyed]
                if key in got:
                    break  # cached by another sequence: this copy stays private
                self._cache(g, key, 1)
                keyed += 1
            zone[1] = keyed

    def steady(self, a: int, t: int) -> int:
        """The most tokens (with the step's slots) before the window of a tokens up to t
        changes its blocks: its top block fills, or a windowed group's first block moves."""
        bs, out = self.block_size, -(-t // self.block_size) * self.block_size
        for g, (w, ch, _) in enumerate(self.zones):
            if w or ch:  # the next a at which first() moves, less 1
                nxt = (self.first(g, a) + 1) * bs + w if w else ((a - 1) // ch + 1) * ch + 1
                out = min(out, nxt - 1)
        return out

    def slide(self, s: Any, a: int) -> None:
        """Drop the blocks a window of a tokens no longer holds from `s` (its `blocks` too):
        cached ones lose a reference, private ones are freed."""
        hold = self.hold.get(s.rid)
        for g, zone in enumerate(hold or ()):
            lo = self.first(g, a)
            if lo <= zone[0]:
                continue
            n = self.zones[g][2]
            shared = min(lo, zone[1]) - zone[0]
            for key in self._keys(s, zone[0] + shared, zone[0]):
                self._unref(g, key)
            self.free += n * (lo - zone[0] - shared)
            s.blocks -= n * (lo - zone[0])
            zone[0] = lo
            zone[1] = max(zone[1], lo)

    def release_seq(self, s: Any) -> None:
        self.register(s, s.cache)
        hold = self.hold.pop(s.rid, None)
        keys = self._keys(s, max((z[1] for z in hold), default=0)) if hold else []
        shared = 0
        for g, zone in enumerate(hold or ()):
            lo, keyed, _ = zone
            shared += self.zones[g][2] * (keyed - lo)
            for j in range(keyed - 1, lo - 1, -1):  # deepest first
                self._unref(g, keys[j])
        self.free += s.blocks - shared


def window_prefix_summary(pools: Sequence[PrefixKvPool], block_bytes: float) -> dict[str, float]:
    """`metrics.prefix_summary`'s cache sizes for `WindowPrefixKvPool`s, whose counts are in
    layer-blocks: the peak as all-layer blocks, and per layer group (window{w}, chunk{c},
    global) its layers, the blocks its hits reused and its peak of cached blocks, also as
    bytes per chip. `block_bytes`: bytes per chip of one block of every layer. Empty when no
    pool is windowed."""
    win = [p for p in pools if isinstance(p, WindowPrefixKvPool)]
    if not win:
        return {}
    zones = win[0].zones
    layers = sum(n for _, _, n in zones)
    peak = max(p.peak_cached for p in win)
    out: dict[str, float] = {"cached_blocks_peak": peak / layers,
                             "cache_bytes_peak_per_chip": peak * block_bytes / layers}
    for g, (w, ch, n) in enumerate(zones):
        name = f"window{w}" if w else f"chunk{ch}" if ch else "global"
        top = max(p.peak_units[g] for p in win)
        out[f"{name}_layers"] = n
        out[f"{name}_hit_blocks"] = sum(p.reused[g] for p in win)
        out[f"{name}_cached_blocks_peak"] = top
        out[f"{name}_cache_bytes_peak_per_chip"] = top * n * block_bytes / layers
    return out


def draw_accepted(rng: np.random.Generator, n: int, spec: SpecDecode) -> np.ndarray:
    """Accepted drafts of n sequences: leading successes of probability A, at most K."""
    a, k = spec.acceptance, spec.draft_len
    if a >= 1.0:
        return np.full(n, k, dtype=np.int64)
    # geometric(1 − A) − 1 = successes before the first failure: P(≥ j) = A^j
    return np.minimum(rng.geometric(1.0 - a, n) - 1, k)


class SpecIterationCost:
    """An `IterationCost` whose decoders run speculative steps.

    T(D, x) = the mapper's SPEC_DECODE step of D sequences over x cached tokens each (draft +
    verify of K + 1 tokens), bilinear between nodes of its own axes (below). With prefill
    chunks in the same iteration, their tokens join the verify pass's token-parallel ops:
    + prefill part (as `MapperIterationCost` without decoders) + N_pf(P + V) − N_pf(P) −
    N_pf(V), V = D(K + 1) verify tokens (weights read once for all of them). A draft model
    of its own prefills the same chunks (its own `MapperIterationCost`, same TP, runtime
    and precision); MTP and Medusa heads need no prefill of their own."""

    def __init__(self, base: MapperIterationCost, spec: SpecDecode) -> None:
        n = spec.draft_len + 1
        self.base = base
        self.spec = spec
        # a draft model of its own also prefills every prompt (its KV cache); same chips
        self.draft: MapperIterationCost | None = None
        if spec.draft_model is not None and spec.draft_model.strip().lower() != "mtp":
            self.draft = MapperIterationCost(load_model(spec.draft_model), base.hw,
                                             tp=base.parallel.tp, runtime=base.runtime)
            self.draft.precision = base.precision
        self._t: dict[tuple[int, int], TE] = {}
        # the step is affine in context between roofline kinks (4 vs 16 nodes per octave:
        # ≤ 7e-4 apart for Llama-3.1-8B + a 1B draft on H100, 40 random points); nodes on
        # both sides of where the verify pass's keys reach a sliding window
        self.ctx = Axis(16, 4)
        kinks = {w - n + d for w, _, _ in kv_groups(base.model) if w > n for d in (0, 1)}
        self.ctx.nodes = sorted(set(self.ctx.nodes) | kinks)
        # GEMM costs step where the verify pass's b·(K+1) rows or a draft step's b rows
        # cross a row tile: nodes on both sides of each step, the decode batch axis between
        self.seq = Axis(32, 16)
        tile = cost_model(base.hw).token_tile
        if tile:
            steps = {b for m in range(tile, 16385, tile) for b in (m // n, m // n + 1, m, m + 1)}
            self.seq.nodes = sorted(set(self.seq.nodes) | steps)

    def scenario(self, batch: int, context: int) -> Scenario:
        b = self.base
        return Scenario(Phase.SPEC_DECODE, batch, context=context, precision=b.precision,
                        parallel=b.parallel, spec=self.spec, routing_skew=b.routing_skew,
                        chunk_kv_freed=b.chunk_kv_freed)

    def _node(self, batch: int, context: int) -> TE:
        # the device step only: the iteration applies the serving floor of what it emits
        v = self._t[(batch, context)] = self.base.device_step(
            self.base.schedule(self.scenario(batch, context)))
        return v

    def step(self, batch: int, mean_context: float) -> TE:
        b = self.base
        return b._lerp2(self._t, self._node, self.seq, self.ctx, batch, max(mean_context, 1.0))

    def __call__(self, prefill: Sequence[tuple[int, int]], prefill_emits: int,
                 decode_seqs: int, decode_ctx_tokens: int, held: int = 0
                 ) -> tuple[float, float]:
        b, d = self.base, decode_seqs
        t = e = 0.0
        # device times throughout; the iteration's serving floor (one front end) at the end
        if self.draft is not None and (prefill or prefill_emits):
            t, e = self.draft.device(prefill, prefill_emits, 0, 0)
        if not d:
            pt, pe = b.device(prefill, prefill_emits, 0, 0)
            return b.floored(pt + t, pe + e, 0, prefill_emits, held)
        # decode_ctx_tokens = Σ (cache + 1): the keys a plain decode step would attend
        st, se = self.step(d, decode_ctx_tokens / d - 1.0)
        t, e = t + st, e + se
        if prefill or prefill_emits:
            pt, pe = b.device(prefill, prefill_emits, 0, 0)
            p, v = sum(q for q, _ in prefill), d * (self.spec.draft_len + 1)
            (at, ae), (xt, xe), (yt, ye) = b.n_pf(p + v), b.n_pf(p), b.n_pf(v)
            t, e = t + pt + at - xt - yt, e + pe + ae - xe - ye
        # each decoder streams once per verify step, as a plain decode step
        return b.floored(max(t, 0.0), max(e, 0.0), d, prefill_emits, held)


_GROUP_TABLES: weakref.WeakKeyDictionary[MapperIterationCost, dict[tuple[int, int, int], TE]] = (
    weakref.WeakKeyDictionary())


class GroupKeysCost:
    """A plain `MapperIterationCost` whose decoders' windowed attention is priced at each
    layer group's own mean of kept keys. The tables price a decode batch at its mean context
    x̄ in every layer: a sliding layer at min(x̄, w), a chunked one at x̄'s chunk; but queries
    over 51 and 8,301 keys read (51 + 109)/2 each in a chunked layer of 8,192, not 4,176.
    Each capped group's attention (its ops in the mapper's decode step, tabulated on the
    cost's own axes, shared by the engines of one cost) is moved from its keys at x̄ to the
    batch's mean of its keys (`StepwiseDecode.group_keys`); equal contexts are unchanged.
    Before the serving floor."""

    def __init__(self, base: MapperIterationCost, groups: KvGroups, engine: StepwiseDecode
                 ) -> None:
        self.base = base
        self.zones = [(w, ch) for w, ch, _ in groups if w or ch]
        self.engine = engine
        self._t = _GROUP_TABLES.setdefault(base, {})

    def _node(self, g: int, b: int, k: int) -> TE:
        """Every capped group's attention of a decode of b sequences over k keys each."""
        sums = [[0.0, 0.0] for _ in self.zones]
        base = self.base
        for mo in base.schedule(base.scenario(Phase.DECODE, b, context=k - 1)).ops:
            sh = mo.op.shape
            if (mo.op.kind is OpKind.ATTENTION and isinstance(sh, AttentionShape)
                    and (sh.window, sh.chunk) in self.zones):
                z = sums[self.zones.index((sh.window, sh.chunk))]
                z[0] += mo.time_s
                z[1] += mo.energy_j
        for i, (t, e) in enumerate(sums):
            self._t[(i, b, k)] = (t, e)
        return self._t[(g, b, k)]

    def __call__(self, prefill: Sequence[tuple[int, int]], prefill_emits: int,
                 decode_seqs: int, decode_ctx_tokens: int, held: int = 0
                 ) -> tuple[float, float]:
        b, d = self.base, decode_seqs
        t, e = b.device(prefill, prefill_emits, d, decode_ctx_tokens)
        if d:
            x = decode_ctx_tokens / d
            for g, ((w, ch), keys) in enumerate(zip(self.zones, self.engine.group_keys(),
                                                    strict=True)):
                at_x = min(x, w) if w else x - (x - 1) // ch * ch
                t1, e1 = b._lerp2(self._t, self._node, b.seq, b.ctx, d, keys / d, key=g)
                t0, e0 = b._lerp2(self._t, self._node, b.seq, b.ctx, d, max(at_x, 1.0), key=g)
                t, e = t + (t1 - t0), e + (e1 - e0)  # equal keys: exactly unchanged
        return b.floored(max(t, 0.0), max(e, 0.0), d, prefill_emits, held)


def spec_facts(cost: MapperIterationCost, spec: SpecDecode, max_tokens: int) -> ReplicaFacts:
    """`cost.facts` with the weights and KV per token of the SPEC_DECODE trace (the draft
    model's or heads' weights and the draft's KV cache on top of the target's)."""
    f = cost.facts(max_tokens)
    s = cost.schedule(SpecIterationCost(cost, spec).scenario(1, 1))
    res = s.trace.resident
    assert res is not None  # build_trace always fills it
    return dataclasses.replace(f, weight_bytes_per_chip=max(res.stage_weight_bytes),
                               kv_bytes_per_token_per_chip=max(res.stage_kv_bytes_per_token),
                               infeasible=f.infeasible or s.infeasible)


class StepwiseDecode(Replica):
    """Decoding one iteration at a time with explicit per-sequence state (module docstring);
    mixed in front of a policy class by `schedulers.make_replica`. A decoder's `cache`,
    `generated` and `blocks` stay valid while it decodes; `base` = cache − iteration counter
    keeps `base_sum + d·(it + 1)` = Σ (cache + 1), the keys the policies pass to the cost."""

    multi_step = False

    def __init__(self, *args: Any, spec: SpecDecode | None = None, groups: KvGroups = (),
                 seed: int = 0, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if spec is not None and self.steps > 1:
            raise InputError("runtime scheduler_steps: multi-step scheduling does not run "
                             "with speculative decoding (vLLM refuses the pair); use "
                             "scheduler_steps 1 or no speculation")
        # window-capped KV decodes step by step: multi-step passes keep no batch here (the
        # profile's CPU amortization per pass still applies in the step cost)
        self.steps = 1
        self.spec = spec
        self.lookahead = 1 + (spec.draft_len if spec is not None else 0)
        if capped(groups) and isinstance(self.kv, PrefixKvPool):
            self.kv = WindowPrefixKvPool(self.kv.total, self.bs, groups)
            self.swap_s_per_block /= sum(n for _, _, n in groups)  # per layer-block
        elif capped(groups):
            self.kv = WindowKvPool(self.kv.total, self.bs, groups)
        self.rng = np.random.default_rng([seed, self.index])
        self.zones = [(w, ch) for w, ch, _ in groups if w or ch]
        if self.zones and type(self.cost) is MapperIterationCost:
            self.cost = GroupKeysCost(self.cost, groups, self)
        self._room: dict[int, tuple[int, int]] = {}  # rid: (blocks, tokens they hold)
        # a decoder's blocks are checked again only from the first iteration its cache could
        # outgrow them (it grows ≤ 1 + K tokens per iteration): (iteration, rid) heap
        self._due: dict[int, int] = {}
        self._dueq: list[tuple[int, int]] = []
        self.verify_steps = 0  # sequence × iteration verify passes
        self.accepted = 0  # drafted tokens accepted over them

    def _join(self, s: Seq) -> None:
        s.base = s.cache - self.it
        self._due[s.rid] = self.it
        heapq.heappush(self._dueq, (self.it, s.rid))
        self.dec[s.rid] = s
        self._fresh[s.rid] = s.last
        heapq.heappush(self._victims, -s.rid)
        self.base_sum += s.base

    def _leave(self, s: Seq) -> None:
        del self.dec[s.rid]
        self._room.pop(s.rid, None)
        self._due.pop(s.rid, None)
        self.base_sum -= s.base
        s.last = self._fresh.pop(s.rid, self._t_dec)

    def group_keys(self) -> list[int]:
        """Per capped layer group (`GroupKeysCost`): Σ over decoders of the keys the next
        query attends there (`layer_tokens` at cache + 1)."""
        out = []
        for w, ch in self.zones:
            if w:
                out.append(sum(min(s.cache + 1, w) for s in self.dec.values()))
            else:
                out.append(sum(s.cache % ch + 1 for s in self.dec.values()))
        return out

    def _most_blocks(self, tokens: int) -> int:
        kv = self.kv
        if isinstance(kv, WindowPrefixKvPool):
            return kv.peak_blocks(tokens, self.lookahead - 1)
        return kv.peak_blocks(tokens) if isinstance(kv, WindowKvPool) else kv.blocks_for(tokens)

    def _admit(self, s: Seq) -> None:
        kv = self.kv
        if s.kv_ready or not isinstance(kv, WindowPrefixKvPool):
            super()._admit(s)
            return
        self.waiting.popleft()
        if self.m.scheduled_s[s.rid] != self.m.scheduled_s[s.rid]:  # NaN: first time
            self.m.scheduled_s[s.rid] = self.env.now
        h = kv.acquire(s, s.prompt)
        s.done = h * self.bs
        kv.take(kv.admit_units(s, s.prompt, h))

    def _need(self, s: Seq) -> int:
        """More blocks for the step's writes: the new token and the K draft slots, at most
        the tokens still to come (so a sequence that fits alone always finishes); negative
        when chunked layers start a new chunk (their previous chunk's blocks are freed)."""
        la = min(self.lookahead, s.output - s.generated)
        r = self._room.get(s.rid)
        if r is not None and r[0] == s.blocks and s.cache + la <= r[1]:
            return 0  # its blocks still hold the step (the common case: no pool arithmetic)
        kv = self.kv
        if isinstance(kv, WindowPrefixKvPool):  # checked again when its blocks could change
            kv.slide(s, s.cache + 1)
            b = kv.span(s.cache + 1, s.cache + la)
            self._room[s.rid] = (b, kv.steady(s.cache + 1, s.cache + la))
            return b - s.blocks
        if isinstance(kv, WindowKvPool) and kv.chunks:
            # a chunked layer frees its last chunk once the next token starts a new one
            b = max(kv.blocks_for(s.cache + j) for j in range(1, la + 1))
            self._room[s.rid] = (b, kv.room(b, s.cache + 1))
            return b - s.blocks
        b = max(kv.blocks_for(s.cache + la), s.blocks)
        self._room[s.rid] = (b, kv.room(b) if isinstance(kv, WindowKvPool)
                             else b * self.bs)
        return b - s.blocks

    def _decode_need(self) -> None:
        """Blocks for this iteration's new tokens (and draft slots); preempt the latest
        arrivals while they do not fit."""
        dec, q, due = self.dec, self._dueq, self._due
        need: dict[int, int] = {}
        checked: list[Seq] = []
        while q and q[0][0] <= self.it:
            it, rid = heapq.heappop(q)
            s = dec.get(rid)
            if s is None or due.get(rid) != it:
                continue  # left, or re-queued since
            n = self._need(s)
            if n:
                need[rid] = n
            checked.append(s)
        total = sum(need.values())
        while total > self.kv.free and self.dec:
            rid = -heapq.heappop(self._victims)
            s = self.dec.get(rid)
            if s is not None:
                total -= need.pop(rid, 0)
                self._preempt(s)
        for rid, n in need.items():
            self.dec[rid].blocks += n
        self.kv.take(total)
        g = self.lookahead
        for s in checked:
            if s.rid in dec:  # safe while cache + i·g + g ≤ room after i iterations
                nxt = self.it + max(1, (self._room[s.rid][1] - s.cache) // g)
                due[s.rid] = nxt
                heapq.heappush(q, (nxt, s.rid))

    def _swap_in(self) -> None:
        pending = sum(self._need(s) for s in self.dec.values()) if self.swapped else 0
        while self.swapped and len(self.dec) < self.max_batch:
            s = self.swapped[0]
            grow = self._need(s)
            if not self.kv.can_admit(s.blocks + grow + pending):
                break
            self.swapped.popleft()
            self.kv.take(s.blocks)
            self._extra_s += s.blocks * self.swap_s_per_block
            pending += grow
            self._join(s)

    def _advance(self, now: float) -> None:
        """Commit one iteration: each decoder gains 1 + its accepted drafts."""
        self._deliver(now)
        seqs = list(self.dec.values())
        n = len(seqs)
        fresh, itl = self._fresh, self.m.itl
        if n > len(fresh):
            itl.add(now - self._t_dec, n - len(fresh))
        for t in fresh.values():
            itl.add(now - t, 1)
        fresh.clear()
        self._t_dec = now
        self.it += 1
        done: list[Seq] = []
        if self.spec is None:  # one token each: base (= cache − it) stays
            for s in seqs:
                s.cache += 1
                s.generated += 1
                if s.generated >= s.output:
                    done.append(s)
        else:
            acc = draw_accepted(self.rng, n, self.spec)
            self.verify_steps += n
            self.accepted += int(acc.sum())
            burst = 0
            for s, a in zip(seqs, acc.tolist(), strict=True):
                k = min(1 + a, s.output - s.generated)
                burst += k - 1
                s.cache += k
                s.generated += k
                s.base += k - 1
                self.base_sum += k - 1
                if s.generated >= s.output:
                    done.append(s)
            if burst:
                itl.add(0.0, burst)  # tokens that arrive with the iteration's first
        for s in done:
            self._leave(s)
            self._finish(s, now)


_STEPWISE: dict[type[Replica], type[StepwiseDecode]] = {}


def stepwise(cls: type[Replica]) -> type[StepwiseDecode]:
    """`cls` with `StepwiseDecode` in front (one class per policy)."""
    out = _STEPWISE.get(cls)
    if out is None:
        out = _STEPWISE[cls] = type(f"Stepwise{cls.__name__}", (StepwiseDecode, cls), {})
    return out


def spec_summary(engines: Sequence[Any], spec: SpecDecode) -> dict[str, Any]:
    """Acceptance measured over the run's verify passes, with the expected values."""
    steps = sum(getattr(e, "verify_steps", 0) for e in engines)
    acc = sum(getattr(e, "accepted", 0) for e in engines)
    mean = acc / steps if steps else float("nan")
    d = spec.draft_model
    drafter = "medusa" if d is None else "mtp" if d.strip().lower() == "mtp" else f"draft:{d}"
    return {"drafter": drafter, "draft_len": spec.draft_len, "acceptance": spec.acceptance,
            "verify_steps": steps, "accepted_per_step": mean,
            "accepted_share": mean / spec.draft_len, "tokens_per_step": 1.0 + mean,
            "expected_tokens_per_step": spec.expected_tokens}
