"""Plots of the price check (reads open_model.csv and closed_model_envelope.csv)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure

from infersim.studies import plots as P


@P._styled
def _open(op: pd.DataFrame) -> Figure:
    fig = Figure(figsize=(7.2, 4.4), layout="constrained")
    ax = fig.add_subplot(111)
    one = op.drop_duplicates(["system", "batch"])
    for i, (sysname, g) in enumerate(one.groupby("system", sort=False)):
        g = g[g["feasible"]].sort_values("batch")
        ax.plot(g["batch"], g["cost_floor_output_usd_per_mtok"], marker="o",
                color=P.PALETTE[i], label=f"{sysname} ({g['weights'].iloc[0]})")
    for j, (off, p) in enumerate(op.drop_duplicates("offering")[
            ["offering", "list_output_usd_per_mtok"]].itertuples(index=False)):
        ax.axhline(p, color="0.3", ls=("--", ":", "-.")[j % 3], lw=1)
        ax.annotate(f"{off} ${p:.2f}", (op["batch"].max(), p), xytext=(-4, 3),
                    textcoords="offset points", ha="right", fontsize=7)
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("batch (concurrent sequences)")
    ax.set_ylabel("cost floor, US$ per 1M output tokens")
    ax.set_title("Llama 3 70B: hardware cost floor vs list prices (100% utilization)")
    ax.legend(loc="lower left", fontsize=7)
    return fig


@P._styled
def _envelope(env: pd.DataFrame) -> Figure:
    fig = Figure(figsize=(7.2, 4.4), layout="constrained")
    ax = fig.add_subplot(111)
    feas = env[env["feasible"]]
    for i, ((sysname, b), g) in enumerate(feas.groupby(["system", "batch"], sort=False)):
        g = g.sort_values("active_params_b")
        ax.plot(g["active_params_b"], g["cost_floor_output_usd_per_mtok"], marker="o",
                color=P.PALETTE[i % len(P.PALETTE)], label=f"{sysname}, batch {b}")
    ax.axhline(15.0, color="black", ls="--", lw=1)
    ax.annotate("GPT-4o / Claude 3.5 Sonnet: $15 per 1M output", (feas["active_params_b"].min(),
                15.0), xytext=(2, 3), textcoords="offset points", fontsize=7)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("active parameters per token (billions; library models as size proxies)")
    ax.set_ylabel("cost floor, US$ per 1M output tokens")
    ax.set_title("Cost envelope over assumed model sizes (fp8, 100% utilization)")
    ax.legend(loc="upper left", fontsize=7, ncols=2)
    return fig


def plot(out_dir: str | Path) -> list[Path]:
    out = Path(out_dir)
    op = pd.read_csv(out / "open_model.csv")
    env = pd.read_csv(out / "closed_model_envelope.csv")
    files = P.save_all(_open(op), out / "plots" / "1-open-model-floor")
    files += P.save_all(_envelope(env), out / "plots" / "2-closed-model-envelope")
    return files
