"""The committed calibration of this repository's CPU (validation/data/<host>-<date>.{csv,yaml},
written by `infersim calibrate`): it loads, it is reproducible from its measurements, and the
simulator meets the closed-loop targets on it.

Regenerate after a change to the fit or the spec writer (no measuring):
    infersim calibrate --refit validation/data/<host>-<date>.csv
Re-measure (on an idle machine, ~1 min):
    infersim calibrate
"""

import pytest
import yaml

from infersim.validation.datasets._calibration_files import calibration_runs
from infersim.validation.stats import error_stats
from tests._support import ROOT

RUNS = calibration_runs("cpu")


def test_a_calibration_of_this_machine_is_committed():
    assert RUNS, "no validation/data/<host>-<date>.csv with its .yaml: run `infersim calibrate`"


@pytest.mark.parametrize("run", RUNS, ids=[r.spec_path.stem for r in RUNS])
def test_committed_spec_loads_and_cites_its_measurements(run):
    from infersim.hwmodels.loader import load_hardware
    from infersim.hwmodels.spec import HardwareKind

    hw = load_hardware(run.spec_path)
    assert hw.kind is HardwareKind.CPU
    doc = yaml.safe_load(run.spec_path.read_text())
    ref = run.measurements.path.resolve().relative_to(ROOT).as_posix()
    fitted = ["cpu.call_overhead_us", "compute.matrix.peak_gflops", "compute.vector.peak_gflops",
              "cpu.gemm_half_rows", "cpu.attention_efficiency", "cpu.weight_stream_efficiency"]
    fitted += [f"memory.{lvl}.bandwidth_gb_per_s" for lvl in doc["memory"]]
    for key in fitted:
        assert ref in doc["sources"][key], key


@pytest.mark.parametrize("run", RUNS, ids=[r.spec_path.stem for r in RUNS])
def test_refit_reproduces_the_committed_spec(run, tmp_path):
    from infersim.validation.calibrate import refit

    out = tmp_path / run.spec_path.name
    refit(run.measurements.path, out)
    assert out.read_text() == run.spec_path.read_text(), (
        "the fit no longer reproduces the committed spec; regenerate with "
        f"`infersim calibrate --refit {run.measurements.path}`")


@pytest.mark.parametrize("run", RUNS, ids=[r.spec_path.stem for r in RUNS])
def test_closed_loop_targets_on_committed_measurements(run):
    """Targets of the validation issue on this 2-core machine: held-out kernel sizes within
    15% median APE; the small transformer's prefill and decode steps within 20%."""
    from infersim.validation.datasets import cpu_kernels, cpu_transformer

    k = cpu_kernels.load_from([run.measurements.path])
    held = k[k.group == "operators"]
    st = error_stats(held.predicted, held.measured)
    assert st.n >= 50
    assert st.median_ape <= 0.15, st
    t = cpu_transformer.load_from([run.measurements.path])
    assert set(t.case.str.split().str[0]) == {"prefill", "decode"}
    ts = error_stats(t.predicted, t.measured)
    assert ts.median_ape <= 0.20, ts
