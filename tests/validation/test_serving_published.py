"""Published production-engine serving runs (validation/datasets/serving_published.py)."""

import math
import re

import numpy as np
import pytest

import infersim.validation.report as rep
from infersim.api import load_hardware, load_model, serve
from infersim.hwmodels.models.gpu.engines import lookup
from infersim.simulator import ClosedLoop, Deployment, FixedLengths, ServingPolicy, Traffic
from infersim.validation.datasets import Dataset, check_frame, discover
from infersim.validation.datasets import serving_published as sp
from infersim.validation.stats import error_stats

ROWS = sp.rows()
BY_ID = {r["id"]: r for r in ROWS}


def test_every_row_has_a_source_confidence_and_a_reason_when_excluded():
    assert len(ROWS) == len(BY_ID)  # ids are unique
    for r in ROWS:
        assert re.match(r"https://\S+\.\S+", r["source"]), r["id"]
        assert r["confidence"] in {"A", "B", "C"}, r["id"]
        assert float(r["measured"]) > 0, r["id"]
        assert r["metric"] in sp.METRICS, r["id"]
        assert r["use"] in {"pass_fail", "excluded"}, r["id"]
        if r["use"] == "excluded":
            assert r["notes"].startswith("excluded: ") and len(r["notes"]) > 20, r["id"]
        else:
            # a graded row names everything `serve` needs: a known engine profile, a spec, a
            # model, lengths, arrivals and the request count
            assert lookup(r["runtime"]) is not None, r["id"]
            assert load_hardware(r["hardware"]).num_chips >= int(r["tp"]) * int(r["replicas"])
            load_model(r["model"])
            assert int(r["isl"]) > 0 and int(r["osl"]) > 0 and int(r["requests"]) > 0
            assert r["arrival"] in {"infinite", "poisson"}
    assert sum(r["use"] == "pass_fail" for r in ROWS) >= 20


def test_discovered_by_validate():
    ds = {d.name: d for d in discover()}
    assert sp.NAME in ds and ds[sp.NAME].list_rows


def test_one_row_graded_by_hand_from_serve_output():
    r = BY_ID["vllm060-8b-h100-prefill-heavy"]  # 500 prompts of 462 tokens, 16 out, QPS = inf
    res = serve("llama-3-8b", "h100-sxm",
                Traffic(ClosedLoop(users=500), FixedLengths(462, 16), 500),
                ServingPolicy(max_batch=256, max_tokens=8192),
                deployment=Deployment(tp=1, runtime="vllm-v0", weights="bf16"))
    f = res.requests_frame()
    assert len(f) == 500 and (f["arrival_s"] == 0).all()  # all queued at once
    # the benchmark's figure: completed requests over first arrival to last finish
    by_hand = len(f) / (f["finish_s"].max() - f["arrival_s"].min())
    pred, note = sp.predict(r)
    assert pred == pytest.approx(by_hand, rel=1e-12)
    assert note == ""
    frame = check_frame(sp.load([r]), sp.NAME)
    assert frame.loc[0, "predicted"] == pytest.approx(by_hand, rel=1e-12)
    assert frame.loc[0, "group"] == "throughput_req_s (held-out)"
    st = error_stats(frame["predicted"], frame["measured"])
    assert st.median_signed == pytest.approx((by_hand - 59.0) / 59.0)


def test_tpot_row_is_the_mean_over_requests():
    r = BY_ID["vllm060-8b-h100-tpot-32qps"]
    res = sp.simulate_row(r)
    f = res.requests_frame()
    by_hand = float(np.mean((f["finish_s"] - f["first_token_s"]) / (f["output_tokens"] - 1)))
    assert sp.predict(r)[0] == pytest.approx(by_hand, rel=1e-9)


def test_report_lists_every_row_with_the_exclusion_reasons(tmp_path, monkeypatch):
    excluded = [r for r in ROWS if r["use"] == "excluded"]
    graded = BY_ID["vllm060-8b-h100-prefill-heavy"]
    selected = [graded, *excluded]
    ds = Dataset(sp.NAME, sp.DESCRIPTION, lambda: sp.load(selected), sp.__name__, True)
    monkeypatch.setattr(rep, "discover", lambda: [ds])
    md = rep.build_report(tmp_path).markdown_path.read_text()
    section = md.split(f"## Every row of `{sp.NAME}`", 1)[1].split("## Plots", 1)[0]
    lines = [ln for ln in section.splitlines() if ln.startswith("| ")][1:]  # minus header
    assert len(lines) == len(selected)
    for r in excluded:
        line = next(ln for ln in lines if f"| {r['id']} |" in ln)
        assert "| excluded |" in line and "| – |" in line  # ungraded: no error
        assert r["notes"].split(";")[0].replace("|", "/") in line  # its reason
    g = next(ln for ln in lines if f"| {graded['id']} |" in ln)
    assert "throughput_req_s (held-out)" in g and not math.isnan(sp.predict(graded)[0])
    # the summary counts the excluded rows without grading them
    assert re.search(rf"\| {sp.NAME} \| excluded \| 0 \|", md)


def test_a_bad_cell_names_file_line_column_and_fix(tmp_path):
    from infersim.foundation.errors import InputError

    text = sp.DATA.read_text().splitlines()
    header, first = text[0], text[1]
    bad = tmp_path / "serving.csv"
    bad.write_text("\n".join([header, first.replace(",30000,", ",many,", 1)]) + "\n")
    with pytest.raises(InputError, match=r"serving.csv line 2 .*column requests: 'many'; "
                                         r"a graded row needs a positive integer"):
        sp.rows(bad)
