"""``spmm(A, B)``: Rosko sparse x dense matrix multiplication on the CPU.

The kernels are generated per instruction set (:mod:`mlroundup.rosko.codegen`), compiled on first
use and cached (:mod:`mlroundup.kernels.build`), and called through :mod:`ctypes` without copying
A, B or C. Two paths: Rosko's tiles (row-skipping outer products over ``MR x KC`` tiles of A, C
tiles in L1; tile sizes from Rosko's analytical model) and, for rows with few nonzeros, the row
path (each row of C accumulated in registers over the row's nonzeros and written once). The plan
(:func:`spmm_plan`) picks the one :func:`mlroundup.rosko.tiling.path_seconds` predicts faster.
"""

from __future__ import annotations

import ctypes
import functools
import threading
from dataclasses import dataclass
from typing import Any

import numpy as np

from mlroundup.kernels import pool
from mlroundup.kernels.build import load_library
from mlroundup.rosko.codegen import (
    ISAS,
    Isa,
    generate,
    generate_rows,
    kernel_name,
    row_vectors,
    rows_kernel_name,
)
from mlroundup.rosko.packing import PackedSparse, pack
from mlroundup.rosko.tiling import (
    PATH_COSTS,
    BlockSizes,
    choose_mc_nc,
    choose_nr,
    choose_prefetch,
    choose_row_panel,
    path_seconds,
)
from mlroundup.utils.cpu import has_features
from mlroundup.utils.threads import default_threads

_MAX_THREADS = 64

#: Work (multiply-adds plus C and B elements touched) below which one more thread does not pay
#: for itself; threads are capped at ``work // WORK_PER_THREAD``. The threads are the shared
#: persistent pool's (:mod:`mlroundup.kernels.pool`), so the cost is a dispatch of a few
#: microseconds, but the work such products leave is mostly writing C, which a second thread
#: does not speed up (measured on 2048 x 2048 at 99.9% x 256: 0.32 ms on one thread, 0.37 on two).
WORK_PER_THREAD = 1 << 21

#: Row path: one more thread per this many seconds of modelled one-thread time (the pool's
#: dispatch costs a few microseconds; measured on this Xeon, a second thread still paid at 30 us:
#: SmolLM2 ffn_down at 99.9% x 256, 0.034 -> 0.029 ms).
ROW_SECONDS_PER_THREAD = 15e-6

#: Tasks per thread a multi-threaded call is split into: the pool's threads claim tasks one at a
#: time, so a thread that starts late (a busy machine) still takes its share of the remaining ones.
TASKS_PER_THREAD = 4

#: Pack B into panels when its rows are used by at least this many nonzeros each, on average.
PACK_B_MIN_USES = 4.0


def isa_supported(name: str) -> bool:
    """Whether this CPU can run the ``name`` kernels (the portable path always can)."""
    if name not in ISAS:
        raise ValueError(f"unknown isa {name!r}; valid: {', '.join(ISAS)}")
    return has_features(ISAS[name].features)


def available_isas() -> list[str]:
    """Instruction sets this CPU runs, most capable first (always ends with ``"portable"``)."""
    return list(_available())


def _available() -> tuple[str, ...]:
    return tuple(name for name in ISAS if isa_supported(name))


def _isa(name: str | None) -> Isa:
    if name is None:
        return ISAS[_available()[0]]
    if name not in ISAS:
        raise ValueError(f"unknown isa {name!r}; valid: {', '.join(ISAS)}")
    return ISAS[name]


@functools.cache
def kernel(isa: str, nr: int, prefetch: int = 0) -> Any:
    """The compiled entry point for ``isa``, ``nr`` and ``prefetch`` (compiled once, cached)."""
    spec = ISAS[isa]
    name = kernel_name(spec, nr, prefetch)
    lib = load_library(generate(spec, nr, prefetch), name, spec.flags)
    fn = getattr(lib, name)
    i64, vp = ctypes.c_int64, ctypes.c_void_p
    fn.argtypes = [vp, vp, vp, i64, i64, i64, i64, i64, i64, i64,
                   vp, i64, i64, vp, vp, i64, i64, i64, vp, ctypes.c_int, ctypes.c_int, vp]  # fmt: skip
    fn.restype = ctypes.c_int
    return fn


