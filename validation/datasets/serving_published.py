"""Published serving runs of production engines re-predicted by the serving simulator.

Data: `validation/data/published/serving.csv`, one row per published figure (throughput,
TPOT or TTFT of one engine run) with its engine, model, GPUs, precision, input/output
lengths, arrival process, source URL, confidence (A primary, B secondary, C read off a
chart) and what is assumed (see that folder's README). Rows are held out except the ones in
`FITTED`, each fitting one named CPU constant of an online-serving profile (`fit_knob`,
`--fit-frontend`), and in `SPEC_FITTED`, each fitting one constant of a hardware spec
(`infersim.validation.fitting.b200_fp4`, `...mi300x_fp8`); the report grades them as
calibration.

Prediction of a `pass_fail` row: `infersim.api.serve` with
- the row's engine as its runtime profile (`runtime` column; GPU stacks in
  `hwmodels/models/gpu/engines.py`: TensorRT-LLM = `trtllm`, vLLM 0.5-0.6 = `vllm-v0`,
  SGLang = `sglang`; behind their streaming HTTP servers, as vLLM's benchmark_serving
  drives them: `vllm-v0-api`, `sglang-api`, `trtllm-triton`; SGLang v0.3.0 = `sglang-v03-api`);
- the row's `scheduler_steps` (vLLM's `--num-scheduler-steps`, when the source states it)
  set on that profile (`RuntimeProfile.with_values`);
- lengths (`lengths` column): `fixed` = `FixedLengths(isl, osl)` (trtllm-bench and the sonnet
  sets use fixed lengths); `sharegpt` = ShareGPT as vLLM's benchmark_serving samples it:
  stored as quantiles in `validation/data/published/sharegpt_lengths.csv` after
  benchmark_serving's filter (`vllm_sharegpt_filter`): output lengths of ShareGPT's
  first-turn replies (the vLLM SOSP'23 artifact's token counts), prompt lengths of the
  ShareGPT trace Vidur simulates with (README: why each side); `requests` pairs drawn with
  seed `SHAREGPT_SEED`, scaled so that their means are the row's `isl` / `osl` (the
  source's published means) and filtered again at the scaled lengths, each pair used once
  (`sharegpt_lengths`). With an infinite rate the run ends with the longest outputs
  draining at a small batch, so the spread matters, not only the means; `sglang-random` =
  `sglang.bench_serving`'s random data set, its numpy draws reproduced exactly with `isl` /
  `osl` as its largest lengths (`sglang_random_lengths`);
- arrivals: `infinite` (every request queued at once, as trtllm-bench and vLLM's
  benchmark at QPS = inf) = all requests arriving at t = 0 (the same run as a closed loop
  with one user per request); `poisson` at the published rate; `closed` = a closed loop of
  `arrival_value` users (a concurrency benchmark: genai-perf / AIPerf), its figure read in
  steady state after a warm-up (`steady_state`);
- the row's parallelism: `tp` × `replicas`, and with `dp` > 1 attention data parallelism
  inside the replica (`Deployment.dp`: dp groups of tp GPUs, the experts on `ep` = tp × dp);
- the published request count, continuous batching with the row's `max_batch` /
  `max_tokens`, the engine's KV share (vLLM / SGLang: `gpu_memory_utilization` 0.9 of the
  whole memory; TensorRT-LLM: 0.9 of what the weights leave free, `kv_free_fraction`) and the row's
  weights / activations / KV dtypes;
- the metric read from the result: `throughput_tok_s` / `throughput_req_s` (completed work
  over first arrival to last finish, as the benchmarks count it), `tpot_s` (mean over
  requests), `ttft_s` (mean), `tpot_p50_s` (median over requests), `itl_p50_s` (median
  gap between a request's streamed tokens: with one token per chunk, a decode step), `itl_s`
  (the mean of those gaps over every streamed token of every request, as vLLM's
  benchmark_serving reports Mean ITL: token-weighted, where `tpot_s` weighs requests).

`lean` puts every graded row on one scale (positive = predicted faster); `infersim validate`
prints it for `production_rows` (this data set and published_e2e's TensorRT-LLM groups).

`excluded` rows (lengths not published, no hardware spec or engine profile) are listed with
their reason in `notes` and a NaN prediction: the report counts them, never grades them.

Graded rows run on the compiled serving engine (`ENGINE`; `--engine simpy` for the
reference engine, same results), except those it does not cover (multi-step scheduling,
pipeline stages, closed loops), which run on the reference engine.

Groups: `<metric> (held-out)` per metric, `<metric> MoE (held-out)` for the rows of
mixture-of-experts models (`lean_by_family` grades dense and MoE rows apart), `excluded`. The report's signed error is
(predicted − measured) / measured: on throughput rows positive = predicted faster than
measured, on TPOT / TTFT rows positive = predicted slower. `lean` (printed last by the
command) puts every graded row on one scale, positive = predicted faster.

    python -m infersim.validation.datasets.serving_published     # every row, graded
    python -m infersim.validation.datasets.serving_published --fit-frontend  # FITTED
    python -m infersim.validation.datasets.serving_published --engine simpy  # cross-check
    python -m infersim.validation.datasets.serving_published --tail 3:1000
        # what-if: the 3 longest outputs of each ShareGPT sample at 1000 tokens
    python -m infersim.validation.datasets.serving_published --extract-sharegpt \
            TRACE.csv FIRST_TURNS.pkl
        # rebuild sharegpt_lengths.csv: prompts from the trace (columns
        # num_prefill_tokens, num_decode_tokens), outputs from the first-turn pairs (see
        # validation/data/published/README.md for both sources)
"""

from __future__ import annotations

import csv
import functools
import math
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

    from infersim.hwmodels.cost import RuntimeProfile
    from infersim.simulator import LengthSamples, ServingResult

NAME = "serving_published"
DESCRIPTION = ("Published production-engine serving runs (TensorRT-LLM perf overview, vLLM "
               "v0.6.0 blog, SGLang's v0.3.0-vs-vLLM-v0.6.0 README, NVIDIA NIM, MLPerf, "
               "LLMServingSim, OCI's and AMD's vLLM runs on 8 x MI300X) "
               "re-predicted with `serve`; held out")
DATA = Path(__file__).resolve().parents[1] / "data" / "published" / "serving.csv"
LIST_ROWS = True  # the report lists every row of this data set, excluded ones included

# metric column -> (ServingResult reader, group label)
METRICS: dict[str, Any] = {
    "throughput_tok_s": lambda r: r.throughput_tok_s,
    "throughput_req_s": lambda r: r.throughput_req_s,
    "tpot_s": lambda r: r.tpot["mean"],
    "ttft_s": lambda r: r.ttft["mean"],
    "tpot_p50_s": lambda r: r.tpot["p50"],
    "itl_p50_s": lambda r: r.itl["p50"],
    "itl_s": lambda r: r.itl["mean"],
    "ttft_p50_s": lambda r: r.ttft["p50"],
}
# metrics where a larger value is slower (the rest are throughputs)
LATENCY_METRICS = frozenset({"tpot_s", "ttft_s", "tpot_p50_s", "itl_p50_s", "itl_s",
                             "ttft_p50_s"})


GRADED_INTS = ("tp", "replicas", "isl", "osl", "requests", "max_batch", "max_tokens")
LENGTHS = ("fixed", "sharegpt", "sglang-random")
# sglang.bench_serving --dataset-name random (sample_random_requests, SGLang 0.3-0.4,
# python/sglang/bench_serving.py): after np.random.seed(--seed, default 1) it draws the n
# prompt lengths with np.random.randint(max(int(isl x r), 1), isl + 1) and then the n output
# lengths with np.random.randint(int(osl x r), osl + 1), r = --random-range-ratio (default
# 0.0 then), and sends every request with ignore_eos (its default), so a run's lengths are
# reproduced exactly (the published total input / output token counts, README).
SGLANG_BENCH_SEED = 1
SGLANG_RANGE_RATIO = 0.0
# Every graded row but the multi-step (vLLM --num-scheduler-steps > 1), pipelined (pp > 1)
# and closed-loop ones (simpy) is in the compiled serving engine's
# scope (`simulator.serving.compiled.why_not`), which gives the simpy
# engine's results bit for bit: 1,000 requests of 22k tokens take ~1 s there against minutes
# on simpy. Its one-time compile (~22 s of CPU) is cached in simulator/serving/__pycache__.
ENGINE = "compiled"

SHAREGPT = DATA.parent / "sharegpt_lengths.csv"
SHAREGPT_SEED = 0  # fixed, as benchmark_serving samples with a fixed seed (--seed, default 0)
SHAREGPT_QUANTILES = 201  # quantiles stored: every 0.5 %, both ends included
SHAREGPT_POOL = 4  # candidate pairs drawn per kept pair (the filter drops a few percent)
# benchmark_serving.sample_sharegpt_requests (vLLM v0.6.0,
# https://github.com/vllm-project/vllm/blob/v0.6.0/benchmarks/benchmark_serving.py) prunes a
# (prompt, completion) pair with either side under 4 tokens, a prompt over 1024 tokens or
# prompt + completion over 2048 tokens.
MIN_TOKENS, MAX_PROMPT, MAX_TOTAL = 4, 1024, 2048


