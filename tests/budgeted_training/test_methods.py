"""Method mechanics (oracles: copied weights compared entry by entry; the layer-drop formula of
Zhang & He 2020 evaluated by hand and by sampling; Lion's and Sophia's closed-form steps on a
diagonal quadratic; per-step charges summed by hand from each method's passes on an exactly linear
cost table)."""

import math

import numpy as np
import pytest
import torch
from training.training_helpers import linear_table, tiny_model

from mlroundup.budgeted_training import methods as M
from mlroundup.budgeted_training.optim import SophiaG, lion
from mlroundup.training import Budget, BudgetSchedule, TrainConfig, train


@pytest.mark.parametrize("positions", ["rope", "learned"])
def test_stacking_copies_layers_and_keeps_the_function_shape(positions):
    small = tiny_model(2, positions=positions)
    big = small.stacked()
    assert big.cfg.n_layer == 4 and len(big.blocks) == 4
    for i in range(2):
        for (name, a), (_, b), (_, c) in zip(
            small.blocks[i].named_parameters(),
            big.blocks[i].named_parameters(),
            big.blocks[i + 2].named_parameters(),
            strict=True,
        ):
            assert torch.equal(a, b) and torch.equal(a, c), name
            assert b.data_ptr() != c.data_ptr()  # copies, not shared
    assert torch.equal(small.tok_emb.weight, big.tok_emb.weight)
    assert big.head.weight is big.tok_emb.weight  # still tied
    x = torch.randint(0, 11, (3, 7))
    assert big(x).shape == small(x).shape == (3, 7, 11)
    # Running only the copied first half reproduces the small model exactly.
    torch.testing.assert_close(big(x, active_layers=[0, 1]), small(x))


def test_stacking_in_the_trainer_doubles_at_the_paper_fractions_and_resets_the_optimizer(data):
    seen = []

    def spy(trainer, record):
        seen.append((record["fraction"], len(trainer.model.blocks), len(trainer.optimizer.state)))

    r = train(
        tiny_model(1), data, Budget(1.0, linear_table()), BudgetSchedule(3e-3),
        method=M.LayerStacking(), config=TrainConfig(batch_size=4, seq_len=8), on_step=spy,
    )  # fmt: skip
    depth = {f: n for f, n, _ in seen}
    assert all(n == 1 for f, n in depth.items() if f < 0.125)
    assert all(n == 2 for f, n in depth.items() if 0.125 <= f < 0.3)
    assert all(n == 4 for f, n in depth.items() if f >= 0.3)
    assert len(r.model.blocks) == 4
    # Right after each stacking the fresh optimizer holds state for one step only: the first step
    # at the new depth has state for exactly the new model's parameters.
    first_at = {n: next(s for f, m, s in seen if m == n) for n in (2, 4)}
    n_params = {n: len(list(tiny_model(n).parameters())) for n in (2, 4)}
    assert first_at == n_params


def test_layer_drop_probabilities_follow_the_formula():
    # theta(0) = 1: nothing dropped; theta -> theta_bar: layer l kept w.p. 1 - (l/L)(1 - theta_bar).
    assert np.allclose(M.keep_probabilities(0.0, 4), 1.0)
    assert np.allclose(
        M.keep_probabilities(1.0, 4, 0.5, 100.0), [1 - 0.125, 1 - 0.25, 1 - 0.375, 0.5]
    )
    theta = 0.5 + 0.5 * math.exp(-100 * 0.01)
    assert np.allclose(M.keep_probabilities(0.01, 2), [1 - 0.5 * (1 - theta), theta])
    with pytest.raises(ValueError, match="theta_bar"):
        M.LayerDrop(theta_bar=1.5)


def test_layer_drop_samples_layers_with_those_probabilities(data):
    class FakeTrainer:
        fraction, n_layers = 1.0, 4
        config = TrainConfig(seed=7)

        def __init__(self, step):
            self.step = step

        def rng(self, *salt):
            return np.random.default_rng((7, self.step, *salt))

    ld = M.LayerDrop()
    n = 4000
    counts = np.zeros(4)
    for step in range(n):
        for i in ld.active_layers(FakeTrainer(step)):
            counts[i] += 1
    want = M.keep_probabilities(1.0, 4)
    sd = np.sqrt(want * (1 - want) / n)
    assert np.all(np.abs(counts / n - want) < 5 * sd + 1e-9)


