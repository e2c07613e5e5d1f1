"""The exercise record and the printer shared by the labs."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Exercise:
    title: str
    prompt: str  # what to compute, with the numbers needed
    hint: str
    solution: Callable[[], Any]  # returns the answer (a number, a dict...)


def main(title: str, intro: str, exercises: Sequence[Exercise],
         argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=title)
    ap.add_argument("--solve", action="store_true", help="also run and print the solutions")
    args = ap.parse_args(argv)
    out = sys.stdout
    out.write(f"# {title}\n\n{intro.strip()}\n")
    for i, ex in enumerate(exercises, start=1):
        out.write(f"\n## Exercise {i}: {ex.title}\n\n{ex.prompt.strip()}\n\nHint: {ex.hint}\n")
        if args.solve:
            out.write(f"\nSolution: {ex.solution()!r}\n")
    return 0
