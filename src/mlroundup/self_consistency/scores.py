"""Generalized self-consistency scores over n sampled generations (pure NumPy).

Jain, Ma, Deoras & Xiang, "Lightweight reranking for language model generations" (arXiv 2307.06857;
first titled "Self-consistency for open-ended generations"), Section 3. For generations
``g_1 .. g_M`` and a pairwise similarity ``Sim``, the generalized self-consistency score of ``g_i``
is its mean similarity to the others::

    GSC_Sim(i) = 1/(M-1) * sum_{j != i} Sim(i, j)

and the reranker returns ``argmax_i GSC_Sim(i)``. The similarities (Section 3, our notation):

* **UCS** (unigram consistency score): with ``V`` the set of distinct tokens of all M generations
  and ``v^i`` the 0/1 vector of which tokens of ``V`` occur in ``g_i``,
  ``UCS(i, j) = v^i . v^j / |V|``.
* **n-gram consistency** (``ngram=n``): the same with ``V`` the distinct n-grams.
* **WUCS** (weighted UCS): ``u^i_t`` is the mean probability of the occurrences of token ``t`` in
  ``g_i`` (0 if absent), and ``WUCS(i, j) = u^i . v^j / |V|`` -- the candidate's own token
  probabilities weight the overlap (``weighting="one-sided"``, our reading of the paper's WUCS).
  ``weighting="both"`` uses ``u^i . u^j / |V|`` (symmetric), as some re-implementations do.
* **Consensus-WUCS**: ``GSC_WUCS(i) * exp(mean_k log p(t_i^k))`` -- WUCS times the generation's
  length-normalized likelihood (geometric mean of its token probabilities).

For n-grams the weight of an n-gram occurrence is the product of its tokens' probabilities (our
choice; the paper defines weighting for unigrams).

Everything is computed without forming the M x M matrix: ``sum_{j != i} x^i . y^j`` equals
``x^i . (sum_j y^j - y^i)``, so a score costs O(total tokens) after one pass that assigns token
ids. :func:`consistency_matrix` returns the pairwise matrix when it is wanted.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass

import numpy as np

Tokenizer = Callable[[str], Sequence[Hashable]]

WEIGHTINGS = ("one-sided", "both")


@dataclass(frozen=True)
class _Occurrences:
    """Distinct (generation, n-gram) pairs of a candidate set.

    ``row[k]``, ``col[k]``: generation index and n-gram id of pair k; ``weight[k]``: mean
    probability of that n-gram's occurrences in that generation (1.0 without log-probabilities);
    ``n_rows`` generations, ``n_cols`` distinct n-grams.
    """

    row: np.ndarray
    col: np.ndarray
    weight: np.ndarray
    n_rows: int
    n_cols: int


def _dense_ids(tokens: Sequence[Sequence[Hashable]]) -> tuple[np.ndarray, np.ndarray]:
    """All tokens as one int64 array of dense ids (shared vocabulary), and each sequence's length.

    Integer tokens (e.g. model token ids) take a vectorized path; any other hashable tokens are
    numbered through a dict.
    """
    lengths = np.fromiter((len(t) for t in tokens), np.int64, len(tokens))
    arrays = [np.asarray(t) for t in tokens]
    if all(a.ndim == 1 and (a.dtype.kind in "iu" or a.size == 0) for a in arrays):
        flat = np.concatenate([a.astype(np.int64, copy=False) for a in arrays]) if arrays else None
        if flat is not None and flat.size:
            return np.unique(flat, return_inverse=True)[1].reshape(-1), lengths
        return np.zeros(0, np.int64), lengths
    table: dict[Hashable, int] = {}
    flat = np.fromiter(
        (table.setdefault(t, len(table)) for seq in tokens for t in seq),
        np.int64,
        int(lengths.sum()),
    )
    return flat, lengths


def _occurrences(
    tokens: Sequence[Sequence[Hashable]],
    logprobs: Sequence[np.ndarray] | None,
    ngram: int,
) -> _Occurrences:
    m = len(tokens)
    ids, lengths = _dense_ids(tokens)
    counts = np.maximum(lengths - ngram + 1, 0)  # n-grams per generation
    if counts.sum() == 0:
        empty = np.zeros(0, np.int64)
        return _Occurrences(empty, empty, np.zeros(0), m, 0)
    offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    row = np.repeat(np.arange(m), counts)  # generation of each n-gram occurrence
    first = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    start = np.repeat(offsets, counts) + first  # flat index of each occurrence's first token
    vocab = int(ids.max()) + 1
    if ngram == 1:
        gram = ids[start]
    elif ngram * math.log2(max(vocab, 2)) < 62:  # mixed-radix key fits in int64
        key = np.zeros(len(start), np.int64)
        for k in range(ngram):
            key = key * vocab + ids[start + k]
        gram = np.unique(key, return_inverse=True)[1].reshape(-1)
    else:
        win = np.stack([ids[start + k] for k in range(ngram)], axis=1)  # (N, n)
        gram = np.unique(win, axis=0, return_inverse=True)[1].reshape(-1)
    gram = np.unique(gram, return_inverse=True)[1].reshape(-1)  # dense n-gram ids
    n_cols = int(gram.max()) + 1
    pair_key, pair = np.unique(row * n_cols + gram, return_inverse=True)
    pair = pair.reshape(-1)
    if logprobs is None:
        weight = np.ones(len(pair_key))
    else:
        lp = np.concatenate([np.asarray(x, np.float64) for x in logprobs])
        occ = np.exp(sum(lp[start + k] for k in range(ngram)))  # probability of the n-gram
        weight = np.bincount(pair, weights=occ) / np.bincount(pair)
    return _Occurrences(pair_key // n_cols, pair_key % n_cols, weight, m, n_cols)


def _gsc(occ: _Occurrences, left_weighted: bool, right_weighted: bool) -> np.ndarray:
    """``GSC(i) = 1/(M-1) sum_{j!=i} x^i . y^j / |V|`` in O(nnz)."""
    m = occ.n_rows
    if occ.n_cols == 0:
        return np.zeros(m)
    x = occ.weight if left_weighted else np.ones_like(occ.weight)
    y = occ.weight if right_weighted else np.ones_like(occ.weight)
    col_total = np.bincount(occ.col, weights=y, minlength=occ.n_cols)  # sum_j y^j
    contrib = x * (col_total[occ.col] - y)  # x^i_t * (sum_{j != i} y^j_t)
    total = np.bincount(occ.row, weights=contrib, minlength=m)
    return total / (occ.n_cols * max(m - 1, 1))


def consistency_matrix(
    tokens: Sequence[Sequence[Hashable]],
    logprobs: Sequence[np.ndarray] | None = None,
    *,
    ngram: int = 1,
    weighting: str = "one-sided",
) -> np.ndarray:
    """Pairwise n-gram consistency ``Sim(i, j)`` of M tokenized generations.

    Parameters
    ----------
    tokens : sequence of M sequences of hashable tokens
        The tokenized generations.
    logprobs : sequence of M arrays of float, optional
        Per-token log-probabilities aligned with ``tokens`` (validated by :func:`validate`).
        Without them this is UCS (or n-gram consistency); with them WUCS.
    ngram : int
        n of the n-grams compared (1: unigrams).
    weighting : {"one-sided", "both"}
        With log-probabilities: ``u^i . v^j`` (one-sided, not symmetric) or ``u^i . u^j``.

    Returns
    -------
    ndarray of shape (M, M), dtype float64
        ``S[i, j] = x^i . y^j / |V|``; the diagonal is the self-similarity (unused by GSC).

    Notes
    -----
    Materializes an M x M matrix; :func:`gsc_scores` gets the per-candidate scores in O(tokens).

    References
    ----------
    Jain et al., arXiv 2307.06857, Section 3 (UCS, WUCS).
    """
    _check_options(ngram, weighting)
    occ = _occurrences(tokens, logprobs, ngram)
    m = occ.n_rows
    if occ.n_cols == 0:
        return np.zeros((m, m))
    ones = np.ones_like(occ.weight)
    x = np.zeros((m, occ.n_cols))
    y = np.zeros((m, occ.n_cols))
    weighted = logprobs is not None
    x[occ.row, occ.col] = occ.weight if weighted else ones
    y[occ.row, occ.col] = occ.weight if weighted and weighting == "both" else ones
    return (x @ y.T) / occ.n_cols


def gsc_scores(
    tokens: Sequence[Sequence[Hashable]],
    logprobs: Sequence[np.ndarray] | None = None,
    *,
    ngram: int = 1,
    weighting: str = "one-sided",
) -> np.ndarray:
    """Generalized self-consistency ``GSC(i)`` of each of M tokenized generations.

    Parameters
    ----------
    tokens, logprobs, ngram, weighting
        As in :func:`consistency_matrix`. Without ``logprobs``: UCS / n-gram consistency; with
        them: WUCS (weighted n-gram consistency).

    Returns
    -------
    ndarray of shape (M,), dtype float64
        ``1/(M-1) * sum_{j != i} Sim(i, j)`` (with M = 1: 0). Zero for a generation with no
        n-gram (shorter than ``ngram`` tokens).

    References
    ----------
    Jain et al., arXiv 2307.06857, Section 3 (GSC_Sim, UCS, WUCS).
    """
    _check_options(ngram, weighting)
    occ = _occurrences(tokens, logprobs, ngram)
    weighted = logprobs is not None
    return _gsc(occ, left_weighted=weighted, right_weighted=weighted and weighting == "both")


def mean_logprob(logprobs: Sequence[np.ndarray]) -> np.ndarray:
    """Mean per-token log-probability of each generation (``-inf`` for an empty one)."""
    return np.array([float(np.mean(lp)) if len(lp) else -math.inf for lp in logprobs])


def sum_logprob(logprobs: Sequence[np.ndarray]) -> np.ndarray:
    """Total log-probability of each generation (0 for an empty one)."""
    return np.array([float(np.sum(lp)) for lp in logprobs])


def consensus_wucs(
    tokens: Sequence[Sequence[Hashable]],
    logprobs: Sequence[np.ndarray],
    *,
    ngram: int = 1,
    weighting: str = "one-sided",
) -> np.ndarray:
    """Consensus-WUCS: ``GSC_WUCS(i) * exp(mean log-probability of g_i)``.

    Parameters
    ----------
    tokens, logprobs, ngram, weighting
        As in :func:`gsc_scores`; ``logprobs`` is required.

    Returns
    -------
    ndarray of shape (M,), dtype float64
        0 for an empty generation.

    References
    ----------
    Jain et al., arXiv 2307.06857, Section 3 (Consensus-WUCS: WUCS times the generation's
    length-normalized likelihood ``prod_k p(t_i^k)^{1/|g_i|}``).
    """
    wucs = gsc_scores(tokens, logprobs, ngram=ngram, weighting=weighting)
    return wucs * np.exp(mean_logprob(logprobs))


def _check_options(ngram: int, weighting: str) -> None:
    if isinstance(ngram, bool) or not isinstance(ngram, (int, np.integer)) or ngram < 1:
        raise ValueError(f"invalid ngram={ngram!r}: must be an int >= 1")
    if weighting not in WEIGHTINGS:
        raise ValueError(f"invalid weighting={weighting!r}; valid: {', '.join(WEIGHTINGS)}")
