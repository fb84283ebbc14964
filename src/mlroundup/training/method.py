"""The hooks by which a training method changes the trainer's run: :class:`Method`.

A :class:`Method` is a small component the :class:`~mlroundup.training.trainer.Trainer` accepts
(Kaddour et al. 2023, Sec. 4-6, write efficient-training methods this way). The trainer calls:

- ``make_optimizer(trainer)``: which optimizer (built again whenever the model is replaced);
- ``on_start(trainer)``: once before the first step (also after a resume);
- ``before_step(trainer)``: before each step's learning rate is set (change the model, e.g. stack
  layers, or add adapters);
- ``train_step(trainer)``: the passes of one step; returns a :class:`StepOutput` with the loss and
  the :class:`~mlroundup.training.budget.Charge` of every pass (the trainer then clips and steps);
- ``after_step(trainer)``: extra passes after the update (e.g. Sophia's Hessian estimate), returning
  their charges;
- ``evaluate(trainer)``: the uncharged validation;
- ``state_dict()`` / ``load_state_dict(state)``: what resuming needs; ``describe()``: the settings,
  for the run's record.

``lr_multiplier`` scales the schedule's learning rate. :class:`Baseline` (AdamW, every layer, every
example) is the default. Methods of mlroundup (the No Train No Gain methods in
:mod:`mlroundup.budgeted_training.methods`, ReLoRA, ICAE, ...) subclass it and override the hooks
they change.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch

from mlroundup.training.budget import Charge
from mlroundup.training.model import per_token_loss

if TYPE_CHECKING:  # pragma: no cover
    from mlroundup.training.trainer import Trainer


@dataclass
class StepOutput:
    """What a method's ``train_step`` returns.

    Attributes
    ----------
    loss : float
        Training loss of the step (nats per token) on this process.
    charges : list of Charge
        Every pass the step made.
    tokens : int
        Tokens backpropagated on this process (0 for a method without tokens, e.g. images).
    """

    loss: float
    charges: list[Charge]
    tokens: int


class Method:
    """The baseline's behaviour; subclasses override the hooks they change."""

    name = "baseline"
    #: Multiplies the schedule's learning rate (e.g. Lion runs at a third of AdamW's).
    lr_multiplier = 1.0

    def make_optimizer(self, trainer: Trainer) -> torch.optim.Optimizer:
        """AdamW over the trainer's parameter groups (decayed matrices, undecayed vectors)."""
        return torch.optim.AdamW(trainer.param_groups(), lr=0.0, betas=trainer.config.betas)

    def on_start(self, trainer: Trainer) -> None:
        """Called once before the first step (also after a resume)."""

    def before_step(self, trainer: Trainer) -> None:
        """Called before each step's learning rate is set."""

    def train_step(self, trainer: Trainer) -> StepOutput:
        """Forward and backward on this step's batch; the trainer then clips and steps."""
        x, y = trainer.sample(trainer.local_batch)
        loss = per_token_loss(trainer.forward(x), y).mean()
        trainer.backward(loss)
        return StepOutput(
            float(loss.detach()), [Charge("train", x.shape[0], trainer.n_layers)], int(y.numel())
        )

    def after_step(self, trainer: Trainer) -> Sequence[Charge]:
        """Called after the optimizer step; returns the charges of any extra passes."""
        return ()

    def evaluate(self, trainer: Trainer) -> tuple[float, float, float]:
        """Validation (loss in nats, bits per token, bits per character); not charged.

        Default: next-token loss on fixed windows of the validation stream
        (:func:`~mlroundup.training.trainer.evaluate`). A method training another objective
        overrides it.
        """
        from mlroundup.training.trainer import evaluate

        cfg = trainer.config
        return evaluate(
            trainer.model, trainer.val_stream, cfg.seq_len, cfg.eval_sequences,
            cfg.eval_batch_size, cfg.device,
        )  # fmt: skip

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        pass

    def describe(self) -> dict[str, Any]:
        """The method's settings, for the run's record."""
        return {"name": self.name}


class Baseline(Method):
    """AdamW with the budget-aware schedule: the fully-decayed baseline of Kaddour et al. (2023)."""
