"""`infersim validate`: data-set discovery, the statistics table, failures, plots, files."""

import pandas as pd
import pytest

import infersim.validation.report as rep
from infersim.cli import main
from infersim.validation.datasets import COLUMNS, Dataset, check_frame, discover
from infersim.validation.datasets import serving_published as sp


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


def test_validate_prints_the_reports_own_summary_lines_computed_once(tmp_path, fake_datasets,
                                                                    monkeypatch, capsys):
    # the kernel and production lines the command prints are report.md's, computed once
    # (each costs seconds on the shipped data sets)
    calls = []

    def lean(data):
        calls.append(len(data))
        return ["", "- production lean line"]

    monkeypatch.setattr(rep, "production_lean", lean)
    assert main(["validate", "-o", str(tmp_path / "v")]) == 0
    out = capsys.readouterr().out
    assert calls == [5]  # the synthetic data set's rows, once
    assert out.count("- production lean line") == 1
    assert "\n- production lean line\n" in (tmp_path / "v" / "report.md").read_text()


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


# README accuracy rows (by their first words) -> the report groups their cells quote, in the
# order of the "a / b" figures of each cell; ("production", label) is a line of the report's
# production-engine summary ("held out", "dense models", a software stack)
_README_ROWS = {
    "Vidur H100 GEMMs": [("vidur", "H100 gemm (held-out)"), ("vidur", "H100 gemm (fit)")],
    "Vidur A100 GEMMs": [("vidur", "A100 gemm (held-out)"), ("vidur", "A100 gemm (fit)")],
    "Vidur H100 vector": [("vidur", "H100 vector (held-out)"), ("vidur", "H100 vector (fit)")],
    "Vidur A100 vector": [("vidur", "A100 vector (held-out)"), ("vidur", "A100 vector (fit)")],
    "Vidur NCCL all-reduce": [("vidur", "H100 collective ≥1 MiB (held-out)"),
                              ("vidur", "A100 collective ≥1 MiB (held-out)")],
    "Vidur NCCL < 1 MiB": [("vidur", "H100 collective <1 MiB (held-out)"),
                           ("vidur", "A100 collective <1 MiB (held-out)")],
    "LLMCompass A100 operators": [("llmcompass_a100", "operators (held-out)")],
    "LLMCompass GPT-3 layer": [("llmcompass_a100", "layer (held-out)")],
    "published fused-MoE": [("moe_kernels", "fused MoE layer (held-out)")],
    "published flash-attention": [
        ("attention_kernels", "flash-attention forward, native (FlashAttention-3, cuDNN) "
                              "(held-out)"),
        ("attention_kernels", "flash-attention forward, FlashAttention-2 class (held-out)")],
    "Vidur A100 paged decode": [
        ("vidur_attention", "A100 paged decode attention ≥ 256 MB of KV (held-out)")],
    "one H200, measured here": [("gpu_measurements", "operators: gemm")],
    "one H200: vector kernels": [("gpu_measurements", "operators: elementwise"),
                                 ("gpu_measurements", "operators: attention")],
    "one H200: plain-PyTorch": [("gpu_measurements", "end-to-end (graph)"),
                                ("gpu_measurements", "end-to-end (eager)")],
    "one H200: numba.cuda": [("gpu_measurements", "numba.cuda kernels (held-out)")],
    "this machine": [("cpu_kernels", "operators"), ("cpu_transformer", "end-to-end")],
    "all production-engine rows": [("production", "held out")],
    "… dense models": [("production", "dense models"),
                       ("production", "mixture-of-experts models")],
    "… by parallel layout": [("production", sp.ONE_GROUP_LAYOUT),
                             ("production", sp.DP_LAYOUT)],
    "… by stack: TensorRT-LLM": [("production", "TensorRT-LLM (trtllm-bench PyTorch backend)"),
                                 ("production", "TensorRT-LLM v0.17 (trtllm-bench, C++ engine)"),
                                 ("production", "TensorRT-LLM v0.14 (Triton TensorRT-LLM backend)")],
    "… by stack: SGLang": [("production", "SGLang 0.4 (Dec 2024)"),
                           ("production", "vLLM v0.6.0 (--num-scheduler-steps 10)"),
                           ("production", "NVIDIA NIM 1.8.0 (TensorRT-LLM)"),
                           ("production", "SGLang v0.3.0"),
                           ("production", "TensorRT-LLM (published_e2e tables)"),
                           ("production", "TensorRT-LLM r24.07")],
    "… by stack on 8 × MI300X": [
        ("production", "vLLM 0.6 on ROCm (OCI offline benchmarks, Oct 2024)"),
        ("production", "vLLM 0.11.1 on ROCm 7.0 (AMD's MI300X performance results, Nov 2025)")],
    "… by chip": [("production", chip) for chip in (
        "h200-sxm", "h100-sxm", "a100-sxm-80gb", "b200", "rtx-pro-6000", "gb200", "mi300x")],
    "per-user speeds, gpt-fast": [("published_e2e", "per-user gpu torch-compile (held-out)")],
    "per-user speeds, plain-PyTorch": [("published_e2e", "per-user gpu eager (held-out)")],
    "per-user speeds, TensorRT-LLM": [("published_e2e", "per-user gpu trtllm (held-out)")],
    "Groq LPU / Cerebras": [("published_e2e", "per-user lpu (held-out)"),
                            ("published_e2e", "per-user wafer (held-out)")],
    "TPU v5e JetStream": [("published_asic", "serving systolic (held-out)"),
                          ("published_asic", "per_user mesh (held-out)")],
    "DeepSeek-V3": [("deepseek_ep", "deepseek-v3 EP across nodes, DeepSeek's profile (held-out)")],
    "SGLang's DeepSeek-V3": [("sglang_ep", "EP throughput per node (held-out)"),
                             ("sglang_ep", "two-batch overlap speed-up (held-out)")],
    "llama.cpp on Apple": [("edge_llamacpp", "llama.cpp metal generation tg128 (held-out)"),
                           ("edge_llamacpp", "llama.cpp metal prompt pp512 (held-out)")],
    "llama.cpp K-quant": [("edge_llamacpp",
                           "llama.cpp metal prompt pp512 (held-out, Sep 2023 build, K-quants)")],
    "llama.cpp CUDA": [("llamacpp_cuda", "llama.cpp cuda generation tg128 (held-out)"),
                       ("llamacpp_cuda", "llama.cpp cuda prompt pp512 (held-out)"),
                       ("llamacpp_cuda", "llama.cpp cuda generation ./main, PR #6766 (held-out)")],
}


