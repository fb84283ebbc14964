"""Efficient-training methods as small components the trainer accepts (Kaddour et al. 2023, Sec. 4-6).

Each is a :class:`~mlroundup.training.method.Method` of the shared trainer (:mod:`mlroundup.training`):
hooks that choose the optimizer (``make_optimizer``), change the model between steps
(``before_step``, e.g. stack layers), decide which passes a step makes and what each costs
(``train_step``, returning the :class:`~mlroundup.training.budget.Charge` of every pass), add passes
after the update (``after_step``, e.g. Sophia's Hessian estimate) and keep what resuming needs
(``state_dict``/``load_state_dict``). Defaults are the settings of the paper's code.

=================== =========================================================================
:class:`Baseline`     AdamW, every layer, every example (the trainer's default, from :mod:`mlroundup.training`)
:class:`LayerStacking` start at 1/4 depth, double by copying layers at budget 0.125 and 0.3
:class:`LayerDrop`     progressive layer dropping, keep prob theta(t) = theta_bar + (1 - theta_bar) e^(-gamma t)
:class:`SelectiveBackprop` backprop only examples drawn with probability CDF(loss)^beta
:class:`RHOLoss`       backprop the top 10% of a 10x larger batch by loss - irreducible loss
:class:`LionMethod`    Lion optimizer (lr / 3, weight decay x 3)
:class:`SophiaMethod`  Sophia-G, Hessian estimate every 10 steps
=================== =========================================================================
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from mlroundup.training.budget import Charge
from mlroundup.training.method import Baseline, Method, StepOutput
from mlroundup.training.model import per_token_loss

if TYPE_CHECKING:  # pragma: no cover
    from mlroundup.training.trainer import Trainer


@dataclass
class LayerStacking(Method):
    """Progressive layer stacking (Gong et al. 2019; Kaddour et al. 2023, Sec. 4.1).

    Start from a model of 1/4 of the final depth; at each budget fraction in ``fractions`` replace it
    by :meth:`GPT.stacked` (twice as deep, layer ``i + L`` a copy of layer ``i``) and restart the
    optimizer. Paper's code: ``step_fractions: [0.125, 0.3]``, ``reset_optim: true``.
    """

    fractions: Sequence[float] = (0.125, 0.3)
    stage: int = 0
    name = "layer-stacking"

    def __post_init__(self) -> None:
        f = tuple(self.fractions)
        if any(not 0.0 < v < 1.0 for v in f) or list(f) != sorted(f):
            raise ValueError(f"invalid fractions={f}: increasing values in (0, 1)")

    def before_step(self, trainer: Trainer) -> None:
        while self.stage < len(self.fractions) and trainer.fraction >= self.fractions[self.stage]:
            trainer.replace_model(trainer.model.stacked(), reset_optimizer=True)
            self.stage += 1

    def state_dict(self) -> dict[str, Any]:
        return {"stage": self.stage}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.stage = int(state["stage"])

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "fractions": list(self.fractions)}


def keep_probabilities(
    fraction: float, n_layers: int, theta_bar: float = 0.5, gamma: float = 100.0
) -> np.ndarray:
    """Per-layer keep probabilities of progressive layer dropping at budget fraction ``fraction``.

    ``theta(t) = theta_bar + (1 - theta_bar) exp(-gamma t)`` (Zhang & He 2020, eq. 6, with ``t`` the
    budget fraction, i.e. ``gamma = gamma_factor / T``); layer ``l = 1..L`` is kept with probability
    ``1 - (l / L) (1 - theta(t))``, so deeper layers are dropped more.

    Returns
    -------
    numpy.ndarray of shape (n_layers,)
    """
    theta = theta_bar + (1.0 - theta_bar) * math.exp(-gamma * fraction)
    depth = np.arange(1, n_layers + 1) / n_layers
    return 1.0 - depth * (1.0 - theta)


@dataclass
class LayerDrop(Method):
    """Progressive layer dropping (Zhang & He 2020; Kaddour et al. 2023, Sec. 4.1).

    Each step, layer ``l`` is skipped with probability ``(l / L)(1 - theta(t))``; the same layers are
    skipped on every process. Evaluation runs every layer. Paper's code: ``max_theta`` (theta_bar)
    0.5, ``gamma_factor`` 100.
    """

    theta_bar: float = 0.5
    gamma: float = 100.0
    name = "layer-drop"

    def __post_init__(self) -> None:
        if not 0.0 <= self.theta_bar <= 1.0:
            raise ValueError(f"invalid theta_bar={self.theta_bar}: must be in [0, 1]")
        if self.gamma < 0:
            raise ValueError(f"invalid gamma={self.gamma}: must be >= 0")

    def active_layers(self, trainer: Trainer) -> list[int]:
        keep = keep_probabilities(trainer.fraction, trainer.n_layers, self.theta_bar, self.gamma)
        u = trainer.rng(1).random(trainer.n_layers)  # same on every process
        return [i for i in range(trainer.n_layers) if u[i] < keep[i]]

    def train_step(self, trainer: Trainer) -> StepOutput:
        active = self.active_layers(trainer)
        x, y = trainer.sample(trainer.local_batch)
        loss = per_token_loss(trainer.forward(x, active_layers=active), y).mean()
        trainer.backward(loss)
        return StepOutput(
            float(loss.detach()), [Charge("train", x.shape[0], len(active))], int(y.numel())
        )

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "theta_bar": self.theta_bar, "gamma": self.gamma}


@dataclass
class SelectiveBackprop(Method):
    """Selective backprop (Jiang et al. 2019; Kaddour et al. 2023, Sec. 5).

    A forward pass scores every sequence of the batch by its loss; a sequence is kept with
    probability ``F(loss)^beta``, ``F`` the empirical CDF of the last ``history`` losses; the kept
    ones (at least the highest-loss one) are forwarded again and backpropagated. Both passes are
    charged. Paper's code: ``sb.scale`` (beta) 1.
    """

    beta: float = 1.0
    history: int = 1024
    losses: list[float] = field(default_factory=list)
    name = "selective-backprop"

    def __post_init__(self) -> None:
        if not self.beta > 0:
            raise ValueError(f"invalid beta={self.beta}: must be > 0")
        if self.history < 1:
            raise ValueError(f"invalid history={self.history}: must be >= 1")

    def train_step(self, trainer: Trainer) -> StepOutput:
        x, y = trainer.sample(trainer.local_batch)
        with torch.no_grad():
            scores = per_token_loss(trainer.forward(x), y).mean(dim=1)  # (B,)
        scores_np = scores.double().numpy()
        self.losses = (self.losses + scores_np.tolist())[-self.history :]
        hist = np.sort(np.asarray(self.losses))
        cdf = np.searchsorted(hist, scores_np, side="right") / hist.size
        keep = trainer.rng(2, trainer.world.rank).random(scores_np.size) < cdf**self.beta
        keep[int(np.argmax(scores_np))] = True
        idx = torch.from_numpy(np.flatnonzero(keep))
        loss = per_token_loss(trainer.forward(x[idx]), y[idx]).mean()
        trainer.backward(loss)
        charges = [
            Charge("forward", x.shape[0], trainer.n_layers),
            Charge("train", len(idx), trainer.n_layers),
        ]
        return StepOutput(float(scores.mean()), charges, int(y[idx].numel()))

    def state_dict(self) -> dict[str, Any]:
        return {"losses": list(self.losses)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.losses = list(state["losses"])

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "beta": self.beta, "history": self.history}


@dataclass
class RHOLoss(Method):
    """RHO-loss (Mindermann et al. 2022; Kaddour et al. 2023, Sec. 5).

    Each step draws a batch ``1 / ratio`` times larger, scores each sequence by its *reducible*
    loss — training loss minus the loss of an irreducible-loss (IL) model trained on the holdout
    split (:func:`train_il_model`) — and backpropagates the top ``ratio`` of them. The forward passes
    of both models over the large batch are charged; the IL model's own training is not. Paper's
    code: mega batch 10x the batch (``ratio`` 0.1).
    """

    il_model: torch.nn.Module | None = None
    ratio: float = 0.1
    name = "rho-loss"

    def __post_init__(self) -> None:
        if not 0.0 < self.ratio <= 1.0:
            raise ValueError(f"invalid ratio={self.ratio}: must be in (0, 1]")
        if self.il_model is None:
            raise ValueError("RHOLoss needs il_model (train one with train_il_model)")

    def train_step(self, trainer: Trainer) -> StepOutput:
        b = trainer.local_batch
        mega = max(b, int(round(b / self.ratio)))
        x, y = trainer.sample(mega, salt=3)
        self.il_model.to(x.device).eval()
        with torch.no_grad():
            train_loss = per_token_loss(trainer.forward(x), y).mean(dim=1)  # (mega,)
            il_loss = per_token_loss(self.il_model(x), y).mean(dim=1)  # (mega,)
        top = torch.topk(train_loss - il_loss, b, sorted=False).indices
        loss = per_token_loss(trainer.forward(x[top]), y[top]).mean()
        trainer.backward(loss)
        charges = [
            Charge("forward", mega, trainer.n_layers),
            Charge("forward", mega, len(self.il_model.blocks)),
            Charge("train", b, trainer.n_layers),
        ]
        return StepOutput(float(loss.detach()), charges, int(y[top].numel()))

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "ratio": self.ratio, "il_layers": len(self.il_model.blocks)}


@dataclass
class LionMethod(Method):
    """Lion (Chen et al. 2023) in place of AdamW: learning rate x ``lr_ratio``, weight decay
    / ``lr_ratio`` (the Lion paper's advice: 3-10x smaller lr, correspondingly larger decay)."""

    lr_ratio: float = 1.0 / 3.0
    betas: tuple[float, float] = (0.9, 0.99)
    name = "lion"

    def __post_init__(self) -> None:
        if not self.lr_ratio > 0:
            raise ValueError(f"invalid lr_ratio={self.lr_ratio}: must be > 0")
        self.lr_multiplier = self.lr_ratio

    def make_optimizer(self, trainer: Trainer) -> torch.optim.Optimizer:
        from mlroundup.budgeted_training.optim import lion

        groups = trainer.param_groups()
        for g in groups:
            g["weight_decay"] = g["weight_decay"] / self.lr_ratio
        return lion(groups, lr=1e-8, betas=self.betas)

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "lr_ratio": self.lr_ratio, "betas": list(self.betas)}


