"""Published fused-MoE layer timings (vLLM / SGLang tuning harness, FlashInfer's benchmarks of
TensorRT-LLM's CUTLASS and TRTLLM-Gen MoE) against the grouped-GEMM
model: the measured kernel times are the independent values; the weight-stream bound is
derived by hand from the model's shapes and the spec's HBM bandwidth."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from infersim.api import load_hardware
from infersim.validation.datasets import check_frame
from infersim.validation.datasets.moe_kernels import NAME, load, moe_layer_s, rows


@pytest.fixture(scope="module")
def frame():
    return check_frame(load(), NAME)


def test_every_row_is_predicted_and_grouped(frame):
    assert len(frame) == len(rows()) == 66
    assert np.isfinite(frame.predicted).all() and (frame.predicted > 0).all()
    held = frame[frame.group.str.contains("held-out")]
    assert len(held) == 48  # the mis-configured default's 18 rows are informative only


# a prediction within 1% of its measurement leans neither way: the harnesses time a layer to
# about that (the Vidur profiles' repeated GEMM shapes sit 1.0-1.3% apart at the median)
TIE = 0.01


def test_held_out_layers_have_no_lean(frame):
    """The issue's lean test on the held-out layers: median within 10%, median signed error
    within +-5%, neither faster nor slower on more than 65% of them."""
    held = frame[frame.group.str.contains("held-out")]
    err = (held.predicted / held.measured - 1.0).to_numpy()
    assert np.median(np.abs(err)) <= 0.10
    assert abs(np.median(err)) <= 0.05
    assert (err < -TIE).mean() <= 0.65 and (err > TIE).mean() <= 0.65


def test_memory_bound_plateau_is_the_expert_weight_stream(frame):
    # Mixtral-8x7B at TP2 from 16 to 128 tokens touches all 8 experts: the layer reads every
    # expert's gate-up and down weights once (8 x 3 x 4096 x 7168 bf16 = 1.41 GB per GPU),
    # so its time is about flat and at least those bytes over the HBM bandwidth.
    plateau = frame[frame.case.str.contains("mixtral") & frame.case.str.contains(
        r"M=(?:16|24|32|48|64|96|128)$")]
    assert len(plateau) == 7
    assert np.all(np.abs(plateau.predicted / plateau.measured - 1.0) < 0.06)
    h100 = load_hardware("h100-sxm")
    weight_bytes = 8 * 3 * 4096 * (14336 // 2) * 2
    assert weight_bytes / h100.chip.main_memory.bandwidth_Bps < plateau.predicted.min()
    assert weight_bytes / h100.chip.main_memory.bandwidth_Bps < plateau.measured.min()


def test_more_tokens_never_take_less_time():
    t = [moe_layer_s("qwen3-30b-a3b", "h100-sxm", m, tp=1, dtype="fp8", runtime="vllm-v1")
         for m in (1, 2, 4, 8, 16, 24, 32, 64, 256, 1024, 4096)]
    assert all(b >= a * 0.999 for a, b in itertools.pairwise(t)), t
