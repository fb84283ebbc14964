"""Rosko against its peers, measured in one process: SciPy, PyTorch, Intel MKL and dense BLAS.

Used by ``mlroundup bench rosko`` and the ``rosko-speedup`` experiment. Every peer computes the same
``C = A @ B`` (A sparse (M, K) float32, B dense (K, N) float32) and is timed the same way: one
untimed warm-up, then the *fastest* of ``repeats`` calls (:func:`best_time`). On a shared machine
the slow tail of a multi-threaded call measures the scheduler, not the kernel, so the minimum is
the robust statistic here (as :mod:`timeit` advises); the autotuner keeps the median.
Format conversion done once per matrix (packing for Rosko, building the CSR tensor for torch, the
dense copy for BLAS) is excluded, as a pruned weight would be converted once; MKL's
``dot_product_mkl`` builds its MKL handle inside each call, which is how that binding is used.
"""

from __future__ import annotations

import contextlib
import ctypes
import glob
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from mlroundup.kernels.autotune import time_callable
from mlroundup.utils.threads import blas_threads

#: Sparsities of the sweep (fraction of zeros), as in the issue: 50% ... 99.9%, with 75% (the
#: paper's break-even against dense BLAS).
SPARSITIES: tuple[float, ...] = (0.5, 0.7, 0.75, 0.8, 0.9, 0.95, 0.98, 0.99, 0.999)

#: Peers in report order; "rosko" is ours.
PEERS: tuple[str, ...] = ("rosko", "mkl", "torch_csr", "scipy", "numpy_dense", "torch_dense")


@dataclass
class Problem:
    """One ``A @ B`` instance. ``a`` is CSR float32, ``b`` C-contiguous float32."""

    label: str
    a: sp.csr_array
    b: np.ndarray

    @property
    def shape(self) -> tuple[int, int, int]:
        m, k = self.a.shape
        return m, k, self.b.shape[1]

    @property
    def sparsity(self) -> float:
        m, k = self.a.shape
        return 1.0 - self.a.nnz / (m * k)


