"""The Rosko experiment: speedup over MKL, SciPy and dense BLAS across sparsity (the paper's headline).

The paper reports "up to a 6.5x runtime reduction" over vendor libraries for sparsities of 65% to
99.8% on Intel and ARM CPUs (abstract; its evaluation sweeps sparsity on random and pruned DNN
matrices), and the authors' repository states that Rosko kernels "outperform Intel and
ARM Dense GEMM and spMM libraries for matrices with sparsities ranging from 75% to 99.8%"
(vnatesh/Rosko README). We measure the same comparison on uniform random matrices: Rosko vs MKL
(``sparse_dot_mkl``), SciPy CSR and dense NumPy/OpenBLAS, across the sweep 50% ... 99.9%.
"""

from __future__ import annotations

from dataclasses import dataclass

from mlroundup.experiments.registry import Experiment, Metric, Paper

PAPER = Paper(
    authors="V. Natesh, A. Sabot, H. T. Kung, M. Ting",
    title="Rosko: Row Skipping Outer Products for Sparse Matrix Multiplication Kernels",
    arxiv="2307.03930",
)

#: Paper values beside ours: the maximum speedup over vendor libraries (abstract), and the lowest
#: sparsity from which Rosko beats dense GEMM and spMM libraries (authors' README).
PAPER_MAX_SPEEDUP_OVER_VENDOR = 6.5
PAPER_BREAK_EVEN_SPARSITY = 75.0


@dataclass(frozen=True)
class Settings:
    """The problem: A (m, k) at each sparsity of ``sparsities`` (fractions of zeros) times a dense
    B (k, n), float32; ``repeats`` timed passes per peer after a warm-up."""

    m: int
    k: int
    n: int
    repeats: int
    sparsities: tuple[float, ...] | None = None  # None: mlroundup.rosko.compare.SPARSITIES


SETTINGS = {
    "quick": Settings(m=2048, k=2048, n=128, repeats=3),
    "paper": Settings(m=4096, k=4096, n=512, repeats=7),
}


