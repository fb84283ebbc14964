"""End-to-end test of the ``ttt-video`` experiment on shrunk settings, and its registration."""

import dataclasses

import pytest

from mlroundup.experiments.registry import Claim
from mlroundup.experiments.runner import RunContext
from mlroundup.ttt.experiment import EXPERIMENT, SETTINGS, make_stream

SMALL = dataclasses.replace(
    SETTINGS["quick"], image_size=(16, 24), patch_size=4, d_model=16, n_layer=1,
    pretrain_steps=2, pretrain_batch=4, pretrain_images=8, frames=14, stride=4, part_frames=4,
    window=4, windows=(1, 4, "all"),
)  # fmt: skip


def test_experiment_end_to_end_shrunk(tmp_path):
    """Oracle: the declaration: a value for every metric and claim, claims are booleans; one row
    per (stream, arm); the montage's known cuts at its joins (every 4 frames)."""
    import matplotlib

    matplotlib.use("Agg")
    out = EXPERIMENT.run(RunContext(settings=SMALL, cache_dir=tmp_path))
    assert set(out.values) == set(EXPERIMENT.metric_names)
    for m in EXPERIMENT.metrics:
        v = out.values[m.name]
        assert isinstance(v, bool) if isinstance(m, Claim) else isinstance(v, float)
    arms = 2 + 4 + 2  # grey guess, fixed; online k, no implicit, offline, scene; two more windows
    assert len(out.tables[0].rows) == 2 * arms
    assert len(out.tables[1].rows) == 3 and len(out.figures) == 2
    assert out.config["streams"] == {"bikes": 14, "montage": 14}
    assert out.tables[2].rows[1][1] == "[4, 8, 12]"
    assert out.tables[2].rows[0][1] == "[8]"  # bikes' cut at 30 of frames 0, 4, ..., 52: index 8
    assert (tmp_path / "ttt").is_dir()  # the pretrained model went to the cache given


def test_unknown_stream():
    with pytest.raises(KeyError, match="valid: bikes, montage"):
        make_stream("nope", SMALL)


def test_registered_under_the_method_name():
    """`mlroundup reproduce ttt` selects the experiment by its method name."""
    from mlroundup.experiments.registry import select

    assert [e.name for e in select(["ttt"])] == ["ttt-video"]
