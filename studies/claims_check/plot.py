"""Plots of the claims check (reads verdicts.csv and candidates.csv only)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from infersim.studies import plots as P


@P._styled
def _bound_plot(v: pd.DataFrame) -> Figure:
    fig = Figure(figsize=(7.0, 4.6), layout="constrained")
    ax = fig.add_subplot(111)
    bw = float(v["bandwidth_Bps"].iloc[0])
    cap = float(v["capacity_gb"].iloc[0])
    gb = np.geomspace(1, 400, 200)
    ax.plot(gb, bw / (gb * 1e9), color="black", lw=1.4,
            label=f"bandwidth bound, 1× A100 ({bw / 1e12:.3f} TB/s)")
    ax.axvspan(cap, 400, color="#d62728", alpha=0.08, label=f"> {cap:.0f} GB: does not fit")
    for _, r in v.iterrows():
        ok = bool(r["possible_on_one_a100"])
        ax.scatter(r["claimed_weight_gb"], r["claimed_tok_s"], s=50, zorder=3,
                   color="#2ca02c" if ok else "#d62728", marker="o" if ok else "X")
        ax.annotate(f"{r['row']}: {r['stack']} {r['precision']}",
                    (r["claimed_weight_gb"], r["claimed_tok_s"]), xytext=(5, 4),
                    textcoords="offset points", fontsize=7)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("weights (GB, as claimed)")
    ax.set_ylabel("claimed tokens/s (batch 1)")
    ax.set_title("Claims vs the A100 80GB's capacity and bandwidth bound")
    ax.legend(loc="upper right")
    return fig


@P._styled
def _compare_plot(v: pd.DataFrame, c: pd.DataFrame) -> Figure:
    fig = Figure(figsize=(8.0, 4.4), layout="constrained")
    ax = fig.add_subplot(111)
    rows = v["row"].tolist()
    x = np.arange(len(rows))
    best = []
    for r in rows:
        ok = c[(c["row"] == r) & c["reaches_claim"]]
        best.append(float(ok["sim_tok_s"].iloc[0]) if len(ok) else np.nan)
    series = [("claimed", v["claimed_tok_s"]), ("bound, 1× A100", v["bound_tok_s"]),
              ("simulated, 1× A100 (if it fit)", v["sim_tok_s_1x_a100"]),
              ("simulated, first system reaching the claim", best)]
    wdt = 0.2
    for i, (lab, vals) in enumerate(series):
        ax.bar(x + (i - 1.5) * wdt, np.nan_to_num(np.asarray(vals, float)), wdt, label=lab,
               color=P.PALETTE[i])
    ax.set_xticks(x, [f"{r}: {s} {p}" for r, s, p in zip(rows, v["stack"], v["precision"],
                                                         strict=True)],
                  rotation=20, ha="right")
    ax.set_yscale("log")
    ax.set_ylabel("tokens/s")
    ax.set_title("Claimed vs bound vs simulated")
    ax.legend(loc="upper left", fontsize=7)
    return fig


def plot(out_dir: str | Path) -> list[Path]:
    out = Path(out_dir)
    v = pd.read_csv(out / "verdicts.csv")
    c = pd.read_csv(out / "candidates.csv")
    files = P.save_all(_bound_plot(v), out / "plots" / "1-claims-vs-bound")
    files += P.save_all(_compare_plot(v, c), out / "plots" / "2-claimed-vs-simulated")
    return files
