"""Pick one of n sampled generations: Consensus-WUCS, its relatives, and the paper's baselines.

:func:`select` is the one entry point; :data:`METHODS` lists what it accepts. See
:mod:`mlroundup.self_consistency.scores` for the math.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Hashable, Sequence
from typing import Any

import numpy as np

from mlroundup.self_consistency import scores as _scores
from mlroundup.self_consistency import tokenization as _tok

#: Selection methods, and whether each needs per-token log-probabilities.
METHODS: dict[str, bool] = {
    "consensus-wucs": True,
    "wucs": True,
    "ucs": False,
    "ngram": False,
    "mean-logprob": True,
    "sum-logprob": True,
    "majority": False,
    "random": False,
}


def validate(
    generations: Sequence[str | Sequence[Hashable]],
    logprobs: Sequence[Sequence[float]] | None = None,
) -> tuple[list[str | Sequence[Hashable]], list[np.ndarray] | None]:
    """Check a candidate set and convert log-probabilities to float64 arrays.

    Parameters
    ----------
    generations : sequence of M str or M token sequences
        The candidates (all strings, or all token sequences).
    logprobs : sequence of M sequences of float, optional
        Per-token natural-log probabilities of each generation.

    Returns
    -------
    generations : list
    logprobs : list of ndarray of float64, or None

    Raises
    ------
    ValueError
        If ``generations`` is empty, mixes strings and token lists, ``logprobs`` has a different
        length, or a log-probability is NaN, +inf or positive (the message names the candidate
        and position). ``-inf`` (probability 0) is allowed.
    TypeError
        If a generation is neither a string nor a sequence.
    """
    gens = list(generations)
    if not gens:
        raise ValueError("generations is empty: need at least one candidate")
    kinds = set()
    for i, g in enumerate(gens):
        if isinstance(g, str):
            kinds.add("str")
        elif isinstance(g, (bytes, bytearray)) or not isinstance(g, Sequence | np.ndarray):
            raise TypeError(
                f"generations[{i}] is a {type(g).__name__}: expected a str or a token sequence"
            )
        else:
            kinds.add("tokens")
    if len(kinds) > 1:
        raise ValueError("generations mixes strings and token sequences; use one kind")
    if logprobs is None:
        return gens, None
    lps = list(logprobs)
    if len(lps) != len(gens):
        raise ValueError(
            f"logprobs has {len(lps)} entries but generations has {len(gens)}: need one per generation"
        )
    out = []
    for i, lp in enumerate(lps):
        a = np.asarray(lp, dtype=np.float64)
        if a.ndim != 1:
            raise ValueError(f"logprobs[{i}] has shape {a.shape}: expected a 1-D sequence")
        bad = np.flatnonzero(~np.isfinite(a) | (a > 0))
        if bad.size:
            k = int(bad[0])
            raise ValueError(
                f"invalid logprobs[{i}][{k}]={float(a[k])}: log-probabilities must be finite and <= 0"
            )
        if kinds == {"tokens"} and len(a) != len(gens[i]):
            raise ValueError(
                f"logprobs[{i}] has {len(a)} values but generations[{i}] has {len(gens[i])} "
                "tokens: need one log-probability per token"
            )
        out.append(a)
    return gens, out


def _tokens_of(
    gens: list[Any], tokenizer: str | Callable[[str], Sequence[Hashable]]
) -> list[Sequence[Hashable]]:
    if gens and isinstance(gens[0], str):
        fn = _tok.get(tokenizer)
        return [list(fn(g)) for g in gens]
    return [list(g) for g in gens]


def _majority_keys(gens: list[Any]) -> list[Hashable]:
    return [" ".join(g.split()) if isinstance(g, str) else tuple(g) for g in gens]


def select(
    generations: Sequence[str | Sequence[Hashable]],
    logprobs: Sequence[Sequence[float]] | None = None,
    method: str = "consensus-wucs",
    *,
    tokenizer: str | Callable[[str], Sequence[Hashable]] = "regex",
    ngram: int = 1,
    weighting: str = "one-sided",
    rng: np.random.Generator | int | None = None,
) -> tuple[int, np.ndarray]:
    """Choose one of M sampled generations.

    Parameters
    ----------
    generations : sequence of M str, or of M token sequences
        The candidates for one prompt. Token sequences (e.g. the sampled token ids) are compared
        as they are; strings are split by ``tokenizer``.
    logprobs : sequence of M sequences of float, optional
        Per-token log-probabilities (natural log, each <= 0). Required by ``consensus-wucs``,
        ``wucs``, ``mean-logprob`` and ``sum-logprob``. For the weighted scores they must align
        with the tokens: one value per token of a token sequence, or per token that
        ``tokenizer`` yields for a string (pass the model's tokenizer, see
        :func:`mlroundup.self_consistency.tokenization.model_tokenizer`).
    method : str
        One of :data:`METHODS`:

        ``consensus-wucs``  WUCS times the generation's geometric-mean token probability;
        ``wucs``            probability-weighted unigram (n-gram) consistency;
        ``ucs``             unigram consistency (``ngram`` > 1: n-gram consistency; alias
                            ``ngram``);
        ``mean-logprob``    highest mean token log-probability;
        ``sum-logprob``     highest total log-probability;
        ``majority``        most frequent exact answer (whitespace-normalized strings, or equal
                            token sequences): self-consistency for short answers;
        ``random``          uniform choice (scores are all 1/M).
    tokenizer : {"regex", "whitespace"} or callable
        How strings become tokens (ignored for token sequences).
    ngram : int
        n-gram order of ``ucs``/``wucs``/``consensus-wucs`` (1: unigrams, the paper's default).
    weighting : {"one-sided", "both"}
        WUCS weighting: candidate's own probabilities only (``u^i . v^j``, our reading of the
        paper) or both sides (``u^i . u^j``).
    rng : numpy Generator or int, optional
        For ``random``.

    Returns
    -------
    index : int
        The chosen candidate; ties go to the lowest index. An empty generation (no tokens, or
        an empty string) is chosen only when every candidate is empty, by every method but
        ``random``: its consistency scores are 0/0 under the paper's definitions (taken as 0
        here) and its total log-probability of 0 says nothing about its quality.
    scores : ndarray of shape (M,), dtype float64
        The method's score of every candidate (higher is better).

    Raises
    ------
    ValueError
        For an unknown ``method``, bad options, empty ``generations``, misaligned or invalid
        ``logprobs`` (see :func:`validate`), or a method that needs ``logprobs`` without them.

    References
    ----------
    Jain, Ma, Deoras & Xiang, "Lightweight reranking for language model generations",
    arXiv 2307.06857, Section 3 (UCS, WUCS, Consensus-WUCS) and Section 5 (baselines).
    """
    if method not in METHODS:
        raise ValueError(f"unknown method={method!r}; valid: {', '.join(METHODS)}")
    gens, lps = validate(generations, logprobs)
    if METHODS[method] and lps is None:
        raise ValueError(f"method={method!r} needs logprobs (per-token log-probabilities)")
    m = len(gens)
    if method == "random":
        gen = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
        return int(gen.integers(m)), np.full(m, 1.0 / m)
    if method == "majority":
        keys = _majority_keys(gens)
        counts = Counter(keys)
        s = np.array([counts[k] for k in keys], dtype=np.float64)
        return _argmax(s, gens), s
    if method in ("mean-logprob", "sum-logprob"):
        assert lps is not None
        s = _scores.mean_logprob(lps) if method == "mean-logprob" else _scores.sum_logprob(lps)
        return _argmax(s, gens), s
    toks = _tokens_of(gens, tokenizer)
    if method in ("ucs", "ngram"):
        s = _scores.gsc_scores(toks, None, ngram=ngram, weighting=weighting)
        return _argmax(s, toks), s
    assert lps is not None
    for i, (t, lp) in enumerate(zip(toks, lps, strict=True)):
        if len(t) != len(lp):
            raise ValueError(
                f"generations[{i}] has {len(t)} tokens under the tokenizer but logprobs[{i}] has "
                f"{len(lp)} values: weighted scores need the model's own tokens"
            )
    if method == "wucs":
        s = _scores.gsc_scores(toks, lps, ngram=ngram, weighting=weighting)
    else:
        s = _scores.consensus_wucs(toks, lps, ngram=ngram, weighting=weighting)
    return _argmax(s, toks), s


def _argmax(s: np.ndarray, gens: Sequence[Any]) -> int:
    """Index of the largest score among the non-empty candidates (lowest index on ties; the
    first non-empty one if all their scores are -inf); among all if every candidate is empty."""
    nonempty = np.array([len(g) > 0 for g in gens])
    if not nonempty.any():
        nonempty[:] = True
    masked = np.where(nonempty, s, -np.inf)
    if np.all(np.isneginf(masked)):
        return int(np.flatnonzero(nonempty)[0])
    return int(np.argmax(masked))


def expected_random_accuracy(correct: Sequence[bool] | np.ndarray) -> float:
    """Exact expected accuracy of a uniformly random pick: the fraction of correct candidates."""
    c = np.asarray(correct, dtype=np.float64)
    if c.size == 0:
        raise ValueError("correct is empty: need at least one candidate")
    return float(c.mean())


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k estimate ``1 - C(n-c, k) / C(n, k)`` from n samples with c correct.

    References
    ----------
    Chen et al., "Evaluating Large Language Models Trained on Code", arXiv 2107.03374, eq. (1).
    """
    if not (0 <= c <= n) or k < 1 or k > n:
        raise ValueError(f"invalid pass_at_k arguments n={n}, c={c}, k={k}")
    if n - c < k:
        return 1.0
    return 1.0 - math.comb(n - c, k) / math.comb(n, k)
