"""``mlroundup self-consistency select|sample``: rerank sampled generations from JSONL files.

``mlroundup select`` and ``mlroundup sample`` are aliases of the two (see ``mlroundup.cli``).

Samples file (one JSON object per line, one line per prompt)::

    {"id": "p1", "prompt": "...", "generations": ["...", "..."],
     "tokens": [[...], [...]],          # optional: token ids/strings of each generation
     "logprobs": [[...], [...]]}        # optional: per-token log-probabilities

``select`` writes one object per prompt: ``{"id", "index", "generation", "method", "scores"}``.
With ``tokens`` present they are what the scores compare (and what ``logprobs`` align with);
otherwise the generations are split by ``--tokenizer``.
"""

from __future__ import annotations

import json
import math
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import click

from mlroundup.cli_types import FiniteFloatRange
from mlroundup.self_consistency.selection import METHODS


@contextmanager
def _output(path: Path | None) -> Any:
    if path is None:
        yield sys.stdout
        return
    try:
        f = open(path, "x", encoding="utf-8")  # never overwrite a user's file
    except FileExistsError:
        raise click.BadParameter(f"{path} exists; not overwriting it", param_hint="--out") from None
    except (FileNotFoundError, NotADirectoryError):
        raise click.BadParameter(
            f"{path.parent} is not an existing folder", param_hint="--out"
        ) from None
    with f:
        yield f


#: ``--out``: a new file (never an existing one) instead of standard output.
_OUT = click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write here (must not exist) instead of standard output.",
)


