"""How many threads calibration uses on a shared machine, and the whole-chip figures derived
from fewer threads (validation/threads.py), with fake probes: no real timing is asserted."""

from __future__ import annotations

import math

import pytest

from infersim.validation import threads as thr
from infersim.validation.fit import Calibration, LevelFit


def fair_share(cores: int, hogs: int, per_core: float = 10.0):
    """Throughput of t threads sharing `cores` cores with `hogs` CPU-bound processes under a
    fair scheduler: each runnable thread gets min(1, cores / (t + hogs)) of a core."""
    calls: list[int] = []

    def probe(t: int) -> float:
        calls.append(t)
        return per_core * t * min(1.0, cores / (t + hogs))

    probe.calls = calls  # type: ignore[attr-defined]
    return probe


def test_idle_machine_uses_every_thread():
    plan = thr.decide_threads(2, fair_share(2, 0))
    assert plan.threads == 2 and plan.chip_threads == 2
    assert plan.probe == {1: 10.0, 2: 20.0} and plan.ratio == 2.0
    assert "all 2 cores free" in plan.reason


def test_one_hog_on_two_cores_uses_one_thread():
    # 2 threads + 1 hog on 2 cores: each thread gets 2/3 of a core, 4/3 cores in all
    probe = fair_share(2, 1)
    plan = thr.decide_threads(2, probe, others_busy_cores=1.0)
    assert plan.threads == 1
    assert plan.ratio == pytest.approx(4 / 3)
    assert thr.free_cores(2, 4 / 3) == pytest.approx(1.0)
    meta = plan.to_meta()
    assert meta["threads_used"] == "1" and meta["chip_threads"] == "2"
    assert meta["others_busy_cores"] == "1.00" and meta["thread_probe_flops"] == "1:10;2:13.33"


def test_three_hogs_on_eight_cores_use_five_threads():
    # 8 threads get 8·8/11 = 5.8 cores; 5 threads + 3 hogs fill the 8 cores exactly
    probe = fair_share(8, 3)
    plan = thr.decide_threads(8, probe)
    assert plan.threads == 5
    assert 5 in probe.calls  # the count was verified by a probe at 5 threads


def test_a_count_that_fails_verification_is_lowered():
    # the ratio suggests 3 free cores of 4, but 3 threads do not scale (a shared unit)
    table = {1: 10.0, 4: 31.5, 3: 3 * 10.0 * 0.6, 2: 2 * 10.0 * 0.9}
    assert thr.free_cores(4, table[4] / table[1]) == pytest.approx(8 - 16 / 3.15)  # 2.92
    plan = thr.decide_threads(4, lambda t: table[t])
    assert plan.threads == 2  # 3 gave 0.6 x 3 x one thread < 0.8; 2 gave 0.9


def test_one_configured_thread_runs_no_probe():
    probe = fair_share(1, 0)
    plan = thr.decide_threads(1, probe)
    assert plan.threads == 1 and probe.calls == []


def test_a_disturbed_probe_window_is_outvoted_by_the_faster_one():
    # the first single-thread window was disturbed (half speed): best of two windows
    seq = iter([5.0, 10.0, 19.5, 20.0])
    plan = thr.decide_threads(2, lambda t: next(seq))
    assert plan.probe[1] == 10.0 and plan.threads == 2


def _plan(t=1, n=2):
    return thr.ThreadPlan(n, t, {1: 10.0, n: 13.0}, 1.0, "cores busy")


def test_scaling_measured_when_cores_are_free_at_the_end():
    dram = {1: 30e9, 2: 50e9}
    s = thr.chip_scaling(_plan(), fair_share(2, 0, per_core=9.5), lambda t: dram[t])
    assert s.measured and s.compute == pytest.approx(2.0) and s.dram == pytest.approx(50 / 30)
    back = thr.ChipScaling.from_meta({**s.to_meta(), "chip_threads": "2", "threads_used": "1"},
                                     1)
    # the header keeps 6 significant digits
    assert back.compute == pytest.approx(s.compute, rel=1e-5)
    assert back.dram == pytest.approx(s.dram, rel=1e-5)
    assert back.measured and back.probe == pytest.approx(dict(s.probe), rel=1e-5)


