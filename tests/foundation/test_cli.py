"""Exit codes and messages of the command line (oracle: the issue: 0 ok, 2 usage, 1 failure)."""

import ast
import json
from pathlib import Path

import pytest

import mlroundup
from mlroundup.cli import main


def test_help_lists_commands_and_examples(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for word in ("list", "reproduce", "bench", "longstep", "self-consistency", "Examples"):
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
        (["self-consistency", "sample", "x.jsonl", "--temperature", "nan"], "--temperature"),
        (["self-consistency", "sample", "x.jsonl", "--top-p", "nan"], "--top-p"),
        (["sample", "x.jsonl", "--temperature", "nan"], "--temperature"),  # the alias
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


ROOT = Path(mlroundup.__file__).parent


def _imported_modules(path: Path) -> set[str]:
    """Every module an ``import`` statement of ``path`` names (relative ones resolved), read
    with ast, not executed; ``from a import b`` counts as both ``a`` and ``a.b``."""
    pkg = ".".join(path.relative_to(ROOT.parent).with_suffix("").parts[:-1])
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = pkg.split(".")[: len(pkg.split(".")) - node.level + 1]
                base = ".".join([*parts, base] if base else parts)
            out |= {base, *(f"{base}.{a.name}" for a in node.names)}
    return out


def test_method_clis_do_not_import_the_top_level_cli():
    """mlroundup.cli loads the method CLIs; one importing it back would be a circle. Shared
    option types live in mlroundup.cli_types instead."""
    paths = sorted(ROOT.glob("*/cli.py"))
    assert {p.parent.name for p in paths} >= {"longstep", "qigen", "rosko", "budgeted_training",
                                               "self_consistency"}  # fmt: skip
    bad = [f"{p.relative_to(ROOT)} imports {m}" for p in paths for m in _imported_modules(p)
           if m == "mlroundup.cli" or m.startswith("mlroundup.cli.")]  # fmt: skip
    assert not bad, "\n".join(bad)


def test_shared_cli_types_import_no_method_and_not_the_cli():
    from mlroundup.cli import METHOD_COMMANDS

    methods = {target.split(".")[1] for target in METHOD_COMMANDS.values()}
    bad = [m for m in _imported_modules(ROOT / "cli_types.py") if m.startswith("mlroundup")
           and (m.split(".")[1] in methods or m.split(".")[1] == "cli")]  # fmt: skip
    assert not bad, bad


def test_every_method_command_loads_and_finite_float_range_has_one_home():
    import click

    from mlroundup import cli, cli_types

    for name in [*cli.METHOD_COMMANDS, *cli.ALIASES]:
        assert isinstance(cli.cli.get_command(click.Context(cli.cli), name), click.Command), name
    assert cli.FiniteFloatRange is cli_types.FiniteFloatRange  # re-exported, not redefined


def test_scale_choices_are_the_registry_scales():
    import click

    from mlroundup.cli import cli
    from mlroundup.experiments.registry import SCALES

    ctx = click.Context(cli)
    for name in ("reproduce", "bench"):
        (scale,) = [p for p in cli.get_command(ctx, name).params if p.name == "scale"]
        assert tuple(scale.type.choices) == SCALES and scale.default in SCALES, name
