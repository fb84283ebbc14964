"""The ICAE's training objectives: autoencoding, language modelling, their mix, prompt fine-tuning.

Each objective lays out the frozen decoder's input after the memory slots ``z`` (Ge et al. 2023,
Sec. 3.2) and says which token every position predicts (``targets[:, i]`` is predicted at
position ``i``; :data:`IGNORE` where nothing is):

=============== ================================================ ==============================
objective       decoder input                                    predicted
=============== ================================================ ==============================
autoencoding    ``z_1..z_k [AE] c_1 .. c_L``                      ``c_1 .. c_L`` (+ EOS)
language model  ``z_1..z_k y_1 .. y_T``                           ``y_(s+1) .. y_T``
fine-tuning     ``z_1..z_k [FT] p_1 .. p_P a_1 .. a_A``           ``a_1 .. a_A`` (+ EOS)
=============== ================================================ ==============================

``s`` is ``leave_tokens``: as the official code (``leave_tokens_for_lm = 8``), the first few
continuation tokens get no loss, since the memory of a cut-off context says little about them.
The paper pretrains with autoencoding and language modelling together (Sec. 3.2.1); the
released code (v2 ``pretrain.py``) draws each example's objective, language modelling with
probability ``lm_ratio`` -- default 0.0, autoencoding only, unless set on its command line.
:func:`pretrain_loss` takes the expectation of that draw instead: ``(1 - lm_weight) L_AE +
lm_weight L_LM`` on the same contexts, one encoder pass feeding both decoders. Our default
``lm_weight`` is 0.5 (see :class:`Mix`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F

from mlroundup.icae.model import AE, FT

if TYPE_CHECKING:  # pragma: no cover
    from mlroundup.icae.model import ICAE

IGNORE = -100


@dataclass(frozen=True)
class Mix:
    """How pretraining weighs its two objectives.

    Parameters
    ----------
    lm_weight : float
        Weight of the language-modelling loss, in [0, 1]; autoencoding gets ``1 - lm_weight``.
        0.0 is the official code's default (``lm_ratio = 0``); we default to 0.5 because the paper
        pretrains on both and its continuation results need the LM objective.
    leave_tokens : int
        Unsupervised first continuation tokens (official ``leave_tokens_for_lm = 8``).
    """

    lm_weight: float = 0.5
    leave_tokens: int = 8

    def __post_init__(self) -> None:
        if not 0.0 <= self.lm_weight <= 1.0:
            raise ValueError(f"invalid lm_weight={self.lm_weight!r}: must be in [0, 1]")
        if self.leave_tokens < 0:
            raise ValueError(f"invalid leave_tokens={self.leave_tokens!r}: must be >= 0")


def next_token_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy (nats) of ``targets`` (B, T) under ``logits`` (B, T, V), ignoring :data:`IGNORE`."""
    return F.cross_entropy(
        logits.reshape(-1, logits.shape[-1]).float(), targets.reshape(-1), ignore_index=IGNORE
    )


