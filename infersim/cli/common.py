"""Argument groups and output helpers shared by every `infersim` command."""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from infersim.foundation.defaults import DEFAULT_CONTEXT, DEFAULT_PROMPT
from infersim.foundation.errors import InputError
from infersim.foundation.schema import MAX_CLI_INT
from infersim.foundation.schema import parse_set as parse_set  # re-exported
from infersim.foundation.units import fmt_si as fmt_si  # re-exported for the commands
from infersim.workloads.routing import ROUTING_SKEW_SIGMA
from infersim.workloads.scenario import MOE_EXCHANGES


def add_hw_args(p: argparse.ArgumentParser, *, default: str | None = "h100-sxm") -> None:
    p.add_argument("--hw", default=default, help="hardware library name or YAML path "
                   f"(default: {default})")
    p.add_argument("--set", action="append", metavar="FIELD.PATH=VALUE", dest="set",
                   help="override a hardware spec field (repeatable)")


def add_power_cap_arg(p: argparse.ArgumentParser) -> None:
    """`--power-cap W`: the same as `--set chip.power.cap_w=W` (hwmodels/power.py)."""
    p.add_argument("--power-cap", type=nonneg_float, metavar="W", default=None,
                   help="power limit per chip in W (as nvidia-smi -pl): each step runs at the "
                   "highest clock drawing at most W; the same as --set chip.power.cap_w=W")


def hw_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The `--set` overrides of a command, plus `--power-cap` where it has one."""
    out = parse_set(getattr(args, "set", None))
    cap = getattr(args, "power_cap", None)
    if cap is not None:
        out["chip.power.cap_w"] = cap
    return out


def add_runtime_arg(p: Any) -> None:
    """`--runtime`, with the one default every command and the API share: the hardware
    kind's own (GPUs: DEFAULT_RUNTIME; wafer and LPU: their newest compiled profile)."""
    from infersim.foundation.defaults import DEFAULT_RUNTIME

    p.add_argument("--runtime", default=None,
                   help="GPUs: graph | eager | hf-eager | gpt-fast-eager | litgpt-eager | "
                        "fms-eager | torch-compile | trtllm | vllm-v1 | vllm-v0 | sglang, "
                        f"fused = trtllm (default {DEFAULT_RUNTIME}); wafer and "
                   "LPU: their compiled profiles (default: the newest)")


def usage_of(p: argparse.ArgumentParser) -> Any:
    """The action of a command group called without its ACTION: print its help, exit 2."""

    def show(_args: argparse.Namespace) -> int:
        p.print_help()
        return 2

    return show


def add_runtime_set_arg(p: Any) -> None:
    """`--runtime-set KNOB=VALUE`: change a constant of the runtime's software profile
    (`hwmodels.runtime_knobs`), as `--set` changes the hardware."""
    p.add_argument("--runtime-set", action="append", metavar="KNOB=VALUE", dest="runtime_set",
                   help="change a constant of the runtime's profile (repeatable), e.g. "
                        "--runtime sglang --runtime-set graph_max_batch=512; each "
                        "runtime's knobs: infersim runtimes show RUNTIME")


def parse_runtime_set(items: Sequence[str] | None,
                      flag: str = "--runtime-set") -> dict[str, Any]:
    """`--runtime-set knob=value` pairs → {"knob": value} (values in the YAML dialect)."""
    from infersim.foundation.yaml import parse_value

    out: dict[str, Any] = {}
    for item in items or ():
        key, eq, val = item.partition("=")
        if not eq or not key.strip():
            raise InputError(f"{flag} {item[:40]!r}: expected KNOB=VALUE, e.g. "
                             f"{flag} graph_max_batch=512")
        out[key.strip()] = parse_value(val, f"{flag} {key.strip()[:40]}")
    return out


def runtime_of(args: argparse.Namespace, hw: Any) -> Any:
    """The command's runtime: `--runtime` (None: the kind's default) with its
    `--runtime-set` knobs applied (a `RuntimeProfile`) when there are any."""
    from infersim.hwmodels.runtime_knobs import with_knobs

    return with_knobs(hw, args.runtime, parse_runtime_set(getattr(args, "runtime_set", None)))