def test_selective_backprop_keeps_with_probability_cdf_power_beta(data):
    sb = M.SelectiveBackprop(beta=2.0, history=4096)
    charged = []
    train(
        tiny_model(), data, Budget(20.0, linear_table()), BudgetSchedule(1e-12),  # no learning:
        method=sb, config=TrainConfig(batch_size=8, seq_len=8),  # stationary losses
        on_step=lambda trainer, record: charged.append(record["charged_s"]),
    )  # fmt: skip
    # charge = forward(8) + train(k), k the kept examples. With losses stationary, F(loss) is
    # uniform; the batch's top loss is always kept and each of the other 7 w.p. F^2:
    # E[k] = 1 + 7 E[U^2 | U not the max of 8] = 1 + (8/3 - 8/10) = 2.867.
    k = np.array([(c - 0.003 * 8 * 3) / (0.01 * 3) for c in charged][20:])  # history filled
    assert np.allclose(k, np.round(k)) and k.min() >= 1 and k.max() <= 8
    assert abs(k.mean() - (1 + 8 / 3 - 0.8)) < 4 * k.std() / np.sqrt(k.size)
    assert len(sb.state_dict()["losses"]) == min(4096, 8 * len(charged))


def _run(method, data, seconds=0.5):
    """A tiny run on the linear table: training costs 0.01, a forward 0.003, per sequence and
    (layers + 1)."""
    return train(tiny_model(), data, Budget(seconds, linear_table()), BudgetSchedule(3e-3),
                 method=method, config=TrainConfig(batch_size=4, seq_len=8))  # fmt: skip


def test_layer_drop_is_charged_per_active_layer(data):
    # Each step's charge is 0.01 * 4 * (active + 1) for an integer number of layers.
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


def _quadratic():
    a = torch.tensor([1.0, 4.0, 0.25])
    x = torch.nn.Parameter(torch.tensor([0.5, -0.2, 0.8]))
    return a, x


def _grad(a, x):
    x.grad = a * x.detach()


def test_lion_step_on_a_quadratic():
    a, x = _quadratic()
    x0 = x.detach().clone()
    opt = lion([x], lr=0.1, betas=(0.9, 0.99), weight_decay=0.5)
    _grad(a, x)
    opt.step()
    # First step, m = 0: x1 = x0 (1 - lr wd) - lr sign((1 - b1) g).
    torch.testing.assert_close(x.detach(), x0 * (1 - 0.05) - 0.1 * torch.sign(a * x0))
    opt = lion([x], lr=0.01)
    for _ in range(300):
        _grad(a, x)
        opt.step()
    assert x.detach().abs().max() < 0.02  # sign descent ends within a few steps of size lr


def test_sophia_is_clipped_newton_on_a_quadratic():
    a, x = _quadratic()
    opt = SophiaG([x], lr=1.0, betas=(0.0, 0.0), rho=1.0, weight_decay=0.0)
    x.grad = a.sqrt()
    opt.update_hessian(scale=1.0)  # h = exactly diag(A)
    _grad(a, x)
    opt.step()
    # |A x / A| = |x| < 1 in every coordinate: an exact Newton step to the minimum.
    torch.testing.assert_close(x.detach(), torch.zeros(3))
    # Far away the step is clipped to lr per coordinate: x1 = x0 - lr sign(x0).
    with torch.no_grad():
        x.copy_(torch.tensor([5.0, -3.0, 0.5]))
    _grad(a, x)
    opt.step()
    torch.testing.assert_close(x.detach(), torch.tensor([4.0, -2.0, 0.0]))


def test_sophia_converges_with_a_noisy_hessian_estimate():
    a, x = _quadratic()
    opt = SophiaG([x], lr=0.05, rho=0.5, weight_decay=0.0)
    gen = torch.Generator().manual_seed(0)
    for t in range(400):
        if t % 10 == 0:  # GNB-like estimate: a * (sample of a chi-square with mean 1)
            x.grad = a.sqrt() * torch.randn(3, generator=gen)
            opt.update_hessian()
        _grad(a, x)
        opt.step()
    assert x.detach().abs().max() < 0.06
    with pytest.raises(ValueError, match="rho"):
        SophiaG([x], rho=0.0)


def test_get_method_lists_valid_names():
    assert isinstance(M.get_method("lion"), M.LionMethod)
    with pytest.raises(ValueError, match="valid: baseline"):
        M.get_method("adam")
    with pytest.raises(ValueError, match="il_model"):
        M.RHOLoss()
