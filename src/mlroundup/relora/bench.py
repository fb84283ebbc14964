"""``mlroundup bench relora``: optimizer-state memory and step time, full-rank vs ReLoRA.

The paper's claim (Lialin et al. 2023, abstract): "ReLoRA saves up to 5.5GB of RAM per GPU and
improves training speed by 9-40% depending on the model size and hardware setup", measured at
250M-1.3B parameters on GPUs. Here the shared trainer's GPT presets are measured on this machine's
CPU: one training step (forward, backward, AdamW update) of the same model and batch, full-rank
and wrapped by :func:`~mlroundup.relora.layers.wrap_relora`, each in its own process on the fair
harness (:mod:`mlroundup.benchmarks.harness`).

Usage::

    mlroundup bench relora --scale quick --json relora-bench.json
"""

from __future__ import annotations

from mlroundup.benchmarks import Bench, BenchContext
from mlroundup.benchmarks.harness import Case, System, SystemResult, Workload

#: (preset, adapter rank, batch, sequence length) per scale; r / d_model = 1/8 as the paper's 350M.
SHAPES = {
    "quick": [("1m", 16, 16, 64), ("6m", 32, 8, 128)],
    "paper": [("1m", 16, 16, 64), ("6m", 32, 16, 128), ("30m", 64, 8, 256)],
}
VOCAB = 84  # the Shakespeare character vocabulary
COLUMNS = [
    "preset", "params", "r", "batch", "full state (MiB)", "ReLoRA state (MiB)", "state ratio",
    "full s/step (median)", "ReLoRA s/step (median)", "full s/step (fastest)",
    "ReLoRA s/step (fastest)", "speed-up",
]  # fmt: skip


def train_step(threads: int, preset: str, r: int, batch: int, seq: int, relora: bool) -> Workload:
    """One AdamW training step of the ``preset`` GPT on a fixed random batch (in the child).

    Parameters
    ----------
    threads : int
        torch intra-op threads.
    preset : str
        A key of :data:`mlroundup.training.PRESETS`.
    r : int
        ReLoRA rank (``lora_alpha = r / 4``), used when ``relora``.
    batch, seq : int
        Batch of ``batch`` windows of ``seq`` tokens, int64 in [0, 84).
    relora : bool
        Wrap the model's linear layers with ReLoRA adapters (else train full-rank).

    Returns
    -------
    Workload
        ``step``: zero_grad, forward, backward, AdamW step; ``info``: ``total_params``,
        ``trainable_params``, ``optimizer_state_bytes`` (after one step, when AdamW has made its
        moments).
    """
    import torch

    from mlroundup.relora.layers import wrap_relora
    from mlroundup.relora.optim import optimizer_state_bytes
    from mlroundup.training import GPT, PRESETS, GPTConfig, per_token_loss

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=VOCAB, block_size=seq, **PRESETS[preset]))
    if relora:
        wrap_relora(model, r=r, lora_alpha=r / 4)
    gen = torch.Generator().manual_seed(0)
    x = torch.randint(0, VOCAB, (batch, seq), generator=gen)
    y = torch.randint(0, VOCAB, (batch, seq), generator=gen)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-4)

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        per_token_loss(model(x), y).mean().backward()
        opt.step()

    step()  # AdamW creates its moments on the first step
    return Workload(step=step, info={
        "total_params": sum(p.numel() for p in model.parameters()),
        "trainable_params": sum(p.numel() for p in params),
        "optimizer_state_bytes": optimizer_state_bytes(opt),
    })  # fmt: skip


def run(ctx: BenchContext) -> None:
    """Measure every shape of ``ctx.scale``; one table."""
    rows = []
    for preset, r, batch, seq in SHAPES[ctx.scale]:
        params = {"preset": preset, "r": r, "batch": batch, "seq": seq}
        res = ctx.measure(Case(
            f"{preset} r={r} {batch}x{seq}",
            [System("full-rank", f"{__name__}:train_step", {**params, "relora": False}),
             System("ReLoRA", f"{__name__}:train_step", {**params, "relora": True}, ours=True)],
            threads=ctx.threads, repeats=5 if ctx.scale == "quick" else 7, warmup=2,
            min_pass_s=0.0,
        ))  # fmt: skip
        f, rl = res["full-rank"], res["ReLoRA"]
        rows.append(_row(preset, r, f"{batch}x{seq}", f, rl))
    ctx.table(
        "Optimizer state and step time, full-rank vs ReLoRA (AdamW, float32, CPU)",
        COLUMNS,
        rows,
        note="s/step: median over the passes (one step each) and the fastest pass, each side in "
        "its own process, passes interleaved; speed-up = full / ReLoRA median s/step - 1 (paper: "
        "+9% to +40% at 250M-1.3B on GPUs).",
    )


def _row(preset: str, r: int, batch: str, f: SystemResult, rl: SystemResult) -> list:
    """One table row from the two sides' results (None where a side has no value)."""
    fs, rs = f.info.get("optimizer_state_bytes"), rl.info.get("optimizer_state_bytes")
    fm, rm = f.median, rl.median
    return [
        preset, f.info.get("total_params", rl.info.get("total_params")), r, batch,
        None if fs is None else fs / 2**20, None if rs is None else rs / 2**20,
        None if not fs or rs is None else rs / fs,
        fm, rm, f.stats and f.stats.min, rl.stats and rl.stats.min,
        None if fm is None or not rm else fm / rm - 1.0,
    ]  # fmt: skip


BENCH = Bench(name="relora", title="ReLoRA memory and speed", run=run)
