"""Publication-quality plots of studies (matplotlib, object API on the Agg canvas).

Every function builds and returns a `matplotlib.figure.Figure`; `save_figure(fig, path)` writes
it atomically (PNG at 200 dpi, SVG, PDF by suffix) and `save_all(fig, stem)` writes both PNG and
SVG. No pyplot state is touched, so these are safe in worker processes and notebooks.

- `roofline(schedule)`: the chip's compute roofs per dtype and one memory roof per memory
  level; each operator of the step at (arithmetic intensity, achieved FLOP/s), log-log.
- `pareto(frame, x, y)`: all points, the non-dominated front highlighted and connected.
- `line`, `scatter`, `bar`: metric vs parameter / metric, grouped.
- `breakdown(frames)`: operator time by kind, one stacked bar per configuration.
- `energy_cost(frame)`: energy per token and cost per 1M tokens side by side.
- `latency_load(frame)`: serving latency percentiles vs offered load.
- `timeline(schedule)`: delegated to the simulator's op-level timeline plot.
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from matplotlib.figure import Figure

from infersim.foundation.io import atomic_write_bytes
from infersim.studies.pareto import non_dominated
from infersim.studies.types import Goal

if TYPE_CHECKING:
    import pandas as pd

    from infersim.mapper.schedule import Schedule

STYLE: Any = {  # rc params (typed Any: matplotlib stubs want literal keys)
    "font.size": 10, "axes.titlesize": 11, "axes.labelsize": 10, "legend.fontsize": 8,
    "xtick.labelsize": 9, "ytick.labelsize": 9, "axes.spines.top": False,
    "axes.spines.right": False, "svg.fonttype": "none", "axes.grid": True, "grid.alpha": 0.3,
    "grid.linewidth": 0.6,
}
PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2",
           "#7f7f7f", "#bcbd22", "#17becf")
KIND_COLORS = {
    "matmul": "#1f77b4", "attention": "#d62728", "moe_experts": "#9467bd",
    "moe_router": "#8c564b", "norm": "#2ca02c", "elementwise": "#bcbd22", "rope": "#17becf",
    "embedding": "#7f7f7f", "kv_write": "#e377c2", "collective": "#ff7f0e",
}


def _fig(w: float = 6.4, h: float = 4.2) -> Figure:
    import matplotlib

    with matplotlib.rc_context(STYLE):
        fig = Figure(figsize=(w, h), layout="constrained")
        fig.add_subplot(111)
    return fig


def _styled(fn: Any) -> Any:
    """Run a plotting function under the module style (rc params are read at draw time)."""
    import functools

    import matplotlib

    @functools.wraps(fn)
    def wrapper(*a: Any, **k: Any) -> Any:
        with matplotlib.rc_context(STYLE):
            fig = fn(*a, **k)
        if isinstance(fig, Figure):
            literal_text(fig)
        return fig

    return wrapper


def literal_text(fig: Figure) -> None:
    """Show titles, axis labels, legends and annotations exactly as written: no mathtext, so
    a `$` in a study title or a parameter value is a dollar sign, never a parse error. Tick
    labels are left alone (formatters write log ticks as mathtext on purpose); categorical
    tick labels go through `_lit`."""
    texts = list(fig.texts)
    for ax in fig.axes:
        texts += [ax.title, ax._left_title, ax._right_title,  # type: ignore[attr-defined]
                  ax.xaxis.label, ax.yaxis.label,
                  *ax.texts]
        leg = ax.get_legend()
        if leg is not None:
            texts += [*leg.get_texts(), leg.get_title()]
    suptitle = getattr(fig, "_suptitle", None)  # matplotlib keeps it private
    if suptitle is not None:
        texts.append(suptitle)
    for t in texts:
        t.set_parse_math(False)
        t.set_usetex(False)


def _lit(s: object) -> str:
    """A string shown literally where matplotlib would parse `$...$` (categorical ticks)."""
    return str(s).replace("$", r"\$")


def save_figure(fig: Figure, path: str | Path, dpi: int = 200) -> Path:
    """Write a figure atomically; the format follows the suffix (png, svg, pdf)."""
    import matplotlib

    p = Path(path)
    fmt = p.suffix.lstrip(".").lower() or "png"
    buf = io.BytesIO()
    with matplotlib.rc_context(STYLE):
        fig.savefig(buf, format=fmt, dpi=dpi)
    atomic_write_bytes(p, buf.getvalue())
    return p


def save_all(fig: Figure, stem: str | Path, formats: Sequence[str] = ("png", "svg")) -> list[Path]:
    """Write `stem.png` and `stem.svg` (or the given formats)."""
    s = Path(stem)
    return [save_figure(fig, s.with_name(f"{s.name}.{f}")) for f in formats]


def _si(x: float) -> str:
    for scale, p in ((1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(x) >= scale:
            return f"{x / scale:.3g} {p}"
    return f"{x:.3g} "


# --------------------------------------------------------------------------------------------
# Roofline
# --------------------------------------------------------------------------------------------


def roof_lines(schedule: Schedule) -> tuple[list[tuple[str, float]], list[tuple[str, float]]]:
    """(compute roofs [(label, FLOP/s)], memory roofs [(label, B/s)]) of the schedule's chip.

    Compute roofs are the distinct dense peaks per dtype of each compute unit (dtypes with the
    same peak share a line); memory roofs are the bandwidths of each memory level."""
    chip = schedule.hardware.chip
    compute: list[tuple[str, float]] = []
    for unit in chip.compute:
        by_peak: dict[float, list[str]] = {}
        for dt, peak in unit.peak_flops.items():
            if peak > 0:
                by_peak.setdefault(peak, []).append(dt.value)
        for peak, names in sorted(by_peak.items(), reverse=True):
            compute.append((f"{unit.name} {'/'.join(names)}", peak))
    memory = [(m.name, m.bandwidth_Bps) for m in chip.memory if m.bandwidth_Bps > 0]
    return compute, memory


def op_points(schedule: Schedule) -> list[dict[str, Any]]:
    """One record per operator with FLOPs: intensity (FLOP/B), achieved FLOP/s, time share."""
    total = sum(mo.time_s for mo in schedule.ops) or 1.0
    pts = []
    for mo in schedule.ops:
        op = mo.op
        if op.flops <= 0 or mo.cost.time_s <= 0 or op.bytes.total <= 0:
            continue
        pts.append({"name": op.name, "kind": op.kind.value, "intensity": op.intensity,
                    "flops_per_s": op.flops / mo.cost.time_s, "share": mo.time_s / total,
                    "bound": mo.cost.bound.value})
    return pts


@_styled
def roofline(schedule: Schedule, *, title: str = "", max_labels: int = 8) -> Figure:
    """Roofline of one step: roofs of the chip, operators as points (size ∝ time share)."""
    compute, memory = roof_lines(schedule)
    pts = op_points(schedule)
    fig = _fig(7.2, 4.8)
    ax = fig.axes[0]
    peaks = [p for _, p in compute] or [1.0]
    bws = [b for _, b in memory] or [1.0]
    xs = [p["intensity"] for p in pts] or [1.0]
    ys = [p["flops_per_s"] for p in pts] or [1.0]
    ridge_hi = max(peaks) / min(bws)
    x_lo = min(min(xs), max(peaks) / max(bws)) / 4
    x_hi = max(max(xs), ridge_hi) * 4
    y_lo = min(min(ys), min(bws) * x_lo) / 4
    y_hi = max(peaks) * 3
    xline = np.geomspace(x_lo, x_hi, 200)
    top = max(peaks)
    for i, (name, bw) in enumerate(memory):
        ax.plot(xline, np.minimum(bw * xline, top), color="0.25", lw=1.4,
                ls=("-", "--", ":", "-.")[i % 4], label=f"{name} {_si(bw)}B/s")
    for i, (name, peak) in enumerate(compute):
        x0 = peak / max(bws)
        ax.hlines(peak, x0, x_hi, colors=PALETTE[i % len(PALETTE)], lw=1.2, alpha=0.9)
        ax.annotate(f"{name}: {_si(peak)}FLOP/s", (x_hi, peak), xytext=(-4, 2),
                    textcoords="offset points", ha="right", va="bottom", fontsize=7,
                    color=PALETTE[i % len(PALETTE)])
    chip = schedule.hardware.chip
    dtype = _main_dtype(schedule)
    main_peak = chip.peak_flops(dtype) if dtype is not None else 0.0
    main_bw = chip.main_memory.bandwidth_Bps
    if main_peak > 0 and main_bw > 0:
        ridge = main_peak / main_bw
        ax.axvline(ridge, color="0.6", lw=0.8, ls=":")
        ax.annotate(f"ridge ({dtype.value}, {chip.main_memory.name}) {ridge:.0f} FLOP/B",
                    (ridge, y_hi), xytext=(3, -12), textcoords="offset points", fontsize=7,
                    color="0.4")
    kinds = sorted({p["kind"] for p in pts})
    for k in kinds:
        sel = [p for p in pts if p["kind"] == k]
        ax.scatter([p["intensity"] for p in sel], [p["flops_per_s"] for p in sel],
                   s=[20 + 300 * p["share"] for p in sel], color=KIND_COLORS.get(k, "0.3"),
                   alpha=0.8, edgecolors="white", linewidths=0.5, label=k, zorder=3)
    mid = (x_lo * x_hi) ** 0.5
    placed: list[tuple[float, float, bool]] = []
    for (x, y), names in _merged_labels(pts, max_labels):
        right = x > mid  # labels of points on the right half go to their left
        # labels anchored near an earlier one (within ~half a decade across, a third of a
        # decade up/down, same side) stack below it instead of overprinting it
        lx, ly = math.log10(x), math.log10(y)
        near = sum(1 for px, py, pr in placed
                   if pr == right and abs(px - lx) < 0.6 and abs(py - ly) < 0.35)
        placed.append((lx, ly, right))
        ax.annotate(names, (x, y), xytext=(-6 if right else 6, -10 - 9 * near),
                    textcoords="offset points", fontsize=7, color="0.15",
                    ha="right" if right else "left",
                    arrowprops={"arrowstyle": "-", "color": "0.6", "lw": 0.5} if near else None)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(x_lo, x_hi)
    ax.set_ylim(y_lo, y_hi)
    ax.set_xlabel("arithmetic intensity (FLOP / byte of compulsory traffic)")
    ax.set_ylabel("achieved FLOP/s per chip")
    tr = schedule.trace
    sc = tr.scenario
    ax.set_title(title or f"{tr.model} on {schedule.hardware.label}: {sc.phase.value}, "
                 f"batch {sc.batch}, {schedule.runtime_name}", fontsize=9, wrap=True)
    ax.legend(loc="upper left", ncols=2, framealpha=0.9)
    return fig


def _main_dtype(schedule: Schedule) -> Any:
    """The dtype carrying most of the step's FLOPs (the roof that matters for the ridge)."""
    by: dict[Any, float] = {}
    for mo in schedule.ops:
        by[mo.op.dtype] = by.get(mo.op.dtype, 0.0) + mo.op.flops * mo.op.count
    return max(by, key=lambda d: by[d]) if by else None


