"""The ``mlroundup`` command line.

Exit status: 0 on success, 2 on bad usage, 1 on failure with a one-line reason (the traceback only
with ``--debug`` or ``MLROUNDUP_DEBUG=1``).
"""

from __future__ import annotations

import copy
import importlib
import json
import os
import sys
from pathlib import Path
from typing import Any

import click

from mlroundup import __version__
from mlroundup.cli_types import FiniteFloatRange  # noqa: F401 - re-exported, its former home
from mlroundup.experiments.registry import SCALES

#: Per-method command groups, loaded only when invoked (``name -> "module:attribute"``).
METHOD_COMMANDS: dict[str, str] = {
    "longstep": "mlroundup.longstep.cli:longstep",
    "budgeted-training": "mlroundup.budgeted_training.cli:group",
    "rosko": "mlroundup.rosko.cli:rosko",
    "self-consistency": "mlroundup.self_consistency.cli:self_consistency",
    "qigen": "mlroundup.qigen.cli:qigen",
    "icae": "mlroundup.icae.cli:icae",
    "probe": "mlroundup.embedding_probes.cli:probe",
    "ttt": "mlroundup.ttt.cli:ttt",
    "mine": "mlroundup.instruction_mining.cli:mine",
}

#: Former top-level names that still work: ``alias -> (group, subcommand)`` of METHOD_COMMANDS.
ALIASES: dict[str, tuple[str, str]] = {
    "select": ("self-consistency", "select"),
    "sample": ("self-consistency", "sample"),
}


class _LazyGroup(click.Group):
    """A group whose per-method subcommands are imported on first use, so startup stays fast;
    an alias in :data:`ALIASES` runs its group's subcommand and says so in the command list."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*super().list_commands(ctx), *METHOD_COMMANDS, *ALIASES])

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in ALIASES:
            group_name, sub = ALIASES[cmd_name]
            group = self.get_command(ctx, group_name)
            target = group.get_command(ctx, sub) if isinstance(group, click.Group) else None
            if target is None:  # pragma: no cover - ALIASES names a missing command
                return None
            alias = copy.copy(target)  # the group's own command stays as it is
            alias.name = cmd_name
            alias.short_help = f"Alias of `mlroundup {group_name} {sub}`."
            return alias
        if cmd_name in METHOD_COMMANDS:
            module, _, attr = METHOD_COMMANDS[cmd_name].partition(":")
            return getattr(importlib.import_module(module), attr)
        return super().get_command(ctx, cmd_name)


def _console(stderr: bool = False) -> Any:
    from rich.console import Console

    return Console(stderr=stderr)


@click.group(
    cls=_LazyGroup,
    context_settings={"help_option_names": ["-h", "--help"]},
    epilog="""\b
Examples:
  mlroundup list
  mlroundup reproduce                       # every experiment, quick scale
  mlroundup reproduce longstep-certificates --scale paper --out runs/
  mlroundup bench longstep
  mlroundup longstep certify --pattern 1.5,4.9,1.5
  mlroundup self-consistency sample prompts.jsonl -n 10 --chat --out samples.jsonl
  mlroundup self-consistency select samples.jsonl --method consensus-wucs
