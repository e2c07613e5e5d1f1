"""The co-design study (studies/co_design): its rows follow the stated round model and the
economics formula worked by hand, its SLO flags, Pareto fronts and "best" picks match a brute
force over the table, and power caps behave as DVFS physics says."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from infersim.api import load_hardware, simulate
from infersim.hwmodels.capex import capex_usd
from infersim.studies.co_design import run as study
from tests._support import pareto_brute_force


@pytest.fixture(scope="module")
def out(tmp_path_factory):
    d = tmp_path_factory.mktemp("co_design")
    study.run(d, quick=True)
    return d


@pytest.fixture(scope="module")
def df(out) -> pd.DataFrame:
    return pd.read_csv(out / "designs.csv")


def test_a_gpu_row_by_hand(df):
    row = df[(df["design"] == "H100") & (df["tp"] == 8) & (df["batch"] == 16)].iloc[0]
    hw = load_hardware("dgx-h100")
    pf = simulate("llama-3.1-70b", hw, phase="prefill", batch=1, prompt=2048, weights="fp8",
                  tp=8, runtime="fused")
    dec = simulate("llama-3.1-70b", hw, phase="decode", batch=16, context=2048 + 145,
                   weights="fp8", tp=8, runtime="fused")
    rnd = 16 * pf.latency_s + 290 * dec.latency_s  # 16 prefills + 290 decode steps
    assert row["ttft_s"] == pytest.approx(pf.latency_s)
    assert row["tpot_s"] == pytest.approx(rnd / 290)
    e_tok = (16 * pf.system_energy_j + 290 * dec.system_energy_j) / (16 * 290)
    assert row["tokens_per_j"] == pytest.approx(1 / e_tok)
    # tp 8 = all 8 GPUs: the system's derived capex; 4 years, US$0.10/kWh, PUE 1
    price = capex_usd(hw)
    tps = 16 * 290 / rnd
    cost = 1e6 * (price / (4 * 365.25 * 86400 * tps) + e_tok * 0.10 / 3.6e6)
    assert row["replica_price_usd"] == pytest.approx(price)
    assert row["cost_per_mtok_usd"] == pytest.approx(cost)


def test_design_price_is_the_derived_capex_of_the_overridden_spec(df):
    # more HBM per GPU costs more: the capex model prices the design's own spec
    more = df[df["design"] == "H100 8 HBM stacks"]
    hw = load_hardware("dgx-h100", {"chip.memory.hbm.capacity_gb": 136.832,  # 8 x 17.104
                                    "chip.memory.hbm.bandwidth_tb_per_s": 5.36})
    want = [capex_usd(hw) * tp / 8 for tp in more["tp"]]
    assert list(more["replica_price_usd"]) == pytest.approx(want)
    base = df[df["design"] == "H100"]["replica_price_usd"].max()
    assert more["replica_price_usd"].max() > base


def test_slo_flags_follow_the_thresholds(df):
    for tier, (ttft, tpot) in study.SLOS.items():
        want = df["feasible"] & (df["ttft_s"] <= ttft) & (df["tpot_s"] <= tpot)
        assert (df[f"meets_{tier}"] == want).all()
    assert df["meets_interactive"].sum() < df["meets_server"].sum()


def test_pareto_marks_match_brute_force(df):
    for u, g in df[df["meets_server"]].groupby("users"):
        for col, y in (("pareto_energy", "tokens_per_j"),
                       ("pareto_speed", "tokens_per_s_per_user")):
            pts = list(zip(g["cost_per_mtok_usd"], g[y], strict=True))
            assert list(g[col]) == pareto_brute_force(pts, ["minimize", "maximize"]), (u, col)
    assert not df.loc[~df["meets_server"], ["pareto_energy", "pareto_speed"]].any().any()


def test_best_is_the_cheapest_row_meeting_the_slo(out, df):
    bt = pd.read_csv(out / "best.csv")
    for _, b in bt.iterrows():
        g = df[(df["users"] == b["users"]) & (df["kind"] == b["kind"])
               & df[f"meets_{b['slo']}"]]
        costs = [c for c in g["cost_per_mtok_usd"] if not math.isnan(c)]
        if costs:
            assert b["best_cost_per_mtok_usd"] == pytest.approx(min(costs))
        else:
            assert math.isnan(b["best_cost_per_mtok_usd"])
        if len(g):
            assert b["best_tokens_per_j"] == pytest.approx(g["tokens_per_j"].max())


def test_summary_numbers_come_from_the_table(out, df):
    text = (out / "summary.md").read_text()
    for u in df["users"].unique():
        g = df[(df["users"] == u) & df["meets_server"] & df["cost_per_mtok_usd"].notna()]
        c = g.loc[g["cost_per_mtok_usd"].idxmin()]
        assert f"cheapest is {c['design']} (tp{c['tp']} pp{c['pp']}, batch {c['batch']}) " \
               f"at US${c['cost_per_mtok_usd']:.3g}" in text


def test_power_cap_slows_prefill_more_than_decode(df):
    key = ["tp", "users", "batch"]
    m = df[df["design"] == "H100"].merge(df[df["design"] == "H100 cap 350 W"], on=key,
                                         suffixes=("", "_cap"))
    assert len(m)
    # a TP2 prefill (each chip half the GEMMs) draws > 350 W: throttled. At TP8 the ring
    # all-reduces (the engine runs no NVLS) fill enough of the step that its mean power
    # sits near the cap (347 W per chip for the 2,048-token prompt): where the clock
    # holds, TTFT does too
    throttled = m["prefill_clock_ghz_cap"] < 1.83
    assert throttled[m["tp"] == 2].all()
    assert (m.loc[throttled, "ttft_s_cap"] > m.loc[throttled, "ttft_s"]).all()
    assert (m.loc[~throttled, "ttft_s_cap"] == m.loc[~throttled, "ttft_s"]).all()
    slow_pf = m["ttft_s_cap"] / m["ttft_s"]
    slow_dec = m["decode_step_s_cap"] / m["decode_step_s"]
    assert (slow_dec >= 1 - 1e-12).all()
    assert (slow_dec[throttled] < slow_pf[throttled]).all()
