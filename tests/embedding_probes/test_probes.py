"""Tests of the probes and the splits."""

import numpy as np
import pytest

from mlroundup.embedding_probes.probes import (
    LinearProbe,
    MLPProbe,
    heldout_folds,
    heldout_split,
    split_by_image,
)
from mlroundup.embedding_probes.transforms import TRANSFORMATIONS


def _planted(n=400, d=20, k=4, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    X = rng.normal(size=(n, d))
    X[np.arange(n), y] += 10.0  # class c shifted 10 sd along axis c: trivially separable
    return X, y


@pytest.mark.parametrize("probe", [LinearProbe(), LinearProbe("logistic"), MLPProbe(hidden=32)])
def test_probe_recovers_planted_signal_and_is_chance_on_shuffled(probe):
    """Oracle: a planted linear signal (class c shifted 10 sd along axis c, Bayes error ~1e-12) is ~100% separable; with labels shuffled
    the held-out accuracy is chance (1/4) within sampling error."""
    X, y = _planted()
    probe.fit(X[:300], y[:300])
    assert probe.score(X[300:], y[300:]) > 0.95
    y_shuf = np.random.default_rng(1).permutation(y)
    probe.fit(X[:300], y_shuf[:300])
    assert abs(probe.score(X[300:], y_shuf[300:]) - 0.25) < 0.15


def test_probe_refuses_one_class_and_nan():
    """Oracle: the documented refusals."""
    X, y = _planted()
    with pytest.raises(ValueError, match="2 classes"):
        LinearProbe().fit(X, np.zeros(len(X), int))
    X[0, 0] = np.nan
    with pytest.raises(ValueError):
        LinearProbe().fit(X, y)


def test_split_by_image_keeps_images_whole():
    """Oracle: no image id on both sides; the test share of images is round(0.3 * 10) = 3."""
    ids = np.repeat(np.arange(10), 5)
    train, test = split_by_image(ids, 0.3, seed=2)
    assert not set(ids[train]) & set(ids[test])
    assert len(set(ids[test])) == 3 and (train ^ test).all()


def test_heldout_folds_and_split_never_leak():
    """Oracle: each transformation of a family with >= 2 members is held out exactly once, a
    family always keeps one in training, and no held-out transformation or test image reaches
    the training mask; the test mask holds only held-out transformations of test images."""
    names = [t.name for t in TRANSFORMATIONS]
    fams = [t.family for t in TRANSFORMATIONS]
    folds = heldout_folds(names, fams)
    held = [h for f in folds for h in f]
    multi = [n for n, f in zip(names, fams, strict=True) if fams.count(f) > 1]
    assert sorted(held) == sorted(multi)
    n_img, k = 6, len(names)
    image_id = np.repeat(np.arange(n_img), k)
    transform = np.tile(np.arange(k), n_img)
    base_train, _ = split_by_image(image_id, 0.5, seed=0)
    for fold in folds:
        train, test = heldout_split(transform, names, fold, base_train)
        train_names = {names[j] for j in transform[train]}
        assert not train_names & set(fold)
        assert {names[j] for j in transform[test]} <= set(fold)
        assert not set(image_id[train]) & set(image_id[test])
        for fam in set(fams):
            members = {n for n, f in zip(names, fams, strict=True) if f == fam}
            assert members & train_names  # the family is still seen in training
    with pytest.raises(KeyError):
        heldout_split(transform, names, ["nope"], base_train)
