"""PyTorch adapter: play a normalized step-size schedule as a learning-rate scheduler.

Importing this module imports :mod:`torch`; ``mlroundup.longstep`` imports it lazily.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from torch.optim.lr_scheduler import LRScheduler

from mlroundup.utils.schedulers import ClosedFormResume

__all__ = ["LongStepLR"]


class LongStepLR(ClosedFormResume, LRScheduler):
    """Learning rate ``h_k / L`` at step ``k``, cycling through a schedule ``h``.

    Parameters
    ----------
    optimizer : torch.optim.Optimizer
        Wrapped optimizer (typically ``torch.optim.SGD`` without momentum, which then performs
        exactly ``x_{k+1} = x_k - (h_k / L) grad f(x_k)``).
    schedule : array_like of shape (n,)
        Normalized steps (finite, > 0), e.g. ``mlroundup.longstep.schedule("silver", 63)``.
        Past its end the schedule is **cycled**: step ``k`` uses ``h[k mod n]`` (this is how
        Grimmer's periodic patterns are meant to be used; for horizon-specific schedules such as
        OBS-F pass the full horizon).
    L : float, optional
        Smoothness constant (> 0). Every parameter group gets ``lr = h_k / L``. If ``None``, each
        group's initial ``lr`` is taken as ``1/L``, i.e. ``lr_k = initial_lr * h_k``.
    last_epoch : int
        Index of the last step taken (``-1`` to start from ``h[0]``), as in PyTorch.

    Raises
    ------
    ValueError
        If the schedule is empty, not 1-D, or has an entry that is non-finite or ``<= 0``
        (named by index), or if ``L`` is non-finite or ``<= 0``.

    Notes
    -----
    Call ``optimizer.step()`` then ``scheduler.step()`` once per gradient step. After
    construction the optimizer's lr is ``h_0/L``; after ``k`` calls to ``scheduler.step()`` it is
    ``h_{k mod n}/L``. Resuming gives the uninterrupted run's next rate whether the optimizer's
    state is loaded before or after the scheduler is built
    (:class:`mlroundup.utils.schedulers.ClosedFormResume`; torch's own schedulers need the
    scheduler built first).

    References
    ----------
    Grimmer (2023) arXiv 2307.06324; Altschuler & Parrilo (2023) arXiv 2309.16530; Grimmer, Shu &
    Wang (2024) arXiv 2410.16249.
    """

    def __init__(
        self,
        optimizer: torch.optim.Optimizer,
        schedule: Sequence[float] | np.ndarray,
        L: float | None = None,
        last_epoch: int = -1,
    ) -> None:
        try:
            h = np.asarray(schedule, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise ValueError(
                f"invalid schedule={schedule!r}: must be a 1-D sequence of step sizes (floats)"
            ) from exc
        if h.ndim != 1 or h.shape[0] == 0:
            raise ValueError(f"invalid schedule of shape {h.shape}: must be 1-D and non-empty")
        for k, v in enumerate(h):
            if not math.isfinite(float(v)) or v <= 0:
                raise ValueError(
                    f"invalid step size schedule[{k}]={float(v)!r}: must be finite and > 0"
                )
        if L is not None:
            try:
                Lf = float(L)
            except (TypeError, ValueError):
                raise ValueError(f"invalid L={L!r}: must be a finite number > 0") from None
            if not math.isfinite(Lf) or Lf <= 0:
                raise ValueError(f"invalid L={L!r}: must be finite and > 0")
            L = Lf
        self.schedule = [float(v) for v in h]
        self.L = L
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        """Learning rates ``h_{k mod n} / L`` (or ``base_lr * h_{k mod n}``) for every group.

        Returns
        -------
        list of float
            One learning rate per parameter group, for step ``k = last_epoch``.
        """
        h = self.schedule[self.last_epoch % len(self.schedule)]
        if self.L is not None:
            return [h / self.L for _ in self.base_lrs]
        return [float(base_lr) * h for base_lr in self.base_lrs]
