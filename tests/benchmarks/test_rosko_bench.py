"""Bookkeeping of ``mlroundup bench rosko`` (oracles: hand-made sweeps with known minima, planted
timings and the roofline's closed form, products against a float64 reference)."""

import numpy as np
import pytest

import mlroundup.rosko.bench as rkb
from mlroundup.rosko.compare import PEERS

from .fakes import PlantedContext


def test_goal_notes_by_hand():
    points = [(50, 3.0, 0.5), (70, 1.2, 1.1), (90, 2.0, 3.0), (99, 1.6, None), (99.9, None, 9.0)]
    note = rkb._goal_notes(points)
    assert "at >= 90% sparsity: 1.60x" in note  # min(2.0, 1.6); 99.9% has no MKL value
    assert "at >= 70% sparsity: 1.20x" in note
    assert "faster than dense BLAS from 70%" in note
    assert "1.60x at 99% (goal 1.5x: met)" in note and "1.20x at 70% (goal > 1x: met)" in note
    assert "missed" not in note  # 99% has no dense value; every other point >= 75% wins
    short = rkb._goal_notes([(70, 0.9, 0.8), (80, 1.1, 1.2), (95, 1.2, 0.5)])
    assert "1.20x at 95% (goal 1.5x: short by 20%)" in short  # 1 - 1.2/1.5
    assert "0.90x at 70% (goal > 1x: short by 10%)" in short
    assert "dense goal (faster from 75%) missed at 95% (0.50x)" in short  # 70% is below 75%
    assert "slower than dense BLAS at every" in rkb._goal_notes([(50, None, 0.9)])


M, K, N, NNZ = 100, 200, 10, 2000  # sparsity 90%
MS = {"rosko": 1.0, "mkl": 3.0, "torch_csr": 4.0, "scipy": 5.0, "numpy_dense": 2.5,
      "torch_dense": 2.0}  # fmt: skip


def _plant(case, system):
    if system.name == "torch_csr":
        return {"status": "unavailable", "reason": "torch not installed"}
    err = 0.5 if system.name == "scipy" else 1e-7
    info = {"shape": [M, K, N], "nnz": NNZ, "label": "random", "max_rel_error": err}
    if system.name == "rosko":
        info["path"] = "rows"
    return {"wall": [MS[system.name] * 1e-3] * 3, "info": info}


def test_tables_from_planted_timings():
    ctx = PlantedContext(_plant)
    spec = {"kind": "random", "m": M, "k": K, "n": N, "sparsity": 0.9, "seed": 0}
    rkb._measure_set(ctx, "tiny", [spec], 3, bandwidth=10.0)
    (case,) = ctx.cases
    assert [s.name for s in case.systems] == list(PEERS) and case.label == "random at 90%"
    assert [s.name for s in case.systems if s.ours] == ["rosko"]
    times, ours = ctx.report.tables
    assert times.rows == [["random", "100x200x10", 90.0, 1.0, 3.0, None, 5.0, 2.5, 2.0]]
    got = dict(zip(rkb.OURS_COLUMNS, ours.rows[0], strict=True))
    t = 1e-3
    assert got["GFLOP/s nnz"] == pytest.approx(2 * NNZ * N / t / 1e9)
    assert got["GFLOP/s dense-eq"] == pytest.approx(2 * M * K * N / t / 1e9)
    assert got["x mkl"] == pytest.approx(3.0) and got["x torch_csr"] is None
    assert got["path"] == "rows"  # the plan rosko's child reported
    assert got["x dense"] == pytest.approx(2.0)  # the faster dense peer, torch's 2 ms
    # roofline: 8 B per nonzero, B read and C written in float32, at 10 GB/s
    assert got["% roofline"] == pytest.approx(100 * (8 * NNZ + 4 * K * N + 4 * M * N) / 10e9 / t)
    assert any("scipy disagrees" in n for n in ctx.report.notes)
    assert any("torch_csr unavailable" in n for n in ctx.report.notes)


def test_peer_setups_compute_the_product():
    """Each side's check against float64 is small on a tiny problem, and its step gives A @ B."""
    spec = {"kind": "random", "m": 40, "k": 64, "n": 8, "sparsity": 0.8, "seed": 3}
    prob = rkb.build_problem(spec)
    ref = prob.a.astype(np.float64) @ prob.b.astype(np.float64)
    for peer in ("rosko", "scipy", "numpy_dense"):
        work = rkb.peer_setup(threads=1, peer=peer, problem=spec)
        assert work.info["max_rel_error"] < 1e-5
        assert work.info["nnz"] == prob.a.nnz and work.info["shape"] == [40, 64, 8]
        if peer == "rosko":
            assert work.info["path"] in ("rows", "tiles")
            assert work.info["plan"].startswith(work.info["path"])
        got = np.asarray(work.step())
        np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-4)


def test_unknown_problem_kind_is_refused():
    with pytest.raises(ValueError, match="kind"):
        rkb.build_problem({"kind": "banded", "seed": 0})


def test_problem_b_starts_on_a_cache_line():
    for seed in range(4):  # fresh arrays land at varying multiples of 16 bytes without alignment
        spec = {"kind": "random", "m": 30, "k": 50 + seed, "n": 7, "sparsity": 0.5, "seed": seed}
        assert rkb.build_problem(spec).b.ctypes.data % 64 == 0


def test_peers_get_avx2_only_when_our_kernels_do(monkeypatch):
    """Oracle: the variable's patterns by hand; names the user set are never overridden."""
    from mlroundup.benchmarks.harness import original_environ
    from mlroundup.utils.cpu import DISABLE_ENV

    user = original_environ()
    want = {k: v for k, v in rkb.AVX2_PEER_ENV.items() if k not in user}
    for value, expect in [("avx512*", want), ("avx512f,avx512bw", want), ("sse4_2", {}),
                          ("avx512bw", {}), ("", {})]:  # fmt: skip
        monkeypatch.setenv(DISABLE_ENV, value)
        assert rkb.peer_env() == expect, value
        case = rkb._case("x", {"kind": "random"}, PEERS, 1, 1)
        for system in case.systems:
            assert dict(system.env) == ({} if system.name == "rosko" else expect)
