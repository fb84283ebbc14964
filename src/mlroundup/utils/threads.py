"""Thread counts and scoped thread limits.

Nothing here changes the process for longer than a ``with`` block: limits are restored on exit,
and no environment variable is set (a variable such as ``OMP_*`` set by a library reaches every
other library in the process, and any child it starts).
"""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Iterator

#: Environment variable that caps the threads mlroundup's kernels and trainers use by default.
THREADS_ENV = "MLROUNDUP_THREADS"


def available_cpus() -> int:
    """CPUs this process may run on (its affinity mask; ``os.cpu_count()`` where unknown)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - macOS, Windows
        return max(1, os.cpu_count() or 1)


def default_threads() -> int:
    """Threads to use by default: ``$MLROUNDUP_THREADS`` if set, else :func:`available_cpus`.

    Raises
    ------
    ValueError
        If ``$MLROUNDUP_THREADS`` is set but not a positive integer.
    """
    env = os.environ.get(THREADS_ENV, "").strip()
    if not env:
        return available_cpus()
    try:
        n = int(env)
    except ValueError:
        n = 0
    if n < 1:
        raise ValueError(f"invalid {THREADS_ENV}={env!r}: a positive integer")
    return n


@contextlib.contextmanager
def blas_threads(n: int = 1, user_api: str | None = "blas") -> Iterator[None]:
    """Limit the BLAS libraries NumPy and SciPy use to ``n`` threads inside the block
    (``user_api=None``: every pool threadpoolctl sees, OpenMP runtimes too).

    Small dense products gain nothing from BLAS threads, and on a busy machine OpenBLAS's spinning
    workers slow the caller's own threads several-fold. Uses threadpoolctl (a no-op without it);
    the previous limits are restored on exit.
    """
    controller = _controller()
    if controller is None:  # pragma: no cover - threadpoolctl ships with every extra needing it
        yield
        return
    with controller.limit(limits=n, user_api=user_api):
        yield


@functools.cache
def _controller():
    """threadpoolctl's view of the loaded thread pools, made once (a scan of the loaded libraries
    costs ~1 ms, too much per decoded token); None without threadpoolctl."""
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:  # pragma: no cover
        return None
    return ThreadpoolController()


@contextlib.contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Run the block with ``torch.set_num_threads(n)`` (None: unchanged); restored on exit.

    Raises
    ------
    ValueError
        If ``n`` is not a positive integer.
    """
    if n is None:
        yield
        return
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"invalid threads={n!r}: a positive integer")
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)
