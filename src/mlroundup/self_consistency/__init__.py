"""Self-consistency for open-ended generation: pick the sampled generation most like the others.

Jain, Ma, Deoras & Xiang, "Lightweight reranking for language model generations" (arXiv
2307.06857). ``select(generations, logprobs, method="consensus-wucs")`` picks one of n samples by
unigram (n-gram) consistency, optionally weighted by the model's token probabilities; the
baselines (random, mean/sum log-probability, majority vote) sit beside it. Importing this package
needs only NumPy: the sampler (:mod:`mlroundup.models`) and the sandboxed code evaluator
(:mod:`mlroundup.self_consistency.sandbox`) are imported on use.
"""

from mlroundup.self_consistency.scores import (
    consensus_wucs,
    consistency_matrix,
    gsc_scores,
    mean_logprob,
    sum_logprob,
)
from mlroundup.self_consistency.selection import (
    METHODS,
    expected_random_accuracy,
    pass_at_k,
    select,
    validate,
)

__all__ = [
    "METHODS",
    "consensus_wucs",
    "consistency_matrix",
    "expected_random_accuracy",
    "gsc_scores",
    "mean_logprob",
    "pass_at_k",
    "select",
    "sum_logprob",
    "validate",
]
