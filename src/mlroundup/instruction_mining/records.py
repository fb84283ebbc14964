"""Instruction-response pairs and the JSON Lines files that hold them.

A record is one JSON object per line with two non-empty string fields, ``"instruction"`` and
``"response"``; other fields are kept as they are. :func:`read_pairs` checks the whole file
before returning anything, and a bad record raises :class:`RecordError` naming the file and the
line, so a command that reads a file writes nothing when any line of it is bad.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: The two fields every record must have.
FIELDS = ("instruction", "response")


@dataclass(frozen=True)
class Pair:
    """One instruction and its response.

    Attributes
    ----------
    instruction : str
        The user's turn (for ShareGPT, the first human message).
    response : str
        The model's answer (for ShareGPT, the first model message after it).
    source : str
        Where it came from, e.g. ``"sharegpt:QWJhYvA_0"`` or ``"data.jsonl:12"``.
    extra : dict
        The record's other fields (empty for the built-in pools).

    Raises
    ------
    TypeError, ValueError
        If a field is not a string or is empty (only whitespace).
    """

    instruction: str
    response: str
    source: str = ""
    extra: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    def __post_init__(self) -> None:
        for name in FIELDS:
            value = getattr(self, name)
            if not isinstance(value, str):
                raise TypeError(f"{name} must be a str, got {type(value).__name__}")
            if not value.strip():
                raise ValueError(f"{name} is empty")

    @property
    def key(self) -> str:
        """SHA-256 (hex) of the pair's content: what caches of its indicators are keyed by."""
        return content_key(self.instruction, self.response)


def content_key(*parts: str) -> str:
    """SHA-256 (hex) of ``parts``, each length-prefixed (so ``("ab", "c")`` != ``("a", "bc")``)."""
    h = hashlib.sha256()
    for p in parts:
        b = p.encode("utf-8")
        h.update(len(b).to_bytes(8, "little"))
        h.update(b)
    return h.hexdigest()


class RecordError(ValueError):
    """A bad record in an input file; the message starts with ``<file>:<line>:``.

    Attributes
    ----------
    path : pathlib.Path
    line : int
        1-based line number.
    """

    def __init__(self, path: Path | str, line: int, problem: str) -> None:
        super().__init__(f"{path}:{line}: {problem}")
        self.path, self.line = Path(path), line


def as_pairs(data: Iterable[Pair | Sequence[str]]) -> list[Pair]:
    """``data`` as a list of :class:`Pair` (``(instruction, response)`` tuples are converted).

    Raises
    ------
    TypeError, ValueError
        If an item is neither a Pair nor a pair of strings, or a field is empty.
    """
    out = []
    for i, item in enumerate(data):
        if isinstance(item, Pair):
            out.append(item)
            continue
        if isinstance(item, str) or not isinstance(item, Sequence) or len(item) != 2:
            raise TypeError(
                f"item {i} is not a Pair or an (instruction, response) pair: {item!r:.80}"
            )
        try:
            out.append(Pair(item[0], item[1], source=f"item {i}"))
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"item {i}: {exc}") from None
    return out


def read_pairs(path: Path | str) -> list[Pair]:
    """Read and check every record of a JSON Lines file of instruction-response pairs.

    Parameters
    ----------
    path : path
        UTF-8 text, one JSON object per line, each with non-empty string fields
        ``"instruction"`` and ``"response"``. A final newline is optional; blank lines are errors.

    Returns
    -------
    list of Pair
        In file order; ``source`` is ``"<file>:<line>"`` and ``extra`` holds the other fields.

    Raises
    ------
    RecordError
        At the first bad line (not UTF-8, blank, invalid JSON, not an object, a field missing,
        not a string, or empty), naming the file and the line.
    FileNotFoundError, IsADirectoryError
        If ``path`` is not a readable file.
    ValueError
        If the file holds no records.
    """
    path = Path(path)
    raw = path.read_bytes()
    lines = raw.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()  # the final newline
    pairs = []
    for number, line in enumerate(lines, start=1):
        pairs.append(parse_record(line, path, number))
    if not pairs:
        raise ValueError(f"{path}: no records (the file is empty)")
    return pairs


def parse_record(line: bytes, path: Path | str, number: int) -> Pair:
    """One line of a pairs file as a :class:`Pair` (see :func:`read_pairs`).

    Raises
    ------
    RecordError
        If the line is not a valid record; the message names the file, the line and the problem.
    """
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RecordError(path, number, f"not valid UTF-8 (byte {exc.start} of the line)") from None
    if text.endswith("\r"):
        text = text[:-1]
    if not text.strip():
        raise RecordError(path, number, "blank line (expected a JSON object)")
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        raise RecordError(path, number, f"invalid JSON: {exc.msg} at column {exc.colno}") from None
    if not isinstance(obj, dict):
        raise RecordError(path, number, f"expected a JSON object, got {type(obj).__name__}")
    for name in FIELDS:
        if name not in obj:
            raise RecordError(path, number, f"missing field {name!r}")
        value = obj[name]
        if not isinstance(value, str):
            raise RecordError(
                path, number, f"field {name!r} must be a string, got {_json_type(value)}"
            )
        if not value.strip():
            raise RecordError(path, number, f"field {name!r} is empty")
    extra = {k: v for k, v in obj.items() if k not in FIELDS}
    return Pair(obj["instruction"], obj["response"], source=f"{path}:{number}", extra=extra)


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def pair_record(pair: Pair) -> dict[str, Any]:
    """The JSON object of ``pair``: its two fields and its other fields, in that order."""
    return {"instruction": pair.instruction, "response": pair.response, **pair.extra}
