"""The registered Rosko experiment, end to end at a tiny size.

Oracle: the reported speedups and the break-even sparsity are recomputed here from the table's
own timings (ratio = peer ms / Rosko ms; break-even = the lowest sparsity where dense BLAS is
slower), so a bookkeeping error between timings, table and metrics is caught.
"""

import dataclasses

import pytest

from mlroundup.experiments.registry import select
from mlroundup.experiments.runner import RunContext


@pytest.mark.slow
def test_rosko_experiment_runs_tiny(tmp_path):
    from mlroundup.rosko.experiment import SETTINGS

    (exp,) = select(["rosko-speedup"])
    sweep = (0.5, 0.9, 0.99)
    tiny = dataclasses.replace(SETTINGS["quick"], m=256, k=256, n=64, repeats=1, sparsities=sweep)
    out = exp.run(RunContext(scale="quick", seed=0, cache_dir=tmp_path, settings=tiny))
    assert set(out.values) == set(exp.metric_names)
    table, cpu_table = out.tables
    assert len(table.rows) == len(cpu_table.rows) == len(sweep)
    assert [row[0] for row in table.rows] == pytest.approx([100 * s for s in sweep])
    for row in table.rows:
        rosko_ms, scipy_ms, dense_ms, x_scipy, x_dense = row[1], row[3], row[4], row[6], row[7]
        assert rosko_ms > 0 and x_scipy == pytest.approx(scipy_ms / rosko_ms)
        assert x_dense == pytest.approx(dense_ms / rosko_ms)
    faster = [row[0] for row in table.rows if row[7] > 1]
    assert out.values["break_even_sparsity_vs_dense"] == (min(faster) if faster else None)
    if out.values["max_speedup_over_mkl"] is None:
        assert any("mkl not measured" in n for n in out.notes)
    else:
        in_range = [row[5] for row in table.rows if 65 <= row[0] <= 99.8 and row[5] is not None]
        assert out.values["max_speedup_over_mkl"] == pytest.approx(max(in_range))
    assert len(out.figures) == 1
