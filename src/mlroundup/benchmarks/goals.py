"""One wording for a bench figure beside its goal, shared by every method's ``bench.py``."""

from __future__ import annotations

import math

__all__ = ["goal_status"]


def goal_status(
    x: float | None, goal: float, aim: float | None = None, *, strict: bool = False
) -> str | None:
    """How a measured figure ``x`` stands against ``goal`` (and an optional, higher ``aim``).

    Parameters
    ----------
    x : float or None
        The measured figure where larger is better (a speed-up ratio, a fraction of bandwidth).
        ``None`` (not measured) gives ``None``.
    goal : float
        The value ``x`` must reach (``x >= goal``; with ``strict``, ``x > goal``, as for "faster
        than the peer" at a goal of 1x). Must be finite and > 0.
    aim : float, optional
        A stretch value above ``goal``; when given, a met goal also says whether the aim is met
        or how far below it ``x`` is.
    strict : bool
        Require ``x > goal`` instead of ``x >= goal``.

    Returns
    -------
    str or None
        ``"met"``, ``"met, aim met"``, ``"met; N% below the aim"`` or ``"short by N%"``, with N
        the shortfall relative to the goal (or aim), ``100 (1 - x / goal)``, rounded to whole
        percents from 1%, to one decimal below ("short by 0.2%"), "< 0.1%" below 0.05%, "0%"
        only for a tie under ``strict``.

    Raises
    ------
    ValueError
        If ``goal`` or ``aim`` is not a finite positive number, ``aim < goal``, or ``x`` is NaN.
    """
    for name, v in (("goal", goal), ("aim", aim)):
        if v is not None and not (math.isfinite(v) and v > 0):
            raise ValueError(f"{name} must be a finite number > 0, got {v!r}")
    if aim is not None and aim < goal:
        raise ValueError(f"aim {aim!r} is below the goal {goal!r}")
    if x is None:
        return None
    if math.isnan(x):
        raise ValueError("the measured figure is NaN")
    met = x > goal if strict else x >= goal
    if not met:
        return f"short by {_percent(1 - x / goal)}"
    if aim is None:
        return "met"
    return "met, aim met" if x >= aim else f"met; {_percent(1 - x / aim)} below the aim"


def _percent(share: float) -> str:
    """``share`` (>= 0) as a percentage: whole percents from 1%, one decimal below (a shortfall
    is never rounded to "0%"), "< 0.1%" below 0.05%; "0%" only for an exact tie."""
    pct = 100 * share
    if pct <= 0:
        return "0%"
    if round(pct, 1) >= 1:  # 0.96% reads "1%", not "1.0%"
        return f"{pct:.0f}%"
    return f"{pct:.1f}%" if pct >= 0.05 else "< 0.1%"
