"""Which kernels a plain-PyTorch step launches (for a session with a GPU): the kernel names
and counts of one eager decode / prefill step of the Llama models of measure_gpu.py, and of
the SDPA calls its attention rows time. The eager runtime's kernel count per layer
(`mapper.kernels`) is checked against these.

    python validation/gpu/kernel_census.py --out $OUT   # ~1 min on an H200
    python validation/gpu/kernel_census.py --sweep --out $OUT  # more sizes, ~1-2 min
    python validation/gpu/kernel_census.py --device cpu --out /tmp/x   # code-path check

`--sweep` takes each model over decode batches 1, 8, 32 and 64 and prefills of 16 to 2,048
tokens (the device time of each kernel class as the token count grows), without the SDPA
cases.

Writes `kernel_census.csv`: case, kernel, calls_per_step, device_s_per_step (torch.profiler,
three calls averaged; CPU operator events with --device cpu).
"""

from __future__ import annotations

import argparse
import csv
import functools
import os
import sys
from pathlib import Path
from typing import Any


def _measure_gpu() -> Any:
    """measure_gpu.py, installed or beside this script (run from a bare checkout, the
    script's folder is the first entry of sys.path)."""
    try:
        from infersim.validation.gpu import measure_gpu
    except ImportError:
        import measure_gpu  # type: ignore[no-redef]
    return measure_gpu


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=os.environ.get("OUT", "gpu_census"))
    ap.add_argument("--device", choices=("cuda", "cpu"), default="cuda")
    ap.add_argument("--sweep", action="store_true",
                    help="decode batches 1-64 and prefills of 16-2,048 tokens")
    args = ap.parse_args(argv)
    import torch

    if args.device == "cuda" and not torch.cuda.is_available():
        print("kernel_census: no CUDA device (use --device cpu)", file=sys.stderr)
        return 2
    mg = _measure_gpu()
    b = mg.Bench(torch, args.device, repeats=1, inner=1)
    F = torch.nn.functional
    rows: list[dict[str, Any]] = []

    def census(case: str, fn: Any) -> None:
        for _ in range(3):
            fn()
        b.sync()
        for k in mg.profile_kernels(b, fn):
            rows.append({"case": case, "kernel": k["name"][:300],
                         "calls_per_step": round(k["calls"], 3),
                         "device_s_per_step": k["time_s"]})

    cuda = args.device == "cuda"
    models = ("llama-3.2-1b", "llama-3.1-8b") if cuda else ("tiny",)
    if not cuda:
        mg.LLAMA_CONFIGS["tiny"] = dict(hidden=64, inter=128, layers=2, heads=4, kv_heads=2,
                                        vocab=256)
    with torch.no_grad():
        for name in models:
            cfg = mg.LLAMA_CONFIGS[name]
            ctx = 1024 if cuda else 16
            batches = (1, 8, 32, 64) if args.sweep else (1, 8)
            prompts = (16, 64, 128, 512, 1024, 2048) if args.sweep else (512,)
            if not cuda:
                prompts = (8,)
            m = mg._llama(torch, cfg, args.device, max(2 * ctx + 8, max(prompts)), max(batches))
            for bsz in batches:
                ids = torch.randint(0, cfg["vocab"], (bsz, 1), device=args.device)
                pos = torch.tensor([ctx], device=args.device)
                census(f"{name} decode b{bsz} ctx{ctx + 1} ({cfg['layers']} layers)",
                       functools.partial(m, ids, pos, ctx + 1, False))
            for p in prompts:
                ids = torch.randint(0, cfg["vocab"], (1, p), device=args.device)
                census(f"{name} prefill {p} ({cfg['layers']} layers)",
                       functools.partial(m, ids, torch.arange(p, device=args.device), p, True))
            del m
            if cuda:
                torch.cuda.empty_cache()
        gqa: dict[str, Any] = {"enable_gqa": True} if "enable_gqa" in (
            F.scaled_dot_product_attention.__doc__ or "") else {}
        for bsz, q, kv in () if args.sweep else ((1, 1, 1024), (1, 1, 32768), (64, 1, 4096), (1, 512, 512),
                           (1, 8192, 8192)):
            if not cuda:
                q, kv = min(q, 8), min(kv, 16)
            qq = torch.randn(bsz, 32, q, 128, device=args.device, dtype=torch.bfloat16)
            kk = torch.randn(bsz, 8 if gqa else 32, kv, 128, device=args.device,
                             dtype=torch.bfloat16)
            census(f"sdpa b{bsz} q{q} kv{kv}", functools.partial(
                F.scaled_dot_product_attention, qq, kk, kk, is_causal=q > 1, **gqa))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / "kernel_census.csv.tmp"
    with tmp.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["case", "kernel", "calls_per_step",
                                          "device_s_per_step"])
        w.writeheader()
        w.writerows(rows)
    os.replace(tmp, out / "kernel_census.csv")
    print(f"kernel_census: {len(rows)} rows in {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