def test_scaling_assumed_linear_when_cores_stay_busy():
    calls = []

    def dram(t):
        calls.append(t)
        return 1.0

    s = thr.chip_scaling(_plan(), fair_share(2, 1), dram)
    assert not s.measured and s.compute == 2.0 and s.dram == 2.0
    assert calls == []  # no DRAM probe on busy cores
    assert s.why.startswith("assumed: linear in cores (2/1)")
    assert "1.33x" in s.why


def test_all_threads_used_means_no_scaling():
    s = thr.chip_scaling(_plan(t=2), fair_share(2, 0), fair_share(2, 0))
    assert s.identity and s.compute == 1.0
    assert thr.ChipScaling.from_meta({}, 2).identity  # files without the header keys


def test_whole_chip_figures_from_one_thread():
    levels = (LevelFit("l1", 40e3, 100e9, 48e3), LevelFit("l2", 1.1e6, 80e9, 1e6),
              LevelFit("l3", 30e6, 60e9, 32e6), LevelFit("dram", 16e9, 20e9, 16e9))
    cal = Calibration(2e-6, 1.5e-6, levels, {"fp32": 40e9}, {"fp32": 50e9, "fp64": 25e9}, 12.0,
                      4, 0.6, 0.25, 100, 0.05)
    s = thr.ChipScaling(1, 2, 1.9, 1.5, True, {}, "probe")
    # nominal capacities of 2 threads: private L1/L2 twice, the shared L3 once
    chip = thr.scale_calibration(cal, s, (96e3, 2e6, 32e6))
    assert chip.vector_flops == {"fp32": pytest.approx(76e9)}
    assert chip.matrix_flops == {"fp32": pytest.approx(95e9), "fp64": pytest.approx(47.5e9)}
    assert [lv.capacity_bytes for lv in chip.levels[:3]] == pytest.approx([80e3, 2.2e6, 30e6])
    assert chip.bandwidths == pytest.approx((190e9, 152e9, 114e9, 30e9))
    assert chip.levels[-1].capacity_bytes == 16e9
    assert (chip.overhead_s, chip.gemm_half_rows, chip.attention_efficiency) == (2e-6, 12.0, 0.25)
    assert "1 of 2 threads" in chip.notes[-1]
    assert thr.scale_calibration(cal, thr.ChipScaling(2, 2, 1, 1, True, {}, ""), ()) is cal


def test_free_cores_inverts_fair_sharing():
    for n in (2, 4, 16):
        for k in range(0, n):
            ratio = n * n / (n + k)
            assert thr.free_cores(n, ratio) == pytest.approx(n - k)
    assert thr.free_cores(2, math.nan) == 0.0


# -- end to end: the measurement header drives the spec (refit), and calibrate records it ----

def _one_thread_file(src, dst, chip_meta) -> None:
    """The committed measurement file (2 threads) as if one thread had measured it: every time
    doubled (a plausible single core), its header saying `threads: 1` plus `chip_meta`."""
    from infersim.validation.measure import measurement_text, read_measurements

    m = read_measurements(src)
    df = m.frame.copy()
    for c in ("median_s", "p10_s", "p90_s"):
        df[c] = df[c] * 2.0
    dst.write_text(measurement_text(df, {**m.meta, "threads": "1", **chip_meta}))


def _per_thread_spec(tmp_path, src):
    """The same rows fitted as a 1-thread machine (no chip header): the per-thread figures."""
    import yaml

    from infersim.validation.calibrate import refit

    _one_thread_file(src, tmp_path / "one.csv", {})
    refit(tmp_path / "one.csv", tmp_path / "one.yaml")
    return yaml.safe_load((tmp_path / "one.yaml").read_text())


