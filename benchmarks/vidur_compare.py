"""Compare infersim's serving simulation with Vidur (Microsoft/Georgia Tech, MLSys'24) on the
same model, hardware and synthetic trace: wall time and TTFT / TPOT / E2E percentiles.

    python benchmarks/vidur_compare.py [--model llama-3-8b] [--tp 1] [--rate 6] [--requests 2000]

Vidur is optional. Install it with `pip install vidur`. Its execution-time predictor needs
profiled operator timings of the model on the device; the pip release fetches them from
Hugging Face datasets (`huggingface_hub.snapshot_download`) on first use and caches them. Set
HF_HUB_OFFLINE=1 to forbid network access; then only cached profiles are used. The default
model (Llama-3-8B on one H100) is the one Vidur's defaults ship profiles for. If Vidur is
missing or cannot find its profiles, this script says so and exits 0.

Vidur runs in this process (its CLI entry point with an argument list; no subprocess).
"""

from __future__ import annotations

import argparse
import glob
import os
import sys
import tempfile
import time
from typing import Any

# infersim library name → (Vidur model name, Vidur device, Vidur network device)
VIDUR_NAMES = {
    "llama-3-8b": ("meta-llama/Llama-3-8B", "h100", "h100_dgx"),
    "llama-3-70b": ("meta-llama/Meta-Llama-3-70B", "h100", "h100_dgx"),
}


def run_infersim(a: argparse.Namespace) -> tuple[float, dict[str, float]]:
    from infersim.hwmodels import load_hardware
    from infersim.simulator.serving import (
        Deployment,
        FixedLengths,
        Poisson,
        Policy,
        ServingPolicy,
        Traffic,
        serve,
    )

    t0 = time.perf_counter()
    r = serve(a.model, load_hardware(a.hw), Traffic(Poisson(a.rate),
                                                    FixedLengths(a.prompt, a.output),
                                                    a.requests),
              ServingPolicy(Policy.CONTINUOUS, max_batch=a.max_batch, max_tokens=a.max_tokens),
              deployment=Deployment(tp=a.tp, runtime="fused"), seed=a.seed)  # vLLM: fused
    wall = time.perf_counter() - t0
    d = r.to_dict()
    return wall, {k: d[k] for k in ("ttft_p50_s", "ttft_p99_s", "tpot_p50_s", "tpot_p99_s",
                                    "e2e_p50_s", "e2e_p99_s", "throughput_tok_s")}


def run_vidur(a: argparse.Namespace, out_dir: str) -> tuple[float, dict[str, float]]:
    import numpy as np
    import pandas as pd
    from vidur.config import SimulationConfig
    from vidur.simulator import Simulator

    name, device, network = VIDUR_NAMES[a.model]
    argv = [
        "vidur", "--seed", str(a.seed),
        "--replica_config_model_name", name, "--replica_config_device", device,
        "--replica_config_network_device", network,
        "--replica_config_tensor_parallel_size", str(a.tp),
        "--cluster_config_num_replicas", "1",
        "--request_generator_config_type", "synthetic",
        "--synthetic_request_generator_config_num_requests", str(a.requests),
        "--length_generator_config_type", "fixed",
        "--fixed_request_length_generator_config_prefill_tokens", str(a.prompt),
        "--fixed_request_length_generator_config_decode_tokens", str(a.output),
        "--interval_generator_config_type", "poisson",
        "--poisson_request_interval_generator_config_qps", str(a.rate),
        "--replica_scheduler_config_type", "vllm",
        "--vllm_scheduler_config_batch_size_cap", str(a.max_batch),
        "--vllm_scheduler_config_max_batched_tokens", str(a.max_tokens),
        "--metrics_config_output_dir", out_dir,
        "--no-metrics_config_store_plots", "--no-metrics_config_write_json_trace",
    ]
    saved = sys.argv
    sys.argv = argv
    try:
        config = SimulationConfig.create_from_cli_args()
    finally:
        sys.argv = saved
    t0 = time.perf_counter()
    Simulator(config).run()
    wall = time.perf_counter() - t0
    files = glob.glob(os.path.join(out_dir, "**", "request_metrics.csv"), recursive=True)
    if not files:
        raise RuntimeError(f"Vidur wrote no request_metrics.csv under {out_dir}")
    df = pd.read_csv(files[0])
    ttft = df["prefill_e2e_time"].to_numpy()
    tpot = df["decode_time_execution_plus_preemption_normalized"].to_numpy()
    e2e = df["request_e2e_time"].to_numpy()
    return wall, {"ttft_p50_s": float(np.median(ttft)), "ttft_p99_s": float(np.percentile(ttft, 99)),
                  "tpot_p50_s": float(np.median(tpot)), "tpot_p99_s": float(np.percentile(tpot, 99)),
                  "e2e_p50_s": float(np.median(e2e)), "e2e_p99_s": float(np.percentile(e2e, 99)),
                  "throughput_tok_s": float("nan")}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="llama-3-8b", choices=sorted(VIDUR_NAMES))
    ap.add_argument("--hw", default="h100-sxm")
    ap.add_argument("--tp", type=int, default=1)
    ap.add_argument("--rate", type=float, default=6.0)
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--prompt", type=int, default=1024)
    ap.add_argument("--output", type=int, default=256)
    ap.add_argument("--max-batch", type=int, default=128)
    ap.add_argument("--max-tokens", type=int, default=4096)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()

    wall, ours = run_infersim(a)
    rows: list[tuple[str, Any, Any]] = [("wall_s", wall, None)]
    try:
        import vidur  # noqa: F401
    except ImportError:
        print(f"infersim: {wall:.3f} s wall; {ours}")
        print("Vidur is not installed: `pip install vidur` to compare (its operator profiles "
              "are downloaded from Hugging Face on first use).")
        return 0
    try:
        with tempfile.TemporaryDirectory() as tmp:
            vwall, theirs = run_vidur(a, tmp)
    except (Exception, SystemExit) as e:  # Vidur's failure (missing profiles, offline hub...)
        print(f"infersim: {wall:.3f} s wall; {ours}")
        print(f"Vidur is installed but could not run: {type(e).__name__}: {e}".strip()[:600])
        print("Most likely its profiling datasets are not cached and the Hugging Face hub is "
              "unreachable (or HF_HUB_OFFLINE=1). Run once with network access to cache them.")
        return 0
    rows = [("wall_s", wall, vwall)] + [(k, ours[k], theirs[k]) for k in ours]
    print(f"{a.requests} requests, {a.model} tp={a.tp}, Poisson {a.rate} req/s, "
          f"{a.prompt}/{a.output} tokens, vLLM-style continuous batching")
    print(f"{'metric':20s} {'infersim':>12s} {'vidur':>12s}")
    for k, x, y in rows:
        print(f"{k:20s} {x:12.4g} {y if y is not None else float('nan'):12.4g}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
