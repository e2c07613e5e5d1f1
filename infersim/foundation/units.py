"""One unit convention for all of infersim.

Internally every quantity is in unprefixed SI base units: seconds, bytes, bytes/second,
FLOP, FLOP/s, joules, watts, hertz, square metres are NOT used for area (mm² is the field unit).
Prefixes are DECIMAL (k=1e3, M=1e6, G=1e9, T=1e12, P=1e15) for bandwidth, capacity, FLOP/s and
frequency, as memory and accelerator datasheets quote them (80 GB HBM = 80e9 B; 3.35 TB/s =
3.35e12 B/s). Binary sizes are spelled out with an `i` (KiB, MiB, GiB) and used only where a
datasheet quotes them (on-chip SRAM is often in MiB).
"""

from __future__ import annotations

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
