"""Normalized step-size schedules for gradient descent on L-smooth convex functions.

Every schedule is an array ``h`` of *normalized* steps: gradient descent takes
``x_{k+1} = x_k - (h[k] / L) * grad f(x_k)``.  Pure NumPy; nothing heavy is imported.

Schedules (see :func:`schedule` for the names):

* ``"constant"`` -- ``h_k = 1`` (the classical step ``1/L``); tight rate ``L R^2 / (4n + 2)``
  (Drori & Teboulle 2014).
* ``"grimmer-t"`` for ``t`` in 2, 3, 7, 15, 31, 63, 127 -- the "straightforward" long-step
  patterns of Grimmer (2023), Table 1, repeated periodically.
* ``"silver"`` -- the silver step-size schedule of Altschuler & Parrilo (2023).
* ``"obs-f"`` / ``"obs-g"`` -- the optimized basic schedules of Grimmer, Shu & Wang (2024) for the
  final objective gap and the final gradient norm.

References
----------
.. [DT14] Y. Drori, M. Teboulle, "Performance of first-order methods for smooth convex
   minimization: a novel approach", Math. Program. 145 (2014), Theorems 3.1-3.2.
.. [G23] B. Grimmer, "Provably Faster Gradient Descent via Long Steps", arXiv 2307.06324
   (SIAM J. Optim. 34(3), 2024), Table 1 and the main theorem (Section 3).  Certificates:
   github.com/bgrimmer/LongStepCertificates (``certification_t*.nb``).
.. [AP23] J. M. Altschuler, P. A. Parrilo, "Acceleration by Stepsize Hedging II: Silver Stepsize
   Schedule for Smooth Convex Optimization", arXiv 2309.16530, Theorem 1.1.
.. [GSW24] B. Grimmer, K. Shu, A. L. Wang, "Composing Optimized Stepsize Schedules for Gradient
   Descent", arXiv 2410.16249 (s-, f-, g-composable schedules and their joins; OBS-F, OBS-G).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import cache, lru_cache

import numpy as np

from mlroundup.longstep._checks import positive

__all__ = [
    "GRIMMER_LENGTHS",
    "GRIMMER_PATTERNS",
    "GRIMMER_PUBLISHED_AVERAGES",
    "SCHEDULE_NAMES",
    "SILVER_RATIO",
    "bound_measure",
    "constant_bound",
    "grimmer_bound_leading",
    "grimmer_pattern",
    "obs_f",
    "obs_g",
    "obs_s",
    "published_bound",
    "schedule",
    "silver",
    "silver_bound",
]

#: The silver ratio ``rho = 1 + sqrt(2)`` of [AP23].
SILVER_RATIO: float = 1.0 + math.sqrt(2.0)

# --------------------------------------------------------------------------------------------
# Grimmer's straightforward patterns, [G23] Table 1.
# Typed in from the exact rational values (tenths) in the author's certificate notebooks
# github.com/bgrimmer/LongStepCertificates, certification_t{t}.nb, variable ``h``.  For t = 2
# the notebook certifies the family (3 - eta, 1.5), eta in [0, 3]; Table 1 lists eta = 0.1,
# i.e. (2.9, 1.5), whose average is 2.2.
# --------------------------------------------------------------------------------------------
_G_SMALL = (1.4, 2.0, 1.4, 3.9, 1.4, 2.0, 1.4)  # shared prefix block of the t >= 31 patterns


def _mirror(left: tuple[float, ...], middle: float) -> tuple[float, ...]:
    """Return the palindrome ``left + (middle,) + left`` (all Table 1 patterns have this form)."""
    return (*left, middle, *left)


_G15_HALF = (1.4, 2.0, 1.4, 4.5, 1.4, 2.0, 1.4)
_G31_HALF = _mirror(_G_SMALL, 8.2)
_G63_HALF = _mirror(_mirror(_G_SMALL, 7.2), 14.2)
_G127_HALF = _mirror(_mirror(_mirror(_G_SMALL, 7.2), 12.6), 23.5)

#: Grimmer's Table 1 patterns, keyed by their length t.
GRIMMER_PATTERNS: dict[int, tuple[float, ...]] = {
    2: (2.9, 1.5),
    3: (1.5, 4.9, 1.5),
    7: (1.5, 2.2, 1.5, 12.0, 1.5, 2.2, 1.5),
    15: _mirror(_G15_HALF, 29.7),
    31: _mirror(_G31_HALF, 72.3),
    63: _mirror(_G63_HALF, 164.0),
    127: _mirror(_G127_HALF, 370.0),
}
#: The pattern lengths t of [G23] Table 1.
GRIMMER_LENGTHS: tuple[int, ...] = tuple(sorted(GRIMMER_PATTERNS))
#: avg(h) as printed in [G23] Table 1 (rounded there to four decimals).
GRIMMER_PUBLISHED_AVERAGES: dict[int, float] = {
    2: 2.2,
    3: 2.6333,
    7: 3.2,
    15: 3.86,
    31: 4.6032,
    63: 5.2254,
    127: 5.8346,
}

SCHEDULE_NAMES: tuple[str, ...] = (
    "constant",
    "silver",
    "obs-f",
    "obs-g",
    *(f"grimmer-{t}" for t in GRIMMER_LENGTHS),
)


def _check_n(n: object, name: str = "n", *, allow_zero: bool = False) -> int:
    if isinstance(n, bool) or not isinstance(n, int | np.integer):
        raise ValueError(f"invalid {name}={n!r}: must be an integer")
    lo = 0 if allow_zero else 1
    if n < lo:
        raise ValueError(f"invalid {name}={n!r}: must be >= {lo}")
    return int(n)


_check_pos = positive


def grimmer_pattern(t: int) -> np.ndarray:
    """Return Grimmer's straightforward long-step pattern of length ``t``.

    Parameters
    ----------
    t : int
        Pattern length, one of 2, 3, 7, 15, 31, 63, 127.

    Returns
    -------
    numpy.ndarray, shape (t,), float64
        Normalized steps ``h_0, ..., h_{t-1}`` (the step is ``h/L``).

    Raises
    ------
    ValueError
        If ``t`` is not one of the published lengths.

    Notes
    -----
    Values are exact tenths, typed from the rational certificates of the author's notebooks. For
    ``t >= 3`` the patterns are palindromes with one dominant middle step (4.9, 12.0, 29.7, 72.3,
    164.0, 370.0).

    References
    ----------
    [G23] Table 1; github.com/bgrimmer/LongStepCertificates.
    """
    if isinstance(t, bool) or not isinstance(t, int | np.integer) or int(t) not in GRIMMER_PATTERNS:
        raise ValueError(f"invalid t={t!r}: Grimmer's Table 1 has t in {GRIMMER_LENGTHS}")
    return np.array(GRIMMER_PATTERNS[int(t)], dtype=np.float64)


def grimmer_bound_leading(t: int, n: int, L: float = 1.0, R: float = 1.0) -> float:
    """Leading term ``L R^2 / (avg(h) n)`` of Grimmer's rate for a repeated Table 1 pattern.

    Parameters
    ----------
    t : int
        Pattern length (2, 3, 7, 15, 31, 63 or 127).
    n : int
        Number of gradient steps ``T`` (>= 1).
    L : float
        Smoothness constant (> 0).
    R : float
        Distance ``||x_0 - x_*||`` (> 0).

    Returns
    -------
    float
        ``L R^2 / (avg(h) n)`` where ``avg(h) = sum(h)/t``.

    Raises
    ------
    ValueError
        For an unknown ``t`` or non-positive/non-finite ``n``, ``L``, ``R``.

    Notes
    -----
    The main theorem of [G23] (Section 3; stated for every "straightforward" pattern, i.e. one
    with a feasible certificate) says that gradient descent repeating ``h`` with steps
    ``h_{k mod t}/L`` satisfies

    .. math:: f(x_T) - f_\\star \\le \\frac{L \\|x_0 - x_\\star\\|^2}{\\mathrm{avg}(h)\\, T}
              + O(1/T^2).

    The ``O(1/T^2)`` term is not made explicit in the paper, so this is the *leading term only*,
    not a finite-``n`` guarantee; :func:`published_bound` therefore returns ``None`` for the
    Grimmer schedules. (Theorem numbering differs between arXiv versions; we checked the
    statement's form against a secondary summary of the paper, not the PDF itself.)

    References
    ----------
    [G23] Section 3, main theorem, and Table 1.
    """
    h = grimmer_pattern(t)
    n = _check_n(n)
    L = _check_pos(L, "L")
    R = _check_pos(R, "R")
    return L * R**2 / (float(np.mean(h)) * n)


def _repeat_to(pattern: np.ndarray, n: int) -> np.ndarray:
    return np.resize(pattern, n).astype(np.float64)


# --------------------------------------------------------------------------------------------
# Silver schedule [AP23]
# --------------------------------------------------------------------------------------------
def _nu2(t: int) -> int:
    """2-adic valuation of a positive integer."""
    return (t & -t).bit_length() - 1


def silver(n: int) -> np.ndarray:
    """The first ``n`` silver steps ``h_t = 1 + rho^(nu(t) - 1)``, ``t = 1, ..., n``.

    Parameters
    ----------
    n : int
        Number of steps (>= 1).

    Returns
    -------
    numpy.ndarray, shape (n,), float64
        ``sqrt(2), 2, sqrt(2), 2 + sqrt(2), sqrt(2), 2, sqrt(2), 1 + rho^2, ...``

    Raises
    ------
    ValueError
        If ``n`` is not a positive integer.

    Notes
    -----
    ``rho = 1 + sqrt(2)`` and ``nu(t)`` is the 2-adic valuation of ``t`` (the largest ``j`` with
    ``2^j | t``), with the steps indexed ``t = 1, ..., n`` as in [AP23] (equivalently
    ``h_t = 1 + rho^(nu(t+1) - 1)`` for ``t = 0, ..., n-1``). For ``n = 2^k - 1`` this is the
    recursive schedule ``pi^(k+1) = [pi^(k), 1 + rho^(k-1), pi^(k)]``, ``pi^(1) = [sqrt(2)]``.
    The sequence is infinite, so any ``n`` is a prefix of it; the rate of
    :func:`silver_bound` is proved only for ``n = 2^k - 1``.

    References
    ----------
    [AP23] Section 1 (definition of the silver stepsize schedule) and Theorem 1.1.
    """
    n = _check_n(n)
    return np.array(
        [1.0 + SILVER_RATIO ** (_nu2(t) - 1) for t in range(1, n + 1)], dtype=np.float64
    )


def silver_bound(k: int, L: float = 1.0, R: float = 1.0) -> float:
    """Silver rate ``r_k L R^2`` with ``r_k = 1/(1 + sqrt(4 rho^(2k) - 3))`` for ``n = 2^k - 1``.

    Parameters
    ----------
    k : int
        Exponent (>= 1); the schedule has ``n = 2^k - 1`` steps.
    L, R : float
        Smoothness constant and initial distance ``||x_0 - x_*||`` (both > 0).

    Returns
    -------
    float
        Upper bound on ``f(x_n) - f_*``.

    Raises
    ------
    ValueError
        For non-positive/non-finite inputs.

    Notes
    -----
    [AP23] Theorem 1.1: ``f(x_n) - f_* <= r_k L ||x_0 - x_*||^2``; note ``r_k <= 1/(2 rho^k)``,
    i.e. ``O(1/n^{log2 rho}) = O(1/n^1.2716)``.

    References
    ----------
    [AP23] Theorem 1.1.
    """
    k = _check_n(k, "k")
    L = _check_pos(L, "L")
    R = _check_pos(R, "R")
    return L * R**2 / (1.0 + math.sqrt(4.0 * SILVER_RATIO ** (2 * k) - 3.0))


# --------------------------------------------------------------------------------------------
# Optimized basic schedules [GSW24]
#
# Sums are the natural coordinates: an s-composable schedule with sum a has rate 1/(1 + a); an
# f-composable one with sum b has rate 1/(1 + 2b), i.e. f(x_n) - f* <= L R^2 / (2 (1 + 2 b)).
# s-join  (a ⋈ b): middle step mu > 0 with  mu (mu + a + b) = (1 + a)(1 + b) + 1 + a + b.
# f-join  (s ▹ f): with B = 1 + 2 b,  middle step mu > 1 with  2 (mu - 1)^2 + B (mu - 1) = (1 + a) B.
# OBS-S(n) = OBS-S(floor(n/2)) ⋈ OBS-S(n - 1 - floor(n/2));  OBS-F(n) = OBS-S(p_n) ▹ OBS-F(n-1-p_n)
# with the pivot p_n minimizing the resulting f-rate.  OBS-G(n) = reverse(OBS-F(n)).
# --------------------------------------------------------------------------------------------
def _s_join_mu(a: float, b: float) -> float:
    s = a + b
    c = (1.0 + a) * (1.0 + b) + 1.0 + s
    return 0.5 * (-s + math.sqrt(s * s + 4.0 * c))


def _f_join_mu(a: float, b: float) -> float:
    big_b = 1.0 + 2.0 * b
    # positive root z = mu - 1 of 2 z^2 + B z - (1 + a) B = 0
    z = (-big_b + math.sqrt(big_b * big_b + 8.0 * (1.0 + a) * big_b)) / 4.0
    return 1.0 + z


@cache
def _obs_s_sum(n: int) -> float:
    if n == 0:
        return 0.0
    p = n // 2
    a, b = _obs_s_sum(p), _obs_s_sum(n - 1 - p)
    return a + b + _s_join_mu(a, b)


def _obs_s_list(n: int) -> list[float]:
    if n == 0:
        return []
    p = n // 2
    a, b = _obs_s_sum(p), _obs_s_sum(n - 1 - p)
    return [*_obs_s_list(p), _s_join_mu(a, b), *_obs_s_list(n - 1 - p)]


def obs_s(n: int) -> np.ndarray:
    """Optimized basic s-composable schedule OBS-S of length ``n`` (generalized silver).

    Parameters
    ----------
    n : int
        Number of steps (>= 0).

    Returns
    -------
    numpy.ndarray, shape (n,), float64

    Raises
    ------
    ValueError
        If ``n`` is not a non-negative integer.

    Notes
    -----
    Built by the s-join ``a ⋈ b = [a, mu, b]`` of balanced halves ``n = floor(n/2) + 1 +
    (n - 1 - floor(n/2))``, starting from the empty schedule. With ``a = sum(a)``,
    ``b = sum(b)`` the middle step is the positive root of
    ``mu (mu + a + b) = (1 + a)(1 + b) + 1 + a + b``; the s-rate is ``1/(1 + sum h)``. For
    ``n = 2^k - 1`` this reproduces the silver schedule exactly (``sum = rho^k - 1``).

    References
    ----------
    [GSW24] s-composable schedules and the s-join; the OBS-S construction.
    """
    n = _check_n(n, allow_zero=True)
    return np.array(_obs_s_list(n), dtype=np.float64)


def _f_rate_from_sums(a: float, b: float) -> float:
    """f-rate 1/(1 + 2 sum) of OBS-S(sum a) ▹ OBS-F(sum b)."""
    return 1.0 / (1.0 + 2.0 * (a + b + _f_join_mu(a, b)))


@lru_cache(maxsize=8)
def _obs_f_pivots(n: int) -> tuple[tuple[int, ...], tuple[float, ...]]:
    """Pivots p_m and sums of OBS-F(m) for m = 0..n (incremental search: p_m in {p_{m-1}, +1})."""
    pivots = [0] * (n + 1)
    sums = [0.0] * (n + 1)
    for m in range(1, n + 1):
        best_p, best_rate = -1, math.inf
        start = pivots[m - 1]
        for p in (start, start + 1):
            if p > m - 1:
                continue
            rate = _f_rate_from_sums(_obs_s_sum(p), sums[m - 1 - p])
            if rate < best_rate:  # ties keep the smaller pivot
                best_p, best_rate = p, rate
        pivots[m] = best_p
        a, b = _obs_s_sum(best_p), sums[m - 1 - best_p]
        sums[m] = a + b + _f_join_mu(a, b)
    return tuple(pivots), tuple(sums)


def obs_f(n: int) -> np.ndarray:
    """Optimized basic schedule OBS-F for the final objective gap, length ``n``.

    Parameters
    ----------
    n : int
        Number of steps (>= 1); the schedule is designed for this horizon.

    Returns
    -------
    numpy.ndarray, shape (n,), float64

    Raises
    ------
    ValueError
        If ``n`` is not a positive integer.

    Notes
    -----
    ``OBS-F(n) = OBS-S(p) ▹ OBS-F(n - 1 - p)``, ``OBS-F(0) = []``, where the f-join
    ``s ▹ f = [s, mu, f]`` of an s-composable ``s`` (sum ``a``) and an f-composable ``f``
    (sum ``b``, ``B = 1 + 2b``) uses the root ``mu > 1`` of
    ``2 (mu - 1)^2 + B (mu - 1) = (1 + a) B``, and the pivot ``p`` minimizes the resulting rate.
    The pivot search is incremental (``p_n in {p_{n-1}, p_{n-1} + 1}``, O(n) overall); the tests
    check it against an exhaustive search over all pivots. The result is f-composable:

    .. math:: f(x_n) - f_\\star \\le \\frac{L \\|x_0 - x_\\star\\|^2}{2 + 4 \\sum_k h_k},

    tight (verified against PEP in the tests). ``OBS-F(1) = [1.5]`` with rate ``L R^2/8``.

    References
    ----------
    [GSW24] f-composable schedules, the f-join and the OBS-F construction.
    """
    n = _check_n(n)
    pivots, sums = _obs_f_pivots(n)
    out: list[float] = []
    m = n
    while m > 0:
        p = pivots[m]
        out.extend(_obs_s_list(p))
        out.append(_f_join_mu(_obs_s_sum(p), sums[m - 1 - p]))
        m = m - 1 - p
    return np.array(out, dtype=np.float64)


def obs_g(n: int) -> np.ndarray:
    """Optimized basic schedule OBS-G for the final gradient norm: OBS-F reversed.

    Parameters
    ----------
    n : int
        Number of steps (>= 1).

    Returns
    -------
    numpy.ndarray, shape (n,), float64

    Raises
    ------
    ValueError
        If ``n`` is not a positive integer.

    Notes
    -----
    The g-join mirrors the f-join, so ``OBS-G(n) = reverse(OBS-F(n))`` and

    .. math:: \\|\\nabla f(x_n)\\|^2 \\le \\frac{2 L (f(x_0) - f_\\star)}{1 + 2 \\sum_k h_k}.

    References
    ----------
    [GSW24] g-composable schedules, the g-join and OBS-G.
    """
    return obs_f(n)[::-1].copy()


# --------------------------------------------------------------------------------------------
# Constant steps [DT14]
# --------------------------------------------------------------------------------------------
def constant_bound(n: int, h: float = 1.0, L: float = 1.0, R: float = 1.0) -> float:
    """Tight rate ``L R^2 / (4 n h + 2)`` of ``n`` constant steps ``h/L`` with ``0 < h <= 1``.

    Parameters
    ----------
    n : int
        Number of steps (>= 1).
    h : float
        Normalized constant step in ``(0, 1]``.
    L, R : float
        Smoothness constant and ``||x_0 - x_*||`` (both > 0).

    Returns
    -------
    float

    Raises
    ------
    ValueError
        If ``h`` is outside ``(0, 1]`` (no bound of this form is proved there in [DT14]) or any
        argument is non-positive/non-finite.

    Notes
    -----
    [DT14] Theorem 3.1: ``f(x_n) - f_* <= L R^2 / (4 n h + 2)`` for ``0 < h <= 1``; Theorem 3.2
    shows it is attained (a one-dimensional Huber-type function), so the bound is tight.

    References
    ----------
    [DT14] Theorems 3.1 and 3.2.
    """
    n = _check_n(n)
    h = _check_pos(h, "h")
    if h > 1.0:
        raise ValueError(f"invalid h={h!r}: the Drori-Teboulle bound is proved for 0 < h <= 1")
    L = _check_pos(L, "L")
    R = _check_pos(R, "R")
    return L * R**2 / (4.0 * n * h + 2.0)


# --------------------------------------------------------------------------------------------
# Entry points
# --------------------------------------------------------------------------------------------
def _builder(name: str) -> Callable[[int], np.ndarray]:
    if name == "constant":
        return lambda n: np.ones(n, dtype=np.float64)
    if name == "silver":
        return silver
    if name == "obs-f":
        return obs_f
    if name == "obs-g":
        return obs_g
    if name.startswith("grimmer-"):
        t = int(name.split("-", 1)[1])
        return lambda n: _repeat_to(grimmer_pattern(t), n)
    raise AssertionError(name)  # pragma: no cover


def _check_name(name: object) -> str:
    if not isinstance(name, str) or name not in SCHEDULE_NAMES:
        raise ValueError(
            f"unknown schedule name={name!r}; valid names: {', '.join(SCHEDULE_NAMES)}"
        )
    return name


def schedule(name: str, n: int) -> np.ndarray:
    """Return ``n`` normalized steps of the named schedule (the step is ``h/L``).

    Parameters
    ----------
    name : str
        One of :data:`SCHEDULE_NAMES`: ``"constant"``, ``"silver"``, ``"obs-f"``, ``"obs-g"``,
        ``"grimmer-2"``, ``"grimmer-3"``, ..., ``"grimmer-127"``.
    n : int
        Number of steps (>= 1).

    Returns
    -------
    numpy.ndarray, shape (n,), float64
        All entries finite and > 0.

    Raises
    ------
    ValueError
        For an unknown name (the message lists the valid names) or an invalid ``n``.

    Notes
    -----
    * ``constant``: ``h_k = 1`` [DT14].
    * ``silver``: prefix of the infinite silver sequence [AP23] (see :func:`silver`).
    * ``obs-f`` / ``obs-g``: built for the horizon ``n`` [GSW24] (see :func:`obs_f`); a different
      ``n`` gives a different schedule, not a prefix.
    * ``grimmer-t``: Table 1 pattern of [G23] repeated periodically and truncated to ``n``.

    References
    ----------
    [DT14], [G23] Table 1, [AP23], [GSW24] (module docstring).
    """
    name = _check_name(name)
    n = _check_n(n)
    return _builder(name)(n)


def bound_measure(name: str) -> str:
    """Which quantity :func:`published_bound` bounds for ``name``.

    Parameters
    ----------
    name : str
        A schedule name from :data:`SCHEDULE_NAMES`.

    Returns
    -------
    str
        ``"objective_gap"`` (``f(x_n) - f_*`` in terms of ``L`` and ``R = ||x_0 - x_*||``) or, for
        ``"obs-g"``, ``"grad_norm_sq"`` (``||grad f(x_n)||^2`` in terms of ``L`` and
        ``delta = f(x_0) - f_*``).

    Raises
    ------
    ValueError
        For an unknown name.
    """
    return "grad_norm_sq" if _check_name(name) == "obs-g" else "objective_gap"


def published_bound(
    name: str, n: int, L: float = 1.0, R: float = 1.0, *, delta: float = 1.0
) -> float | None:
    """Published worst-case guarantee after ``n`` steps of the named schedule, or ``None``.

    Parameters
    ----------
    name : str
        Schedule name (see :data:`SCHEDULE_NAMES`).
    n : int
        Number of steps (>= 1).
    L : float
        Smoothness constant (> 0).
    R : float
        ``||x_0 - x_*||`` (> 0); used by the objective-gap bounds.
    delta : float
        ``f(x_0) - f_*`` (> 0); used only by ``"obs-g"``.

    Returns
    -------
    float or None
        * ``constant``: ``L R^2 / (4n + 2)`` [DT14, Thm 3.1, tight].
        * ``silver``: ``L R^2 / (1 + sqrt(4 rho^(2k) - 3))`` when ``n = 2^k - 1`` [AP23, Thm 1.1];
          ``None`` for other ``n``.
        * ``obs-f``: ``L R^2 / (2 + 4 sum h)`` [GSW24].
        * ``obs-g``: bound on ``||grad f(x_n)||^2``: ``2 L delta / (1 + 2 sum h)`` [GSW24].
        * ``grimmer-t``: ``None`` -- [G23] proves ``L R^2/(avg(h) n) + O(1/n^2)`` with an
          unspecified ``O(1/n^2)``; see :func:`grimmer_bound_leading` for the leading term.

    Raises
    ------
    ValueError
        For an unknown name or invalid ``n``, ``L``, ``R``, ``delta``.

    See Also
    --------
    bound_measure : which quantity is bounded.
    """
    name = _check_name(name)
    n = _check_n(n)
    L = _check_pos(L, "L")
    R = _check_pos(R, "R")
    delta = _check_pos(delta, "delta")
    if name == "constant":
        return constant_bound(n, 1.0, L, R)
    if name == "silver":
        k = (n + 1).bit_length() - 1
        if (1 << k) != n + 1:
            return None
        return silver_bound(k, L, R)
    if name == "obs-f":
        s = float(np.sum(obs_f(n)))
        return L * R**2 / (2.0 + 4.0 * s)
    if name == "obs-g":
        s = float(np.sum(obs_g(n)))
        return 2.0 * L * delta / (1.0 + 2.0 * s)
    return None
