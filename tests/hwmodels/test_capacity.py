"""Capacity checks against hand arithmetic."""

from __future__ import annotations

import math

import pytest

from infersim.foundation.errors import InputError
from infersim.hwmodels.capacity import check_capacity
from infersim.hwmodels.loader import load_hardware_text

TWO_LEVEL = """\
# test chip: 1 GB SRAM for activations only, 10 GB HBM for everything
name: two-level
kind: gpu
clock_ghz: 1
compute: {tc: {type: matrix, peak_tflops: {bf16: 100}}}
memory:
  sram: {capacity_gb: 1, bandwidth_tb_per_s: 10, holds: [activations]}
  hbm: {capacity_gb: 10, bandwidth_tb_per_s: 1, holds: [weights, kv, activations]}
power: {tdp_w: 100, idle_w: 10}
gpu: {sm_count: 10, l2_mb: 1, kernel_launch_us: 1, host_launch_us: 1}
sources: {clock_ghz: 'assumed: test', compute: 'assumed: test', memory: 'assumed: test',
          power: 'assumed: test', gpu: 'assumed: test'}
"""


def test_fits(h100):
    # H100: 70 GB of weights + 5 GB of KV <= 85.52 GB HBM (81559 MiB)
    assert check_capacity(h100, 70e9, 5e9) is None


def test_does_not_fit_with_the_numbers_of_the_gap(h100):
    inf = check_capacity(h100, 141e9, 0.0, weight_bits=16)
    assert inf is not None
    assert (inf.demand, inf.capacity, inf.unit) == (141e9, 85.52e9, "B")
    assert inf.gap == pytest.approx(141e9 - 85.52e9, rel=1e-12)
    assert inf.detail["chips_needed"] == math.ceil(141 / 85.52) == 2
    # bf16 -> int8 halves 141 GB to 70.5 GB, which fits 85.52 GB
    assert any("int8" in lever and "70.5 GB" in lever for lever in inf.levers)


def test_tensor_classes_only_use_levels_that_hold_them():
    hw = load_hardware_text(TWO_LEVEL)
    # weights 9 + KV 0.5 <= HBM 10; activations 1.5 <= SRAM 1 + spare HBM 0.5: 11 <= 11 fits
    assert check_capacity(hw, 9e9, 0.5e9, 1.5e9) is None
    # activations 2: all three need 11.5 > 1 + 10 = 11
    inf = check_capacity(hw, 9e9, 0.5e9, 2e9)
    assert inf is not None and inf.demand == 11.5e9 and inf.capacity == 11e9
    # weights 10.5 alone exceed the only level that may hold weights (10), although
    # the chip has 11 GB in total
    inf = check_capacity(hw, 10.5e9, 0.0, 0.0)
    assert inf is not None and inf.capacity == 10e9 and "hbm" in inf.resource


def test_external_levels_count_only_when_streaming_weights(cs3):
    inf = check_capacity(cs3, 141e9, 1e9)  # 70B bf16 on one wafer: 44 GB SRAM
    assert inf is not None and inf.capacity == 44e9
    assert any("memoryx" in lever for lever in inf.levers)
    assert check_capacity(cs3, 141e9, 1e9, stream_weights=True) is None


def test_more_chips_than_the_system_has(dgx_h100):
    inf = check_capacity(dgx_h100, 1e9, 0.0, chips=16)
    assert inf is not None and inf.resource == "chips"
    assert (inf.demand, inf.capacity) == (16, 8)


def test_bad_input_is_an_input_error(h100):
    with pytest.raises(InputError):
        check_capacity(h100, -1.0, 0.0)
    with pytest.raises(InputError):
        check_capacity(h100, 1.0, 0.0, chips=0)
