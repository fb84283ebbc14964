"""Rosko SpMM correctness (oracle: scipy.sparse products in float64, and NumPy dense math)."""

import os

import numpy as np
import pytest
import scipy.sparse as sp

import mlroundup.rosko.matmul as matmul
from mlroundup.kernels import build
from mlroundup.rosko import available_isas, isa_supported, pack, spmm
from mlroundup.rosko.codegen import ISAS, generate, kernel_name

RUNNABLE = available_isas()  # e.g. ["avx2", "portable"]; "portable" is always there


def _reference(a, b):
    """float64 scipy product: the oracle (stored entries only, duplicates summed)."""
    a64 = sp.csr_array(a).astype(np.float64)
    return np.asarray(a64 @ b.astype(np.float64))


def _assert_close(c, ref, a, b):
    # float32 accumulation error bound: ~K * eps * sum|a||b| per entry
    scale = np.abs(sp.csr_array(a).astype(np.float64)) @ np.abs(b.astype(np.float64))
    k = b.shape[0]
    tol = 4 * max(k, 1) * np.finfo(np.float32).eps * scale + 1e-30
    assert c.shape == ref.shape and c.dtype == np.float32
    assert np.all(np.abs(c - ref) <= tol), np.max(np.abs(c - ref) - tol)


def _random(m, k, density, seed, fmt="csr"):
    return sp.random_array((m, k), density=density, format=fmt, dtype=np.float32, random_state=seed)


@pytest.mark.parametrize("isa", RUNNABLE)
@pytest.mark.parametrize(
    "m,k,n,density",
    [
        (1, 1, 1, 1.0),
        (7, 5, 3, 0.5),
        (67, 131, 29, 0.1),
        (130, 257, 65, 0.02),
        (64, 64, 128, 1.0),
        (200, 300, 70, 0.005),  # d*MR < 1: the prefetching kernel
        (50, 40, 200, 0.2),  # NR = 128 with a partial last panel
    ],
)
def test_matches_scipy_odd_shapes(isa, m, k, n, density):
    rng = np.random.default_rng(m * 1000 + n)
    a = _random(m, k, density, seed=m)
    b = rng.standard_normal((k, n)).astype(np.float32)
    for threads in (1, 2):
        for pack_b in (True, False):
            c = spmm(pack(a), b, isa=isa, threads=threads, pack_b=pack_b)
            _assert_close(c, _reference(a, b), a, b)


@pytest.mark.parametrize("isa", RUNNABLE)
def test_every_thread_count_on_the_pool_matches_scipy(isa, monkeypatch):
    """Small problems normally run on one thread; with the work cap lifted, 2..5 threads of the
    shared pool split odd shapes (B packed in one parallel step, rows computed in the next)."""
    monkeypatch.setattr(matmul, "WORK_PER_THREAD", 1)
    rng = np.random.default_rng(5)
    for m, k, n, density in [(67, 131, 29, 0.1), (300, 257, 65, 0.02), (1000, 90, 130, 0.3)]:
        a = _random(m, k, density, seed=m)
        b = rng.standard_normal((k, n)).astype(np.float32)
        ref = _reference(a, b)
        w = pack(a, mr=8)
        for threads in (2, 3, 5):
            for pack_b in (True, False):
                _assert_close(spmm(w, b, isa=isa, threads=threads, pack_b=pack_b), ref, a, b)


def test_repeated_calls_start_no_threads(monkeypatch):
    """Oracle: the kernel's list of this process's threads (/proc/self/task) stays the same."""
    monkeypatch.setattr(matmul, "WORK_PER_THREAD", 1)
    a = pack(_random(200, 100, 0.1, seed=3), mr=8)
    b = np.ones((100, 40), np.float32)
    spmm(a, b, threads=3)
    before = len(os.listdir("/proc/self/task"))
    for _ in range(100):
        spmm(a, b, threads=3)
    assert len(os.listdir("/proc/self/task")) == before


