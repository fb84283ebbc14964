"""ReLoRA vs full-rank training: optimizer-state memory and step time of the same GPT (``mlroundup bench relora``).

The paper's claim (Lialin et al. 2023, abstract): "ReLoRA saves up to 5.5GB of RAM per GPU and
improves training speed by 9-40% depending on the model size and hardware setup", measured at
250M-1.3B parameters on GPUs. Here the budgeted trainer's GPT presets are measured on this machine's
CPU, full-rank and wrapped alternately in one run.
"""

from __future__ import annotations

from collections.abc import Callable

from mlroundup.benchmarks import BenchReport
from mlroundup.experiments.schema import Table

#: (preset, adapter rank, batch, sequence length) per scale; r / d_model = 1/8 as the paper's 350M.
SHAPES = {
    "quick": [("1m", 16, 16, 64), ("6m", 32, 8, 128)],
    "paper": [("1m", 16, 16, 64), ("6m", 32, 16, 128), ("30m", 64, 8, 256)],
}


def bench(scale: str, log: Callable[[str], None]) -> BenchReport:
    import os

    import torch

    from mlroundup.relora.cost import compare_step_cost
    from mlroundup.training import GPT, PRESETS, GPTConfig, per_token_loss

    if scale not in SHAPES:
        raise ValueError(f"invalid scale={scale!r}; valid: {', '.join(SHAPES)}")
    rows = []
    vocab = 84  # the Shakespeare character vocabulary
    for preset, r, batch, seq in SHAPES[scale]:
        log(f"{preset}: full-rank vs ReLoRA r={r}")
        cfg = GPTConfig(vocab_size=vocab, block_size=seq, **PRESETS[preset])
        gen = torch.Generator().manual_seed(0)
        x = torch.randint(0, vocab, (batch, seq), generator=gen)
        y = torch.randint(0, vocab, (batch, seq), generator=gen)

        def make(cfg=cfg):
            torch.manual_seed(0)
            return GPT(cfg)

        def loss_fn(model, inp, tgt):
            return per_token_loss(model(inp), tgt).mean()

        c = compare_step_cost(make, loss_fn, x, y, {"r": r, "lora_alpha": r / 4}, rounds=3, steps=3)
        f, rl = c["full"], c["relora"]
        rows.append([
            preset, f["total_params"], r, f"{batch}x{seq}",
            f["optimizer_state_bytes"] / 2**20, rl["optimizer_state_bytes"] / 2**20,
            rl["optimizer_state_bytes"] / f["optimizer_state_bytes"],
            f["step_s"], rl["step_s"], f["step_s_min"], rl["step_s_min"],
            f["step_s_min"] / rl["step_s_min"] - 1.0,
        ])  # fmt: skip
    table = Table(
        "Optimizer state and step time, full-rank vs ReLoRA (AdamW, float32, CPU)",
        ["preset", "params", "r", "batch", "full state (MiB)", "ReLoRA state (MiB)", "state ratio",
         "full s/step (median)", "ReLoRA s/step (median)", "full s/step (fastest)",
         "ReLoRA s/step (fastest)", "speed-up"],
        rows,
        note="Speed-up = full / ReLoRA fastest step time - 1 (the fastest step is the least disturbed "
        "by other jobs; paper: +9% to +40% at 250M-1.3B on GPUs). Alternated rounds in one process.",
    )  # fmt: skip
    notes = [
        f"Measured with {torch.get_num_threads()} torch threads on {os.cpu_count()} cores; a shared "
        "machine makes step times noisy: compare the ratios, not the seconds."
    ]
    return BenchReport(name="relora", title="ReLoRA memory and speed", tables=[table], notes=notes)
