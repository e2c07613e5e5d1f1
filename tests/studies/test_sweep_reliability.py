"""Sweeps under hostile conditions: huge grids, bad plot specs, `$` in titles, a folder in use,
refused runs, stale temp files, a full disk, SIGKILL of the main process or the whole group."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from infersim.cli import main
from infersim.foundation.errors import InputError, SpecError
from infersim.studies import plots as P
from infersim.studies.lock import LOCK_NAME
from infersim.studies.runner import run_sweep
from infersim.studies.space import grid_points
from infersim.studies.spec import load_study
from infersim.studies.store import ResultStore

SMALL = """
name: rel-small
fixed:
  model: llama-3.2-1b
  hardware: h100-sxm
  scenario: {phase: decode}
sweep:
  scenario.batch: [1, 4, 16]
  scenario.context: [512, 2048]
search: {method: grid}
metrics: [latency_s, tokens_per_s]
"""


def _snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(folder)): (p.stat().st_mtime_ns, p.stat().st_size)
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _one_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    return err


def test_huge_grid_refused_with_count_before_anything(write_study, tmp_path, capsys):
    p = write_study(SMALL.replace("scenario.batch: [1, 4, 16]",
                                  "scenario.batch: {min: 1, max: 1000000000, int: true, "
                                  "num: 100000000}"))
    out = tmp_path / "out"
    t = time.perf_counter()
    assert main(["sweep", str(p), "-o", str(out), "--no-progress"]) == 2
    err = _one_line(capsys)
    assert time.perf_counter() - t < 5
    assert "200,000,000 points" in err and "1,000,000" in err
    assert not out.exists()


def test_plot_axis_that_is_not_a_column_refused_before_any_point(write_study, tmp_path):
    p = write_study(SMALL + "plots:\n  - {kind: line, x: batch, y: latency_s}\n"
                    "  - {kind: line, x: scenario.batch, y: reason}\n")
    with pytest.raises(SpecError) as e:
        run_sweep(load_study(p), tmp_path / "out", executor="inline", progress=False)
    assert e.value.paths == ["plots[0].x", "plots[1].y"]
    assert "did you mean 'scenario.batch'" in str(e.value)
    assert not (tmp_path / "out").exists()


def test_dollar_titles_render_and_a_failing_plot_keeps_the_others(write_study, tmp_path,
                                                                    monkeypatch, capsys):
    p = write_study(SMALL + "plots:\n"
                    "  - {kind: line, x: scenario.batch, y: latency_s, title: '$x^$ cost $'}\n"
                    "  - {kind: scatter, x: latency_s, y: tokens_per_s, title: '$\\\\frac$'}\n"
                    "  - {kind: bar, x: scenario.batch, y: tokens_per_s, "
                    "group: scenario.context}\n")
    real_bar = P.bar

    def broken_bar(*a, **k):
        raise RuntimeError("boom")

    monkeypatch.setattr(P, "bar", broken_bar)
    out = tmp_path / "out"
    assert main(["sweep", str(p), "-o", str(out), "--workers", "1", "--no-progress"]) == 0
    err = capsys.readouterr().err
    assert "plots[2] (bar) not drawn: RuntimeError: boom" in err and "Traceback" not in err
    assert (out / "results.csv").exists() and (out / "report.html").exists()
    assert sorted(f.name for f in (out / "plots").glob("*.png")) == ["01-line.png",
                                                                      "02-scatter.png"]
    assert "not drawn" in (out / "report.html").read_text()
    svg = (out / "plots" / "01-line.svg").read_text()
    assert "$x^$ cost $" in svg  # the title as written, not parsed as math
    assert real_bar is not broken_bar


def test_refused_run_changes_nothing_on_disk(write_study, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["sweep", str(write_study(SMALL)), "-o", str(out), "--workers", "1",
                 "--no-progress", "--no-report"]) == 0
    before = _snapshot(out)
    other = write_study(SMALL.replace("rel-small", "another-study"), "other.yaml")
    capsys.readouterr()
    assert main(["sweep", str(other), "-o", str(out), "--workers", "1", "--no-progress"]) == 2
    assert "another-study" in _one_line(capsys)
    assert _snapshot(out) == before
    assert not (out / LOCK_NAME).exists()


_HOLD = """
import sys, time
from infersim.studies.lock import output_lock
with output_lock(sys.argv[1]):
    print("held", flush=True)
    time.sleep(60)
