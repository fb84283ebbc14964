"""Benchmarks: ours against peers, each side in its own fresh process (``mlroundup bench``).

This package is the shared harness only; it imports no method. Each method declares its
side-by-side cases in its own ``bench.py`` as a :class:`Bench`, listed by name in the flat
:data:`BENCHMARKS` (as ``experiment.py`` files are in the experiment registry). A bench's ``run``
receives a :class:`BenchContext` and times things only through :meth:`BenchContext.measure`, which
hands each :class:`~mlroundup.benchmarks.harness.Case` to the fair harness
(:mod:`mlroundup.benchmarks.harness`: one fresh process per system, the user's original
environment, the same thread count, interleaved passes, warm-up excluded, median and spread), and
records every measurement, with each side's environment and thread settings, in the report's
JSON. Declaring a bench::

    # mlroundup/example/bench.py
    from mlroundup.benchmarks import Bench
    from mlroundup.benchmarks.harness import Case, System

    def numpy_setup(threads, n):          # runs in the peer's own process
        import numpy as np
        a = np.ones((n, n), np.float32)
        return lambda: a @ a

    def run(ctx):
        n = {"quick": 256, "paper": 2048}[ctx.scale]
        res = ctx.measure(Case(f"{n}x{n}", [System("numpy", f"{__name__}:numpy_setup", {"n": n}),
                                            System("ours", f"{__name__}:ours_setup", {"n": n},
                                                   ours=True)], threads=ctx.threads))
        ctx.table("products", ["shape", "numpy ms", "ours ms", "x numpy"],
                  [[res.case.label, ctx.ms(res, "numpy"), ctx.ms(res, "ours"),
                    res.ratio("numpy", "ours")]])

    BENCH = Bench(name="example", title="Example products", run=run)

and one line ``"mlroundup.example.bench:BENCH"`` in :data:`BENCHMARKS`. Then::

    mlroundup bench example --scale quick --json example.json

The test suite checks the harness's fairness and each bench's bookkeeping, never wall time.
"""

from __future__ import annotations

import importlib
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mlroundup.experiments.schema import Table

if TYPE_CHECKING:  # pragma: no cover
    from mlroundup.benchmarks.harness import Case, CaseResult

#: The flat list of benchmarks, ``"package.module:ATTRIBUTE"`` of a :class:`Bench`, in run order.
BENCHMARKS: tuple[str, ...] = (
    "mlroundup.longstep.bench:BENCH",
    "mlroundup.rosko.bench:BENCH",
    "mlroundup.relora.bench:BENCH",
    "mlroundup.qigen.bench:BENCH",
)

#: Scales every bench accepts.
BENCH_SCALES: tuple[str, ...] = ("quick", "paper")


@dataclass
class BenchReport:
    """What one benchmark measured: tables of ours vs peers, notes, and every raw measurement.

    ``measurements`` holds each case's :class:`~mlroundup.benchmarks.harness.CaseResult` (passes,
    medians and spreads, each side's added variables, environment changes and thread settings);
    ``environment`` the base environment every child started from (secret-looking values
    redacted).
    """

    name: str
    title: str
    scale: str = "quick"
    threads: int = 1
    tables: list[Table] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    measurements: list[Any] = field(default_factory=list)
    environment: dict[str, str] = field(default_factory=dict)
    wall_time_s: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "title": self.title,
            "scale": self.scale,
            "threads": self.threads,
            "tables": [t.to_json() for t in self.tables],
            "notes": list(self.notes),
            "environment": dict(self.environment),
            "measurements": [m.to_json() for m in self.measurements],
            "wall_time_s": self.wall_time_s,
        }


