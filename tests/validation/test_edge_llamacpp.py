"""The llama.cpp Apple-silicon data set: the profile constants are its fit, and the held-out
rows stay within the error the report states."""

from __future__ import annotations

import pytest

from infersim.hwmodels.edge_runtimes import (
    FIT_ROWS,
    MATMUL_EFFICIENCY,
    NODE_OVERHEAD_S,
    STREAM_EFFICIENCY,
)
from infersim.validation.datasets import check_frame, edge_llamacpp


@pytest.fixture(scope="module")
def frame():
    return check_frame(edge_llamacpp.load(), edge_llamacpp.NAME)


def test_profile_constants_are_the_fit():
    f = edge_llamacpp.fit()
    assert f["weight_stream_efficiency"] == pytest.approx(STREAM_EFFICIENCY, rel=0.005)
    assert f["kernel_overhead_s"] == pytest.approx(NODE_OVERHEAD_S, rel=0.01)
    assert f["matmul_efficiency"] == pytest.approx(MATMUL_EFFICIENCY, rel=0.005)


def test_calibration_rows_reproduced_and_held_out_errors(frame):
    ratio = frame["predicted"] / frame["measured"]
    cal = frame["case"].isin(FIT_ROWS)
    assert cal.sum() == 3 and frame["group"][cal].str.contains("calibration").all()
    assert ((ratio[cal] - 1).abs() < 0.01).all()
    held = (ratio[frame["group"].str.endswith("(held-out)")] - 1).abs()
    assert len(held) == 21
    # the numbers reported in the module's main(): median 5.9 %, worst 13.3 % (M2 Ultra
    # quantized pp512: the dequantization inside the prompt GEMMs is not modelled)
    assert held.median() < 0.07 and held.max() < 0.15


def test_older_k_quant_rows_are_their_own_group(frame):
    # the model omits GEMM dequantization: it over-predicts K-quant prompt speed; the group
    # exists so the report shows that error instead of hiding it
    part = frame[frame["group"].str.contains("Sep 2023")]
    assert len(part) == 6
    kq = part[part["case"].str.contains("_k")]
    assert (kq["predicted"] > kq["measured"]).all()
