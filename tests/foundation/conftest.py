"""A tiny experiment used to test the runner, report and CLI without running real work."""

import matplotlib

matplotlib.use("Agg")

from dataclasses import dataclass

import matplotlib.pyplot as plt
import pytest

from mlroundup.experiments.registry import Experiment, Metric, Paper
from mlroundup.experiments.schema import Outcome, Table

PAPER = Paper(authors="A. Author", title="A Paper", arxiv="2301.00001")


@dataclass(frozen=True)
class FakeSettings:
    steps: int


#: The settings every fake experiment declares (quick: 3 progress steps).
SETTINGS = {"quick": FakeSettings(steps=3), "paper": FakeSettings(steps=5)}


def _run_ok(ctx):
    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    list(ctx.track(range(ctx.settings.steps), "steps"))
    return Outcome(
        values={"exact": 2.0, "close": 1.04},
        tables=[Table("numbers <b>", ["k", "v"], [[1, 0.5], [2, None]])],
        figures=[("a line", fig)],
        notes=["small scale"],
        config={"seed_used": ctx.seed, "scale": ctx.scale},
    )


def _run_fail(ctx):
    raise RuntimeError("boom\nsecond line")


OK = Experiment(
    name="fake-ok",
    method="fake",
    title="Fake OK",
    paper=PAPER,
    claim="Things work.",
    metrics=(
        Metric("exact", 2.0, rel_tol=1e-9),
        Metric("close", 1.0, rel_tol=0.01, higher_is_better=True),
        Metric("missing", 3.0),
    ),
    run=_run_ok,
    settings=SETTINGS,
)
FAIL = Experiment(
    name="fake-fail",
    method="fake",
    title="Fake fail",
    paper=PAPER,
    claim="Things break.",
    metrics=(Metric("x", 1.0),),
    run=_run_fail,
    settings=SETTINGS,
)


@pytest.fixture
def fake_registry(monkeypatch):
    from mlroundup.experiments import registry

    monkeypatch.setattr(registry, "all_experiments", lambda: [OK, FAIL])
    return [OK, FAIL]
