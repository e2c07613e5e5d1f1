"""Published serving runs of production engines re-predicted by the serving simulator.

Data: `validation/data/published/serving.csv`, one row per published figure (throughput,
TPOT or TTFT of one engine run) with its engine, model, GPUs, precision, input/output
lengths, arrival process, source URL, confidence (A primary, B secondary, C read off a
chart) and what is assumed (see that folder's README). All rows are held out: no constant
anywhere is fitted on them.

Prediction of a `pass_fail` row: `infersim.api.serve` with
- the row's engine as its runtime profile (`runtime` column; GPU stacks in
  `hwmodels/models/gpu/engines.py`: TensorRT-LLM = `trtllm`, vLLM <= 0.6 = `vllm-v0`,
  SGLang = `sglang`);
- `FixedLengths(isl, osl)` (published fixed lengths, or a data set's published means);
- arrivals: `infinite` (every request queued at once, as trtllm-bench and vLLM's
  benchmark at QPS = inf) = a closed loop with as many users as requests; `poisson` at the
  published rate;
- the published request count (these runs are short: the whole set grades in well under
  a minute), continuous batching with the row's `max_batch` / `max_tokens`, vLLM's default
  KV share (`gpu_memory_utilization` 0.9) and the row's weights / activations / KV dtypes;
- the metric read from the result: `throughput_tok_s` / `throughput_req_s` (completed work
  over first arrival to last finish, as the benchmarks count it), `tpot_s` (mean over
  requests), `ttft_s` (mean).

`excluded` rows (lengths not published, no hardware spec or engine profile) are listed with
their reason in `notes` and a NaN prediction: the report counts them, never grades them.

Groups: `<metric> (held-out)` per metric, `excluded`. The report's signed error is
(predicted − measured) / measured: on throughput rows positive = predicted faster than
measured, on TPOT / TTFT rows positive = predicted slower.

    python -m infersim.validation.datasets.serving_published     # every row, graded
"""

from __future__ import annotations

import csv
import math
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

    from infersim.simulator import ServingResult

NAME = "serving_published"
DESCRIPTION = ("Published production-engine serving runs (TensorRT-LLM perf overview, vLLM "
               "v0.6.0 blog, MLPerf, LLMServingSim) re-predicted with `serve`; held out")
DATA = Path(__file__).resolve().parents[1] / "data" / "published" / "serving.csv"
LIST_ROWS = True  # the report lists every row of this data set, excluded ones included

# metric column -> (ServingResult reader, group label)
METRICS: dict[str, Any] = {
    "throughput_tok_s": lambda r: r.throughput_tok_s,
    "throughput_req_s": lambda r: r.throughput_req_s,
    "tpot_s": lambda r: r.tpot["mean"],
    "ttft_s": lambda r: r.ttft["mean"],
}


GRADED_INTS = ("tp", "replicas", "isl", "osl", "requests", "max_batch", "max_tokens")


def rows(path: Path = DATA) -> list[dict[str, str]]:
    """The CSV's rows, checked: InputError naming file, line, column and fix on a bad cell."""
    from infersim.foundation.errors import InputError

    with path.open(newline="") as f:
        out = list(csv.DictReader(f))
    for line, r in enumerate(out, start=2):
        where = f"{path.name} line {line} ({r.get('id')})"
        if not (r.get("source") or "").startswith("https://"):
            raise InputError(f"{where}, column source: give the https:// URL of the figure")
        if r.get("use") not in ("pass_fail", "excluded"):
            raise InputError(f"{where}, column use: {r.get('use')!r}; use pass_fail or excluded")
        if r.get("metric") not in METRICS:
            raise InputError(f"{where}, column metric: {r.get('metric')!r}; use one of "
                             f"{', '.join(METRICS)}")
        try:
            if float(r["measured"]) <= 0:
                raise ValueError
        except ValueError:
            raise InputError(f"{where}, column measured: {r['measured']!r} is not a positive "
                             "number") from None
        if r["use"] != "pass_fail":
            continue
        for col in GRADED_INTS:
            if not r[col].isdigit() or int(r[col]) < 1:
                raise InputError(f"{where}, column {col}: {r[col]!r}; a graded row needs a "
                                 "positive integer (or set use to excluded with the reason)")
        if r["arrival"] not in ("infinite", "poisson"):
            raise InputError(f"{where}, column arrival: {r['arrival']!r}; use infinite or "
                             "poisson")
    return out


