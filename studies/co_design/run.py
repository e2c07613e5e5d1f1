"""Co-design: cost per 1M tokens and tokens/J of Llama-3.1-70B under TTFT/TPOT SLOs, by design.

Designs: the four seed kinds (GPU dgx-h100 / dgx-h200 / hgx-b200, wafer cs-3x4, LPU groq-576,
CIM corsair-8) and designs between them made with `--set` overrides: HBM stacks per GPU
(capacity and bandwidth together), SRAM MB per LPU chip, DIMC arrays per CIM card, and power
caps (the clock then follows the V/f curve, hwmodels/power.py). For 1, 10, 100 and 1,000
concurrent users each design tries its deployments (tensor/pipeline parallel, batch per
replica ≤ users) and keeps those meeting the SLOs.

Per replica of tp × pp chips serving b users (steady state, prefill not overlapped with
decode): a round is b prefills of PROMPT tokens plus OUTPUT decode steps at batch b (mean
context PROMPT + OUTPUT/2), so TTFT = one prefill (empty queue), TPOT = round / OUTPUT,
tokens/s = b·OUTPUT / round, energy per output token = system energy of the round /
(b·OUTPUT). A prefill that does not fit runs in chunks. Cost per 1M output tokens is
`hwmodels.economics.cost_per_mtok_usd` on the price of the chips of one replica: the system's
capex derived from its build (`hwmodels.capex`: die area per node, yield, wafer price,
memory, packaging, host, margin) for the design's overridden spec, so more HBM or SRAM costs
more; × chips used / chips in the system; NaN where the price is unknown.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from infersim.foundation.io import atomic_write_text
from infersim.hwmodels.capex import capex_usd
from infersim.hwmodels.economics import (
    Economics,
    cost_note,
    cost_per_mtok_usd,
)
from infersim.studies.pareto import pareto_front

HERE = Path(__file__).parent
MODEL = "llama-3.1-70b"
PROMPT = 2048  # assumed: a mid-length chat prompt (as studies/hardware_classes)
# MLPerf Inference Llama-2-70B (OpenOrca): ~290 output tokens per sample on average, with
# Server SLOs TTFT p99 <= 2 s, TPOT p99 <= 200 ms and Interactive (v5.x) TTFT <= 450 ms,
# TPOT <= 40 ms (/work/shared/reference/serving-published-results.md §5)
OUTPUT = 290
SLOS: dict[str, tuple[float, float]] = {"server": (2.0, 0.200), "interactive": (0.450, 0.040)}
USERS = (1, 10, 100, 1000)
BATCHES = (1, 4, 16, 64, 256)
CHUNKS = (1024, 512, 256, 128)  # prefill chunk sizes tried when a whole prompt does not fit


@dataclass(frozen=True)
class Design:
    name: str
    kind: str
    system: str
    deployments: tuple[tuple[str, int, int, str], ...]  # (weights, tp, pp, runtime)
    overrides: dict[str, Any] = field(default_factory=dict)
    what: str = ""


def _gpu(tps: tuple[int, ...]) -> tuple[tuple[str, int, int, str], ...]:
    return tuple(("fp8", tp, 1, "fused") for tp in tps)


# H100: 5 active HBM3 stacks = 85.52 GB (81559 MiB, the spec's capacity) and 3.35 TB/s, i.e.
# 17.104 GB and 0.67 TB/s per stack (reference §1.1); a design with n stacks scales both.
def _stacks(n: int) -> dict[str, Any]:
    return {"chip.memory.hbm.capacity_gb": round(17.104 * n, 3),
            "chip.memory.hbm.bandwidth_tb_per_s": round(0.67 * n, 3)}


def designs(quick: bool) -> list[Design]:
    tps = (2, 8) if quick else (1, 2, 4, 8)
    out = [
        Design("H100", "gpu", "dgx-h100", _gpu(tps), what="8× H100 SXM, FP8, TRT-LLM class"),
        Design("H100 cap 350 W", "gpu", "dgx-h100", _gpu(tps), {"chip.power.cap_w": 350},
               what="power limit 350 W per GPU (DVFS)"),
        Design("H100 8 HBM stacks", "gpu", "dgx-h100", _gpu(tps), _stacks(8),
               what="128 GB, 5.36 TB/s per GPU"),
        Design("H200", "gpu", "dgx-h200", _gpu(tps), what="8× H200 SXM, FP8"),
        Design("B200", "gpu", "hgx-b200", _gpu(tps), what="8× B200, FP8"),
        Design("cs-3x4", "wafer", "cs-3x4", (("bf16", 1, 4, "cerebras-2024-10"),),
               what="4 wafers, layers pipelined, 16-bit weights"),
        Design("groq-576", "lpu", "groq-576", (("int8", 8, 72, "groq-2024"),),
               what="576 LPUs, TP8 × PP72, 8-bit weights"),
        Design("groq 2× SRAM", "lpu", "groq-576",
               (("int8", 8, 36, "groq-2024"), ("int8", 8, 72, "groq-2024")),
               {"chip.memory.sram.capacity_mib": 440},
               what="LPU with 440 MiB SRAM per chip (2×)"),
        Design("corsair-8", "cim", "corsair-8", (("int8", 8, 1, "fused"),),
               what="8 d-Matrix Corsair cards, 8-bit weights"),
    ]
    if not quick:
        out[2:2] = [
            Design("H100 cap 500 W", "gpu", "dgx-h100", _gpu(tps), {"chip.power.cap_w": 500},
                   what="power limit 500 W per GPU (DVFS)"),
            Design("H100 6 HBM stacks", "gpu", "dgx-h100", _gpu(tps), _stacks(6),
                   what="96 GB, 4.02 TB/s per GPU"),
        ]
        out.insert(out.index(next(d for d in out if d.name == "B200")) + 1,
                   Design("B200 cap 500 W", "gpu", "hgx-b200", _gpu(tps),
                          {"chip.power.cap_w": 500}, what="power limit 500 W per GPU (DVFS)"))
        out.insert(out.index(next(d for d in out if d.name == "cs-3x4")) + 1,
                   Design("cs-3x4 cap 6 kW", "wafer", "cs-3x4",
                          (("bf16", 1, 4, "cerebras-2024-10"),), {"chip.power.cap_kw": 6},
                          what="power limit 6 kW per wafer (DVFS, per-node V/f default)"))
        out.append(Design("corsair 2× arrays", "cim", "corsair-8", (("int8", 8, 1, "fused"),),
                          {"chip.cim.num_arrays": 122070, "chip.memory.sram.capacity_gb": 4},
                          what="4 GB of DIMC arrays per card (2×)"))
    return out


def replica_price_usd(hw: Any, chips: int) -> float:
    """Price of the chips of one replica: the (derived) system capex pro rata; 0 when the
    price is unknown (the cost is then NaN)."""
    return capex_usd(hw) * chips / hw.num_chips


class _Steps:
    """simulate() results of one design, cached by deployment and step."""

    def __init__(self, d: Design) -> None:
        from infersim.api import load_hardware, load_model

        self.d = d
        self.model = load_model(MODEL)
        self.hw = load_hardware(d.system, d.overrides or None)
        self._cache: dict[tuple[Any, ...], Any] = {}

    def _sim(self, dep: tuple[str, int, int, str], **kw: Any) -> Any:
        from infersim.api import simulate

        key = (dep, tuple(sorted(kw.items())))
        if key not in self._cache:
            w, tp, pp, rt = dep
            self._cache[key] = simulate(self.model, self.hw, weights=w, tp=tp, pp=pp,
                                        runtime=rt, **kw)
        return self._cache[key]

    def prefill(self, dep: tuple[str, int, int, str]) -> tuple[float, float, float, str]:
        """(TTFT s, system energy J, clock Hz, how) of one prompt; NaN when no chunking fits."""
        r = self._sim(dep, phase="prefill", batch=1, prompt=PROMPT)
        if r.feasible:
            return r.latency_s, r.system_energy_j, _clock(r), "whole prompt"
        for c in CHUNKS:
            n = math.ceil(PROMPT / c)
            last = self._sim(dep, phase="chunked_prefill", batch=1, prompt=c, chunk=c,
                             context=PROMPT - c)
            if not last.feasible:
                continue
            # attention grows linearly with the context: the chunk at the mean context is the
            # mean chunk
            mid = self._sim(dep, phase="chunked_prefill", batch=1, prompt=c, chunk=c,
                            context=(n - 1) * c // 2)
            return (n * mid.latency_s, n * mid.system_energy_j, _clock(mid),
                    f"{n} chunks of {c}")
        return math.nan, math.nan, math.nan, str(r.infeasible)

    def decode(self, dep: tuple[str, int, int, str], batch: int) -> Any:
        return self._sim(dep, phase="decode", batch=batch, context=PROMPT + OUTPUT // 2)


def _clock(r: Any) -> float:
    th = r.schedule.dvfs
    return th.clock_hz if th is not None else r.schedule.hardware.chip.clock_hz


def evaluate(quick: bool = False) -> pd.DataFrame:
    econ = Economics()
    users = (1, 100) if quick else USERS
    rows = []
    for d in designs(quick):
        steps = _Steps(d)
        for dep in d.deployments:
            w, tp, pp, rt = dep
            chips = tp * pp
            if chips > steps.hw.num_chips:
                continue
            ttft, e_pf, f_pf, how = steps.prefill(dep)
            price = replica_price_usd(steps.hw, chips)
            for u in users:
                for b in sorted({*(x for x in BATCHES if x < u), u}):
                    r = steps.decode(dep, b)
                    ok = r.feasible and math.isfinite(ttft)
                    rnd = b * ttft + OUTPUT * r.latency_s if ok else math.nan
                    tps = b * OUTPUT / rnd if ok else math.nan
                    e_tok = (b * e_pf + OUTPUT * r.system_energy_j) / (b * OUTPUT) if ok \
                        else math.nan
                    tpot = rnd / OUTPUT if ok else math.nan
                    row = {
                        "design": d.name, "kind": d.kind, "system": d.system,
                        "overrides": json.dumps(d.overrides, sort_keys=True), "weights": w,
                        "tp": tp, "pp": pp, "runtime": rt, "users": u, "batch": b,
                        "replicas": math.ceil(u / b), "chips": math.ceil(u / b) * chips,
                        "feasible": ok,
                        "reason": "" if ok else (how if not math.isfinite(ttft)
                                                 else str(r.infeasible)),
                        "prefill": how, "ttft_s": ttft, "decode_step_s": r.latency_s,
                        "tpot_s": tpot, "tokens_per_s_per_user": 1.0 / tpot if ok else math.nan,
                        "replica_tokens_per_s": tps,
                        "energy_per_token_j": e_tok,
                        "tokens_per_j": 1.0 / e_tok if ok and e_tok > 0 else math.nan,
                        "decode_clock_ghz": _clock(r) / 1e9, "prefill_clock_ghz": f_pf / 1e9,
                        "replica_price_usd": price,
                        "cost_per_mtok_usd": cost_per_mtok_usd(price, tps, e_tok, econ)
                        if ok else math.nan,
                        "cost_note": cost_note(price, d.system),
                    }
                    for tier, (t_ttft, t_tpot) in SLOS.items():
                        row[f"meets_{tier}"] = bool(ok and ttft <= t_ttft and tpot <= t_tpot)
                    rows.append(row)
    return pd.DataFrame(rows)


def best(df: pd.DataFrame) -> pd.DataFrame:
    """Per users × SLO tier × kind: the cheapest deployment meeting the SLO and the most
    tokens per joule (each with its design and deployment)."""
    rows = []
    for (u, kind), g in df.groupby(["users", "kind"], sort=False):
        for tier in SLOS:
            ok = g[g[f"meets_{tier}"]]
            row: dict[str, Any] = {"users": u, "slo": tier, "kind": kind,
                                   "deployments_meeting_slo": len(ok)}
            for metric, goal in (("cost_per_mtok_usd", "min"), ("tokens_per_j", "max")):
                vals = ok[ok[metric].notna()]
                if vals.empty:
                    row[f"best_{metric}"] = math.nan
                    row[f"best_{metric}_design"] = ""
                    continue
                i = vals[metric].idxmin() if goal == "min" else vals[metric].idxmax()
                r = vals.loc[i]
                row[f"best_{metric}"] = r[metric]
                row[f"best_{metric}_design"] = (f"{r['design']} tp{r['tp']} pp{r['pp']} "
                                                f"batch {r['batch']}")
            rows.append(row)
    return pd.DataFrame(rows)


def mark_pareto(df: pd.DataFrame) -> pd.DataFrame:
    """`pareto_energy` / `pareto_speed`: on the front of cost (min) vs tokens/J (max) / vs
    tokens/s per user (max) among the deployments meeting the server SLO, per users."""
    df = df.copy()
    df["pareto_energy"] = False
    df["pareto_speed"] = False
    for _, g in df[df["meets_server"]].groupby("users"):
        for col, y in (("pareto_energy", "tokens_per_j"), ("pareto_speed",
                                                           "tokens_per_s_per_user")):
            front = pareto_front(g, {"cost_per_mtok_usd": "minimize", y: "maximize"})
            df.loc[front[front].index, col] = True
    return df


def _money(x: float) -> str:
    return f"US${x:.3g}" if math.isfinite(x) else "n/a (no public price)"


def summary(df: pd.DataFrame, bt: pd.DataFrame) -> str:
    """The conclusion, every number computed from the tables."""
    lines = [f"Llama-3.1-70B, prompt {PROMPT}, {OUTPUT} output tokens per request; SLOs: "
             + "; ".join(f"{t} TTFT ≤ {a * 1e3:g} ms, TPOT ≤ {b * 1e3:g} ms"
                         for t, (a, b) in SLOS.items()) + ". Costs are per 1M output tokens "
             "(hardware amortized over 4 years + electricity, hwmodels.economics); energy is the "
             "system's (chips + their share of hosts, switches and fans), so a power cap that "
             "stretches a step also stretches their draw.", ""]
    for u in sorted(df["users"].unique()):
        lines.append(f"## {u} concurrent user{'s' if u > 1 else ''}")
        lines.append("")
        for tier in SLOS:
            g = df[(df["users"] == u) & df[f"meets_{tier}"]]
            if g.empty:
                lines.append(f"- {tier} SLO: no design meets it.")
                continue
            priced = g[g["cost_per_mtok_usd"].notna()]
            parts = []
            if not priced.empty:
                c = priced.loc[priced["cost_per_mtok_usd"].idxmin()]
                parts.append(f"cheapest is {c['design']} (tp{c['tp']} pp{c['pp']}, batch "
                             f"{c['batch']}) at {_money(c['cost_per_mtok_usd'])} per 1M "
                             f"tokens, {c['tokens_per_j']:.3g} tokens/J, "
                             f"{c['tokens_per_s_per_user']:.0f} tok/s/user")
            e = g.loc[g["tokens_per_j"].idxmax()]
            parts.append(f"most energy-efficient is {e['design']} (tp{e['tp']} pp{e['pp']}, "
                         f"batch {e['batch']}) at {e['tokens_per_j']:.3g} tokens/J "
                         f"({_money(e['cost_per_mtok_usd'])} per 1M)")
            kinds = sorted(g["kind"].unique())
            lines.append(f"- {tier} SLO ({len(g)} deployments of {', '.join(kinds)} meet it): "
                         + "; ".join(parts) + ".")
        lines.append("")
    lines += _variant_lines(df)
    lines += _dvfs_lines(df)
    unpriced = sorted(df.loc[df["replica_price_usd"] <= 0, "design"].unique())
    if unpriced:
        lines += [f"Without a public price ({', '.join(unpriced)}), a design has no cost per 1M "
                  "tokens: it is compared on tokens/J and speed only.", ""]
    return "\n".join(lines) + "\n"


def _variant_lines(df: pd.DataFrame) -> list[str]:
    """Each design variant against its base system (same system, no overrides): the best
    cost and tokens/J meeting the server SLO at the largest user count."""
    u = df["users"].max()
    ok = df[(df["users"] == u) & df["meets_server"]]
    out = [f"## Designs between the kinds ({u} users, server SLO)", ""]
    bases = {r["system"]: r["design"] for _, r in df[df["overrides"] == "{}"].iterrows()}
    for name in df.loc[df["overrides"] != "{}", "design"].unique():
        system = df.loc[df["design"] == name, "system"].iloc[0]
        base = bases.get(system)
        v, b = ok[ok["design"] == name], ok[ok["design"] == base]
        if base is None or v.empty or b.empty:
            out.append(f"- {name}: no deployment meets the SLO"
                       + ("" if v.empty else f" for its base {base}") + ".")
            continue
        out.append(f"- {name} vs {base}: best {_money(v['cost_per_mtok_usd'].min())} vs "
                   f"{_money(b['cost_per_mtok_usd'].min())} per 1M tokens, "
                   f"{v['tokens_per_j'].max():.3g} vs {b['tokens_per_j'].max():.3g} tokens/J.")
    out.append("")
    return out


def _dvfs_lines(df: pd.DataFrame) -> list[str]:
    """What the power caps did, from the H100 rows at the same deployment and batch."""
    base = df[(df["design"] == "H100") & df["feasible"]]
    out = ["## Power caps (DVFS)", ""]
    for name in sorted(d for d in df["design"].unique() if d.startswith("H100 cap")):
        cap = df[(df["design"] == name) & df["feasible"]]
        m = base.merge(cap, on=["tp", "pp", "users", "batch"], suffixes=("", "_cap"))
        if m.empty:
            continue
        r = m.loc[(m["users"] == m["users"].max()) & (m["tp"] == m["tp"].max())].sort_values(
            "batch").iloc[-1]
        out.append(
            f"- {name}, tp{r['tp']} batch {r['batch']}: prefill clock "
            f"{r['prefill_clock_ghz_cap']:.2f} GHz (TTFT ×{r['ttft_s_cap'] / r['ttft_s']:.2f}), "
            f"decode clock {r['decode_clock_ghz_cap']:.2f} GHz (decode step "
            f"×{r['decode_step_s_cap'] / r['decode_step_s']:.3f}); tokens/J "
            f"×{r['tokens_per_j_cap'] / r['tokens_per_j']:.3f}, cost per 1M tokens "
            f"×{r['cost_per_mtok_usd_cap'] / r['cost_per_mtok_usd']:.3f} against the uncapped "
            "H100.")
    if len(out) == 2:
        out.append("- no power-capped design in this run.")
    out.append("")
    return out


def run(out_dir: str | Path, *, quick: bool = False) -> pd.DataFrame:
    out = Path(out_dir)
    df = mark_pareto(evaluate(quick))
    bt = best(df)
    atomic_write_text(out / "designs.csv", df.to_csv(index=False))
    atomic_write_text(out / "best.csv", bt.to_csv(index=False))
    atomic_write_text(out / "summary.md", summary(df, bt))
    atomic_write_text(out / "config.json", json.dumps({
        "model": MODEL, "prompt": PROMPT, "output": OUTPUT, "slos": SLOS,
        "users": sorted(int(u) for u in df["users"].unique()), "batches": list(BATCHES),
        "designs": [{"name": d.name, "kind": d.kind, "system": d.system,
                     "overrides": d.overrides,
                     "deployments": d.deployments, "what": d.what} for d in designs(quick)],
        "economics": Economics().to_dict(),
        "inputs": ["hwmodels/data (process nodes, component costs of the capex model)"]},
        indent=2))
    return df
