"""Tiling model (oracle: the closed forms worked by hand), packing format, comparison harness."""

import math

import numpy as np
import pytest
import scipy.sparse as sp

from mlroundup.rosko import pack
from mlroundup.rosko.compare import (
    PEERS,
    Problem,
    magnitude_prune,
    random_sparse,
    time_peers,
)
from mlroundup.rosko.tiling import (
    block_sizes,
    choose_kc,
    choose_mc_nc,
    choose_mr_nr,
    choose_nr,
    roofline_seconds,
)

CACHES = {"L1": 32 * 1024, "L2": 512 * 1024, "L3": 32 * 1024 * 1024}


def test_microkernel_shape_fills_two_thirds_of_l1():
    # NR = 16 vectors of 8 floats = 128; MR*128*4 bytes <= 2/3 of 32 KiB -> 42.7 -> MR = 40
    assert choose_mr_nr(0.1, 8, CACHES) == (40, 128)
    # AVX-512: NR = 8 vectors of 16 = 128 -> MR = 40; a 48 KiB L1: 2/3 * 12288 / 128 = 64
    assert choose_mr_nr(0.1, 16, CACHES) == (40, 128)
    assert choose_mr_nr(0.1, 16, {**CACHES, "L1": 48 * 1024}) == (64, 128)
    with pytest.raises(ValueError, match="density"):
        choose_mr_nr(1.5)


def test_nr_pads_the_fewest_columns():
    # padded widths: n=256 -> 256 either way (ties: 128); 192 -> 256 vs 192; 100 -> 128 both;
    # 64 -> 128 vs 64; 1 -> 128 vs 64; 300 -> 384 vs 320
    for n, nr in [(256, 128), (192, 64), (100, 128), (64, 64), (1, 64), (300, 64), (512, 128)]:
        assert choose_nr(n, 8) == nr, n
        assert choose_nr(n, 16) == nr, n


def test_kc_closed_form():
    # L2 = 131072 floats; d=0.1, MR=NR=64: (131072 - 4096) / (2*0.1*64 + 64) = 1653.3
    assert choose_kc(4096, 0.1, mr=64, nr=64, caches=CACHES) == 1653
    # d*MR < 1 (d=0.001): KC grows by 1/(d*MR) and is clamped to K
    assert choose_kc(4096, 0.001, mr=64, nr=64, caches=CACHES) == 4096
    assert choose_kc(300, 0.5, mr=64, nr=64, caches=CACHES) == 300


def test_mc_nc_closed_form():
    # p=2, d=0.1, KC=1653, NR=64: a=4, b=3*0.1*2*1653=991.8, c=8388608-64*1653=8282816
    a, b, c = 4, 991.8, 8388608 - 64 * 1653
    mc = int((-b + math.sqrt(b * b + 4 * a * c)) / (2 * a))
    mc -= mc % 64
    mc_model, nc_model = choose_mc_nc(10**6, 512, 1653, 0.1, threads=2, mr=64, nr=64, caches=CACHES)
    assert mc_model == mc == 1280
    assert nc_model == 2 * mc - (2 * mc) % 64
    # small M: shrink MC to ceil(M / p) rounded up to MR so both threads get work
    assert choose_mc_nc(300, 512, 100, 0.1, threads=2, mr=64, nr=64, caches=CACHES)[0] == 192
    sizes = block_sizes(4096, 4096, 512, 0.1, threads=2, caches=CACHES)
    # MR = 40, NR = 128: KC = (131072 - 40*128) / (2*0.1*40 + 128) = 926.1; MC from the quadratic
    # with b = 3*0.1*2*926 = 555.6, c = 8388608 - 128*926: 1370.7 -> 1360 (a multiple of 40)
    assert (sizes.mr, sizes.nr, sizes.kc, sizes.mc) == (40, 128, 926, 1360)


def test_prefetch_only_when_columns_are_sparser_than_one_nonzero():
    from mlroundup.rosko.tiling import PREFETCH_DISTANCE, choose_prefetch

    assert choose_prefetch(0.01, 64) == PREFETCH_DISTANCE  # 0.64 nonzeros per tile column
    assert choose_prefetch(0.02, 64) == 0  # 1.28


