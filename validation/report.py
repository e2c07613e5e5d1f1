"""`infersim validate`: one report over every validation data set.

For each data set module (validation/datasets/) and group: N, median and p90 APE, max APE
and the signed median (bias), from `validation.stats`; the worst cases; a predicted-vs-
measured scatter per group (log-log, the y = x line and ±10% bands); and a roofline of each
calibrated CPU spec with its measured kernel points (achieved FLOP/s against arithmetic
intensity under the spec's compute ceilings and level bandwidths).

Nothing is measured unless `measure=True`, which runs a quick calibration of this machine
into the report folder and adds it as its own data sets. Every file is written atomically;
a data set that fails to load is reported, not fatal.
"""

from __future__ import annotations

import datetime as _dt
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from infersim.foundation.io import atomic_write_bytes, atomic_write_text
from infersim.validation.datasets import check_frame, discover
from infersim.validation.stats import summarize, worst_cases

BAND = 0.10  # ±10% bands in the scatter plots


@dataclass(frozen=True)
class Report:
    markdown_path: Path
    summary: pd.DataFrame
    data: pd.DataFrame
    failed: Mapping[str, str] = field(default_factory=dict)
    plots: tuple[Path, ...] = ()
    # the report's markdown lines on Vidur's kernels (`kernel_classes`) and the production
    # rows (`production_lean`), as written into report.md: `infersim validate` prints these
    lines: tuple[str, ...] = ()

    def summary_rows(self) -> list[dict[str, Any]]:
        rows = []
        for r in self.summary.itertuples(index=False):
            rows.append({"dataset": r.dataset, "group": r.group, "N": r.n,
                         "median APE": _pct(r.median_ape), "p90 APE": _pct(r.p90_ape),
                         "max APE": _pct(r.max_ape), "bias": _pct(r.median_signed, signed=True)})
        return rows


def _pct(x: float, signed: bool = False) -> str:
    if x != x:  # NaN
        return "–"
    return f"{100 * x:+.1f}%" if signed else f"{100 * x:.1f}%"


def collect(extra: Sequence[pd.DataFrame] = ()) -> tuple[pd.DataFrame, dict[str, str],
                                                        list[tuple[str, str, int]]]:
    """Load every data set: (rows, failures, [(name, description, rows)])."""
    frames: list[pd.DataFrame] = []
    failed: dict[str, str] = {}
    listing: list[tuple[str, str, int]] = []
    for ds in discover():
        try:
            df = check_frame(ds.load(), ds.name)
        except Exception as e:  # one broken data set must not hide the others
            failed[ds.name] = f"{type(e).__name__}: {e}"
            listing.append((ds.name, ds.description, 0))
            continue
        frames.append(df)
        listing.append((ds.name, ds.description, len(df)))
    frames += [f for f in extra if not f.empty]
    data = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
        columns=["dataset", "group", "case", "predicted", "measured", "unit", "notes"])
    return data, failed, listing


def build_report(out_dir: Path, measure: bool = False) -> Report:
    """Write out_dir/report.md and its plots; return the tables."""
    extra: list[pd.DataFrame] = []
    kernel_frames: list[pd.DataFrame] = []
    if measure:
        extra, kernel_frames = _measure_now(out_dir)
    data, failed, listing = _collect_with_kernels(extra, kernel_frames)
    summary = summarize(data) if not data.empty else pd.DataFrame(
        columns=["dataset", "group", "n", "median_ape", "p90_ape", "max_ape", "median_signed",
                 "excluded"])
    plots: list[Path] = []
    if not data.empty:
        plots.append(_save(out_dir / "scatter.png", scatter_figure(data), tight=False))
    for spec, pts in _roofline_inputs(kernel_frames):
        plots.append(_save(out_dir / f"roofline-{Path(spec).stem}.png",
                           roofline_figure(spec, pts)))
    listed = [ds.name for ds in discover() if ds.list_rows]
    kernels, lean = kernel_classes(data), production_lean(data)
    md = render_markdown(data, summary, failed, listing, plots, measure, listed,
                         kernels=kernels, lean=lean)
    path = out_dir / "report.md"
    atomic_write_text(path, md)
    atomic_write_text(out_dir / "cases.csv", data.to_csv(index=False, float_format="%.6g"))
    return Report(path, summary, data, failed, tuple(plots), (*kernels, *lean))


