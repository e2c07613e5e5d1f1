"""Errors every layer raises for bad user input.

`InfersimError` subclasses carry a message written for the person at the keyboard: what is
wrong, where (file, field path), and how to fix it. The CLI prints `str(err)` on one line per
problem and exits with code 2; no traceback is shown for these.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


class InfersimError(Exception):
    """Base class for errors caused by user input (exit code 2 in the CLI)."""

    exit_code = 2


class InputError(InfersimError):
    """A bad argument: unknown name, negative size, impossible scenario..."""


@dataclass(frozen=True)
class Problem:
    """One problem found while validating a file: where, what, and how to fix it."""

    path: str  # dotted field path, e.g. "memory.hbm.bandwidth_gb_per_s"
    message: str
    fix: str = ""
    line: int | None = None

    def __str__(self) -> str:
        loc = f"line {self.line}: " if self.line is not None else ""
        fix = f" (fix: {self.fix})" if self.fix else ""
        return f"{loc}{self.path}: {self.message}{fix}"


class SpecError(InfersimError):
    """All problems found in one input file, reported at once."""

    def __init__(self, source: str, problems: Sequence[Problem]):
        self.source = source
        self.problems = tuple(problems)
        lines = [f"{source}: {len(self.problems)} problem(s)"]
        lines += [f"  {p}" for p in self.problems]
        super().__init__("\n".join(lines))

    def __reduce__(self) -> tuple[type[SpecError], tuple[str, tuple[Problem, ...]]]:
        # rebuilt from its fields, so it crosses a process pool (parallel validation, sweeps)
        # as itself rather than breaking the pool
        return (SpecError, (self.source, self.problems))

    @property
    def paths(self) -> list[str]:
        return [p.path for p in self.problems]
