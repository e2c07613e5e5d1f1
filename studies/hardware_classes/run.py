"""Hardware classes for Llama-3.1-70B: GPU-HBM vs wafer-scale SRAM vs LPU dataflow vs CIM.

Systems (infersim library): 8×H100 and 8×H200 (GPU + HBM), 4×Cerebras CS-3 (wafer-scale SRAM),
576 Groq LPUs (SRAM-only dataflow), 8 d-Matrix Corsair cards (digital in-memory compute). For each:
the chips needed to hold the weights (computed from the capacity of every memory level that may
hold weights), and the simulator's decode latency per token, per-user speed, throughput,
energy per token and cost per 1M tokens (hwmodels.economics: hardware amortized over 4 years +
energy; NaN where the price is not public) at batch 1 and at a larger batch. Predictions are
set beside the published per-user speeds of `published.csv` (each row cites its source);
rows that used speculative decoding are listed but never compared with a plain-decode
prediction.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd

from infersim.foundation.io import atomic_write_text
from infersim.hwmodels.capex import capex_usd
from infersim.hwmodels.economics import (
    Economics,
    cost_note,
    cost_per_mtok_usd,
)

HERE = Path(__file__).parent
MODEL = "llama-3.1-70b"
CONTEXT = 2048  # assumed: a mid-length chat context (the published rows do not state one)

# (system, weight dtype, tp, pp, runtime, why) — the deployment each published row describes.
SYSTEMS: tuple[tuple[str, str, int, int, str, str], ...] = (
    ("dgx-h100", "fp8", 8, 1, "fused", "TP8 FP8, TensorRT-LLM class (as NVIDIA's 8-GPU rows)"),
    ("dgx-h200", "fp8", 8, 1, "fused", "TP8 FP8 (reference row 14: 8×H200, FP8)"),
    ("cs-3x4", "bf16", 1, 4, "cerebras-2024-10",
     "16-bit weights, layers pipelined over 4 wafers (ref. C8, C9); Oct 2024 software"),
    ("groq-576", "int8", 8, 72, "groq-2024", "8-bit (ref. row 5), 576 = TP8 × 72 pipeline stages"),
    ("corsair-8", "int8", 8, 1, "fused", "MXINT8 weights, TP over the 8 cards of one server"),
)
BATCHES = (1, 16, 64)


def chips_needed(model: str, hw_name: str, weights: str) -> list[dict[str, object]]:
    """Chips needed to hold the weights (all parameters at the weight dtype) + one sequence's
    KV cache at CONTEXT, per memory level that may hold weights: ceil(bytes / capacity)."""
    from infersim.api import load_hardware, load_model, make_scenario
    from infersim.hwmodels.spec import TensorClass
    from infersim.workloads import build_trace, summarize
    from infersim.workloads.dtypes import DType

    hw = load_hardware(hw_name)
    m = load_model(model)
    tr = build_trace(m, make_scenario("decode", 1, context=CONTEXT, weights=weights))
    # All weights are stored (embedding table included), whatever one step reads.
    w = summarize(m).params_total * DType.parse(weights).bytes
    kv = float(tr.bytes.kv_read + tr.bytes.kv_write)
    rows = []
    for lvl in hw.chip.memory:
        if TensorClass.WEIGHTS not in lvl.holds or lvl.capacity_bytes <= 0:
            continue
        rows.append({"system": hw_name, "level": lvl.name, "weights": weights,
                     "weight_bytes": w, "kv_bytes_one_seq": kv,
                     "capacity_per_chip_bytes": lvl.capacity_bytes,
                     "chips_needed": math.ceil((w + kv) / lvl.capacity_bytes),
                     "chips_in_system": hw.num_chips})
    return rows


def predict(batches: tuple[int, ...]) -> pd.DataFrame:
    from infersim.api import load_hardware, load_model, simulate

    m = load_model(MODEL)
    econ = Economics()
    rows = []
    for name, wdt, tp, pp, rt, why in SYSTEMS:
        hw = load_hardware(name)
        for b in batches:
            r = simulate(m, hw, phase="decode", batch=b, context=CONTEXT, runtime=rt,
                         weights=wdt, tp=tp, pp=pp)
            price = capex_usd(hw)
            rows.append({
                "system": name, "kind": hw.kind.value, "chips": tp * pp, "weights": wdt,
                "tp": tp, "pp": pp, "runtime": rt, "batch": b, "feasible": r.feasible,
                "reason": str(r.infeasible) if r.infeasible else "",
                "latency_per_token_s": r.latency_s, "tok_s_per_user": r.tokens_per_s / b,
                "throughput_tok_s": r.tokens_per_s,
                "energy_per_token_j": r.energy_per_token_j,
                "system_energy_per_token_j": r.system_energy_per_token_j, "price_usd": price,
                "cost_per_mtok_usd": cost_per_mtok_usd(price, r.tokens_per_s,
                                                       r.system_energy_per_token_j, econ),
                "cost_note": cost_note(price, name),
                "deployment": why})
    return pd.DataFrame(rows)


def compare(pred: pd.DataFrame, published: pd.DataFrame) -> pd.DataFrame:
    """Batch-1 prediction beside each published row; spec-decode rows are not compared."""
    b1 = pred[pred["batch"] == 1].set_index("system")
    rows = []
    for _, p in published.iterrows():
        sysname = p["system"]
        predicted = float(b1.loc[sysname, "tok_s_per_user"]) if sysname in b1.index else math.nan
        spec = str(p["spec_decode"]).strip().lower()
        large_batch = "48" in str(p["batch"])
        comparable = spec == "no" and not large_batch
        why_not = ("speculative decoding" if spec.startswith("yes") else
                   "speculative decoding not disclosed" if spec != "no" else
                   "vendor claim at batch 48-64")
        rows.append({
            "ref_row": p["ref_row"], "platform": p["platform"], "system": sysname,
            "precision": p["precision"], "spec_decode": p["spec_decode"],
            "published_tok_s_per_user": p["tok_s_per_user"],
            "predicted_tok_s_per_user_batch1": predicted,
            "ratio_predicted_to_published": predicted / float(p["tok_s_per_user"])
            if comparable else math.nan,
            "compared": "yes" if comparable else f"no: {why_not}",
            "kind_of_number": p["kind_of_number"], "source": p["source"]})
    return pd.DataFrame(rows)


def summary(pred: pd.DataFrame, chips: pd.DataFrame, cmp: pd.DataFrame) -> str:
    lines = [f"Llama-3.1-70B decode at context {CONTEXT}, batch 1 unless stated.", "",
             "## Chips needed to hold the weights (computed from capacity)", ""]
    for _, c in chips.iterrows():
        lines.append(f"- {c['system']} ({c['weights']}, {c['level']}): "
                     f"{c['weight_bytes'] / 1e9:.1f} GB of weights + "
                     f"{c['kv_bytes_one_seq'] / 1e9:.2f} GB KV → **{c['chips_needed']}** chips "
                     f"of {c['capacity_per_chip_bytes'] / 1e9:.3g} GB "
                     f"(system has {c['chips_in_system']})")
    lines += ["", "## Predictions (batch 1)", ""]
    for _, r in pred[pred["batch"] == 1].iterrows():
        cost = (f"${r['cost_per_mtok_usd']:.2f}/1M tokens" if math.isfinite(
            r["cost_per_mtok_usd"]) else "cost n/a (price not public)")
        feas = "" if r["feasible"] else f" — INFEASIBLE: {r['reason']}"
        lines.append(f"- {r['system']}: {r['latency_per_token_s'] * 1e3:.2f} ms/token, "
                     f"{r['tok_s_per_user']:.0f} tok/s/user, "
                     f"{r['energy_per_token_j']:.2f} J/token (chips only), {cost}{feas}")
    lines += ["", "## Against published per-user speeds (no speculative decoding only)", ""]
    for _, c in cmp.iterrows():
        if c["compared"] == "yes":
            lines.append(f"- ref {c['ref_row']} {c['platform']} ({c['precision']}): published "
                         f"{c['published_tok_s_per_user']:g}, predicted "
                         f"{c['predicted_tok_s_per_user_batch1']:.0f} tok/s/user "
                         f"(×{c['ratio_predicted_to_published']:.2f})")
        else:
            lines.append(f"- ref {c['ref_row']} {c['platform']}: "
                         f"{c['published_tok_s_per_user']:g} tok/s/user — {c['compared']}")
    return "\n".join(lines) + "\n"


def run(out_dir: str | Path, *, quick: bool = False) -> pd.DataFrame:
    out = Path(out_dir)
    batches = BATCHES[:2] if quick else BATCHES
    pred = predict(batches)
    chips = pd.DataFrame([r for name, wdt, *_ in SYSTEMS for r in chips_needed(MODEL, name, wdt)])
    published = pd.read_csv(HERE / "published.csv", dtype={"ref_row": str, "batch": str})
    cmp = compare(pred, published)
    atomic_write_text(out / "predictions.csv", pred.to_csv(index=False))
    atomic_write_text(out / "chips_needed.csv", chips.to_csv(index=False))
    atomic_write_text(out / "comparison.csv", cmp.to_csv(index=False))
    atomic_write_text(out / "summary.md", summary(pred, chips, cmp))
    atomic_write_text(out / "config.json", json.dumps({
        "model": MODEL, "context": CONTEXT, "batches": list(batches),
        "systems": [dict(zip(("system", "weights", "tp", "pp", "runtime", "why"), s,
                             strict=True)) for s in SYSTEMS],
        "economics": Economics().to_dict(),
        "inputs": ["studies/hardware_classes/published.csv"]}, indent=2))
    return pred
