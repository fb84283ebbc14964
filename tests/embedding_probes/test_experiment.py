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


@pytest.mark.slow
def test_overlapped_probing_matches_sequential(tmp_path):
    """Oracle: a slow reference: the same encoders (loaded from the run's cache) embedded and
    probed one at a time on this thread, under the run's thread limits, give exactly the run's
    readouts, in which encoder k is probed on a worker thread while encoder k + 1 trains."""
    import matplotlib
    import numpy as np

    from mlroundup.embedding_probes.encoders import EncoderConfig, load_or_train
    from mlroundup.embedding_probes.images import make_composites
    from mlroundup.embedding_probes.readouts import build_probe_set, run_readouts
    from mlroundup.utils.threads import blas_threads, torch_threads

    matplotlib.use("Agg")
    small = dataclasses.replace(
        SETTINGS["quick"], encoders=("supervised", "mae", "random"), encoder_images=32,
        encoder_steps=4, encoder_batch=8, encoder_width=8, encoder_dim=16, probe_images=10,
    )  # fmt: skip
    out = EXPERIMENT.run(RunContext(settings=small, cache_dir=tmp_path, seed=3))
    ps = build_probe_set(make_composites(small.probe_images, small.size, part="probe", seed=4),
                         seed=3)  # fmt: skip
    for row in out.tables[0].rows:
        kind = row[0]
        cfg = EncoderConfig(kind, size=small.size, width=small.encoder_width,
                            dim=small.encoder_dim, n_images=small.encoder_images,
                            steps=small.encoder_steps, batch_size=small.encoder_batch, seed=3)  # fmt: skip
        enc = load_or_train(cfg, tmp_path)
        assert enc.cached or kind == "random"
        with torch_threads(small.threads), blas_threads(small.threads):
            sm = run_readouts(enc, ps, name=kind, probe=small.probe, seed=3).summary()
        expected = [sm["fine_grained"], sm["family"], sm["generalisation"], sm["semantic"],
                    sm["detection_mean"]]  # fmt: skip
        np.testing.assert_array_equal(row[1:6], expected)
