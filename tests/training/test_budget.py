"""RST accounting (oracles: bilinear interpolation by hand; per-step charges summed by hand from
the baseline's one pass on an exactly linear cost table; the methods' extra passes are charged in
tests/budgeted_training/test_methods.py)."""

import numpy as np
import pytest

from mlroundup.training import (
    GPT,
    Baseline,
    Budget,
    BudgetSchedule,
    BudgetTooSmallError,
    Charge,
    GPTConfig,
    RSTTable,
    TrainConfig,
    calibrate,
    train,
)

from .training_helpers import VOCAB, linear_table, tiny_model

CFG = TrainConfig(batch_size=4, seq_len=8)
SCHED = BudgetSchedule(3e-3)


def test_table_interpolates_bilinearly_and_refuses_to_extrapolate(tmp_path):
    t = RSTTable([2, 4], [1, 3], [[1.0, 3.0], [2.0, 8.0]], [[0.1, 0.3], [0.2, 0.8]])
    assert t.cost(Charge("train", 2, 3)) == 3.0
    assert t.cost(Charge("train", 3, 2)) == pytest.approx((1 + 3 + 2 + 8) / 4)
    assert t.cost(Charge("forward", 4, 2)) == pytest.approx(0.5)
    assert t.cost(Charge("train", 0, 2)) == 0.0
    with pytest.raises(ValueError, match="batch size 5 is outside"):
        t.cost(Charge("train", 5, 1))
    with pytest.raises(ValueError, match="layer count 0 is outside"):
        t.cost(Charge("forward", 2, 0))
    t.save(tmp_path / "t.json")
    with pytest.raises(FileExistsError):
        t.save(tmp_path / "t.json")
    back = RSTTable.load(tmp_path / "t.json")
    assert back.cost(Charge("train", 3, 2)) == t.cost(Charge("train", 3, 2))


def test_unmeasured_training_cost_is_never_charged():
    t = RSTTable([4, 40], [2], [[1.0], [np.nan]], [[0.1], [1.0]])
    assert t.cost(Charge("train", 4, 2)) == 1.0  # its NaN neighbour has weight 0
    assert t.cost(Charge("forward", 40, 2)) == 1.0
    with pytest.raises(ValueError, match="not calibrated"):
        t.cost(Charge("train", 20, 2))


def test_bad_tables_and_budgets():
    with pytest.raises(ValueError, match="strictly increasing"):
        RSTTable([4, 2], [1], [[1.0], [1.0]], [[1.0], [1.0]])
    with pytest.raises(ValueError, match="shape"):
        RSTTable([2], [1], [[1.0, 2.0]], [[1.0]])
    with pytest.raises(ValueError, match="kind"):
        Charge("backward", 1, 1)
    with pytest.raises(ValueError, match="must be > 0"):
        Budget(0.0)


def test_calibrate_measures_the_grid():
    def make(n):
        return GPT(GPTConfig(vocab_size=VOCAB, block_size=8, n_layer=n, n_head=2, d_model=16))

    t = calibrate(make, 8, [1, 2], [0, 2], vocab_size=VOCAB, forward_batch_sizes=[4], repeats=1)
    assert t.batch_sizes == (1, 2, 4) and t.layers == (0, 2)
    assert np.all(t.train_s[:2] > 0) and np.all(np.isnan(t.train_s[2]))
    assert np.all(t.forward_s > 0)
    assert t.meta["seq_len"] == 8 and t.meta["model"]["n_layer"] == 2


def _run(method, data, model=None, seconds=0.5, **table):
    budget = Budget(seconds, linear_table(**table))
    return train(model or tiny_model(), data, budget, SCHED, method=method, config=CFG)


def test_baseline_is_charged_one_training_pass_per_step(data):
    r = _run(Baseline(), data)
    assert all(h["charged_s"] == pytest.approx(0.01 * 4 * 3) for h in r.history)


def test_evaluation_is_not_charged(data):
    a = _run(Baseline(), data)
    b = train(
        tiny_model(), data, Budget(0.5, linear_table()), SCHED,
        config=TrainConfig(batch_size=4, seq_len=8, eval_at=(0.25, 0.5, 0.75)),
    )  # fmt: skip
    assert b.used_s == a.used_s and b.steps == a.steps and len(b.evals) == 4


def test_budget_shorter_than_one_step_is_a_clear_error(data):
    with pytest.raises(BudgetTooSmallError, match="shorter than one training step"):
        _run(Baseline(), data, seconds=0.05)
    with pytest.raises(BudgetTooSmallError, match="first step took"):
        train(tiny_model(), data, Budget(1e-9), SCHED, config=CFG)


def test_budget_of_steps_is_validated():
    """(Training on it is tested in tests/relora/test_method.py: res.steps == the steps asked.)"""
    b = Budget.of_steps(7)
    assert (b.kind, b.total, b.unit) == ("steps", 7.0, "steps")
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="steps"):
            Budget.of_steps(bad)
    with pytest.raises(ValueError, match="exactly one"):
        Budget(seconds=1.0, steps=3)
    with pytest.raises(ValueError, match="exactly one"):
        Budget()
