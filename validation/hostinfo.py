"""What machine is this: CPU model, caches, memory, threads, software versions.

Read from Linux sysfs/procfs where present; every field falls back to a neutral value on
other systems, so calibration still runs (the fit does not depend on these; they seed the
initial guesses and are written next to the measurements for provenance).
"""

from __future__ import annotations

import datetime as _dt
import os
import platform
import re
import socket
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, cast


@dataclass(frozen=True)
class CacheInfo:
    """One data/unified cache level as the OS reports it."""

    level: int
    size_bytes: int
    shared_by_cpus: int  # logical CPUs sharing one instance


@dataclass(frozen=True)
class HostInfo:
    hostname: str
    cpu_model: str
    logical_cpus: int
    threads: int  # Numba worker threads the kernels use
    caches: tuple[CacheInfo, ...]
    memory_bytes: int
    tsc_hz: float  # BogoMIPS/2 on x86 Linux (≈ nominal clock), 0 when unknown
    numba_version: str
    numpy_version: str
    threading_layer: str
    python: str
    date_utc: str  # ISO date of the run
    # the SIMD width the host's /proc/cpuinfo flags give (`simd_bits`), recorded with the
    # measurements so that a refit on another machine writes the measured host's; 0: unknown
    simd_width_bits: int = 0

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["caches"] = ";".join(f"L{c.level}:{c.size_bytes}:{c.shared_by_cpus}" for c in self.caches)
        return d

    @staticmethod
    def from_meta(meta: dict[str, str]) -> HostInfo:
        """Rebuild from the header of a measurement file (see `to_dict`)."""
        caches = []
        for part in filter(None, meta.get("caches", "").split(";")):
            lvl, size, shared = part.removeprefix("L").split(":")
            caches.append(CacheInfo(int(lvl), int(size), int(shared)))
        return HostInfo(
            hostname=meta.get("hostname", "host"), cpu_model=meta.get("cpu_model", "cpu"),
            logical_cpus=int(header_number(meta, "logical_cpus", 1)),
            threads=int(header_number(meta, "threads", 1)),
            caches=tuple(caches), memory_bytes=int(header_number(meta, "memory_bytes", 0)),
            tsc_hz=header_number(meta, "tsc_hz", 0.0), numba_version=meta.get("numba_version", ""),
            numpy_version=meta.get("numpy_version", ""),
            threading_layer=meta.get("threading_layer", ""), python=meta.get("python", ""),
            date_utc=meta.get("date_utc", "1970-01-01"),
            simd_width_bits=_recorded_simd_bits(meta.get("simd_width_bits", "0")))

    @property
    def slug(self) -> str:
        """File-name stem: <host>-<yyyymmdd>."""
        host = re.sub(r"[^a-z0-9]+", "-", self.hostname.lower()).strip("-") or "host"
        return f"{host}-{self.date_utc.replace('-', '')}"


def _size(text: str) -> int:
    m = re.fullmatch(r"\s*(\d+)\s*([KMG]?)\s*", text)
    if not m:
        return 0
    return int(m.group(1)) * {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3}[m.group(2)]


def _cpu_count(cpulist: str) -> int:
    n = 0
    for part in cpulist.strip().split(","):
        if "-" in part:
            a, b = part.split("-")
            n += int(b) - int(a) + 1
        elif part:
            n += 1
    return n


def read_caches(root: Path = Path("/sys/devices/system/cpu/cpu0/cache")) -> tuple[CacheInfo, ...]:
    """Data and unified caches of CPU 0, nearest first (instruction caches skipped)."""
    out: list[CacheInfo] = []
    for d in sorted(root.glob("index*")):
        try:
            if (d / "type").read_text().strip() == "Instruction":
                continue
            out.append(CacheInfo(int((d / "level").read_text()),
                                 _size((d / "size").read_text()),
                                 _cpu_count((d / "shared_cpu_list").read_text())))
        except (OSError, ValueError):
            continue
    return tuple(sorted(out, key=lambda c: c.level))