def _collect_with_kernels(extra: list[pd.DataFrame], kernel_frames: list[pd.DataFrame]):
    """`collect`, also keeping the CPU kernel rows with their FLOPs/bytes for the roofline."""
    from infersim.validation.datasets import cpu_kernels

    data, failed, listing = collect(extra)
    if cpu_kernels.NAME not in failed:
        try:
            kernel_frames.insert(0, cpu_kernels.load())
        except Exception:  # already reported through `collect`
            pass
    return data, failed, listing


def _measure_now(out_dir: Path) -> tuple[list[pd.DataFrame], list[pd.DataFrame]]:
    """Calibrate this machine now (quick profile) into out_dir/measure/ and return its rows."""
    from infersim.validation.calibrate import CalibrateOptions, calibrate
    from infersim.validation.datasets import cpu_kernels, cpu_transformer

    # a busy machine is measured best-of-N; the report labels what contention remained
    res = calibrate(CalibrateOptions(out=out_dir / "measure" / "this-machine.yaml",
                                     profile="quick"))
    k = cpu_kernels.load_from([res.data_path]).assign(dataset="cpu_kernels (this run)")
    t = cpu_transformer.load_from([res.data_path]).assign(dataset="cpu_transformer (this run)")
    return [check_frame(k, "this run"), check_frame(t, "this run")], [k]


def _roofline_inputs(frames: Sequence[pd.DataFrame]) -> list[tuple[str, pd.DataFrame]]:
    out = []
    for f in frames:
        if f.empty or "spec" not in f:
            continue
        for spec, g in f.groupby("spec"):
            out.append((str(spec), g))
    return out


def _save(path: Path, fig: Any, tight: bool = True) -> Path:
    """Write `fig` as a PNG; `tight`: crop to the drawn area (another layout pass; a figure
    laid out in inches, `scatter_figure`, needs none)."""
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight" if tight else None)
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())
    return path


