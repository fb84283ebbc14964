"""Pluggable tokenizers for the consistency scores.

A tokenizer is any callable ``str -> sequence of hashable tokens``. The scores only compare tokens
for equality, so a tokenizer decides what "the same unigram" means:

* :func:`whitespace` -- split on runs of whitespace (``"a+b  c"`` -> ``["a+b", "c"]``);
* :func:`regex_words` -- words and single punctuation marks (``"a+b"`` -> ``["a", "+", "b"]``),
  a language-agnostic choice that suits code;
* :func:`model_tokenizer` -- a Hugging Face tokenizer's ids, the model's own unigrams. Use it (or
  pass the sampled token ids directly) when log-probabilities weight the scores: they are per
  model token and must align one to one with the tokens.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Hashable, Sequence
from typing import Any

_WORDS = re.compile(r"\w+|[^\w\s]")


def whitespace(text: str) -> list[str]:
    """Split ``text`` on runs of whitespace."""
    return text.split()


def regex_words(text: str) -> list[str]:
    """Words (``\\w+``) and single non-space punctuation characters, in order."""
    return _WORDS.findall(text)


def model_tokenizer(tokenizer: Any) -> Callable[[str], Sequence[Hashable]]:
    """Wrap a Hugging Face tokenizer as ``text -> token ids`` (no special tokens added)."""

    def encode(text: str) -> list[int]:
        return list(tokenizer.encode(text, add_special_tokens=False))

    return encode


TOKENIZERS: dict[str, Callable[[str], Sequence[Hashable]]] = {
    "whitespace": whitespace,
    "regex": regex_words,
}


def get(
    name_or_fn: str | Callable[[str], Sequence[Hashable]],
) -> Callable[[str], Sequence[Hashable]]:
    """A tokenizer by name (``"whitespace"``, ``"regex"``) or the callable itself.

    Raises
    ------
    ValueError
        For an unknown name (the message lists the valid ones).
    TypeError
        If ``name_or_fn`` is neither a string nor callable.
    """
    if callable(name_or_fn):
        return name_or_fn
    if isinstance(name_or_fn, str):
        try:
            return TOKENIZERS[name_or_fn]
        except KeyError:
            raise ValueError(
                f"unknown tokenizer={name_or_fn!r}; valid: {', '.join(TOKENIZERS)} or a callable"
            ) from None
    raise TypeError(f"tokenizer must be a name or a callable, got {type(name_or_fn).__name__}")