def runtime_knobs_field(runtime: Any) -> dict[str, Any]:
    """{"runtime_knobs": {knob: value}} of the knobs `--runtime-set` changed ({} for none),
    for a command's JSON."""
    from infersim.hwmodels.runtime_knobs import changed_knobs

    knobs = changed_knobs(runtime)
    return {"runtime_knobs": knobs} if knobs else {}


def runtime_label_on(runtime: Any, hw: Any) -> str:
    """`runtime_label`, with None (the kind's default) resolved to the software it runs on
    `hw` (graph on GPUs, the newest compiled profile of a wafer or LPU)."""
    if runtime is not None:
        return runtime_label(runtime)
    from infersim.hwmodels.registry import cost_model

    base, prof = cost_model(hw).resolve_runtime(None, hw.name)
    return prof.name if prof is not None else base.value


def knobs_text(name: Any, knobs: Mapping[str, float]) -> str:
    """`name [knob=value, ...]`, or the name alone without knobs."""
    return f"{name} [{', '.join(f'{k}={v:g}' for k, v in knobs.items())}]" if knobs else str(name)


def runtime_label(runtime: Any, name: str | None = None) -> str:
    """A runtime's name (`name` when given: the one a result reports, e.g. `trtllm` for the
    alias `fused`), with the knobs `--runtime-set` changed in brackets."""
    from infersim.hwmodels.runtime_knobs import changed_knobs

    name = name or getattr(runtime, "name", None) or getattr(runtime, "value", runtime)
    return knobs_text(name, changed_knobs(runtime))


def add_scenario_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("scenario")
    g.add_argument("--phase", default="decode",
                   help="prefill | decode | chunked_prefill | spec_decode (default decode)")
    g.add_argument("--batch", type=int_arg, default=1, help="sequences per step (default 1)")
    g.add_argument("--prompt", type=int_arg, default=None,
                   help=f"prefill: prompt tokens per sequence (default {DEFAULT_PROMPT})")
    g.add_argument("--context", type=int_arg, default=None,
                   help="decode / spec_decode / chunked_prefill: tokens already in the KV cache "
                   f"(default {DEFAULT_CONTEXT}; chunked_prefill 0)")
    g.add_argument("--chunk", type=int_arg, default=None,
                   help="chunked_prefill: new prompt tokens this step")
    g.add_argument("--weights", default="bf16",
                   help="weight dtype (bf16, fp8, int8, int4...; checkpoint: as the model's "
                        "quantization_config stores them)")
    g.add_argument("--activations", default=None, help="activation dtype (default: bf16)")
    g.add_argument("--kv", default=None, help="KV-cache dtype (default: activation dtype)")
    g.add_argument("--lm-head", default=None,
                   help="lm_head weight dtype (default: the weights'; bf16 under a quantized "
                        "checkpoint, whose quantizers leave the output projection 16-bit)")
    g.add_argument("--tp", type=int_arg, default=1, help="tensor-parallel degree")
    g.add_argument("--pp", type=int_arg, default=1, help="pipeline-parallel degree")
    g.add_argument("--ep", type=int_arg, default=1,
                   help="expert-parallel degree (≤ tp·dp: experts spread over the stage's GPUs)")
    g.add_argument("--dp", type=int_arg, default=1,
                   help="data-parallel attention groups of tp GPUs sharing the experts (batch "
                        "split over them; DeepSeek-style EP across nodes: --tp 1 --dp N --ep N)")
    g.add_argument("--cp", type=int_arg, default=1,
                   help="context-parallel degree: each prompt split over cp GPUs, ring "
                        "attention (prefill only)")
    g.add_argument("--redundant-experts", type=int_arg, default=0,
                   help="extra expert copies spread over the EP GPUs (DeepSeek EPLB: 32)")
    g.add_argument("--moe-imbalance", type=float, default=0.0,
                   help="max/mean tokens per expert (default 0: derived from uniform top-k "
                        "routing of the step's tokens)")
    g.add_argument("--moe-exchange", default="auto", choices=MOE_EXCHANGES,
                   help="how the EP GPUs exchange a MoE layer's tokens: all_to_all (each "
                        "token to its experts' GPUs, once per expert), hierarchical (once "
                        "per destination node over the network, then once per GPU over "
                        "NVLink: DeepEP's normal kernels), deepep (hierarchical in a step "
                        "with prompt tokens, all_to_all in a decode step: DeepEP's auto "
                        "mode), allgather (every token to every "
                        "GPU, outputs reduce-scattered back), auto (the runtime's; default)")
    g.add_argument("--routing-skew", type=float, default=None,
                   help="log-normal σ of the experts' routing popularity, which sets the "
                        f"busiest EP GPU's load (default: fitted, {ROUTING_SKEW_SIGMA}; 0: "
                        "uniform routing)")
    g.add_argument("--micro-batches", type=int_arg, default=1,
                   help="split each data-parallel group's sequences into this many "
                        "micro-batches run as overlapping streams: one's all-reduces and EP "
                        "dispatch/combine under another's compute (DeepSeek's dual "
                        "micro-batch overlap, SGLang --enable-two-batch-overlap; default 1)")
    g.add_argument("--draft-model", default=None, help="spec_decode: draft model name")
    g.add_argument("--draft-len", type=int_arg, default=None,
                   help="spec_decode: drafted tokens (default 4)")
    g.add_argument("--acceptance", type=float, default=None,
                   help="spec_decode: per-token acceptance probability (default 0.7)")


