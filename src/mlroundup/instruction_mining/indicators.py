"""The natural-language indicators of Cao et al. (arXiv 2307.06290) as a scikit-learn transformer.

Per (instruction, response) pair:

============== ======================== ================================================
name           paper symbol             what
============== ======================== ================================================
input_length   Len_in                   instruction tokens
output_length  Len_out (the rule's Len) response tokens
reward         Rew                      reward score; here the proxy of
                                        :func:`~.lm_scores.reward_proxy` unless a reward
                                        model is passed
perplexity     PPL                      response perplexity given the instruction
mtld           MTLD                     lexical diversity of the response (:mod:`.mtld`)
knn_6          KNN_6                    distance to the 6th nearest neighbour of the pair
                                        in the all-MiniLM-L6-v2 space (:mod:`.knn`)
============== ======================== ================================================

The paper's UniEval scores (naturalness, coherence, understandability) are left out: no UniEval
model ships offline. A dataset's indicator is the mean over its examples
(:func:`dataset_means`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin

from mlroundup.instruction_mining.knn import STATISTICS, knn_distances
from mlroundup.instruction_mining.lm_scores import perplexity, reward_proxy
from mlroundup.instruction_mining.mtld import THRESHOLD, mtld
from mlroundup.instruction_mining.records import Pair, as_pairs

#: Indicator names, in output order, for k = 6.
INDICATORS = ("input_length", "output_length", "reward", "perplexity", "mtld", "knn_6")
#: The paper's symbol of each indicator (its Table 1 and its rule).
PAPER_SYMBOLS = {"input_length": "Len_in", "output_length": "Len", "reward": "Rew",
                 "perplexity": "PPL", "mtld": "MTLD", "knn_6": "Knn_6"}  # fmt: skip

RewardModel = Callable[[list[str], list[str]], Sequence[float]]


def embedding_text(pair: Pair) -> str:
    """The text embedded for KNN: instruction, a blank line, response."""
    return f"{pair.instruction}\n\n{pair.response}"


def dataset_means(features: np.ndarray, subsets: Iterable[Sequence[int]]) -> np.ndarray:
    """Mean indicator vector of each subset (a dataset's indicator, Cao et al. Sec. 3).

    Parameters
    ----------
    features : ndarray of shape (n_examples, n_indicators)
    subsets : iterable of index sequences

    Returns
    -------
    ndarray of shape (n_subsets, n_indicators)

    Raises
    ------
    ValueError
        If a subset is empty.
    """
    features = np.asarray(features, dtype=np.float64)
    rows = []
    for i, idx in enumerate(subsets):
        idx = np.asarray(idx, dtype=np.int64)
        if idx.size == 0:
            raise ValueError(f"subset {i} is empty")
        rows.append(features[idx].mean(axis=0))
    return np.array(rows).reshape(-1, features.shape[1])


class Indicators(TransformerMixin, BaseEstimator):
    """Per-example indicators of instruction data.

    ``fit`` embeds the reference pool the KNN distances are measured against; ``transform``
    returns one row of indicators per pair. A pair that is also in the reference is not its own
    neighbour (matched by content hash; a duplicate elsewhere in the pool still counts).

    Parameters
    ----------
    scorer : ResponseScorer, optional
        Gives lengths, perplexity and the reward proxy (default: a
        :class:`~.lm_scores.SmolLM2Scorer`, created on first use).
    embedder : SentenceEmbedder, optional
        For KNN (default: :class:`~.embeddings.SentenceEmbedder` with its defaults).
    reward_model : callable, optional
        ``reward_model(instructions, responses) -> scores``, one float per pair: a real reward
        model. None: the log-likelihood proxy.
    knn_k : int
        Which neighbour (the paper's rule uses 6).
    knn_statistic : {"kth", "mean"}
        Distance to the k-th neighbour (the paper's KNN-i), or the mean over the k nearest.
    mtld_threshold : float
        MTLD's factor threshold.

    Attributes
    ----------
    reference_embeddings_ : ndarray of shape (m, 384)
    reference_keys_ : dict of str to int
        Content hash -> first row of the reference with it.
    n_features_in_ : int
        Always 1 (each sample is a pair; scikit-learn's attribute for the record).
    reward_source_ : str
        ``"reward model"`` or the proxy's description.
    """

    def __init__(
        self,
        scorer: Any = None,
        embedder: Any = None,
        reward_model: RewardModel | None = None,
        knn_k: int = 6,
        knn_statistic: str = "kth",
        mtld_threshold: float = THRESHOLD,
    ) -> None:
        self.scorer = scorer
        self.embedder = embedder
        self.reward_model = reward_model
        self.knn_k = knn_k
        self.knn_statistic = knn_statistic
        self.mtld_threshold = mtld_threshold

    # ---------------------------------------------------------------- helpers
    def _check_params(self) -> None:
        if isinstance(self.knn_k, bool) or not isinstance(self.knn_k, int) or self.knn_k < 1:
            raise ValueError(f"invalid knn_k={self.knn_k!r}: a positive int")
        if self.knn_statistic not in STATISTICS:
            raise ValueError(
                f"invalid knn_statistic={self.knn_statistic!r}; valid: {', '.join(STATISTICS)}"
            )
        if not 0.0 < self.mtld_threshold < 1.0:
            raise ValueError(f"invalid mtld_threshold={self.mtld_threshold!r}: in (0, 1)")

    def _scorer(self) -> Any:
        if self.scorer is None:
            from mlroundup.instruction_mining.lm_scores import SmolLM2Scorer

            self.scorer = SmolLM2Scorer()
        return self.scorer

    def _embedder(self) -> Any:
        if self.embedder is None:
            from mlroundup.instruction_mining.embeddings import SentenceEmbedder

            self.embedder = SentenceEmbedder()
        return self.embedder

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """Indicator names, in column order: :data:`INDICATORS` with ``knn_<k>``."""
        return np.array([*INDICATORS[:-1], f"knn_{self.knn_k}"], dtype=object)

    # ---------------------------------------------------------------- estimator API
    def fit(self, X: Iterable[Pair | Sequence[str]], y: Any = None) -> Indicators:
        """Embed the reference pool ``X`` (pairs or (instruction, response) tuples).

        Raises
        ------
        ValueError
            If a parameter is invalid or ``X`` has no more than ``knn_k`` pairs.
        """
        self._check_params()
        pairs = as_pairs(X)
        if len(pairs) <= self.knn_k:
            raise ValueError(
                f"the reference needs more than knn_k={self.knn_k} pairs, got {len(pairs)}"
            )
        self.reference_embeddings_ = self._embedder().encode([embedding_text(p) for p in pairs])
        self.reference_keys_: dict[str, int] = {}
        for i, p in enumerate(pairs):
            self.reference_keys_.setdefault(p.key, i)
        self.n_features_in_ = 1
        self.reward_source_ = (
            "reward model" if self.reward_model is not None
            else "proxy: (log p(y|x) - log p(y|'')) / |y| under the scorer, nats per token"
        )  # fmt: skip
        return self

    def transform(self, X: Iterable[Pair | Sequence[str]]) -> np.ndarray:
        """Indicators of each pair.

        Returns
        -------
        ndarray of shape (n, 6), dtype float64
            Columns :meth:`get_feature_names_out`: lengths in the scorer's tokens, reward (proxy
            in nats per token, or the reward model's score), perplexity, MTLD (words per factor),
            KNN distance (Euclidean between unit vectors, in [0, 2]).

        Raises
        ------
        sklearn.exceptions.NotFittedError
            Before :meth:`fit`.
        ValueError
            If the reward model returns the wrong number of scores or a non-finite one.
        """
        from sklearn.utils.validation import check_is_fitted

        check_is_fitted(self, "reference_embeddings_")
        pairs = as_pairs(X)
        scores = self._scorer().score(pairs)  # (n, 5)
        if self.reward_model is not None:
            reward = np.asarray(
                self.reward_model([p.instruction for p in pairs], [p.response for p in pairs]),
                dtype=np.float64,
            )
            if reward.shape != (len(pairs),) or not np.isfinite(reward).all():
                raise ValueError(
                    f"the reward model must return {len(pairs)} finite scores, got shape {reward.shape}"
                )
        else:
            reward = reward_proxy(scores)
        lexical = np.array([mtld(p.response, self.mtld_threshold) for p in pairs])
        own = np.array([self.reference_keys_.get(p.key, -1) for p in pairs], dtype=np.int64)
        emb = np.empty((len(pairs), self.reference_embeddings_.shape[1]))
        # reference pairs were embedded in fit
        emb[own >= 0] = self.reference_embeddings_[own[own >= 0]]
        new = np.nonzero(own < 0)[0]
        if len(new):
            emb[new] = self._embedder().encode([embedding_text(pairs[i]) for i in new])
        knn = knn_distances(emb, self.reference_embeddings_, self.knn_k, exclude=own,
                            statistic=self.knn_statistic)  # fmt: skip
        return np.column_stack(
            [scores[:, 0], scores[:, 1], reward, perplexity(scores), lexical, knn]
        )
