"""Tokenizers that work offline: character-level, and GPT-2 BPE from the ranks ``openai-whisper`` ships.

:func:`gpt2` builds a ``tiktoken.Encoding`` from ``whisper/assets/gpt2.tiktoken`` (tiktoken's
``r50k_base`` ranks, installed by ``scripts/setup.sh`` as ``openai-whisper==20250625 --no-deps``)
without importing whisper, and never calls ``tiktoken.get_encoding`` (which downloads).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

#: SHA-256 of whisper's ``gpt2.tiktoken`` (= tiktoken's ``r50k_base`` ranks).
GPT2_RANKS_SHA256 = "306cd27f03c1a714eca7108e03d66b7dc042abe8c258b44c199a7ed9838dd930"
#: GPT-2's pre-tokenization pattern (as in tiktoken's ``r50k_base``).
GPT2_PATTERN = r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
GPT2_EOT = 50256


@dataclass(frozen=True)
class CharTokenizer:
    """Character-level tokenizer over a fixed, sorted alphabet.

    Parameters
    ----------
    alphabet : str
        The distinct characters, in id order (use :meth:`from_text`).

    Notes
    -----
    Token ``i`` is ``alphabet[i]``; one token is one character, so bits per token are bits per
    character.
    """

    alphabet: str

    def __post_init__(self) -> None:
        if len(set(self.alphabet)) != len(self.alphabet) or not self.alphabet:
            raise ValueError("alphabet must be a non-empty string of distinct characters")

    @classmethod
    def from_text(cls, *texts: str) -> CharTokenizer:
        """The tokenizer whose alphabet is every character in ``texts``, sorted by code point."""
        return cls("".join(sorted(set().union(*map(set, texts)))))

    @property
    def name(self) -> str:
        return f"char{len(self.alphabet)}"

    @property
    def vocab_size(self) -> int:
        return len(self.alphabet)

    def encode(self, text: str) -> np.ndarray:
        """Token ids of ``text``, shape ``(len(text),)``, dtype int64.

        Raises
        ------
        ValueError
            If ``text`` holds a character outside the alphabet (named in the message).
        """
        table = {c: i for i, c in enumerate(self.alphabet)}
        try:
            return np.fromiter((table[c] for c in text), dtype=np.int64, count=len(text))
        except KeyError as exc:
            raise ValueError(
                f"character {exc.args[0]!r} is not in the tokenizer's alphabet"
            ) from None

    def decode(self, ids: Iterable[int]) -> str:
        return "".join(self.alphabet[int(i)] for i in ids)


class GPT2Tokenizer:
    """GPT-2 byte-level BPE (50,257 tokens) over ``tiktoken``, built offline.

    Parameters
    ----------
    ranks_path : path, optional
        A ``gpt2.tiktoken`` ranks file (default: the one in the installed ``openai-whisper``).

    Raises
    ------
    FileNotFoundError
        If ``openai-whisper`` is not installed and no path is given.
    ValueError
        If the ranks file's SHA-256 is not that of ``r50k_base``.
    """

    name = "gpt2"
    vocab_size = 50257

    def __init__(self, ranks_path: Path | str | None = None) -> None:
        self.encoding = _gpt2_encoding(str(ranks_path or gpt2_ranks_path()))

    def encode(self, text: str) -> np.ndarray:
        """Token ids of ``text``, dtype int64 (special tokens in ``text`` are encoded as text)."""
        return np.asarray(self.encoding.encode_ordinary(text), dtype=np.int64)

    def decode(self, ids: Iterable[int]) -> str:
        return self.encoding.decode([int(i) for i in ids])


def gpt2_ranks_path() -> Path:
    """Path of ``gpt2.tiktoken`` inside the installed ``whisper`` package (not imported).

    Raises
    ------
    FileNotFoundError
        If ``openai-whisper`` is not installed.
    """
    spec = importlib.util.find_spec("whisper")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            "GPT-2 ranks not found: install them with "
            "`pip install --no-deps openai-whisper==20250625` (scripts/setup.sh does)"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "assets" / "gpt2.tiktoken"
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing from the installed openai-whisper")
    return path


@lru_cache(maxsize=2)
def _gpt2_encoding(path: str):  # -> tiktoken.Encoding
    import tiktoken
    from tiktoken.load import load_tiktoken_bpe

    from mlroundup.data.shakespeare import sha256_file

    digest = sha256_file(Path(path))
    if digest != GPT2_RANKS_SHA256:
        raise ValueError(f"{path} has SHA-256 {digest}, expected {GPT2_RANKS_SHA256} (r50k_base)")
    return tiktoken.Encoding(
        name="gpt2",
        pat_str=GPT2_PATTERN,
        mergeable_ranks=load_tiktoken_bpe(path),
        special_tokens={"<|endoftext|>": GPT2_EOT},
        explicit_n_vocab=50257,
    )


def get_tokenizer(name: str, alphabet_text: str | None = None) -> CharTokenizer | GPT2Tokenizer:
    """A tokenizer by name: ``"char"`` (alphabet from ``alphabet_text``) or ``"gpt2"``.

    Raises
    ------
    ValueError
        For an unknown name, or ``"char"`` without ``alphabet_text``.
    """
    if name == "char":
        if not alphabet_text:
            raise ValueError(
                "tokenizer 'char' needs alphabet_text (the corpus) to fix its alphabet"
            )
        return CharTokenizer.from_text(alphabet_text)
    if name == "gpt2":
        return GPT2Tokenizer()
    raise ValueError(f"invalid tokenizer={name!r}; valid: char, gpt2")
