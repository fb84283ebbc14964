"""Choosing examples: the rule's top k, random subsets, and random mixtures of groups."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def _check_k(k: int, n: int) -> None:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= n:
        raise ValueError(f"invalid k={k!r}: must be an int in [1, {n}]")


def select_top_k(scores: Sequence[float] | np.ndarray, k: int, seed: int = 0) -> np.ndarray:
    """Indices of the ``k`` examples with the lowest predicted log loss, best first.

    Parameters
    ----------
    scores : array-like of shape (n,)
        Predicted log eval loss per example (:meth:`QualityRule.predict`); lower is better.
    k : int
        In [1, n].
    seed : int
        Breaks ties: examples of equal score are ordered by a permutation drawn from this seed,
        so the result is the same for the same seed.

    Returns
    -------
    ndarray of shape (k,), dtype int64

    Raises
    ------
    ValueError
        If ``scores`` is not 1-D or has a non-finite value, or ``k`` is out of range.
    """
    s = np.asarray(scores, dtype=np.float64)
    if s.ndim != 1 or not np.isfinite(s).all():
        raise ValueError("scores must be a 1-D array of finite numbers")
    _check_k(k, s.size)
    tiebreak = np.random.default_rng(seed).permutation(s.size)
    order = np.lexsort((tiebreak, s))  # by score, then by the seeded permutation
    return order[:k].astype(np.int64)


def random_subset(n: int, k: int, seed: int) -> np.ndarray:
    """``k`` distinct indices of ``range(n)`` drawn uniformly by a generator seeded with ``seed``.

    Returns
    -------
    ndarray of shape (k,), dtype int64, sorted
    """
    _check_k(k, n)
    return np.sort(np.random.default_rng(seed).choice(n, size=k, replace=False)).astype(np.int64)


def mixture_subsets(
    groups: Sequence[int] | np.ndarray,
    size: int,
    count: int,
    seed: int,
    concentration: float = 1.0,
) -> list[np.ndarray]:
    """Random subsets that mix the groups in random proportions (datasets of varied make-up).

    Each subset draws proportions ``p ~ Dirichlet(concentration)`` over the groups, then ``size``
    examples without replacement, an example of group ``g`` with probability proportional to
    ``p[g] / |g|``. Cao et al. fit their rule on fine-tunes of datasets mixed from several sources
    (arXiv 2307.06290, Sec. 4); mixing spreads the dataset means the rule is fitted on.

    Parameters
    ----------
    groups : array-like of int, shape (n,)
        Group of each example.
    size : int
        Examples per subset, in [1, n].
    count : int
        Subsets, >= 1.
    seed : int
    concentration : float
        Dirichlet parameter (> 0); large values give near-uniform random subsets.

    Returns
    -------
    list of ndarray of int64, each sorted, of length ``size``

    Raises
    ------
    ValueError
        For an out-of-range argument.
    """
    g = np.asarray(groups)
    if g.ndim != 1:
        raise ValueError("groups must be 1-D")
    _check_k(size, g.size)
    if count < 1:
        raise ValueError(f"invalid count={count}: must be >= 1")
    if not concentration > 0:
        raise ValueError(f"invalid concentration={concentration}: must be > 0")
    labels, inverse, counts = np.unique(g, return_inverse=True, return_counts=True)
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(count):
        p = rng.dirichlet(np.full(labels.size, float(concentration)))
        w = p[inverse] / counts[inverse]
        w = np.maximum(w, 1e-12)  # every example stays drawable, so `size` of them always exist
        w /= w.sum()
        out.append(np.sort(rng.choice(g.size, size=size, replace=False, p=w)).astype(np.int64))
    return out
