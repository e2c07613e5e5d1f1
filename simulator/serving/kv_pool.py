"""The paged KV cache of one serving engine at run time: blocks counted, not placed.

Blocks hold `block_size` tokens each. A sequence of n cached tokens holds ceil(n / block_size)
blocks. Admissions keep `watermark` blocks free (vLLM's watermark_blocks, 1% of the cache) so
that running sequences can grow a little before anyone is preempted. Sizing the pool from the
hardware is `kvcache.plan_kv`.
"""

from __future__ import annotations

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

    @property
    def occupancy(self) -> float:
        """Share of the blocks in use."""
        return 1.0 - self.free / self.total
