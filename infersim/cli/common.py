"""Argument groups and output helpers shared by every `infersim` command."""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from infersim.foundation.errors import InputError


def parse_set(items: Sequence[str] | None) -> dict[str, Any]:
    """`--set a.b.c=value` pairs → {"a.b.c": value}, value parsed as YAML scalar."""
    import yaml

    out: dict[str, Any] = {}
    for item in items or ():
        if "=" not in item:
            raise InputError(f"--set {item!r}: expected FIELD.PATH=VALUE, e.g. "
                             "--set memory.hbm.bandwidth_tb_per_s=4.8")
        key, _, val = item.partition("=")
        try:
            value = yaml.safe_load(val)
        except RecursionError:
            raise InputError(f"--set {item[:60]!r}: the value nests too deeply; write a number, "
                             "a word, or a quoted string") from None
        except yaml.YAMLError as e:
            why = getattr(e, "problem", None) or "not a YAML value"
            raise InputError(f"--set {item!r}: cannot read the value {val!r} ({why}); write a "
                             "number, a word, or a quoted string, e.g. --set "
                             "memory.hbm.bandwidth_tb_per_s=4.8") from None
        _check_set_value(item, value)
        out[key.strip()] = value
    return out


def _check_set_value(item: str, value: Any, depth: int = 0, flag: str = "--set") -> None:
    """Numbers in a --set value must fit a float and stay below MAX_CLI_INT for integers."""
    if depth > 20:
        raise InputError(f"{flag} {item[:60]!r}: the value nests too deeply")
    if isinstance(value, bool):
        return
    if isinstance(value, int) and abs(value) > MAX_CLI_INT:
        raise InputError(f"{flag} {item[:60]!r}: {str(value)[:30]} is too large (integers at "
                         f"most {MAX_CLI_INT:.0e} in magnitude)")
    if isinstance(value, float) and not math.isfinite(value):
        raise InputError(f"{flag} {item[:60]!r}: the value must be a finite number")
    if isinstance(value, list):
        for v in value:
            _check_set_value(item, v, depth + 1, flag)
    elif isinstance(value, dict):
        for v in value.values():
            _check_set_value(item, v, depth + 1, flag)


def add_hw_args(p: argparse.ArgumentParser, *, default: str | None = "h100-sxm") -> None:
    p.add_argument("--hw", default=default, help="hardware library name or YAML path "
                   f"(default: {default})")
    p.add_argument("--set", action="append", metavar="FIELD.PATH=VALUE", dest="set",
                   help="override a hardware spec field (repeatable)")


def add_scenario_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("scenario")
    g.add_argument("--phase", default="decode",
                   help="prefill | decode | chunked_prefill | spec_decode (default decode)")
    g.add_argument("--batch", type=_int, default=1, help="sequences per step (default 1)")
    g.add_argument("--prompt", type=_int, default=0, help="prompt tokens (prefill)")
    g.add_argument("--context", type=_int, default=0, help="tokens already in the KV cache")
    g.add_argument("--chunk", type=_int, default=0, help="new tokens (chunked prefill)")
    g.add_argument("--weights", default="bf16", help="weight dtype (bf16, fp8, int8, int4...)")
    g.add_argument("--activations", default=None, help="activation dtype (default: bf16)")
    g.add_argument("--kv", default=None, help="KV-cache dtype (default: activation dtype)")
    g.add_argument("--tp", type=_int, default=1, help="tensor-parallel degree")
    g.add_argument("--pp", type=_int, default=1, help="pipeline-parallel degree")
    g.add_argument("--ep", type=_int, default=1, help="expert-parallel degree")
    g.add_argument("--moe-imbalance", type=float, default=1.0,
                   help="max/mean tokens per expert (default 1.0)")
    g.add_argument("--draft-model", default=None, help="spec_decode: draft model name")
    g.add_argument("--draft-len", type=_int, default=None,
                   help="spec_decode: drafted tokens (default 4)")
    g.add_argument("--acceptance", type=float, default=None,
                   help="spec_decode: per-token acceptance probability (default 0.7)")


# Flags that only mean something in one phase: flag -> (attribute, phases that read it).
_PHASE_FLAGS: dict[str, tuple[str, tuple[str, ...]]] = {
    "--prompt": ("prompt", ("prefill",)),
    "--chunk": ("chunk", ("chunked_prefill",)),
    "--draft-model": ("draft_model", ("spec_decode",)),
    "--draft-len": ("draft_len", ("spec_decode",)),
    "--acceptance": ("acceptance", ("spec_decode",)),
}


def scenario_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    """Keyword arguments of `infersim.api.make_scenario` from the scenario flags.

    A flag given for a phase that ignores it (e.g. `--prompt` with `--phase decode`) is an
    error rather than silently dropped."""
    from infersim.workloads.scenario import Phase

    known = args.phase in {ph.value for ph in Phase}  # else make_scenario names the typo
    for flag, (attr, phases) in _PHASE_FLAGS.items():
        if known and getattr(args, attr) not in (None, 0) and args.phase not in phases:
            raise InputError(f"{flag} is only used with --phase {' or '.join(phases)} (got "
                             f"--phase {args.phase}); drop {flag} or change --phase")
    kw: dict[str, Any] = dict(
        phase=args.phase, batch=args.batch, prompt=args.prompt, context=args.context,
        chunk=args.chunk, weights=args.weights, activations=args.activations, kv=args.kv,
        tp=args.tp, pp=args.pp, ep=args.ep, moe_imbalance=args.moe_imbalance,
        draft_model=args.draft_model)
    for name in ("draft_len", "acceptance"):
        if getattr(args, name) is not None:
            kw[name] = getattr(args, name)
    return kw


