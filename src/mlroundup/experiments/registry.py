"""The experiment registry: one flat list that drives ``list``, ``reproduce``, the report and the tests.

Each entry of :data:`EXPERIMENTS` is the dotted path ``"package.module:ATTRIBUTE"`` of an
:class:`Experiment` declared in a method's ``experiment.py``. Declarations are cheap to import (a
method's heavy imports live inside its ``run`` function), so ``mlroundup list`` stays fast.

How to declare an experiment
----------------------------
Every experiment is declared the same way: a frozen **settings dataclass** with one instance per
scale, numeric **metrics** (:class:`Metric`: the paper's value, or our own ``target`` with its
reason, never one in the other's place), yes/no **claims** (:class:`Claim`), and a ``run`` function
that reads its settings from ``ctx.settings`` and returns an
:class:`~mlroundup.experiments.schema.Outcome`::

    from dataclasses import dataclass

    from mlroundup.experiments.registry import Claim, Experiment, Metric, Paper

    PAPER = Paper(authors="A. Author, B. Author", title="A Method", arxiv="2307.00000")

    @dataclass(frozen=True)
    class Settings:
        n: int                  # problem size
        repeats: int = 3

    SETTINGS = {"quick": Settings(n=256), "paper": Settings(n=4096, repeats=7)}

    def run(ctx):
        import numpy as np      # heavy imports inside run: `mlroundup list` stays fast

        from mlroundup.experiments.schema import Outcome

        s = ctx.settings        # SETTINGS[ctx.scale], or the shrunk copy a test passed
        err = float(np.mean(np.random.default_rng(ctx.seed).standard_normal(s.n)) ** 2)
        return Outcome(values={"error": err, "beats_baseline": err < 1.0},
                       notes=["what our scale cannot show"], config={"n": s.n})

    EXAMPLE = Experiment(
        name="example", method="example", title="Example", paper=PAPER,
        claim="The method's error is small.",
        metrics=(
            Metric("error", paper_value=0.0, abs_tol=0.01, higher_is_better=False,
                   source="Table 1"),
            Claim("beats_baseline", statement="beats the baseline", source="Sec. 4"),
        ),
        settings=SETTINGS, run=run, budget_s={"quick": 5.0, "paper": 60.0},
    )

and one line ``"mlroundup.example.experiment:EXAMPLE"`` in :data:`EXPERIMENTS`. The runner
(:mod:`mlroundup.experiments.runner`) sets ``ctx.settings``, owns matplotlib's backend and torch's
thread count (restored after each experiment), turns a non-finite value into "not reproduced",
and writes each metric and claim beside the paper's value and our target in ``results.json``, the
HTML report and the terminal table. A test shrinks an experiment without touching its code::

    import dataclasses
    from mlroundup.experiments.runner import RunContext

    outcome = EXAMPLE.run(RunContext(settings=dataclasses.replace(SETTINGS["quick"], n=8)))
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, is_dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from mlroundup.experiments.runner import RunContext
    from mlroundup.experiments.schema import Outcome

#: The flat list of registered experiments, in report order. Add one line per experiment.
EXPERIMENTS: tuple[str, ...] = (
    "mlroundup.longstep.experiment:CERTIFICATES",
    "mlroundup.longstep.experiment:WORST_CASE",
    "mlroundup.longstep.experiment:CONVERGENCE",
    "mlroundup.rosko.experiment:SPEEDUP",
    "mlroundup.qigen.experiment:QIGEN_SMOLLM2",
    "mlroundup.budgeted_training.experiment:BUDGETED_TRAINING",
    "mlroundup.relora.experiment:RELORA",
    "mlroundup.self_consistency.experiment:HUMANEVAL_EXPERIMENT",
    "mlroundup.self_consistency.experiment:CAPITALS_EXPERIMENT",
    "mlroundup.icae.experiment:EXPERIMENT",
    "mlroundup.embedding_probes.experiment:EXPERIMENT",
    "mlroundup.instruction_mining.experiment:INSTRUCTION_MINING",
    "mlroundup.ttt.experiment:EXPERIMENT",
)

SCALES: tuple[str, ...] = ("quick", "paper")


@dataclass(frozen=True)
class Paper:
    """A paper an experiment reproduces.

    Parameters
    ----------
    authors : str
        Author list as printed, e.g. ``"B. Grimmer"``.
    title : str
        Title of the paper.
    arxiv : str
        arXiv identifier, e.g. ``"2307.06324"``.
    venue : str, optional
        Where it was published, e.g. ``"SIAM J. Optim. 2024"``.
    """

    authors: str
    title: str
    arxiv: str
    venue: str = ""

    @property
    def url(self) -> str:
        """The paper's arXiv abstract page."""
        return f"https://arxiv.org/abs/{self.arxiv}"


