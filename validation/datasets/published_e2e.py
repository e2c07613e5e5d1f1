"""Published end-to-end results re-predicted by the simulator (held-out anchors).

Data: `validation/data/published/per_user.csv` (decode speed of one stream, batch 1 unless
stated) and `throughput.csv` (TensorRT-LLM max-throughput tables), with source URLs,
confidence, precision and flags (see that folder's README).

Predictions (all through `infersim.api.make_scenario` + `workloads.build_trace` +
`mapper.map_trace`, runtime as the row states):
- per-user rows: tok/s/user = 1 / latency of one decode step at the row's batch and context;
- throughput rows: a steady-state, inflight-batched generation at the largest batch B the
  KV cache allows for sequences of ISL+OSL tokens (90 % of memory after weights, capped at
  2048 sequences, TensorRT-LLM's default `max_batch_size`, assumed): B requests' OSL decode
  steps at mean context ISL + OSL/2 plus their prefill in iterations of at most 8192 tokens
  (TensorRT-LLM's default `max_num_tokens`), on the `trtllm` profile, i.e. `B·OSL / (OSL·t_decode(B) + t_prefill)`. Batch sizes are not published, so these
  rows test the large-batch regime only roughly.

Each row runs on its software stack's runtime profile (`runtime` column; GPU stacks in
`hwmodels/models/gpu/engines.py`: gpt-fast's eager baseline = `gpt-fast-eager`, gpt-fast
compiled = `torch-compile`, NVIDIA's TensorRT-LLM rows and the throughput table = `trtllm`).
The other plain-PyTorch eager rows run their framework's profile (`litgpt-eager`,
`fms-eager`, `hf-eager`: kernels per layer counted from each source) and are held out in one
group (`per-user gpu eager (held-out)`).

Groups: `per-user <kind> (held-out)` per hardware kind (gpu, lpu, wafer, ...; GPU rows split
by stack: `per-user gpu trtllm (held-out)`, `per-user gpu torch-compile (held-out)`),
`per-user <kind> (calibration)` (the row a spec constant is fitted on: the gpt-fast eager
row for `gpu.host_launch_us`; one row per wafer/LPU runtime profile for its software constant:
see `CALIBRATIONS`), `per-user (excluded)` (speculative decoding without a
published acceptance rate, vendor claims, a later software stack than the calibration: never
in pass/fail statistics; the no-spec prediction is shown for reference),
`throughput (held-out)`.

Wafer and LPU rows are cloud-API speeds at production load; the comparable prediction is the
batch-1 decode step (1 / its latency), layer-pipelined over the row's chips. The one
software constant of each runtime profile (cerebras-2024-08/-10, groq-2023/-2024; the row's
`runtime`) is fitted by `validation.fitting.wafer_lpu`, which writes the fit, its formula,
data and the held-out errors to `validation/data/published/wafer_lpu_fit.json`.

    python -m infersim.validation.datasets.published_e2e        # error tables + rows
    python -m infersim.validation.fitting.wafer_lpu  # refit the wafer/LPU constants
"""

from __future__ import annotations

import argparse
import csv
import math
import sys
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from infersim.foundation.errors import InfersimError, InputError
from infersim.hwmodels import Hardware, load_hardware
from infersim.mapper import map_trace

if TYPE_CHECKING:
    import pandas as pd

NAME = "published_e2e"
DESCRIPTION = ("Published end-to-end LLM inference results (gpt-fast, NVIDIA TensorRT-LLM, "
               "Groq, Cerebras, d-Matrix claims) re-predicted; spec-dec and claims excluded")
DATA = Path(__file__).resolve().parents[1] / "data" / "published"
MAX_BATCH = 2048  # TensorRT-LLM default max_batch_size (assumed for the throughput rows)
KV_MEMORY_FRACTION = 0.9  # share of the memory left after weights given to the KV cache
MAX_NUM_TOKENS = 8192  # tokens per prefill iteration (TensorRT-LLM default max_num_tokens)


def read_rows(name: str) -> list[dict[str, str]]:
    with (DATA / name).open(newline="") as f:
        return list(csv.DictReader(f))


def hardware(name: str, chips: int, overrides: Mapping[str, Any] | None = None) -> Hardware:
    """Library spec `name` (with `--set`-style `overrides`); a single-chip spec used by
    `chips` > 1 becomes an N-chip system of that chip on its own scale-up links."""
    hw = load_hardware(name, overrides)
    if hw.num_chips < chips:
        hw = replace(hw, name=f"{hw.name}x{chips}", num_chips=chips)
    return hw


def _step(model: str, hw: Hardware, runtime: Any, **sc: Any) -> tuple[float, str]:
    """(latency of one step, note); NaN with the reason when it cannot run."""
    from infersim.api import make_scenario
    from infersim.workloads import build_trace

    try:
        trace = build_trace(model, make_scenario(**sc))
    except InfersimError as e:
        return math.nan, f"not predictable: {e}"
    s = map_trace(trace, hw, runtime)
    if s.infeasible is not None:
        return math.nan, f"infeasible: {s.infeasible}"
    return s.latency_s, ""


def predict_per_user(r: Mapping[str, Any], overrides: Mapping[str, Any] | None = None
                     ) -> tuple[float, str]:
    hw = hardware(r["hardware"], int(r["chips"]), overrides)
    lat, note = _step(r["model"], hw, r["runtime"], phase="decode", batch=int(r["batch"]),
                      context=int(r["context"]), weights=r["weights"],
                      activations=r["activations"], kv=r["kv"],
                      tp=int(r["tp"]), pp=int(r["pp"]))
    return (1.0 / lat if lat > 0 else math.nan), note


