"""UCS / WUCS / Consensus-WUCS against hand-computed values and a slow reference implementation.

Oracles: (1) values worked out by hand from the definitions in Jain et al., arXiv 2307.06857,
Section 3 (shown as fractions in the comments); (2) a direct double loop over pairs with Python
sets and dicts (`_reference_gsc`), independent of the vectorized O(tokens) code.
"""

import math

import numpy as np
import pytest

from mlroundup.self_consistency import consensus_wucs, consistency_matrix, gsc_scores, select

# g0 = a b c, g1 = a b, g2 = c d  ->  V = {a, b, c, d}, |V| = 4
GENS = [list("abc"), list("ab"), list("cd")]
PROBS = [[0.5, 0.8, 0.9], [0.4, 0.2], [0.1, 1.0]]
LPS = [np.log(p) for p in PROBS]


def test_ucs_hand_computed():
    # UCS(0,1) = |{a,b}|/4 = 1/2, UCS(0,2) = |{c}|/4 = 1/4, UCS(1,2) = 0
    # GSC = mean over the other two: (3/8, 1/4, 1/8)
    np.testing.assert_allclose(gsc_scores(GENS), [3 / 8, 1 / 4, 1 / 8], rtol=1e-12)
    s = consistency_matrix(GENS)
    np.testing.assert_allclose(s[0, 1], 0.5)
    np.testing.assert_allclose(s[0, 2], 0.25)
    np.testing.assert_allclose(s[1, 2], 0.0)
    idx, _ = select(GENS, method="ucs")
    assert idx == 0


def test_wucs_one_sided_hand_computed():
    # u0 = (a .5, b .8, c .9), u1 = (a .4, b .2), u2 = (c .1, d 1)
    # WUCS(0,1) = (.5+.8)/4, WUCS(0,2) = .9/4 -> GSC0 = (1.3+.9)/8 = .275
    # WUCS(1,0) = (.4+.2)/4, WUCS(1,2) = 0     -> GSC1 = .6/8 = .075
    # WUCS(2,0) = .1/4,      WUCS(2,1) = 0     -> GSC2 = .1/8 = .0125
    np.testing.assert_allclose(gsc_scores(GENS, LPS), [0.275, 0.075, 0.0125], rtol=1e-12)
    s = consistency_matrix(GENS, LPS)
    assert s[0, 1] != s[1, 0]  # one-sided weighting is not symmetric


def test_wucs_both_sided_hand_computed():
    # WUCS(0,1) = (.5*.4 + .8*.2)/4 = .09, WUCS(0,2) = .9*.1/4 = .0225 -> GSC0 = .05625
    # WUCS(1,2) = 0 -> GSC1 = .09/2 = .045; GSC2 = .0225/2 = .01125
    got = gsc_scores(GENS, LPS, weighting="both")
    np.testing.assert_allclose(got, [0.05625, 0.045, 0.01125], rtol=1e-12)
    s = consistency_matrix(GENS, LPS, weighting="both")
    np.testing.assert_allclose(s, s.T)


def test_consensus_wucs_hand_computed():
    # times the geometric-mean probability: (.5*.8*.9)^(1/3), (.4*.2)^(1/2), (.1*1)^(1/2)
    want = [
        0.275 * (0.36) ** (1 / 3),
        0.075 * math.sqrt(0.08),
        0.0125 * math.sqrt(0.1),
    ]
    np.testing.assert_allclose(consensus_wucs(GENS, LPS), want, rtol=1e-12)
    idx, scores = select(GENS, LPS, method="consensus-wucs")
    assert idx == 0
    np.testing.assert_allclose(scores, want, rtol=1e-12)


def test_repeated_token_uses_mean_probability():
    # g0 = a a (p = .2, .6) -> u0_a = mean = .4 ; g1 = a (p = 1) ; V = {a}
    # WUCS(0,1) = .4 ; WUCS(1,0) = 1 ; M - 1 = 1
    gens = [["a", "a"], ["a"]]
    lps = [np.log([0.2, 0.6]), np.log([1.0])]
    np.testing.assert_allclose(gsc_scores(gens, lps), [0.4, 1.0], rtol=1e-12)