@dataclass(frozen=True)
class Metric:
    """One published number an experiment measures, with the tolerance that makes it "reproduced".

    Parameters
    ----------
    name : str
        Key of the value in :attr:`Outcome.values`.
    paper_value : float or None
        The paper's value; None when the paper prints none and the metric checks our own
        ``target`` instead.
    rel_tol, abs_tol : float
        Our value ``v`` reproduces the reference ``p`` (the paper's value, else the target) when
        ``|v - p| <= max(rel_tol*|p|, abs_tol)`` (``math.isclose`` semantics). Both must be
        finite and >= 0.
    higher_is_better : bool or None
        ``True``: a value above the tolerance band counts as "better"; ``False``: below counts as
        "better"; ``None``: the claim is a value to match, so any miss is "not reproduced".
    unit : str
        Unit of the value, for display.
    source : str
        Where in the paper the value is printed (section, table, equation).
    target : float, optional
        Our own goal for the value (not the paper's), reported in its own column; the verdict
        judges against it only when ``paper_value`` is None.
    target_reason : str
        Why the target is what it is (required with ``target``).

    Raises
    ------
    ValueError
        If a tolerance is negative or not finite, a given ``paper_value`` or ``target`` is not
        finite, neither is given, or ``target`` comes without ``target_reason``.
    """

    name: str
    paper_value: float | None
    rel_tol: float = 0.05
    abs_tol: float = 0.0
    higher_is_better: bool | None = None
    unit: str = ""
    source: str = ""
    target: float | None = None
    target_reason: str = ""

    def __post_init__(self) -> None:
        for label in ("rel_tol", "abs_tol"):
            tol = getattr(self, label)
            if not (math.isfinite(tol) and tol >= 0):
                raise ValueError(f"invalid {label}={tol!r} for metric {self.name!r}: must be >= 0")
        for label in ("paper_value", "target"):
            v = getattr(self, label)
            if v is not None and not math.isfinite(v):
                raise ValueError(f"invalid {label}={v!r} for metric {self.name!r}")
        if self.paper_value is None and self.target is None:
            raise ValueError(f"metric {self.name!r} needs a paper_value or a target")
        if self.target is not None and not self.target_reason:
            raise ValueError(f"metric {self.name!r}: a target needs its target_reason")

    @property
    def reference(self) -> float:
        """The value the verdict judges against: the paper's, else our target."""
        return self.paper_value if self.paper_value is not None else self.target  # type: ignore[return-value]

    def verdict(self, ours: float | None) -> str:
        """Compare our value with the paper's.

        Returns
        -------
        str
            ``"reproduced"`` within tolerance; ``"better"`` past it in the good direction (only when
            ``higher_is_better`` is set); ``"not reproduced"`` otherwise, including a non-finite
            value (a run that diverged measured something, and it is not the paper's number);
            ``"not measured"`` only when ``ours`` is None.
        """
        if ours is None:
            return "not measured"
        if not math.isfinite(ours):
            return "not reproduced"
        ref = self.reference
        if math.isclose(ours, ref, rel_tol=self.rel_tol, abs_tol=self.abs_tol):
            return "reproduced"
        above = ours > ref
        if self.higher_is_better is not None and above == self.higher_is_better:
            return "better"
        return "not reproduced"


@dataclass(frozen=True)
class Claim:
    """A yes/no finding of a paper ("online TTT beats the fixed model"), checked by an experiment.

    The experiment's :class:`~mlroundup.experiments.schema.Outcome` gives ``True`` (the finding
    holds in our run), ``False`` (it does not) or ``None`` (not measured) under :attr:`name`.

    Parameters
    ----------
    name : str
        Key of the value in :attr:`Outcome.values`.
    statement : str
        The finding, as a short sentence that is true when it holds.
    source : str
        Where in the paper it is stated (section, table, figure).
    paper_holds : bool
        What the paper reports (default True: the paper states the finding). False for a
        finding the paper reports against, e.g. "a window of every past frame is best".

    Raises
    ------
    ValueError
        If ``name`` or ``statement`` is empty.
    """

    name: str
    statement: str
    source: str = ""
    paper_holds: bool = True

    def __post_init__(self) -> None:
        if not self.name or not self.statement:
            raise ValueError(f"claim {self.name!r} needs a name and a statement")

    @property
    def unit(self) -> str:
        return ""

    def verdict(self, ours: bool | float | None) -> str:
        """``"reproduced"`` when ours agrees with the paper, ``"not reproduced"`` when it does not
        (a non-finite value counts as a disagreement), ``"not measured"`` for None.

        Raises
        ------
        TypeError
            If ``ours`` is not a bool, None or a number (0 / 1 accepted for older run functions).
        """
        if ours is None:
            return "not measured"
        if isinstance(ours, bool):
            holds = ours
        elif isinstance(ours, (int, float)) and not isinstance(ours, bool):
            if not math.isfinite(ours) or ours not in (0, 1):
                return "not reproduced"
            holds = bool(ours)
        else:
            raise TypeError(f"claim {self.name!r}: expected True/False/None, got {ours!r}")
        return "reproduced" if holds == self.paper_holds else "not reproduced"


