"""Setup functions several benches share (run in a child process by the harness)."""

from __future__ import annotations

from mlroundup.benchmarks.harness import Workload


def _probe_bytes(where: str) -> tuple[int, int]:
    """Bytes the read probe sums for ``where`` ("dram": 8 last-level caches, "cache": an eighth
    of one) and the last-level cache's bytes; ValueError on another ``where``."""
    from mlroundup.kernels.bandwidth import last_level_cache_bytes

    if where not in ("dram", "cache"):
        raise ValueError(f"invalid where={where!r}: 'dram' or 'cache'")
    llc = last_level_cache_bytes()
    return (8 * llc if where == "dram" else llc // 8), llc


def read_bandwidth(threads: int, where: str = "dram") -> Workload:
    """The read bandwidth this machine reaches (:func:`mlroundup.kernels.bandwidth.read_bandwidth`),
    measured in the child's own process: ``info["read_gbps"]`` (GB/s) and ``info["llc_bytes"]``.

    Parameters
    ----------
    threads : int
        Threads of the summing kernel.
    where : {"dram", "cache"}
        An array 8 times the last-level cache (DRAM) or an eighth of it (cache).

    Raises
    ------
    ValueError
        On another ``where``.
    """
    from mlroundup.kernels.bandwidth import read_bandwidth as measure_read

    nbytes, llc = _probe_bytes(where)
    gbps = measure_read(nbytes, threads) / 1e9
    return Workload(step=lambda: None, info={"read_gbps": gbps, "llc_bytes": llc})


def read_probe(threads: int, where: str = "dram", passes: int = 1) -> Workload:
    """The read-bandwidth probe as a side of a case: each call is one pass of the summing kernel
    (:func:`mlroundup.kernels.bandwidth.read_pass`) over an array 8 times the last-level cache
    (``where="dram"``) or an eighth of it ("cache"), so its passes interleave with the other
    sides' and the bandwidth a kernel is compared with is measured in the same rounds.
    With ``passes`` > 1 a call runs that many passes back to back (``units = passes``: the
    harness reports seconds per pass), so a probe beside sides whose calls last seconds samples
    the bandwidth over a comparable stretch of each round, not one short instant.
    ``info``: ``read_bytes`` (bytes per pass; GB/s = read_bytes / median seconds / 1e9),
    ``llc_bytes``.

    Raises
    ------
    ValueError
        On another ``where``, or ``passes`` not a positive integer.
    """
    from mlroundup.kernels.bandwidth import read_pass

    if isinstance(passes, bool) or not isinstance(passes, int) or passes < 1:
        raise ValueError(f"invalid passes={passes!r}: a positive integer")
    nbytes, llc = _probe_bytes(where)
    call, nread = read_pass(nbytes, threads)
    if passes == 1:
        return Workload(step=call, info={"read_bytes": nread, "llc_bytes": llc})

    def step() -> float:
        return sum(call() for _ in range(passes))

    return Workload(step=step, units=passes, info={"read_bytes": nread, "llc_bytes": llc})