@dataclass
class BenchContext:
    """What a bench's ``run`` gets: its scale and thread count, progress, and the harness.

    Parameters
    ----------
    scale : {"quick", "paper"}
    threads : int
        Threads for every side of every case (unless a case says otherwise, e.g. one-thread
        CPU-time tables).
    report : BenchReport
        Where :meth:`measure`, :meth:`table` and :meth:`note` put their results.
    log : callable(str)
        Progress messages.
    """

    scale: str
    threads: int
    report: BenchReport
    log: Callable[[str], None] = lambda _m: None

    def measure(self, case: Case) -> CaseResult:
        """Run ``case`` on the fair harness; record it (and a note per side without numbers)."""
        from mlroundup.benchmarks.harness import measure, original_environ, redacted

        if not self.report.environment:
            self.report.environment = redacted(original_environ())
        result = measure(case, log=self.log)
        self.report.measurements.append(result)
        self.report.notes += result.problems()
        return result

    def read_bandwidth(self, where: str = "dram") -> tuple[float | None, int | None]:
        """Read bandwidth (GB/s) and last-level cache bytes, measured in a child of their own
        (:func:`mlroundup.benchmarks.common.read_bandwidth`); ``(None, None)`` if it failed."""
        from mlroundup.benchmarks.harness import Case, System

        res = self.measure(Case(f"read bandwidth ({where})",
                                [System("read", "mlroundup.benchmarks.common:read_bandwidth",
                                        {"where": where})],
                                threads=self.threads, repeats=1, warmup=0, min_pass_s=0))  # fmt: skip
        info = res["read"].info
        return info.get("read_gbps"), info.get("llc_bytes")

    def table(self, title: str, columns: list[str], rows: list[list[Any]], note: str = "") -> None:
        """Append a table to the report."""
        self.report.tables.append(Table(title, columns, rows, note=note))

    def note(self, text: str) -> None:
        """Append a note to the report."""
        self.report.notes.append(text)

    @staticmethod
    def ms(result: CaseResult, name: str, cpu: bool = False) -> float | None:
        """Median milliseconds per unit of ``name`` in ``result``; None if it has none."""
        v = result.median(name, cpu)
        return None if v is None else 1e3 * v


@dataclass(frozen=True)
class Bench:
    """A method's benchmark: a name, a title, and ``run(ctx: BenchContext) -> None``.

    ``run`` builds :class:`~mlroundup.benchmarks.harness.Case` lists for ``ctx.scale``, measures
    them with ``ctx.measure`` and turns the results into tables with ``ctx.table``. The module
    declaring it must be cheap to import (heavy imports inside functions).
    """

    name: str
    title: str
    run: Callable[[BenchContext], None]
    description: str = ""


def _load(path: str) -> Bench:
    module, _, attr = path.partition(":")
    bench = getattr(importlib.import_module(module), attr)
    if not isinstance(bench, Bench):
        raise TypeError(f"benchmark entry {path!r} is a {type(bench).__name__}, not a Bench")
    return bench


def all_benches() -> list[Bench]:
    """Every registered bench, in :data:`BENCHMARKS` order.

    Raises
    ------
    ValueError
        If two benches share a name.
    """
    benches = [_load(p) for p in BENCHMARKS]
    names = [b.name for b in benches]
    dup = {n for n in names if names.count(n) > 1}
    if dup:
        raise ValueError(f"duplicate benchmark name(s) {sorted(dup)} in BENCHMARKS")
    return benches


def names() -> list[str]:
    """Names of every registered bench."""
    return [b.name for b in all_benches()]


def load(name: str) -> Bench:
    """The bench called ``name``.

    Raises
    ------
    KeyError
        If no bench has that name; the message lists the valid ones.
    """
    for b in all_benches():
        if b.name == name:
            return b
    raise KeyError(f"unknown benchmark {name!r}; valid: {', '.join(names())}")


def run_bench(
    bench: Bench, *, scale: str = "quick", threads: int | None = None,
    log: Callable[[str], None] = lambda _m: None,
) -> BenchReport:  # fmt: skip
    """Run one bench and return its report (a bench's own failure propagates).

    Raises
    ------
    ValueError
        On an unknown ``scale`` or a ``threads`` below 1.
    """
    from mlroundup.utils.threads import default_threads

    if scale not in BENCH_SCALES:
        raise ValueError(f"invalid scale={scale!r}; valid: {', '.join(BENCH_SCALES)}")
    threads = default_threads() if threads is None else threads
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise ValueError(f"invalid threads={threads!r}: a positive integer")
    report = BenchReport(bench.name, bench.title, scale=scale, threads=threads)
    t0 = time.perf_counter()
    bench.run(BenchContext(scale, threads, report, log))
    report.wall_time_s = time.perf_counter() - t0
    load1 = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    report.notes.append(
        f"every side ran in its own fresh process from the user's environment (variables a side "
        f"sets for itself and each side's thread settings are in the JSON), {threads} thread(s) "
        f"each, passes interleaved, warm-up excluded, median of the passes; 1-minute load "
        f"average at the end {load1:.1f} on {os.cpu_count()} CPUs"
    )
    return report


def run_benchmarks(
    names: Sequence[str], *, scale: str = "quick", console: Any = None, threads: int | None = None
) -> list[BenchReport]:
    """Run the named benchmarks, printing each report's tables to ``console`` as it finishes."""
    from rich.console import Console
    from rich.table import Table as RichTable

    from mlroundup.report.html import fmt

    console = console or Console()
    reports = []
    for name in names:
        bench = load(name)
        with console.status(f"bench {name}") as status:

            def log(msg: str, _status: Any = status, _name: str = name) -> None:
                _status.update(f"bench {_name}: {msg}")

            report = run_bench(bench, scale=scale, threads=threads, log=log)
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
