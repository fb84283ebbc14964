"""Optimizer-state resets at ReLoRA restarts, optimizer-state size, and the jagged-cosine scheduler.

At each restart ReLoRA resets the optimizer state of the adapter parameters only (Lialin et al.
2023, Sec. 3): fully (the official code's default, ``--reset_optimizer_on_relora True``), or by
pruning a fraction of Adam's first and second moments, at random or by magnitude (the paper prunes
99% by magnitude; the code's README recommends ``--optimizer_magnitude_pruning 0.9`` or a full reset).
Other parameters (embeddings, norms, the frozen weights) keep their state.

Pruning here zeroes *exactly* ``ceil(fraction * n)`` entries of each moment tensor, ties broken by
position: the official code keeps ``|x| > quantile(|x|, fraction)`` (which prunes more than asked
when values tie) and draws random masks ``rand > fraction`` (which prunes the fraction only in
expectation).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import torch

from mlroundup.relora.schedule import jagged_cosine_lambda
from mlroundup.utils.schedulers import ClosedFormResume

RESET_MODES = ("reset", "random", "magnitude")


def n_pruned(numel: int, fraction: float) -> int:
    """Entries pruned from a tensor of ``numel`` entries at ``fraction``: ``ceil(fraction * numel)``
    (computed so that, e.g., 0.3 of 10 is 3, not 4 from ``0.3 * 10 = 3.0000000000000004``)."""
    return min(numel, math.ceil(round(fraction * numel, 9)))


@torch.no_grad()
def prune_(
    tensor: torch.Tensor,
    fraction: float,
    method: str = "magnitude",
    generator: torch.Generator | None = None,
) -> int:
    """Zero ``ceil(fraction * tensor.numel())`` entries of ``tensor`` in place.

    Parameters
    ----------
    tensor : torch.Tensor
        Any shape; modified in place.
    fraction : float
        In [0, 1].
    method : {"magnitude", "random"}
        ``magnitude``: the entries of smallest ``|x|`` (ties: the lowest flat index first);
        ``random``: a uniformly random subset of that size.
    generator : torch.Generator, optional
        For ``random`` (CPU generator; the subset is drawn on CPU).

    Returns
    -------
    int
        Number of entries zeroed by this call (some may have been zero already).

    Raises
    ------
    ValueError
        If ``fraction`` is outside [0, 1] or ``method`` is unknown.
    """
    if not (isinstance(fraction, (int, float)) and 0.0 <= fraction <= 1.0):
        raise ValueError(f"invalid fraction={fraction!r}: must be in [0, 1]")
    if method not in ("magnitude", "random"):
        raise ValueError(f"invalid method={method!r}; valid: magnitude, random")
    flat = tensor.view(-1) if tensor.is_contiguous() else tensor.reshape(-1)
    k = n_pruned(flat.numel(), fraction)
    if k == 0:
        return 0
    if method == "magnitude":
        idx = torch.argsort(flat.abs(), stable=True)[:k]
    else:
        idx = torch.randperm(flat.numel(), generator=generator)[:k].to(flat.device)
    flat[idx] = 0
    if not tensor.is_contiguous():
        tensor.copy_(flat.view_as(tensor))
    return k


def moment_keys(optimizer: torch.optim.Optimizer, param: torch.Tensor) -> list[str]:
    """Keys of ``optimizer``'s state for ``param`` holding tensors of ``param``'s shape (Adam's
    ``exp_avg``, ``exp_avg_sq``; Lion's ``exp_avg``; ...), i.e. everything but scalars like ``step``."""
    state = optimizer.state.get(param, {})
    return [k for k, v in state.items() if torch.is_tensor(v) and v.shape == param.shape]


@torch.no_grad()
def reset_optimizer_state(
    optimizer: torch.optim.Optimizer,
    params: Iterable[torch.Tensor],
    mode: str = "reset",
    fraction: float = 0.99,
    *,
    keys: Sequence[str] | None = None,
    generator: torch.Generator | None = None,
) -> dict[str, float]:
    """Reset or prune the optimizer state of ``params`` only, in place.

    Parameters
    ----------
    optimizer : torch.optim.Optimizer
    params : iterable of tensors
        The parameters whose state is touched (ReLoRA: :func:`~mlroundup.relora.layers.lora_parameters`);
        each must be one of ``optimizer``'s parameters. Parameters without state yet are skipped.
    mode : {"reset", "random", "magnitude"}
        ``reset``: zero the moments; ``random`` / ``magnitude``: zero ``fraction`` of each moment
        tensor, see :func:`prune_`. Scalar state (Adam's ``step``) is kept, as in the official code.
    fraction : float
        Pruned fraction for ``random`` and ``magnitude``, in [0, 1] (paper: 0.99).
    keys : sequence of str, optional
        State keys to touch (default: :func:`moment_keys`).
    generator : torch.Generator, optional
        For ``random``.

    Returns
    -------
    dict
        ``{"tensors": n, "entries": total entries, "zero_fraction": fraction of them now zero}``.

    Raises
    ------
    ValueError
        For an unknown ``mode``, ``fraction`` outside [0, 1], a parameter the optimizer does not hold,
        or a requested key missing from a parameter's state.
    """
    if mode not in RESET_MODES:
        raise ValueError(f"invalid mode={mode!r}; valid: {', '.join(RESET_MODES)}")
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"invalid fraction={fraction!r}: must be in [0, 1]")
    held = {id(p) for g in optimizer.param_groups for p in g["params"]}
    n_tensors = n_entries = n_zero = 0
    for i, p in enumerate(params):
        if id(p) not in held:
            raise ValueError(f"params[{i}] (shape {tuple(p.shape)}) is not held by the optimizer")
        state = optimizer.state.get(p)
        if not state:
            continue
        for key in moment_keys(optimizer, p) if keys is None else keys:
            if key not in state:
                raise ValueError(f"the optimizer state of params[{i}] has no key {key!r}")
            t = state[key]
            if mode == "reset":
                t.zero_()
            else:
                prune_(t, fraction, mode, generator)
            n_tensors += 1
            n_entries += t.numel()
            n_zero += int((t == 0).sum())
    return {
        "tensors": n_tensors,
        "entries": n_entries,
        "zero_fraction": n_zero / n_entries if n_entries else 0.0,
    }


