"""Analytic host/device timeline of a kernel stream (the eager-runtime recurrence).

The host launches kernels asynchronously, one after another: kernel i is launched when the
host has spent h_1 + … + h_i (its cumulative launch time c_i). The device runs them in order,
each as soon as it is launched and the previous one is done:

    start_i = max(end_{i-1}, c_i),    end_i = start_i + d_i.

The device idles only when the host falls behind. The simulator's op-level DES reproduces the
same recurrence event by event; here it is solved in closed form for speed. In max-plus
algebra the state (e = device free time, c = host time) after a block of kernels is

    e' = max(e + D, c + M),   c' = c + H,

with D = Σd, H = Σh and M = max_p (Σ_{i≤p} h_i + Σ_{i≥p} d_i) (the latest-finishing launch
point). Repeating a block R times is again linear in the repeat index, so its maximum sits at
an end point:

    e_R = max(e + R·D, c + M + (R−1)·max(D, H)),   c_R = c + R·H.

A whole step costs O(kernels of one layer), whatever the number of layers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Block:
    """A kernel sequence repeated `repeat` times: host and device time of each kernel."""

    host_s: tuple[float, ...]
    device_s: tuple[float, ...]
    repeat: int = 1

    def summary(self) -> tuple[float, float, float]:
        """(D, H, M) of one repetition."""
        d_total = sum(self.device_s)
        h_total = sum(self.host_s)
        best = 0.0
        hc = 0.0
        rest = d_total
        for h, d in zip(self.host_s, self.device_s, strict=True):
            hc += h
            best = max(best, hc + rest)
            rest -= d
        return d_total, h_total, best


@dataclass(frozen=True, slots=True)
class TimelineState:
    device_free_s: float = 0.0  # when the device finishes its last launched kernel
    host_s: float = 0.0  # host time spent launching so far


def advance(state: TimelineState, block: Block) -> TimelineState:
    """State after the host launches and the device runs `block` (closed form)."""
    if block.repeat <= 0 or not block.device_s:
        return state
    d, h, m = block.summary()
    r = block.repeat
    e, c = state.device_free_s, state.host_s
    e_r = max(e + r * d, c + m + (r - 1) * max(d, h))
    return TimelineState(e_r, c + r * h)


def run(blocks: Sequence[Block], start: TimelineState | None = None) -> TimelineState:
    st = start or TimelineState()
    for b in blocks:
        st = advance(st, b)
    return st


def simulate_kernels(host_s: Sequence[float], device_s: Sequence[float]) -> list[tuple[float,
                                                                                      float]]:
    """Brute-force reference: (start, end) of every kernel by the recurrence itself."""
    out = []
    end = 0.0
    hc = 0.0
    for h, d in zip(host_s, device_s, strict=True):
        hc += h
        start = max(end, hc)
        end = start + d
        out.append((start, end))
    return out
