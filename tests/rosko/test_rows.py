"""Rosko's row path (CSR-like, each row of C in registers) and the plan that chooses it.

Oracles: scipy.sparse products in float64, hand-made matrices, and the cost model's closed form
evaluated by hand."""

import numpy as np
import pytest
import scipy.sparse as sp

import mlroundup.rosko.matmul as matmul
import mlroundup.rosko.tiling as tiling
from mlroundup.kernels import build
from mlroundup.rosko import available_isas, pack, spmm, spmm_plan
from mlroundup.rosko.codegen import ISAS, generate_rows, row_vectors, rows_kernel_name
from mlroundup.rosko.tiling import PathCosts, choose_path, path_seconds

from .test_spmm import _assert_close, _random, _reference

RUNNABLE = available_isas()


def _widths(isa):
    """Column counts that reach every block of the generated kernel: the widest block, each
    smaller power-of-two block, the scalar tail, and N below one vector (from the ISA's spec)."""
    spec = ISAS[isa]
    w, v = spec.width, row_vectors(spec)
    full = v * w
    return sorted({1, max(1, w - 1), w, w + 3, full, full + w + 1, 2 * full + 3 * w + (w - 1)})


@pytest.mark.parametrize("isa", RUNNABLE)
def test_rows_match_scipy_on_odd_shapes(isa, monkeypatch):
    monkeypatch.setattr(matmul, "ROW_SECONDS_PER_THREAD", 1e-30)  # small products: every thread
    rng = np.random.default_rng(11)
    for m, k, density in [(1, 1, 1.0), (7, 5, 0.5), (67, 131, 0.1), (130, 257, 0.02)]:
        a = _random(m, k, density, seed=m)
        w = pack(a)
        for n in _widths(isa):
            b = rng.standard_normal((k, n)).astype(np.float32)
            ref = _reference(a, b)
            for threads in (1, 2, 3):
                plan = spmm_plan(w, n, isa=isa, threads=threads, path="rows")
                assert plan.path == "rows" and plan.threads == min(threads, m)
                tasks = 1 if plan.threads == 1 else min(m, matmul.TASKS_PER_THREAD * plan.threads)
                assert plan.split.size == tasks + 1 and plan.split[-1] == m
                _assert_close(spmm(w, b, isa=isa, threads=threads, path="rows"), ref, a, b)


@pytest.mark.parametrize("isa", RUNNABLE)
def test_rows_empty_rows_stale_out_and_nan(isa):
    rng = np.random.default_rng(12)
    dense = rng.standard_normal((40, 30)).astype(np.float32)
    dense[::3] = 0  # empty rows: written as zeros
    dense[:, ::4] = 0  # empty columns: those B rows are never read
    b = rng.standard_normal((30, 37)).astype(np.float32)
    b[0] = np.nan  # column 0 of A is empty, so the NaN row of B reaches nothing
    out = np.full((40, 37), 7.0, np.float32)
    c = spmm(dense, b, out, isa=isa, path="rows")
    assert c is out and np.all(c[::3] == 0) and not np.isnan(c).any()
    clean = np.where(np.isnan(b), 0, b)
    _assert_close(
        c, dense.astype(np.float64) @ clean.astype(np.float64), sp.csr_array(dense), clean
    )
    b[4, 5] = np.inf  # column 4 is stored in some rows: those rows get inf or nan in column 5
    c = spmm(dense, b, isa=isa, path="rows")
    hit = dense[:, 4] != 0
    assert np.all(~np.isfinite(c[hit, 5])) and np.all(np.isfinite(c[~hit, 5]))


@pytest.mark.parametrize("isa", RUNNABLE)
def test_rows_read_any_strides_of_b(isa):
    rng = np.random.default_rng(13)
    a = _random(50, 60, 0.2, seed=6)
    base = rng.standard_normal((120, 90)).astype(np.float32)
    for b in (base[:60], np.asfortranarray(base[:60]), base[::2], base[:60][::-1], base[:60, ::3]):
        _assert_close(spmm(pack(a), b, isa=isa, path="rows"), _reference(a, b), a, b)


