"""Plots of the disaggregation study: reads results.csv only, writes out_dir/plots/*.png."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from infersim.foundation.io import atomic_write_bytes

PANELS = (("cost_per_1m_tokens_usd", "USD per 1M output tokens"), ("chips", "chips"),
          ("tpot_p99_s", "TPOT p99 (s)"))


def plot(out_dir: str | Path) -> list[Path]:
    """A panel per metric vs offered rate, a line per design (cheapest pools meeting SLOs)."""
    out = Path(out_dir)
    df = pd.read_csv(out / "results.csv")
    ok = df[df["found"]]
    fig = Figure(figsize=(13, 4), layout="constrained")
    axes = fig.subplots(1, len(PANELS))
    for ax, (col, label) in zip(axes, PANELS, strict=True):
        for design, g in ok.groupby("design", sort=False):
            g = g.sort_values("rate_rps")
            y = g[col].to_numpy(dtype=float)
            if np.all(np.isnan(y)):
                continue
            ax.plot(g["rate_rps"], y, marker="o", label=str(design))
        ax.set_yscale("log")
        ax.set_xlabel("offered rate (req/s)")
        ax.set_ylabel(label)
        ax.grid(True, which="both", alpha=0.3)
    axes[0].legend(fontsize="small")
    fig.suptitle("Prefill/decode pools under TTFT/TPOT SLOs (cheapest sizes meeting both)")
    path = out / "plots" / "disaggregation.png"
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=150)
    atomic_write_bytes(path, buf.getvalue())
    return [path]


if __name__ == "__main__":
    import sys

    print(plot(sys.argv[1] if len(sys.argv) > 1 else "out/disaggregation"))
