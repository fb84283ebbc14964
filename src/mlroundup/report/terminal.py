"""The short results table ``reproduce`` prints to the terminal."""

from __future__ import annotations

from typing import Any

from mlroundup.report.html import fmt

_STYLE = {
    "reproduced": "green",
    "better": "cyan",
    "not reproduced": "red",
    "not measured": "dim",
    "failed": "bold red",
}


def results_table(document: dict[str, Any]) -> Any:
    """A :class:`rich.table.Table` with one row per metric: paper value, ours, ratio and verdict."""
    from rich.table import Table

    table = Table(title=f"mlroundup reproduce ({document['run']['scale']} scale)")
    for col, justify in (
        ("experiment", "left"), ("metric", "left"), ("paper", "right"), ("ours", "right"),
        ("ours/paper", "right"), ("verdict", "left"),
    ):  # fmt: skip
        table.add_column(col, justify=justify)
    for e in document["experiments"]:
        if e["status"] == "failed":
            table.add_row(e["name"], "", "", "", "", f"[{_STYLE['failed']}]failed: {e['error']}")
            continue
        for i, m in enumerate(e["metrics"]):
            v = m["verdict"]
            table.add_row(
                e["name"] if i == 0 else "",
                m["name"],
                fmt(m["paper"]),
                fmt(m["ours"]),
                fmt(m["ratio"]),
                f"[{_STYLE[v]}]{v}",
            )
    return table
