"""Rank of weight updates: numerical rank and effective rank of a matrix (NumPy, no framework).

Lialin et al. (2023) compare the singular-value spectra of the total update
``W_end - W_start`` of LoRA, ReLoRA and full training: a LoRA update has rank at most ``r``, a
sequence of merged low-rank updates need not.
"""

from __future__ import annotations

import numpy as np

#: float32 machine epsilon: the weights we measure are float32.
EPS32 = float(np.finfo(np.float32).eps)


def singular_values(matrix) -> np.ndarray:
    """Singular values of a 2-D array (or torch tensor), computed in float64, descending."""
    a = np.asarray(
        matrix.detach().cpu().double() if hasattr(matrix, "detach") else matrix, dtype=np.float64
    )
    if a.ndim != 2:
        raise ValueError(f"matrix must be 2-D, got shape {a.shape}")
    return np.linalg.svd(a, compute_uv=False)


def numerical_rank(matrix, rtol: float | None = None) -> int:
    """Number of singular values above ``rtol * s_max``.

    Parameters
    ----------
    matrix : array-like or torch.Tensor of shape (m, n)
    rtol : float, optional
        Relative threshold. Default ``max(m, n) * eps(float32)``: NumPy's ``matrix_rank`` rule with
        the precision of float32 weights, so rounding in a float32 difference ``W_end - W_start``
        does not count as rank.

    Returns
    -------
    int
        0 for a zero matrix.
    """
    return rank_of_spectrum(singular_values(matrix), tuple(matrix.shape), rtol)


def rank_of_spectrum(s: np.ndarray, shape: tuple[int, int], rtol: float | None = None) -> int:
    """:func:`numerical_rank` from the descending singular values ``s`` of a matrix of ``shape``."""
    if s.size == 0 or s[0] == 0:
        return 0
    if rtol is None:
        rtol = max(shape) * EPS32
    if not rtol >= 0:
        raise ValueError(f"invalid rtol={rtol!r}: must be >= 0")
    return int(np.sum(s > rtol * s[0]))


def effective_rank(matrix) -> float:
    """Effective rank ``exp(H(p))`` with ``p = s / sum(s)`` (Roy & Vetterli 2007, eq. 2); in
    ``[1, min(m, n)]`` for a non-zero matrix, 0 for a zero one."""
    s = singular_values(matrix)
    total = s.sum()
    if total == 0:
        return 0.0
    p = s[s > 0] / total
    return float(np.exp(-np.sum(p * np.log(p))))
