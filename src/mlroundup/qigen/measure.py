"""Speed measurements shared by ``mlroundup bench qigen`` and the QIGen experiment.

* :func:`read_bandwidth`: STREAM-style read bandwidth (bytes/s) of this machine, measured by a
  summing kernel compiled here, threaded like the GEMV kernels;
* :func:`gemv_throughput`: seconds and GB/s of weight data per GEMV for a shape, with the
  weights resident in cache (one matrix, reused) or streamed from DRAM (a rotation of copies
  whose total exceeds four times the last-level cache, as consecutive layers do in decoding).

Shapes come from real models (:data:`SHAPES`).
"""

from __future__ import annotations

import ctypes
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mlroundup.kernels.autotune import median_time
from mlroundup.kernels.build import load_library, ptr

#: (name, N output rows, K input channels): SmolLM2-135M and LLaMA-7B linear layers.
SHAPES: dict[str, tuple[int, int]] = {
    "smollm2 q/o 576x576": (576, 576),
    "smollm2 gate/up 1536x576": (1536, 576),
    "smollm2 down 576x1536": (576, 1536),
    "smollm2 lm_head 49152x576": (49152, 576),
    "llama7b q/k/v/o 4096x4096": (4096, 4096),
    "llama7b gate/up 11008x4096": (11008, 4096),
    "llama7b down 4096x11008": (4096, 11008),
}

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
    """Size of the largest CPU cache Linux reports (fallback 32 MiB)."""
    best = 0
    for f in Path("/sys/devices/system/cpu/cpu0/cache").glob("index*/size"):
        try:
            txt = f.read_text().strip().upper()
            mult = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}.get(txt[-1], 1)
            best = max(best, int(txt.rstrip("KMG")) * mult)
        except (OSError, ValueError):
            continue
    return best or 32 << 20


def read_bandwidth(nbytes: int, threads: int, repeats: int = 5) -> float:
    """Read bandwidth in bytes/s summing a float32 array of ``nbytes`` bytes with ``threads``.

    The build uses the host's vector width (``-march=native``); the array is aligned to 32 bytes.
    """
    import os

    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    lib = load_library(_SUM_SRC, "mlr_read_sum", ("-march=native", "-fopenmp"))
    fn = lib.mlr_read_sum
    fn.argtypes = [ctypes.c_void_p, ctypes.c_int64, ctypes.c_int]
    fn.restype = ctypes.c_float
    n = max(32, nbytes // 4 // 32 * 32)
    buf = np.ones(n + 8, np.float32)
    off = (-buf.ctypes.data % 32) // 4
    a = buf[off : off + n]
    p = ptr(a)
    t = median_time(lambda: fn(p, n, threads), warmup=2, repeats=repeats)
    return a.nbytes / t


@dataclass(frozen=True)
class GemvTiming:
    """One GEMV measurement: median seconds per product and weight bytes streamed per product."""

    seconds: float
    weight_bytes: int
    kernel: str

    @property
    def gbps(self) -> float:
        return self.weight_bytes / self.seconds / 1e9


def random_quantized(
    n: int, k: int, bits: int, group_size: int, seed: int = 0, scale_dtype: str = "float32"
):
    """A :class:`QuantizedWeight` with random codes (speed does not depend on the values)."""
    from mlroundup.qigen.quant import QuantizedWeight

    rng = np.random.default_rng(seed)
    g = min(group_size, k)
    ng = -(-k // g)
    dt = np.float16 if scale_dtype == "float16" else np.float32
    return QuantizedWeight(
        rng.integers(0, 2**bits, (n, k), dtype=np.uint8),
        (rng.random((n, ng), np.float32) * 0.01).astype(dt).astype(np.float32),
        (rng.random((n, ng), np.float32) * -0.005).astype(dt).astype(np.float32),
        bits,
        g,
        scale_dtype,
    )


def gemv_throughput(
    n: int,
    k: int,
    bits: int = 4,
    group_size: int = 128,
    *,
    threads: int,
    dram: bool,
    llc_bytes: int | None = None,
    repeats: int = 5,
    tune_repeats: int = 3,
    kind: str = "gemv",
) -> GemvTiming:
    """Time the autotuned GEMV kernel (``kind`` "gemv", or "gemv_i8" for the integer one) on an
    ``n x k`` weight (see module docstring)."""
    from mlroundup.qigen.kernels import compile_kernel, tune
    from mlroundup.qigen.layout import pack

    spec, _ = tune(kind, n, k, bits, group_size, threads=threads, repeats=tune_repeats)
    kern = compile_kernel(spec)
    pw = pack(random_quantized(n, k, bits, group_size), spec.nr)
    copies = 1
    if dram:
        copies = max(2, math.ceil(4 * (llc_bytes or last_level_cache_bytes()) / pw.nbytes))
    from dataclasses import replace

    mats = [pw] + [
        replace(pw, words=pw.words.copy(), scales=pw.scales.copy(), mins=pw.mins.copy())
        for _ in range(copies - 1)
    ]
    x = np.random.default_rng(1).standard_normal(k).astype(np.float32)
    out = np.empty((1, n), np.float32)

    def run_all():
        for m in mats:
            kern(m, x, out, threads)

    t = median_time(run_all, warmup=1, repeats=repeats) / copies
    return GemvTiming(t, pw.nbytes, spec.name)
