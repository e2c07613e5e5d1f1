"""The shipped studies: discovery, and one command to run each into a folder with a report.

A shipped study is a folder `studies/<folder>/` (its name is the folder name with `_` → `-`):
- a YAML study: `study.yaml`, run by the sweep engine; or
- a Python study: `run.py` with `run(out_dir, *, quick=False, workers=None) -> DataFrame`
  that writes data files (CSV) into out_dir, and `plot.py` with `plot(out_dir)` that only
  READS those files and writes images under `out_dir/plots/`. Optional: `run.py` writes
  `summary.md` (shown as the report's summary) and `config.json` (embedded for reproduction);
  `report.py` with `sections(out_dir) -> list[Section]` replaces the default report layout.
Keyword arguments a runner does not declare are not passed (e.g. `run(out_dir)` alone).
"""

from __future__ import annotations

import ast
import dataclasses
import importlib
import inspect
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from infersim.foundation.errors import InputError
from infersim.foundation.suggest import did_you_mean
from infersim.foundation.yaml import parse_document

STUDIES_DIR = Path(__file__).parent
_NOT_STUDIES = {"labs", "__pycache__"}


@dataclass(frozen=True)
class ShippedStudy:
    name: str
    folder: Path
    kind: str  # "python" | "yaml"
    description: str


@dataclass(frozen=True)
class StudyRun:
    name: str
    out_dir: Path
    report: Path
    files: tuple[Path, ...]
    wall_s: float


def _doc_first_line(path: Path) -> str:
    try:
        doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
    except SyntaxError:
        return ""
    return doc.strip().splitlines()[0] if doc.strip() else ""


def _first_sentence(text: str) -> str:
    text = " ".join(text.split())
    head = text.split(". ")[0].rstrip(".")
    return head if len(head) <= 110 else head[:107] + "..."


def list_studies() -> list[ShippedStudy]:
    out = []
    for d in sorted(STUDIES_DIR.iterdir()):
        if not d.is_dir() or d.name in _NOT_STUDIES or d.name.startswith((".", "_")):
            continue
        name = d.name.replace("_", "-")
        if (d / "run.py").exists():
            out.append(ShippedStudy(name, d, "python", _doc_first_line(d / "run.py")))
        elif (d / "study.yaml").exists():
            doc = parse_document((d / "study.yaml").read_text(encoding="utf-8"))
            desc = doc.data.get("description", "") if isinstance(doc.data, dict) else ""
            out.append(ShippedStudy(name, d, "yaml", _first_sentence(str(desc))))
    return out


def find_study(name: str) -> ShippedStudy:
    studies = {s.name: s for s in list_studies()}
    key = name.strip().lower().replace("_", "-")
    if key not in studies:
        hint = did_you_mean(key, list(studies))
        hint = f"; {hint}" if hint else ""
        raise InputError(f"unknown study {name!r}{hint} (see `infersim study list`)")
    return studies[key]


def _call(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call with only the keyword arguments the function declares."""
    params = inspect.signature(fn).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return fn(*args, **kwargs)
    return fn(*args, **{k: v for k, v in kwargs.items() if k in params})


def run_study(name: str, out_dir: str | Path, *, quick: bool = False,
              workers: int | None = None, executor: str = "local",
              scheduler: str | None = None, progress: bool = True, tls: Any = None,
              worker_wait_s: float = 60.0) -> StudyRun:
    """Run a shipped study: data, plots and report.html in out_dir. `tls` and
    `worker_wait_s` as in `runner.run_sweep` (Dask executor; YAML studies)."""
    s = find_study(name)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    if s.kind == "yaml":
        report, files = _run_yaml(s, out, quick, workers, executor, scheduler, progress, tls,
                                  worker_wait_s)
    else:
        report, files = _run_python(s, out, quick, workers)
    return StudyRun(s.name, out, report, tuple(files), time.perf_counter() - t0)


def quick_study(study: Any) -> Any:
    """A reduced copy for CI: at most 2 values per list dimension (first and last), 3 per
    range; random n ≤ 20; optimize n_trials ≤ 2 generations."""
    from infersim.studies.types import Dimension, Range

    dims = []
    for d in study.sweep:
        if d.range is None:
            vals = d.values if len(d.values) <= 2 else (d.values[0], d.values[-1])
            dims.append(Dimension(d.name, tuple(vals)))
        else:
            r = d.range
            dims.append(Dimension(d.name, (), Range(r.low, r.high, r.log, r.integer,
                                                   min(r.num, 3) if r.num else 0)))
    srch = study.search
    srch = dataclasses.replace(srch, n=min(srch.n, 20),
                               n_trials=min(srch.n_trials, 2 * srch.population))
    return dataclasses.replace(study, sweep=tuple(dims), search=srch)


def _run_yaml(s: ShippedStudy, out: Path, quick: bool, workers: int | None, executor: str,
              scheduler: str | None, progress: bool, tls: Any = None,
              worker_wait_s: float = 60.0) -> tuple[Path, list[Path]]:
    from infersim.studies.outputs import finish
    from infersim.studies.runner import run_sweep
    from infersim.studies.spec import load_study

    study = load_study(s.folder / "study.yaml")
    if quick:
        study = quick_study(study)
    res = run_sweep(study, out, executor=executor, workers=workers, scheduler=scheduler,
                    progress=progress, tls=tls, worker_wait_s=worker_wait_s)
    report, plots = finish(study, res)
    return report, [*res.files, *plots, report]


def _run_python(s: ShippedStudy, out: Path, quick: bool,
                workers: int | None) -> tuple[Path, list[Path]]:
    pkg = f"infersim.studies.{s.folder.name}"
    run_mod = importlib.import_module(f"{pkg}.run")
    _call(run_mod.run, out, quick=quick, workers=workers)
    if (s.folder / "plot.py").exists():
        importlib.import_module(f"{pkg}.plot").plot(out)
    report = build_python_report(s, out, quick)
    files = sorted(p for p in out.rglob("*") if p.is_file())
    return report, files


def build_python_report(s: ShippedStudy, out: Path, quick: bool) -> Path:
    from infersim.studies.report import Report, Section, images_in, tables_in, write_report

    doc = ast.get_docstring(ast.parse((s.folder / "run.py").read_text(encoding="utf-8"))) or ""
    title, _, rest = doc.partition("\n")
    summary = (out / "summary.md").read_text(encoding="utf-8") if (out / "summary.md").exists() \
        else ""
    config: dict[str, Any] = {"study": s.name, "quick": quick}
    if (out / "config.json").exists():
        config.update(json.loads((out / "config.json").read_text(encoding="utf-8")))
    if (s.folder / "report.py").exists():
        sections = importlib.import_module(f"infersim.studies.{s.folder.name}.report").sections(out)
    else:
        sections = []
        imgs = images_in(out / "plots")
        if imgs:
            sections.append(Section("Plots", images=tuple(imgs)))
        tables = tables_in(out)
        if tables:
            sections.append(Section("Data", tables=tuple(tables)))
    rep = Report(title=f"Study: {s.name} — {title.strip()}", description=rest.strip(),
                 summary=summary, sections=tuple(sections), config=config,
                 meta={"study": s.name, "quick": quick})
    return write_report(rep, out / "report.html")
