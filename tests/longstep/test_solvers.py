"""Tests for mlroundup.longstep.solvers.

Oracles: closed-form GD iterates on a diagonal quadratic, x_k = prod_j (1 - h_j lam_i / L) x0
(coordinate-wise); the FISTA rate 2 L R^2/(k+1)^2 of Beck & Teboulle (2009, Thm 4.4); a
hand-written FISTA recursion with Fractions-free scalar arithmetic for one-dimensional checks.
"""

from __future__ import annotations

import numpy as np
import pytest

from mlroundup.longstep.schedules import schedule
from mlroundup.longstep.solvers import History, constant_step_gd, fista, gradient_descent


def _quadratic(lams, c=None):
    lams = np.asarray(lams, dtype=float)
    c = np.zeros_like(lams) if c is None else np.asarray(c, dtype=float)

    def f(x):
        return float(0.5 * np.sum(lams * (x - c) ** 2))

    def g(x):
        return lams * (x - c)

    return f, g


def test_gd_closed_form_iterates_on_quadratic():
    # Oracle: on f = 1/2 sum lam_i (x_i - c_i)^2, x_k - c = prod_{j<k} (1 - h_j lam_i / L) (x0 - c).
    lams = np.array([1.0, 0.3, 0.01, 0.0])
    c = np.array([1.0, -2.0, 0.5, 3.0])
    L = 1.0
    f, g = _quadratic(lams, c)
    x0 = np.array([4.0, 4.0, -4.0, 1.0])
    h = schedule("silver", 15)
    hist = gradient_descent(f, g, x0, L, h)
    factors = np.cumprod(1.0 - np.outer(h, lams) / L, axis=0)
    xs = c + factors * (x0 - c)
    np.testing.assert_allclose(hist.x_final, xs[-1], rtol=1e-12, atol=1e-12)
    expect_f = [f(x0)] + [f(x) for x in xs]
    np.testing.assert_allclose(hist.f, expect_f, rtol=1e-12, atol=1e-14)
    assert hist.f.shape == (16,) and hist.grad_norm.shape == (16,) and hist.step.shape == (15,)
    np.testing.assert_array_equal(hist.step, h)
    np.testing.assert_allclose(hist.grad_norm[-1], np.linalg.norm(lams * (xs[-1] - c)), rtol=1e-12)
    assert hist.stopped == "max_iter" and hist.iterations == 15
    # x0 was not modified
    assert x0.tolist() == [4.0, 4.0, -4.0, 1.0]


def test_gd_callable_steps_and_max_iter():
    # Oracle: 1-D quadratic f = x^2/2 (L=1), step h -> x_{k+1} = (1-h) x_k.
    f, g = _quadratic([1.0])
    hist = gradient_descent(f, g, np.array([2.0]), 1.0, lambda k: 0.5, max_iter=3)
    assert hist.x_final.tolist() == [0.25]
    hist = gradient_descent(f, g, np.array([2.0]), 1.0, [0.5] * 10, max_iter=2)
    assert hist.iterations == 2 and hist.x_final.tolist() == [0.5]


def test_gd_tol_stops_at_first_hit():
    # Oracle: x_k = 0.5^k * 2, f = 2 * 0.25^k; rel gap 0.25^k <= 1e-3 first at k = 5.
    f, g = _quadratic([1.0])
    hist = gradient_descent(f, g, np.array([2.0]), 1.0, [0.5] * 50, tol=1e-3, f_star=0.0)
    assert hist.stopped == "tol" and hist.iterations == 5
    # without f_star: gradient-norm criterion |x_k| = 2 * 0.5^k <= 0.1 first at k = 5
    hist = gradient_descent(f, g, np.array([2.0]), 1.0, [0.5] * 50, tol=0.1)
    assert hist.iterations == 5


def test_constant_step_gd_matches_closed_form():
    f, g = _quadratic([2.0, 1.0])
    hist = constant_step_gd(f, g, np.array([1.0, 1.0]), 2.0, 4)
    np.testing.assert_allclose(hist.x_final, [0.0, 0.5**4], atol=1e-15)


