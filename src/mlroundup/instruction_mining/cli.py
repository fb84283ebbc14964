"""``mlroundup mine``: score instruction data with the InstructMining indicators and rule, and select.

Both commands read a JSON Lines file of ``{"instruction": ..., "response": ...}`` records, check
every line before any model is loaded (a bad line is an error naming the file and line, and
nothing is written), and never overwrite an existing file.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import click

RULE_HELP = (
    "'paper': the rule of arXiv 2307.06290v1 (log L = 1.0694 - 0.1498 Rew + 8.257e-5 Len - "
    "0.9350 Knn_6, on our reward proxy); or a JSON file written by QualityRule.to_json()."
)


def _check_out(out: Path, data: Path) -> None:
    if out.exists() or out.is_symlink():
        raise click.BadParameter(f"{out} exists; not overwriting it", param_hint="--out")
    if out.resolve() == data.resolve():
        raise click.BadParameter("--out must differ from the input file", param_hint="--out")
    if not out.parent.resolve().is_dir():
        raise click.BadParameter(f"the folder {out.parent} does not exist", param_hint="--out")


def write_new_file(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path``, which must not exist: all of it or nothing, never replacing a
    file (a temporary file in the same folder, hard-linked to ``path``, which fails if ``path``
    appeared meanwhile).

    Raises
    ------
    FileExistsError
        If ``path`` exists.
    """
    from mlroundup.utils.files import file_mode, fsync_dir, temp_path

    tmp = temp_path(path)
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, file_mode(path))
        try:
            os.link(tmp, path)  # atomic, and refuses an existing path
        except (AttributeError, NotImplementedError, PermissionError):  # pragma: no cover
            with open(path, "xb") as fh:  # no hard links here: exclusive create instead
                fh.write(data)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    fsync_dir(path.parent)


def _read(data: Path) -> tuple[list[Any], list[bytes]]:
    from mlroundup.instruction_mining.records import RecordError, read_pairs

    try:
        pairs = read_pairs(data)
    except RecordError as exc:
        raise click.ClickException(str(exc)) from None
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    raw = data.read_bytes().split(b"\n")
    return pairs, [line.rstrip(b"\r") for line in raw[: len(pairs)]]


def _names(knn_k: int) -> list[str]:
    """The indicator columns for KNN-``knn_k`` (known before any model is loaded)."""
    from mlroundup.instruction_mining.indicators import INDICATORS

    return [*INDICATORS[:-1], f"knn_{knn_k}"]


def _rule(spec: str, names: list[str]) -> Any:
    """The rule ``--rule`` names, checked against the indicator columns ``names``."""
    from mlroundup.instruction_mining.rule import QualityRule

    if spec == "paper":
        if "knn_6" not in names:
            raise click.BadParameter(
                "the paper's rule uses KNN-6: leave --knn-k at 6 or pass a rule file",
                param_hint="--rule",
            )
        return QualityRule.paper(features=names)
    path = Path(spec)
    if not path.is_file():
        raise click.BadParameter(
            f"{spec!r} is neither 'paper' nor a rule file", param_hint="--rule"
        )
    try:
        rule = QualityRule.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except (ValueError, UnicodeDecodeError) as exc:
        raise click.BadParameter(f"{path}: {exc}", param_hint="--rule") from None
    unknown = [n for n in rule.selected_ if n not in names]
    if unknown:
        raise click.BadParameter(f"{path}: the rule uses {unknown}, not among the indicators "
                                 f"{names}", param_hint="--rule")  # fmt: skip
    coefficients = dict(zip(rule.selected_, map(float, rule.coef_), strict=True))
    return QualityRule.from_coefficients(rule.intercept_, coefficients, features=names,
                                         source=rule.source_)  # fmt: skip


@contextlib.contextmanager
def _progress() -> Iterator[Any]:
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    bar = Progress(TextColumn("{task.description}"), BarColumn(),
                   TextColumn("{task.completed}/{task.total}"), TimeElapsedColumn(),
                   console=Console(stderr=True), transient=True)  # fmt: skip

    def track(items: Iterable[Any], description: str, total: int | None = None) -> Iterator[Any]:
        task = bar.add_task(description, total=total)
        for item in items:
            yield item
            bar.advance(task)
        bar.remove_task(task)

    with bar:
        yield track


def _indicators(pairs, max_input_tokens: int, max_output_tokens: int, knn_k: int, cache: bool,
                track) -> tuple[Any, list[str]]:  # fmt: skip
    from mlroundup.instruction_mining.embeddings import SentenceEmbedder
    from mlroundup.instruction_mining.indicators import Indicators
    from mlroundup.instruction_mining.lm_scores import SmolLM2Scorer

    if len(pairs) <= knn_k:
        raise click.ClickException(
            f"KNN-{knn_k} needs more than {knn_k} records, the file has {len(pairs)}"
        )
    scorer = SmolLM2Scorer(max_input_tokens=max_input_tokens, max_output_tokens=max_output_tokens,
                           cache=cache, progress=track)  # fmt: skip
    ind = Indicators(scorer=scorer, embedder=SentenceEmbedder(cache=cache, progress=track),
                     knn_k=knn_k)  # fmt: skip
    features = ind.fit_transform(pairs)
    return features, [str(n) for n in ind.get_feature_names_out()]