def vllm_sharegpt_filter(prompt: np.ndarray, output: np.ndarray) -> np.ndarray:
    """Mask of the (prompt, output) pairs benchmark_serving keeps (see MIN_TOKENS ...)."""
    p = np.asarray(prompt)
    o = np.asarray(output)
    return (p >= MIN_TOKENS) & (o >= MIN_TOKENS) & (p <= MAX_PROMPT) & (p + o <= MAX_TOTAL)


def read_length_pairs(trace: Path) -> tuple[np.ndarray, np.ndarray]:
    """(prompt, output) token counts of a length source: a CSV with columns
    num_prefill_tokens, num_decode_tokens (Vidur's traces), or a pickle holding only a list
    of (prompt, output) integer pairs (the vLLM SOSP'23 artifact's
    `sharegpt_opt_text_completion_length.pkl`). The pickle is read by an unpickler that
    refuses every class, so a file holding anything but plain lists, tuples and integers
    is rejected, never executed."""
    import io
    import pickle

    from infersim.foundation.errors import InputError

    if trace.suffix == ".pkl":
        class _DataOnly(pickle.Unpickler):
            def find_class(self, module: str, name: str) -> Any:
                raise InputError(f"{trace}: refers to {module}.{name}; expected a pickle of "
                                 "(prompt, output) integer pairs only")

        try:
            pairs = _DataOnly(io.BytesIO(trace.read_bytes())).load()
            arr = np.asarray(pairs)
        except (pickle.UnpicklingError, EOFError, ValueError, TypeError):
            raise InputError(f"{trace}: not a pickle of (prompt, output) integer pairs") \
                from None
        if arr.ndim != 2 or arr.shape[1] != 2 or arr.dtype.kind not in "iu":
            raise InputError(f"{trace}: expected a list of (prompt, output) integer pairs, got "
                             f"an array of shape {arr.shape} and type {arr.dtype}")
        return arr[:, 0].astype(int), arr[:, 1].astype(int)
    p, o = [], []
    with trace.open(newline="") as f:
        reader = csv.DictReader(f)
        cols = ("num_prefill_tokens", "num_decode_tokens")
        if reader.fieldnames is None or any(c not in reader.fieldnames for c in cols):
            raise InputError(f"{trace}: expected columns {', '.join(cols)}; got "
                             f"{reader.fieldnames}")
        for line, r in enumerate(reader, start=2):
            try:
                p.append(int(r[cols[0]]))
                o.append(int(r[cols[1]]))
            except ValueError:
                raise InputError(f"{trace} line {line}: token counts must be integers, got "
                                 f"{r[cols[0]]!r}, {r[cols[1]]!r}") from None
    return np.asarray(p, dtype=int), np.asarray(o, dtype=int)


def extract_sharegpt(trace: Path, out: Path = SHAREGPT,
                     outputs: Path | None = None) -> tuple[int, int]:
    """Write the quantiles of the prompt and output lengths of `trace` (`read_length_pairs`)
    that pass `vllm_sharegpt_filter`, the output side from `outputs` instead when given
    (its pairs filtered the same way); (rows read, rows kept) of the prompt source. The two
    sides are stored as separate quantile functions and drawn independently (their
    Spearman correlation after the filter: 0.21 in the SOSP'23 first-turn pairs, -0.04 in
    the Vidur trace; README)."""
    from infersim.foundation.errors import InputError
    from infersim.foundation.io import atomic_write_text

    sides = []
    for src in (trace, trace if outputs is None else outputs):
        pa, oa = read_length_pairs(src)
        keep = vllm_sharegpt_filter(pa, oa)
        if keep.sum() < 2:
            raise InputError(f"{src}: fewer than 2 rows pass benchmark_serving's filter")
        sides.append((len(pa), int(keep.sum()), pa[keep], oa[keep]))
    q = np.linspace(0.0, 1.0, SHAREGPT_QUANTILES)
    pq, oq = np.quantile(sides[0][2], q), np.quantile(sides[1][3], q)
    text = "quantile,prompt_tokens,output_tokens\n" + "".join(
        f"{a:.3f},{b:.1f},{c:.1f}\n" for a, b, c in zip(q, pq, oq, strict=True))
    atomic_write_text(out, text)
    return sides[0][0], sides[0][1]


