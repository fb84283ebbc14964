"""Tests for mlroundup.longstep.problems.

Oracles: least-squares f* from the normal equations solved with numpy.linalg.solve / pinv
(independent of the lstsq/Cholesky used by the module); L from numpy.linalg.eigvalsh of the
explicit Hessian (at w = 0 for logistic, where the bound is attained) and a finite-difference check
that no Hessian exceeds it; logistic f* from scikit-learn's LogisticRegression (an independent
solver); separability of breast cancer by a hard-margin LP solved in the test, along whose
direction the loss tends to 0.
"""

from __future__ import annotations

import math
import time

import numpy as np
import pytest

pytest.importorskip("sklearn")

from mlroundup.longstep.problems import (  # noqa: E402
    Problem,
    convergence_study,
    default_study_schedules,
    least_squares_problem,
    logistic_problem,
    real_problems,
    standardize,
)


@pytest.fixture(scope="module")
def problems() -> dict[str, Problem]:
    return {p.name: p for p in real_problems()}


def test_problem_set(problems):
    assert list(problems) == [
        "diabetes-ls", "diabetes-ridge", "breast-cancer-logreg", "breast-cancer-logreg-l2",
        "digits8-logreg", "digits8-logreg-l2",
    ]  # fmt: skip
    for p in problems.values():
        assert np.all(p.x0 == 0) and p.L > 0 and math.isfinite(p.f_star)
        assert p.f(p.x0) >= p.f_star


def test_standardization():
    # Oracle: definition (mean 0, population std 1, constant columns dropped).
    X = np.array([[1.0, 5.0, 2.0], [3.0, 5.0, 4.0], [5.0, 5.0, 9.0]])
    Z = standardize(X)
    assert Z.shape == (3, 2)
    np.testing.assert_allclose(Z.mean(0), 0, atol=1e-15)
    np.testing.assert_allclose(Z.std(0), 1, atol=1e-15)


@pytest.mark.parametrize("name", ["diabetes-ls", "diabetes-ridge"])
def test_least_squares_f_star_closed_form(problems, name):
    p = problems[name]
    A, b, lam = p.data["A"], p.data["b"], p.data["lam"]
    m, d = A.shape
    # Oracle: normal equations (A^T A/m + lam I) w = A^T b/m via numpy.linalg.solve.
    w = np.linalg.solve(A.T @ A / m + lam * np.eye(d), A.T @ b / m)
    f_ref = 0.5 * np.sum((A @ w - b) ** 2) / m + 0.5 * lam * w @ w
    assert p.f_star == pytest.approx(f_ref, rel=1e-12, abs=1e-14)
    # Oracle: gradient of the explicit formula vanishes at the reported minimizer.
    assert np.linalg.norm(A.T @ (A @ p.x_star - b) / m + lam * p.x_star) < 1e-12


@pytest.mark.parametrize("name", ["diabetes-ls", "diabetes-ridge"])
def test_least_squares_L_is_hessian_eigenvalue(problems, name):
    p = problems[name]
    A, lam = p.data["A"], p.data["lam"]
    m = A.shape[0]
    # Oracle: eigvalsh of the Hessian and the SVD (||A||_2^2/m + lam).
    assert p.L == pytest.approx(np.linalg.eigvalsh(A.T @ A / m + lam * np.eye(A.shape[1]))[-1])
    assert p.L == pytest.approx(np.linalg.svd(A, compute_uv=False)[0] ** 2 / m + lam, rel=1e-12)


@pytest.mark.parametrize("name", ["breast-cancer-logreg-l2", "digits8-logreg", "digits8-logreg-l2"])
def test_logistic_L_exact(problems, name):
    p = problems[name]
    A, lam = p.data["A"], p.data["lam"]
    m, d = A.shape
    # Oracle: the Hessian at w = 0 is A^T A/(4m) + lam I; its top eigenvalue equals L ...
    assert p.L == pytest.approx(np.linalg.eigvalsh(A.T @ A / (4 * m) + lam * np.eye(d))[-1])
    # ... and the Hessian at other points (finite differences of grad) is no larger.
    rng = np.random.default_rng(1)
    for _ in range(2):
        w = rng.normal(size=d)
        eps = 1e-6
        H = np.column_stack(
            [(p.grad(w + eps * e) - p.grad(w - eps * e)) / (2 * eps) for e in np.eye(d)]
        )
        assert np.linalg.eigvalsh(0.5 * (H + H.T))[-1] <= p.L * (1 + 1e-6)


