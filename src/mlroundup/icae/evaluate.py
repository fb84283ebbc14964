"""How well memory slots stand in for their context: reconstruction and continuation.

- :func:`reconstruct`: greedy decoding from ``[z, AE]`` (no teacher forcing), scored by token
  accuracy (position by position) and BLEU (sacrebleu's corpus BLEU, 0-100, on the decoded text)
  -- the autoencoding evaluation of Ge et al. (2023, Sec. 3.3.1, BLEU of the restored context);
- :func:`continuation_losses`: the frozen LM's loss on the text after the context, given no
  context, the memory slots, or the full context -- the paper's text-continuation comparison
  (perplexity with the original context vs the memory slots).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch

from mlroundup.icae.objectives import (
    ae_inputs,
    decoder_loss,
    lm_inputs,
    plain_lm_inputs,
)

if TYPE_CHECKING:  # pragma: no cover
    from mlroundup.icae.model import ICAE


def windows_at(tokens: np.ndarray, n: int, length: int, offset: int = 0) -> torch.Tensor:
    """``n`` windows of ``length`` tokens evenly spaced over ``tokens`` (the same every call), (n, length) int64.

    Raises
    ------
    ValueError
        If the stream is shorter than one window.
    """
    if len(tokens) < length + offset + 1:
        raise ValueError(f"a stream of {len(tokens)} tokens is too short for windows of {length}")
    starts = np.linspace(offset, len(tokens) - length - 1, n).astype(np.int64)
    idx = starts[:, None] + np.arange(length)[None]
    return torch.from_numpy(np.asarray(tokens[idx], dtype=np.int64))


@torch.no_grad()
def greedy_from_embeds(icae: ICAE, embeds: torch.Tensor, n_new: int) -> torch.Tensor:
    """``n_new`` greedy tokens of the frozen decoder after ``embeds`` (B, T, d), batched; (B, n_new)."""
    out = []
    with icae.lm.disable_adapter():
        res = icae.base(inputs_embeds=embeds, use_cache=True)
        for i in range(n_new):
            nxt = res.logits[:, -1].argmax(-1, keepdim=True)  # (B, 1)
            out.append(nxt)
            if i + 1 < n_new:
                res = icae.base(input_ids=nxt, past_key_values=res.past_key_values, use_cache=True)
    return torch.cat(out, dim=1)


@dataclass
class Reconstruction:
    """Autoencoding quality on a set of contexts.

    Attributes
    ----------
    token_accuracy : float
        Fraction of positions where the greedy reconstruction has the original token.
    bleu : float
        sacrebleu corpus BLEU (0-100) of the decoded reconstructions against the originals.
    ae_loss : float
        Teacher-forced autoencoding loss (nats per token).
    examples : list of (str, str)
        A few (original, reconstruction) pairs.
    """

    token_accuracy: float
    bleu: float
    ae_loss: float
    examples: list[tuple[str, str]]


@torch.no_grad()
def reconstruct(
    icae: ICAE, contexts: torch.Tensor, batch_size: int = 16, n_examples: int = 2
) -> Reconstruction:
    """Compress each context (one span) and decode it back greedily from ``[z, AE]``.

    Parameters
    ----------
    contexts : (N, L) int64
    """
    import sacrebleu

    was = icae.training
    icae.eval()
    preds, losses = [], []
    for i in range(0, len(contexts), batch_size):
        ctx = contexts[i : i + batch_size].to(icae.memory.device)
        slots = icae.encode(ctx)
        embeds, targets = ae_inputs(icae, slots, ctx)
        losses.append(float(decoder_loss(icae, embeds, targets)) * len(ctx))
        prefix = embeds[:, : slots.shape[1] + 1]  # [z, AE]
        preds.append(greedy_from_embeds(icae, prefix, ctx.shape[1]).cpu())
    icae.train(was)
    pred = torch.cat(preds)
    acc = float((pred == contexts).float().mean())
    codec = icae.codec
    decode = codec.decode if codec is not None else (lambda ids: " ".join(map(str, ids)))
    refs = [decode(r.tolist()) for r in contexts]
    hyps = [decode(p.tolist()) for p in pred]
    bleu = float(sacrebleu.corpus_bleu(hyps, [refs]).score)
    return Reconstruction(acc, bleu, sum(losses) / len(contexts),
                          list(zip(refs, hyps, strict=True))[:n_examples])  # fmt: skip


@torch.no_grad()
def continuation_losses(
    icae: ICAE,
    contexts: torch.Tensor,
    continuations: torch.Tensor,
    leave_tokens: int = 1,
    batch_size: int = 16,
) -> dict[str, float]:
    """Mean loss (nats per token) of the continuations under three conditions.

    Parameters
    ----------
    contexts : (N, L) int64
    continuations : (N, T) int64
        The text right after each context.
    leave_tokens : int
        Continuation tokens not scored (>= 1: with no context the first one has no position to
        be predicted from, so every condition scores ``y_(s+1) .. y_T``).

    Returns
    -------
    dict
        ``{"none": ..., "slots": ..., "full": ...}``: no context, the memory slots, the full
        context.
    """
    if leave_tokens < 1:
        raise ValueError(f"invalid leave_tokens={leave_tokens}: must be >= 1 (see docstring)")
    was = icae.training
    icae.eval()
    sums = {"none": 0.0, "slots": 0.0, "full": 0.0}
    dev = icae.memory.device
    for i in range(0, len(contexts), batch_size):
        ctx = contexts[i : i + batch_size].to(dev)
        cont = continuations[i : i + batch_size].to(dev)
        slots = icae.encode(ctx)
        n = len(ctx)
        sums["slots"] += float(decoder_loss(icae, *lm_inputs(icae, slots, cont, leave_tokens))) * n
        sums["full"] += (
            float(decoder_loss(icae, *plain_lm_inputs(icae, ctx, cont, leave_tokens))) * n
        )
        sums["none"] += (
            float(decoder_loss(icae, *plain_lm_inputs(icae, None, cont, leave_tokens))) * n
        )
    icae.train(was)
    return {k: v / len(contexts) for k, v in sums.items()}


def perplexity(loss_nats: float) -> float:
    """``exp(loss)``; inf for a non-finite or huge loss."""
    return math.exp(loss_nats) if math.isfinite(loss_nats) and loss_nats < 700 else math.inf


def break_ratio(ratios: Sequence[int], accuracies: Sequence[float], threshold: float) -> int | None:
    """The smallest ratio whose reconstruction token accuracy is below ``threshold`` (None: none is)."""
    for r, a in sorted(zip(ratios, accuracies, strict=True)):
        if a < threshold:
            return int(r)
    return None
