"""The RTX PRO 6000 Blackwell Server Edition (`rtx-pro-6000`, `rtx-pro-6000x8`): NVIDIA's
quoted figures, and a board whose GDDR7 streams the weights 4.5x slower than a B200's HBM."""

from __future__ import annotations

import pytest

from infersim.api import load_hardware, predict_op, simulate
from infersim.workloads.dtypes import DType


def test_peaks_are_nvidias_quoted_figures_made_dense():
    """4,000 AI TOPS is FP4 with 2:4 sparsity: 2,000 dense; fp8 half, bf16 a quarter; 125
    TFLOPS of FP32 on 188 SMs x 128 lanes x 2 FLOP is a 2.60 GHz clock."""
    chip = load_hardware("rtx-pro-6000").chip
    for dt, tflops in {DType.FP4: 2000, DType.FP8: 1000, DType.BF16: 500}.items():
        assert chip.peak_flops(dt) == pytest.approx(tflops * 1e12, rel=0.002), dt
    assert chip.clock_hz == pytest.approx(125e12 / (188 * 128 * 2), rel=0.002)
    gddr = chip.level("hbm")
    assert gddr.capacity_bytes == 96e9
    assert gddr.bandwidth_Bps == pytest.approx(512 / 8 * 28e9)  # 512-bit bus at 28 Gbps


def test_decode_streams_the_weights_at_the_gddr7_rate():
    """One sequence's 70B NVFP4 decode step reads ~35.3 GB of weights (0.5 B per parameter):
    on 1.79 TB/s of GDDR7 that takes at least 35.3e9 x (1/1.792e12 - 1/7.672e12) = 15.1 ms
    longer than on a B200's 7.672 TB/s, and not much more (the per-step costs are alike); a
    70B model in bf16 (141 GB) does not fit one board."""
    kw = dict(weights="fp4", activations="fp4", kv="fp8")
    r = simulate("llama-3.3-70b", "rtx-pro-6000", "decode", 1, context=1024, **kw)
    b = simulate("llama-3.3-70b", "b200", "decode", 1, context=1024, **kw)
    floor = 35.3e9 * (1 / 1792e9 - 1 / 7.672e12)
    assert floor < r.latency_s - b.latency_s < 1.5 * floor
    big = simulate("llama-3.3-70b", "rtx-pro-6000", "decode", 1, context=1024, weights="bf16")
    assert not big.feasible


def test_the_server_is_eight_boards_on_pcie_gen5():
    hw = load_hardware("rtx-pro-6000x8")
    assert hw.num_chips == 8 and hw.chip.name == "rtx-pro-6000"
    # PCIe 5.0 x16: 32 GT/s x 16 lanes x 128/130, per direction
    assert hw.interconnect.link_bandwidth_Bps == pytest.approx(32e9 * 16 / 8 * 128 / 130,
                                                               rel=0.001)


def test_the_nvfp4_constants_follow_the_b200s_fitted_ones():
    """No RTX row fits anything: the board takes the B200's fitted NVFP4 GEMM share and its
    decode attention's per-SM-clock KV rate (validation/fitting/b200_fp4.py), so a refit of
    b200.yaml carries over; that rate at this board's SMs x clock exceeds its whole GDDR7
    bandwidth, so a KV-bound decode attention streams at the memory's read share."""
    from infersim.workloads import ops as O

    b, r = load_hardware("b200").chip.params, load_hardware("rtx-pro-6000").chip
    p = r.params
    assert (p.mma_efficiency_fp4, p.decode_attention_sm_bytes_per_cycle) == (
        b.mma_efficiency_fp4, b.decode_attention_sm_bytes_per_cycle)
    gddr = r.level("hbm").bandwidth_Bps
    assert 188 * r.clock_hz * p.decode_attention_sm_bytes_per_cycle > 4 * gddr
    dec = O.attention(64, 64, 8, 128, 1, 4096, False, "bf16", kv_dtype="fp8")
    kv = 2.0 * 64 * 4096 * 8 * 128
    assert predict_op(dec, "rtx-pro-6000", "graph") == pytest.approx(kv / (0.91 * gddr),
                                                                     rel=0.1)
