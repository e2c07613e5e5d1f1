"""One sweep per output folder: an exclusive `flock` on `<out>/.infersim-sweep.lock`.

The lock is held by an open file descriptor, so the kernel drops it when its process dies
(SIGKILL included): a stale lock file never blocks a later run. The holder writes its pid and
start time into the file, so a refused run can name it. Locks are re-entrant within a process
(the CLI holds the folder for the sweep and its plots; `run_sweep` takes it again inside).

A run refused for any reason before it wrote results leaves the folder as it found it: the
lock file and the folder are removed again if this run created them.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from infersim.foundation.errors import InputError

LOCK_NAME = ".infersim-sweep.lock"
# A killed sweep's pool workers are forked with the lock's descriptor and hold the lock until
# they notice and exit (`executors.die_with_parent`: at once on Linux, else within its 1 s
# poll); a run that finds the recorded holder dead waits this long for them.
ORPHAN_WAIT_S = 5.0

_held: dict[str, int] = {}  # realpath of the folder -> nesting depth held by this process


def _record(path: Path) -> tuple[int, str] | None:
    """(pid, start time) the holder wrote into the lock file; None when unreadable."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace").strip()
    except OSError:
        return None
    pid, _, started = text.partition(" ")
    return (int(pid), started) if pid.isdigit() else None


def _holder(path: Path) -> str:
    rec = _record(path)
    if rec is None:
        return "another process"
    when = ""
    try:
        when = f", started {time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(float(rec[1])))}"
    except (ValueError, OverflowError, OSError):
        pass
    return f"pid {rec[0]}{when}"


def _holder_alive(path: Path) -> bool:
    """Is the pid recorded in the lock file a live process? (A file gone: no, try again; an
    unreadable pid: assume so.)"""
    if not path.exists():
        return False
    rec = _record(path)
    if rec is None:
        return True
    try:
        os.kill(rec[0], 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, not ours to signal
        return True
    return True


@contextmanager
def output_lock(out: str | Path) -> Iterator[Path]:
    """Hold `out` exclusively for the duration; refuse (InputError) if another run holds it."""
    import fcntl

    folder = Path(out)
    made_dirs = []
    p = folder.absolute()
    while not p.exists():
        made_dirs.append(p)
        p = p.parent
    folder.mkdir(parents=True, exist_ok=True)
    key = os.path.realpath(folder)
    if key in _held:
        _held[key] += 1
        try:
            yield folder
        finally:
            _held[key] -= 1
        return
    path = folder / LOCK_NAME
    patience = time.monotonic() + ORPHAN_WAIT_S
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            if not _holder_alive(path) and time.monotonic() < patience:
                time.sleep(0.05)  # a dead sweep's forked workers still hold it: they exit
                continue
            raise InputError(f"{folder}: another sweep is writing to this folder "
                             f"({_holder(path)}); wait for it to finish, or use another "
                             "output folder (-o)") from None
        # the previous holder may have removed the file between our open and our lock
        try:
            same = os.stat(path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()} {time.time():.0f}\n".encode())
    _held[key] = 1
    try:
        yield folder
    finally:
        del _held[key]
        # unlink while still holding the lock: a waiter that opened the old file re-checks
        # the inode after locking and starts over on the new one
        try:
            path.unlink()
        except FileNotFoundError:
            pass
        os.close(fd)
        for d in made_dirs:  # a refused run leaves no folder behind it (only empty ones go)
            try:
                d.rmdir()
            except OSError:
                break


def clean_stale_temp_files(out: Path) -> list[Path]:
    """Remove `.<name>.<random>.tmp` files an interrupted atomic write left behind (call only
    while holding the folder's lock: no other writer can own them then)."""
    removed = []
    for d in (out, out / "plots"):
        if not d.is_dir():
            continue
        for e in os.scandir(d):
            if e.name.startswith(".") and e.name.endswith(".tmp") and e.is_file():
                try:
                    os.unlink(e.path)
                    removed.append(Path(e.path))
                except OSError:
                    pass
    return removed
