"""The registered Rosko experiment, end to end at a tiny size (oracle: its own invariants)."""

import matplotlib

matplotlib.use("Agg")

import pytest

from mlroundup.experiments.registry import select
from mlroundup.experiments.runner import RunContext


@pytest.mark.slow
def test_rosko_experiment_runs_tiny(monkeypatch, tmp_path):
    from mlroundup.rosko import experiment

    monkeypatch.setitem(experiment._SHAPES, "quick", (256, 256, 64))
    monkeypatch.setitem(experiment._REPEATS, "quick", 1)
    (exp,) = select(["rosko-speedup"])
    out = exp.run(RunContext(scale="quick", seed=0, cache_dir=tmp_path))
    assert set(out.values) == set(exp.metric_names)
    table, cpu_table = out.tables
    assert len(table.rows) == len(cpu_table.rows) == 8  # the sparsity sweep 50% ... 99.9%
    for row in table.rows:
        rosko_ms, scipy_ms, x_scipy = row[1], row[3], row[6]
        assert rosko_ms > 0 and x_scipy == pytest.approx(scipy_ms / rosko_ms)
    if out.values["max_speedup_over_mkl"] is None:
        assert any("mkl not measured" in n for n in out.notes)
    assert exp.metric("max_speedup_over_mkl").paper_value == 6.5
    assert len(out.figures) == 1
