"""The README's commands, run as a new user would (in-process through `infersim.cli.main`),
and the walkthrough in docs/walkthrough.md that records them and their output.

Regenerate the walkthrough after a change in output:
    python tests/front_door/test_readme_walkthrough.py
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import shlex
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
WALKTHROUGH = ROOT / "docs" / "walkthrough.md"

# Inputs a new user would write first (the README names them but cannot ship them).
SHAPES_CSV = "op,m,k,n,dtype\nmatmul,1,4096,6144,bf16\nmatmul,128,4096,14336,bf16\n"
MY_STUDY = """name: my-study
fixed: {model: llama-3.1-8b, hardware: h100-sxm, scenario: {phase: decode, context: 2048}}
sweep:
  hw.memory.hbm.bandwidth_tb_per_s: [2, 3.35, 4.8]
  scenario.batch: [1, 8, 64]
search: {method: grid}
plots:
  - {kind: line, x: scenario.batch, y: tokens_per_s, group: hw.memory.hbm.bandwidth_tb_per_s, logx: true}
"""

# Commands too slow for every test run: they measure this machine or run whole studies; they
# are exercised by their own tests (tests/validation, tests/studies) and run in CI as `slow`.
SLOW = ("infersim calibrate", "infersim validate", "infersim study run", "--find-max-rate")


def readme_commands(text: str | None = None) -> list[str]:
    """Every `infersim ...` command of the README's "Command line" block, continuation lines
    joined, comments dropped, `a | infersim b` split into two, `serve ...` expanded from the
    serve command above it."""
    text = README.read_text() if text is None else text
    block = text.split("## Command line", 1)[1].split("```", 2)[1]
    joined = re.sub(r"\\\n\s*", "", block)
    out: list[str] = []
    for line in joined.splitlines():
        line = line.split("  #", 1)[0].strip()
        if not line.startswith("infersim"):
            continue
        for part in line.split(" | "):
            part = part.strip()
            if " ... " in part:
                prev = next(c for c in reversed(out) if c.startswith(part.split(" ... ")[0]))
                part = prev.removesuffix(" --json") + " " + part.split(" ... ", 1)[1]
            out.append(part)
    return out


def prepare(folder: Path) -> None:
    """The files the README's commands read, as a new user would write them."""
    from infersim.hwmodels.loader import SPEC_DIR

    (folder / "shapes.csv").write_text(SHAPES_CSV)
    (folder / "my-chip.yaml").write_text((SPEC_DIR / "h100-sxm.yaml").read_text())
    (folder / "my-study.yaml").write_text(MY_STUDY)


def run(command: str) -> tuple[int, str]:
    from infersim.cli import main

    argv = shlex.split(command)[1:]
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main(argv)
    return rc, out.getvalue() + err.getvalue()


def test_readme_python_api_block_runs():
    block = README.read_text().split("## Python API", 1)[1].split("```python", 1)[1]
    code = block.split("```", 1)[0]
    scope: dict[str, Any] = {}
    exec(compile(code, "README.md (Python API)", "exec"), scope)
    r = scope["r"]  # the last result: a 2048-token prefill
    assert r.prompt_tokens_per_s == pytest.approx(2048 / r.latency_s)


def test_readme_lists_the_commands_of_every_group():
    cmds = readme_commands()
    groups = {c.split()[1] for c in cmds}
    assert {"simulate", "op", "models", "trace", "map", "hw", "serve", "calibrate", "validate",
            "study", "sweep", "roofline"} <= groups


@pytest.mark.parametrize("command", [
    pytest.param(c, marks=pytest.mark.slow) if any(s in c for s in SLOW) else c
    for c in readme_commands()])
def test_readme_command_runs(command, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    prepare(tmp_path)
    if command.startswith("infersim calibrate"):
        # measuring takes minutes and needs a quiet machine (on a busy one the fit is rightly
        # refused), so the command refits the committed measurement file of a calibrated
        # host instead: the same fit, spec writer and output file
        command += f" --refit {ROOT / 'validation' / 'data' / 'vm-20261126.csv'}"
    rc, out = run(command)
    assert rc == 0, f"{command}\n{out[-2000:]}"
    assert "Traceback" not in out
    if command.startswith("infersim validate"):
        # every discovered data set loads and passes `check_frame` (the report's `collect`);
        # this run is the data-set contract check of the suite (tests/validation/test_report)
        assert "could not be loaded" not in out, out[-2000:]


def recorded() -> dict[str, str]:
    """command -> recorded output, from docs/walkthrough.md."""
    text = WALKTHROUGH.read_text()
    return {m.group(1): m.group(2) for m in re.finditer(
        r"```console\n\$ (infersim[^\n]*)\n(.*?)```", text, flags=re.S)}


def test_walkthrough_records_every_readme_command_with_its_current_header(tmp_path,
                                                                           monkeypatch):
    rec = recorded()
    missing = [c for c in readme_commands() if c not in rec]
    assert missing == [], "regenerate: python tests/front_door/test_readme_walkthrough.py"
    monkeypatch.chdir(tmp_path)
    prepare(tmp_path)
    # the first line of fast table commands (model, hardware, scenario, runtime) is
    # deterministic: it must still be what the walkthrough shows
    for c in ("infersim simulate --hw h100-sxm --set memory.hbm.bandwidth_tb_per_s=4.8",
              "infersim map llama-3.1-8b --hw h100-sxm --runtime eager"):
        rc, out = run(c)
        assert rc == 0 and out.splitlines()[0] == rec[c].splitlines()[0]


def _trim(out: str, n: int = 40) -> str:
    lines = out.rstrip("\n").splitlines()
    if len(lines) > n:
        lines = [*lines[:n], f"... ({len(lines) - n} more lines)"]
    return "\n".join(lines) + "\n"


def write_walkthrough() -> None:
    import tempfile

    parts = [
        "# A new user's walkthrough of the README\n",
        "Each command of the README's \"Command line\" section, run in an empty folder after "
        "`pip install -e .`, with its output (long outputs cut at 40 lines). The inputs the "
        "README names are written first:\n",
        f"- `shapes.csv`:\n\n```\n{SHAPES_CSV}```\n",
        "- `my-chip.yaml`: a copy of `hwmodels/specs/h100-sxm.yaml` to edit;\n",
        f"- `my-study.yaml`:\n\n```yaml\n{MY_STUDY}```\n",
        "Kept true by `tests/front_door/test_readme_walkthrough.py` (every command must exit 0; headers "
        "must match); regenerate with `python tests/front_door/test_readme_walkthrough.py`.\n",
    ]
    cwd = os.getcwd()
    with tempfile.TemporaryDirectory() as d:
        os.chdir(d)
        try:
            prepare(Path(d))
            for c in readme_commands():
                if any(x in c for x in SLOW):
                    parts.append(f"```console\n$ {c}\n```\n(takes minutes: it measures this "
                                 "machine or runs a whole study or many simulations; CI runs "
                                 "it in the slow tests of this walkthrough)\n")
                    continue
                rc, out = run(c)
                # temp folder and checkout location are machine-specific: not recorded
                out = out.replace(d + "/", "").replace(d, ".").replace(str(ROOT) + "/", "")
                parts.append(f"```console\n$ {c}\n{_trim(out)}```\n")
                if rc != 0:
                    parts.append(f"(exit code {rc})\n")
        finally:
            os.chdir(cwd)
    WALKTHROUGH.write_text("\n".join(parts))


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    write_walkthrough()
    print(f"wrote {WALKTHROUGH}")
