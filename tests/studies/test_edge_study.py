"""The edge study: listed, runs (quick), writes its report and plots, and its conversation
arithmetic matches a step-by-step brute force."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from infersim import api
from infersim.studies.registry import list_studies, run_study


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    return run_study("edge", tmp_path_factory.mktemp("edge") / "out", quick=True, workers=1,
                     progress=False)


def test_listed_and_reported(quick):
    assert "edge" in {s.name for s in list_studies()}
    html = quick.report.read_text()
    assert '<img src="data:image/png;base64,' in html
    pngs = list(quick.out_dir.rglob("*.png"))
    assert len(pngs) == 3 and len(list(quick.out_dir.rglob("*.svg"))) == 3
    df = pd.read_csv(quick.out_dir / "edge.csv")
    assert set(df["device"]) == {"galaxy-s24-ultra", "macbook-pro-16-m4-max"}
    # battery share and charges are the conversation energy over the battery energy
    r = df.iloc[0]
    assert r["battery_pct_per_conversation"] == pytest.approx(
        100 * r["conversation_j"] / (r["battery_wh"] * 3600))
    assert r["conversations_per_charge"] == pytest.approx(r["battery_wh"] * 3600
                                                          / r["conversation_j"])
    # the summary's claims are computed: the fastest row it names is the table's maximum
    fastest = df[df["device"] == "galaxy-s24-ultra"]["decode_tok_s"].max()
    assert f"at {fastest:.0f} tok/s" in (quick.out_dir / "summary.md").read_text()


def test_conversation_equals_step_by_step_sum(monkeypatch):
    from infersim.studies.edge import run as mod

    monkeypatch.setattr(mod, "TURNS", 2)
    monkeypatch.setattr(mod, "RESPONSE_TOKENS", 24)
    m, hw = api.load_model("llama-3.2-1b"), api.load_hardware("snapdragon-8-gen-3")
    t, e, fits = mod.conversation(m, hw, "llama.cpp-cpu", "q4_k_m")
    assert fits
    kw = dict(weights="q4_k_m", activations="fp16", runtime="llama.cpp-cpu")
    bt = be = 0.0
    history = 0
    for k in range(2):
        new = mod.USER_TOKENS + (mod.SYSTEM_TOKENS if k == 0 else 0)
        p = (api.simulate(m, hw, "prefill", 1, prompt=new, **kw) if history == 0 else
             api.simulate(m, hw, "chunked_prefill", 1, context=history, chunk=new, **kw))
        bt, be = bt + p.latency_s, be + p.energy_j
        for step in range(24):  # every decode step at its own context
            d = api.simulate(m, hw, "decode", 1, context=history + new + step, **kw)
            bt, be = bt + d.latency_s, be + d.energy_j
        history += new + 24
    assert t == pytest.approx(bt, rel=0.005) and e == pytest.approx(be, rel=0.005)
    assert math.isfinite(t)