def _merged_labels(pts: list[dict[str, Any]], max_labels: int
                   ) -> list[tuple[tuple[float, float], str]]:
    """Labels of the ops with the largest time shares; ops drawn at (nearly) the same spot
    share one label ("qkv_proj, o_proj, ...") instead of overprinting."""
    import math

    cells: dict[tuple[int, int], dict[str, Any]] = {}
    for p in sorted(pts, key=lambda p: -p["share"]):
        key = (round(math.log10(p["intensity"]) * 3), round(math.log10(p["flops_per_s"]) * 3))
        c = cells.setdefault(key, {"xy": (p["intensity"], p["flops_per_s"]), "names": [],
                                   "share": 0.0})
        if p["name"] not in c["names"]:
            c["names"].append(p["name"])
        c["share"] += p["share"]
    top = sorted(cells.values(), key=lambda c: -c["share"])[:max_labels]
    out = []
    for c in top:
        names = c["names"]
        text = ", ".join(names[:4]) + (f" +{len(names) - 4}" if len(names) > 4 else "")
        out.append((c["xy"], text))
    return out


# --------------------------------------------------------------------------------------------
# Tables of points
# --------------------------------------------------------------------------------------------


def _groups(frame: pd.DataFrame, group: str) -> list[tuple[str, pd.DataFrame]]:
    if not group or group not in frame.columns:
        return [("", frame)]
    return [(str(k), g) for k, g in frame.groupby(group, sort=False)]