def lpu_mapping(model: str, weights: str, context: int, chips: int | None = None,
                node: int = 8, spec: str = "groq-lpu") -> tuple[int, int]:
    """(tp, pp) of an LPU row whose deployment is not published: tensor parallelism over
    whole nodes (`node` chips wired all-to-all; one node = the cheapest collectives), the
    narrowest width first; with `chips` given (a published system size) pp = chips // tp,
    else the fewest stages whose busiest stage fits the chips' SRAM (mapper capacity check).
    Raises InputError when nothing up to 8 nodes wide fits."""
    from infersim.api import make_scenario
    from infersim.workloads import build_trace

    for tp in (node, 2 * node, 4 * node, 8 * node):
        stages = [chips // tp] if chips else range(1, 4097)
        for pp in stages:
            if pp < 1:
                continue
            try:
                trace = build_trace(model, make_scenario("decode", 1, context=context,
                                                         weights=weights, activations=weights,
                                                         kv=weights, tp=tp, pp=pp))
            except InfersimError:
                break
            if map_trace(trace, hardware(spec, tp * pp)).infeasible is None:
                return tp, pp
    raise InputError(f"{model}: no whole-node mapping on {spec} fits")


def max_batch(model: str, hw: Hardware, tp: int, weights: str, activations: str, kv: str,
              seq_len: int) -> int:
    """Largest batch whose KV cache of `seq_len` tokens fits next to the weights."""
    from infersim.api import make_scenario
    from infersim.mapper.placement import footprint
    from infersim.workloads import build_trace

    fp = footprint(build_trace(model, make_scenario("decode", 1, context=seq_len - 1,
                                                    weights=weights, activations=activations,
                                                    kv=kv, tp=tp)))
    free = KV_MEMORY_FRACTION * hw.chip.main_memory.capacity_bytes - fp.weight_bytes
    if free <= 0 or fp.kv_bytes <= 0:
        return 0
    return int(min(MAX_BATCH, free // fp.kv_bytes))


def predict_throughput(r: dict[str, str]) -> tuple[float, str]:
    hw = hardware(r["hardware"], int(r["chips"]))
    tp, isl, osl = int(r["tp"]), int(r["isl"]), int(r["osl"])
    b = max_batch(r["model"], hw, tp, r["weights"], r["activations"], r["kv"], isl + osl)
    if b < 1:
        return math.nan, "weights leave no room for a KV cache"
    common = dict(weights=r["weights"], activations=r["activations"], kv=r["kv"], tp=tp)
    t_dec, n1 = _step(r["model"], hw, "trtllm", phase="decode", batch=b,
                      context=isl + osl // 2, **common)
    # prefill in chunks of MAX_NUM_TOKENS tokens (whole prompts per chunk)
    per_chunk = max(1, min(b, MAX_NUM_TOKENS // isl))
    t_chunk, n2 = _step(r["model"], hw, "trtllm", phase="prefill", batch=per_chunk, prompt=isl,
                        **common)
    if not (t_dec > 0 and t_chunk > 0):
        return math.nan, n1 or n2
    t_pre = math.ceil(b / per_chunk) * t_chunk
    return b * osl / (osl * t_dec + t_pre), f"assumed batch {b}, prefill chunks of {per_chunk}"


def stack_group(runtime: str) -> str:
    """The grading group of a GPU runtime: every eager-base framework profile is `eager`."""
    from infersim.hwmodels.cost import Runtime
    from infersim.hwmodels.models.gpu.engines import lookup

    prof = lookup(runtime)
    return "eager" if prof is not None and prof.base is Runtime.EAGER else runtime


def load() -> pd.DataFrame:
    """Rows: dataset, group, case, predicted, measured, unit, notes (+ source, confidence)."""
    import pandas as pd

    rows = []
    for r in read_rows("per_user.csv"):
        pred, note = predict_per_user(r)
        kind = load_hardware(r["hardware"]).kind.value
        # GPU held-out rows are graded per software stack (production engine vs compiler);
        # plain-PyTorch eager frameworks form one group (`eager`)
        stack = (f" {stack_group(r['runtime'])}" if kind == "gpu" and r["split"] == "held-out"
                 else "")
        group = ("per-user (excluded)" if r["use"] == "excluded"
                 else f"per-user {kind}{stack} ({r['split']})")
        flags = f"spec-dec: {r['spec_decode']}; weights {r['weights']}; {r['runtime']}"
        rows.append({"dataset": NAME, "group": group, "case": r["id"], "predicted": pred,
                     "measured": float(r["measured"]), "unit": r["unit"],
                     "notes": "; ".join(x for x in (flags, r["notes"], note) if x),
                     "source": r["source"], "confidence": r["confidence"]})
    for r in read_rows("throughput.csv"):
        pred, note = predict_throughput(r)
        rows.append({"dataset": NAME, "group": "throughput (held-out)", "case": r["id"],
                     "predicted": pred, "measured": float(r["measured"]), "unit": r["unit"],
                     "notes": "; ".join(x for x in (r["notes"], note) if x),
                     "source": r["source"], "confidence": r["confidence"]})
    return pd.DataFrame(rows)


def main(argv: Sequence[str] | None = None) -> int:
    from infersim.validation.stats import print_rows

    ap = argparse.ArgumentParser(prog="python -m infersim.validation.datasets.published_e2e")
    ap.parse_args(argv)
    print_rows(load())
    return 0


if __name__ == "__main__":
    sys.exit(main())
