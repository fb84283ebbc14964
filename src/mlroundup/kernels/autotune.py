"""Time candidate kernels and remember the winner per (CPU, kernel, shape, format).

:func:`time_callable` measures one callable: warm-up calls (never timed; they absorb lazy
compilation, page faults and cache warm-up), then the median of timed repeats. :func:`autotune`
times every candidate, persists the fastest in ``<cache>/kernels/autotune.json`` and returns it;
a later call with the same key returns the stored winner without timing anything. Compile time is
never part of a measurement: build candidates before tuning (or let the warm-up absorb it).
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlroundup.kernels.build import kernel_cache_dir
from mlroundup.utils.cpu import cpu_model, kernel_features
from mlroundup.utils.files import atomic_write_bytes, file_lock

TUNE_FILE = "autotune.json"


def time_callable(
    fn: Callable[[], Any],
    *,
    warmup: int = 1,
    repeats: int = 5,
    clock: Callable[[], float] = time.perf_counter,
) -> list[float]:
    """Times (seconds) of ``repeats`` calls of ``fn`` after ``warmup`` untimed calls.

    ``clock`` is wall time by default; ``time.process_time`` measures the CPU time of the whole
    process instead (all its threads), which a shared machine's scheduler does not inflate.

    Raises
    ------
    ValueError
        If ``warmup < 1`` or ``repeats < 1``.
    """
    if warmup < 1:
        raise ValueError(f"invalid warmup={warmup}: need at least one untimed call")
    if repeats < 1:
        raise ValueError(f"invalid repeats={repeats}: must be >= 1")
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = clock()
        fn()
        times.append(clock() - t0)
    return times


def median_time(fn: Callable[[], Any], *, warmup: int = 1, repeats: int = 5) -> float:
    """Median of :func:`time_callable` (seconds)."""
    return statistics.median(time_callable(fn, warmup=warmup, repeats=repeats))


def machine_key() -> str:
    """The CPU part of a tuning key: model name and kernel features."""
    return f"{cpu_model()} [{' '.join(kernel_features())}]"


def tune_key(kernel: str, shape: Sequence[int], fmt: str) -> str:
    """Key of one tuning decision: CPU, kernel family, problem shape and data format."""
    return f"{machine_key()} | {kernel} | {'x'.join(str(int(s)) for s in shape)} | {fmt}"


@dataclass(frozen=True)
class TuneResult:
    """Outcome of :func:`autotune`.

    Attributes
    ----------
    best : str
        Label of the fastest candidate.
    times_s : dict of str to float
        Median seconds per candidate (empty when the result came from the cache).
    from_cache : bool
        True if the winner was read from the tuning file and nothing was timed.
    """

    best: str
    times_s: dict[str, float] = field(default_factory=dict)
    from_cache: bool = False


def _read(path: Path) -> dict[str, Any]:
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return doc if isinstance(doc, dict) else {}


def lookup(kernel: str, shape: Sequence[int], fmt: str, *, cache_dir: Path | str | None = None):
    """The stored winner's label for this key, or None (a malformed tuning file counts as empty)."""
    entry = _read(kernel_cache_dir(cache_dir) / TUNE_FILE).get(tune_key(kernel, shape, fmt))
    return entry.get("best") if isinstance(entry, dict) else None


def autotune(
    kernel: str,
    shape: Sequence[int],
    fmt: str,
    candidates: Mapping[str, Callable[[], Any]],
    *,
    warmup: int = 1,
    repeats: int = 5,
    cache_dir: Path | str | None = None,
    force: bool = False,
) -> TuneResult:
    """Pick the fastest of ``candidates`` for this problem, remembering the choice.

    Parameters
    ----------
    kernel : str
        Kernel family, e.g. ``"rosko_spmm_f32"``.
    shape : sequence of int
        Problem shape (e.g. ``(M, K, N)``).
    fmt : str
        Data format / variant the candidates share (e.g. ``"f32-nnz0.1"``).
    candidates : mapping of str to callable
        Label -> zero-argument callable running the candidate once, already compiled.
    warmup, repeats : int
        As :func:`time_callable`.
    cache_dir : path, optional
        Root cache folder; the tuning file is ``<cache_dir>/kernels/autotune.json``.
    force : bool
        Re-time even if a winner is stored (and overwrite it).

    Returns
    -------
    TuneResult

    Raises
    ------
    ValueError
        If ``candidates`` is empty.
    """
    if not candidates:
        raise ValueError("candidates is empty")
    path = kernel_cache_dir(cache_dir) / TUNE_FILE
    key = tune_key(kernel, shape, fmt)
    if not force:
        stored = lookup(kernel, shape, fmt, cache_dir=cache_dir)
        if stored in candidates:
            return TuneResult(best=stored, from_cache=True)
    times = {
        label: median_time(fn, warmup=warmup, repeats=repeats) for label, fn in candidates.items()
    }
    best = min(times, key=times.__getitem__)
    with file_lock(path.with_suffix(".lock")):  # read-modify-write of a shared file
        doc = _read(path)
        doc[key] = {"best": best, "median_s": times, "repeats": repeats}
        atomic_write_bytes(path, json.dumps(doc, indent=1, sort_keys=True).encode())
    return TuneResult(best=best, times_s=times)
