"""Serving Llama-3.1-70B on four hardware classes under 1-1000 concurrent users.

Systems (infersim library; the study stops with an error if one is missing, no fallback):
8×H100 (GPU + HBM), 4×Cerebras CS-3 (wafer-scale SRAM), 576 Groq LPUs (SRAM-only dataflow),
8 d-Matrix Corsair cards (digital in-memory compute). Traffic is closed-loop: N users, each
sending its next request (1024 prompt / 256 output tokens) as soon as the previous response
ends, N = 1, 10, 100, 1000. Scheduler: chunked prefill (Sarathi-Serve; the default of vLLM's
V1 engine): every step decodes all running sequences and fills a token budget with prompt
chunks; max 256 sequences per step; the budget is per system (SYSTEMS). Reported per point: TTFT and TPOT percentiles, output throughput (total and per chip),
energy per output token (chips only, and with the system's host and network power) and cost
per 1M output tokens (hardware amortized over 4 years +
energy at 0.10 USD/kWh; NaN where the system price is not public).

Every number comes from the simulator's serving DES over the mapper's step costs; the
deployment choices are in SYSTEMS with the reason for each.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from infersim.foundation.errors import InputError
from infersim.foundation.io import atomic_write_text

MODEL = "llama-3.1-70b"
PROMPT, OUTPUT = 1024, 256  # assumed: a chat-style request (same as the serve CLI example)
USERS = (1, 10, 100, 1000)
REQUESTS_PER_USER = 3  # each user sends this many requests (≥ 3 waves past the start-up)

# (system, weights dtype, tp, pp, token budget per step, why). Budget 8192: assumed, a common
# production setting; Groq 256: its SRAM must hold a step's activations beside the weights
# (2 × the largest op's activations of a 1024-token step is ~100 MB per chip, > the ~85 MB
# left after 8-bit weights), so prompts stream through in small chunks.
SYSTEMS: tuple[tuple[str, str, int, int, int, str], ...] = (
    ("dgx-h100", "fp8", 8, 1, 8192, "TP8 FP8, TensorRT-LLM/vLLM class (MLPerf H100 rows use FP8)"),
    ("cs-3x4", "bf16", 1, 4, 8192,
     "16-bit weights (Cerebras inference blog, ref. C9), layers over 4 wafers (ref. C8)"),
    ("groq-576", "int8", 8, 72, 256, "8-bit weights in 576 × 230 MB SRAM (ref. §1.3); "
     "TP8 × 72 stages; 256-token steps so activations fit beside the weights in SRAM"),
    ("corsair-8", "int8", 8, 1, 8192, "MXINT8 weights (2.4 PFLOPS int8), TP over 8 cards"),
)


def _check_specs() -> None:
    from infersim.hwmodels import list_hardware

    have = set(list_hardware())
    missing = [s for s, *_ in SYSTEMS if s not in have]
    if missing:
        raise InputError(f"serving study: hardware spec(s) {', '.join(missing)} not in the "
                         "library (hwmodels/specs); add them — the study has no fallback")


def run_point(system: str, weights: str, tp: int, pp: int, max_tokens: int, users: int,
              requests: int, seed: int = 0) -> dict[str, object]:
    """One (system, users) point: a closed-loop serving simulation."""
    from infersim.hwmodels import load_hardware
    from infersim.simulator.serving import (
        ClosedLoop,
        Deployment,
        FixedLengths,
        Policy,
        ServingPolicy,
        Traffic,
        serve,
    )

    hw = load_hardware(system)
    # production-engine software: a fused engine on framework kinds, the compiled profile
    # (the kind's default) where the kind has its own
    from infersim.hwmodels.registry import cost_model

    runtime = "" if cost_model(hw).profiles else "fused"
    r = serve(MODEL, hw, Traffic(ClosedLoop(users), FixedLengths(PROMPT, OUTPUT), requests),
              ServingPolicy(Policy.CHUNKED, max_tokens=max_tokens),
              deployment=Deployment(tp=tp, pp=pp, runtime=runtime, weights=weights), seed=seed)
    d = r.to_dict()
    row: dict[str, object] = {
        "system": system, "kind": hw.kind.value, "weights": weights, "tp": tp, "pp": pp,
        "chips": tp * pp, "users": users, "requests": requests, "feasible": r.feasible,
        "reason": d.get("reason", ""), "completed": r.completed, "rejected": r.rejected,
    }
    for k in ("ttft_p50_s", "ttft_p99_s", "tpot_p50_s", "tpot_p99_s", "e2e_p50_s",
              "throughput_tok_s", "throughput_tok_s_per_chip", "throughput_req_s",
              "energy_per_token_j", "system_energy_per_token_j", "cost_per_1m_tokens_usd",
              "utilization",
              "kv_peak_occupancy", "preemptions", "duration_s"):
        row[k] = d[k]
    tpot = d["tpot_p50_s"]
    row["tok_s_per_user"] = 1.0 / tpot if isinstance(tpot, float) and tpot > 0 else float("nan")
    return row


def run(out_dir: str | Path, *, quick: bool = False) -> pd.DataFrame:
    """Run every (system, users) point; write results.csv and config.json into out_dir."""
    _check_specs()
    out = Path(out_dir)
    users = USERS[:2] if quick else USERS
    rows = []
    for system, weights, tp, pp, max_tokens, _why in SYSTEMS:
        for n in users:
            requests = max(REQUESTS_PER_USER * n, 20)
            rows.append(run_point(system, weights, tp, pp, max_tokens, n, requests))
    df = pd.DataFrame(rows)
    atomic_write_text(out / "results.csv", df.to_csv(index=False))
    config = {"model": MODEL, "prompt_tokens": PROMPT, "output_tokens": OUTPUT,
              "users": list(users), "requests_per_user": REQUESTS_PER_USER,
              "policy": "chunked", "max_batch": 256,
              "economics": {"lifetime_years": 4.0, "usd_per_kwh": 0.10, "pue": 1.0},
              "systems": [dict(zip(("system", "weights", "tp", "pp", "max_tokens", "why"), s,
                                   strict=True)) for s in SYSTEMS]}
    atomic_write_text(out / "config.json", json.dumps(config, indent=2))
    atomic_write_text(out / "summary.md", _summary(df))
    return df


def _summary(df: pd.DataFrame) -> str:
    lines = [f"Llama-3.1-70B, closed-loop users, {PROMPT}/{OUTPUT} tokens, chunked prefill.",
             "", "| system | users | TTFT p50 (s) | TPOT p50 (ms) | tok/s/chip | J/token (chips) | "
             "J/token (+ host & network) | $/1M tok |", "|---|---|---|---|---|---|---|---|"]
    for _, r in df.iterrows():
        if not r["feasible"]:
            lines.append(f"| {r['system']} | {r['users']} | does not fit: {r['reason']} ||||| ")
            continue
        lines.append(f"| {r['system']} | {r['users']} | {r['ttft_p50_s']:.3g} | "
                     f"{1e3 * r['tpot_p50_s']:.3g} | {r['throughput_tok_s_per_chip']:.4g} | "
                     f"{r['energy_per_token_j']:.3g} | {r['system_energy_per_token_j']:.3g} | "
                     f"{r['cost_per_1m_tokens_usd']:.3g} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    import sys

    target = Path(sys.argv[1] if len(sys.argv) > 1 else "out/serving")
    print(run(target).to_string(index=False))