"""


def test_second_run_on_a_folder_in_use_is_refused_and_fresh_deletes_nothing(
        write_study, tmp_path, capsys):
    study = write_study(SMALL)
    out = tmp_path / "out"
    assert main(["sweep", str(study), "-o", str(out), "--workers", "1", "--no-progress",
                 "--no-report"]) == 0
    holder = subprocess.Popen([sys.executable, "-c", _HOLD, str(out)], stdout=subprocess.PIPE,
                              text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        before = _snapshot(out)
        capsys.readouterr()
        assert main(["sweep", str(study), "-o", str(out), "--fresh", "--workers", "1",
                     "--no-progress"]) == 2
        err = _one_line(capsys)
        assert f"pid {holder.pid}" in err and "another sweep" in err
        assert _snapshot(out) == before  # --fresh did not delete the store in use
    finally:
        holder.kill()
        holder.wait()
    # the holder died: its lock died with it
    assert main(["sweep", str(study), "-o", str(out), "--workers", "1", "--no-progress",
                 "--no-report", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["reused"] == 6


def test_stale_temp_files_are_removed(write_study, tmp_path):
    out = tmp_path / "out"
    (out / "plots").mkdir(parents=True)
    stale = [out / ".results.csv.k3j2.tmp", out / "plots" / ".01-line.png.x1.tmp"]
    for f in stale:
        f.write_bytes(b"x" * 1000)
    keep = out / "notes.txt"
    keep.write_text("mine")
    run_sweep(load_study(write_study(SMALL)), out, executor="inline", progress=False)
    assert not any(f.exists() for f in stale) and keep.read_text() == "mine"


class _FullDisk:
    """A connection whose third batch insert fails as SQLite fails on a full disk."""

    def __init__(self, conn, calls):
        self._conn, self._calls = conn, calls

    def executemany(self, *a):
        self._calls["n"] += 1
        if self._calls["n"] == 3:
            raise sqlite3.OperationalError("database or disk is full")
        return self._conn.executemany(*a)

    def __getattr__(self, name):
        return getattr(self._conn, name)


def test_disk_full_is_one_line_and_the_store_resumes(write_study, tmp_path, monkeypatch,
                                                    capsys):
    study = write_study(SMALL)
    out = tmp_path / "out"
    real_init = ResultStore.__init__
    calls = {"n": 0}

    def init(self, *a, **k):
        real_init(self, *a, **k)
        self.conn = _FullDisk(self.conn, calls)

    monkeypatch.setattr(ResultStore, "__init__", init)
    args = ["sweep", str(study), "-o", str(out), "--workers", "1", "--chunk-size", "1",
            "--commit-every", "0", "--no-progress", "--no-report"]
    assert main(args) == 2
    err = _one_line(capsys)
    assert "database or disk is full" in err and "2 points are stored" in err
    assert "rerun the same command" in err
    monkeypatch.setattr(ResultStore, "__init__", real_init)
    assert main([*args, "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["reused"] == 2 and d["evaluated"] == 4
    with sqlite3.connect(out / "results.sqlite") as c:
        keys = [k for (k,) in c.execute("SELECT key FROM points")]
    assert sorted(keys) == sorted(grid_points(load_study(study)).keys())


_FULL_DISK = """
import resource, signal, sys
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
from infersim.cli import main
limit, args = int(sys.argv[1]), sys.argv[2:]
resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))
rc = main(args)
print("RC", rc, file=sys.stderr)
resource.setrlimit(resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
sys.exit(main(args + ["--json"]))
"""


def test_real_write_limit_gives_one_line_then_resumes(write_study, tmp_path):
    # RLIMIT_FSIZE makes writes past a size fail (EFBIG) as a full disk fails them: the store's
    # write-ahead log grows a page or more per commit, so the limit is hit mid-sweep.
    study = write_study(SMALL.replace("[512, 2048]", "[512, 1024, 2048, 4096, 8192, 16384]"))
    out = tmp_path / "out"
    args = ["sweep", str(study), "-o", str(out), "--workers", "1", "--chunk-size", "1",
            "--commit-every", "0", "--no-progress", "--no-report"]
    r = subprocess.run([sys.executable, "-c", _FULL_DISK, "80000", *args],
                       capture_output=True, text=True, timeout=120)
    first, _, rest = r.stderr.partition("RC ")
    assert rest.startswith("2"), r.stderr
    assert len(first.strip().splitlines()) == 1 and "Traceback" not in r.stderr, r.stderr
    assert "points are stored safely" in first
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert 0 < d["reused"] < 18 and d["reused"] + d["evaluated"] == 18


STUDY_4000 = """
name: kill-test
fixed:
  model: llama-3.1-8b
  hardware: h100-sxm
  scenario: {phase: decode}
sweep:
  scenario.batch: {min: 1, max: 512, int: true, num: 100}
  scenario.context: {min: 128, max: 8192, int: true, num: 40}
search: {method: grid}
metrics: [latency_s]
"""


def _children(pid: int) -> set[int]:
    kids = set()
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                stat = (d / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                kids.add(int(d.name))
    return kids


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _rows(db: Path) -> int:
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1) as c:
            return int(c.execute("SELECT COUNT(*) FROM points").fetchone()[0])
    except sqlite3.OperationalError:
        return 0


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")
@pytest.mark.parametrize("group", [False, True], ids=["main-only", "whole-group"])
def test_sigkill_leaves_no_orphans_and_resumes_exactly(write_study, tmp_path, group, capsys):
    study = write_study(STUDY_4000)
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "infersim", "sweep", str(study), "-o", str(out),
           "--workers", "2", "--chunk-size", "8", "--commit-every", "0", "--no-report",
           "--no-progress"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.monotonic() + 120
    try:
        while _rows(out / "results.sqlite") < 50:
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.01)
        workers = _children(proc.pid)
        assert len(workers) >= 2
        # a concurrent run on the same folder is refused while this one lives
        assert main(["sweep", str(study), "-o", str(out), "--workers", "1",
                     "--no-progress"]) == 2
        assert f"pid {proc.pid}" in capsys.readouterr().err
    finally:
        if group:
            os.killpg(proc.pid, signal.SIGKILL)
        else:
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    end = time.monotonic() + 10
    while any(_alive(w) for w in workers) and time.monotonic() < end:
        time.sleep(0.05)
    assert not any(_alive(w) for w in workers), "pool workers outlived the sweep"
    partial = _rows(out / "results.sqlite")
    assert 0 < partial < 4000
    assert main([*cmd[3:], "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["reused"] == partial and d["evaluated"] + d["reused"] == 4000
    with sqlite3.connect(out / "results.sqlite") as c:
        keys = [k for (k,) in c.execute("SELECT key FROM points")]
    assert len(keys) == len(set(keys)) == 4000
    assert set(keys) == set(grid_points(load_study(study)).keys())


def test_point_cap_counts_random_and_optimize(write_study):
    from infersim.studies.runner import MAX_POINTS, count_points

    s = load_study(write_study(SMALL.replace("search: {method: grid}",
                                             "search: {method: random, n: 5, seed: 1}")))
    assert count_points(s) == 5
    s = load_study(write_study(SMALL))
    assert count_points(s) == 6 == len(grid_points(s)) and MAX_POINTS >= 6
    with pytest.raises(InputError):
        from infersim.studies.runner import check_study

        check_study(load_study(write_study(SMALL.replace(
            "[512, 2048]", "{min: 1, max: 9000000, int: true, num: 5000000}"))))


def test_study_run_holds_the_folder_lock_and_takes_the_dask_options(tmp_path, capsys):
    out = tmp_path / "out"
    holder = subprocess.Popen([sys.executable, "-c", _HOLD, str(out)], stdout=subprocess.PIPE,
                              text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        before = _snapshot(out)
        capsys.readouterr()
        assert main(["study", "run", "quantization-specdec", "--quick", "-o", str(out),
                     "--workers", "1", "--worker-timeout", "5"]) == 2
        err = _one_line(capsys)
        assert f"pid {holder.pid}" in err
        assert _snapshot(out) == before
    finally:
        holder.kill()
        holder.wait()
    # TLS files are checked like sweep's: a CA without a certificate is one line, exit 2
    assert main(["study", "run", "quantization-specdec", "--quick", "-o", str(out),
                 "--executor", "dask", "--scheduler", "tls://127.0.0.1:1",
                 "--tls-ca", str(tmp_path / "ca.pem")]) == 2
    assert "--tls-cert" in _one_line(capsys)


_ORPHAN = """
import os, sys, time
from infersim.studies.lock import output_lock
with output_lock(sys.argv[1]):
    if os.fork() == 0:  # a forked pool worker: it inherits the locked descriptor
        os.close(1)
        os.close(2)
        time.sleep(float(sys.argv[2]))
        os._exit(0)
    print("held", flush=True)
    os._exit(0)  # the sweep dies (no cleanup); its worker still holds the lock
"""


def test_a_dead_sweeps_lingering_worker_delays_the_next_run_but_does_not_refuse_it(
        tmp_path, monkeypatch):
    """The lock file names a dead pid while a forked worker of it still holds the lock: the
    next run waits for the worker (up to ORPHAN_WAIT_S) instead of refusing."""
    import time as _time

    from infersim.studies import lock
    from infersim.studies.lock import ORPHAN_WAIT_S, output_lock

    out = tmp_path / "out"
    p = subprocess.run([sys.executable, "-c", _ORPHAN, str(out), "1.0"], capture_output=True,
                       text=True, timeout=60)
    assert p.stdout.strip() == "held"
    t0 = _time.monotonic()
    with output_lock(out):  # the worker exits after 1 s: taken, not refused
        waited = _time.monotonic() - t0
    assert 0.2 < waited < ORPHAN_WAIT_S
    # a worker outliving the patience: refused
    monkeypatch.setattr(lock, "ORPHAN_WAIT_S", 0.3)
    p = subprocess.run([sys.executable, "-c", _ORPHAN, str(out), "2.0"],
                       capture_output=True, text=True, timeout=60)
    assert p.stdout.strip() == "held"
    with pytest.raises(InputError, match="another sweep"), output_lock(out):
        pass