def test_roofline():
    # 10 nonzeros (80 B) + B 2x3 floats (24 B) + C 4x3 floats (48 B) = 152 B at 1 GB/s
    assert roofline_seconds(4, 2, 3, 10, 1.0) == pytest.approx(152e-9)


def test_packed_layout_by_hand():
    a = np.array(
        [[0, 2, 0, 0, 5], [1, 0, 0, 0, 0], [0, 3, 0, 4, 0]],
        dtype=np.float32,
    )
    w = pack(a, mr=2, kc=3)  # panels: rows {0,1}, {2}; column blocks {0,1,2}, {3,4}
    # tiles in order (kb, panel): (0,0): col0 row1 -> 1; col1 row0 -> 2 | (0,1): col1 -> 3
    #                             (1,0): col4 row0 -> 5 | (1,1): col3 -> 4
    np.testing.assert_array_equal(w.values, [1, 2, 3, 5, 4])
    np.testing.assert_array_equal(w.index, [(0 << 8) | 1, (1 << 8) | 0, (1 << 8) | 0,
                                            (1 << 8) | 0, (0 << 8) | 0])  # fmt: skip
    np.testing.assert_array_equal(w.tile_ptr, [0, 2, 3, 4, 5])
    np.testing.assert_array_equal(w.panel_nnz, [3, 2])
    np.testing.assert_array_equal(w.to_scipy().toarray(), a)
    assert not w.values.flags.writeable


def test_random_sparse_and_magnitude_prune():
    a = random_sparse(100, 50, 0.9, seed=0)
    assert a.nnz == 500 and a.dtype == np.float32
    w = np.arange(1, 101, dtype=np.float32).reshape(10, 10) * np.where(
        np.arange(100) % 2, 1, -1
    ).reshape(10, 10)
    p = magnitude_prune(w, 0.7)
    assert p.nnz == 30
    # the 30 survivors are the 30 largest magnitudes: |w| in 71..100
    assert set(np.abs(p.data).astype(int)) == set(range(71, 101))


def test_time_peers_runs_every_available_peer():
    rng = np.random.default_rng(0)
    prob = Problem(
        "t", random_sparse(64, 48, 0.8, seed=1), rng.standard_normal((48, 16)).astype(np.float32)
    )
    times, missing = time_peers(
        prob, threads=2, repeats=1
    )  # also checks every result (oracle: f64)
    assert set(times) == set(PEERS)
    for name, t in times.items():
        assert (t is None) == (name in missing)
    assert times["rosko"] > 0 and times["scipy"] > 0
    with pytest.raises(ValueError, match="unknown peer"):
        time_peers(prob, threads=1, repeats=1, peers=("rosko", "cusparse"))
    cpu, _ = time_peers(prob, threads=1, repeats=1, peers=("rosko", "scipy"), cpu=True)
    assert set(cpu) == {"rosko", "scipy"} and cpu["rosko"] >= 0
    with pytest.raises(ValueError, match="threads=1"):
        time_peers(prob, threads=2, repeats=1, peers=("rosko",), cpu=True)


def test_csr_input_is_not_modified():
    a = sp.coo_array((np.ones(3, np.float32), ([0, 0, 1], [1, 1, 0])), shape=(2, 2))
    before = (a.row.copy(), a.col.copy(), a.data.copy())
    pack(a)
    for x, y in zip(before, (a.row, a.col, a.data), strict=True):
        np.testing.assert_array_equal(x, y)


def test_aligned_copy_starts_on_the_boundary_and_equals_the_input():
    from mlroundup.rosko.compare import aligned

    x = np.arange(3 * 37, dtype=np.float32).reshape(3, 37)[:, 1:]  # not contiguous
    for alignment in (16, 64, 4096):
        y = aligned(x, alignment)
        assert y.ctypes.data % alignment == 0 and y.flags.c_contiguous
        np.testing.assert_array_equal(y, x)
    with pytest.raises(ValueError, match="alignment"):
        aligned(x, 6)
