"""Jupyter notebooks of the labs, generated from the lab modules (the single source).

    python -m infersim.studies.labs.notebooks -o labs/     # writes lab1_roofline.ipynb, ...
    jupyter lab labs/                                      # or: jupyter notebook labs/

Each notebook has the lab's introduction, then per exercise: the question and hint, an empty
cell for your own answer, and the solution — the answer computed by the lab's function, its
plot, and the worked "why". Needs `nbformat` (in the `test` and `labs` extras); executing
them needs a Jupyter kernel (`ipykernel`), as CI does with `nbclient`.
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from infersim.studies.labs._lab import EXPLORE_TIP

LABS = ("lab1_roofline", "lab2_kv_cache", "lab3_design_accelerator")


def build(name: str) -> Any:
    """The notebook (an `nbformat` NotebookNode) of lab module `name`."""
    import nbformat.v4 as nbf

    mod = importlib.import_module(f"infersim.studies.labs.{name}")
    title = (mod.__doc__ or name).strip().splitlines()[0]
    intro = (mod.__doc__ or "").strip().split("\n", 1)[-1].strip()
    cells = [
        nbf.new_markdown_cell(f"# {title}\n\n{intro}\n\n{EXPLORE_TIP}"),
        nbf.new_code_cell("%matplotlib inline\n"
                          "from IPython.display import Markdown, display\n\n"
                          f"from infersim.studies.labs import {name} as lab"),
    ]
    for i, ex in enumerate(mod.EXERCISES, start=1):
        cells.append(nbf.new_markdown_cell(
            f"## Exercise {i}: {ex.title}\n\n{ex.prompt.strip()}\n\n*Hint:* {ex.hint}"))
        cells.append(nbf.new_code_cell("# your answer here\n"))
        cells.append(nbf.new_markdown_cell(f"### Solution {i}"))
        code = [f"ex = lab.EXERCISES[{i - 1}]", "answer = ex.solution()",
                "display(Markdown(f'**Answer:** `{answer!r}`'))"]
        if ex.plot is not None:
            code.append("display(ex.plot())")
        if ex.why is not None:
            code.append("display(Markdown('**Why.** ' + ex.why(answer)))")
        cells.append(nbf.new_code_cell("\n".join(code)))
    nb = nbf.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    return nb


def write_all(out_dir: str | Path, names: Sequence[str] = LABS) -> list[Path]:
    """Write one .ipynb per lab into `out_dir`; returns the paths."""
    import nbformat

    from infersim.foundation.io import atomic_write_text

    out = Path(out_dir)
    paths = []
    for name in names:
        p = out / f"{name}.ipynb"
        atomic_write_text(p, nbformat.writes(build(name)))
        paths.append(p)
    return paths


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Write the labs as Jupyter notebooks.")
    ap.add_argument("-o", "--out", default="labs", help="output folder (default labs/)")
    args = ap.parse_args(argv)
    try:
        import nbformat  # noqa: F401
    except ImportError:
        print("infersim: error: writing notebooks needs nbformat: pip install -e '.[labs]'")
        return 2
    for p in write_all(args.out):
        print(f"wrote {p}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
