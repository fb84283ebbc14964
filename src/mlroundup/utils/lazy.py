"""Public names imported on first use (PEP 562), so that ``import mlroundup.<package>`` (and
``mlroundup list``) does not import torch, scikit-learn or a compiler.

A package's ``__init__`` lists where each public name lives and takes its module ``__getattr__``
and ``__all__`` from :func:`lazy_exports`::

    from mlroundup.utils.lazy import lazy_exports

    _EXPORTS = {"model": ("YViT", "YViTConfig"), "online": ("run_online",)}
    __getattr__, __all__ = lazy_exports(__name__, _EXPORTS)
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Mapping
from typing import Any


def lazy_exports(
    package: str, exports: Mapping[str, Iterable[str]]
) -> tuple[Callable[[str], Any], list[str]]:
    """A module ``__getattr__`` that imports each public name from its module on first use, and
    the sorted ``__all__``.

    Parameters
    ----------
    package : str
        The package's ``__name__``.
    exports : mapping of str to iterable of str
        Module -> the public names it defines. A module name without a dot is relative to
        ``package`` (``"model"`` is ``f"{package}.model"``); one with a dot is absolute (re-exports
        from another package, e.g. ``"mlroundup.training.trainer"``).

    Returns
    -------
    (getattr, names)
        ``getattr(name)`` returns the object (raising ``AttributeError`` that names the package
        for a name not listed, as Python's own message does); ``names`` is sorted.

    Raises
    ------
    ValueError
        If a name is listed under two modules.
    """
    where: dict[str, str] = {}
    for module, names in exports.items():
        full = module if "." in module else f"{package}.{module}"
        for name in names:
            if name in where and where[name] != full:
                raise ValueError(f"{package}: {name!r} is listed under {where[name]} and {full}")
            where[name] = full

    def __getattr__(name: str) -> Any:
        if name in where:
            return getattr(importlib.import_module(where[name]), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    return __getattr__, sorted(where)
