"""ReLoRA: high-rank training through repeated low-rank updates (Lialin et al., arXiv 2307.05695).

- :mod:`mlroundup.relora.layers`: :class:`ReLoRALinear` and :func:`wrap_relora` for any PyTorch
  model, :func:`merge_and_reinit`, :func:`unwrap_relora`.
- :mod:`mlroundup.relora.optim`: optimizer-state reset / random / magnitude pruning of the adapters'
  moments, optimizer-state size, :class:`JaggedCosineLR`.
- :mod:`mlroundup.relora.schedule`: the jagged cosine as a pure function of the step or of the budget
  fraction (no torch).
- :mod:`mlroundup.relora.rank`: numerical and effective rank of an update.
- :mod:`mlroundup.relora.method`: ReLoRA (warm start, restarts, resets) on the budgeted trainer.
- :mod:`mlroundup.relora.experiment`: the registered reproduction.

Imports are lazy so that ``import mlroundup.relora.schedule`` needs no torch.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "ReLoRALinear": "layers",
    "NonFiniteMergeError": "layers",
    "wrap_relora": "layers",
    "merge_and_reinit": "layers",
    "unwrap_relora": "layers",
    "lora_parameters": "layers",
    "relora_modules": "layers",
    "effective_weights": "layers",
    "reset_optimizer_state": "optim",
    "prune_": "optim",
    "optimizer_state_bytes": "optim",
    "JaggedCosineLR": "optim",
    "jagged_cosine_factor": "schedule",
    "jagged_cosine_lambda": "schedule",
    "JaggedBudgetSchedule": "schedule",
    "periodic_resets": "schedule",
    "numerical_rank": "rank",
    "effective_rank": "rank",
    "ReLoRAMethod": "method",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"mlroundup.relora.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'mlroundup.relora' has no attribute {name!r}")
