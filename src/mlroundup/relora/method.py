"""ReLoRA as a method of the shared budgeted trainer (:mod:`mlroundup.training`).

One :class:`ReLoRAMethod` covers the paper's arms and ablations (Lialin et al. 2023, Table 2 and
Table 6): a full-rank warm start for the first ``warm_start`` of the budget, then LoRA adapters on
the attention and MLP projections; every ``reset_every`` of the budget the adapters are merged and
re-initialized and the adapters' optimizer state is reset; :meth:`ReLoRAMethod.schedule` gives the
matching jagged cosine, dropping to zero at the switch and at every restart.

====================================  =========================================================
LoRA from scratch                     ``ReLoRAMethod(warm_start=0, reset_every=None)``
LoRA after a warm start               ``ReLoRAMethod(warm_start=0.25, reset_every=None)``
ReLoRA                                ``ReLoRAMethod(warm_start=0.25, reset_every=0.15)``
====================================  =========================================================

The trainer has no per-step callback that may swap the model or touch the optimizer, so this module
uses the ``before_step`` hook of :class:`~mlroundup.training.Method` (called before
each step's learning rate is set) and ``Trainer.replace_model`` to rebuild the optimizer when the
adapters are first added. Resuming a checkpoint written after the switch is not supported: the
trainer loads the checkpoint's state dict into the unwrapped model before the method can wrap it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch

from mlroundup.relora.layers import (
    DEFAULT_TARGETS,
    effective_weights,
    lora_parameters,
    merge_and_reinit,
    wrap_relora,
)
from mlroundup.relora.optim import RESET_MODES, reset_optimizer_state
from mlroundup.relora.schedule import JaggedBudgetSchedule, periodic_resets
from mlroundup.training import Method

if TYPE_CHECKING:  # pragma: no cover
    from mlroundup.training import Trainer

#: Tolerance when comparing the budget fraction with a restart fraction (the trainer accumulates
#: the budget used in floating point).
_FRACTION_EPS = 1e-9


@dataclass
class ReLoRAMethod(Method):
    """Warm start, LoRA, restarts, optimizer resets and the jagged schedule, on the budgeted trainer.

    A method holds the state of one run (it wraps that run's model in place): use a new instance
    per run.

    Parameters
    ----------
    r : int
        Adapter rank (official code: ``--lora_r 128``, used at every model size).
    lora_alpha : float
        ``scaling = lora_alpha / r`` (code default 32).
    targets : tuple of str
        Substrings selecting the wrapped linear layers (default: attention and MLP projections).
    warm_start : float
        Budget fraction trained full-rank before the adapters are added, in [0, 1) (official
        README, 250M: a 5,000-step warm start, then ReLoRA).
    reset_every : float or None
        Budget fraction between restarts after the switch (None: no restarts, plain LoRA; official
        README, 250M: ``--relora 5000`` of ``--num_training_steps 20000``).
    restart_warmup : float
        Re-warmup length after the switch and each restart, as a budget fraction (paper: 50-100
        steps).
    optimizer_reset : {"reset", "random", "magnitude"} or None
        What happens to the adapters' optimizer state at a restart (None: kept; see
        :func:`~mlroundup.relora.optim.reset_optimizer_state`). Code default: ``"reset"``.
    prune_fraction : float
        Fraction pruned by ``"random"``/``"magnitude"`` (paper: 0.99).
    jagged : bool
        Whether :meth:`schedule` drops to zero and re-warms at the switch and at restarts.
    lora_lr_ratio : float
        Learning-rate multiplier once adapters are trained (official README: "we use a larger LR
        during the ReLoRA stage", 1e-3 vs 5e-4, i.e. 2).
    seed : int
        Seeds the re-initialization of ``A`` at every restart.
    """

    r: int = 128
    lora_alpha: float = 32.0
    targets: tuple[str, ...] = DEFAULT_TARGETS
    warm_start: float = 0.25
    reset_every: float | None = 0.25
    restart_warmup: float = 0.005
    optimizer_reset: str | None = "reset"
    prune_fraction: float = 0.99
    jagged: bool = True
    lora_lr_ratio: float = 2.0
    seed: int = 0
    name = "relora"
    # state
    wrapped: bool = False
    restarts_done: int = 0
    switch_step: int | None = None
    reset_log: list[dict[str, float]] = field(default_factory=list)
    start_weights: dict[str, torch.Tensor] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if not (isinstance(self.r, int) and self.r >= 1):
            raise ValueError(f"invalid r={self.r!r}: must be an int >= 1")
        if not 0.0 <= self.warm_start < 1.0:
            raise ValueError(f"invalid warm_start={self.warm_start!r}: must be in [0, 1)")
        if self.reset_every is not None and not 0.0 < self.reset_every < 1.0:
            raise ValueError(f"invalid reset_every={self.reset_every!r}: must be in (0, 1) or None")
        if not 0.0 <= self.restart_warmup < 1.0:
            raise ValueError(f"invalid restart_warmup={self.restart_warmup!r}: must be in [0, 1)")
        if self.optimizer_reset is not None and self.optimizer_reset not in RESET_MODES:
            raise ValueError(
                f"invalid optimizer_reset={self.optimizer_reset!r}; valid: {', '.join(RESET_MODES)} or None"
            )
        if not 0.0 <= self.prune_fraction <= 1.0:
            raise ValueError(f"invalid prune_fraction={self.prune_fraction!r}: must be in [0, 1]")
        if not self.lora_lr_ratio > 0:
            raise ValueError(f"invalid lora_lr_ratio={self.lora_lr_ratio!r}: must be > 0")
        self.targets = tuple(self.targets)
        self._gen = torch.Generator().manual_seed(self.seed)

    # ------------------------------------------------------------------ schedule
    def restart_fractions(self) -> tuple[float, ...]:
        """Budget fractions of the restarts (merges), after the switch."""
        if self.reset_every is None:
            return ()
        return periodic_resets(1.0, self.reset_every, self.warm_start + self.reset_every)

    def schedule(
        self, peak_lr: float, warmup: float = 0.02, floor: float = 0.1
    ) -> JaggedBudgetSchedule:
        """The jagged cosine matching this method: zero at the switch (if ``warm_start > 0``) and at
        every restart, re-warming over ``restart_warmup``; a plain cosine when ``jagged`` is False.

        ``peak_lr`` is the full-rank learning rate; :attr:`lr_multiplier` scales it by
        ``lora_lr_ratio`` once adapters are trained.
        """
        resets: tuple[float, ...] = ()
        if self.jagged:
            resets = ((self.warm_start,) if self.warm_start > 0 else ()) + self.restart_fractions()
        warmup = min(warmup, self.warm_start) if self.warm_start > 0 else warmup
        return JaggedBudgetSchedule(peak_lr, warmup, resets, self.restart_warmup, floor)

    @property
    def lr_multiplier(self) -> float:  # type: ignore[override]
        return self.lora_lr_ratio if self.wrapped else 1.0

    # ------------------------------------------------------------------ hooks
    def before_step(self, trainer: Trainer) -> None:
        f = trainer.fraction + _FRACTION_EPS
        if not self.wrapped and f >= self.warm_start:
            self._switch(trainer)
        restarts = self.restart_fractions()
        while (
            self.wrapped
            and self.restarts_done < len(restarts)
            and f >= restarts[self.restarts_done]
        ):
            self._restart(trainer)

    def _switch(self, trainer: Trainer) -> None:
        model = trainer.model
        wrap_relora(model, self.r, self.lora_alpha, targets=self.targets, generator=self._gen)
        self.start_weights = effective_weights(model)
        self.wrapped = True
        self.switch_step = trainer.step
        trainer.replace_model(model, reset_optimizer=True)  # optimizer over the trainable params

    def _restart(self, trainer: Trainer) -> None:
        merge_and_reinit(trainer.model)
        stats: dict[str, float] = {}
        if self.optimizer_reset is not None:
            stats = reset_optimizer_state(
                trainer.optimizer, lora_parameters(trainer.model), self.optimizer_reset,
                self.prune_fraction, generator=self._gen,
            )  # fmt: skip
        self.restarts_done += 1
        self.reset_log.append({"step": trainer.step, "fraction": trainer.fraction, **stats})

    # ------------------------------------------------------------------ bookkeeping
    def state_dict(self) -> dict[str, Any]:
        return {
            "wrapped": self.wrapped,
            "restarts_done": self.restarts_done,
            "switch_step": self.switch_step,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state["wrapped"]:
            raise NotImplementedError(
                "resuming a ReLoRA run after its switch to adapters is not supported: the trainer "
                "loads the checkpoint into the unwrapped model before the method can wrap it"
            )
        self.wrapped = False
        self.restarts_done = int(state["restarts_done"])
        self.switch_step = state["switch_step"]

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "r": self.r,
            "lora_alpha": self.lora_alpha,
            "targets": list(self.targets),
            "warm_start": self.warm_start,
            "reset_every": self.reset_every,
            "restart_warmup": self.restart_warmup,
            "optimizer_reset": self.optimizer_reset,
            "prune_fraction": self.prune_fraction,
            "jagged": self.jagged,
            "lora_lr_ratio": self.lora_lr_ratio,
        }
