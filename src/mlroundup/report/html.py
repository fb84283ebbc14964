"""Render a run document (``results.json``) as one self-contained HTML page.

The page embeds its figures as base64 PNG and its CSS inline, so it opens from disk with no
network. It reads only the run document and the figure files beside it; it imports no method.
"""

from __future__ import annotations

import base64
import html
import math
from pathlib import Path
from typing import Any

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;max-width:1100px;
color:#1d2330;line-height:1.45;padding:0 1rem}
h1{margin-bottom:.2rem} h2{margin-top:2.5rem;border-bottom:1px solid #dde;padding-bottom:.3rem}
table{border-collapse:collapse;margin:.6rem 0 1rem;font-size:.9rem}
th,td{border:1px solid #d6d9e0;padding:.25rem .55rem;text-align:right;vertical-align:top}
th{background:#f2f4f8} td.l,th.l{text-align:left}
.v{font-weight:600;border-radius:3px;padding:.05rem .4rem;white-space:nowrap}
.reproduced{background:#d9f2de;color:#14532d} .better{background:#cfe8ff;color:#0b3a6b}
.not-reproduced{background:#fde2e1;color:#7f1d1d} .not-measured,.failed{background:#eee;color:#444}
.meta{color:#5b6270;font-size:.85rem} figure{margin:1rem 0} figcaption{font-size:.85rem;color:#444}
img{max-width:100%} .note{background:#fffbea;border-left:3px solid #e6c200;padding:.3rem .7rem;margin:.3rem 0}
.err{background:#fde2e1;border-left:3px solid #b91c1c;padding:.3rem .7rem}
"""


def fmt(x: Any) -> str:
    """Format a table cell: floats to 4 significant digits, None as an em dash, booleans as yes/no."""
    if x is None:
        return "\u2014"
    if isinstance(x, bool):
        return "yes" if x else "no"
    if isinstance(x, float):
        if not math.isfinite(x):
            return str(x)
        if x != 0 and (abs(x) >= 1e5 or abs(x) < 1e-3):
            return f"{x:.4g}"
        return f"{x:.4g}" if abs(x) >= 1 else f"{x:.4f}".rstrip("0").rstrip(".") or "0"
    return str(x)


def _e(x: Any) -> str:
    return html.escape(fmt(x))


def _badge(verdict: str) -> str:
    return f'<span class="v {verdict.replace(" ", "-")}">{html.escape(verdict)}</span>'


def _table(columns: list[str], rows: list[list[Any]], left: int = 1, raw: bool = False) -> str:
    head = "".join(
        f'<th class="{"l" if i < left else ""}">{html.escape(c)}</th>'
        for i, c in enumerate(columns)
    )
    body = []
    for row in rows:
        cells = "".join(
            f'<td class="{"l" if i < left else ""}">{c if raw else _e(c)}</td>'
            for i, c in enumerate(row)
        )
        body.append(f"<tr>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _metrics_table(exp: dict[str, Any]) -> str:
    rows = []
    for m in exp["metrics"]:
        tol = f"±{m['rel_tol']:.0%}" if m["rel_tol"] else ""
        if m["abs_tol"]:
            tol = (tol + " or " if tol else "±") + fmt(m["abs_tol"])
        rows.append(
            [
                html.escape(m["name"]) + (f" ({html.escape(m['unit'])})" if m["unit"] else ""),
                _e(m["paper"]),
                _e(m.get("target")),
                _e(m["ours"]),
                _e(m["ratio"]),
                html.escape(tol),
                _badge(m["verdict"]),
                html.escape(
                    (f"Claim: {m['statement']}. " if m.get("kind") == "claim" else "")
                    + m["source"]
                    + (f" Target (ours): {m['target_reason']}" if m.get("target_reason") else "")
                ),
            ]
        )
    cols = ["metric", "paper", "target (ours)", "ours", "ours/ref", "tolerance", "verdict",
            "source"]  # fmt: skip
    return _table(cols, rows, raw=True)


def _figure(run_dir: Path, fig: dict[str, str]) -> str:
    path = run_dir / fig["path"]
    if not path.is_file():
        return f'<p class="err">figure missing: {html.escape(fig["path"])}</p>'
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    cap = html.escape(fig["caption"])
    return f'<figure><img alt="{cap}" src="data:image/png;base64,{data}"><figcaption>{cap}</figcaption></figure>'


def render(document: dict[str, Any], run_dir: Path) -> str:
    """The HTML page for ``document``; figure paths are resolved against ``run_dir``."""
    run = document["run"]
    exps = document["experiments"]
    parts = [
        "<!doctype html><html lang=en><head><meta charset=utf-8>",
        f"<title>mlroundup report {html.escape(run['id'])}</title><style>{_CSS}</style></head><body>",
        "<h1>mlroundup reproduction report</h1>",
        f'<p class="meta">run {html.escape(run["id"])} · scale <b>{html.escape(run["scale"])}</b> · '
        f"seed {run['seed']} · mlroundup {html.escape(run['mlroundup_version'])} · commit "
        f"{html.escape(str(run.get('git_commit')))}<br>{html.escape(run['cpu_model'])} "
        f"({run.get('cpu_count', '?')} cores; {html.escape(' '.join(run['cpu_features']))}) · "
        f"Python {html.escape(run['python'])} · {html.escape(run['platform'])}<br>"
        f"started {html.escape(run['started'])}, finished {html.escape(run['finished'])}</p>",
        "<h2>Summary</h2>",
    ]
    summary = []
    for e in exps:
        verdict = "failed" if e["status"] == "failed" else e["verdict"]
        summary.append(
            [
                f'<a href="#{html.escape(e["name"])}">{html.escape(e["name"])}</a>',
                html.escape(e["claim"]),
                _badge(verdict),
                _e(e["wall_time_s"]),
            ]
        )
    parts.append(_table(["experiment", "claim", "verdict", "time (s)"], summary, left=2, raw=True))
    for e in exps:
        p = e["paper"]
        parts.append(f'<h2 id="{html.escape(e["name"])}">{html.escape(e["title"])}</h2>')
        parts.append(
            f'<p class="meta">{html.escape(p["authors"])}, “{html.escape(p["title"])}”, '
            f'<a href="https://arxiv.org/abs/{html.escape(p["arxiv"])}">arXiv {html.escape(p["arxiv"])}</a>'
            f"{', ' + html.escape(p['venue']) if p.get('venue') else ''} · experiment "
            f"<code>{html.escape(e['name'])}</code> · {_e(e['wall_time_s'])} s</p>"
        )
        parts.append(f"<p><b>Claim.</b> {html.escape(e['claim'])}</p>")
        if e["status"] == "failed":
            parts.append(
                f'<p class="err">The experiment failed: {html.escape(str(e["error"]))}</p>'
            )
        parts.append(_metrics_table(e))
        for note in e["notes"]:
            parts.append(f'<p class="note">{html.escape(note)}</p>')
        for t in e["tables"]:
            parts.append(f"<h3>{html.escape(t['title'])}</h3>")
            parts.append(_table(t["columns"], t["rows"]))
            if t.get("note"):
                parts.append(f'<p class="meta">{html.escape(t["note"])}</p>')
        for fig in e["figures"]:
            parts.append(_figure(run_dir, fig))
        if e["config"]:
            cfg = ", ".join(f"{k}={v}" for k, v in e["config"].items())
            parts.append(f'<p class="meta">config: {html.escape(cfg)}</p>')
    parts.append("</body></html>")
    return "\n".join(parts)


def write_html(document: dict[str, Any], run_dir: Path) -> Path:
    """Write ``run_dir/index.html`` for ``document`` and return its path."""
    run_dir = Path(run_dir)
    path = run_dir / "index.html"
    path.write_text(render(document, run_dir), encoding="utf-8")
    return path
