"""Instruction Mining (Cao, Kang, Wang, Sun, arXiv 2307.06290; COLM 2024).

Estimate the quality of instruction data by the eval loss of a model fine-tuned on it, fit
``log L`` as a linear function of the data's mean natural-language indicators, and select the
examples the rule scores best::

    from mlroundup.instruction_mining import Indicators, QualityRule, read_pairs, select_top_k

    pairs = read_pairs("data.jsonl")                    # {"instruction": ..., "response": ...}
    ind = Indicators()                                  # SmolLM2 scorer, MiniLM embeddings
    F = ind.fit_transform(pairs)                        # (n, 6): lengths, reward, PPL, MTLD, KNN-6
    rule = QualityRule.paper(features=ind.get_feature_names_out())   # or QualityRule().fit(X, L)
    best = select_top_k(rule.predict(F), k=1000)

Modules: :mod:`.records` (pairs, JSONL checking), :mod:`.pools` (ShareGPT, HumanEval),
:mod:`.indicators` (the transformer), :mod:`.lm_scores` (lengths, perplexity, reward proxy),
:mod:`.mtld`, :mod:`.knn`, :mod:`.embeddings`, :mod:`.rule` (:class:`QualityRule`),
:mod:`.selection`, :mod:`.basemodel` (the quick-scale GPT), :mod:`.experiment`, :mod:`.cli`.
"""

# Imported lazily (PEP 562): registering the experiment must not import torch or statsmodels.
from mlroundup.utils.lazy import lazy_exports

_EXPORTS = {
    "records": ("Pair", "RecordError", "as_pairs", "read_pairs"),
    "pools": ("humaneval", "sharegpt"),
    "indicators": ("INDICATORS", "Indicators", "dataset_means"),
    "lm_scores": ("GPTScorer", "SmolLM2Scorer"),
    "embeddings": ("SentenceEmbedder",),
    "mtld": ("mtld",),
    "knn": ("knn_distances",),
    "rule": ("PAPER_RULE", "QualityRule"),
    "selection": ("mixture_subsets", "random_subset", "select_top_k"),
}
__getattr__, __all__ = lazy_exports(__name__, _EXPORTS)
