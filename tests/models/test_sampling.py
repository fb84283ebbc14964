"""The nucleus (top-p) draw of :mod:`mlroundup.models.sampling`, without a model.

Oracle: the nucleus computed by a slow reference that sorts the whole vocabulary in Python
(Holtzman et al. 2020: keep a token when the mass ranked above it is < top_p), and the
renormalized nucleus probabilities for the empirical frequencies.
"""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from mlroundup.models.sampling import _draw  # noqa: E402


def _nucleus(p: np.ndarray, top_p: float) -> set[int]:
    order = sorted(range(len(p)), key=lambda i: -p[i])
    kept, mass = set(), 0.0
    for i in order:
        if mass >= top_p:
            break
        kept.add(i)
        mass += p[i]
    return kept


@pytest.mark.parametrize("vocab,top_p,temp", [(50, 0.9, 1.0), (3000, 0.95, 1.0), (3000, 0.99, 8.0)])
def test_draws_stay_in_the_reference_nucleus(vocab, top_p, temp):
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(6, vocab, generator=g, dtype=torch.float64) * 3 / temp
    probs = torch.softmax(logits, -1)
    ref = [_nucleus(probs[r].numpy(), top_p) for r in range(6)]
    if vocab == 3000 and temp == 8.0:  # flat rows: the nucleus is wider than the first top-k
        assert min(len(s) for s in ref) > 256
    for _ in range(30):
        tok = _draw(probs, top_p, g)
        assert tok.shape == (6,)
        for r in range(6):
            assert int(tok[r]) in ref[r]


def test_frequencies_follow_the_renormalized_nucleus():
    probs = torch.tensor([[0.5, 0.3, 0.15, 0.05]], dtype=torch.float64)
    g = torch.Generator().manual_seed(1)
    n = 20000
    # nucleus at 0.9: tokens 0, 1, 2 (the mass ranked above token 3 is 0.95)
    counts = np.bincount(_draw(probs.expand(n, 4), 0.9, g).numpy(), minlength=4)
    assert counts[3] == 0
    expect = np.array([0.5, 0.3, 0.15]) / 0.95
    np.testing.assert_allclose(counts[:3] / n, expect, atol=0.015)


def test_top_p_one_samples_the_whole_distribution():
    probs = torch.tensor([[0.25, 0.25, 0.25, 0.25]])
    g = torch.Generator().manual_seed(2)
    seen = {int(_draw(probs, 1.0, g)[0]) for _ in range(200)}
    assert seen == {0, 1, 2, 3}
