"""``mlroundup budgeted-training``: calibrate a reference-time table, train under a budget."""

from __future__ import annotations

import json
import os
from pathlib import Path

import click

from mlroundup.cli_types import FiniteFloatRange

_METHODS = ("baseline", "layer-stacking", "layer-drop", "selective-backprop", "lion", "sophia")


def _ints(text: str, name: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise click.BadParameter(
            f"{text!r} is not a comma-separated list of ints", param_hint=name
        ) from None
    if not values:
        raise click.BadParameter("empty list", param_hint=name)
    return values


def _model_options(f):
    for option in reversed(
        [
            click.option("--preset", type=click.Choice(["tiny", "1m", "6m", "30m"]), default="1m",
                         show_default=True, help="Model size (parameters at a 84-character vocabulary)."),
            click.option("--n-layer", type=int, default=None, help="Override the preset's depth."),
            click.option("--tokenizer", type=click.Choice(["char", "gpt2"]), default="char", show_default=True),
            click.option("--seq-len", type=int, default=128, show_default=True),
        ]
    ):  # fmt: skip
        f = option(f)
    return f


def _config(preset: str, n_layer: int | None, vocab: int, seq_len: int):
    from mlroundup.training import PRESETS, GPTConfig

    shape = dict(PRESETS[preset])
    if n_layer is not None:
        shape["n_layer"] = n_layer
    return GPTConfig(vocab_size=vocab, block_size=seq_len, **shape)


@click.group("budgeted-training")
def group() -> None:
    """Budgeted training (Kaddour et al. 2023): calibrate RST tables, train under a fixed budget.

    \b
    Examples:
      mlroundup budgeted-training calibrate --preset 1m --batch-sizes 1,16,32 --out rst.json
      mlroundup budgeted-training train --budget 120 --rst rst.json --method layer-drop
      torchrun --nproc_per_node=2 $(which mlroundup) budgeted-training train --budget 60
    """


@group.command()
@_model_options
@click.option(
    "--batch-sizes", default="1,16,32", show_default=True, help="Per-process batch sizes."
)
@click.option("--layers", default=None, help="Active-layer counts (default: 0..depth).")
@click.option("--forward-batch-sizes", default="", help="Extra batch sizes measured forward-only.")
@click.option("--repeats", type=int, default=3, show_default=True)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="JSON file to write (must not exist).")  # fmt: skip
def calibrate(
    preset, n_layer, tokenizer, seq_len, batch_sizes, layers, forward_batch_sizes, repeats, out
):
    """Measure seconds per step and per forward pass for each (batch size, active layers).

    The table makes a budget mean the same work on any machine: pass it to `train --rst`.
    """
    from dataclasses import replace

    from mlroundup.training import GPT
    from mlroundup.training import calibrate as measure

    if out.exists():
        raise click.BadParameter(f"{out} exists; not overwriting it", param_hint="--out")
    vocab = 50257 if tokenizer == "gpt2" else _char_vocab()
    cfg = _config(preset, n_layer, vocab, seq_len)
    grid_layers = _ints(layers, "--layers") if layers else list(range(cfg.n_layer + 1))
    table = measure(
        lambda n: GPT(replace(cfg, n_layer=n)), seq_len, _ints(batch_sizes, "--batch-sizes"),
        grid_layers, vocab_size=vocab,
        forward_batch_sizes=_ints(forward_batch_sizes, "--forward-batch-sizes") if forward_batch_sizes else (),
        repeats=repeats,
    )  # fmt: skip
    table.save(out)
    click.echo(
        f"wrote {out}: {len(table.batch_sizes)} batch sizes x {len(table.layers)} layer counts"
    )


def _char_vocab() -> int:
    from mlroundup.data.tokens import shakespeare

    return shakespeare("char").vocab_size


@group.command("train")
@_model_options
@click.option(
    "--budget",
    type=FiniteFloatRange(min=0, min_open=True),
    required=True,
    help="Seconds (wall clock, or reference with --rst).",
)
@click.option(
    "--rst",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="RST table from `calibrate`: charge passes from it instead of the clock.",
)
@click.option("--method", type=click.Choice(_METHODS), default="baseline", show_default=True)
@click.option(
    "--lr",
    type=FiniteFloatRange(min=0, min_open=True),
    default=1e-3,
    show_default=True,
    help="Peak learning rate.",
)
@click.option(
    "--schedule",
    type=click.Choice(["cosine", "linear", "one-cycle"]),
    default="cosine",
    show_default=True,
)
@click.option("--batch-size", type=int, default=32, show_default=True, help="Global batch.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--checkpoint-dir", type=click.Path(file_okay=False, path_type=Path), default=None)
@click.option("--checkpoint-every", type=int, default=100, show_default=True)
@click.option("--resume", is_flag=True, help="Resume from --checkpoint-dir/last.pt if present.")
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the result (losses, evaluations) here (must not exist).")  # fmt: skip
def train_cmd(preset, n_layer, tokenizer, seq_len, budget, rst, method, lr, schedule, batch_size, seed,
              checkpoint_dir, checkpoint_every, resume, json_path):  # fmt: skip
    """Train a GPT on the Shakespeare corpus until the budget is spent (schedule fully decayed).

    RHO-loss needs an irreducible-loss model and is available from Python (methods.RHOLoss).
    """
    import torch

    from mlroundup.budgeted_training.methods import get_method
    from mlroundup.data.tokens import shakespeare
    from mlroundup.training import GPT, Budget, BudgetSchedule, RSTTable, TrainConfig, train

    if json_path is not None and json_path.exists():
        raise click.BadParameter(f"{json_path} exists; not overwriting it", param_hint="--json")
    corpus = shakespeare(tokenizer)
    cfg = _config(preset, n_layer, corpus.vocab_size, seq_len)
    m = get_method(method)
    if method == "layer-stacking":
        if cfg.n_layer % 4:
            raise click.BadParameter(
                "layer stacking needs a depth divisible by 4", param_hint="--n-layer"
            )
        from dataclasses import replace

        cfg = replace(cfg, n_layer=cfg.n_layer // 4)
    torch.manual_seed(seed)
    table = RSTTable.load(rst) if rst else None
    result = train(
        GPT(cfg), corpus, Budget(budget, table), BudgetSchedule(lr, schedule), method=m,
        config=TrainConfig(batch_size=batch_size, seq_len=seq_len, seed=seed, progress=True,
                           checkpoint_dir=checkpoint_dir, checkpoint_every=checkpoint_every),
        resume=resume or None,
    )  # fmt: skip
    if int(os.environ.get("RANK", "0")) != 0:  # under torchrun, only the main process reports
        return
    f = result.final
    click.echo(
        f"{method}: {result.steps} steps, {result.used_s:.1f} {'reference ' if rst else ''}s used; "
        f"validation loss {f.loss:.4f} nats/token, {f.bits_per_token:.4f} bits/token, "
        f"{f.bits_per_char:.4f} bits/char"
    )
    if json_path is not None:
        json_path.write_text(
            json.dumps(
                {
                    "method": m.describe(),
                    "steps": result.steps,
                    "used_s": result.used_s,
                    "wall_s": result.wall_s,
                    "history": result.history,
                    "evals": [vars(e) for e in result.evals],
                },
                indent=2,
            ),
            encoding="utf-8",
        )
