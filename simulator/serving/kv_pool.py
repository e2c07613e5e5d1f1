"""The paged KV cache of one serving engine at run time: blocks counted, not placed.

Blocks hold `block_size` tokens each. A sequence of n cached tokens holds ceil(n / block_size)
blocks. Admissions keep `watermark` blocks free (vLLM's watermark_blocks, 1% of the cache) so
that running sequences can grow a little before anyone is preempted. Sizing the pool from the
hardware is `kvcache.plan_kv`. `PrefixKvPool` adds automatic prefix caching.
"""

from __future__ import annotations

from collections import deque
from typing import Any

# vLLM keeps this share of the blocks free at admission (watermark_blocks = 0.01).
WATERMARK_SHARE = 0.01


class KvBlockPool:
    __slots__ = ("block_size", "free", "total", "watermark")

    def __init__(self, blocks: int, block_size: int) -> None:
        self.block_size = block_size
        self.total = blocks
        self.free = blocks
        self.watermark = int(WATERMARK_SHARE * blocks)

    def blocks_for(self, tokens: int) -> int:
        """Blocks that `tokens` cached tokens occupy."""
        return -(-tokens // self.block_size)

    def can_admit(self, blocks: int) -> bool:
        """Would taking `blocks` more still leave the watermark free?"""
        return self.free - blocks >= self.watermark

    def fits_when_empty(self, blocks: int) -> bool:
        """Could `blocks` ever be admitted (the whole cache free but the watermark)?"""
        return blocks <= self.total - self.watermark

    def take(self, blocks: int) -> None:
        self.free -= blocks

    def give(self, blocks: int) -> None:
        self.free += blocks

    def release_seq(self, s: Any) -> None:
        """A sequence (`replica.Seq`) gives back every block it holds."""
        self.free += s.blocks

    @property
    def occupancy(self) -> float:
        """Share of the blocks in use."""
        return 1.0 - self.free / self.total


class _Chain:
    """The cached blocks of one owner (a system prompt, or a conversation after its system
    prompt): always a prefix [base, end) of the owner's blocks, because a sequence holds a
    prefix of its blocks and releases them deepest first. Sequences holding blocks of the chain
    hold [base, extent); `holders` counts them per extent, so the blocks below the largest
    extent are referenced and [that extent, end) are evictable. `runs` are the evictable
    ranges in release order, oldest (highest blocks) first."""

    __slots__ = ("base", "end", "holders", "runs")

    def __init__(self, base: int) -> None:
        self.base = base
        self.end = base
        self.holders: dict[int, int] = {}
        self.runs: deque[list[Any]] = deque()

    def top(self) -> int:
        """The first unreferenced block."""
        return max(self.holders) if self.holders else self.base


class PrefixKvPool(KvBlockPool):
    """A `KvBlockPool` with automatic prefix caching (vLLM-style hashed blocks).

    A full block is identified by its key, standing for the hash of every token up to its end:
    block j of a sequence lies inside its system prompt (key of that system prompt, j) or not
    (key of its conversation, j), so two sequences share a block exactly when their token
    prefixes through that block agree. A block whose references drop to 0 stays cached but
    evictable: oldest release first, and within one release the deepest block first (so a
    chain loses its tail before its head). Evictable blocks count as `free`; taking fresh
    blocks evicts the oldest evictable ones when the truly empty blocks run out.

    Blocks are kept as ranges, not one by one (see `_Chain`): the evictable ranges of all
    chains sit in `lru` in release order (a range emptied early is dropped when it reaches the
    head), so every operation costs O(chains touched), not O(blocks)."""

    __slots__ = ("chains", "counts", "evictable", "lru", "ncached", "peak_cached")

    def __init__(self, blocks: int, block_size: int) -> None:
        super().__init__(blocks, block_size)
        self.chains: dict[int, _Chain] = {}  # key: owner × 2 + (1 if a system prompt)
        self.lru: deque[list[Any]] = deque()  # [chain, chain key, lo, hi] per range
        self.evictable = 0
        self.ncached = 0
        self.peak_cached = 0
        # query tokens, hit tokens, query blocks, hit blocks
        self.counts = [0, 0, 0, 0]

    def _parts(self, s: Any) -> tuple[tuple[int, int, int], tuple[int, int, int]]:
        """(chain key, base, limit) of `s`'s system-prompt and conversation chains."""
        sf = s.sys_full
        return (s.sys_owner * 2 + 1, 0, sf), (s.owner * 2, sf, 1 << 62)

    def take(self, blocks: int) -> None:
        self.free -= blocks
        if self.free >= self.evictable or self.evictable <= 0:  # fits in the empty blocks
            return
        n = min(self.evictable - self.free, self.evictable)  # evictions so the take fits
        self.evictable -= n
        self.ncached -= n
        lru, chains = self.lru, self.chains
        while n:
            r = lru[0]
            ch, key, lo, hi = r
            if lo >= hi:  # emptied by acquire
                lru.popleft()
                continue
            k = min(n, hi - lo)
            n -= k
            r[3] = ch.end = hi - k
            if lo < hi - k:
                continue
            lru.popleft()
            if ch.runs and ch.runs[0] is r:
                ch.runs.popleft()
            if ch.end == ch.base and not ch.holders:
                del chains[key]

    def _hold(self, ch: _Chain, old: int, new: int) -> None:
        """A sequence's extent in `ch` moves from `old` to `new` (base = not held)."""
        h = ch.holders
        if old > ch.base:
            c = h[old] - 1
            if c:
                h[old] = c
            else:
                del h[old]
        if new > ch.base:
            h[new] = h.get(new, 0) + 1

    def acquire(self, s: Any, prompt: int) -> int:
        """Reference the longest cached prefix of `s`'s prompt (at most the blocks before its
        last token, which must be computed to emit a token); return the blocks hit."""
        limit = (prompt - 1) // self.block_size
        h = 0
        for key, base, cap in self._parts(s):
            if cap <= base:
                continue
            if h < base or h >= limit:
                break
            ch = self.chains.get(key)
            if ch is None:
                break
            e = min(limit, cap, ch.end)
            top = ch.top()
            if e > top:  # evictable blocks [top, e) become referenced
                self.evictable -= e - top
                self.free -= e - top
                runs = ch.runs
                while runs and runs[-1][2] < e:
                    r = runs[-1]
                    r[2] = min(e, r[3])
                    if r[2] < r[3]:
                        break
                    runs.pop()
            self._hold(ch, base, e)
            h = e
            if e < min(limit, cap):
                break
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
        n = tokens // self.block_size
        j = s.keyed
        if j >= n:  # nothing new to cache
            return
        for key, base, cap in self._parts(s):
            if j >= n:
                break
            if j >= cap:
                continue
            ch = self.chains.get(key)
            if ch is None:
                ch = self.chains[key] = _Chain(base)
            if j < ch.end:  # already cached by another sequence
                break
            e = min(cap, n)
            self.ncached += e - j
            self._hold(ch, j, e)
            ch.end = e
            j = e
        s.keyed = j
        if self.ncached > self.peak_cached:
            self.peak_cached = self.ncached

    def release_seq(self, s: Any) -> None:
        self.register(s, s.cache)
        keyed = s.keyed
        freed = s.blocks - keyed
        sys_part, conv_part = self._parts(s)
        for key, base, cap in (conv_part, sys_part):  # deepest blocks first
            e = min(keyed, cap)
            if e <= base:
                continue
            ch = self.chains[key]
            self._hold(ch, e, base)
            top = ch.top()
            if top < e:
                r = [ch, key, top, e]
                ch.runs.append(r)
                self.lru.append(r)
                self.evictable += e - top
                freed += e - top
        self.free += freed
        s.keyed = 0
