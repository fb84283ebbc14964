"""Tests for Grimmer's straightforward certificates (mlroundup.longstep.certificate).

Oracles
-------
* Grimmer, "Provably Faster Gradient Descent via Long Steps" (arXiv:2307.06324), Table 1:
  the published patterns and certified rate constants 2.2, 2.633, 3.2, 3.86, 4.603
  (hard-coded below, independent of the module's constants).
* Closed form on f(x) = a x^2/2, 0 < a <= 1 (L = 1): one pass of a pattern multiplies x
  by prod(1 - a h_k), so |prod(1 - a h_k)| > 1 for some a means f increases over the pattern, which no
  certificate can allow (conditions (C1)+(C4) at Delta = 0 imply f(x_t) <= f(x_0)).
* Direct evaluation of the interpolation inequalities on actual gradient-descent runs
  over smooth convex functions with known minimiser (checks the Gram bookkeeping and the
  inequality a certificate implies).
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

pytest.importorskip("cvxpy")

from mlroundup.longstep import certificate as cert  # noqa: E402
from mlroundup.longstep.certificate import (  # noqa: E402
    TABLE1_CONSTANTS,
    TABLE1_PATTERNS,
    certify,
    verify_exact,
)

# Grimmer (2023), Table 1: t -> published certified rate constant.
PUBLISHED = {2: 2.2, 3: 2.633, 7: 3.2, 15: 3.86, 31: 4.603}
# Grimmer (2023), Table 1: the first four published patterns, typed independently.
PUBLISHED_PATTERNS = {
    2: (2.9, 1.5),
    3: (1.5, 4.9, 1.5),
    7: (1.5, 2.2, 1.5, 12.0, 1.5, 2.2, 1.5),
    15: (1.4, 2.0, 1.4, 4.5, 1.4, 2.0, 1.4, 29.7, 1.4, 2.0, 1.4, 4.5, 1.4, 2.0, 1.4),
}


def _sig3(x: float) -> float:
    return float(f"{x:.3g}")


@pytest.fixture(scope="module")
def table_certs():
    return {t: certify(TABLE1_PATTERNS[t]) for t in (2, 3, 7, 15)}


# ----------------------------------------------------------------------------- data
def test_table1_data_matches_paper():
    """Oracle: Table 1 -- patterns as printed, constants = avg(h) to the printed digits."""
    for t, pat in PUBLISHED_PATTERNS.items():
        assert TABLE1_PATTERNS[t] == pat
    for t, pat in TABLE1_PATTERNS.items():
        assert len(pat) == t
        if t >= 3:
            assert pat == pat[::-1]  # the published patterns for t >= 3 are palindromes
        assert abs(
            sum(Fraction(repr(x)) for x in pat) / t - Fraction(repr(TABLE1_CONSTANTS[t]))
        ) < Fraction(1, 1000)
    for t, c in PUBLISHED.items():
        assert TABLE1_CONSTANTS[t] == c


# ----------------------------------------------------------------------------- Table 1
@pytest.mark.parametrize("t", [2, 3, 7, 15])
def test_table1_constants_reproduced(table_certs, t):
    """Oracle: Grimmer Table 1 certified constants, to 3 significant digits."""
    c = table_certs[t]
    assert c.certified
    assert c.constant is not None and c.delta is not None and c.epsilon is not None
    assert _sig3(c.constant) == _sig3(PUBLISHED[t])
    assert abs(c.constant - PUBLISHED[t]) < 1e-3  # also to the digits printed
    assert 0.0 <= c.epsilon < 1e-3
    assert c.delta > 0
    assert c.solve_time_s > 0


@pytest.mark.parametrize("t", [2, 3, 7, 15])
def test_table1_exact_check(table_certs, t):
    """Oracle: the definition's conditions, re-checked by an independent exact call."""
    c = table_certs[t]
    assert c.exact_check is True, c.exact_detail
    mult = c.multipliers
    ok, detail = verify_exact(
        TABLE1_PATTERNS[t],
        mult["lambda_exact"],
        mult["gamma_exact"],
        mult["delta_exact"],
        max(mult["epsilon_exact"], Fraction(0)),
    )
    assert ok, detail
    lam = mult["lambda_exact"]
    assert all(x >= 0 for x in lam.flat)
    assert all(x == 0 for x in lam[0, :]) and all(x == 0 for x in lam[:, 0])


