"""ReLoRA's jagged cosine learning-rate schedule, as a pure function of time (steps or budget fraction).

Lialin et al. (2023, Sec. 3 and Fig. 2): a standard warmup + cosine decay to a floor (the shared
:func:`mlroundup.training.warmup_decay`); at every restart (merge of the adapters and optimizer
reset) the learning rate drops to zero and warms up linearly over a few steps ("50-100 steps") back
onto the cosine. The official code
(``Guitaricet/relora``, ``peft_pretraining/training_utils.py``,
``_get_cosine_schedule_with_multiple_warmups_lambda``) ramps linearly from 0 to the cosine's value
*at the end* of the re-warmup, so the ramp meets the cosine exactly there; this module does the same.

Time ``t`` has any unit: optimizer steps (``total`` = number of steps; use :func:`jagged_cosine_lambda`
with :class:`torch.optim.lr_scheduler.LambdaLR`, or :class:`JaggedCosineLR`) or the fraction of a
compute budget (``total = 1``; :class:`JaggedBudgetSchedule` for the budgeted trainer). Pure Python:
the PyTorch scheduler is :class:`mlroundup.relora.optim.JaggedCosineLR`.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from mlroundup.training import warmup_decay


def _check_nonneg(name: str, v: float) -> None:
    if not (isinstance(v, (int, float)) and math.isfinite(v) and v >= 0):
        raise ValueError(f"invalid {name}={v!r}: must be a finite number >= 0")


def cosine_factor(t: float, total: float, warmup: float = 0.0, floor: float = 0.1) -> float:
    """Warmup + cosine multiplier of the peak learning rate at time ``t``: ReLoRA's base schedule.

    ``t / warmup`` for ``t < warmup``; then ``floor + (1 - floor) (1 + cos(pi p)) / 2`` with
    ``p = (t - warmup) / (total - warmup)`` clipped to [0, 1] (LLaMA's schedule, Touvron et al. 2023,
    which ReLoRA takes as its base). The shared :func:`mlroundup.training.warmup_decay` with
    ReLoRA's default floor.

    Parameters
    ----------
    t : float
        Time, in the same unit as ``total``; >= 0.
    total : float
        Length of the schedule; > ``warmup``.
    warmup : float
        Linear warmup length, >= 0.
    floor : float
        Final multiplier, in [0, 1] (the code's ``min_lr_ratio``, default 0.1).

    Returns
    -------
    float
        In [0, 1].

    Raises
    ------
    ValueError
        If an argument is out of range (named in the message).
    """
    return warmup_decay(t, total, warmup, floor, "cosine")


def periodic_resets(
    total: float, every: float, start: float | None = None, *, eps: float = 1e-9
) -> tuple[float, ...]:
    """Restart times ``start, start + every, start + 2 every, ...`` strictly inside ``(0, total)``.

    Parameters
    ----------
    total : float
        Length of the schedule, > 0.
    every : float
        Period between restarts, > 0 (the code's ``--relora`` / ``--cycle_length``).
    start : float, optional
        First restart (default ``every``: the first cycle is a full one, as in the code).
    eps : float
        Restarts within ``eps * total`` of ``total`` are dropped (they would train nothing).

    Raises
    ------
    ValueError
        If ``total`` or ``every`` is not positive, or ``start`` is negative.
    """
    if not (math.isfinite(total) and total > 0):
        raise ValueError(f"invalid total={total!r}: must be > 0")
    if not (math.isfinite(every) and every > 0):
        raise ValueError(f"invalid every={every!r}: must be > 0")
    start = every if start is None else start
    _check_nonneg("start", start)
    out = []
    k = 0
    while True:
        r = start + k * every
        if r >= total * (1.0 - eps):
            break
        if r > 0:
            out.append(r)
        k += 1
    return tuple(out)


def jagged_cosine_factor(
    t: float,
    total: float,
    *,
    warmup: float = 0.0,
    resets: Sequence[float] = (),
    restart_warmup: float = 0.0,
    floor: float = 0.1,
) -> float:
    """ReLoRA's jagged cosine multiplier of the peak learning rate at time ``t``.

    Parameters
    ----------
    t : float
        Time (steps or budget fraction), in [0, total].
    total : float
        Length of the schedule.
    warmup : float
        The global warmup at the start.
    resets : sequence of float
        Restart times, increasing, each in ``[warmup, total)``. At a restart the multiplier is 0.
    restart_warmup : float
        Length of the linear re-warmup after each restart (paper: 50-100 steps; code:
        ``--restart_warmup_steps 100`` for 5000-step cycles). 0 disables the re-warmup (plain
        cosine).
    floor : float
        The cosine's final multiplier (code: ``--min_lr_ratio`` 0.1).

    Returns
    -------
    float
        ``(t - r) / restart_warmup * cosine(r + restart_warmup)`` within ``restart_warmup`` after the
        latest restart ``r <= t``, otherwise :func:`cosine_factor`; so it is exactly 0 at each
        restart and rejoins the cosine at ``r + restart_warmup``.

    Raises
    ------
    ValueError
        If ``t`` is outside [0, total], the resets are not increasing inside ``[warmup, total)``, or
        another argument is out of range.

    References
    ----------
    Lialin et al., "ReLoRA: High-Rank Training Through Low-Rank Updates", ICLR 2024, Sec. 3 and
    Fig. 2 (arXiv 2307.05695).
    """
    if not 0.0 <= t <= total:
        raise ValueError(f"invalid t={t!r}: must be in [0, total={total!r}]")
    _check_nonneg("restart_warmup", restart_warmup)
    _check_resets(resets, warmup, total)
    base = cosine_factor(t, total, warmup, floor)
    if restart_warmup == 0 or not resets:
        return base
    i = bisect.bisect_right(resets, t) - 1
    if i < 0:
        return base
    since = t - resets[i]
    if since >= restart_warmup:
        return base
    target = cosine_factor(min(resets[i] + restart_warmup, total), total, warmup, floor)
    return since / restart_warmup * target


def _check_resets(resets: Sequence[float], warmup: float, total: float) -> None:
    prev = -math.inf
    for i, r in enumerate(resets):
        if not (math.isfinite(r) and warmup <= r < total):
            raise ValueError(
                f"invalid resets[{i}]={r!r}: must be in [warmup={warmup}, total={total})"
            )
        if r <= prev:
            raise ValueError(f"invalid resets[{i}]={r!r}: resets must be strictly increasing")
        prev = r


def jagged_cosine_lambda(
    total_steps: int,
    *,
    warmup_steps: int = 0,
    reset_every: int | None = None,
    first_reset: int | None = None,
    restart_warmup_steps: int = 0,
    floor: float = 0.1,
) -> Callable[[int], float]:
    """A ``LambdaLR`` multiplier ``step -> float`` of the jagged cosine over ``total_steps`` steps.

    Restarts at ``first_reset`` (default ``reset_every``) and every ``reset_every`` steps after; no
    restarts when ``reset_every`` is None. Steps past ``total_steps`` stay at the floor.

    Examples
    --------
    >>> import torch
    >>> opt = torch.optim.AdamW(torch.nn.Linear(2, 2).parameters(), lr=1e-3)
    >>> sched = torch.optim.lr_scheduler.LambdaLR(
    ...     opt, jagged_cosine_lambda(1000, warmup_steps=50, reset_every=200, restart_warmup_steps=10))
    """
    for name, v in (("total_steps", total_steps), ("warmup_steps", warmup_steps)):
        if not (isinstance(v, int) and v >= 0):
            raise ValueError(f"invalid {name}={v!r}: must be an int >= 0")
    if total_steps <= warmup_steps:
        raise ValueError(
            f"invalid total_steps={total_steps}: must exceed warmup_steps={warmup_steps}"
        )
    resets = () if reset_every is None else periodic_resets(total_steps, reset_every, first_reset)
    jagged_cosine_factor(0, total_steps, warmup=warmup_steps, resets=resets,
                         restart_warmup=restart_warmup_steps, floor=floor)  # fmt: skip

    def factor(step: int) -> float:
        return jagged_cosine_factor(
            min(max(step, 0), total_steps), total_steps, warmup=warmup_steps, resets=resets,
            restart_warmup=restart_warmup_steps, floor=floor,
        )  # fmt: skip

    factor.resets = resets  # type: ignore[attr-defined]
    return factor


@dataclass(frozen=True)
class JaggedBudgetSchedule:
    """The jagged cosine over a compute budget: ``lr(f) = peak_lr * jagged_cosine_factor(f, 1, ...)``.

    Drop-in for :class:`mlroundup.training.BudgetSchedule` (the trainer calls
    ``lr(fraction)`` with the budget fraction used and records ``asdict(schedule)``).

    Parameters
    ----------
    peak_lr : float
        > 0.
    warmup : float
        Global warmup, as a fraction of the budget.
    resets : tuple of float
        Budget fractions of the restarts (see :func:`periodic_resets`).
    restart_warmup : float
        Re-warmup length after each restart, as a fraction of the budget.
    floor : float
        Final multiplier of the cosine.
    """

    peak_lr: float
    warmup: float = 0.02
    resets: tuple[float, ...] = field(default_factory=tuple)
    restart_warmup: float = 0.0
    floor: float = 0.1

    def __post_init__(self) -> None:
        if not (math.isfinite(self.peak_lr) and self.peak_lr > 0):
            raise ValueError(f"invalid peak_lr={self.peak_lr!r}: must be > 0")
        object.__setattr__(self, "resets", tuple(float(r) for r in self.resets))
        self.lr(0.0)  # validates the rest

    def factor(self, fraction: float) -> float:
        """The multiplier of ``peak_lr`` at budget fraction ``fraction`` in [0, 1]."""
        return jagged_cosine_factor(
            fraction, 1.0, warmup=self.warmup, resets=self.resets,
            restart_warmup=self.restart_warmup, floor=self.floor,
        )  # fmt: skip

    def lr(self, fraction: float) -> float:
        """The learning rate at budget fraction ``fraction`` in [0, 1]."""
        return self.peak_lr * self.factor(fraction)
