"""Run a study: generate points, evaluate the missing ones in chunks, stream them to the store.

    result = run_sweep(load_study("study.yaml"), "out/", executor="local", workers=2)
    result.frame            # tidy DataFrame: one row per point, parameters then metrics

Resuming is automatic: points whose key is already in `out/results.sqlite` are not evaluated
again. Outputs: `results.sqlite` (the store), `results.csv`, `results.parquet` (when pyarrow is
installed) and `study.resolved.yaml` (the study as run, for reproducibility).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from infersim.foundation.errors import InputError
from infersim.foundation.io import atomic_write_bytes, atomic_write_text
from infersim.foundation.progress import Progress
from infersim.foundation.yaml import dump_document
from infersim.studies.evaluate import evaluate_chunk
from infersim.studies.executors import (
    DASK_WORKER_WAIT_S,
    Executor,
    TlsFiles,
    check_executor_args,
    make_executor,
)
from infersim.studies.lock import clean_stale_temp_files, output_lock
from infersim.studies.space import Points, canonical, design, point_key, space_size
from infersim.studies.store import STORE_NAME, ResultStore
from infersim.studies.types import Goal, Method, Study

if TYPE_CHECKING:
    import pandas as pd

# Results are committed when this many are buffered, or this often, whichever comes first.
COMMIT_ROWS = 2000
COMMIT_EVERY_S = 0.5

# Most points one sweep evaluates. Every point's parameters and key are held in memory (~1 KB
# each with the store's index), and at the measured ~10^4-10^5 points/min on 2 cores a
# million points is already hours; larger studies should be split or use random/optimize.
MAX_POINTS = 1_000_000


@dataclass(frozen=True)
class SweepResult:
    study: Study
    frame: pd.DataFrame  # one row per point: parameters, status, metrics
    out_dir: Path
    n_points: int  # points in the study's design (optimize: trials)
    n_evaluated: int  # evaluated in this run
    n_reused: int  # found in the store from an earlier run
    n_invalid: int
    n_errors: int
    wall_s: float
    files: tuple[Path, ...] = field(default=())

    @property
    def points_per_minute(self) -> float:
        return 60.0 * self.n_evaluated / self.wall_s if self.wall_s > 0 else math.nan

    def summary(self) -> str:
        s = (f"{self.study.name}: {self.n_points} points ({self.n_evaluated} evaluated, "
             f"{self.n_reused} reused from the store) in {self.wall_s:.1f} s")
        if self.n_evaluated:
            s += f" — {self.points_per_minute:,.0f} points/min"
        if self.n_invalid:
            s += f"; {self.n_invalid} invalid parameter combinations"
        if self.n_errors:
            s += f"; {self.n_errors} ERRORS (see the 'reason' column)"
        return s


def auto_chunk(n_todo: int, workers: int) -> int:
    """Chunks big enough to amortize task overhead, small enough to balance and commit often."""
    if n_todo <= 0:
        return 1
    return int(min(256, max(1, math.ceil(n_todo / (workers * 8)))))


def run_sweep(study: Study, out_dir: str | Path, *, executor: str | Executor = "local",
              workers: int | None = None, scheduler: str | None = None,
              chunk_size: int | None = None, progress: bool = True, fresh: bool = False,
              write_outputs: bool = True, commit_every_s: float = COMMIT_EVERY_S,
              tls: TlsFiles | None = None,
              worker_wait_s: float = DASK_WORKER_WAIT_S) -> SweepResult:
    """Evaluate every point of `study` not yet in `out_dir`'s store; return the tidy table.

    Results are committed at least every `commit_every_s` seconds (0: after every chunk).
    Before anything is written: the study is checked (point count, plot columns) and the
    folder is locked against other sweeps; a refused run leaves the folder unchanged."""
    check_study(study)
    if isinstance(executor, str):
        check_executor_args(executor, scheduler, tls)
    out = Path(out_dir)
    with output_lock(out):
        def new_exec() -> Executor:
            if isinstance(executor, str):
                return make_executor(executor, workers, scheduler, tls=tls,
                                     worker_wait_s=worker_wait_s)
            return executor

        return _run_locked(study, out, new_exec, isinstance(executor, str), chunk_size,
                           progress, fresh, write_outputs, commit_every_s)


def count_points(study: Study) -> float:
    """Points the study will evaluate, computed without generating them."""
    s = study.search
    if s.method is Method.OPTIMIZE:
        return float(s.n_trials)
    if s.method is Method.RANDOM:
        return float(min(s.n, space_size(study)))
    n = 1.0
    for d in study.sweep:
        if d.range is None:
            n *= len(d.values)
        else:
            r = d.range
            k = float(max(r.num, 1))
            n *= min(k, r.high - r.low + 1) if r.integer else k
    return n


def check_study(study: Study) -> None:
    """Refuse, before anything runs or is written, a study too large or with plots naming
    columns its results will not have."""
    from infersim.studies.checks import check_plots

    n = count_points(study)
    if n > MAX_POINTS:
        what = ("trials" if study.search.method is Method.OPTIMIZE else "points")
        raise InputError(f"study {study.name}: {n:,.0f} {what} is more than one sweep runs "
                         f"(at most {MAX_POINTS:,}); use fewer values (num) per dimension, or "
                         "`search: {method: random, n: ...}`")
    for d in study.sweep:
        vals = d.values if d.range is None else (d.range.low, d.range.high)
        for v in vals:
            _check_value(f"sweep.{d.name}", v)
    for name, v in study.fixed.items():
        _check_value(f"fixed.{name}", v)
    check_plots(study)


# Largest magnitude a numeric study value may have: beyond every count or size infersim models,
# and within float and int64 range, so no point fails with an overflow deep in a worker.
MAX_VALUE = 1e15


def _check_value(path: str, v: Any) -> None:
    if isinstance(v, bool) or not isinstance(v, int | float):
        return
    try:
        ok = math.isfinite(float(v)) and abs(v) <= MAX_VALUE
    except OverflowError:
        ok = False
    if not ok:
        raise InputError(f"{path}: {str(v)[:30]} is out of range (numbers must be finite and at "
                         f"most {MAX_VALUE:.0e} in magnitude)")


def _run_locked(study: Study, out: Path, new_exec: Callable[[], Executor], own_exec: bool,
                chunk_size: int | None, progress: bool, fresh: bool, write_outputs: bool,
                commit_every_s: float) -> SweepResult:
    t0 = time.perf_counter()
    # opened (and its owner checked) before anything is written, so a refusal changes nothing
    store = ResultStore(out / STORE_NAME, study=study.name, evaluate=study.evaluate.value,
                        fresh=fresh)
    try:
        clean_stale_temp_files(out)
        if write_outputs:
            atomic_write_text(out / "study.resolved.yaml",
                              dump_document(study.resolved_config()))
    except BaseException:
        store.close()
        raise
    ex: Executor | None = None

    def get_exec() -> Executor:
        nonlocal ex
        if ex is None:
            ex = new_exec()
        return ex

    try:
        if study.search.method is Method.OPTIMIZE:
            keys, stats = _run_optimize(study, store, get_exec, chunk_size, progress,
                                        commit_every_s)
        else:
            keys, stats = _run_design(study, design(study), store, get_exec, chunk_size, progress,
                                     commit_every_s)
        frame = _tidy(study, store.frame(keys))
    finally:
        if own_exec and ex is not None:
            ex.close()
        store.close()
    files: list[Path] = [out / STORE_NAME]
    if write_outputs:
        files += write_tables(frame, out)
    n_invalid = int((frame["status"] == "invalid").sum()) if len(frame) else 0
    n_errors = int((frame["status"] == "error").sum()) if len(frame) else 0
    return SweepResult(study, frame, out, stats["points"], stats["evaluated"], stats["reused"],
                       n_invalid, n_errors, time.perf_counter() - t0, tuple(files))


def write_tables(frame: pd.DataFrame, out: Path) -> list[Path]:
    files = [out / "results.csv"]
    atomic_write_text(files[0], frame.to_csv(index=False))
    try:
        import io

        buf = io.BytesIO()
        frame.to_parquet(buf, index=False)
        atomic_write_bytes(out / "results.parquet", buf.getvalue())
        files.append(out / "results.parquet")
    except ImportError:  # pyarrow absent: CSV only
        pass
    return files


def _tidy(study: Study, df: pd.DataFrame) -> pd.DataFrame:
    """Order columns: parameters, status, then the study's metrics (all if none listed)."""
    if df.empty:
        return df
    params = [p for p in study.parameters if p in df.columns]
    base = ["key", *params, "status"]
    metrics = [m for m in (study.metrics or ()) if m in df.columns]
    if not metrics:
        metrics = [c for c in df.columns if c not in base]
    for must in ("feasible", "reason"):
        if must in df.columns and must not in metrics:
            metrics.insert(0, must)
    return df[base + [m for m in metrics if m not in base]].reset_index(drop=True)


