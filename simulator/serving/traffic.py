"""Traffic: arrival processes and request-length distributions, and CSV trace replay.

Typed arrival processes (no string switches):
- `Poisson(rate_rps)`: exponential inter-arrival times, mean 1/rate.
- `Gamma(rate_rps, cv)`: gamma inter-arrival times with mean 1/rate and coefficient of variation
  `cv` (shape k = 1/cv², scale = 1/(rate·k)); cv > 1 is bursty, cv = 1 is Poisson.
- `TraceReplay(path)`: arrival times and lengths from a CSV with columns
  `arrival_s,prompt_tokens,output_tokens` (header required; extra columns are ignored).
- `ClosedLoop(users, think_s)`: N users, each sending its next request `think_s` after the
  previous one finishes (arrival times are decided during the simulation).

Lengths: `FixedLengths(prompt, output)`, `LengthSamples` (an empirical distribution sampled
uniformly with replacement, e.g. loaded from a CSV with `LengthSamples.from_csv`; with
`replace=False` each pair is used once, in a random order, as a benchmark replays a fixed
sample), or
`SampledLengths(prompt, output)` with one distribution per side: `Uniform(low, high)`,
`Lognormal(median, sigma, low, high)` (`Lognormal.from_mean`, or `Lognormal.fit` to a dataset's
mean/p50/p90/max) or `Zipf(exponent, low, high)`. Every sample is an integer in [low, high].
All randomness comes from the `numpy.random.Generator` passed in (seeded by the caller).
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from infersim.foundation.errors import InputError

CSV_COLUMNS = ("arrival_s", "prompt_tokens", "output_tokens")

# Size limits of one simulation (measured on the 2-core CI machine: 10^6 requests took 12 s and
# 0.34 GB; 10^5 closed-loop users 2 s and 0.15 GB; both grow linearly). Tail percentiles settle
# long before 10^7 requests; beyond that a run would take hours or exhaust memory.
MAX_REQUESTS = 10_000_000
MAX_USERS = 1_000_000
# Plausible traffic: 1 request per ~12 days to 10^9 per second (beyond, simulated times lose
# float precision or one run spans nothing); gamma CV from near-periodic to extremely bursty
# (shape 1/cv² must stay a finite positive float); think time up to ~12 days.
RATE_RANGE = (1e-6, 1e9)
CV_RANGE = (1e-3, 1e3)
MAX_THINK_S = 1e6


@dataclass(frozen=True)
class Poisson:
    rate_rps: float  # mean requests per second


@dataclass(frozen=True)
class Gamma:
    rate_rps: float  # mean requests per second
    cv: float = 2.0  # coefficient of variation of inter-arrival times (1 = Poisson)


@dataclass(frozen=True)
class TraceReplay:
    path: str  # CSV with columns arrival_s,prompt_tokens,output_tokens


@dataclass(frozen=True)
class ClosedLoop:
    users: int  # concurrent users, each with at most one request in flight
    think_s: float = 0.0  # pause between a response and the user's next request


Arrival = Poisson | Gamma | TraceReplay | ClosedLoop


@dataclass(frozen=True)
class FixedLengths:
    prompt_tokens: int
    output_tokens: int


@dataclass(frozen=True)
class LengthSamples:
    """Empirical (prompt, output) pairs; each request draws one pair uniformly at random
    (`replace=False`: each pair at most once, in a random order; needs requests ≤ pairs)."""

    prompt_tokens: tuple[int, ...]
    output_tokens: tuple[int, ...]
    replace: bool = True

    @classmethod
    def from_csv(cls, path: str | Path) -> LengthSamples:
        rows = read_trace_csv(path, need_arrivals=False)
        return cls(tuple(int(x) for x in rows.prompt_tokens),
                   tuple(int(x) for x in rows.output_tokens))


# z such that Φ(z) = 0.9 for the standard normal (p90 of a lognormal = median · e^{zσ})
Z90 = 1.2815515655446004


@dataclass(frozen=True)
class Uniform:
    """Integer lengths uniform on [low, high] (inclusive)."""

    low: int
    high: int


@dataclass(frozen=True)
class Lognormal:
    """ln(length) ~ Normal(ln median, sigma²), rounded to an integer and clipped to [low, high]
    (high None = no upper clip). Unclipped mean = median · e^{σ²/2}."""

    median: float
    sigma: float
    low: int = 1
    high: int | None = None

    @classmethod
    def from_mean(cls, mean: float, sigma: float, low: int = 1,
                  high: int | None = None) -> Lognormal:
        """The lognormal whose unclipped mean is `mean`."""
        _positive_float("mean", mean)
        return cls(mean * math.exp(-0.5 * sigma * sigma), sigma, low, high)

    @classmethod
    def fit(cls, mean: float, p50: float, p90: float, maximum: int) -> Lognormal:
        """Fit to a dataset's summary statistics: least squares in log space over the three
        conditions ln mean = μ + σ²/2, ln p50 = μ, ln p90 = μ + z₉₀σ (each exact for a
        lognormal), clipped to [1, maximum]. For fixed σ the best μ is the mean of the three
        implied values; σ is found by golden-section search on [0, 5]."""
        for name, v in (("mean", mean), ("p50", p50), ("p90", p90)):
            _positive_float(name, v)
        _positive_int("max", maximum)
        if not p50 <= p90 <= maximum:
            raise InputError(f"length statistics need p50 ≤ p90 ≤ max, got p50={p50}, "
                             f"p90={p90}, max={maximum}")
        if mean > maximum:
            raise InputError(f"length statistics need mean ≤ max, got mean={mean}, "
                             f"max={maximum}")
        lm, l50, l90 = math.log(mean), math.log(p50), math.log(p90)

        def err(sig: float) -> tuple[float, float]:
            a, b, c = lm - 0.5 * sig * sig, l50, l90 - Z90 * sig
            mu = (a + b + c) / 3.0
            return (a - mu) ** 2 + (b - mu) ** 2 + (c - mu) ** 2, mu

        lo, hi = 0.0, 5.0
        g = (math.sqrt(5.0) - 1.0) / 2.0
        for _ in range(200):
            x1, x2 = hi - g * (hi - lo), lo + g * (hi - lo)
            if err(x1)[0] <= err(x2)[0]:
                hi = x2
            else:
                lo = x1
        sig = 0.5 * (lo + hi)
        return cls(math.exp(err(sig)[1]), sig, 1, int(maximum))


@dataclass(frozen=True)
class Zipf:
    """P(length = k) ∝ k^(−exponent) for integers k in [low, high] (a bounded Zipf law: many
    short requests, a heavy tail of long ones)."""

    exponent: float
    low: int
    high: int


Distribution = Uniform | Lognormal | Zipf


@dataclass(frozen=True)
class SampledLengths:
    """Prompt and output lengths drawn independently from one distribution each."""

    prompt: Distribution
    output: Distribution

    def __post_init__(self) -> None:
        _check_distribution("prompt", self.prompt)
        _check_distribution("output", self.output)


Lengths = FixedLengths | LengthSamples | SampledLengths


@dataclass(frozen=True)
class Prefixes:
    """Which prompts share token prefixes (what prefix caching can reuse).

    - system_prompts / system_tokens: that many distinct system prompts of `system_tokens`
      tokens each; every conversation starts with one, chosen uniformly at random, prepended
      to its prompts (0 = none).
    - turns: requests per conversation. Request i is turn i mod turns of conversation
      i // turns (consecutive requests; under open-loop arrivals a turn may arrive before the
      previous answer is out, and then finds only what is cached by then). Turn t's prompt is
      the system prompt + every earlier turn's user tokens and output + its own user tokens
      (the sampled prompt length).
    """

    system_prompts: int = 0
    system_tokens: int = 0
    turns: int = 1

    def __post_init__(self) -> None:
        for name in ("system_prompts", "system_tokens"):
            v = getattr(self, name)
            if not isinstance(v, int | np.integer) or isinstance(v, bool) or v < 0:
                raise InputError(f"prefixes.{name} must be an integer ≥ 0, got {v!r}")
        _positive_int("prefixes.turns", self.turns)
        if (self.system_prompts == 0) != (self.system_tokens == 0):
            raise InputError("prefixes: system_prompts and system_tokens go together (both > 0 "
                             "or both 0)")
        if self.system_tokens > MAX_LENGTH:
            raise InputError(f"prefixes.system_tokens = {self.system_tokens:,} is more than "
                             f"{MAX_LENGTH:,}")


@dataclass(frozen=True)
class Traffic:
    """What the users send. `lengths` is required except with `TraceReplay` (the CSV has them);
    with `TraceReplay`, `num_requests` caps the rows replayed (None = all)."""

    arrival: Arrival
    lengths: Lengths | None = None
    num_requests: int | None = 1000
    prefixes: Prefixes | None = None  # shared system prompts and multi-turn conversations

    def __post_init__(self) -> None:
        a = self.arrival
        if isinstance(a, Poisson | Gamma):
            _positive_float("rate_rps", a.rate_rps, *RATE_RANGE)
        if isinstance(a, Gamma):
            _positive_float("cv", a.cv, *CV_RANGE)
        if isinstance(a, ClosedLoop):
            _positive_int("users", a.users)
            if a.users > MAX_USERS:
                raise InputError(f"users = {a.users:,} is more than one simulation runs (at most "
                                 f"{MAX_USERS:,} concurrent users)")
            if (not isinstance(a.think_s, int | float) or not _finite(a.think_s)
                    or not 0 <= a.think_s <= MAX_THINK_S):
                raise InputError(f"think_s must be in [0, {MAX_THINK_S:g}] s, got {a.think_s}")
        if not isinstance(a, TraceReplay) and self.lengths is None:
            raise InputError("traffic needs request lengths (e.g. FixedLengths(1024, 256)) "
                             "unless it replays a CSV trace")
        if self.num_requests is not None:
            _positive_int("num_requests", self.num_requests)
            if self.num_requests > MAX_REQUESTS:
                raise InputError(f"num_requests = {self.num_requests:,} is more than one "
                                 f"simulation runs (at most {MAX_REQUESTS:,}); latency "
                                 "percentiles settle with far fewer requests")
        elif not isinstance(a, TraceReplay):
            raise InputError("num_requests is required for generated traffic")
        if self.prefixes is not None and not isinstance(self.prefixes, Prefixes):
            raise InputError(f"traffic.prefixes: expected a Prefixes, got "
                             f"{type(self.prefixes).__name__}")
        ln = self.lengths
        if isinstance(ln, FixedLengths):
            _positive_int("prompt_tokens", ln.prompt_tokens)
            _positive_int("output_tokens", ln.output_tokens)
        elif isinstance(ln, LengthSamples) and (
                not ln.prompt_tokens or len(ln.prompt_tokens) != len(ln.output_tokens)):
            raise InputError("LengthSamples needs equally many (≥ 1) prompt and output "
                                 "lengths")
        elif (isinstance(ln, LengthSamples) and not ln.replace and self.num_requests is not None
              and self.num_requests > len(ln.prompt_tokens)):
            raise InputError(f"LengthSamples(replace=False) has {len(ln.prompt_tokens):,} "
                             f"pairs for {self.num_requests:,} requests; give at least as many "
                             "pairs as requests or set replace=True")
        elif isinstance(ln, SampledLengths):
            _check_distribution("prompt", ln.prompt)
            _check_distribution("output", ln.output)


@dataclass(frozen=True)
class RequestTable:
    """Requests known before the run: arrival times (NaN under closed loop) and lengths."""

    arrival_s: np.ndarray
    prompt_tokens: np.ndarray
    output_tokens: np.ndarray
    system_id: np.ndarray | None = None  # per request (-1: none); with `Prefixes` only
    conversation: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.prompt_tokens)


def _positive_int(name: str, v: object) -> None:
    if not isinstance(v, int | np.integer) or isinstance(v, bool) or v < 1:
        raise InputError(f"{name} must be a positive integer, got {v!r}")


def _finite(v: float) -> bool:
    try:
        return math.isfinite(float(v))
    except OverflowError:  # an int beyond float range
        return False


def _positive_float(name: str, v: object, lo: float = 0.0, hi: float = math.inf) -> None:
    if (not isinstance(v, int | float) or isinstance(v, bool) or not _finite(v)
            or v <= 0):
        raise InputError(f"{name} must be a positive number, got {str(v)[:40]}")
    if not lo <= v <= hi:
        raise InputError(f"{name} = {v:g} is outside the range this simulator supports "
                         f"[{lo:g}, {hi:g}]")


def _nonneg_float(name: str, v: object) -> None:
    if not isinstance(v, int | float) or isinstance(v, bool) or not math.isfinite(v) or v < 0:
        raise InputError(f"{name} must be a number ≥ 0, got {v!r}")


# Largest length a distribution may produce (tokens); bounds the Zipf table's memory.
MAX_LENGTH = 1 << 24
MAX_ZIPF_SPAN = 1 << 20


def _check_distribution(side: str, d: object) -> None:
    if not isinstance(d, Uniform | Lognormal | Zipf):
        raise InputError(f"{side} lengths: expected Uniform, Lognormal or Zipf, got "
                         f"{type(d).__name__}")
    _positive_int(f"{side}.low", d.low)
    if d.high is not None:
        _positive_int(f"{side}.high", d.high)
        if d.high < d.low:
            raise InputError(f"{side} lengths: high ({d.high}) must be ≥ low ({d.low})")
        if d.high > MAX_LENGTH:
            raise InputError(f"{side} lengths: high = {d.high:,} tokens is more than "
                             f"{MAX_LENGTH:,}")
    if isinstance(d, Lognormal):
        _nonneg_float(f"{side}.sigma", d.sigma)
        _positive_float(f"{side}.median", d.median)
        if d.sigma > 5:
            raise InputError(f"{side}.sigma = {d.sigma} is implausibly wide for token "
                             "lengths (use ≤ 5; real datasets have 0.3-1.5)")
    elif isinstance(d, Zipf):
        _positive_float(f"{side}.exponent", d.exponent)
        if d.high - d.low > MAX_ZIPF_SPAN:  # the sampler tabulates the law over [low, high]
            raise InputError(f"{side} lengths: a Zipf range spans at most {MAX_ZIPF_SPAN:,} "
                             f"tokens, got [{d.low}, {d.high}]")


def _sample(d: Distribution, n: int, rng: np.random.Generator) -> np.ndarray:
    if isinstance(d, Uniform):
        return rng.integers(d.low, d.high + 1, size=n, dtype=np.int64)
    if isinstance(d, Lognormal):
        x = np.rint(rng.lognormal(math.log(d.median), d.sigma, size=n))
        return np.clip(x, d.low, MAX_LENGTH if d.high is None else d.high).astype(np.int64)
    k = np.arange(d.low, d.high + 1, dtype=float)
    cdf = np.cumsum(k ** -d.exponent)
    cdf /= cdf[-1]
    idx = np.searchsorted(cdf, rng.random(n), side="right")
    return (d.low + np.minimum(idx, len(k) - 1)).astype(np.int64)


def sample_lengths(lengths: Lengths, n: int, rng: np.random.Generator
                   ) -> tuple[np.ndarray, np.ndarray]:
    """n (prompt, output) pairs from the distribution."""
    if isinstance(lengths, FixedLengths):
        return (np.full(n, lengths.prompt_tokens, dtype=np.int64),
                np.full(n, lengths.output_tokens, dtype=np.int64))
    if isinstance(lengths, SampledLengths):
        return _sample(lengths.prompt, n, rng), _sample(lengths.output, n, rng)
    if lengths.replace:
        idx = rng.integers(0, len(lengths.prompt_tokens), size=n)
    else:
        if n > len(lengths.prompt_tokens):
            raise InputError(f"LengthSamples(replace=False) has {len(lengths.prompt_tokens):,} "
                             f"pairs for {n:,} requests")
        idx = rng.permutation(len(lengths.prompt_tokens))[:n]
    return (np.asarray(lengths.prompt_tokens, dtype=np.int64)[idx],
            np.asarray(lengths.output_tokens, dtype=np.int64)[idx])


def generate(traffic: Traffic, rng: np.random.Generator) -> RequestTable:
    """The request table of an open-loop traffic (closed loop: lengths only, arrivals NaN).

    Arrival times start at the first inter-arrival gap after t = 0. With `Prefixes` the
    prompts grow by the system prompt and the conversation history (random draws made after
    all others, so the arrivals and sampled lengths do not change)."""
    t = _generate(traffic, rng)
    if traffic.prefixes is None:
        return t
    return with_prefixes(t, traffic.prefixes, rng)


def with_prefixes(t: RequestTable, px: Prefixes, rng: np.random.Generator) -> RequestTable:
    """Apply `Prefixes` to a table (see `Prefixes` for the rules)."""
    n = len(t)
    idx = np.arange(n)
    conv = idx // px.turns
    first = conv * px.turns
    step = t.prompt_tokens + t.output_tokens
    cs = np.concatenate([[0], np.cumsum(step)])
    history = cs[idx] - cs[first]
    if px.system_prompts:
        sys_of_conv = rng.integers(0, px.system_prompts, size=int(conv[-1]) + 1 if n else 0)
        sys_id = sys_of_conv[conv]
    else:
        sys_id = np.full(n, -1, dtype=np.int64)
    prompt = t.prompt_tokens + history + px.system_tokens
    return RequestTable(t.arrival_s, prompt.astype(np.int64), t.output_tokens, sys_id, conv)


def _generate(traffic: Traffic, rng: np.random.Generator) -> RequestTable:
    a = traffic.arrival
    if isinstance(a, TraceReplay):
        t = read_trace_csv(a.path)
        n = len(t) if traffic.num_requests is None else min(len(t), traffic.num_requests)
        if traffic.lengths is not None:  # lengths override the CSV's
            p, o = sample_lengths(traffic.lengths, n, rng)
            return RequestTable(t.arrival_s[:n], p, o)
        return RequestTable(t.arrival_s[:n], t.prompt_tokens[:n], t.output_tokens[:n])
    n = int(traffic.num_requests or 0)
    assert traffic.lengths is not None
    if isinstance(a, Poisson):
        gaps = rng.exponential(1.0 / a.rate_rps, size=n)
        arrivals = np.cumsum(gaps)
    elif isinstance(a, Gamma):
        k = 1.0 / (a.cv * a.cv)
        gaps = rng.gamma(k, 1.0 / (a.rate_rps * k), size=n)
        arrivals = np.cumsum(gaps)
    else:
        arrivals = np.full(n, np.nan)
    p, o = sample_lengths(traffic.lengths, n, rng)
    return RequestTable(arrivals, p, o)


def read_trace_csv(path: str | Path, *, need_arrivals: bool = True) -> RequestTable:
    """Read and validate a request CSV. Errors name the file, line and column.

    Rules: a header naming `arrival_s,prompt_tokens,output_tokens` (any order, extra columns
    ignored; `arrival_s` may be omitted when only lengths are needed); arrival_s a finite number
    ≥ 0, non-decreasing; token counts positive integers; at least one row."""
    p = Path(path)
    if not p.is_file():
        what = "is a folder, not a trace file" if p.is_dir() else "no such trace file"
        raise InputError(f"{p}: {what} (expected a CSV with columns "
                         f"{','.join(CSV_COLUMNS)})")
    needed = CSV_COLUMNS if need_arrivals else CSV_COLUMNS[1:]
    arr: list[float] = []
    pr: list[int] = []
    out: list[int] = []
    try:
        with p.open(newline="", encoding="utf-8") as fh:
            reader = csv.reader(fh)
            header = next(reader, None)
            if header is None:
                raise InputError(f"{p}: empty file; expected a header line "
                                 f"'{','.join(CSV_COLUMNS)}'")
            names = [h.strip() for h in header]
            missing = [c for c in needed if c not in names]
            if missing:
                raise InputError(f"{p}:1: missing column(s) {', '.join(missing)} in the header "
                                 f"{header!r}; expected '{','.join(CSV_COLUMNS)}'")
            col = {c: names.index(c) for c in CSV_COLUMNS if c in names}
            last = 0.0
            for line, row in enumerate(reader, start=2):
                if not row or all(not c.strip() for c in row):
                    continue
                if len(row) < len(names):
                    raise InputError(f"{p}:{line}: expected {len(names)} columns, got "
                                     f"{len(row)}: {','.join(row)!r}")
                if "arrival_s" in col:
                    t = _cell_float(p, line, "arrival_s", row[col["arrival_s"]])
                    if t < last:
                        raise InputError(f"{p}:{line}: column 'arrival_s': {t} is earlier than "
                                         f"the previous row's {last}; sort the trace by arrival")
                    last = t
                    arr.append(t)
                pr.append(_cell_int(p, line, "prompt_tokens", row[col["prompt_tokens"]]))
                out.append(_cell_int(p, line, "output_tokens", row[col["output_tokens"]]))
    except UnicodeDecodeError as e:
        raise InputError(f"{p}: not a UTF-8 text CSV file ({e.reason})") from None
    if not pr:
        raise InputError(f"{p}: no data rows after the header")
    arrivals = np.asarray(arr, dtype=float) if arr else np.full(len(pr), np.nan)
    return RequestTable(arrivals, np.asarray(pr, dtype=np.int64), np.asarray(out, dtype=np.int64))


def _cell_float(p: Path, line: int, column: str, text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        v = math.nan
    if not math.isfinite(v) or v < 0:
        raise InputError(f"{p}:{line}: column {column!r}: expected a number ≥ 0 (seconds), "
                         f"got {text!r}")
    return v


def _cell_int(p: Path, line: int, column: str, text: str) -> int:
    try:
        v = int(text.strip())
    except ValueError:
        v = 0
    if not 1 <= v <= 10**12:  # far beyond any context length, within int64
        raise InputError(f"{p}:{line}: column {column!r}: expected a positive integer (tokens) "
                         f"of at most 1e12, got {text[:40]!r}")
    return v
