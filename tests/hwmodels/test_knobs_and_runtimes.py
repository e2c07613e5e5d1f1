"""Knobs that must move the answer (ADC resolution, matrix peak), runtimes validated per
kind, one capacity account, and infeasible-is-a-result (simulate exit 3, serve agreeing)."""

from __future__ import annotations

import json

import pytest

from infersim.api import simulate
from infersim.cli import main
from infersim.foundation.errors import InputError
from infersim.hwmodels import CostContext, cost_model, load_hardware
from infersim.simulator.serving import (
    Deployment,
    FixedLengths,
    Poisson,
    ServingPolicy,
    Traffic,
    serve,
)
from infersim.workloads import ops


def _zigzag(bits: int) -> float:
    # ZigZag AIMC ADC energy (reference §4.3 [Z2]): (100 fF x B + 0.001 fF x 4^B) x VDD^2
    return 100.0 * bits + 0.001 * 4.0 ** bits


def test_adc_bits_move_array_time_and_conversion_energy_on_rram_cim():
    op = ops.matmul(1, 4096, 4096, "int8")
    base = load_hardware("rram-cim")
    hi = load_hardware("rram-cim", {"cim.adc_bits": 12})
    c8 = cost_model(base).op_cost(op, base, CostContext())
    c12 = cost_model(hi).op_cost(op, hi, CostContext())
    p = base.chip.params
    # one array cycle = 128 columns / 1 ADC x 0.78125 ns at 8 bits; delay ∝ bits (SAR)
    d8 = dict(c8.detail)
    conv = d8["adc_conversions"]
    passes, cycles = d8["array_passes"], d8["input_cycles"]
    assert c8.compute_s == pytest.approx(passes * cycles * 128 * p.adc_time_s)
    assert c12.compute_s == pytest.approx(c8.compute_s * 12 / 8)
    # conversion energy scales by the ZigZag ratio; everything else is unchanged
    adc8 = conv * p.adc_energy_j
    adc12 = conv * p.adc_energy_j * _zigzag(12) / _zigzag(8)
    idle = base.chip.power.idle_w
    assert c12.energy_j - idle * c12.time_s == pytest.approx(
        c8.energy_j - idle * c8.time_s + adc12 - adc8, rel=1e-9)
    assert c12.time_s > c8.time_s and c12.energy_j > c8.energy_j


def test_an_adc_narrower_than_a_column_partial_sum_is_warned_about():
    hw = load_hardware("rram-cim")  # 1-bit inputs x 2-bit cells over 128 rows: 1 + 2 + 7 = 10
    assert cost_model(hw).warnings(hw)  # 8-bit ADCs < 10 bits
    wide = load_hardware("rram-cim", {"cim.adc_bits": 10})
    assert cost_model(wide).warnings(wide) == ()
    assert cost_model(load_hardware("corsair")).warnings(load_hardware("corsair")) == ()


def test_the_cim_array_memory_is_counted_once():
    # Corsair's 2 GB SRAM holds the DIMC weights AND the KV cache: weights resident on chip
    # are what is left after the KV, never both at full size
    hw = load_hardware("corsair")
    m = cost_model(hw)
    assert m.resident_weight_fraction(hw, 1.24e9, 0.0, 0.0, 8) == 1.0
    assert m.resident_weight_fraction(hw, 1.24e9, 1.61e9, 0.0, 8) == pytest.approx(
        (2e9 - 1.61e9) / 1.24e9)


def test_adc_power_is_energy_per_conversion_times_rate():
    # rram-cim: ISAAC's ADC, 1.6 pJ per conversion at 1 / 0.78125 ns = 1.28 GS/s -> 2.048 mW
    p = load_hardware("rram-cim").chip.params
    assert p.adc_power_w() == pytest.approx(1.6e-12 / 0.78125e-9)
    # Walden: P = FoM x 2^bits x f_s; 25 fJ/step (Murmann survey median, single-channel SAR at
    # 0.1-3 GS/s) at 8 bits and 1.28 GS/s = 8.19 mW; one more bit doubles the energy of a
    # conversion and (ZigZag SAR delay ∝ bits) lengthens it 9/8
    w8 = load_hardware("rram-cim", {"cim.adc_fom_fj": 25}).chip.params
    w9 = load_hardware("rram-cim", {"cim.adc_fom_fj": 25, "cim.adc_bits": 9}).chip.params
    assert w8.adc_conversion_j() == pytest.approx(25e-15 * 256)
    assert w8.adc_power_w() == pytest.approx(25e-15 * 256 / 0.78125e-9)
    assert w9.adc_conversion_j() == pytest.approx(2 * w8.adc_conversion_j())
    assert w9.adc_power_w() == pytest.approx(w8.adc_power_w() * 2 * 8 / 9)


