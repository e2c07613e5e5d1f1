"""A sweep killed with SIGKILL and restarted resumes without losing or duplicating points."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from infersim.studies.runner import run_sweep
from infersim.studies.space import grid_points
from infersim.studies.spec import load_study

STUDY = """
name: resume-test
fixed:
  model: llama-3.1-8b
  hardware: h100-sxm
  scenario: {phase: decode}
sweep:
  scenario.batch: {min: 1, max: 512, int: true, num: 100}
  scenario.context: {min: 128, max: 8192, int: true, num: 40}
search: {method: grid}
metrics: [latency_s, tokens_per_s, energy_per_token_j]
"""


def _rows(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1) as c:
            return int(c.execute("SELECT COUNT(*) FROM points").fetchone()[0])
    except sqlite3.OperationalError:  # table not created yet
        return 0


def _sweep_cmd(study: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "infersim", "sweep", str(study), "-o", str(out),
            "--workers", "2", "--chunk-size", "16", "--commit-every", "0", "--no-report",
            "--no-progress", "--json"]


@pytest.mark.slow
def test_sigkill_then_resume(write_study, tmp_path):
    study_path = write_study(STUDY)
    study = load_study(study_path)
    expected_keys = set(grid_points(study).keys())
    n = len(expected_keys)
    assert n == 4000
    out = tmp_path / "killed"
    db = out / "results.sqlite"

    proc = subprocess.Popen(_sweep_cmd(study_path, out), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.monotonic() + 120
    try:
        while _rows(db) == 0:
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
            assert time.monotonic() < deadline, "no rows committed in 120 s"
            time.sleep(0.005)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the sweep and its worker processes
        proc.wait(timeout=30)
    partial = _rows(db)
    assert 0 < partial < n, f"kill did not land mid-sweep ({partial}/{n} rows)"

    # Restart: only the missing points are evaluated.
    res = subprocess.run(_sweep_cmd(study_path, out), capture_output=True, text=True,
                         timeout=600)
    assert res.returncode == 0, res.stderr
    summary = json.loads(res.stdout)
    assert summary["reused"] >= partial
    assert summary["evaluated"] + summary["reused"] == n

    with sqlite3.connect(db) as c:
        keys = [k for (k,) in c.execute("SELECT key FROM points")]
    assert len(keys) == len(set(keys)) == n  # no duplicates, nothing lost
    assert set(keys) == expected_keys

    # Values equal a clean, uninterrupted run.
    clean = run_sweep(study, tmp_path / "clean", executor="inline", progress=False).frame
    resumed = pd.read_csv(out / "results.csv", dtype={"key": str})
    assert resumed["key"].tolist() == clean["key"].tolist()
    for col in ("latency_s", "tokens_per_s", "energy_per_token_j"):
        assert resumed[col].to_numpy() == pytest.approx(clean[col].to_numpy(), rel=1e-12)