def test_gd_stops_on_divergence_without_clipping():
    # h = 5 on f = x^2/2 (L=1): x_k = (-4)^k; overflow to inf must stop the run, not clip it.
    f, g = _quadratic([1.0])
    with np.errstate(over="ignore", invalid="ignore"):
        hist = gradient_descent(f, g, np.array([1.0]), 1.0, [5.0] * 2000)
    assert hist.stopped == "nonfinite"
    assert np.all(np.isfinite(hist.f)) and hist.iterations < 2000


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"L": 0.0}, "L=0.0"),
        ({"L": -1.0}, "L=-1.0"),
        ({"L": float("inf")}, "L=inf"),
        ({"steps": [1.0, 0.0]}, r"h\[1\]=0.0"),
        ({"steps": [1.0, float("nan")]}, r"h\[1\]=nan"),
        ({"steps": [-1.0]}, r"h\[0\]=-1.0"),
        ({"x0": np.array([1.0, np.nan])}, "x0"),
        ({"tol": -1.0}, "tol=-1.0"),
        ({"steps": lambda k: 1.0}, "max_iter"),
    ],
)
def test_gd_bad_input(kwargs, match):
    f, g = _quadratic([1.0, 2.0])
    args = {"x0": np.ones(2), "L": 2.0, "steps": [1.0, 1.0]}
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        gradient_descent(f, g, args["x0"], args["L"], args["steps"], tol=args.get("tol"))


def test_gd_bad_callable_step_named():
    f, g = _quadratic([1.0])
    with pytest.raises(ValueError, match=r"h\[2\]=-0.5"):
        gradient_descent(f, g, np.ones(1), 1.0, lambda k: 1.0 if k < 2 else -0.5, max_iter=5)


def test_shape_mismatch_between_x0_and_grad():
    def f(x):
        return float(x @ x)

    def g(x):
        return np.ones(3)

    with pytest.raises(ValueError, match=r"shape \(3,\).*\(2,\)"):
        gradient_descent(f, g, np.ones(2), 1.0, [1.0])
    with pytest.raises(ValueError, match=r"shape \(3,\)"):
        fista(f, g, np.ones(2), 1.0, 3)


def test_fista_rate_bound_on_quadratic():
    # Oracle: Beck & Teboulle (2009) Thm 4.4: f(x_k) - f* <= 2 L ||x0 - x*||^2 / (k+1)^2.
    rng = np.random.default_rng(0)
    lams = np.concatenate([[1.0], rng.uniform(0, 1, 30), [1e-4, 0.0]])
    c = rng.normal(size=lams.size)
    f, g = _quadratic(lams, c)
    x0 = np.zeros(lams.size)
    R2 = float(np.sum((x0 - c) ** 2))  # c is a minimizer
    n = 300
    hist = fista(f, g, x0, 1.0, n)
    k = np.arange(n + 1)
    bound = 2 * 1.0 * R2 / (k + 1) ** 2
    assert hist.f.shape == (n + 1,)
    assert np.all(hist.f[1:] <= bound[1:] * (1 + 1e-12))


def test_fista_first_iterates_by_hand():
    # Oracle (by hand) on f = x^2/2 with L = 2 (step 1/2): x1 = y1/2 = x0/2; t2 = (1+sqrt5)/2;
    # y2 = x1 + (t1-1)/t2 (x1 - x0) = x1; x2 = y2/2 = x0/4; t3 = (1+sqrt(1+4 t2^2))/2;
    # y3 = x2 + (t2-1)/t3 (x2 - x1); x3 = y3/2.
    f, g = _quadratic([1.0])
    x0 = 8.0
    t2 = (1 + 5**0.5) / 2
    t3 = (1 + (1 + 4 * t2**2) ** 0.5) / 2
    x1, x2 = x0 / 2, x0 / 4
    x3 = (x2 + (t2 - 1) / t3 * (x2 - x1)) / 2
    hist = fista(f, g, np.array([x0]), 2.0, 3)
    np.testing.assert_allclose(hist.f, [x0**2 / 2, x1**2 / 2, x2**2 / 2, x3**2 / 2], rtol=1e-14)
    assert isinstance(hist, History) and hist.x_final.tolist() == pytest.approx([x3])


def test_fista_bad_input():
    f, g = _quadratic([1.0])
    with pytest.raises(ValueError, match="L=0"):
        fista(f, g, np.ones(1), 0, 3)
    with pytest.raises(ValueError, match="n=-1"):
        fista(f, g, np.ones(1), 1.0, -1)
    with pytest.raises(ValueError, match="x0"):
        fista(f, g, np.array([np.inf]), 1.0, 3)
