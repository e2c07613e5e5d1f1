"""Bandwidth vs capacity: SRAM × HBM bandwidth × compute design sweep of an inference chip.

Runs `study.yaml` (a grid over `--set` paths of the hypothetical base spec `inference-chip.yaml`)
with the sweep engine, prices every design with the component cost model in
`component_costs.csv` (all entries are stated assumptions), and computes cost per 1M tokens
(hwmodels.economics: design price amortized over 4 years + energy) and the Pareto front of
tokens/s per user (maximize) vs cost per 1M tokens (minimize) over the feasible designs.
Designs whose KV cache does not fit their SRAM are kept as infeasible rows with the reason.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from infersim.foundation.io import atomic_write_text
from infersim.hwmodels.economics import Economics, cost_per_mtok_usd
from infersim.studies.pareto import pareto_front

HERE = Path(__file__).parent
SRAM = "hw.memory.sram.capacity_gb"
HBM = "hw.memory.hbm.bandwidth_tb_per_s"
PEAK = "hw.compute.tensor.peak_tflops.bf16"


def design_price_usd(frame: pd.DataFrame, costs: pd.DataFrame) -> pd.Series:
    """base + SRAM GB × $/GB + HBM TB/s × $/(TB/s) + bf16 PFLOP/s × $/PFLOP/s."""
    c = dict(zip(costs["component"], costs["usd_per_unit"].astype(float), strict=True))
    return (c["base"] + frame[SRAM] * c["sram"] + frame[HBM] * c["hbm_bandwidth"]
            + frame[PEAK] / 1000.0 * c["compute"])


def run(out_dir: str | Path, *, quick: bool = False, workers: int | None = None,
        executor: str = "local") -> pd.DataFrame:
    from infersim.studies.registry import quick_study
    from infersim.studies.runner import run_sweep
    from infersim.studies.spec import load_study

    out = Path(out_dir)
    study = load_study(HERE / "study.yaml")
    if quick:
        study = quick_study(study)
    res = run_sweep(study, out / "sweep", executor=executor if workers != 1 else "inline",
                    workers=workers, progress=False)
    df = res.frame.drop(columns=["key"])
    costs = pd.read_csv(HERE / "component_costs.csv")
    df["design_price_usd"] = design_price_usd(df, costs)
    econ = Economics()
    df["cost_per_mtok_usd"] = [
        cost_per_mtok_usd(p, t, e, econ) if f else float("nan")
        for p, t, e, f in zip(df["design_price_usd"], df["tokens_per_s"],
                              df["energy_per_token_j"], df["feasible"].astype(bool),
                              strict=True)]
    feas = df["feasible"].astype(bool) & (df["status"] == "ok")
    df["pareto"] = False
    front = pareto_front(df[feas], {"cost_per_mtok_usd": "minimize",
                                    "tokens_per_s_per_user": "maximize"})
    df.loc[front[front].index, "pareto"] = True
    atomic_write_text(out / "designs.csv", df.to_csv(index=False))
    atomic_write_text(out / "pareto.csv", df[df["pareto"]].sort_values(
        "cost_per_mtok_usd").to_csv(index=False))
    best = df[df["pareto"]].sort_values("tokens_per_s_per_user")
    lines = [f"{len(df)} designs × batches, {int(feas.sum())} feasible; "
             f"{int(df['pareto'].sum())} on the Pareto front (tokens/s per user vs US$ per 1M "
             "tokens). Front, cheapest first:", ""]
    for _, r in best.sort_values("cost_per_mtok_usd").iterrows():
        lines.append(f"- SRAM {r[SRAM]:g} GB, HBM {r[HBM]:g} TB/s, {r[PEAK]:g} TFLOPS, batch "
                     f"{r['scenario.batch']}: {r['tokens_per_s_per_user']:.0f} tok/s/user, "
                     f"${r['cost_per_mtok_usd']:.3f}/1M tokens (design "
                     f"${r['design_price_usd']:,.0f})")
    lines += ["", "Component costs are assumptions (see the table `component costs`); the "
              "ranking of designs depends on them, the per-user speeds do not."]
    atomic_write_text(out / "summary.md", "\n".join(lines) + "\n")
    atomic_write_text(out / "component_costs.csv", costs.to_csv(index=False))
    atomic_write_text(out / "config.json", json.dumps(
        {"study": study.resolved_config(), "economics": Economics().to_dict()}, indent=2))
    return df
