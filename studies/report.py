"""Self-contained HTML reports: summary, tables, plots as base64 data URIs, resolved config.

The page references no external resource (no scripts, fonts, styles or images from the
network; no JavaScript at all), so it opens offline and archives as one file. The study's
resolved configuration is embedded twice: readable (YAML in a <pre>) and machine-readable
(<script type="application/json" id="study-config">, which browsers do not execute).

Text blocks accept a small markdown subset: paragraphs, `- ` bullet lists, `code`, **bold**,
`# ` / `## ` headings and pipe tables (`| a | b |` rows, an optional `|---|` rule after the
header row).
"""

from __future__ import annotations

import base64
import datetime as _dt
import html
import json
import platform
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from infersim.foundation.io import atomic_write_text

if TYPE_CHECKING:
    import pandas as pd

MAX_TABLE_ROWS = 200

CSS = """
body{font-family:-apple-system,"Segoe UI",Helvetica,Arial,sans-serif;margin:0;color:#1d2330;
background:#fafbfc;line-height:1.45}
main{max-width:1100px;margin:0 auto;padding:24px 32px 64px}
h1{font-size:1.7em;margin:0.2em 0}h2{font-size:1.3em;border-bottom:1px solid #dde1e6;
padding-bottom:4px;margin-top:2em}h3{font-size:1.08em;margin-top:1.4em}
.meta{color:#5b6573;font-size:0.9em}.desc{font-size:1.05em}
table{border-collapse:collapse;font-size:0.82em;margin:8px 0 4px;background:#fff}
th,td{border:1px solid #dde1e6;padding:3px 7px;text-align:right;white-space:nowrap}
th{background:#eef1f5;position:sticky;top:0}td.t,th.t{text-align:left}
.tablewrap{max-height:520px;overflow:auto;border:1px solid #e4e7eb;display:inline-block;
max-width:100%}
figure{margin:16px 0;background:#fff;border:1px solid #e4e7eb;padding:8px;display:inline-block;
max-width:100%}figure img{max-width:100%;height:auto;display:block}
figcaption{font-size:0.85em;color:#5b6573;margin-top:4px}
pre{background:#f1f3f6;padding:10px;overflow:auto;font-size:0.8em;border:1px solid #e4e7eb}
code{background:#f1f3f6;padding:0 3px;border-radius:3px}
.note{font-size:0.82em;color:#5b6573}
"""


@dataclass(frozen=True)
class Table:
    caption: str
    frame: pd.DataFrame
    max_rows: int = MAX_TABLE_ROWS


@dataclass(frozen=True)
class Image:
    caption: str
    path: Path  # a PNG/SVG/JPEG file, embedded as a data URI


@dataclass(frozen=True)
class Section:
    title: str
    text: str = ""
    tables: tuple[Table, ...] = ()
    images: tuple[Image, ...] = ()


@dataclass(frozen=True)
class Report:
    title: str
    description: str = ""
    summary: str = ""
    sections: tuple[Section, ...] = ()
    config: Mapping[str, Any] | None = None
    meta: Mapping[str, Any] = field(default_factory=dict)


_MIME = {".png": "image/png", ".svg": "image/svg+xml", ".jpg": "image/jpeg",
         ".jpeg": "image/jpeg", ".gif": "image/gif"}


def data_uri(path: Path) -> str:
    mime = _MIME.get(path.suffix.lower())
    if mime is None:
        raise ValueError(f"{path}: cannot embed {path.suffix} images")
    return f"data:{mime};base64,{base64.b64encode(path.read_bytes()).decode('ascii')}"


def markdown(text: str) -> str:
    """A tiny, safe markdown subset → HTML (everything is escaped first)."""
    out: list[str] = []
    para: list[str] = []
    items: list[str] = []
    rows: list[list[str]] = []

    def inline(s: str) -> str:
        s = html.escape(s)
        s = re.sub(r"`([^`]+)`", r"<code>\1</code>", s)
        return re.sub(r"\*\*([^*]+)\*\*", r"<strong>\1</strong>", s)

    def flush() -> None:
        if para:
            out.append(f"<p>{inline(' '.join(para))}</p>")
            para.clear()
        if items:
            out.append("<ul>" + "".join(f"<li>{inline(i)}</li>" for i in items) + "</ul>")
            items.clear()
        if rows:
            out.append(_pipe_table(rows, inline))
            rows.clear()

    for raw in text.splitlines():
        line_ = raw.rstrip()
        if not line_.strip():
            flush()
        elif line_.lstrip().startswith("|"):
            if para or items:
                flush()
            cells = [c.strip() for c in line_.strip().strip("|").split("|")]
            if not all(re.fullmatch(r":?-{3,}:?", c) for c in cells if c):
                rows.append(cells)
        elif line_.lstrip().startswith(("- ", "* ")):
            if para:
                flush()
            items.append(line_.lstrip()[2:])
        elif line_.startswith("## "):
            flush()
            out.append(f"<h3>{inline(line_[3:])}</h3>")
        elif line_.startswith("# "):
            flush()
            out.append(f"<h3>{inline(line_[2:])}</h3>")
        elif items and raw.startswith("  "):
            items[-1] += " " + line_.strip()
        else:
            if items:
                flush()
            para.append(line_.strip())
    flush()
    return "\n".join(out)


