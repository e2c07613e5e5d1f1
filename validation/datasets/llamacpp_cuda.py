"""llama.cpp on NVIDIA GPUs (CUDA backend), re-predicted by the `gpu` kind with the
`llama.cpp-cuda` runtime profiles (`hwmodels.models.gpu.engines`).

Data: `validation/data/published/llamacpp_cuda.csv`, llama-bench tables that llama.cpp's
maintainers posted in pull requests (Jan-Mar 2024): Llama-7B in F16, Q8_0 and Q4_0 on an RTX
3090 Ti (PR #4812, build 32d9f7d9), RTX 4090 (PR #4766), RTX 3090 (PR #4766, master column)
and one A100 80GB PCIe (PR #6017), plus `./main` generation speeds on the 3090 and 4090
before and with CUDA graphs (PR #6766, Apr 2024): prompt processing of 512 tokens (pp512: tokens/s of one
512-token prefill) and text generation of 128 tokens (tg128: tokens/s at batch 1, mean KV
length 64; the `./main` rows' context is not stated, 64 assumed). Every row is all layers
on the GPU (ngl 99), no flash attention (-fa did not exist yet), no CUDA graphs except the
PR #6766 rows (`llama.cpp-cuda-graphs`).

Predictions: pp512 = 512 / latency of a 512-token prefill step; tg128 = 1 / latency of one
batch-1 decode step at context 64. Weights at their GGUF bits per weight (`workloads.dtypes`),
fp16 activations and KV cache (ggml's f32 activations only change the small vector kernels;
its GEMMs run in fp16).

Fit (`fit()`): one constant, the host time per ggml node `host_node_s`, solved by bisection
so the calibration row (RTX 3090 Ti Q4_0 tg128, the hashed build the kernel lists are
counted from) is reproduced. The other 17 rows are held out.

    python -m infersim.validation.datasets.llamacpp_cuda          # errors by group
    python -m infersim.validation.datasets.llamacpp_cuda --fit    # + the fitted constant
"""

from __future__ import annotations

import argparse
import csv
import math
import statistics
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from infersim.hwmodels.cost import RuntimeProfile
from infersim.hwmodels.models.gpu import engines as E
from infersim.validation.datasets import edge_llamacpp

if TYPE_CHECKING:
    import pandas as pd

NAME = "llamacpp_cuda"
DESCRIPTION = ("llama.cpp CUDA llama-bench results on RTX 3090 / 3090 Ti / 4090 and A100 80GB "
               "PCIe (Llama-7B F16, Q8_0, Q4_0; pp512 and tg128; llama.cpp PRs #4766, #4812, "
               "#6017, Jan-Mar 2024)")
DATA = Path(__file__).resolve().parents[1] / "data" / "published" / "llamacpp_cuda.csv"
CALIBRATION = "rtx3090ti-q4_0-tg128"


def read_rows() -> list[dict[str, str]]:
    with DATA.open(newline="") as f:
        return list(csv.DictReader(f))


def profile_of(r: Mapping[str, str]) -> RuntimeProfile:
    prof = E.lookup(r["runtime"])
    if prof is None:
        raise ValueError(f"{DATA.name}: row {r['id']}: unknown runtime {r['runtime']!r}")
    return prof


def predict(r: Mapping[str, str], profile: RuntimeProfile | None = None) -> float:
    """Predicted tokens/s of one row (with `profile` in place of the row's runtime): the
    llama-bench tests priced as `edge_llamacpp.predict` prices them."""
    return edge_llamacpp.predict(r, profile if profile is not None else profile_of(r))


def fit() -> float:
    """`host_node_s` that reproduces the calibration row (bisection: the predicted tokens/s
    never rises with the host time per node); 0 when even free launches are too slow."""
    row = next(r for r in read_rows() if r["id"] == CALIBRATION)
    base = profile_of(row)
    target = float(row["measured"])
    lo, hi = 0.0, 100e-6
    if predict(row, base.with_values(host_node_s=lo)) <= target:
        return 0.0
    for _ in range(40):
        mid = 0.5 * (lo + hi)
        if predict(row, base.with_values(host_node_s=mid)) > target:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


def _group(r: Mapping[str, str]) -> str:
    kind = ("prompt pp512" if r["test"].startswith("pp") else
            "generation tg128" if r["test"] == "tg128" else "generation ./main, PR #6766")
    return f"llama.cpp cuda {kind} ({r['split']})"


def load() -> pd.DataFrame:
    """Rows: dataset, group, case, predicted, measured, unit, notes (+ source, confidence)."""
    import pandas as pd

    out = []
    for r in read_rows():
        out.append({"dataset": NAME, "group": _group(r), "case": r["id"],
                    "predicted": predict(r), "measured": float(r["measured"]),
                    "unit": r["unit"],
                    "notes": f"{r['gpu']}, {r['weights']} {r['test']}, {r['runtime']}, build "
                             f"{r['build']}; {r['notes']}",
                    "source": r["source"], "confidence": r["confidence"]})
    return pd.DataFrame(out)


def summary(df: pd.DataFrame) -> list[tuple[str, int, float, float, float]]:
    """(group, n, median |error|, p90 |error|, median signed error) per group, in %."""
    out = []
    for g, part in df.groupby("group", sort=True):
        e = list(part["predicted"] / part["measured"] - 1.0)
        a = sorted(abs(x) for x in e)
        p90 = a[min(len(a) - 1, math.ceil(0.9 * len(a)) - 1)]
        out.append((str(g), len(e), 100 * statistics.median(a), 100 * p90,
                    100 * statistics.median(e)))
    return out


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or NAME).splitlines()[0])
    ap.add_argument("--fit", action="store_true", help="solve host_node_s on the calibration row")
    args = ap.parse_args(argv)
    df = load()
    df["ratio"] = df["predicted"] / df["measured"]
    print(df[["group", "case", "measured", "predicted", "ratio"]].to_string(index=False))
    for g, n, med, p90, signed in summary(df):
        print(f"{g}: n={n}, median |error| {med:.1f} %, p90 {p90:.1f} %, "
              f"median signed {signed:+.1f} %")
    if args.fit:
        print(f"fit: host_node_s = {fit() * 1e6:.3f} us (in use: "
              f"{E.LLAMACPP_CUDA_HOST_NODE_S * 1e6:.3f} us)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
