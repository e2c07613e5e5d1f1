"""The A100's `gpu.decode_attention_bw_efficiency`: the share of peak HBM bandwidth a
decode-attention call streams a paged KV cache at, from one measurement.

The call: Vidur's largest measured A100 decode-attention call (commit e2d00e9,
`data/profiling/a100/attention.csv`, extract `validation/data/vidur/attention_a100.csv.xz`),
128 sequences x 4,032 cached fp16 keys of a 70B layer at TP2 (32 query / 4 KV heads of 128,
1.06 GB in 16-token pages at random addresses) through flash-attn 2's kv-cache kernel,
667 µs in the profiler's trace. Solved by bisection so the model's kernel body
(`validation.datasets.vidur_attention.model_time_s`) equals it; every other decode call of
that profile with at least 256 MB of KV is graded, held out (`vidur_attention`). The PCIe A100
takes the value as an assumption (`a100-pcie-80gb.yaml`).

    python -m infersim.validation.fitting.paged_decode [--check]

writes `validation/data/vidur/attention_fit.json`; `a100-sxm-80gb.yaml` carries the value.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from infersim.validation.fitting import bisect_rising, fit_main

OUT = Path(__file__).resolve().parents[1] / "data" / "vidur" / "attention_fit.json"
FIELD = "decode_attention_bw_efficiency"


def fit() -> dict[str, Any]:
    """The share at which the model's time of `vidur_attention.FIT_ROW` equals its
    measurement (the time falls as the share rises), to 1e-5, rounded to 1e-4."""
    from infersim.hwmodels import load_hardware
    from infersim.validation.datasets import vidur_attention as VA
    from infersim.validation.datasets.vidur import with_gpu

    b, kv = VA.FIT_ROW
    meas_us = VA.fit_row_us()
    base = load_hardware(VA.SPEC)

    def neg_time_s(eff: float) -> float:  # rises with the share
        return -VA.model_time_s("decode", b, 0, kv, with_gpu(base, **{FIELD: eff}))

    eff = bisect_rising(neg_time_s, -meas_us * 1e-6, 0.3, 1.0, 1e-5, f"gpu.{FIELD}")
    return {"field": f"gpu.{FIELD}", "spec": VA.SPEC, "value": round(eff, 4),
            "row": {"batch": b, "kv_cache": kv, "measured_us": meas_us,
                    "kv_bytes": VA.kv_bytes(b, kv)},
            "source": VA.SOURCE,
            "command": "python -m infersim.validation.fitting.paged_decode"}


def summary(res: dict[str, Any]) -> str:
    r = res["row"]
    return (f"{res['field']} = {res['value']} ({res['spec']}: {r['batch']} sequences x "
            f"{r['kv_cache']} keys, {r['kv_bytes'] / 1e9:.2f} GB in {r['measured_us']:.0f} us)")


def main(argv: Sequence[str] | None = None) -> int:
    return fit_main(argv, "infersim.validation.fitting.paged_decode", __doc__, fit, summary, OUT)


if __name__ == "__main__":
    sys.exit(main())
