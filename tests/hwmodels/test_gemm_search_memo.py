"""The memoized GEMM tiling search returns exactly (==) the record of a fresh search: the
reference below is the one-candidate-at-a-time loop over `gemm_candidate` (TILES outer,
SPLITS inner, split-K only while the tiles leave SMs idle and every split keeps MIN_SPLIT_K of
K, first strict minimum kept), run on random shapes across four GPUs, each shape asked twice
(the second answer comes from the memo)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from infersim.hwmodels import load_hardware
from infersim.hwmodels.models.gpu import gemm as G
from infersim.hwmodels.models.gpu.figures import GpuFigures, figures, matrix_peak, mma_efficiency
from infersim.workloads.dtypes import DType

HW = ("h100-sxm", "a100-sxm-80gb", "b200", "mi300x")
DTYPES = (DType.BF16, DType.FP8, DType.FP32)


def _reference(c: GpuFigures, m: int, k: int, n: int, groups: int, a_b: float, w_b: float,
               o_b: float, peak: float, imbalance: float, mma_eff: float) -> G.GemmChoice:
    best = None
    for tm, tn in G.TILES:
        tiles = groups * (-(-m // tm)) * (-(-n // tn))
        for split in G.SPLITS:
            if split > 1 and (k // split < G.MIN_SPLIT_K or tiles >= c.sms):
                break
            ch = G.gemm_candidate(c, m, k, n, groups, a_b, w_b, o_b, peak, tm, tn, split,
                                  imbalance, mma_eff)
            if best is None or ch.time_s < best.time_s:
                best = ch
    assert best is not None
    return best


def _shapes(rng: np.random.Generator, count: int):
    for _ in range(count):
        # log-uniform sizes; a third of them small-M / long-K, where split-K wins
        m = int(np.exp(rng.uniform(0.0, np.log(16384))))
        k = int(np.exp(rng.uniform(np.log(64), np.log(65536))))
        n = int(np.exp(rng.uniform(np.log(64), np.log(65536))))
        if rng.random() < 0.33:
            m = int(rng.integers(1, 64))
            k = int(rng.integers(4096, 65537))
        groups = int(rng.choice([1, 8, 128]))
        imbalance = float(rng.uniform(1.0, 3.0)) if groups > 1 else 1.0
        yield m, k, n, groups, imbalance, DTYPES[int(rng.integers(0, len(DTYPES)))]


@pytest.mark.parametrize("hw", HW)
def test_memoized_search_equals_a_fresh_search_on_random_shapes(hw: str) -> None:
    c = figures(load_hardware(hw))
    rng = np.random.default_rng(20261202)
    splits = 0
    seen_tiles = set()
    for m, k, n, groups, imb, dt in _shapes(rng, 800):
        a_b = float(dt.bytes)
        w_b = a_b if rng.random() < 0.7 else 0.5  # sometimes 4-bit weights
        peak = matrix_peak(c, dt)
        eff = mma_efficiency(c, dt) * (0.8 if groups > 1 else 1.0)
        args = (c, m, k, n, groups, a_b, w_b, a_b, peak, imb, eff)
        ref = _reference(*args)
        assert G.gemm_search_uncached(*args) == ref, args[1:]
        assert G.gemm_search(*args) == ref, args[1:]
        assert G.gemm_search(*args) == ref, args[1:]  # from the memo
        splits += ref.split_k > 1
        seen_tiles.add((ref.tile_m, ref.tile_n))
    # the sample exercises split-K winners and several tiles, not one corner
    assert splits >= 20 and len(seen_tiles) >= 4, (splits, seen_tiles)


def test_memo_is_per_figures_object() -> None:
    # two figures differing in one field get their own answers from the memo
    c = figures(load_hardware("h100-sxm"))
    slow = dataclasses.replace(c, gemm_fill=c.gemm_fill + 1e-3)
    args = (8, 8192, 8192, 1, 2.0, 2.0, 2.0, matrix_peak(c, DType.BF16))
    fast_t = G.gemm_search(c, *args).time_s
    slow_t = G.gemm_search(slow, *args).time_s
    assert slow_t == _reference(slow, *args, 1.0, 0.0).time_s
    assert fast_t == _reference(c, *args, 1.0, 0.0).time_s
    assert slow_t > fast_t


def test_clear_cache_forgets_memoized_searches() -> None:
    from infersim.mapper.cache import clear_cache

    c = figures(load_hardware("h100-sxm"))
    G.gemm_search(c, 8, 4096, 4096, 1, 2.0, 2.0, 2.0, matrix_peak(c, DType.BF16))
    assert G.memo_entries() > 0
    clear_cache()
    assert G.memo_entries() == 0
