"""Tiny models, synthetic token streams and hand-made RST tables for the trainer tests (and the
method tests of tests/budgeted_training, which import them as ``training.training_helpers``).

A plain module (not conftest.py) so that ddp_worker.py, which runs as a script under torchrun and
in-process as the reference, imports these by a name no other test folder uses."""

import numpy as np
import torch

from mlroundup.data.tokens import TokenStream
from mlroundup.training import GPT, GPTConfig, RSTTable

VOCAB = 11


def stream(n: int = 4000, seed: int = 0, name: str = "synthetic") -> TokenStream:
    """A learnable token stream: a noisy repeating pattern over VOCAB symbols."""
    rng = np.random.default_rng(seed)
    base = np.tile(np.arange(VOCAB), n // VOCAB + 1)[:n]
    noise = rng.random(n) < 0.1
    tokens = np.where(noise, rng.integers(0, VOCAB, n), base).astype(np.uint16)
    return TokenStream(tokens=tokens, n_chars=2 * n, name=name)


def tiny_model(n_layer: int = 2, seed: int = 0, positions: str = "rope") -> GPT:
    torch.manual_seed(seed)
    return GPT(
        GPTConfig(
            vocab_size=VOCAB,
            block_size=16,
            n_layer=n_layer,
            n_head=2,
            d_model=16,
            positions=positions,
        )
    )


def linear_table(
    train_per_seq_layer=0.01, forward_per_seq_layer=0.003, base=0.0, max_batch=64, max_layers=8
):
    """RST table with cost = base + c * batch * (layers + 1): exactly linear, so interpolation is exact."""
    bs, ls = [1, max_batch], list(range(0, max_layers + 1))
    t = np.array([[base + train_per_seq_layer * b * (n + 1) for n in ls] for b in bs])
    f = np.array([[base + forward_per_seq_layer * b * (n + 1) for n in ls] for b in bs])
    return RSTTable(bs, ls, t, f, {"seq_len": 8})