@pytest.mark.parametrize("isa", RUNNABLE)
def test_rows_copy_misaligned_b_when_its_rows_are_reused(isa):
    """B views starting 4 and 16 bytes past a cache line, and with a row stride that is not a
    multiple of 64 bytes: the plan copies B (aligned) only when each row of B serves at least
    ROW_ALIGN_MIN_USES nonzeros; every variant matches the float64 product."""
    rng = np.random.default_rng(15)
    raw = rng.standard_normal(200 * 80 + 64).astype(np.float32)
    start = (-raw.ctypes.data % 64) // 4
    for density, copies in [(0.5, True), (0.02, False)]:
        a = _random(90, 80, density, seed=7)
        w = pack(a)
        expect = w.nnz >= matmul.ROW_ALIGN_MIN_USES * 80
        assert expect == copies
        assert spmm_plan(w, 37, isa=isa, path="rows").pack_b == copies
        for off in (0, 1, 4):
            b = raw[start + off : start + off + 80 * 37].reshape(80, 37)  # 148-byte rows
            assert matmul._rows_aligned(b) is False
            _assert_close(spmm(w, b, isa=isa, threads=2, path="rows"), _reference(a, b), a, b)
            b = raw[start + off : start + off + 80 * 48].reshape(80, 48)  # 192-byte rows
            assert matmul._rows_aligned(b) is (off == 0)
            _assert_close(spmm(w, b, isa=isa, threads=2, path="rows"), _reference(a, b), a, b)
    copy = matmul._aligned_rows(raw[start + 1 : start + 1 + 80 * 37].reshape(80, 37))
    assert matmul._rows_aligned(copy) and copy.strides[0] == 48 * 4
    np.testing.assert_array_equal(copy, raw[start + 1 : start + 1 + 80 * 37].reshape(80, 37))


def test_both_paths_agree_and_the_plan_is_the_models_argmin():
    """Oracle for the choice: path_seconds' two numbers, compared here."""
    rng = np.random.default_rng(14)
    for density in (0.002, 0.05, 0.5):
        a = _random(300, 400, density, seed=int(1000 * density))
        w = pack(a)
        b = rng.standard_normal((400, 70)).astype(np.float32)
        ref = _reference(a, b)
        plan = spmm_plan(w, 70, threads=2)
        est = path_seconds(300, 400, 70, w.nnz, mr=w.mr, n_kb=w.n_kb, isa=plan.isa)
        best = min(est, key=est.get)
        assert plan.path == ("tiles" if best == "tiles" else "rows")
        assert bool(plan.panel) == (best == "rows_panels")
        assert plan.reason == "model" and plan.model_seconds == est
        assert plan.path in plan.describe()
        for path in (None, "rows", "tiles"):
            _assert_close(spmm(w, b, threads=2, path=path), ref, a, b)
    # tile parameters given: the tile path, which they describe
    assert spmm_plan(pack(_random(30, 40, 0.001, seed=1)), 8).path == "rows"
    assert matmul._plan(pack(_random(30, 40, 0.001, seed=1)), 8, 1, RUNNABLE[0], 64, None, None,
                        None, True, None).path == "tiles"  # fmt: skip


