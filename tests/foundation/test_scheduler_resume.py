"""Resuming a learning-rate schedule in either order (optimizer state loaded before or after the
scheduler is built) continues exactly like the uninterrupted run. Oracle: the uninterrupted run's
rates, and the closed forms h_{k mod n} / L and base_lr * jagged_cosine_lambda(k)."""

import pytest

torch = pytest.importorskip("torch")

from mlroundup.longstep.scheduler import LongStepLR  # noqa: E402
from mlroundup.relora.optim import JaggedCosineLR  # noqa: E402
from mlroundup.relora.schedule import jagged_cosine_lambda  # noqa: E402

H = [1.5, 4.9, 1.5, 1.2]
JAG = {"warmup_steps": 3, "reset_every": 7, "restart_warmup_steps": 2}
STEPS, CUT = 20, 9


def _make(kind, opt):
    if kind == "longstep":
        return LongStepLR(opt, H, L=4.0)
    if kind == "longstep-base":
        return LongStepLR(opt, H)
    return JaggedCosineLR(opt, STEPS, **JAG)


def _closed_form(kind, k, lr0=0.25):
    if kind == "longstep":
        return H[k % len(H)] / 4.0
    if kind == "longstep-base":
        return lr0 * H[k % len(H)]
    return lr0 * jagged_cosine_lambda(STEPS, **JAG)(k)


def _opt(seed=0):
    torch.manual_seed(seed)
    p = torch.nn.Parameter(torch.randn(3))
    return p, torch.optim.SGD([p], lr=0.25, momentum=0.9)


def _train(p, opt, sched, steps, lrs):
    for _ in range(steps):
        lrs.append(opt.param_groups[0]["lr"])  # the rate this update uses
        opt.zero_grad()
        (p**2).sum().backward()
        opt.step()
        sched.step()


@pytest.mark.parametrize("kind", ["longstep", "longstep-base", "jagged"])
@pytest.mark.parametrize("order", ["scheduler-first", "optimizer-first"])
def test_resume_matches_the_uninterrupted_run(kind, order):
    p, opt = _opt()
    full: list[float] = []
    _train(p, opt, _make(kind, opt), STEPS, full)
    assert full == pytest.approx([_closed_form(kind, k) for k in range(STEPS)])

    p, opt = _opt()
    head: list[float] = []
    sched = _make(kind, opt)
    _train(p, opt, sched, CUT, head)
    saved_opt, saved_sched = opt.state_dict(), sched.state_dict()

    p2, opt2 = _opt(seed=1)
    with torch.no_grad():
        p2.copy_(p)
    if order == "scheduler-first":
        sched2 = _make(kind, opt2)
        opt2.load_state_dict(saved_opt)
    else:
        opt2.load_state_dict(saved_opt)
        sched2 = _make(kind, opt2)
    sched2.load_state_dict(saved_sched)
    tail: list[float] = []
    _train(p2, opt2, sched2, STEPS - CUT, tail)
    assert head + tail == pytest.approx(full, rel=1e-12)
