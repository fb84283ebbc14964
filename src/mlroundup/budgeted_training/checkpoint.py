"""Checkpoints written atomically: a kill mid-write never leaves a corrupt checkpoint.

The payload is written to a temporary file in the same folder, flushed and fsynced, then moved over
the final name with ``os.replace`` (atomic on POSIX and Windows), and the folder is fsynced. A crash
at any point leaves either the previous checkpoint or the new one, never a torn file.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any


def save_checkpoint(path: Path | str, payload: dict[str, Any]) -> Path:
    """Atomically write ``payload`` (``torch.save``-able) to ``path``.

    Raises
    ------
    OSError
        If writing fails; ``path`` is then untouched and no temporary file is left behind.
    """
    import torch

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            torch.save(payload, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    with contextlib.suppress(OSError):  # make the rename durable (not possible on every platform)
        fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
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
