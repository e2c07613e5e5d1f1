"""Every shipped study runs (reduced size) and its computed conclusions match hand arithmetic."""

from __future__ import annotations

import math
import re

import pandas as pd
import pytest

from infersim.cli import main
from infersim.studies.registry import list_studies, run_study
from tests._support import PageRefs, pareto_brute_force
from tests.studies import cdp

EXPECTED = {"claims-check", "hardware-classes", "bandwidth-vs-capacity", "co-design",
            "quantization-specdec", "price-check", "software-stack"}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Run every shipped study once (quick) into a temporary folder."""
    base = tmp_path_factory.mktemp("studies")
    return {s.name: run_study(s.name, base / s.name, quick=True, workers=1, progress=False)
            for s in list_studies()}


def test_study_list(capsys):
    names = {s.name for s in list_studies()}
    assert names >= EXPECTED
    assert main(["study", "list"]) == 0
    out = capsys.readouterr().out
    for n in EXPECTED:
        assert n in out


def test_unknown_study_is_clean_error(capsys, tmp_path):
    assert main(["study", "run", "claims-chek", "-o", str(tmp_path)]) == 2
    assert "did you mean 'claims-check'" in capsys.readouterr().err


def test_every_study_writes_report_and_plots(runs):
    for name, r in runs.items():
        html = r.report.read_text()
        assert r.report.name == "report.html" and '<img src="data:image/png;base64,' in html
        refs = PageRefs()
        refs.feed(html)
        assert all(v.startswith(("data:", "#")) for _, _, v in refs.refs), name
        pngs = list(r.out_dir.rglob("*.png"))
        svgs = list(r.out_dir.rglob("*.svg"))
        assert pngs, name
        if name in EXPECTED:  # our studies write every plot as PNG and SVG
            assert len(pngs) == len(svgs), name


_RAW_MARKDOWN = re.compile(r"^\s*\|.*\|\s*$|\|---|\*\*[^*]+\*\*|^#{1,3} |`[^`]+`",
                           re.MULTILINE)


@pytest.mark.skipif(cdp.chromium_path() is None,
                    reason="chromium not installed (CI installs it: apt-get install chromium)")
def test_every_shipped_report_renders_without_raw_markdown_or_empty_plots(runs):
    import io

    import matplotlib.image as mpimg
    import numpy as np

    for name, r in runs.items():
        res = cdp.check_page(r.report)
        assert res.errors == [] and res.broken_images == [], name
        raw = _RAW_MARKDOWN.findall(res.body_text)
        assert raw == [], f"{name}: raw markdown on the page: {raw[:3]}"
        assert res.images, name
        # every plot draws something: a blank (all-white) image is an empty panel
        for png in sorted((r.out_dir).rglob("*.png")):
            img = mpimg.imread(io.BytesIO(png.read_bytes()), format="png")[..., :3]
            ink = float(np.mean(img.mean(axis=2) < 0.9))
            assert ink > 0.01, f"{name}: {png.name} is (nearly) blank"


def test_serving_summary_table_is_html(runs):
    html = runs["serving"].report.read_text()
    assert "|---|" not in html and "<th>system</th>" in html


def test_price_check_reasons_are_whole_and_unfit_models_have_no_floor(runs):
    out = runs["price-check"].out_dir
    summary = (out / "summary.md").read_text()
    env = pd.read_csv(out / "closed_model_envelope.csv")
    op = pd.read_csv(out / "open_model.csv")
    unfit = env[~env["feasible"].astype(bool)]
    # the summary quotes, per (model, system), the reason at the first batch that does not fit
    for _, g in unfit.sort_values("batch").groupby(["size_proxy", "system"]):
        assert str(g["reason"].iloc[0]) in summary  # whole, not cut mid-sentence
    assert unfit["cost_floor_output_usd_per_mtok"].isna().all()
    assert op[~op["feasible"].astype(bool)]["cost_floor_output_usd_per_mtok"].isna().all()
    # a model reported as not fitting a system gets no floor on it in the summary
    for line in summary.splitlines():
        if "does not fit" in line and "at any batch" in line:
            proxy, system = line[2:].split(" does not fit ")[0], line.split(" fit ")[1].split()[0]
            assert not any(f"- {proxy} (" in ln and f"on {system} " in ln
                           for ln in summary.splitlines()), line


def test_claims_check_verdicts_by_hand(runs):
    v = pd.read_csv(runs["claims-check"].out_dir / "verdicts.csv").set_index("row")
    cap, bw = 80e9, 2.039e12  # A100 80GB datasheet: 80 GB HBM2e, 2,039 GB/s
    claims = {1: (12, 140), 2: (28, 140), 3: (45, 70), 4: (32, 140), 5: (68, 35), 6: (110, 4.5)}
    for row, (tok_s, gb) in claims.items():
        fits = gb * 1e9 <= cap
        bound = bw / (gb * 1e9)
        assert bool(v.loc[row, "weights_fit"]) == fits
        assert v.loc[row, "bound_tok_s"] == pytest.approx(bound, rel=1e-9)
        assert bool(v.loc[row, "possible_on_one_a100"]) == (fits and tok_s <= bound)
    # Only the Mistral-7B Q4 row (110 ≤ 2.039e12/4.5e9 = 453) is possible on one card.
    assert v["possible_on_one_a100"].tolist() == [False] * 5 + [True]
    a = pd.read_csv(runs["claims-check"].out_dir / "arithmetic.csv").iloc[0]
    assert a["time_at_stated_bw_s"] == pytest.approx(140e9 / 3.2e12)  # 43.75 ms, not 44 µs
    assert a["time_at_a100_bw_s"] == pytest.approx(140e9 / 2.039e12)
    text = (runs["claims-check"].out_dir / "summary.md").read_text()
    assert "43.75 ms" in text and "2.039 TB/s" in text


def test_hardware_classes_chips_by_hand(runs):
    c = pd.read_csv(runs["hardware-classes"].out_dir / "chips_needed.csv")
    groq = c[(c["system"] == "groq-576") & (c["level"] == "sram")].iloc[0]
    # 70.55e9 int8 weights + 1 sequence of KV (2048+1 tokens × 2·80·8·128 B × 2 B = 0.67 GB)
    # over 230,686,720 B of SRAM per chip (220 MiB).
    w = 70_553_706_496
    per_token = 2 * 80 * 8 * 128 * 2  # K and V, 80 layers, 8 KV heads of 128, bf16
    kv = per_token * (2048 + 1) + per_token  # read the cache (after the write) + write 1
    assert groq["weight_bytes"] == w
    assert groq["capacity_per_chip_bytes"] == 220 * 1024**2
    assert groq["chips_needed"] == math.ceil((w + groq["kv_bytes_one_seq"]) / (220 * 1024**2))
    assert groq["kv_bytes_one_seq"] == kv
    cmp = pd.read_csv(runs["hardware-classes"].out_dir / "comparison.csv")
    spec = cmp[cmp["spec_decode"].astype(str).str.startswith("yes")]
    assert len(spec) >= 3 and spec["ratio_predicted_to_published"].isna().all()


def test_price_check_break_even_by_hand(runs):
    from infersim.hwmodels.economics import Economics
    from infersim.studies.price_check.run import break_even_utilization

    e = Economics()
    # $240k system, 1000 tok/s, 1 J/token, $1 per 1M tokens: energy $0.0278/1M;
    # capex per token must be ≤ $0.9722e-6 → u = 240000 / (4·365.25·86400 · 1000 · 0.9722e-6)
    energy = 1.0 * 0.10 / 3.6e6 * 1e6
    want = 240000 / (4 * 365.25 * 86400 * 1000 * (1.0 - energy) * 1e-6)
    assert break_even_utilization(1.0, 240000, 1000, 1.0, e) == pytest.approx(want, rel=1e-12)
    assert math.isnan(break_even_utilization(0.01, 240000, 1000, 1.0, e))  # below energy cost
    op = pd.read_csv(runs["price-check"].out_dir / "open_model.csv")
    assert set(op["offering"]) == {"Together Llama 3 70B", "Fireworks Llama 3 70B",
                                   "Groq Llama 3 70B"}


def test_bandwidth_vs_capacity_front(runs):
    d = pd.read_csv(runs["bandwidth-vs-capacity"].out_dir / "designs.csv")
    feas = d[d["feasible"].astype(bool) & (d["status"] == "ok")]
    points = list(zip(feas["cost_per_mtok_usd"], feas["tokens_per_s_per_user"], strict=True))
    want = pareto_brute_force(points, ["minimize", "maximize"])
    assert feas["pareto"].tolist() == want
    assert len(d) == 2 * 2 * 2 * 2  # quick: first and last of 4 dimensions


def test_quantization_specdec_rows(runs):
    df = pd.read_csv(runs["quantization-specdec"].out_dir / "results.csv")
    assert set(df["hardware"]) == {"h100-sxm", "cs-3x4"}
    h = df[(df["hardware"] == "h100-sxm") & (df["scenario.phase"] == "decode")]
    by_w = h.groupby("scenario.weights")["weight_bytes"].first()
    assert by_w["int4"] == pytest.approx(by_w["bf16"] / 4, rel=0.01)


def test_software_stack_multi_step_spreads_the_pass_cpu_time_by_hand(runs):
    """At 2 req/s a decode step is about the model's step plus the CPU time of its pass
    spread over the pass's N steps (`GpuModel.step_overheads`: cpu / N + sync (1 - 1/N)):
    4 ms of CPU against 1 ms lengthens the median TPOT by ~3 ms / N, and by a little more:
    (1) each other request's prompt step (scheduled alone, so paying the whole 3 ms more)
    stalls a decoding request, which over its 256 outputs sees ~2/s x 256 x TPOT of them:
    2/s x TPOT x 3 ms per token; (2) vLLM V0's pass also costs `step_overhead_per_seq_s` per
    running request, and a longer TPOT keeps each request longer, so by Little's law
    ~2/s x 256 x dTPOT more requests run, each adding that cost / N to the step. Together
    dTPOT = (3 ms / N + 2/s x TPOT x 3 ms) / (1 - 2/s x 256 x per_seq / N), within 10%
    (the device step's own growth with the larger batch is not counted: 8% at N = 1). And
    a pass of N steps makes a new prompt wait for it: the TTFT grows with N."""
    from infersim.hwmodels.models.gpu.engines import lookup

    per_seq = lookup("vllm-v0").value("step_overhead_per_seq_s", 0.0)
    d = pd.read_csv(runs["software-stack"].out_dir / "results.csv")
    light = d[d["traffic.rate"] == 2]
    tpot = light.set_index(["runtime_knobs.scheduler_steps",
                            "runtime_knobs.step_overhead_s"])["tpot_p50_s"]
    steps = sorted(set(light["runtime_knobs.scheduler_steps"]))
    assert steps == [1, 10]  # quick: first and last of each dimension
    for n in steps:
        want = (3e-3 / n + 2 * tpot[(n, 0.004)] * 3e-3) / (1.0 - 2 * 256 * per_seq / n)
        assert tpot[(n, 0.004)] - tpot[(n, 0.001)] == pytest.approx(want, rel=0.1)
    ttft = light.set_index(["runtime_knobs.scheduler_steps",
                            "runtime_knobs.step_overhead_s"])["ttft_p50_s"]
    assert ttft[(10, 0.001)] > ttft[(1, 0.001)]
