"""Designs: grid/random/optimize give the expected number of points, deterministically."""

from __future__ import annotations

import json
import subprocess
import sys

from infersim.studies.runner import run_sweep
from infersim.studies.space import grid_points, point_key, random_points
from infersim.studies.spec import load_study, parse_study
from infersim.studies.types import Dimension, Range
from tests._support import SMALL_GRID


def test_grid_is_full_factorial_in_listed_order(write_study):
    s = load_study(write_study(SMALL_GRID), check_refs=False)
    pts = grid_points(s)
    assert len(pts) == 3 * 2
    got = [(p["scenario.batch"], p["scenario.context"]) for p in pts]
    assert got == [(1, 512), (1, 2048), (4, 512), (4, 2048), (16, 512), (16, 2048)]
    assert all(p["model"] == "llama-3.1-8b" for p in pts)


def test_log_int_range_grid_values_by_hand():
    # 9 log-spaced points from 1 to 256 are the powers of two 2^0 .. 2^8.
    r = Range(1, 256, log=True, integer=True, num=9)
    assert r.grid() == (1, 2, 4, 8, 16, 32, 64, 128, 256)
    # linear: 0, 2.5, 5, 7.5, 10
    assert Range(0.0, 10.0, num=5).grid() == (0.0, 2.5, 5.0, 7.5, 10.0)
    # integer rounding that collides keeps each value once: 1..3 in 5 steps → 1, 2, 3
    assert Range(1, 3, integer=True, num=5).grid() == (1, 2, 3)
    assert Dimension("x", (3, 1)).grid_values() == (3, 1)


def _random_study(seed: int, n: int = 25):
    return parse_study({
        "name": "rnd", "sweep": {
            "scenario.batch": {"min": 1, "max": 512, "log": True, "int": True},
            "scenario.context": [256, 1024, 4096],
            "economics.usd_per_kwh": {"min": 0.05, "max": 0.30}},
        "search": {"method": "random", "n": n, "seed": seed}}, check_refs=False)


def test_random_count_domain_and_determinism():
    a = random_points(_random_study(7))
    b = random_points(_random_study(7))
    c = random_points(_random_study(8))
    assert len(a) == 25
    assert a.rows == b.rows  # same seed → same points
    assert a.rows != c.rows  # another seed → other points
    assert len(set(a.rows)) == 25  # distinct
    for p in a:
        assert 1 <= p["scenario.batch"] <= 512 and isinstance(p["scenario.batch"], int)
        assert p["scenario.context"] in (256, 1024, 4096)
        assert 0.05 <= p["economics.usd_per_kwh"] <= 0.30


def test_random_on_small_space_returns_all_points():
    s = parse_study({"name": "tiny", "sweep": {"scenario.batch": [1, 2, 3]},
                     "search": {"method": "random", "n": 50, "seed": 0}}, check_refs=False)
    pts = random_points(s)
    assert sorted(p["scenario.batch"] for p in pts) == [1, 2, 3]


def test_point_key_is_order_independent_and_stable_across_processes():
    p1 = {"model": "m", "scenario.batch": 4, "hw.memory.hbm.bandwidth_tb_per_s": 3.35}
    p2 = dict(reversed(list(p1.items())))
    assert point_key(p1) == point_key(p2)
    assert point_key(p1) != point_key({**p1, "scenario.batch": 5})
    # A fresh interpreter (different hash randomization) computes the same key.
    code = ("import json,sys; from infersim.studies.space import point_key; "
            "print(point_key(json.loads(sys.argv[1])))")
    out = subprocess.run([sys.executable, "-c", code, json.dumps(p1)], capture_output=True,
                         text=True, check=True, env={"PYTHONHASHSEED": "123", "PATH": ""})
    assert out.stdout.strip() == point_key(p1)


OPT = {
    "name": "opt", "fixed": {"model": "llama-3.1-8b", "hardware": "h100-sxm",
                             "scenario": {"phase": "decode", "context": 1024}},
    "sweep": {"scenario.batch": {"min": 1, "max": 256, "log": True, "int": True},
              "runtime": ["graph", "fused"]},
    "search": {"method": "optimize", "n_trials": 24, "population": 8, "seed": 3,
               "objectives": {"tokens_per_s": "maximize", "latency_s": "minimize"}},
}


def test_optimize_trials_and_determinism(tmp_path):
    s = parse_study(OPT)
    r1 = run_sweep(s, tmp_path / "a", executor="inline", progress=False)
    r2 = run_sweep(s, tmp_path / "b", executor="inline", progress=False)
    assert r1.n_points == 24
    assert 1 <= len(r1.frame) <= 24  # repeated suggestions are stored once
    assert r1.n_evaluated == len(r1.frame)
    cols = ["scenario.batch", "runtime", "tokens_per_s", "latency_s"]
    assert r1.frame[cols].equals(r2.frame[cols])  # same seed → same trials and values
    # Resuming replays the sampler from the store: nothing is evaluated again.
    r3 = run_sweep(s, tmp_path / "a", executor="inline", progress=False)
    assert r3.n_evaluated == 0 and r3.n_reused == 24
    assert r3.frame[cols].equals(r1.frame[cols])


def test_grid_sweep_counts_and_resume_in_process(write_study, tmp_path):
    s = load_study(write_study(SMALL_GRID))
    r1 = run_sweep(s, tmp_path / "o", executor="inline", progress=False)
    assert r1.n_points == 6 and r1.n_evaluated == 6 and len(r1.frame) == 6
    assert (r1.frame["status"] == "ok").all()
    r2 = run_sweep(s, tmp_path / "o", executor="inline", progress=False)
    assert r2.n_evaluated == 0 and r2.n_reused == 6
    assert (tmp_path / "o" / "results.csv").exists()
    assert (tmp_path / "o" / "study.resolved.yaml").exists()
