"""Learning-rate schedules as pure functions of time: the step, or the fraction of a budget used.

:func:`warmup_decay` is the one warm-up + decay-to-a-floor curve of mlroundup (nanoGPT's
``get_lr(it)``, LLaMA's cosine to 10% of the peak; Touvron et al. 2023): a linear warm-up from 0 to
1 over ``warmup``, then a cosine (or linear) decay from 1 to ``floor`` at ``total``, and ``floor``
after. Time has any unit: optimizer steps (``total`` = number of steps) or the budget fraction
(``total = 1``). ReLoRA's jagged restarts (:mod:`mlroundup.relora.schedule`) sit on top of it.

Kaddour et al. (2023, Sec. 3) let the baseline's learning rate decay fully by the end of the
budget: :func:`lr_factor` and :class:`BudgetSchedule` write the schedule in terms of the budget
fraction ``f = used / budget`` in [0, 1], not of a step count fixed in advance, so it reaches its
floor exactly when the budget runs out whatever the machine's speed. ``horizon > 1`` reproduces the
trap the paper warns about: a schedule planned for ``horizon`` times the budget and cut off at the
budget, mid-decay.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

#: Decay shapes of :func:`warmup_decay`.
DECAYS = ("cosine", "linear")
#: Schedules of :func:`lr_factor`.
KINDS = ("cosine", "linear", "one-cycle", "constant")


def warmup_decay(
    t: float, total: float, warmup: float = 0.0, floor: float = 0.0, decay: str = "cosine"
) -> float:
    """Multiplier of the peak learning rate at time ``t``: linear warm-up, then decay to ``floor``.

    ``t / warmup`` for ``t < warmup``; then, with ``p = (t - warmup) / (total - warmup)``,
    ``floor + (1 - floor) (1 + cos(pi p)) / 2`` (``cosine``) or ``floor + (1 - floor) (1 - p)``
    (``linear``); ``floor`` for ``t >= total``.

    Parameters
    ----------
    t : float
        Time, in the unit of ``total`` (steps, or budget fraction); >= 0.
    total : float
        End of the decay; finite and > ``warmup``.
    warmup : float
        Length of the linear warm-up, >= 0 (0: none).
    floor : float
        Final multiplier, in [0, 1] (LLaMA and ReLoRA: 0.1).
    decay : {"cosine", "linear"}

    Returns
    -------
    float
        In [0, 1]; exactly ``floor`` at ``t = total`` and 1 at ``t = warmup``.

    Raises
    ------
    ValueError
        If an argument is out of range (named in the message).

    Examples
    --------
    >>> warmup_decay(0.0, 100, warmup=10), warmup_decay(10, 100, warmup=10)
    (0.0, 1.0)
    >>> warmup_decay(55, 100, warmup=10, floor=0.1)  # half-way through the decay
    0.55
    >>> warmup_decay(100, 100, warmup=10, floor=0.1)
    0.1
    """
    for name, v in (("t", t), ("warmup", warmup)):
        if not (isinstance(v, (int, float)) and math.isfinite(v) and v >= 0):
            raise ValueError(f"invalid {name}={v!r}: must be a finite number >= 0")
    if not (math.isfinite(total) and total > warmup):
        raise ValueError(f"invalid total={total!r}: must be finite and > warmup={warmup!r}")
    if not 0.0 <= floor <= 1.0:
        raise ValueError(f"invalid floor={floor!r}: must be in [0, 1]")
    if decay not in DECAYS:
        raise ValueError(f"invalid decay={decay!r}; valid: {', '.join(DECAYS)}")
    if t < warmup:
        return t / warmup
    if t >= total:
        return floor
    p = (t - warmup) / (total - warmup)
    shape = 0.5 * (1.0 + math.cos(math.pi * p)) if decay == "cosine" else 1.0 - p
    return floor + (1.0 - floor) * shape


def lr_factor(
    fraction: float,
    kind: str = "cosine",
    warmup: float = 0.02,
    floor: float = 0.0,
    horizon: float = 1.0,
) -> float:
    """Multiplier of the peak learning rate at budget fraction ``fraction``.

    Parameters
    ----------
    fraction : float
        Budget used, in [0, 1].
    kind : {"cosine", "linear", "one-cycle", "constant"}
        After a linear warmup from 0 to 1 over the first ``warmup`` of the schedule: ``cosine``
        decays as ``floor + (1 - floor) (1 + cos(pi p)) / 2``, ``linear`` as
        ``floor + (1 - floor)(1 - p)``, with ``p`` the progress through the decay
        (:func:`warmup_decay` over ``total = 1``); ``one-cycle`` is ``linear`` with its warmup
        fixed at half the schedule (the simplified one-cycle of the paper's code); ``constant``
        stays at 1.
    warmup : float
        Warmup length as a fraction of the schedule, in [0, 1).
    floor : float
        Final multiplier, in [0, 1].
    horizon : float
        The schedule spans ``horizon`` budgets (>= 1); 1 is fully decayed at the budget's end.

    Returns
    -------
    float
        In [0, 1]; equals ``floor`` exactly at ``fraction == 1`` when ``horizon == 1`` (any kind
        but ``constant``).

    Raises
    ------
    ValueError
        If an argument is out of range (named in the message).

    References
    ----------
    Kaddour et al., "No Train No Gain: Revisiting Efficient Training Algorithms For
    Transformer-based Language Models", NeurIPS 2023, Sec. 3 (arXiv 2307.06440).
    """
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"invalid fraction={fraction!r}: must be in [0, 1]")
    if kind not in KINDS:
        raise ValueError(f"invalid kind={kind!r}; valid: {', '.join(KINDS)}")
    if not 0.0 <= warmup < 1.0:
        raise ValueError(f"invalid warmup={warmup!r}: must be in [0, 1)")
    if not 0.0 <= floor <= 1.0:
        raise ValueError(f"invalid floor={floor!r}: must be in [0, 1]")
    if not (math.isfinite(horizon) and horizon >= 1.0):
        raise ValueError(f"invalid horizon={horizon!r}: must be >= 1")
    if kind == "constant":
        return 1.0
    if kind == "one-cycle":
        kind, warmup = "linear", 0.5
    return warmup_decay(fraction / horizon, 1.0, warmup, floor, kind)


@dataclass(frozen=True)
class BudgetSchedule:
    """A learning-rate schedule over a budget: ``lr(f) = peak_lr * lr_factor(f, ...)``.

    Parameters
    ----------
    peak_lr : float
        > 0.
    kind, warmup, floor, horizon
        As :func:`lr_factor` (``floor`` is relative to ``peak_lr``).
    """

    peak_lr: float
    kind: str = "cosine"
    warmup: float = 0.02
    floor: float = 0.0
    horizon: float = 1.0

    def __post_init__(self) -> None:
        if not (math.isfinite(self.peak_lr) and self.peak_lr > 0):
            raise ValueError(f"invalid peak_lr={self.peak_lr!r}: must be > 0")
        lr_factor(0.0, self.kind, self.warmup, self.floor, self.horizon)  # validates the rest

    def lr(self, fraction: float) -> float:
        """The learning rate at budget fraction ``fraction`` in [0, 1]."""
        return self.peak_lr * lr_factor(fraction, self.kind, self.warmup, self.floor, self.horizon)

    def cut_off(self, horizon: float) -> BudgetSchedule:
        """The same schedule planned for ``horizon`` budgets and cut off at this one (the trap)."""
        return BudgetSchedule(self.peak_lr, self.kind, self.warmup, self.floor, horizon)
