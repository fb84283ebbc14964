"""End-to-end test of the ``substance-style`` experiment on shrunk settings."""

import dataclasses

import pytest

from mlroundup.embedding_probes.experiment import EXPERIMENT, SETTINGS
from mlroundup.experiments.registry import Claim
from mlroundup.experiments.runner import RunContext


@pytest.mark.slow
def test_experiment_end_to_end_shrunk(tmp_path):
    """Oracle: the declaration: every value returned names a declared metric or claim, claims are
    booleans, metrics lie in [0, 1] (accuracies); one table row and one figure per encoder, one
    detection row per non-identity transformation (35 - 1)."""
    import matplotlib

    matplotlib.use("Agg")
    small = dataclasses.replace(
        SETTINGS["quick"], encoders=("supervised", "contrastive", "mae"), encoder_images=48,
        encoder_steps=3, encoder_batch=16, encoder_width=8, encoder_dim=16, probe_images=12,
    )  # fmt: skip
    out = EXPERIMENT.run(RunContext(settings=small, cache_dir=tmp_path))
    assert set(out.values) == set(EXPERIMENT.metric_names)
    for m in EXPERIMENT.metrics:
        v = out.values[m.name]
        if isinstance(m, Claim):
            assert isinstance(v, bool)
        else:
            assert 0.0 <= v <= 1.0
    assert len(out.tables[0].rows) == 3 and len(out.figures) == 3
    assert len(out.tables[1].rows) == 34