def _cpuinfo() -> tuple[str, float]:
    model, bogo = platform.processor() or platform.machine(), 0.0
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, val = line.partition(":")
            if key.strip() == "model name" and model in ("", platform.machine()):
                model = val.strip()
            elif key.strip().lower() == "bogomips" and not bogo:
                bogo = float(val)
    except (OSError, ValueError):
        pass
    return model, bogo / 2 * 1e6


def header_number(meta: Mapping[str, str], key: str, default: float) -> float:
    """A number of a measurement file's header (`default` when absent); ValueError naming
    the field when it is not one."""
    text = meta.get(key)
    if text is None:
        return float(default)
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"header field {key}: {text!r} is not a number; fix or delete the "
                         "line") from None


def cpu_flags(path: Path = Path("/proc/cpuinfo")) -> list[str]:
    """The CPU feature flags of this host (x86 `flags`, Arm `Features`); [] when unknown."""
    try:
        for line in path.read_text().splitlines():
            if line.startswith(("flags", "Features")):
                return line.split(":", 1)[1].split()
    except OSError:
        pass
    return []


# the CPU flag that gives each SIMD register width, widest first; 128 bits without either
# (SSE2 / NEON)
SIMD_FLAGS: tuple[tuple[str, int], ...] = (("avx512f", 512), ("avx2", 256))
NARROW_SIMD_BITS = 128


def simd_bits(flags: list[str] | tuple[str, ...]) -> tuple[int, str]:
    """(SIMD register width in bits, its source) from a host's CPU flags."""
    for flag, bits in SIMD_FLAGS:
        if flag in flags:
            return bits, f"host: /proc/cpuinfo flags include {flag}"
    return NARROW_SIMD_BITS, "assumed: no avx2/avx512f flag seen; SSE2/NEON width"


def simd_flag(bits: int) -> str | None:
    """The CPU flag `simd_bits` read for a width of `bits` (None: the narrow default)."""
    return next((flag for flag, b in SIMD_FLAGS if b == bits), None)


def _recorded_simd_bits(text: str) -> int:
    """A measurement header's `simd_width_bits` (0: not recorded); ValueError naming the
    field for anything `simd_bits` cannot have written."""
    allowed = (0, NARROW_SIMD_BITS, *(b for _, b in SIMD_FLAGS))
    try:
        bits = int(text)
    except ValueError:
        bits = -1
    if bits not in allowed:
        raise ValueError(f"header field simd_width_bits: {text!r}; give one of "
                         f"{', '.join(str(b) for b in sorted(allowed[1:]))}, or delete the "
                         "line")
    return bits


def _memory_bytes() -> int:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


def host_info(threads: int | None = None) -> HostInfo:
    """Describe this host. `threads` defaults to Numba's configured worker count."""
    import numba
    import numpy as np

    if threads is None:
        # numba.config sets its NUMBA_* settings at run time (from the environment), so
        # mypy cannot see them
        threads = int(cast(Any, numba.config).NUMBA_NUM_THREADS)
    model, tsc = _cpuinfo()
    try:  # the layer actually in use (known once a parallel kernel has run)
        layer = str(numba.threading_layer())
    except ValueError:
        layer = str(getattr(numba.config, "THREADING_LAYER", "default"))
    return HostInfo(
        hostname=socket.gethostname(), cpu_model=model, logical_cpus=os.cpu_count() or 1,
        threads=threads, caches=read_caches(), memory_bytes=_memory_bytes(), tsc_hz=tsc,
        numba_version=numba.__version__, numpy_version=np.__version__, threading_layer=layer,
        python=platform.python_version(),
        date_utc=_dt.datetime.now(_dt.UTC).date().isoformat(),
        simd_width_bits=simd_bits(cpu_flags())[0])
