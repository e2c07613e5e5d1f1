"""Power caps and DVFS (hwmodels/power.py): the V/f curve, what a clock change scales, the
clock the limiter picks (by hand and by brute force over the clock grid), and the physics a
cap must respect (a lower cap is never faster nor draws more; decode loses less than prefill)."""

from __future__ import annotations

import json
import math

import pytest

from infersim.api import load_hardware, simulate
from infersim.cli import main
from infersim.foundation.errors import SpecError
from infersim.hwmodels.loader import load_hardware_text
from infersim.hwmodels.power import CLOCK_STEP_HZ, at_clock, solve_clock, vf_curve
from infersim.mapper.core import map_trace
from infersim.workloads import build_trace
from infersim.workloads.dtypes import DType

# H100 V/f curve of hwmodels/specs/h100-sxm.yaml: (1.0 GHz, 0.70 V) -> (1.98 GHz, 1.05 V)
V_H100_SPEC_CLOCK = 0.70 + 0.35 * (1.83 - 1.0) / (1.98 - 1.0)

# A chip whose whole power is dynamic compute power with V ∝ f, so P(f) = P0·(f/f0)³.
CUBIC = """\
name: cubic
kind: gpu
clock_ghz: 2
compute: {tc: {type: matrix, peak_tflops: {bf16: 100}}}
memory:
  hbm: {capacity_gb: 10, bandwidth_tb_per_s: 1, holds: [weights, kv, activations]}
power: {tdp_w: 100, idle_w: 0, cap_w: 50, clock_min_ghz: 1, clock_max_ghz: 2,
        voltage_min_v: 0.5, voltage_max_v: 1.0}
energy: {pj_per_flop: {bf16: 1.0}}
gpu: {sm_count: 10, l2_mb: 1, kernel_launch_us: 1, host_launch_us: 1}
sources: {clock_ghz: 'assumed: test', compute: 'assumed: test', memory: 'assumed: test',
          power: 'assumed: test', energy: 'assumed: test', gpu: 'assumed: test'}
"""


def test_vf_curve_from_the_spec_by_hand(h100):
    c = vf_curve(h100.chip)
    assert c.source == "spec"
    assert c.voltage(1.83e9) == pytest.approx(V_H100_SPEC_CLOCK)
    assert c.voltage(1.98e9) == pytest.approx(1.05)
    assert c.voltage(0.5e9) == pytest.approx(0.70)  # flat below clock_min


def test_vf_curve_defaults_by_process_node(groq_lpu):
    c = vf_curve(groq_lpu.chip)  # 14 nm, no curve in the spec: the 16 nm row of NODE_VOLTAGES
    assert "default" in c.source
    assert (c.voltage_min_v, c.voltage_max_v) == (0.65, 0.80)
    assert c.clock_max_hz == groq_lpu.chip.clock_hz
    assert c.clock_min_hz == pytest.approx(groq_lpu.chip.clock_hz / 2)


def test_at_clock_scales_compute_and_on_chip_memory_not_hbm_by_hand(h100):
    f = 1.2e9
    h = at_clock(h100, f)
    vr = (0.70 + 0.35 * (1.2 - 1.0) / 0.98) / V_H100_SPEC_CLOCK
    # tensor peak = 132 SMs × 4,096 FLOP/cycle × f
    assert h.chip.peak_flops(DType.BF16) == pytest.approx(132 * 4096 * 1.2e9)
    assert h.chip.level("hbm").bandwidth_Bps == h100.chip.level("hbm").bandwidth_Bps
    assert h.chip.level("hbm").energy_j_per_bit == h100.chip.level("hbm").energy_j_per_bit
    assert h.chip.level("l2").bandwidth_Bps == pytest.approx(12e12 * 1.2 / 1.83)
    assert h.chip.level("l2").energy_j_per_bit == pytest.approx(0.5e-12 * vr ** 2)
    assert h.chip.mac_energy_j[DType.BF16] == pytest.approx(0.62e-12 * vr ** 2)
    assert h.chip.power.idle_w == pytest.approx(90.0 * vr)
    assert h.chip.power.cap_w == 0.0  # the clock is chosen: no second throttle