# Flags that only mean something in one phase: flag -> (attribute, phases that read it).
_PHASE_FLAGS: dict[str, tuple[str, tuple[str, ...]]] = {
    "--prompt": ("prompt", ("prefill",)),
    "--context": ("context", ("decode", "chunked_prefill", "spec_decode")),
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
        if known and getattr(args, attr) is not None and args.phase not in phases:
            raise InputError(f"{flag} is only used with --phase {' or '.join(phases)} (got "
                             f"--phase {args.phase}); drop {flag} or change --phase")
    if args.phase == "prefill" and args.prompt is not None and args.prompt < 1:
        raise InputError(f"--prompt {args.prompt}: a prefill processes at least 1 prompt token; "
                         f"give --prompt N ≥ 1 (default {DEFAULT_PROMPT})")
    kw: dict[str, Any] = dict(
        phase=args.phase, batch=args.batch, prompt=args.prompt, context=args.context,
        chunk=args.chunk or 0, weights=args.weights, activations=args.activations, kv=args.kv,
        lm_head=args.lm_head,
        tp=args.tp, pp=args.pp, ep=args.ep, dp=args.dp, cp=args.cp,
        redundant_experts=args.redundant_experts, moe_imbalance=args.moe_imbalance,
        draft_model=args.draft_model, moe_exchange=args.moe_exchange,
        routing_skew=args.routing_skew, micro_batches=args.micro_batches)
    for name in ("draft_len", "acceptance"):
        if getattr(args, name) is not None:
            kw[name] = getattr(args, name)
    return kw


def header(model: str, hw: Any, sc: Any, runtime: Any = None) -> str:
    """The first line of every table: model, hardware with its `--set` overrides, the
    scenario knobs the phase uses, and the runtime."""
    from infersim.api import scenario_label

    where = f" on {hw.label}" if hw is not None else ""
    rt = f", runtime {getattr(runtime, 'value', runtime)}" if runtime is not None else ""
    return f"{model}{where} — {scenario_label(sc)}{rt}"


def print_diagnostics(diags: Iterable[Mapping[str, str]]) -> None:
    """One line per finding (see `infersim.diagnostics`)."""
    for d in diags:
        print(f"  ! {d['message']}")




def int_arg(text: str) -> int:
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
    v = int_arg(text)
    if v < 1:
        raise argparse.ArgumentTypeError(f"expected an integer ≥ 1, got {text!r}")
    return v


def nonneg_int(text: str) -> int:
    """argparse type: an integer ≥ 0 (seeds, counts that may be zero)."""
    v = int_arg(text)
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


def print_json(obj: Any) -> None:
    json.dump(_jsonable(obj), sys.stdout, indent=2, sort_keys=False, ensure_ascii=False)
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