def ae_inputs(
    icae: ICAE, slots: torch.Tensor, context: torch.Tensor, eos_id: int | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Autoencoding decoder input and targets (Sec. 3.2.1, Eq. 2).

    Parameters
    ----------
    slots : (B, n, d)
    context : (B, L) int64
    eos_id : int, optional
        Appended as the last target (the official code does; a character model has none).

    Returns
    -------
    embeds : (B, n + 1 + L, d)
        ``[z, AE, e(c_1) .. e(c_L)]``.
    targets : (B, n + 1 + L) int64
        :data:`IGNORE` on the slots; ``c_1 .. c_L`` at ``[AE] .. c_(L-1)``; EOS (or ignore) at ``c_L``.
    """
    b, n = slots.shape[0], slots.shape[1]
    ae = icae.special[AE].expand(b, 1, -1)
    embeds = torch.cat([slots, ae, icae.embed(context)], dim=1)  # (B, n+1+L, d)
    last = torch.full((b, 1), IGNORE if eos_id is None else eos_id, dtype=torch.long,
                      device=context.device)  # fmt: skip
    pad = torch.full((b, n), IGNORE, dtype=torch.long, device=context.device)
    return embeds, torch.cat([pad, context, last], dim=1)


def lm_inputs(
    icae: ICAE, slots: torch.Tensor, continuation: torch.Tensor, leave_tokens: int = 8
) -> tuple[torch.Tensor, torch.Tensor]:
    """Language-modelling decoder input and targets (Sec. 3.2.1, Eq. 3).

    Parameters
    ----------
    slots : (B, n, d)
    continuation : (B, T) int64
        The text right after the compressed context.
    leave_tokens : int
        The first ``leave_tokens`` continuation tokens are not predicted (official code).

    Returns
    -------
    embeds : (B, n + T, d)
        ``[z, e(y_1) .. e(y_T)]``.
    targets : (B, n + T)
        ``y_j`` at the position before it (the last slot predicts ``y_1``), from ``j > leave_tokens``.
    """
    b, n = slots.shape[0], slots.shape[1]
    t = continuation.shape[1]
    if leave_tokens >= t:
        raise ValueError(f"leave_tokens={leave_tokens} leaves nothing of a {t}-token continuation")
    embeds = torch.cat([slots, icae.embed(continuation)], dim=1)  # (B, n+T, d)
    targets = torch.full((b, n + t), IGNORE, dtype=torch.long, device=continuation.device)
    targets[:, n - 1 : n - 1 + t] = continuation
    targets[:, n - 1 : n - 1 + leave_tokens] = IGNORE
    return embeds, targets


def plain_lm_inputs(
    icae: ICAE, prefix: torch.Tensor | None, continuation: torch.Tensor, leave_tokens: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """The baselines of :func:`lm_inputs`: the continuation after the full context, or after nothing.

    Parameters
    ----------
    prefix : (B, L) int64 or None
        The original context (None: no context; then ``y_1`` itself is not predicted, there is no
        position before it).
    continuation : (B, T)

    Returns
    -------
    embeds : (B, L + T, d)
    targets : (B, L + T)
        Same continuation tokens as :func:`lm_inputs` predicted (``y_1`` dropped without a prefix).
    """
    b, t = continuation.shape
    dev = continuation.device
    if prefix is None:
        embeds = icae.embed(continuation)
        targets = torch.full((b, t), IGNORE, dtype=torch.long, device=dev)
        targets[:, :-1] = continuation[:, 1:]
        targets[:, : max(leave_tokens - 1, 0)] = IGNORE
        return embeds, targets
    n = prefix.shape[1]
    embeds = icae.embed(torch.cat([prefix, continuation], dim=1))
    targets = torch.full((b, n + t), IGNORE, dtype=torch.long, device=dev)
    targets[:, n - 1 : n - 1 + t] = continuation
    targets[:, n - 1 : n - 1 + leave_tokens] = IGNORE
    return embeds, targets


def ft_inputs(
    icae: ICAE,
    slots: torch.Tensor,
    prompts: Sequence[Sequence[int]],
    answers: Sequence[Sequence[int]],
    eos_id: int | None = None,
    chat_wrap: tuple[Sequence[int], Sequence[int]] = ((), ()),
) -> tuple[torch.Tensor, torch.Tensor]:
    """Prompt-with-context fine-tuning input and targets (Sec. 3.2.2, Eq. 4).

    Each row is ``[before, z, FT, p, after, a]`` (``before``/``after``: the chat template around
    the user turn, empty without one), right-padded (causal attention: padding after a row's
    last token changes none of its predictions); only the answer (and EOS) is predicted.

    Parameters
    ----------
    slots : (B, n, d)
    prompts, answers : B sequences of token ids each (answers non-empty)

    Returns
    -------
    embeds : (B, T_max, d)
    targets : (B, T_max)
    """
    b, n, _ = slots.shape
    if not (len(prompts) == len(answers) == b):
        raise ValueError(f"{b} slot rows, {len(prompts)} prompts, {len(answers)} answers")
    dev = slots.device
    before, after = list(chat_wrap[0]), list(chat_wrap[1])
    rows, tgts = [], []
    for i in range(b):
        if not answers[i]:
            raise ValueError(f"answer {i} is empty")
        head = torch.as_tensor(before, dtype=torch.long, device=dev)
        tail = torch.as_tensor(list(prompts[i]) + after + list(answers[i]), dtype=torch.long,
                               device=dev)  # fmt: skip
        emb = torch.cat([icae.embed(head[None])[0], slots[i], icae.special[FT : FT + 1],
                         icae.embed(tail[None])[0]])  # fmt: skip
        tgt = torch.full((emb.shape[0],), IGNORE, dtype=torch.long, device=dev)
        a = torch.as_tensor(list(answers[i]), dtype=torch.long, device=dev)
        start = emb.shape[0] - len(a) - 1  # the position before a_1
        tgt[start : start + len(a)] = a
        if eos_id is not None:
            tgt[-1] = eos_id
        rows.append(emb)
        tgts.append(tgt)
    t_max = max(r.shape[0] for r in rows)
    embeds = torch.zeros(b, t_max, rows[0].shape[1], dtype=rows[0].dtype, device=dev)
    targets = torch.full((b, t_max), IGNORE, dtype=torch.long, device=dev)
    for i, (r, t) in enumerate(zip(rows, tgts, strict=True)):
        embeds[i, : r.shape[0]] = r
        targets[i, : t.shape[0]] = t
    return embeds, targets


def decoder_loss(icae: ICAE, embeds: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean next-token loss (nats) of the frozen decoder on prepared inputs."""
    return next_token_loss(icae.decoder_logits(embeds), targets)


def pretrain_loss(
    icae: ICAE,
    context: torch.Tensor,
    continuation: torch.Tensor | None,
    mix: Mix = Mix(),
    eos_id: int | None = None,
) -> tuple[torch.Tensor, dict[str, float]]:
    """The pretraining loss ``(1 - w) L_AE + w L_LM`` on a batch of contexts (Sec. 3.2.1).

    Parameters
    ----------
    context : (B, L) int64
        Compressed once (one span per row); both objectives read the same slots.
    continuation : (B, T) int64 or None
        The text after each context; needed when ``mix.lm_weight > 0``.

    Returns
    -------
    loss : scalar tensor (differentiable)
    parts : dict
        ``{"ae": L_AE, "lm": L_LM}`` as floats (NaN for an objective with weight 0).
    """
    slots = icae.encode(context)  # (B, k, d)
    w = mix.lm_weight
    parts = {"ae": math.nan, "lm": math.nan}
    loss = slots.new_zeros(())
    if w < 1.0:
        ae = decoder_loss(icae, *ae_inputs(icae, slots, context, eos_id))
        loss = loss + (1.0 - w) * ae
        parts["ae"] = float(ae.detach())
    if w > 0.0:
        if continuation is None:
            raise ValueError("lm_weight > 0 needs the continuation of each context")
        lm = decoder_loss(icae, *lm_inputs(icae, slots, continuation, mix.leave_tokens))
        loss = loss + w * lm
        parts["lm"] = float(lm.detach())
    return loss, parts


def ft_loss(
    icae: ICAE,
    context: torch.Tensor,
    prompts: Sequence[Sequence[int]],
    answers: Sequence[Sequence[int]],
    eos_id: int | None = None,
    chat_wrap: tuple[Sequence[int], Sequence[int]] = ((), ()),
) -> torch.Tensor:
    """Fine-tuning loss: the answers' mean next-token loss given slots of ``context`` (B, L) and prompts."""
    slots = icae.encode(context)
    return decoder_loss(icae, *ft_inputs(icae, slots, prompts, answers, eos_id, chat_wrap))
