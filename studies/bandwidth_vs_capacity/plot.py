"""Plots of the bandwidth-vs-capacity study (reads designs.csv only)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from infersim.studies import plots as P

SRAM = "hw.memory.sram.capacity_gb"


def plot(out_dir: str | Path) -> list[Path]:
    out = Path(out_dir)
    df = pd.read_csv(out / "designs.csv")
    ok = df[df["feasible"].astype(bool) & (df["status"] == "ok")].copy()
    ok["SRAM (GB)"] = ok[SRAM].map(lambda v: f"{v:g} GB SRAM")
    pdir = out / "plots"
    files = P.save_all(P.pareto(ok, "cost_per_mtok_usd", "tokens_per_s_per_user",
                                group="SRAM (GB)", logx=True, logy=True,
                                title="Designs: per-user speed vs cost (Pareto front)"),
                       pdir / "1-pareto")
    b1 = ok[ok["scenario.batch"] == 1]
    files += P.save_all(P.scatter(b1, "hw.memory.hbm.bandwidth_tb_per_s",
                                  "tokens_per_s_per_user", group="SRAM (GB)", logy=True,
                                  title="batch 1: per-user speed vs HBM bandwidth"),
                        pdir / "2-speed-vs-bandwidth")
    return files
