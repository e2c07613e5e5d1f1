"""Structured fuzzing of the CLI and the API (shared by tests/front_door/test_fuzz.py and the one-off
campaign benchmarks/fuzz_campaign.py).

Arguments are generated from the parser itself (every command, every option), each value drawn
from a pool of ordinary and hostile values for its kind: huge and non-finite numbers, unicode
digits, empty and very long strings, `$...$`, path tricks, YAML alias bombs and deep nesting in
files. A case is judged by `check_cli`:

- exit code 0, 1 (a run that finished with reported failures: sweep errors, calibrate
  refusal) or 2 (bad input);
- no traceback and no bare Python exception on stderr; exit 2 comes with an error line;
- finished within the time bound (else it is a hang);
- silent wrong answers: a JSON answer (exit 0) must pass `check_answer`: no negative times,
  energies, costs or counts; no infinities; no magnitude beyond 1e30 (a $4e300 cost is
  wrong, not big); percentiles ordered (p50 ≤ p90 ≤ p99); completed ≤ requests, and a
  serving run that completed nothing must not exit 0.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import random
import re
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

INTS = ["0", "1", "2", "3", "8", "64", "-1", "1e400", "99999999999999999999999",
        "-99999999999999999999", "1.5", "nan", "", "0x10", "\u0661\u0662", "9" * 5000, "7"]
FLOATS = ["0", "1", "0.5", "2", "-1", "1e-300", "1e300", "1e400", "inf", "-inf", "nan", "abc",
          "0.9", "", "99999999999999999999999"]
WORDS = ["", "h100-sxm", "llama-3.2-1b", "no-such-thing", "../../etc/passwd", "$x^$",
         "\u00fcn\u00efc\u00f6d\u00e9", "a" * 3000, "-", "--json", "bf16", "fp8", "int4",
         "decode", "prefill", "graph", "fused", "{}", "[1, 2]"]
SETS = ["memory.hbm.bandwidth_tb_per_s=1e400", "x=&a [*a]", "chip.num_cores=99999999999999999999999",
        "a=b", "=", "nope", "memory.hbm.bandwidth_tb_per_s=4.8", "chip=[[[[[[[[[[1]]]]]]]]]]",
        "interconnect.link_bandwidth_gb_per_s=-1", "price.usd=1e308"]
KNOWN = {
    "--model": ["llama-3.2-1b", "llama-3.1-8b", "no-such-model", "", "$x^$", "{tmp}/bad.json",
                "{tmp}/nan.json", "{tmp}/huge.json"],
    "model": ["llama-3.2-1b", "llama-3.1-8b", "nosuch", "{tmp}/bad.json", "{tmp}/huge.json"],
    "--hw": ["h100-sxm", "a100-sxm-80g", "nosuch", "{tmp}/bomb.yaml", "{tmp}/deep.yaml",
             "{tmp}/huge.yaml", "{tmp}/empty.yaml"],
    "name": ["h100-sxm", "nosuch", "{tmp}/bomb.yaml", "serving", "$x^$"],
    "a": ["h100-sxm", "{tmp}/huge.yaml"], "b": ["a100-sxm-80g", "{tmp}/deep.yaml"],
    "files": ["{tmp}/bomb.yaml", "{tmp}/deep.yaml", "{tmp}/huge.yaml", "{tmp}/empty.yaml",
              "{tmp}/nofile.yaml"],
    "study": ["{tmp}/study_ok.yaml", "{tmp}/study_huge.yaml", "{tmp}/study_badplot.yaml",
              "{tmp}/study_dollar.yaml", "{tmp}/bomb.yaml", "{tmp}/deep.yaml",
              "{tmp}/nofile.yaml"],
    "--trace": ["{tmp}/trace_ok.csv", "{tmp}/trace_huge.csv", "{tmp}/trace_nan.csv",
                "{tmp}/nofile.csv"],
    "--from-csv": ["{tmp}/op_huge.csv", "{tmp}/nofile.csv"],
    "kind": ["matmul", "attention", "nosuch", ""],
}
OUT_FLAGS = {"-o", "--out", "--csv", "--requests-csv"}
# Commands whose valid runs take minutes by design: fuzzed with bounded sizes (see `argv`).
SLOW = {"calibrate", "validate", "study run"}

STUDY = """name: fz
fixed: {{model: llama-3.2-1b, hardware: h100-sxm, scenario: {{phase: decode}}}}
sweep:
  scenario.batch: {batch}
search: {{method: grid}}
metrics: [latency_s, tokens_per_s]
plots:
  - {plot}
