"""This machine's memory read bandwidth: the bound that memory-bound kernels are compared with.

One measurement for every method: a summing kernel compiled here (OpenMP, the host's vector
width) reads a float32 array once per pass; the median pass gives bytes read per second.
``mlroundup bench qigen`` compares the GEMV's weight stream with it, ``mlroundup bench rosko``
its roofline. Nothing here changes the process environment.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable

import numpy as np

from mlroundup.kernels.autotune import median_time
from mlroundup.kernels.build import load_library, ptr
from mlroundup.utils.cpu import cache_sizes

_SUM_SRC = """
#include <stdint.h>
typedef float vf_ __attribute__((vector_size(32)));
float mlr_read_sum(const float* a, int64_t n, int nthreads) {
    float total = 0.0f;
    const int64_t nv = n / 32;
    #pragma omp parallel for num_threads(nthreads) reduction(+:total) schedule(static)
    for (int64_t i = 0; i < nv; i++) {
        const vf_* p = (const vf_*)(a + 32 * i);
        vf_ s = (p[0] + p[1]) + (p[2] + p[3]);
        total += s[0] + s[1] + s[2] + s[3] + s[4] + s[5] + s[6] + s[7];
    }
    return total;
}
"""


def last_level_cache_bytes() -> int:
    """Size in bytes of the largest CPU cache (:func:`mlroundup.utils.cpu.cache_sizes`)."""
    return max(cache_sizes().values())


def read_pass(nbytes: int, threads: int) -> tuple[Callable[[], float], int]:
    """One pass of the summing kernel over a float32 array of about ``nbytes`` bytes (32-byte
    aligned, filled with ones so its pages are resident): the call, and the bytes it reads.

    Raises
    ------
    ValueError
        If ``nbytes`` < 128 or ``threads`` < 1.
    """
    if nbytes < 128:
        raise ValueError(f"invalid nbytes={nbytes!r}: at least 128")
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise ValueError(f"invalid threads={threads!r}: a positive integer")
    lib = load_library(_SUM_SRC, "mlr_read_sum", ("-march=native", "-fopenmp"))
    fn = lib.mlr_read_sum
    fn.argtypes = [ctypes.c_void_p, ctypes.c_int64, ctypes.c_int]
    fn.restype = ctypes.c_float
    n = max(32, nbytes // 4 // 32 * 32)
    buf = np.ones(n + 8, np.float32)
    off = (-buf.ctypes.data % 32) // 4
    a = buf[off : off + n]
    p = ptr(a)

    def call() -> float:
        return fn(p, n, threads)

    call.buffer = buf  # type: ignore[attr-defined]  # the array lives as long as the call
    return call, int(a.nbytes)


def read_bandwidth(nbytes: int, threads: int, repeats: int = 5) -> float:
    """Read bandwidth in bytes/s: summing a float32 array of ``nbytes`` bytes with ``threads``
    (:func:`read_pass`; median of ``repeats`` passes after two warm-up passes).

    Use ``nbytes`` several times the last-level cache for DRAM, a fraction of it for cache.

    Raises
    ------
    ValueError
        If ``nbytes`` < 128 or ``threads`` < 1.
    """
    call, nread = read_pass(nbytes, threads)
    t = median_time(call, warmup=2, repeats=repeats)
    return nread / t