@pytest.mark.parametrize("isa", RUNNABLE)
def test_tile_sizes_do_not_change_the_result(isa):
    """Invariance: every (mr, kc, nr, mc, nc) gives the same product as the oracle."""
    rng = np.random.default_rng(1)
    a = _random(100, 90, 0.15, seed=2)
    b = rng.standard_normal((90, 70)).astype(np.float32)
    ref = _reference(a, b)
    width = ISAS[isa].width
    for mr, kc in [(1, 1), (3, 7), (8, 90), (64, 33), (255, 1000)]:
        w = pack(a, mr=mr, kc=kc)
        for nr in sorted({max(width, 16), 64, 128}):
            for mc, nc in [(mr, nr), (mr * 3, nr * 2), (mr * 50, nr * 10)]:
                c = spmm(w, b, isa=isa, threads=2, nr=nr, mc=mc, nc=nc)
                _assert_close(c, ref, a, b)


def test_empty_rows_columns_and_all_zero():
    rng = np.random.default_rng(3)
    dense = rng.standard_normal((40, 30)).astype(np.float32)
    dense[::3] = 0  # empty rows
    dense[:, ::4] = 0  # empty columns
    b = rng.standard_normal((30, 20)).astype(np.float32)
    c = spmm(dense, b)
    _assert_close(c, dense.astype(np.float64) @ b.astype(np.float64), sp.csr_array(dense), b)
    assert np.all(c[::3] == 0)

    zero = sp.csr_array((40, 30), dtype=np.float32)
    b_nan = b.copy()
    b_nan[0, 0] = np.nan
    out = np.full((40, 20), 7.0, np.float32)  # stale contents are overwritten
    assert spmm(pack(zero), b_nan, out) is out
    assert np.all(out == 0)  # no stored entry: 0, as scipy (dense math would give NaN in col 0)


def test_fully_dense_a_matches_numpy():
    rng = np.random.default_rng(4)
    a = rng.standard_normal((33, 47)).astype(np.float32)
    b = rng.standard_normal((47, 19)).astype(np.float32)
    w = pack(a)
    assert w.nnz == a.size and w.density == 1.0
    c = spmm(w, b)
    np.testing.assert_allclose(c, a.astype(np.float64) @ b.astype(np.float64), rtol=1e-4, atol=1e-4)


def test_duplicate_coo_entries_are_summed():
    rows = np.array([0, 0, 2, 2, 2, 1])
    cols = np.array([1, 1, 0, 0, 3, 2])
    vals = np.array([1.0, 2.0, -1.0, 0.5, 4.0, 3.0], dtype=np.float32)
    a = sp.coo_array((vals, (rows, cols)), shape=(3, 4))
    w = pack(a)
    assert w.nnz == 4  # (0,1) and (2,0) merged
    b = np.arange(8, dtype=np.float32).reshape(4, 2)
    expected = np.zeros((3, 2))
    for r, c, v in zip(rows, cols, vals, strict=True):  # hand oracle: add every triple
        expected[r] += v * b[c]
    np.testing.assert_allclose(spmm(w, b), expected, rtol=1e-6)


def test_nan_and_inf_in_b_propagate_through_stored_entries():
    a = sp.csr_array(np.array([[1.0, 0.0, -2.0], [0.0, 3.0, 0.0]], dtype=np.float32))
    b = np.array([[np.inf, 1.0], [np.nan, 2.0], [np.inf, 5.0]], dtype=np.float32)
    c = spmm(pack(a), b)
    # row 0: 1*inf + (-2)*inf = nan; 1*1 - 2*5 = -9.  row 1: 3*nan = nan; 3*2 = 6
    assert np.isnan(c[0, 0]) and c[0, 1] == -9.0
    assert np.isnan(c[1, 0]) and c[1, 1] == 6.0
    with np.errstate(invalid="ignore"):
        np.testing.assert_array_equal(np.isnan(c), np.isnan(_reference(a, b)))


def test_row_and_column_major_and_strided_b():
    rng = np.random.default_rng(5)
    a = _random(50, 60, 0.2, seed=6)
    base = rng.standard_normal((60, 90)).astype(np.float32)
    ref = _reference(a, base)
    for b in (base, np.asfortranarray(base)):
        _assert_close(spmm(pack(a), b), ref, a, base)
    wide = rng.standard_normal((120, 90)).astype(np.float32)
    strided = wide[::2]  # non-contiguous rows
    _assert_close(spmm(pack(a), strided), _reference(a, strided), a, strided)