def test_bigram_hand_computed():
    # bigrams: g0 = {ab, bc}, g1 = {ab}, g2 = {cd} -> |V2| = 3
    # NCS(0,1) = 1/3, others 0 -> GSC = (1/6, 1/6, 0)
    np.testing.assert_allclose(gsc_scores(GENS, ngram=2), [1 / 6, 1 / 6, 0.0], rtol=1e-12)
    # weighted bigram = product of its token probabilities: g0 ab -> .4, bc -> .72; g1 ab -> .08
    # WNCS(0,1) = .4/3, WNCS(1,0) = .08/3 -> GSC = (.4/6, .08/6, 0)
    np.testing.assert_allclose(gsc_scores(GENS, LPS, ngram=2), [0.4 / 6, 0.08 / 6, 0.0], rtol=1e-12)


def _reference_gsc(gens, probs=None, n=1, both=False):
    """Slow oracle: explicit pairs, sets and dicts, straight from the definitions."""

    def grams(g):
        return [tuple(g[k : k + n]) for k in range(len(g) - n + 1)]

    vocab = set()
    for g in gens:
        vocab.update(grams(g))
    weights = []
    for i, g in enumerate(gens):
        occ = {}
        for k, gram in enumerate(grams(g)):
            p = 1.0 if probs is None else math.prod(probs[i][k : k + n])
            occ.setdefault(gram, []).append(p)
        weights.append({gram: sum(v) / len(v) for gram, v in occ.items()})
    m = len(gens)
    out = []
    for i in range(m):
        total = 0.0
        for j in range(m):
            if j == i:
                continue
            for gram, w in weights[i].items():
                if gram in weights[j]:
                    total += w * (weights[j][gram] if both and probs is not None else 1.0)
        out.append(total / len(vocab) / max(m - 1, 1) if vocab else 0.0)
    return np.array(out)


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("n", [1, 2, 3])
def test_matches_slow_reference(seed, n):
    rng = np.random.default_rng(seed)
    m = int(rng.integers(2, 12))
    gens = [list(rng.integers(0, 8, size=int(rng.integers(0, 15)))) for _ in range(m)]
    probs = [list(rng.uniform(0.01, 1.0, size=len(g))) for g in gens]
    lps = [np.log(p) for p in probs]
    np.testing.assert_allclose(gsc_scores(gens, ngram=n), _reference_gsc(gens, n=n), atol=1e-12)
    np.testing.assert_allclose(
        gsc_scores(gens, lps, ngram=n), _reference_gsc(gens, probs, n=n), atol=1e-12
    )
    np.testing.assert_allclose(
        gsc_scores(gens, lps, ngram=n, weighting="both"),
        _reference_gsc(gens, probs, n=n, both=True),
        atol=1e-12,
    )
    # the O(tokens) scores agree with the off-diagonal row means of the pairwise matrix
    s = consistency_matrix(gens, lps, ngram=n)
    np.testing.assert_allclose(gsc_scores(gens, lps, ngram=n), (s.sum(1) - np.diag(s)) / (m - 1))


def test_single_token_answers_reduce_to_majority_vote():
    # Oracle: with one-token answers UCS(i) = (count(answer_i) - 1) / (|V| (M-1)), i.e. a vote.
    answers = ["7", "12", "7", "9", "12", "7", "3"]
    idx, s = select(answers, method="ucs", tokenizer="whitespace")
    assert answers[idx] == "7"
    np.testing.assert_allclose(s, [(answers.count(a) - 1) / (4 * 6) for a in answers])
    midx, _ = select(answers, method="majority")
    assert answers[midx] == answers[idx]


def test_empty_and_short_generations_score_zero():
    assert gsc_scores([[], []]).tolist() == [0.0, 0.0]
    assert gsc_scores([["a"], ["a", "b"]], ngram=3).tolist() == [0.0, 0.0]
    assert gsc_scores([["a", "b"]]).tolist() == [0.0]  # M = 1