class _Writer:
    """Buffers results and commits them in batches (rows or time, whichever first)."""

    def __init__(self, store: ResultStore, prog: Progress, every_s: float = COMMIT_EVERY_S):
        self.store = store
        self.prog = prog
        self.every_s = every_s
        self.buf: list[tuple[str, str, str, dict[str, Any]]] = []
        self.last = time.perf_counter()

    def add(self, rows: list[tuple[str, str, str, dict[str, Any]]]) -> None:
        self.buf += rows
        now = time.perf_counter()
        if len(self.buf) >= COMMIT_ROWS or now - self.last >= self.every_s:
            self.flush()
        self.prog.update(len(rows))

    def flush(self) -> None:
        self.store.add(self.buf)
        self.buf = []
        self.last = time.perf_counter()


def _evaluate(study: Study, names: tuple[str, ...], rows: Sequence[tuple[Any, ...]],
              keys: Sequence[str], writer: _Writer, get_exec: Callable[[], Executor],
              chunk_size: int | None) -> dict[str, tuple[str, dict[str, Any]]]:
    """Evaluate rows (in chunks, in parallel), stream results to the store, return them."""
    results: dict[str, tuple[str, dict[str, Any]]] = {}
    if not rows:
        return results
    ex = get_exec()
    size = chunk_size or auto_chunk(len(rows), ex.workers)
    kind = study.evaluate.value

    def tasks() -> Iterator[tuple[int, tuple[Any, ...]]]:
        for start in range(0, len(rows), size):
            yield start, (kind, names, list(rows[start:start + size]))

    for start, chunk_res in ex.run(evaluate_chunk, tasks()):
        batch = []
        for j, (status, res) in enumerate(chunk_res):
            i = start + j
            params = canonical(dict(zip(names, rows[i], strict=True)))
            batch.append((keys[i], params, status, res))
            results[keys[i]] = (status, res)
        writer.add(batch)
    writer.flush()
    return results