"""


def write_files(tmp: Path) -> None:
    """Hostile and ordinary input files the generated arguments point at."""
    files = {
        "bomb.yaml": "a: &a [x,x,x,x,x,x,x,x,x]\n" + "".join(
            f"{c}: &{c} [{','.join(['*' + p] * 9)}]\n"
            for p, c in zip("abcdefgh", "bcdefghi", strict=True)),
        "deep.yaml": "x: " + "[" * 600 + "]" * 600 + "\n",
        "huge.yaml": "name: huge\nkind: gpu\nnum_chips: 99999999999999999999999999\n",
        "empty.yaml": "",
        "bad.json": '{"model_type": "llama"',
        "nan.json": '{"model_type": "llama", "hidden_size": NaN, "num_hidden_layers": Infinity}',
        "huge.json": '{"model_type": "llama", "hidden_size": 1e400, "num_attention_heads": '
                     '99999999999999999999999999, "num_hidden_layers": 2}',
        "trace_ok.csv": "arrival_s,prompt_tokens,output_tokens\n0,10,2\n0.1,20,3\n",
        "trace_huge.csv": "arrival_s,prompt_tokens,output_tokens\n0,99999999999999999999999,2\n"
                          "1e400,1,1\n",
        "trace_nan.csv": "arrival_s,prompt_tokens,output_tokens\nnan,10,2\ninf,1,1\n",
        "op_huge.csv": "op,m,k,n\nmatmul,99999999999999999999999,2,3\n",
        "study_ok.yaml": STUDY.format(batch="[1, 4]", plot="{kind: line, x: scenario.batch, "
                                      "y: latency_s, title: '$x^$'}"),
        "study_huge.yaml": STUDY.format(batch="{min: 1, max: 1e12, int: true, num: 1e12}",
                                        plot="{kind: line, x: scenario.batch, y: latency_s}"),
        "study_badplot.yaml": STUDY.format(batch="[1, 2]", plot="{kind: line, x: batch, "
                                           "y: latency_s}"),
        "study_dollar.yaml": STUDY.format(batch="[1, 99999999999999999999999]",
                                          plot="{kind: bar, x: scenario.batch, y: latency_s, "
                                          "title: '$\\\\frac$'}"),
    }
    for name, text in files.items():
        (tmp / name).write_text(text, encoding="utf-8")


# Commands that serve until stopped (their exit code is no verdict): tested on their own
# (tests/explore drives the explorer's server).
SERVERS = {("explore",)}


def commands(parser: argparse.ArgumentParser) -> list[tuple[list[str], argparse.ArgumentParser]]:
    """(command words, its parser) for every leaf command that returns (not the servers)."""
    out: list[tuple[list[str], argparse.ArgumentParser]] = []

    def walk(p: argparse.ArgumentParser, words: list[str]) -> None:
        for a in p._actions:
            if isinstance(a, argparse._SubParsersAction):
                for name, sp in a.choices.items():
                    walk(sp, [*words, name])
                return
        out.append((words, p))

    walk(parser, [])
    return [(w, p) for w, p in out if tuple(w) not in SERVERS]


def _value(a: argparse.Action, rng: random.Random) -> str:
    name = a.option_strings[0] if a.option_strings else a.dest
    if name in OUT_FLAGS:
        return rng.choice(["{tmp}/out/o", "{tmp}/out/o.csv", "{tmp}/out/o.png", "{tmp}/out",
                           "{tmp}/bad.json/x", "{tmp}/out/r.yaml"])
    if name == "--set":
        return rng.choice(SETS)
    if name in KNOWN and rng.random() < 0.8:
        return rng.choice(KNOWN[name])
    if a.choices and rng.random() < 0.85:
        return str(rng.choice(list(a.choices)))
    t = getattr(a.type, "__name__", "")
    if "int" in t:
        return rng.choice(INTS)
    if t == "float" or "float" in t:
        return rng.choice(FLOATS)
    return rng.choice(WORDS + INTS[:4] + FLOATS[:4])


def argv(seed: int, cmds: list[tuple[list[str], argparse.ArgumentParser]], tmp: Path,
         command: str | None = None) -> list[str]:
    """One argument vector: a command, its positionals, and a random subset of its options."""
    rng = random.Random(seed)
    words, p = next(c for c in cmds if " ".join(c[0]) == command) if command else rng.choice(cmds)
    out = list(words)
    acts = [a for a in p._actions
            if not isinstance(a, argparse._HelpAction | argparse._VersionAction)]
    for a in acts:
        if not a.option_strings and a.nargs != 0 and rng.random() < 0.95:  # positional
            out.append(_value(a, rng))
    opts = [a for a in acts if a.option_strings]
    for a in rng.sample(opts, k=min(len(opts), rng.randint(0, 6))):
        flag = rng.choice(a.option_strings)
        if a.nargs == 0:
            out.append(flag)
        else:
            out += [flag, _value(a, rng)]
    cmd = " ".join(words)
    # bounded sizes for the commands that measure or run for minutes when given valid input
    if cmd == "calibrate":  # re-fit a (hostile) measurement file instead of measuring
        out += ["--refit", rng.choice(["{tmp}/trace_ok.csv", "{tmp}/nofile.csv",
                                       "{tmp}/huge.yaml"]), "--no-progress"]
    if cmd == "validate":  # a valid run grades every dataset (about three minutes): fail fast
        out = [w for w in out if w != "--measure"] + ["-o", rng.choice(
            ["{tmp}/bad.json/x.csv", "{tmp}/bad.json/r.md"])]
    if cmd == "study run":
        out = [w if w not in ("serving", "hardware-classes", "co-design") else "nosuch"
               for w in out]
    if cmd == "sweep":
        out += ["--no-progress", "--workers", "1"] if "--workers" not in out else ["--no-progress"]
        if "--executor" in out:
            out[out.index("--executor") + 1] = "local"
    if cmd == "serve" and "--requests" not in out:
        out += ["--requests", "200"]
    return [w.replace("{tmp}", str(tmp)) for w in out]


class Hang(Exception):
    pass


@contextlib.contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    def on_alarm(signum: int, frame: Any) -> None:
        raise Hang(f"no answer within {seconds:g} s")

    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


@dataclass
class Outcome:
    argv: list[str]
    rc: int | None
    out: str
    err: str
    wall_s: float
    problem: str = ""  # "" = fine; else traceback / hang / exit code / wrong answer: why


_TB = re.compile(r"Traceback \(most recent call last\)|^\w+(Error|Exception): ", re.M)


def run_cli(main: Callable[[list[str]], int], args: list[str], limit_s: float) -> Outcome:
    """Run `main(args)` in this process with stdout/stderr captured and a time limit."""
    out, err = io.StringIO(), io.StringIO()
    t = time.perf_counter()
    rc: int | None = None
    problem = ""
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), \
                time_limit(limit_s):
            rc = main(args)
    except Hang as e:
        problem = f"hang: {e}"
    except SystemExit as e:
        rc = int(e.code) if isinstance(e.code, int) else 2
    except BaseException as e:
        problem = f"traceback: {type(e).__name__}: {str(e)[:200]}"
    o = Outcome(args, rc, out.getvalue(), err.getvalue(), time.perf_counter() - t, problem)
    if not o.problem:
        o.problem = check_cli(o)
    return o


def check_cli(o: Outcome) -> str:
    if _TB.search(o.err):
        return "traceback on stderr: " + _TB.search(o.err).group(0)  # type: ignore[union-attr]
    if o.rc not in (0, 1, 2):
        return f"exit code {o.rc}"
    lines = [ln for ln in o.err.splitlines() if ln.strip()]
    errors = [ln for ln in lines if ": error: " in ln]
    if o.rc == 2 and not o.err.strip() and not o.out.strip():
        return "exit 2 without a message"
    for ln in errors:
        if len(ln) > 2000:
            return "an error line longer than 2000 characters"
    if o.rc == 0 and "--json" in o.argv and o.out.strip().startswith(("{", "[")):
        try:
            ans = json.loads(o.out)
        except ValueError:
            return "--json output is not JSON"
        why = check_answer(ans)
        if why:
            return f"wrong answer: {why}"
    return ""


_NONNEG = re.compile(r"(_s|_j|_usd|_w|bytes|flops|tokens|requests|completed|chips|_tok_s"
                     r"|_req_s|rate_rps|latency)$|^(energy|cost)")


def check_answer(ans: Any, path: str = "") -> str:
    """Invariants every JSON answer must satisfy (see the module doc)."""
    if isinstance(ans, list):
        for i, v in enumerate(ans[:200]):
            why = check_answer(v, f"{path}[{i}]")
            if why:
                return why
        return ""
    if not isinstance(ans, dict):
        return ""
    for k, v in ans.items():
        p = f"{path}.{k}" if path else k
        if isinstance(v, dict | list):
            why = check_answer(v, p)
            if why:
                return why
        elif isinstance(v, float | int) and not isinstance(v, bool):
            if isinstance(v, float) and math.isinf(v):
                return f"{p} = {v}"
            if abs(v) > 1e30 and "flops" not in k and "bytes" not in k:
                return f"{p} = {v:g} (absurd magnitude)"
            if v < 0 and _NONNEG.search(k) and "growth" not in k:
                return f"{p} = {v} < 0"
    for base in ("ttft", "tpot", "e2e", "queue_delay"):
        q = [ans.get(f"{base}_p{n}_s") for n in (50, 90, 99)]
        if all(isinstance(x, float) and not math.isnan(x) for x in q) and not (
                q[0] <= q[1] * (1 + 1e-9) and q[1] <= q[2] * (1 + 1e-9)):
            return f"{base} percentiles out of order {q}"
    if isinstance(ans.get("completed"), int) and isinstance(ans.get("requests"), int):
        if ans["completed"] > ans["requests"]:
            return "completed > requests"
        if ans["completed"] == 0 and ans.get("feasible") and ans["requests"] > 0:
            return "a run that completed nothing exited 0"
    return ""


# --------------------------------------------------------------------------------------------
# API fuzzing: the documented entry points with hostile keyword values
# --------------------------------------------------------------------------------------------

API_VALUES: list[Any] = [0, 1, -1, 2, 7, 10**30, -(10**30), 10**400, 1.5, float("nan"),
                         float("inf"), -0.0, 1e-300, 1e300, "", "x", "1", None, True, [], {},
                         (1, 2), b"x", "\u0661", 2**63, 64]


def api_case(seed: int) -> tuple[str, Callable[[], Any]]:
    """(label, call) of one API call with randomly hostile arguments."""
    import infersim as isim
    from infersim.hwmodels.economics import Economics
    from infersim.simulator.serving import (
        Deployment,
        FixedLengths,
        Gamma,
        Poisson,
        ServingPolicy,
        Slo,
        Traffic,
    )

    rng = random.Random(seed)

    def v(ok: Any) -> Any:
        return ok if rng.random() < 0.6 else rng.choice(API_VALUES)

    kind = rng.choice(["scenario", "simulate", "serve", "hardware", "model", "economics",
                       "traffic", "policy", "deployment", "slo"])
    if kind == "scenario":
        kw = {k: v(d) for k, d in (("batch", 4), ("prompt", 0), ("context", 128),
                                   ("tp", 1), ("moe_imbalance", 1.0)) if rng.random() < 0.6}
        return f"make_scenario({kw})", lambda: isim.make_scenario(v("decode"), **kw)
    if kind == "simulate":
        kw = {k: v(d) for k, d in (("batch", 2), ("context", 64), ("tp", 1)) if rng.random() < 0.7}
        return (f"simulate({kw})",
                lambda: isim.simulate(v("llama-3.2-1b"), v("h100-sxm"), runtime=v("graph"), **kw))
    if kind == "hardware":
        over = {rng.choice(["memory.hbm.bandwidth_tb_per_s", "chip.num_cores", "num_chips",
                            "price.usd", "x.y"]): rng.choice(API_VALUES)}
        return f"load_hardware(h100, {over})", lambda: isim.load_hardware("h100-sxm", over)
    if kind == "model":
        cfg = {"model_type": "llama", "hidden_size": v(256), "num_hidden_layers": v(2),
               "num_attention_heads": v(4), "intermediate_size": v(512),
               "vocab_size": v(1000), "num_key_value_heads": v(4),
               "max_position_embeddings": v(2048)}
        return f"load_model({cfg})", lambda: isim.load_model(cfg)
    if kind == "economics":
        kw = {k: rng.choice(API_VALUES) for k in ("lifetime_years", "usd_per_kwh", "pue",
                                                  "utilization") if rng.random() < 0.5}
        return f"Economics({kw})", lambda: Economics(**kw)
    if kind == "traffic":
        rate, n = v(2.0), v(50)
        return (f"Traffic(rate={rate}, n={n})",
                lambda: Traffic(rng.choice([Poisson(rate), Gamma(rate, v(2.0))]),
                                FixedLengths(v(16), v(4)), n))
    if kind == "policy":
        return "ServingPolicy(...)", lambda: ServingPolicy(v("continuous"), v(8), v(256), v(16))
    if kind == "deployment":
        return "Deployment(...)", lambda: Deployment(v(1), v(1), v(1), v(1), v("fused"),
                                                     v("bf16"), None, v(0.9))
    if kind == "slo":
        return "Slo(...)", lambda: Slo(v(2.0), v(0.1), v(99.0))
    n = v(100)
    return (f"serve(n={n})", lambda: isim.serve(
        "llama-3.2-1b", "h100-sxm", Traffic(Poisson(v(5.0)), FixedLengths(v(64), v(8)), n),
        ServingPolicy(max_batch=v(32)), economics=Economics(lifetime_years=v(4.0))))


def run_api(seed: int, limit_s: float) -> tuple[str, str]:
    """(label, problem) of one API call: only InfersimError may escape; results are checked
    with `check_answer` where they have a `to_dict`."""
    from infersim.foundation.errors import InfersimError

    label, call = api_case(seed)
    try:
        with time_limit(limit_s):
            r = call()
    except InfersimError as e:
        if _TB.search(str(e)):
            return label, "error message holds a traceback"
        return label, ""
    except Hang as e:
        return label, f"hang: {e}"
    except Exception as e:
        return label, f"{type(e).__name__}: {str(e)[:160]}"
    d = r.to_dict() if hasattr(r, "to_dict") else None
    if isinstance(d, dict):
        why = check_answer(json.loads(json.dumps(d, default=str)))
        if why:
            return label, f"wrong answer: {why}"
    return label, ""
