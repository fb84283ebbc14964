"""Data-parallel helpers: the same trainer runs on one process or under ``torchrun``.

Gradients are averaged with one all-reduce per step over a flattened buffer (what DDP does, without
overlapping communication with the backward pass). Doing it by hand, rather than through
``DistributedDataParallel``, keeps methods that change the model mid-run (layer stacking), skip
layers (layer dropping) or take extra backward passes (Sophia) correct with no re-wrapping: a
parameter that no process used on a step keeps no gradient, as in a single process.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class World:
    rank: int = 0
    size: int = 1

    @property
    def main(self) -> bool:
        return self.rank == 0


def init_from_env(device: str = "cpu") -> World:
    """Join the process group ``torchrun`` describes in the environment (if any); return this world.

    Uses the gloo backend on CPU and NCCL on CUDA. With no ``WORLD_SIZE`` (or 1) this is one process.
    """
    if dist.is_available() and dist.is_initialized():
        return World(dist.get_rank(), dist.get_world_size())
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size <= 1:
        return World()
    backend = "nccl" if str(device).startswith("cuda") else "gloo"
    dist.init_process_group(backend=backend)
    return World(dist.get_rank(), dist.get_world_size())


def average_gradients(params: list[torch.nn.Parameter], world: World) -> None:
    """Average ``p.grad`` over processes in one all-reduce.

    A parameter without a gradient on some process counts as zeros there; one without a gradient
    on every process (e.g. a dropped layer) keeps ``grad = None``, so optimizers skip it exactly as
    they would in a single process.
    """
    if world.size == 1:
        return
    present = torch.tensor([float(p.grad is not None) for p in params], dtype=torch.float32)
    grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
    flat = torch.cat([present, *(g.reshape(-1).float() for g in grads)])
    dist.all_reduce(flat, op=dist.ReduceOp.SUM)
    offset = len(params)
    for k, (p, g) in enumerate(zip(params, grads, strict=True)):
        n = g.numel()
        if flat[k] > 0:
            p.grad = (flat[offset : offset + n] / world.size).view_as(p).to(p.dtype)
        else:
            p.grad = None
        offset += n


def all_reduce_scalar(value: float, world: World, op: str = "mean") -> float:
    """``mean``, ``max`` or ``sum`` of a float over processes."""
    if world.size == 1:
        return float(value)
    t = torch.tensor([float(value)], dtype=torch.float64)
    dist.all_reduce(t, op=dist.ReduceOp.MAX if op == "max" else dist.ReduceOp.SUM)
    return float(t.item() / (world.size if op == "mean" else 1))


def barrier(world: World) -> None:
    if world.size > 1:
        dist.barrier()
