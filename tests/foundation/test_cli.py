"""Exit codes and messages of the command line (oracle: the issue: 0 ok, 2 usage, 1 failure)."""

import json

import pytest

from mlroundup.cli import main


def test_help_lists_commands_and_examples(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for word in ("list", "reproduce", "bench", "longstep", "Examples"):
        assert word in out


def test_version(capsys):
    import mlroundup

    assert main(["--version"]) == 0
    assert mlroundup.__version__ in capsys.readouterr().out


def test_list_json_matches_registry(capsys):
    from mlroundup.experiments.registry import all_experiments

    assert main(["list", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["name"] for r in rows] == [e.name for e in all_experiments()]


def test_usage_errors_exit_2(capsys):
    assert main(["reproduce", "--scale", "huge"]) == 2
    assert main(["no-such-command"]) == 2
    assert main(["reproduce", "no-such-experiment"]) == 2
    assert "unknown experiment 'no-such-experiment'" in capsys.readouterr().err
    assert main(["bench", "nope"]) == 2


def test_reproduce_exit_1_on_failed_experiment_with_one_line(fake_registry, tmp_path, capsys):
    assert main(["reproduce", "fake-ok", "--out", str(tmp_path), "--no-progress"]) == 0
    assert main(["reproduce", "fake", "--out", str(tmp_path), "--no-progress"]) == 1
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1 and lines[0].startswith("error: 1 experiment(s) failed: fake-fail (see ")
    assert "Traceback" not in err


def test_unexpected_error_is_one_line_unless_debug(monkeypatch, capsys):
    import pytest

    from mlroundup.experiments import registry

    def broken():
        raise RuntimeError("registry exploded\nmore detail")

    monkeypatch.setattr(registry, "all_experiments", broken)
    assert main(["list"]) == 1
    err = capsys.readouterr().err
    assert err.strip() == "error: RuntimeError: registry exploded"
    with pytest.raises(RuntimeError):
        main(["--debug", "list"])


@pytest.mark.parametrize(
    "argv,option",
    [
        (["rosko", "info", "--sparsity", "nan"], "--sparsity"),
        (["budgeted-training", "train", "--budget", "nan"], "--budget"),
        (["budgeted-training", "train", "--budget", "1", "--lr", "inf"], "--lr"),
        (["sample", "x.jsonl", "--temperature", "nan"], "--temperature"),
    ],
)
def test_non_finite_numbers_are_usage_errors(argv, option, capsys):
    """NaN passes every range comparison; the CLI must still reject it (exit 2) by name."""
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert option in err and "not a finite number" in err


def test_unknown_pep_solver_is_a_usage_error(capsys):
    pytest.importorskip("cvxpy")
    assert main(["longstep", "pep", "--schedule", "silver", "-n", "3", "--solver", "NOPE"]) == 2
    err = capsys.readouterr().err
    assert "--solver" in err and "not an installed cvxpy solver" in err and "CLARABEL" in err
