"""A crash-safe result store: SQLite in WAL mode, one row per point keyed by its stable hash.

Rows are inserted with INSERT OR IGNORE inside one transaction per batch, so a process killed
at any instant (SIGKILL included) leaves every committed batch intact and no partial row; a
restarted sweep reads the committed keys and evaluates only the rest. Only the sweep's main
process writes; readers (tests, reports) may read while it runs.
"""

from __future__ import annotations

import json
import math
import sqlite3
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from infersim.foundation.errors import InfersimError, InputError

if TYPE_CHECKING:
    import pandas as pd

STORE_NAME = "results.sqlite"
SCHEMA_VERSION = "1"


class StoreError(InfersimError):
    """The store could not be written (disk full, I/O error) or read (not a store)."""

    def __init__(self, path: Path, err: BaseException, stored: int) -> None:
        why = str(err) or type(err).__name__
        full = "full" in why or "disk" in why
        fix = ("free disk space and rerun the same command: it resumes from the stored points"
               if full else "check the disk and the file, or use another output folder "
               "(--fresh discards the store)")
        super().__init__(f"{path}: cannot write results ({why}); {stored:,} points are stored "
                         f"safely; {fix}" if stored or full else
                         f"{path}: cannot use the result store ({why}); {fix}")


class ResultStore:
    def __init__(self, path: str | Path, *, study: str, evaluate: str, fresh: bool = False):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if fresh:
            for suffix in ("", "-wal", "-shm"):
                Path(str(self.path) + suffix).unlink(missing_ok=True)
        try:
            self.conn = sqlite3.connect(str(self.path), timeout=30.0, isolation_level=None)
        except sqlite3.Error as e:
            raise StoreError(self.path, e, 0) from None
        try:
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: crash safe
            self.conn.execute("CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT)")
            self.conn.execute(
                "CREATE TABLE IF NOT EXISTS points (key TEXT PRIMARY KEY, params TEXT NOT NULL, "
                "status TEXT NOT NULL, result TEXT NOT NULL, t REAL NOT NULL)")
            self._check_meta(study, evaluate)
        except sqlite3.Error as e:
            self.conn.close()
            raise StoreError(self.path, e, 0) from None
        except BaseException:
            self.conn.close()
            raise

    def _check_meta(self, study: str, evaluate: str) -> None:
        meta = dict(self.conn.execute("SELECT k, v FROM meta").fetchall())
        want = {"schema": SCHEMA_VERSION, "study": study, "evaluate": evaluate}
        if not meta:
            with self.conn:
                self.conn.execute("BEGIN")
                self.conn.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", want.items())
            return
        for k, v in want.items():
            if meta.get(k) != v:
                raise InputError(
                    f"{self.path}: this store holds results of {k} {meta.get(k)!r}, not {v!r}; "
                    "use another output directory or pass --fresh to discard them")

    def done_keys(self) -> set[str]:
        return {k for (k,) in self.conn.execute("SELECT key FROM points")}

    def count(self) -> int:
        try:
            return int(self.conn.execute("SELECT COUNT(*) FROM points").fetchone()[0])
        except sqlite3.Error:
            return 0

    def add(self, rows: Iterable[tuple[str, str, str, dict[str, Any]]]) -> int:
        """Insert (key, params_json, status, result) rows in ONE transaction; returns count."""
        now = time.time()
        data = [(k, p, s, json.dumps(_finite(r), separators=(",", ":")), now)
                for k, p, s, r in rows]
        if not data:
            return 0
        try:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                self.conn.executemany("INSERT OR IGNORE INTO points VALUES (?, ?, ?, ?, ?)",
                                      data)
                self.conn.execute("COMMIT")
            except BaseException:
                if self.conn.in_transaction:
                    self.conn.execute("ROLLBACK")
                raise
        except sqlite3.Error as e:  # disk full, I/O error: the committed batches stay valid
            raise StoreError(self.path, e, self.count()) from None
        return len(data)

    def get(self, keys: Sequence[str]) -> dict[str, tuple[str, dict[str, Any]]]:
        """key → (status, result) for the keys present."""
        out: dict[str, tuple[str, dict[str, Any]]] = {}
        for i in range(0, len(keys), 900):  # SQLite variable limit
            part = list(keys[i:i + 900])
            q = f"SELECT key, status, result FROM points WHERE key IN ({','.join('?' * len(part))})"
            for k, s, r in self.conn.execute(q, part):
                out[k] = (s, json.loads(r))
        return out

    def frame(self, keys: Sequence[str] | None = None) -> pd.DataFrame:
        """All rows (or the given keys, in that order) as params + status + result columns."""
        import pandas as pd

        if keys is None:
            cur = self.conn.execute("SELECT key, params, status, result FROM points ORDER BY rowid")
            recs = [_record(k, p, s, r) for k, p, s, r in cur]
        else:
            rows: dict[str, tuple[str, str, str]] = {}
            for i in range(0, len(keys), 900):
                part = list(keys[i:i + 900])
                q = (f"SELECT key, params, status, result FROM points WHERE key IN "
                     f"({','.join('?' * len(part))})")
                for k, p, s, r in self.conn.execute(q, part):
                    rows[k] = (p, s, r)
            recs = [_record(k, *rows[k]) for k in keys if k in rows]
        return pd.DataFrame.from_records(recs)

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> ResultStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _record(key: str, params: str, status: str, result: str) -> dict[str, Any]:
    rec: dict[str, Any] = {"key": key, **json.loads(params), "status": status}
    r = json.loads(result)
    r.pop("traceback", None)
    rec.update({k: (math.nan if v is None else v) for k, v in r.items()})
    return rec


def _finite(d: dict[str, Any]) -> dict[str, Any]:
    """JSON has no NaN/inf: store them as null (read back as NaN)."""
    return {k: (None if isinstance(v, float) and not math.isfinite(v) else v)
            for k, v in d.items()}