def test_adcs_cannot_draw_more_than_the_chip_power():
    # 50 pJ per conversion: a 4096 x 4096 int8 GEMV converts 1 token x 8 input cycles x
    # (4096 x 4 slices) columns x 32 row tiles = 4,194,304 times = 209.7 uJ; with the DACs
    # (8 cycles x 4096 rows x 128 column tiles x 0.0405 pJ), the MACs (33.6 MFLOP x 0.01 pJ)
    # and the array reads (16.79 MB x 8 x 0.005 pJ) the op needs 210.89 uJ. At the ADC rate
    # (1 ADC per array: 128 x 0.78125 ns x 8 cycles = 0.8 us) that is 264 W > the 225 W left
    # under the 250 W TDP (idle 25 W), so the arrays run at 210.89 uJ / 225 W = 0.937 us
    op = ops.matmul(1, 4096, 4096, "int8")
    conv = 1 * 8 * 4096 * 4 * 32
    dyn = conv * 50e-12 + 8 * 4096 * 128 * 0.0405e-12 + 2 * 4096 ** 2 * 0.01e-12 \
        + (4096 ** 2 + 2 * 4096) * 8 * 0.005e-12
    hot = load_hardware("rram-cim", {"cim.adc_energy_pj": 50})
    c = cost_model(hot).op_cost(op, hot, CostContext())
    assert dict(c.detail)["adc_conversions"] == conv
    assert c.compute_s == pytest.approx(dyn / 225.0)
    assert c.energy_j == pytest.approx(dyn + 25.0 * c.time_s)
    assert dict(c.detail)["adc_power_limited"] == 1.0
    # with a budget that covers the ADCs the ADC rate sets the time again
    cool = load_hardware("rram-cim", {"cim.adc_energy_pj": 50, "chip.power.tdp_w": 1000})
    assert cost_model(cool).op_cost(op, cool, CostContext()).compute_s == pytest.approx(0.8e-6)
    # more ADCs per array are never slower, but the op's power never exceeds the budget: the
    # 128-fold faster conversion the ADC rate alone would give buys nothing here
    times = []
    for k in (1, 2, 8, 32, 128):
        hw = load_hardware("rram-cim", {"cim.adc_energy_pj": 50, "cim.adcs_per_array": k})
        ck = cost_model(hw).op_cost(op, hw, CostContext())
        busy_w = (ck.energy_j - hw.chip.power.idle_w * ck.time_s) / ck.time_s
        assert busy_w <= 225.0 * (1 + 1e-9)
        times.append(ck.time_s)
    assert times == sorted(times, reverse=True)
    assert times[0] / times[-1] == pytest.approx(1.0, abs=1e-9)


def test_matrix_peak_moves_groq_batch_1_speed():
    kw = dict(weights="int8", activations="int8", kv="int8", context=2048, tp=8, pp=5)
    base = simulate("llama-3.1-8b", "groq-576", **kw)
    fast = simulate("llama-3.1-8b", load_hardware("groq-576", {
        "chip.compute.mxm.peak_tflops.int8": 3000, "chip.compute.mxm.peak_tflops.fp16": 752}),
        **kw)
    assert fast.latency_s < base.latency_s


@pytest.mark.parametrize("hw,bad", [("groq-lpu", "fused"), ("cs-3", "graph"),
                                    ("h100-sxm", "groq-2024"), ("groq-lpu", "cerebras-2024-08")])
def test_a_runtime_of_another_kind_is_an_error(hw: str, bad: str):
    with pytest.raises(InputError, match="runtime"):
        simulate("llama-3.2-1b", hw, runtime=bad, weights="int8")