def simulate_row(r: Mapping[str, str]) -> ServingResult:
    """The `serve` run of one graded row (see the module docstring)."""
    from infersim.api import serve
    from infersim.simulator import (
        ClosedLoop,
        Deployment,
        FixedLengths,
        Poisson,
        ServingPolicy,
        Traffic,
    )

    n = int(r["requests"])
    arrival: ClosedLoop | Poisson
    if r["arrival"] == "infinite":
        arrival = ClosedLoop(users=n)  # all n queued at t = 0, none re-issued
    elif r["arrival"] == "poisson":
        arrival = Poisson(float(r["arrival_value"]))
    else:  # rows() rejects anything else
        raise ValueError(f"{DATA.name} row {r['id']}: arrival {r['arrival']!r}")
    traffic = Traffic(arrival, FixedLengths(int(r["isl"]), int(r["osl"])), n)
    policy = ServingPolicy(max_batch=int(r["max_batch"]), max_tokens=int(r["max_tokens"]))
    dep = Deployment(tp=int(r["tp"]), replicas=int(r["replicas"]), runtime=r["runtime"],
                     weights=r["weights"], activations=r["activations"] or None,
                     kv=r["kv"] or None)
    return serve(r["model"], r["hardware"], traffic, policy, deployment=dep)


def predict(r: Mapping[str, str]) -> tuple[float, str]:
    """(predicted value of the row's metric, note); NaN with the reason when not graded."""
    if r["use"] != "pass_fail":
        return math.nan, ""
    res = simulate_row(r)
    if not res.feasible:
        return math.nan, f"infeasible: {res.infeasible}"
    note = "; ".join(res.warnings())
    return float(METRICS[r["metric"]](res)), note


def group(r: Mapping[str, str]) -> str:
    return f"{r['metric']} (held-out)" if r["use"] == "pass_fail" else "excluded"


def load(selected: Sequence[Mapping[str, str]] | None = None) -> pd.DataFrame:
    """The data set's frame: every row of the CSV, or only `selected` rows of it."""
    import pandas as pd

    out = []
    for r in rows() if selected is None else selected:
        pred, note = predict(r)
        notes = "; ".join(x for x in (
            f"{r['engine']}, {r['model']} on {r['hardware'] or '(no spec)'} tp{r['tp'] or '?'}"
            f" x{r['replicas'] or '?'}, {r['weights'] or '?'} weights, ISL/OSL "
            f"{r['isl'] or '?'}/{r['osl'] or '?'}, runtime {r['runtime'] or '-'}",
            f"confidence {r['confidence']}", r["notes"], note, r["source"]) if x)
        out.append({"dataset": NAME, "group": group(r), "case": r["id"], "predicted": pred,
                    "measured": float(r["measured"]), "unit": r["unit"], "notes": notes})
    return pd.DataFrame(out)


def main(argv: list[str] | None = None) -> int:
    import pandas as pd

    from infersim.validation.stats import ape, summarize

    df = load()
    df = df.assign(ape=ape(df["predicted"], df["measured"]),
                   signed=(df["predicted"] - df["measured"]) / df["measured"])
    with pd.option_context("display.width", 200, "display.max_colwidth", 60):
        print(summarize(df).to_string(index=False))
        print(df[["group", "case", "predicted", "measured", "unit", "signed"]]
              .to_string(index=False))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
