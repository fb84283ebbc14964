"""Where mlroundup keeps what it makes: one cache folder for kernels, data, models and benchmarks."""

from __future__ import annotations

import os
from pathlib import Path


def default_cache_dir() -> Path:
    """``$MLROUNDUP_CACHE`` or ``$XDG_CACHE_HOME/mlroundup`` (default ``~/.cache/mlroundup``).

    Subfolders: ``kernels/`` (compiled C), ``data/`` (corpora, token caches), ``models/``
    (converted checkpoints), ``bench/``. Nothing is created by this call.
    """
    env = os.environ.get("MLROUNDUP_CACHE")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "mlroundup"
