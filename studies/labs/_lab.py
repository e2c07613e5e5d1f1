"""The exercise record, the printer and the plotting helper shared by the labs."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matplotlib.figure import Figure


@dataclass(frozen=True)
class Exercise:
    title: str
    prompt: str  # what to compute, with the numbers needed
    hint: str
    solution: Callable[[], Any]  # returns the answer (a number, a dict...)
    why: Callable[[Any], str] | None = None  # the worked explanation, given the answer
    plot: Callable[[], Figure] | None = None  # a figure that shows the answer


def figure(width: float = 6.0, height: float = 3.8) -> Figure:
    """A matplotlib Figure with one axes, no pyplot state (works headless and in notebooks)."""
    import matplotlib
    from matplotlib.figure import Figure

    with matplotlib.rc_context({"axes.grid": True, "grid.alpha": 0.3}):
        fig = Figure(figsize=(width, height), layout="constrained")
        fig.add_subplot(1, 1, 1)
    return fig


# Every lab points students to the explorer, where the same knobs move the plots live.
EXPLORE_TIP = ("Try it live: `infersim explore` (pip install 'infersim[explore]') opens the "
               "explorer; move the bandwidth, peak and capacity sliders and watch the roofline, "
               "the step latency and the serving curve change as these exercises predict.")


def main(title: str, intro: str, exercises: Sequence[Exercise],
         argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=title)
    ap.add_argument("--solve", action="store_true",
                    help="also run the solutions and print each answer with its worked why")
    ap.add_argument("--plots", metavar="DIR",
                    help="with --solve: write each exercise's plot as DIR/exercise-N.png")
    args = ap.parse_args(argv)
    out = sys.stdout
    out.write(f"# {title}\n\n{intro.strip()}\n")
    out.write(f"\n{EXPLORE_TIP}\n")
    for i, ex in enumerate(exercises, start=1):
        out.write(f"\n## Exercise {i}: {ex.title}\n\n{ex.prompt.strip()}\n\nHint: {ex.hint}\n")
        if args.solve:
            answer = ex.solution()
            out.write(f"\nSolution: {answer!r}\n")
            if ex.why is not None:
                out.write(f"\nWhy: {ex.why(answer)}\n")
            if args.plots and ex.plot is not None:
                import io

                from infersim.foundation.io import atomic_write_bytes

                buf = io.BytesIO()
                ex.plot().savefig(buf, format="png", dpi=110)
                path = Path(args.plots) / f"exercise-{i}.png"
                path.parent.mkdir(parents=True, exist_ok=True)
                atomic_write_bytes(path, buf.getvalue())
                out.write(f"(plot: {path})\n")
    return 0
