"""The paged KV cache of one serving engine at run time: blocks counted, not placed.

Blocks hold `block_size` tokens each. A sequence of n cached tokens holds ceil(n / block_size)
blocks. Admissions keep `watermark` blocks free (vLLM's watermark_blocks, 1% of the cache) so
that running sequences can grow a little before anyone is preempted. Sizing the pool from the
hardware is `kvcache.plan_kv`. `PrefixKvPool` adds automatic prefix caching.
"""

from __future__ import annotations

from collections import OrderedDict
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


# Block keys: (owner << OWNER_SHIFT) | block index. An owner is a system prompt or a
# conversation (see `Seq.sys_owner` / `Seq.owner`); 2^20 blocks bound a sequence at 16M tokens
# with 16-token blocks.
OWNER_SHIFT = 20


class PrefixKvPool(KvBlockPool):
    """A `KvBlockPool` with automatic prefix caching (vLLM-style hashed blocks).

    A full block is identified by its key, standing for the hash of every token up to its end:
    block j of a sequence lies inside its system prompt (key of that system prompt, j) or not
    (key of its conversation, j), so two sequences share a block exactly when their token
    prefixes through that block agree. `cached` maps key → references; a block whose references
    drop to 0 stays cached but evictable, in `lru`: oldest release first, and within one
    release the deepest block first (so a chain loses its tail before its head). Evictable
    blocks count as `free`; taking fresh blocks evicts from the head of `lru` when the truly
    empty blocks run out."""

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
