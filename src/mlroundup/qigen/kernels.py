"""Compile, bind and autotune the generated kernels; run quantized products on NumPy arrays.

:func:`available_isas` lists the vocabularies this CPU can run (from
:mod:`mlroundup.utils.cpu`); :func:`compile_kernel` builds one :class:`KernelSpec` through the
shared compile cache (:mod:`mlroundup.kernels.build`) and returns a bound :class:`Kernel`;
:func:`candidates` is the one list of specs that drives the tests, the autotuner and the benchmark;
:func:`tune` picks the fastest GEMV and GEMM for a (shape, bits, group size) and remembers it
(:mod:`mlroundup.kernels.autotune`).

Threads: the kernels run on mlroundup's persistent worker pool (:mod:`mlroundup.kernels.pool`;
its ``mlr_parallel_for`` address is passed on every call, with the thread count), not on OpenMP:
no second OpenMP runtime beside PyTorch's in the process, no fork/join per call, and idle workers
spin only briefly (100 us) before they sleep, so they do not take cores from the rest of a
decoding step or from another library. Nothing here reads or sets an environment variable.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mlroundup.kernels import autotune as _autotune
from mlroundup.kernels import pool as _pool
from mlroundup.kernels.build import load_library, ptr
from mlroundup.qigen.codegen import INT8_ISAS, ISAS, KernelSpec, generate, panel_tiles
from mlroundup.qigen.layout import PackedWeight, unit_shape
from mlroundup.utils.cpu import has_features
from mlroundup.utils.threads import default_threads

_I64 = ctypes.c_int64


#: Most threads a kernel call accepts (the worker pool's limit).
MAX_THREADS = _pool.MAX_THREADS

#: GEMV weights of at least this many packed bytes are tuned from DRAM (:func:`tune`): a decoding
#: step reads each weight once per token, so from memory, and the kernel fastest on a
#: cache-resident weight is not always the fastest from DRAM (on a Zen 4 EPYC the tuner picked
#: AVX2 integer GEMVs for 4096x4096 and 11008x4096 that read 0.92-0.99 of the read probe from
#: DRAM where the AVX-512 VNNI 1x32 one reads 0.98-1.05).
TUNE_DRAM_BYTES = 1 << 20

#: Bytes of the rotation of copies a DRAM tuning pass runs over: twice the last-level cache,
#: at most this.
TUNE_ROTATION_MAX_BYTES = 256 << 20


def rotation_copies(nbytes: int, llc_bytes: int) -> int:
    """Copies of a packed weight of ``nbytes`` whose total passes twice the last-level cache
    (``llc_bytes``), capped at :data:`TUNE_ROTATION_MAX_BYTES`: at least 2."""
    for name, v in (("nbytes", nbytes), ("llc_bytes", llc_bytes)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise ValueError(f"invalid {name}={v!r}: an integer >= 1")
    total = min(2 * llc_bytes, TUNE_ROTATION_MAX_BYTES)
    return max(2, -(-total // nbytes))


def check_threads(threads: int | None) -> int:
    """``threads`` as an int in [1, MAX_THREADS] (None: :func:`default_threads`).

    Raises
    ------
    ValueError
        Otherwise.
    """
    if threads is None:
        return default_threads()
    if (
        isinstance(threads, bool)
        or not isinstance(threads, int | np.integer)
        or not (1 <= threads <= MAX_THREADS)
    ):
        raise ValueError(f"invalid threads={threads!r}: must be an integer in [1, {MAX_THREADS}]")
    return int(threads)


def isa_supported(isa: str) -> bool:
    """True when this CPU reports every feature the ISA's code needs (portable: always)."""
    return has_features(ISAS[isa].features)


def available_isas() -> list[str]:
    """ISA paths runnable here, best first; ``"portable"`` is always last."""
    return [i for i in ("avx512vnni", "avx512", "avx2", "portable") if isa_supported(i)]


def best_isa() -> str:
    return available_isas()[0]


