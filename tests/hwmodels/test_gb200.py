"""The GB200 configuration of the B200 (`gb200`, `gb200-nvl72`): the same silicon at a higher
clock, so compute-bound work speeds up by the clock ratio; bandwidth-bound work speeds up only
by the HBM's ratio (NVIDIA's 8 TB/s for the GB200 against the 7.672 TB/s the driver reads on
a B200: a 7,680-bit bus at 3,996 MHz, pytorch/ao#4002)."""

from __future__ import annotations

import pytest

from infersim.api import load_hardware, simulate
from infersim.workloads.dtypes import DType

# NVIDIA's per-GPU dense peaks, TFLOPS (reference §1.1 [B2]): HGX B200 at 1,000 W and the
# GB200 configuration at 1,200 W
HGX = {DType.BF16: 2250, DType.FP8: 4500, DType.FP4: 9000}
GB = {DType.BF16: 2500, DType.FP8: 5000, DType.FP4: 10000}


def test_gb200_peaks_are_nvidias_gb200_figures():
    chip = load_hardware("gb200").chip
    for dt, tflops in GB.items():
        assert chip.peak_flops(dt) == pytest.approx(tflops * 1e12, rel=0.005), dt


def test_gb200_shares_the_b200_silicon_and_its_fitted_constants():
    """Same SMs, caches and in-engine constants (two fitted on B200 runs,
    validation/fitting/b200_fp4.py): a refit of b200.yaml must carry over to gb200.yaml. The
    HBM differs: the B200 enables 15/16 of its 8,192-bit bus (7,680 bits, 179 of 192 GiB),
    7.672 TB/s; the GB200 keeps NVIDIA's 8 TB/s (576 TB/s per NVL72 rack), no readout found."""
    b, g = load_hardware("b200").chip, load_hardware("gb200").chip
    assert g.params == b.params
    assert [m.name for m in g.memory] == [m.name for m in b.memory]
    assert g.level("l2").bandwidth_Bps == b.level("l2").bandwidth_Bps
    assert b.level("hbm").bandwidth_Bps == pytest.approx(7680 / 8 * 3996e6 * 2, rel=1e-3)
    assert g.level("hbm").bandwidth_Bps == pytest.approx(8e12)
    assert g.clock_hz / b.clock_hz == pytest.approx(GB[DType.BF16] / HGX[DType.BF16], rel=0.01)


def test_the_higher_clock_speeds_compute_bound_work_only():
    """A 70B prefill of 8,192 tokens is compute-bound: at most the clock ratio 10/9 faster
    (less where memory-bound ops dilute it); a one-sequence decode step streams the weights
    from the HBM: faster by at most its ratio, 8 / 7.672 TB/s, and by at least half of it, as
    the 70.6 GB fp8 weight stream (70.6e9 / (0.927 x 7.672e12) = 9.9 ms) is over half the
    B200's ~15 ms step."""
    ratio = GB[DType.BF16] / HGX[DType.BF16]
    kw = dict(weights="fp8")
    pb = simulate("llama-3.1-70b", "b200", "prefill", 1, prompt=8192, **kw).latency_s
    pg = simulate("llama-3.1-70b", "gb200", "prefill", 1, prompt=8192, **kw).latency_s
    assert 1.05 < pb / pg <= ratio + 1e-9
    db = simulate("llama-3.1-70b", "b200", "decode", 1, context=1024, **kw).latency_s
    dg = simulate("llama-3.1-70b", "gb200", "decode", 1, context=1024, **kw).latency_s
    hbm = 8.0 / 7.672
    assert 1.0 + (hbm - 1.0) / 2 < db / dg <= hbm + 1e-3


def test_gb200_nvl72_is_one_nvlink_domain_of_72():
    hw = load_hardware("gb200-nvl72")
    assert hw.num_chips == 72 and hw.scale_out is None
    assert hw.chip.name == "gb200"
    # 13.4 TB of HBM3e per rack (186 GB x 72)
    assert hw.num_chips * hw.chip.memory[-1].capacity_bytes == pytest.approx(13.4e12, rel=0.001)
