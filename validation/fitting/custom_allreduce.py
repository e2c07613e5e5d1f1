"""The engines' own all-reduce kernels (vLLM's custom all-reduce, TensorRT-LLM's AllReduce),
from their measured latencies on H100.

Production engines do not call NCCL for a tensor-parallel all-reduce on one NVLink node:
vLLM (and SGLang through vLLM's distributed module until 2025) runs its custom all-reduce for
every message below 8 MiB on 2-8 fully NVLink-connected GPUs (`should_custom_ar`,
vllm/distributed/device_communicators/custom_all_reduce.py, `max_size` 8192 * 1024), and
TensorRT-LLM picks between its own one-shot / two-shot kernels and NCCL by message size
(`AllReduceStrategy.AUTO`). These kernels copy through peer-mapped buffers with a few thread
blocks, so they are limited by the blocks' throughput, not by the NVLink bandwidth: tens of
GB/s, against the hundreds NCCL reaches on large messages.

Measurements (`validation/data/published/custom_allreduce_h100.csv`): sgl-project/sglang
PR #2904 (2025-01-15), "unit test performance in H100 (without cuda graph)",
`python3 tests/test_trt_reduce.py`, TP 2/4/8 at 512 B to 1 MiB. The column "vllm" is vLLM's
custom all-reduce; "custom allreduce" is sgl-kernel's, adapted from TensorRT-LLM's kernels
(sgl-project/sglang PR #2511, "adapt custom allreduce for tensorrt llm"), which stands for
TensorRT-LLM's here (kernel `trtllm`).

Model, per kernel, the whole call as the test times it:

    latency = base_s + peer_s * (g - 1) + s_per_byte * 2 (g - 1) / g * m

a fixed cost (launch, flag barrier), a cost per peer (one more buffer to read and flag to
wait for), and the two-shot wire bytes at the kernel's own rate. Least squares on the
relative error over all 18 points of the kernel. The vLLM kernel's eager call copies its
input into the registered buffer first (a second kernel); inside a CUDA graph vLLM registers
the graph's buffers and skips the copy, so its fixed cost reads high for graph replays (by
about one kernel launch).

    python -m infersim.validation.fitting.custom_allreduce

writes `validation/data/published/custom_allreduce_fit.json`; the engine profiles
(`hwmodels/models/gpu/engines.py`) carry its values.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from infersim.foundation.io import atomic_write_text
from infersim.hwmodels.collectives import engine_allreduce_s, ring_wire_bytes
from infersim.workloads.ops import Collective, CollectiveShape

SOURCE = "https://github.com/sgl-project/sglang/pull/2904"
HERE = Path(__file__).resolve().parents[1] / "data" / "published"
DATA = HERE / "custom_allreduce_h100.csv"
OUT = HERE / "custom_allreduce_fit.json"
KERNELS = ("vllm", "trtllm")


def _shape(g: int, m: float) -> CollectiveShape:
    return CollectiveShape(Collective.ALL_REDUCE, m, g)


def kernel_time(base_s: float, peer_s: float, s_per_byte: float, g: int, m: float) -> float:
    """The model of the module docstring: the GPU model's own formula,
    `hwmodels.collectives.engine_allreduce_s`."""
    return engine_allreduce_s(base_s, peer_s, s_per_byte, _shape(g, m))


def rows(path: Path = DATA) -> list[dict[str, Any]]:
    with path.open(newline="") as f:
        return [{"kernel": r["kernel"], "tp": int(r["tp"]), "bytes": float(r["bytes"]),
                 "latency_s": float(r["latency_us"]) * 1e-6} for r in csv.DictReader(f)]


def fit_kernel(points: Sequence[dict[str, Any]]) -> dict[str, float]:
    """(base_s, peer_s, s_per_byte) minimizing the summed squared relative error (linear
    least squares with each row divided by its measured latency)."""
    import numpy as np

    a = np.array([[1.0, p["tp"] - 1.0, ring_wire_bytes(_shape(p["tp"], p["bytes"]))]
                  for p in points])
    y = np.array([p["latency_s"] for p in points])
    w = 1.0 / y
    coef, *_ = np.linalg.lstsq(a * w[:, None], y * w, rcond=None)
    return {"base_s": float(coef[0]), "peer_s": float(coef[1]), "s_per_byte": float(coef[2])}


def fit(path: Path = DATA) -> dict[str, Any]:
    import numpy as np

    data = rows(path)
    out: dict[str, Any] = {"source": SOURCE, "data": str(path.relative_to(HERE.parents[2])),
                           "model": "base_s + peer_s (g - 1) + s_per_byte 2 (g - 1) / g m",
                           "kernels": {}}
    for k in KERNELS:
        pts = [p for p in data if p["kernel"] == k]
        vals = fit_kernel(pts)
        err = [kernel_time(vals["base_s"], vals["peer_s"], vals["s_per_byte"], p["tp"],
                           p["bytes"]) / p["latency_s"] - 1.0 for p in pts]
        out["kernels"][k] = {**vals, "points": len(pts),
                             "median_ape": float(np.median(np.abs(err))),
                             "max_ape": float(np.max(np.abs(err))),
                             "rate_GBps": 1e-9 / vals["s_per_byte"]}
    return out


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m infersim.validation.fitting.custom_allreduce",
                                 description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args(argv)
    res = fit()
    atomic_write_text(args.out, json.dumps(res, indent=2) + "\n")
    for k, v in res["kernels"].items():
        print(f"{k}: base {v['base_s'] * 1e6:.2f} us, per peer {v['peer_s'] * 1e6:.2f} us, "
              f"{v['rate_GBps']:.1f} GB/s of wire bytes; median error "
              f"{v['median_ape']:.1%}, max {v['max_ape']:.1%} over {v['points']} points")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