@dataclass(frozen=True)
class Kernel:
    """A compiled kernel bound through ctypes (arrays passed without copying)."""

    spec: KernelSpec
    fn: ctypes._CFuncPtr  # type: ignore[name-defined]

    def __reduce__(self):
        """Pickle / deep-copy by spec: the copy binds the same cached library again."""
        return (compile_kernel, (self.spec,))

    def check(self, pw: PackedWeight) -> None:
        """Raise ValueError unless ``pw`` has this kernel's bits, tile width, group size and
        scale dtype (and, for the integer kernels, K padded to a multiple of 32)."""
        s = self.spec
        g = s.group_size or pw.k_padded
        if (pw.bits, pw.nr, pw.scale_dtype) != (s.bits, s.nr, s.scale_dtype) or (
            pw.group_size != g and pw.n_groups > 1
        ):
            raise ValueError(
                f"packed weight (bits={pw.bits}, group_size={pw.group_size}, nr={pw.nr}, "
                f"scale_dtype={pw.scale_dtype}) does not match kernel {s.name}"
            )
        if s.kind.endswith("_i8") and pw.k_padded % 32:
            raise ValueError(f"the integer kernels need K padded to a multiple of 32, got K={pw.k}")

    def __call__(self, pw: PackedWeight, x: np.ndarray, out: np.ndarray | None = None,
                 threads: int | None = None) -> np.ndarray:  # fmt: skip
        """``x @ W.T`` for ``x`` of shape (K,) (GEMV) or (M, K) (GEMM); float32 result."""
        self.check(pw)
        threads = check_threads(threads)
        x = np.asarray(x, np.float32)
        vec = x.ndim == 1
        x2 = x[None, :] if vec else x
        if x2.ndim != 2 or x2.shape[1] != pw.k:
            raise ValueError(f"invalid x of shape {x.shape}: last dimension must be K={pw.k}")
        gemm = self.spec.kind.startswith("gemm")
        if not gemm and x2.shape[0] != 1:
            raise ValueError(f"GEMV kernel {self.spec.name} takes one row, got {x2.shape[0]}")
        m = x2.shape[0]
        if pw.k_padded != pw.k:
            xp = np.zeros((m, pw.k_padded), np.float32)
            xp[:, : pw.k] = x2
        else:
            xp = np.ascontiguousarray(x2)
        if out is None:
            out = np.empty((m, pw.n), np.float32)
        elif out.shape != (m, pw.n) or out.dtype != np.float32 or not out.flags.c_contiguous:
            raise ValueError(f"invalid out: need C-contiguous float32 of shape {(m, pw.n)}")
        sct = ctypes.c_uint16 if pw.scale_dtype == "float16" else ctypes.c_float
        args = [ptr(pw.words, ctypes.c_uint32), ptr(pw.scales, sct), ptr(pw.mins, sct), ptr(xp),
                ptr(out)]  # fmt: skip
        pf = _pool.parallel_for_address()
        if not gemm:
            self.fn(*args, pw.n, pw.k_padded, threads, pf)
        else:
            self.fn(*args, m, pw.n, pw.k_padded, threads, pf)
        return out[0] if vec else out

    def prepare(self, pw: PackedWeight, x: np.ndarray, out: np.ndarray,
                threads: int | None = None) -> Callable[[], None]:  # fmt: skip
        """A call of this kernel on fixed buffers, for decode loops: each call computes
        ``out = x @ W.T`` from whatever ``x`` holds at that moment.

        Everything is checked once here, so a call costs only the C function itself (the
        general ``__call__`` spends tens of microseconds in Python checks per product, which
        matters for the many small GEMVs of a decoding step).

        Parameters
        ----------
        pw : PackedWeight
        x : ndarray, float32, C-contiguous, shape (k_padded,) (GEMV) or (M, k_padded) (GEMM)
            The input buffer; columns from K to k_padded must hold zeros.
        out : ndarray, float32, C-contiguous, shape (N,) (GEMV) or (M, N) (GEMM)
        threads : int, optional

        Raises
        ------
        ValueError
            If a buffer has the wrong dtype, shape or layout, or the kernel does not fit ``pw``.
        """
        self.check(pw)
        m = 1 if x.ndim == 1 else x.shape[0]
        for name, a, shape in (("x", x, (m, pw.k_padded)), ("out", out, (m, pw.n))):
            if a.dtype != np.float32 or not a.flags.c_contiguous or a.size != shape[0] * shape[1]:
                raise ValueError(
                    f"invalid {name}: need C-contiguous float32 with shape {shape}, got "
                    f"{a.dtype} {a.shape}"
                )
        gemm = self.spec.kind.startswith("gemm")
        if not gemm and m != 1:
            raise ValueError(f"GEMV kernel {self.spec.name} takes one row, got {m}")
        threads = check_threads(threads)
        addr = [a.ctypes.data for a in (pw.words, pw.scales, pw.mins, x, out)]
        pf = _pool.parallel_for_address()
        args = (*addr, pw.n, pw.k_padded, threads, pf) if not gemm else (
            *addr, m, pw.n, pw.k_padded, threads, pf)  # fmt: skip
        fn, keep = self.fn, (pw, x, out)  # keep the buffers alive as long as the call

        def call() -> None:
            fn(*args)

        call.buffers = keep  # type: ignore[attr-defined]
        return call


