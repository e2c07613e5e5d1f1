"""Engine knob `gemm_tile_set`: the GEMM library's thread-block tiles (0: `gemm.TILES`, the
default; 1: `gemm.TILES_WAVE_FIT`, cuBLAS 12.8+ nvjet kernels on Hopper)."""

from __future__ import annotations

import csv

import pytest

from infersim.hwmodels import CostContext, cost_model, load_hardware
from infersim.hwmodels.models.gpu.gemm import TILES, TILES_WAVE_FIT
from infersim.workloads import ops as O
from tests._support import H200_SWEEP, gemm_library


def test_default_is_the_fixed_list() -> None:
    hw = load_hardware("h200-sxm")
    op = O.matmul(192, 4096, 22016, "fp16")
    assert (cost_model(hw).op_cost(op, hw, gemm_library(0.0)).time_s
            == cost_model(hw).op_cost(op, hw, CostContext()).time_s)
    assert set(TILES) <= set(TILES_WAVE_FIT)


@pytest.mark.parametrize("m", [1, 16, 96, 128, 192, 384, 1024, 4096])
@pytest.mark.parametrize("k,n", [(4096, 11008), (8192, 8192), (4096, 3072), (14336, 4096)])
def test_more_tiles_never_make_a_gemm_slower(m: int, k: int, n: int) -> None:
    # the wave-fitting set contains the fixed list: under the nvjet library's own rules
    # (clusters, a split-K reduce kernel, TMA streams) its search's minimum is at most the
    # best fixed-list candidate, found here one candidate at a time
    from infersim.hwmodels.models.gpu.figures import figures, matrix_peak, mma_efficiency
    from infersim.hwmodels.models.gpu.gemm import (
        MIN_SPLIT_K,
        SPLITS,
        gemm_candidate,
        gemm_search,
    )
    from infersim.workloads.dtypes import DType

    c = figures(load_hardware("h100-sxm"))
    peak, eff = matrix_peak(c, DType.BF16), mma_efficiency(c, DType.BF16)
    fixed = min(
        gemm_candidate(c, m, k, n, 1, 2.0, 2.0, 2.0, peak, tm, tn, split, 1.0, eff, -1.0,
                       c.multicast, True, True).time_s
        for tm, tn in TILES for split in SPLITS
        if split == 1 or (k // split >= MIN_SPLIT_K
                          and -(-m // tm) * -(-n // tn) < c.sms))
    wave_fit = gemm_search(c, m, k, n, 1, 2.0, 2.0, 2.0, peak, 1.0, eff, -1.0, 1).time_s
    assert wave_fit <= fixed


def _ran(m: int, k: int, n: int) -> tuple[int, int]:
    """The (token rows, weight columns) tile cuBLAS ran for this shape in the H200 sweep."""
    row = next(r for r in csv.DictReader(H200_SWEEP.open(newline=""))
               if (int(r["m"]), int(r["k"]), int(r["n"])) == (m, k, n))
    assert row["kernel_family"] == "nvjet"
    return int(row["tile_n"]), int(row["tile_m"])  # nvjet names read <weight>x<token>


def test_wave_fit_choice_is_the_tile_cublas_ran() -> None:
    # the H200 session's kernel names: cuBLAS 13 ran a 96-wide tile over 128 tokens
    # (115 CTAs), which the fixed list cannot express
    ran = _ran(128, 4096, 11008)
    assert ran not in TILES
    hw = load_hardware("h200-sxm")
    op = O.matmul(128, 4096, 11008, "fp16")
    wave_fit = cost_model(hw).op_cost(op, hw, gemm_library(1.0))
    detail = dict(wave_fit.detail)
    assert detail["tile"] == f"{ran[0]}x{ran[1]}" and detail["split_k"] == 1
    # the knob's direction: a tile that fits the SMs' wave beats the padded fixed list's
    assert wave_fit.time_s < cost_model(hw).op_cost(op, hw, gemm_library(0.0)).time_s


def test_cublas_tile_over_384_tokens_ties_the_search_and_beats_the_fixed_list() -> None:
    # over 384 x 8192 x 8192 cuBLAS ran one wave of 192 x 128 tiles (128 CTAs). In clusters
    # of two the model prices two waves of 192 x 64 tiles within 1% of it (same MMA work,
    # a smaller last-wave drain) and picks those: a near tie it cannot separate. cuBLAS's
    # own tile must be that close to the search's pick and beat the fixed list's best.
    from infersim.hwmodels.models.gpu.figures import figures, matrix_peak, mma_efficiency
    from infersim.hwmodels.models.gpu.gemm import gemm_candidate
    from infersim.workloads.dtypes import DType

    ran = _ran(384, 8192, 8192)
    assert ran == (192, 128) and ran not in TILES
    hw = load_hardware("h200-sxm")
    c = figures(hw)
    own = gemm_candidate(c, 384, 8192, 8192, 1, 2.0, 2.0, 2.0, matrix_peak(c, DType.FP16),
                         ran[0], ran[1], 1, 1.0, mma_efficiency(c, DType.FP16), -1.0,
                         c.multicast)
    op = O.matmul(384, 8192, 8192, "fp16")
    body = cost_model(hw).op_cost(op, hw, gemm_library(1.0)).time_s - c.launch
    assert body <= own.time_s < 1.01 * body
    assert own.time_s + c.launch < cost_model(hw).op_cost(op, hw, gemm_library(0.0)).time_s
