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

    Only the libraries loaded when the block starts are limited: a BLAS first loaded inside the
    block keeps its own thread count. SciPy ships its own OpenBLAS, loaded lazily by the first
    ``import scipy.linalg``; a caller whose block solves with SciPy (or CVXOPT through it) should
    import ``scipy.linalg`` before entering (``longstep.pep.worst_case`` does: without it each
    Cholesky of its KKT solve took 1.4 s of CPU instead of 0.12 s).
    """
    controller = _controller()
    if controller is None:  # pragma: no cover - threadpoolctl ships with every extra needing it
        yield
        return
    with controller.limit(limits=n, user_api=user_api):
        yield


def _controller():
    """threadpoolctl's view of the loaded thread pools; None without threadpoolctl.

    A scan of the loaded libraries costs ~0.3 ms, too much per decoded token, so the view is kept
    and rebuilt only when the dynamic loader reports a library loaded or unloaded since it was
    made (a BLAS loaded later, e.g. MKL through ctypes, is then limited too).
    """
    generation = _load_generation()
    cached = _CONTROLLER.get("view")
    if cached is not None and generation is not None and cached[0] == generation:
        return cached[1]
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:  # pragma: no cover
        return None
    controller = ThreadpoolController()
    _CONTROLLER["view"] = (generation, controller)
    return controller


_CONTROLLER: dict[str, tuple[tuple[int, int] | None, object]] = {}


@functools.cache
def _phdr_iterator():
    """glibc's ``dl_iterate_phdr`` with a callback that reads the loader's load/unload counters
    (``dlpi_adds``, ``dlpi_subs`` of ``struct dl_phdr_info``) from its first call; None where
    the C library lacks it (macOS, musl without the counters)."""
    import ctypes
    import ctypes.util

    class _Info(ctypes.Structure):
        _fields_ = [
            ("dlpi_addr", ctypes.c_void_p),
            ("dlpi_name", ctypes.c_char_p),
            ("dlpi_phdr", ctypes.c_void_p),
            ("dlpi_phnum", ctypes.c_uint16),
            ("dlpi_adds", ctypes.c_ulonglong),
            ("dlpi_subs", ctypes.c_ulonglong),
        ]

    try:
        libc = ctypes.CDLL(None)
        iterate = libc.dl_iterate_phdr
    except (OSError, AttributeError):  # pragma: no cover - not glibc
        return None
    callback_type = ctypes.CFUNCTYPE(
        ctypes.c_int, ctypes.POINTER(_Info), ctypes.c_size_t, ctypes.c_void_p
    )
    seen: list[tuple[int, int] | None] = [None]

    def first(info, size, _data):
        if size >= ctypes.sizeof(_Info):
            seen[0] = (int(info.contents.dlpi_adds), int(info.contents.dlpi_subs))
        return 1  # stop after the first object: the counters are global

    callback = callback_type(first)
    iterate.argtypes = [callback_type, ctypes.c_void_p]
    iterate.restype = ctypes.c_int

    def generation():
        seen[0] = None
        iterate(callback, None)
        return seen[0]

    return generation


def _load_generation() -> tuple[int, int] | None:
    """(libraries loaded, unloaded) so far in this process, or None where unknown (the caller
    then rescans every time)."""
    iterator = _phdr_iterator()
    return None if iterator is None else iterator()


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
