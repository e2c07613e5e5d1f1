"""Plots of the serving study: reads results.csv only, writes PNGs under out_dir/plots/."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from infersim.foundation.io import atomic_write_bytes

PANELS = (
    ("ttft_p50_s", "TTFT p50 (s)", True),
    ("tpot_p50_s", "TPOT p50 (s)", True),
    ("throughput_tok_s_per_chip", "output tok/s per chip", True),
    ("tok_s_per_user", "tok/s per user (1 / TPOT p50)", True),
    ("energy_per_token_j", "energy per output token, chips only (J)", True),
    ("cost_per_1m_tokens_usd", "USD per 1M output tokens", True),
)


def plot(out_dir: str | Path) -> list[Path]:
    """One figure with a panel per metric vs concurrent users, a line per system."""
    out = Path(out_dir)
    df = pd.read_csv(out / "results.csv")
    ok = df[df["feasible"]]
    fig = Figure(figsize=(12, 7), layout="constrained")
    axes = fig.subplots(2, 3)
    for ax, (col, label, logy) in zip(axes.flat, PANELS, strict=True):
        for system, g in ok.groupby("system", sort=False):
            g = g.sort_values("users")
            y = g[col].to_numpy(dtype=float)
            if np.all(np.isnan(y)):
                continue
            ax.plot(g["users"], y, marker="o", label=str(system))
        ax.set_xscale("log")
        if logy:
            ax.set_yscale("log")
        ax.set_xlabel("concurrent users")
        ax.set_ylabel(label)
        ax.grid(True, which="both", alpha=0.3)
    axes.flat[0].legend(fontsize="small")
    fig.suptitle("Llama-3.1-70B serving: closed-loop users, 1024/256 tokens")
    path = out / "plots" / "serving.png"
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=150)
    atomic_write_bytes(path, buf.getvalue())
    return [path]


if __name__ == "__main__":
    import sys

    print(plot(sys.argv[1] if len(sys.argv) > 1 else "out/serving"))
