"""Fixtures for the ICAE tests: a tiny random LLaMA (no pretraining) and its character tokenizer."""

import copy

import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM

from mlroundup.data.tokenizers import CharTokenizer

ALPHABET = " abcdefghijklmnopqrstuvwxyz.,\n"


@pytest.fixture(autouse=True)
def _one_thread():
    """One thread: reproducible sums, and no oversubscription on a shared 2-core machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def make_lm(seed: int = 0, window: int = 64, hidden: int = 32) -> LlamaForCausalLM:
    torch.manual_seed(seed)
    cfg = LlamaConfig(vocab_size=len(ALPHABET), hidden_size=hidden, intermediate_size=2 * hidden,
                      num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                      max_position_embeddings=window, tie_word_embeddings=True,
                      bos_token_id=None, eos_token_id=None, pad_token_id=None)  # fmt: skip
    return LlamaForCausalLM(cfg).eval()


@pytest.fixture
def tok():
    return CharTokenizer(ALPHABET)


@pytest.fixture
def lm_pair():
    """(model to wrap, an untouched copy of it)."""
    lm = make_lm()
    return lm, copy.deepcopy(lm)


def pattern_stream(n: int, seed: int):
    """A learnable stream over ALPHABET: the alphabet in order, 10% of the symbols replaced at random."""
    import numpy as np

    from mlroundup.data.tokens import TokenStream

    rng = np.random.default_rng(seed)
    base = np.tile(np.arange(len(ALPHABET)), n // len(ALPHABET) + 1)[:n]
    noise = rng.random(n) < 0.1
    toks = np.where(noise, rng.integers(0, len(ALPHABET), n), base).astype(np.uint16)
    return TokenStream(tokens=toks, n_chars=n, name=f"pattern-{seed}")


@pytest.fixture(scope="module")
def _pattern_state():
    """Weights of the tiny LLaMA after 150 steps of the project's trainer on the pattern stream
    (an untrained decoder ignores its input, so nothing could steer it)."""
    from mlroundup.icae.base import LogitsLM
    from mlroundup.training import Budget, BudgetSchedule, TrainConfig, train

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    lm = make_lm()
    train(LogitsLM(lm), (pattern_stream(3000, 0), pattern_stream(600, 1)), Budget.of_steps(150),
          BudgetSchedule(1e-2), config=TrainConfig(batch_size=8, seq_len=32, eval_sequences=8))  # fmt: skip
    torch.set_num_threads(before)
    return copy.deepcopy(lm.state_dict())


@pytest.fixture
def pattern_lm(_pattern_state):
    """(a pretrained tiny LLaMA, an untouched copy of it)."""
    lm = make_lm()
    lm.load_state_dict(_pattern_state)
    lm.eval()
    return lm, copy.deepcopy(lm)
