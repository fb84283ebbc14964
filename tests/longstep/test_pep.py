"""Tests of the PEP oracle :func:`mlroundup.longstep.pep.worst_case`.

Oracles: the Drori-Teboulle closed form ``L R^2 / (4n + 2)`` for ``h = 1``; PEPit 0.5.1 (an
independent implementation of the same performance-estimation problem); the homogeneity of the
problem in ``L`` and ``R``; a dense, loop-based rebuild of ALL interpolation inequalities for the
certificate; the full-pair SDP solved by Clarabel (``method="full", solver="CLARABEL"``, a
different solver) for the constraint generation; OBS-F's proven rate; and the
Altschuler-Parrilo bound for the silver schedule.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("clarabel")
pytest.importorskip("scipy")
pytest.importorskip("cvxopt")

from mlroundup.longstep.pep import PEPResult, interpolation_matrices, worst_case  # noqa: E402

RHO = 1.0 + np.sqrt(2.0)


def _silver(n: int) -> np.ndarray:
    """Silver schedule h_t = 1 + rho^(nu(t)-1), written out independently of the package."""
    out = []
    for t in range(1, n + 1):
        nu = 0
        while t % 2 == 0:
            t //= 2
            nu += 1
        out.append(1.0 + RHO ** (nu - 1))
    return np.array(out)


def _pepit(steps, L=1.0, R=1.0) -> float:
    """PEPit reference: gradient descent on an L-smooth convex function, ||x0 - x*|| <= R."""
    pepit = pytest.importorskip("PEPit")
    from PEPit.functions import SmoothConvexFunction

    problem = pepit.PEP()
    f = problem.declare_function(SmoothConvexFunction, L=L)
    xs = f.stationary_point()
    fs = f(xs)
    x0 = problem.set_initial_point()
    problem.set_initial_condition((x0 - xs) ** 2 <= R**2)
    x = x0
    for h in steps:
        x = x - (h / L) * f.gradient(x)
    problem.set_performance_metric(f(x) - fs)
    return float(problem.solve(wrapper="cvxpy", solver="CLARABEL", verbose=0))


@pytest.mark.parametrize("n", [1, 2, 3, 5, 10, 20])
def test_constant_unit_step_matches_drori_teboulle(n):
    """Oracle: Drori & Teboulle (2014), Thm 3.1 -- h = 1 gives exactly L R^2 / (4n + 2)."""
    res = worst_case(np.ones(n))
    assert isinstance(res, PEPResult)
    assert res.status == "optimal"
    assert res.value == pytest.approx(1.0 / (4 * n + 2), rel=1e-6)
    assert res.primal_value == pytest.approx(1.0 / (4 * n + 2), rel=1e-6)


def test_constant_unit_step_with_L_and_R():
    """Oracle: Drori & Teboulle closed form L R^2 / (4n + 2) at L = 3, R = 0.5."""
    n, L, R = 4, 3.0, 0.5
    assert worst_case(np.ones(n), L, R).value == pytest.approx(L * R**2 / (4 * n + 2), rel=1e-6)


@pytest.mark.parametrize(("L", "R"), [(2.0, 1.0), (1.0, 3.0), (0.25, 7.0)])
def test_scaling_in_L_and_R(L, R):
    """Oracle: homogeneity. With x = R y, f = L R^2 phi(y) the problem maps to L = R = 1, so
    value(L, R) = L R^2 value(1, 1); tau scales like L; multipliers are scale-free."""
    h = np.array([1.5, 0.7, 2.5, 1.0])
    base = worst_case(h)
    res = worst_case(h, L=L, R=R)
    assert res.value == pytest.approx(L * R**2 * base.value, rel=1e-9)
    assert res.tau == pytest.approx(L * base.tau, rel=1e-9)
    np.testing.assert_allclose(res.multipliers, base.multipliers, atol=1e-12)


@pytest.mark.parametrize(
    "steps",
    [
        np.full(4, 1.5),
        _silver(7),
        np.random.default_rng(20230926).uniform(0.0, 3.0, size=5),
    ],
    ids=["constant-1.5", "silver-7", "random-5"],
)
def test_agrees_with_pepit(steps):
    """Oracle: PEPit 0.5.1 on the same step list (same solver, Clarabel), 1e-5 relative."""
    assert np.all(steps > 0)
    ours = worst_case(steps).value
    assert ours == pytest.approx(_pepit(steps), rel=1e-5)


def test_agrees_with_pepit_with_L_and_R():
    """Oracle: PEPit 0.5.1 with L = 2, R = 1.5 (PEPit takes the raw step h/L)."""
    steps = np.array([0.8, 2.2, 1.3])
    assert worst_case(steps, 2.0, 1.5).value == pytest.approx(_pepit(steps, 2.0, 1.5), rel=1e-5)


@pytest.mark.parametrize(("steps", "L", "R"), [(np.array([1.5, 0.3, 2.9, 1.0]), 2.0, 3.0)])
def test_dual_certificate_is_valid(steps, L, R):
    """Oracle: the certificate rebuilt with a dense loop (interpolation_matrices) from the
    definition f_i >= f_j + <g_j, x_i - x_j> + ||g_i - g_j||^2/(2L):
    lambda >= 0, sum lambda_ij (e_j - e_i) = e_{x_n} on (f_0..f_n), S = tau E00 + sum lambda M
    is PSD, and the dual objective tau R^2 equals the value."""
    res = worst_case(steps, L, R)
    n = steps.size
    N = n + 2
    lam = res.multipliers
    assert lam.shape == (N, N) and res.dual_psd.shape == (N, N)
    scale = lam.max()
    assert lam.min() >= -1e-7 * scale
    assert np.all(np.diag(lam) == 0.0)
    # Stationarity in the function values (f* = 0 is fixed, so index 0 is free).
    coef = lam.sum(axis=0) - lam.sum(axis=1)  # coefficient of f_p in sum lambda_ij (f_j - f_i)
    target = np.zeros(N)
    target[-1] = 1.0
    np.testing.assert_allclose(coef[1:], target[1:], atol=1e-7)
    M, _ = interpolation_matrices(steps, L)
    E00 = np.zeros((N, N))
    E00[0, 0] = 1.0
    S = res.tau * E00 + np.einsum("ij,ijab->ab", lam, M)
    np.testing.assert_allclose(res.dual_psd, S, atol=1e-9 * np.abs(S).max())
    eig = np.linalg.eigvalsh(S)
    assert eig.min() >= -1e-7 * eig.max()
    assert res.tau * R**2 == pytest.approx(res.value, rel=1e-12)
    # Weak duality on a concrete instance: f(x) = (L/2) x^2 in 1-D is feasible, so its final gap
    # cannot exceed the certified value.
    x = R
    for h in steps:
        x = x - (h / L) * (L * x)
    assert 0.5 * L * x**2 <= res.value * (1 + 1e-9)


def test_silver_n7_below_altschuler_parrilo_bound():
    """Oracle: Altschuler & Parrilo (arXiv:2309.16530), main theorem (Sec. 1): with n = 2^k - 1 silver steps,
    f(x_n) - f* <= r_k L R^2, r_k = 1 / (1 + sqrt(4 rho^(2k) - 3)). The exact worst case (checked
    against PEPit above) must not exceed it; it is within a factor 2 of it at k = 3."""
    k = 3
    L, R = 1.0, 1.0
    r_k = 1.0 / (1.0 + np.sqrt(4.0 * RHO ** (2 * k) - 3.0))
    val = worst_case(_silver(2**k - 1), L, R).value
    assert val <= r_k * L * R**2 * (1 + 1e-7)
    assert val >= 0.5 * r_k * L * R**2


def test_other_solver_through_cvxpy():
    """Oracle: Drori-Teboulle 1/(4n+2) again, via the cvxpy path with SCS (first-order, looser)."""
    pytest.importorskip("cvxpy")
    res = worst_case(np.ones(3), method="full", solver="SCS")
    assert res.solver == "SCS"
    assert res.value == pytest.approx(1.0 / 14.0, rel=1e-3)


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"steps": [1.0, 0.0]}, "steps"),
        ({"steps": [1.0, -0.5]}, "steps"),
        ({"steps": [1.0, np.nan]}, "steps"),
        ({"steps": [np.inf]}, "steps"),
        ({"steps": []}, "steps"),
        ({"steps": [[1.0, 1.0]]}, "steps"),
        ({"steps": [1.0], "L": 0.0}, "L"),
        ({"steps": [1.0], "L": -1.0}, "L"),
        ({"steps": [1.0], "L": np.nan}, "L"),
        ({"steps": [1.0], "R": 0.0}, "R"),
        ({"steps": [1.0], "R": np.inf}, "R"),
        ({"steps": [1.0], "method": "fast"}, "method"),
        ({"steps": [1.0], "tol": 0.0}, "tol"),
        ({"steps": [1.0], "tol": np.nan}, "tol"),
        ({"steps": [1.0], "max_rounds": 0}, "max_rounds"),
        ({"steps": [1.0], "solver": ""}, "solver"),
    ],
)
def test_bad_inputs_raise(kwargs, name):
    """Oracle: the house input contract -- ValueError naming the bad argument."""
    with pytest.raises(ValueError, match=rf"\b{name}\b"):
        worst_case(**kwargs)


def _check_full_certificate(res, steps, L=1.0, R=1.0):
    """The returned certificate against ALL (n+2)(n+1) interpolation inequalities, rebuilt
    densely from their definition (interpolation_matrices): lambda >= 0 with zeros off the
    generated pairs, stationarity in the function values, S = tau E00 + sum lambda M PSD, and
    tau R^2 = value."""
    n = len(steps)
    N = n + 2
    lam = res.multipliers
    assert lam.shape == (N, N)
    assert np.count_nonzero(lam) <= res.n_constraints
    assert lam.min() >= -1e-7 * lam.max()  # interior-point precision, as above
    assert np.all(np.diag(lam) == 0.0)
    coef = lam.sum(axis=0) - lam.sum(axis=1)
    target = np.zeros(N)
    target[-1] = 1.0
    np.testing.assert_allclose(coef[1:], target[1:], atol=1e-7)
    M, _ = interpolation_matrices(steps, L)
    E00 = np.zeros((N, N))
    E00[0, 0] = 1.0
    S = res.tau * E00 + np.einsum("ij,ijab->ab", lam, M)
    np.testing.assert_allclose(res.dual_psd, S, atol=1e-9 * np.abs(S).max())
    eig = np.linalg.eigvalsh(S)
    assert eig.min() >= -1e-6 * eig.max()
    assert res.tau * R**2 == pytest.approx(res.value, rel=1e-12)


GRIMMER = np.tile([1.5, 4.9, 1.5], 4)  # Grimmer (2023), Table 1 pattern (1.5, 4.9, 1.5), n = 12


@pytest.mark.parametrize(
    "steps",
    [np.full(6, 1.5), GRIMMER, _silver(15), np.random.default_rng(7).uniform(0.2, 3.0, size=9)],
    ids=["constant-1.5", "grimmer-3x4", "silver-15", "random-9"],
)
def test_constraint_generation_equals_full_set(steps):
    """Oracle: the full-pair SDP (all (n+2)(n+1) inequalities) solved by Clarabel. Constraint
    generation must reach the same value (1e-6 relative) with a certificate valid for the full
    set."""
    cg = worst_case(steps)
    full = worst_case(steps, method="full", solver="CLARABEL")
    assert cg.method == "cg" and full.method == "full"
    assert cg.solver.startswith("CVXOPT") and full.solver == "CLARABEL"
    n = steps.size
    assert full.n_constraints == (n + 2) * (n + 1) and full.rounds == 1
    assert cg.n_constraints < full.n_constraints
    assert cg.value == pytest.approx(full.value, rel=1e-6)
    assert cg.primal_value == pytest.approx(full.value, rel=1e-6)
    assert cg.max_violation <= 1e-6  # the default stopping rule (tol=1e-6)
    _check_full_certificate(cg, steps)


def test_long_steps_need_generated_pairs():
    """Oracle: the full-pair Clarabel value. For long steps (silver n=15 and Grimmer's pattern)
    the starting pairs (x*, consecutive, last iterate) do not certify the worst case: more than
    one round is needed, some generated non-chain pair carries a positive multiplier, and the
    result still equals the full-set value."""
    for steps in (_silver(15), GRIMMER):
        res = worst_case(steps)
        assert res.rounds > 1
        N = steps.size + 2
        lam = res.multipliers
        ii, jj = np.nonzero(lam > 1e-6 * lam.max())
        chain = (ii == 0) | (jj == 0) | (np.abs(ii - jj) == 1) | (ii == N - 1) | (jj == N - 1)
        assert np.any(~chain)
        assert res.value == pytest.approx(
            worst_case(steps, method="full", solver="CLARABEL").value, rel=1e-6
        )


def test_constraint_generation_certificate_scaled():
    """Oracle: dense rebuild of all inequalities at L = 2, R = 1.5 (certificate units) and the
    homogeneity value(L, R) = L R^2 value(1, 1) of the full-set Clarabel solve."""
    steps = _silver(7)
    res = worst_case(steps, 2.0, 1.5)
    _check_full_certificate(res, steps, 2.0, 1.5)
    assert res.value == pytest.approx(
        2.0 * 1.5**2 * worst_case(steps, method="full", solver="CLARABEL").value, rel=1e-6
    )


def test_max_rounds_exceeded_raises():
    """Oracle: silver n=15 needs more than one round (test above), so max_rounds=1 must raise."""
    with pytest.raises(RuntimeError, match="max_rounds"):
        worst_case(_silver(15), max_rounds=1)


def test_cg_agrees_with_pepit_silver_15():
    """Oracle: PEPit 0.5.1 (Clarabel), 1e-5 relative, at a size where long-range pairs matter."""
    assert worst_case(_silver(15)).value == pytest.approx(_pepit(_silver(15)), rel=1e-5)


def test_default_stopping_rule_silver_31_equals_pepit():
    """Oracle: PEPit 0.5.1 (Clarabel, all (n+2)(n+1) pairs) at n = 31, where the predicted start
    is used. With the default stopping rule (absent pairs violated by at most 1e-6 relative) the
    certified value and the restricted maximizer's f_n both equal PEPit's value to 1e-6 relative,
    with status optimal; a stricter rule (tol=1e-7) changes the value by less than that."""
    h = _silver(31)
    ref = _pepit(h)
    res = worst_case(h)
    assert res.status == "optimal"
    assert res.value == pytest.approx(ref, rel=1e-6)
    assert res.primal_value == pytest.approx(ref, rel=1e-6)
    assert worst_case(h, tol=1e-7).value == pytest.approx(res.value, rel=1e-6)
    _check_full_certificate(res, h)


@pytest.mark.parametrize(
    "steps",
    [_silver(23), np.tile([1.5, 4.9, 1.5], 6), np.random.default_rng(11).uniform(0.2, 3.0, 17)],
    ids=["silver-23", "grimmer-3x6", "random-17"],
)
def test_predicted_start_equals_full_set(steps):
    """Oracle: the full-pair SDP solved by Clarabel (method='full'). From n = 16 on, constraint
    generation starts from the pairs of the schedule's two halves (solved first, loosely) and
    solves intermediate rounds loosely; the value must still equal the full-set value (1e-6
    relative) with a certificate valid for all (n+2)(n+1) inequalities, rebuilt densely."""
    n = steps.size
    assert n >= 16  # the predicted start is used
    cg = worst_case(steps)
    full = worst_case(steps, method="full", solver="CLARABEL")
    assert cg.status == "optimal"
    assert cg.n_constraints < (n + 2) * (n + 1)
    assert cg.value == pytest.approx(full.value, rel=1e-6)
    assert cg.primal_value == pytest.approx(full.value, rel=1e-6)
    assert cg.max_violation <= 1e-6  # the default stopping rule (tol=1e-6)
    _check_full_certificate(cg, steps)


@pytest.mark.parametrize("n", [33, 48, 63])
def test_predicted_start_constant_step_closed_form(n):
    """Oracle: Drori & Teboulle (2014), Thm 3.1, h = 1: L R^2 / (4n + 2), on sizes (n >= 16)
    where the starting pairs are probed first (odd and even n); short steps need no predicted
    pairs, and the solve must stay accurate (status optimal)."""
    res = worst_case(np.ones(n), L=2.0, R=0.5)
    assert res.status == "optimal"
    assert res.value == pytest.approx(2.0 * 0.25 / (4 * n + 2), rel=1e-6)


def test_inaccurate_cvxopt_round_is_resolved_by_clarabel(monkeypatch):
    """Oracle: Drori & Teboulle (2014), Thm 3.1, h = 1: L R^2 / (4n + 2). Where CVXOPT stops
    between the optimal and the accepted tolerance depends on the CPU's BLAS kernels (AVX-512
    OpenBLAS stopped on grimmer-3x6 where AVX2 did not); such a round is re-solved by Clarabel, so
    the returned status is optimal on every CPU. The stop is simulated here on every round."""
    import mlroundup.longstep.pep as pep

    real = pep._solve_cvxopt

    def stopped(*args, **kwargs):
        return (*real(*args, **kwargs)[:4], "optimal_inaccurate", 7)

    monkeypatch.setattr(pep, "_solve_cvxopt", stopped)
    n = 9
    res = worst_case(np.ones(n))
    assert res.status == "optimal"
    assert "CLARABEL" in res.solver
    assert res.value == pytest.approx(1 / (4 * n + 2), rel=1e-6)


def test_pair_schur_matches_dense_traces():
    """Oracle: dense traces <r' M_c r, r' M_d r> of the pair matrices of the scaled problem,
    each M_c formed by the gather-based combination of a unit multiplier (a separate code path
    from the Gram-block Schur complement), for more pairs than one Schur tile."""
    from mlroundup.longstep import pep

    rng = np.random.default_rng(3)
    h = np.array([1.5, 2.0, 1.2, 3.0, 0.8, 1.1, 2.5, 1.4, 1.9, 1.0])
    N = h.size + 2
    ii, jj = np.nonzero(~np.eye(N, dtype=bool))  # 132 pairs: more than one 64-column tile
    ops = pep._PairOps(h, ii, jj, grad_scale=0.7, value_scale=0.3)
    r = rng.normal(size=(N, N))
    T = []
    for c in range(ii.size):
        e = np.zeros(ii.size)
        e[c] = 1.0
        T.append((r.T @ ops.combine(e) @ r).ravel())
    T = np.array(T)
    E00 = np.zeros((N, N))
    E00[0, 0] = 1.0
    t0 = (r.T @ E00 @ r).ravel()
    H, h00, h0 = ops.schur(r)
    np.testing.assert_allclose(H, T @ T.T, rtol=1e-10, atol=1e-10 * np.abs(T @ T.T).max())
    assert h00 == pytest.approx(float(t0 @ t0), rel=1e-12)
    np.testing.assert_allclose(h0, T @ t0, rtol=1e-10, atol=1e-10 * np.abs(T @ t0).max())


def test_unknown_solver_raises_value_error_naming_it():
    """Oracle: the docstring's Raises section (an invalid solver is a ValueError naming it)."""
    with pytest.raises(ValueError, match="solver='NO_SUCH_SOLVER'"):
        worst_case([1.0, 1.0], solver="no_such_solver")


