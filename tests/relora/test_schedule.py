"""The jagged cosine schedule.

Oracles: the closed form of a warmup + cosine, and a slow step-by-step re-derivation of the official
code's formula (``_get_cosine_schedule_with_multiple_warmups_lambda``, Guitaricet/relora,
``peft_pretraining/training_utils.py``, with ``adjust_step = 0``).
"""

import math

import pytest

from mlroundup.relora.schedule import (
    JaggedBudgetSchedule,
    cosine_factor,
    jagged_cosine_factor,
    jagged_cosine_lambda,
    periodic_resets,
)


def official_formula(step, total, first_warmup, restart_warmup, restart_every, min_lr_ratio):
    """The published formula, written out independently: linear first warmup; cosine over
    ``[first_warmup, total]``; in the first ``restart_warmup`` steps of every cycle after the first,
    a linear ramp from 0 to the cosine's value at the ramp's end."""

    def cos_at(s):
        p = (s - first_warmup) / max(1, total - first_warmup)
        return min_lr_ratio + (1 - min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * p))

    if step < first_warmup:
        return step / max(1, first_warmup)
    k, within = divmod(step, restart_every)
    if within < restart_warmup and step >= restart_every:
        return within / max(1, restart_warmup) * cos_at(k * restart_every + restart_warmup)
    return cos_at(step)


@pytest.mark.parametrize(
    "total,warmup,every,rw,floor",
    [(1000, 50, 200, 20, 0.1), (600, 10, 100, 7, 0.0), (90, 5, 30, 3, 0.5)],
)
def test_matches_the_official_formula_at_every_step(total, warmup, every, rw, floor):
    f = jagged_cosine_lambda(total, warmup_steps=warmup, reset_every=every,
                             restart_warmup_steps=rw, floor=floor)  # fmt: skip
    for step in range(total):
        assert f(step) == pytest.approx(
            official_formula(step, total, warmup, rw, every, floor), abs=1e-12
        )


def test_zero_at_each_reset_and_rejoins_the_cosine():
    resets = (0.3, 0.5, 0.8)
    kw = dict(warmup=0.05, resets=resets, restart_warmup=0.04, floor=0.1)
    for r in resets:
        assert jagged_cosine_factor(r, 1.0, **kw) == 0.0
        end = r + 0.04
        assert jagged_cosine_factor(end, 1.0, **kw) == pytest.approx(
            cosine_factor(end, 1.0, 0.05, 0.1)
        )
        mid = jagged_cosine_factor(r + 0.02, 1.0, **kw)  # linear ramp: half-way, half the target
        assert mid == pytest.approx(0.5 * cosine_factor(end, 1.0, 0.05, 0.1))
        assert jagged_cosine_factor(r + 0.06, 1.0, **kw) == cosine_factor(r + 0.06, 1.0, 0.05, 0.1)
    assert jagged_cosine_factor(1.0, 1.0, **kw) == pytest.approx(0.1)
    assert jagged_cosine_factor(0.025, 1.0, **kw) == pytest.approx(0.5)


def test_cosine_closed_form():
    assert cosine_factor(0.0, 10, 2) == 0.0
    assert cosine_factor(2.0, 10, 2, 0.1) == 1.0
    assert cosine_factor(6.0, 10, 2, 0.1) == pytest.approx(0.1 + 0.9 * 0.5)
    assert cosine_factor(10.0, 10, 2, 0.1) == pytest.approx(0.1)


def test_budget_schedule_and_periodic_resets():
    assert periodic_resets(1.0, 0.25) == (0.25, 0.5, 0.75)
    assert periodic_resets(1.0, 0.15, 0.4) == pytest.approx((0.4, 0.55, 0.7, 0.85))
    assert periodic_resets(100, 30, 0) == (30, 60, 90)
    s = JaggedBudgetSchedule(1e-3, warmup=0.02, resets=(0.25, 0.5), restart_warmup=0.05)
    assert s.lr(0.25) == 0.0 and s.lr(0.5) == 0.0
    assert s.lr(0.3) == pytest.approx(1e-3 * cosine_factor(0.3, 1.0, 0.02, 0.1))


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="resets"):
        jagged_cosine_factor(0.5, 1.0, warmup=0.1, resets=(0.05,))
    with pytest.raises(ValueError, match="strictly increasing"):
        jagged_cosine_factor(0.5, 1.0, resets=(0.4, 0.3))
    with pytest.raises(ValueError, match="t="):
        jagged_cosine_factor(1.5, 1.0)
    with pytest.raises(ValueError, match="floor"):
        cosine_factor(0.5, 1.0, floor=2.0)
    with pytest.raises(ValueError, match="every"):
        periodic_resets(1.0, 0.0)
    with pytest.raises(ValueError, match="peak_lr"):
        JaggedBudgetSchedule(0.0)
    with pytest.raises(ValueError, match="total_steps"):
        jagged_cosine_lambda(10, warmup_steps=10)
