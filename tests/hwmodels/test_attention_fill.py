"""A fused attention kernel pays the GEMM pipeline fill (`gpu.gemm_fill_us`): its Q/K/V load
pipeline fills before the first MMA and its output tiles drain after the last, as a GEMM's do
(hwmodels/models/gpu/attention.py)."""

from __future__ import annotations

import csv
from dataclasses import replace

import pytest

from infersim.hwmodels import CostContext, cost_model, load_hardware
from infersim.validation.datasets import gpu_measurements as gm
from infersim.workloads import ops as O
from tests._support import gemm_library

SHAPES = [  # (batch, q_len, kv_len): flash-decoding with and without splits, flash prefill
    (1, 1, 8192), (64, 1, 4096), (1, 2048, 2048), (4, 512, 512)]


@pytest.mark.parametrize("b,q,kv", SHAPES)
def test_fill_adds_exactly_once_per_attention_kernel(b: int, q: int, kv: int) -> None:
    op = O.attention(b, 32, 8, 128, q, kv, q > 1, "bf16")
    costs = {}
    for fill_us in (0.0, 2.03, 5.0):
        hw = load_hardware("h200-sxm", overrides={"gpu.gemm_fill_us": fill_us})
        oc = cost_model(hw).op_cost(op, hw, CostContext())
        costs[fill_us] = (oc.time_s, dict(oc.detail))
    # every candidate pays it alike, so the search keeps its choice and the time moves by it
    assert costs[0.0][1] == costs[2.03][1] == costs[5.0][1]
    assert costs[2.03][0] - costs[0.0][0] == pytest.approx(2.03e-6, rel=1e-9)
    assert costs[5.0][0] - costs[0.0][0] == pytest.approx(5.0e-6, rel=1e-9)


def test_short_h200_decode_rows_still_read_fast() -> None:
    # held out: cuDNN's SDPA decode at batch 1-8 (an sm80 wmma kernel plus a split-KV
    # reduction) stays slower than the fill-paying flash-decoding model; the fill narrows
    # the gap, it does not overshoot it
    path = gm.DATA / "h200-sxm-2026-12-04" / "run3" / "full" / "gpu_ops.csv"
    rows = [r for r in csv.DictReader(path.open(newline=""))
            if r["kind"] == "attention" and r["name"] == "sdpa_decode" and int(r["batch"]) <= 8]
    assert len(rows) == 4
    hw = load_hardware("h200-sxm")
    no_fill = load_hardware("h200-sxm", overrides={"gpu.gemm_fill_us": 0.0})
    ctx = replace(gm.ISOLATED, profile=gemm_library(1.0).profile)
    for r in rows:
        op = gm.op_for_row(r)
        assert op is not None
        t = cost_model(hw).op_cost(op, hw, ctx).time_s
        t0 = cost_model(no_fill).op_cost(op, no_fill, ctx).time_s
        assert t0 < t < float(r["time_s"])