def _common(f):
    f = click.option("--rule", "rule_spec", default="paper", show_default=True, help=RULE_HELP)(f)
    f = click.option("--max-input-tokens", type=click.IntRange(min=1), default=256, show_default=True,
                     help="Instruction tokens kept in the perplexity/reward prompt.")(f)  # fmt: skip
    f = click.option("--max-output-tokens", type=click.IntRange(min=1), default=256, show_default=True,
                     help="Response tokens scored for perplexity and the reward proxy.")(f)  # fmt: skip
    f = click.option("--knn-k", type=click.IntRange(min=1), default=6, show_default=True,
                     help="KNN-k: distance to the k-th nearest neighbour within the file.")(f)  # fmt: skip
    f = click.option("--no-cache", is_flag=True,
                     help="Neither read nor write the score and embedding caches.")(f)  # fmt: skip
    return f


@click.group("mine")
def mine() -> None:
    """Instruction Mining (Cao et al., arXiv 2307.06290): score and select instruction data.

    \b
    Input: JSON Lines, one {"instruction": "...", "response": "..."} object per line (other
    fields are kept). Indicators: input/output length (SmolLM2 tokens), reward proxy and response
    perplexity (SmolLM2-135M-Instruct), MTLD, KNN-6 distance (all-MiniLM-L6-v2, within the file).
    No reward model ships offline: the reward is the proxy (log p(y|x) - log p(y|'')) / |y|.
    """


@mine.command("score")
@click.argument("data", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="JSON Lines of indicators and rule score per record (must not exist).")  # fmt: skip
@_common
def score_cmd(data: Path, out: Path, rule_spec: str, max_input_tokens: int, max_output_tokens: int,
              knn_k: int, no_cache: bool) -> None:  # fmt: skip
    """Write each record's indicators and predicted log eval loss (lower is better).

    \b
    Examples:
      mlroundup mine score data.jsonl --out scores.jsonl
      mlroundup mine score data.jsonl --rule my_rule.json --out scores.jsonl
    """
    _check_out(out, data)
    pairs, _ = _read(data)
    rule = _rule(rule_spec, _names(knn_k))
    with _progress() as track:
        features, names = _indicators(pairs, max_input_tokens, max_output_tokens, knn_k,
                                      not no_cache, track)  # fmt: skip
    scores = rule.predict(features)
    from mlroundup.instruction_mining.selection import select_top_k

    rank = {int(i): r for r, i in enumerate(select_top_k(scores, len(scores)), start=1)}
    lines = []
    for i, pair in enumerate(pairs):
        row = {"line": i + 1, **{n: float(v) for n, v in zip(names, features[i], strict=True)},
               "predicted_log_loss": float(scores[i]), "rank": rank[i]}  # fmt: skip
        if "id" in pair.extra:
            row = {"id": pair.extra["id"], **row}
        lines.append(json.dumps(row))
    write_new_file(out, ("\n".join(lines) + "\n").encode("utf-8"))
    click.echo(f"wrote {len(lines)} scores to {out} (rule: {rule.equation()})")


@mine.command("select")
@click.argument("data", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--top", type=click.IntRange(min=1), required=True,
              help="How many records to keep (at most the file's count).")  # fmt: skip
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="The kept records, best first, as they were in DATA (must not exist).")  # fmt: skip
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True,
              help="Breaks ties between equal scores.")  # fmt: skip
@_common
def select_cmd(data: Path, top: int, out: Path, seed: int, rule_spec: str, max_input_tokens: int,
               max_output_tokens: int, knn_k: int, no_cache: bool) -> None:  # fmt: skip
    """Keep the TOP records the rule scores best (lowest predicted log eval loss).

    \b
    Examples:
      mlroundup mine select data.jsonl --top 1000 --out subset.jsonl
    """
    _check_out(out, data)
    pairs, raw = _read(data)
    if top > len(pairs):
        raise click.BadParameter(f"--top {top} exceeds the {len(pairs)} records of {data}",
                                 param_hint="--top")  # fmt: skip
    rule = _rule(rule_spec, _names(knn_k))
    with _progress() as track:
        features, _ = _indicators(pairs, max_input_tokens, max_output_tokens, knn_k,
                                  not no_cache, track)  # fmt: skip
    from mlroundup.instruction_mining.selection import select_top_k

    keep = select_top_k(rule.predict(features), top, seed=seed)
    write_new_file(out, b"".join(raw[i] + b"\n" for i in keep))
    click.echo(f"wrote {top} of {len(pairs)} records to {out} (rule: {rule.equation()})")
