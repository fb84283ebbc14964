"""The short results table ``reproduce`` prints to the terminal.

The table must stay readable where the output is not a terminal (CI logs, ``| tee``): there rich
cannot ask for a size and assumes 80 columns (or ``$COLUMNS`` when it is set), which is far
narrower than a table of the real experiment and metric names (about 130 columns), and rich would
squash the name columns and cut the names to a few characters (``longstep-wors…``). So the table
never squeezes: it is drawn as a table only where every cell fits on one line, and otherwise as
one block per experiment, one record per metric, with nothing cut.
"""

from __future__ import annotations

import functools
from typing import Any

from mlroundup.report.html import fmt

_STYLE = {
    "reproduced": "green",
    "better": "cyan",
    "not reproduced": "red",
    "not measured": "dim",
    "failed": "bold red",
}

_COLUMNS = (
    ("experiment", "left"), ("metric", "left"), ("paper", "right"), ("target", "right"),
    ("ours", "right"), ("ours/ref", "right"), ("verdict", "left"),
)  # fmt: skip

# A width no table reaches: measure the table's natural (unwrapped) width against it.
_UNBOUNDED = 1_000_000


def results_table(document: dict[str, Any]) -> Any:
    """The results of a ``reproduce`` run as a rich renderable: one row per metric.

    Columns: experiment, metric, paper value, our target (our own goal, where a metric has one:
    never mixed with the paper's), ours, ours over the reference (the paper's value, else the
    target) and verdict (failed experiments get
    one row with the error).

    Parameters
    ----------
    document : dict
        A ``results.json`` document (:data:`mlroundup.experiments.schema.RESULTS_SCHEMA`).

    Returns
    -------
    rich.table.Table
        A table (a :class:`rich.table.Table` subclass) that renders as a table when the console
        is wide enough for every cell on one line. On a narrower console, e.g. the 80 columns
        rich assumes when the output is not a terminal (``$COLUMNS`` is respected), it renders
        instead as one block per experiment and one record per metric (the metric name on its
        own line, then its values), so no name is truncated or broken mid-line unless it is
        longer than the console is wide. Names and error messages are printed literally (never
        read as rich markup).
    """
    from rich.text import Text

    records: list[tuple[str, str | None, list[tuple[str, str, str, str, str]]]] = []
    for e in document["experiments"]:
        if e["status"] == "failed":
            records.append((e["name"], str(e["error"]), []))
            continue
        metrics = [
            (
                m["name"],
                fmt(m["paper"]),
                fmt(m.get("target")),
                fmt(m["ours"]),
                fmt(m["ratio"]),
                m["verdict"],
            )  # fmt: skip
            for m in e["metrics"]
        ]
        records.append((e["name"], None, metrics))

    table = _results_table_class()(
        records, title=f"mlroundup reproduce ({document['run']['scale']} scale)"
    )
    for col, justify in _COLUMNS:
        table.add_column(col, justify=justify)
    for name, error, metrics in records:
        if error is not None:
            table.add_row(Text(name), "", "", "", "", "",
                          Text(f"failed: {error}", _STYLE["failed"]))  # fmt: skip
            continue
        for i, (metric, paper, target, ours, ratio, verdict) in enumerate(metrics):
            table.add_row(
                Text(name if i == 0 else ""),
                Text(metric),
                paper,
                target,
                ours,
                ratio,
                Text(verdict, _STYLE.get(verdict, "")),
            )
    return table


@functools.cache
def _results_table_class() -> type:
    """The :class:`rich.table.Table` subclass of :func:`results_table` (rich imported lazily)."""
    from rich.padding import Padding
    from rich.table import Table
    from rich.text import Text

    class ResultsTable(Table):
        """A results table that renders as records instead of squeezing its columns.

        Parameters
        ----------
        records : list of tuple
            ``(experiment, error or None, [(metric, paper, target, ours, ratio, verdict), ...])``,
            the
            formatted cells.
        **kwargs
            Passed to :class:`rich.table.Table`.
        """

        def __init__(self, records: list[tuple[Any, ...]], **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.records = records

        def fits(self, console: Any, options: Any) -> bool:
            """Whether every cell fits on one line within ``options.max_width``."""
            natural = self.__rich_measure__(console, options.update_width(_UNBOUNDED)).maximum
            return natural <= options.max_width

        def __rich_console__(self, console: Any, options: Any) -> Any:
            if self.fits(console, options):
                yield from super().__rich_console__(console, options)
                return
            yield from self._records_view()

        def _records_view(self) -> Any:
            if self.title:
                yield Text(str(self.title), style="italic")
            for name, error, metrics in self.records:
                yield Text(name, style="bold")
                if error is not None:
                    yield Padding(Text(f"failed: {error}", _STYLE["failed"]), (0, 0, 0, 2),
                                  expand=False)  # fmt: skip
                for metric, paper, target, ours, ratio, verdict in metrics:
                    yield Padding(Text(metric), (0, 0, 0, 2), expand=False)
                    values = Text.assemble(
                        "paper ", paper, "   target ", target, "   ours ", ours, "   ours/ref ",
                        ratio, "   ",
                        (verdict, _STYLE.get(verdict, "")),
                    )  # fmt: skip
                    yield Padding(values, (0, 0, 0, 6), expand=False)

    return ResultsTable