def test_gpu_runtime_on_an_lpu_exits_2_with_one_line(capsys):
    assert main(["simulate", "--model", "llama-3.1-8b", "--hw", "groq-lpu",
                 "--runtime", "fused"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "groq-2024" in err[0]


def test_each_kind_lists_its_runtimes():
    # GPUs: the software stacks of hwmodels/models/gpu/engines.py, default first, aliases last
    assert cost_model(load_hardware("h100-sxm")).runtimes() == (
        "graph", "eager", "hf-eager", "gpt-fast-eager", "litgpt-eager", "fms-eager",
        "fms-benchmark", "fms-eager-2023-09", "fms-benchmark-2023-09", "torch-compile",
        "trtllm", "trtllm-pytorch", "vllm-v1", "vllm-v0", "sglang", "vllm-v0-api", "sglang-api",
        "sglang-v03-api", "trtllm-triton-v011", "trtllm-triton", "llama.cpp-cuda-2024-01",
        "llama.cpp-cuda", "llama.cpp-cuda-graphs", "fused")
    assert cost_model(load_hardware("groq-lpu")).runtimes() == ("groq-2024", "groq-2023")
    assert cost_model(load_hardware("cs-3")).runtimes() == ("cerebras-2024-10",
                                                           "cerebras-2024-08")


def test_does_not_fit_is_a_result_exit_3_with_null_speed(capsys):
    argv = ["simulate", "--model", "llama-2-70b", "--hw", "groq-lpu"]
    assert main(argv) == 3
    out = capsys.readouterr().out
    assert "does not fit" in out and "demand" in out and "lever" in out
    assert "tokens/s" not in out
    assert main([*argv, "--json"]) == 3
    d = json.loads(capsys.readouterr().out)
    assert d["feasible"] is False and d["tokens_per_s"] is None
    assert d["infeasible"]["demand"] > d["infeasible"]["capacity"]


@pytest.mark.parametrize("model,tp,pp", [("llama-3.1-8b", 8, 5), ("llama-2-70b", 8, 72)])
def test_validated_groq_deployments_fit_in_simulate_and_serve(model: str, tp: int, pp: int):
    kw = dict(weights="int8", kv="int8")
    r = simulate(model, "groq-576", context=256, activations="int8", tp=tp, pp=pp, **kw)
    assert r.feasible
    s = serve(model, "groq-576", Traffic(Poisson(1.0), FixedLengths(32, 8), 4),
              ServingPolicy(), deployment=Deployment(tp=tp, pp=pp, **kw))
    assert s.feasible, s.infeasible


def test_72_stage_groq_serve_splits_its_kv_so_every_request_runs():
    """Llama-2-70B int8 on 576 LPUs (tp 8, pp 72): 80 layers over 72 stages puts 2 layers on
    the busiest stage, 2 x (8192 x 18432 attention + 3 x 8192 x 28672 MLP) / 8 + 2 x 2 x 8192
    norm bytes = 213,942,272 B of a chip's 220 MiB; KV per token per chip 2 layers x 2 x 1
    KV head x 128 x 1 B = 512 B, a 16-token block 8,192 B. A 1,280-token request needs 80
    blocks: the pipeline keeps as many in flight as the blocks hold (not 72 engines of
    1/72 each, which held no request), and serve's TPOT is simulate's decode step."""
    kw = dict(weights="int8", kv="int8", activations="int8")
    r = simulate("llama-2-70b", "groq-576", context=1024 + 128, tp=8, pp=72, **kw)
    assert r.feasible
    s = serve("llama-2-70b", "groq-576", Traffic(Poisson(0.5), FixedLengths(1024, 256), 6),
              ServingPolicy(), deployment=Deployment(tp=8, pp=72, **kw))
    assert s.feasible and s.completed == 6 and s.rejected == 0
    reserve = 220 * 2 ** 20 - 213_942_272 - s.kv_blocks * 8192
    # what is left: the activation workspace (bf16 between the int8 GEMMs, `_Step.stream`)
    assert 0 <= reserve < 8192 + 16 * 2 ** 20
    assert s.kv_blocks // 80 >= 1
    assert s.tpot["p50"] == pytest.approx(r.latency_s, rel=0.02)
    # 16-bit weights (140 GB > 576 x 230.7 MB): neither command fits it
    r16 = simulate("llama-2-70b", "groq-576", context=1024 + 128, tp=8, pp=72)
    s16 = serve("llama-2-70b", "groq-576", Traffic(Poisson(0.5), FixedLengths(1024, 256), 6),
                ServingPolicy(), deployment=Deployment(tp=8, pp=72))
    assert not r16.feasible and not s16.feasible


CHIP_SPECS = sorted(p.stem for p in __import__("pathlib").Path(
    load_hardware("h100-sxm").origin).parent.glob("*.yaml"))


@pytest.mark.parametrize("name", CHIP_SPECS)
def test_serve_and_simulate_agree_on_feasibility(name: str):
    hw = load_hardware(name)
    r = simulate("llama-3.2-1b", hw, context=64, weights="int8", activations="bf16",
                 kv="bf16")
    s = serve("llama-3.2-1b", hw, Traffic(Poisson(1.0), FixedLengths(32, 8), 2),
              ServingPolicy(max_batch=1, max_tokens=64),
              deployment=Deployment(weights="int8", kv="bf16"))
    assert r.feasible == s.feasible, (r.infeasible, s.infeasible)
