"""Tests for mlroundup.longstep.torch.LongStepLR.

Oracle: our NumPy gradient_descent (itself checked against closed-form iterates in
test_solvers.py) and the definition lr_k = h_{k mod n} / L.
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from mlroundup.longstep.schedules import schedule  # noqa: E402
from mlroundup.longstep.solvers import gradient_descent  # noqa: E402
from mlroundup.longstep.torch import LongStepLR  # noqa: E402


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
