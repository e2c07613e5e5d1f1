"""Plots are written (PNG + SVG), roofs come from the spec, reports are self-contained and
render in a real headless Chromium with every image loaded and no console error."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest

import infersim as isim
from infersim.cli import main
from infersim.studies import plots
from infersim.studies.report import Image, Report, Section, Table, write_report
from tests._support import PageRefs
from tests.studies import cdp


def _schedule(phase: str = "decode"):
    m = isim.load_model("llama-3.1-8b")
    kw = {"context": 1024} if phase == "decode" else {"prompt": 512}
    return isim.simulate(m, "h100-sxm", phase=phase, batch=1, **kw).schedule


def test_roof_lines_from_the_datasheet():
    compute, memory = plots.roof_lines(_schedule())
    peaks = dict(compute)
    # H100 SXM dense tensor peaks: 132 SM x 4,096 (bf16) / 8,192 (fp8) FLOP/cycle x 1.83 GHz
    # (= the Hopper whitepaper's 989.4 and 1978.9 TFLOP/s)
    assert any(abs(v - 132 * 4096 * 1.83e9) < 1e9 for k, v in peaks.items() if "bf16" in k)
    assert any(abs(v - 132 * 8192 * 1.83e9) < 1e9 for k, v in peaks.items() if "fp8" in k)
    # HBM3 3.35 TB/s is one of the memory roofs.
    assert any(abs(bw - 3.35e12) < 1e9 for _, bw in memory)


def test_op_points_intensity_by_hand():
    pts = {p["name"]: p for p in plots.op_points(_schedule())}
    # Llama-3.1-8B decode, batch 1: qkv projection is a GEMV 1×4096 · 4096×6144 in bf16.
    # FLOPs 2·4096·6144; bytes 2·(4096 + 4096·6144 + 6144) → intensity just under 1.
    m, k, n = 1, 4096, (32 + 2 * 8) * 128
    want = 2 * m * k * n / (2 * (m * k + k * n + m * n))
    qkv = [p for name, p in pts.items() if "qkv" in name]
    assert qkv and qkv[0]["intensity"] == pytest.approx(want, rel=1e-9)


def test_roofline_png_and_svg_written(tmp_path):
    fig = plots.roofline(_schedule("prefill"))
    files = plots.save_all(fig, tmp_path / "roof")
    assert [f.suffix for f in files] == [".png", ".svg"]
    png, svg = files
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    text = svg.read_text()
    assert text.lstrip().startswith("<?xml") and "<svg" in text and "ridge" in text


def test_cli_roofline(tmp_path, capsys):
    out = tmp_path / "r.svg"
    assert main(["roofline", "--model", "llama-3.1-8b", "--hw", "h100-sxm", "--batch", "4",
                 "--context", "2048", "-o", str(out)]) == 0
    assert out.stat().st_size > 5_000
    assert main(["roofline", "-o", str(tmp_path / "r.txt")]) == 2
    assert "use a .png, .svg or .pdf" in capsys.readouterr().err


def test_other_plot_kinds(tmp_path):
    df = pd.DataFrame({"batch": [1, 2, 4, 1, 2, 4], "hw": ["a"] * 3 + ["b"] * 3,
                       "cost": [3.0, 2.0, 1.0, 4.0, 2.5, 2.0], "speed": [9, 8, 6, 10, 7, 5.5],
                       "ttft_p99_s": [0.1, 0.2, 0.5, 0.1, 0.3, 0.9],
                       "tpot_p99_s": [0.01, 0.02, 0.03, 0.01, 0.02, 0.04]})
    figs = {
        "pareto": plots.pareto(df, "cost", "speed", group="hw"),
        "line": plots.line(df, "batch", ["cost", "speed"], group="hw", logx=True),
        "bar": plots.bar(df, "batch", "cost", group="hw"),
        "scatter": plots.scatter(df, "cost", "speed", group="hw"),
        "load": plots.latency_load(df, x="batch", ys=("ttft_p99_s", "tpot_p99_s"), group="hw"),
        "ec": plots.energy_cost(df.assign(energy_per_token_j=df["speed"],
                                          cost_per_mtok_usd=df["cost"]).head(3), "hw"),
        "breakdown": plots.breakdown({"decode": _schedule().to_frame(),
                                      "prefill": _schedule("prefill").to_frame()}),
    }
    for name, fig in figs.items():
        p = plots.save_figure(fig, tmp_path / f"{name}.png")
        assert p.stat().st_size > 5_000, name


def _report(tmp_path: Path) -> Path:
    fig = plots.roofline(_schedule())
    png = plots.save_figure(fig, tmp_path / "roof.png")
    svg = plots.save_figure(fig, tmp_path / "roof.svg")
    df = pd.DataFrame({"name": ["a", "b"], "value": [1.5, 2.25],
                       "source": ["https://example.org/datasheet", "assumed: reason"]})
    rep = Report(title="Test report", description="A **bold** claim with `code`.",
                 summary="- first\n- second", config={"name": "x", "sweep": {"a": [1, 2]}},
                 sections=(Section("Plots", "text", tables=(Table("data", df),),
                                   images=(Image("roofline png", png),
                                           Image("roofline svg", svg))),))
    return write_report(rep, tmp_path / "report.html")


def test_report_is_self_contained(tmp_path):
    page = _report(tmp_path).read_text()
    p = PageRefs()
    p.feed(page)
    assert len([r for r in p.refs if r[0] == "img"]) == 2
    for tag, attr, val in p.refs:
        assert val.startswith("data:") or val.startswith("#"), (tag, attr, val[:60])
    assert not re.search(r"url\(\s*['\"]?(https?:)?//", page)
    assert "<script src" not in page and "<link" not in page
    # The resolved config is embedded and machine-readable.
    m = re.search(r'<script type="application/json" id="study-config">(.*?)</script>', page, re.S)
    assert m and json.loads(m.group(1)) == {"name": "x", "sweep": {"a": [1, 2]}}
    # Source URLs in tables are text, not links.
    assert "https://example.org/datasheet" in page


@pytest.mark.skipif(cdp.chromium_path() is None,
                    reason="chromium not installed (CI installs it: apt-get install chromium)")
def test_report_renders_in_headless_chromium(tmp_path):
    import io

    import matplotlib.image as mpimg

    res = cdp.check_page(_report(tmp_path))
    assert res.ready_state == "complete"
    assert res.title == "Test report"
    assert res.body_text_len > 200
    assert len(res.images) == 2 and res.broken_images == []
    assert res.errors == []
    # Nothing was fetched from the network: only the file itself and data: URIs.
    assert all(u.startswith(("file:", "data:")) for u in res.requests), res.requests
    shot = mpimg.imread(io.BytesIO(res.screenshot_png), format="png")
    assert shot.std() > 0.02  # something was drawn, not a blank page


@pytest.mark.skipif(cdp.chromium_path() is None, reason="chromium not installed")
def test_chromium_check_detects_broken_pages(tmp_path):
    bad = tmp_path / "bad.html"
    bad.write_text('<!DOCTYPE html><html><head><title>bad</title></head><body><p>x</p>'
                   '<img src="data:image/png;base64,AAAA"><img src="missing.png">'
                   '<script>console.error("boom"); notDefined();</script></body></html>')
    res = cdp.check_page(bad)
    assert len(res.broken_images) == 2
    assert any("boom" in e for e in res.console_errors)
    assert any("notDefined" in e for e in res.exceptions)
    assert any("missing.png" in e for e in res.log_errors)


def test_energy_cost_bars_switch_to_log_when_values_span_decades():
    wide = pd.DataFrame({"system": ["gpu", "wafer"], "energy_per_token_j": [0.5, 40.0],
                         "cost_per_mtok_usd": [0.2, 30.0]})
    fig = plots.energy_cost(wide, "system")
    assert [ax.get_yscale() for ax in fig.axes[:2]] == ["log", "log"]
    # the smallest bar stays visible: it rises above the axis floor
    assert fig.axes[0].get_ylim()[0] < 0.5
    narrow = wide.assign(energy_per_token_j=[1.0, 2.0], cost_per_mtok_usd=[1.0, 1.5])
    assert plots.energy_cost(narrow, "system").axes[0].get_yscale() == "linear"


def test_markdown_pipe_table_is_html():
    from infersim.studies.report import markdown

    out = markdown("| a | b |\n|---|---|\n| 1 | 2 |\n| x | does not fit: y ||")
    assert "<table>" in out and "<th>a</th>" in out and "<td>1</td>" in out
    assert "|" not in out.replace("&#x27;", "")
    assert 'colspan="2"' not in out  # a two-column table: the short row fills one cell


def test_roofline_title_names_the_overrides():
    hw = isim.load_hardware("h100-sxm", {"memory.hbm.bandwidth_tb_per_s": 2.0})
    r = isim.simulate("llama-3.1-8b", hw)
    fig = plots.roofline(r.schedule)
    assert "bandwidth_tb_per_s=2.0" in fig.axes[0].get_title()


def test_validation_panel_with_one_point_has_tick_labels():
    from infersim.validation.report import scatter_figure

    data = pd.DataFrame({"dataset": ["d"], "group": ["g"], "measured": [3.0e-5],
                         "predicted": [3.3e-5], "unit": ["s"]})
    fig = scatter_figure(data)
    fig.canvas.draw()
    ax = fig.axes[0]
    lo, hi = ax.get_xlim()
    labels = [t.get_text() for t in ax.get_xticklabels() if lo <= t.get_position()[0] <= hi]
    assert any(labels), "no labelled x tick"
