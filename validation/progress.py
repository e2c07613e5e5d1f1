"""Progress display for long measurements: one line per step on stderr, with an ETA.

The ETA weighs steps by an estimate of their cost (a large working set takes longer than a
small one), so it does not jump when the sweep reaches DRAM-sized cases.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO


def _fmt(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:4.1f}s"
    return f"{int(seconds // 60)}m{int(seconds % 60):02d}s"


class Progress:
    """`step(label, weight)` before each step prints `[i/n] label  elapsed  ETA`."""

    def __init__(self, total_weight: float, steps: int, stream: TextIO | None = None,
                 enabled: bool = True, clock=time.monotonic):
        self.total = max(total_weight, 1e-12)
        self.steps = steps
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = enabled
        self.clock = clock
        self.start = clock()
        self.done_weight = 0.0
        self.index = 0
        self._pending = 0.0

    def step(self, label: str, weight: float = 1.0) -> None:
        self.done_weight += self._pending
        self._pending = weight
        self.index += 1
        if not self.enabled:
            return
        elapsed = self.clock() - self.start
        if self.done_weight > 0:
            eta = elapsed * (self.total - self.done_weight) / self.done_weight
            eta_s = f"ETA {_fmt(eta)}"
        else:
            eta_s = "ETA   --"
        print(f"[{self.index:>{len(str(self.steps))}}/{self.steps}] {label:<34} "
              f"{_fmt(elapsed)} elapsed, {eta_s}", file=self.stream, flush=True)

    def note(self, text: str) -> None:
        if self.enabled:
            print(text, file=self.stream, flush=True)