LABELS = {
    "latency_s": "step latency (s)", "tokens_per_s": "tokens/s (whole batch)",
    "tokens_per_s_per_user": "tokens/s per user", "energy_per_token_j": "energy per token (J)",
    "cost_per_mtok_usd": "US$ per 1M tokens", "energy_j": "energy per step (J)",
    "power_w": "average power (W)", "price_usd": "hardware price (US$)",
    "compute_utilization": "compute utilization", "bandwidth_utilization":
    "memory-bandwidth utilization", "throughput_tok_s": "throughput (tokens/s)",
    "scenario.batch": "batch", "scenario.context": "context (tokens)", "traffic.rate":
    "request rate (req/s)",
}


def _label(name: str) -> str:
    if name in LABELS:
        return LABELS[name]
    return name.replace("_", " ").replace("scenario.", "").replace("hw.", "")


@_styled
def pareto(frame: pd.DataFrame, x: str, y: str, *, goals: Sequence[Goal | str] = ("minimize", "maximize"),
           group: str = "", logx: bool = False, logy: bool = False, title: str = "",
           label: str = "") -> Figure:
    """All points (grey or by group) and the Pareto front (black line, ringed points)."""
    fig = _fig()
    ax = fig.axes[0]
    df = frame[np.isfinite(frame[x].astype(float)) & np.isfinite(frame[y].astype(float))]
    for i, (name, g) in enumerate(_groups(df, group)):
        ax.scatter(g[x], g[y], s=14, alpha=0.55, color=PALETTE[i % len(PALETTE)] if group
                   else "0.6", label=name or "points", edgecolors="none")
    if len(df):
        mask = non_dominated(df[[x, y]].to_numpy(float), list(goals))
        front = df[mask].sort_values(x)
        ax.plot(front[x], front[y], color="black", lw=1.2, drawstyle="steps-post"
                if Goal(goals[0]) is Goal.MINIMIZE and Goal(goals[1]) is Goal.MAXIMIZE else "default")
        ax.scatter(front[x], front[y], s=40, facecolors="none", edgecolors="black", lw=1.1,
                   label=f"Pareto front ({len(front)})", zorder=3)
        if label and label in front.columns:
            for _, r in front.iterrows():
                ax.annotate(str(r[label]), (r[x], r[y]), xytext=(4, 4),
                            textcoords="offset points", fontsize=7)
    if logx:
        ax.set_xscale("log")
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel(f"{_label(x)} ({Goal(goals[0]).value})")
    ax.set_ylabel(f"{_label(y)} ({Goal(goals[1]).value})")
    ax.set_title(title or f"Pareto front: {_label(y)} vs {_label(x)}")
    ax.legend(loc="best")
    return fig