def _run_design(study: Study, pts: Points, store: ResultStore,
                get_exec: Callable[[], Executor], chunk_size: int | None,
                progress: bool, commit_every_s: float) -> tuple[list[str], dict[str, int]]:
    keys = pts.keys()
    done = store.done_keys()
    todo = [i for i, k in enumerate(keys) if k not in done]
    reused = len(keys) - len(todo)
    prog = Progress(len(keys), done=reused, enabled=progress)
    writer = _Writer(store, prog, commit_every_s)
    _evaluate(study, pts.names, [pts.rows[i] for i in todo], [keys[i] for i in todo], writer,
              get_exec, chunk_size)
    prog.close()
    return keys, {"points": len(keys), "evaluated": len(todo), "reused": reused}


def _run_optimize(study: Study, store: ResultStore, get_exec: Callable[[], Executor],
                  chunk_size: int | None, progress: bool,
                  commit_every_s: float) -> tuple[list[str], dict[str, int]]:
    """NSGA-II (optuna) in generations of `population` trials, evaluated in parallel.

    Deterministic for a seed: each generation is asked in full, evaluated, then told in trial
    order. On resume, the sampler is replayed from the store (same seed → same suggestions),
    so stored points are told without re-evaluation."""
    import optuna

    from infersim.studies.optimize import distributions

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    s = study.search
    sampler = optuna.samplers.NSGAIISampler(population_size=s.population, seed=s.seed)
    directions: list[Any] = ["minimize" if o.goal is Goal.MINIMIZE else "maximize"
                             for o in s.objectives]
    ost = optuna.create_study(directions=directions, sampler=sampler)
    dists = distributions(study)
    names = study.parameters
    base = dict(study.fixed)
    keys_in_order: list[str] = []
    seen: set[str] = set()
    evaluated = reused = 0
    prog = Progress(s.n_trials, enabled=progress, label="trials")
    writer = _Writer(store, prog, commit_every_s)
    while len(ost.trials) < s.n_trials:
        batch = min(s.population, s.n_trials - len(ost.trials))
        trials = [ost.ask(dists) for _ in range(batch)]
        rows = []
        for t in trials:
            p = {**base, **t.params}
            rows.append(tuple(p.get(n) for n in names))
        keys = [point_key(dict(zip(names, r, strict=True))) for r in rows]
        known = store.get(keys)
        todo = [i for i, k in enumerate(keys) if k not in known]
        todo_unique: dict[str, int] = {}
        for i in todo:
            todo_unique.setdefault(keys[i], i)
        idx = list(todo_unique.values())
        reused += batch - len(todo)
        prog.update(batch - len(todo))
        new = _evaluate(study, names, [rows[i] for i in idx], [keys[i] for i in idx], writer,
                        get_exec, chunk_size)
        evaluated += len(idx)
        prog.update(len(todo) - len(idx))
        known.update(new)
        for t, k in zip(trials, keys, strict=True):
            status, res = known[k]
            vals = [res.get(o.metric) for o in s.objectives]
            ok = status == "ok" and res.get("feasible", True) and all(
                isinstance(v, (int, float)) and math.isfinite(v) for v in vals)
            if ok:
                ost.tell(t, [float(v) for v in vals if v is not None])
            else:
                ost.tell(t, state=optuna.trial.TrialState.FAIL)
            if k not in seen:
                seen.add(k)
                keys_in_order.append(k)
    prog.close()
    return keys_in_order, {"points": s.n_trials, "evaluated": evaluated, "reused": reused}