@pytest.mark.slow
def test_table1_t31():
    """Oracle: Grimmer Table 1, t = 31 -> 4.603 (about 30 s on 2 cores)."""
    c = certify(TABLE1_PATTERNS[31])
    assert c.certified and c.exact_check is True, c.exact_detail
    assert _sig3(c.constant) == _sig3(PUBLISHED[31])
    assert abs(c.constant - PUBLISHED[31]) < 1e-3


def test_numeric_only_mode():
    """Oracle: Table 1 (t = 3); exact stage skipped -> exact_check None."""
    c = certify(TABLE1_PATTERNS[3], exact=False)
    assert c.certified and c.exact_check is None
    assert _sig3(c.constant) == _sig3(PUBLISHED[3])


# ----------------------------------------------------------------------------- not certified
@pytest.mark.parametrize("pattern", [(10.0, 10.0), (1.0, 50.0), (3.5, 1.5)])
def test_non_certifiable_patterns(pattern):
    """Oracle: on f = a x^2/2 (1-smooth for 0 < a <= 1) one pass multiplies x by
    prod(1 - a h_k); |.| > 1 for some a means f increases over the pattern, which any
    certificate would exclude."""
    curv = np.linspace(1e-3, 1.0, 1000)
    growth = np.abs(np.prod(1.0 - np.outer(curv, pattern), axis=1))
    assert growth.max() > 1.0
    c = certify(pattern, delta_min=1e-6)
    assert c.certified is False
    assert c.constant is None and c.delta is None and c.epsilon is None
    assert "not certified" in c.exact_detail


# ----------------------------------------------------------------------------- exact checker
def test_verify_exact_rejects_tampering(table_certs):
    """Oracle: the definition -- breaking any one condition must be detected."""
    m = table_certs[3].multipliers
    lam, gam, d = m["lambda_exact"].copy(), m["gamma_exact"].copy(), m["delta_exact"]
    eps = max(m["epsilon_exact"], Fraction(0))
    pat = TABLE1_PATTERNS[3]
    assert verify_exact(pat, lam, gam, d, eps)[0]

    bad = lam.copy()
    bad[1, 2] += Fraction(1, 10**6)  # breaks identity (C1)
    ok, why = verify_exact(pat, bad, gam, d, eps)
    assert not ok and "(C1)" in why

    bad = gam.copy()
    bad[0, 1] += Fraction(1, 10**6)  # breaks identity (C2)
    ok, why = verify_exact(pat, lam, bad, d, eps)
    assert not ok and "(C2)" in why

    ok, why = verify_exact(pat, lam, gam, Fraction(10), eps)  # lambda + Delta*gamma < 0
    assert not ok and "(C3)" in why

    ok, why = verify_exact(pat, lam, gam, d, Fraction(-1, 10))  # corner too small
    assert not ok and "(C4)" in why

    ok, why = verify_exact(pat, lam, gam, Fraction(0), eps)
    assert not ok and "Delta" in why


# ----------------------------------------------------------------------------- bookkeeping
def _huber_problem(rng, dim=4, m=6):
    """f(x) = sum_i w_i huber(a_i^T x), minimiser x* = 0, f* = 0, scaled to L = 1."""
    A = rng.standard_normal((m, dim))
    w = rng.uniform(0.5, 1.5, m)
    L = np.linalg.eigvalsh((A.T * w) @ A).max()
    w = w / L

    def f(x):
        z = A @ x
        return float(np.sum(w * np.where(np.abs(z) <= 1, 0.5 * z**2, np.abs(z) - 0.5)))

    def g(x):
        z = A @ x
        return A.T @ (w * np.clip(z, -1, 1))

    return f, g


def _run(f, g, h, x0):
    xs, gs, fs = [np.zeros_like(x0)], [np.zeros_like(x0)], [0.0]  # node 0 = x*
    x = x0.copy()
    for k in range(len(h) + 1):
        xs.append(x.copy())
        gs.append(g(x))
        fs.append(f(x))
        if k < len(h):
            x = x - h[k] * gs[-1]
    return xs, gs, fs


