"""KNN-i: distance from each example to its i-th nearest neighbour in an embedding space.

Cao et al. (arXiv 2307.06290, indicator table) score diversity by the distance of an example to
its approximate i-th nearest neighbour in a SentenceBERT space. Here the distances are exact
(Euclidean, brute force in blocks), and an example is never its own neighbour.
"""

from __future__ import annotations

import numpy as np

STATISTICS = ("kth", "mean")


def knn_distances(
    queries: np.ndarray,
    reference: np.ndarray,
    k: int,
    *,
    exclude: np.ndarray | None = None,
    statistic: str = "kth",
    block: int = 1024,
) -> np.ndarray:
    """Distance from each query to its ``k``-th nearest reference point (or the mean of the ``k``).

    Parameters
    ----------
    queries : ndarray of shape (n, d)
    reference : ndarray of shape (m, d)
    k : int
        Which neighbour, >= 1 (``k=6``: the paper's Knn_6).
    exclude : ndarray of shape (n,), dtype int, optional
        For each query, a reference row that is not its neighbour (the query itself when the
        queries are part of the reference); -1: none.
    statistic : {"kth", "mean"}
        ``"kth"``: the distance to the k-th nearest neighbour (the paper's KNN-i); ``"mean"``:
        the mean distance to the k nearest.
    block : int
        Queries per block of the distance matrix (memory ``block * m`` floats).

    Returns
    -------
    ndarray of shape (n,), dtype float64
        Euclidean distances (for unit vectors, in [0, 2]).

    Raises
    ------
    ValueError
        If the shapes disagree, a value is not finite, ``k`` < 1, fewer than ``k`` reference
        points are left for a query, or ``statistic`` is unknown.
    """
    q = np.asarray(queries, dtype=np.float64)
    r = np.asarray(reference, dtype=np.float64)
    if q.ndim != 2 or r.ndim != 2 or q.shape[1] != r.shape[1]:
        raise ValueError(f"queries {q.shape} and reference {r.shape} must be (n, d) and (m, d)")
    if not (np.isfinite(q).all() and np.isfinite(r).all()):
        raise ValueError("embeddings must be finite")
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"invalid k={k!r}: a positive int")
    if statistic not in STATISTICS:
        raise ValueError(f"invalid statistic={statistic!r}; valid: {', '.join(STATISTICS)}")
    n, m = q.shape[0], r.shape[0]
    ex = np.full(n, -1, dtype=np.int64) if exclude is None else np.asarray(exclude, np.int64)
    if ex.shape != (n,) or (ex >= m).any():
        raise ValueError(f"exclude must have shape ({n},) with entries < {m} (-1: none)")
    available = m - (ex >= 0)
    if n and available.min() < k:
        raise ValueError(f"k={k} needs at least {k} reference points per query besides itself; "
                         f"the reference has {m}")  # fmt: skip
    out = np.empty(n, dtype=np.float64)
    r_sq = np.einsum("ij,ij->i", r, r)  # (m,)
    for lo in range(0, n, block):
        qb = q[lo : lo + block]  # (b, d)
        d2 = np.einsum("ij,ij->i", qb, qb)[:, None] + r_sq[None, :] - 2.0 * qb @ r.T  # (b, m)
        np.maximum(d2, 0.0, out=d2)  # rounding can leave -1e-16 where a distance is 0
        rows = np.nonzero(ex[lo : lo + block] >= 0)[0]
        d2[rows, ex[lo : lo + block][rows]] = np.inf
        nearest = np.partition(d2, k - 1, axis=1)[:, :k]  # (b, k), k-th smallest at k-1
        dist = np.sqrt(nearest)
        out[lo : lo + block] = dist.max(axis=1) if statistic == "kth" else dist.mean(axis=1)
    return out
