"""Argument checks shared by the longstep modules (one place for the messages users see)."""

from __future__ import annotations

import math


def positive(value: object, name: str) -> float:
    """``float(value)`` if it is a finite number > 0.

    Raises
    ------
    ValueError
        ``invalid <name>=<value>: must be finite and > 0``, naming the argument.
    """
    try:
        v = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValueError(f"invalid {name}={value!r}: must be a finite number > 0") from None
    if not math.isfinite(v) or v <= 0:
        shown = value if type(value) in (int, float) else v  # np.float64(0.0) reads as 0.0
        raise ValueError(f"invalid {name}={shown!r}: must be finite and > 0")
    return v
