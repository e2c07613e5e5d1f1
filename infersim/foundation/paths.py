"""The one output-path check: fail fast, before any work, if an output cannot be written.

Outputs are written by `infersim.foundation.io` (a temporary file in the same folder, then a
rename), so what matters is that the nearest existing folder accepts a new file. It is probed
by creating one (permission bits alone mislead for root and for /proc-like mounts). Nothing
is left behind; a failure at write time is still reported by the caller.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

from infersim.foundation.errors import InputError


def check_output_file(flag: str, path: str | Path, *, example: str = "out.csv",
                      suffixes: Sequence[str] = ()) -> Path:
    """`path` can be written as a file: not a folder, the right suffix (when `suffixes` is
    given), a writable folder at or above it, and an existing file there not read-only."""
    p = Path(path)
    if suffixes and p.suffix.lower() not in suffixes:
        raise InputError(f"{flag} {path}: expected a {'/'.join(suffixes)} file; give a path "
                         f"ending in {suffixes[0]}, e.g. {example}")
    if p.is_dir():
        raise InputError(f"{flag} {path}: is a folder; give a file name, e.g. {p / example}")
    _check_writable_ancestor(flag, str(path), p.parent)
    if p.exists() and not os.access(p, os.W_OK):
        raise InputError(f"{flag} {path}: the existing file is read-only; choose another path "
                         "or make it writable")
    return p


def check_output_dir(flag: str, path: str | Path) -> Path:
    """`path` can be used (or created) as an output folder."""
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise InputError(f"{flag} {path}: is a file, not a folder; give a folder name")
    _check_writable_ancestor(flag, str(path), p)
    return p


def _check_writable_ancestor(flag: str, shown: str, folder: Path) -> None:
    anc = folder.absolute()
    while not anc.exists() and anc != anc.parent:
        anc = anc.parent
    if not anc.is_dir():
        raise InputError(f"{flag} {shown}: {anc} is a file, so no folder can be made there; "
                         "choose another location")
    try:
        with tempfile.TemporaryFile(dir=anc):
            pass
    except OSError as e:
        raise InputError(f"{flag} {shown}: cannot write in {anc} ({e.strerror or e}); choose a "
                         "writable location") from None
