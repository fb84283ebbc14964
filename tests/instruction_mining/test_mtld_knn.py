"""MTLD and KNN-i against hand computations and an independent implementation of the published
algorithm (McCarthy & Jarvis 2010), never against the code's own earlier output."""

import numpy as np
import pytest

from mlroundup.instruction_mining.knn import knn_distances
from mlroundup.instruction_mining.mtld import mtld, words


def _mtld_reference(tokens, threshold=0.72):
    """MTLD as McCarthy & Jarvis (2010) describe it, written here from the paper: walk the words,
    a factor ends when the running TTR of the segment falls to the threshold; the words left at the
    end add (1 - TTR) / (1 - threshold) of a factor; MTLD = words / factors, averaged over the
    forward and the backward pass."""

    def one_pass(seq):
        factors, types, count, ttr = 0.0, set(), 0, 1.0
        for w in seq:
            count += 1
            types.add(w)
            ttr = len(types) / count
            if ttr <= threshold:
                factors, types, count = factors + 1, set(), 0
        if count:
            factors += (1 - ttr) / (1 - threshold)
        return len(seq) / factors

    return (one_pass(tokens) + one_pass(tokens[::-1])) / 2


def test_mtld_worked_example_by_hand():
    # Forward over a b a c d e f: TTR 1, 1, 2/3 <= 0.72 -> one factor after 3 words; c d e f
    # never repeat (TTR 1): the partial factor (1 - 1)/0.28 = 0, so forward = 7 / 1 = 7.
    # Backward over f e d c a b a: TTR 1 for six words, then 6/7 = 0.857 > 0.72; the tail adds
    # (1 - 6/7)/0.28 = (1/7)/0.28 of a factor, so backward = 7 / ((1/7)/0.28) = 7*7*0.28 = 13.72.
    # MTLD = (7 + 13.72) / 2 = 10.36.
    assert mtld(["a", "b", "a", "c", "d", "e", "f"]) == pytest.approx(10.36, rel=1e-12)


def test_mtld_second_worked_example():
    # a a b b a b c d, forward: a(1) a(1/2: factor 1) b(1) b(1/2: factor 2) a b c d (TTR 1,
    # partial 0): 8/2 = 4. Backward d c b a (TTR 1) b (4/5 = 0.8) b (4/6 = 0.667: factor 1)
    # a (1) a (1/2: factor 2), nothing left: 8/2 = 4. MTLD 4.
    assert mtld("a a b b a b c d") == pytest.approx(4.0, rel=1e-12)


def test_mtld_matches_the_published_algorithm_on_random_texts():
    rng = np.random.default_rng(0)
    vocab = [f"w{c}" for c in "abcdefghijkl"]
    for n in (20, 57, 200):
        tokens = list(rng.choice(vocab, size=n))
        assert mtld(tokens) == pytest.approx(_mtld_reference(tokens), rel=1e-12)
        assert mtld(tokens, threshold=0.6) == pytest.approx(_mtld_reference(tokens, 0.6), rel=1e-12)


def test_mtld_words_lowercase_without_punctuation_or_digits():
    assert words("The cat, the CAT! 42 well-known") == ["the", "cat", "the", "cat", "wellknown"]
    # the, cat, the (2/3: factor) cat: forward 4 / (1 + 0) = 4 (the tail "cat" has TTR 1).
    # Backward cat the cat (2/3: factor) the: 4 / 1 = 4.
    assert mtld("The cat, the CAT!") == pytest.approx(4.0)


def test_mtld_without_words_and_bad_threshold():
    assert mtld("123 ... !!") == 0.0
    with pytest.raises(ValueError, match="threshold"):
        mtld("a b", threshold=1.0)


def test_knn_on_a_line_by_hand():
    x = np.array([[0.0], [1.0], [3.0], [6.0], [10.0]])
    own = np.arange(5)
    # sorted distances to the others: 0: 1 3 6 10; 1: 1 2 5 9; 3: 2 3 3 7; 6: 3 4 5 6;
    # 10: 4 7 9 10
    np.testing.assert_allclose(knn_distances(x, x, 1, exclude=own), [1, 1, 2, 3, 4])
    np.testing.assert_allclose(knn_distances(x, x, 2, exclude=own), [3, 2, 3, 4, 7])
    np.testing.assert_allclose(knn_distances(x, x, 4, exclude=own), [10, 9, 7, 6, 10])
    np.testing.assert_allclose(
        knn_distances(x, x, 2, exclude=own, statistic="mean"), [2, 1.5, 2.5, 3.5, 5.5]
    )
    # without excluding itself, a point's first neighbour is itself at distance 0
    np.testing.assert_allclose(knn_distances(x, x, 1), [0, 0, 0, 0, 0])


def test_knn_unit_square_in_blocks():
    sq = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    # each corner: two sides at 1, the diagonal at sqrt(2)
    d = knn_distances(sq, sq, 3, exclude=np.arange(4), block=3)
    np.testing.assert_allclose(d, np.full(4, np.sqrt(2)))
    # a query outside the reference (exclude -1)
    q = np.array([[0.5, 0.5], [3.0, 4.0]])
    np.testing.assert_allclose(knn_distances(q, sq, 1), [np.sqrt(0.5), np.hypot(2, 3)])


def test_knn_refusals():
    x = np.zeros((3, 2))
    with pytest.raises(ValueError, match="at least 3"):
        knn_distances(x, x, 3, exclude=np.arange(3))
    with pytest.raises(ValueError, match="invalid k"):
        knn_distances(x, x, 0)
    with pytest.raises(ValueError, match="finite"):
        knn_distances(np.full((1, 2), np.nan), x, 1)
    with pytest.raises(ValueError, match=r"\(n, d\)"):
        knn_distances(np.zeros((1, 3)), x, 1)
    with pytest.raises(ValueError, match="statistic"):
        knn_distances(x, x, 1, statistic="median")