""",
)
@click.version_option(__version__, prog_name="mlroundup")
@click.option("--debug", is_flag=True, help="Show full tracebacks on failure.")
def cli(debug: bool) -> None:
    """Ten 2023 ML papers as working, tested software, with a reproduction report."""
    if debug:
        os.environ["MLROUNDUP_DEBUG"] = "1"


@cli.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print the registry as JSON.")
def list_cmd(as_json: bool) -> None:
    """List the registered experiments and the claims they test.

    \b
    Examples:
      mlroundup list
      mlroundup list --json
    """
    from mlroundup.experiments.registry import Claim, all_experiments

    exps = all_experiments()
    if as_json:
        rows = [
            {
                "name": e.name,
                "method": e.method,
                "title": e.title,
                "paper": {
                    "authors": e.paper.authors,
                    "title": e.paper.title,
                    "arxiv": e.paper.arxiv,
                },
                "claim": e.claim,
                "metrics": [
                    {
                        "name": m.name,
                        "kind": "claim",
                        "statement": m.statement,
                        "paper": m.paper_holds,
                    }
                    if isinstance(m, Claim)
                    else {
                        "name": m.name,
                        "kind": "metric",
                        "paper": m.paper_value,
                        "target": m.target,
                        "rel_tol": m.rel_tol,
                        "abs_tol": m.abs_tol,
                        "higher_is_better": m.higher_is_better,
                    }
                    for m in e.metrics
                ],
                "scales": sorted(e.settings),
            }
            for e in exps
        ]
        click.echo(json.dumps(rows, indent=2))
        return
    from rich.table import Table

    table = Table(title="registered experiments")
    for col in ("name", "method", "paper", "claim", "metrics"):
        table.add_column(col, overflow="fold")
    for e in exps:
        table.add_row(
            e.name,
            e.method,
            f"{e.paper.authors} (arXiv {e.paper.arxiv})",
            e.claim,
            str(len(e.metrics)),
        )
    _console().print(table)


@cli.command()
@click.argument("names", nargs=-1)
@click.option(
    "--scale",
    type=click.Choice(SCALES),
    default="quick",
    show_default=True,
    help="quick: ~90 s per experiment on 2 cores; paper: full-size versions.",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("reports"),
    show_default=True,
    help="Parent folder of the new run folder.",
)
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True)
@click.option("--no-progress", is_flag=True, help="No live progress display.")
def reproduce(names: tuple[str, ...], scale: str, out: Path, seed: int, no_progress: bool) -> None:
    """Run experiments (all, or those NAMES / methods) and write results.json + index.html.

    Each run goes to a new dated folder under --out; --out/latest points at the newest.

    \b
    Examples:
      mlroundup reproduce
      mlroundup reproduce longstep --scale paper
      mlroundup reproduce longstep-worst-case --out /tmp/runs --seed 3
    """
    from mlroundup.experiments.registry import select
    from mlroundup.experiments.runner import reproduce as run
    from mlroundup.report.terminal import results_table

    try:
        exps = select(names)
    except KeyError as exc:
        raise click.BadParameter(str(exc.args[0]), param_hint="NAMES") from None
    run_dir, doc = run(exps, scale=scale, out=out, seed=seed, show_progress=not no_progress)
    console = _console()
    console.print(results_table(doc))
    console.print(f"report: {run_dir / 'index.html'}")
    console.print(f"results: {run_dir / 'results.json'}")
    failed = [e["name"] for e in doc["experiments"] if e["status"] == "failed"]
    if failed:
        raise click.ClickException(
            f"{len(failed)} experiment(s) failed: {', '.join(failed)} (see {run_dir / 'logs'})"
        )


@cli.command()
@click.argument("names", nargs=-1)
@click.option("--scale", type=click.Choice(SCALES), default="quick", show_default=True)
@click.option(
    "--json",
    "json_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also write the measurements to this JSON file (must not exist).",
)
def bench(names: tuple[str, ...], scale: str, json_path: Path | None) -> None:
    """Benchmark ours against peers, each side in its own process (all, or NAMES).

    \b
    Examples:
      mlroundup bench longstep
      mlroundup bench longstep --scale paper --json pep-bench.json
    """
    from mlroundup.benchmarks import names as bench_names
    from mlroundup.benchmarks import run_benchmarks

    valid = bench_names()
    unknown = [n for n in names if n not in valid]
    if unknown:
        raise click.BadParameter(
            f"unknown benchmark {unknown[0]!r}; valid: {', '.join(valid)}", param_hint="NAMES"
        )
    if json_path is not None and json_path.exists():
        raise click.BadParameter(f"{json_path} exists; not overwriting it", param_hint="--json")
    console = _console()
    reports = run_benchmarks(names or tuple(valid), scale=scale, console=console)
    if json_path is not None:
        json_path.write_text(json.dumps([r.to_json() for r in reports], indent=2), encoding="utf-8")
        console.print(f"wrote {json_path}")


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the CLI and map errors to exit codes (2 usage, 1 failure)."""
    argv = sys.argv[1:] if argv is None else argv
    debug = "--debug" in argv or os.environ.get("MLROUNDUP_DEBUG") == "1"
    try:
        rv = cli.main(args=argv, prog_name="mlroundup", standalone_mode=False)
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.UsageError as exc:
        exc.show()
        return 2
    except click.ClickException as exc:
        click.echo(f"error: {exc.format_message()}", err=True)
        return 1
    except click.Abort:
        click.echo("aborted", err=True)
        return 1
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        return 130
    except Exception as exc:  # noqa: BLE001 - one-line reason unless --debug
        if debug:
            raise
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        click.echo(f"error: {type(exc).__name__}: {msg}".rstrip(": "), err=True)
        return 1
    return rv if isinstance(rv, int) else 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
