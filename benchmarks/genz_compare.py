"""infersim vs GenZ (genz-llm) on the same workloads: predictions and time per estimate.

    pip install genz-llm          # once; the script explains and exits 0 without it
    python benchmarks/genz_compare.py

Workloads: Llama-3.1-8B and -70B, decode (batch 1 and 32, context 1024) and prefill (2048
tokens), on one H100 / A100-80GB (8B) and 8×H100 with TP=8 (70B), bf16. GenZ is run with its
built-in systems (`H100_GPU`: 989 TFLOPS, 3.4 TB/s, 450 GB/s ICN; `A100_80GB_GPU`) at its
default efficiencies (compute and memory efficiency 1: a roofline-style estimate);
infersim with the `h100-sxm` / `a100-sxm-80gb` / `dgx-h100` specs, runtime `fused`. Time per
estimate is the median wall clock of repeated calls in this process (infersim: build_trace +
map_trace, warm cost cache; GenZ: one `decode_moddeling` / `prefill_moddeling` call).
No published measurement is involved: this compares the two tools, not either with truth
(see `validation/datasets/` for that).
"""

from __future__ import annotations

import statistics
import sys
import time
import warnings
from collections.abc import Callable
from typing import Any

CASES = (
    # (label, model, our hw, genz system, phase, batch, tokens, tp)
    ("8B decode b1 ctx1024 H100", "llama-3.1-8b", "h100-sxm", "H100_GPU", "decode", 1, 1024, 1),
    ("8B decode b32 ctx1024 H100", "llama-3.1-8b", "h100-sxm", "H100_GPU", "decode", 32, 1024,
     1),
    ("8B prefill 2048 H100", "llama-3.1-8b", "h100-sxm", "H100_GPU", "prefill", 1, 2048, 1),
    ("8B decode b1 ctx1024 A100", "llama-3.1-8b", "a100-sxm-80gb", "A100_80GB_GPU", "decode",
     1, 1024, 1),
    ("8B prefill 2048 A100", "llama-3.1-8b", "a100-sxm-80gb", "A100_80GB_GPU", "prefill", 1,
     2048, 1),
    ("70B decode b1 ctx1024 8xH100 TP8", "llama-3.1-70b", "dgx-h100", "H100_GPU", "decode", 1,
     1024, 8),
    ("70B prefill 2048 8xH100 TP8", "llama-3.1-70b", "dgx-h100", "H100_GPU", "prefill", 1, 2048,
     8),
)
GENZ_MODELS = {"llama-3.1-8b": "meta-llama/Llama-3.1-8B",
               "llama-3.1-70b": "meta-llama/Llama-3.1-70B"}


def _timed(fn: Callable[[], float], repeats: int) -> tuple[float, float]:
    fn()  # warm-up (imports, caches)
    ts = []
    v = 0.0
    for _ in range(repeats):
        t0 = time.perf_counter()
        v = fn()
        ts.append(time.perf_counter() - t0)
    return v, statistics.median(ts)


def main() -> int:
    try:
        import GenZ  # noqa: F401  (availability check)
    except ImportError:
        print("GenZ is not installed: `pip install genz-llm` (PyPI package genz-llm, module "
              "GenZ), then rerun this script. Nothing to compare.")
        return 0
    from GenZ import decode_moddeling, prefill_moddeling

    from infersim.api import make_scenario
    from infersim.hwmodels import load_hardware
    from infersim.mapper import map_trace
    from infersim.workloads import build_trace, load_model

    warnings.filterwarnings("ignore")
    rows: list[dict[str, Any]] = []
    for label, model, hw_name, system, phase, batch, tokens, tp in CASES:
        hw = load_hardware(hw_name)
        m = load_model(model)
        sc = (make_scenario("decode", batch, context=tokens, tp=tp) if phase == "decode"
              else make_scenario("prefill", batch, prompt=tokens, tp=tp))

        def ours(m: Any = m, sc: Any = sc, hw: Any = hw) -> float:
            return map_trace(build_trace(m, sc), hw, "fused").latency_s

        def genz(phase: str = phase, model: str = model, batch: int = batch,
                 tokens: int = tokens, system: str = system, tp: int = tp) -> float:
            fn = decode_moddeling if phase == "decode" else prefill_moddeling
            r = fn(model=GENZ_MODELS[model], batch_size=batch, input_tokens=tokens,
                   system_name=system, bits="bf16", tensor_parallel=tp)
            return float(r["Latency"]) * 1e-3  # GenZ reports ms

        ours_s, ours_t = _timed(ours, 20)
        try:
            genz_s, genz_t = _timed(genz, 5)
        except Exception as e:  # GenZ raises plain exceptions for unsupported cases
            genz_s, genz_t = float("nan"), float("nan")
            label += f" (GenZ failed: {type(e).__name__})"
        rows.append({"case": label, "infersim_ms": ours_s * 1e3, "genz_ms": genz_s * 1e3,
                     "ratio": ours_s / genz_s, "infersim_est_ms": ours_t * 1e3,
                     "genz_est_ms": genz_t * 1e3})
    from infersim.cli.common import print_table

    print_table(rows)
    print("\n*_ms: predicted step latency; *_est_ms: wall time of one estimate (median)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
