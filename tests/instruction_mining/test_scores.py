"""Lengths, perplexity and the reward proxy (against a slow token-by-token reference), the
embedder, and the Indicators transformer column by column."""

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from mlroundup.instruction_mining.basemodel import AsciiTokenizer  # noqa: E402
from mlroundup.instruction_mining.indicators import Indicators, dataset_means  # noqa: E402
from mlroundup.instruction_mining.lm_scores import (  # noqa: E402
    GPTScorer,
    perplexity,
    reward_proxy,
)
from mlroundup.instruction_mining.mtld import mtld  # noqa: E402
from mlroundup.instruction_mining.records import Pair  # noqa: E402
from mlroundup.training import GPT, GPTConfig  # noqa: E402

PAIRS = [
    Pair("Add two and two.", "Four."),
    Pair("Name a colour", "Blue is a colour; so is red, and green is one too."),
    Pair("Tab\there", "caf\u00e9 ok"),
]


@pytest.fixture(scope="module")
def gpt():
    torch.manual_seed(0)
    cfg = GPTConfig(vocab_size=AsciiTokenizer.vocab_size, block_size=96, n_layer=1, n_head=2,
                    d_model=16)  # fmt: skip
    return GPT(cfg).eval()


def _slow_logprob(model, prefix, target):
    """sum_j log p(target[j] | prefix + target[:j]), one forward pass per token, unpadded."""
    total = 0.0
    with torch.no_grad():
        for j in range(len(target)):
            x = torch.tensor([prefix + target[:j]])
            logp = torch.log_softmax(model(x)[0, -1].double(), dim=-1)
            total += float(logp[target[j]])
    return total


def test_gpt_scorer_against_a_token_by_token_reference(gpt):
    tok = AsciiTokenizer()
    scorer = GPTScorer(gpt, tok, cache=False, batch_size=2, max_output_tokens=20)
    out = scorer.score(PAIRS)
    assert out.shape == (3, 5)
    # lengths in characters (a tab is four characters, an accented letter one "?")
    assert out[:, 0].tolist() == [16, 13, 11]
    assert out[:, 1].tolist() == [5, 50, 7]
    assert out[:, 2].tolist() == [5, 20, 7]  # the response cut to max_output_tokens
    template = "### Instruction:\n{}\n\n### Response:\n"
    for i, p in enumerate(PAIRS):
        target = [int(t) for t in tok.encode(p.response)[:20]]
        cond = [int(t) for t in tok.encode(template.format(p.instruction))]
        uncond = [int(t) for t in tok.encode(template.format(""))]
        assert out[i, 3] == pytest.approx(_slow_logprob(gpt, cond, target), rel=1e-4, abs=1e-4)
        assert out[i, 4] == pytest.approx(_slow_logprob(gpt, uncond, target), rel=1e-4, abs=1e-4)


def test_perplexity_and_reward_proxy_by_hand():
    # 4 scored tokens, log p(y|x) = -8, log p(y|"") = -10: PPL = e^2, reward (-8 + 10) / 4 = 0.5
    rows = np.array([[3.0, 4.0, 4.0, -8.0, -10.0], [1.0, 9.0, 2.0, -2.0, -1.0]])
    np.testing.assert_allclose(perplexity(rows), [math.e**2, math.e])
    np.testing.assert_allclose(reward_proxy(rows), [0.5, -0.5])


def test_scores_are_cached_by_content(gpt, tmp_path):
    tok = AsciiTokenizer()
    first = GPTScorer(gpt, tok, cache_dir=tmp_path).score(PAIRS)
    again = GPTScorer(gpt, tok, cache_dir=tmp_path)

    def no_model(batch):
        raise AssertionError("the cache should have answered")

    again._logprob_sums = no_model
    np.testing.assert_array_equal(again.score(PAIRS[::-1]), first[::-1])
    # other weights are another cache key
    other = GPTScorer(GPT(gpt.cfg).eval(), tok, cache_dir=tmp_path)
    assert other.name != again.name