def scatter_figure(data: pd.DataFrame) -> Any:
    """Predicted vs measured, one panel per (dataset, group), log-log, y=x and ±10% bands.
    Laid out on a fixed grid in inches (titles wrapped to the panel) and with decade ticks
    only: with ~90 panels, `tight_layout` and the minor ticks of every log axis made up
    ~20 of the ~27 s this figure took."""
    import textwrap

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker
    import numpy as np

    groups = list(data.groupby(["dataset", "group"], sort=True))
    cols = min(3, len(groups))
    rows = -(-len(groups) // cols)
    width, height = 4.6 * cols, 4.4 * rows
    fig, axes = plt.subplots(rows, cols, figsize=(width, height), squeeze=False)
    # margins in inches: the tick labels and axis labels left and below, two title lines above
    fig.subplots_adjust(left=0.85 / width, right=1.0 - 0.15 / width, bottom=0.6 / height,
                        top=1.0 - 0.45 / height, wspace=0.36, hspace=0.52)
    for ax, ((ds, grp), g) in zip(axes.flat, groups, strict=False):
        g = g[(g.measured > 0) & (g.predicted > 0)]
        if g.empty:
            ax.set_visible(False)
            continue
        lo = float(min(g.measured.min(), g.predicted.min())) / 1.5
        hi = float(max(g.measured.max(), g.predicted.max())) * 1.5
        if np.floor(np.log10(hi)) == np.floor(np.log10(lo)):
            # no power of ten inside (one point, or a narrow spread): widen to the enclosing
            # decades so the log axes get labelled major ticks
            lo, hi = 10 ** np.floor(np.log10(lo)), 10 ** np.ceil(np.log10(hi))
        xs = np.geomspace(lo, hi, 50)
        ax.fill_between(xs, xs * (1 - BAND), xs * (1 + BAND), color="tab:green", alpha=0.15,
                        label="±10%")
        ax.plot(xs, xs, color="k", lw=0.8)
        ax.scatter(g.measured, g.predicted, s=14, alpha=0.8)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlim(lo, hi)
        ax.set_ylim(lo, hi)
        ax.minorticks_off()
        for axis in (ax.xaxis, ax.yaxis):
            axis.set_major_locator(matplotlib.ticker.LogLocator(numticks=7))
        unit = str(g.unit.iloc[0])
        ax.set_xlabel(f"measured ({unit})")
        ax.set_ylabel(f"predicted ({unit})")
        ax.set_title(textwrap.fill(f"{ds} — {grp} (N={len(g)})", 50, max_lines=2,
                                   placeholder=" …"), fontsize=9)
        ax.legend(loc="upper left", fontsize=7)
    for ax in list(axes.flat)[len(groups):]:
        ax.set_visible(False)
    return fig


def roofline_figure(spec_path: str, points: pd.DataFrame) -> Any:
    """The spec's ceilings (compute per unit/dtype, bandwidth per memory level) and the
    measured kernels at their arithmetic intensity and achieved FLOP/s."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from infersim.hwmodels.loader import load_hardware

    chip = load_hardware(spec_path).chip
    pts = points[(points.flops > 0) & (points.bytes > 0) & (points.measured > 0)]
    fig, ax = plt.subplots(figsize=(7, 5))
    x = np.geomspace(1e-2, 1e3, 200)
    peaks = [(f"{u.name} {d.value}", p) for u in chip.compute for d, p in u.peak_flops.items()]
    top = max(p for _, p in peaks) if peaks else 1e12
    for lvl in chip.memory:
        ax.plot(x, np.minimum(x * lvl.bandwidth_Bps, top), lw=1,
                label=f"{lvl.name} {lvl.bandwidth_Bps / 1e9:.0f} GB/s")
    for label, p in peaks:
        ax.axhline(p, ls="--", lw=0.8, color="gray")
        ax.text(x[0], p * 1.05, f"{label} {p / 1e9:.0f} GFLOP/s", fontsize=7)
    for kern, g in pts.groupby("kernel"):
        ax.scatter(g.flops / g.bytes, g.flops / g.measured, s=12, label=f"{kern} (measured)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("arithmetic intensity (FLOP / byte, STREAM convention)")
    ax.set_ylabel("FLOP/s")
    ax.set_title(f"roofline of {chip.name}")
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    return fig


def all_rows(df: pd.DataFrame) -> pd.DataFrame:
    """Every row of `df` with its signed error ("–" where it is not graded)."""
    signed = (df["predicted"] - df["measured"]) / df["measured"]
    return pd.DataFrame({"group": df["group"], "case": df["case"],
                         "predicted": df["predicted"], "measured": df["measured"],
                         "unit": df["unit"], "error": [_pct(float(x), signed=True)
                                                      for x in signed],
                         "notes": df["notes"]})


def _table(df: pd.DataFrame) -> str:
    if df.empty:
        return "(none)\n"
    cols = list(df.columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in df.itertuples(index=False):
        lines.append("| " + " | ".join(_cell(v) for v in r) + " |")
    return "\n".join(lines) + "\n"


def _cell(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v).replace("|", "/")


def production_lean(data: pd.DataFrame) -> list[str]:
    """Markdown lines: error and lean of the production-engine rows
    (`serving_published.production_rows`, `lean_line`); none when there are none."""
    from infersim.validation.datasets import serving_published as sp

    prod = sp.production_rows(data) if not data.empty else data
    if prod.empty:
        return []
    return ["", "Production-engine rows (serving runs + TensorRT-LLM published results):", "",
            *(f"- {line}" for line in sp.lean_line(prod).splitlines()),
            "", "Held-out production rows by model family:", "",
            *(f"- {line}" for line in sp.lean_by_family(prod)),
            "", "Held-out production rows by parallel layout:", "",
            *(f"- {line}" for line in sp.lean_by_layout(prod)),
            "", "Held-out production rows by software stack:", "",
            *(f"- {line}" for line in sp.lean_by_stack(prod)),
            "", "Held-out production rows by chip:", "",
            *(f"- {line}" for line in sp.lean_by_chip(prod))]


def kernel_classes(data: pd.DataFrame) -> list[str]:
    """Markdown lines: Vidur's measured kernels per GPU and class, fit and held out
    (`vidur.class_lines`), its collectives over every size of the sweeps
    (`vidur.sweep_lines`), its GEMM and vector kernels at every token count the grid leaves
    out (`vidur.compute_sweep_lines`), how repeatable its GEMM times are
    (`vidur.repeat_lines`) and which GEMM rows the library ran slower than larger ones
    (`vidur.inversion_lines`); none without those rows."""
    from infersim.validation.datasets import vidur

    lines = vidur.class_lines(data) if not data.empty else []
    if not lines:
        return []
    return ["", "Measured kernels (Vidur profiles; collectives of every size together):", "",
            *(f"- {line}" for line in (*lines, *vidur.sweep_lines(),
                                       *vidur.compute_sweep_lines(), *vidur.repeat_lines(),
                                       *vidur.inversion_lines()))]


def gemm_tiles(data: pd.DataFrame) -> list[str]:
    """Markdown lines: the measured GEMMs whose kernel names give cuBLAS's tile against the
    model's tile search (`gpu_measurements.tile_choice_lines`); none without such rows or
    without the data set in `data`."""
    from infersim.validation.datasets import gpu_measurements as gm

    if data.empty or not (data["dataset"] == gm.NAME).any():
        return []
    lines = gm.tile_choice_lines()
    if not lines:
        return []
    return ["", "Measured GEMMs by cuBLAS's tile (gpu_measurements, from the kernel names):",
            "", *(f"- {line}" for line in lines)]


def render_markdown(data: pd.DataFrame, summary: pd.DataFrame, failed: Mapping[str, str],
                    listing: Sequence[tuple[str, str, int]], plots: Sequence[Path],
                    measured_now: bool, listed: Sequence[str], *, kernels: Sequence[str],
                    lean: Sequence[str]) -> str:
    """report.md's text; `kernels` / `lean`: `kernel_classes(data)` / `production_lean(data)`
    (`build_report` computes them once and keeps them on `Report.lines`)."""
    now = _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    out = ["# infersim validation report", "",
           f"Generated {now} by `infersim validate`"
           + (" --measure (this machine was calibrated for this report)" if measured_now
              else " from committed measurement files (nothing re-measured)") + ".", "",
           "APE = |predicted − measured| / measured. Bias = signed median of "
           "(predicted − measured) / measured (negative: the model predicts less time).", "",
           "## Data sets", ""]
    out.append(_table(pd.DataFrame(listing, columns=["data set", "description", "rows"])))
    if failed:
        out += ["", "**Data sets that failed to load:**", ""]
        out += [f"- `{k}`: {v}" for k, v in failed.items()]
    out += ["", "## Errors by data set and group", ""]
    summ = pd.DataFrame(Report(Path(), summary, data).summary_rows())
    out.append(_table(summ))
    out += kernels
    out += gemm_tiles(data)
    out += lean
    out += ["", "## Worst cases", ""]
    worst = worst_cases(data, 15) if not data.empty else data
    if not worst.empty:
        worst = worst.assign(ape=[f"{100 * a:.1f}%" for a in worst.ape])[
            ["dataset", "group", "case", "predicted", "measured", "unit", "ape", "notes"]]
    out.append(_table(worst))
    for name in listed:
        out += ["", f"## Every row of `{name}`", "",
                "Ungraded rows (NaN prediction) say why in `notes`.", ""]
        out.append(_table(all_rows(data[data.dataset == name])))
    out += ["", "## Plots", ""]
    out += [f"![{p.stem}]({p.name})" for p in plots]
    out += ["", "## Reproduce", "",
            "```", "infersim calibrate            # measure this machine (~1-2 min), writes "
            "validation/data/<host>-<date>.{csv,yaml}", "infersim validate -o out/validation",
            "```", ""]
    return "\n".join(out)
