"""A content-addressed store of fixed-width vectors (embeddings, language-model scores) on disk.

One ``.npz`` file per store holds ``keys`` (SHA-256 hex digests of the content) and ``values``
(one row per key). Lookups read it once; new rows are merged in and the file is rewritten
atomically under a lock (:mod:`mlroundup.utils.files`), so concurrent runs never see a torn file
and the loser of a race loses no rows. A damaged file is treated as empty and rebuilt.
"""

from __future__ import annotations

import zipfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from mlroundup.utils.files import atomic_writer, file_lock


class VectorCache:
    """Rows of ``width`` float64 values keyed by content hash, stored at ``path``.

    Parameters
    ----------
    path : path
        The ``.npz`` file (created on the first :meth:`put`; its folder too).
    width : int
        Values per row.
    """

    def __init__(self, path: Path | str, width: int) -> None:
        if width < 1:
            raise ValueError(f"invalid width={width}: must be >= 1")
        self.path, self.width = Path(path), int(width)

    def _read(self) -> dict[str, np.ndarray]:
        try:
            with np.load(self.path, allow_pickle=False) as z:
                keys, values = z["keys"], z["values"]
        except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError):
            return {}
        if values.ndim != 2 or values.shape != (len(keys), self.width):
            return {}
        return {str(k): values[i] for i, k in enumerate(keys)}

    def get(self, keys: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Rows of ``keys``: ``(found, values)``.

        Returns
        -------
        found : ndarray of shape (n,), dtype bool
        values : ndarray of shape (n, width), dtype float64
            NaN where not found.
        """
        stored = self._read()
        values = np.full((len(keys), self.width), np.nan)
        found = np.zeros(len(keys), dtype=bool)
        for i, k in enumerate(keys):
            row = stored.get(k)
            if row is not None:
                values[i], found[i] = row, True
        return found, values

    def put(self, keys: Sequence[str], values: np.ndarray) -> None:
        """Store ``values`` (shape (n, width)) under ``keys``, keeping the rows already stored."""
        values = np.asarray(values, dtype=np.float64)
        if values.shape != (len(keys), self.width):
            raise ValueError(
                f"values of shape {values.shape}, expected ({len(keys)}, {self.width})"
            )
        if not len(keys):
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with file_lock(self.path.with_name(self.path.name + ".lock")):
            stored = self._read()
            stored.update({k: values[i] for i, k in enumerate(keys)})
            all_keys = np.array(sorted(stored), dtype="U64")
            table = np.stack([stored[k] for k in all_keys]) if len(all_keys) else values[:0]
            with atomic_writer(self.path) as fh:
                np.savez(fh, keys=all_keys, values=table)