def test_gram_bookkeeping_matches_direct_evaluation():
    """Oracle: Q_ij evaluated directly on a real GD run equals the f-part plus <Z, Gram>."""
    rng = np.random.default_rng(0)
    f, g = _huber_problem(rng)
    h = np.array(TABLE1_PATTERNS[3])
    xs, gs, fs = _run(f, g, h, 3.0 * rng.standard_normal(4))
    n = len(h) + 2
    mult = rng.standard_normal((n, n))
    np.fill_diagonal(mult, 0.0)
    direct = sum(
        mult[i, j] * (fs[j] - fs[i] + gs[j] @ (xs[i] - xs[j]) + 0.5 * np.sum((gs[i] - gs[j]) ** 2))
        for i in range(n)
        for j in range(n)
    )
    basis = np.column_stack([xs[1] - xs[0]] + gs[1:])  # (x0 - x*, g_0, ..., g_t)
    gram = basis.T @ basis
    via_z = float(np.sum(cert._z_of(mult, h) * gram)) + float(cert._flows(mult) @ np.array(fs[1:]))
    assert abs(direct - via_z) < 1e-9 * max(1.0, abs(direct))
    # and each interpolation inequality holds on this L = 1 smooth convex function
    for i in range(n):
        for j in range(n):
            q = fs[j] - fs[i] + gs[j] @ (xs[i] - xs[j]) + 0.5 * np.sum((gs[i] - gs[j]) ** 2)
            assert q <= 1e-12


def test_certificate_inequality_on_gd_runs(table_certs):
    """Oracle: real GD runs.  A certificate implies, for delta in [0, Delta],
    f_t <= f_0 - 2 delta sum(h) f_0 + delta^2 (sum(h) + t eps) ||x_0 - x*||^2."""
    rng = np.random.default_rng(1)
    for t in (2, 3, 7):
        c = table_certs[t]
        h = np.array(TABLE1_PATTERNS[t])
        corner = h.sum() + t * c.epsilon
        for _ in range(20):
            f, g = _huber_problem(rng)
            x0 = rng.standard_normal(4) * rng.choice([0.1, 1.0, 30.0])
            _, _, fs = _run(f, g, h, x0)
            d0sq = float(x0 @ x0)
            for delta in (0.0, c.delta / 2, c.delta):
                bound = fs[1] - 2 * delta * h.sum() * fs[1] + delta**2 * corner * d0sq
                assert fs[-1] <= bound + 1e-10 * max(1.0, fs[1])


# ----------------------------------------------------------------------------- validation
@pytest.mark.parametrize(
    "pattern, needle",
    [
        ((1.5, float("nan")), "h[1]"),
        ((1.5, float("inf")), "h[1]"),
        ((0.0, 1.5), "h[0]"),
        ((1.5, -2.0, 1.5), "h[1]"),
        ((), "non-empty"),
        (((1.0, 2.0), (3.0, 4.0)), "1-D"),
        (("a", 1.0), "pattern"),
    ],
)
def test_bad_patterns_raise(pattern, needle):
    with pytest.raises(ValueError, match=None) as exc:
        certify(pattern)
    assert needle in str(exc.value)


def test_bad_options_raise():
    with pytest.raises(ValueError, match="solver"):
        certify((1.5,), solver="MOSEKX")
    with pytest.raises(ValueError, match="delta0"):
        certify((1.5,), delta0=-1.0)
    with pytest.raises(ValueError, match="rho"):
        certify((1.5,), rho=float("nan"))
    with pytest.raises(ValueError, match="grid"):
        certify((1.5,), grid=0)
    with pytest.raises(ValueError, match="h\\[0\\]"):
        verify_exact((-1.0,), np.zeros((3, 3)), np.zeros((3, 3)), 1e-4)
    with pytest.raises(ValueError, match="lam"):
        verify_exact((1.0,), np.zeros((2, 2)), np.zeros((3, 3)), 1e-4)
