"""Plots of the hardware-classes study (reads predictions.csv, chips_needed.csv, comparison.csv)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from infersim.studies import plots as P


@P._styled
def _speed(pred: pd.DataFrame, cmp: pd.DataFrame) -> Figure:
    fig = Figure(figsize=(7.2, 4.4), layout="constrained")
    ax = fig.add_subplot(111)
    b1 = pred[pred["batch"] == 1].reset_index(drop=True)
    x = np.arange(len(b1))
    bars = ax.bar(x, b1["tok_s_per_user"], color=[P.PALETTE[i] for i in range(len(b1))],
                  alpha=0.85, label="predicted, batch 1")
    ax.bar_label(bars, labels=[f"{v:.0f}" for v in b1["tok_s_per_user"]], fontsize=7)
    pos = {s: i for i, s in enumerate(b1["system"])}
    first = {True: True, False: True}
    for _, c in cmp.iterrows():
        if c["system"] not in pos:
            continue
        ok = c["compared"] == "yes"
        ax.scatter(pos[c["system"]], c["published_tok_s_per_user"], zorder=3, s=45,
                   marker="D" if ok else "x", color="black" if ok else "0.5",
                   label=("published (comparable)" if ok else "published (spec-dec / claim: "
                          "not compared)") if first[ok] else None)
        first[ok] = False
    ax.set_xticks(x, [f"{s}\n{w}" for s, w in zip(b1["system"], b1["weights"], strict=True)])
    ax.set_yscale("log")
    ax.set_ylabel("tokens/s per user")
    ax.set_title("Llama-3.1-70B per-user decode speed")
    ax.legend(loc="upper left", fontsize=7)
    return fig


@P._styled
def _chips(chips: pd.DataFrame) -> Figure:
    fig = Figure(figsize=(7.2, 3.8), layout="constrained")
    ax = fig.add_subplot(111)
    labels = [f"{s}\n{lv}" for s, lv in zip(chips["system"], chips["level"], strict=True)]
    bars = ax.bar(labels, chips["chips_needed"], color="#1f77b4", label="needed (capacity)")
    ax.bar_label(bars, fontsize=7)
    ax.scatter(labels, chips["chips_in_system"], color="black", marker="_", s=400, zorder=3,
               label="in the library system")
    ax.set_yscale("log")
    ax.set_ylabel("chips")
    ax.set_title("Chips needed to hold Llama-3.1-70B (weights + one sequence's KV)")
    ax.legend(loc="upper left", fontsize=7)
    return fig


def plot(out_dir: str | Path) -> list[Path]:
    out = Path(out_dir)
    pred = pd.read_csv(out / "predictions.csv")
    chips = pd.read_csv(out / "chips_needed.csv")
    cmp = pd.read_csv(out / "comparison.csv")
    pdir = out / "plots"
    files = P.save_all(_speed(pred, cmp), pdir / "1-per-user-speed")
    files += P.save_all(_chips(chips), pdir / "2-chips-needed")
    b1 = pred[pred["batch"] == 1]
    # log axes: the classes differ by orders of magnitude, and a linear axis hides the GPUs
    files += P.save_all(P.energy_cost(b1, "system", title="Energy and cost per token, batch 1",
                                      logy=True),
                        pdir / "3-energy-cost-batch1")
    big = pred[pred["batch"] == pred["batch"].max()]
    files += P.save_all(P.energy_cost(big, "system", title=f"Energy and cost per token, batch "
                                      f"{int(pred['batch'].max())}", logy=True),
                        pdir / "4-energy-cost-batched")
    return files
