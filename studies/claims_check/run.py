"""Claims check: which rows of a published A100 80GB, batch-1 speed table are physically possible?

Input: `claims.csv` (the claimed table, see SOURCE.md) and `arithmetic_claims.csv`. For each row,
on ONE NVIDIA A100 80GB (library spec `a100-sxm-80gb`):

- capacity: the claimed weight bytes must fit in the card's HBM;
- bandwidth bound: batch-1 decode reads every weight once per generated token, so
  tokens/s ≤ HBM bandwidth / weight bytes (KV-cache and activation traffic only lower it);
- the simulator's prediction of the row (runtime `eager` for plain PyTorch, `fused` for vLLM /
  TensorRT-LLM, `graph` for llama.cpp), reported even where the weights do not fit ("if it
  fit");
- for rows impossible on one card: the first of a list of candidate systems (2/4/8× A100 with
  tensor parallelism, one H200 141 GB, 2/4/8× H200) on which the weights fit AND the simulator
  predicts at least the claimed speed.
The sentence "140 GB of weights load in ~44 µs per token at 3.2 TB/s" is re-computed from its
own numbers and from the A100 80GB's real bandwidth. Every verdict below is computed from the
spec's capacity and bandwidth and from the simulator; none is typed in.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import Any

import pandas as pd

from infersim.foundation.io import atomic_write_text

HERE = Path(__file__).parent
GPU = "a100-sxm-80gb"
# assumed: prompt+history of 512 tokens; the table does not state a context length and at
# batch 1 the KV traffic of a short context is small next to the weights.
CONTEXT = 512


def candidates() -> list[tuple[str, Any, int]]:
    """(label, Hardware, tensor-parallel degree), smallest first."""
    from infersim.api import load_hardware

    a100 = load_hardware(GPU)
    out: list[tuple[str, Any, int]] = [("1× A100 80GB", a100, 1)]
    for n in (2, 4, 8):  # an n-GPU A100 node: n copies of the chip on its NVLink3 links
        out.append((f"{n}× A100 80GB, TP{n}",
                    dataclasses.replace(a100, name=f"{n}x-{GPU}", num_chips=n), n))
    out.append(("1× H200 141GB", load_hardware("h200-sxm"), 1))
    dgx = load_hardware("dgx-h200")
    for n in (2, 4, 8):
        out.append((f"{n}× H200 141GB, TP{n}", dgx, n))
    return out


def _simulate(row: pd.Series, hw: Any, tp: int) -> Any:
    from infersim.api import simulate

    return simulate(row["model"], hw, phase="decode", batch=1, context=CONTEXT,
                    runtime=row["runtime"], weights=row["weights"], tp=tp)


def check_rows(claims: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Verdict per claimed row, and every (row, candidate) simulation."""
    cands = candidates()
    a100 = cands[0][1]
    cap = a100.chip.main_memory.capacity_bytes
    bw = a100.chip.main_memory.bandwidth_Bps
    verdicts, sims = [], []
    for _, row in claims.iterrows():
        w = float(row["claimed_weight_gb"]) * 1e9
        claimed = float(row["claimed_tok_s"])
        bound = bw / w
        fits = w <= cap
        r1 = _simulate(row, a100, 1)
        sim_w = r1.schedule.trace.bytes.weight
        first_ok = ""
        for label, hw, tp in cands:
            r = _simulate(row, hw, tp)
            per_chip_cap = hw.chip.main_memory.capacity_bytes
            ok = r.feasible and r.tokens_per_s >= claimed
            sims.append({"row": row["row"], "candidate": label, "chips": tp,
                         "feasible": r.feasible, "sim_tok_s": r.tokens_per_s,
                         "bound_tok_s": tp * hw.chip.main_memory.bandwidth_Bps / w,
                         "weights_fit": w / tp <= per_chip_cap,
                         "reaches_claim": ok})
            if ok and not first_ok:
                first_ok = label
        if not fits:
            verdict = (f"impossible on one A100 80GB: {w / 1e9:.0f} GB of weights > "
                       f"{cap / 1e9:.0f} GB of HBM")
        elif claimed > bound:
            verdict = (f"impossible on one A100 80GB: {claimed:g} tok/s exceeds the bandwidth "
                       f"bound {bound:.1f} tok/s ({bw / 1e12:.3f} TB/s / {w / 1e9:g} GB)")
        else:
            verdict = (f"physically possible: {claimed:g} tok/s ≤ bound {bound:.1f} tok/s "
                       f"({100 * claimed / bound:.0f}% of peak bandwidth)")
        possible = fits and claimed <= bound
        verdicts.append({
            "row": row["row"], "model": row["model"], "stack": row["stack"],
            "precision": row["precision"], "claimed_tok_s": claimed,
            "claimed_ms_per_token": row["claimed_ms_per_token"],
            "ms_from_tok_s": 1e3 / claimed,
            "claimed_weight_gb": w / 1e9, "sim_weight_gb": sim_w / 1e9,
            "capacity_gb": cap / 1e9, "bandwidth_Bps": bw, "weights_fit": fits,
            "bound_tok_s": bound, "possible_on_one_a100": possible,
            "sim_tok_s_1x_a100": r1.tokens_per_s, "sim_feasible_1x_a100": r1.feasible,
            "verdict": verdict,
            "hardware_that_reaches_claim": first_ok or "none of the candidates",
        })
    return pd.DataFrame(verdicts), pd.DataFrame(sims)


