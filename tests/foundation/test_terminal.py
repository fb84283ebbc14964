"""The terminal results table stays readable where the output is not a terminal (CI logs, ``| tee``).

Oracle: the test's own input. Every experiment name, metric name and error message given must
appear whole in the output (rich, left to itself at the 80 columns it assumes off a terminal, cut
them to ``longstep-wors…``), and on a wide console each metric's row holds its name and its values.
"""

import io

import pytest
from rich.console import Console
from rich.table import Table

from mlroundup.experiments.registry import Experiment, Metric
from mlroundup.experiments.schema import Outcome
from mlroundup.report.terminal import results_table

from .conftest import PAPER, SETTINGS

EXP_A = "longstep-worst-case-with-a-rather-long-experiment-name"  # 54 characters
EXP_B = "qigen-smollm2-perplexity-and-throughput-at-paper-scale"
METRICS_A = (
    "constant: worst case x (4n+2) at the largest horizon we run",  # words, 59 characters
    "three_bit_dominated_fraction_of_all_group_size_configurations",  # one word, 61 characters
)
METRIC_B = "gemv_dram_bandwidth_fraction_of_the_measured_stream_peak"
ERROR = "KeyError: ['x'] [bold]not markup[/bold]"  # must be printed literally


def _document():
    def metric(name, paper, ours, verdict):
        return {"name": name, "paper": paper, "ours": ours,
                "ratio": None if ours is None else ours / paper, "verdict": verdict}  # fmt: skip

    return {
        "run": {"scale": "quick"},
        "experiments": [
            {"name": EXP_A, "status": "ok", "error": None, "metrics": [
                metric(METRICS_A[0], 2.0, 2.5, "better"),
                metric(METRICS_A[1], 0.5, None, "not measured"),
            ]},
            {"name": EXP_B, "status": "ok", "error": None,
             "metrics": [metric(METRIC_B, 0.8, 0.2, "not reproduced")]},
            {"name": "fake-fail", "status": "failed", "error": ERROR, "metrics": []},
        ],
    }  # fmt: skip


def _render(**console_kwargs):
    buf = io.StringIO()
    console = Console(file=buf, **console_kwargs)
    assert not console.is_terminal
    console.print(results_table(_document()))
    return console, buf.getvalue()


def _assert_all_whole(out):
    lines = [ln.strip() for ln in out.splitlines()]
    for name in (EXP_A, EXP_B, *METRICS_A, METRIC_B, "fake-fail"):
        # whole, on one line: not cut, not wrapped, not folded
        assert any(name in ln for ln in lines), (name, out)
    assert ERROR in out
    assert "\u2026" not in out  # no ellipsis anywhere


def test_is_a_rich_table():
    assert isinstance(results_table(_document()), Table)


def test_names_are_whole_at_the_80_columns_of_a_non_terminal(monkeypatch):
    monkeypatch.delenv("COLUMNS", raising=False)
    console, out = _render(width=80)
    assert console.width == 80
    _assert_all_whole(out)
    assert max(len(ln) for ln in out.splitlines()) <= 80
    # one record per metric: its values follow its name
    lines = out.splitlines()
    i = next(k for k, ln in enumerate(lines) if METRIC_B in ln)
    assert lines[i + 1].split() == ["paper", "0.8", "target", "\u2014", "ours", "0.2", "ours/ref",
                                    "0.25", "not",
                                    "reproduced"]  # fmt: skip


@pytest.mark.parametrize("width", [40, 60, 100])
def test_names_are_whole_at_other_narrow_widths(width):
    _, out = _render(width=width)
    # a name longer than the console is folded (nothing else can be done); shorter ones are whole
    lines = [ln.strip() for ln in out.splitlines()]
    for name in (EXP_A, EXP_B, *METRICS_A, METRIC_B):
        if len(name) <= width - 2:
            assert any(name in ln for ln in lines), (width, name, out)
    assert "\u2026" not in out


def test_a_wide_console_gets_the_table_with_each_record_on_one_row(monkeypatch):
    monkeypatch.setenv("COLUMNS", "240")  # rich reads $COLUMNS when the output is no terminal
    console, out = _render()
    assert console.width == 240
    _assert_all_whole(out)
    header = next(ln for ln in out.splitlines() if "experiment" in ln)
    cells = [c.strip() for c in header.split("\u2503")[1:-1]]
    assert cells == ["experiment", "metric", "paper", "target", "ours", "ours/ref", "verdict"]
    row = next(ln for ln in out.splitlines() if METRIC_B in ln)
    assert [c.strip() for c in row.split("\u2502")[1:-1]] == [
        EXP_B,
        METRIC_B,
        "0.8",
        "\u2014",  # no target of ours
        "0.2",
        "0.25",
        "not reproduced",
    ]


def test_reproduce_prints_whole_names_when_stdout_is_not_a_terminal(monkeypatch, tmp_path, capsys):
    from mlroundup.cli import main
    from mlroundup.experiments import registry

    long = Experiment(
        name=EXP_A,
        method="fake",
        title="Long names",
        paper=PAPER,
        claim="Long names survive a CI log.",
        metrics=(Metric(METRICS_A[0], 2.0), Metric(METRIC_B, 4.0)),
        run=lambda ctx: Outcome(values={METRICS_A[0]: 2.0, METRIC_B: 1.0}),
        settings=SETTINGS,
    )
    monkeypatch.setattr(registry, "all_experiments", lambda: [long])
    monkeypatch.setenv("COLUMNS", "80")  # as in CI, whatever terminal runs the tests
    assert main(["reproduce", "--out", str(tmp_path), "--no-progress"]) == 0
    lines = [ln.strip() for ln in capsys.readouterr().out.splitlines()]
    for name in (EXP_A, METRICS_A[0], METRIC_B):
        assert any(name in ln for ln in lines), (name, lines)