@functools.cache
def rows_kernel(isa: str) -> Any:
    """The compiled row-path entry point for ``isa`` (:func:`~mlroundup.rosko.codegen.generate_rows`)."""
    spec = ISAS[isa]
    vectors = row_vectors(spec)
    name = rows_kernel_name(spec, vectors)
    lib = load_library(generate_rows(spec, vectors), name, spec.flags)
    fn = getattr(lib, name)
    i64, vp = ctypes.c_int64, ctypes.c_void_p
    fn.argtypes = [vp, vp, vp, i64, i64, i64, vp, i64, i64, vp, i64, ctypes.c_int, vp, i64,
                   vp, ctypes.c_int, ctypes.c_int, vp]  # fmt: skip
    fn.restype = ctypes.c_int
    return fn


def _csr(a: PackedSparse) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(indptr int64 (M+1,), columns int32 (nnz,), values float32 (nnz,))`` of ``a``, columns
    ascending within a row; built once per packed matrix and kept with it."""
    got = a._cache.get("csr")
    if got is None:
        rows, cols, vals = a.coo()
        order = np.lexsort((cols, rows))
        indptr = np.zeros(a.shape[0] + 1, np.int64)
        np.cumsum(np.bincount(rows, minlength=a.shape[0]), out=indptr[1:])
        got = a._cache["csr"] = (indptr, cols[order].astype(np.int32), vals[order].copy())
    return got


_BUFFERS = threading.local()


def _aligned_buffer(n_floats: int) -> np.ndarray:
    """A 64-byte-aligned float32 scratch buffer of at least ``n_floats``, reused per thread."""
    buf = getattr(_BUFFERS, "b", None)
    if buf is None or buf.size < n_floats:
        raw = np.empty(n_floats + 16, dtype=np.float32)
        off = (-raw.ctypes.data % 64) // 4
        buf = raw[off : off + n_floats]
        _BUFFERS.b = buf
    return buf[:n_floats]


#: Byte alignment the row path wants for every row of B (one cache line: an AVX-512 load of a
#: misaligned row spans two lines; measured on this Xeon, 2048 x 2048 at 70-98% x 256, one
#: thread: 1.4-1.6x slower rows with B at 16 bytes past a line than on a line, and the same for
#: MKL's CSR x dense product).
ROW_ALIGN = 64


#: Row path: copy a B whose rows are misaligned into aligned rows when each row of B is used
#: by at least this many nonzeros on average (the copy of a 2048 x 256 B takes about 0.16 ms on
#: this Xeon, and saved 0.26 of 0.90 ms at 20 uses per row; at 6 uses (SmolLM2 ffn_down at
#: 99%) it cost more than it saved).
ROW_ALIGN_MIN_USES = 16


def _rows_aligned(b: np.ndarray) -> bool:
    """Whether every row of ``b`` starts on a :data:`ROW_ALIGN`-byte boundary."""
    return b.ctypes.data % ROW_ALIGN == 0 and (b.shape[0] <= 1 or b.strides[0] % ROW_ALIGN == 0)


def _aligned_rows(b: np.ndarray) -> np.ndarray:
    """A row-major copy of ``b`` (K, N) in this thread's scratch buffer, each row starting on a
    :data:`ROW_ALIGN`-byte boundary (row stride N rounded up to 16 floats)."""
    k, n = b.shape
    ld = -(-n // 16) * 16
    view = _aligned_buffer(max(1, k * ld))[: k * ld].reshape(k, ld)[:, :n]
    np.copyto(view, b)
    return view


def _panel_split(panel_nnz: np.ndarray, mr: int, n_threads: int) -> np.ndarray:
    """Boundaries of ``n_threads`` contiguous row-panel ranges of about equal work."""
    n_panels = panel_nnz.size
    work = np.cumsum(panel_nnz + mr, dtype=np.float64)  # nonzeros + C tile traffic per panel
    total = work[-1] if n_panels else 0.0
    cuts = np.searchsorted(work, total * np.arange(1, n_threads) / n_threads, side="left")
    return np.concatenate(([0], np.minimum(cuts + 1, n_panels), [n_panels])).astype(np.int64)


def _check_b(b: Any, k: int) -> np.ndarray:
    if hasattr(b, "detach") and hasattr(b, "numpy"):  # torch tensor
        b = b.detach().cpu().numpy()
    if not isinstance(b, np.ndarray):
        raise TypeError(f"B must be a NumPy array (or torch tensor), got {type(b).__name__}")
    if b.ndim != 2:
        raise ValueError(f"B must be 2-D of shape (K, N), got shape {b.shape}")
    if b.dtype != np.float32:
        raise TypeError(f"B must have dtype float32 (A is packed as float32), got {b.dtype}")
    if b.shape[0] != k:
        raise ValueError(
            f"shape mismatch: A is (M, {k}) but B is {b.shape}; need B of shape ({k}, N)"
        )
    if any(s % b.itemsize for s in b.strides):
        raise ValueError(f"B has strides {b.strides} that are not multiples of its item size")
    return b


def spmm(
    a: PackedSparse | Any,
    b: Any,
    out: np.ndarray | None = None,
    *,
    isa: str | None = None,
    threads: int | None = None,
    nr: int | None = None,
    mc: int | None = None,
    nc: int | None = None,
    pack_b: bool | None = None,
    path: str | None = None,
) -> np.ndarray:
    """``C = A @ B`` for sparse A and dense B with Rosko's row-skipping outer-product kernels.

    Parameters
    ----------
    a : PackedSparse, scipy.sparse matrix/array, or array_like of shape (M, K)
        The sparse operand; pack a fixed A once with :func:`mlroundup.rosko.pack` and reuse it
        (anything else is packed on every call).
    b : ndarray of shape (K, N), dtype=float32
        Dense operand, row-major (C order), column-major (F order) or any other strides: it is
        read through its strides while packed into NR-wide panels.
    out : ndarray of shape (M, N), dtype=float32, optional
        C-contiguous output to overwrite (must not overlap ``b``).
    isa : {"avx512", "avx2", "portable"}, optional
        Kernel instruction set; default: the most capable one this CPU runs.
    threads : int, optional
        Most threads to use; default :func:`default_threads`. Small products use fewer (tiles: one
        per :data:`WORK_PER_THREAD` units of work; rows: one per :data:`ROW_SECONDS_PER_THREAD`
        of modelled time). The threads are the shared persistent pool's
        (:mod:`mlroundup.kernels.pool`): started once, kept, asleep while idle.
    nr, mc, nc : int, optional
        Override the analytical model's tile sizes (for the autotuner and ablations).
    pack_b : bool, optional
        Copy B into NR-wide panels first (True) or read it in place (False; needs a row-major B
        with N a multiple of NR, else B is packed anyway). Default: pack when a row of B is used
        by at least :data:`PACK_B_MIN_USES` nonzeros on average (``nnz / K``). With
        ``path="rows"``: pack B into panels of
        :func:`~mlroundup.rosko.tiling.choose_row_panel` columns (True; only when N is wider
        than one) or not (False); default: the faster in the model.
    path : {"tiles", "rows"}, optional
        Force Rosko's tiles or the row path (each row of C accumulated in registers over the row's
        nonzeros; B packed into column panels that stay in L2 when the model predicts that
        faster, else read in place, or copied first into rows aligned to :data:`ROW_ALIGN` bytes
        if its columns are not contiguous, or if its rows are misaligned and each is used by at
        least :data:`ROW_ALIGN_MIN_USES` nonzeros on average). Default:
        the path :func:`mlroundup.rosko.tiling.path_seconds` predicts faster, or tiles when any
        of ``nr``, ``mc``, ``nc``, ``pack_b`` is given. :func:`spmm_plan` shows the choice.

    Returns
    -------
    ndarray of shape (M, N), dtype=float32
        ``out`` if given.

    Raises
    ------
    TypeError
        If B is not a float32 array, or ``out`` is not float32.
    ValueError
        On mismatched shapes, a non-contiguous or overlapping ``out``, an unknown or unsupported
        ``isa``, an unknown ``path``, or invalid tile sizes.

    Notes
    -----
    Only stored entries of A contribute: ``C[i, :] = sum_k A[i, k] * B[k, :]`` over stored
    ``(i, k)``. NaN or Inf in a row of B therefore reaches exactly the rows of C whose A row has a
    stored entry in that column, as in SciPy, MKL and ``torch.sparse.mm``; dense ``A @ B`` would
    also put NaN there through ``0 * Inf``. Summation order is the packed column order, so results
    match a float64 reference to float32 rounding, not bit for bit.

    References
    ----------
    Natesh et al., "Rosko", arXiv:2307.03930 (row skipping, sparse packing, analytical tiling).
    """
    if not isinstance(a, PackedSparse):
        a = pack(a)
    m, k = a.shape
    b = _check_b(b, k)
    n = b.shape[1]
    spec = _isa(isa)
    if not isa_supported(spec.name):
        raise ValueError(
            f"isa={spec.name!r} needs CPU features {list(spec.features)} that this CPU lacks; "
            f"available: {available_isas()}"
        )
    threads = default_threads() if threads is None else threads
    if not (isinstance(threads, (int, np.integer)) and 1 <= threads <= _MAX_THREADS):
        raise ValueError(f"invalid threads={threads!r}: must be an integer in [1, {_MAX_THREADS}]")
    if out is None:
        out = np.empty((m, n), dtype=np.float32)
    else:
        if not isinstance(out, np.ndarray) or out.dtype != np.float32:
            raise TypeError("out must be a float32 NumPy array")
        if out.shape != (m, n):
            raise ValueError(f"out has shape {out.shape}, expected {(m, n)}")
        if not out.flags.c_contiguous or not out.flags.writeable:
            raise ValueError("out must be a writeable C-contiguous array")
        if np.may_share_memory(out, b):
            raise ValueError("out must not overlap B")
    if m == 0 or n == 0:
        return out
    in_place = b.strides[1] == b.itemsize
    key = (n, threads, spec.name, nr, mc, nc, pack_b, in_place, path)
    plan = a._cache.get(key)
    if plan is None:  # a fixed A times same-shaped B's: plan once, reuse
        plan = a._cache[key] = _plan(a, n, threads, spec.name, nr, mc, nc, pack_b, in_place, path)
    pf = pool.parallel_for_address() if plan.threads > 1 else None
    if plan.path == "rows":
        bp_ptr = None
        if plan.panel:  # B packed into panels by the kernel, through its strides
            bp_ptr = _aligned_buffer(max(1, -(-n // plan.panel) * k * plan.panel)).ctypes.data
        elif not in_place or b.strides[0] < 0 or (plan.pack_b and not _rows_aligned(b)):
            b = _aligned_rows(b)
        indptr, cols, vals = _csr(a)
        rc = rows_kernel(spec.name)(
            indptr.ctypes.data, cols.ctypes.data, vals.ctypes.data, m, n, k,
            b.ctypes.data, b.strides[0] // 4, b.strides[1] // 4, bp_ptr, plan.panel,
            int(plan.panel_tasks), out.ctypes.data, n, plan.split.ctypes.data, plan.split.size - 1, plan.threads, pf,
        )  # fmt: skip
        if rc != 0:
            raise ValueError(f"row kernel rejected its arguments (B strides {b.strides})")
        return out
    sizes = plan.sizes
    bp_ptr = None
    if plan.pack_b:
        bp_ptr = _aligned_buffer(max(1, -(-n // sizes.nr) * k * sizes.nr)).ctypes.data
    fn = kernel(spec.name, sizes.nr, plan.prefetch)
    rc = fn(
        a.values.ctypes.data, a.index.ctypes.data, a.tile_ptr.ctypes.data,
        m, k, n, a.mr, a.kc, a.n_panels, a.n_kb,
        b.ctypes.data, b.strides[0] // 4, b.strides[1] // 4, bp_ptr,
        out.ctypes.data, n, sizes.mc // a.mr, sizes.nc,
        plan.split.ctypes.data, plan.split.size - 1, plan.threads, pf,
    )  # fmt: skip
    if rc != 0:
        raise ValueError(f"kernel rejected its arguments (tile sizes {sizes})")
    return out


PATHS = ("tiles", "rows")


@dataclass(frozen=True)
class Plan:
    """How :func:`spmm` computes one product (see :func:`spmm_plan`).

    Attributes
    ----------
    path : {"tiles", "rows"}
        Rosko's tiles, or the row path (CSR-like, each row of C in registers).
    isa : str
        Kernel instruction set.
    threads : int
        Threads used (the request, capped by the work: tiles, one per :data:`WORK_PER_THREAD`;
        rows, one per :data:`ROW_SECONDS_PER_THREAD` of modelled time).
    sizes : BlockSizes
        Tile sizes (tile path; the row path ignores them).
    pack_b : bool
        Whether B is copied first: tile path, into NR-wide panels; row path, into rows aligned to
        :data:`ROW_ALIGN` bytes, when they are not. Tiles: when a row of B is used by at least
        :data:`PACK_B_MIN_USES` nonzeros on average; rows: :data:`ROW_ALIGN_MIN_USES`. The row
        path also copies a B whose columns are not contiguous.
    prefetch : int
        Prefetch distance of the tile microkernel (0: none).
    split : ndarray of int64
        Boundaries of the tasks' row panels (tiles) or rows (rows): one task for one thread,
        else up to :data:`TASKS_PER_THREAD` per thread, claimed from the pool as threads free up.
    model_seconds : dict of str to float
        Each path's modelled one-thread time (:func:`mlroundup.rosko.tiling.path_seconds`).
    reason : str
        Why this path: ``"model"`` (the faster model time), ``"forced"`` (the ``path`` argument),
        or why the row path was not possible.
    panel : int
        Row path: columns per panel B is packed into first (then ``pack_b`` is True), or 0: B
        read in place (:func:`mlroundup.rosko.tiling.choose_row_panel`; by the model's
        ``"rows_panels"`` time, or ``pack_b=True`` with ``path="rows"``).
    panel_tasks : bool
        Row path over panels with more than one thread: each panel is one task, packed and
        used for every row by the thread that claims it (:func:`_panel_tasks`), so a panel
        lives in one core's L2; otherwise (False) every task packs part of B, then computes
        its rows over every panel.
    """

    path: str
    isa: str
    threads: int
    sizes: BlockSizes
    pack_b: bool
    prefetch: int
    split: np.ndarray
    model_seconds: dict[str, float]
    reason: str
    panel: int = 0
    panel_tasks: bool = False

    def describe(self) -> str:
        """One line: the path, why, threads and (tile path) the tile sizes."""
        est = ", ".join(f"{p} {1e3 * t:.3g} ms" for p, t in self.model_seconds.items())
        head = f"{self.path} ({self.reason}; model {est}), {self.threads} thread(s), {self.isa}"
        if self.path == "rows" and self.panel:
            per = ", one task per panel" if self.panel_tasks else ""
            return f"{head}, B packed in panels of {self.panel} columns{per}"
        if self.path == "rows":
            return f"{head}, align_b={self.pack_b}"
        s = self.sizes
        return f"{head}, mr={s.mr} nr={s.nr} kc={s.kc} mc={s.mc} nc={s.nc}, pack_b={self.pack_b}"


def _tasks(threads: int, units: int) -> int:
    """Tasks to split ``units`` rows or row panels into on ``threads`` threads (at most 64)."""
    return 1 if threads == 1 else int(min(units, TASKS_PER_THREAD * threads, 64))


def _panel_tasks(n: int, panel: int, threads: int, width: int) -> int:
    """Panel width for one task per panel on ``threads`` threads, or 0 where row tasks are kept.

    With row tasks, every thread reads every panel of B, half of which (two threads) another
    core packed into its own L2; with one task per panel, a panel is packed and read by one
    core, and A (the CSR arrays) is still read once per panel in all. Panels narrower than
    ``panel`` (at least ``width`` columns, a multiple of it) are used when that makes the
    number of panels a multiple of ``threads``, so no thread idles on the last round; 0 if
    ``threads == 1`` or no such width exists. Measured on this Xeon, 2 threads, random
    2048 x 2048 x 256, interleaved in one process on a machine shared with another job: at 98%
    row tasks over panels 1.08 ms, one task per panel (two of 128 columns) 0.85 ms, B in place
    0.92 ms, MKL 0.99 ms; at 95% 2.12 / 1.85 / 2.47 / 2.38 ms.
    """
    if threads < 2 or n <= width:
        return 0
    per_thread = -(-n // (threads * panel))  # panels per thread at the widest panel
    for q in range(per_thread, per_thread + 4):
        w = -(-n // (threads * q))
        w += -w % width
        if w <= panel and -(-n // w) % threads == 0:
            return w
    return 0


def _row_split(row_nnz: np.ndarray, n_threads: int, row_cost: float) -> np.ndarray:
    """Boundaries of ``n_threads`` contiguous row ranges of about equal modelled work."""
    m = row_nnz.size
    work = np.cumsum(row_nnz + row_cost, dtype=np.float64)
    total = work[-1] if m else 0.0
    cuts = np.searchsorted(work, total * np.arange(1, n_threads) / n_threads, side="left")
    return np.concatenate(([0], np.minimum(cuts + 1, m), [m])).astype(np.int64)


def _plan(a, n, threads, isa, nr, mc, nc, pack_b, in_place, path):
    """The :class:`Plan` of one call (see :func:`spmm_plan`)."""
    if path is not None and path not in PATHS:
        raise ValueError(f"invalid path={path!r}: one of {', '.join(PATHS)} (or None: the model)")
    m, k = a.shape
    sizes = block_sizes_for(a, n, threads=threads, isa=isa, nr=nr, mc=mc, nc=nc)
    est = path_seconds(m, k, n, a.nnz, mr=a.mr, n_kb=a.n_kb, isa=isa)
    panels = False  # row path: B packed into panels
    if path is not None:
        chosen, reason = path, "forced"
        if path == "rows":
            panels = "rows_panels" in est and (
                est["rows_panels"] < est["rows"] if pack_b is None else pack_b
            )
    elif k >= 2**31:
        chosen, reason = "tiles", "K too large for the row path's 32-bit columns"
    elif nr is not None or mc is not None or nc is not None or pack_b is not None:
        chosen, reason = "tiles", "tile parameters given"
    else:
        best = min(est, key=est.get)  # ties: tiles (the first key)
        chosen, reason, panels = best.removesuffix("_panels"), "model", best == "rows_panels"
    if chosen == "rows":
        if k >= 2**31:
            raise ValueError(f"path='rows' needs K < 2**31, got K={k}")
        t_rows = est["rows_panels" if panels else "rows"]
        threads = int(max(1, min(threads, m, t_rows // ROW_SECONDS_PER_THREAD)))
        costs = PATH_COSTS[isa]
        row_cost = costs.c_rows / costs.row_in_l2  # writing a row of C, in nonzeros' time
        split = _row_split(np.diff(_csr(a)[0]), _tasks(threads, m), row_cost)
        if panels:
            panel = choose_row_panel(k, ISAS[isa].width)
            by_panel = _panel_tasks(n, panel, threads, ISAS[isa].width)
            if by_panel:
                return Plan(
                    "rows", isa, threads, sizes, True, 0, split, est, reason, by_panel, True
                )
            return Plan("rows", isa, threads, sizes, True, 0, split, est, reason, panel)
        copy_b = a.nnz >= ROW_ALIGN_MIN_USES * k  # worth aligning B's rows when misaligned
        return Plan("rows", isa, threads, sizes, copy_b, 0, split, est, reason)
    if pack_b is None:
        pack_b = a.nnz >= PACK_B_MIN_USES * k
    packs_b = bool(pack_b or not in_place or n % sizes.nr)
    work = a.nnz * n + m * n + (k * n if packs_b else 0)
    threads = int(max(1, min(threads, a.n_panels, work // WORK_PER_THREAD)))
    split = _panel_split(a.panel_nnz, a.mr, _tasks(threads, a.n_panels))
    prefetch = choose_prefetch(a.density, a.mr)
    return Plan("tiles", isa, threads, sizes, packs_b, prefetch, split, est, reason)


def spmm_plan(
    a: PackedSparse,
    n: int,
    *,
    isa: str | None = None,
    threads: int | None = None,
    path: str | None = None,
    b_row_major: bool = True,
) -> Plan:
    """The plan :func:`spmm` follows for packed ``a`` times a (K, ``n``) B with these arguments.

    Parameters
    ----------
    a : PackedSparse
    n : int
        Columns of B.
    isa, threads, path
        As :func:`spmm`.
    b_row_major : bool
        Whether B has unit column stride (in-place reads; otherwise the tile path packs B).

    Returns
    -------
    Plan

    Raises
    ------
    ValueError
        On an unknown ``isa`` or ``path``, or invalid ``threads`` or ``n``.
    """
    if not isinstance(a, PackedSparse):
        raise TypeError(
            f"a must be a PackedSparse (see mlroundup.rosko.pack), got {type(a).__name__}"
        )
    if not (isinstance(n, (int, np.integer)) and n >= 1):
        raise ValueError(f"invalid n={n!r}: a positive integer")
    spec = _isa(isa)
    threads = default_threads() if threads is None else threads
    if not (isinstance(threads, (int, np.integer)) and 1 <= threads <= _MAX_THREADS):
        raise ValueError(f"invalid threads={threads!r}: must be an integer in [1, {_MAX_THREADS}]")
    return _plan(a, int(n), int(threads), spec.name, None, None, None, None, b_row_major, path)


def block_sizes_for(
    a: PackedSparse,
    n: int,
    *,
    threads: int,
    isa: str,
    nr: int | None = None,
    mc: int | None = None,
    nc: int | None = None,
) -> BlockSizes:
    """The tile sizes :func:`spmm` uses for packed ``a`` times a (K, n) B (model, or overrides).

    Raises
    ------
    ValueError
        If an override is not a positive multiple of what it must divide (``nr`` of the vector
        width, ``mc`` of ``a.mr``, ``nc`` of ``nr``).
    """
    spec = ISAS[isa]
    width = max(spec.width, 8)
    model_nr = choose_nr(n, width)
    nr = model_nr if nr is None else nr
    if not (isinstance(nr, (int, np.integer)) and nr > 0 and nr % spec.width == 0 and nr <= 256):
        raise ValueError(f"invalid nr={nr!r}: a multiple of {spec.width} in [1, 256]")
    m_mc, m_nc = choose_mc_nc(a.shape[0], n, a.kc, a.density, threads=threads, mr=a.mr, nr=nr)
    mc = m_mc if mc is None else mc
    nc = m_nc if nc is None else nc
    if not (isinstance(mc, (int, np.integer)) and mc > 0 and mc % a.mr == 0):
        raise ValueError(f"invalid mc={mc!r}: a positive multiple of mr={a.mr}")
    if not (isinstance(nc, (int, np.integer)) and nc > 0 and nc % nr == 0):
        raise ValueError(f"invalid nc={nc!r}: a positive multiple of nr={nr}")
    return BlockSizes(mr=a.mr, nr=int(nr), kc=a.kc, mc=int(mc), nc=int(nc))
