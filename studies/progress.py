"""A progress bar with rate and ETA on stderr (a redrawn line on a terminal, sparse lines in logs)."""

from __future__ import annotations

import sys
import time
from typing import TextIO


def _fmt_s(s: float) -> str:
    s = max(0, round(s))
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    return f"{h}:{m:02d}:{sec:02d}" if h else f"{m}:{sec:02d}"


class Progress:
    """`update(n)` after each batch; `close()` prints the final line. Rate counts only points
    evaluated in this run (resumed points are shown as done from the start)."""

    def __init__(self, total: int, *, done: int = 0, label: str = "points",
                 stream: TextIO | None = None, enabled: bool = True, width: int = 28):
        self.total = total
        self.done = done
        self.start_done = done
        self.label = label
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = enabled
        self.width = width
        self.t0 = time.perf_counter()
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self._last = 0.0
        self._emitted_at = -1
        self._interval = 0.2 if self.tty else 5.0

    def line(self) -> str:
        elapsed = time.perf_counter() - self.t0
        new = self.done - self.start_done
        rate = new / elapsed if elapsed > 0 else 0.0
        frac = self.done / self.total if self.total else 1.0
        fill = int(frac * self.width)
        bar = "#" * fill + "-" * (self.width - fill)
        left = self.total - self.done
        eta = _fmt_s(left / rate) if rate > 0 else "?"
        return (f"[{bar}] {self.done}/{self.total} {self.label} {100 * frac:5.1f}% "
                f"{rate:,.0f}/s elapsed {_fmt_s(elapsed)} ETA {eta}")

    def update(self, n: int) -> None:
        self.done += n
        if not self.enabled:
            return
        now = time.perf_counter()
        if now - self._last >= self._interval or self.done >= self.total:
            self._last = now
            self._emit()

    def _emit(self) -> None:
        self._emitted_at = self.done
        if self.tty:
            self.stream.write("\r" + self.line() + "\x1b[K")
        else:
            self.stream.write(self.line() + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.enabled:
            if self._emitted_at != self.done:
                self._emit()
            if self.tty:
                self.stream.write("\n")
            self.stream.flush()