def sharegpt_quantiles(path: Path = SHAREGPT) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(quantile levels, prompt quantiles, output quantiles) of `sharegpt_lengths.csv`."""
    from infersim.foundation.errors import InputError

    with path.open(newline="") as f:
        rows_ = list(csv.DictReader(f))
    try:
        q, p, o = (np.array([float(r[c]) for r in rows_]) for c in
                   ("quantile", "prompt_tokens", "output_tokens"))
    except (KeyError, ValueError, TypeError):
        raise InputError(f"{path}: expected numeric columns quantile,prompt_tokens,"
                         "output_tokens; rebuild it with --extract-sharegpt") from None
    if (len(q) < 2 or q[0] != 0.0 or q[-1] != 1.0 or np.any(np.diff(q) <= 0)
            or np.any(np.diff(p) < 0) or np.any(np.diff(o) < 0) or p[0] < 1 or o[0] < 1):
        raise InputError(f"{path}: quantiles must rise from 0 to 1 with non-decreasing "
                         "lengths ≥ 1; rebuild it with --extract-sharegpt")
    return q, p, o


def sharegpt_lengths(n: int, mean_prompt: float, mean_output: float,
                     seed: int = SHAREGPT_SEED, path: Path = SHAREGPT) -> LengthSamples:
    """n (prompt, output) pairs of benchmark_serving's ShareGPT sample: each side drawn by
    inverse transform from its quantile function (linear between the stored quantiles) and
    scaled, the pairs failing benchmark_serving's filter at the scaled lengths dropped
    (`vllm_sharegpt_filter`: the sample the benchmark sends obeys it in its own tokens), and
    the scale of each side set so that the n kept lengths have the given means (the source's
    published means of its sample); rounded, each pair used once.

    The candidates are one seeded stream (`POOL` × n pairs); the kept pairs are its first n
    that pass. The scales are found by fixed-point iteration (scale ← scale × target / kept
    mean), which converges in a few rounds: only the few pairs near the filter's limits
    change with the scale."""
    from infersim.simulator import LengthSamples

    q, pq, oq = sharegpt_quantiles(path)
    rng = np.random.default_rng(seed)
    pool = SHAREGPT_POOL * n
    x = np.interp(rng.random(pool), q, pq)
    y = np.interp(rng.random(pool), q, oq)
    a, b = mean_prompt / x[:n].mean(), mean_output / y[:n].mean()
    for _ in range(100):
        p = np.maximum(1, np.rint(a * x)).astype(int)
        o = np.maximum(1, np.rint(b * y)).astype(int)
        idx = np.flatnonzero(vllm_sharegpt_filter(p, o))[:n]
        if len(idx) < n:
            raise ValueError(f"ShareGPT sample: only {len(idx)} of {pool} candidate pairs pass "
                             f"benchmark_serving's filter at means {mean_prompt}/{mean_output}")
        mp, mo = p[idx].mean(), o[idx].mean()
        if abs(mp - mean_prompt) <= 0.5 and abs(mo - mean_output) <= 0.5:
            break
        a, b = a * mean_prompt / mp, b * mean_output / mo
    return LengthSamples(tuple(int(v) for v in p[idx]), tuple(int(v) for v in o[idx]),
                         replace=False)


def sglang_random_lengths(n: int, isl: int, osl: int, ratio: float = SGLANG_RANGE_RATIO,
                          seed: int = SGLANG_BENCH_SEED) -> LengthSamples:
    """The n (prompt, output) lengths of sglang.bench_serving's random dataset (see
    `SGLANG_BENCH_SEED`): the same draws in the same order from numpy's legacy generator.
    An output of 0 tokens (randint's lower end at r = 0) is sent as 1: the run still
    prefills the prompt and returns one token."""
    from infersim.simulator import LengthSamples

    rs = np.random.RandomState(seed)
    prompt = rs.randint(max(int(isl * ratio), 1), isl + 1, size=n)
    output = rs.randint(int(osl * ratio), osl + 1, size=n)
    return LengthSamples(tuple(int(v) for v in prompt),
                         tuple(max(1, int(v)) for v in output), replace=False)


def with_output_tail(lengths: LengthSamples, k: int, tokens: int) -> LengthSamples:
    """`lengths` with its `k` longest outputs set to `tokens` (ties: the later pairs first),
    prompts and the other outputs unchanged: a what-if on the tail of the output lengths,
    which sets how long an infinite-rate run drains at a small batch (`--tail`)."""
    from infersim.simulator import LengthSamples

    if k < 0 or tokens < 1:
        raise ValueError(f"output tail: k={k}, tokens={tokens}; need k >= 0 and tokens >= 1")
    out = np.array(lengths.output_tokens)
    if k:
        out[np.argsort(out, kind="stable")[-k:]] = tokens
    return LengthSamples(lengths.prompt_tokens, tuple(int(v) for v in out),
                         replace=lengths.replace)


def parse_tail(text: str) -> tuple[int, int]:
    """`K:TOKENS` of `--tail` as (k, tokens); InputError naming the flag and the fix."""
    from infersim.foundation.errors import InputError

    k, sep, tokens = text.partition(":")
    if not (sep and k.isdigit() and tokens.isdigit() and int(tokens) >= 1):
        raise InputError(f"--tail {text!r}: give K:TOKENS, e.g. 3:1000 (the K longest outputs "
                         "of each ShareGPT sample set to TOKENS tokens)")
    return int(k), int(tokens)


def tail_sensitivity(k: int, tokens: int,
                     selected: Sequence[Mapping[str, str]] | None = None) -> pd.DataFrame:
    """Every graded ShareGPT row predicted with its sample as drawn and with its `k` longest
    outputs set to `tokens`: columns case, measured, predicted, signed, predicted_tail,
    signed_tail (signed as the report's)."""
    import pandas as pd

    out = []
    for r in rows() if selected is None else selected:
        if r["use"] != "pass_fail" or r["lengths"] != "sharegpt":
            continue
        m = float(r["measured"])
        read = METRICS[r["metric"]]
        base = float(read(simulate_row(r)))
        tail = float(read(simulate_row(r, tail=(k, tokens))))
        out.append({"case": r["id"], "measured": m, "predicted": base,
                    "signed": (base - m) / m, "predicted_tail": tail,
                    "signed_tail": (tail - m) / m})
    return pd.DataFrame(out)


def check_overrides(overrides: Mapping[str, Any],
                    selected: Sequence[Mapping[str, str]] | None = None) -> None:
    """InputError naming the spec and field when `overrides` do not apply to the hardware of
    every graded row (a what-if fails before any row runs)."""
    from infersim.api import load_hardware
    from infersim.foundation.errors import InputError, SpecError

    for name in sorted({r["hardware"] for r in (rows() if selected is None else selected)
                        if r["use"] == "pass_fail"}):
        try:
            load_hardware(name, dict(overrides))
        except SpecError as e:
            raise InputError(f"--set on {name} (hardware of graded rows): "
                             + "; ".join(str(q) for q in e.problems)) from None
        except InputError as e:
            raise InputError(f"--set on {name} (hardware of graded rows): {e}") from None


def what_if(overrides: Mapping[str, Any], engine: str = ENGINE,
            selected: Sequence[Mapping[str, str]] | None = None,
            knobs: Mapping[str, Mapping[str, float]] | None = None
            ) -> tuple[pd.DataFrame, list[str]]:
    """Every graded row as graded and with its hardware spec changed by `overrides` (field
    path -> value, as `serve --set`) and the constants of its runtime by `knobs` (runtime
    name -> {knob: value}, as `serve --runtime-set`): (rows whose prediction moved: case,
    group, measured, predicted, signed, predicted_set, signed_set, signed as the report's;
    the production lean and the held-out lean by stack, as graded and with the what-if). A
    sensitivity probe, e.g. of a spec constant or an engine knob against the published
    runs; the shipped specs and profiles stay."""
    import numpy as np

    base = load(selected, engine)
    alt = load(selected, engine, overrides, knobs)
    m = base["measured"].to_numpy(float)
    p0, p1 = base["predicted"].to_numpy(float), alt["predicted"].to_numpy(float)
    frame = base[["case", "group", "measured"]].assign(
        predicted=p0, signed=(p0 - m) / m, predicted_set=p1, signed_set=(p1 - m) / m)
    moved = np.isfinite(p0) & ~np.isclose(p0, p1, rtol=1e-9, atol=0.0)
    lines = []
    what = " and ".join(f for f, on in (("--set", overrides), ("--runtime-set", knobs)) if on)
    for label, df in (("as graded", base), (f"with {what or 'no change'}", alt)):
        lines += [f"{label}, {line}" for line in lean_line(df).splitlines()]
        lines += [f"{label}, held out, {line}" for line in lean_by_stack(df)]
    return frame[moved].reset_index(drop=True), lines


@dataclass(frozen=True)
class IterationMix:
    """A served run's iterations, read from its event log (`iterations`): those with prompt
    tokens and the generation-only ones, each with its count, summed priced time, and means
    (prompt tokens and sequences decoding alongside; batch and context per sequence)."""

    prompt_n: int
    prompt_s: float
    prompt_tokens: float  # mean prompt tokens of an iteration with prompt tokens
    prompt_decoding: float  # mean sequences decoding in those iterations
    gen_n: int
    gen_s: float
    gen_batch: float  # mean sequences of a generation-only iteration
    gen_context: float  # mean context per sequence of those iterations


def iterations(res: ServingResult) -> IterationMix:
    """The iteration mix of `res`, a run with an event log (`simulate_row(event_log=True)`);
    ValueError without one."""
    if res.events is None:
        raise ValueError("the run has no event log: simulate it with event_log=True")
    pf: list[tuple[int, int, float]] = []
    gen: list[tuple[int, int, float]] = []
    for _, what, _, _ in res.events:
        if not what.startswith("iter "):
            continue
        f = dict(kv.split("=") for kv in what.split()[1:])
        p, d, ctx, t = int(f["p"]), int(f["d"]), int(f["ctx"]), float(f["t"])
        (pf if p > 0 else gen).append((p if p > 0 else d, d if p > 0 else ctx, t))
    a = np.array(pf, dtype=float).reshape(-1, 3)
    g = np.array(gen, dtype=float).reshape(-1, 3)
    return IterationMix(
        len(a), float(a[:, 2].sum()), float(a[:, 0].mean()) if len(a) else 0.0,
        float(a[:, 1].mean()) if len(a) else 0.0, len(g), float(g[:, 2].sum()),
        float(g[:, 0].mean()) if len(g) else 0.0,
        float(g[:, 1].sum() / g[:, 0].sum()) if len(g) and g[:, 0].sum() else 0.0)


def implied_iteration_s(res: ServingResult, n: int, seconds: float, predicted: float,
                        measured: float) -> float:
    """The mean time of one of `n` iterations (`seconds` of the simulated run together) that a
    throughput row's measurement implies with everything else of the run as simulated: the
    measured run lasts the simulated duration × predicted / measured (the same tokens at the
    measured rate), and what it adds or saves beyond the simulated run is spread over those
    iterations (NaN without any)."""
    if n == 0 or not measured > 0:
        return math.nan
    t_meas = res.duration_s * predicted / measured
    return (seconds + t_meas - res.duration_s) / n


def implied_gen_step_s(res: ServingResult, mix: IterationMix, predicted: float,
                       measured: float) -> float:
    """`implied_iteration_s` of the generation-only iterations: the gap put on decode."""
    return implied_iteration_s(res, mix.gen_n, mix.gen_s, predicted, measured)


def implied_prompt_iteration_s(res: ServingResult, mix: IterationMix, predicted: float,
                               measured: float) -> float:
    """`implied_iteration_s` of the iterations with prompt tokens: the gap put on prefill."""
    return implied_iteration_s(res, mix.prompt_n, mix.prompt_s, predicted, measured)


def diagnose(r: Mapping[str, str], engine: str = ENGINE, top: int = 8) -> list[str]:
    """Lines that take one graded row apart: the prediction against the measurement, the run's
    iterations (with prompt tokens and generation-only: count, time, mean sizes), for an
    open-loop throughput row on one engine (replicas 1, pp 1) the generation-only step its
    measurement implies with the prompt iterations as simulated (`implied_gen_step_s`) and the
    iteration with prompt tokens it implies with the decode steps as simulated
    (`implied_prompt_iteration_s`), and the `top` ops of one generation-only step at the run's
    mean batch and context (`infersim.api.simulate`, the row's deployment). Where a published
    run and the model part: which kind of iteration carries the gap."""
    from infersim.api import simulate

    if r["use"] != "pass_fail":
        return [f"{r['id']}: not graded ({r['use']}): {r['notes'][:200]}"]
    res = simulate_row(r, engine=engine, event_log=True)
    if not res.feasible:
        return [f"{r['id']}: infeasible: {res.infeasible}"]
    closed = r["arrival"] == "closed"  # graded in steady state, as `predict_run` reads it
    pred = (steady_state(res, r["metric"], int(r["arrival_value"])) if closed
            else float(METRICS[r["metric"]](res)))
    meas = float(r["measured"])
    mix = iterations(res)
    faster = pred < meas if r["metric"] in LATENCY_METRICS else pred > meas
    lines = [f"{r['id']}: {r['metric']} predicted {pred:.5g}, measured {meas:.5g} {r['unit']} "
             f"({100 * (pred / meas - 1):+.1f}%, predicted {'faster' if faster else 'slower'})",
             f"  run: {res.duration_s:.4g} s simulated, {res.requests} requests, "
             f"{res.kv_blocks:,} KV blocks, peak occupancy {res.kv_peak_occupancy:.0%}",
             f"  iterations with prompt tokens: {mix.prompt_n:,}, {mix.prompt_s:.4g} s "
             f"(mean {mix.prompt_tokens:,.0f} prompt tokens, {mix.prompt_decoding:,.0f} "
             "sequences decoding alongside)",
             f"  generation-only iterations: {mix.gen_n:,}, {mix.gen_s:.4g} s (mean batch "
             f"{mix.gen_batch:,.0f}, context {mix.gen_context:,.0f}, step "
             f"{1e3 * mix.gen_s / max(mix.gen_n, 1):.4g} ms)"]
    one_engine = int(r["replicas"]) == 1 and int(r.get("pp") or 1) == 1
    if r["metric"] in LATENCY_METRICS or closed:
        lines.append("  implied generation-only step: open-loop throughput rows only")
    elif not one_engine:
        lines.append("  implied generation-only step: not derived (several engines overlap)")
    else:
        for what, n, secs, implied in (
                ("generation-only step", mix.gen_n, mix.gen_s, implied_gen_step_s),
                ("iteration with prompt tokens", mix.prompt_n, mix.prompt_s,
                 implied_prompt_iteration_s)):
            imp, step = implied(res, mix, pred, meas), secs / max(n, 1)
            lines.append((f"  implied {what}, the rest as simulated: {1e3 * imp:.4g} ms "
                          f"({1e3 * (imp - step):+.3g} ms, x{imp / step:.3f})"
                          + (": below zero, so not these iterations alone" if imp < 0
                             else "")) if n else f"  implied {what}: no such iteration")
    if mix.gen_n:
        b, ctx = max(1, round(mix.gen_batch)), max(1, round(mix.gen_context))
        one = simulate(r["model"], r["hardware"], "decode", b, context=ctx,
                       runtime=r["runtime"], weights=r["weights"],
                       activations=r["activations"] or None, kv=r["kv"] or None,
                       tp=int(r["tp"]), pp=int(r.get("pp") or 1), ep=int(r.get("ep") or 1),
                       dp=int(r.get("dp") or 1), lm_head=r["lm_head"] or None)
        by = one.ops.groupby("name")["total_time_s"].sum().sort_values(ascending=False)
        lines.append(f"  one generation-only step at batch {b:,}, context {ctx:,}: "
                     f"{1e3 * one.latency_s:.4g} ms; " + ", ".join(
                         f"{k} {1e3 * v:.3g}" for k, v in by.head(top).items()) + " ms")
    return lines


def parse_knobs(items: Sequence[str] | None,
                selected: Sequence[Mapping[str, str]] | None = None
                ) -> dict[str, dict[str, float]]:
    """`--runtime-set RUNTIME:KNOB=VALUE` items -> {runtime: {knob: value}}, each checked as
    `serve --runtime-set` checks it on the hardware of a graded row of that runtime;
    InputError naming the item and the fix (no graded row runs RUNTIME, unknown knob, bad
    value)."""
    from infersim.api import load_hardware
    from infersim.foundation.errors import InputError
    from infersim.foundation.yaml import parse_value
    from infersim.hwmodels.runtime_knobs import tune_runtime

    graded = [r for r in (rows() if selected is None else selected) if r["use"] == "pass_fail"]
    hw_of = {r["runtime"]: r["hardware"] for r in graded}
    out: dict[str, dict[str, float]] = {}
    for item in items or ():
        runtime, colon, rest = item.partition(":")
        knob, eq, val = rest.partition("=")
        if not colon or not eq or not runtime.strip() or not knob.strip():
            raise InputError(f"--runtime-set {item[:60]!r}: expected RUNTIME:KNOB=VALUE, e.g. "
                             "--runtime-set sglang-api:output_token_s=1e-4")
        runtime, knob = runtime.strip(), knob.strip()
        if runtime not in hw_of:
            raise InputError(f"--runtime-set {item[:60]!r}: no graded row runs {runtime[:40]!r}; the "
                             f"rows run {', '.join(sorted(hw_of))}")
        value = parse_value(val, f"--runtime-set {runtime}:{knob}")
        tune_runtime(load_hardware(hw_of[runtime]), runtime, {knob: value},
                     flag=f"--runtime-set {runtime}:")
        out.setdefault(runtime, {})[knob] = float(value)
    return out


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
        if r["arrival"] not in ("infinite", "poisson", "closed"):
            raise InputError(f"{where}, column arrival: {r['arrival']!r}; use infinite, "
                             "poisson or closed")
        if r["arrival"] == "closed" and not (r["arrival_value"].isdigit()
                                             and int(r["arrival_value"]) >= 1):
            raise InputError(f"{where}, column arrival_value: {r['arrival_value']!r}; a closed "
                             "loop needs its number of concurrent users")
        if r["lengths"] not in LENGTHS:
            raise InputError(f"{where}, column lengths: {r['lengths']!r}; use "
                             f"{', '.join(LENGTHS[:-1])} or {LENGTHS[-1]}")
        for col in ("pp", "ep", "dp"):
            v = r.get(col) or ""
            if v and (not v.isdigit() or int(v) < 1):
                raise InputError(f"{where}, column {col}: {v!r}; give a positive integer or "
                                 "leave it empty (1)")
        steps = r["scheduler_steps"]
        if steps and (not steps.isdigit() or int(steps) < 1):
            raise InputError(f"{where}, column scheduler_steps: {steps!r}; give a positive "
                             "integer or leave it empty (one step per scheduling pass)")
    return out


# trtllm-bench's batch limits when its command names none (TensorRT-LLM performance overview,
# the perf-overview rows): the KV share of the free memory and the caps of its heuristic.
TRTLLM_BENCH_KV_FRACTION = 0.90  # trtllm-bench --kv_cache_free_gpu_mem_fraction default
# bytes per parameter it counts for the checkpoint (BYTES_PER_ELEM in tensorrt_llm/bench/build/
# tuning.py at 04cba88: NO_QUANT 2, FP8 1, NVFP4 0.5), by the row's `weights`
TRTLLM_BENCH_WEIGHT_BYTES = {"bf16": 2.0, "fp16": 2.0, "fp8": 1.0, "fp4": 0.5}
# bytes per KV element it counts, by the KV cache's dtype (fp8 when the checkpoint is FP8-
# quantized; an unquantized FP16 engine keeps an fp16 cache: the same BYTES_PER_ELEM table)
TRTLLM_BENCH_KV_BYTES = {"bf16": 2.0, "fp16": 2.0, "fp8": 1.0}

def trtllm_bench_free_bytes(model: str, hardware: str, tp: int, weights: str = "fp8") -> float:
    """Bytes trtllm-bench counts free for the KV cache of a TP group: the GPUs' total memory
    (NVML's, the chip spec's HBM capacity) less the weights at `TRTLLM_BENCH_WEIGHT_BYTES`
    per parameter of the checkpoint's format."""
    from infersim.hwmodels.loader import load_hardware
    from infersim.workloads.hf_config import load_model
    from infersim.workloads.summary import param_counts

    hbm = load_hardware(hardware).chip.level("hbm").capacity_bytes
    return hbm * tp - _bench_bytes(TRTLLM_BENCH_WEIGHT_BYTES, weights, "weights") \
        * param_counts(load_model(model))[0]


def _bench_bytes(table: Mapping[str, float], dtype: str, what: str) -> float:
    """`table`[dtype], or ValueError naming the `what` argument and the dtypes it takes."""
    if dtype not in table:
        raise ValueError(f"trtllm-bench {what} dtype {dtype!r}: use one of {', '.join(table)}")
    return table[dtype]


def trtllm_bench_settings(model: str, hardware: str, tp: int, isl: int, osl: int,
                          kv_fraction: float = TRTLLM_BENCH_KV_FRACTION,
                          weights: str = "fp8", kv: str = "fp8", pp: int = 1
                          ) -> tuple[int, int]:
    """(max_batch, max_num_tokens) that `trtllm-bench throughput` picks for a checkpoint of
    `weights` (fp8: 1 byte per parameter, NVFP4 `fp4`: 0.5) and a `kv` cache (fp8: 1 byte
    per element, fp16: 2) when neither is given: requests whose KV (ISL + OSL tokens) fits
    in `kv_fraction` of the memory the weights leave (NVML's total memory, the chip spec's
    HBM capacity), capped at 4096; the batch rounded up to 32 (under 256 requests, at least 64), 128 (under 1024) or 256; the token budget = that batch x
    (1 + ISL/OSL), capped at 32768 and rounded up to 256 (at least 2048), 512 (from 4096) or
    1024 (from 8192); without chunked prefill raised to ISL + max_batch so that a prompt fits
    one iteration. With `pp` pipeline stages the free memory is that of all tp x pp GPUs and
    the request count (capped at 4096) is divided by pp before the rounding: the limits of
    each of the pp micro-batches in flight (calc_engine_setting / finetune_setting in
    tensorrt_llm/bench/build/tuning.py, get_settings in tensorrt_llm/bench/benchmark/utils/
    general.py, NVIDIA/TensorRT-LLM)."""
    from infersim.workloads.hf_config import load_model

    m = load_model(model)
    kv_token = (2.0 * m.num_layers * max(tp, m.num_kv_heads) * m.head_dim
                * _bench_bytes(TRTLLM_BENCH_KV_BYTES, kv, "kv"))
    free = trtllm_bench_free_bytes(model, hardware, tp * pp, weights)
    requests = kv_fraction * free / (kv_token * (isl + osl))
    raw_bs = min(requests, 4096.0) / pp
    raw_tokens = min(raw_bs * (1.0 + isl / osl), 32768.0)
    bs = _round_up_tiered(raw_bs, ((256, 32), (1024, 128), (math.inf, 256)), 64)
    tokens = _round_up_tiered(raw_tokens, ((4096, 256), (8192, 512), (math.inf, 1024)), 2048)
    return bs, max(tokens, isl + bs)


def row_bench_settings(r: Mapping[str, str]) -> tuple[int, int]:
    """`trtllm_bench_settings` of a perf-overview row as the replica's scheduler sees them:
    trtllm-bench sizes them for its `--tp` GPUs (tp x dp of the row); with attention data
    parallelism (`dp` > 1) each of the dp ranks runs its own scheduler with those limits, so
    the replica's are dp times them."""
    dp = int(r.get("dp") or 1)
    bs, tok = trtllm_bench_settings(r["model"], r["hardware"], int(r["tp"]) * dp,
                                    int(r["isl"]), int(r["osl"]), weights=r["weights"],
                                    kv=r["kv"] or "fp8", pp=int(r.get("pp") or 1))
    return bs * dp, tok * dp


def _round_up_tiered(x: float, tiers: tuple[tuple[float, int], ...], floor: int) -> int:
    """`x` rounded up to a multiple of the step of the first (bound, step) tier whose bound
    exceeds it, and at least `floor`."""
    step = next(st for bound, st in tiers if x < bound)
    return max(floor, step * math.ceil(x / step))


def simulate_row(r: Mapping[str, str], profile: RuntimeProfile | None = None,
                 tail: tuple[int, int] | None = None, engine: str = ENGINE,
                 overrides: Mapping[str, Any] | None = None,
                 knobs: Mapping[str, Mapping[str, float]] | None = None,
                 event_log: bool = False) -> ServingResult:
    """The `serve` run of one graded row (see the module docstring); `profile` replaces the
    row's runtime profile (fitting); `tail` = (k, tokens) sets the k longest outputs of a
    ShareGPT sample to `tokens` (`with_output_tail`); `engine` as `serve`'s; `overrides`
    changes the row's hardware spec as `serve --set` does (a what-if, `--set`); `knobs`
    (runtime name -> {knob: value}) changes the constants of the rows of that runtime as
    `serve --runtime-set` does (a what-if, `--runtime-set`); `event_log` keeps the run's
    event log (`ServingResult.events`, on the reference engine), which `diagnose` reads."""
    import tempfile

    from infersim.api import load_hardware, serve
    from infersim.hwmodels.models.gpu.engines import lookup
    from infersim.simulator import (
        ClosedLoop,
        Deployment,
        FixedLengths,
        Poisson,
        ServingPolicy,
        TraceReplay,
        Traffic,
    )

    n = int(r["requests"])
    if r["arrival"] not in ("infinite", "poisson", "closed"):  # rows() rejects the rest
        raise ValueError(f"{DATA.name} row {r['id']}: arrival {r['arrival']!r}")
    lengths: LengthSamples | FixedLengths
    if r["lengths"] == "sharegpt":
        lengths = sharegpt_lengths(n, int(r["isl"]), int(r["osl"]))
        if tail is not None:
            lengths = with_output_tail(lengths, *tail)
    elif r["lengths"] == "sglang-random":
        lengths = sglang_random_lengths(n, int(r["isl"]), int(r["osl"]))
    else:
        lengths = FixedLengths(int(r["isl"]), int(r["osl"]))
    policy = ServingPolicy(max_batch=int(r["max_batch"]), max_tokens=int(r["max_tokens"]))
    hw = load_hardware(r["hardware"], dict(overrides) if overrides else None)
    if profile is None and knobs and r["runtime"] in knobs:
        from infersim.hwmodels.runtime_knobs import tune_runtime

        profile = tune_runtime(hw, r["runtime"], knobs[r["runtime"]],
                               flag=f"--runtime-set {r['runtime']}:")
    runtime: str | RuntimeProfile = r["runtime"] if profile is None else profile
    prof = lookup(r["runtime"]) if profile is None else profile
    if r["scheduler_steps"]:
        if prof is None:  # the test of the data set checks every graded row's runtime
            raise ValueError(f"{DATA.name} row {r['id']}: unknown runtime {r['runtime']!r}")
        runtime = prof.with_values(scheduler_steps=float(r["scheduler_steps"]))
        if engine == "compiled" and float(r["scheduler_steps"]) > 1:
            engine = "simpy"  # multi-step passes run on the reference engine only
    if engine == "compiled" and int(r.get("pp") or 1) > 1:
        engine = "simpy"  # pipeline stages: the reference engine only
    if event_log:
        engine = "simpy"  # the compiled engine keeps no event log
    dep = Deployment(tp=int(r["tp"]), pp=int(r.get("pp") or 1), ep=int(r.get("ep") or 1),
                     dp=int(r.get("dp") or 1),
                     replicas=int(r["replicas"]), runtime=runtime,
                     weights=r["weights"], activations=r["activations"] or None,
                     kv=r["kv"] or None, lm_head=r["lm_head"] or None)
    if r["arrival"] == "poisson":
        traffic = Traffic(Poisson(float(r["arrival_value"])), lengths, n)
        return serve(r["model"], hw, traffic, policy, deployment=dep, engine=engine,
                     event_log=event_log)
    if r["arrival"] == "closed":  # the reference engine: the compiled one runs open loops
        traffic = Traffic(ClosedLoop(users=int(r["arrival_value"])), lengths, n)
        return serve(r["model"], hw, traffic, policy, deployment=dep, engine="simpy",
                     event_log=event_log)
    # infinite rate: all n requests arrive at t = 0 (a replayed trace of n zero arrival
    # times; the lengths above replace the trace's). The same run as a closed loop of one
    # user per request, which the compiled engine does not cover.
    with tempfile.TemporaryDirectory() as tmp:
        trace = Path(tmp) / "arrivals.csv"
        trace.write_text("arrival_s,prompt_tokens,output_tokens\n" + "0,1,1\n" * n)
        traffic = Traffic(TraceReplay(str(trace)), lengths, n)
        return serve(r["model"], hw, traffic, policy, deployment=dep, engine=engine,
                     event_log=event_log)


def predict(r: Mapping[str, str], engine: str = ENGINE,
            overrides: Mapping[str, Any] | None = None,
            knobs: Mapping[str, Mapping[str, float]] | None = None) -> tuple[float, str]:
    """(predicted value of the row's metric, note); NaN with the reason when not graded;
    `overrides` and `knobs` as `simulate_row`'s."""
    return predict_run([r], engine, overrides, knobs)[0]


# row fields that do not change the simulated run (the metric read from it and its record)
_NOT_RUN = frozenset({"id", "metric", "measured", "unit", "use", "confidence", "source",
                      "notes"})


def run_key(r: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    """The fields of row `r` that set its simulated run: rows with equal keys (the mean TTFT
    and mean ITL of one published run) are graded from one simulation."""
    return tuple(sorted((k, v) for k, v in r.items() if k not in _NOT_RUN))


def predict_run(rs: Sequence[Mapping[str, str]], engine: str = ENGINE,
                overrides: Mapping[str, Any] | None = None,
                knobs: Mapping[str, Mapping[str, float]] | None = None
                ) -> list[tuple[float, str]]:
    """`predict` of rows of one run (equal `run_key`), simulated once and read per metric."""
    graded = [r for r in rs if r["use"] == "pass_fail"]
    res = (simulate_row(graded[0], engine=engine, overrides=overrides, knobs=knobs)
           if graded else None)
    out: list[tuple[float, str]] = []
    for r in rs:
        if res is None or r["use"] != "pass_fail":
            out.append((math.nan, ""))
        elif not res.feasible:
            out.append((math.nan, f"infeasible: {res.infeasible}"))
        elif r["arrival"] == "closed":
            out.append((steady_state(res, r["metric"], int(r["arrival_value"])),
                        "; ".join(res.warnings())))
        else:
            out.append((float(METRICS[r["metric"]](res)), "; ".join(res.warnings())))
    return out


WARMUP_WAVES = 4  # closed-loop rows: the first 4 x users requests (by arrival) are warm-up


def steady_state(res: ServingResult, metric: str, users: int) -> float:
    """`metric` of a closed-loop run in steady state, as a concurrency benchmark measures it
    after its warm-up (genai-perf / AIPerf): the requests after the first `WARMUP_WAVES` x
    `users` by arrival (rejected ones skipped). All users start at t = 0, so the first waves queue their prompts
    behind each other, which a measurement window after warm-up does not see. Throughput by
    Little's law with no think time: users x mean output tokens / mean request latency."""
    pr = res.per_request
    order = np.argsort(pr["arrival_s"], kind="stable")[WARMUP_WAVES * users:]
    order = order[~pr["rejected"][order].astype(bool)]  # a rejected request has no tokens
    if len(order) == 0:
        raise ValueError(f"closed loop of {users} users: no request after the warm-up")
    arrival, first = pr["arrival_s"][order], pr["first_token_s"][order]
    finish, out = pr["finish_s"][order], pr["output_tokens"][order]
    ttft = first - arrival
    tpot = (finish - first) / np.maximum(out - 1, 1)
    e2e = finish - arrival
    values = {"ttft_s": np.mean(ttft), "ttft_p50_s": np.median(ttft), "tpot_s": np.mean(tpot),
              "tpot_p50_s": np.median(tpot),
              "throughput_tok_s": users * np.mean(out) / np.mean(e2e),
              "throughput_req_s": users / np.mean(e2e)}
    if metric not in values:
        raise ValueError(f"metric {metric!r} is not read from a closed-loop run; use one of "
                         f"{', '.join(values)}")
    return float(values[metric])


# row -> (runtime profile, knob) fitted on it; the value is written in engines.py with the
# row's name. Fixed-length decode-heavy rows (lengths stated, not sampled), a median ITL at a
# Poisson load (a decode step at the running batch: the mean lengths matter, not the tail), a
# median TTFT at a low Poisson load (the wait for one step and one prompt's eager prefill) and
# mean TTFTs at the lowest Poisson load of fixed lengths with 16 outputs (under one request
# running on average: the front-end's latency and one prompt's prefill), and mean ITLs at the
# lowest Poisson load (decode iterations of a few requests: the C++ executor's own time per
# iteration, `_TRTLLM_CPP_STEP_S`, on one GPU, then its broadcast round over the TP ranks,
# `_TRTLLM_CPP_BCAST_S`, on TP4, the ITLs fitted first as the TTFTs hold one iteration each;
# `fitted_groups` keeps this order and each fit reads the committed values of the others).
# Several rows of one (runtime, knob) fit it together (`fit_knob_rows`): the v0.14 times are
# whole milliseconds, so one row alone reads a constant to ±0.5 ms.
FITTED: dict[str, tuple[str, str]] = {
    "oci-mi300x-405b-fp8-latency-b64": ("vllm-v0", "step_overhead_per_seq_s"),
    "amd-mi300x-70b-fp8-128-2048": ("vllm-v1", "step_overhead_per_seq_s"),
    "vllm060-8b-h100-decode-heavy": ("vllm-v0-api", "output_token_s"),
    "trtllm2407-8b-h100-decode-heavy": ("trtllm-triton-v011", "stream_chunk_s"),
    "sglang030-8b-a100-itl-rps8": ("sglang-v03-api", "step_overhead_per_seq_s"),
    "sglang030-70b-4xh100-ttft-rps4": ("sglang-v03-api", "host_node_s"),
    **{f"trtllm014-{cell}-{data}-qps2-itl": ("trtllm-triton", "step_overhead_s")
       for cell in ("8b-h100", "8b-h200") for data in ("sonnet256", "sonnet16")},
    **{f"trtllm014-{cell}-{data}-qps2-itl": ("trtllm-triton", "step_bcast_round_s")
       for cell in ("70b-h100tp4", "70b-h200tp4") for data in ("sonnet256", "sonnet16")},
    "trtllm014-8b-h100-sonnet16-qps2-ttft": ("trtllm-triton", "request_latency_s"),
    "trtllm014-8b-h200-sonnet16-qps2-ttft": ("trtllm-triton", "request_latency_s"),
    "trtllm014-70b-h100tp4-sonnet16-qps2-ttft": ("trtllm-triton", "request_latency_s"),
    "trtllm014-70b-h200tp4-sonnet16-qps2-ttft": ("trtllm-triton", "request_latency_s"),
    **{f"trtllm-70b-rtxpro6000pp8-{shape}": ("trtllm-pytorch", "held_request_s")
       for shape in ("128-128", "128-2048")},
}
# the bisection's bracket per knob (seconds): CPU costs per chunk, token or kernel within the
# default; a request's front-end latency is milliseconds
FIT_BRACKET: dict[str, tuple[float, float]] = {"request_latency_s": (1e-5, 0.1),
                                               "step_overhead_s": (1e-5, 1e-2),
                                               "step_bcast_round_s": (1e-5, 1e-2),
                                               # a share of output_token_s (29.4 us)
                                               "held_request_s": (1e-7, 29e-6)}


def fitted_groups() -> dict[tuple[str, str], list[str]]:
    """(runtime, knob) -> the FITTED rows that fit it together, in FITTED's order."""
    out: dict[tuple[str, str], list[str]] = {}
    for rid, key in FITTED.items():
        out.setdefault(key, []).append(rid)
    return out


# Rows that fit a hardware constant instead (a spec field, `validation/fitting/b200_fp4.py`,
# `validation/fitting/mi300x_fp8.py`): B200 NVFP4 tile-loop efficiency on a prefill-heavy row,
# its decode attention's KV bytes per SM per clock on a decode-heavy one; the B200's other 18
# rows are held out.
SPEC_FITTED: dict[str, tuple[str, str]] = {
    "trtllm-70b-b200-2048-128": ("b200", "gpu.mma_efficiency_fp4"),
    "trtllm-70b-b200-128-4096": ("b200", "gpu.decode_attention_sm_bytes_per_cycle"),
    # the MI300X's fp8 tile-loop share, fitted with vLLM's host costs per sequence above
    # (`validation/fitting/mi300x_fp8.py`); the MI300X's other 16 rows are held out
    "amd-mi300x-405b-fp8-128-2048": ("mi300x", "gpu.mma_efficiency_fp8"),
}


def group(r: Mapping[str, str]) -> str:
    """`<metric> (held-out | calibration)`, `<metric> MoE (...)` for a mixture-of-experts
    model's rows (reported on their own as well as with the rest), or `excluded`."""
    if r["use"] != "pass_fail":
        return "excluded"
    fitted = r["id"] in FITTED or r["id"] in SPEC_FITTED
    family = " MoE" if is_moe(r["model"]) else ""
    return f"{r['metric']}{family} ({'calibration' if fitted else 'held-out'})"


@functools.cache
def is_moe(model: str) -> bool:
    """Whether the library model `model` routes tokens to experts."""
    from infersim.workloads.hf_config import load_model

    return load_model(model).moe is not None


def fit_knob(r: Mapping[str, str], knob: str, lo: float = 1e-6, hi: float = 1e-3,
             rtol: float = 1e-3) -> float:
    """The value of `knob` on the row's profile at which the row's prediction equals its
    measured value (bisection in log space; the prediction is monotone in a CPU cost).
    Raises ValueError when the bracket [lo, hi] does not contain it."""
    return fit_knob_rows([r], knob, lo, hi, rtol)


def fit_gap(rs: Sequence[Mapping[str, str]], knob: str, v: float) -> float:
    """The mean over the rows `rs` (one runtime) of log(how much slower each was measured than
    predicted) with `knob` at `v`: > 0 where the predictions are too fast on the whole."""
    from infersim.hwmodels.models.gpu.engines import lookup

    prof = lookup(rs[0]["runtime"])
    if prof is None:
        raise ValueError(f"row {rs[0]['id']}: unknown runtime {rs[0]['runtime']!r}")
    total = 0.0
    for r in rs:
        pred = float(METRICS[r["metric"]](simulate_row(r, prof.with_values(**{knob: v}))))
        ratio = float(r["measured"]) / pred
        total += math.log(ratio if r["metric"] in LATENCY_METRICS else 1.0 / ratio)
    return total / len(rs)


def fit_knob_rows(rs: Sequence[Mapping[str, str]], knob: str, lo: float = 1e-6,
                  hi: float = 1e-3, rtol: float = 1e-3) -> float:
    """The value of `knob` on the rows' runtime profile at which their predictions are, in the
    geometric mean, their measured values (`fit_gap` = 0; bisection in log space, the
    predictions being monotone in a CPU cost); one row: its prediction equals its measured
    value; the root to 1% (its 0.99x and 1.01x straddle it, see below). Raises ValueError
    when the bracket [lo, hi] does not contain it."""
    if len({r["runtime"] for r in rs}) != 1:
        raise ValueError(f"rows {', '.join(r['id'] for r in rs)}: one runtime per fit")

    def gap(v: float) -> float:
        return fit_gap(rs, knob, v)  # > 0: too fast, raise v

    g_lo, g_hi = gap(lo), gap(hi)
    if g_lo < 0 or g_hi > 0:
        where = ", ".join(f"row {r['id']}" for r in rs)
        raise ValueError(f"{where}: {knob} outside [{lo:g}, {hi:g}] s")
    while hi / lo > 1 + rtol:
        mid = math.sqrt(lo * hi)
        if gap(mid) > 0:
            lo = mid
        else:
            hi = mid
    v = math.sqrt(lo * hi)
    # A single row's median TTFT is a step function of a CPU cost (which step each prompt
    # lands in flips), so the bisection can stop on a local sign change inside the noise. The
    # fit is the root to 1%: a value whose 0.99x and 1.01x land on either side of it; when
    # the bisection's does not, the nearest such value in 0.5% steps (up to 10% away).
    if not gap(0.99 * v) > 0.0 > gap(1.01 * v):
        for k in range(1, 21):
            for sign in (1.0, -1.0):
                w = v * (1.0 + sign * 0.005 * k)
                if gap(0.99 * w) > 0.0 > gap(1.01 * w):
                    return w
    return v


def lean(df: pd.DataFrame) -> dict[str, float]:
    """Error and lean of the graded rows of `df` (columns group, predicted, measured; the
    groups of `group`; NaN predictions and `excluded` rows skipped): n, median and p90 APE,
    the median signed error (predicted − measured) / measured with its sign flipped on
    latency rows (`LATENCY_METRICS`), so that positive = predicted faster than measured, and
    the share of rows predicted faster."""
    graded = df[(df["group"] != "excluded") & np.isfinite(df["predicted"].to_numpy(float))]
    pred = graded["predicted"].to_numpy(float)
    meas = graded["measured"].to_numpy(float)
    latency = np.array([g.split(" ")[0] in LATENCY_METRICS for g in graded["group"]], bool)
    signed = np.where(latency, -1.0, 1.0) * (pred - meas) / meas
    if len(signed) == 0:
        return {"n": 0.0, "median_ape": math.nan, "p90_ape": math.nan,
                "median_faster": math.nan, "share_faster": math.nan}
    ape_ = np.abs(pred - meas) / meas
    return {"n": float(len(signed)), "median_ape": float(np.median(ape_)),
            "p90_ape": float(np.percentile(ape_, 90)), "median_faster": float(np.median(signed)),
            "share_faster": float(np.mean(signed > 0))}


def held_out(df: pd.DataFrame) -> pd.DataFrame:
    """The rows of `df` not fitted on (groups without "calibration"; `lean` skips excluded)."""
    return df[~df["group"].str.contains("calibration")]


def lean_line(df: pd.DataFrame) -> str:
    """`lean` of every graded row and of the held-out ones, as one printable line each."""
    out = []
    for label, part in (("graded", df), ("held out", held_out(df))):
        s = lean(part)
        out.append(f"{label}: n={s['n']:.0f}, median APE {s['median_ape']:.1%}, p90 "
                   f"{s['p90_ape']:.1%}, median signed {s['median_faster']:+.1%} (positive = "
                   f"predicted faster), predicted faster on {s['share_faster']:.0%}")
    return "\n".join(out)


# published_e2e's production-engine groups (TensorRT-LLM per-user speeds and max-throughput
# tables), graded with this data set's rows in `production_rows`
PRODUCTION_E2E_GROUPS = ("per-user gpu trtllm (held-out)", "throughput (held-out)")
E2E_STACK = "TensorRT-LLM (published_e2e tables)"  # `stack_of` label of those groups


def stack_of(data: pd.DataFrame, stacks: Mapping[str, str] | None = None) -> list[str]:
    """The software stack of each production row of `data` (`production_rows`): this data
    set's rows by the `engine` column of their CSV row (`stacks`: case id -> stack, default
    the CSV's), published_e2e's rows `E2E_STACK`."""
    if stacks is None:
        stacks = {r["id"]: r["engine"] for r in rows()}
    return [stacks.get(c, c) if ds == NAME else E2E_STACK
            for ds, c in zip(data["dataset"], data["case"], strict=True)]


def lean_by_stack(data: pd.DataFrame, stacks: Mapping[str, str] | None = None) -> list[str]:
    """One line per software stack of the HELD-OUT production rows of `data`: `lean` of that
    stack's rows (n, median APE, median signed error, positive = predicted faster, and how
    many rows are predicted faster), largest stacks first. A lean hidden in the pooled
    figures (one engine always too fast, another too slow) shows here."""
    held = held_out(data)
    if held.empty:
        return []
    held = held.assign(stack=stack_of(held, stacks))
    out = []
    for stack, part in sorted(held.groupby("stack"), key=lambda kv: (-len(kv[1]), kv[0])):
        s = lean(part)
        if s["n"] == 0:
            continue
        faster = round(s["share_faster"] * s["n"])
        out.append(f"{stack}: n={s['n']:.0f}, median APE {s['median_ape']:.1%}, median signed "
                   f"{s['median_faster']:+.1%}, predicted faster on {faster}/{s['n']:.0f}")
    return out


def chip_of(data: pd.DataFrame, hardware: Mapping[str, str] | None = None) -> list[str]:
    """The chip each production row of `data` (`production_rows`) runs on: the chip spec of
    its hardware (a system such as `dgx-h100` or `mi300x-8` names its chip: `h100-sxm`,
    `mi300x`). `hardware`: case id -> hardware spec name, default this data set's CSV and
    published_e2e's two tables."""
    from infersim.api import load_hardware

    if hardware is None:
        from infersim.validation.datasets import published_e2e

        hardware = {r["id"]: r["hardware"] for r in rows()}
        for table in ("per_user.csv", "throughput.csv"):
            hardware.update({r["id"]: r["hardware"]
                             for r in published_e2e.read_rows(table) if r["hardware"]})
    chips: dict[str, str] = {}
    out = []
    for c in data["case"]:
        hw = hardware.get(c, "")
        if hw and hw not in chips:
            chips[hw] = load_hardware(hw).chip.name
        out.append(chips.get(hw, "unknown"))
    return out


def lean_by_chip(data: pd.DataFrame, hardware: Mapping[str, str] | None = None) -> list[str]:
    """One line per chip of the HELD-OUT production rows of `data` (`chip_of`): `lean_split`'s
    n, median / p90 APE, median signed error (positive = predicted faster) and share
    predicted faster, largest first. A lean one hardware family carries (a spec's assumed
    efficiency) shows here even when the pooled rows sit near zero."""
    held = _graded_held_out(data)
    if held.empty:
        return []
    held = held.assign(chip=chip_of(held, hardware))
    parts = sorted(held.groupby("chip"), key=lambda kv: (-len(kv[1]), kv[0]))
    return lean_split([(str(chip), part) for chip, part in parts])


def _graded_held_out(data: pd.DataFrame) -> pd.DataFrame:
    """The held-out, not excluded rows of `data` (what the split lean lines grade)."""
    held = held_out(data)
    return held[held["group"] != "excluded"]


def lean_split(parts: Sequence[tuple[str, pd.DataFrame]]) -> list[str]:
    """One line per (label, rows) part with `lean`'s n, median / p90 APE, median signed
    error (positive = predicted faster) and share predicted faster; empty parts skipped."""
    out = []
    for label, part in parts:
        s = lean(part)
        if s["n"] == 0:
            continue
        out.append(f"{label}: n={s['n']:.0f}, median APE {s['median_ape']:.1%}, p90 "
                   f"{s['p90_ape']:.1%}, median signed {s['median_faster']:+.1%}, predicted "
                   f"faster on {s['share_faster']:.0%}")
    return out


def lean_by_family(data: pd.DataFrame) -> list[str]:
    """One line per model family of the HELD-OUT production rows of `data`: dense models and
    mixture-of-experts models (this data set's `<metric> MoE` groups), each with `lean`'s n,
    median / p90 APE and median signed error (positive = predicted faster)."""
    held = _graded_held_out(data)
    moe = held["group"].str.contains(" MoE ").to_numpy()
    return lean_split((("dense models", held[~moe]), ("mixture-of-experts models", held[moe])))


DP_LAYOUT = "attention data parallel (dp > 1: one attention group per GPU, experts across them)"
ONE_GROUP_LAYOUT = "one tensor/pipeline-parallel group per replica (dp 1)"


def layout_of(data: pd.DataFrame, dps: Mapping[str, int] | None = None) -> list[str]:
    """The parallel layout of each production row of `data` (`production_rows`):
    `DP_LAYOUT` for this data set's rows whose CSV row runs dp > 1 attention groups
    (`dps`: case id -> dp, default the CSV's), `ONE_GROUP_LAYOUT` for the rest
    (published_e2e's TensorRT-LLM tables run one group)."""
    if dps is None:
        dps = {r["id"]: int(r.get("dp") or 1) for r in rows()}
    return [DP_LAYOUT if ds == NAME and dps.get(c, 1) > 1 else ONE_GROUP_LAYOUT
            for ds, c in zip(data["dataset"], data["case"], strict=True)]


def lean_by_layout(data: pd.DataFrame, dps: Mapping[str, int] | None = None) -> list[str]:
    """One line per parallel layout (`layout_of`) of the HELD-OUT production rows of `data`,
    with `lean`'s n, median / p90 APE, median signed error (positive = predicted faster)
    and share predicted faster: a lean of one deployment mechanism (attention data
    parallelism with expert parallelism) that the pooled and per-family figures blur."""
    held = _graded_held_out(data)
    if held.empty:
        return []
    layout = np.array(layout_of(held, dps))
    return lean_split(tuple((label, held[layout == label])
                            for label in (ONE_GROUP_LAYOUT, DP_LAYOUT)))


def production_rows(data: pd.DataFrame) -> pd.DataFrame:
    """The rows of a validation frame (all data sets) that are production-engine runs: this
    data set's and published_e2e's `PRODUCTION_E2E_GROUPS`; what `infersim validate` grades
    with `lean_line`."""
    keep = (data["dataset"] == NAME) | ((data["dataset"] == "published_e2e")
                                        & data["group"].isin(PRODUCTION_E2E_GROUPS))
    return data[keep]


PARALLEL_FROM = 16  # rows: fewer are graded in this process (starting workers costs seconds)
# row fields that do not select a run's cost table (its traffic, and the batch caps, which
# select one only through the CUDA-graph sizes): runs equal in every other field share one
# (`costs.shared_iteration_cost`), so they go to one worker together
_TRAFFIC = frozenset({"isl", "osl", "lengths", "arrival", "arrival_value", "requests",
                      "max_batch", "max_tokens"})


def _predict_runs(groups: Sequence[Sequence[Mapping[str, str]]], engine: str,
                  overrides: Mapping[str, Any] | None,
                  knobs: Mapping[str, Mapping[str, float]] | None
                  ) -> list[list[tuple[float, str]]]:
    """`predict_run` of each run of `groups`, in order (in one process: they share tables;
    each `serve` call runs at a shallow stack, `foundation.fresh_stack`, though a worker forked
    from under pytest starts deep)."""
    return [predict_run(g, engine, overrides, knobs) for g in groups]


def _predictions(rs: Sequence[Mapping[str, str]], engine: str,
                 overrides: Mapping[str, Any] | None = None,
                 knobs: Mapping[str, Mapping[str, float]] | None = None
                 ) -> list[tuple[float, str]]:
    """`predict` of every row, one simulation per run (`run_key`), on one worker process per
    core when there are many runs, the runs of one deployment together (each run is
    independent and seeded, and a shared cost table prices as a new one: the same numbers in
    any process or order)."""
    import multiprocessing
    import os
    from concurrent.futures import ProcessPoolExecutor

    runs: dict[tuple[tuple[str, str], ...], list[int]] = {}
    for i, r in enumerate(rs):
        runs.setdefault(run_key(r), []).append(i)
    groups = [[rs[i] for i in idx] for idx in runs.values()]
    deployments: dict[tuple[tuple[str, str], ...], list[int]] = {}
    for j, g in enumerate(groups):
        key = tuple((k, v) for k, v in run_key(g[0]) if k not in _TRAFFIC)
        deployments.setdefault(key, []).append(j)
    # the largest batches first: the workers finish together
    batches = sorted(deployments.values(), key=len, reverse=True)
    workers = min(os.cpu_count() or 1, 4)
    methods = multiprocessing.get_all_start_methods()
    if len(groups) < PARALLEL_FROM or workers < 2 or "fork" not in methods:
        done_b = [_predict_runs([groups[j] for j in b], engine, overrides, knobs)
                  for b in batches]
    else:
        with ProcessPoolExecutor(max_workers=workers,
                                 mp_context=multiprocessing.get_context("fork")) as ex:
            n = len(batches)
            done_b = list(ex.map(_predict_runs, [[groups[j] for j in b] for b in batches],
                                 [engine] * n, [overrides] * n, [knobs] * n, chunksize=1))
    per_run: list[list[tuple[float, str]]] = [[] for _ in groups]
    for b, batch in zip(batches, done_b, strict=True):
        for j, preds in zip(b, batch, strict=True):
            per_run[j] = preds
    out: list[tuple[float, str]] = [(math.nan, "")] * len(rs)
    for idx, preds in zip(runs.values(), per_run, strict=True):
        for i, p in zip(idx, preds, strict=True):
            out[i] = p
    return out


def load(selected: Sequence[Mapping[str, str]] | None = None,
         engine: str = ENGINE, overrides: Mapping[str, Any] | None = None,
         knobs: Mapping[str, Mapping[str, float]] | None = None) -> pd.DataFrame:
    """The data set's frame: every row of the CSV, or only `selected` rows of it;
    `overrides` and `knobs` as `simulate_row`'s."""
    import pandas as pd

    out = []
    rs = list(rows() if selected is None else selected)
    for r, (pred, note) in zip(rs, _predictions(rs, engine, overrides, knobs), strict=True):
        notes = "; ".join(x for x in (
            f"{r['engine']}, {r['model']} on {r['hardware'] or '(no spec)'} tp{r['tp'] or '?'}"
            + (f" pp{r['pp']}" if (r.get("pp") or "1") != "1" else "")
            + (f" dp{r['dp']} ep{r['ep']}" if (r.get("dp") or "1") != "1" else "")
            + f" x{r['replicas'] or '?'}, {r['weights'] or '?'} weights, ISL/OSL "
            f"{r['isl'] or '?'}/{r['osl'] or '?'}, runtime {r['runtime'] or '-'}",
            f"confidence {r['confidence']}", r["notes"], note, r["source"]) if x)
        out.append({"dataset": NAME, "group": group(r), "case": r["id"], "predicted": pred,
                    "measured": float(r["measured"]), "unit": r["unit"], "notes": notes})
    return pd.DataFrame(out)


def main(argv: list[str] | None = None) -> int:
    import argparse

    import pandas as pd

    from infersim.validation.stats import ape, summarize

    ap = argparse.ArgumentParser(prog="python -m infersim.validation.datasets.serving_published")
    ap.add_argument("--fit-frontend", action="store_true",
                    help="refit the online-serving CPU constants on their FITTED rows")
    ap.add_argument("--extract-sharegpt", metavar=("TRACE", "OUTPUTS"), type=Path, nargs="+",
                    help="rebuild sharegpt_lengths.csv from a ShareGPT token-count source "
                         "(CSV with num_prefill_tokens, num_decode_tokens, or a pickle of "
                         "(prompt, output) pairs); a second source gives the output side")
    ap.add_argument("--tail", metavar="K:TOKENS",
                    help="what-if: each ShareGPT row with the K longest outputs of its sample "
                         "set to TOKENS (the drain of an infinite-rate run), beside the row "
                         "as graded")
    ap.add_argument("--set", action="append", metavar="FIELD.PATH=VALUE", dest="set",
                    help="what-if: grade every row as graded and with each row's hardware "
                         "spec changed as `serve --set` does (repeatable), e.g. --set "
                         "chip.gpu.mma_efficiency=0.678; prints the rows that move and the "
                         "lean of both")
    ap.add_argument("--runtime-set", action="append", metavar="RUNTIME:KNOB=VALUE",
                    dest="runtime_set",
                    help="what-if: grade every row as graded and with a constant of one "
                         "runtime's profile changed in the rows of that runtime, as `serve "
                         "--runtime-set` does (repeatable), e.g. --runtime-set "
                         "sglang-api:output_token_s=1e-4; combines with --set")
    ap.add_argument("--diagnose", nargs="+", metavar="ROW_ID",
                    help="take graded rows apart: prediction vs measurement, the run's "
                         "iterations (with prompt tokens, generation-only), the generation-"
                         "only step and the prompt iteration a throughput row's measurement "
                         "implies (each with the rest as simulated), and the top ops of one "
                         "generation-only step")
    ap.add_argument("--engine", choices=("compiled", "simpy"), default=ENGINE,
                    help="serving engine of the graded rows (the same results; simpy is the "
                         "reference and much slower on the long-prompt rows)")
    args = ap.parse_args(argv)
    if args.diagnose:
        by_id = {r["id"]: r for r in rows()}
        unknown = [i for i in args.diagnose if i not in by_id]
        if unknown:
            print(f"error: --diagnose: no row {unknown[0][:80]!r} in {DATA}; give an id of its "
                  "`id` column, e.g. " + next(iter(by_id)), file=sys.stderr)
            return 2
        for i in args.diagnose:
            print("\n".join(diagnose(by_id[i], args.engine)))
        return 0
    if args.tail is not None:
        from infersim.foundation.errors import InputError

        try:
            k, tokens = parse_tail(args.tail)
        except InputError as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
        with pd.option_context("display.width", 200):
            print(tail_sensitivity(k, tokens).to_string(index=False))
        return 0
    if args.set or args.runtime_set:
        from infersim.foundation.errors import InputError
        from infersim.foundation.schema import parse_set

        try:
            overrides = parse_set(args.set)
            if overrides:
                check_overrides(overrides)
            knobs = parse_knobs(args.runtime_set)
        except InputError as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
        moved, lean_lines = what_if(overrides, args.engine, knobs=knobs)
        with pd.option_context("display.width", 200):
            print(moved.to_string(index=False) if len(moved) else "(no row moved)")
        print("\n".join(lean_lines))
        return 0
    if args.extract_sharegpt is not None:
        from infersim.foundation.errors import InputError

        srcs = args.extract_sharegpt
        if len(srcs) > 2:
            print("error: --extract-sharegpt takes TRACE [OUTPUTS]: the prompt-side source and "
                  "optionally the output-side one", file=sys.stderr)
            return 2
        try:
            n, kept = extract_sharegpt(srcs[0], outputs=srcs[1] if len(srcs) == 2 else None)
        except InputError as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
        except OSError as e:
            print(f"error: {e.filename}: {e.strerror}; give the path of a ShareGPT token-count "
                  "source (a CSV with columns num_prefill_tokens, num_decode_tokens, or a "
                  "pickle of (prompt, output) pairs)", file=sys.stderr)
            return 2
        print(f"{SHAREGPT}: prompts from {kept:,} of {n:,} pairs of {srcs[0]} that pass "
              "benchmark_serving's filter" + (f", outputs from {srcs[1]}" if len(srcs) == 2
                                             else ""))
        return 0
    if args.fit_frontend:
        by_id = {r["id"]: r for r in rows()}
        for (runtime, knob), ids in fitted_groups().items():
            rs = [{**by_id[rid], "runtime": runtime} for rid in ids]
            v = fit_knob_rows(rs, knob, *FIT_BRACKET.get(knob, (1e-6, 1e-3)))
            print(f"{runtime} {knob} = {v * 1e6:.1f} us  (fitted on {', '.join(ids)})")
        return 0
    df = load(engine=args.engine)
    df = df.assign(ape=ape(df["predicted"], df["measured"]),
                   signed=(df["predicted"] - df["measured"]) / df["measured"])
    with pd.option_context("display.width", 200, "display.max_colwidth", 60):
        print(summarize(df).to_string(index=False))
        print(lean_line(df))
        print("\n".join(lean_by_family(df)))
        print("\n".join(lean_by_layout(df)))
        print("\n".join(lean_by_chip(df)))
        print(df[["group", "case", "predicted", "measured", "unit", "signed"]]
              .to_string(index=False))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