def test_inputs_other_than_csr():
    rng = np.random.default_rng(7)
    dense = _random(20, 25, 0.3, seed=8).toarray()
    b = rng.standard_normal((25, 6)).astype(np.float32)
    ref = dense.astype(np.float64) @ b
    for a in (sp.csc_array(dense), sp.coo_matrix(dense), dense, dense.astype(np.float64)):
        np.testing.assert_allclose(spmm(a, b), ref, rtol=1e-5, atol=1e-5)
    w = pack(sp.csc_array(dense))
    np.testing.assert_array_equal(w.to_scipy().toarray(), dense)  # pack is lossless for f32
    np.testing.assert_allclose(w @ b, ref, rtol=1e-5, atol=1e-5)  # PackedSparse.__matmul__


def test_errors_are_clear():
    a = pack(_random(10, 8, 0.5, seed=9))
    b = np.ones((8, 4), np.float32)
    with pytest.raises(ValueError, match="shape mismatch"):
        spmm(a, np.ones((9, 4), np.float32))
    with pytest.raises(TypeError, match="float32"):
        spmm(a, b.astype(np.float64))
    with pytest.raises(ValueError, match="2-D"):
        spmm(a, np.ones(8, np.float32))
    with pytest.raises(TypeError, match="NumPy array"):
        spmm(a, [[1.0] * 4] * 8)
    with pytest.raises(ValueError, match="out has shape"):
        spmm(a, b, out=np.empty((10, 5), np.float32))
    with pytest.raises(TypeError, match="out must be a float32"):
        spmm(a, b, out=np.empty((10, 4), np.float64))
    with pytest.raises(ValueError, match="C-contiguous"):
        spmm(a, b, out=np.empty((4, 10), np.float32).T)
    with pytest.raises(ValueError, match="unknown isa"):
        spmm(a, b, isa="sse9")
    with pytest.raises(ValueError, match="threads"):
        spmm(a, b, threads=0)
    with pytest.raises(ValueError, match="nc"):
        spmm(a, b, nc=3)
    with pytest.raises(TypeError, match="float32 or float64"):
        pack(np.ones((3, 3), dtype=np.int64))
    with pytest.raises(ValueError, match="mr"):
        pack(np.ones((3, 3), np.float32), mr=256)
    with pytest.raises(ValueError, match="2-D"):
        pack(np.ones(3, np.float32))


def test_unsupported_isa_is_rejected_not_run():
    missing = [name for name in ISAS if not isa_supported(name)]
    if not missing:
        pytest.skip("this CPU runs every ISA path")
    with pytest.raises(ValueError, match="lacks"):
        spmm(pack(np.eye(4, dtype=np.float32)), np.ones((4, 4), np.float32), isa=missing[0])


@pytest.mark.parametrize("isa", list(ISAS))
def test_every_isa_path_compiles(isa, tmp_path):
    """Generated code compiles for every ISA, including ones this CPU cannot run (e.g. AVX-512)."""
    spec = ISAS[isa]
    for prefetch in (0, 16):
        src = generate(spec, 64, prefetch)
        name = kernel_name(spec, 64, prefetch)
        assert src.startswith(f"/* {name}: generated by mlroundup.rosko.codegen")
        assert ("__builtin_prefetch" in src) == bool(prefetch)
        built = build.build(src, name, spec.flags, cache_dir=tmp_path)
        assert built.path.is_file()


@pytest.mark.skipif(
    not isa_supported("avx512"), reason="CPU lacks avx512f: AVX-512 path compiled, not run"
)
def test_avx512_runs_where_available():
    rng = np.random.default_rng(10)
    a = _random(70, 50, 0.2, seed=11)
    b = rng.standard_normal((50, 40)).astype(np.float32)
    _assert_close(spmm(pack(a), b, isa="avx512"), _reference(a, b), a, b)


def test_empty_dimensions():
    # oracle: the empty sum is 0 (K = 0), and empty shapes stay empty
    c = spmm(pack(np.zeros((3, 0), np.float32)), np.zeros((0, 4), np.float32))
    np.testing.assert_array_equal(c, np.zeros((3, 4), np.float32))
    assert spmm(pack(np.zeros((0, 3), np.float32)), np.ones((3, 4), np.float32)).shape == (0, 4)
    assert spmm(pack(np.ones((3, 3), np.float32)), np.ones((3, 0), np.float32)).shape == (3, 0)
