"""Progress on stderr for long runs, with elapsed time and an ETA.

Two displays of one count of work done against a total:
- `update(n)` after each batch of equal-cost items (sweep points): a bar redrawn in place on a
  terminal, sparse lines in logs; the rate counts only items done in this run (items resumed
  from an earlier run are shown as done from the start);
- `step(label, weight)` before each step of unequal cost (calibration kernels): one line per
  step; the ETA weighs steps by their estimated cost, so it does not jump when a sweep reaches
  DRAM-sized cases.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO


def fmt_duration(s: float) -> str:
    """h:mm:ss or m:ss."""
    s = max(0, round(s))
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    return f"{h}:{m:02d}:{sec:02d}" if h else f"{m}:{sec:02d}"


def _fmt_short(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:4.1f}s"
    return f"{int(seconds // 60)}m{int(seconds % 60):02d}s"


class Progress:
    """Work done out of `total` (items, or summed step weights); `close()` ends the display."""

    def __init__(self, total: float, *, done: float = 0, label: str = "points",
                 steps: int = 0, stream: TextIO | None = None, enabled: bool = True,
                 width: int = 28, clock: Callable[[], float] = time.perf_counter):
        self.total = total
        self.done = done
        self.start_done = done
        self.label = label
        self.steps = steps
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = enabled
        self.width = width
        self.clock = clock
        self.t0 = clock()
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.index = 0  # steps started
        self._pending = 0.0  # weight of the step in progress
        self._last = 0.0
        self._emitted_at: float = -1
        self._interval = 0.2 if self.tty else 5.0

    def elapsed(self) -> float:
        return self.clock() - self.t0

    # ---- equal-cost items: a bar ---------------------------------------------------------
    def line(self) -> str:
        elapsed = self.elapsed()
        new = self.done - self.start_done
        rate = new / elapsed if elapsed > 0 else 0.0
        frac = self.done / self.total if self.total else 1.0
        fill = int(frac * self.width)
        bar = "#" * fill + "-" * (self.width - fill)
        eta = fmt_duration((self.total - self.done) / rate) if rate > 0 else "?"
        return (f"[{bar}] {self.done}/{self.total} {self.label} {100 * frac:5.1f}% "
                f"{rate:,.0f}/s elapsed {fmt_duration(elapsed)} ETA {eta}")

    def update(self, n: int) -> None:
        self.done += n
        if not self.enabled:
            return
        now = self.clock()
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
        if self.enabled and not self.index:
            if self._emitted_at != self.done:
                self._emit()
            if self.tty:
                self.stream.write("\n")
            self.stream.flush()

    # ---- steps of unequal cost: a line each ------------------------------------------------
    def step(self, label: str, weight: float = 1.0) -> None:
        """Call before each step; `weight` is its estimated cost in units of `total`."""
        self.done += self._pending
        self._pending = weight
        self.index += 1
        if not self.enabled:
            return
        elapsed = self.elapsed()
        if self.done > 0:
            eta_s = f"ETA {_fmt_short(elapsed * (self.total - self.done) / self.done)}"
        else:
            eta_s = "ETA   --"
        print(f"[{self.index:>{len(str(self.steps))}}/{self.steps}] {label:<34} "
              f"{_fmt_short(elapsed)} elapsed, {eta_s}", file=self.stream, flush=True)

    def note(self, text: str) -> None:
        if self.enabled:
            print(text, file=self.stream, flush=True)
