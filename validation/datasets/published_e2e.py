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
  (TensorRT-LLM's default `max_num_tokens`), i.e. `B·OSL / (OSL·t_decode(B) + t_prefill)`. Batch sizes are not published, so these
  rows test the large-batch regime only roughly.

Groups: `per-user <kind> (held-out)` per hardware kind (gpu, lpu, wafer, ...),
`per-user <kind> (calibration)` (the row a spec constant is fitted on: the gpt-fast eager
row for `gpu.host_launch_us`; one row per wafer/LPU runtime profile for its software constant:
see `CALIBRATIONS`), `per-user (excluded)` (speculative decoding without a
published acceptance rate, vendor claims, a later software stack than the calibration: never
in pass/fail statistics; the no-spec prediction is shown for reference),
`throughput (held-out)`.

Wafer and LPU rows are cloud-API speeds at production load; the comparable prediction is the
batch-1 decode step (1 / its latency), layer-pipelined over the row's chips. The one
software constant of each runtime profile (cerebras-2024-08/-10, groq-2023/-2024; the row's
`runtime`) is fitted by `fit_spatial` (`--fit`), which writes the fit, its formula, data and
the held-out errors to `validation/data/published/wafer_lpu_fit.json`.

    python -m infersim.validation.datasets.published_e2e        # error tables + rows
    python -m infersim.validation.datasets.published_e2e --fit  # refit the wafer/LPU constants
"""

from __future__ import annotations

import argparse
import csv
import math
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
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


def _read(name: str) -> list[dict[str, str]]:
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
    t_dec, n1 = _step(r["model"], hw, "fused", phase="decode", batch=b,
                      context=isl + osl // 2, **common)
    # prefill in chunks of MAX_NUM_TOKENS tokens (whole prompts per chunk)
    per_chunk = max(1, min(b, MAX_NUM_TOKENS // isl))
    t_chunk, n2 = _step(r["model"], hw, "fused", phase="prefill", batch=per_chunk, prompt=isl,
                        **common)
    if not (t_dec > 0 and t_chunk > 0):
        return math.nan, n1 or n2
    t_pre = math.ceil(b / per_chunk) * t_chunk
    return b * osl / (osl * t_dec + t_pre), f"assumed batch {b}, prefill chunks of {per_chunk}"


def load() -> pd.DataFrame:
    """Rows: dataset, group, case, predicted, measured, unit, notes (+ source, confidence)."""
    import pandas as pd

    rows = []
    for r in _read("per_user.csv"):
        pred, note = predict_per_user(r)
        kind = load_hardware(r["hardware"]).kind.value
        group = ("per-user (excluded)" if r["use"] == "excluded"
                 else f"per-user {kind} ({r['split']})")
        flags = f"spec-dec: {r['spec_decode']}; weights {r['weights']}; {r['runtime']}"
        rows.append({"dataset": NAME, "group": group, "case": r["id"], "predicted": pred,
                     "measured": float(r["measured"]), "unit": r["unit"],
                     "notes": "; ".join(x for x in (flags, r["notes"], note) if x),
                     "source": r["source"], "confidence": r["confidence"]})
    for r in _read("throughput.csv"):
        pred, note = predict_throughput(r)
        rows.append({"dataset": NAME, "group": "throughput (held-out)", "case": r["id"],
                     "predicted": pred, "measured": float(r["measured"]), "unit": r["unit"],
                     "notes": "; ".join(x for x in (r["notes"], note) if x),
                     "source": r["source"], "confidence": r["confidence"]})
    return pd.DataFrame(rows)


# ------------------------------------------------------------------------------------------
# Wafer / LPU calibration: one software constant per runtime profile, fitted on one row,
# judged on the rows of the same profile held out
# ------------------------------------------------------------------------------------------

FIT_FILE = DATA / "wafer_lpu_fit.json"
FIT_COMMAND = "python -m infersim.validation.datasets.published_e2e --fit"


@dataclass(frozen=True)
class Calibration:
    """One fitted profile constant: `attr` (a kind-params attribute, SI) of runtime profile
    `profile` is solved so that row `row_id` is reproduced; `bracket` is its plausible range
    in `unit` (`scale` = SI per unit). `shared_with`: other profiles that carry the same
    value (no published row tells them apart); their rows are judged too."""

    kind: str
    profile: str
    row_id: str
    attr: str
    unit: str
    scale: float
    bracket: tuple[float, float]
    formula: str
    shared_with: tuple[str, ...] = ()


_WAFER_FORMULA = (
    "step = sum over ops of [max(local compute, local SRAM) + sum over the op's fabric phases "
    "(sqrt(C) x hop latency + forwarded bytes / link bandwidth + t_ph)] + inter-wafer sends "
    "(hops x link latency); C between the fewest cores holding the operand and its share of "
    "the wafer's bytes (attention: at least its layer's share), chosen to minimise the op's "
    "time; phases: GEMV 2, decode attention 2, norm 2, element-wise 0 "
    "(hwmodels/models/wafer.py); t_ph fitted")
_LPU_FORMULA = (
    "step = sum over compute ops of [max(MXM install, compute, SRAM) + latency cycles of the "
    "op class / clock] + sum over collectives of [wire bytes / link bandwidth + hops x C2C hop "
    "latency]; install = stationary bytes / (planes x 5,120 B/cycle x clock); vector ops 100 "
    "cycles, reductions 250 (assumed, hardware); matrix ops t_mx cycles (fitted); hops: "
    "all-reduce within a GroqNode 2, across nodes 6 (dragonfly), pipeline send 1 "
    "(hwmodels/models/lpu.py)")

CALIBRATIONS = (
    Calibration("wafer", "cerebras-2024-08", "cerebras-l31-8b", "phase_overhead_s", "ns",
                1e-9, (0.0, 20000.0), _WAFER_FORMULA),
    Calibration("wafer", "cerebras-2024-10", "cerebras-l31-70b-oct24", "phase_overhead_s",
                "ns", 1e-9, (0.0, 20000.0), _WAFER_FORMULA),
    Calibration("lpu", "groq-2024", "groq-l31-8b", "matrix_op_cycles", "cycles", 1.0,
                (0.0, 1e5), _LPU_FORMULA, shared_with=("groq-2023",)),
)


def _rows_by_id() -> dict[str, dict[str, str]]:
    return {r["id"]: r for r in _read("per_user.csv")}


def profile_of(c: Calibration, name: str | None = None) -> Any:
    """The runtime profile `c` fits (or one it shares its value with), as shipped."""
    from infersim.hwmodels.registry import MODELS
    from infersim.hwmodels.spec import HardwareKind

    return MODELS[HardwareKind(c.kind)].resolve_runtime(name or c.profile)[1]


def _predict_with(row: dict[str, str], profile: Any) -> tuple[float, str]:
    return predict_per_user({**row, "runtime": profile})


def _solve(row: dict[str, str], c: Calibration) -> float:
    """The value of the profile constant (in `c.unit`) at which the row's prediction equals
    its measurement (the prediction is monotonic in the constant: one root in the bracket)."""
    from scipy.optimize import brentq

    target = float(row["measured"])
    base = profile_of(c)

    def gap(x: float) -> float:
        pred, note = _predict_with(row, base.with_values(**{c.attr: x * c.scale}))
        if not math.isfinite(pred):
            raise InputError(f"{row['id']}: cannot be predicted for the fit ({note})")
        return pred - target

    lo, hi = c.bracket
    if gap(lo) * gap(hi) > 0:
        raise InputError(f"{row['id']}: {c.attr} in [{lo}, {hi}] {c.unit} cannot reproduce "
                         f"{target} {row['unit']}")
    return float(brentq(gap, lo, hi, xtol=1e-9 * max(1.0, hi), rtol=1e-12))


def _judge(c: Calibration, value: float) -> list[dict[str, Any]]:
    """Predictions of the rows of `c.profile` with the constant at `value` (unit of c)."""
    out = []
    for r in _read("per_user.csv"):
        if r["runtime"] not in (c.profile, *c.shared_with):
            continue
        prof = profile_of(c, r["runtime"]).with_values(**{c.attr: value * c.scale})
        pred, note = _predict_with(r, prof)
        meas = float(r["measured"])
        out.append({"id": r["id"], "model": r["model"], "hardware": r["hardware"],
                    "chips": int(r["chips"]), "tp": int(r["tp"]), "pp": int(r["pp"]),
                    "use": r["use"], "split": r["split"], "measured": meas,
                    "predicted": round(pred, 3), "ratio": round(pred / meas, 4),
                    **({"note": note} if note else {})})
    return out


def _round_sig(x: float, sig: int = 4) -> float:
    return 0.0 if x == 0 else round(x, sig - 1 - math.floor(math.log10(abs(x))))


def fit_spatial() -> dict[str, Any]:
    """Fit each `CALIBRATIONS` constant on its row, then predict every row of its profile
    with it. Returns the content of `FIT_FILE`."""
    rows = _rows_by_id()
    fits = []
    for c in CALIBRATIONS:
        value = _round_sig(_solve(rows[c.row_id], c))
        judged = _judge(c, value)
        fits.append({
            "kind": c.kind, "profile": c.profile, "shared_with": list(c.shared_with),
            "field": c.attr, "unit": c.unit,
            "value": value, "plausible_range": list(c.bracket), "formula": c.formula,
            "calibration_row": c.row_id, "rows": judged, "held_out_ape": _ape(judged)})
    held = sorted(e for f in fits for e in f["held_out_ape"].values())
    median = held[len(held) // 2] if len(held) % 2 else 0.5 * (held[len(held) // 2 - 1]
                                                                + held[len(held) // 2])
    return {"what": ("one software constant per runtime profile of the spatial kinds, fitted "
                     "on one published per-user speed, judged on the profile's held-out rows "
                     "(validation/data/published/per_user.csv)"),
            "command": FIT_COMMAND,
            "comparable_quantity": ("cloud-API decode speed at production load vs. 1 / the "
                                    "latency of one batch-1 decode step, layer-pipelined over "
                                    "the row's chips"),
            "fitted_constants": len(fits),
            "held_out_rows": len(held),
            "held_out_median_ape": round(median, 4),
            "fits": fits}


def _ape(judged: list[dict[str, Any]]) -> dict[str, float]:
    return {j["id"]: round(abs(j["ratio"] - 1.0), 4) for j in judged
            if j["use"] == "pass_fail" and j["split"] == "held-out"}


def write_fit(path: Path = FIT_FILE) -> dict[str, Any]:
    import json

    from infersim.foundation.io import atomic_write_text

    doc = fit_spatial()
    atomic_write_text(path, json.dumps(doc, indent=1, ensure_ascii=False) + "\n")
    return doc


def main(argv: Sequence[str] | None = None) -> int:
    import pandas as pd

    from infersim.validation.stats import summarize

    ap = argparse.ArgumentParser(prog="python -m infersim.validation.datasets.published_e2e")
    ap.add_argument("--fit", action="store_true",
                    help=f"refit the wafer/LPU constants and write {FIT_FILE.name}")
    args = ap.parse_args(argv)
    if args.fit:
        doc = write_fit()
        for f in doc["fits"]:
            print(f"{f['profile']}: {f['field']} = {f['value']} {f['unit']} "
                  f"(fitted on {f['calibration_row']}); held-out APE {f['held_out_ape']}")
        print(f"held-out median APE {doc['held_out_median_ape']} over "
              f"{doc['held_out_rows']} rows, {doc['fitted_constants']} constants")
        print(f"wrote {FIT_FILE}")
        return 0
    df = load()
    with pd.option_context("display.width", 200, "display.max_colwidth", 60):
        print(df.assign(ratio=df.predicted / df.measured)[
            ["group", "case", "measured", "predicted", "ratio"]].to_string(index=False))
        print()
        print(summarize(df).to_string(index=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
