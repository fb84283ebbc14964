"""Methods that draw their own batches (``train(model, None, ...)``, e.g. images or video frames).

Oracles: least squares on noiseless data has the planted weights as its minimiser; a resumed run is
compared with the uninterrupted one; the refusals name what is wrong.
"""

import math
from dataclasses import replace

import numpy as np
import pytest
import torch

from mlroundup.training import Budget, BudgetSchedule, TrainConfig, train
from mlroundup.training.budget import Charge
from mlroundup.training.method import Method, StepOutput

W_TRUE = np.array([[0.5, -1.5, 2.0]], dtype=np.float32)


class Regression(Method):
    """Least squares on x ~ N(0, I), y = W_TRUE x: batches drawn from the step's generator."""

    name = "regression"

    def __init__(self, batch: int = 16) -> None:
        self.batch = batch

    def make_optimizer(self, trainer):
        return torch.optim.SGD(trainer.model.parameters(), lr=0.0)

    def train_step(self, trainer) -> StepOutput:
        x = torch.from_numpy(trainer.rng().standard_normal((self.batch, 3)).astype(np.float32))
        loss = torch.mean((trainer.model(x) - x @ torch.from_numpy(W_TRUE).T) ** 2)
        trainer.backward(loss)
        return StepOutput(float(loss.detach()), [Charge("train", self.batch, 0)], 0)

    def evaluate(self, trainer):
        w = trainer.model.weight.detach().numpy()
        return float(np.sum((w - W_TRUE) ** 2)), math.nan, math.nan  # E||(W - W*) x||^2


def _model(seed: int = 0) -> torch.nn.Linear:
    torch.manual_seed(seed)
    return torch.nn.Linear(3, 1, bias=False)


CFG = TrainConfig(batch_size=16, weight_decay=0.0, grad_clip=None)


def test_own_batches_reach_the_planted_weights():
    res = train(_model(), None, Budget.of_steps(200), BudgetSchedule(0.1, kind="constant"),
                method=Regression(), config=CFG)  # fmt: skip
    assert res.steps == 200
    np.testing.assert_allclose(res.model.weight.detach().numpy(), W_TRUE, atol=1e-4)
    assert res.final.loss < 1e-8 and math.isnan(res.final.bits_per_token)


def test_own_batches_resume_reproduces_the_uninterrupted_run(tmp_path):
    sched = BudgetSchedule(0.05, kind="cosine", warmup=0.1)
    full = train(_model(), None, Budget.of_steps(12), sched, method=Regression(), config=CFG)
    cut = replace(CFG, checkpoint_dir=tmp_path, checkpoint_every=4, max_steps=8)
    train(_model(), None, Budget.of_steps(12), sched, method=Regression(), config=cut)
    again = replace(CFG, checkpoint_dir=tmp_path, checkpoint_every=4)
    resumed = train(_model(seed=5), None, Budget.of_steps(12), sched, method=Regression(),
                    config=again, resume=True)  # fmt: skip
    assert resumed.losses == full.losses
    assert torch.equal(resumed.model.weight, full.model.weight)


def test_no_data_with_a_token_method_is_refused():
    with pytest.raises(ValueError, match="no data.*baseline.*train_step and evaluate"):
        train(_model(), None, Budget.of_steps(2), BudgetSchedule(0.1), config=CFG)


def test_a_method_asking_for_token_windows_without_data_is_told_why():
    class Confused(Regression):
        name = "confused"

        def train_step(self, trainer):
            trainer.sample(2)

    with pytest.raises(RuntimeError, match="confused.*no data"):
        train(_model(), None, Budget.of_steps(2), BudgetSchedule(0.1), method=Confused(),
              config=CFG)  # fmt: skip
