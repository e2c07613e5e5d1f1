"""`infersim calibrate` end to end (--quick), its one-line errors and its atomicity."""

import os
import subprocess
import sys

import pytest
import yaml

from infersim.cli import main
from tests._support import ROOT


def _calibrate(args, env_extra=None, timeout=300):
    # One worker thread: a parallel kernel on a machine shared with other jobs can wait a whole
    # scheduler tick at its barrier; this test checks the pipeline, not the numbers.
    env = {**os.environ, "NUMBA_NUM_THREADS": "1", **(env_extra or {})}
    env.pop("NUMBA_ENABLE_CUDASIM", None)
    return subprocess.run([sys.executable, "-m", "infersim", "calibrate", *args], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("cal") / "sub" / "host.yaml"
    r = _calibrate(["--quick", "-o", str(out)])
    return out, r


def test_tiny_calibration_writes_a_loadable_spec_and_its_measurements(tiny_run):
    out, r = tiny_run
    assert r.returncode == 0, r.stderr[-3000:]
    data = out.with_suffix(".csv")
    assert out.is_file() and data.is_file()
    assert f"measurements: {data}" in r.stdout and f"calibrated spec: {out}" in r.stdout
    # progress: one line per step on stderr, with an ETA
    steps = [ln for ln in r.stderr.splitlines() if ln.startswith("[")]
    assert len(steps) >= 20 and all("ETA" in ln for ln in steps)

    from infersim.hwmodels.loader import load_hardware
    from infersim.hwmodels.spec import CpuParams, HardwareKind

    hw = load_hardware(out)  # the strict loader accepts it
    chip = hw.chip
    assert chip.kind is HardwareKind.CPU
    assert isinstance(chip.params, CpuParams) and chip.params.cores == 1  # NUMBA_NUM_THREADS
    assert chip.params.call_overhead_s > 0
    assert [m.name for m in chip.memory][-1] == "dram"
    # every fitted number cites the measurement file
    doc = yaml.safe_load(out.read_text())
    src = doc["sources"]
    assert str(data) in src["cpu.call_overhead_us"]
    for lvl in doc["memory"]:
        assert str(data) in src[f"memory.{lvl}.bandwidth_gb_per_s"]
    assert str(data) in src["compute.matrix.peak_gflops"]


def test_measurement_file_has_fit_and_holdout_rows(tiny_run):
    out, r = tiny_run
    assert r.returncode == 0, r.stderr[-3000:]
    from infersim.validation.measure import read_measurements

    m = read_measurements(out.with_suffix(".csv"))
    df = m.frame
    assert m.meta["device"] == "cpu" and m.meta["profile"] == "quick"
    assert {"fit", "holdout", "validate"} <= set(df.role)
    assert {"copy", "scale", "add", "triad", "sum", "gemm", "vfma", "empty", "attention",
            "llm_prefill", "llm_decode"} <= set(df.kernel)
    assert (df.median_s > 0).all() and df.median_s.notna().all()
    held = df[df.role == "holdout"]
    assert len(held) >= 5


def test_unknown_device_is_one_line_exit_2(tmp_path, capsys):
    rc = main(["calibrate", "--device", "tpu", "-o", str(tmp_path / "x.yaml")])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "unknown device 'tpu'" in err[0]
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("target", ["/proc/infersim-test/x.yaml", "{file}/x.yaml",
                                    "{dir}/spec.txt"])
def test_unwritable_output_is_one_line_exit_2(tmp_path, capsys, target):
    f = tmp_path / "a-file"
    f.write_text("x")
    path = target.format(file=f, dir=tmp_path)
    rc = main(["calibrate", "--no-progress", "-o", path])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and err[0].startswith(f"infersim: error: -o {path}")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file"]


def test_interrupted_fit_keeps_the_measurements_and_no_spec(tmp_path, capsys, monkeypatch):
    import infersim.validation.calibrate as cal
    from infersim.validation.measure import read_measurements

    real_fit = cal.fit_all

    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(cal, "fit_all", interrupted)  # Ctrl-C after measuring, before writing
    out = tmp_path / "spec.yaml"
    rc = main(["calibrate", "--profile", "tiny", "--no-progress", "-o", str(out)])
    assert rc == 130
    # the raw measurements are complete and kept (so --refit can use them); no spec
    assert sorted(p.name for p in tmp_path.iterdir()) == ["spec.csv"]
    meas = read_measurements(tmp_path / "spec.csv")
    assert meas.meta["device"] == "cpu" and len(meas.frame) > 0
    monkeypatch.setattr(cal, "fit_all", real_fit)
    capsys.readouterr()
    rc = main(["calibrate", "--refit", str(tmp_path / "spec.csv"), "-o", str(out), "--json"])
    assert rc in (0, 1), capsys.readouterr().err  # 1: the tiny profile's fit is refused


def test_physically_impossible_fit_is_refused():
    from infersim.validation.calibrate import CalibrationError, check_physical
    from infersim.validation.fit import Calibration, LevelFit
    from infersim.validation.hostinfo import HostInfo

    host = HostInfo("h", "cpu", 2, 2, (), 8 << 30, 2.5e9, "", "", "", "", "")
    # 2 cores × 64 fp32 FLOP/cycle × 3.75 GHz (2.5 GHz nominal × 1.5) = 480 GFLOP/s
    def cal(matrix, vector=None, dram=20e9):
        return Calibration(1e-6, 1e-6, (LevelFit("dram", 8e9, dram, 8e9),), vector or {},
                           matrix, 16.0, 4, 0.9, 0.5, 10, 0.1)

    check_physical(cal({"fp32": 400e9, "fp64": 150e9}), host)
    with pytest.raises(CalibrationError, match="exceeds 2 cores"):
        check_physical(cal({"fp32": 1e14}), host)  # the 1e5 GFLOP/s on 2 cores
    with pytest.raises(CalibrationError, match=r"fp64 .* faster than fp32"):
        check_physical(cal({"fp32": 50e9, "fp64": 120e9}), host)
    with pytest.raises(CalibrationError, match="main-memory bandwidth"):
        check_physical(cal({"fp32": 50e9}, dram=5e13), host)


def test_failed_spec_write_removes_the_new_measurement_file(tmp_path, monkeypatch):
    import infersim.validation.calibrate_common as cal

    real = cal.atomic_write_text

    def fail_on_spec(path, text):
        if str(path).endswith(".yaml"):
            raise OSError("disk full")
        real(path, text)

    monkeypatch.setattr(cal, "atomic_write_text", fail_on_spec)
    with pytest.raises(OSError):
        cal.write_pair(tmp_path / "m.csv", "data", tmp_path / "m.yaml", "spec")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(("header", "host_flags", "bits"), [
    ("512", ["fma", "avx2"], 512),  # the measured host's width, whatever host refits it
    ("512", [], 512),
    # the measured vector rate (348 GFLOP/s fp32 on 2 cores) needs 512-bit registers: a file
    # that says 256, or an old file refitted on an AVX2 host, is refused as impossible
    ("256", ["avx512f", "avx2"], None),
    (None, ["fma", "avx2"], None),
    (None, ["avx512f"], 512),  # a file from before the field: this host's flags
])
def test_refit_writes_the_measured_hosts_simd_width(tmp_path, monkeypatch, header, host_flags,
                                                    bits):
    from infersim.validation import calibrate, spec_writer
    from infersim.validation.calibrate_common import CalibrationError

    lines = (ROOT / "validation" / "data" / "vm-20261126.csv").read_text().splitlines()
    lines = [ln for ln in lines if not ln.startswith("# simd_width_bits:")]
    if header is not None:
        lines.insert(1, f"# simd_width_bits: {header}")
    data = tmp_path / "m.csv"
    data.write_text("\n".join(lines) + "\n")
    monkeypatch.setattr(spec_writer, "cpu_flags", lambda: list(host_flags))
    if bits is None:
        with pytest.raises(CalibrationError, match="physically impossible"):
            calibrate.refit(data, tmp_path / "m.yaml")
        assert not (tmp_path / "m.yaml").exists()
        return
    res = calibrate.refit(data, tmp_path / "m.yaml")
    doc = yaml.safe_load(res.spec_path.read_text())
    assert doc["cpu"]["simd_width_bits"] == bits
    src = doc["sources"]["cpu.simd_width_bits"]
    assert ("measurement file's header" in src) == (header is not None)


def test_host_info_records_the_simd_width_of_its_flags(tmp_path):
    from infersim.validation.hostinfo import HostInfo, cpu_flags, simd_bits

    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx avx2 fma\n")
    assert cpu_flags(info) == ["fpu", "sse2", "avx", "avx2", "fma"]
    assert simd_bits(cpu_flags(info))[0] == 256
    assert cpu_flags(tmp_path / "missing") == []
    meta = {"threads": "2", "simd_width_bits": "512"}
    assert HostInfo.from_meta(meta).simd_width_bits == 512
    assert HostInfo.from_meta({"threads": "2"}).simd_width_bits == 0  # unknown: not recorded
    assert HostInfo.from_meta(meta).to_dict()["simd_width_bits"] == 512  # written back


@pytest.mark.parametrize(("line", "value", "needle"), [
    ("simd_width_bits", "lots", "simd_width_bits: 'lots'; give one of 128, 256, 512"),
    ("simd_width_bits", "-256", "simd_width_bits: '-256'; give one of 128, 256, 512"),
    ("threads", "two", "threads: 'two' is not a number"),
])
def test_refit_of_a_bad_header_is_one_line_exit_2(tmp_path, capsys, line, value, needle):
    lines = (ROOT / "validation" / "data" / "vm-20261126.csv").read_text().splitlines()
    lines = [f"# {line}: {value}" if ln.startswith(f"# {line}:") else ln for ln in lines]
    data = tmp_path / "m.csv"
    data.write_text("\n".join(lines) + "\n")
    assert main(["calibrate", "--refit", str(data), "-o", str(tmp_path / "m.yaml")]) == 2
    err = capsys.readouterr().err.strip()
    assert needle in err and str(data) in err and len(err.splitlines()) == 1
    assert not (tmp_path / "m.yaml").exists()
