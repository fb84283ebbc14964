"""Long-step gradient descent: step-size schedules, certified rates and a PEP oracle.

Sources: B. Grimmer, "Provably Faster Gradient Descent via Long Steps", arXiv 2307.06324 (SIAM J.
Optim. 2024); J. Altschuler & P. Parrilo, "Acceleration by Stepsize Hedging: Silver Stepsize
Schedule for Smooth Convex Optimization", arXiv 2309.16530; B. Grimmer, K. Shu & A. Wang, "Composing
Optimized Stepsize Schedules for Gradient Descent", arXiv 2410.16249.

Quick use::

    from mlroundup.longstep import schedule, gradient_descent, worst_case, certify
    h = schedule("silver", 63)                  # normalized steps; the step is h/L
    hist = gradient_descent(f, grad, x0, L, h)  # NumPy
    worst_case(h).value                         # exact worst case of f(x_n) - f*, L = R = 1
    certify([1.5, 4.9, 1.5]).constant           # Grimmer's certified rate constant, 2.633

``worst_case`` and ``certify`` need the ``longstep`` extra (cvxpy); they are imported on first use.
"""

from __future__ import annotations

from typing import Any

from mlroundup.longstep.schedules import SCHEDULE_NAMES, published_bound, schedule
from mlroundup.longstep.solvers import History, fista, gradient_descent

_LAZY = {
    "worst_case": "mlroundup.longstep.pep",
    "PEPResult": "mlroundup.longstep.pep",
    "certify": "mlroundup.longstep.certificate",
    "Certificate": "mlroundup.longstep.certificate",
    "LongStepLR": "mlroundup.longstep.scheduler",
}

__all__ = [
    "SCHEDULE_NAMES", "History", "fista", "gradient_descent", "published_bound", "schedule", *_LAZY,
]  # fmt: skip


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'mlroundup.longstep' has no attribute {name!r}")
