"""Run by test_trainer.py under ``torchrun --nproc_per_node=2``: a tiny budgeted run whose losses
rank 0 writes to the JSON file named by argv[1]. Also runnable as one process (the reference)."""

import json
import sys

import torch
from training_helpers import linear_table, stream, tiny_model  # the script's folder is on sys.path

from mlroundup.budgeted_training.methods import get_method
from mlroundup.training import Budget, BudgetSchedule, TrainConfig, train


def run(method: str = "baseline"):
    torch.set_num_threads(1)
    # Per-process batch 4 under 2 processes, 8 in one: the table charges the per-process batch.
    world = int(__import__("os").environ.get("WORLD_SIZE", "1"))
    cost = 0.02 / (8 // world)  # 0.06 reference seconds per step either way
    table = linear_table(train_per_seq_layer=cost)
    r = train(
        tiny_model(2), (stream(4000, 0), stream(1000, 1)), Budget(1.0, table),
        BudgetSchedule(3e-3, warmup=0.0), method=get_method(method),
        config=TrainConfig(batch_size=8, seq_len=8, grad_clip=1.0),
    )  # fmt: skip
    params = [p.detach().double().sum().item() for p in r.model.parameters()]
    return {"losses": r.losses, "steps": r.steps, "val": r.final.loss, "params": params}


if __name__ == "__main__":
    out = run(sys.argv[2] if len(sys.argv) > 2 else "baseline")
    if int(__import__("os").environ.get("RANK", "0")) == 0:
        with open(sys.argv[1], "w") as f:
            json.dump(out, f)
