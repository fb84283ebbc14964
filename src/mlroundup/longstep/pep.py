"""Exact performance-estimation (PEP) oracle for gradient descent with an arbitrary step list.

The worst case of ``f(x_n) - f*`` over all ``L``-smooth convex functions and all starting points
with ``||x_0 - x*|| <= R``, for gradient descent ``x_{k+1} = x_k - (h_k / L) grad f(x_k)``, is the
value of a small semidefinite program (Drori & Teboulle 2014; Taylor, Hendrickx & Glineur 2017).
By default the SDP is solved by *constraint generation* over the ``(n+2)(n+1)`` interpolation
inequalities (exact: the loop stops only when the restricted maximizer satisfies all of them),
each restricted problem by CVXOPT with a KKT solver that exploits the rank-3 structure of the
inequalities. ``method="full"`` keeps the reference path: one SDP over all pairs, by the same
structured CVXOPT solve, or by Clarabel's native API (faster, less accurate on long steps) or
any cvxpy solver when named. Either way the value comes with a dual certificate valid for the
full set of inequalities.

Only numpy is imported at module level; scipy, cvxopt, clarabel and cvxpy are imported when
solving.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field

import numpy as np

from mlroundup.utils.threads import blas_threads

__all__ = ["PEPResult", "worst_case", "interpolation_matrices"]

_SQRT2 = float(np.sqrt(2.0))
# CVXOPT stops with status 'unknown' when rounding blocks the requested accuracy; its iterate is
# accepted as "optimal" when gap and residuals are below _OPTIMAL_TOL, as "optimal_inaccurate"
# below _ACCEPT_TOL, and rejected otherwise.
_OPTIMAL_TOL = 1e-6
_ACCEPT_TOL = 1e-5
# Relative gap and residuals requested from CVXOPT (on the scaled problem).
_IPM_TOL = 1e-7
# Smallest duality gap requested from CVXOPT (relative, on the scaled problem; residuals stay at
# _IPM_TOL). Near a gap of 1e-7 rounding makes the KKT matrix singular on long-step problems: the
# iterate one step before (gap 2e-7, residuals 4e-8 at n = 63) was followed by a step that raised
# the dual residual to 4e-6, leaving the returned iterate inaccurate.
_IPM_GAP_TOL = 3e-7
# Relative residual of a KKT solve (against the exact operators) past which CVXOPT is stopped.
_KKT_RES_MAX = 1e-4
# Diagonal shift (relative to the largest diagonal entry) of a reduced KKT matrix whose Cholesky
# factorization failed through rounding.
_KKT_REG = 1e-12
# Accuracy (gap/residuals) at which an intermediate constraint-generation round is still used
# to find violated pairs (its value is not returned).
_LOOSE_TOL = 1e-2
# Gap/residuals requested from CVXOPT in the loose (intermediate) constraint-generation rounds.
_LOOSE_IPM_TOL = 1e-3
# Largest relative violation of a loose round at which the pair set is solved accurately.
_SWITCH_TOL = 1e-3
# Pairs added per point and round (as first and as second index) by constraint generation:
# loose rounds, and accurate rounds (near the end every truly violated pair should go in at once:
# an accurate round costs as many iterations as a loose one, ~30).
_PER_POINT = 2
_PER_POINT_ACCURATE = 8
# A loose round that adds fewer pairs than this fraction of the set switches to accurate rounds
# (the set is nearly complete; loose rounds would dribble pairs in at full price).
_SWITCH_FRACTION = 0.02
# Schedules at least this long start constraint generation from their halves' pair sets.
_WARM_MIN_N = 16


@dataclass(frozen=True)
class PEPResult:
    """Worst-case value of gradient descent with its dual certificate.

    Attributes
    ----------
    value : float
        Worst-case ``f(x_n) - f*`` for the given ``L`` and ``R`` (the dual objective
        ``tau * R**2``, i.e. a certified upper bound that the solver's primal matches up to
        its tolerance).
    steps : numpy.ndarray, shape (n,), float64
        Normalized step sizes ``h_k``; the actual step is ``h_k / L``.
    L : float
        Smoothness constant.
    R : float
        Radius of the initial condition ``||x_0 - x*|| <= R``.
    multipliers : numpy.ndarray, shape (n+2, n+2), float64
        ``multipliers[i, j] = lambda_ij >= 0`` is the dual multiplier of the interpolation
        inequality ``f_i >= f_j + <g_j, x_i - x_j> + ||g_i - g_j||^2 / (2L)``. Index 0 is
        ``x*`` (with ``g* = 0``, ``f* = 0``), index ``k+1`` is the iterate ``x_k``,
        ``k = 0..n``. The diagonal is zero.
    tau : float
        Multiplier of the initial condition ``||x_0 - x*||^2 <= R^2`` (units of ``L``).
    dual_psd : numpy.ndarray, shape (n+2, n+2), float64
        The dual slack matrix ``S = tau E_00 + sum_ij lambda_ij M_ij``, positive semidefinite,
        in the Gram basis ``(x_0 - x*, g_0, ..., g_n)`` of the actual (unnormalized) problem; see
        :func:`interpolation_matrices` for ``M_ij``.
    solver : str
        Solver used (``"CVXOPT"``: CVXOPT's ``conelp`` with our structured KKT solver;
        ``"CLARABEL"``: Clarabel's native API; other names: through cvxpy).
        ``"CVXOPT+CLARABEL"``: some constraint-generation round fell back to Clarabel.
    status : str
        ``"optimal"`` or ``"optimal_inaccurate"``.
    solve_time_s : float
        Wall time of assembling and solving all SDPs (all rounds), in seconds.
    primal_value : float
        Primal objective ``f(x_n) - f*`` of the worst-case Gram matrix found by the solver
        (equals ``value`` up to the solver's duality gap).
    n_constraints : int
        Number of interpolation pairs in the last (restricted) SDP; ``(n+2)(n+1)`` for
        ``method="full"``.
    rounds : int
        Number of SDPs solved (constraint-generation rounds; the probe of the starting pairs
        and the half-schedule solves of the predicted start included; 1 for
        ``method="full"``).
    method : str
        ``"cg"`` (constraint generation) or ``"full"``.
    cpu_time_s : float
        CPU time of this process over the solve (``time.process_time``), in seconds.
    max_violation : float
        Largest violation of ALL ``(n+2)(n+1)`` interpolation inequalities at the returned
        worst-case point, relative to the value (``<= tol`` for ``method="cg"``).
    """

    value: float
    steps: np.ndarray
    L: float
    R: float
    multipliers: np.ndarray
    tau: float
    dual_psd: np.ndarray
    solver: str
    status: str
    solve_time_s: float
    primal_value: float = field(default=float("nan"))
    n_constraints: int = 0
    rounds: int = 1
    method: str = "full"
    cpu_time_s: float = field(default=float("nan"))
    max_violation: float = field(default=float("nan"))


#: Largest normalized step the PEP accepts. The SDP's coefficients grow like ``h^2`` and
#: double-precision interior-point solves lose accuracy beyond it: ``[1e4, 1]`` came out 1.3e-4
#: below its worst case, ``[3e4, 1]`` 0.6% above, ``[1e5, 1]`` was reported infeasible, while
#: ``[1e3]`` matches the closed form ``(h - 1)^2 / 2`` to 1e-8. (The schedules whose longest step
#: exceeds it, e.g. silver at ``n >= 1023``, are far beyond the PEP's size anyway.)
MAX_STEP = 1e3


def _validate(steps, L, R, limit_steps: bool = True) -> tuple[np.ndarray, float, float]:
    raw = np.asarray(steps, dtype=object) if not isinstance(steps, np.ndarray) else steps
    if isinstance(steps, str | bytes) or any(isinstance(x, str | bytes) for x in raw.ravel()):
        raise ValueError(f"invalid steps={steps!r}: must be numbers, not strings")
    try:
        h = np.asarray(steps, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"invalid steps={steps!r}: must be a 1-D array of floats") from exc
    if h.ndim != 1:
        raise ValueError(f"invalid steps: must be 1-D, got shape {h.shape}")
    if h.size < 1:
        raise ValueError("invalid steps: need at least one step (n >= 1), got an empty list")
    bad = np.nonzero(~(np.isfinite(h) & (h > 0)))[0]
    if bad.size:
        k = int(bad[0])
        raise ValueError(f"invalid step size steps[{k}]={h[k]!r}: must be finite and > 0")
    if limit_steps and np.any(h > MAX_STEP):
        k = int(np.argmax(h > MAX_STEP))
        raise ValueError(
            f"step size steps[{k}]={h[k]!r} is too long for the PEP: normalized steps must be "
            f"<= {MAX_STEP:g} (beyond it the SDP's coefficients, ~h^2, exceed what the "
            "interior-point solvers resolve in double precision)"
        )
    for name, val in (("L", L), ("R", R)):
        if isinstance(val, str | bytes):
            raise ValueError(f"invalid {name}={val!r}: must be a number, not a string")
        try:
            v = float(val)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"invalid {name}={val!r}: must be a finite float > 0") from exc
        if not (np.isfinite(v) and v > 0):
            raise ValueError(f"invalid {name}={val!r}: must be finite and > 0")
    return h.copy(), float(L), float(R)


def _coordinates(h: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Coordinates of points and gradients in the Gram basis ``(x_0 - x*, g_0, ..., g_n)``.

    Normalized problem (``L = 1``). Column ``p`` of each returned ``(n+2, n+2)`` array is the
    point ``p``: ``p = 0`` is ``x*`` (zero vector, zero gradient), ``p = k+1`` is ``x_k``.
    """
    n = h.size
    N = n + 2
    X = np.zeros((N, N))
    X[0, 1:] = 1.0
    # x_k = x_0 - sum_{j<k} h_j g_j ; g_j is basis vector 1+j.
    tri = np.tril(np.ones((n + 1, n + 1)), -1)  # tri[k, j] = 1 iff j < k
    X[1:, 1:] = -(tri * np.concatenate([h, [0.0]])[None, :]).T
    Gc = np.zeros((N, N))
    Gc[1:, 1:] = np.eye(n + 1)
    return X, Gc


def _pairs(N: int) -> tuple[np.ndarray, np.ndarray]:
    """All ordered pairs ``(i, j)``, ``i != j``, of ``N`` points, row-major."""
    ii, jj = np.nonzero(~np.eye(N, dtype=bool))
    return ii, jj


def _assemble(h: np.ndarray, ii: np.ndarray | None = None, jj: np.ndarray | None = None):
    """Coefficients of the normalized (``L = R = 1``) interpolation inequalities, vectorized.

    ``ii, jj`` select the ordered pairs (default: all ``(n+2)(n+1)`` of them, row-major).

    Returns ``(ii, jj, rows, a, b, vals)``: row ``p`` of the system encodes
    ``f_j - f_i + <M_ij, G> <= 0`` for the pair ``(ii[p], jj[p])``, and ``<M_ij, G>`` is the sum of
    ``vals[k] * G[a[k], b[k]]`` over the entries ``k`` with ``rows[k] == p`` (duplicates add up).
    """
    n = h.size
    N = n + 2
    X, _ = _coordinates(h)
    if ii is None or jj is None:
        ii, jj = _pairs(N)
    # <M_ij, G> = g_j^T G (x_i - x_j) + 1/2 (g_i - g_j)^T G (g_i - g_j); the gradient of point
    # p > 0 is basis vector p, that of x* is zero.
    V = X[:, ii] - X[:, jj]  # (N, P): x_i - x_j
    rows, ra, rb, vals = [], [], [], []
    mJ = np.nonzero(jj > 0)[0]
    sub = V[:, mJ]
    bi, pi = np.nonzero(sub)
    p = mJ[pi]
    rows.append(p)
    ra.append(jj[p])
    rb.append(bi)
    vals.append(sub[bi, pi])
    for s1, s2, coef in ((ii, ii, 0.5), (jj, jj, 0.5), (ii, jj, -1.0)):
        p = np.nonzero((s1 > 0) & (s2 > 0))[0]
        rows.append(p)
        ra.append(s1[p])
        rb.append(s2[p])
        vals.append(np.full(p.size, coef))
    return (
        ii,
        jj,
        np.concatenate(rows),
        np.concatenate(ra),
        np.concatenate(rb),
        np.concatenate(vals),
    )


def _f_matrix(ii: np.ndarray, jj: np.ndarray, n: int):
    """Sparse ``(P, n+1)`` coefficients of ``f_j - f_i`` on ``(f_0, ..., f_n)`` (``f* = 0``)."""
    import scipy.sparse as sp

    fr = np.concatenate([np.nonzero(jj > 0)[0], np.nonzero(ii > 0)[0]])
    fc = np.concatenate([jj[jj > 0] - 1, ii[ii > 0] - 1])
    fv = np.concatenate([np.ones(int((jj > 0).sum())), -np.ones(int((ii > 0).sum()))])
    return sp.csr_matrix((fv, (fr, fc)), shape=(ii.size, n + 1))


def _svec_matrix(rows, a, b, vals, P: int, N: int):
    """Sparse ``(P, N(N+1)/2)`` matrix of ``<M_p, G>`` acting on Clarabel's ``svec(G)``.

    Clarabel's ``svec`` stacks the upper triangle column by column and scales off-diagonal
    entries by ``sqrt(2)``; a coefficient ``c`` on ``G_ab`` (``a != b``) is ``c / sqrt(2)`` on
    ``svec(G)_ab``.
    """
    import scipy.sparse as sp

    lo = np.minimum(a, b)
    hi = np.maximum(a, b)
    col = hi * (hi + 1) // 2 + lo
    v = np.where(lo == hi, vals, vals / _SQRT2)
    Q = sp.csc_matrix((v, (rows, col)), shape=(P, N * (N + 1) // 2))
    Q.sum_duplicates()
    return Q


class _PairOps:
    """Structured linear maps of the interpolation inequalities on a subset of ordered pairs.

    Normalized problem (``L = R = 1``). Point ``p`` (``0 = x*``, ``k+1 = x_k``) has position
    ``chi_p = X[:, p]`` and gradient ``gamma_p`` (``gamma_0 = 0``, ``gamma_p = e_p``) in the Gram
    basis ``(x_0 - x*, g_0, ..., g_n)``. The pair ``c = (i, j)`` has the matrix

    .. math:: M_c = \\operatorname{sym}(u_c v_c^T) + \\tfrac12 w_c w_c^T,\\quad
              u_c = \\gamma_j,\\; v_c = \\chi_i - \\chi_j,\\; w_c = \\gamma_i - \\gamma_j,

    of rank at most 3. Every inner product ``<M_c, Z>``, every combination ``sum_c x_c M_c`` and
    every Schur-complement entry ``<T(M_c), T(M_d)>`` under a congruence ``T`` is therefore a
    gather from a few ``N x N`` point-level matrices: no ``N^2``-sized vectors are formed.

    ``grad_scale = s`` and ``value_scale = v`` rescale the problem for the interior-point
    solver: Gram basis ``(x_0 - x*, s g_0, ..., s g_n)`` (``G~ = D G D``,
    ``D = diag(1, s, ..., s)``) and function values ``f~ = f / v``; then
    ``M~_c = sym(a u_c v~_c^T) + 1/2 (b w_c)(b w_c)^T`` with ``v~ = D^{-1} v``,
    ``a = 1/(s v)``, ``b = 1/(s sqrt(v))``. With ``s ~ 1/|g|`` and ``v ~ f(x_n)`` every
    quantity of the worst case is of order one. Defaults (``1, 1``): the unscaled problem.
    """

    def __init__(
        self,
        h: np.ndarray,
        ii: np.ndarray,
        jj: np.ndarray,
        grad_scale: float = 1.0,
        value_scale: float = 1.0,
    ) -> None:
        self.n = h.size
        self.N = h.size + 2
        self.ii = np.asarray(ii, dtype=np.int64)
        self.jj = np.asarray(jj, dtype=np.int64)
        self.m = self.ii.size
        X, _ = _coordinates(h)
        X[1:, :] /= grad_scale
        self.X = X
        self.a = 1.0 / (grad_scale * value_scale)
        self.b = 1.0 / (grad_scale * np.sqrt(value_scale))
        self._block = None

    # Point-level quadratic forms of a symmetric Z: A_gg[p, q] = gamma_p' Z gamma_q,
    # A_gx[p, q] = gamma_p' Z chi_q, A_xx[p, q] = chi_p' Z chi_q.
    def _point_forms(self, Z: np.ndarray, need_xx: bool = True):
        Agg = Z.copy()
        Agg[0, :] = 0.0
        Agg[:, 0] = 0.0
        ZX = Z @ self.X
        Agx = ZX.copy()
        Agx[0, :] = 0.0
        Axx = self.X.T @ ZX if need_xx else None
        return Agg, Agx, Axx

    def inner(self, Z: np.ndarray) -> np.ndarray:
        """``<M_c, Z>`` for every pair ``c`` (``Z`` symmetric), shape ``(m,)``."""
        Agg, Agx, _ = self._point_forms(Z, need_xx=False)
        i, j = self.ii, self.jj
        return self.a * (Agx[j, i] - Agx[j, j]) + (0.5 * self.b**2) * (
            Agg[i, i] + Agg[j, j] - 2.0 * Agg[i, j]
        )

    def combine(self, lam: np.ndarray) -> np.ndarray:
        """``sum_c lam_c M_c`` as a dense symmetric ``(N, N)`` matrix."""
        N = self.N
        i, j = self.ii, self.jj
        B = np.zeros((N, N))  # sum lam e_j (e_i - e_j)^T  (point-indexed)
        np.add.at(B, (j, i), lam)
        np.add.at(B, (j, j), -lam)
        C = np.zeros((N, N))  # weighted graph Laplacian sum lam (e_i - e_j)(e_i - e_j)^T
        np.add.at(C, (i, i), lam)
        np.add.at(C, (j, j), lam)
        np.add.at(C, (i, j), -lam)
        np.add.at(C, (j, i), -lam)
        # Gamma = I with column 0 zeroed: Gamma B X^T and Gamma C Gamma^T.
        B[0, :] = 0.0
        C[0, :] = 0.0
        C[:, 0] = 0.0
        GBX = B @ self.X.T
        return (0.5 * self.a) * (GBX + GBX.T) + (0.5 * self.b**2) * C

    def schur(
        self, rti: np.ndarray, out: np.ndarray | None = None
    ) -> tuple[np.ndarray, float, np.ndarray]:
        """Schur complement of the congruence ``T(Z) = rti' Z rti`` on the pair matrices.

        Returns ``H[c, d] = <T(M_c), T(M_d)>`` (``(m, m)``; added to ``out`` when given),
        ``<T(E00), T(E00)>`` and ``<T(E00), T(M_c)>`` (``(m,)``). The pairs are the columns
        ``sym(u_c v_c^T) + 1/2 w_c w_c^T`` of a :class:`mlroundup.longstep._sdp.LowRankBlock`
        (``u_c = a gamma_j``, ``v_c = chi_i - chi_j``, ``w_c = b (gamma_i - gamma_j)``), whose
        Schur complement is the one copy of the formula: Gram blocks of the scaled vectors
        ``rti' u_c`` ... (``O(m^2 N)``), built in cache-sized column tiles.
        """
        blk = self.block()
        H = blk.schur(rti, out=out)
        e = rti.T[:, 0]  # rti' e_0
        eu, ev, ew = e @ rti.T @ blk.U, e @ rti.T @ blk.V, e @ rti.T @ blk.W
        h0 = eu * ev + 0.5 * ew**2
        return H, float((e @ e) ** 2), h0

    def block(self):
        """The pair matrices as a :class:`mlroundup.longstep._sdp.LowRankBlock` (cached)."""
        if self._block is None:
            from mlroundup.longstep._sdp import LowRankBlock

            i, j = self.ii, self.jj
            Gam = np.eye(self.N)
            Gam[:, 0] = 0.0  # gamma_0 = 0
            self._block = LowRankBlock(
                cols=np.arange(self.m),
                U=self.a * Gam[:, j],
                V=self.X[:, i] - self.X[:, j],
                W=self.b * (Gam[:, i] - Gam[:, j]),
                coef=np.full(self.m, 0.5),
                h=np.zeros((self.N, self.N)),
            )
        return self._block


def _violation_matrix(h: np.ndarray, G: np.ndarray, F: np.ndarray) -> np.ndarray:
    """``V[i, j] = f_j - f_i + <M_ij, G>`` for all ordered pairs (normalized problem).

    ``F = (f_0, ..., f_n)``; ``f* = 0``. The diagonal is set to ``-inf``. Cost ``O(N^3)``.
    """
    N = h.size + 2
    X, _ = _coordinates(h)
    Agg = G.copy()
    Agg[0, :] = 0.0
    Agg[:, 0] = 0.0
    Agx = G @ X
    Agx[0, :] = 0.0
    f = np.concatenate([[0.0], F])
    d = np.diag(Agg)
    dgx = np.diag(Agx)
    # V[i, j] = f_j - f_i + Agx[j, i] - Agx[j, j] + (Agg[i, i] + Agg[j, j] - 2 Agg[i, j]) / 2
    V = f[None, :] - f[:, None] + Agx.T - dgx[None, :] + 0.5 * (d[:, None] + d[None, :]) - Agg
    V[np.arange(N), np.arange(N)] = -np.inf
    return V


def _f_dense(ii: np.ndarray, jj: np.ndarray, n: int) -> np.ndarray:
    """Dense ``(n+1, m)``: column ``c`` holds the coefficients of ``f_j - f_i`` on ``f_0..f_n``."""
    m = ii.size
    A = np.zeros((n + 1, m))
    c = np.arange(m)
    mj = jj > 0
    mi = ii > 0
    A[jj[mj] - 1, c[mj]] += 1.0
    A[ii[mi] - 1, c[mi]] -= 1.0
    return A


def _solve_cvxopt(
    h: np.ndarray,
    ii: np.ndarray,
    jj: np.ndarray,
    verbose: bool,
    tol: float,
    value_guess: float | None = None,
):
    """Dual LMI form of the restricted PEP solved by CVXOPT ``conelp`` with a structured KKT.

    Variables ``x = (tau, lambda_1..lambda_m)``; ``min tau`` s.t. ``-lambda + s_l = 0``,
    ``-(tau E00 + sum_c lambda_c M_c) + s_s = 0`` (``s_l >= 0``, ``s_s`` PSD of order ``N``) and
    ``A lambda = e_n`` on the function values. CVXOPT's dual variables are the primal PEP:
    ``z_s = G`` (Gram matrix, ``G_00 = 1`` by the ``tau`` column) and ``y = -F``.

    The KKT systems are solved by eliminating ``z``: with the Nesterov-Todd scaling
    ``W_s(u) = r' u r`` and ``Q = (r' r)^{-1}``, the ``(m+1) x (m+1)`` matrix
    ``H = G' W^{-1} W^{-T} G`` has the entries ``tr(Q M_c Q M_d)`` (plus ``1/d_c^2`` from the
    linear block), built from point-level forms in ``O(N^3 + m N + m^2)`` (see
    :class:`_PairOps`), then Cholesky and a small Schur complement on the ``n+1`` equalities.

    Returns ``(tau, lam, S, G, F, status, iterations)``.
    """
    import scipy.sparse as sp
    from cvxopt import matrix, solvers, spmatrix

    from mlroundup.longstep._sdp import _cho_solve, _cholesky

    n = h.size
    N = n + 2
    m = ii.size
    nx = m + 1
    # Scaling (see _PairOps): function values by the value estimate v, gradients by
    # 1/(2 v) (a Huber-type worst case has |g| ~ 2 f(x_n) / R); default estimate 1/(2 sum h + 1).
    v = float(value_guess) if value_guess else 1.0 / (2.0 * float(np.sum(h)) + 1.0)
    s_g = 1.0 / (2.0 * v)
    ops = _PairOps(h, ii, jj, grad_scale=s_g, value_scale=v)
    Af = _f_dense(ii, jj, n)
    Ad = np.zeros((n + 1, nx))
    Ad[:, 1:] = Af
    r, c = np.nonzero(Ad)
    A_cv = spmatrix(Ad[r, c].tolist(), r.tolist(), c.tolist(), (n + 1, nx))
    b_cv = matrix(0.0, (n + 1, 1))
    b_cv[n] = 1.0
    c_cv = matrix(0.0, (nx, 1))
    c_cv[0] = 1.0
    h_cv = matrix(0.0, (m + N * N, 1))
    dims = {"l": m, "q": [], "s": [N]}

    def sym_lower(v: np.ndarray) -> np.ndarray:
        Z = v.reshape(N, N, order="F")
        return np.tril(Z) + np.tril(Z, -1).T

    def G_apply(x, y, alpha=1.0, beta=0.0, trans="N"):
        # y := alpha * G x + beta * y  or  alpha * G' x + beta * y (trace inner product on S).
        xv = np.asarray(x).ravel()
        yv = np.asarray(y).ravel()
        if trans == "N":
            out = np.empty(m + N * N)
            out[:m] = -xv[1:]
            S = ops.combine(xv[1:])
            S[0, 0] += xv[0]
            out[m:] = -S.reshape(-1, order="F")
        else:
            Z = sym_lower(xv[m:])
            out = np.empty(nx)
            out[0] = -Z[0, 0]
            out[1:] = -xv[:m] - ops.inner(Z)
        res = alpha * out + (beta * yv if beta else 0.0)
        y[:] = matrix(res)

    # Tree edges (x*, x_k), k = 0..n: the first n+1 pairs (row-major order), columns 1..n+1 of
    # A, which form the identity.
    if not (
        np.array_equal(ii[: n + 1], np.zeros(n + 1))
        and np.array_equal(jj[: n + 1], np.arange(1, n + 2))
    ):
        raise ValueError("internal: the pair list must start with the pairs (x*, x_k)")
    T = np.arange(1, n + 2)
    F = np.concatenate([[0], np.arange(n + 2, nx)])
    AN = sp.csr_matrix(Ad[:, F])

    def kktsolver(W):
        d = np.array(W["d"]).ravel()
        rti = np.array(W["rti"][0])
        Q = rti @ rti.T
        Q = 0.5 * (Q + Q.T)
        H = np.zeros((nx, nx))
        _, h00, h0 = ops.schur(rti, out=H[1:, 1:])
        H[0, 0] = h00
        H[0, 1:] = h0
        H[1:, 0] = h0
        H[np.arange(1, nx), np.arange(1, nx)] += 1.0 / d**2
        # Eliminate the equalities with the tree edges (x*, x_k): A = [0 | I | A_N], so every
        # solution of A u = by is u = xp + P w with xp = (0, by, 0), P = [E_F; -A_N]. The
        # reduced matrix P' H P stays well conditioned where H alone does not (CVXOPT's 'chol'
        # solver does the same with a QR factorization of A').
        HP = H[:, F] - (AN.T @ H[T, :]).T
        Hred = np.ascontiguousarray(HP[F, :] - AN.T @ HP[T, :])
        diag_max = float(np.abs(np.diag(Hred)).max())
        cf = _cholesky(Hred)  # overwrites Hred
        if cf is None:
            # Rounding makes the reduced matrix lose definiteness close to the optimum: a tiny
            # diagonal shift (the first KKT solve is checked against the exact operators below,
            # so a direction it spoils stops CVXOPT). If even that fails, CVXOPT stops with
            # status 'unknown' and returns the current iterate (checked below).
            Hred = np.ascontiguousarray(HP[F, :] - AN.T @ HP[T, :])
            Hred[np.arange(Hred.shape[0]), np.arange(Hred.shape[0])] += _KKT_REG * diag_max
            cf = _cholesky(Hred)
            if cf is None:
                raise ArithmeticError("singular KKT matrix")
        del Hred, HP

        calls = [0]
        r_s = np.array(W["r"][0])

        def solve(x, y, z):
            calls[0] += 1
            if calls[0] == 1:
                rhs = (np.array(x).ravel(), np.array(y).ravel(), np.array(z).ravel())
            _solve(x, y, z)
            if calls[0] == 1:
                # The first solve after a factorization is the one CVXOPT guards: check it
                # against the exact operators and stop (keeping the current iterate) once
                # rounding has made the direction unreliable.
                res = _kkt_residual(rhs, x, y, z, d, r_s)
                if not np.isfinite(res) or res > _KKT_RES_MAX:
                    raise ArithmeticError(f"inaccurate KKT solve (residual {res:.1e})")

        def _kkt_residual(rhs, x, y, z, d, r_s):
            bx, by, bz = rhs
            ux = np.asarray(x).ravel()
            uy = np.asarray(y).ravel()
            wz = np.asarray(z).ravel()
            uzl = wz[:m] / d
            Wz = sym_lower(wz[m:])
            Uz = rti @ Wz @ rti.T  # uz = W^{-1}(W uz)
            # row x: A' uy + G' uz - bx
            rx = Ad.T @ uy - bx
            rx[0] -= Uz[0, 0]
            rx[1:] -= uzl + ops.inner(Uz)
            ry = Ad @ ux - by
            # row z: G ux - W'W uz - bz ; W'(W uz) = r (W uz) r'
            rzl = -ux[1:] - d * wz[:m] - bz[:m]
            Gs = -ops.combine(ux[1:])
            Gs[0, 0] -= ux[0]
            rzs = Gs - r_s @ Wz @ r_s.T - sym_lower(bz[m:])
            num = max(np.abs(rx).max(), np.abs(ry).max(), np.abs(rzl).max(), np.abs(rzs).max())
            den = max(np.abs(bx).max(), np.abs(by).max(), np.abs(bz).max(), 1e-300)
            return float(num / den)

        def _solve(x, y, z):
            bx = np.asarray(x).ravel().copy()
            by = np.asarray(y).ravel().copy()
            zv = np.asarray(z).ravel()
            bzl = zv[:m].copy()
            Bz = sym_lower(zv[m:])
            # r1 = bx + G' W^{-1} W^{-T} bz ; W^{-1} W^{-T} on S is Z -> Q Z Q.
            QBQ = Q @ Bz @ Q
            r1 = bx
            r1[0] -= QBQ[0, 0]
            r1[1:] -= bzl / d**2 + ops.inner(QBQ)
            xp = np.zeros(nx)
            xp[T] = by
            rr = r1 - H @ xp
            w = _cho_solve(cf, rr[F] - AN.T @ rr[T])
            ux = xp
            ux[F] += w
            ux[T] -= AN @ w
            uy = (r1 - H @ ux)[T]
            # W uz = W^{-T} (G ux - bz)
            wl = (-ux[1:] - bzl) / d
            Ms = -ops.combine(ux[1:])
            Ms[0, 0] -= ux[0]
            Ms -= Bz
            ws = rti.T @ Ms @ rti
            x[:] = matrix(ux)
            y[:] = matrix(uy)
            z[:m] = matrix(wl)
            z[m:] = matrix(ws.reshape(-1, order="F"))

        return solve

    # The problem is scaled so that the worst case is of order one: absolute and relative
    # tolerances coincide. Below ~1e-9 rounding in the KKT solves stalls CVXOPT.
    opts = {
        "show_progress": bool(verbose),
        "abstol": max(tol, _IPM_GAP_TOL),
        "reltol": max(tol, _IPM_GAP_TOL),
        "feastol": tol,
        "maxiters": 80,
        "refinement": 3,
    }
    sol = solvers.conelp(c_cv, G_apply, h_cv, dims, A_cv, b_cv, kktsolver=kktsolver, options=opts)
    raw = sol["status"]
    if sol["x"] is None or sol["z"] is None:  # pragma: no cover
        raise RuntimeError(f"CVXOPT failed on the PEP SDP (n={n}, m={m}): status {raw}")
    x = np.asarray(sol["x"]).ravel()
    z = np.asarray(sol["z"]).ravel()
    yv = np.asarray(sol["y"]).ravel()
    # Undo the scaling: tau = v tau~, lambda = lambda~, G = D^{-1} G~ D^{-1}, F = v F~.
    tau = v * float(x[0])
    lam = x[1:].copy()
    G = sym_lower(z[m:])
    G[1:, :] /= s_g
    G[:, 1:] /= s_g
    F = -v * yv
    if raw == "optimal":
        status = "optimal"
    else:
        # CVXOPT stops with 'unknown' when rounding prevents the requested accuracy; accept the
        # iterate when it is accurate to the accepted tolerance, reject otherwise.
        worst = max(
            abs(float(sol["relative gap"] or np.inf)),
            float(sol["primal infeasibility"] or np.inf),
            float(sol["dual infeasibility"] or np.inf),
        )
        if not np.isfinite(worst) or worst > _ACCEPT_TOL:
            exc = RuntimeError(
                f"CVXOPT failed on the PEP SDP (n={n}, m={m}): status {raw}, "
                f"residual/gap {worst:.2e}"
            )
            exc.value_estimate = tau if np.isfinite(tau) and tau > 0 else None
            exc.partial = (tau, lam, G, F, worst, int(sol["iterations"]))
            raise exc
        status = "optimal" if worst <= _OPTIMAL_TOL else "optimal_inaccurate"
    return tau, lam, G, F, status, int(sol["iterations"])


def _solve_clarabel(h: np.ndarray, ii: np.ndarray, jj: np.ndarray, verbose: bool):
    """Solve the normalized dual SDP on the pairs ``(ii, jj)`` with Clarabel's native API.

    Variables ``x = (lambda (m), tau)``; minimize ``tau`` subject to ``lambda >= 0``,
    ``sum_p lambda_p (e_j - e_i) = e_n`` on ``(f_0..f_n)`` and
    ``S = tau E_00 + sum_p lambda_p M_p`` in the PSD cone. Clarabel's dual variables are the
    primal PEP: the PSD-cone dual is ``svec(G)`` (``G_00 = 1``) and the zero-cone dual is ``-F``.

    Returns ``(tau, lam, G, F, status, iterations)``.
    """
    import clarabel
    import scipy.sparse as sp

    n = h.size
    N = n + 2
    _, _, rows, a, b, vals = _assemble(h, ii, jj)
    P = ii.size
    Q = _svec_matrix(rows, a, b, vals, P, N)
    Fm = _f_matrix(ii, jj, n)
    nsv = N * (N + 1) // 2
    e00 = sp.csc_matrix(([1.0], ([0], [0])), shape=(nsv, 1))
    A = sp.vstack(
        [
            sp.hstack([-sp.identity(P, format="csc"), sp.csc_matrix((P, 1))]),
            sp.hstack([Fm.T.tocsc(), sp.csc_matrix((n + 1, 1))]),
            -sp.hstack([Q.T.tocsc(), e00]),
        ],
        format="csc",
    )
    bvec = np.zeros(A.shape[0])
    bvec[P + n] = 1.0
    q = np.zeros(P + 1)
    q[-1] = 1.0
    cones = [
        clarabel.NonnegativeConeT(P),
        clarabel.ZeroConeT(n + 1),
        clarabel.PSDTriangleConeT(N),
    ]
    settings = clarabel.DefaultSettings()
    settings.verbose = bool(verbose)
    # faer's supernodal LDL is several times faster than QDLDL on the dense PSD block.
    settings.direct_solve_method = "faer"
    try:
        solver = clarabel.DefaultSolver(sp.csc_matrix((P + 1, P + 1)), q, A, bvec, cones, settings)
    except KeyboardInterrupt:  # pragma: no cover
        raise
    except BaseException:  # pragma: no cover - builds without faer (pyo3 panics are BaseException)
        settings.direct_solve_method = "qdldl"
        solver = clarabel.DefaultSolver(sp.csc_matrix((P + 1, P + 1)), q, A, bvec, cones, settings)
    sol = solver.solve()
    raw = str(sol.status)
    if raw == "Solved":
        status = "optimal"
    elif raw == "AlmostSolved":
        status = "optimal_inaccurate"
    else:
        raise RuntimeError(f"Clarabel failed on the PEP SDP (n={n}, m={P}): status {raw}")
    x = np.asarray(sol.x)
    z = np.asarray(sol.z)
    G = _smat(z[P + n + 1 :], N)
    F = -z[P : P + n + 1]
    return float(x[P]), x[:P].copy(), G, F, status, int(sol.iterations)


def _solve_cvxpy(h: np.ndarray, ii: np.ndarray, jj: np.ndarray, solver: str, verbose: bool):
    """Solve the normalized primal (Gram) SDP on the pairs ``(ii, jj)`` through cvxpy.

    Returns ``(tau, lam, G, F, status, iterations)`` (``iterations = -1``: not reported).
    """
    import cvxpy as cp
    import scipy.sparse as sp

    n = h.size
    N = n + 2
    _, _, rows, a, b, vals = _assemble(h, ii, jj)
    P = ii.size
    # Symmetric split: coefficient c on G_ab becomes c/2 on G_ab and c/2 on G_ba (a != b).
    off = a != b
    r2 = np.concatenate([rows, rows[off]])
    c2 = np.concatenate([a + N * b, (b + N * a)[off]])  # column-major vec index
    v2 = np.concatenate([np.where(off, vals / 2.0, vals), vals[off] / 2.0])
    Qf = sp.csr_matrix((v2, (r2, c2)), shape=(P, N * N))
    Fm = _f_matrix(ii, jj, n)
    G = cp.Variable((N, N), symmetric=True)
    f = cp.Variable(n + 1)
    cons = [Qf @ cp.vec(G, order="F") + Fm @ f <= 0, G[0, 0] <= 1.0, G >> 0]
    prob = cp.Problem(cp.Maximize(f[n]), cons)
    try:
        prob.solve(solver=solver, verbose=verbose)
    except cp.error.SolverError as exc:
        raise RuntimeError(f"{solver} failed on the PEP SDP (n={n}): {exc}") from exc
    if prob.status not in (cp.OPTIMAL, cp.OPTIMAL_INACCURATE):
        raise RuntimeError(f"{solver} failed on the PEP SDP (n={n}): status {prob.status}")
    status = "optimal" if prob.status == cp.OPTIMAL else "optimal_inaccurate"
    lam = np.asarray(cons[0].dual_value, dtype=np.float64).reshape(P)
    tau = float(cons[1].dual_value)
    Gv = np.asarray(G.value, dtype=np.float64)
    return tau, lam, 0.5 * (Gv + Gv.T), np.asarray(f.value, dtype=np.float64), status, -1


def _initial_pairs(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Starting pair set of the constraint generation (normalized indices, ``0 = x*``).

    All pairs with ``x*`` both ways, consecutive iterates both ways, and every iterate with the
    last one both ways: ``O(n)`` pairs, those that carry the classical constant-step certificate
    (Drori & Teboulle 2014; Taylor et al. 2017, Sec. 4).
    """
    N = n + 2
    k = np.arange(1, N)
    last = N - 1
    pi = [np.zeros_like(k), k, k[:-1], k[1:], k[:-1], np.full(N - 2, last)]
    pj = [k, np.zeros_like(k), k[1:], k[:-1], np.full(N - 2, last), k[:-1]]
    ii = np.concatenate(pi)
    jj = np.concatenate(pj)
    mask = np.zeros((N, N), dtype=bool)
    mask[ii, jj] = True
    mask[np.arange(N), np.arange(N)] = False
    return np.nonzero(mask)


def _select(V: np.ndarray, active: np.ndarray, thr: float, per_point: int) -> np.ndarray:
    """Violated pairs to add: for every point, its ``per_point`` most violated pairs as first
    and as second index (violation ``> thr``, not yet active). Returns a boolean ``(N, N)``."""
    W = np.where(active, -np.inf, V)
    add = np.zeros_like(active)
    k = min(per_point, W.shape[0] - 1)
    rows = np.argpartition(-W, k - 1, axis=1)[:, :k]
    r_idx = np.repeat(np.arange(W.shape[0]), k)
    add[r_idx, rows.ravel()] = True
    cols = np.argpartition(-W, k - 1, axis=0)[:k, :]
    c_idx = np.tile(np.arange(W.shape[0]), k)
    add[cols.ravel(), c_idx] = True
    return add & (W > thr)


def _smat(v: np.ndarray, N: int) -> np.ndarray:
    """Inverse of Clarabel's svec (upper triangle, column-major, off-diagonal * sqrt 2)."""
    S = np.zeros((N, N))
    r, c = np.triu_indices(N)  # row-major upper triangle; reorder to column-major
    order = np.lexsort((r, c))
    r, c = r[order], c[order]
    S[r, c] = v
    S[c, r] = v
    off = r != c
    S[r[off], c[off]] /= _SQRT2
    S[c[off], r[off]] /= _SQRT2
    return S


def interpolation_matrices(steps, L: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Dense quadratic forms of all interpolation inequalities (reference / certificate checks).

    Parameters
    ----------
    steps : array_like, shape (n,)
        Normalized step sizes ``h_k > 0``.
    L : float, default 1.0
        Smoothness constant (> 0).

    Returns
    -------
    M : numpy.ndarray, shape (n+2, n+2, n+2, n+2), float64
        ``M[i, j]`` is the symmetric matrix with ``<M[i, j], G> = <g_j, x_i - x_j> +
        ||g_i - g_j||^2 / (2L)`` in the Gram basis ``(x_0 - x*, g_0, ..., g_n)``; zero for
        ``i == j``.
    X : numpy.ndarray, shape (n+2, n+2), float64
        Column ``p`` holds the coordinates of point ``p`` (``0 = x*``, ``k+1 = x_k``).

    Raises
    ------
    ValueError
        On invalid ``steps`` or ``L``.

    Notes
    -----
    Memory is ``O(n^4)``; intended for small ``n`` (tests, certificate verification).
    """
    h, L, _ = _validate(steps, L, 1.0, limit_steps=False)
    X, Gc = _coordinates(h / L)
    Gc = Gc.copy()
    N = h.size + 2
    M = np.zeros((N, N, N, N))
    for i in range(N):
        for j in range(N):
            if i == j:
                continue
            u, v, w = Gc[:, j], X[:, i] - X[:, j], Gc[:, i] - Gc[:, j]
            A = np.outer(u, v)
            M[i, j] = 0.5 * (A + A.T) + np.outer(w, w) / (2.0 * L)
    return M, X


def _solve_subset(
    h, ii, jj, solver: str, verbose: bool, tol: float, value_guess=None, loose: bool = False
):
    """Solve one restricted problem; returns ``(tau, lam, G, F, status, iterations, used)``.

    ``loose=True`` (an intermediate constraint-generation round, used only to find violated
    pairs; CVXOPT only): the SDP is solved to the gap/residuals ``_LOOSE_IPM_TOL`` and returned
    with status ``"loose"`` (also a stopped iterate accurate to ``_LOOSE_TOL``). Otherwise
    CVXOPT works to ``tol``; a run stopped by rounding and not accurate to ``_ACCEPT_TOL`` is
    re-solved once with the failed run's value estimate (better scaling), then with Clarabel
    (robust, slower).
    """
    if solver == "CVXOPT":
        errors = (RuntimeError, ArithmeticError, ValueError, ZeroDivisionError)
        guess = None
        try:
            if loose:
                tau, lam, G, F, _, its = _solve_cvxopt(
                    h, ii, jj, verbose, _LOOSE_IPM_TOL, value_guess
                )
                return tau, lam, G, F, "loose", its, "CVXOPT"
            first = _solve_cvxopt(h, ii, jj, verbose, tol, value_guess)
            if first[4] == "optimal":
                return (*first, "CVXOPT")
            # Stopped by rounding between _OPTIMAL_TOL and _ACCEPT_TOL: where that happens
            # depends on the BLAS kernels of the CPU (an AVX-512 OpenBLAS stops earlier than an
            # AVX2 one on the same problem), so the result's status would too. Clarabel, which
            # factors the KKT system itself, is asked for an optimal solution; the CVXOPT
            # iterate is kept only if Clarabel does not reach one either.
            if verbose:
                print("[pep] CVXOPT stopped inaccurate; re-solving with Clarabel")
            try:
                second = _solve_clarabel(h, ii, jj, verbose)
            except RuntimeError:
                return (*first, "CVXOPT")
            return (*second, "CLARABEL") if second[4] == "optimal" else (*first, "CVXOPT")
        except errors as exc:
            partial = getattr(exc, "partial", None)
            if loose and partial is not None and partial[4] <= _LOOSE_TOL:
                tau, lam, G, F, _, its = partial
                return tau, lam, G, F, "loose", its, "CVXOPT"
            # A poor value estimate leaves the scaled problem badly conditioned (typically the
            # first, loose round): retry once with the failed run's estimate.
            guess = getattr(exc, "value_estimate", None)
            if verbose:
                print(f"[pep] CVXOPT failed ({exc}); retrying with value estimate {guess}")
        if guess is not None:
            try:
                return (*_solve_cvxopt(h, ii, jj, verbose, tol, guess), "CVXOPT")
            except errors as exc:
                if verbose:
                    print(f"[pep] CVXOPT failed again ({exc}); re-solving with Clarabel")
        return (*_solve_clarabel(h, ii, jj, verbose), "CLARABEL")
    if solver == "CLARABEL":
        return (*_solve_clarabel(h, ii, jj, verbose), "CLARABEL")
    return (*_solve_cvxpy(h, ii, jj, solver, verbose), solver)


def worst_case(
    steps,
    L: float = 1.0,
    R: float = 1.0,
    *,
    method: str = "cg",
    solver: str | None = None,
    verbose: bool = False,
    tol: float = _OPTIMAL_TOL,
    max_rounds: int = 100,
) -> PEPResult:
    """Exact worst case of ``f(x_n) - f*`` for gradient descent with the given steps.

    Parameters
    ----------
    steps : array_like, shape (n,), float
        Normalized step sizes ``h_0, ..., h_{n-1}``, each finite, ``> 0`` and at most
        :data:`MAX_STEP` (``1e3``); gradient descent
        takes ``x_{k+1} = x_k - (h_k / L) grad f(x_k)``.
    L : float, default 1.0
        Smoothness constant of ``f`` (finite, ``> 0``).
    R : float, default 1.0
        Bound on the initial distance ``||x_0 - x*|| <= R`` (finite, ``> 0``).
    method : {"cg", "full"}, default "cg"
        ``"cg"``: constraint generation over the interpolation pairs (see Notes), each
        restricted SDP solved by ``solver``. ``"full"``: one SDP with all ``(n+2)(n+1)`` pairs
        (the reference; its cost grows like ``n^6``).
    solver : str, optional
        ``"CVXOPT"`` (default): CVXOPT's ``conelp`` with a KKT solver that exploits the
        rank-3 structure of the inequalities (cost per iteration ``O(n^3 + m^2 + m^3)`` for
        ``m`` pairs). ``"CLARABEL"``: Clarabel's native API, several times faster on the full
        pair set but, on long-step schedules, accurate only to ~1e-5 relative although it
        reports ``Solved``: OBS-F ``n = 17`` comes out ``3.6e-6`` above its proven tight rate
        ``1 / (2 + 4 sum h)`` (``n = 31``: ``1.1e-5``; tighter Clarabel tolerances do not move
        it), where CVXOPT is within ``3e-8``. Any other name is passed to cvxpy (e.g.
        ``"SCS"``).
    verbose : bool, default False
        Print the solver logs and the constraint-generation rounds.
    tol : float, default 1e-6
        Constraint-generation stopping rule: stop when no interpolation inequality is violated
        at the restricted maximizer by more than ``tol * f(x_n)`` (normalized units). Must be in
        ``(0, 1e-3]``. The default is the accuracy at which one solve is accepted as
        ``"optimal"`` (gap and residuals ``<= 1e-6``): the restricted maximizer is then feasible
        for ALL pairs to the accuracy the solution of one full SDP would have. (CVXOPT's
        residuals are requested at ``1e-7`` and its relative gap at ``3e-7`` on the scaled
        problem.) A smaller ``tol`` is below the resolution of the solves: the maximizer of a
        restricted SDP solved to a gap ``eps`` is one point of a face of near-optimal points
        and violates absent pairs by ``O(eps)`` amounts that move from round to round (silver
        ``n = 127``: ``7e-7`` after the first round, ``4.7e-6`` and ``4.5e-6`` after pairs were
        added, while ``tau`` changed by less than ``1e-7`` relative over 13 rounds).
    max_rounds : int, default 100
        Maximum number of constraint-generation rounds (``>= 1``) of the main loop (each
        half-schedule solve of the predicted start has the same limit).

    Returns
    -------
    PEPResult
        Value, normalized steps, ``L``, ``R``, dual certificate (``multipliers``, ``tau``,
        ``dual_psd``) over the FULL set of pairs (zero on pairs never generated) in the units
        of the given ``L`` and ``R``, solver name, status, wall and CPU time, the number of
        pairs in the final restricted problem and the number of rounds.

    Raises
    ------
    ValueError
        If ``steps`` is not 1-D, is empty, holds strings, or has a non-finite, non-positive
        or too long (``> MAX_STEP``) entry, if ``L`` or ``R`` is not a finite positive number, or if ``method``, ``solver``, ``tol`` or
        ``max_rounds`` is invalid. The message names the argument.
    RuntimeError
        If a solver does not return an optimal solution, or constraint generation does not
        converge within ``max_rounds``. Clarabel's ``AlmostSolved``, cvxpy's
        ``optimal_inaccurate`` and CVXOPT stops with residuals between ``1e-6`` and ``1e-5``
        that Clarabel, asked to re-solve that round, does not solve optimally either are
        reported as ``"optimal_inaccurate"`` with a ``RuntimeWarning``.

    Notes
    -----
    With ``x*`` (index 0, ``g* = 0``, ``f* = 0``) and the iterates ``x_0..x_n`` (indices
    ``1..n+1``), a function with these values and gradients exists in the class of
    ``L``-smooth convex functions iff for all ordered pairs ``i != j``
    (Taylor, Hendrickx & Glineur 2017, Thm. 4)

    .. math:: f_i \\ge f_j + \\langle g_j, x_i - x_j \\rangle + \\tfrac{1}{2L}\\|g_i - g_j\\|^2 .

    In the Gram basis ``(x_0 - x*, g_0, ..., g_n)`` every iterate is ``x_k = x_0 -
    sum_{j<k} (h_j/L) g_j``, so each inequality reads ``f_j - f_i + <M_ij, G> <= 0`` with ``G``
    the Gram matrix, and the worst case is the SDP ``max f_n`` s.t. these ``(n+2)(n+1)``
    inequalities, ``G_00 <= R^2``, ``G >= 0`` (PSD). Its dual is

    .. math:: \\min_{\\lambda \\ge 0, \\tau} \\tau R^2 \\;\\text{s.t.}\\;
              \\sum_{ij} \\lambda_{ij}(e_j - e_i) = e_n,\\quad
              S = \\tau E_{00} + \\sum_{ij} \\lambda_{ij} M_{ij} \\succeq 0,

    whose solution is a certificate: summing the inequalities with weights ``lambda_ij`` and
    the initial condition with weight ``tau`` gives
    ``f(x_n) - f* <= tau R^2 - <S, G> <= tau R^2``.

    *Constraint generation (exact).* Let ``P`` be all pairs and ``S ⊂ P`` a subset. The
    restricted primal (only the pairs in ``S``) has a larger feasible set, so its value
    ``v_S >= v_P``. Its dual solution ``(tau, lambda_S)``, extended by ``lambda = 0`` on
    ``P \\ S``, is feasible for the full dual (the sums only see the nonzero multipliers), so
    ``tau R^2 >= v_P`` is certified for the full problem. If the restricted maximizer
    ``(G, F)`` also satisfies every inequality of ``P``, it is feasible for the full primal,
    hence ``v_P >= f_n = v_S``: both bounds meet, ``(G, F)`` is optimal and the extended
    multipliers are an optimal certificate of the full problem. Otherwise the violated pairs
    are added and the problem is re-solved. Starting set: pairs with ``x*`` both ways,
    consecutive iterates both ways, and every iterate with ``x_n`` both ways
    (:func:`_initial_pairs`); for ``n >= 16``, unless one loose solve on these pairs already
    violates nothing by more than ``1e-3`` (short steps), also the pairs that the two halves
    of the schedule need, found by solving the halves first, recursively
    (:func:`_predicted_pairs`).
    Each round adds, for each point, its two (accurate rounds: eight) most violated pairs as
    first and as second index (:func:`_select`). From the initial pairs, intermediate rounds
    (CVXOPT) are solved loosely (gap and residuals ``1e-3``): they only point at pairs; once a
    loose round violates nothing by more than ``1e-3`` relative, or adds fewer than 2% new
    pairs, the rounds are solved accurately. From a predicted start (nearly complete: ~2% of
    the final pairs missing at ``n = 127``) every round is accurate. The loop ends only after an accurate
    round whose largest violation is at most ``tol * f_n`` -- at that point the primal is
    feasible up to the same relative tolerance the interior-point solver itself works to, and
    the returned value is the dual bound ``tau R^2`` of a certificate valid for all pairs. (The
    starting set and the loose rounds change the cost, never the stopping rule.)

    *Structured KKT (CVXOPT).* Each ``M_ij = sym(g_j (x_i - x_j)^T) + (g_i - g_j)(g_i -
    g_j)^T / 2`` has rank ``<= 3``, so the interior-point Schur complement
    ``H_cd = tr(Q M_c Q M_d)`` is a gather from ``N x N`` point-level forms of the scaling
    matrix ``Q``: per iteration ``O(N^3 + m^2)`` to build and ``O(m^3)`` to factor, instead of
    the ``O(N^6)`` of a KKT that carries the dense PSD block.

    The problem is homogeneous: it is solved at ``L = R = 1`` and scaled,
    ``value = L R^2 v``, ``tau = L tau_1``, ``S = L R^2 D^{-1} S_1 D^{-1}`` with
    ``D = diag(R, LR, ..., LR)``; the multipliers are scale-free.

    References
    ----------
    .. [1] Y. Drori and M. Teboulle, "Performance of first-order methods for smooth convex
       minimization: a novel approach", Math. Program. 145 (2014), Thm. 3.1 (``h = 1``:
       ``L R^2 / (4n + 2)``).
    .. [2] A. B. Taylor, J. M. Hendrickx and F. Glineur, "Smooth strongly convex interpolation
       and exact worst-case performance of first-order methods", Math. Program. 161 (2017),
       Thm. 4 and Sec. 3.
    .. [3] J. M. Altschuler and P. A. Parrilo, "Acceleration by stepsize hedging II: silver
       stepsize schedule for smooth convex optimization", arXiv:2309.16530 (2023).
    .. [4] M. S. Andersen, J. Dahl and L. Vandenberghe, "CVXOPT: Python software for convex
       optimization", ``conelp`` with a user-supplied KKT solver (Sec. "Exploiting
       structure").
    """
    h, L, R = _validate(steps, L, R)
    if method not in ("cg", "full"):
        raise ValueError(f"invalid method={method!r}: must be 'cg' or 'full'")
    if solver is None:
        solver = "CVXOPT"
    if not isinstance(solver, str) or not solver:
        raise ValueError(f"invalid solver={solver!r}: must be a solver name such as 'CVXOPT'")
    solver = solver.upper()
    if solver not in ("CVXOPT", "CLARABEL"):
        try:
            import cvxpy as cp
        except ImportError:  # pragma: no cover - cvxpy is a dependency
            installed = []
        else:
            installed = [str(x).upper() for x in cp.installed_solvers()]
        if solver not in installed:
            raise ValueError(
                f"invalid solver={solver!r}: not CVXOPT, CLARABEL or an installed cvxpy solver "
                f"({', '.join(sorted(installed)) or 'cvxpy not installed'})"
            )
    try:
        tol_f = float(tol)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"invalid tol={tol!r}: must be a float in (0, 1e-3]") from exc
    if not (np.isfinite(tol_f) and 0.0 < tol_f <= 1e-3):
        raise ValueError(f"invalid tol={tol!r}: must be a float in (0, 1e-3]")
    if (
        isinstance(max_rounds, bool)
        or not isinstance(max_rounds, int | np.integer)
        or max_rounds < 1
    ):
        raise ValueError(f"invalid max_rounds={max_rounds!r}: must be an integer >= 1")
    t0 = time.perf_counter()
    c0 = time.process_time()
    # Small dense blocks; OpenBLAS spinning slowed them 10x when shared. threadpoolctl limits
    # only the libraries already loaded: SciPy's OpenBLAS (the KKT Cholesky) is loaded first.
    import scipy.linalg  # noqa: F401

    with blas_threads(1):
        return _worst_case_loop(h, L, R, method, solver, verbose, tol_f, max_rounds, t0, c0)


def _generate(h, active, solver, verbose, tol_f, max_rounds, loose_only=False, accurate=False):
    """Constraint generation from the pair set ``active`` (boolean ``(N, N)``, updated in place).

    Intermediate rounds (CVXOPT) are solved loosely: they only have to point at the pairs that
    matter. Once a loose round violates no pair by more than ``_SWITCH_TOL`` (relative), the
    same set is solved accurately (``loose_only=True``: returned as it is, for a warm start);
    a loose round that adds fewer than ``_SWITCH_FRACTION`` new pairs is followed by accurate
    rounds too (not with ``loose_only``);
    from then on every round is accurate, and only an accurate round that violates no pair by
    more than ``tol_f`` ends the loop. ``accurate=True``: every round is accurate from the
    start. Returns ``(sol, ii, jj, statuses, used, rounds, max_viol)`` with
    ``sol = (tau, lam, G, F)`` of the last round.
    """
    n = h.size
    ii, jj = np.nonzero(active)
    statuses: list[str] = []
    used_solvers: set[str] = set()
    value_guess = None
    rounds = 0
    accurate = accurate or solver != "CVXOPT"
    while True:
        rounds += 1
        t_sdp = time.perf_counter()
        tau1, lam, G1, F1, status, its, used = _solve_subset(
            h, ii, jj, solver, verbose, _IPM_TOL, value_guess, loose=not accurate
        )
        t_sdp = time.perf_counter() - t_sdp
        value_guess = tau1 if tau1 > 0 else None
        V = _violation_matrix(h, G1, F1)
        scale = max(abs(float(F1[-1])), abs(tau1), 1e-300)
        max_viol = float(np.max(V)) / scale
        used_solvers.add(used)
        if verbose:
            print(
                f"[pep] n={n} round {rounds} ({'accurate' if accurate else 'loose'}): "
                f"{ii.size} pairs, {its} iterations, {t_sdp:.2f} s ({used}), tau={tau1:.12g}, "
                f"f_n={F1[-1]:.12g}, max relative violation {max_viol:.2e}"
            )
        if accurate:
            statuses.append(status)
            if max_viol <= tol_f:
                break
            # close to the end: every pair violated above a tenth of the tolerance goes in, so
            # that solver noise at the tolerance does not cost one round per pair
            thr = tol_f / 10.0
        elif max_viol <= _SWITCH_TOL:
            if loose_only:
                break
            accurate = True
            continue
        else:
            thr = _SWITCH_TOL
        if rounds >= max_rounds:
            raise RuntimeError(
                f"constraint generation did not converge in max_rounds={max_rounds} rounds "
                f"(n={n}, {ii.size} pairs, max relative violation {max_viol:.2e})"
            )
        add = _select(
            V, active, thr * scale, per_point=_PER_POINT_ACCURATE if accurate else _PER_POINT
        )
        if not add.any():  # pragma: no cover - max_viol > thr implies a candidate
            accurate = True
            continue
        if not accurate and not loose_only and add.sum() < _SWITCH_FRACTION * ii.size:
            accurate = True
        active |= add
        ii, jj = np.nonzero(active)
    return (tau1, lam, G1, F1), ii, jj, statuses, used_solvers, rounds, max_viol


def _start_pairs(h, solver, verbose, max_rounds) -> tuple[np.ndarray, bool | None]:
    """Starting pair set of the main loop: :func:`_initial_pairs` unless it is far off.

    Below ``_WARM_MIN_N`` (or for solvers other than CVXOPT) returns ``(initial, False)``. Else
    the initial pairs are solved once loosely (``O(n)`` pairs, cheap); if that violates no pair
    by more than ``_SWITCH_TOL`` (relative; constant and other short steps, whose certificate
    lives on the initial pairs) returns ``(initial, True)``: the main loop goes straight to
    accurate rounds. Otherwise returns ``(initial, None)``: the caller predicts the pairs from
    the schedule's halves (:func:`_predicted_pairs`), which for short steps only adds pairs
    that slow down and degrade the solve.
    """
    n = h.size
    N = n + 2
    ii, jj = _initial_pairs(n)
    active = np.zeros((N, N), dtype=bool)
    active[ii, jj] = True
    if n < _WARM_MIN_N or solver != "CVXOPT":
        return active, False
    try:
        tau1, _, G1, F1, _, its = _solve_cvxopt(h, ii, jj, verbose, _LOOSE_IPM_TOL)
    except (RuntimeError, ArithmeticError, ValueError, ZeroDivisionError) as exc:
        # Long steps typically make the initial-pair problem (nearly) unbounded: no fallback
        # solver (Clarabel took 15 s on it at n = 63), just predict the pairs.
        if verbose:
            print(f"[pep] n={n} probe of the initial pairs failed ({exc}): predicting pairs")
        return active, None
    V = _violation_matrix(h, G1, F1)
    scale = max(abs(float(F1[-1])), abs(tau1), 1e-300)
    max_viol = float(np.max(V)) / scale
    if verbose:
        print(
            f"[pep] n={n} probe of the initial pairs (loose): {ii.size} pairs, {its} "
            f"iterations, max relative violation {max_viol:.2e}"
        )
    return active, (True if max_viol <= _SWITCH_TOL else None)


def _predicted_pairs(h, solver, verbose, max_rounds, cache) -> tuple[np.ndarray, int]:
    """Starting pair set for ``h`` predicted from the two halves of the schedule.

    For ``n >= _WARM_MIN_N`` the prefix ``h[:n//2]`` and the suffix ``h[n - n//2:]`` are
    solved first (recursively, loosely: :func:`_generate` with ``loose_only=True``); their pair
    sets are embedded (the prefix on ``x*, x_0..x_{n//2}``, the suffix's iterate pairs on the
    last ``n//2 + 1`` iterates), the points between the halves are paired with every point both
    ways, and :func:`_initial_pairs` is added. Self-similar schedules (silver, Grimmer's
    concatenations: ``[h', big, h']``) keep most of their halves' pairs. Identical halves are
    solved once (``cache``, keyed by the step tuple). Returns ``(active, sdp_count)``.
    """
    n = h.size
    N = n + 2
    active = np.zeros((N, N), dtype=bool)
    ii, jj = _initial_pairs(n)
    active[ii, jj] = True
    if n < _WARM_MIN_N:
        return active, 0
    count = 0
    n1 = n // 2
    subs = []
    for part in (h[:n1], h[n - n1 :]):
        key = part.tobytes()
        if key not in cache:
            sub, c = _predicted_pairs(part, solver, verbose, max_rounds, cache)
            *_, r, _ = _generate(part, sub, solver, verbose, _SWITCH_TOL, max_rounds, True)
            cache[key] = sub
            count += c + r
        subs.append(cache[key])
    A1, A2 = subs
    M = n1 + 2
    active[:M, :M] |= A1  # x*, x_0..x_{n1}
    off = n - n1  # suffix iterates x_{off}..x_n <- the half's x_0..x_{n1}
    active[1 + off :, 1 + off :] |= A2[1:, 1:]
    mid = np.arange(1 + n1, 2 + off)  # x_{n1}..x_{off}: the points between (or shared by) halves
    active[mid, :] = True
    active[:, mid] = True
    np.fill_diagonal(active, False)
    return active, count


def _worst_case_loop(h, L, R, method, solver, verbose, tol_f, max_rounds, t0, c0) -> PEPResult:
    n = h.size
    N = n + 2
    warm_sdps = 0
    if method == "full":
        ii, jj = _pairs(N)
        tau1, lam, G1, F1, status, its, used = _solve_subset(h, ii, jj, solver, verbose, _IPM_TOL)
        V = _violation_matrix(h, G1, F1)
        scale = max(abs(float(F1[-1])), abs(tau1), 1e-300)
        max_viol = float(np.max(V)) / scale
        statuses, used_solvers, rounds = [status], {used}, 1
    else:
        active, start_accurate = _start_pairs(h, solver, verbose, max_rounds)
        warm_sdps = int(n >= _WARM_MIN_N and solver == "CVXOPT")  # the probe
        if start_accurate is None:
            active, count = _predicted_pairs(h, solver, verbose, max_rounds, {})
            warm_sdps += count
        # A predicted start is nearly complete (at n = 127 it missed ~2% of the final pairs):
        # its rounds are accurate from the first one.
        sol, ii, jj, statuses, used_solvers, rounds, max_viol = _generate(
            h, active, solver, verbose, tol_f, max_rounds, accurate=start_accurate is not False
        )
        tau1, lam, G1, F1 = sol
    rounds += warm_sdps
    elapsed = time.perf_counter() - t0
    cpu = time.process_time() - c0
    status = "optimal" if all(s == "optimal" for s in statuses[-1:]) else "optimal_inaccurate"
    if status != "optimal":
        warnings.warn(
            f"PEP solve for n={n} returned status {status}; accuracy is reduced",
            RuntimeWarning,
            stacklevel=2,
        )
    ops = _PairOps(h, ii, jj)
    S1 = ops.combine(lam)
    S1[0, 0] += tau1
    mult = np.zeros((N, N))
    mult[ii, jj] = lam
    d = np.full(N, 1.0 / (L * R))
    d[0] = 1.0 / R
    S = (L * R * R) * (d[:, None] * S1 * d[None, :])
    return PEPResult(
        value=float(L * R * R * tau1),
        steps=h,
        L=L,
        R=R,
        multipliers=mult,
        tau=float(L * tau1),
        dual_psd=S,
        solver="+".join(sorted(used_solvers, key=lambda x: x != solver)),
        status=status,
        solve_time_s=float(elapsed),
        primal_value=float(L * R * R * F1[-1]),
        n_constraints=int(ii.size),
        rounds=int(rounds),
        method=method,
        cpu_time_s=float(cpu),
        max_violation=max_viol,
    )