@pytest.mark.parametrize("name", ["breast-cancer-logreg-l2", "digits8-logreg-l2", "digits8-logreg"])
def test_logistic_f_star_against_sklearn(problems, name):
    from sklearn.linear_model import LogisticRegression

    p = problems[name]
    A, y, lam = p.data["A"], p.data["b"], p.data["lam"]
    m = A.shape[0]
    # Oracle: scikit-learn minimizes C sum_i log(1+exp(-y_i a_i^T w)) + ||w||^2/2, i.e. our
    # objective with C = 1/(lam m); the intercept is our ones column (fit_intercept=False).
    kw = {"C": 1.0 / (lam * m) if lam > 0 else np.inf}
    clf = LogisticRegression(
        fit_intercept=False, tol=1e-12, max_iter=20000, solver="newton-cg", **kw
    )
    clf.fit(A, y)
    f_sk = p.f(clf.coef_.ravel())
    assert p.f_star <= f_sk + 1e-13
    assert f_sk - p.f_star < 1e-9 * max(1.0, p.f_star)
    assert np.linalg.norm(p.grad(p.x_star)) < 1e-10


def test_separable_breast_cancer_f_star_is_unattained_infimum(problems):
    p = problems["breast-cancer-logreg"]
    assert not p.f_star_attained and p.f_star == 0.0 and p.x_star is None
    # Oracle: along a separating direction (hard-margin LP solved here with scipy, independently)
    # the loss tends to 0.
    from scipy.optimize import linprog

    A, y = p.data["A"], p.data["b"]
    res = linprog(
        np.zeros(A.shape[1]), A_ub=-(y[:, None] * A), b_ub=-np.ones(len(y)),
        bounds=[(None, None)] * A.shape[1], method="highs",
    )  # fmt: skip
    assert res.status == 0
    assert p.f(50.0 * res.x) < 1e-15 + math.log1p(math.exp(-50.0))


def test_problem_bad_input():
    A = np.ones((3, 2))
    with pytest.raises(ValueError, match="lam=-1"):
        least_squares_problem("x", A, np.ones(3), lam=-1.0)
    with pytest.raises(ValueError, match=r"b of shape \(4,\)"):
        least_squares_problem("x", A, np.ones(4))
    with pytest.raises(ValueError, match="labels"):
        logistic_problem("x", A, np.array([0.0, 1.0, 1.0]))
    with pytest.raises(ValueError, match="lam=0"):
        real_problems(lam=0.0)


def test_convergence_study_quick_scale(problems):
    P = list(problems.values())
    max_iter = 2000
    scheds = default_study_schedules(n=max_iter)
    t0 = time.process_time()
    rows = convergence_study(P, scheds, tol=1e-6, max_iter=max_iter, include_fista=True)
    cpu = time.process_time() - t0
    assert cpu < 30.0  # quick-scale budget (CPU seconds, one core)
    methods = {"constant", "silver", "obs-f", "grimmer-7", "grimmer-31", "fista"}
    assert len(rows) == len(P) * len(methods)
    for r in rows:
        assert r["method"] in methods
        h = r["history"]
        p = problems[r["problem"]]
        rel = (h.f - p.f_star) / (p.f(p.x0) - p.f_star)
        if r["iterations"] is None:
            assert np.all(rel > 1e-6) and h.iterations == max_iter
        else:
            # Oracle: the first iterate with relative gap <= tol, recomputed from the trace.
            k = r["iterations"]
            assert rel[k] <= 1e-6 and np.all(rel[:k] > 1e-6)
        assert r["final_gap"] == pytest.approx(h.f[-1] - p.f_star)
    by = {(r["problem"], r["method"]): r["iterations"] for r in rows}
    # Sanity (not a paper claim): on the ridge problems accelerated schedules beat constant steps.
    for prob in ("diabetes-ridge", "breast-cancer-logreg-l2", "digits8-logreg-l2"):
        assert by[(prob, "silver")] < by[(prob, "constant")]
        assert by[(prob, "fista")] < by[(prob, "constant")]


def test_convergence_study_bad_input(problems):
    P = [problems["diabetes-ridge"]]
    with pytest.raises(ValueError, match="tol=0"):
        convergence_study(P, {"c": [1.0]}, tol=0)
    with pytest.raises(ValueError, match="max_iter=0"):
        convergence_study(P, {"c": [1.0]}, max_iter=0)
    with pytest.raises(ValueError, match=r"h\[1\]=-1.0"):
        convergence_study(P, {"c": [1.0, -1.0]}, max_iter=5, include_fista=False)
