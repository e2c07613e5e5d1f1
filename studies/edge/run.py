"""Edge inference: 1-3B models on phone and laptop SoCs across GGUF formats, with battery cost.

Devices (SoC spec + battery; each battery figure cites its source): an Apple M4 Max and M3 Max
MacBook Pro 16-inch, a Snapdragon X Elite Surface Laptop 7, a Snapdragon 8 Gen 3 phone
(Galaxy S24 Ultra), and an M2 Ultra Mac Studio (wall power, no battery). Each runs the edge
runtimes that target it (`hwmodels.edge_runtimes`: llama.cpp on the GPU or the CPU cluster,
MLC-LLM). Models: Llama-3.2-1B, Qwen3-1.7B, Llama-3.2-3B; weights in the GGUF formats with
their real bits per weight (`workloads.dtypes`), fp16 activations and KV (llama.cpp's types).

Per (device, runtime, model, format): decode tokens/s and J/token at batch 1 and context
`REF_CONTEXT`; prompt tokens/s of a `REF_PROMPT`-token prefill; and one conversation of
`TURNS` turns (a `SYSTEM_TOKENS` system prompt, `USER_TOKENS` user tokens and
`RESPONSE_TOKENS` response tokens per turn). The runtime keeps the KV cache between turns, so
a turn prefills only its new tokens (a chunked prefill on top of the history) and then
decodes its response; the decode steps are priced at the turn's mean context (every per-step
cost is linear in the context, so the mean step × steps is the exact sum). Battery use = the
conversation's SoC energy / battery energy; the screen, radios and the rest of the device are
NOT counted, so these are lower bounds on battery drain.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from infersim.foundation.io import atomic_write_text

if TYPE_CHECKING:
    from infersim.hwmodels import Hardware
    from infersim.workloads import ModelConfig

TURNS = 4
SYSTEM_TOKENS = 200
USER_TOKENS = 120
RESPONSE_TOKENS = 300
REF_CONTEXT = 512
REF_PROMPT = 512
ACT = "fp16"

# (device, soc spec, battery Wh (NaN: wall power), battery source, runtimes)
DEVICES: tuple[tuple[str, str, float, str, tuple[str, ...]], ...] = (
    ("galaxy-s24-ultra", "snapdragon-8-gen-3", 5.0 * 3.88,
     "5,000 mAh (https://www.samsung.com/global/galaxy/galaxy-s24-ultra/specs/) x 3.88 V "
     "nominal Li-ion cell voltage (assumed)", ("llama.cpp-cpu", "mlc-llm")),
    ("surface-laptop-7-15in", "snapdragon-x-elite", 66.0,
     "66 Wh (https://www.microsoft.com/en-us/surface/devices/surface-laptop-7th-edition/"
     "tech-specs, 15-inch)", ("llama.cpp-cpu", "llama.cpp")),
    ("macbook-pro-16-m4-max", "m4-max", 100.0,
     "100 Wh (https://www.apple.com/macbook-pro/specs/)", ("llama.cpp", "mlc-llm")),
    ("macbook-pro-16-m3-max", "m3-max", 100.0,
     "100 Wh (https://support.apple.com/en-us/117737, MacBook Pro 16-inch Nov 2023)",
     ("llama.cpp",)),
    ("mac-studio-m2-ultra", "m2-ultra", math.nan, "wall power (no battery)", ("llama.cpp",)),
)
MODELS = ("llama-3.2-1b", "qwen3-1.7b", "llama-3.2-3b")
FORMATS = ("q4_0", "q4_k_m", "q5_k_m", "q6_k", "q8_0", "fp16")
# The CI size: two devices, one model, two formats, each device's first runtime.
QUICK_DEVICES = ("galaxy-s24-ultra", "macbook-pro-16-m4-max")
QUICK_MODELS = ("llama-3.2-1b",)
QUICK_FORMATS = ("q4_k_m", "q8_0")


def conversation(model: ModelConfig, hw: Hardware, runtime: str, weights: str
                 ) -> tuple[float, float, bool]:
    """(seconds of compute, joules of the SoC, fits) of one conversation."""
    from infersim.api import simulate

    history, t, e = 0, 0.0, 0.0
    for k in range(TURNS):
        new = USER_TOKENS + (SYSTEM_TOKENS if k == 0 else 0)
        if history == 0:
            p = simulate(model, hw, "prefill", 1, prompt=new, weights=weights,
                         activations=ACT, runtime=runtime)
        else:
            p = simulate(model, hw, "chunked_prefill", 1, context=history, chunk=new,
                         weights=weights, activations=ACT, runtime=runtime)
        # decode steps see contexts history+new .. history+new+RESPONSE-1: their mean
        mid = history + new + (RESPONSE_TOKENS - 1) // 2
        d = simulate(model, hw, "decode", 1, context=mid, weights=weights, activations=ACT,
                     runtime=runtime)
        if not (p.feasible and d.feasible):
            return math.nan, math.nan, False
        t += p.latency_s + RESPONSE_TOKENS * d.latency_s
        e += p.energy_j + RESPONSE_TOKENS * d.energy_j
        history += new + RESPONSE_TOKENS
    return t, e, True


def predict(devices: tuple[str, ...], models: tuple[str, ...], formats: tuple[str, ...],
            runtimes: int | None) -> pd.DataFrame:
    from infersim.api import load_hardware, load_model, simulate
    from infersim.workloads.dtypes import DType

    rows = []
    for dev, soc, wh, wh_src, rts in DEVICES:
        if dev not in devices:
            continue
        hw = load_hardware(soc)
        for rt in rts[:runtimes]:
            for mname in models:
                m = load_model(mname)
                for w in formats:
                    d = simulate(m, hw, "decode", 1, context=REF_CONTEXT, weights=w,
                                 activations=ACT, runtime=rt)
                    p = simulate(m, hw, "prefill", 1, prompt=REF_PROMPT, weights=w,
                                 activations=ACT, runtime=rt)
                    conv_s, conv_j, fits = conversation(m, hw, rt, w)
                    power = d.energy_j / d.latency_s
                    battery_j = wh * 3600.0
                    rows.append({
                        "device": dev, "soc": soc, "runtime": rt, "model": mname,
                        "weights": w, "bits_per_weight": DType.parse(w).bits_per_weight,
                        "feasible": bool(d.feasible and fits),
                        "decode_tok_s": 1.0 / d.latency_s, "prompt_tok_s": REF_PROMPT
                        / p.latency_s, "j_per_token": d.energy_j, "decode_power_w": power,
                        "conversation_s": conv_s, "conversation_j": conv_j,
                        "battery_wh": wh,
                        "battery_pct_per_conversation": 100.0 * conv_j / battery_j,
                        "conversations_per_charge": battery_j / conv_j,
                        "battery_life_generating_min": battery_j / power / 60.0,
                        "battery_source": wh_src})
    return pd.DataFrame(rows)


def _fmt(v: float, unit: str) -> str:
    return f"{v:.3g} {unit}" if math.isfinite(v) else "n/a"


def summary(df: pd.DataFrame) -> str:
    """Conclusions computed from the table (no hand-written numbers)."""
    conv = (f"{TURNS} turns: a {SYSTEM_TOKENS}-token system prompt, {USER_TOKENS} user and "
            f"{RESPONSE_TOKENS} response tokens per turn")
    lines = [f"Batch-1 decode at context {REF_CONTEXT}; a conversation = {conv}. Energy is the "
             "SoC's only (screen and radios not counted): battery figures are lower bounds.",
             "", "## Fastest setting per device", ""]
    ok = df[df["feasible"]]
    for dev, g in ok.groupby("device", sort=False):
        best = g.loc[g["decode_tok_s"].idxmax()]
        cheap = g.loc[g["j_per_token"].idxmin()]
        lines.append(f"- {dev} ({best['soc']}): fastest {best['model']} {best['weights']} on "
                     f"{best['runtime']} at {best['decode_tok_s']:.0f} tok/s; least energy "
                     f"{cheap['model']} {cheap['weights']} at {cheap['j_per_token'] * 1e3:.0f} "
                     f"mJ/token")
    lines += ["", "## What fewer bits buy (each device's first runtime, largest model)", ""]
    for dev, g in ok.groupby("device", sort=False):
        g = g[g["runtime"] == g["runtime"].iloc[0]]
        g = g[g["model"] == g["model"].iloc[-1]].set_index("weights")
        lo = g["bits_per_weight"].idxmin()
        hi = g["bits_per_weight"].idxmax()
        if lo == hi:
            continue
        bpw_ratio = g.loc[hi, "bits_per_weight"] / g.loc[lo, "bits_per_weight"]
        speed_ratio = g.loc[lo, "decode_tok_s"] / g.loc[hi, "decode_tok_s"]
        lines.append(f"- {dev}, {g['model'].iloc[0]}: {lo} ({g.loc[lo, 'bits_per_weight']:.2f} "
                     f"bpw) decodes {speed_ratio:.2f}x faster than {hi} "
                     f"({g.loc[hi, 'bits_per_weight']:.2f} bpw; {bpw_ratio:.2f}x the bytes): "
                     + ("nearly bandwidth-proportional" if speed_ratio > 0.8 * bpw_ratio else
                        "well below the byte ratio, fixed per-node overheads matter"))
    lines += ["", "## Battery per conversation (Q4_K_M where run)", ""]
    q4 = ok[(ok["weights"] == "q4_k_m") & ok["battery_wh"].notna()]
    for _, r in q4.iterrows():
        lines.append(f"- {r['device']} {r['runtime']} {r['model']}: "
                     f"{_fmt(r['conversation_j'], 'J')} per conversation = "
                     f"{r['battery_pct_per_conversation']:.3f} % of {r['battery_wh']:.3g} Wh "
                     f"({r['conversations_per_charge']:.0f} conversations per charge); "
                     f"generating non-stop the battery lasts "
                     f"{r['battery_life_generating_min']:.0f} min")
    bad = df[~df["feasible"]]
    if len(bad):
        lines += ["", "## Does not fit", ""] + [
            f"- {r['device']} {r['model']} {r['weights']}" for _, r in bad.iterrows()]
    return "\n".join(lines) + "\n"


def run(out_dir: str | Path, *, quick: bool = False) -> pd.DataFrame:
    out = Path(out_dir)
    devices = QUICK_DEVICES if quick else tuple(d[0] for d in DEVICES)
    models = QUICK_MODELS if quick else MODELS
    formats = QUICK_FORMATS if quick else FORMATS
    df = predict(devices, models, formats, 1 if quick else None)
    atomic_write_text(out / "edge.csv", df.to_csv(index=False))
    atomic_write_text(out / "summary.md", summary(df))
    atomic_write_text(out / "config.json", json.dumps({
        "turns": TURNS, "system_tokens": SYSTEM_TOKENS, "user_tokens": USER_TOKENS,
        "response_tokens": RESPONSE_TOKENS, "ref_context": REF_CONTEXT,
        "ref_prompt": REF_PROMPT, "activations": ACT,
        "devices": [dict(zip(("device", "soc", "battery_wh", "battery_source", "runtimes"),
                             (d[0], d[1], None if math.isnan(d[2]) else d[2], d[3],
                              list(d[4])), strict=True)) for d in DEVICES if d[0] in devices],
        "models": list(models), "formats": list(formats)}, indent=2))
    return df
