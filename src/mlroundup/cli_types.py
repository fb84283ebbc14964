"""Click parameter types shared by ``mlroundup.cli`` and the method command lines.

This module imports click only (no method package, nor ``mlroundup.cli``), so a method's
``cli.py`` takes its option types from here without importing the top-level command line that
loads it.
"""

from __future__ import annotations

import math
from typing import Any

import click

__all__ = ["FiniteFloatRange"]


class FiniteFloatRange(click.FloatRange):
    """``click.FloatRange`` that also rejects NaN and infinities (NaN passes every range
    comparison, so plain ``FloatRange(0, 1)`` accepts it); a usage error, exit status 2."""

    name = "finite float range"

    def convert(self, value: Any, param: Any, ctx: Any) -> Any:
        rv = super().convert(value, param, ctx)
        if not math.isfinite(rv):
            self.fail(f"{value!r} is not a finite number.", param, ctx)
        return rv
