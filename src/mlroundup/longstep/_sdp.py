r"""A CVXOPT cone program whose semidefinite columns have rank at most 3.

Many SDPs of performance estimation have the form

.. math:: \min_x c^\top x \quad\text{s.t.}\quad G_l x \le h_l,\quad A x = b,\quad
          H_k - \sum_p x_p A^{(k)}_p \succeq 0 \;(k = 1, \dots, K),

where every column :math:`A^{(k)}_p` of a semidefinite block is a matrix
:math:`\operatorname{sym}(u v^\top) + c\, w w^\top` (rank :math:`\le 3`;
:math:`\operatorname{sym}(M) = (M + M^\top)/2`), with at most a few dense columns.
Interpolation inequalities of smooth convex functions are of this kind (one pair of points
gives :math:`u = g_j`, :math:`v = x_i - x_j`, :math:`w = g_i - g_j`, :math:`c = 1/2`).

:func:`solve_lowrank_conelp` hands such a program to CVXOPT's ``conelp`` with a custom KKT
solver.  With the Nesterov-Todd scaling :math:`W_k(Z) = r_k^\top Z r_k` of block
:math:`k`, the reduced KKT matrix is
:math:`H = G_l^\top D^{-2} G_l + \sum_k [\langle T_k(A_p), T_k(A_q)\rangle]_{pq}` with
:math:`T_k(Z) = \mathrm{rti}_k^\top Z\, \mathrm{rti}_k`, :math:`\mathrm{rti}_k = r_k^{-\top}`
(CVXOPT's ``rti``).  A congruence maps
:math:`\operatorname{sym}(uv^\top) + c\,ww^\top` to the same form in the scaled vectors
:math:`\tilde u = \mathrm{rti}^\top u` etc., so with the Gram blocks
:math:`UU = \tilde U^\top \tilde U, \dots`

.. math:: H^{(k)} = \tfrac12 (UU\circ VV + UV\circ UV^\top)
          + (UW\circ VW)\,\mathrm{diag}(c) + \mathrm{diag}(c)\,(UW\circ VW)^\top
          + \mathrm{diag}(c)\,(WW\circ WW)\,\mathrm{diag}(c),

which costs :math:`O(n^2 m + m^2 n)` per block instead of the :math:`O(m\,n^3)` (or
:math:`O(m^2 n^2)`) of a dense assembly, for :math:`m` columns of order :math:`n`.  The
equalities are eliminated on a null-space basis
:math:`P = [I; -A_B^{-1} A_N]` (basic columns from a pivoted QR of :math:`A`) and
:math:`P^\top H P` is factored by LAPACK's Cholesky (``potrf``; ``E`` kept sparse where it
is).  The solve runs with every loaded BLAS limited to one thread: NumPy's and SciPy's
separately bundled OpenBLAS pools, left at two threads each and alternating, slowed every
factorization 10-20x on a shared 2-core machine (t = 63 certificate: 1.4 s instead of 0.12 s
CPU per ``potrf``).

References
----------
L. Vandenberghe, "The CVXOPT linear and quadratic cone program solvers" (2010), §§4-6
(scaling, KKT systems).  The rank-structured Schur complement is the standard device of
structured SDP solvers (e.g. Benson, Ye, Zhang, "Solving large-scale sparse semidefinite
programs for combinatorial optimization", SIAM J. Optim. 10 (2000), for rank-one data).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from mlroundup.utils.threads import blas_threads

__all__ = ["LowRankBlock", "solve_lowrank_conelp"]


@dataclass
class LowRankBlock:
    r"""One semidefinite block :math:`H - \sum_p x_p A_p \succeq 0` of order ``n``.

    Attributes
    ----------
    cols : ndarray of int, shape (m,)
        Indices into the variable vector ``x`` of the low-rank columns.
    U, V, W : ndarray of float, shape (n, m)
        Column ``p`` is ``A_p = sym(U[:, p] V[:, p]^T) + coef[p] W[:, p] W[:, p]^T``.
    coef : ndarray of float, shape (m,)
        The weights ``c`` of the ``w w^T`` terms.
    h : ndarray of float, shape (n, n)
        Constant symmetric matrix ``H``.
    dense : list of (int, ndarray (n, n))
        Further columns given as dense symmetric matrices (variable index, matrix).
    """

    cols: np.ndarray
    U: np.ndarray
    V: np.ndarray
    W: np.ndarray
    coef: np.ndarray
    h: np.ndarray
    dense: list = field(default_factory=list)

    def __post_init__(self) -> None:
        self.cols = np.asarray(self.cols, dtype=np.int64)
        n = self.h.shape[0]
        m = self.cols.size
        for name in ("U", "V", "W"):
            if getattr(self, name).shape != (n, m):
                raise ValueError(
                    f"invalid LowRankBlock.{name}: expected shape {(n, m)}, "
                    f"got {getattr(self, name).shape}"
                )
        if self.h.shape != (n, n):
            raise ValueError(
                f"invalid LowRankBlock.h: expected a square matrix, got {self.h.shape}"
            )
        self.coef = np.asarray(self.coef, dtype=float).reshape(m)

    @property
    def n(self) -> int:
        return self.h.shape[0]

    def combine(self, x: np.ndarray) -> np.ndarray:
        """``sum_p x[cols[p]] A_p`` plus the dense columns, shape (n, n)."""
        xc = x[self.cols]
        S = (self.U * xc) @ self.V.T
        S = 0.5 * (S + S.T)
        S += (self.W * (xc * self.coef)) @ self.W.T
        for idx, M in self.dense:
            S += x[idx] * M
        return S

    def inner(self, Z: np.ndarray) -> np.ndarray:
        """``<A_p, Z>`` for every low-rank column (Z symmetric), shape (m,)."""
        ZV = Z @ self.V
        ZW = Z @ self.W
        return np.einsum("ip,ip->p", self.U, ZV) + self.coef * np.einsum("ip,ip->p", self.W, ZW)

    def schur(self, rti: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """``[<T(A_p), T(A_q)>]`` with ``T(Z) = rti^T Z rti``, shape (m, m).

        ``out`` (float64, shape (m, m), may be a view): the matrix is added to it (and
        returned) instead of being allocated. Built in column tiles of ``_TILE`` below the
        diagonal, each mirrored above it: every tile's Gram blocks are three products
        ``[U~; V~; W~][:, q:]^T [U~ V~ W~][:, tile]`` and its entrywise products stay in cache
        (1.8x faster than whole ``m x m`` Gram blocks at ``m = 2321``).
        """
        Ut = rti.T @ self.U
        Vt = rti.T @ self.V
        Wt = rti.T @ self.W
        c = self.coef
        m = c.size
        H = np.zeros((m, m)) if out is None else out
        buf = np.empty((2, m * _TILE))
        for j0 in range(0, m, _TILE):
            j1 = min(m, j0 + _TILE)
            b = j1 - j0
            r = m - j0
            R = np.concatenate([Ut[:, j0:j1], Vt[:, j0:j1], Wt[:, j0:j1]], axis=1)
            KU = Ut[:, j0:].T @ R  # [UU UV UW][j0:, tile]
            KV = Vt[:, j0:].T @ R  # [VU VV VW]
            KW = Wt[:, j0:].T @ R  # [WU WV WW]
            B = buf[0, : r * b].reshape(r, b)
            T = buf[1, : r * b].reshape(r, b)
            # 1/2 (UU o VV + UV o VU) + (UW o VW) diag(c) + diag(c) (WU o WV) + c c' o WW o WW
            np.multiply(KU[:, :b], KV[:, b : 2 * b], out=B)
            np.multiply(KU[:, b : 2 * b], KV[:, :b], out=T)
            B += T
            B *= 0.5
            np.multiply(KU[:, 2 * b :], KV[:, 2 * b :], out=T)
            T *= c[j0:j1]
            B += T
            np.multiply(KW[:, :b], KW[:, b : 2 * b], out=T)
            T *= c[j0:, None]
            B += T
            np.multiply(KW[:, 2 * b :], KW[:, 2 * b :], out=T)
            T *= c[j0:, None]
            T *= c[j0:j1]
            B += T
            H[j0:, j0:j1] += B
            H[j0:j1, j1:] += B[b:].T
        return H


# Column tile of LowRankBlock.schur: 64 columns of order-2000 blocks keep each tile's products
# in L2 (32-128 measured the same, 256 slower).
_TILE = 64


def solve_lowrank_conelp(
    c: np.ndarray,
    Gl,
    hl: np.ndarray,
    blocks: list[LowRankBlock],
    A: np.ndarray,
    b: np.ndarray,
    *,
    tol: float = 1e-8,
    maxiters: int = 100,
    refinement: int = 1,
    reg: float = 1e-12,
    verbose: bool = False,
) -> dict:
    r"""Solve a cone program with rank-structured semidefinite columns by CVXOPT ``conelp``.

    Parameters
    ----------
    c : ndarray of float, shape (nx,)
        Objective ``min c^T x``.
    Gl : scipy.sparse matrix, shape (nl, nx)
        Linear inequalities ``Gl x <= hl``.
    hl : ndarray of float, shape (nl,)
    blocks : list of LowRankBlock
        Semidefinite constraints ``h_k - sum_p x_p A_p >= 0`` (PSD).
    A : ndarray of float, shape (neq, nx)
        Equalities ``A x = b`` (full row rank).
    b : ndarray of float, shape (neq,)
    tol : float, default 1e-8
        CVXOPT's ``abstol``, ``reltol`` and ``feastol``.
    maxiters : int, default 100
    refinement : int, default 1
        CVXOPT's iterative refinement steps per KKT solve.
    reg : float, default 1e-12
        Relative diagonal shift applied to the reduced KKT matrix when its Cholesky
        factorization fails (rounding near the optimum).
    verbose : bool, default False
        Print CVXOPT's progress.

    Returns
    -------
    dict
        ``status`` (CVXOPT's: ``"optimal"`` or ``"unknown"``...), ``x`` (ndarray (nx,)) or
        None, ``iterations``, ``gap``, ``pinf``, ``dinf`` (CVXOPT's final residuals).

    Raises
    ------
    ValueError
        On inconsistent shapes.

    Notes
    -----
    The KKT system is solved as described in the module docstring: the dense reduced
    matrix ``H`` (``nx x nx``) is restricted to the null space of ``A`` and factored by
    Cholesky; a KKT matrix that has lost definiteness through rounding makes
    CVXOPT stop with its current iterate (status ``"unknown"``), which the caller judges
    by the returned residuals.

    The whole solve runs with the BLAS libraries limited to one thread
    (:func:`mlroundup.utils.threads.blas_threads`; restored on return): its products are small
    or memory-bound, and on a shared 2-core machine OpenBLAS's spinning workers made each
    factorization many times slower (0.3-0.5 s instead of 9 ms alone).
    """
    # The BLAS pools are loaded first: threadpoolctl limits only the libraries already loaded,
    # and SciPy's OpenBLAS (potrf, QR) would otherwise keep its spinning threads.
    import cvxopt  # noqa: F401
    import scipy.linalg  # noqa: F401

    with blas_threads(1):
        return _solve_lowrank_conelp(
            c, Gl, hl, blocks, A, b, tol, maxiters, refinement, reg, verbose
        )


def _solve_lowrank_conelp(c, Gl, hl, blocks, A, b, tol, maxiters, refinement, reg, verbose):
    """:func:`solve_lowrank_conelp` without the thread limit."""
    import scipy.sparse as sp
    from cvxopt import matrix, solvers, spmatrix

    c = np.asarray(c, dtype=float).ravel()
    nx = c.size
    Gl = sp.csr_matrix(Gl)
    hl = np.asarray(hl, dtype=float).ravel()
    A = np.asarray(A, dtype=float)
    b = np.asarray(b, dtype=float).ravel()
    if Gl.shape[1] != nx or Gl.shape[0] != hl.size:
        raise ValueError(f"invalid Gl/hl: shapes {Gl.shape} and {hl.shape} for nx={nx}")
    if A.shape != (b.size, nx):
        raise ValueError(f"invalid A/b: shapes {A.shape} and {b.shape} for nx={nx}")
    nl = hl.size
    ns = [blk.n for blk in blocks]
    offs = np.concatenate([[nl], nl + np.cumsum([k * k for k in ns])]).astype(int)
    GlT = Gl.T.tocsr()
    Bi, Ni, AB_inv, E = _null_space_basis(A)
    # block columns that form a contiguous range are added to H through a slice
    spans = [_as_span(blk.cols) for blk in blocks]

    def sym_lower(v: np.ndarray, n: int) -> np.ndarray:
        Z = v.reshape(n, n, order="F")
        return np.tril(Z) + np.tril(Z, -1).T

    def G_apply(x, y, alpha=1.0, beta=0.0, trans="N"):
        xv = np.asarray(x).ravel()
        yv = np.asarray(y).ravel()
        if trans == "N":
            out = np.empty(offs[-1])
            out[:nl] = Gl @ xv
            for k, blk in enumerate(blocks):
                out[offs[k] : offs[k + 1]] = blk.combine(xv).reshape(-1, order="F")
        else:
            out = GlT @ xv[:nl]
            for k, blk in enumerate(blocks):
                Z = sym_lower(xv[offs[k] : offs[k + 1]], blk.n)
                np.add.at(out, blk.cols, blk.inner(Z))
                for idx, M in blk.dense:
                    out[idx] += float(np.sum(M * Z))
        res = alpha * out + (beta * yv if beta else 0.0)
        y[:] = matrix(res)

    def kktsolver(W):
        d = np.array(W["d"]).ravel()
        rtis = [np.array(r) for r in W["rti"]]
        Qs = [rt @ rt.T for rt in rtis]
        Gd = sp.diags(1.0 / d) @ Gl
        H = (Gd.T @ Gd).toarray()
        for blk, rt, span in zip(blocks, rtis, spans, strict=True):
            if span is not None:
                blk.schur(rt, out=H[span, span])
            else:
                H[np.ix_(blk.cols, blk.cols)] += blk.schur(rt)
            if blk.dense:
                # dense columns: <T(M), T(A_p)> = <rti^T M rti, sym(u~ v~^T) + c w~ w~^T>
                Ut, Vt, Wt = rt.T @ blk.U, rt.T @ blk.V, rt.T @ blk.W
                for idx, M in blk.dense:
                    Y = rt.T @ M @ rt
                    hv = np.einsum("ip,ip->p", Ut, Y @ Vt) + blk.coef * np.einsum(
                        "ip,ip->p", Wt, Y @ Wt
                    )
                    H[idx, blk.cols] += hv
                    H[blk.cols, idx] += hv
                    for idx2, M2 in blk.dense:
                        H[idx, idx2] += float(np.sum(Y * (rt.T @ M2 @ rt)))

        # Eliminate the equalities: x = xp + P w, P = [I_N; -A_B^{-1} A_N] (basic columns B
        # chosen once, see _null_space_basis), then Cholesky of P^T H P.  H alone may be
        # singular (dependent columns controlled only through A); P^T H P is not.
        def reduced() -> np.ndarray:
            Hred = H[np.ix_(Ni, Ni)]
            C = np.asarray(E.T @ H[np.ix_(Bi, Ni)])  # E^T H_BN, (nN, nN)
            Hred -= C
            Hred -= C.T
            del C
            Hred += np.asarray(np.asarray(E.T @ H[np.ix_(Bi, Bi)]) @ E)  # E^T H_BB E
            return Hred

        Hred = reduced()
        diag_max = float(np.abs(np.diag(Hred)).max())
        Lc = _cholesky(Hred)  # overwrites Hred
        if Lc is None:
            # rounding has made P^T H P lose definiteness: a tiny diagonal shift, corrected by
            # CVXOPT's iterative refinement against the exact operators
            Hred = reduced()
            dg = np.arange(Hred.shape[0])
            Hred[dg, dg] += reg * diag_max
            Lc = _cholesky(Hred)
            if Lc is None:
                raise ArithmeticError("singular KKT matrix")
        del Hred

        def solve(x, y, z):
            bx = np.asarray(x).ravel().copy()
            by = np.asarray(y).ravel().copy()
            zv = np.asarray(z).ravel()
            bzl = zv[:nl]
            # r1 = bx + G^T W^{-1} W^{-T} bz
            r1 = bx + GlT @ (bzl / d**2)
            Bzs = []
            for k, blk in enumerate(blocks):
                Bz = sym_lower(zv[offs[k] : offs[k + 1]], blk.n)
                Bzs.append(Bz)
                QBQ = Qs[k] @ Bz @ Qs[k]
                np.add.at(r1, blk.cols, blk.inner(QBQ))
                for idx, M in blk.dense:
                    r1[idx] += float(np.sum(M * QBQ))
            # [H A^T; A 0] [ux; uy] = [r1; by] on x = xp + P w
            ux = np.zeros(nx)
            ux[Bi] = AB_inv @ by
            rr = r1 - H @ ux
            w = _cho_solve(Lc, rr[Ni] - E.T @ rr[Bi])
            ux[Ni] += w
            ux[Bi] -= E @ w
            uy = AB_inv.T @ (r1 - H @ ux)[Bi]
            # W uz = W^{-T} (G ux - bz)
            zl = (Gl @ ux - bzl) / d
            x[:] = matrix(ux)
            y[:] = matrix(uy)
            z[:nl] = matrix(zl)
            for k, blk in enumerate(blocks):
                Ms = blk.combine(ux) - Bzs[k]
                ws = rtis[k].T @ Ms @ rtis[k]
                z[offs[k] : offs[k + 1]] = matrix(ws.reshape(-1, order="F"))

        return solve

    h_cv = np.concatenate([hl] + [blk.h.reshape(-1, order="F") for blk in blocks])
    rA, cA = np.nonzero(A)
    A_cv = spmatrix(A[rA, cA].tolist(), rA.tolist(), cA.tolist(), A.shape)
    dims = {"l": nl, "q": [], "s": ns}
    opts = {
        "show_progress": bool(verbose),
        "abstol": tol,
        "reltol": tol,
        "feastol": tol,
        "maxiters": int(maxiters),
        "refinement": int(refinement),
    }
    sol = solvers.conelp(
        matrix(c), G_apply, matrix(h_cv), dims, A_cv, matrix(b), kktsolver=kktsolver, options=opts
    )
    x = None if sol["x"] is None else np.asarray(sol["x"]).ravel()
    return {
        "status": sol["status"],
        "x": x,
        "iterations": int(sol["iterations"]),
        "gap": sol.get("relative gap"),
        "pinf": sol.get("primal infeasibility"),
        "dinf": sol.get("dual infeasibility"),
    }


def _null_space_basis(A: np.ndarray):
    """Basic columns ``B`` of ``A`` (full row rank, pivoted QR), the others ``N``,
    ``A_B^{-1}`` and ``E = A_B^{-1} A_N``.

    The pivoting takes the largest columns first, so ``|E| <= 1`` typically and ``P^T H P``
    stays well conditioned. For flow-conservation rows (incidence matrices: ``E``'s column of
    a pair is the tree path between its points) ``E`` is sparse; below 25% nonzeros it is
    returned as a ``scipy.sparse.csr_array`` (entries under ``1e-13 max|E|``, rounding of
    exact zeros, dropped), and ``P^T H P`` then costs ``O(nx nnz(E))`` beyond the
    ``O(nN^2)`` copy instead of ``O(nx nN neq)``.
    """
    import scipy.linalg as sla
    import scipy.sparse as sp

    neq, nx = A.shape
    _, _, piv = sla.qr(A, mode="economic", pivoting=True)
    Bi = np.sort(piv[:neq])
    Ni = np.setdiff1d(np.arange(nx), Bi)
    AB_inv = np.linalg.inv(A[:, Bi])
    E = AB_inv @ A[:, Ni]
    keep = np.abs(E) > 1e-13 * float(np.abs(E).max(initial=0.0))
    if keep.mean() < 0.25:
        E = sp.csr_array(np.where(keep, E, 0.0))
    return Bi, Ni, AB_inv, E


def _as_span(cols: np.ndarray) -> slice | None:
    """``cols`` as a slice when it is a contiguous increasing range, else None."""
    if cols.size and np.array_equal(cols, np.arange(cols[0], cols[0] + cols.size)):
        return slice(int(cols[0]), int(cols[0]) + cols.size)
    return None


def _cholesky(M: np.ndarray) -> np.ndarray | None:
    """Cholesky factor of the symmetric C-contiguous ``M`` (LAPACK ``potrf`` on ``M.T``, the
    same matrix in Fortran order, so no copy; one triangle is read, ``M`` is overwritten);
    None if ``M`` is not positive definite. Use with :func:`_cho_solve`."""
    from scipy.linalg import lapack

    c, info = lapack.dpotrf(M.T, lower=1, clean=1, overwrite_a=1)
    return c if info == 0 else None


def _cho_solve(Lc: np.ndarray, r: np.ndarray) -> np.ndarray:
    """Solve ``L L^T x = r`` with the factor of :func:`_cholesky` (LAPACK ``potrs``)."""
    from scipy.linalg import lapack

    x, info = lapack.dpotrs(Lc, r, lower=1)
    if info != 0:  # pragma: no cover - potrs fails only on invalid arguments
        raise ArithmeticError(f"potrs failed (info={info})")
    return x