@_styled
def line(frame: pd.DataFrame, x: str, y: str | Sequence[str], *, group: str = "",
         logx: bool = False, logy: bool = False, title: str = "") -> Figure:
    """Metric(s) vs a parameter; one line per group value (and per metric)."""
    ys = [y] if isinstance(y, str) else list(y)
    fig = _fig()
    ax = fig.axes[0]
    styles = ("-", "--", ":", "-.")
    for i, (name, g) in enumerate(_groups(frame, group)):
        g = g.sort_values(x)
        for j, col in enumerate(ys):
            lab = " ".join(s for s in (name, _label(col) if len(ys) > 1 else "") if s)
            ax.plot(g[x], g[col], marker="o", ms=3.5, lw=1.4, ls=styles[j % 4],
                    color=PALETTE[i % len(PALETTE)], label=lab or _label(col))
    if logx:
        ax.set_xscale("log")
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel(_label(x))
    ax.set_ylabel(", ".join(_label(c) for c in ys))
    ax.set_title(title or f"{', '.join(_label(c) for c in ys)} vs {_label(x)}")
    if (group or len(ys) > 1) and ax.get_legend_handles_labels()[0]:
        ax.legend(loc="best", title=_label(group) if group else None)
    return fig


@_styled
def scatter(frame: pd.DataFrame, x: str, y: str, *, group: str = "", logx: bool = False,
            logy: bool = False, title: str = "") -> Figure:
    fig = _fig()
    ax = fig.axes[0]
    for i, (name, g) in enumerate(_groups(frame, group)):
        ax.scatter(g[x], g[y], s=16, alpha=0.7, color=PALETTE[i % len(PALETTE)],
                   label=name or None, edgecolors="none")
    if logx:
        ax.set_xscale("log")
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel(_label(x))
    ax.set_ylabel(_label(y))
    ax.set_title(title or f"{_label(y)} vs {_label(x)}")
    if group and ax.get_legend_handles_labels()[0]:
        ax.legend(loc="best", title=_label(group))
    return fig


