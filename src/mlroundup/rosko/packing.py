"""Rosko's packed sparse format: per ``MR x KC`` tile of A, its nonzeros column by column.

A (M, K) is cut into row panels of ``mr`` rows and column blocks of ``kc`` columns; tile
``t = kb * n_panels + panel``. Inside a tile the nonzeros are sorted by column (then row), and each
is stored as its value plus one 32-bit index ``(k_in_block << 8) | row_in_tile``. Walking a tile in
order is Rosko's outer-product walk: each non-empty column's B row is used for that column's
nonzeros only, and an empty column is never visited, so the matching row of B is never loaded.

The public Rosko code keeps, per tile, the non-empty columns' k index and nonzero count plus a row
index per nonzero (``sp_pack_t``: ``k_inds``, ``nnz_outer``, ``loc_m``). We fold the column index into
each nonzero (2 bytes more per nonzero) so the microkernel's loop has a fixed trip count instead
of a data-dependent inner loop per column; the walk order, and the B rows skipped, are the same.

References
----------
Natesh et al., arXiv:2307.03930 (the sparse packing format); the public code's ``sp_pack_t``
(vnatesh/Rosko).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mlroundup.rosko.codegen import MR_MAX

#: Largest column block: the k-in-block field of a packed index has 24 bits.
KC_MAX = (1 << 24) - 1


@dataclass(frozen=True, eq=False)
class PackedSparse:
    """A sparse matrix packed for Rosko's kernels; pack once, multiply many times.

    Build it with :func:`pack`. Attributes are read-only NumPy arrays.

    Attributes
    ----------
    shape : tuple of int
        ``(M, K)``.
    mr, kc : int
        Rows per tile (row panel height) and columns per tile (column block width).
    values : ndarray of shape (nnz,), dtype=float32
        Nonzero values, tile by tile, column-major inside a tile.
    index : ndarray of shape (nnz,), dtype=uint32
        ``(k - kb*kc) << 8 | (i - panel*mr)`` for the nonzero at ``(i, k)``.
    tile_ptr : ndarray of shape (n_kb * n_panels + 1,), dtype=int64
        Start of each tile's nonzeros; tile ``kb * n_panels + panel``.
    panel_nnz : ndarray of shape (n_panels,), dtype=int64
        Nonzeros per row panel (used to balance threads).
    """

    shape: tuple[int, int]
    mr: int
    kc: int
    values: np.ndarray
    index: np.ndarray
    tile_ptr: np.ndarray
    panel_nnz: np.ndarray
    _cache: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def nnz(self) -> int:
        """Number of stored entries (duplicates summed; explicit zeros of a sparse input kept)."""
        return int(self.values.size)

    @property
    def dtype(self) -> np.dtype:
        return self.values.dtype

    @property
    def n_panels(self) -> int:
        return -(-self.shape[0] // self.mr)

    @property
    def n_kb(self) -> int:
        return -(-self.shape[1] // self.kc)

    @property
    def density(self) -> float:
        """``nnz / (M*K)`` (0 for an empty shape)."""
        m, k = self.shape
        return self.nnz / (m * k) if m * k else 0.0

    @property
    def nbytes(self) -> int:
        """Bytes of the packed arrays."""
        return int(self.values.nbytes + self.index.nbytes + self.tile_ptr.nbytes)

    def coo(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Unpack to ``(rows, cols, values)`` in packed order (a check on the format)."""
        n_panels = self.n_panels
        tile = np.repeat(np.arange(self.tile_ptr.size - 1), np.diff(self.tile_ptr))
        panel, kb = tile % max(n_panels, 1), tile // max(n_panels, 1)
        rows = panel * self.mr + (self.index & 0xFF).astype(np.int64)
        cols = kb * self.kc + (self.index >> 8).astype(np.int64)
        return rows, cols, self.values

    def to_scipy(self):
        """The matrix as a ``scipy.sparse.csr_array`` of the same shape and dtype."""
        import scipy.sparse as sp

        rows, cols, vals = self.coo()
        return sp.csr_array((vals, (rows, cols)), shape=self.shape)

    def __matmul__(self, b: Any) -> np.ndarray:
        """``A @ B`` with :func:`mlroundup.rosko.spmm` (default ISA and threads)."""
        from mlroundup.rosko.matmul import spmm

        return spmm(self, b)

    def __repr__(self) -> str:
        m, k = self.shape
        return (
            f"PackedSparse(shape=({m}, {k}), nnz={self.nnz}, density={self.density:.4g}, "
            f"mr={self.mr}, kc={self.kc}, dtype={self.dtype})"
        )