@pytest.mark.parametrize("n", [15, 17, 20])
def test_obs_f_full_and_cg_meet_the_proven_rate(n):
    """Oracle: OBS-F's proven, tight rate L R^2 / (2 + 4 sum h) (Grimmer, Shu & Wang 2024,
    f-composable schedules). Both methods with the default solver (CVXOPT, structured KKT) are
    within 1e-6 relative of it, status optimal. (Clarabel on the full pair set reports Solved
    with a value 3-4e-6 above it at these n: not the default.)"""
    from mlroundup.longstep.schedules import schedule

    h = schedule("obs-f", n)
    rate = 1.0 / (2.0 + 4.0 * float(h.sum()))
    for method in ("full", "cg"):
        res = worst_case(h, method=method)
        assert res.status == "optimal" and res.solver.startswith("CVXOPT")
        assert res.value == pytest.approx(rate, rel=1e-6)


def test_one_long_step_closed_form_and_step_limit():
    """Oracle: the tight one-step rate of gradient descent, L R^2 max(1/(4h+2), (h-1)^2/2)
    (Taylor, Hendrickx & Glineur 2017, Sec. 4.1), up to the longest accepted step; a longer step
    or a string is a ValueError naming it (the solvers lose accuracy beyond MAX_STEP)."""
    from mlroundup.longstep.pep import MAX_STEP

    for h in (0.5, 3.0, MAX_STEP):
        rate = max(1.0 / (4.0 * h + 2.0), (h - 1.0) ** 2 / 2.0)
        assert worst_case([h], L=2.0, R=0.5).value == pytest.approx(0.5 * rate, rel=1e-6)
    with pytest.raises(ValueError, match=r"steps\[0\]"):
        worst_case([1e5, 1.0])
    with pytest.raises(ValueError, match="string"):
        worst_case([1.0, "2"])
    with pytest.raises(ValueError, match="L="):
        worst_case([1.0], L="1")
