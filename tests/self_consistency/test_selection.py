"""`select`: baselines, invariances (candidate order, duplicates) and bad input.

Oracles: the baselines' definitions evaluated by hand on tiny inputs (Jain et al., arXiv
2307.06857, Section 5: random, mean log-probability, total log-probability, majority vote), and
properties that follow from the GSC definition (stated in each test).
"""

import math

import numpy as np
import pytest

from mlroundup.self_consistency import METHODS, expected_random_accuracy, pass_at_k, select
from mlroundup.self_consistency.tokenization import regex_words, whitespace

GENS = ["return a + b", "return a+b", "return b + a", "print(a)"]
LPS = [np.log([0.9, 0.8, 0.7, 0.9]), np.log([0.5, 0.5, 0.5, 0.5]), np.log([0.9, 0.2, 0.7, 0.9]),
       np.log([0.99, 0.99, 0.99, 0.99])]  # fmt: skip


def test_mean_and_sum_logprob_baselines():
    # mean log-probs: candidate 3 has the highest (all tokens .99); the total log-probability
    # is also highest for 3 (4 * log .99)
    idx, s = select(GENS, LPS, method="mean-logprob")
    assert idx == 3
    np.testing.assert_allclose(s[1], math.log(0.5))
    idx, s = select(GENS, LPS, method="sum-logprob")
    assert idx == 3
    np.testing.assert_allclose(s[0], math.log(0.9 * 0.8 * 0.7 * 0.9))


def test_sum_prefers_short_mean_does_not():
    gens = [["x"], ["y", "z", "w"]]
    lps = [[math.log(0.5)], [math.log(0.6)] * 3]
    assert select(gens, lps, method="sum-logprob")[0] == 0  # .5 > .6^3
    assert select(gens, lps, method="mean-logprob")[0] == 1


def test_majority_normalizes_whitespace():
    gens = ["Paris", " Paris ", "Lyon", "paris"]
    idx, s = select(gens, method="majority")
    assert idx == 0
    assert s.tolist() == [2, 2, 1, 1]


def test_random_is_uniform_and_seeded():
    picks = [select(GENS, method="random", rng=k)[0] for k in range(400)]
    counts = np.bincount(picks, minlength=4)
    assert counts.min() > 60  # 100 expected each; P(any < 60) is negligible
    assert select(GENS, method="random", rng=3)[0] == select(GENS, method="random", rng=3)[0]


def test_ucs_picks_the_consensus_program():
    idx, _ = select(GENS, method="ucs")
    assert GENS[idx].startswith("return a")


@pytest.mark.parametrize("method", ["ucs", "wucs", "consensus-wucs", "mean-logprob", "majority"])
def test_order_invariance(method):
    # Permuting the candidates permutes the scores (GSC is a sum over the others).
    rng = np.random.default_rng(0)
    toks = [list(rng.integers(0, 6, size=int(rng.integers(1, 9)))) for _ in range(9)]
    lps = [np.log(rng.uniform(0.05, 1, size=len(t))) for t in toks]
    _, s = select(toks, lps, method=method)
    perm = rng.permutation(len(toks))
    _, sp = select([toks[p] for p in perm], [lps[p] for p in perm], method=method)
    np.testing.assert_allclose(sp, s[perm], rtol=1e-12)


@pytest.mark.parametrize("method", ["ucs", "wucs", "consensus-wucs", "mean-logprob", "majority"])
def test_duplicates_score_equal(method):
    toks = [[1, 2, 3], [1, 2], [3, 4], [1, 2, 3]]
    lps = [np.log([0.5, 0.6, 0.7]), np.log([0.9, 0.9]), np.log([0.3, 0.4]), np.log([0.5, 0.6, 0.7])]
    _, s = select(toks, lps, method=method)
    assert s[0] == pytest.approx(s[3], rel=1e-12)


def test_duplicated_ucs_winner_stays_winner():
    # Adding a copy of the UCS winner k adds UCS(k,k) = |T_k|/|V| to k's sum and UCS(i,k) <=
    # |T_k|/|V| to every other i's sum, so k stays the argmax.
    rng = np.random.default_rng(1)
    for _ in range(20):
        toks = [list(rng.integers(0, 10, size=int(rng.integers(1, 8)))) for _ in range(7)]
        k, s = select(toks, method="ucs")
        if np.sum(s == s[k]) > 1:
            continue  # ties: the claim is about a strict winner
        k2, s2 = select([*toks, toks[k]], method="ucs")
        assert s2[k2] == pytest.approx(s2[k])


def test_string_generations_with_model_style_tokens():
    # weighted scores on strings need a tokenizer that yields one token per log-probability
    gens = ["a b", "a c"]
    lps = [[-0.1, -0.2], [-0.1, -0.3]]
    idx, s = select(gens, lps, method="wucs", tokenizer=whitespace)
    assert idx in (0, 1) and s.shape == (2,)
    with pytest.raises(ValueError, match="tokens under the tokenizer"):
        select(["a b c"], [[-0.1]], method="wucs", tokenizer="whitespace")


def test_tokenizers():
    assert regex_words("f(x)+1") == ["f", "(", "x", ")", "+", "1"]
    assert whitespace(" a\tb\n") == ["a", "b"]
    with pytest.raises(ValueError, match="unknown tokenizer"):
        select(["a"], method="ucs", tokenizer="nope")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"generations": []}, "generations is empty"),
        ({"generations": ["a", "b"], "logprobs": [[-0.1]]}, "logprobs has 1 entries"),
        ({"generations": [["a"]], "logprobs": [[float("nan")]]}, r"logprobs\[0\]\[0\]"),
        ({"generations": [["a", "b"]], "logprobs": [[-0.1, 0.2]]}, r"invalid logprobs\[0\]\[1\]"),
        ({"generations": [["a", "b"]], "logprobs": [[-0.1]]}, r"logprobs\[0\] has 1 values"),
        ({"generations": ["a", ["a"]]}, "mixes strings"),
        ({"generations": ["a"], "method": "best"}, "unknown method"),
        ({"generations": ["a"], "method": "wucs"}, "needs logprobs"),
        ({"generations": ["a"], "method": "ucs", "ngram": 0}, "invalid ngram"),
        ({"generations": ["a"], "method": "ucs", "weighting": "left"}, "invalid weighting"),
    ],
)
def test_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        select(**kwargs)


def test_bad_generation_type():
    with pytest.raises(TypeError, match=r"generations\[0\]"):
        select([3.5], method="ucs")


def test_every_method_runs():
    for method in METHODS:
        # the default regex tokenizer splits each of GENS into 4 tokens, aligned with LPS
        idx, s = select(GENS, LPS if METHODS[method] else None, method=method)
        assert 0 <= idx < len(GENS) and s.shape == (len(GENS),)


def test_pass_at_k_and_expected_random():
    # pass@1 = c/n; pass@n = 1 if c > 0 (Chen et al. 2021, eq. 1)
    assert pass_at_k(10, 3, 1) == pytest.approx(0.3)
    assert pass_at_k(10, 1, 10) == 1.0
    assert pass_at_k(10, 0, 10) == 0.0
    assert pass_at_k(5, 2, 2) == pytest.approx(1 - math.comb(3, 2) / math.comb(5, 2))
    assert expected_random_accuracy([True, False, False, True]) == 0.5
    with pytest.raises(ValueError):
        pass_at_k(3, 4, 1)
