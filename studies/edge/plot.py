"""Plots of the edge study (reads edge.csv)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from infersim.studies import plots as P


def plot(out_dir: str | Path) -> list[Path]:
    out = Path(out_dir)
    df = pd.read_csv(out / "edge.csv")
    df = df[df["feasible"]].copy()
    df["setup"] = df["device"] + " / " + df["runtime"] + " / " + df["model"]
    pdir = out / "plots"
    files = P.save_all(P.line(df, "bits_per_weight", "decode_tok_s", group="setup", logy=True,
                              title="Batch-1 decode speed vs GGUF bits per weight"),
                       pdir / "1-decode-speed-vs-bpw")
    files += P.save_all(P.line(df, "bits_per_weight", "j_per_token", group="setup", logy=True,
                               title="SoC energy per token vs GGUF bits per weight"),
                        pdir / "2-energy-vs-bpw")
    bat = df[df["battery_wh"].notna()].copy()
    if len(bat):
        bat["setup"] = bat["device"] + " / " + bat["runtime"]
        first = bat["weights"].iloc[0] if "q4_k_m" not in set(bat["weights"]) else "q4_k_m"
        files += P.save_all(P.bar(bat[bat["weights"] == first], "model",
                                  "conversations_per_charge", group="setup", logy=True,
                                  title=f"Conversations per battery charge ({first}, SoC "
                                        "energy only)"),
                            pdir / "3-conversations-per-charge")
    return files