def run(ctx):
    import matplotlib.pyplot as plt
    import numpy as np

    from mlroundup.experiments.schema import Outcome, Table
    from mlroundup.rosko.compare import SPARSITIES, Problem, aligned, random_sparse, time_peers
    from mlroundup.rosko.matmul import default_threads

    st = ctx.settings
    m, k, n = st.m, st.k, st.n
    sweep = SPARSITIES if st.sparsities is None else st.sparsities
    threads = default_threads()
    b = aligned(np.random.default_rng(ctx.seed).standard_normal((k, n)).astype(np.float32))
    peers = ("rosko", "mkl", "scipy", "numpy_dense")
    rows, cpu_rows, speed, cpu_mkl, missing = [], [], {p: [] for p in peers[1:]}, [], {}
    for i, s in enumerate(ctx.track(sweep, "sparsity sweep")):
        prob = Problem("random", random_sparse(m, k, s, seed=ctx.seed + i), b)
        times, why = time_peers(prob, threads=threads, repeats=st.repeats, peers=peers)
        missing.update(why)
        t = times["rosko"]
        ratios = {p: (None if times[p] is None else times[p] / t) for p in peers[1:]}
        for p in peers[1:]:
            speed[p].append(ratios[p])
        rows.append([100 * s, *(None if times[p] is None else 1e3 * times[p] for p in peers),
                     *(ratios[p] for p in peers[1:])])  # fmt: skip
        # the same problem on one thread, in CPU time: what a loaded machine cannot distort
        cpu, _ = time_peers(prob, threads=1, repeats=st.repeats, peers=peers,
                            cpu=True, check=False)  # fmt: skip
        c_ratios = [None if cpu[p] is None else cpu[p] / cpu["rosko"] for p in peers[1:]]
        cpu_mkl.append(c_ratios[0])
        cpu_rows.append([100 * s, *(None if cpu[p] is None else 1e3 * cpu[p] for p in peers),
                         *c_ratios])  # fmt: skip

    pct = [100 * s for s in sweep]

    # the paper's claim covers 65% ... 99.8% sparsity: take the maximum over that range only
    def _in_range(ratios):
        return [r for p, r in zip(pct, ratios, strict=True) if r is not None and 65 <= p <= 99.8]

    in_range = _in_range(speed["mkl"])
    max_mkl = max(in_range) if in_range else None
    geo_mkl = float(np.exp(np.mean(np.log(in_range)))) if in_range else None
    cpu_in_range = _in_range(cpu_mkl)
    beats_dense = [p for p, r in zip(pct, speed["numpy_dense"], strict=True) if r and r > 1]
    break_even = min(beats_dense) if beats_dense else None

    fig, ax = plt.subplots(figsize=(6.4, 4))
    x = np.arange(len(pct))
    for p, label in (("mkl", "MKL (sparse_dot_mkl)"), ("scipy", "SciPy CSR"),
                     ("numpy_dense", "dense NumPy/OpenBLAS")):  # fmt: skip
        ys = [np.nan if r is None else r for r in speed[p]]
        ax.plot(x, ys, marker="o", label=f"ours over {label}")
    ax.plot(x, [np.nan if r is None else r for r in cpu_mkl], marker="x", ls=":", color="C0",
            label="ours over MKL, 1 thread, CPU time")  # fmt: skip
    ax.axhline(1.0, color="grey", lw=0.8)
    ax.axhline(PAPER_MAX_SPEEDUP_OVER_VENDOR, color="C3", ls="--", lw=1,
               label="paper: up to 6.5x over vendor libraries")  # fmt: skip
    ax.set_yscale("log")
    ax.set_xticks(x, [f"{p:g}" for p in pct])
    ax.set_xlabel("sparsity of A (%)")
    ax.set_ylabel("speedup of Rosko (x)")
    ax.set_title(f"Rosko SpMM, A {m}x{k} random, B {k}x{n}, {threads} threads")
    ax.legend(fontsize=8)
    fig.tight_layout()

    notes = [
        f"{m}x{k} times {k}x{n}, float32, {threads} threads for Rosko/MKL/BLAS (SciPy: 1); "
        "best of repeats after a warm-up, on a shared machine, so ratios are noisier than on a "
        "quiet one",
        "max_speedup_over_mkl is the maximum over our points in 65%..99.8% (the paper's range); "
        "geometric mean "
        f"over the same points: {geo_mkl:.2f}x"
        if geo_mkl
        else "MKL speedups not measured",
        "The paper's per-sparsity speedups are printed only as figures, on Intel "
        "and ARM CPUs; we compare with its two stated numbers: the maximum (6.5x, abstract) "
        "and the sparsity from which it beats dense and sparse libraries (75%, authors' README). "
        "Our MKL is the 2026 release on an AMD CPU, where MKL may not take its fastest code "
        "paths, so our ratios over MKL may flatter us compared with the paper's Intel runs.",
    ]
    notes += [f"{p} not measured: {w}" for p, w in missing.items()]
    table = Table(
        "Rosko vs MKL, SciPy and dense BLAS across sparsity (ms, and our speedup)",
        [
            "sparsity %",
            "rosko ms",
            "mkl ms",
            "scipy ms",
            "dense ms",
            "x mkl",
            "x scipy",
            "x dense",
        ],  # fmt: skip
        rows,
        note=f"paper: up to {PAPER_MAX_SPEEDUP_OVER_VENDOR}x over vendor libraries; "
        f"beats dense/sparse libraries from {PAPER_BREAK_EVEN_SPARSITY:g}% sparsity",
    )
    cpu_table = Table(
        "the same, one thread each, in process CPU time (robust to a loaded machine)",
        table.columns,
        cpu_rows,
        note="max over MKL in the paper's range: "
        + (f"{max(cpu_in_range):.2f}x" if cpu_in_range else "not measured"),
    )
    return Outcome(
        values={"max_speedup_over_mkl": max_mkl, "break_even_sparsity_vs_dense": break_even},
        tables=[table, cpu_table],
        figures=[("Rosko speedup over MKL, SciPy and dense BLAS across sparsity", fig)],
        notes=notes,
        config={
            "shape": [m, k, n],
            "threads": threads,
            "sparsities": list(sweep),
            "repeats": st.repeats,
            "seed": ctx.seed,
        },  # fmt: skip
    )


SPEEDUP = Experiment(
    name="rosko-speedup",
    method="rosko",
    title="Rosko SpMM speedup over MKL, SciPy and dense BLAS across sparsity",
    paper=PAPER,
    claim="Row-skipping outer-product kernels run sparse x dense products up to 6.5x faster than "
    "vendor libraries, and beat dense and sparse libraries from about 75% sparsity.",
    metrics=(
        Metric(
            "max_speedup_over_mkl",
            PAPER_MAX_SPEEDUP_OVER_VENDOR,
            rel_tol=0.25,
            higher_is_better=True,
            unit="x",
            source="abstract: up to 6.5x runtime reduction over vendor libraries, 65-99.8% sparsity",
        ),
        Metric(
            "break_even_sparsity_vs_dense",
            PAPER_BREAK_EVEN_SPARSITY,
            abs_tol=5.0,
            rel_tol=0.0,
            higher_is_better=False,
            unit="% sparsity",
            source="vnatesh/Rosko README: outperforms dense GEMM and spMM libraries from 75% "
            "sparsity",
        ),
    ),  # fmt: skip
    run=run,
    settings=SETTINGS,
    budget_s={"quick": 60.0, "paper": 600.0},
)