@_styled
def bar(frame: pd.DataFrame, x: str, y: str, *, group: str = "", logy: bool = False,
        title: str = "", annotate: bool = True) -> Figure:
    """Grouped bars: one cluster per x value, one bar per group value."""
    cats = list(dict.fromkeys(frame[x].astype(str)))
    groups = _groups(frame, group)
    fig = _fig(max(5.0, 0.9 * len(cats) * max(1, len(groups)) ** 0.5 + 2), 4.2)
    ax = fig.axes[0]
    width = 0.8 / len(groups)
    pos = np.arange(len(cats))
    for i, (name, g) in enumerate(groups):
        vals = [g[g[x].astype(str) == c][y].mean() if (g[x].astype(str) == c).any() else np.nan
                for c in cats]
        bars = ax.bar(pos + (i - (len(groups) - 1) / 2) * width, vals, width,
                      color=PALETTE[i % len(PALETTE)], label=name or None)
        if annotate:
            ax.bar_label(bars, labels=[f"{v:.3g}" if np.isfinite(v) else "n/a" for v in vals],
                         fontsize=7, padding=2)
    ax.set_xticks(pos, [_lit(c) for c in cats], rotation=20 if max(map(len, cats), default=0) > 8 else 0,
                  ha="right" if max(map(len, cats), default=0) > 8 else "center")
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel(_label(x))
    ax.set_ylabel(_label(y))
    ax.set_title(title or f"{_label(y)} by {_label(x)}")
    if group and ax.get_legend_handles_labels()[0]:
        ax.legend(loc="best", title=_label(group))
    return fig


@_styled
def breakdown(frames: Mapping[str, pd.DataFrame], *, title: str = "operator time by kind",
              normalize: bool = False) -> Figure:
    """Stacked bars: per configuration (label → Schedule.to_frame()), time by op kind."""
    labels = list(frames)
    kinds: list[str] = []
    sums: dict[str, dict[str, float]] = {}
    for lab, df in frames.items():
        s = df.groupby("kind")["total_time_s"].sum()
        sums[lab] = {str(k): float(v) for k, v in s.items()}
        for k in s.index:
            if k not in kinds:
                kinds.append(str(k))
    fig = _fig(max(5.0, 0.8 * len(labels) + 3), 4.4)
    ax = fig.axes[0]
    bottom = np.zeros(len(labels))
    for k in kinds:
        vals = np.array([sums[lab].get(k, 0.0) for lab in labels])
        if normalize:
            tot = np.array([sum(sums[lab].values()) or 1.0 for lab in labels])
            vals = 100 * vals / tot
        else:
            vals = vals * 1e3
        ax.bar(np.arange(len(labels)), vals, bottom=bottom, label=k,
               color=KIND_COLORS.get(k, "0.5"))
        bottom += vals
    ax.set_xticks(np.arange(len(labels)), [_lit(lab) for lab in labels])
    ax.set_ylabel("share of step time (%)" if normalize else "time per step (ms)")
    ax.set_title(title)
    ax.tick_params(axis="x", rotation=20)
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), title="op kind")
    return fig