@dataclass
class SophiaMethod(Method):
    """Sophia-G (Liu et al. 2023) in place of AdamW.

    Every ``k`` steps, after the update, labels are sampled from the model's output on a fresh batch
    of ``hessian_batch`` sequences (default: the batch), the mean loss on them is backpropagated, and
    the Gauss-Newton-Bartlett estimate refreshes the Hessian EMA; that pass is charged. Paper's code:
    ``rho`` 0.04, ``hess_update_frequency`` 10, betas (0.965, 0.99).
    """

    rho: float = 0.04
    k: int = 10
    betas: tuple[float, float] = (0.965, 0.99)
    hessian_batch: int | None = None
    name = "sophia"

    def __post_init__(self) -> None:
        if self.k < 1:
            raise ValueError(f"invalid k={self.k}: must be >= 1")

    def make_optimizer(self, trainer: Trainer) -> torch.optim.Optimizer:
        from mlroundup.budgeted_training.optim import SophiaG

        return SophiaG(trainer.param_groups(), lr=1e-8, betas=self.betas, rho=self.rho)

    def after_step(self, trainer: Trainer) -> Sequence[Charge]:
        if trainer.step % self.k != self.k - 1:
            return ()
        b = self.hessian_batch or trainer.local_batch
        x, _ = trainer.sample(b, salt=4)
        logits = trainer.forward(x)  # (B, T, V)
        gen = torch.Generator().manual_seed(int(trainer.rng(5, trainer.world.rank).integers(2**62)))
        with torch.no_grad():
            probs = torch.softmax(logits.detach().float(), dim=-1).reshape(-1, logits.shape[-1])
            sampled = torch.multinomial(probs.cpu(), 1, generator=gen).view(x.shape).to(x.device)
        trainer.optimizer.zero_grad(set_to_none=True)
        trainer.backward(per_token_loss(logits, sampled).mean())
        trainer.optimizer.update_hessian(scale=float(sampled.numel() * trainer.world.size))
        trainer.optimizer.zero_grad(set_to_none=True)
        return [Charge("train", b, trainer.n_layers)]

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "rho": self.rho, "k": self.k, "betas": list(self.betas)}


#: Methods by name (RHO-loss needs an IL model, so it is built by the caller).
METHODS: dict[str, type[Method]] = {
    "baseline": Baseline,
    "layer-stacking": LayerStacking,
    "layer-drop": LayerDrop,
    "selective-backprop": SelectiveBackprop,
    "rho-loss": RHOLoss,
    "lion": LionMethod,
    "sophia": SophiaMethod,
}


def get_method(name: str, **kwargs: Any) -> Method:
    """A method by name; ValueError listing the valid names otherwise."""
    try:
        cls = METHODS[name]
    except KeyError:
        raise ValueError(f"unknown method {name!r}; valid: {', '.join(METHODS)}") from None
    return cls(**kwargs)
