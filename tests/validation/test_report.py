"""`infersim validate`: data-set discovery, the statistics table, failures, plots, files."""

import pandas as pd
import pytest

import infersim.validation.report as rep
from infersim.cli import main
from infersim.validation.datasets import COLUMNS, Dataset, check_frame, discover


def _good() -> pd.DataFrame:
    # APEs 0.10, 0.10, 0.00, 0.50 (median 10.0%, p90 38.0%) in group "operators"; one exact
    # end-to-end row
    return pd.DataFrame({
        "dataset": "synthetic", "group": ["operators"] * 4 + ["end-to-end"],
        "case": list("abcde"), "predicted": [1.1, 0.9, 1.0, 1.5, 20.0],
        "measured": [1.0, 1.0, 1.0, 1.0, 20.0], "unit": ["s"] * 4 + ["tok/s"], "notes": ""})


def _broken() -> pd.DataFrame:
    raise FileNotFoundError("measurements.csv")


def _missing_column() -> pd.DataFrame:
    return _good().drop(columns=["unit"])


@pytest.fixture
def fake_datasets(monkeypatch):
    sets = [Dataset("synthetic", "hand-made rows", _good, "x"),
            Dataset("broken", "raises", _broken, "y"),
            Dataset("no_unit", "misses a column", _missing_column, "z")]
    monkeypatch.setattr(rep, "discover", lambda: sets)
    return sets


def test_report_tables_failures_and_plots(tmp_path, fake_datasets):
    r = rep.build_report(tmp_path / "out")
    md = r.markdown_path.read_text()
    assert r.markdown_path == tmp_path / "out" / "report.md"
    s = r.summary.set_index(["dataset", "group"])
    assert s.loc[("synthetic", "operators"), "n"] == 4
    assert s.loc[("synthetic", "operators"), "median_ape"] == pytest.approx(0.10)
    assert s.loc[("synthetic", "operators"), "p90_ape"] == pytest.approx(0.38)
    assert "| synthetic | operators | 4 | 10.0% | 38.0% | 50.0% |" in md
    assert set(r.failed) == {"broken", "no_unit"}
    assert "FileNotFoundError" in r.failed["broken"] and "unit" in r.failed["no_unit"]
    assert "## Worst cases" in md and "| synthetic | operators | d |" in md
    scatter = tmp_path / "out" / "scatter.png"
    assert scatter.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "![scatter](scatter.png)" in md
    assert (tmp_path / "out" / "cases.csv").is_file()


def test_validate_cli(tmp_path, fake_datasets, capsys):
    rc = main(["validate", "-o", str(tmp_path / "v")])
    out = capsys.readouterr()
    assert rc == 0
    assert f"report: {tmp_path / 'v' / 'report.md'}" in out.out
    assert "data set broken could not be loaded" in out.err


def test_check_frame_orders_and_coerces():
    df = _good()[list(reversed(COLUMNS))].assign(extra=1)
    out = check_frame(df, "x")
    assert list(out.columns) == list(COLUMNS)
    with pytest.raises(ValueError, match="no column"):
        check_frame(df.drop(columns=["measured"]), "x")


def test_every_discovered_dataset_follows_the_contract():
    # names and descriptions here; every frame is loaded and checked by `check_frame` in the
    # README's `infersim validate` run (tests/front_door/test_readme_walkthrough.py), which
    # fails on any "could not be loaded" line: grading every data set twice would cost CI
    # ~90 s
    names = set()
    for ds in discover():
        assert ds.name and ds.description, ds.module
        assert callable(ds.load), ds.module
        names.add(ds.name)
    assert {"cpu_kernels", "cpu_transformer", "serving_published", "llamacpp_cuda"} <= names


@pytest.mark.slow
def test_validate_measure_adds_this_machine(tmp_path, monkeypatch):
    # --measure calibrates now (quick profile, one worker thread here to keep it short on a
    # shared machine) and reports it as its own data sets next to the committed ones
    import numba

    monkeypatch.setattr(rep, "discover", lambda: [])
    numba.set_num_threads(1)
    try:
        r = rep.build_report(tmp_path / "m", measure=True)
    finally:
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
    assert {"cpu_kernels (this run)", "cpu_transformer (this run)"} <= set(r.data.dataset)
    assert (tmp_path / "m" / "measure" / "this-machine.csv").is_file()
    assert any(p.name.startswith("roofline-") for p in r.plots)