def optimizer_state_bytes(optimizer: torch.optim.Optimizer) -> int:
    """Bytes held by the tensors of ``optimizer.state`` (moments and step counters)."""
    total = 0
    for state in optimizer.state.values():
        for v in state.values():
            if torch.is_tensor(v):
                total += v.numel() * v.element_size()
    return total


class JaggedCosineLR(ClosedFormResume, torch.optim.lr_scheduler.LambdaLR):
    """ReLoRA's jagged cosine schedule as a PyTorch scheduler (:func:`jagged_cosine_lambda`).

    Parameters
    ----------
    optimizer : torch.optim.Optimizer
    total_steps : int
    **kwargs
        ``warmup_steps``, ``reset_every``, ``first_reset``, ``restart_warmup_steps``, ``floor``.

    Attributes
    ----------
    resets : tuple of int
        The restart steps: merge the adapters and reset the optimizer at these steps.

    Notes
    -----
    Resuming gives the uninterrupted run's next rate whether the optimizer's state is loaded
    before or after the scheduler is built (:class:`mlroundup.utils.schedulers.ClosedFormResume`;
    torch's ``LambdaLR`` needs the scheduler built first).

    Examples
    --------
    >>> model = torch.nn.Linear(4, 4)
    >>> opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    >>> sched = JaggedCosineLR(opt, 1000, warmup_steps=50, reset_every=200, restart_warmup_steps=10)
    >>> sched.resets
    (200, 400, 600, 800)
    """

    def __init__(self, optimizer: torch.optim.Optimizer, total_steps: int, **kwargs) -> None:
        fn = jagged_cosine_lambda(total_steps, **kwargs)
        self.resets = fn.resets  # type: ignore[attr-defined]
        super().__init__(optimizer, fn)