def _pipe_table(rows: list[list[str]], inline: Any) -> str:
    """A markdown pipe table as HTML: the first row is the header; a row with fewer cells
    than the header has its last cell spanning the rest (e.g. 'does not fit: reason')."""
    width = max(len(r) for r in rows)
    head = "".join(f"<th>{inline(c)}</th>" for c in rows[0])
    body = []
    for r in rows[1:]:
        r = [c for c in r if c] or [""]
        cells = [f"<td>{inline(c)}</td>" for c in r[:-1]]
        span = width - len(r) + 1
        cells.append(f'<td colspan="{span}" class="t">{inline(r[-1])}</td>' if span > 1
                     else f"<td>{inline(r[-1])}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return (f'<div class="tablewrap"><table><thead><tr>{head}</tr></thead><tbody>'
            f'{"".join(body)}</tbody></table></div>')


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        if v != v:
            return "–"
        if v == 0:
            return "0"
        a = abs(v)
        return f"{v:.4g}" if 1e-3 <= a < 1e6 else f"{v:.3e}"
    return str(v)


def table_html(t: Table) -> str:
    df = t.frame
    n = len(df)
    shown = df.head(t.max_rows)
    text_cols = {c for c in shown.columns if shown[c].dtype == object or shown[c].dtype == bool}
    head = "".join(f'<th class="{"t" if c in text_cols else ""}">{html.escape(str(c))}</th>'
                   for c in shown.columns)
    body = []
    for row in shown.itertuples(index=False):
        cells = "".join(
            f'<td class="{"t" if c in text_cols else ""}">{html.escape(_fmt(v))}</td>'
            for c, v in zip(shown.columns, row, strict=True))
        body.append(f"<tr>{cells}</tr>")
    note = (f'<p class="note">first {t.max_rows} of {n} rows shown; the full table is in the '
            "output folder</p>" if n > t.max_rows else "")
    cap = f"<h3>{html.escape(t.caption)}</h3>" if t.caption else ""
    return (f'{cap}<div class="tablewrap"><table><thead><tr>{head}</tr></thead><tbody>'
            f'{"".join(body)}</tbody></table></div>{note}')


def render(report: Report) -> str:
    from infersim.foundation.yaml import dump_document

    parts = [f"<h1>{html.escape(report.title)}</h1>"]
    meta = {"generated": _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "python": platform.python_version(), **report.meta}
    try:
        from infersim import __version__

        meta.setdefault("infersim", __version__)
    except ImportError:  # pragma: no cover
        pass
    parts.append('<p class="meta">' + " · ".join(
        f"{html.escape(str(k))}: {html.escape(str(v))}" for k, v in meta.items()) + "</p>")
    if report.description:
        parts.append(f'<div class="desc">{markdown(report.description)}</div>')
    if report.summary:
        parts.append(f"<h2>Summary</h2>{markdown(report.summary)}")
    for s in report.sections:
        parts.append(f"<h2>{html.escape(s.title)}</h2>")
        if s.text:
            parts.append(markdown(s.text))
        for img in s.images:
            parts.append(f'<figure><img src="{data_uri(img.path)}" alt="{html.escape(img.caption)}">'
                         f"<figcaption>{html.escape(img.caption)}</figcaption></figure>")
        for t in s.tables:
            parts.append(table_html(t))
    if report.config is not None:
        cfg_yaml = dump_document(_plain(report.config))
        cfg_json = json.dumps(_plain(report.config)).replace("</", "<\\/")
        parts.append("<h2>Configuration (for reproduction)</h2>"
                     f"<pre>{html.escape(cfg_yaml)}</pre>"
                     f'<script type="application/json" id="study-config">{cfg_json}</script>')
    body = "\n".join(parts)
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{html.escape(report.title)}</title><style>{CSS}</style></head>"
            f"<body><main>\n{body}\n</main></body></html>\n")


def write_report(report: Report, path: str | Path) -> Path:
    """Render and write atomically; returns the path."""
    p = Path(path)
    atomic_write_text(p, render(report))
    return p


def _plain(obj: Any) -> Any:
    if isinstance(obj, Mapping):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if hasattr(obj, "item") and callable(obj.item):
        return obj.item()
    if hasattr(obj, "value") and isinstance(getattr(obj, "value", None), str):
        return obj.value
    return obj


def images_in(folder: Path, pattern: str = "*.png") -> list[Image]:
    """Every image in a folder (sorted), captioned by its file name."""
    return [Image(p.stem.replace("_", " ").replace("-", " "), p)
            for p in sorted(folder.glob(pattern))]


def tables_in(folder: Path, names: Sequence[str] | None = None) -> list[Table]:
    import pandas as pd

    files = [folder / n for n in names] if names else sorted(folder.glob("*.csv"))
    return [Table(p.stem.replace("_", " "), pd.read_csv(p)) for p in files if p.exists()]
