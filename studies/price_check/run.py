"""Price check: what hardware, utilization and price per chip-hour do published token prices imply?

Input: `prices.csv` (list prices per 1M input/output tokens, see SOURCE.md).
- Llama 3 70B offerings (Together, Fireworks, Groq): for candidate systems (8×H100 and 8×H200 at
  fp8, 576 Groq LPUs at int8, 4×CS-3 at bf16) and several batch sizes, the simulator's decode
  throughput gives the hardware cost floor per 1M output tokens (hwmodels.economics: price
  amortized over 4 years + energy, at 100% utilization), the utilization at which the list
  price only just covers that cost (break-even), and the price per chip-hour the list price
  pays when the system is kept busy at that throughput. Prefill (input tokens) is priced the
  same way from a 2048-token prefill step.
- GPT-4o and Claude 3.5 Sonnet: their sizes are not public, so no size is assumed. Instead the
  cost floor is computed for a range of model sizes from the library (8B, 70B, 175B, 405B
  dense and a 671B-total / 37B-active MoE) on 8×H100 / 8×H200 at fp8: the envelope shows which
  sizes and batch sizes a $15 / 1M output price can cover.
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
    cost_per_mtok_usd,
    energy_usd,
    implied_usd_per_chip_hour,
)

HERE = Path(__file__).parent
CONTEXT = 2048  # assumed: decode at a 2k-token context; prefill of a 2k-token prompt
# (system, weights, tp, pp) for Llama 3 70B
OPEN_SYSTEMS = (("dgx-h100", "fp8", 8, 1), ("dgx-h200", "fp8", 8, 1),
                ("groq-576", "int8", 8, 72), ("cs-3x4", "bf16", 1, 4))
BATCHES = (1, 8, 32, 128)
SIZE_PROXIES = ("llama-3.1-8b", "llama-3.1-70b", "gpt-3-175b", "llama-3.1-405b", "deepseek-v3")
ENVELOPE_SYSTEMS = ("dgx-h100", "dgx-h200")
ENVELOPE_BATCHES = (8, 64, 256)
ENVELOPE_CONTEXT = 1024  # assumed: fits every proxy's window (GPT-3: 2048 positions)


def break_even_utilization(price_usd_per_mtok: float, hw_price_usd: float, tokens_per_s: float,
                           energy_per_token_j: float, econ: Economics) -> float:
    """Utilization u at which price = capex/(lifetime·u·tps) + energy cost (hwmodels.economics);
    NaN when the price does not even cover the energy."""
    margin = price_usd_per_mtok - 1e6 * energy_usd(energy_per_token_j, econ)
    if margin <= 0 or tokens_per_s <= 0 or hw_price_usd <= 0:
        return math.nan
    return hw_price_usd * 1e6 / (econ.lifetime_s * tokens_per_s * margin)


def _sim(model, hw, phase, batch, weights, tp, pp, context=CONTEXT):
    from infersim.api import load_hardware, simulate
    from infersim.hwmodels.registry import cost_model

    kw = {"context": context} if phase == "decode" else {"prompt": context}
    # fused kernels on framework kinds; a compiled kind runs its newest profile
    runtime = None if cost_model(load_hardware(hw)).profiles else "fused"
    return simulate(model, hw, phase=phase, batch=batch, runtime=runtime, weights=weights,
                    tp=tp, pp=pp, **kw)


def open_model(prices: pd.DataFrame, batches: tuple[int, ...]) -> pd.DataFrame:
    from infersim.api import load_hardware, load_model

    econ = Economics()
    m = load_model("llama-3-70b")
    rows = []
    offers = prices[prices["model_in_library"].fillna("") != ""]
    for name, wdt, tp, pp in OPEN_SYSTEMS:
        hw = load_hardware(name)
        chips = tp * pp
        price = capex_usd(hw) * chips / hw.num_chips
        pre = _sim(m, hw, "prefill", 1, wdt, tp, pp)
        for b in batches:
            r = _sim(m, hw, "decode", b, wdt, tp, pp)
            # no floor for a configuration that does not fit (NaN, never a number)
            floor_out = cost_per_mtok_usd(price, r.tokens_per_s, r.system_energy_per_token_j,
                                          econ) if r.feasible else math.nan
            floor_in = cost_per_mtok_usd(price, pre.prompt_tokens_per_s or 0.0,
                                         pre.system_energy_j / (pre.scenario.prompt or 1),
                                         econ) if pre.feasible else math.nan
            for _, o in offers.iterrows():
                p_out = float(o["output_usd_per_mtok"])
                rows.append({
                    "offering": o["offering"], "system": name, "weights": wdt, "chips": chips,
                    "batch": b, "feasible": r.feasible, "tok_s": r.tokens_per_s,
                    "tok_s_per_user": r.tokens_per_s / b,
                    "cost_floor_output_usd_per_mtok": floor_out,
                    "cost_floor_input_usd_per_mtok": floor_in,
                    "list_output_usd_per_mtok": p_out,
                    "list_input_usd_per_mtok": float(o["input_usd_per_mtok"]),
                    "break_even_utilization": break_even_utilization(
                        p_out, price, r.tokens_per_s, r.system_energy_per_token_j, econ)
                    if r.feasible else math.nan,
                    "implied_usd_per_chip_hour": implied_usd_per_chip_hour(
                        p_out, r.tokens_per_s, chips),
                    "amortized_usd_per_chip_hour": econ.hourly_capex_usd(price) / chips})
    return pd.DataFrame(rows)


def envelope(batches: tuple[int, ...]) -> pd.DataFrame:
    from infersim.api import load_hardware, load_model
    from infersim.workloads import summarize

    econ = Economics()
    rows = []
    for sysname in ENVELOPE_SYSTEMS:
        hw = load_hardware(sysname)
        for mname in SIZE_PROXIES:
            m = load_model(mname)
            s = summarize(m)
            for b in batches:
                r = _sim(m, hw, "decode", b, "fp8", 8, 1, ENVELOPE_CONTEXT)
                rows.append({
                    "system": sysname, "size_proxy": mname,
                    "total_params_b": s.params_total / 1e9,
                    "active_params_b": s.params_active / 1e9, "batch": b,
                    "feasible": r.feasible, "reason": str(r.infeasible or ""),
                    "tok_s": r.tokens_per_s, "tok_s_per_user": r.tokens_per_s / b,
                    "cost_floor_output_usd_per_mtok": cost_per_mtok_usd(
                        capex_usd(hw), r.tokens_per_s, r.system_energy_per_token_j, econ)
                    if r.feasible else math.nan,
                    "break_even_utilization_at_15_usd": break_even_utilization(
                        15.0, capex_usd(hw), r.tokens_per_s, r.system_energy_per_token_j,
                        econ)
                    if r.feasible else math.nan})
    return pd.DataFrame(rows)


def summary(op: pd.DataFrame, env: pd.DataFrame) -> str:
    lines = ["## Llama 3 70B offerings", ""]
    for off, g in op.groupby("offering", sort=False):
        g = g[g["feasible"]]
        p = g["list_output_usd_per_mtok"].iloc[0]
        ok = g[g["cost_floor_output_usd_per_mtok"] <= p]
        lines.append(f"- **{off}** (${p:.2f} per 1M output tokens): covers the hardware cost "
                     f"floor on {len(ok)} of {len(g)} (system, batch) configurations.")
        for _, r in g.sort_values("break_even_utilization").head(3).iterrows():
            u = r["break_even_utilization"]
            lines.append(f"  - {r['system']} batch {r['batch']}: floor "
                         f"${r['cost_floor_output_usd_per_mtok']:.3f}/1M, break-even "
                         f"utilization {u:.1%}, pays ${r['implied_usd_per_chip_hour']:.2f} per "
                         f"chip-hour when busy (hardware amortization "
                         f"${r['amortized_usd_per_chip_hour']:.2f}/chip-hour)")
    lines += ["", "## GPT-4o and Claude 3.5 Sonnet ($15 per 1M output tokens)", "",
              "Their model sizes are not public; the envelope below assumes none of them. "
              "It lists, per library model used as a size proxy, the lowest cost floor found "
              "on 8×H100 / 8×H200 at fp8 and the batch that reaches it:", ""]
    feas = env[env["feasible"]]
    for mname, g in feas.groupby("size_proxy", sort=False):
        best = g.sort_values("cost_floor_output_usd_per_mtok").iloc[0]
        lines.append(f"- {mname} ({best['total_params_b']:.0f}B total, "
                     f"{best['active_params_b']:.0f}B active): floor "
                     f"${best['cost_floor_output_usd_per_mtok']:.3f}/1M on {best['system']} at "
                     f"batch {best['batch']}; $15/1M breaks even at "
                     f"{best['break_even_utilization_at_15_usd']:.2%} utilization")
    for (mname, sysname), g in env.groupby(["size_proxy", "system"], sort=False):
        bad = g[~g["feasible"]]
        if bad.empty:
            continue
        first = bad.sort_values("batch").iloc[0]
        fits = g[g["feasible"]]
        where = (f"at batch {first['batch']} and above (it fits up to batch "
                 f"{fits['batch'].max()})" if len(fits) else "at any batch tried")
        lines.append(f"- {mname} does not fit {sysname} at fp8 {where}: {first['reason']}")
    lines += ["", "Cost floors include only hardware amortization and energy (no hosting, "
              "networking, staff or margin), at the simulator's throughput."]
    return "\n".join(lines) + "\n"


def run(out_dir: str | Path, *, quick: bool = False) -> pd.DataFrame:
    out = Path(out_dir)
    prices = pd.read_csv(HERE / "prices.csv")
    op = open_model(prices, BATCHES[:2] if quick else BATCHES)
    env = envelope(ENVELOPE_BATCHES[:2] if quick else ENVELOPE_BATCHES)
    atomic_write_text(out / "open_model.csv", op.to_csv(index=False))
    atomic_write_text(out / "closed_model_envelope.csv", env.to_csv(index=False))
    atomic_write_text(out / "summary.md", summary(op, env))
    atomic_write_text(out / "config.json", json.dumps({
        "context": CONTEXT, "envelope_context": ENVELOPE_CONTEXT, "open_systems": [list(s) for s in OPEN_SYSTEMS],
        "size_proxies": list(SIZE_PROXIES), "economics": Economics().to_dict(),
        "inputs": ["studies/price_check/prices.csv"]}, indent=2))
    return op
