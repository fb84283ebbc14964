"""Gradient descent with arbitrary step-size schedules, and FISTA, in NumPy.

References
----------
.. [BT09] A. Beck, M. Teboulle, "A Fast Iterative Shrinkage-Thresholding Algorithm for Linear
   Inverse Problems", SIAM J. Imaging Sci. 2(1), 2009, Section 4 (FISTA with constant step) and
   Theorem 4.4 (rate ``2 L ||x_0 - x_*||^2 / (k + 1)^2``).
.. [N83] Y. Nesterov, "A method for solving the convex programming problem with convergence rate
   O(1/k^2)", Soviet Math. Dokl. 27, 1983.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from mlroundup.longstep._checks import positive

__all__ = ["History", "constant_step_gd", "fista", "gradient_descent"]

Objective = Callable[[np.ndarray], float]
Gradient = Callable[[np.ndarray], np.ndarray]
StepSpec = Sequence[float] | np.ndarray | Callable[[int], float]


@dataclass
class History:
    """Trace of a first-order method.

    Attributes
    ----------
    f : numpy.ndarray, shape (k+1,), float64
        ``f(x_0), ..., f(x_k)`` at the recorded iterates.
    grad_norm : numpy.ndarray, shape (k+1,), float64
        ``||grad f(x_j)||_2`` at the same iterates.
    step : numpy.ndarray, shape (k,), float64
        Normalized steps ``h_j`` used (the actual step is ``h_j / L``); for FISTA all ones.
    x_final : numpy.ndarray
        The last iterate ``x_k`` (same shape as ``x0``).
    L : float
        Smoothness constant used.
    stopped : str
        ``"max_iter"`` (ran the full schedule / budget), ``"tol"`` (tolerance reached) or
        ``"nonfinite"`` (f or the gradient became inf/NaN; the trace ends at the last finite
        iterate).
    """

    f: np.ndarray
    grad_norm: np.ndarray
    step: np.ndarray
    x_final: np.ndarray
    L: float
    stopped: str = "max_iter"
    meta: dict = field(default_factory=dict)

    @property
    def iterations(self) -> int:
        """Number of steps taken (``len(step)``)."""
        return int(self.step.shape[0])

    def gap(self, f_star: float) -> np.ndarray:
        """Return ``f - f_star`` for every recorded iterate, shape (k+1,)."""
        return self.f - float(f_star)


def _check_L(L: object) -> float:
    return positive(L, "L")


def _check_x0(x0: object) -> np.ndarray:
    x = np.array(x0, dtype=np.float64, copy=True)
    if x.size == 0:
        raise ValueError(f"invalid x0 of shape {x.shape}: must be non-empty")
    if not np.all(np.isfinite(x)):
        bad = np.flatnonzero(~np.isfinite(x.ravel()))[0]
        raise ValueError(f"invalid x0: entry {bad} is {float(x.ravel()[bad])!r}; must be finite")
    return x


def _check_step(h: object, k: int) -> float:
    return positive(h, f"step size h[{k}]")


def _check_opt_pos(value: object, name: str) -> float | None:
    return None if value is None else positive(value, name)


def _check_int(value: object, name: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 0:
        raise ValueError(f"invalid {name}={value!r}: must be a non-negative integer")
    return int(value)


def _eval(f: Objective, grad: Gradient, x: np.ndarray) -> tuple[float, np.ndarray]:
    fx = float(f(x))
    g = np.asarray(grad(x), dtype=np.float64)
    if g.shape != x.shape:
        raise ValueError(f"invalid grad output of shape {g.shape}: must match x0's shape {x.shape}")
    return fx, g


class _Stopper:
    """Tolerance test: relative gap ``f - f* <= tol (f0 - f*)`` if f_star is given, else
    ``||grad|| <= tol``."""

    def __init__(self, tol: float | None, f_star: float | None, f0: float):
        self.tol = tol
        self.f_star = f_star
        self.tol_abs = None if (tol is None or f_star is None) else tol * max(f0 - f_star, 0.0)

    def done(self, fx: float, gnorm: float) -> bool:
        if self.tol is None:
            return False
        if self.tol_abs is not None:
            return fx - self.f_star <= self.tol_abs  # type: ignore[operator]
        return gnorm <= self.tol


def _grad(grad: Gradient, x: np.ndarray) -> np.ndarray:
    g = np.asarray(grad(x), dtype=np.float64)
    if g.shape != x.shape:
        raise ValueError(f"invalid grad output of shape {g.shape}: must match x0's shape {x.shape}")
    return g


def gradient_descent(
    f: Objective,
    grad: Gradient,
    x0: np.ndarray,
    L: float,
    steps: StepSpec,
    *,
    tol: float | None = None,
    f_star: float | None = None,
    max_iter: int | None = None,
) -> History:
    """Gradient descent ``x_{k+1} = x_k - (h_k / L) grad f(x_k)`` with a given schedule.

    Parameters
    ----------
    f : callable
        ``f(x) -> float``, the objective.
    grad : callable
        ``grad(x) -> ndarray`` with the same shape as ``x``.
    x0 : array_like, any shape, float64
        Starting point (finite). It is copied, never modified.
    L : float
        Smoothness constant (> 0); the step is ``h/L``.
    steps : array_like of shape (n,) or callable
        Either the full list of normalized steps ``h_0, ..., h_{n-1}`` -- exactly these ``n``
        steps are taken (it is neither cycled nor extended; truncated only by ``max_iter``) -- or
        a callable ``k -> h_k`` for ``k = 0, 1, ...``, in which case ``max_iter`` is required.
        Every step must be finite and > 0; there is no upper limit (long steps are the point).
    tol : float, optional
        Stop at the first iterate with ``f(x_k) - f_star <= tol * (f(x_0) - f_star)`` if
        ``f_star`` is given, else with ``||grad f(x_k)|| <= tol``.
    f_star : float, optional
        Optimal value, used by ``tol``.
    max_iter : int, optional
        Step budget: ``min(n, max_iter)`` steps for a list, ``max_iter`` for a callable.

    Returns
    -------
    History
        Arrays ``f`` and ``grad_norm`` of shape (k+1,), ``step`` of shape (k,), ``x_final``.

    Raises
    ------
    ValueError
        If ``L <= 0`` or non-finite, ``x0`` contains NaN/inf or is empty, a step is non-finite
        or ``<= 0`` (named by index), ``grad`` returns a different shape than ``x0``, ``f(x0)``
        is non-finite, ``tol <= 0``, ``max_iter`` is negative, or ``steps`` is a callable and
        ``max_iter`` is missing.

    Notes
    -----
    One gradient evaluation per step; the gradient at the last iterate is also evaluated (for
    ``grad_norm``). If ``f`` or the gradient becomes non-finite the run stops there with
    ``stopped="nonfinite"``; nothing is clipped.

    References
    ----------
    Grimmer (2023), Altschuler & Parrilo (2023), Grimmer, Shu & Wang (2024): see
    :mod:`mlroundup.longstep.schedules`.
    """
    L = _check_L(L)
    x = _check_x0(x0)
    tol = _check_opt_pos(tol, "tol")
    max_iter = _check_int(max_iter, "max_iter")
    if f_star is not None:
        f_star = float(f_star)
        if not math.isfinite(f_star):
            raise ValueError(f"invalid f_star={f_star!r}: must be finite")
    if callable(steps):
        if max_iter is None:
            raise ValueError("invalid max_iter=None: required when steps is a callable")
        n = max_iter
        step_at: Callable[[int], float] = lambda k: _check_step(steps(k), k)  # noqa: E731
    else:
        arr = np.asarray(steps, dtype=np.float64)
        if arr.ndim != 1:
            raise ValueError(f"invalid steps of shape {arr.shape}: must be 1-D")
        for k, h in enumerate(arr):
            _check_step(h, k)
        n = arr.shape[0] if max_iter is None else min(arr.shape[0], max_iter)
        step_at = lambda k: float(arr[k])  # noqa: E731

    fx, g = _eval(f, grad, x)
    if not math.isfinite(fx):
        raise ValueError(f"invalid x0: f(x0)={fx!r} is not finite")
    gn = float(np.linalg.norm(g))
    fs, gns, hs = [fx], [gn], []
    stopper = _Stopper(tol, f_star, fx)
    stopped = "max_iter"
    if stopper.done(fx, gn):
        stopped = "tol"
    else:
        for k in range(n):
            h = step_at(k)
            x_new = x - (h / L) * g
            fx, g_new = _eval(f, grad, x_new)
            gn = float(np.linalg.norm(g_new))
            if not (math.isfinite(fx) and math.isfinite(gn)):
                stopped = "nonfinite"
                break
            x, g = x_new, g_new
            fs.append(fx)
            gns.append(gn)
            hs.append(h)
            if stopper.done(fx, gn):
                stopped = "tol"
                break
    return History(
        f=np.array(fs),
        grad_norm=np.array(gns),
        step=np.array(hs, dtype=np.float64),
        x_final=x,
        L=L,
        stopped=stopped,
    )


def constant_step_gd(
    f: Objective,
    grad: Gradient,
    x0: np.ndarray,
    L: float,
    n: int,
    h: float = 1.0,
    *,
    tol: float | None = None,
    f_star: float | None = None,
) -> History:
    """Gradient descent with ``n`` constant steps ``h/L`` (default ``1/L``).

    Parameters
    ----------
    f, grad, x0, L, tol, f_star
        As in :func:`gradient_descent`.
    n : int
        Number of steps (>= 0).
    h : float
        Normalized step (finite, > 0).

    Returns
    -------
    History

    Raises
    ------
    ValueError
        As in :func:`gradient_descent`; also for a negative ``n``.

    Notes
    -----
    For ``0 < h <= 1`` the tight worst case is ``f(x_n) - f_* <= L R^2/(4 n h + 2)``
    (Drori & Teboulle 2014, Theorem 3.1).
    """
    n_ = _check_int(n, "n")
    h_ = _check_step(h, 0)
    return gradient_descent(f, grad, x0, L, np.full(n_, h_), tol=tol, f_star=f_star)


def fista(
    f: Objective,
    grad: Gradient,
    x0: np.ndarray,
    L: float,
    n: int,
    *,
    tol: float | None = None,
    f_star: float | None = None,
) -> History:
    """Nesterov's accelerated gradient method in FISTA form (no prox), ``n`` iterations.

    Parameters
    ----------
    f, grad : callable
        Objective and gradient (gradient output shaped like ``x0``).
    x0 : array_like
        Starting point (finite).
    L : float
        Smoothness constant (> 0).
    n : int
        Number of iterations (>= 0).
    tol, f_star : float, optional
        Early stop as in :func:`gradient_descent`, tested at the iterates ``x_k``.

    Returns
    -------
    History
        ``f[k] = f(x_k)``, ``grad_norm[k] = ||grad f(x_k)||`` with ``x_0 = x0``; ``step`` is all
        ones.

    Raises
    ------
    ValueError
        For invalid ``L``, ``x0``, ``n``, ``tol`` or a gradient of the wrong shape.

    Notes
    -----
    With ``y_1 = x_0``, ``t_1 = 1``, for ``k = 1, ..., n``:

    .. math::
        x_k = y_k - \\tfrac1L \\nabla f(y_k),\\quad
        t_{k+1} = \\tfrac{1 + \\sqrt{1 + 4 t_k^2}}{2},\\quad
        y_{k+1} = x_k + \\tfrac{t_k - 1}{t_{k+1}} (x_k - x_{k-1}),

    and ``f(x_k) - f_* <= 2 L ||x_0 - x_*||^2 / (k + 1)^2`` ([BT09] Theorem 4.4). Each iteration
    evaluates the gradient at ``y_k`` (the method) and at ``x_k`` (for the recorded gradient
    norm only).

    References
    ----------
    [BT09] Section 4, Theorem 4.4; [N83].
    """
    L = _check_L(L)
    x_prev = _check_x0(x0)
    n = _check_int(n, "n")  # type: ignore[assignment]
    tol = _check_opt_pos(tol, "tol")
    fx, gx = _eval(f, grad, x_prev)
    if not math.isfinite(fx):
        raise ValueError(f"invalid x0: f(x0)={fx!r} is not finite")
    gn = float(np.linalg.norm(gx))
    fs, gns = [fx], [gn]
    stopper = _Stopper(tol, None if f_star is None else float(f_star), fx)
    stopped = "tol" if stopper.done(fx, gn) else "max_iter"
    y = x_prev.copy()
    t = 1.0
    x = x_prev
    k_done = 0
    if stopped != "tol":
        gy = gx
        for k in range(n):
            if k > 0:
                gy = _grad(grad, y)
            x = y - gy / L
            fx, gx = _eval(f, grad, x)
            gn = float(np.linalg.norm(gx))
            if not (math.isfinite(fx) and math.isfinite(gn)):
                stopped = "nonfinite"
                x = x_prev
                break
            fs.append(fx)
            gns.append(gn)
            k_done += 1
            if stopper.done(fx, gn):
                stopped = "tol"
                break
            t_next = 0.5 * (1.0 + math.sqrt(1.0 + 4.0 * t * t))
            y = x + ((t - 1.0) / t_next) * (x - x_prev)
            x_prev, t = x, t_next
    return History(
        f=np.array(fs),
        grad_norm=np.array(gns),
        step=np.ones(k_done),
        x_final=x,
        L=L,
        stopped=stopped,
    )
