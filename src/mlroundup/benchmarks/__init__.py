"""Benchmarks: ours against peers, measured side by side in one run (``mlroundup bench``).

Each benchmark module exposes ``bench(scale: str, log: Callable[[str], None]) -> BenchReport``;
:data:`BENCHMARKS` is the flat list of them. Benchmarks report ratios measured in the same run; the
test suite checks correctness only, never wall time.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from mlroundup.experiments.schema import Table

#: ``name -> "module:function"``; the function is ``bench(scale, log) -> BenchReport``.
BENCHMARKS: dict[str, str] = {
    "longstep": "mlroundup.benchmarks.longstep_pep:bench",
    "rosko": "mlroundup.benchmarks.rosko:bench",
    "relora": "mlroundup.benchmarks.relora:bench",
    "qigen": "mlroundup.benchmarks.qigen:bench",
}


@dataclass
class BenchReport:
    """Measurements of one benchmark: tables of ours vs peers, and notes (machine, BLAS, caveats)."""

    name: str
    title: str
    tables: list[Table] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    wall_time_s: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "title": self.title,
            "tables": [t.to_json() for t in self.tables],
            "notes": list(self.notes),
            "wall_time_s": self.wall_time_s,
        }


def load(name: str) -> Callable[..., BenchReport]:
    """The ``bench`` function registered as ``name``; KeyError listing valid names otherwise."""
    try:
        target = BENCHMARKS[name]
    except KeyError:
        raise KeyError(f"unknown benchmark {name!r}; valid: {', '.join(BENCHMARKS)}") from None
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)


def run_benchmarks(
    names: Sequence[str], *, scale: str = "quick", console: Any = None
) -> list[BenchReport]:
    """Run the named benchmarks, printing each report's tables to ``console`` as it finishes."""
    from rich.console import Console
    from rich.table import Table as RichTable

    from mlroundup.report.html import fmt

    console = console or Console()
    reports = []
    for name in names:
        fn = load(name)
        t0 = time.perf_counter()
        with console.status(f"bench {name}") as status:

            def log(msg: str, _status: Any = status, _name: str = name) -> None:
                _status.update(f"bench {_name}: {msg}")

            report = fn(scale=scale, log=log)
        report.wall_time_s = time.perf_counter() - t0
        for t in report.tables:
            rt = RichTable(title=f"{report.title}: {t.title}")
            for c in t.columns:
                rt.add_column(c, justify="right")
            for row in t.rows:
                rt.add_row(*(fmt(c) for c in row))
            console.print(rt)
            if t.note:
                console.print(t.note)
        for note in report.notes:
            console.print(f"note: {note}")
        reports.append(report)
    return reports