def test_solver_hand_case_cap_at_half_of_dynamic_power():
    hw = load_hardware_text(CUBIC)
    f0, e0 = 2e9, 1e-12

    def evaluate(h):
        # 100 W of dynamic power at f0 (1e14 FLOP/s × 1 pJ), scaled by f and V² as built
        p = 1e14 * (h.chip.clock_hz / f0) * h.chip.mac_energy_j[DType.BF16]
        return p, h.chip.clock_hz

    _, clock, th = solve_clock(hw, evaluate)
    # by hand: 100·(f/f0)³ = 50 -> f = 2 GHz × 0.5^(1/3) = 1.5874 GHz; on the 15 MHz grid below
    # 2 GHz the highest clock at or under it is 2000 - 28·15 = 1580 MHz
    exact = f0 * 0.5 ** (1 / 3)
    k = math.ceil((f0 - exact) / CLOCK_STEP_HZ)
    assert k == 28
    assert clock == pytest.approx(f0 - 28 * CLOCK_STEP_HZ)
    assert th is not None and th.throttled and not th.at_floor
    assert th.power_w == pytest.approx(100 * (1.58 / 2) ** 3)
    assert th.nominal_power_w == pytest.approx(100.0)
    assert e0 * (1.58 / 2) ** 2 == pytest.approx(at_clock(hw, 1.58e9).chip.mac_energy_j[DType.BF16])


def test_cap_above_full_load_power_changes_nothing(llama8b, h100):
    capped = load_hardware("h100-sxm", {"power.cap_w": 700})  # = TDP
    for phase, batch in (("prefill", 1), ("decode", 64)):
        a = simulate(llama8b, h100, phase=phase, batch=batch)
        b = simulate(llama8b, capped, phase=phase, batch=batch)
        assert (b.latency_s, b.energy_j) == (a.latency_s, a.energy_j)
        th = b.schedule.dvfs
        assert th is not None and not th.throttled and th.clock_hz == 1.83e9
        assert b.schedule.hardware is capped


def _power(sched) -> float:
    """Power per chip while its kernels run, by its definition: energy less the static power
    of the waits, over the chip-seconds of kernels."""
    par = sched.trace.scenario.parallel
    chips = par.tp * par.pp
    busy = sched.device_s * par.tp
    wait = sched.latency_s * chips - busy
    return (sched.energy_j - sched.hardware.chip.power.idle_w * wait) / busy


def test_capped_clock_is_the_highest_grid_clock_under_the_cap_brute_force(llama8b, h100):
    from infersim.api import make_scenario

    trace = build_trace(llama8b, make_scenario("prefill", 1, prompt=2048))
    p0 = _power(map_trace(trace, h100))
    idle = h100.chip.power.idle_w
    cap = idle + (p0 - idle) / 2  # half of the dynamic power
    capped = load_hardware("h100-sxm", {"power.cap_w": cap})
    s = map_trace(trace, capped)
    assert s.dvfs is not None and s.dvfs.throttled and not s.dvfs.at_floor
    # brute force: every grid clock, the highest whose step draws at most the cap
    f0, best = 1.83e9, None
    k = 0
    while f0 - k * CLOCK_STEP_HZ >= 1.0e9:
        f = f0 - k * CLOCK_STEP_HZ
        if _power(map_trace(trace, at_clock(h100, f))) <= cap:
            best = f
            break
        k += 1
    assert best is not None and s.dvfs.clock_hz == pytest.approx(best)
    assert _power(s) <= cap
    # compute-bound prefill: halving dynamic power costs clearly more than a quarter of the
    # clock (P_dyn ∝ f·V², V falls with f) but less than half of it
    assert 0.5 < s.dvfs.clock_hz / f0 < 0.8


@pytest.mark.parametrize(("phase", "batch"), [("prefill", 1), ("decode", 64)])
def test_lower_cap_is_never_faster_and_never_draws_more(llama8b, phase, batch):
    prev_lat, prev_p = 0.0, math.inf
    for cap in (700, 450, 350, 275, 225, 200):
        r = simulate(llama8b, load_hardware("h100-sxm", {"power.cap_w": cap}), phase=phase,
                     batch=batch)
        p = _power(r.schedule)
        assert r.latency_s >= prev_lat
        assert p <= prev_p + 1e-9
        assert r.schedule.dvfs is not None
        if not r.schedule.dvfs.at_floor:
            assert p <= cap
        prev_lat, prev_p = r.latency_s, p