# Largest integer a flag accepts: far above any count infersim models (tokens, chips,
# requests), and small enough that every later float conversion or numpy int64 holds it.
MAX_CLI_INT = 10**15


def _int(text: str) -> int:
    """argparse type for integers that turns '1.5', 'x' or '1e400' into a clean error."""
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text[:40]!r}") from None
    if abs(v) > MAX_CLI_INT:
        raise argparse.ArgumentTypeError(f"{text[:40]} is too large (at most {MAX_CLI_INT:.0e} "
                                         "in magnitude)")
    return v


def positive_int(text: str) -> int:
    """argparse type: an integer ≥ 1."""
    v = _int(text)
    if v < 1:
        raise argparse.ArgumentTypeError(f"expected an integer ≥ 1, got {text!r}")
    return v


def nonneg_int(text: str) -> int:
    """argparse type: an integer ≥ 0 (seeds, counts that may be zero)."""
    v = _int(text)
    if v < 0:
        raise argparse.ArgumentTypeError(f"expected an integer ≥ 0, got {text!r}")
    return v


def nonneg_float(text: str) -> float:
    """argparse type: a finite number ≥ 0."""
    try:
        v = float(text)
    except ValueError:
        v = math.nan
    if not math.isfinite(v) or v < 0:
        raise argparse.ArgumentTypeError(f"expected a number ≥ 0, got {text!r}")
    return v


def positive_float(text: str) -> float:
    """argparse type: a finite number > 0."""
    v = nonneg_float(text)
    if v == 0:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}")
    return v


def check_output_file(flag: str, path: str | Path, example: str = "out.csv") -> Path:
    """Fail fast, before any work, if `path` cannot be written as a file by
    `infersim._io.atomic_write_text` (a folder there, or no writable folder to create it in).
    Nothing is created; a failure at write time is still reported by the CLI."""
    p = Path(path)
    if p.is_dir():
        raise InputError(f"{flag} {path}: is a folder; give a file name, e.g. {p / example}")
    _check_writable_ancestor(flag, str(path), p.parent)
    return p


def check_output_dir(flag: str, path: str | Path) -> Path:
    """Fail fast if `path` cannot be used (or created) as an output folder."""
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise InputError(f"{flag} {path}: is a file, not a folder; give a folder name")
    _check_writable_ancestor(flag, str(path), p)
    return p


def _check_writable_ancestor(flag: str, shown: str, folder: Path) -> None:
    """The nearest existing folder at or above `folder` must accept a new file (probed with
    a temporary file: permission bits alone mislead for root and for /proc-like mounts)."""
    import tempfile

    anc = folder.absolute()
    while not anc.exists() and anc != anc.parent:
        anc = anc.parent
    if not anc.is_dir():
        raise InputError(f"{flag} {shown}: {anc} is a file, so no folder can be made there; "
                         "choose another location")
    try:
        with tempfile.TemporaryFile(dir=anc):
            pass
    except OSError as e:
        raise InputError(f"{flag} {shown}: cannot write in {anc} ({e.strerror or e}); choose a "
                         "writable location") from None


def print_json(obj: Any) -> None:
    json.dump(_jsonable(obj), sys.stdout, indent=2, sort_keys=False)
    sys.stdout.write("\n")


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, Mapping):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if hasattr(obj, "item") and callable(obj.item):  # numpy scalars
        return obj.item()
    if hasattr(obj, "value") and isinstance(getattr(obj, "value", None), str):  # enums
        return obj.value
    return obj


def fmt_si(x: float, unit: str = "", digits: int = 3) -> str:
    """Human formatting with SI prefixes: 1.23e-5 s → '12.3 µs'."""
    if x == 0 or not math.isfinite(x):
        return f"{x:g} {unit}".strip()
    prefixes = [(1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k"), (1, ""),
                (1e-3, "m"), (1e-6, "µ"), (1e-9, "n"), (1e-12, "p")]
    ax = abs(x)
    for scale, p in prefixes:
        if ax >= scale:
            return f"{x / scale:.{digits}g} {p}{unit}".strip()
    return f"{x:.{digits}g} {unit}".strip()


def print_table(rows: Iterable[Mapping[str, Any]], columns: Sequence[str] | None = None) -> None:
    rows = list(rows)
    if not rows:
        print("(no rows)")
        return
    cols = list(columns or rows[0].keys())
    cells = [[_cell(r.get(c, "")) for c in cols] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(cols)]
    # a column is right-aligned (header too) when most of its cells start with a number
    right = [sum(_numeric(row[i]) for row in cells) * 2 > len(cells) for i in range(len(cols))]

    def line(values: Sequence[str]) -> str:
        return "  ".join(v.rjust(w) if r else v.ljust(w)
                         for v, w, r in zip(values, widths, right, strict=True)).rstrip()

    print(line(cols))
    print("  ".join("-" * w for w in widths))
    for row in cells:
        print(line(row))


def _cell(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def _numeric(s: str) -> bool:
    try:
        float(s.split()[0])
        return True
    except (ValueError, IndexError):
        return False
