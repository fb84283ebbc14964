"""Sophia-G, written against the paper; Lion comes from the ``lion-pytorch`` package.

Sophia (Liu et al. 2023, "Sophia: A Scalable Stochastic Second-order Optimizer for Language Model
Pre-training", arXiv 2305.14342, Algorithm 3) keeps an EMA ``m`` of gradients and an EMA ``h`` of a
diagonal Hessian estimate refreshed every ``k`` steps, and takes the per-coordinate clipped step

    theta <- theta - lr * wd * theta
    theta <- theta - lr * clip(m / max(rho * h, eps), 1)

Sophia-G's estimate is the Gauss-Newton-Bartlett one (Algorithm 2): with labels *sampled* from the
model's own output distribution, ``h_hat = B * g_hat * g_hat`` where ``g_hat`` is the gradient of the
mean loss over ``B`` sampled labels. :meth:`SophiaG.update_hessian` takes ``g_hat`` from ``p.grad``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch


class SophiaG(torch.optim.Optimizer):
    """Sophia with a caller-supplied diagonal Hessian estimate (Gauss-Newton-Bartlett for Sophia-G).

    Parameters
    ----------
    params : iterable of Tensor or dict
    lr : float
        > 0.
    betas : (float, float)
        EMA factors of the gradient and the Hessian estimate, each in [0, 1). Paper: (0.965, 0.99).
    rho : float
        Clipping scale ``rho`` (the paper's gamma), > 0. Paper / Kaddour et al.: 0.04.
    weight_decay : float
        Decoupled weight decay, >= 0.
    eps : float
        Floor of the denominator, > 0.

    Notes
    -----
    Call :meth:`step` after each backward pass, and every ``k`` steps (paper: 10) run a backward
    pass of the loss on labels sampled from the model and call :meth:`update_hessian`.
    """

    def __init__(
        self,
        params: Iterable,
        lr: float = 1e-4,
        betas: tuple[float, float] = (0.965, 0.99),
        rho: float = 0.04,
        weight_decay: float = 0.1,
        eps: float = 1e-15,
    ) -> None:
        if not (math.isfinite(lr) and lr > 0):
            raise ValueError(f"invalid lr={lr!r}: must be > 0")
        for i, b in enumerate(betas):
            if not 0.0 <= b < 1.0:
                raise ValueError(f"invalid betas[{i}]={b!r}: must be in [0, 1)")
        if not rho > 0:
            raise ValueError(f"invalid rho={rho!r}: must be > 0")
        if weight_decay < 0:
            raise ValueError(f"invalid weight_decay={weight_decay!r}: must be >= 0")
        if not eps > 0:
            raise ValueError(f"invalid eps={eps!r}: must be > 0")
        super().__init__(
            params, dict(lr=lr, betas=betas, rho=rho, weight_decay=weight_decay, eps=eps)
        )

    def _state(self, p: torch.Tensor) -> dict:
        state = self.state[p]
        if not state:
            state["exp_avg"] = torch.zeros_like(p)
            state["hessian"] = torch.zeros_like(p)
        return state

    @torch.no_grad()
    def update_hessian(self, scale: float = 1.0) -> None:
        """``h <- beta2 h + (1 - beta2) * scale * grad**2`` for every parameter with a gradient.

        Parameters
        ----------
        scale : float
            ``B``, the number of sampled labels whose mean loss gave ``p.grad`` (GNB estimator).
        """
        for group in self.param_groups:
            beta2 = group["betas"][1]
            for p in group["params"]:
                if p.grad is None:
                    continue
                h = self._state(p)["hessian"]
                h.mul_(beta2).addcmul_(p.grad, p.grad, value=(1.0 - beta2) * scale)

    @torch.no_grad()
    def step(self, closure=None):  # noqa: D102 - torch.optim API
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            lr, (beta1, _), rho = group["lr"], group["betas"], group["rho"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self._state(p)
                m, h = state["exp_avg"], state["hessian"]
                p.mul_(1.0 - lr * group["weight_decay"])
                m.mul_(beta1).add_(p.grad, alpha=1.0 - beta1)
                ratio = (m / torch.clamp(rho * h, min=group["eps"])).clamp_(-1.0, 1.0)
                p.add_(ratio, alpha=-lr)
        return loss


def lion(
    params: Iterable, lr: float, betas: tuple[float, float] = (0.9, 0.99), weight_decay: float = 0.0
):
    """Lion (Chen et al. 2023, "Symbolic Discovery of Optimization Algorithms", arXiv 2302.06675,
    Algorithm 2) from the ``lion-pytorch`` package.

    ``update = sign(beta1 m + (1 - beta1) g)``, ``theta <- theta (1 - lr wd) - lr update``,
    ``m <- beta2 m + (1 - beta2) g``.
    """
    from lion_pytorch import Lion

    return Lion(params, lr=lr, betas=betas, weight_decay=weight_decay)
