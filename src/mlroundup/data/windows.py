"""Training windows over a token stream: which windows a step draws, and the (input, target) pairs.

Shared by every trainer and experiment that reads a :class:`mlroundup.data.tokens.TokenStream`
(the budgeted trainer, ReLoRA's experiment), so a step's batch is the same wherever it is drawn.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch


def batch_starts(
    seed: int, step: int, n_tokens: int, seq_len: int, batch: int, salt: int = 0
) -> np.ndarray:
    """Start offsets of the ``batch`` training windows of step ``step``, shape (batch,), int64.

    Drawn uniformly from ``[0, n_tokens - seq_len - 1]`` by a generator seeded with
    ``(seed, step, salt)``: the batch of a step does not depend on the steps before it (so a
    resumed run draws the batches of the uninterrupted one).

    Raises
    ------
    ValueError
        If the stream is too short for one window of ``seq_len + 1`` tokens.
    """
    if n_tokens - seq_len < 1:
        raise ValueError(
            f"a stream of {n_tokens} tokens is too short for windows of seq_len={seq_len} (+1)"
        )
    rng = np.random.default_rng((seed, step, salt))
    return rng.integers(0, n_tokens - seq_len, size=batch, dtype=np.int64)


def windows(
    tokens: np.ndarray, starts: np.ndarray, seq_len: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Inputs and next-token targets, each of shape (len(starts), seq_len), dtype int64."""
    import torch

    idx = starts[:, None] + np.arange(seq_len + 1)[None, :]  # (B, T+1)
    seqs = torch.from_numpy(np.asarray(tokens[idx], dtype=np.int64))  # (B, T+1)
    return seqs[:, :-1], seqs[:, 1:]
