"""Checkpoints written atomically (:func:`mlroundup.utils.files.atomic_writer`): a kill mid-write
never leaves a corrupt checkpoint, only the previous one or the new one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mlroundup.utils.files import atomic_writer


def save_checkpoint(path: Path | str, payload: dict[str, Any]) -> Path:
    """Atomically write ``payload`` (``torch.save``-able) to ``path``.

    Raises
    ------
    OSError
        If writing fails; ``path`` is then untouched and no temporary file is left behind.
    """
    import torch

    path = Path(path)
    with atomic_writer(path) as fh:
        torch.save(payload, fh)
    return path


def load_checkpoint(path: Path | str) -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint` (on CPU).

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    """
    import torch

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    return torch.load(path, map_location="cpu", weights_only=False)
