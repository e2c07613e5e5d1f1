"""Lab 3 — design your own inference accelerator.

You are asked for a chip that serves Llama-3.1-70B to one user at 100 tokens/s. You will size
the memory bandwidth from first principles, count how many SRAM-only chips (Groq-class, 230 MB
each) the weights need, then use infersim's sweep engine on a base spec to pick the cheapest
HBM bandwidth that meets the target according to the simulator (which adds the overheads the
first-principles bound ignores).
"""

from __future__ import annotations

import math

from infersim.studies.labs._lab import Exercise, main

MODEL = "llama-3.1-70b"
TARGET_TOK_S = 100.0


def weight_bytes_read_per_token(weights: str) -> float:
    """Weight bytes one decode step reads: every matrix once, but of the embedding table only
    the rows of the batch's tokens (the table itself is ~1 B parameters of the 70.6 B)."""
    from infersim.api import load_model, make_scenario
    from infersim.workloads import build_trace

    return build_trace(load_model(MODEL), make_scenario("decode", 1, context=16,
                                                        weights=weights)).bytes.weight


def bandwidth_needed(weights: str = "fp8") -> float:
    """B/s needed to read the weights once per token at TARGET_TOK_S (batch 1)."""
    return TARGET_TOK_S * weight_bytes_read_per_token(weights)


def sram_chips_needed(sram_bytes_per_chip: float = 230e6) -> int:
    """Chips of `sram_bytes_per_chip` needed to hold ALL int8 weights (embedding included)."""
    from infersim.api import load_model
    from infersim.workloads import summarize
    from infersim.workloads.dtypes import DType

    params = summarize(load_model(MODEL)).params_total
    return math.ceil(params * DType.INT8.bytes / sram_bytes_per_chip)


def cheapest_bandwidth(tmp_dir: str | None = None) -> dict[str, float]:
    """Sweep HBM bandwidth of a 4-GPU H200-class node (fp8, TP4) and return the smallest
    bandwidth per chip whose simulated batch-1 decode reaches TARGET_TOK_S."""
    import tempfile

    from infersim.studies.runner import run_sweep
    from infersim.studies.spec import parse_study

    study = parse_study({
        "name": "lab3", "fixed": {"model": MODEL, "hardware": "dgx-h200", "runtime": "fused",
                                  "scenario": {"phase": "decode", "batch": 1, "context": 1024,
                                               "weights": "fp8", "tp": 4}},
        "sweep": {"hw.chip.memory.hbm.bandwidth_tb_per_s": [1.0, 1.5, 2.0, 3.0, 4.0, 6.0]},
        "search": {"method": "grid"}})
    with tempfile.TemporaryDirectory(dir=tmp_dir) as d:
        df = run_sweep(study, d, executor="inline", progress=False, write_outputs=False).frame
    col = "hw.chip.memory.hbm.bandwidth_tb_per_s"
    ok = df[(df["tokens_per_s"] >= TARGET_TOK_S) & df["feasible"].astype(bool)]
    best = float(ok[col].min()) if len(ok) else math.nan
    return {"bandwidth_tb_per_s": best,
            "tokens_per_s": float(ok.sort_values(col)["tokens_per_s"].iloc[0]) if len(ok)
            else math.nan}


EXERCISES = (
    Exercise("bandwidth from first principles",
             "Batch-1 decode reads every weight once per token. Llama-3.1-70B has ~70.6 B "
             "parameters. In fp8 (1 byte each), what memory bandwidth serves 100 tok/s?",
             "bandwidth ≥ tokens/s × weight bytes.", bandwidth_needed),
    Exercise("SRAM-only: how many chips?",
             "A Groq-class chip has 230 MB of SRAM and no DRAM. How many chips hold the int8 "
             "weights (ignoring KV cache and activations)?",
             "ceil(weight bytes / SRAM per chip).", sram_chips_needed),
    Exercise("let the simulator decide",
             "Sweep the per-chip HBM bandwidth of a 4-chip H200-class node (fp8, TP4) over "
             "1-6 TB/s with `infersim sweep` and find the smallest that reaches 100 tok/s. Why "
             "is it above the first-principles answer divided by 4 chips?",
             "Write a study with `sweep: {hw.chip.memory.hbm.bandwidth_tb_per_s: [...]}`; "
             "collectives, launch latency and KV reads all add time.", cheapest_bandwidth),
)

if __name__ == "__main__":
    raise SystemExit(main("Lab 3: design your own inference accelerator", __doc__ or "",
                          EXERCISES))