@_styled
def energy_cost(frame: pd.DataFrame, label: str, *, energy: str = "energy_per_token_j",
                cost: str = "cost_per_mtok_usd", title: str = "",
                logy: bool | None = None) -> Figure:
    """Two panels: energy per token (J) and cost per 1M tokens (US$) per configuration.

    The value axes are logarithmic when the bars span more than a factor of 20 (`logy=None`),
    so the small bars (GPUs beside a wafer system, say) stay readable; missing values are
    labelled "n/a" on a bar-less slot."""
    import matplotlib

    with matplotlib.rc_context(STYLE):
        fig = Figure(figsize=(9.0, 3.8), layout="constrained")
        a1, a2 = fig.subplots(1, 2)
    names = frame[label].astype(str).tolist()
    e_unit = "J / token (chips only)" if energy == "energy_per_token_j" else "J / token"
    for ax, col, unit in ((a1, energy, e_unit), (a2, cost, "US$ / 1M tokens")):
        vals = frame[col].astype(float).to_numpy()
        pos = vals[np.isfinite(vals) & (vals > 0)]
        log = (len(pos) > 1 and pos.max() / pos.min() > 20) if logy is None else logy
        floor = pos.min() / 3 if log and len(pos) else 0.0
        shown = np.where(np.isfinite(vals) & (vals > 0), vals, floor if log else 0.0)
        bars = ax.bar(np.arange(len(names)), shown - floor if log else shown, bottom=floor if log else 0.0,
                      color=PALETTE[: len(names)])
        ax.set_xticks(np.arange(len(names)), [_lit(n) for n in names])
        ax.bar_label(bars, labels=[f"{v:.3g}" if np.isfinite(v) else "n/a" for v in vals],
                     fontsize=7, padding=2)
        if log:
            ax.set_yscale("log")
            ax.set_ylim(floor, pos.max() * 4)
        ax.set_ylabel(unit + (" (log scale)" if log else ""))
        ax.set_title(_label(col))
        ax.tick_params(axis="x", rotation=25)
    fig.suptitle(title or "energy and cost per token")
    return fig


@_styled
def latency_load(frame: pd.DataFrame, x: str = "rate",
                 ys: Sequence[str] = ("ttft_p50_s", "ttft_p99_s", "tpot_p50_s", "tpot_p99_s"),
                 *, group: str = "", title: str = "") -> Figure:
    """Serving latency percentiles vs offered load: TTFT and TPOT panels, one line per group."""
    import matplotlib

    ttft = [c for c in ys if c.startswith("ttft") and c in frame.columns]
    tpot = [c for c in ys if not c.startswith("ttft") and c in frame.columns]
    panels = [p for p in (ttft, tpot) if p]
    with matplotlib.rc_context(STYLE):
        fig = Figure(figsize=(4.6 * len(panels), 3.8), layout="constrained")
        axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for ax, cols in zip(axes, panels, strict=True):
        for i, (name, g) in enumerate(_groups(frame, group)):
            g = g.sort_values(x)
            for j, c in enumerate(cols):
                ax.plot(g[x], g[c], marker="o", ms=3, ls=("-", "--", ":")[j % 3],
                        color=PALETTE[i % len(PALETTE)],
                        label=" ".join(s for s in (name, c.split("_")[1]) if s))
        ax.set_yscale("log")
        ax.set_xlabel(_label(x))
        ax.set_ylabel(f"{cols[0].split('_')[0].upper()} (s)")
        ax.legend(loc="best")
    fig.suptitle(title or "latency vs load")
    return fig


def timeline(schedule: Schedule, path: str | Path, *, title: str = "") -> Path:
    """Op-level timeline (Gantt by resource) drawn by the simulator's DES."""
    from infersim.simulator.timeline import simulate_timeline

    tl = simulate_timeline(schedule)
    tl.plot(path, title=title)
    return Path(path)