@dataclass(frozen=True)
class Experiment:
    """A registered reproduction of one paper claim.

    Parameters
    ----------
    name : str
        Unique, lower-case, dash-separated name used on the command line.
    method : str
        The subpackage it belongs to (``"longstep"``, ``"qigen"``, ...).
    title : str
        Short human title.
    paper : Paper
        The paper reproduced.
    claim : str
        The claim, in one sentence.
    metrics : tuple of Metric or Claim
        The published values and yes/no findings compared with ours.
    run : callable
        ``run(ctx: RunContext) -> Outcome``; does the work described by ``ctx.settings``.
    settings : dict of str to a frozen dataclass instance
        The experiment's settings at each scale of :data:`SCALES` (every scale, one dataclass
        type); the runner passes ``settings[scale]`` as ``ctx.settings``.
    budget_s : dict
        Expected wall time per scale on 2 cores, for the user's information.

    Raises
    ------
    ValueError
        If ``settings`` lacks a scale, is not one frozen dataclass type for all scales, or two
        metrics share a name.
    """

    name: str
    method: str
    title: str
    paper: Paper
    claim: str
    metrics: tuple[Metric | Claim, ...]
    run: Callable[[RunContext], Outcome]
    settings: dict[str, Any] = field(default_factory=dict)
    budget_s: dict[str, float] = field(default_factory=lambda: {"quick": 90.0})

    def __post_init__(self) -> None:
        missing = [sc for sc in SCALES if sc not in self.settings]
        if missing:
            raise ValueError(f"experiment {self.name!r}: settings lack the scales {missing}")
        unknown = sorted(set(self.settings) - set(SCALES))
        if unknown:
            raise ValueError(f"experiment {self.name!r}: unknown scales {unknown} in settings")
        kinds = {type(v) for v in self.settings.values()}
        first = next(iter(self.settings.values()))
        if len(kinds) != 1 or not is_dataclass(first) or not first.__dataclass_params__.frozen:
            raise ValueError(
                f"experiment {self.name!r}: settings must be instances of one frozen dataclass"
            )
        names = [m.name for m in self.metrics]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"experiment {self.name!r}: metric names {dup} repeat")

    def settings_for(self, scale: str) -> Any:
        """The settings dataclass of ``scale``; ValueError naming the valid scales otherwise."""
        if scale not in self.settings:
            raise ValueError(f"invalid scale {scale!r}; valid: {', '.join(SCALES)}")
        return self.settings[scale]

    def metric(self, name: str) -> Metric | Claim:
        """The metric or claim called ``name``; KeyError listing the valid names otherwise."""
        for m in self.metrics:
            if m.name == name:
                return m
        raise KeyError(
            f"experiment {self.name!r} has no metric {name!r}; valid: {self.metric_names}"
        )

    @property
    def metric_names(self) -> list[str]:
        return [m.name for m in self.metrics]


def _load(path: str) -> Experiment:
    module_name, _, attr = path.partition(":")
    module = importlib.import_module(module_name)
    exp = getattr(module, attr)
    if not isinstance(exp, Experiment):
        raise TypeError(f"registry entry {path!r} is a {type(exp).__name__}, not an Experiment")
    return exp


def all_experiments() -> list[Experiment]:
    """Every registered experiment, in registry order.

    Raises
    ------
    ValueError
        If two experiments share a name.
    """
    exps = [_load(p) for p in EXPERIMENTS]
    seen: set[str] = set()
    for e in exps:
        if e.name in seen:
            raise ValueError(f"duplicate experiment name {e.name!r} in the registry")
        seen.add(e.name)
    return exps


def names() -> list[str]:
    """Names of every registered experiment."""
    return [e.name for e in all_experiments()]


def select(requested: Sequence[str] = ()) -> list[Experiment]:
    """The experiments named in ``requested`` (empty: all), in registry order.

    A name may also be a method (``longstep``), selecting all of that method's experiments.

    Raises
    ------
    KeyError
        If a name matches no experiment or method; the message lists the valid names.
    """
    exps = all_experiments()
    if not requested:
        return exps
    chosen: list[Experiment] = []
    for name in requested:
        hits = [e for e in exps if name in (e.name, e.method)]
        if not hits:
            valid = ", ".join(sorted({e.name for e in exps} | {e.method for e in exps}))
            raise KeyError(f"unknown experiment {name!r}; valid names: {valid}")
        chosen.extend(h for h in hits if h not in chosen)
    return [e for e in exps if e in chosen]
