"""RST accounting (oracles: bilinear interpolation by hand; per-step charges summed by hand from
each method's passes on an exactly linear cost table)."""

import numpy as np
import pytest

from mlroundup.budgeted_training import methods as M
from mlroundup.budgeted_training.budget import Budget, Charge, RSTTable, calibrate
from mlroundup.budgeted_training.model import GPT, GPTConfig
from mlroundup.budgeted_training.schedule import BudgetSchedule
from mlroundup.budgeted_training.trainer import BudgetTooSmallError, TrainConfig, train

from .budgeted_helpers import VOCAB, linear_table, tiny_model

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


def test_baseline_and_layer_drop_are_charged_per_active_layer(data):
    r = _run(M.Baseline(), data)
    assert all(h["charged_s"] == pytest.approx(0.01 * 4 * 3) for h in r.history)
    # Layer drop: each step's charge is 0.01 * 4 * (active + 1) for an integer number of layers.
    r = _run(M.LayerDrop(theta_bar=0.0, gamma=5.0), data)
    active = [h["charged_s"] / 0.04 - 1 for h in r.history]
    assert np.allclose(active, np.round(active)) and min(active) < 2


def test_extra_passes_are_charged(data):
    # Selective backprop: forward of the whole batch (0.003 * 4 * 3) plus training on k >= 1 of them.
    r = _run(M.SelectiveBackprop(), data)
    k = [(h["charged_s"] - 0.003 * 4 * 3) / (0.01 * 3) for h in r.history]
    assert np.allclose(k, np.round(k)) and all(1 <= v <= 4 for v in np.round(k))
    # RHO-loss (ratio 0.5): forward of 8 sequences by the model (2 layers) and the 1-layer IL model,
    # then training on 4.
    r = _run(M.RHOLoss(il_model=tiny_model(1, seed=3), ratio=0.5), data)
    step = 0.003 * 8 * 3 + 0.003 * 8 * 2 + 0.01 * 4 * 3
    assert all(h["charged_s"] == pytest.approx(step) for h in r.history)
    # Sophia (k = 3): every third step also pays a training pass for the Hessian estimate.
    r = _run(M.SophiaMethod(k=3), data, seconds=1.0)
    want = [0.12 * (2 if s % 3 == 2 else 1) for s in range(r.steps)]
    assert [h["charged_s"] for h in r.history] == pytest.approx(want)


def test_evaluation_is_not_charged(data):
    a = _run(M.Baseline(), data)
    b = train(
        tiny_model(), data, Budget(0.5, linear_table()), SCHED,
        config=TrainConfig(batch_size=4, seq_len=8, eval_at=(0.25, 0.5, 0.75)),
    )  # fmt: skip
    assert b.used_s == a.used_s and b.steps == a.steps and len(b.evals) == 4


def test_budget_shorter_than_one_step_is_a_clear_error(data):
    with pytest.raises(BudgetTooSmallError, match="shorter than one training step"):
        _run(M.Baseline(), data, seconds=0.05)
    with pytest.raises(BudgetTooSmallError, match="first step took"):
        train(tiny_model(), data, Budget(1e-9), SCHED, config=CFG)


def test_budget_of_steps_is_validated():
    """(Training on it is tested in tests/relora/test_method.py: res.steps == the steps asked.)"""
    import pytest

    from mlroundup.budgeted_training.budget import Budget

    b = Budget.of_steps(7)
    assert (b.kind, b.total, b.unit) == ("steps", 7.0, "steps")
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="steps"):
            Budget.of_steps(bad)
    with pytest.raises(ValueError, match="exactly one"):
        Budget(seconds=1.0, steps=3)
    with pytest.raises(ValueError, match="exactly one"):
        Budget()