def compile_kernel(spec: KernelSpec, *, cache_dir: Path | str | None = None) -> Kernel:
    """Build (or reuse from the cache) and bind ``spec``'s kernel.

    Raises
    ------
    mlroundup.kernels.build.CompileError
        With the compiler's diagnostics, if the generated code does not compile.
    """
    lib = load_library(generate(spec), spec.name, ISAS[spec.isa].flags, cache_dir=cache_dir)
    fn = getattr(lib, spec.name)
    p = ctypes.c_void_p
    if not spec.kind.startswith("gemm"):
        fn.argtypes = [p, p, p, p, p, _I64, _I64, ctypes.c_int, p]
    else:
        fn.argtypes = [p, p, p, p, p, _I64, _I64, _I64, ctypes.c_int, p]
    fn.restype = None
    return Kernel(spec, fn)


def spec_group(group_size: int, k: int, bits: int) -> int | None:
    """The kernel's group parameter for a weight's group size (None for one group per row)."""
    uv, _ = unit_shape(bits)
    return None if group_size >= -(-k // uv) * uv or group_size >= k else group_size


def candidates(
    kind: str, bits: int, group: int, isa: str, scale_dtype: str = "float32"
) -> list[KernelSpec]:
    """Tile configurations the autotuner tries (GEMV: vectors x accumulators; GEMM: NR x MR)."""
    if kind.endswith("_i8"):
        if bits != 4 or isa not in INT8_ISAS or group % 32:
            return []
        if kind == "gemm_i8":
            return [KernelSpec(kind, bits, group, nv, mr, isa, scale_dtype)
                    for nv, mr in ((1, 4), (2, 2), (2, 3))]  # fmt: skip
        # VNNI: independent accumulators break the vpdpbusd chain (1 thread, L2-resident
        # 1024x1536: 24 -> 36-40 GB/s); AVX2's maddubs products are independent already
        grid = ((1, 4), (2, 2)) if isa == "avx512vnni" else ((1, 1), (2, 1))
        return [KernelSpec(kind, bits, group, nv, na, isa, scale_dtype) for nv, na in grid]
    if kind == "gemv":
        grid = [(1, 2), (2, 1), (2, 2), (4, 1)] if isa != "avx512" else [(1, 2), (2, 1), (2, 2)]
    else:
        grid = [(nv, gemm_mr(nv, isa)) for nv in (1, 2)] + [(2, 4), (1, 4)]
    return [KernelSpec(kind, bits, group, nv, na, isa, scale_dtype) for nv, na in grid]


#: Activation rows per block of the integer GEMM, by tile width (``nv`` vectors): measured
#: best on AVX2 here (two vectors keep six integer and six float accumulators live).
I8_GEMM_MR: dict[int, int] = {1: 4, 2: 3}


def int8_gemm_fits(bits: int, group: int, k: int, isa: str) -> bool:
    """Whether the integer GEMM (``gemm_i8``) runs this format: 4-bit codes, groups of a
    multiple of 32 (or whole rows), ``K`` a multiple of 32, an ISA with an integer path."""
    return bits == 4 and isa in INT8_ISAS and group % 32 == 0 and k % 32 == 0


def gemm_mr(nv: int, isa: str) -> int:
    """Activation rows per register block of the panel GEMM for tiles of ``nv`` vectors: as
    many as the vector registers hold (``MR * v`` accumulators, ``v`` panel vectors and one
    broadcast, ``v = nv * panel_tiles(nv)``; 16 registers, 32 with AVX-512), at most 8."""
    v = nv * panel_tiles(nv)
    regs = 32 if isa.startswith("avx512") else 16
    return max(1, min(8, (regs - v - 1) // v))


def default_spec(
    kind: str, bits: int, group: int, isa: str | None = None, scale_dtype: str = "float32"
) -> KernelSpec:
    """A reasonable untuned choice: 16 output rows per tile (AVX2); GEMV 2 accumulators, GEMM
    :func:`gemm_mr` rows per register block."""
    isa = isa or best_isa()
    nv = 1 if isa == "avx512" else 2
    nacc = 2 if kind == "gemv" else gemm_mr(nv, isa)
    return KernelSpec(kind, bits, group, nv, nacc, isa, scale_dtype)


def tune(
    kind: str,
    n: int,
    k: int,
    bits: int,
    group_size: int,
    *,
    m: int = 1,
    isas: Sequence[str] | None = None,
    threads: int | None = None,
    repeats: int = 5,
    cache_dir: Path | str | None = None,
    force: bool = False,
    int8_activations: bool = False,
    max_nv: int | None = None,
    scale_dtype: str = "float32",
) -> tuple[KernelSpec, dict[str, float]]:
    """The fastest kernel spec for an ``N x K`` product (batch ``m``), timed on random codes.

    Candidates (every runnable ISA x :func:`candidates`) are compiled first, then timed by
    :func:`mlroundup.kernels.autotune.autotune` (warm-up, median of ``repeats``); the winner is
    stored per (CPU, shape, format) and returned without timing on later calls. With
    ``int8_activations`` the integer kernels (GEMV or GEMM), which round activations to int8 per
    block of 32 (about 1% relative error of a product), compete too. ``max_nv`` leaves out
    tiles wider than ``max_nv`` vectors (the GEMM shares the GEMV's packed layout and has room
    for fewer activation rows per register block on wide tiles, so layers that also process
    prompts ask for at most 2).
    ``scale_dtype`` is the storage of the weight's scales and minimums ("float32" or
    "float16"); it changes the kernels, so it is part of the remembered format.
    A GEMV kind whose codes take at least :data:`TUNE_DRAM_BYTES` is timed over a rotation of
    copies larger than the last-level cache (:func:`rotation_copies` of the codes' bytes, the
    same count for every candidate), so from DRAM, as a decoding step reads it (remembered as
    its own format, "-dram"); GEMMs are timed cache-resident.

    Returns
    -------
    (KernelSpec, dict)
        The winner, and median seconds per candidate name (empty when read from the cache).
    """
    from dataclasses import replace

    from mlroundup.kernels.bandwidth import last_level_cache_bytes
    from mlroundup.qigen.layout import pack
    from mlroundup.qigen.quant import QuantizedWeight

    isas = list(isas or available_isas())
    group = spec_group(group_size, k, bits)
    specs = [s for isa in isas for s in candidates(kind, bits, group, isa, scale_dtype)]
    if int8_activations and kind == "gemv" and -(-k // 32) * 32 == -(-k // 8) * 8:
        specs += [s for isa in isas for s in candidates("gemv_i8", bits, group, isa, scale_dtype)]
    if int8_activations and kind == "gemm" and k % 32 == 0:
        specs += [s for isa in isas for s in candidates("gemm_i8", bits, group, isa, scale_dtype)]
    if max_nv is not None:
        specs = [s for s in specs if s.nv <= max_nv]
        if not specs:
            raise ValueError(f"invalid max_nv={max_nv!r}: no candidate tile is that narrow")
    fmt = f"q{bits}-g{group or 'row'}-{kind}{'-i8' if int8_activations else ''}"
    fmt += f"-nv{max_nv}" if max_nv is not None else ""
    fmt += "-sf16" if scale_dtype == "float16" else ""
    threads = check_threads(threads)
    fmt += f"-t{threads}"
    # a GEMV of a weight that large is read from DRAM in a decoding step: time it that way
    dram = m == 1 and kind.startswith("gemv") and n * k * bits // 8 >= TUNE_DRAM_BYTES
    fmt += "-dram" if dram else ""
    # one copy count for every candidate (tile widths pad N differently), from the codes' bytes
    copies = rotation_copies(max(1, n * k * bits // 8), last_level_cache_bytes()) if dram else 1
    shape = (m, n, k)
    by_name = {s.name: s for s in specs}
    stored = _autotune.lookup("qigen", shape, fmt, cache_dir=cache_dir)
    if stored in by_name and not force:
        return by_name[stored], {}
    rng = np.random.default_rng(0)
    g = group or k
    n_groups = -(-k // g)
    half = np.float16 if scale_dtype == "float16" else np.float32  # values exact in either
    qw = QuantizedWeight(
        rng.integers(0, 2**bits, (n, k), dtype=np.uint8),
        rng.random((n, n_groups), np.float32).astype(half).astype(np.float32),
        rng.random((n, n_groups), np.float32).astype(half).astype(np.float32),
        bits,
        g,
        scale_dtype,
    )
    x = rng.standard_normal((m, k)).astype(np.float32)
    xin = x if kind.startswith("gemm") else x[0]
    calls = {}
    packed: dict[int, list[PackedWeight]] = {}
    for s in specs:
        kern = compile_kernel(s, cache_dir=cache_dir)
        if s.nr not in packed:
            packed[s.nr] = [pack(qw, s.nr)]
            if dram:
                pw = packed[s.nr][0]
                packed[s.nr] += [
                    replace(pw, words=pw.words.copy(), scales=pw.scales.copy(),
                            mins=pw.mins.copy())
                    for _ in range(copies - 1)
                ]  # fmt: skip
        out = np.empty((m, n), np.float32)
        if dram:  # prepared calls (no per-call Python checks), x padded to the packed K
            xp = np.zeros(packed[s.nr][0].k_padded, np.float32)
            xp[:k] = xin
            prepared = [kern.prepare(pw, xp, out[0], threads) for pw in packed[s.nr]]

            def call(prepared=prepared) -> None:
                for c in prepared:
                    c()

            calls[s.name] = call
        else:
            pw = packed[s.nr][0]
            calls[s.name] = lambda kern=kern, pw=pw, out=out: kern(pw, xin, out, threads)
    res = _autotune.autotune(
        "qigen", shape, fmt, calls, repeats=repeats, cache_dir=cache_dir, force=force
    )
    return by_name[res.best], res.times_s
