"""The nvjet GEMM library (engine knob `gemm_tile_set` 1, cuBLAS 12.8+ on Hopper) as the H200
session recorded it: skinny GEMMs put the tokens on the MMA's N side (token extents in steps
of 8), split-K partials are summed by a reduce kernel of its own, and TMA pipelines stream
the operands (run3/sweep/gpu_ops.csv kernel names, run4/kernel_census.csv)."""

from __future__ import annotations

import csv
from dataclasses import replace

from infersim.hwmodels import cost_model, load_hardware
from infersim.hwmodels.cost import COMBINE_KERNEL_S
from infersim.hwmodels.models.gpu.figures import (
    figures,
    matrix_peak,
    mma_efficiency,
    stream_time,
)
from infersim.hwmodels.models.gpu.gemm import (
    REDUCE_ELEMS_PER_BLOCK,
    gemm_candidate,
    gemm_search,
)
from infersim.validation.datasets import gpu_measurements as gm
from infersim.workloads import ops as O
from infersim.workloads.dtypes import DType
from tests._support import H200_SWEEP, gemm_library


def test_skinny_gemms_run_cublas_token_extent() -> None:
    # every M <= 8 kernel of the sweep ran an 8-token tile; the fixed list's smallest is 64
    rows = [r for r in csv.DictReader(H200_SWEEP.open(newline="")) if int(r["m"]) <= 8]
    assert len(rows) == 4 * 28 and {r["tile_n"] for r in rows} == {"8"}
    hw = load_hardware("h200-sxm")
    ctx = replace(gm.ISOLATED, profile=gemm_library(1.0).profile)
    token = []
    for r in rows:
        op = gm.op_for_row(r)
        assert op is not None
        token.append(dict(cost_model(hw).op_cost(op, hw, ctx).detail)["tile"].split("x")[0])
    assert token.count("8") >= 0.75 * len(rows)


def test_split_k_reduce_is_a_kernel_of_its_own_by_hand() -> None:
    hw = load_hardware("h200-sxm")
    c = figures(hw)
    m, k, n = 1, 8192, 2048  # Llama-3.2-1B down_proj at batch 1: cuBLAS splits it
    peak, eff = matrix_peak(c, DType.BF16), mma_efficiency(c, DType.BF16)
    ch = gemm_search(c, m, k, n, 1, 2.0, 2.0, 2.0, peak, 1.0, eff, -1.0, 1)
    assert ch.split_k > 1
    partial = ch.split_k * m * n * 4.0
    blocks = max(1, min(c.sms, -(-(m * n) // REDUCE_ELEMS_PER_BLOCK)))
    assert ch.reduce_s == c.launch + stream_time(c, partial, m * n * 2.0, blocks)
    # the same candidate summing in-kernel pays one handshake instead
    inline = gemm_candidate(c, m, k, n, 1, 2.0, 2.0, 2.0, peak, ch.tile_m, ch.tile_n,
                            ch.split_k, 1.0, eff, -1.0, c.multicast, False, True)
    assert inline.reduce_s == 0.0
    # ... and its main kernel moves the partials' re-read and C's write to the reduce
    main, inline_main = ch.time_s - ch.reduce_s, inline.time_s - c.hbm_lat
    assert inline_main * 0.99 < main < inline_main
    assert ch.read_bytes == inline.read_bytes and ch.write_bytes == inline.write_bytes
    # the op names the second kernel, and the eager host launches it
    op = O.matmul(m, k, n, "bf16")
    detail = dict(cost_model(hw).op_cost(op, hw, gemm_library(1.0)).detail)
    assert detail[COMBINE_KERNEL_S] == ch.reduce_s
    assert COMBINE_KERNEL_S not in dict(cost_model(hw).op_cost(op, hw, gemm_library(0.0)).detail)


def test_tma_stream_lifts_the_few_sm_gemv_to_the_l2_port_rate() -> None:
    # 32 CTAs (2048 weight columns over 64-wide tiles): Little's law on 32 KiB in flight
    # allows 32 x 32 KiB / latency; a TMA pipeline streams each SM at its L2 share
    c = figures(load_hardware("h200-sxm"))
    nbytes = 8.4e6
    little = stream_time(c, nbytes, 0.0, 32, 0.9)
    tma = stream_time(c, nbytes, 0.0, 32, 0.9, c.l2_bw / c.sms)
    assert little == c.hbm_lat + nbytes / (32 * c.inflight / c.hbm_lat)
    assert tma == c.hbm_lat + nbytes / (32 * c.l2_bw / c.sms)
    assert tma < little
    # with every SM busy the HBM rate binds either way
    assert stream_time(c, 1e9, 0.0, c.sms, 0.9, c.l2_bw / c.sms) == stream_time(
        c, 1e9, 0.0, c.sms, 0.9)