def test_path_model_closed_form():
    """path_seconds against the formula evaluated by hand with planted costs and caches."""
    costs = PathCosts(tile_update=1.0, tile_fill=8.0, row_in_l2=2.0, row_beyond_l2=3.0,
                      c_tiles=5.0, c_rows=1.0, row_panels=1.5, pack_panels=4.0)  # fmt: skip
    caches = {"L1": 1 << 15, "L2": 1 << 20, "L3": 1 << 25}
    m, k, n, nnz, mr = 100, 200, 64, 1000, 16  # d = 0.05, d*MR = 0.8 -> reuse 1
    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(tiling.PATH_COSTS, "avx2", costs)
        got = path_seconds(m, k, n, nnz, mr=mr, n_kb=2, isa="avx2", caches=caches)
        # B = 4*200*64 = 51 KB fits in 3/4 of 1 MiB: row_in_l2
        assert got["tiles"] == pytest.approx(1e-9 * (nnz * n * (1 + 8 / 1) + m * n * 2 * 5))
        assert got["rows"] == pytest.approx(1e-9 * (nnz * n * 2 + m * n * 1))
        # panels: 1/2 of L2 / (4 * 200) = 655 floats -> 128 columns, wider than N = 64: none
        assert "rows_panels" not in got
        wide = path_seconds(m, k, 300, nnz, mr=mr, n_kb=2, isa="avx2", caches=caches)
        assert wide["rows_panels"] == pytest.approx(
            1e-9 * (nnz * 300 * 1.5 + m * 300 * 1 + k * 300 * 4)
        )
        assert tiling.choose_row_panel(k, caches=caches) == 128
        assert tiling.choose_row_panel(5000, caches=caches) == 16 * (524288 // 20000 // 16)
        assert tiling.choose_row_panel(10**6, caches=caches) == 16
        big = path_seconds(m, 10_000, n, nnz, mr=mr, n_kb=1, isa="avx2", caches=caches)
        assert big["rows"] == pytest.approx(1e-9 * (nnz * n * 3 + m * n * 1))  # B beyond L2
        # reuse d*MR = 0.05 * 200 = 10 with mr=200: the fill cost is divided by 10
        r = path_seconds(m, k, n, nnz, mr=200, n_kb=1, isa="avx2", caches=caches)
        assert r["tiles"] == pytest.approx(1e-9 * (nnz * n * (1 + 0.8) + m * n * 5))
        assert choose_path(m, k, n, nnz, mr=mr, n_kb=2, isa="avx2", caches=caches) == "rows"
        assert choose_path(m, k, n, 20_000, mr=200, n_kb=1, isa="avx2", caches=caches) == "tiles"


def test_row_path_errors_are_clear():
    w = pack(_random(10, 8, 0.5, seed=9))
    b = np.ones((8, 4), np.float32)
    with pytest.raises(ValueError, match="invalid path"):
        spmm(w, b, path="csr")
    with pytest.raises(ValueError, match="invalid path"):
        spmm_plan(w, 4, path="csr")
    with pytest.raises(TypeError, match="PackedSparse"):
        spmm_plan(np.eye(3), 4)
    with pytest.raises(ValueError, match="invalid n"):
        spmm_plan(w, 0)
    with pytest.raises(ValueError, match="unknown isa"):
        path_seconds(1, 1, 1, 1, mr=8, n_kb=1, isa="sse9")
    with pytest.raises(ValueError, match="vectors"):
        generate_rows(ISAS["avx2"], 0)


@pytest.mark.parametrize("isa", list(ISAS))
def test_every_isa_row_kernel_compiles(isa, tmp_path):
    """The row kernels compile for every ISA, including ones this CPU cannot run."""
    spec = ISAS[isa]
    vectors = row_vectors(spec)
    src = generate_rows(spec, vectors)
    name = rows_kernel_name(spec, vectors)
    assert src.startswith(f"/* {name}: generated by mlroundup.rosko.codegen (rows template")
    assert f"blk{vectors}(" in src and "blk1(" in src
    assert build.build(src, name, spec.flags, cache_dir=tmp_path).path.is_file()


@pytest.mark.parametrize("isa", RUNNABLE)
def test_rows_over_b_panels_match_float64_on_odd_shapes(isa, monkeypatch):
    """The row path over B packed into panels (16 columns here, so small products have many):
    odd M, K, N (a partial last panel, every block of the kernel in a panel), empty rows and
    columns, a fully dense row, 99.9% sparsity, B in any strides, 1-3 threads, with row tasks
    and with one task per panel (narrower panels where that evens the threads' share)."""
    monkeypatch.setattr(tiling, "ROW_PANEL_MAX", 16)
    monkeypatch.setattr(matmul, "ROW_SECONDS_PER_THREAD", 1e-30)
    rng = np.random.default_rng(16)
    mats = []
    for m, k, density in [(37, 53, 0.3), (130, 257, 0.05), (301, 999, 0.001)]:
        dense = _random(m, k, density, seed=m).toarray()
        dense[::5] = 0  # empty rows
        dense[:, ::7] = 0  # empty columns
        dense[1] = rng.standard_normal(k)  # a fully dense row
        mats.append(sp.csr_array(dense.astype(np.float32)))
    by_panel = set()
    for a in mats:
        w, (m, k) = pack(a), a.shape
        for n in (17, 33, 16 * 3 + 5, 131):
            base = rng.standard_normal((k, 2 * n)).astype(np.float32)
            for b in (base[:, :n], np.asfortranarray(base[:, :n]), base[:, ::2]):
                ref = _reference(a, b)
                for threads in (1, 2, 3):
                    plan = spmm_plan(w, n, isa=isa, threads=threads, path="rows")
                    forced = matmul._plan(w, n, threads, isa, None, None, None, True,
                                          b.strides[1] == 4, "rows")  # fmt: skip
                    assert forced.pack_b and forced.path == "rows"
                    if forced.panel_tasks:  # panels divide evenly among the threads
                        by_panel.add(threads)
                        assert forced.panel <= 16 and forced.panel % matmul.ISAS[isa].width == 0
                        assert -(-n // forced.panel) % threads == 0
                    else:
                        assert forced.panel == 16
                    assert plan.panel <= 16
                    out = np.full((m, n), np.nan, np.float32)  # every element written
                    c = spmm(w, b, out, isa=isa, threads=threads, path="rows", pack_b=True)
                    _assert_close(c, ref, a, b)
                    _assert_close(spmm(w, b, isa=isa, threads=threads, path="rows",
                                       pack_b=False), ref, a, b)  # fmt: skip
    assert by_panel == {2, 3}  # both thread counts took the one-task-per-panel mode


def test_panel_tasks_widths():
    """One task per panel only with several threads and a panel count that is a multiple of
    them (worked by hand): 256 columns on 2 threads -> two panels of 128; 257 -> ceil(257/4) =
    65, rounded up to 80 (16-float vectors), four panels; 3 threads over 256 -> ceil(256/3) = 86
    -> 96, three panels; one thread, or N within one vector: row tasks (0)."""
    assert matmul._panel_tasks(256, 128, 2, 16) == 128
    assert matmul._panel_tasks(257, 128, 2, 16) == 80
    assert matmul._panel_tasks(256, 128, 3, 16) == 96
    assert matmul._panel_tasks(256, 128, 1, 16) == 0
    assert matmul._panel_tasks(16, 128, 2, 16) == 0
