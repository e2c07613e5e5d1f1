"""Heterogeneous vs homogeneous prefill/decode pools: cost per 1M output tokens under SLOs.

Llama-3.1-8B, Poisson arrivals of 2048-token prompts and 256-token outputs (assumed: a
retrieval-augmented chat request, prompt-heavy so that prefill and decode compete). SLOs: TTFT
p99 ≤ 1 s and TPOT p99 ≤ 25 ms (assumed: an interactive service, tighter than MLPerf's
100 ms TPOT so that the decode hardware matters). For each design and rate the pools are sized
by `find_pool_sizes` (colocated: the fewest replicas) to the cheapest configuration meeting
both SLOs; reported: its pools, chips, cost per 1M output tokens (hardware over 4 years +
energy at 0.10 USD/kWh; NaN where the system price is not public: d-Matrix), and latencies.

Designs (DESIGNS): colocated H100s (chunked prefill), H100 → H100 disaggregation, H100
prefill → Groq LPU decode, H100 prefill → d-Matrix Corsair decode. KV moves over 400 Gb/s
InfiniBand (`KV_LINKS["ib-ndr"]`) in every disaggregated design.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import pandas as pd

from infersim.foundation.errors import InputError
from infersim.foundation.io import atomic_write_text

MODEL = "llama-3.1-8b"
PROMPT, OUTPUT = 2048, 256
RATES = (2.0, 4.0, 8.0)  # req/s
SLO_TTFT_S, SLO_TPOT_S = 1.0, 0.025
LINK = "ib-ndr"

# (name, prefill system, decode system or None = colocated, decode (tp, pp, weights), why)
DESIGNS: tuple[tuple[str, str, str | None, tuple[int, int, str], str], ...] = (
    ("h100 colocated", "dgx-h100", None, (1, 1, "fp8"),
     "one H100 per replica, FP8, chunked prefill (vLLM V1 default)"),
    ("h100 → h100", "dgx-h100", "dgx-h100", (1, 1, "fp8"), "homogeneous disaggregation"),
    ("h100 → groq", "dgx-h100", "groq-576", (8, 8, "int8"),
     "8-bit weights over 64 LPUs (230 MB SRAM each: 8 GB of weights need ≥ 36 chips)"),
    ("h100 → corsair", "dgx-h100", "corsair-8", (1, 1, "int8"),
     "one Corsair card (MXINT8) per decode replica"),
)


def _check_specs() -> None:
    from infersim.hwmodels import list_hardware

    have = set(list_hardware())
    missing = sorted({s for _, p, d, *_ in DESIGNS for s in (p, d) if s and s not in have})
    if missing:
        raise InputError(f"disaggregation study: hardware spec(s) {', '.join(missing)} not in "
                         "the library (hwmodels/specs); the study has no fallback")


def run_point(design: tuple, rate: float, requests: int, max_replicas: int,
              seed: int = 0) -> dict[str, object]:
    """The cheapest pools of one design meeting the SLOs at one rate."""
    from infersim.simulator.serving import (
        Deployment,
        FixedLengths,
        Poisson,
        Policy,
        ServingPolicy,
        Slo,
        Traffic,
        find_pool_sizes,
        serve,
    )
    from infersim.simulator.serving.capacity import meets

    name, pre_hw, dec_hw, (tp, pp, weights), _why = design
    slo = Slo(SLO_TTFT_S, SLO_TPOT_S)
    tr = Traffic(Poisson(rate), FixedLengths(PROMPT, OUTPUT), requests)
    pre = Deployment(weights="fp8", kv_link=LINK)
    row: dict[str, object] = {"design": name, "rate_rps": rate, "requests": requests}
    if dec_hw is None:
        pol = ServingPolicy(Policy.CHUNKED)
        for n in range(1, max_replicas + 1):
            r = serve(MODEL, pre_hw, tr, pol, deployment=dataclasses.replace(pre, replicas=n),
                      slo=slo, seed=seed)
            if meets(r, slo)[0]:
                return _row(row, r, n, 0)
        return {**row, "found": False}
    dec = Deployment(tp=tp, pp=pp, weights=weights)

    def sim(npf: int, nd: int):  # type: ignore[no-untyped-def]
        pol = ServingPolicy(Policy.DISAGGREGATED, prefill_replicas=npf, decode_replicas=nd)
        return serve(MODEL, pre_hw, tr, pol, deployment=pre, slo=slo, seed=seed,
                     decode_hw=dec_hw, decode_deployment=dec)

    best = find_pool_sizes(sim, slo, max_replicas=max_replicas)
    if best.result is None:
        return {**row, "found": False}
    return _row(row, best.result, best.prefill, best.decode)


def _row(row: dict[str, object], r, npf: int, nd: int) -> dict[str, object]:  # type: ignore[no-untyped-def]
    d = r.to_dict()
    row.update(found=True, prefill_replicas=npf, decode_replicas=nd, chips=r.chips,
               cost_per_1m_tokens_usd=r.cost_per_1m_tokens_usd, cost_note=r.cost_note)
    for k in ("ttft_p99_s", "tpot_p99_s", "itl_p99_s", "throughput_tok_s",
              "energy_per_token_j", "utilization"):
        row[k] = d[k]
    return row


def run(out_dir: str | Path, *, quick: bool = False) -> pd.DataFrame:
    """Every (design, rate) point; writes results.csv, config.json and summary.md."""
    _check_specs()
    out = Path(out_dir)
    rates = RATES[:1] if quick else RATES
    requests, max_replicas = (100, 2) if quick else (300, 4)
    df = pd.DataFrame([run_point(d, rate, requests, max_replicas)
                       for d in DESIGNS for rate in rates])
    atomic_write_text(out / "results.csv", df.to_csv(index=False))
    config = {"model": MODEL, "prompt_tokens": PROMPT, "output_tokens": OUTPUT,
              "rates_rps": list(rates), "requests": requests, "max_replicas": max_replicas,
              "slo": {"ttft_p99_s": SLO_TTFT_S, "tpot_p99_s": SLO_TPOT_S}, "kv_link": LINK,
              "designs": [dict(zip(("name", "prefill", "decode", "decode_tp_pp_weights",
                                    "why"), d, strict=True)) for d in DESIGNS]}
    atomic_write_text(out / "config.json", json.dumps(config, indent=2))
    atomic_write_text(out / "summary.md", _summary(df))
    return df


def _summary(df: pd.DataFrame) -> str:
    lines = [f"{MODEL}, Poisson, {PROMPT}/{OUTPUT} tokens, TTFT p99 ≤ {SLO_TTFT_S} s, "
             f"TPOT p99 ≤ {1e3 * SLO_TPOT_S:g} ms; cheapest pools meeting both.", "",
             "| design | req/s | prefill + decode | chips | $/1M tok | TTFT p99 (s) | "
             "TPOT p99 (ms) |", "|---|---|---|---|---|---|---|"]
    for _, r in df.iterrows():
        if not r["found"]:
            lines.append(f"| {r['design']} | {r['rate_rps']:g} | none meets the SLOs |||||")
            continue
        cost = r["cost_per_1m_tokens_usd"]
        lines.append(f"| {r['design']} | {r['rate_rps']:g} | {r['prefill_replicas']} + "
                     f"{r['decode_replicas']} | {r['chips']} | "
                     f"{'n/a (price unknown)' if math.isnan(cost) else f'{cost:.3g}'} | "
                     f"{r['ttft_p99_s']:.3g} | {1e3 * r['tpot_p99_s']:.3g} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    import sys

    target = Path(sys.argv[1] if len(sys.argv) > 1 else "out/disaggregation")
    print(run(target).to_string(index=False))
