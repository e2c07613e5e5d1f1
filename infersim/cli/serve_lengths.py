"""`infersim serve` request-length and prefix flags: --lengths and its parameters, validated to
one clear line each."""

from __future__ import annotations

import argparse
import math
from typing import Any

from infersim.cli.common import int_arg
from infersim.foundation.errors import InputError

KINDS = ("fixed", "uniform", "lognormal", "zipf", "stats")
# flags (per side) each --lengths kind uses; the rest are rejected with that kind
USES = {"fixed": ("",), "uniform": ("-min", "-max"), "lognormal": ("", "-sigma", "-min", "-max"),
        "zipf": ("-exponent", "-min", "-max"), "stats": ("-stats",)}


def add_length_args(t: Any) -> None:
    t.add_argument("--lengths", choices=KINDS, default=None,
                   help="length distribution of prompts and outputs (default fixed): fixed "
                   "(--prompt/--output), uniform (--prompt-min/-max...), lognormal (--prompt "
                   "is the mean, --prompt-sigma, optional --prompt-min/-max clip), zipf "
                   "(--prompt-exponent, --prompt-min/-max), stats (--prompt-stats "
                   "MEAN,P50,P90,MAX of a dataset → fitted lognormal)")
    for side, default in (("prompt", 1024), ("output", 256)):
        t.add_argument(f"--{side}", type=int_arg, default=None,
                       help=f"{side} tokens (default {default}); lognormal: the mean")
        t.add_argument(f"--{side}-sigma", type=float, default=None,
                       help=f"lognormal: σ of ln({side} tokens)")
        t.add_argument(f"--{side}-min", type=int_arg, default=None,
                       help=f"uniform/zipf: smallest {side} length; lognormal: clip below")
        t.add_argument(f"--{side}-max", type=int_arg, default=None,
                       help=f"uniform/zipf: largest {side} length; lognormal: clip above")
        t.add_argument(f"--{side}-exponent", type=float, default=None,
                       help=f"zipf: P({side} = k) ∝ k^-exponent")
        t.add_argument(f"--{side}-stats", default=None, metavar="MEAN,P50,P90,MAX",
                       help=f"stats: a dataset's {side}-length summary")


def add_prefix_args(t: Any, s: Any) -> None:
    """Traffic flags for shared prefixes (group `t`) and the scheduler's --prefix-caching
    (group `s`)."""
    t.add_argument("--system-prompts", type=int_arg, default=None,
                   help="distinct shared system prompts (with --system-tokens)")
    t.add_argument("--system-tokens", type=int_arg, default=None,
                   help="tokens of each system prompt, prepended to every prompt")
    t.add_argument("--turns", type=int_arg, default=None,
                   help="requests per multi-turn conversation (default 1); each turn's prompt "
                   "holds the earlier turns and answers")
    s.add_argument("--prefix-caching", action="store_true",
                   help="reuse the KV blocks of shared prompt prefixes (vLLM automatic prefix "
                   "caching)")


def prefixes_from_args(a: argparse.Namespace) -> Any:
    """The `Prefixes` the flags describe, or None."""
    from infersim.simulator.serving.traffic import Prefixes

    if a.system_prompts is None and a.system_tokens is None and a.turns is None:
        return None
    if (a.system_prompts is None) != (a.system_tokens is None):
        raise InputError("--system-prompts and --system-tokens go together; give both")
    return Prefixes(a.system_prompts or 0, a.system_tokens or 0, 1 if a.turns is None
                    else a.turns)


def _stats(flag: str, text: str) -> tuple[float, float, float, int]:
    parts = text.split(",")
    try:
        vals = [float(p) for p in parts]
    except ValueError:
        vals = []
    if len(vals) != 4 or not all(math.isfinite(v) and v > 0 for v in vals):
        raise InputError(f"{flag}: expected four positive numbers MEAN,P50,P90,MAX (tokens), "
                         f"got {text!r}")
    if vals[3] != int(vals[3]):
        raise InputError(f"{flag}: MAX must be an integer number of tokens, got {parts[3]!r}")
    return vals[0], vals[1], vals[2], int(vals[3])


def lengths_from_args(a: argparse.Namespace) -> Any:
    """The `Lengths` the flags describe, or None (a replayed trace keeps its own lengths)."""
    from infersim.foundation.defaults import DEFAULT_OUTPUT, DEFAULT_PROMPT
    from infersim.simulator.serving.traffic import FixedLengths

    kind = a.lengths or "fixed"
    for side in ("prompt", "output"):
        for suffix in ("", "-sigma", "-min", "-max", "-exponent", "-stats"):
            v = getattr(a, f"{side}{suffix}".replace("-", "_"))
            if v is not None and suffix not in USES[kind]:
                raise InputError(f"--{side}{suffix} is not used with --lengths {kind}; drop it "
                                 f"or choose a --lengths that uses it")
    if a.lengths is None and a.arrival == "trace" and a.prompt is None and a.output is None:
        return None
    if kind == "fixed":
        return FixedLengths(DEFAULT_PROMPT if a.prompt is None else a.prompt,
                            DEFAULT_OUTPUT if a.output is None else a.output)

    def need(side: str, suffix: str) -> Any:
        v = getattr(a, f"{side}{suffix}".replace("-", "_"))
        if v is None:
            raise InputError(f"needs --{side}{suffix}")
        return v

    try:
        return _build(a, kind, need)
    except InputError as e:
        raise InputError(f"--lengths {kind}: {e}") from None


def _build(a: argparse.Namespace, kind: str, need: Any) -> Any:
    from infersim.simulator.serving.traffic import Lognormal, SampledLengths, Uniform, Zipf

    dists: list[Any] = []
    for side, default in (("prompt", 1024), ("output", 256)):
        lo, hi = getattr(a, f"{side}_min"), getattr(a, f"{side}_max")
        if kind == "uniform":
            dists.append(Uniform(need(side, "-min"), need(side, "-max")))
        elif kind == "zipf":
            dists.append(Zipf(need(side, "-exponent"), need(side, "-min"), need(side, "-max")))
        elif kind == "lognormal":
            mean = default if getattr(a, side) is None else getattr(a, side)
            if mean < 1:
                raise InputError(f"--{side} must be a positive integer, got {mean}")
            dists.append(Lognormal.from_mean(mean, need(side, "-sigma"),
                                             1 if lo is None else lo, hi))
        else:
            m, p50, p90, mx = _stats(f"--{side}-stats", need(side, "-stats"))
            dists.append(Lognormal.fit(m, p50, p90, mx))
    return SampledLengths(dists[0], dists[1])
