"""One unit convention for all of infersim.

Internally every quantity is in unprefixed SI base units: seconds, bytes, bytes/second,
FLOP, FLOP/s, joules, watts, hertz, square metres are NOT used for area (mm² is the field unit).
Prefixes are DECIMAL (k=1e3, M=1e6, G=1e9, T=1e12, P=1e15) for bandwidth, capacity, FLOP/s and
frequency, as memory and accelerator datasheets quote them (80 GB HBM = 80e9 B; 3.35 TB/s =
3.35e12 B/s). Binary sizes are spelled out with an `i` (KiB, MiB, GiB) and used only where a
datasheet quotes them (on-chip SRAM is often in MiB).
"""

from __future__ import annotations

import math

K = 1e3
M = 1e6
G = 1e9
T = 1e12
P = 1e15
KiB = 1024.0
MiB = 1024.0**2
GiB = 1024.0**3
TiB = 1024.0**4

PS = 1e-12
NS = 1e-9
US = 1e-6
MS = 1e-3

FJ = 1e-15
PJ = 1e-12
NJ = 1e-9

BITS_PER_BYTE = 8


def fmt_si(x: float, unit: str = "", digits: int = 3) -> str:
    """Human formatting with SI prefixes: 1.23e-5 s → '12.3 µs'."""
    if abs(x) < 1e-15:  # rounding noise of a difference of sums, not a quantity
        x = 0.0
    if x == 0 or not math.isfinite(x):
        return f"{x:g} {unit}".strip()
    prefixes = [(1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k"), (1, ""),
                (1e-3, "m"), (1e-6, "µ"), (1e-9, "n"), (1e-12, "p")]
    ax = abs(x)
    for scale, p in prefixes:
        if ax >= scale:
            return f"{x / scale:.{digits}g} {p}{unit}".strip()
    return f"{x:.{digits}g} {unit}".strip()