@pytest.mark.parametrize("measured", [True, False])
def test_refit_derives_whole_chip_figures_from_the_header(tmp_path, measured):
    import yaml

    from infersim.hwmodels.loader import load_hardware
    from infersim.validation.calibrate import refit
    from tests._support import ROOT

    src = ROOT / "validation" / "data" / "vm-20261126.csv"
    data = tmp_path / "chip.csv"
    chip_meta = {"chip_threads": "2", "threads_used": "1"}
    if measured:
        chip_meta |= {"scale_compute": "1.9", "scale_dram": "1.5", "scale_measured": "yes",
                      "scale_probe": "compute@1=1e10;compute@2=1.9e10;dram@1=2e10;dram@2=3e10",
                      "scale_why": "measured by the end probe"}
    else:
        chip_meta |= {"scale_compute": "2", "scale_dram": "2", "scale_measured": "no",
                      "scale_why": "assumed: linear in cores (2/1); the cores stayed busy"}
    _one_thread_file(src, data, chip_meta)
    res = refit(data, tmp_path / "chip.yaml")
    load_hardware(tmp_path / "chip.yaml")  # hw validate's checks, ceilings included
    chip = yaml.safe_load((tmp_path / "chip.yaml").read_text())
    per = _per_thread_spec(tmp_path, src)
    fc, fd = (1.9, 1.5) if measured else (2.0, 2.0)
    assert per["cpu"]["cores"] == 1 and chip["cpu"]["cores"] == 2
    for unit in ("matrix", "vector"):
        for dt, v in per["compute"][unit]["peak_gflops"].items():
            assert chip["compute"][unit]["peak_gflops"][dt] == pytest.approx(v * fc, rel=1e-3)
    assert chip["memory"]["dram"]["bandwidth_gb_per_s"] == pytest.approx(
        per["memory"]["dram"]["bandwidth_gb_per_s"] * fd, rel=1e-3)
    assert chip["memory"]["l1"]["bandwidth_gb_per_s"] == pytest.approx(
        per["memory"]["l1"]["bandwidth_gb_per_s"] * fc, rel=1e-3)
    # the private L1 (48 KiB per core) doubles with the second core; the shared L3 does not
    assert chip["memory"]["l1"]["capacity_kib"] == pytest.approx(
        2 * per["memory"]["l1"]["capacity_kib"], rel=1e-3)
    assert chip["memory"]["l3"]["capacity_mib"] == per["memory"]["l3"]["capacity_mib"]
    src_peak = chip["sources"]["compute.matrix.peak_gflops"]
    assert "1 of 2 thread" in src_peak and str(data) in src_peak
    assert src_peak.startswith("measured:") == measured
    assert src_peak.startswith("assumed:") != measured
    assert any("assume linear scaling" in w for w in res.warnings) != measured
    assert res.threads["threads_used"] == "1" and res.threads["chip_threads"] == "2"


def test_calibrate_measures_with_the_chosen_threads_and_records_them(tmp_path, monkeypatch):
    import numba

    from infersim.validation import calibrate as cal
    from infersim.validation import measure
    from infersim.validation import threads as thr
    from infersim.validation.calibrate import CalibrateOptions, CalibrationError, calibrate
    from infersim.validation.measure import read_measurements

    # one hog on two cores at the start (the fair-share probe), gone by the end probe
    probes = iter([fair_share(2, 1), fair_share(2, 0)])
    monkeypatch.setattr(cal, "configured_threads", lambda: 2)
    monkeypatch.setattr(thr, "others_busy_cores", lambda cpus: 1.0)
    monkeypatch.setattr(thr, "compute_probe", lambda: next(probes))
    monkeypatch.setattr(thr, "dram_probe", lambda: (lambda t: {1: 2e10, 2: 3.2e10}[t]))
    during = []
    real = measure.measure_kernels

    def spy(*a, **kw):
        during.append(numba.get_num_threads())
        return real(*a, **kw)

    monkeypatch.setattr(measure, "measure_kernels", spy)
    threads_before = numba.get_num_threads()
    try:
        res = calibrate(CalibrateOptions(out=tmp_path / "h.yaml", profile="tiny",
                                         progress=False, budget_s=None))
        assert res.threads["scale_measured"] == "yes"
        assert not any("linear scaling" in w for w in res.warnings)
    except CalibrationError:
        pass  # the tiny profile's few timings may not fit; the measurements are kept
    assert during == [1]  # the kernels ran with the thread the probe chose
    assert numba.get_num_threads() == threads_before  # restored
    meta = read_measurements(tmp_path / "h.csv").meta
    assert meta["threads"] == "1" and meta["threads_used"] == "1"
    assert meta["chip_threads"] == "2" and meta["scale_measured"] == "yes"
    assert float(meta["scale_compute"]) == pytest.approx(2.0)
    assert float(meta["scale_dram"]) == pytest.approx(1.6)
    assert meta["thread_probe_flops"] == "1:10;2:13.33"
    assert meta["scale_probe"] == "compute@1=10;compute@2=20;dram@1=2e+10;dram@2=3.2e+10"
