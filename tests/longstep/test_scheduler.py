"""Tests for mlroundup.longstep.scheduler.LongStepLR.

Oracle: our NumPy gradient_descent (itself checked against closed-form iterates in
test_solvers.py) and the definition lr_k = h_{k mod n} / L.
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from mlroundup.longstep.scheduler import LongStepLR  # noqa: E402
from mlroundup.longstep.schedules import schedule  # noqa: E402
from mlroundup.longstep.solvers import gradient_descent  # noqa: E402


def _problem(seed=0, d=6):
    rng = np.random.default_rng(seed)
    M = rng.normal(size=(d, d))
    Q = M @ M.T / d
    b = rng.normal(size=d)
    L = float(np.linalg.eigvalsh(Q)[-1])
    return Q, b, L


@pytest.mark.parametrize("name", ["silver", "grimmer-7", "obs-f"])
@pytest.mark.parametrize("pass_L", [True, False])
def test_sgd_with_longstep_lr_matches_numpy_gd(name, pass_L):
    Q, b, L = _problem()
    n = 31
    h = schedule(name, n)

    def f(x):
        return float(0.5 * x @ Q @ x - b @ x)

    def g(x):
        return Q @ x - b

    x0 = np.linspace(-1.0, 1.0, Q.shape[0])
    ref = gradient_descent(f, g, x0, L, h)

    Qt = torch.tensor(Q, dtype=torch.float64)
    bt = torch.tensor(b, dtype=torch.float64)
    x = torch.tensor(x0, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.SGD([x], lr=(1.0 / L) if not pass_L else 123.0)
    sched = LongStepLR(opt, h, L=L if pass_L else None)
    traj = [x.detach().numpy().copy()]
    for _ in range(n):
        opt.zero_grad()
        loss = 0.5 * x @ Qt @ x - bt @ x
        loss.backward()
        opt.step()
        sched.step()
        traj.append(x.detach().numpy().copy())
    np.testing.assert_allclose(traj[-1], ref.x_final, rtol=0, atol=1e-12)
    fs = [f(z) for z in traj]
    np.testing.assert_allclose(fs, ref.f, rtol=1e-12, atol=1e-12)


def test_schedule_is_cycled_and_lr_values():
    # Oracle: definition lr_k = h[k mod n] / L.
    p = torch.zeros(1, requires_grad=True)
    opt = torch.optim.SGD([p], lr=0.5)
    sched = LongStepLR(opt, [1.5, 4.9, 1.5], L=2.0)
    lrs = []
    for _ in range(7):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs == pytest.approx([0.75, 2.45, 0.75, 0.75, 2.45, 0.75, 0.75])
    # L=None: the optimizer's initial lr is 1/L
    opt = torch.optim.SGD([p], lr=0.5)
    sched = LongStepLR(opt, [1.5, 4.9, 1.5])
    opt.step()
    sched.step()
    assert opt.param_groups[0]["lr"] == pytest.approx(0.5 * 4.9)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"schedule": [1.0, -1.0]}, r"schedule\[1\]=-1.0"),
        ({"schedule": [float("nan")]}, r"schedule\[0\]=nan"),
        ({"schedule": []}, "schedule"),
        ({"schedule": ["a"]}, r"invalid schedule=\['a'\]"),
        ({"L": 0.0}, "L=0.0"),
        ({"L": float("inf")}, "L=inf"),
    ],
)
def test_bad_input(kwargs, match):
    p = torch.zeros(1, requires_grad=True)
    opt = torch.optim.SGD([p], lr=0.1)
    args = {"schedule": [1.0], "L": 1.0}
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        LongStepLR(opt, args["schedule"], L=args["L"])


@pytest.mark.parametrize("order", ["scheduler-first", "optimizer-first"])
def test_resume_with_L_none_keeps_the_configured_base_lr(order):
    # Oracle: the closed form lr_k = base_lr * h[k mod n] with the run's configured base_lr 0.25
    # (L=None), i.e. the uninterrupted run. The resumed optimizer is built with another lr (9.0)
    # and the saved optimizer state has lost its "initial_lr" (a checkpoint written by code that
    # drops it): a scheduler built on that optimizer takes the decayed lr as its base (the classic
    # resume bug); loading the scheduler's state must restore the configured base.
    h = [1.5, 4.9, 1.5, 1.2]
    cut, steps = 6, 13
    p = torch.zeros(1, requires_grad=True)
    opt = torch.optim.SGD([p], lr=0.25)
    sched = LongStepLR(opt, h)
    for _ in range(cut):
        opt.step()
        sched.step()
    saved_opt, saved_sched = opt.state_dict(), sched.state_dict()
    for group in saved_opt["param_groups"]:
        del group["initial_lr"]
    assert saved_opt["param_groups"][0]["lr"] == pytest.approx(0.25 * h[cut % len(h)])

    p2 = torch.zeros(1, requires_grad=True)
    opt2 = torch.optim.SGD([p2], lr=9.0)
    if order == "scheduler-first":
        sched2 = LongStepLR(opt2, h)
        opt2.load_state_dict(saved_opt)
    else:
        opt2.load_state_dict(saved_opt)
        sched2 = LongStepLR(opt2, h)
    sched2.load_state_dict(saved_sched)
    lrs = []
    for _ in range(steps - cut):
        lrs.append(opt2.param_groups[0]["lr"])
        opt2.step()
        sched2.step()
    assert lrs == pytest.approx([0.25 * h[k % len(h)] for k in range(cut, steps)], rel=1e-12)