def check_arithmetic(claims: pd.DataFrame, a100_bw_Bps: float) -> pd.DataFrame:
    rows = []
    for _, c in claims.iterrows():
        w = float(c["weight_gb"]) * 1e9
        t_stated = w / (float(c["bandwidth_tb_per_s"]) * 1e12)
        t_a100 = w / a100_bw_Bps
        rows.append({
            "claim": c["claimed_text"], "claimed_time_s": float(c["claimed_time_per_token_s"]),
            "time_at_stated_bw_s": t_stated,
            "ratio_to_claim": t_stated / float(c["claimed_time_per_token_s"]),
            "a100_80gb_bandwidth_Bps": a100_bw_Bps, "time_at_a100_bw_s": t_a100,
            "max_tok_s_at_a100_bw": 1.0 / t_a100})
    return pd.DataFrame(rows)


def summary(v: pd.DataFrame, a: pd.DataFrame) -> str:
    lines = ["## Verdicts (computed)", ""]
    for _, r in v.iterrows():
        lines.append(f"- Row {r['row']} — {r['model']} {r['stack']} {r['precision']}, claimed "
                     f"{r['claimed_tok_s']:g} tok/s: **{r['verdict']}**. Simulator on one A100: "
                     f"{r['sim_tok_s_1x_a100']:.1f} tok/s"
                     f"{'' if r['sim_feasible_1x_a100'] else ' (if the weights fit)'}. "
                     f"First candidate reaching the claim: {r['hardware_that_reaches_claim']}.")
    n_ok = int(v["possible_on_one_a100"].sum())
    lines += ["", f"{n_ok} of {len(v)} rows are physically possible on one A100 80GB.", "",
              "## The weight-loading arithmetic", ""]
    for _, r in a.iterrows():
        lines.append(
            f"- Claimed: \"{r['claim']}\". The stated numbers give "
            f"{r['time_at_stated_bw_s'] * 1e3:.2f} ms per token, not "
            f"{r['claimed_time_s'] * 1e6:.0f} µs (off by {r['ratio_to_claim']:.0f}×: "
            "milliseconds written as microseconds).")
        lines.append(
            f"- And the A100 80GB does not have 3.2 TB/s: its spec bandwidth is "
            f"{r['a100_80gb_bandwidth_Bps'] / 1e12:.3f} TB/s, so streaming those weights takes "
            f"{r['time_at_a100_bw_s'] * 1e3:.1f} ms per token — at most "
            f"{r['max_tok_s_at_a100_bw']:.1f} tok/s, even if they fit (they do not).")
    return "\n".join(lines) + "\n"


def run(out_dir: str | Path, *, quick: bool = False) -> pd.DataFrame:
    """Write verdicts.csv, candidates.csv, arithmetic.csv, summary.md, config.json."""
    from infersim.api import load_hardware

    out = Path(out_dir)
    claims = pd.read_csv(HERE / "claims.csv")
    arith = pd.read_csv(HERE / "arithmetic_claims.csv")
    verdicts, sims = check_rows(claims)
    bw = load_hardware(GPU).chip.main_memory.bandwidth_Bps
    a = check_arithmetic(arith, bw)
    atomic_write_text(out / "verdicts.csv", verdicts.to_csv(index=False))
    atomic_write_text(out / "candidates.csv", sims.to_csv(index=False))
    atomic_write_text(out / "arithmetic.csv", a.to_csv(index=False))
    atomic_write_text(out / "summary.md", summary(verdicts, a))
    atomic_write_text(out / "config.json", json.dumps({
        "gpu": GPU, "context": CONTEXT, "batch": 1, "phase": "decode",
        "candidates": [c[0] for c in candidates()],
        "inputs": ["studies/claims_check/claims.csv",
                   "studies/claims_check/arithmetic_claims.csv"]}, indent=2))
    assert not math.isnan(float(verdicts["bound_tok_s"].sum()))
    return verdicts
