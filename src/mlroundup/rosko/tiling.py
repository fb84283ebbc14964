"""Rosko's analytical tile sizes: from cache capacities and sparsity, with no search.

Names follow BLIS: the microkernel computes an ``MR x NR`` block of C; loop 4 steps K by ``KC``,
loop 3 steps M by ``MC`` and loop 5 steps N by ``NC``. The model (Natesh et al., analytical tiling; its public
implementation is ``get_sparse_cache_dims``, "alg 2", in ``src/block_sizing_sp.cpp`` of
vnatesh/Rosko), in units of ``float`` (``s`` = 4 bytes) with density ``d`` and ``p`` threads:

1. Microkernel shape. Rosko uses a 6 x 16 register tile on AVX2 (20 x 96 when ``d*MR >= 1``).
   With a row index known only at run time the C tile cannot stay in registers (the public code's
   ``c[*loc_m * 2]`` is spilled to the stack too), so it lives in L1, and each update is a
   load-FMA-store whose store-to-load forwarding chain stalls when consecutive nonzeros hit the
   same row, which 6 rows make likely. We therefore size the L1 C tile instead: ``NR`` = 128
   floats (64 when N is no wider: :func:`choose_nr`) and ``MR`` the most rows with
   ``MR * 128 <= (2/3) L1 / s`` (40 x 128 on a 32 KiB L1, 64 x 128 on 48 KiB). This is our change
   to the model; the autotuner's check on it is in the benchmark. (Measured on this Xeon, one
   thread, 2048 x 2048 at 80-98% x 256: 64 x 128 tiles 10-16% faster than the 96 x 64 of a
   half-L1 rule with NR = 64 on AVX-512, 6-10% on AVX2 from 80 to 95%: each nonzero's index,
   broadcast and B-row address serve twice the columns.)
2. ``KC`` fills L2 with one A tile (value + index: 2 words per nonzero), and the B sub-panel
   rows it touches, beside the C tile: ``2 d MR KC + NR KC + MR NR <= L2 / s``; when ``d*MR < 1``
   only a fraction ``d*MR`` of the B rows is touched, so ``KC`` grows by ``1 / (d*MR)`` (Rosko,
   same rule). Clamped to ``[1, K]``.
3. ``MC`` (per thread) fills L3 with the C block of all threads (``p*MC x NC`` with ``NC = p*MC``),
   the A blocks (3 words per nonzero with metadata) and a B block:
   ``p^2 MC^2 + 3 d p KC MC + NR KC <= L3 / s``; rounded down to a multiple of MR, and shrunk to
   ``ceil(M / p)`` for small M so every thread gets work.
4. ``NC = p * MC``, rounded down to a multiple of NR.
5. Prefetch (ours): when ``d*MR < 1`` a B row serves one nonzero per tile, so the microkernel
   prefetches B rows a few nonzeros ahead (:func:`choose_prefetch`).

A bandwidth bound completes the model for the benchmark: the kernel must read the nonzeros
(8 bytes each) and B and write C, so ``t >= (8 nnz + 4 K N + 4 M N) / bandwidth`` (see
:func:`roofline_seconds`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from mlroundup.utils.cpu import cache_sizes

_FLOAT = 4


@dataclass(frozen=True)
class BlockSizes:
    """Tile sizes of the five loops (BLIS names).

    Attributes
    ----------
    mr, nr : int
        Microkernel C tile (rows of an A tile; columns of a B panel).
    kc : int
        Loop 4 block of K (columns of an A tile).
    mc : int
        Loop 3 block of M per thread (a multiple of ``mr``).
    nc : int
        Loop 5 block of N (a multiple of ``nr``).
    """

    mr: int
    nr: int
    kc: int
    mc: int
    nc: int


#: Fraction of L1 the ``MR x NR`` C tile may fill (the rest: the B rows in use, the A stream).
C_TILE_L1 = 2.0 / 3.0


def choose_mr_nr(
    density: float, vector_width: int = 8, caches: dict[str, int] | None = None
) -> tuple[int, int]:
    """Microkernel shape ``(MR, NR)`` (step 1 of the model), for N at least ``NR`` wide.

    ``NR`` is 128 floats (16 AVX2 or 8 AVX-512 vectors; 8 vectors for wider ones), ``MR`` the
    most rows (<= 255, a multiple of 8) whose ``MR x NR`` C tile fills :data:`C_TILE_L1` of L1.
    """
    if not (0.0 <= density <= 1.0):
        raise ValueError(f"invalid density={density!r}: must be in [0, 1]")
    nr = max(128, 8 * vector_width)
    l1 = (caches or cache_sizes())["L1"] / _FLOAT
    mr = int(min(255, C_TILE_L1 * l1 / nr))
    return max(8, mr - mr % 8), nr


def choose_nr(n: int, vector_width: int = 8) -> int:
    """``NR`` for a B of ``n`` columns: :func:`choose_mr_nr`'s, or half of it when that pads
    fewer columns (``n`` no wider than the half, or an odd number of halves: 192 -> 64); the
    ``MR`` packed for the wider tile keeps the C tile within L1 either way."""
    wide = max(128, 8 * vector_width)
    half = wide // 2
    pad = {nr: -(-max(n, 1) // nr) * nr for nr in (wide, half)}
    return wide if pad[wide] <= pad[half] else half


def choose_kc(
    k: int, density: float, *, mr: int = 6, nr: int = 16, caches: dict[str, int] | None = None
) -> int:
    """Loop 4 block ``KC`` (step 2 of the model); ``K`` itself when the whole of K fits."""
    if k <= 0:
        return 1
    l2 = (caches or cache_sizes())["L2"] / _FLOAT
    kc = (l2 - mr * nr) / (2.0 * density * mr + nr)
    if density * mr < 1.0:
        kc = kc / max(density * mr, 1e-9)
    return int(max(1, min(k, kc)))


def choose_mc_nc(
    m: int,
    n: int,
    kc: int,
    density: float,
    *,
    threads: int,
    mr: int,
    nr: int,
    caches: dict[str, int] | None = None,
) -> tuple[int, int]:
    """Loop 3 and loop 5 blocks ``(MC, NC)`` (steps 3 and 4 of the model)."""
    l3 = (caches or cache_sizes())["L3"] / _FLOAT
    p = max(1, threads)
    a, b, c = p * p, 3.0 * density * p * kc, max(l3 - nr * kc, float(p * p * mr * mr))
    mc = int((-b + math.sqrt(b * b + 4 * a * c)) / (2 * a))
    mc = max(mr, mc - mc % mr)
    per_thread = -(-m // p)
    if per_thread < mc:
        mc = max(mr, -(-per_thread // mr) * mr)
    nc = p * mc
    nc = max(nr, nc - nc % nr)
    return mc, nc


def block_sizes(
    m: int,
    k: int,
    n: int,
    density: float,
    *,
    threads: int,
    vector_width: int = 8,
    caches: dict[str, int] | None = None,
) -> BlockSizes:
    """All tile sizes for an ``(M, K) x (K, N)`` product at ``density`` on ``threads`` threads.

    Raises
    ------
    ValueError
        If ``density`` is outside [0, 1] or a dimension is negative.
    """
    if min(m, k, n) < 0:
        raise ValueError(f"invalid shape m={m}, k={k}, n={n}: dimensions must be >= 0")
    mr = choose_mr_nr(density, vector_width, caches)[0]
    nr = choose_nr(n, vector_width)
    kc = choose_kc(k, density, mr=mr, nr=nr, caches=caches)
    mc, nc = choose_mc_nc(m, n, kc, density, threads=threads, mr=mr, nr=nr, caches=caches)
    return BlockSizes(mr=mr, nr=nr, kc=kc, mc=mc, nc=nc)


#: How many nonzeros ahead the microkernel prefetches B rows when it prefetches at all.
PREFETCH_DISTANCE = 16


def choose_prefetch(density: float, mr: int) -> int:
    """Prefetch distance for the microkernel (0: none).

    When a tile column holds less than one nonzero on average (``d*MR < 1``), each B row a tile
    loads serves a single nonzero, so its load latency is exposed rather than amortized; the
    kernel then prefetches the B row :data:`PREFETCH_DISTANCE` nonzeros ahead. With denser
    columns the row is reused from L1 and the hints only cost issue slots.
    """
    return PREFETCH_DISTANCE if density * mr < 1.0 else 0


def roofline_seconds(m: int, k: int, n: int, nnz: int, bandwidth_gbs: float) -> float:
    """Lower bound on SpMM time from memory traffic alone: read nonzeros (8 B each: value and index)
    and B, write C, at ``bandwidth_gbs`` GB/s."""
    return (8.0 * nnz + _FLOAT * k * n + _FLOAT * m * n) / (bandwidth_gbs * 1e9)


@dataclass(frozen=True)
class PathCosts:
    """Per-element costs (nanoseconds, one thread) of the two kernel paths, for :func:`choose_path`.

    Attributes
    ----------
    tile_update : float
        Tile path, per nonzero and column of B: the load-FMA-store of the C tile in L1 while the
        B row is reused from L1.
    tile_fill : float
        Tile path, per nonzero and column, divided by the B-row reuse ``d*MR`` (at least 1):
        bringing the B row into L1.
    row_in_l2, row_beyond_l2 : float
        Row path, per nonzero and column: the B row read from L2 (B fits in 3/4 of L2) or beyond.
    c_tiles : float
        Tile path, per element of C and k block: zeroing or reading the C tile, and writing it.
    c_rows : float
        Row path, per element of C: written once from registers.
    row_panels : float
        Row path with B packed into panels (:func:`choose_row_panel`), per nonzero and column:
        the B row read from a panel that stays in L2.
    pack_panels : float
        Row path with B packed into panels, per element of B: the copy.
    """

    tile_update: float
    tile_fill: float
    row_in_l2: float
    row_beyond_l2: float
    c_tiles: float
    c_rows: float
    row_panels: float
    pack_panels: float


#: Fitted on an Intel Xeon (Sapphire Rapids, 48 KiB L1d, 2 MiB L2) by
#: ``scripts/rosko_fit_path_costs.py`` (it says how): non-negative least squares, relative errors,
#: of :func:`path_seconds` to the three variants' one-thread CPU times (median of 7) on
#: 2048 x 2048 random and SmolLM2-135M ffn_up (1536 x 576) and ffn_down (576 x 1536) problems
#: times 256 columns (B on a cache line) at 70, 80, 90, 95, 98, 99 and 99.9% sparsity, each ISA
#: forced, with the 64 x 128 tiles of :func:`choose_mr_nr` and 128-column row panels, on a
#: machine shared with other jobs. The model picked the fastest variant in 20 of 21 problems on
#: each ISA; where it missed, another was 1.10-1.11x faster. The portable path uses AVX2's costs
#: (both are vector loops; only the ratio of the paths matters). Refit with
#: ``scripts/rosko_fit_path_costs.py --isa avx512 avx2 --out fit.json`` after a kernel change.
PATH_COSTS: dict[str, PathCosts] = {
    "avx512": PathCosts(0.0271, 0.0422, 0.0326, 0.0454, 0.2886, 0.1861, 0.0264, 0.4463),
    "avx2": PathCosts(0.0382, 0.0417, 0.0403, 0.0499, 0.375, 0.1622, 0.0361, 0.4866),
    "portable": PathCosts(0.0382, 0.0417, 0.0403, 0.0499, 0.375, 0.1622, 0.0361, 0.4866),
}


#: Widest B panel of the row path (columns; 8 AVX-512 or 16 AVX2 vectors of accumulators).
ROW_PANEL_MAX = 128


def choose_row_panel(k: int, vector_width: int = 8, caches: dict[str, int] | None = None) -> int:
    """Columns per B panel of the row path: the widest multiple of 16 floats (a cache line, a
    multiple of every ISA's vector width), at most :data:`ROW_PANEL_MAX`, whose ``K x panel``
    floats fill at most half of L2 (the rest: the A stream, C on its way out); at least 16 (or
    one vector, if wider)."""
    step = max(16, vector_width)
    l2 = (caches or cache_sizes())["L2"]
    fit = int(0.5 * l2 / (_FLOAT * max(k, 1)))
    return max(step, min(ROW_PANEL_MAX, fit - fit % step))


def path_seconds(
    m: int,
    k: int,
    n: int,
    nnz: int,
    *,
    mr: int,
    n_kb: int,
    isa: str,
    caches: dict[str, int] | None = None,
) -> dict[str, float]:
    """Model times (seconds, one thread) of the ``"tiles"`` and ``"rows"`` paths, and of the row
    path over B packed into panels (``"rows_panels"``, only when ``N`` is wider than one panel of
    :func:`choose_row_panel`: narrower, the in-place rows are already contiguous).

    ``tiles = nnz N (tile_update + tile_fill / max(1, d MR)) + M N n_kb' c_tiles`` with ``n_kb'``
    the k blocks (at least one; a C tile is revisited once per block), ``rows = nnz N row_B +
    M N c_rows`` with ``row_B`` by whether B (``4 K N`` bytes) fits in 3/4 of L2, and
    ``rows_panels = nnz N row_panels + M N c_rows + K N pack_panels``.

    Raises
    ------
    ValueError
        On an unknown ``isa`` or negative sizes.
    """
    if isa not in PATH_COSTS:
        raise ValueError(f"unknown isa {isa!r}; valid: {', '.join(PATH_COSTS)}")
    if min(m, k, n, nnz) < 0:
        raise ValueError(f"invalid sizes m={m}, k={k}, n={n}, nnz={nnz}: must be >= 0")
    c = PATH_COSTS[isa]
    caches = caches or cache_sizes()
    density = nnz / (m * k) if m * k else 0.0
    reuse = max(1.0, density * mr)
    fits = _FLOAT * k * n <= 0.75 * caches["L2"]
    tiles = nnz * n * (c.tile_update + c.tile_fill / reuse) + m * n * max(1, n_kb) * c.c_tiles
    rows = nnz * n * (c.row_in_l2 if fits else c.row_beyond_l2) + m * n * c.c_rows
    est = {"tiles": 1e-9 * tiles, "rows": 1e-9 * rows}
    if n > choose_row_panel(k, caches=caches):
        panels = nnz * n * c.row_panels + m * n * c.c_rows + k * n * c.pack_panels
        est["rows_panels"] = 1e-9 * panels
    return est


def choose_path(
    m: int, k: int, n: int, nnz: int, *, mr: int, n_kb: int, isa: str,
    caches: dict[str, int] | None = None,
) -> str:  # fmt: skip
    """``"rows"`` or ``"tiles"``: the path :func:`path_seconds` predicts faster (ties: tiles;
    the row path's time is the faster of in place and over panels)."""
    est = path_seconds(m, k, n, nnz, mr=mr, n_kb=n_kb, isa=isa, caches=caches)
    rows = min(est["rows"], est.get("rows_panels", est["rows"]))
    return "rows" if rows < est["tiles"] else "tiles"