def _report_figures(report: str) -> dict[tuple[str, str], tuple[int, float, float]]:
    """(dataset, group) -> (n, median %, p90 %) of the report's group table, and
    ("production", label) -> (n, median %, p90 % or nan) of its production-engine lines."""
    import math
    import re

    out: dict[tuple[str, str], tuple[int, float, float]] = {}
    for m in re.finditer(r"^\| (\w+) \| (.+?) \| (\d+) \| ([\d.]+)% \| ([\d.]+)% \|",
                         report, flags=re.M):
        out[(m[1], m[2])] = (int(m[3]), float(m[4]), float(m[5]))
    for m in re.finditer(r"^- (.+?): n=(\d+), median APE ([\d.]+)%(?:, p90 ([\d.]+)%)?",
                         report, flags=re.M):
        out[("production", m[1])] = (int(m[2]), float(m[3]),
                                     float(m[4]) if m[4] else math.nan)
    return out


def test_readme_accuracy_figures_are_the_committed_reports():
    """The README's accuracy tables quote `validation/report/report.md` (one answer
    everywhere): each row's rows, median and p90 cells ("a / b / c" for several groups) are
    the report's figures of the groups `_README_ROWS` names, at the README's precision, so a
    regenerated report whose figures moved fails here until the README quotes it."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    readme = (root / "README.md").read_text()
    fig = _report_figures((root / "validation" / "report" / "report.md").read_text())
    section = readme.split("## Accuracy and speed", 1)[1].split("\nSpeed on this", 1)[0]
    seen = set()
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        key = next((k for k in _README_ROWS if cells[0].startswith(k)), None)
        if len(cells) != 5 or key is None:
            continue
        seen.add(key)
        groups = [fig[g] for g in _README_ROWS[key]]
        ns = [int(v.replace(",", "")) for v in cells[1].split(" / ")]
        assert ns == [g[0] for g in groups], (key, ns)
        for col, cell in ((1, cells[2]), (2, cells[3])):
            if not cell:
                continue
            vals = [v.strip().strip("*").rstrip("%") for v in cell.split(" / ")]
            assert len(vals) == len(groups), (key, cell)
            for v, g in zip(vals, groups, strict=True):
                digits = len(v.split(".")[1]) if "." in v else 0
                assert float(v) == round(g[col], digits), (key, col, v, g)
    assert seen == set(_README_ROWS)
