"""The paged KV block pool: block counts and the admission watermark, by hand."""

from infersim.simulator.serving.kv_pool import KvBlockPool


def test_blocks_round_up_to_whole_blocks():
    pool = KvBlockPool(100, block_size=16)
    assert [pool.blocks_for(n) for n in (0, 1, 16, 17, 32, 33)] == [0, 1, 1, 2, 2, 3]


def test_admission_keeps_one_percent_free():
    pool = KvBlockPool(1000, block_size=16)  # watermark: 1 % of 1000 = 10 blocks
    assert pool.can_admit(990) and not pool.can_admit(991)
    assert pool.fits_when_empty(990) and not pool.fits_when_empty(991)
    pool.take(500)
    assert pool.can_admit(490) and not pool.can_admit(491)
    assert pool.fits_when_empty(990)  # a property of the cache, not of what is in use
    assert pool.occupancy == 0.5
    pool.give(500)
    assert pool.free == 1000 and pool.occupancy == 0.0


def test_small_pools_have_no_watermark():
    pool = KvBlockPool(99, block_size=16)  # int(0.99) = 0
    assert pool.can_admit(99) and not pool.can_admit(100)
