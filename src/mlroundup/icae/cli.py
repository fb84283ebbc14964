"""``mlroundup icae ...``: compress a text file into memory slots, ask about it, train an ICAE."""

from __future__ import annotations

from pathlib import Path

import click


def _default_checkpoint() -> Path:
    """The ICAE that ``mlroundup reproduce icae`` (quick scale) leaves in the cache."""
    from mlroundup.icae.experiment import SETTINGS
    from mlroundup.utils.paths import default_cache_dir

    folder = default_cache_dir() / "icae" / "trained"
    k = SETTINGS["quick"].slots
    found = sorted(folder.glob(f"shakespeare-tiny-llama-*-k{k}.icae.pt"))
    if not found:
        raise click.ClickException(
            f"no trained ICAE in {folder}: run `mlroundup reproduce icae` or "
            "`mlroundup icae train`, or pass --checkpoint PATH"
        )
    return max(found, key=lambda p: p.stat().st_mtime)


def _load(checkpoint: Path | None):
    from mlroundup.icae import load_icae
    from mlroundup.icae.model import BaseModelMismatchError

    path = checkpoint or _default_checkpoint()
    try:
        return load_icae(path)
    except (ValueError, FileNotFoundError, BaseModelMismatchError) as exc:
        raise click.ClickException(str(exc)) from None


def _read(file: Path) -> str:
    try:
        return file.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise click.ClickException(f"{file} is not UTF-8 text") from None


def _slots(icae, text: str, multi_span: bool):
    from mlroundup.icae.model import ContextTooLongError, ContextTooShortError

    try:
        return icae.compress(text, multi_span=multi_span)
    except ContextTooLongError as exc:
        raise click.ClickException(f"{exc} (on the command line: --multi-span)") from None
    except ContextTooShortError as exc:
        raise click.ClickException(str(exc)) from None
    except ValueError as exc:  # the tokenizer cannot encode the text
        raise click.ClickException(f"cannot tokenize the file: {exc}") from None


_checkpoint = click.option(
    "--checkpoint",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="A saved ICAE (default: the one `mlroundup reproduce icae` trained).",
)
_multi = click.option(
    "--multi-span/--one-span",
    default=False,
    show_default=True,
    help="Compress a long file in segments and concatenate their slots.",
)


@click.group("icae")
def icae() -> None:
    """In-context autoencoder: compress a context into memory slots (arXiv 2307.06945)."""


@icae.command("compress")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@_checkpoint
@_multi
@click.option(
    "--save",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the slots (a torch tensor, n x d) here; never overwrites a file.",
)
def compress_cmd(file: Path, checkpoint: Path | None, multi_span: bool, save: Path | None) -> None:
    """Compress FILE into memory slots and say how many.

    \b
    Examples:
      mlroundup icae compress notes.txt
      mlroundup icae compress play.txt --multi-span --save play.slots.pt
    """
    import torch

    if save is not None and save.exists():
        raise click.ClickException(f"{save} exists; choose another --save path")
    model = _load(checkpoint)
    text = _read(file)
    n_tokens = len(model.codec.encode(text))
    slots = _slots(model, text, multi_span)
    n_seg = slots.shape[0] // model.k
    click.echo(
        f"{file}: {n_tokens} tokens -> {n_seg} span(s) x {model.k} slots = {slots.shape[0]} "
        f"memory slots of {slots.shape[1]} numbers ({n_tokens / slots.shape[0]:.1f}x fewer "
        f"positions; base {model.base_name})"
    )
    if save is not None:
        torch.save(slots.cpu(), save)
        click.echo(f"slots written to {save}")


@icae.command("ask")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("question")
@_checkpoint
@_multi
@click.option(
    "--task",
    type=click.Choice(["ft", "lm", "ae"]),
    default="ft",
    show_default=True,
    help="ft: [slots][FT] question (the fine-tuned format); lm: continue after the slots and "
    "QUESTION; ae: reconstruct the file (QUESTION must be empty).",
)
@click.option("--max-new-tokens", type=click.IntRange(1, 4096), default=64, show_default=True)
def ask_cmd(
    file: Path,
    question: str,
    checkpoint: Path | None,
    multi_span: bool,
    task: str,
    max_new_tokens: int,
) -> None:
    """Compress FILE and let the frozen LM answer QUESTION from the memory slots alone.

    Only as good as the ICAE: the quick-scale one (a tiny Shakespeare model, pretrained but not
    fine-tuned on questions) produces Shakespeare-like text, not answers.

    \b
    Examples:
      mlroundup icae ask scene.txt "Who speaks first?"
      mlroundup icae ask scene.txt "" --task ae --max-new-tokens 100
    """
    from mlroundup.icae.model import ContextTooLongError

    model = _load(checkpoint)
    slots = _slots(model, _read(file), multi_span)
    try:
        answer = model.generate(slots, question, task=task, max_new_tokens=max_new_tokens)
    except ContextTooLongError as exc:
        raise click.ClickException(str(exc)) from None
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(answer)


@icae.command("train")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Where to save the trained ICAE (never overwritten).")  # fmt: skip
@click.option("--base", type=click.Choice(["tiny", "smollm2"]), default="tiny", show_default=True)
@click.option("--slots", type=click.IntRange(1, 4096), default=8, show_default=True)
@click.option("--steps", type=click.IntRange(1, 10**7), default=250, show_default=True)
@click.option("--batch-size", type=click.IntRange(1, 4096), default=16, show_default=True)
@click.option("--lr", type=click.FloatRange(0, 1, min_open=True), default=3e-3, show_default=True)
@click.option("--seed", type=click.IntRange(0), default=0, show_default=True)
def train_cmd(
    out: Path, base: str, slots: int, steps: int, batch_size: int, lr: float, seed: int
) -> None:
    """Pretrain an ICAE (autoencoding + language modelling, ratios 2x-16x) and save it to OUT.

    Runs on the project's trainer: under `torchrun --nproc_per_node N` the batch is split over
    processes (data parallel).

    \b
    Example:
      mlroundup icae train --out my.icae.pt --steps 500
    """
    import torch

    from mlroundup.icae import ICAE, ICAEConfig, Mix, PretrainMethod, load_base, train_icae
    from mlroundup.icae.base import shakespeare_streams

    if out.exists():
        raise click.ClickException(f"{out} exists; choose another --out path")
    b = load_base(base, log=click.echo)
    train_stream, val_stream = shakespeare_streams(b)
    torch.manual_seed(seed)
    model = ICAE(b.model, ICAEConfig(num_memory_slots=slots), b.tokenizer, b.name, b.source)
    method = PretrainMethod(
        context_tokens=tuple(slots * r for r in (2, 4, 8, 16)),
        continuation_tokens=32, mix=Mix(0.5, 4), eval_context_tokens=4 * slots,
        eos_id=model.codec.eos_id,
    )  # fmt: skip
    res = train_icae(model, train_stream, val_stream, method, steps=steps,
                     batch_size=batch_size, lr=lr, seed=seed, progress=True)  # fmt: skip
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()) or dist.get_rank() == 0:
        model.save(out)
        click.echo(
            f"{res.steps} steps, validation AE loss {res.final.loss:.3f} nats/token; saved {out}"
        )