def random_sparse(m: int, k: int, sparsity: float, seed: int) -> sp.csr_array:
    """Uniformly random positions (exactly ``round((1-s) M K)`` nonzeros), N(0,1) values, float32."""
    if not 0.0 <= sparsity <= 1.0:
        raise ValueError(f"invalid sparsity={sparsity!r}: must be in [0, 1]")
    rng = np.random.default_rng(seed)
    nnz = int(round((1.0 - sparsity) * m * k))
    flat = rng.choice(m * k, size=nnz, replace=False)
    vals = rng.standard_normal(nnz).astype(np.float32)
    return sp.csr_array((vals, (flat // k, flat % k)), shape=(m, k))


def aligned(x: np.ndarray, alignment: int = 64) -> np.ndarray:
    """A C-contiguous copy of ``x`` whose data starts on an ``alignment``-byte boundary.

    The benchmarks give every peer a B on a cache-line boundary: measured on this Xeon, MKL's
    CSR x dense product (``dot_product_mkl``, one thread) takes 1.4-1.9x longer when B starts
    16 bytes (or any other offset) past a 64-byte line, and NumPy places a fresh array at any
    multiple of 16, so without this a peer's speed would depend on where its process's
    allocator happened to put B.

    Raises
    ------
    ValueError
        If ``alignment`` is not a positive multiple of the item size.
    """
    x = np.asarray(x)
    if alignment <= 0 or alignment % x.itemsize:
        raise ValueError(f"invalid alignment={alignment!r}: a positive multiple of {x.itemsize}")
    raw = np.empty(x.nbytes + alignment, np.uint8)
    start = -raw.ctypes.data % alignment
    out = raw[start : start + x.nbytes].view(x.dtype).reshape(x.shape)
    out[...] = x
    return out


def magnitude_prune(w: np.ndarray, sparsity: float) -> sp.csr_array:
    """Zero the ``sparsity`` fraction of entries of smallest magnitude (unstructured, per matrix)."""
    if not 0.0 <= sparsity < 1.0:
        raise ValueError(f"invalid sparsity={sparsity!r}: must be in [0, 1)")
    flat = np.abs(w).ravel()
    n_zero = int(round(sparsity * flat.size))
    keep = np.ones(flat.size, dtype=bool)
    keep[np.argpartition(flat, n_zero)[:n_zero] if n_zero else []] = False
    return sp.csr_array(np.where(keep.reshape(w.shape), w, 0).astype(np.float32))


def load_mkl(threads: int):
    """``sparse_dot_mkl.dot_product_mkl`` with MKL on ``threads`` threads, or a reason it is absent.

    The ``mkl`` wheel installs ``libmkl_rt.so.N`` under ``<prefix>/lib``, where the binding does not
    look. Unless the user set ``$MKL_RT``, that file is loaded first (``ctypes``); the binding's
    own ``dlopen`` of ``libmkl_rt.so.N`` then finds it already loaded. The process environment is
    not changed.
    """
    if "MKL_RT" not in os.environ:
        found = sorted(glob.glob(os.path.join(sys.prefix, "lib", "libmkl_rt.so*")))
        if found:
            with contextlib.suppress(OSError):
                ctypes.CDLL(found[0], mode=ctypes.RTLD_GLOBAL)
    try:
        import sparse_dot_mkl
    except Exception as exc:  # ImportError, or OSError from a broken MKL
        return None, f"MKL unavailable ({type(exc).__name__}: {str(exc).splitlines()[0]})"
    sparse_dot_mkl.mkl_set_num_threads(threads)
    return sparse_dot_mkl.dot_product_mkl, sparse_dot_mkl.mkl_get_version_string()


def _torch(threads: int):
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(threads)
    return torch


def prepare(
    problem: Problem, threads: int, peers: tuple[str, ...] = PEERS
) -> dict[str, Callable[[], object] | str]:
    """Per peer: a zero-argument callable computing ``A @ B``, or a string saying why it is absent.

    Raises
    ------
    ValueError
        If ``peers`` names an unknown peer (the message lists :data:`PEERS`).
    """
    from mlroundup.rosko import pack, spmm

    unknown = [p for p in peers if p not in PEERS]
    if unknown:
        raise ValueError(f"unknown peer {unknown[0]!r}; valid: {', '.join(PEERS)}")
    a, b = problem.a, problem.b
    m, _, n = problem.shape
    runs: dict[str, Callable[[], object] | str] = {}
    packed = pack(a)
    out = np.empty((m, n), np.float32)
    runs["rosko"] = lambda: spmm(packed, b, out, threads=threads)
    if "mkl" in peers:
        mkl, info = load_mkl(threads)
        if mkl is None:
            runs["mkl"] = info
        else:
            a_mat = sp.csr_matrix(a)
            runs["mkl"] = lambda: mkl(a_mat, b)
    torch = _torch(threads) if {"torch_csr", "torch_dense"} & set(peers) else None
    if torch is None:
        runs["torch_csr"] = runs["torch_dense"] = "torch not installed"
    else:
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            at = torch.sparse_csr_tensor(
                torch.from_numpy(a.indptr.astype(np.int64)),
                torch.from_numpy(a.indices.astype(np.int64)),
                torch.from_numpy(a.data),
                size=a.shape,
            )
        bt = torch.from_numpy(b)
        runs["torch_csr"] = lambda: torch.sparse.mm(at, bt)
        ad = torch.from_numpy(a.toarray())
        runs["torch_dense"] = lambda: torch.mm(ad, bt)
    runs["scipy"] = lambda: a @ b
    if "numpy_dense" in peers:
        a_dense = a.toarray()
        runs["numpy_dense"] = lambda: a_dense @ b
    return {name: runs[name] for name in peers}


def check_agreement(runs: dict[str, Callable[[], object] | str], reference: np.ndarray) -> None:
    """Every available peer's result equals the float64 reference to float32 tolerance.

    Raises
    ------
    AssertionError
        Naming the peer that disagrees (a benchmark of a wrong answer is worthless).
    """
    scale = max(1.0, float(np.abs(reference).max()))
    for name, fn in runs.items():
        if isinstance(fn, str):
            continue
        got = fn()
        got = got.numpy() if hasattr(got, "numpy") else np.asarray(got)
        err = float(np.abs(got - reference).max())
        assert err <= 1e-3 * scale, f"{name} disagrees with the reference: max error {err:.3g}"


def time_peers(
    problem: Problem,
    *,
    threads: int,
    repeats: int,
    peers: tuple[str, ...] = PEERS,
    check: bool = True,
    cpu: bool = False,
) -> tuple[dict[str, float | None], dict[str, str]]:
    """Best-of-``repeats`` seconds per peer (None where absent) and the reasons peers are absent.

    ``cpu=True``: every peer on one thread (BLAS pools limited through threadpoolctl), timed in
    process CPU time, which load on a shared machine does not inflate the way it does wall time.

    Raises
    ------
    ValueError
        If ``cpu=True`` with ``threads != 1``.
    """
    if cpu and threads != 1:
        raise ValueError(f"cpu timing needs threads=1, got threads={threads}")
    runs = prepare(problem, threads, peers)
    if check:
        ref = np.asarray(problem.a.astype(np.float64) @ problem.b.astype(np.float64))
        check_agreement(runs, ref)
    times: dict[str, float | None] = {}
    missing: dict[str, str] = {}
    with blas_threads(1, user_api=None) if cpu else contextlib.nullcontext():
        for name in peers:
            fn = runs[name]
            if isinstance(fn, str):
                times[name], missing[name] = None, fn
            else:
                times[name] = best_time(fn, repeats=repeats, cpu=cpu)
    return times, missing


def best_time(fn: Callable[[], object], repeats: int, cpu: bool = False) -> float:
    """Seconds of the fastest of ``repeats`` calls of ``fn`` after one untimed warm-up.

    ``cpu=True`` times process CPU time rather than wall time (meaningful for one thread only).
    """
    clock = time.process_time if cpu else time.perf_counter
    return min(time_callable(fn, warmup=1, repeats=repeats, clock=clock))


def blas_info() -> str:
    """The BLAS NumPy uses and its threads (threadpoolctl), for the record."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return "threadpoolctl not installed"
    parts = [
        f"{i.get('internal_api')} {i.get('version')} ({i.get('architecture')}, "
        f"{i.get('num_threads')} threads)"
        for i in threadpool_info()
        if i.get("user_api") == "blas"
    ]
    core = os.environ.get("OPENBLAS_CORETYPE")
    return "; ".join(parts) + (f"; OPENBLAS_CORETYPE={core}" if core else "")