def test_memory_bound_decode_loses_less_speed_than_prefill(llama8b, h100):
    capped = load_hardware("h100-sxm", {"power.cap_w": 250})
    slow = {}
    for phase, batch in (("prefill", 1), ("decode", 16)):
        a = simulate(llama8b, h100, phase=phase, batch=batch)
        b = simulate(llama8b, capped, phase=phase, batch=batch)
        slow[phase] = b.latency_s / a.latency_s
        assert b.energy_per_token_j <= a.energy_per_token_j  # lower V: less energy per FLOP
    assert slow["prefill"] > 1.2
    assert slow["decode"] < 1.05
    assert slow["decode"] < slow["prefill"]


def test_system_cap_applies_per_chip(llama70b, dgx_h100):
    capped = load_hardware("dgx-h100", {"chip.power.cap_w": 300})
    r = simulate(llama70b, capped, phase="prefill", batch=1, prompt=4096, tp=8, weights="fp8")
    assert r.schedule.dvfs is not None and r.schedule.dvfs.throttled
    assert _power(r.schedule) <= 300


def test_cli_power_cap_is_set_power_cap_and_the_api(capsys):
    outs = []
    for extra in (["--power-cap", "300"], ["--set", "chip.power.cap_w=300"]):
        assert main(["simulate", "--hw", "h100-sxm", "--phase", "prefill", "--json", *extra]) == 0
        outs.append(json.loads(capsys.readouterr().out))
    a, b = outs
    assert a["dvfs"] == b["dvfs"] and a["latency_s"] == b["latency_s"]
    api = simulate("llama-3.1-8b", load_hardware("h100-sxm", {"power.cap_w": 300}),
                   phase="prefill")
    assert a["latency_s"] == api.latency_s and a["dvfs"]["clock_hz"] == api.schedule.dvfs.clock_hz
    assert a["dvfs"]["clock_hz"] < 1.83e9


def test_bad_caps_and_curves_are_one_clear_error(capsys):
    assert main(["simulate", "--hw", "h100-sxm", "--power-cap", "50"]) == 2
    err = capsys.readouterr().err
    assert "power.cap_w" in err and "idle" in err and "Traceback" not in err
    with pytest.raises(SpecError) as ei:
        load_hardware_text(CUBIC.replace("clock_min_ghz: 1,", "clock_min_ghz: 3,"))
    assert "power.clock_min_ghz" in ei.value.paths
    with pytest.raises(SpecError) as ei:
        load_hardware_text(CUBIC.replace("voltage_min_v: 0.5", "voltage_min_v: 1.2"))
    assert "power.voltage_min_v" in ei.value.paths


def test_a_sweep_over_the_cap_gives_the_api_answer(write_study, tmp_path):
    from infersim.studies.runner import run_sweep
    from infersim.studies.spec import load_study

    study = load_study(write_study("""
        name: cap-sweep
        evaluate: simulate
        fixed:
          model: llama-3.1-8b
          hardware: h100-sxm
          scenario: {phase: prefill, prompt: 1024}
        sweep:
          hw.power.cap_w: [0, 300]
        search: {method: grid}
        metrics: [latency_s, energy_per_token_j]
        """))
    frame = run_sweep(study, tmp_path / "out", executor="inline", progress=False).frame
    for cap in (0, 300):
        row = frame[frame["hw.power.cap_w"] == cap].iloc[0]
        r = simulate("llama-3.1-8b", load_hardware("h100-sxm", {"power.cap_w": cap}),
                     phase="prefill", prompt=1024)
        assert row["latency_s"] == r.latency_s
    capped = frame[frame["hw.power.cap_w"] == 300].iloc[0]
    free = frame[frame["hw.power.cap_w"] == 0].iloc[0]
    assert capped["latency_s"] > free["latency_s"]


def test_serve_takes_the_cap_prefill_slows_more_than_decode(capsys):
    res = []
    for extra in ([], ["--power-cap", "250"]):
        assert main(["serve", "--model", "llama-3.1-8b", "--hw", "h100-sxm", "--rate", "4",
                     "--requests", "100", "--prompt", "1024", "--output", "64", "--seed", "0",
                     "--json", *extra]) == 0
        res.append(json.loads(capsys.readouterr().out))
    free, capped = res
    assert capped["ttft_mean_s"] > free["ttft_mean_s"]
    assert capped["tpot_mean_s"] >= free["tpot_mean_s"]
    assert (capped["ttft_mean_s"] / free["ttft_mean_s"]
            > capped["tpot_mean_s"] / free["tpot_mean_s"])
