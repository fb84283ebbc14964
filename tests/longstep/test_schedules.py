"""Tests for mlroundup.longstep.schedules.

Oracles: Grimmer's Table 1 / certificate notebooks (arXiv 2307.06324,
github.com/bgrimmer/LongStepCertificates); the silver steps derived by hand from
h_t = 1 + rho^(nu(t)-1) (Altschuler & Parrilo, arXiv 2309.16530); the tight one-step rate
max(1/(2h+1), (1-h)^2)/2; exhaustive pivot search (slow reference) for OBS; PEPit (an
independent SDP solver of the exact worst case) for the bounds.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from mlroundup.longstep import schedules as S

SQ2 = math.sqrt(2.0)
RHO = 1.0 + SQ2


# ----------------------------------------------------------------------------- Grimmer
def test_grimmer_small_patterns_match_table1():
    # Oracle: Table 1 of Grimmer (2023) / certification_t{2,3,7}.nb, typed by hand.
    assert S.grimmer_pattern(2).tolist() == [2.9, 1.5]
    assert S.grimmer_pattern(3).tolist() == [1.5, 4.9, 1.5]
    assert S.grimmer_pattern(7).tolist() == [1.5, 2.2, 1.5, 12.0, 1.5, 2.2, 1.5]


def test_grimmer_t15_and_middle_steps_match_notebooks():
    # Oracle: certification_t15.nb lists 14/10, 20/10, 14/10, 45/10, ... 297/10 ...
    h15 = [1.4, 2.0, 1.4, 4.5, 1.4, 2.0, 1.4, 29.7, 1.4, 2.0, 1.4, 4.5, 1.4, 2.0, 1.4]
    assert S.grimmer_pattern(15).tolist() == h15
    # Largest (middle) step of each notebook, and the secondary long steps of t = 127.
    mids = {31: 72.3, 63: 164.0, 127: 370.0}
    for t, mid in mids.items():
        h = S.grimmer_pattern(t)
        assert len(h) == t and h[t // 2] == mid and h.max() == mid
    h127 = S.grimmer_pattern(127)
    assert h127[[7, 15, 31]].tolist() == [7.2, 12.6, 23.5]
    assert h127[[3, 1, 0]].tolist() == [3.9, 2.0, 1.4]


@pytest.mark.parametrize("t", [2, 3, 7, 15, 31, 63, 127])
def test_grimmer_averages_match_table1(t):
    # Oracle: avg(h) column of Table 1: 2.2, 2.6333, 3.2, 3.86, 4.6032, 5.2254, 5.8346.
    published = {2: 2.2, 3: 2.6333, 7: 3.2, 15: 3.86, 31: 4.6032, 63: 5.2254, 127: 5.8346}
    assert abs(S.grimmer_pattern(t).mean() - published[t]) < 5e-5
    assert S.GRIMMER_PUBLISHED_AVERAGES[t] == published[t]
    if t >= 3:
        h = S.grimmer_pattern(t)
        assert np.array_equal(h, h[::-1])  # palindromes


def test_grimmer_t3_average_exact():
    # Oracle: (1.5 + 4.9 + 1.5) / 3 = 7.9/3 = 2.6333...
    assert S.grimmer_pattern(3).mean() == pytest.approx(7.9 / 3, abs=1e-15)


def test_grimmer_schedule_repeats_and_leading_bound():
    h = S.schedule("grimmer-3", 8)
    assert h.tolist() == [1.5, 4.9, 1.5, 1.5, 4.9, 1.5, 1.5, 4.9]
    # Oracle: L R^2 / (avg(h) T) with avg = 7.9/3
    assert S.grimmer_bound_leading(3, 30, L=2.0, R=3.0) == pytest.approx(2 * 9 / (7.9 / 3 * 30))
    assert S.published_bound("grimmer-7", 70) is None
    with pytest.raises(ValueError, match="t=5"):
        S.grimmer_pattern(5)


# ----------------------------------------------------------------------------- silver
def test_silver_first_terms_by_hand():
    # Oracle (by hand): nu(1..8) = 0,1,0,2,0,1,0,3 -> 1+rho^-1 = sqrt2, 2, sqrt2, 1+rho = 2+sqrt2,
    # sqrt2, 2, sqrt2, 1+rho^2 = 4+2sqrt2.
    expect = [SQ2, 2.0, SQ2, 2 + SQ2, SQ2, 2.0, SQ2, 4 + 2 * SQ2]
    np.testing.assert_allclose(S.silver(8), expect, rtol=0, atol=1e-14)
    np.testing.assert_allclose(S.schedule("silver", 8), expect, rtol=0, atol=1e-14)


def test_silver_recursive_structure_and_sum():
    # Oracle: pi^(k+1) = [pi^(k), 1 + rho^(k-1), pi^(k)] and sum(pi^(k)) = rho^k - 1.
    for k in range(1, 7):
        n = 2**k - 1
        h = S.silver(2 * n + 1)
        np.testing.assert_allclose(h[:n], h[n + 1 :], atol=0)
        assert h[n] == pytest.approx(1 + RHO ** (k - 1), rel=1e-14)
        assert S.silver(n).sum() == pytest.approx(RHO**k - 1, rel=1e-13)


def test_silver_bound_values():
    # Oracle: r_k = 1/(1 + sqrt(4 rho^(2k) - 3)), by hand: k=1 -> 1/(1+sqrt(20.3137)) = 1/5.50707 = 0.181585.
    assert S.silver_bound(1) == pytest.approx(1 / (1 + math.sqrt(4 * (3 + 2 * SQ2) - 3)))
    assert S.silver_bound(1) == pytest.approx(0.181585, abs=1e-6)
    # PEPit docstring (silver, n=7, L=10) prints the theoretical value 0.343775 -> r_3 = 0.0343775
    assert S.published_bound("silver", 7) == pytest.approx(0.0343775, abs=1e-7)
    assert S.published_bound("silver", 7, L=10.0) == pytest.approx(0.343775, abs=1e-6)
    assert S.published_bound("silver", 6) is None
    for k in range(1, 12):
        assert S.silver_bound(k) <= 1 / (2 * RHO**k) + 1e-16


# ----------------------------------------------------------------------------- OBS
def _obs_f_sums_exhaustive(n):
    """Slow reference: OBS-F sums with the pivot minimized over *all* splits."""
    sums = [0.0] * (n + 1)
    for m in range(1, n + 1):
        best = -1.0
        for p in range(m):
            a, b = S._obs_s_sum(p), sums[m - 1 - p]
            # independent root formula: mu = 1 + (sqrt(B^2 + 8(1+a)B) - B)/4, B = 1 + 2b
            B = 1 + 2 * b
            mu = 1 + (math.sqrt(B * B + 8 * (1 + a) * B) - B) / 4
            best = max(best, a + b + mu)
        sums[m] = best
    return sums


def test_obs_s_equals_silver_at_powers_of_two():
    # Oracle: GSW24 state OBS-S generalizes silver; silver values from the by-hand formula.
    for k in range(1, 8):
        n = 2**k - 1
        np.testing.assert_allclose(S.obs_s(n), S.silver(n), rtol=1e-13)


def test_obs_joins_satisfy_defining_identities():
    # s-join middle step: mu(mu + a + b) = (1+a)(1+b) + 1 + a + b; silver: a=b=rho^k-1 -> 1+rho^(k-1)
    for a, b in [(0.0, 0.0), (SQ2, 0.0), (3.0, 7.5)]:
        mu = S._s_join_mu(a, b)
        assert mu * (mu + a + b) == pytest.approx((1 + a) * (1 + b) + 1 + a + b, rel=1e-13)
    assert S._s_join_mu(RHO**2 - 1, RHO**2 - 1) == pytest.approx(1 + RHO, rel=1e-14)
    # f-join: 2(mu-1)^2 + B(mu-1) = (1+a)B with B = 1+2b
    for a, b in [(0.0, 0.0), (SQ2, 0.5), (10.0, 3.0)]:
        z = S._f_join_mu(a, b) - 1
        B = 1 + 2 * b
        assert 2 * z * z + B * z == pytest.approx((1 + a) * B, rel=1e-13)


def test_obs_f_small_cases():
    # Oracle: the optimal one-step normalized step is 1.5 with tight rate
    # max(1/(2h+1), (1-h)^2)/2 = 1/8 (Drori-Teboulle-type one-step worst case).
    assert S.obs_f(1).tolist() == [1.5]
    assert S.published_bound("obs-f", 1) == pytest.approx(max(1 / 4, 0.25) / 2)
    # OBS-F(2) = OBS-S(1) f-join [] = [sqrt2, mu], mu = 1 + (sqrt(1 + 8(1+sqrt2)) - 1)/4
    mu = 1 + (math.sqrt(1 + 8 * (1 + SQ2)) - 1) / 4
    np.testing.assert_allclose(S.obs_f(2), [SQ2, mu], rtol=1e-14)
    np.testing.assert_allclose(S.obs_g(2), [mu, SQ2], rtol=1e-14)


def test_obs_f_n10_matches_pepit_reference_values():
    # Oracle: PEPit's example gradient_descent_optimized_basic_stepsizes_{f,g}.py docstrings,
    # "Tight Theoretical guarantee" for n = 10, L = 1: 0.0106222530682 (f) and 0.0424890122728 (g).
    assert S.published_bound("obs-f", 10) == pytest.approx(0.0106222530682, abs=1e-12)
    assert S.published_bound("obs-g", 10) == pytest.approx(0.0424890122728, abs=1e-12)


def test_obs_f_incremental_pivots_equal_exhaustive_search():
    ref = _obs_f_sums_exhaustive(120)
    for n in range(1, 121):
        assert S.obs_f(n).sum() == pytest.approx(ref[n], rel=1e-12), n


def test_obs_rate_exponent():
    # GSW24: L R^2/(2 + 4 sum h) < 0.21156 L R^2 / n^{log2(1+sqrt2)} (PEPit docstring quotes it).
    for n in [10, 100, 1000, 5000]:
        assert S.published_bound("obs-f", n) < 0.21156 / n ** math.log2(RHO)


def test_bounds_tight_against_pepit():
    """Oracle: PEPit's exact worst case (SDP). OBS-F/G and constant are tight, silver is an upper
    bound."""
    pytest.importorskip("PEPit")
    pytest.importorskip("cvxpy")
    from PEPit import PEP
    from PEPit.functions import SmoothConvexFunction

    def worst(h, measure):
        p = PEP()
        f = p.declare_function(SmoothConvexFunction, L=1.0)
        xs = f.stationary_point()
        fs = f(xs)
        x0 = p.set_initial_point()
        if measure == "f":
            p.set_initial_condition((x0 - xs) ** 2 <= 1)
        else:
            p.set_initial_condition(f(x0) - fs <= 1)
        x = x0
        for hk in h:
            x = x - hk * f.gradient(x)
        p.set_performance_metric(f(x) - fs if measure == "f" else f.gradient(x) ** 2)
        return p.solve(verbose=0, wrapper="cvxpy", solver="CLARABEL")

    for n in (2, 5):
        assert worst(S.obs_f(n), "f") == pytest.approx(S.published_bound("obs-f", n), rel=1e-5)
        assert worst(S.obs_g(n), "g") == pytest.approx(S.published_bound("obs-g", n), rel=1e-5)
    assert worst(np.ones(3), "f") == pytest.approx(S.published_bound("constant", 3), rel=1e-5)
    assert worst(np.full(3, 0.5), "f") == pytest.approx(S.constant_bound(3, 0.5), rel=1e-5)
    assert worst(S.silver(7), "f") <= S.published_bound("silver", 7) * (1 + 1e-6)


# ----------------------------------------------------------------------------- constant / API
def test_constant_bound_drori_teboulle():
    # Oracle: L R^2/(4 n h + 2): n=5, h=1 -> 1/22; n=3, h=0.5, L=2, R=3 -> 18/8
    assert S.published_bound("constant", 5) == pytest.approx(1 / 22)
    assert S.constant_bound(3, 0.5, L=2.0, R=3.0) == pytest.approx(18 / 8)
    assert S.schedule("constant", 4).tolist() == [1.0] * 4
    with pytest.raises(ValueError, match="h=1.5"):
        S.constant_bound(3, 1.5)


def test_schedule_names_and_errors():
    assert set(S.SCHEDULE_NAMES) == {
        "constant", "silver", "obs-f", "obs-g",
        "grimmer-2", "grimmer-3", "grimmer-7", "grimmer-15", "grimmer-31", "grimmer-63",
        "grimmer-127",
    }  # fmt: skip
    for name in S.SCHEDULE_NAMES:
        h = S.schedule(name, 37)
        assert h.shape == (37,) and h.dtype == np.float64
        assert np.all(np.isfinite(h)) and np.all(h > 0)
    with pytest.raises(ValueError, match="name='nope'.*silver"):
        S.schedule("nope", 3)
    with pytest.raises(ValueError, match="n=0"):
        S.schedule("silver", 0)
    with pytest.raises(ValueError, match="n=2.5"):
        S.schedule("silver", 2.5)
    with pytest.raises(ValueError, match="L=-1"):
        S.published_bound("constant", 3, L=-1)
    with pytest.raises(ValueError, match="R=nan"):
        S.published_bound("constant", 3, R=float("nan"))
    assert S.bound_measure("obs-g") == "grad_norm_sq"
    assert S.bound_measure("silver") == "objective_gap"
