"""Flash-attention kernel classes and the Q / O traffic of a flash-attention block
(hwmodels/models/gpu/attention.py, engine knob `attention_sm80`, spec fields
`gpu.attention_efficiency` / `gpu.attention_efficiency_sm80`): checked against published
kernel speeds nobody here fitted (FlashAttention-3 paper, PyTorch's benchmark) and by hand."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from infersim.hwmodels import cost_model, load_hardware
from infersim.hwmodels.models.gpu import engines as E
from infersim.hwmodels.models.gpu.figures import figures
from infersim.validation.datasets import attention_kernels as AK
from infersim.validation.datasets import check_frame
from infersim.validation.datasets.gpu_measurements import ISOLATED
from infersim.validation.fitting import attention as fit_attention
from infersim.workloads import ops as O


def _time(hw_name: str, op, sm80: float = 0.0, overrides=None, runtime: str = "graph") -> float:
    hw = load_hardware(hw_name, overrides or {})
    base = E.lookup(runtime)
    assert base is not None
    prof = base.with_values(attention_sm80=sm80) if sm80 else base
    return cost_model(hw).op_cost(op, hw, replace(ISOLATED, profile=prof)).time_s


@pytest.fixture(scope="module")
def frame():
    return check_frame(AK.load(), AK.NAME)


def test_published_kernel_speeds_held_out(frame):
    # 24 rows: the FA3 paper's FlashAttention-2 / cuDNN / FlashAttention-3 at 512-16k tokens
    # and PyTorch's FlashAttention-3 sweep; one FlashAttention-2 row is the sm80 fit
    assert len(frame) == 24
    held = frame[frame.group.str.contains("held-out")]
    assert len(held) == 23
    err = (held.predicted / held.measured - 1.0).to_numpy()
    assert np.median(np.abs(err)) <= 0.05
    assert np.abs(err).max() <= 0.10
    # no lean: neither faster nor slower on more than 65% of them
    assert (err < 0).mean() <= 0.65 and (err > 0).mean() <= 0.65


def test_short_sequences_are_slower_per_flop_with_the_same_blocks_per_sm():
    # batch x seq fixed at 16k tokens: every length runs 16 x 128 = 2,048 blocks of 128
    # queries, so only the work per block differs; FA3's published 467 -> 648 TFLOP/s rise
    # (x1.39) is what the Q / O tiles outside the main loop leave
    rates = []
    for s in (512, 16384):
        op = O.attention(16384 // s, 16, 16, 128, s, s, False, "bf16")
        rates.append(4.0 * (16384 // s) * 16 * s * s * 128 / _time("h100-sxm", op))
    assert rates[1] / rates[0] == pytest.approx(648 / 467, rel=0.08)


def test_q_and_o_tiles_move_at_the_sm_share_of_hbm_by_hand():
    # one wave of identical non-causal blocks: doubling the HBM bandwidth halves each block's
    # Q + O time, 128 rows x (128 + 128) values x 2 bytes / (bw x read efficiency / SMs),
    # and moves nothing else while the K/V stream stays hidden (a single head of 4,096
    # tokens, 32 blocks on 132 SMs, K/V 2 MB in L2)
    op = O.attention(1, 1, 1, 128, 4096, 4096, False, "bf16")
    base = load_hardware("h100-sxm")
    c = figures(base)
    bw = c.hbm_bw
    t1 = _time("h100-sxm", op)
    t2 = _time("h100-sxm", op, overrides={"memory.hbm.bandwidth_tb_per_s": 2 * bw / 1e12})
    qo = 128 * 256 * 2 / (bw * c.eff_r / c.sms)
    assert t1 - t2 == pytest.approx(qo / 2, rel=0.02)


def test_fa2_class_kernels_are_slower_on_hopper_only():
    op = O.attention(1, 32, 8, 128, 4096, 4096, True, "bf16")
    native, sm80 = _time("h100-sxm", op), _time("h100-sxm", op, sm80=1.0)
    # long prompt, compute-bound: about the ratio of the two efficiencies
    p = load_hardware("h100-sxm").chip.params
    assert sm80 / native == pytest.approx(p.attention_efficiency / p.attention_efficiency_sm80,
                                          rel=0.1)
    # Ampere's native kernels are FlashAttention-2: the knob names the same kernel there
    assert _time("a100-sxm-80gb", op, sm80=1.0) == _time("a100-sxm-80gb", op)


def test_each_efficiency_moves_its_own_class_in_its_direction():
    op = O.attention(2, 32, 8, 128, 2048, 2048, True, "bf16")
    lo = {"gpu.attention_efficiency_sm80": 0.4}
    hi = {"gpu.attention_efficiency_sm80": 0.7}
    assert _time("h100-sxm", op, 1.0, lo) > _time("h100-sxm", op, 1.0, hi)
    assert _time("h100-sxm", op, 0.0, lo) == _time("h100-sxm", op, 0.0, hi)
    lo = {"gpu.attention_efficiency": 0.7}
    hi = {"gpu.attention_efficiency": 0.95}
    assert _time("h100-sxm", op, 0.0, lo) > _time("h100-sxm", op, 0.0, hi)
    assert _time("h100-sxm", op, 1.0, lo) == _time("h100-sxm", op, 1.0, hi)


@pytest.mark.parametrize("runtime,sm80", [("vllm-v0", 1.0), ("sglang", 1.0),
                                          ("sglang-v03-api", 1.0), ("vllm-v1", 0.0),
                                          ("trtllm", 0.0), ("trtllm-pytorch", 0.0),
                                          ("graph", 0.0), ("eager", 0.0)])
def test_engine_attention_classes(runtime, sm80):
    # vLLM 0.6's vllm-flash-attn 2.6 and FlashInfer 0.1 (SGLang 0.3-0.4) are FlashAttention-2
    # class; TensorRT-LLM's FMHA, vLLM V1's FA3 and PyTorch's cuDNN SDPA are Hopper-native
    assert E.knob(E.lookup(runtime), "attention_sm80") == sm80


def test_committed_fit_matches_the_specs_and_its_measurements():
    fit = json.loads(fit_attention.OUT.read_text())
    for name in ("h100-sxm", "h200-sxm"):
        p = load_hardware(name).chip.params
        assert p.attention_efficiency == fit["native"]["value"]
        assert p.attention_efficiency_sm80 == fit["sm80"]["value"]
    # the one kernel each is fitted on, reproduced to the rounding of the value
    assert fit["native"]["measured_s"] == fit_attention.census_kernel_s() == pytest.approx(
        888.8e-6, rel=1e-3)
    assert fit_attention.native_body_s(fit["native"]["value"]) == pytest.approx(
        fit["native"]["measured_s"], rel=0.005)
    row = fit_attention.sm80_row()
    assert AK.flops(row) / AK.model_time_s(row) / 1e12 == pytest.approx(370, rel=0.005)
