"""Training an ICAE with the project's trainer (:func:`mlroundup.training.train`).

The trainer owns the loop -- step budget, learning-rate schedule, AdamW, gradient clipping,
per-step seeding (a resumed run draws the batches of the uninterrupted one), atomic checkpoints
and data parallelism under ``torchrun`` -- and an ICAE objective plugs in as a
:class:`~mlroundup.training.Method`, whose ``train_step`` / ``evaluate`` hooks say what
a step computes:

- :class:`PretrainMethod`: autoencoding + language modelling on windows of a token stream
  (:func:`~mlroundup.icae.objectives.pretrain_loss`); the context length of each step is drawn
  from ``context_tokens`` (so one set of ``k`` memory slots learns several compression ratios);
- :class:`FinetuneMethod`: prompt-with-context fine-tuning on (context, prompt, answer) examples
  (:func:`~mlroundup.icae.objectives.ft_loss`).

Only the LoRA matrices and the memory / task embeddings require gradients, so only they are in
the optimizer; the frozen base model is never updated.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from mlroundup.icae.objectives import Mix, ft_loss, pretrain_loss
from mlroundup.training import Charge, Method, StepOutput

if TYPE_CHECKING:  # pragma: no cover
    from mlroundup.icae.model import ICAE
    from mlroundup.training import Trainer, TrainResult

LN2 = math.log(2.0)


def _layers(trainer: Trainer) -> int:
    return int(trainer.model.base.config.num_hidden_layers)


@dataclass
class PretrainMethod(Method):
    """ICAE pretraining as a method of the trainer (Ge et al. 2023, Sec. 3.2.1).

    Each step takes the trainer's windows of ``seq_len = max(context_tokens) + continuation_tokens``
    tokens, draws one context length ``L`` uniformly from ``context_tokens`` (the same on every
    process: seeded by the step), and trains on context ``w[:, :L]`` and continuation
    ``w[:, L:L+T]``.

    Parameters
    ----------
    context_tokens : tuple of int
        Context lengths to draw from (e.g. ``k`` times each compression ratio).
    continuation_tokens : int
        ``T``, tokens of the continuation (language modelling).
    mix : Mix
        Objective weights.
    eval_context_tokens : int
        Context length of the validation autoencoding loss (what ``evaluate`` reports).
    eos_id : int or None
        Appended to autoencoding targets (the official code does).
    """

    context_tokens: tuple[int, ...] = (32, 64, 128, 256)
    continuation_tokens: int = 32
    mix: Mix = field(default_factory=Mix)
    eval_context_tokens: int = 64
    eos_id: int | None = None
    name = "icae-pretrain"

    def __post_init__(self) -> None:
        if not self.context_tokens or min(self.context_tokens) < 1:
            raise ValueError(f"invalid context_tokens={self.context_tokens}: positive lengths")
        if self.continuation_tokens <= self.mix.leave_tokens and self.mix.lm_weight > 0:
            raise ValueError(
                f"continuation_tokens={self.continuation_tokens} must exceed "
                f"leave_tokens={self.mix.leave_tokens}"
            )

    @property
    def seq_len(self) -> int:
        """Window length the trainer must draw (``TrainConfig.seq_len``)."""
        return max(self.context_tokens) + self.continuation_tokens

    def make_optimizer(self, trainer: Trainer) -> torch.optim.Optimizer:
        params = [p for p in trainer.model.parameters() if p.requires_grad]
        return torch.optim.AdamW(
            params, lr=0.0, betas=trainer.config.betas, weight_decay=trainer.config.weight_decay
        )

    def context_length(self, trainer: Trainer) -> int:
        pick = trainer.rng(0x1CAE).integers(0, len(self.context_tokens))
        return int(self.context_tokens[int(pick)])

    def train_step(self, trainer: Trainer) -> StepOutput:
        x, _ = trainer.sample(trainer.local_batch)  # (B, seq_len)
        n = self.context_length(trainer)
        ctx, cont = x[:, :n], x[:, n : n + self.continuation_tokens]
        loss, _parts = pretrain_loss(trainer.model, ctx, cont, self.mix, self.eos_id)
        trainer.backward(loss)
        return StepOutput(float(loss.detach()), [Charge("train", x.shape[0], _layers(trainer))],
                          int(ctx.numel() + cont.numel()))  # fmt: skip

    @torch.no_grad()
    def evaluate(self, trainer: Trainer) -> tuple[float, float, float]:
        """Validation autoencoding loss at ``eval_context_tokens`` (nats, bits per token, bits per char)."""
        icae = trainer.model
        was = icae.training
        icae.eval()
        cfg = trainer.config
        n = self.eval_context_tokens
        stream = trainer.val_stream
        starts = np.unique(
            np.linspace(0, len(stream.tokens) - n - 1, cfg.eval_sequences).astype(np.int64)
        )
        total = count = 0.0
        for i in range(0, len(starts), cfg.eval_batch_size):
            idx = starts[i : i + cfg.eval_batch_size, None] + np.arange(n)[None]
            ctx = torch.from_numpy(np.asarray(stream.tokens[idx], dtype=np.int64)).to(cfg.device)
            loss, _ = pretrain_loss(icae, ctx, None, Mix(lm_weight=0.0), self.eos_id)
            total += float(loss) * len(ctx)
            count += len(ctx)
        icae.train(was)
        loss = total / count
        return loss, loss / LN2, loss / (LN2 * stream.chars_per_token)

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "context_tokens": list(self.context_tokens),
                "continuation_tokens": self.continuation_tokens,
                "lm_weight": self.mix.lm_weight, "leave_tokens": self.mix.leave_tokens}  # fmt: skip


@dataclass(frozen=True)
class QAExample:
    """One prompt-with-context example: token ids of the context, the prompt and the answer."""

    context: tuple[int, ...]
    prompt: tuple[int, ...]
    answer: tuple[int, ...]


@dataclass
class FinetuneMethod(Method):
    """Prompt-with-context fine-tuning as a method of the trainer (Sec. 3.2.2).

    Each step draws ``batch`` examples (seeded by the step) from ``train_examples``; examples of
    one step must share a context length (contexts are compressed as one batch of spans).

    Parameters
    ----------
    train_examples, val_examples : sequence of QAExample
    eos_id : int or None
    chat_wrap : (ids, ids)
        Chat-template ids around the user turn (:meth:`TextCodec.chat_wrap`).
    """

    train_examples: Sequence[QAExample] = ()
    val_examples: Sequence[QAExample] = ()
    eos_id: int | None = None
    chat_wrap: tuple[Sequence[int], Sequence[int]] = ((), ())
    name = "icae-finetune"

    def __post_init__(self) -> None:
        if not self.train_examples:
            raise ValueError("fine-tuning needs train_examples")
        lengths = {len(e.context) for e in (*self.train_examples, *self.val_examples)}
        if len(lengths) != 1:
            raise ValueError(f"examples must share one context length, got {sorted(lengths)}")

    make_optimizer = PretrainMethod.make_optimizer

    def _loss(self, icae: ICAE, batch: Sequence[QAExample], device: str) -> torch.Tensor:
        ctx = torch.tensor([e.context for e in batch], dtype=torch.long, device=device)
        return ft_loss(icae, ctx, [e.prompt for e in batch], [e.answer for e in batch],
                       self.eos_id, self.chat_wrap)  # fmt: skip

    def train_step(self, trainer: Trainer) -> StepOutput:
        n = len(self.train_examples)
        world = trainer.world
        picks = trainer.rng(0xF7).integers(0, n, size=trainer.local_batch * world.size)
        mine = picks[world.rank * trainer.local_batch : (world.rank + 1) * trainer.local_batch]
        batch = [self.train_examples[int(i)] for i in mine]
        loss = self._loss(trainer.model, batch, trainer.config.device)
        trainer.backward(loss)
        tokens = sum(len(e.context) + len(e.prompt) + len(e.answer) for e in batch)
        return StepOutput(
            float(loss.detach()), [Charge("train", len(batch), _layers(trainer))], tokens
        )

    @torch.no_grad()
    def evaluate(self, trainer: Trainer) -> tuple[float, float, float]:
        """Mean answer loss on ``val_examples`` (the training examples when none are given)."""
        icae = trainer.model
        was = icae.training
        icae.eval()
        ex = list(self.val_examples or self.train_examples)
        bs = trainer.config.eval_batch_size
        total = 0.0
        for i in range(0, len(ex), bs):
            total += float(self._loss(icae, ex[i : i + bs], trainer.config.device)) * len(
                ex[i : i + bs]
            )
        icae.train(was)
        loss = total / len(ex)
        return loss, loss / LN2, loss / LN2


def train_icae(
    icae: ICAE,
    train_stream,
    val_stream,
    method: Method,
    *,
    steps: int,
    batch_size: int,
    lr: float,
    seed: int = 0,
    seq_len: int | None = None,
    warmup: float = 0.05,
    eval_sequences: int = 32,
    eval_batch_size: int = 16,
    checkpoint_dir: Path | str | None = None,
    checkpoint_every: int = 0,
    progress: bool = False,
    device: str = "cpu",
    on_step=None,
) -> TrainResult:
    """Train ``icae`` with ``method`` for ``steps`` steps on the project's trainer.

    Parameters
    ----------
    icae : ICAE
        Trained in place (only its LoRA and memory / task embeddings change).
    train_stream, val_stream : TokenStream
        Windows for :class:`PretrainMethod` (the trainer checks they are long enough).
    method : PretrainMethod or FinetuneMethod
    steps, batch_size, lr, seed, warmup
        Step budget, global batch, peak learning rate of the cosine schedule (floor 10%), seed,
        warmup fraction.
    seq_len : int, optional
        Window length; default ``method.seq_len`` (pretraining) or 1.
    checkpoint_dir, checkpoint_every
        Atomic ``last.pt`` checkpoints (resumed from when present).
    on_step : callable, optional
        ``on_step(trainer, record)`` after every step (progress display).

    Returns
    -------
    TrainResult
        ``history`` has the loss of every step; ``evals[-1]`` the final validation loss.
    """
    from mlroundup.training import Budget, BudgetSchedule, TrainConfig, train

    if steps < 1:
        raise ValueError(f"invalid steps={steps}: must be >= 1")
    seq_len = seq_len or getattr(method, "seq_len", 1)
    config = TrainConfig(
        batch_size=batch_size, seq_len=seq_len, seed=seed, weight_decay=0.0,
        eval_sequences=eval_sequences, eval_batch_size=eval_batch_size,
        checkpoint_dir=checkpoint_dir, checkpoint_every=checkpoint_every, progress=progress,
        device=device,
    )  # fmt: skip
    icae.train()
    res = train(
        icae, (train_stream, val_stream), Budget.of_steps(steps),
        BudgetSchedule(lr, kind="cosine", warmup=warmup, floor=0.1), method=method,
        config=config, resume=checkpoint_dir is not None, on_step=on_step,
    )  # fmt: skip
    icae.eval()
    return res
