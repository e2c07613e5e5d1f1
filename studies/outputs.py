"""Plots and the HTML report of a YAML study, from its tidy result table.

`make_plots` draws each `plots:` entry of the study (PNG + SVG under `out/plots/`); roofline
and breakdown plots re-simulate the selected points in this process to get their Schedules.
`study_report` writes `out/report.html`.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from infersim.studies import plots as P
from infersim.studies.pareto import pareto_front
from infersim.studies.report import Image, Report, Section, Table, write_report
from infersim.studies.types import Goal, PlotKind, PlotSpec, Study

if TYPE_CHECKING:
    import pandas as pd

    from infersim.studies.runner import SweepResult


def _select(frame: pd.DataFrame, where: dict[str, Any]) -> pd.DataFrame:
    df = frame
    if "status" in df.columns:
        df = df[df["status"] == "ok"]
    for k, v in where.items():
        if k in df.columns:
            df = df[df[k] == v]
    return df


def _point_params(study: Study, row: pd.Series) -> dict[str, Any]:
    return {n: (row[n].item() if hasattr(row[n], "item") else row[n])
            for n in study.parameters if n in row.index}


def _label(study: Study, row: pd.Series) -> str:
    swept = [d.name for d in study.sweep]
    return ", ".join(f"{n.split('.')[-1]}={row[n]}" for n in swept if n in row.index) or "point"


def make_plots(study: Study, frame: pd.DataFrame, out: Path,
               failed: list[str] | None = None) -> list[tuple[PlotSpec, list[Path]]]:
    """Draw every plot of the study; a plot that fails is reported in `failed` (one line
    each) and the others are still drawn."""
    made: list[tuple[PlotSpec, list[Path]]] = []
    ok = _select(frame, {})
    if "feasible" in ok.columns:
        ok = ok[ok["feasible"].astype(bool)]
    for i, spec in enumerate(study.plots):
        try:
            paths = _one_plot(study, ok, spec, out / "plots" / f"{i + 1:02d}-{spec.kind.value}")
        except Exception as e:  # one bad plot must not cost the others or the report
            msg = f"plots[{i}] ({spec.kind.value}) not drawn: {type(e).__name__}: {e}"
            if failed is None:
                raise
            failed.append(" ".join(msg.split()))
            continue
        if paths:
            made.append((spec, paths))
    return made


def _one_plot(study: Study, ok: pd.DataFrame, spec: PlotSpec, stem: Path) -> list[Path]:
    from infersim.studies.evaluate import simulate_point

    fig = None
    if spec.kind is PlotKind.PARETO:
        fig = P.pareto(ok, spec.x, spec.y[0], goals=spec.goals, group=spec.group,
                       logx=spec.logx, logy=spec.logy, title=spec.title)
    elif spec.kind is PlotKind.LINE:
        fig = P.line(_select(ok, dict(spec.where)), spec.x, spec.y, group=spec.group,
                     logx=spec.logx, logy=spec.logy, title=spec.title)
    elif spec.kind is PlotKind.SCATTER:
        fig = P.scatter(_select(ok, dict(spec.where)), spec.x, spec.y[0], group=spec.group,
                        logx=spec.logx, logy=spec.logy, title=spec.title)
    elif spec.kind is PlotKind.BAR:
        fig = P.bar(_select(ok, dict(spec.where)), spec.x, spec.y[0], group=spec.group,
                    logy=spec.logy, title=spec.title)
    elif spec.kind is PlotKind.ROOFLINE:
        sel = _select(ok, dict(spec.where))
        if len(sel):
            # one point is drawn: the title names it (its swept values, the hardware with its
            # overrides) and how many points `where` matched
            r, _, _ = simulate_point(_point_params(study, sel.iloc[0]))
            note = f"{_label(study, sel.iloc[0])}" + (
                f" (1 of {len(sel)} points matching `where`; narrow it to choose)"
                if len(sel) > 1 else "")
            sched = r.schedule
            base = spec.title or (f"{sched.trace.model} on {sched.hardware.label}: "
                                  f"{sched.trace.scenario.phase.value}, batch "
                                  f"{sched.trace.scenario.batch}")
            fig = P.roofline(sched, title=f"{base}\n{note}")
    elif spec.kind is PlotKind.BREAKDOWN:
        sel = _select(ok, dict(spec.where)).head(spec.points)
        frames = {}
        for _, row in sel.iterrows():
            r, _, _ = simulate_point(_point_params(study, row))
            frames[_label(study, row)] = r.ops
        if frames:
            fig = P.breakdown(frames, title=spec.title or "operator time by kind")
    return P.save_all(fig, stem) if fig is not None else []


def study_report(study: Study, result: SweepResult,
                 plots: list[tuple[PlotSpec, list[Path]]],
                 failed: Sequence[str] = ()) -> Path:
    frame = result.frame
    out = result.out_dir
    n_ok = int((frame["status"] == "ok").sum()) if len(frame) else 0
    n_feas = int(frame["feasible"].astype(bool).sum()) if "feasible" in frame.columns else n_ok
    lines = [
        f"- **{len(frame)}** points ({study.search.method.value} search over "
        f"{', '.join(d.name for d in study.sweep)}); **{n_feas}** feasible.",
        f"- evaluated {result.n_evaluated} in this run, reused {result.n_reused} from the store, "
        f"{result.wall_s:.1f} s wall.",
    ]
    if result.n_invalid:
        lines.append(f"- {result.n_invalid} invalid parameter combinations (see `reason`).")
    if result.n_errors:
        lines.append(f"- **{result.n_errors} evaluation errors** (see `reason`).")
    sections: list[Section] = []
    objectives = {o.metric: o.goal for o in study.search.objectives}
    feas = frame
    if "feasible" in feas.columns:
        feas = feas[(feas["status"] == "ok") & feas["feasible"].astype(bool)]
    for metric, goal in objectives.items():
        if metric in feas.columns and len(feas):
            best = feas.sort_values(metric, ascending=goal is Goal.MINIMIZE).iloc[0]
            lines.append(f"- best {metric} ({goal.value}): **{best[metric]:.4g}** at "
                         f"{_label(study, best)}")
    imgs = [Image(spec.title or f"{spec.kind.value}: "
                  f"{', '.join(spec.y) if spec.y else ''} {('vs ' + spec.x) if spec.x else ''}",
                  paths[0]) for spec, paths in plots if paths]
    if imgs or failed:
        sections.append(Section("Plots", "\n".join(f"- {f}" for f in failed),
                                images=tuple(imgs)))
    if len(objectives) >= 2 and len(feas):
        mask = pareto_front(feas, objectives)
        sections.append(Section(
            "Pareto front", f"Non-dominated points for {', '.join(f'{m} ({g.value})' for m, g in objectives.items())}.",
            tables=(Table("", feas[mask].drop(columns=["key"], errors="ignore")),)))
    sections.append(Section("All points", tables=(
        Table("", frame.drop(columns=["key"], errors="ignore")),)))
    rep = Report(
        title=f"Study: {study.name}", description=study.description, summary="\n".join(lines),
        sections=tuple(sections), config=study.resolved_config(),
        meta={"evaluate": study.evaluate.value, "source": study.source})
    return write_report(rep, out / "report.html")


def finish(study: Study, result: SweepResult) -> tuple[Path, list[Path]]:
    """Plots + report for a finished sweep (its tables are already written); returns (report
    path, plot files). A plot that fails is a warning on stderr and a line in the report."""
    failed: list[str] = []
    plots = make_plots(study, result.frame, result.out_dir, failed)
    for f in failed:
        print(f"infersim: warning: {f}", file=sys.stderr)
    report = study_report(study, result, plots, failed)
    return report, [p for _, ps in plots for p in ps]
