"""``mlroundup probe``: the paper's readouts for a user's encoder over a user's folder of images."""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import click

#: Encoders named without a module: the pixel baseline and the four trained here.
BUILTIN = ("pixels", "supervised", "contrastive", "mae", "random")


def resolve_encoder(spec: str):
    """The callable that ``spec`` names: ``"module:function"`` (an attribute path after the colon
    may be dotted), or one of :data:`BUILTIN`.

    Raises
    ------
    click.BadParameter
        If the module cannot be imported, has no such attribute, or it is not callable.
    """
    if spec in BUILTIN:
        from mlroundup.embedding_probes import encoders

        return getattr(encoders, "random_init" if spec == "random" else spec)
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise click.BadParameter(
            f"{spec!r} is neither module:function nor one of {', '.join(BUILTIN)}",
            param_hint="--encoder",
        )
    try:
        obj = importlib.import_module(module_name)
    except ImportError as exc:
        raise click.BadParameter(
            f"cannot import {module_name!r}: {exc}", param_hint="--encoder"
        ) from None
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise click.BadParameter(
                f"{module_name!r} has no attribute {attr!r}", param_hint="--encoder"
            )
        obj = getattr(obj, part)
    if not callable(obj):
        raise click.BadParameter(
            f"{spec} is a {type(obj).__name__}, not callable", param_hint="--encoder"
        )
    return obj


@click.command("probe")
@click.argument("images_dir", type=click.Path(path_type=Path))
@click.option(
    "--encoder",
    "encoder_spec",
    required=True,
    help="module:function mapping (N, H, W, 3) float32 in [0, 1] to (N, D), or one of "
    + ", ".join(BUILTIN)
    + ".",
)
@click.option(
    "--size",
    default=32,
    show_default=True,
    type=click.IntRange(min=16),
    help="Images are centre-cropped square and resized to this side.",
)
@click.option(
    "--probe",
    "probe_kind",
    default="linear",
    show_default=True,
    type=click.Choice(["linear", "mlp"]),
)
@click.option("--seed", default=0, show_default=True, type=int)
@click.option(
    "--json",
    "json_out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the readouts here as JSON (an existing file is never overwritten).",
)
def probe(images_dir: Path, encoder_spec: str, size: int, probe_kind: str, seed: int,
          json_out: Path | None) -> None:  # fmt: skip
    """Probe an encoder for the transformations applied to IMAGES_DIR's images (arXiv 2307.05610).

    Every image is transformed 35 ways; linear (or MLP) probes on the encoder's embeddings name
    the transformation, its family, the family of held-out transformations and, when the images
    lie in two or more subfolders, the subfolder (the semantic label).
    """
    from rich.console import Console
    from rich.table import Table

    from mlroundup.embedding_probes.encoders import EncoderOutputError
    from mlroundup.embedding_probes.images import ImageReadError, load_image_folder
    from mlroundup.embedding_probes.readouts import build_probe_set, run_readouts

    if json_out is not None and json_out.exists():
        raise click.ClickException(f"{json_out} exists; not overwriting it")
    encoder = resolve_encoder(encoder_spec)
    try:
        base = load_image_folder(images_dir, size)
    except (NotADirectoryError, ImageReadError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    ps = build_probe_set(base, seed=seed)
    try:
        r = run_readouts(encoder, ps, name=encoder_spec, probe=probe_kind, seed=seed)
    except EncoderOutputError as exc:
        raise click.ClickException(str(exc)) from None
    chance = {"fine_grained": 1 / len(ps.transform_names), "family": 1 / len(ps.family_names),
              "generalisation": 1 / len(ps.family_names), "detection_mean": 0.5,
              "semantic": 1 / len(ps.label_names) if ps.label_names else None}  # fmt: skip
    paper = {
        "fine_grained": "every embedding identifies dozens of transformations",
        "family": "families are easier than fine-grained classes",
        "generalisation": "image-text models generalise best to unseen transformations",
        "semantic": "semantic and non-semantic information coexist",
        "detection_mean": "(ours) binary: transformed vs untouched",
    }
    table = Table(
        title=f"readouts of {encoder_spec} on {len(base)} images x {len(ps.transform_names)}"
    )
    for col in ("readout", "accuracy", "chance", "the paper's finding"):
        table.add_column(col)
    for task, acc in r.summary().items():
        c = chance[task]
        table.add_row(task, "-" if acc is None else f"{acc:.3f}", "-" if c is None else f"{c:.3f}",
                      paper[task])  # fmt: skip
    Console().print(table)
    if json_out is not None:
        from mlroundup.utils.files import atomic_write_text

        atomic_write_text(json_out, json.dumps(r.to_json(), indent=2))
        click.echo(f"wrote {json_out}")