def _to_coo(a: Any) -> tuple[tuple[int, int], np.ndarray, np.ndarray, np.ndarray]:
    """``(shape, rows, cols, values)`` of a SciPy sparse matrix/array or a dense 2-D array."""
    import scipy.sparse as sp

    if sp.issparse(a):
        if a.ndim != 2:
            raise ValueError(f"A must be 2-D, got shape {a.shape}")
        csr = sp.csr_array(a, copy=True)
        csr.sum_duplicates()  # duplicate COO entries add up, as in scipy's own products
        coo = csr.tocoo()
        return (int(a.shape[0]), int(a.shape[1])), coo.row, coo.col, coo.data
    if hasattr(a, "detach") and hasattr(a, "numpy"):  # a torch tensor
        a = a.detach().cpu().numpy()
    arr = np.asarray(a)
    if arr.ndim != 2:
        raise ValueError(f"A must be 2-D, got shape {arr.shape}")
    rows, cols = np.nonzero(arr)
    return (int(arr.shape[0]), int(arr.shape[1])), rows, cols, arr[rows, cols]


def pack(a: Any, *, mr: int | None = None, kc: int | None = None) -> PackedSparse:
    """Pack a sparse matrix into Rosko's tile format.

    Parameters
    ----------
    a : scipy.sparse matrix/array (any format), or array_like of shape (M, K)
        The sparse operand. Dense input keeps its nonzeros; sparse input keeps its stored entries
        (duplicates summed). Values must be real floating point (float32 or float64); they are
        stored as float32.
    mr : int, optional
        Rows per tile, 1..255; default: the analytical model's choice (the most rows whose
        128-column C tile fills 2/3 of L1; :func:`mlroundup.rosko.tiling.choose_mr_nr`).
    kc : int, optional
        Columns per tile; default: the analytical model's choice (:func:`~mlroundup.rosko.tiling.choose_kc`).

    Returns
    -------
    PackedSparse

    Raises
    ------
    ValueError
        If ``a`` is not 2-D or ``mr``/``kc`` are out of range.
    TypeError
        If ``a`` does not hold real floating-point values.
    """
    from mlroundup.rosko.tiling import choose_kc, choose_mr_nr

    if mr is not None and not (isinstance(mr, (int, np.integer)) and 1 <= mr <= MR_MAX):
        raise ValueError(f"invalid mr={mr!r}: must be an integer in [1, {MR_MAX}]")
    shape, rows, cols, vals = _to_coo(a)
    if not np.issubdtype(vals.dtype, np.floating) or vals.dtype.itemsize > 8:
        raise TypeError(f"A must hold float32 or float64 values, got dtype {vals.dtype}")
    m, k = shape
    density = vals.size / (m * k) if m * k else 0.0
    model_mr, model_nr = choose_mr_nr(density)
    if mr is None:
        mr = model_mr
    if kc is None:
        kc = choose_kc(k, density, mr=mr, nr=model_nr)
    if not (isinstance(kc, (int, np.integer)) and 1 <= kc <= KC_MAX):
        raise ValueError(f"invalid kc={kc!r}: must be an integer in [1, {KC_MAX}]")
    mr, kc = int(mr), int(kc)
    n_panels, n_kb = -(-m // mr), -(-k // kc)
    rows = rows.astype(np.int64, copy=False)
    cols = cols.astype(np.int64, copy=False)
    panel, rin = np.divmod(rows, mr)
    kb, kin = np.divmod(cols, kc)
    tile = kb * n_panels + panel
    order = np.lexsort((rin, kin, tile))  # tile, then column, then row
    counts = np.bincount(tile, minlength=n_kb * n_panels)
    tile_ptr = np.zeros(n_kb * n_panels + 1, dtype=np.int64)
    np.cumsum(counts, out=tile_ptr[1:])
    values = np.ascontiguousarray(vals[order], dtype=np.float32)
    index = ((kin[order] << 8) | rin[order]).astype(np.uint32)
    panel_nnz = np.bincount(panel, minlength=n_panels).astype(np.int64)
    for arr in (values, index, tile_ptr, panel_nnz):
        arr.setflags(write=False)
    return PackedSparse((m, k), mr, kc, values, index, tile_ptr, panel_nnz)
