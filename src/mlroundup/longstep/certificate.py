r"""Grimmer's "straightforward" certificates for long-step gradient descent.

A *stepsize pattern* :math:`h = (h_0, \dots, h_{t-1})` is applied cyclically,
:math:`x_{k+1} = x_k - (h_{k \bmod t}/L)\,\nabla f(x_k)`, to an :math:`L`-smooth
convex :math:`f`.  Grimmer [1]_ (Definition of a *straightforward* pattern, §2 of
arXiv v1, see the note on sources below; the certificates of Table 1 are in the
author's notebooks [2]_) shows
that every straightforward pattern gives

.. math:: f(x_T) - f_\star \le \frac{L D^2}{\operatorname{avg}(h)\, T} + O(1/T^2),
   \qquad D = \|x_0 - x_\star\|,

so the *rate constant* is :math:`\operatorname{avg}(h) = \frac1t\sum_k h_k`
(classic constant stepsize :math:`1/L` corresponds to constant 1).

Definition (straightforward pattern), written in the normalisation :math:`L = 1`
---------------------------------------------------------------------------------
Index the :math:`t+2` points :math:`\star, x_0, \dots, x_t` (nodes ``0`` and
``k+1`` in this module).  Work in the basis
:math:`(x_0 - x_\star, g_0, \dots, g_t)` of the Gram matrix, with
:math:`x_k = x_0 - \sum_{i<k} h_i g_i`, :math:`g_\star = 0`, :math:`f_\star = 0`.
The interpolation inequality of a pair :math:`(i, j)` reads

.. math:: Q_{ij} := f_j - f_i + \langle g_j, x_i - x_j\rangle
          + \tfrac12\|g_i - g_j\|^2 \le 0 ,

whose quadratic part is :math:`\langle W_{ij}, \mathrm{Gram}\rangle` with
:math:`W_{ij} = \mathrm{sym}(g_j (x_i - x_j)^\top) + \tfrac12 (g_i - g_j)(g_i - g_j)^\top`.
For multipliers :math:`\mu` write :math:`Z(\mu) = \sum_{ij}\mu_{ij} W_{ij}`, split as
:math:`Z = \begin{pmatrix} 0 & m(\mu)^\top \\ m(\mu) & M(\mu)\end{pmatrix}`
(the corner is always 0).  The pattern :math:`h` is *straightforward* if there are
:math:`\lambda \ge 0` supported on iterate pairs :math:`(x_i, x_j)`, a signed
:math:`\gamma` on all pairs, and :math:`\Delta > 0` with

(C1) :math:`\sum_{ij}\lambda_{ij}(f_j - f_i) = f_t - f_0` (identity in the :math:`f_k`);

(C2) :math:`\sum_{ij}\gamma_{ij}(f_j - f_i) = 2\left(\sum_k h_k\right)(f_0 - f_\star)`;

(C3) :math:`\lambda \ge 0` and :math:`\lambda + \Delta\gamma \ge 0` entrywise;

(C4) :math:`\begin{pmatrix}\sum_k h_k & m(\gamma)^\top\\ m(\gamma) & M(\lambda)\end{pmatrix}
\succeq 0` and
:math:`\begin{pmatrix}\sum_k h_k & m(\gamma)^\top\\ m(\gamma) & M(\lambda)+\Delta M(\gamma)
\end{pmatrix}\succeq 0` (two PSD matrices of size :math:`t+2`).

These are exactly the conditions the author's notebooks check (``checkEquality``,
``checkNonnegativity``, ``checkPSD`` in ``certification_t3.nb`` [2]_).  Why they
suffice: for :math:`\delta \in [0, \Delta]` the multipliers :math:`\lambda + \delta\gamma`
are nonnegative (C3, convexity), so :math:`\sum(\lambda+\delta\gamma)_{ij} Q_{ij} \le 0`;
by (C1), (C2) this is
:math:`f_t - f_0 + 2\delta\sum_k h_k\,f_0 + \langle Z(\lambda)+\delta Z(\gamma), \mathrm{Gram}\rangle
\le 0`, and (C4) (affine in :math:`\delta`, congruence by
:math:`\operatorname{diag}(\delta, I)`) gives
:math:`\langle Z(\lambda)+\delta Z(\gamma), \mathrm{Gram}\rangle \ge -\delta^2 \sum_k h_k D_0^2`.
Hence :math:`f_t \le f_0 - \sum_k h_k\,(2\delta f_0 - \delta^2 D_0^2)`; with
:math:`\delta = f_0/D_0^2` (admissible once :math:`f_0 \le \Delta D_0^2`, which is why
:math:`\Delta` only affects the :math:`O(1/T^2)` term) each pattern decreases
:math:`f_0 - f_\star` by :math:`\sum_k h_k (f_0-f_\star)^2/D_0^2`, the recursion behind the
:math:`1/(\operatorname{avg}(h) T)` rate.

The certificate's :math:`\varepsilon` (the author's ``computeEpsilon``)
-----------------------------------------------------------------------
Numerical multipliers are rounded to exact rationals, which generally breaks (C4)
at its boundary.  As in the notebooks for :math:`t \ge 7` [2]_, we then check that
:math:`M(\lambda)` and :math:`M(\lambda+\Delta\gamma)` are positive definite and
replace the corner :math:`\sum_k h_k` by the smallest value that makes (C4) hold,
:math:`s = \max_{\delta \in \{0,\Delta\}} m(\gamma)^\top M(\lambda+\delta\gamma)^{-1}
m(\gamma)` (Schur complement), and set :math:`\varepsilon = s/t - \operatorname{avg}(h)`.
The certified rate constant is :math:`\operatorname{avg}(h) - \varepsilon`
(the notebooks' ``rateCoefficient = sumH/dim - rationalepsilon``).  It is valid because
with corner :math:`s` the argument above gives
:math:`f_t \le f_0 - 2\delta\sum_k h_k f_0 + \delta^2 s D_0^2`, and
:math:`\delta = f_0/D_0^2` yields the decrease
:math:`(2\sum_k h_k - s)\,(f_0-f_\star)^2/D_0^2 = t(\operatorname{avg}(h)-\varepsilon)
(f_0-f_\star)^2/D_0^2`.  A negative :math:`\varepsilon` (slack) is reported as 0: this
module never certifies a constant above :math:`\operatorname{avg}(h)`, the constant of
the paper's theorem.  (A corner below :math:`\sum_k h_k` seems impossible anyway: on a
Huber function far from its minimiser, where :math:`f_0 \approx \|g\| D_0` and
:math:`f_t = f_0 - \sum_k h_k \|g\|^2`, the choice :math:`\delta = \|g\|/D_0` forces
:math:`s \ge \sum_k h_k`; our solves confirm the minimal corner equals
:math:`\sum_k h_k` to solver accuracy.)

Computation
-----------
:func:`certify` solves with cvxpy the SDP "maximise the margin :math:`\tau \le 1`
subject to (C1), (C2), :math:`\lambda \ge 0`, :math:`\lambda + \Delta_{lo}\gamma \ge 0`,
:math:`\gamma \ge 0` on pairs with :math:`x_\star`, and both matrices of (C4) at
:math:`\Delta_0`, with corner :math:`(1+\rho)\sum_k h_k`, being
:math:`\succeq \tau\,\operatorname{diag}(0, I)`" with :math:`\Delta_0 = 10^{-4}` (the
author's :math:`\Delta_0`) and :math:`\Delta_{lo} = 10^{-3}\Delta_0`.  The small
:math:`\rho` (default :math:`10^{-6}`) makes the problem strictly feasible so that the
solution survives rounding.  Because (C4) is affine in :math:`\Delta` and holds at
:math:`0` and :math:`\Delta_0`, it holds on :math:`[0, \Delta_0]`; the certificate's
:math:`\Delta` is then, as in the notebooks, the largest value :math:`\le \Delta_0`
keeping :math:`\lambda + \Delta\gamma \ge 0` (rounded down to one significant digit,
never below :math:`\Delta_{lo}`).  If the optimal margin is not positive, the pair
:math:`(\Delta_0, \Delta_{lo})` is divided by 10 and the SDP re-solved, down to
``delta_min``; if no level gives a positive margin the answer is *not certified* (a
genuine SDP outcome: no such multipliers exist; the feasible set only grows as
:math:`\Delta` shrinks).  Otherwise the numeric :math:`\lambda, \gamma` are rounded to
the grid :math:`10^{-12}`, :math:`\lambda` is raised where rounding broke
:math:`\lambda + \Delta\gamma \ge 0`, (C1) and (C2) are repaired exactly by re-solving
one multiplier per equation (as the author does with ``FindInstance``),
:math:`\varepsilon` is computed exactly, and every condition is verified in exact
integer/rational arithmetic (:func:`verify_exact`); positive definiteness is decided by
the signs of all leading principal minors, computed exactly by fraction-free (Bareiss)
elimination.  If the exact check fails, the SDP is re-solved with :math:`10\rho` (more
slack, i.e. a slightly larger :math:`\varepsilon`) before giving up.

Note on sources: the conditions (C1)-(C4), :math:`\Delta` and :math:`\varepsilon` are
taken from the author's notebooks [2]_, whose definitions we read in full.  The paper's
text itself was not available to us here, so the section number quoted for the
Definition (§2 of arXiv v1) is from memory and should be checked against [1]_.

References
----------
.. [1] B. Grimmer, "Provably Faster Gradient Descent via Long Steps",
   arXiv:2307.06324 (v1, July 2023), SIAM J. Optim. 34(3), 2024.  Definition of
   straightforward stepsize patterns and the convergence theorem (§2); Table 1
   (patterns for t = 2, 3, 7, 15, 31, 63, 127 and their rate constants).
.. [2] B. Grimmer, LongStepCertificates (GitHub bgrimmer/LongStepCertificates,
   July 2023): Mathematica notebooks ``certification_t{2,3,7,15,31,63,127}.nb``
   with the rational certificates of Table 1 and exact verification.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import numpy as np

from mlroundup.longstep.schedules import GRIMMER_PATTERNS, GRIMMER_PUBLISHED_AVERAGES

__all__ = [
    "hierarchical_support",
    "TABLE1_PATTERNS",
    "TABLE1_CONSTANTS",
    "Certificate",
    "certify",
    "verify_exact",
    "exact_pattern",
]

# Table 1 of Grimmer (2023): the patterns live once, in schedules.py (typed in twice, independently,
# from the author's notebooks; the two typings agreed before they were merged).
#: Straightforward stepsize patterns of Grimmer (2023), Table 1, keyed by length t.
TABLE1_PATTERNS: dict[int, tuple[float, ...]] = GRIMMER_PATTERNS

#: Certified rate constants avg(h) of Table 1 to 4 significant digits (2.2, 2.633, 3.2, 3.86,
#: 4.603, 5.225, 5.835), keyed by t.
TABLE1_CONSTANTS: dict[int, float] = {
    t: float(f"{v:.4g}") for t, v in GRIMMER_PUBLISHED_AVERAGES.items()
}

_SOLVERS = ("CLARABEL", "SCS", "STRUCTURED")
_SUPPORTS = ("all", "hierarchical")
_STRUCT_OPTS: dict[str, Any] = {"tol": 1e-7}
#: CVXOPT's iterative-refinement steps per KKT solve, tried in turn until a solve ends
#: "optimal": near the tolerances the dual residual of these SDPs sits at ~1e-7, and rounding
#: decides whether an iterate passes. On a Zen 4 EPYC, t = 7 with 3 steps stalled there until
#: the iteration limit ("unknown"), with 5 or 1 it ended optimal (15 and 51 iterations); on the
#: Xeon 3 steps ended optimal.
_STRUCT_REFINEMENTS: tuple[int, ...] = (3, 5, 1)


# --------------------------------------------------------------------------------------
# Result type
# --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Certificate:
    """Outcome of :func:`certify` for one stepsize pattern.

    Attributes
    ----------
    pattern : tuple of float
        The pattern ``h`` (length ``t``), in units of ``1/L``.
    certified : bool
        True iff the SDP found multipliers and, when ``exact=True`` was requested,
        the rounded rational multipliers passed every exact check.
    constant : float or None
        Certified rate constant ``avg(h) - epsilon`` (the ``c`` in
        ``f(x_T) - f* <= L D^2 / (c T) + O(1/T^2)``); ``None`` if not certified.
    delta : float or None
        The certificate's ``Delta > 0`` (conditions C3/C4 hold on ``[0, Delta]``).
    epsilon : float or None
        Loss ``>= 0`` of the rate constant caused by rounding (see module Notes).
    multipliers : dict
        ``"lambda"`` and ``"gamma"``: float arrays of shape ``(t+2, t+2)`` indexed by
        nodes ``(x*, x_0, ..., x_t)``, entry ``[i, j]`` multiplying ``Q_ij``
        (the rounded values when the exact stage ran, otherwise the SDP values);
        ``"sigma"``: SDP corner value (equals ``sum(h)`` up to solver accuracy);
        ``"delta0"``: the Delta used in the SDP; ``"tau"``, ``"rho"``: the SDP margin
        and corner slack; ``"attempts"``: one line per SDP solve (Delta, status,
        margin); when the exact stage ran also
        ``"lambda_exact"``, ``"gamma_exact"`` (object arrays of ``Fraction``),
        ``"delta_exact"``, ``"epsilon_exact"`` (``Fraction``, unclipped) and
        ``"grid"`` (the rounding denominator).
    exact_check : bool or None
        Result of :func:`verify_exact` on the rounded multipliers (None if not run).
    exact_detail : str
        Human-readable reason (which condition failed, or why not certified).
    solver : str
        The cvxpy solver used.
    solve_time_s : float
        Wall-clock seconds of the SDP solve(s).
    """

    pattern: tuple[float, ...]
    certified: bool
    constant: float | None
    delta: float | None
    epsilon: float | None
    multipliers: dict = field(default_factory=dict, compare=False, hash=False)
    exact_check: bool | None = None
    exact_detail: str = ""
    solver: str = "CLARABEL"
    solve_time_s: float = 0.0


# --------------------------------------------------------------------------------------
# Input handling
# --------------------------------------------------------------------------------------
def _validate_pattern(pattern: Any) -> np.ndarray:
    try:
        h = np.asarray(pattern, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"invalid pattern {pattern!r}: must be a 1-D sequence of numbers") from exc
    if h.ndim != 1 or h.size == 0:
        raise ValueError(
            f"invalid pattern {pattern!r}: must be a non-empty 1-D sequence, got shape {h.shape}"
        )
    for k, hk in enumerate(h):
        if not math.isfinite(hk) or hk <= 0.0:
            raise ValueError(f"invalid step size h[{k}]={hk!r}: must be finite and > 0")
    return h


def exact_pattern(pattern: Any) -> tuple[Fraction, ...]:
    """Exact rational reading of a stepsize pattern.

    Parameters
    ----------
    pattern : sequence of float, shape (t,)
        Step sizes in units of ``1/L``; finite and > 0.

    Returns
    -------
    tuple of Fraction
        Each entry read as the exact decimal of its shortest ``repr`` (so ``2.9`` is
        ``29/10``, not the binary double nearest to it), which is how the paper's
        patterns are meant and how the author's notebooks enter them.

    Raises
    ------
    ValueError
        If the pattern is not 1-D, empty, or has a non-finite or non-positive entry.
    """
    h = _validate_pattern(pattern)
    return tuple(Fraction(repr(float(x))) for x in h)


# --------------------------------------------------------------------------------------
# Gram-matrix bookkeeping (works for float arrays and for object arrays of Fractions)
# --------------------------------------------------------------------------------------
def _z_of(mult: np.ndarray, h: np.ndarray) -> np.ndarray:
    r"""Return Z(mult) = sum_ij mult[i, j] W_ij, shape (t+2, t+2).

    Nodes: 0 = x*, k+1 = x_k.  Basis: 0 = x_0 - x*, b+1 = g_b.  Uses
    Z = sym(G mult^T X^T - G diag(colsum) X^T) + 1/2 G (diag(r)+diag(c)-mult-mult^T) G
    with G = diag(0, 1, ..., 1) and X given by suffix sums, so O(t^2) operations.
    Works for float arrays and for object arrays (Fractions / ints).
    """
    n = mult.shape[0]
    t = n - 2
    zero = mult.flat[0] * 0
    r = mult.sum(axis=1)
    c = mult.sum(axis=0)
    # P[a, b] = sum_i mult[i, a] * X[b, i]  for a >= 1 (row a = 0 is killed by G).
    # X[0, k+1] = 1; X[b, k+1] = -h[b-1] for 1 <= b <= k; X[:, 0] = 0.
    it = mult[1:, :]  # rows i = k+1, k = 0..t  -> shape (t+1, n)
    suffix = np.cumsum(it[::-1, :], axis=0)[::-1, :]  # suffix[k, a] = sum_{k' >= k} it[k', a]
    P = np.empty((n, n), dtype=mult.dtype)
    P[:, 0] = suffix[0, :]
    for b in range(1, t + 1):
        P[:, b] = -h[b - 1] * suffix[b, :]
    P[:, t + 1] = zero
    P[0, :] = zero
    # Q[a, b] = c_a * X[b, a] for a >= 1: node a = k+1 has X[0] = 1, X[b] = -h[b-1] (b<=k).
    Q = np.empty((n, n), dtype=mult.dtype)
    Q[...] = zero
    for a in range(1, n):
        k = a - 1
        Q[a, 0] = c[a]
        for b in range(1, k + 1):
            Q[a, b] = -h[b - 1] * c[a]
    A = P - Q
    Z = (A + A.T) / 2
    C = -(mult + mult.T)
    for a in range(n):
        C[a, a] = C[a, a] + r[a] + c[a]
    C[0, :] = zero
    C[:, 0] = zero
    return Z + C / 2


def _flows(mult: np.ndarray) -> np.ndarray:
    """Coefficient of f_k in sum_ij mult_ij (f_j - f_i), k = 0..t (f_* dropped)."""
    return (mult.sum(axis=0) - mult.sum(axis=1))[1:]


def _pairs(t: int) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    n = t + 2
    lam_pairs = [(i, j) for i in range(1, n) for j in range(1, n) if i != j]
    gam_pairs = [(i, j) for i in range(n) for j in range(n) if i != j]
    return lam_pairs, gam_pairs


def _w_operator(h: np.ndarray, pairs: list[tuple[int, int]]):
    """Sparse map vec_rowmajor(Z) = W @ mult_vector for the given pairs."""
    import scipy.sparse as sp

    n = h.size + 2
    X = _positions(h)
    rows: list[np.ndarray] = []
    cols: list[np.ndarray] = []
    vals: list[np.ndarray] = []
    for p, (i, j) in enumerate(pairs):
        d = X[:, i] - X[:, j]
        nz = np.flatnonzero(d)
        # sym(g_j d^T): g_j = e_j (node j >= 1 has gradient basis vector j; x* has none)
        if j >= 1:
            rows += [j * n + nz, nz * n + j]
            vals += [d[nz] / 2, d[nz] / 2]
            cols += [np.full(nz.size, p), np.full(nz.size, p)]
        # 1/2 (g_i - g_j)(g_i - g_j)^T
        gi = [(i, 1.0)] if i >= 1 else []
        gj = [(j, -1.0)] if j >= 1 else []
        e = gi + gj
        for a, sa in e:
            for b, sb in e:
                rows.append(np.array([a * n + b]))
                cols.append(np.array([p]))
                vals.append(np.array([0.5 * sa * sb]))
    W = sp.csr_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
        shape=(n * n, len(pairs)),
    )
    W.sum_duplicates()
    return W


def _flow_operator(t: int, pairs: list[tuple[int, int]]) -> np.ndarray:
    D = np.zeros((t + 1, len(pairs)))
    for p, (i, j) in enumerate(pairs):
        if j >= 1:
            D[j - 1, p] += 1.0
        if i >= 1:
            D[i - 1, p] -= 1.0
    return D


def _level(k: int) -> int:
    """2-adic valuation of k + 1: the level of step h_k in the recursive patterns."""
    v = k + 1
    return (v & -v).bit_length() - 1


def hierarchical_support(
    t: int, widen: int = 2
) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    r"""Pairs of points that carry multipliers in the restricted certificate SDP.

    Grimmer's patterns of length :math:`t = 2^p - 1` (Table 1) are built recursively: step
    :math:`h_k` has level :math:`\ell(k) = v_2(k+1)` (the 2-adic valuation), and the final
    point :math:`x_t` has level :math:`p`.  The dense SDP solutions at t = 7, 15, 31 put
    their weight (lambda above 1e-2) on pairs of iterates close in this hierarchy; we keep the
    iterate pair :math:`(x_k, x_l)` when :math:`k` and :math:`l` lie in the same aligned
    dyadic block of length :math:`2^{\max(\ell(k), \ell(l)) + 	ext{widen}}`.  This gives
    :math:`O(t \log t)` pairs instead of :math:`t^2` (t = 63: 1096 of 4032; t = 127: 2696
    of 16256).  Gamma lives on these pairs and on all pairs with :math:`x_\star`.

    Parameters
    ----------
    t : int
        Pattern length (>= 1).
    widen : int, default 2
        Block-length exponent added to the pair's level (``widen = 1`` is too narrow for
        t = 31: the SDP margin becomes negative).

    Returns
    -------
    lam_pairs, gam_pairs : list of (int, int)
        Node pairs (``0 = x*``, ``k+1 = x_k``) of lambda and gamma.

    Raises
    ------
    ValueError
        If ``t < 1`` or ``widen < 0``.
    """
    if not (isinstance(t, int) and t >= 1):
        raise ValueError(f"invalid t={t!r}: must be an int >= 1")
    if not (isinstance(widen, int) and widen >= 0):
        raise ValueError(f"invalid widen={widen!r}: must be an int >= 0")
    lam = []
    for k in range(t + 1):
        for j in range(t + 1):
            if k != j:
                s = max(_level(k), _level(j)) + widen
                if k >> s == j >> s:
                    lam.append((k + 1, j + 1))
    star = [(0, k) for k in range(1, t + 2)] + [(k, 0) for k in range(1, t + 2)]
    return lam, star + lam


# --------------------------------------------------------------------------------------
# SDP: maximise the positive-definiteness margin tau at a fixed corner and Delta
# --------------------------------------------------------------------------------------
def _solve_sdp(
    h: np.ndarray,
    delta: float,
    delta_lo: float,
    sigma: float,
    solver: str,
    verbose: bool = False,
    support: tuple[list[tuple[int, int]], list[tuple[int, int]]] | None = None,
):
    """Solve  max tau  s.t. (C1), (C2), lambda >= 0, lambda + delta_lo*gamma >= 0, and
    (C4) at ``delta`` with corner ``sigma`` and margin ``tau`` on the lower-right block
    (``tau <= 1``).  Since (C4) is affine in Delta and holds at 0 and ``delta``, the
    certificate's Delta is any value <= ``delta`` keeping lambda + Delta*gamma >= 0
    (at least ``delta_lo``), found afterwards as the author does.

    Returns a dict with ``status``, ``time`` and, when the solver returned a point,
    ``tau``, ``lam``, ``gam`` (float arrays of shape (t+2, t+2)).
    """
    import cvxpy as cp
    import scipy.sparse as sp

    t = h.size
    n = t + 2
    total = float(h.sum())
    lam_pairs, gam_pairs = _pairs(t) if support is None else support
    WL = _w_operator(h, lam_pairs)
    WG = _w_operator(h, gam_pairs)
    DL = _flow_operator(t, lam_pairs)
    DG = _flow_operator(t, gam_pairs)
    gidx = {pq: p for p, pq in enumerate(gam_pairs)}
    both = [(gidx[pq], p) for p, pq in enumerate(lam_pairs) if pq in gidx]
    sel = sp.csr_matrix(
        (np.ones(len(both)), ([g for g, _ in both], [p for _, p in both])),
        shape=(len(gam_pairs), len(lam_pairs)),
    )
    lv = cp.Variable(len(lam_pairs), nonneg=True)
    gv = cp.Variable(len(gam_pairs))
    tau = cp.Variable()
    star = np.array([p for p, (i, j) in enumerate(gam_pairs) if i == 0 or j == 0])
    rhs_l = np.zeros(t + 1)
    rhs_l[0], rhs_l[t] = -1.0, 1.0
    rhs_g = np.zeros(t + 1)
    rhs_g[0] = 2.0 * total
    ZL = cp.reshape(WL @ lv, (n, n), order="C")
    ZG = cp.reshape(WG @ gv, (n, n), order="C")
    border = np.zeros((n, n))
    border[0, 1:] = border[1:, 0] = 1.0
    inner = np.eye(n)
    inner[0, 0] = 0.0
    mask_inner = np.zeros((n, n))
    mask_inner[1:, 1:] = 1.0
    e00 = np.zeros((n, n))
    e00[0, 0] = sigma
    ZGb = cp.multiply(border, ZG)
    P0 = ZL + ZGb + e00
    P1 = ZL + delta * cp.multiply(mask_inner, ZG) + ZGb + e00
    cons = [
        DL[:-1] @ lv == rhs_l[:-1],  # the f_t row is implied (the rows sum to zero)
        DG @ gv == rhs_g,
        sel @ lv + delta_lo * gv >= 0,
        gv[star] >= 0,  # lambda = 0 on pairs with x*: stated directly, well scaled
        P0 - tau * inner >> 0,
        P1 - tau * inner >> 0,
        tau <= 1.0,
    ]
    prob = cp.Problem(cp.Maximize(tau), cons)
    t0 = time.perf_counter()
    try:
        prob.solve(solver=solver, verbose=verbose)
        status = str(prob.status)
    except cp.error.SolverError as exc:
        status = f"solver_error: {exc}"
    out: dict[str, Any] = {"status": status, "time": time.perf_counter() - t0}
    if status in ("optimal", "optimal_inaccurate") and lv.value is not None:
        lam = np.zeros((n, n))
        gam = np.zeros((n, n))
        for p, (i, j) in enumerate(lam_pairs):
            lam[i, j] = lv.value[p]
        for p, (i, j) in enumerate(gam_pairs):
            gam[i, j] = gv.value[p]
        out.update(tau=float(tau.value), lam=lam, gam=gam)
    return out


def _positions(h: np.ndarray) -> np.ndarray:
    """Columns = node positions (x*, x_0, ..., x_t) in the basis (x_0 - x*, g_0, ..., g_t)."""
    t = h.size
    n = t + 2
    X = np.zeros((n, n))
    for k in range(t + 1):
        X[0, k + 1] = 1.0
        X[1 : k + 1, k + 1] = -h[:k]
    return X


def _solve_sdp_structured(
    h: np.ndarray,
    delta: float,
    delta_lo: float,
    sigma: float,
    support: tuple[list[tuple[int, int]], list[tuple[int, int]]] | None = None,
    verbose: bool = False,
):
    """The SDP of :func:`_solve_sdp`, solved by CVXOPT with a rank-structured KKT system.

    Every multiplier's matrix is ``W_ij = sym(g_j d^T) + 1/2 w w^T`` (``d = x_i - x_j``,
    ``w = g_i - g_j``), of rank <= 3; in the second block of (C4) a gamma column is
    ``Delta W_ij + (1 - Delta) border(W_ij)`` with ``border(W_ij) = sym(g_j (d_0 e_0)^T)``,
    still of that form.  The Schur complement of each interior-point step is assembled in
    ``O(pairs^2 t)`` by :func:`mlroundup.longstep._sdp.solve_lowrank_conelp` instead of the
    ``O(pairs t^3)``-and-up of a generic conic solver.  Same return value as
    :func:`_solve_sdp`.
    """
    import scipy.sparse as sp

    from mlroundup.longstep._sdp import LowRankBlock, solve_lowrank_conelp

    t = h.size
    n = t + 2
    total = float(h.sum())
    lam_pairs, gam_pairs = _pairs(t) if support is None else support
    mL, mG = len(lam_pairs), len(gam_pairs)
    nx = 1 + mL + mG
    X = _positions(h)
    eye = np.eye(n)

    def vectors(pairs):
        ii = np.array([p[0] for p in pairs], dtype=np.int64)
        jj = np.array([p[1] for p in pairs], dtype=np.int64)
        g = eye.copy()
        g[:, 0] = 0.0  # g_* = 0
        return g[:, jj], X[:, ii] - X[:, jj], g[:, ii] - g[:, jj]

    uL, dL, wL = vectors(lam_pairs)
    uG, dG, wG = vectors(gam_pairs)
    e0 = eye[:, :1]
    bG = e0 * dG[0:1, :]  # border part: sym(g_j (d_0 e_0)^T)
    inner = eye.copy()
    inner[0, 0] = 0.0
    hs = np.zeros((n, n))
    hs[0, 0] = sigma
    colL = 1 + np.arange(mL)
    colG = 1 + mL + np.arange(mG)
    gb = np.flatnonzero(np.abs(uG).sum(axis=0) * np.abs(bG).sum(axis=0) > 0)  # nonzero border
    # Scaling: gamma on iterate pairs enters (C4) only through Delta * M(gamma); the solver's
    # variable is Delta * gamma there (order one), gamma itself on pairs with x*.
    is_star = np.array([i == 0 or j == 0 for i, j in gam_pairs], dtype=bool)
    sG = np.where(is_star, 1.0, 1.0 / delta)
    half = np.full(mL, -0.5)
    blk0 = LowRankBlock(
        cols=np.concatenate([colL, colG[gb]]),
        U=np.hstack([-uL, -uG[:, gb]]),
        V=np.hstack([dL, bG[:, gb] * sG[gb]]),
        W=np.hstack([wL, np.zeros((n, gb.size))]),
        coef=np.concatenate([half, np.zeros(gb.size)]),
        h=hs,
        dense=[(0, inner)],
    )
    blk1 = LowRankBlock(
        cols=np.concatenate([colL, colG]),
        U=np.hstack([-uL, -uG]),
        V=np.hstack([dL, (delta * dG + (1.0 - delta) * bG) * sG]),
        W=np.hstack([wL, wG]),
        coef=np.concatenate([half, -0.5 * delta * sG]),
        h=hs,
        dense=[(0, inner)],
    )
    # linear inequalities Gl x <= hl
    gidx = {pq: p for p, pq in enumerate(gam_pairs)}
    try:
        sel = np.array([gidx[pq] for pq in lam_pairs], dtype=np.int64)
    except KeyError as exc:
        raise ValueError(f"invalid support: lambda pair {exc.args[0]} is not a gamma pair") from exc
    star = np.array([p for p, (i, j) in enumerate(gam_pairs) if i == 0 or j == 0], dtype=np.int64)
    rows = [
        sp.hstack([sp.csr_matrix((mL, 1)), -sp.eye(mL), sp.csr_matrix((mL, mG))]),
        sp.hstack(
            [
                sp.csr_matrix((mL, 1)),
                -sp.eye(mL),
                sp.csr_matrix((-delta_lo * sG[sel], (np.arange(mL), sel)), shape=(mL, mG)),
            ]
        ),
        sp.csr_matrix(
            (-np.ones(star.size), (np.arange(star.size), 1 + mL + star)), shape=(star.size, nx)
        ),
        sp.csr_matrix(([1.0], ([0], [0])), shape=(1, nx)),
    ]
    Gl = sp.vstack(rows).tocsr()
    hl = np.zeros(Gl.shape[0])
    hl[-1] = 1.0
    DLm = _flow_operator(t, lam_pairs)
    DGm = _flow_operator(t, gam_pairs)
    A = np.zeros((t + t + 1, nx))
    A[:t, colL] = DLm[:-1]
    A[t:, colG] = DGm * sG
    b = np.zeros(2 * t + 1)
    b[0] = -1.0  # (C1) on f_0..f_{t-1} (the f_t row is implied); (C2) on f_0..f_t
    b[t] = 2.0 * total
    c = np.zeros(nx)
    c[0] = -1.0
    t0 = time.perf_counter()
    for refinement in _STRUCT_REFINEMENTS:  # the next count only if CVXOPT stopped short
        try:
            sol = solve_lowrank_conelp(c, Gl, hl, [blk0, blk1], A, b, verbose=verbose,
                                       refinement=refinement, **_STRUCT_OPTS)  # fmt: skip
            status = sol["status"]
        except (ArithmeticError, ValueError) as exc:  # pragma: no cover - numerical breakdown
            sol, status = {"x": None}, f"solver_error: {exc}"
        if status == "optimal":
            break
    out: dict[str, Any] = {"status": status, "time": time.perf_counter() - t0}
    x = sol["x"]
    if x is not None:
        lam = np.zeros((n, n))
        gam = np.zeros((n, n))
        for p, (i, j) in enumerate(lam_pairs):
            lam[i, j] = max(x[1 + p], 0.0)
        for p, (i, j) in enumerate(gam_pairs):
            gam[i, j] = sG[p] * x[1 + mL + p]
        out.update(tau=float(x[0]), lam=lam, gam=gam, iterations=sol["iterations"])
    return out


# --------------------------------------------------------------------------------------
# Exact arithmetic
# --------------------------------------------------------------------------------------
def _bareiss(A: list[list[int]]) -> list[int]:
    """Leading principal minors of a symmetric integer matrix by fraction-free
    (Bareiss) elimination without pivoting.

    Returns the minors ``d_1, ..., d_k``; stops early (returning the minors found so
    far, the last one being 0) at the first zero pivot.  All arithmetic is exact.
    """
    n = len(A)
    a = [row[:] for row in A]
    minors: list[int] = []
    prev = 1
    for k in range(n):
        piv = a[k][k]
        minors.append(piv)
        if piv == 0 or k == n - 1:
            break
        rk = a[k]
        for i in range(k + 1, n):
            ri = a[i]
            aik = ri[k]
            # symmetric: only j >= i is needed, mirror afterwards
            for j in range(i, n):
                ri[j] = (ri[j] * piv - aik * rk[j]) // prev
        for i in range(k + 1, n):
            for j in range(k + 1, i):
                a[i][j] = a[j][i]
        prev = piv
    return minors


def _as_int_matrix(F: list[list[Fraction]]) -> tuple[list[list[int]], int]:
    """Scale a rational matrix to integers; returns (integer matrix, common denominator)."""
    den = 1
    for row in F:
        for x in row:
            den = math.lcm(den, x.denominator)
    return [[int(x * den) for x in row] for row in F], den


def _schur_exact(M: np.ndarray, m: np.ndarray) -> tuple[bool, Fraction | None, str]:
    """Decide M > 0 exactly and return s = m^T M^{-1} m (exact) if so.

    Uses det([[M, m], [m^T, 0]]) = -det(M) * m^T M^{-1} m on the integer-scaled matrix.
    """
    k = M.shape[0]
    B = [[Fraction(M[i, j]) for j in range(k)] + [Fraction(m[i])] for i in range(k)]
    B.append([Fraction(m[j]) for j in range(k)] + [Fraction(0)])
    Bi, den = _as_int_matrix(B)
    minors = _bareiss(Bi)
    for idx, d in enumerate(minors[:k]):
        if d <= 0:
            return (
                False,
                None,
                f"leading principal minor {idx + 1} of M is {'0' if d == 0 else '< 0'}",
            )
    det_m = minors[k - 1]
    det_full = minors[k]
    s = Fraction(-det_full, det_m * den)
    return True, s, ""


def _to_fraction_matrix(x: Any, n: int, name: str) -> np.ndarray:
    arr = np.asarray(x, dtype=object)
    if arr.shape != (n, n):
        raise ValueError(f"invalid {name}: expected shape {(n, n)}, got {arr.shape}")
    out = np.empty((n, n), dtype=object)
    for i in range(n):
        for j in range(n):
            v = arr[i, j]
            if isinstance(v, Fraction):
                out[i, j] = v
            elif isinstance(v, (int, np.integer)):
                out[i, j] = Fraction(int(v))
            else:
                fv = float(v)
                if not math.isfinite(fv):
                    raise ValueError(f"invalid {name}[{i}, {j}]={v!r}: must be finite")
                out[i, j] = Fraction(fv)
    return out


def verify_exact(
    pattern: Any,
    lam: Any,
    gamma: Any,
    delta: Fraction | float,
    epsilon: Fraction | float = 0,
) -> tuple[bool, str]:
    r"""Check every condition of a (relaxed) straightforward certificate exactly.

    Parameters
    ----------
    pattern : sequence of float or Fraction, shape (t,)
        Step sizes (units of ``1/L``); floats are read as exact decimals
        (:func:`exact_pattern`).
    lam : array_like, shape (t+2, t+2)
        Multipliers :math:`\lambda_{ij}` of :math:`Q_{ij}` (nodes ``x*, x_0..x_t``);
        entries may be ``Fraction``, ``int`` or ``float`` (floats are taken exactly).
    gamma : array_like, shape (t+2, t+2)
        Multipliers :math:`\gamma_{ij}`, same indexing.
    delta : Fraction or float
        The certificate's :math:`\Delta > 0`.
    epsilon : Fraction or float, default 0
        Rate loss; the corner of both matrices in (C4) is
        :math:`\sum_k h_k + t\,\varepsilon` (``epsilon = 0`` is the paper's definition).

    Returns
    -------
    ok : bool
        True iff all conditions hold exactly.
    detail : str
        ``"all conditions verified exactly"`` or the first failed condition.

    Raises
    ------
    ValueError
        On a bad pattern, wrong shapes, non-finite multipliers, or ``delta``/``epsilon``
        that are not finite.

    Notes
    -----
    Checked: support (:math:`\lambda` only on iterate pairs, zero diagonals),
    (C1), (C2), (C3) :math:`\lambda\ge0`, :math:`\lambda+\Delta\gamma\ge0`, :math:`\Delta>0`,
    and (C4) via: :math:`M(\lambda)` and :math:`M(\lambda+\Delta\gamma)` positive definite
    (all leading principal minors > 0, exact Bareiss elimination) and
    :math:`m(\gamma)^\top M^{-1} m(\gamma) \le \sum_k h_k + t\varepsilon` for both
    (Schur complement, exact).  Positive *definiteness* of the blocks is sufficient,
    not necessary, for (C4); a certificate with singular blocks is reported as failing.

    References
    ----------
    Grimmer (2023), definition of straightforward patterns (§2 of arXiv v1) and the
    notebooks' ``checkEquality``/``checkNonnegativity``/``checkPSD``.
    """
    if (
        isinstance(pattern, (tuple, list))
        and pattern
        and all(isinstance(x, Fraction) for x in pattern)
    ):
        for k, x in enumerate(pattern):
            if x <= 0:
                raise ValueError(f"invalid step size h[{k}]={x!r}: must be finite and > 0")
        hf = tuple(pattern)
    else:
        hf = exact_pattern(pattern)
    t = len(hf)
    n = t + 2
    try:
        d = Fraction(delta)
        e = Fraction(epsilon)
    except (TypeError, ValueError, OverflowError) as exc:
        raise ValueError(f"invalid delta={delta!r} or epsilon={epsilon!r}: must be finite") from exc
    L = _to_fraction_matrix(lam, n, "lam")
    G = _to_fraction_matrix(gamma, n, "gamma")
    total = sum(hf, Fraction(0))
    if d <= 0:
        return False, f"Delta={d} is not > 0"
    for i in range(n):
        if L[i, i] != 0 or G[i, i] != 0:
            return False, f"nonzero diagonal multiplier at ({i}, {i})"
        if L[0, i] != 0 or L[i, 0] != 0:
            return False, f"lambda is not supported on iterate pairs: entry involving x* at {i}"
    for i in range(n):
        for j in range(n):
            if L[i, j] < 0:
                return False, f"(C3) lambda[{i}, {j}] = {L[i, j]} < 0"
            if L[i, j] + d * G[i, j] < 0:
                return False, f"(C3) lambda + Delta*gamma < 0 at ({i}, {j})"
    fl = _flows(L)
    want_l = [Fraction(0)] * (t + 1)
    want_l[0] -= 1
    want_l[t] += 1
    for k in range(t + 1):
        if fl[k] != want_l[k]:
            return False, f"(C1) coefficient of f_{k} is {fl[k]}, expected {want_l[k]}"
    fg = _flows(G)
    for k in range(t + 1):
        want = 2 * total if k == 0 else Fraction(0)
        if fg[k] != want:
            return False, f"(C2) coefficient of f_{k} is {fg[k]}, expected {want}"
    hobj = np.array(hf, dtype=object)
    ZL = _z_of(L, hobj)
    ZG = _z_of(G, hobj)
    corner = total + t * e
    if corner <= 0:
        return False, f"(C4) corner sum(h) + t*epsilon = {corner} is not > 0"
    m = ZG[0, 1:]
    for name, M in (
        ("M(lambda)", ZL[1:, 1:]),
        ("M(lambda + Delta*gamma)", ZL[1:, 1:] + d * ZG[1:, 1:]),
    ):
        ok, s, why = _schur_exact(M, m)
        if not ok:
            return False, f"(C4) {name} is not positive definite: {why}"
        if s > corner:
            return (
                False,
                f"(C4) m^T {name}^-1 m = {float(s):.12g} exceeds the corner {float(corner):.12g}",
            )
    return True, "all conditions verified exactly"


def _round_and_repair(
    h: np.ndarray, lam: np.ndarray, gam: np.ndarray, delta: Fraction, grid: int
) -> tuple[np.ndarray | None, np.ndarray | None, str]:
    """Round numeric multipliers to the grid 1/grid and repair (C1), (C2), (C3) exactly.

    (C3): where rounding broke lambda + Delta*gamma >= 0, lambda_ij is raised to
    -Delta*gamma_ij; gamma in the column of x* is clipped at 0.  (C1): for each iterate
    node a = 1..t (x_0..x_{t-1}) the largest forward entry lambda[a, b], b > a, is
    re-solved so that the coefficient of f_{a-1} is exact (processed in increasing a,
    each equation has one unknown).  (C2): the row gamma[x*, :] is re-solved (one
    unknown per equation), as the author does.  Returns (lam, gam, detail) with
    Fraction arrays,
    or (None, None, reason).
    """
    t = h.size
    n = t + 2
    hf = [Fraction(repr(float(x))) for x in h]
    total = sum(hf, Fraction(0))
    L = np.empty((n, n), dtype=object)
    G = np.empty((n, n), dtype=object)
    for i in range(n):
        for j in range(n):
            lv = 0 if (i == 0 or j == 0 or i == j) else max(0, round(float(lam[i, j]) * grid))
            L[i, j] = Fraction(lv, grid)
            gv = 0 if i == j else round(float(gam[i, j]) * grid)
            G[i, j] = Fraction(gv, grid)
    # (C3) first, on lambda: raise lambda_ij to -Delta*gamma_ij where rounding broke
    # lambda + Delta*gamma >= 0 (a tiny change of lambda; changing gamma instead would be
    # amplified by 1/Delta); gamma in the column of x* (where lambda = 0) is clipped at 0.
    for i in range(1, n):
        if G[i, 0] < 0:
            G[i, 0] = Fraction(0)
        for j in range(1, n):
            if i != j and L[i, j] + delta * G[i, j] < 0:
                L[i, j] = -delta * G[i, j]
    # (C1) repair; running row/column sums keep this O(t^2)
    colL = [sum(L[:, a], Fraction(0)) for a in range(n)]
    rowL = [sum(L[a, :], Fraction(0)) for a in range(n)]
    for a in range(1, t + 1):
        b_star = max(range(a + 1, n), key=lambda b: L[a, b])
        rest = rowL[a] - L[a, b_star]
        need = colL[a] + (1 if a == 1 else 0) - rest
        if need < 0 or need + delta * G[a, b_star] < 0:
            return (
                None,
                None,
                f"rounding repair of (C1) needs lambda[{a}, {b_star}] = {float(need):.3g}, "
                "which breaks (C3)",
            )
        colL[b_star] += need - L[a, b_star]
        rowL[a] += need - L[a, b_star]
        L[a, b_star] = need
    # (C2) repair via the row of x*: gamma[0, a] enters only the coefficient of f_{a-1}
    colG = [sum(G[1:, a], Fraction(0)) for a in range(n)]
    rowG = [sum(G[a, :], Fraction(0)) for a in range(n)]
    for a in range(1, n):
        target = 2 * total if a == 1 else Fraction(0)
        need = target + rowG[a] - colG[a]
        if need < 0:
            return (
                None,
                None,
                f"rounding repair of (C2) needs gamma[x*, x_{a - 1}] = {float(need):.3g} < 0",
            )
        G[0, a] = need
    return L, G, ""


def _choose_delta(lam: np.ndarray, gam: np.ndarray, delta_hi: Fraction, dmin: Fraction) -> Fraction:
    """Largest "round" Delta <= delta_hi with lambda + Delta*gamma >= 0 (numerically).

    The numeric bound min(lambda_ij / -gamma_ij) over gamma_ij < 0 is rounded *down*
    to one significant digit (so at most halved), which leaves slack for rounding the
    multipliers; never below ``dmin`` (where the SDP enforced nonnegativity).
    """
    # Pairs with x* have lambda = 0 and gamma >= 0 (clipped when rounding); ignore them
    # and gamma entries that are negative only at solver-noise level.
    g = gam[1:, 1:]
    lm = np.maximum(lam[1:, 1:], 0.0)
    neg = g < -1e-9 * max(1.0, float(np.abs(gam).max()))
    bound = float(delta_hi)
    if np.any(neg):
        bound = min(bound, float((lm[neg] / -g[neg]).min()))
    if bound >= float(delta_hi):
        return delta_hi
    if bound <= float(dmin):
        return dmin
    e = math.floor(math.log10(bound))
    digit = int(bound / 10.0**e)
    d = Fraction(max(digit, 1)) * Fraction(10) ** e
    return min(max(d, dmin), delta_hi)


def _numeric_epsilon(h: np.ndarray, lam: np.ndarray, gam: np.ndarray, delta: float) -> float:
    ZL = _z_of(lam, h)
    ZG = _z_of(gam, h)
    m = ZG[0, 1:]
    s = max(float(m @ np.linalg.solve(M, m)) for M in (ZL[1:, 1:], ZL[1:, 1:] + delta * ZG[1:, 1:]))
    return s / h.size - float(h.mean())


# --------------------------------------------------------------------------------------
# Public driver
# --------------------------------------------------------------------------------------
def certify(
    pattern: Any,
    *,
    solver: str = "CLARABEL",
    support: str = "all",
    exact: bool = True,
    delta0: float = 1e-4,
    delta_min: float = 1e-9,
    rho: float = 1e-6,
    max_slack_retries: int = 2,
    grid: int = 10**12,
    verbose: bool = False,
) -> Certificate:
    r"""Search for a straightforward certificate of a stepsize pattern (Grimmer 2023).

    Parameters
    ----------
    pattern : sequence of float, shape (t,)
        Step sizes :math:`h_k` in units of :math:`1/L`; finite and > 0.
    solver : {"CLARABEL", "SCS", "STRUCTURED"}, default "CLARABEL"
        cvxpy SDP solver, or ``"STRUCTURED"``: CVXOPT with the rank-<=3 Schur complement
        (:func:`mlroundup.longstep._sdp.solve_lowrank_conelp`).
    support : {"all", "hierarchical"}, default "all"
        Pairs that carry multipliers: all pairs, or :func:`hierarchical_support` (fewer
        multipliers; a certificate on fewer pairs is still a certificate, and the exact check
        decides).
    exact : bool, default True
        Round to rationals, repair the identities exactly and run :func:`verify_exact`.
        If False the constant is computed in floating point from the SDP solution
        (``exact_check`` is then None).
    delta0 : float, default 1e-4
        :math:`\Delta_0`, where both matrices of (C4) are imposed (the author's value).
        Nonnegativity (C3) is imposed at :math:`\Delta_0/1000`; the certificate's
        :math:`\Delta` is chosen in between afterwards.  If the SDP has no positive
        margin, both levels are divided by 10, while the lower one stays >= ``delta_min``.
    delta_min : float, default 1e-9
        Smallest :math:`\Delta` tried; below it the pattern is reported not certified.
    rho : float, default 1e-6
        Relative slack of the corner, :math:`\sigma = (1+\rho)\sum_k h_k`, giving the
        positive-definiteness margin that survives rounding (the certified constant is
        then about :math:`\operatorname{avg}(h)(1-\rho)`).  On an exact-check failure
        the solve is retried with ``10*rho`` (at most ``max_slack_retries`` times).
    max_slack_retries : int, default 2
        Number of retries with more slack after a failed exact check.
    grid : int, default 10**12
        Rounding denominator for the multipliers (must be a positive int).
    verbose : bool, default False
        Passed to the solver.

    Returns
    -------
    Certificate
        ``certified=False`` with ``constant=None`` when no :math:`\Delta` in the ladder
        admits a certificate (the SDP's optimal margin is not positive), or when the
        exact check of the rounded multipliers failed; ``exact_detail`` says which.

    Raises
    ------
    ValueError
        If the pattern is not a non-empty 1-D sequence of finite positive numbers
        (the message names the bad entry), or a numeric option is out of range.

    Notes
    -----
    The SDP (variables :math:`\lambda\ge0` on iterate pairs, :math:`\gamma`, margin
    :math:`\tau`) maximises :math:`\tau \le 1` subject to (C1), (C2),
    :math:`\lambda+\Delta_0\gamma/1000\ge0`, :math:`\gamma\ge0` on pairs with
    :math:`x_\star`, and
    :math:`\begin{pmatrix}\sigma & m(\gamma)^\top\\ m(\gamma) & M\end{pmatrix}
    \succeq \tau\,\operatorname{diag}(0, I)` for :math:`M = M(\lambda)` and
    :math:`M(\lambda)+\Delta_0 M(\gamma)`, :math:`\sigma = (1+\rho)\sum_k h_k`.
    See the module docstring for the definition, :math:`\varepsilon`, the choice of
    :math:`\Delta` and the exact rounding.

    References
    ----------
    Grimmer (2023), arXiv:2307.06324, §2 (Definition of straightforward patterns,
    convergence theorem) and Table 1; notebooks in GitHub bgrimmer/LongStepCertificates.
    """
    h = _validate_pattern(pattern)
    if solver not in _SOLVERS:
        raise ValueError(f"invalid solver={solver!r}: must be one of {_SOLVERS}")
    if support not in _SUPPORTS:
        raise ValueError(f"invalid support={support!r}: must be one of {_SUPPORTS}")
    pairs = None if support == "all" else hierarchical_support(h.size)
    for name, val in (("delta0", delta0), ("delta_min", delta_min), ("rho", rho)):
        if not (isinstance(val, (int, float)) and math.isfinite(val) and val > 0):
            raise ValueError(f"invalid {name}={val!r}: must be finite and > 0")
    if delta_min > delta0:
        raise ValueError(f"invalid delta_min={delta_min!r}: must be <= delta0={delta0!r}")
    if not (isinstance(grid, int) and grid > 0):
        raise ValueError(f"invalid grid={grid!r}: must be a positive int")
    if not (isinstance(max_slack_retries, int) and max_slack_retries >= 0):
        raise ValueError(f"invalid max_slack_retries={max_slack_retries!r}: must be an int >= 0")

    pat = tuple(float(x) for x in h)
    t = h.size
    total = float(h.sum())
    avg = total / t
    elapsed = 0.0
    tried: list[str] = []

    def not_certified(detail: str, extra: dict | None = None) -> Certificate:
        return Certificate(
            pattern=pat,
            certified=False,
            constant=None,
            delta=None,
            epsilon=None,
            multipliers=extra or {},
            exact_check=None if not exact else False if extra else None,
            exact_detail=detail,
            solver=solver,
            solve_time_s=elapsed,
        )

    delta_hi = Fraction(repr(float(delta0)))
    dmin = Fraction(repr(float(delta_min)))
    last_failure: dict | None = None
    while delta_hi >= dmin * 1000 or delta_hi == Fraction(repr(float(delta0))):
        cur_rho = rho
        for _attempt in range(max_slack_retries + 1):
            sigma = total * (1.0 + cur_rho)
            delta_lo = max(dmin, delta_hi * Fraction(1, 1000))
            if solver == "STRUCTURED":
                out = _solve_sdp_structured(
                    h, float(delta_hi), float(delta_lo), sigma, pairs, verbose
                )
            else:
                out = _solve_sdp(h, float(delta_hi), float(delta_lo), sigma, solver, verbose, pairs)
            elapsed += out["time"]
            tau = out.get("tau")
            tried.append(
                f"Delta(C4)={float(delta_hi):.0e}, Delta(C3)={float(delta_lo):.0e}: "
                f"{out['status']}, tau={tau}"
            )
            if tau is None or not tau > 0:
                break  # no certificate with (C4) at this Delta: try a smaller one
            lam, gam = out["lam"], out["gam"]
            delta = _choose_delta(lam, gam, delta_hi, delta_lo)
            mult: dict[str, Any] = {
                "lambda": lam,
                "gamma": gam,
                "sigma": sigma,
                "tau": tau,
                "delta0": float(delta_hi),
                "rho": cur_rho,
                "attempts": list(tried),
            }
            if not exact:
                eps = _numeric_epsilon(h, lam, gam, float(delta))
                eps_c = max(eps, 0.0)
                return Certificate(
                    pattern=pat,
                    certified=True,
                    constant=avg - eps_c,
                    delta=float(delta),
                    epsilon=eps_c,
                    multipliers=mult,
                    exact_check=None,
                    exact_detail=f"numeric only (SDP status {out['status']}, margin tau={tau:.3g})",
                    solver=solver,
                    solve_time_s=elapsed,
                )
            L, G, why = _round_and_repair(h, lam, gam, delta, grid)
            if L is None:
                last_failure = {"detail": why, "mult": mult}
                cur_rho *= 10.0
                continue
            # exact epsilon: s = max over the two endpoints of m^T M^{-1} m
            hf = np.array(exact_pattern(h), dtype=object)
            ZL = _z_of(L, hf)
            ZG = _z_of(G, hf)
            m = ZG[0, 1:]
            s_max: Fraction | None = None
            why = ""
            for M in (ZL[1:, 1:], ZL[1:, 1:] + delta * ZG[1:, 1:]):
                ok, s, why = _schur_exact(M, m)
                if not ok:
                    s_max = None
                    break
                s_max = s if s_max is None else max(s_max, s)
            if s_max is None:
                last_failure = {"detail": f"(C4) after rounding: {why}", "mult": mult}
                cur_rho *= 10.0
                continue
            eps_exact = s_max / t - sum(hf, Fraction(0)) / t
            eps_c = max(eps_exact, Fraction(0))
            ok, detail = verify_exact(tuple(hf), L, G, delta, eps_c)
            mult.update(
                lambda_exact=L,
                gamma_exact=G,
                delta_exact=delta,
                epsilon_exact=eps_exact,
                grid=grid,
            )
            mult["lambda"] = np.array(L, dtype=float)
            mult["gamma"] = np.array(G, dtype=float)
            if ok:
                const = float(sum(hf, Fraction(0)) / t - eps_c)
                return Certificate(
                    pattern=pat,
                    certified=True,
                    constant=const,
                    delta=float(delta),
                    epsilon=float(eps_c),
                    multipliers=mult,
                    exact_check=True,
                    exact_detail=detail,
                    solver=solver,
                    solve_time_s=elapsed,
                )
            last_failure = {"detail": detail, "mult": mult}
            cur_rho *= 10.0
        else:
            # all slack retries failed their exact check at this Delta
            assert last_failure is not None
            return not_certified(
                "SDP certificate found but exact verification failed: " + last_failure["detail"],
                last_failure["mult"],
            )
        delta_hi /= 10
    return not_certified(
        "not certified: no certificate with Delta in "
        f"[{float(delta_min):.0e}, {float(delta0):.0e}] (SDP margin not positive; "
        + "; ".join(tried)
        + ")"
    )