def _records(f: IO[str], source: str) -> Any:
    for lineno, line in enumerate(f, start=1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as exc:
            raise click.ClickException(f"{source}:{lineno}: not JSON ({exc.msg})") from None
        if not isinstance(rec, dict):
            raise click.ClickException(f"{source}:{lineno}: expected a JSON object")
        yield lineno, rec


@click.group("self-consistency")
def self_consistency() -> None:
    """Self-consistency for open-ended generation (arXiv 2307.06857): sample, then select.

    \b
    Examples:
      mlroundup self-consistency sample prompts.jsonl -n 10 --chat --out samples.jsonl
      mlroundup self-consistency select samples.jsonl --method consensus-wucs
    (`mlroundup sample` and `mlroundup select` are aliases of these two.)
    """


@self_consistency.command("select")
@click.argument("samples", type=click.File("r", encoding="utf-8"))
@click.option(
    "--method",
    type=click.Choice(list(METHODS)),
    default="consensus-wucs",
    show_default=True,
    help="Selection method (consensus-wucs, wucs, mean-logprob, sum-logprob need logprobs).",
)
@click.option(
    "--tokenizer",
    type=click.Choice(["regex", "whitespace"]),
    default="regex",
    show_default=True,
    help="How generations are split when a record has no 'tokens'.",
)
@click.option("--ngram", type=click.IntRange(min=1), default=1, show_default=True)
@click.option(
    "--weighting", type=click.Choice(["one-sided", "both"]), default="one-sided", show_default=True
)
@click.option("--seed", type=int, default=0, show_default=True, help="For --method random.")
@_OUT
def select_cmd(
    samples: IO[str],
    method: str,
    tokenizer: str,
    ngram: int,
    weighting: str,
    seed: int,
    out: Path | None,
) -> None:
    """Pick one generation per prompt from SAMPLES (JSONL; '-' reads standard input).

    \b
    SAMPLES has one JSON object per line, one line per prompt:
      {"id": "p1", "generations": ["...", "..."],
       "tokens": [[...], [...]],    optional: token ids or strings per generation
       "logprobs": [[...], [...]]}  optional: one log-probability (<= 0) per token
    consensus-wucs, wucs, mean-logprob and sum-logprob need "logprobs" (`mlroundup
    self-consistency sample` writes them); ucs, ngram, majority and random do not. With
    "tokens" the scores compare those; otherwise generations are split by --tokenizer. Output:
    one object per prompt, {"id", "index", "generation", "method", "scores"}.

    \b
    Examples:
      mlroundup self-consistency select samples.jsonl --method consensus-wucs
      mlroundup self-consistency select samples.jsonl --method ucs --tokenizer whitespace
      mlroundup self-consistency select samples.jsonl --out chosen.jsonl
    """
    import numpy as np

    from mlroundup.self_consistency.selection import METHODS, select

    rng = np.random.default_rng(seed)
    source = getattr(samples, "name", "samples")
    rows = []  # everything is checked before the output file is created
    for lineno, rec in _records(samples, source):
        gens = rec.get("generations")
        if not isinstance(gens, list):
            raise click.ClickException(f"{source}:{lineno}: 'generations' must be a list")
        if METHODS[method] and rec.get("logprobs") is None:
            raise click.ClickException(
                f"{source}:{lineno}: --method {method} needs per-token 'logprobs' in every "
                "record; use --method ucs (or ngram, majority) for generations without them"
            )
        cands = rec.get("tokens") or gens
        if len(cands) != len(gens):
            raise click.ClickException(
                f"{source}:{lineno}: 'tokens' has {len(cands)} entries, 'generations' {len(gens)}"
            )
        try:
            idx, scores = select(
                cands,
                rec.get("logprobs"),
                method,
                tokenizer=tokenizer,
                ngram=ngram,
                weighting=weighting,
                rng=rng,
            )
        except (ValueError, TypeError) as exc:
            raise click.ClickException(f"{source}:{lineno}: {exc}") from None
        rows.append({"id": rec.get("id", lineno), "index": idx, "generation": gens[idx],
                     "method": method,  # non-finite scores (e.g. the mean of no tokens) as null: valid JSON
                     "scores": [float(s) if math.isfinite(s) else None for s in scores]})  # fmt: skip
    if not rows:
        raise click.ClickException(f"{source}: no records (expected one JSON object per line)")
    with _output(out) as f:
        for row in rows:
            f.write(json.dumps(row) + "\n")


@self_consistency.command("sample")
@click.argument("prompts", type=click.File("r", encoding="utf-8"))
@click.option("-n", "n", type=click.IntRange(min=1), default=10, show_default=True)
@click.option(
    "--temperature", type=FiniteFloatRange(min=0, min_open=True), default=0.8, show_default=True
)
@click.option(
    "--top-p", type=FiniteFloatRange(0, 1, min_open=True), default=0.95, show_default=True
)
@click.option("--max-new-tokens", type=click.IntRange(min=1), default=128, show_default=True)
@click.option("--stop", multiple=True, help="Stop string (repeatable; '\\n' is a newline).")
@click.option("--chat", is_flag=True, help="Wrap each prompt in the model's chat template.")
@click.option("--seed", type=int, default=0, show_default=True)
@_OUT
def sample_cmd(
    prompts: IO[str],
    n: int,
    temperature: float,
    top_p: float,
    max_new_tokens: int,
    stop: tuple[str, ...],
    chat: bool,
    seed: int,
    out: Path | None,
) -> None:
    """Sample N generations per prompt from the bundled SmolLM2-135M-Instruct, with token
    log-probabilities, as a samples file for `mlroundup self-consistency select`.

    PROMPTS is JSONL with {"id", "prompt"} per line ('-': standard input).

    \b
    Examples:
      mlroundup self-consistency sample prompts.jsonl -n 10 --chat --out samples.jsonl
      mlroundup self-consistency sample prompts.jsonl --max-new-tokens 32 --stop '\\n'
      mlroundup self-consistency select samples.jsonl --method consensus-wucs
    """
    from mlroundup.models import load_smollm2
    from mlroundup.models.sampling import sample

    source = getattr(prompts, "name", "prompts")
    recs = []
    for lineno, rec in _records(prompts, source):
        if not isinstance(rec.get("prompt"), str):
            raise click.ClickException(f"{source}:{lineno}: 'prompt' must be a string")
        recs.append(rec)
    if not recs:
        raise click.ClickException(f"{source}: no prompts")
    stops = [s.encode().decode("unicode_escape") for s in stop]
    with _output(out) as f:  # checked before the model loads
        lm = load_smollm2(log=lambda m: click.echo(m, err=True))
        rows = sample(lm, [r["prompt"] for r in recs], n, temperature=temperature, top_p=top_p,
                      max_new_tokens=max_new_tokens, stop=stops, seed=seed, chat=chat)  # fmt: skip
        for k, (rec, row) in enumerate(zip(recs, rows, strict=True)):
            f.write(
                json.dumps(
                    {
                        "id": rec.get("id", k),
                        "prompt": rec["prompt"],
                        "generations": [s.text for s in row],
                        "tokens": [s.token_ids for s in row],
                        "logprobs": [s.logprobs for s in row],
                    }
                )
                + "\n"
            )