def test_dataset_means():
    F = np.arange(12.0).reshape(4, 3)
    np.testing.assert_allclose(dataset_means(F, [[0, 1], [3]]), [[1.5, 2.5, 3.5], [9, 10, 11]])
    with pytest.raises(ValueError, match="subset 1 is empty"):
        dataset_means(F, [[0], []])


class _AxisEmbedder:
    """Texts to fixed points (a stand-in for MiniLM with known distances): the i-th distinct
    text goes to 3*i on the first axis."""

    def __init__(self):
        self.seen = {}

    def encode(self, texts):
        out = np.zeros((len(texts), 2))
        for j, t in enumerate(texts):
            out[j, 0] = 3.0 * self.seen.setdefault(t, len(self.seen))
        return out


def test_indicators_columns(gpt):
    tok = AsciiTokenizer()
    pool = [Pair(f"Question {i}?", f"Answer number {i} is {i}.") for i in range(5)]
    ind = Indicators(scorer=GPTScorer(gpt, tok, cache=False), embedder=_AxisEmbedder(), knn_k=2)
    F = ind.fit_transform(pool)
    assert list(ind.get_feature_names_out()) == [
        "input_length", "output_length", "reward", "perplexity", "mtld", "knn_2",
    ]  # fmt: skip
    scores = GPTScorer(gpt, tok, cache=False).score(pool)
    np.testing.assert_allclose(F[:, 0], [len(p.instruction) for p in pool])
    np.testing.assert_allclose(F[:, 1], [len(p.response) for p in pool])
    np.testing.assert_allclose(F[:, 2], (scores[:, 3] - scores[:, 4]) / scores[:, 2])
    np.testing.assert_allclose(F[:, 3], np.exp(-scores[:, 3] / scores[:, 2]))
    np.testing.assert_allclose(F[:, 4], [mtld(p.response) for p in pool])
    # points 0, 3, 6, 9, 12: the 2nd nearest other point is 6 away, except 3 in the middle
    np.testing.assert_allclose(F[:, 5], [6, 3, 3, 3, 6])
    # a new pair (at 15) is measured against the whole reference: 12 and 9 -> 6
    new = ind.transform([Pair("New?", "Yes.")])
    assert new[0, 5] == pytest.approx(6.0)


def test_indicators_reward_model_slot_and_refusals(gpt):
    tok = AsciiTokenizer()
    pool = [Pair(f"Q{i}", f"A{i}") for i in range(4)]

    def reward_model(instructions, responses):
        return [float(len(r)) for r in responses]

    ind = Indicators(scorer=GPTScorer(gpt, tok, cache=False), embedder=_AxisEmbedder(),
                     reward_model=reward_model, knn_k=1).fit(pool)  # fmt: skip
    assert ind.reward_source_ == "reward model"
    np.testing.assert_allclose(ind.transform(pool)[:, 2], [2, 2, 2, 2])
    with pytest.raises(ValueError, match="more than knn_k=6"):
        Indicators(embedder=_AxisEmbedder()).fit(pool)
    bad = Indicators(scorer=GPTScorer(gpt, tok, cache=False), embedder=_AxisEmbedder(),
                     reward_model=lambda a, b: [1.0], knn_k=1).fit(pool)  # fmt: skip
    with pytest.raises(ValueError, match="4 finite scores"):
        bad.transform(pool)


def test_minilm_embeddings_unit_norm_semantic_and_cached(tmp_path):
    pytest.importorskip("sentence_transformers")
    from mlroundup.instruction_mining.embeddings import SentenceEmbedder, model_dir

    try:
        model_dir()
    except FileNotFoundError as exc:
        pytest.skip(str(exc))
    texts = [
        "A cat sits on the mat.",
        "A kitten is sitting on a rug.",
        "Stock prices fell sharply.",
    ]
    emb = SentenceEmbedder(cache_dir=tmp_path).encode(texts)
    assert emb.shape == (3, 384)
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, rtol=1e-5)
    assert emb[0] @ emb[1] > emb[0] @ emb[2] + 0.2  # paraphrases closer than unrelated text
    again = SentenceEmbedder(cache_dir=tmp_path)
    np.testing.assert_allclose(again.encode(texts[::-1]), emb[::-1])
    assert again._model is None  # answered from the cache, the model never loaded
