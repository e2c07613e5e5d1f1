"""The A100's constants of FlashAttention-2's paged kv-cache decode kernel, from Vidur's measured
A100 attention profile.

The calls: every decode call of Vidur's A100 profile over 4,032 cached keys with at least
256 MB of KV (`vidur_attention.fit_rows`: 98 batch sizes, 31-128 sequences; commit e2d00e9,
`data/profiling/a100/attention.csv`, extract `validation/data/vidur/attention_a100.csv.xz`):
one 70B layer at TP2 (32 query / 4 KV heads of 128, fp16, 16-token pages at random
addresses) through `flash_attn_with_kvcache`, whole-µs profiler times. They fit three spec
fields of the kernel as `hwmodels.models.gpu.attention._fa2_decode` prices it, by robust
least squares (soft-L1, scale 0.05) on log(model / measured):

- `gpu.decode_attention_bw_efficiency`: the share of peak HBM bandwidth a full wave of CTAs
  streams the paged KV at;
- `gpu.decode_cta_bytes_per_cycle`: the KV bytes one CTA streams per clock when a wave has too
  few CTAs to fill the memory (the last wave of a call);
- `gpu.decode_call_us`: the call's fixed device time beyond the GEMM fill.

The column's batch sizes cross the kernel's wave steps (55 and 109 sequences), so the three
are told apart: the full waves set the share, the partial ones the per-CTA rate. The other
3,320 decode calls of at least 256 MB (32-3,072 keys) are held out (`vidur_attention`). The
PCIe A100 takes the values as assumptions (`a100-pcie-80gb.yaml`).

    python -m infersim.validation.fitting.paged_decode [--check]

writes `validation/data/vidur/attention_fit.json`; `a100-sxm-80gb.yaml` carries the values.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from infersim.validation.fitting import fit_main

OUT = Path(__file__).resolve().parents[1] / "data" / "vidur" / "attention_fit.json"
# (spec field, lower, upper, start): physically plausible ranges; a share of peak HBM
# bandwidth at most 0.95; a CTA's own stream between 1 and 64 B per clock (a tenth of the
# A100's ~60 B/clock per SM of L2 bandwidth); a call's fixed time below 50 µs
PARAMS: tuple[tuple[str, float, float, float], ...] = (
    ("decode_attention_bw_efficiency", 0.5, 0.95, 0.85),
    ("decode_cta_bytes_per_cycle", 1.0, 64.0, 8.0),
    ("decode_call_s", 0.0, 50e-6, 5e-6),
)
SOFT = 0.05  # soft-L1 scale of the residuals (as the Vidur kernel fit, validation/datasets/vidur)
YAML_KEYS = {"decode_call_s": "decode_call_us"}  # fields whose YAML key has a unit suffix


def fit() -> dict[str, Any]:
    """The three fields that best price `vidur_attention.fit_rows()` (see the docstring)."""
    import numpy as np
    from scipy.optimize import least_squares

    from infersim.hwmodels import load_hardware
    from infersim.validation.datasets import vidur_attention as VA
    from infersim.validation.datasets.vidur import with_gpu

    d = VA.fit_rows()
    meas = d["median_us"].to_numpy() * 1e-6
    base = load_hardware(VA.SPEC)
    lo = np.array([p[1] for p in PARAMS])
    hi = np.array([p[2] for p in PARAMS])

    def resid(x: Any) -> Any:
        hw = with_gpu(base, **{p[0]: float(v) for p, v in zip(PARAMS, x, strict=True)})
        pred = np.array([VA.model_time_s("decode", int(b), 0, int(kv), hw)
                         for b, kv in zip(d["batch"], d["kv_cache"], strict=True)])
        return np.log(pred / meas)

    sol = least_squares(resid, np.array([p[3] for p in PARAMS]), bounds=(lo, hi),
                        loss="soft_l1", f_scale=SOFT, x_scale=hi - lo, diff_step=1e-3)
    err = np.exp(resid(sol.x)) - 1.0
    values = {}
    for (name, _, _, _), v in zip(PARAMS, sol.x, strict=True):
        key = YAML_KEYS.get(name, name)
        values[key] = round(float(v) * (1e6 if key.endswith("_us") else 1.0), 4)
    return {"fields": {f"gpu.{k}": v for k, v in values.items()}, "spec": VA.SPEC,
            "rows": {"kv_cache": VA.FIT_KEYS, "batches": [int(d["batch"].min()),
                                                          int(d["batch"].max())],
                     "n": len(d), "median_abs_error": round(float(np.median(np.abs(err))), 4)},
            "method": f"scipy.optimize.least_squares, soft_l1 (f_scale {SOFT}) on "
                      "log(model / measured)",
            "source": VA.SOURCE,
            "command": "python -m infersim.validation.fitting.paged_decode"}


def summary(res: dict[str, Any]) -> str:
    r = res["rows"]
    vals = ", ".join(f"{k} = {v}" for k, v in res["fields"].items())
    return (f"{vals} ({res['spec']}: {r['n']} decode calls over {r['kv_cache']} keys, "
            f"{r['batches'][0]}-{r['batches'][1]} sequences; median |error| "
            f"{100 * r['median_abs_error']:.1f}%)")


def main(argv: Sequence[str] | None = None) -> int:
    return fit_main(argv, "infersim.validation.fitting.paged_decode", __doc__, fit, summary, OUT)


if __name__ == "__main__":
    sys.exit(main())
