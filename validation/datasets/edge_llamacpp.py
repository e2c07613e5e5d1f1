"""llama.cpp on Apple silicon (Metal), re-predicted by the `soc` kind with the `llama.cpp`
runtime profile (`hwmodels.edge_runtimes`).

Data: `validation/data/published/llamacpp_apple.csv`, the llama-bench table of llama.cpp
discussion #4167 ("Performance of llama.cpp on Apple Silicon M-series"): Llama-2-7B in F16,
Q8_0 and Q4_0, prompt processing of 512 tokens (pp512: tokens/s of one 512-token prefill)
and text generation of 128 tokens (tg128: tokens/s at batch 1, mean KV length 64). Six
more M2 Ultra pp512 rows come from llama.cpp PR #3084 (Sep 2023 build, LLaMA-1 7B, which has
Llama-2-7B's shapes), the only public table here with K-quant formats (Q4_K_M, Q5_K_M, Q6_K):
their own group, held out. That build is slower than the Nov 2023 one in F16 too (1265 vs
1402 tok/s on the same chip), so the group carries a build-wide offset; within it, the
quantized rows test the dequantization work inside the prompt GEMMs (`hwmodels.models.soc`:
every weight dequantized once per 32-token tile, the instructions per value of each format
counted from ggml-metal.metal), which is larger for K-quants.

Predictions: pp512 = 512 / latency of a 512-token prefill step; tg128 = 1 / latency of one
batch-1 decode step at context 64. Activations and KV are fp16 (llama.cpp's Metal compute
and cache types).

Fit (`fit()`, three constants of the `llama.cpp` profile, on three M2 Ultra rows only; the 21
rows of the other chips and formats are held out):
- per decode token t = A/η + B + n·τ, with A the weight-streaming seconds at η = 1, B the
  rest and n the graph nodes (both measured by the simulator itself): the F16 and Q4_0 tg128
  rows give two linear equations in (1/η, τ) → `weight_stream_efficiency` η and
  `kernel_overhead_s` τ;
- `matmul_efficiency` is solved (bisection) so the F16 pp512 row is reproduced.

    python -m infersim.validation.datasets.edge_llamacpp          # errors + the fit
"""

from __future__ import annotations

import argparse
import csv
import math
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from infersim.hwmodels.cost import RuntimeProfile
from infersim.hwmodels.edge_runtimes import FIT_ROWS, PROFILES

if TYPE_CHECKING:
    import pandas as pd

NAME = "edge_llamacpp"
DESCRIPTION = ("llama.cpp Metal llama-bench results on Apple M1 Max / M2 Ultra / M3 Max / "
               "M4 Max (Llama-2-7B F16, Q8_0, Q4_0; pp512 and tg128, discussion #4167)")
DATA = Path(__file__).resolve().parents[1] / "data" / "published" / "llamacpp_apple.csv"
TG_CONTEXT = 64  # mean KV length over the 128 generated tokens of tg128 (empty prompt)
PP_TOKENS = 512


def read_rows() -> list[dict[str, str]]:
    with DATA.open(newline="") as f:
        return list(csv.DictReader(f))


def predict(r: Mapping[str, str], profile: RuntimeProfile | None = None) -> float:
    """Predicted tokens/s of one row (with `profile` in place of the row's runtime)."""
    from infersim import api

    rt: Any = profile if profile is not None else r["runtime"]
    if r["test"].startswith("pp"):
        n = int(r["test"][2:])
        res = api.simulate(r["model"], r["hardware"], "prefill", 1, prompt=n,
                           weights=r["weights"], activations="fp16", runtime=rt)
        return n / res.latency_s
    res = api.simulate(r["model"], r["hardware"], "decode", 1, context=TG_CONTEXT,
                       weights=r["weights"], activations="fp16", runtime=rt)
    return 1.0 / res.latency_s


def _latency(r: Mapping[str, str], base: RuntimeProfile, **values: float) -> float:
    return 1.0 / predict(r, base.with_values(**values))


def fit() -> dict[str, float]:
    """The three `llama.cpp` constants solved from the calibration rows (module docstring)."""
    rows = {r["id"]: r for r in read_rows()}
    base = PROFILES["llama.cpp"]
    f16, q4, pp = (rows[i] for i in FIT_ROWS)
    tg = []
    for r in (f16, q4):
        t_ref = _latency(r, base, weight_stream_efficiency=1.0, kernel_overhead_s=0.0)
        a = _latency(r, base, weight_stream_efficiency=0.5, kernel_overhead_s=0.0) - t_ref
        n = (_latency(r, base, weight_stream_efficiency=1.0, kernel_overhead_s=1e-6)
             - t_ref) / 1e-6
        tg.append((1.0 / float(r["measured"]), a, t_ref - a, n))
    (t1, a1, b1, n1), (t2, a2, b2, n2) = tg
    # t_i = a_i x + b_i + n_i tau with x = 1/eta: two equations, two unknowns
    det = a1 * n2 - a2 * n1
    x = ((t1 - b1) * n2 - (t2 - b2) * n1) / det
    tau = (a1 * (t2 - b2) - a2 * (t1 - b1)) / det
    eta = 1.0 / x
    prof = base.with_values(weight_stream_efficiency=eta, kernel_overhead_s=tau)
    target = float(pp["measured"])
    lo, hi = 0.05, 1.0
    for _ in range(40):  # predicted pp tokens/s rises with the efficiency
        mid = 0.5 * (lo + hi)
        if predict(pp, prof.with_values(matmul_efficiency=mid)) < target:
            lo = mid
        else:
            hi = mid
    return {"weight_stream_efficiency": eta, "kernel_overhead_s": tau,
            "matmul_efficiency": 0.5 * (lo + hi)}


def load() -> pd.DataFrame:
    """Rows: dataset, group, case, predicted, measured, unit, notes (+ source, confidence)."""
    import pandas as pd

    out = []
    for r in read_rows():
        kind = "prompt pp512" if r["test"].startswith("pp") else "generation tg128"
        split = {"calibration": "calibration", "older-build": "held-out, Sep 2023 build, "
                 "K-quants"}.get(r["split"], "held-out")
        out.append({"dataset": NAME, "group": f"llama.cpp metal {kind} ({split})",
                    "case": r["id"], "predicted": predict(r), "measured": float(r["measured"]),
                    "unit": r["unit"], "notes": f"{r['weights']} {r['test']}; {r['notes']}",
                    "source": r["source"], "confidence": r["confidence"]})
    return pd.DataFrame(out)


def main(argv: Sequence[str] | None = None) -> int:
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args(argv)
    df = load()
    df["ratio"] = df["predicted"] / df["measured"]
    print(df[["group", "case", "measured", "predicted", "ratio"]].to_string(index=False))
    err = float("nan")
    for label, part in (("held-out (#4167)", df["group"].str.endswith("(held-out)")),
                        ("held-out (Sep 2023 build, K-quants)",
                         df["group"].str.contains("Sep 2023"))):
        e = (df["ratio"][part] - 1.0).abs()
        print(f"{label}: {len(e)} rows, median |error| {100 * e.median():.1f} %, "
              f"max {100 * e.max():.1f} %")
        err = max(float(e.max()), err) if math.isfinite(err) else float(e.max())
    print("fit:", {k: (round(v * 1e6, 2) if k.endswith("_s") else round(v, 3))
                   for k, v in fit().items()}, "(kernel_overhead in us)")
    return 0 if math.isfinite(err) else 1


if __name__ == "__main__":
    sys.exit(main())
