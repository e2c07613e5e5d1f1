"""Plots of the co-design study (reads designs.csv and best.csv)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from infersim.studies import plots as P


def plot(out_dir: str | Path) -> list[Path]:
    out = Path(out_dir)
    df = pd.read_csv(out / "designs.csv")
    bt = pd.read_csv(out / "best.csv")
    pdir = out / "plots"
    files: list[Path] = []
    ok = df[df["meets_server"].astype(bool)]
    n = 1
    for u in sorted(ok["users"].unique()):
        g = ok[ok["users"] == u]
        who = f"{u} user{'s' if u > 1 else ''}, server SLO"
        files += P.save_all(P.pareto(g, "cost_per_mtok_usd", "tokens_per_j", group="kind",
                                     logx=True, logy=True, label="design",
                                     title=f"Cost vs tokens/J — {who}"),
                            pdir / f"{n}-cost-vs-tokens-per-j-{u}-users")
        n += 1
        files += P.save_all(P.pareto(g, "cost_per_mtok_usd", "tokens_per_s_per_user",
                                     group="kind", logx=True, logy=True, label="design",
                                     title=f"Cost vs tokens/s per user — {who}"),
                            pdir / f"{n}-cost-vs-speed-{u}-users")
        n += 1
    for tier in bt["slo"].unique():
        b = bt[(bt["slo"] == tier) & bt["best_cost_per_mtok_usd"].notna()]
        if b.empty:
            continue
        files += P.save_all(P.line(b, "users", "best_cost_per_mtok_usd", group="kind",
                                   logx=True, logy=True,
                                   title=f"Cheapest deployment meeting the {tier} SLO, by kind"),
                            pdir / f"{n}-best-cost-{tier}")
        n += 1
    return files
