"""Schedules (oracles: the closed forms of cosine / linear decay, nanoGPT's ``get_lr`` written out
independently, and arithmetic on a run whose every step costs the same)."""

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mlroundup.training import BudgetSchedule, TrainConfig, lr_factor, train, warmup_decay

from .training_helpers import tiny_model


def test_warmup_decay_closed_forms():
    # Linear warm-up over 10 steps, then down to the floor at step 100 (nanoGPT's get_lr shape).
    assert warmup_decay(0, 100, warmup=10) == 0.0
    assert warmup_decay(5, 100, warmup=10) == pytest.approx(0.5)
    assert warmup_decay(10, 100, warmup=10) == 1.0
    assert warmup_decay(55, 100, warmup=10, floor=0.1) == pytest.approx(0.1 + 0.9 * 0.5)
    # A third of the way down: cosine 0.5 (1 + cos(pi / 3)) = 0.75; linear 1 - 1/3.
    assert warmup_decay(40, 100, warmup=10) == pytest.approx(0.75)
    assert warmup_decay(40, 100, 10, 0.2, "linear") == pytest.approx(0.2 + 0.8 * 2 / 3)
    assert warmup_decay(100, 100, 10, 0.1) == 0.1 == warmup_decay(250, 100, 10, 0.1)
    assert warmup_decay(0.0, 1.0) == 1.0  # no warm-up: starts at the peak


@given(
    warmup=st.floats(0.0, 50.0),
    span=st.floats(1e-3, 1e3),
    floor=st.floats(0.0, 1.0),
    decay=st.sampled_from(["cosine", "linear"]),
    u=st.floats(0.0, 1.0),
    v=st.floats(0.0, 1.0),
)
def test_warmup_decay_falls_from_one_to_its_floor(warmup, span, floor, decay, u, v):
    total = warmup + span
    t0, t1 = sorted((warmup + u * span, warmup + v * span))
    a, b = (
        warmup_decay(t0, total, warmup, floor, decay),
        warmup_decay(t1, total, warmup, floor, decay),
    )
    assert floor - 1e-12 <= b <= a + 1e-12 <= 1.0 + 1e-12
    assert warmup_decay(total, total, warmup, floor, decay) == floor


@pytest.mark.parametrize(
    "args, match",
    [
        ((-1.0, 10.0), "t="),
        ((float("nan"), 10.0), "t="),
        ((1.0, 10.0, -1.0), "warmup="),
        ((1.0, 10.0, 10.0), "total="),
        ((1.0, float("inf")), "total="),
        ((1.0, 10.0, 0.0, 1.5), "floor="),
        ((1.0, 10.0, 0.0, 0.0, "step"), "decay="),
    ],
)
def test_warmup_decay_names_a_bad_argument(args, match):
    with pytest.raises(ValueError, match=match):
        warmup_decay(*args)


@given(
    kind=st.sampled_from(["cosine", "linear", "one-cycle"]),
    warmup=st.floats(0.0, 0.9),
    floor=st.floats(0.0, 1.0),
)
def test_schedule_reaches_its_floor_exactly_at_the_end_of_the_budget(kind, warmup, floor):
    assert lr_factor(1.0, kind, warmup, floor) == floor
    assert lr_factor(0.999, kind, warmup, floor) >= floor


def test_closed_forms():
    # cosine, 10% warmup, floor 0.1: at the middle of the decay (f = 0.55) the factor is 0.55.
    assert lr_factor(0.55, "cosine", 0.1, 0.1) == pytest.approx(0.1 + 0.9 * 0.5)
    assert lr_factor(0.05, "cosine", 0.1, 0.1) == pytest.approx(0.5)  # halfway through warmup
    assert lr_factor(0.75, "linear", 0.5, 0.0) == pytest.approx(0.5)
    assert lr_factor(0.5, "one-cycle") == pytest.approx(1.0)  # the one-cycle peak
    assert lr_factor(0.25, "one-cycle") == pytest.approx(0.5)
    assert lr_factor(0.3, "constant") == 1.0


def test_cut_off_schedule_is_the_trap_mid_decay():
    s = BudgetSchedule(1.0, "cosine", warmup=0.0, floor=0.0)
    trap = s.cut_off(2.0)
    assert s.lr(1.0) == 0.0
    assert trap.lr(1.0) == pytest.approx(0.5)  # cos decay planned for 2 budgets, halfway at the end
    assert trap.lr(0.5) == pytest.approx(0.5 * (1 + math.cos(math.pi / 4)))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(fraction=1.01), "fraction"),
        (dict(fraction=-0.1), "fraction"),
        (dict(fraction=0.5, kind="step"), "kind"),
        (dict(fraction=0.5, warmup=1.0), "warmup"),
        (dict(fraction=0.5, floor=1.5), "floor"),
        (dict(fraction=0.5, horizon=0.5), "horizon"),
    ],
)
def test_bad_arguments_are_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        lr_factor(**kwargs)
    with pytest.raises(ValueError, match="peak_lr"):
        BudgetSchedule(0.0)


def test_trainer_spends_the_budget_and_ends_one_step_from_the_floor(data, rst):
    # Every step costs 0.01 * batch 4 * (2 layers + 1) = 0.12 reference seconds; a budget of 1.0
    # takes ceil(1.0 / 0.12) = 9 steps, the last starting at fraction 8 * 0.12 = 0.96.
    budget = rst(1.0)
    sched = BudgetSchedule(1e-2, "linear", warmup=0.0, floor=0.0)
    r = train(tiny_model(), data, budget, sched, config=TrainConfig(batch_size=4, seq_len=8))
    assert r.steps == 9
    assert r.used_s == pytest.approx(9 * 0.12)
    assert [h["fraction"] for h in r.history] == pytest.approx([0.12 * k for k in range(9)])
    assert r.history[-1]["lr"] == pytest.approx(1e-2 * (1 - 0.96))
    assert r.used_s >= budget.seconds and sched.lr(1.0) == 0.0
