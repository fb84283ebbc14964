"""Speed measurements shared by ``mlroundup bench qigen`` and the QIGen experiment.

* :func:`gemv_throughput`: seconds and GB/s of weight data per GEMV for a shape, with the
  weights resident in cache (one matrix, reused) or streamed from DRAM (a rotation of copies
  whose total exceeds four times the last-level cache, as consecutive layers do in decoding).

Shapes come from real models (:data:`SHAPES`). The machine's read bandwidth, the bound these
are compared with, is :func:`mlroundup.kernels.bandwidth.read_bandwidth` (re-exported here).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from mlroundup.kernels.autotune import median_time
from mlroundup.kernels.bandwidth import last_level_cache_bytes, read_bandwidth

if TYPE_CHECKING:  # pragma: no cover
    from mlroundup.qigen.codegen import KernelSpec

__all__ = [
    "SHAPES",
    "GemvRotation",
    "GemvTiming",
    "gemv_rotation",
    "gemv_throughput",
    "last_level_cache_bytes",
    "read_bandwidth",
]

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


@dataclass(frozen=True)
class GemvRotation:
    """An autotuned GEMV over a rotation of packed copies of one random weight (see
    :func:`gemv_rotation`). ``step()`` runs the product once per copy; ``copies`` products."""

    step: Callable[[], None]
    copies: int
    weight_bytes: int
    kernel: str


def gemv_rotation(
    n: int,
    k: int,
    bits: int = 4,
    group_size: int = 128,
    *,
    threads: int,
    dram: bool,
    llc_bytes: int | None = None,
    tune_repeats: int = 3,
    kind: str = "gemv",
    spec: KernelSpec | None = None,
) -> GemvRotation:
    """The autotuned ``kind`` ("gemv", or "gemv_i8" for the integer one) on an ``n x k`` random
    ``bits``-bit weight, ready to time. With ``dram``, over enough packed copies that their total
    exceeds four last-level caches (``llc_bytes``; default: this machine's), so every product
    reads its weight from DRAM; else one copy (cache-resident after the first call). ``spec``
    times that kernel instead of the autotuner's choice (its kind, bits and group must fit)."""
    from dataclasses import replace

    from mlroundup.qigen.kernels import compile_kernel, tune
    from mlroundup.qigen.layout import pack

    if spec is None:
        spec, _ = tune(kind, n, k, bits, group_size, threads=threads, repeats=tune_repeats)
    kern = compile_kernel(spec)
    pw = pack(random_quantized(n, k, bits, group_size), spec.nr)
    copies = 1
    if dram:
        copies = max(2, math.ceil(4 * (llc_bytes or last_level_cache_bytes()) / pw.nbytes))
    mats = [pw] + [
        replace(pw, words=pw.words.copy(), scales=pw.scales.copy(), mins=pw.mins.copy())
        for _ in range(copies - 1)
    ]
    x = np.zeros(pw.k_padded, np.float32)
    x[:k] = np.random.default_rng(1).standard_normal(k)
    out = np.empty(n, np.float32)
    # prepared calls: the C kernel alone, without the tens of microseconds of Python argument
    # checks of Kernel.__call__ (a decoding step calls the kernels the same way)
    calls = [kern.prepare(m, x, out, threads) for m in mats]

    def step() -> None:
        for call in calls:
            call()

    return GemvRotation(step, copies, int(pw.nbytes), spec.name)


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
    ``n x k`` weight (see module docstring; the operands of :func:`gemv_rotation`)."""
    rot = gemv_rotation(n, k, bits, group_size, threads=threads, dram=dram, llc_bytes=llc_bytes,
                        tune_repeats=tune_repeats, kind=kind)  # fmt: skip
    t = median_time(rot.step, warmup=1, repeats=repeats) / rot.copies
    return GemvTiming(t, rot.weight_bytes, rot.kernel)
