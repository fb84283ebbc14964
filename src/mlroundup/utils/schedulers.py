"""Resuming PyTorch learning-rate schedulers in either order of loading.

A resumed run loads the optimizer's state and the scheduler's. PyTorch's ``LambdaLR`` gives the
right next learning rate only when the scheduler is built *before* the optimizer's state is
loaded: built after, its constructor writes the step-0 rate into the optimizer, and loading the
scheduler's state restores ``last_epoch`` but leaves that rate in place until the next
``scheduler.step()``, so the first resumed update uses the wrong rate. :class:`ClosedFormResume`
fixes it for schedulers whose ``get_lr`` is a closed form of ``last_epoch``: loading their state
re-applies the rate of the restored step.
"""

from __future__ import annotations

from typing import Any


class ClosedFormResume:
    """Mixin (before ``torch.optim.lr_scheduler.LRScheduler`` in the bases) for schedulers whose
    :meth:`get_lr` depends only on ``last_epoch`` and ``base_lrs``.

    After :meth:`load_state_dict` every parameter group's ``lr`` is the schedule's value at the
    restored step, whether the optimizer's state was loaded before or after the scheduler was
    built.
    """

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        super().load_state_dict(state_dict)  # type: ignore[misc]
        self._get_lr_called_within_step = True  # the closed form, not a mid-step call
        try:
            lrs = self.get_lr()  # type: ignore[attr-defined]
        finally:
            self._get_lr_called_within_step = False
        for group, lr in zip(self.optimizer.param_groups, lrs, strict=True):  # type: ignore[attr-defined]
            group["lr"] = lr
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]  # type: ignore[attr-defined]
