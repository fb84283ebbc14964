"""Real-data smooth convex problems and a convergence study of long-step schedules.

Datasets are scikit-learn's *bundled* ones (``load_diabetes``, ``load_breast_cancer``,
``load_digits``; never ``fetch_*``), so nothing is downloaded. scikit-learn and SciPy are imported
inside the functions that need them.

Conventions (all problems)
--------------------------
* Features are standardized: each column centered to mean 0 and scaled to standard deviation 1
  (population std, ``ddof=0``); constant columns (zero std, e.g. blank border pixels of digits)
  are dropped. Logistic problems append an all-ones intercept column *after* standardization.
* Losses are averaged over the ``m`` samples; the L2 term is ``(lam/2) ||w||^2`` and penalizes
  every coordinate, the intercept included (so the objective is exactly what is written).
* ``x0 = 0``.
* ``L`` is the exact smoothness constant (the supremum of the Hessian's largest eigenvalue):
  least squares ``L = ||A||_2^2 / m + lam`` (the Hessian is constant); logistic
  ``L = ||A||_2^2 / (4 m) + lam`` -- the logistic weights ``s(1-s)`` are at most 1/4 and equal
  1/4 at ``w = 0``, so the bound is attained there and is not merely an upper bound.
* ``f_star``: least squares by a closed form (``numpy.linalg.lstsq`` / a Cholesky solve);
  logistic regression by SciPy L-BFGS-B (gradient tolerance 1e-7) followed by damped Newton steps
  with the exact Hessian until the gradient norm stops decreasing (it ends near 1e-15). On *linearly separable* data (breast cancer,
  standardized, with intercept, is separable -- checked by an LP) unregularized logistic loss has
  infimum 0 and no minimizer; we then set ``f_star = 0.0`` with ``f_star_attained = False`` and
  the relative gap is ``f(x)/f(x_0)``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from mlroundup.longstep.schedules import schedule as _schedule
from mlroundup.longstep.solvers import History, fista, gradient_descent

__all__ = [
    "Problem",
    "convergence_study",
    "default_study_schedules",
    "is_linearly_separable",
    "least_squares_problem",
    "logistic_problem",
    "real_problems",
    "standardize",
]


@dataclass
class Problem:
    """A smooth convex test problem ``min_w f(w)``.

    Attributes
    ----------
    name : str
        Short identifier, e.g. ``"diabetes-ls"``.
    f : callable
        ``f(w) -> float``.
    grad : callable
        ``grad(w) -> ndarray``, shape ``(d,)``.
    L : float
        Exact smoothness constant (see the module notes).
    x0 : numpy.ndarray, shape (d,)
        Starting point (zeros).
    f_star : float
        Optimal value (or infimum, see ``f_star_attained``).
    description : str
        One-line description with data shape, loss and regularization.
    x_star : numpy.ndarray or None
        A minimizer, where one exists.
    f_star_attained : bool
        False when ``f_star`` is an infimum approached only as ``||w|| -> inf``.
    data : dict
        ``A`` (m, d) design matrix, ``b`` (m,) targets or +-1 labels, ``lam``, ``kind``.
    """

    name: str
    f: Callable[[np.ndarray], float]
    grad: Callable[[np.ndarray], np.ndarray]
    L: float
    x0: np.ndarray
    f_star: float
    description: str
    x_star: np.ndarray | None = None
    f_star_attained: bool = True
    data: dict = field(default_factory=dict, repr=False)


def standardize(X: np.ndarray) -> np.ndarray:
    """Center and scale each column to unit (population) standard deviation; drop constant ones.

    Parameters
    ----------
    X : numpy.ndarray, shape (m, p)

    Returns
    -------
    numpy.ndarray, shape (m, p'), float64
        ``p' <= p`` columns (those with non-zero standard deviation).

    Raises
    ------
    ValueError
        If ``X`` is not 2-D or contains non-finite values.
    """
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2:
        raise ValueError(f"invalid X of shape {X.shape}: must be 2-D")
    if not np.all(np.isfinite(X)):
        raise ValueError("invalid X: contains non-finite values")
    sd = X.std(axis=0)
    keep = sd > 0
    return (X[:, keep] - X[:, keep].mean(axis=0)) / sd[keep]


def _check_lam(lam: object) -> float:
    try:
        v = float(lam)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValueError(f"invalid lam={lam!r}: must be a finite number >= 0") from None
    if not math.isfinite(v) or v < 0:
        raise ValueError(f"invalid lam={lam!r}: must be finite and >= 0")
    return v


def _check_design(A: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    A = np.asarray(A, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if A.ndim != 2 or A.shape[0] == 0 or A.shape[1] == 0:
        raise ValueError(f"invalid A of shape {A.shape}: must be 2-D and non-empty")
    if b.shape != (A.shape[0],):
        raise ValueError(f"invalid b of shape {b.shape}: must be ({A.shape[0]},) to match A")
    if not (np.all(np.isfinite(A)) and np.all(np.isfinite(b))):
        raise ValueError("invalid A or b: contains non-finite values")
    return A, b


def least_squares_problem(
    name: str, A: np.ndarray, b: np.ndarray, lam: float = 0.0, description: str = ""
) -> Problem:
    """``f(w) = ||A w - b||^2 / (2m) + (lam/2) ||w||^2`` with exact ``L`` and closed-form ``f*``.

    Parameters
    ----------
    name : str
        Problem name.
    A : numpy.ndarray, shape (m, d)
        Design matrix.
    b : numpy.ndarray, shape (m,)
        Targets.
    lam : float
        L2 weight (>= 0).
    description : str
        Free text.

    Returns
    -------
    Problem

    Raises
    ------
    ValueError
        On shape mismatch, non-finite data or ``lam < 0``.

    Notes
    -----
    Hessian ``H = A^T A / m + lam I`` (constant), so ``L = lambda_max(H) = ||A||_2^2/m + lam``.
    Minimizer: ``lstsq(A, b)`` (minimum-norm) for ``lam = 0``; otherwise the Cholesky solution of
    ``(A^T A/m + lam I) w = A^T b / m``.
    """
    A, b = _check_design(A, b)
    lam = _check_lam(lam)
    m, d = A.shape
    L = _lambda_max_gram(A) / m + lam

    def f(w: np.ndarray) -> float:
        r = A @ w - b
        return float(r @ r / (2 * m) + 0.5 * lam * (w @ w))

    def grad(w: np.ndarray) -> np.ndarray:
        return A.T @ (A @ w - b) / m + lam * w

    if lam == 0:
        x_star = np.linalg.lstsq(A, b, rcond=None)[0]
    else:
        import scipy.linalg

        H = A.T @ A / m + lam * np.eye(d)
        x_star = scipy.linalg.cho_solve(scipy.linalg.cho_factor(H), A.T @ b / m)
    return Problem(
        name=name,
        f=f,
        grad=grad,
        L=L,
        x0=np.zeros(d),
        f_star=f(x_star),
        description=description or f"least squares, m={m}, d={d}, lam={lam:g}",
        x_star=x_star,
        data={"A": A, "b": b, "lam": lam, "kind": "least_squares"},
    )


def is_linearly_separable(A: np.ndarray, y: np.ndarray) -> bool:
    """Whether some ``w`` has ``y_i a_i^T w >= 1`` for all ``i`` (strict linear separability).

    Parameters
    ----------
    A : numpy.ndarray, shape (m, d)
        Features (include an intercept column if one is used).
    y : numpy.ndarray, shape (m,)
        Labels in {-1, +1}.

    Returns
    -------
    bool

    Notes
    -----
    Feasibility LP solved with SciPy's HiGHS. For separable data the unregularized logistic loss
    has infimum 0, approached along ``t w`` as ``t -> inf``, and no minimizer.
    """
    from scipy.optimize import linprog

    A, y = _check_design(A, y)
    m, d = A.shape
    res = linprog(
        np.zeros(d),
        A_ub=-(y[:, None] * A),
        b_ub=-np.ones(m),
        bounds=[(None, None)] * d,
        method="highs",
    )
    return bool(res.status == 0)


def _logistic_parts(A: np.ndarray, y: np.ndarray, lam: float):
    m = A.shape[0]
    Ay = y[:, None] * A
    cache: dict[str, np.ndarray] = {}

    def margins(w: np.ndarray) -> np.ndarray:
        # f and grad are usually called at the same point: reuse z = diag(y) A w.
        last = cache.get("w")
        if last is None or last.shape != w.shape or not np.array_equal(last, w):
            cache["w"] = np.array(w, dtype=np.float64, copy=True)
            cache["z"] = Ay @ w
        return cache["z"]

    def f(w: np.ndarray) -> float:
        z = margins(w)
        return float(np.mean(np.logaddexp(0.0, -z)) + 0.5 * lam * (w @ w))

    def grad(w: np.ndarray) -> np.ndarray:
        z = margins(w)
        # d/dz log(1 + e^{-z}) = -sigmoid(-z); sigmoid(-z) = (1 - tanh(z/2))/2 never overflows
        s = 0.5 * (1.0 - np.tanh(0.5 * z))
        return -(Ay.T @ s) / m + lam * w

    def hess(w: np.ndarray) -> np.ndarray:
        z = Ay @ w
        s = 0.5 * (1.0 - np.tanh(0.5 * z))
        wts = s * (1.0 - s)
        return (A.T * wts) @ A / m + lam * np.eye(A.shape[1])

    return f, grad, hess


def _lambda_max_gram(A: np.ndarray) -> float:
    """``||A||_2^2`` as the largest eigenvalue of the d x d Gram matrix ``A^T A``."""
    return float(np.linalg.eigvalsh(A.T @ A)[-1])


def _logistic_minimize(f, grad, hess, d: int) -> np.ndarray:
    from scipy.optimize import minimize

    res = minimize(
        f,
        np.zeros(d),
        jac=grad,
        method="L-BFGS-B",
        options={"maxiter": 5000, "gtol": 1e-7, "ftol": 1e-14},
    )
    w = np.asarray(res.x, dtype=np.float64)
    # Newton polishing with the exact Hessian and a backtracking safeguard.
    gn = float(np.linalg.norm(grad(w)))
    for _ in range(50):
        g = grad(w)
        step = np.linalg.solve(hess(w), g)
        t, fw = 1.0, f(w)
        while t > 1e-8 and f(w - t * step) > fw + 1e-15 * abs(fw):
            t *= 0.5
        w_new = w - t * step
        gn_new = float(np.linalg.norm(grad(w_new)))
        if gn_new >= gn:
            break
        w, gn = w_new, gn_new
        if gn < 1e-14:
            break
    return w


def logistic_problem(
    name: str, A: np.ndarray, y: np.ndarray, lam: float = 0.0, description: str = ""
) -> Problem:
    """``f(w) = mean_i log(1 + exp(-y_i a_i^T w)) + (lam/2) ||w||^2``.

    Parameters
    ----------
    name : str
        Problem name.
    A : numpy.ndarray, shape (m, d)
        Features (with an intercept column if wanted).
    y : numpy.ndarray, shape (m,)
        Labels in {-1, +1}.
    lam : float
        L2 weight (>= 0).
    description : str
        Free text.

    Returns
    -------
    Problem

    Raises
    ------
    ValueError
        On shape mismatch, labels outside {-1, +1}, non-finite data or ``lam < 0``.

    Notes
    -----
    Hessian ``A^T diag(s_i (1 - s_i)) A / m + lam I`` with ``s_i (1 - s_i) <= 1/4``, equality at
    ``w = 0``; hence the exact smoothness constant is ``L = ||A||_2^2 / (4m) + lam``. ``f_star`` by
    L-BFGS-B + Newton; if ``lam = 0`` and the data is linearly separable, ``f_star = 0`` is an
    unattained infimum (``x_star = None``, ``f_star_attained = False``).
    """
    A, y = _check_design(A, y)
    lam = _check_lam(lam)
    if not np.all(np.isin(y, (-1.0, 1.0))):
        raise ValueError("invalid y: labels must be -1 or +1")
    m, d = A.shape
    f, grad, hess = _logistic_parts(A, y, lam)
    L = _lambda_max_gram(A) / (4 * m) + lam
    if lam == 0 and is_linearly_separable(A, y):
        x_star, f_star, attained = None, 0.0, False
    else:
        x_star = _logistic_minimize(f, grad, hess, d)
        f_star, attained = f(x_star), True
    return Problem(
        name=name,
        f=f,
        grad=grad,
        L=L,
        x0=np.zeros(d),
        f_star=float(f_star),
        description=description or f"logistic regression, m={m}, d={d}, lam={lam:g}",
        x_star=x_star,
        f_star_attained=attained,
        data={"A": A, "b": y, "lam": lam, "kind": "logistic", "hess": hess},
    )


#: L2 weight used by the regularized variants of :func:`real_problems`.
DEFAULT_LAM = 1e-2
#: The digit treated as the positive class in the one-vs-rest digits problems (8 vs rest is not
#: linearly separable after standardization, so its unregularized minimizer exists).
DIGITS_POSITIVE = 8


@lru_cache(maxsize=2)
def _real_problems_cached(lam: float) -> tuple[Problem, ...]:
    from sklearn.datasets import load_breast_cancer, load_diabetes, load_digits

    out: list[Problem] = []
    X, t = load_diabetes(return_X_y=True)
    A = standardize(X)
    b = (t - t.mean()) / t.std()
    m, d = A.shape
    for lam_, suffix in ((0.0, "ls"), (lam, "ridge")):
        out.append(
            least_squares_problem(
                f"diabetes-{suffix}",
                A,
                b,
                lam_,
                f"diabetes (m={m}, d={d}) least squares on the standardized target, "
                f"lam={lam_:g}; f* closed form",
            )
        )
    X, t = load_breast_cancer(return_X_y=True)
    A = np.c_[standardize(X), np.ones(X.shape[0])]
    y = np.where(t == 1, 1.0, -1.0)
    m, d = A.shape
    for lam_, suffix in ((0.0, "logreg"), (lam, "logreg-l2")):
        out.append(
            logistic_problem(
                f"breast-cancer-{suffix}",
                A,
                y,
                lam_,
                f"breast cancer (m={m}, d={d} incl. intercept) logistic regression, lam={lam_:g}",
            )
        )
    X, t = load_digits(return_X_y=True)
    A = np.c_[standardize(X), np.ones(X.shape[0])]
    y = np.where(t == DIGITS_POSITIVE, 1.0, -1.0)
    m, d = A.shape
    for lam_, suffix in ((0.0, "logreg"), (lam, "logreg-l2")):
        out.append(
            logistic_problem(
                f"digits{DIGITS_POSITIVE}-{suffix}",
                A,
                y,
                lam_,
                f"digits {DIGITS_POSITIVE}-vs-rest (m={m}, d={d} incl. intercept, constant pixels "
                f"dropped) logistic regression, lam={lam_:g}",
            )
        )
    for p in out:
        if not p.f_star_attained:
            p.description += "; data linearly separable: f* = 0 is an unattained infimum"
    return tuple(out)


def real_problems(lam: float = DEFAULT_LAM) -> list[Problem]:
    """Six real-data convex problems from scikit-learn's bundled datasets.

    Parameters
    ----------
    lam : float
        L2 weight of the regularized variants (> 0).

    Returns
    -------
    list of Problem
        ``diabetes-ls``, ``diabetes-ridge`` (least squares, 442 x 10), ``breast-cancer-logreg``,
        ``breast-cancer-logreg-l2`` (569 x 31), ``digits8-logreg``, ``digits8-logreg-l2``
        (1797 x 62). Cached per ``lam``; the problems are immutable in practice (do not modify
        their arrays).

    Raises
    ------
    ValueError
        If ``lam`` is not finite and > 0.

    Notes
    -----
    See the module docstring for standardization, ``L`` and ``f*``. The unregularized breast
    cancer problem is linearly separable (``f* = 0`` unattained).
    """
    lam_ = _check_lam(lam)
    if lam_ == 0:
        raise ValueError(
            f"invalid lam={lam!r}: must be > 0 (the unregularized variants are included)"
        )
    return list(_real_problems_cached(lam_))


def default_study_schedules(
    names: Iterable[str] = ("constant", "silver", "obs-f", "grimmer-7", "grimmer-31"),
    n: int = 2000,
) -> dict[str, np.ndarray]:
    """Schedules of length ``n`` for :func:`convergence_study`, from :func:`schedule`.

    Parameters
    ----------
    names : iterable of str
        Schedule names.
    n : int
        Horizon (``obs-f``/``obs-g`` are built for this horizon; Grimmer patterns repeat).

    Returns
    -------
    dict
        ``name -> ndarray of shape (n,)``.
    """
    return {name: _schedule(name, n) for name in names}


def _run_method(
    prob: Problem, steps: np.ndarray | Callable[[int], float] | None, tol: float, max_iter: int
) -> History:
    """GD with ``steps`` (FISTA when ``steps is None``) on ``prob``, stopping at relative gap tol."""
    if steps is None:
        return fista(prob.f, prob.grad, prob.x0, prob.L, max_iter, tol=tol, f_star=prob.f_star)
    return gradient_descent(
        prob.f, prob.grad, prob.x0, prob.L, steps, tol=tol, f_star=prob.f_star, max_iter=max_iter
    )


def convergence_study(
    problems: Sequence[Problem],
    schedules: dict[str, np.ndarray | Sequence[float] | Callable[[int], float]],
    tol: float = 1e-6,
    max_iter: int = 2000,
    include_fista: bool = True,
    progress: Callable[[str], None] | None = None,
) -> list[dict]:
    """Iterations each schedule needs to reach a relative gap ``tol`` on each problem.

    Parameters
    ----------
    problems : sequence of Problem
        E.g. :func:`real_problems`.
    schedules : dict
        ``method name -> steps``: an array of normalized steps (**cycled** to ``max_iter`` when
        shorter, truncated when longer -- so a Grimmer pattern is repeated) or a callable
        ``k -> h_k``.
    tol : float
        Target relative gap ``(f(x_k) - f*) / (f(x_0) - f*)`` (> 0).
    max_iter : int
        Iteration budget per run (>= 1).
    include_fista : bool
        Also run FISTA (method name ``"fista"``).
    progress : callable, optional
        Called with a short message after every run.

    Returns
    -------
    list of dict
        One row per (problem, method) with keys ``problem``, ``method``, ``iterations`` (first
        ``k`` with relative gap <= ``tol``, or ``None`` if not reached within ``max_iter``),
        ``final_gap`` (``f(x_last) - f*``), ``final_rel_gap``, ``max_iter``, ``tol``,
        ``f_star_attained``, ``seconds`` and ``history`` (:class:`History`; runs stop at the
        first iterate reaching ``tol``; for figures of ``f - f*`` against the iteration).

    Raises
    ------
    ValueError
        For ``tol <= 0``, ``max_iter < 1``, an empty schedule, or invalid steps.

    Notes
    -----
    Each GD iteration costs one gradient; FISTA's recorded ``f(x_k)`` costs one extra gradient
    per iteration (for the recorded gradient norm) but is counted as one iteration.
    """
    if not (isinstance(tol, int | float) and math.isfinite(tol) and tol > 0):
        raise ValueError(f"invalid tol={tol!r}: must be finite and > 0")
    if isinstance(max_iter, bool) or not isinstance(max_iter, int | np.integer) or max_iter < 1:
        raise ValueError(f"invalid max_iter={max_iter!r}: must be an integer >= 1")
    prepared: dict[str, np.ndarray | Callable[[int], float]] = {}
    for name, steps in schedules.items():
        if callable(steps):
            prepared[name] = steps
            continue
        arr = np.asarray(steps, dtype=np.float64)
        if arr.ndim != 1 or arr.size == 0:
            raise ValueError(
                f"invalid schedule {name!r} of shape {arr.shape}: must be 1-D, non-empty"
            )
        prepared[name] = np.resize(arr, int(max_iter))
    rows: list[dict] = []
    for prob in problems:
        denom = prob.f(prob.x0) - prob.f_star
        methods: list[tuple[str, np.ndarray | Callable[[int], float] | None]] = list(
            prepared.items()
        )
        if include_fista:
            methods.append(("fista", None))
        for name, steps in methods:
            t0 = time.perf_counter()
            hist = _run_method(prob, steps, tol, int(max_iter))
            secs = time.perf_counter() - t0
            gap = hist.f - prob.f_star
            rel = gap / denom
            hit = np.flatnonzero(gap <= tol * denom)  # same test as the solvers' early stop
            rows.append(
                {
                    "problem": prob.name,
                    "method": name,
                    "iterations": int(hit[0]) if hit.size else None,
                    "final_gap": float(hist.f[-1] - prob.f_star),
                    "final_rel_gap": float(rel[-1]),
                    "max_iter": int(max_iter),
                    "tol": float(tol),
                    "f_star_attained": prob.f_star_attained,
                    "seconds": secs,
                    "history": hist,
                }
            )
            if progress is not None:
                it = rows[-1]["iterations"]
                progress(
                    f"{prob.name} / {name}: {'not reached' if it is None else it} ({secs:.2f}s)"
                )
    return rows
