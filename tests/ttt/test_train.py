"""Offline joint training and the cached, atomically written checkpoint."""

import numpy as np
import pytest
import torch

from mlroundup.ttt.streams import rgb_to_luma
from mlroundup.ttt.train import (
    PretrainSpec,
    load_yvit,
    pretrained_yvit,
    save_yvit,
    training_crops,
)
from tests.ttt.conftest import TINY

SPEC = PretrainSpec(model=TINY, steps=4, batch_size=4, n_train=16, n_val=8, stills=("chelsea",))


def test_training_crops_shape_and_range():
    c = training_crops(("coffee",), 5, (16, 24), seed=1)
    assert c.shape == (5, 16, 24, 3) and c.dtype == np.float32 and 0 <= c.min() and c.max() <= 1
    assert np.array_equal(c, training_crops(("coffee",), 5, (16, 24), seed=1))
    grey = training_crops(("coffee",), 3, (16, 24), seed=1, saturation=(0.0, 0.0))
    assert np.allclose(grey[..., 0], grey[..., 1], atol=1e-6)  # R = G = B: no colour left
    assert np.allclose(grey[..., 0], rgb_to_luma(c[:3]), atol=1e-5)  # and the same luma
    with pytest.raises(ValueError, match="saturation"):
        training_crops(("coffee",), 3, (16, 24), saturation=(0.5, 1.5))
    with pytest.raises(ValueError, match="n >= 1"):
        training_crops((), 5, (16, 24))


def test_pretrained_model_is_cached_and_reloaded(tmp_path):
    """Oracle: the second call reads the file the first wrote (cached=True) and gets the same
    weights; a different spec has a different key; nothing but the checkpoint is left behind."""
    m1, info1 = pretrained_yvit(SPEC, tmp_path)
    assert info1["cached"] is False and np.isfinite(info1["val_joint"])
    m2, info2 = pretrained_yvit(SPEC, tmp_path)
    assert info2["cached"] is True and info2["path"] == info1["path"]
    s1, s2 = m1.state_dict(), m2.state_dict()
    assert all(torch.equal(s1[k], s2[k]) for k in s1)
    assert [p.name for p in (tmp_path / "ttt").iterdir()] == [f"yvit-{SPEC.key()}.pt"]
    assert PretrainSpec(model=TINY, steps=5).key() != SPEC.key()


def test_unreadable_cache_is_retrained(tmp_path):
    path = tmp_path / "ttt" / f"yvit-{SPEC.key()}.pt"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"broken")
    logs = []
    _, info = pretrained_yvit(SPEC, tmp_path, log=logs.append)
    assert info["cached"] is False and logs and "ignoring" in logs[0]
    assert load_yvit(path).cfg == TINY


def test_checkpoint_refuses_a_foreign_file(tmp_path, tiny_model):
    from mlroundup.training import save_checkpoint

    save_checkpoint(tmp_path / "other.pt", {"kind": "something else"})
    with pytest.raises(ValueError, match="not a YViT checkpoint"):
        load_yvit(tmp_path / "other.pt")
    with pytest.raises(FileNotFoundError):
        load_yvit(tmp_path / "none.pt")
    save_yvit(tmp_path / "m.pt", tiny_model)
    assert all(
        torch.equal(a, b)
        for a, b in zip(
            load_yvit(tmp_path / "m.pt").state_dict().values(),
            tiny_model.state_dict().values(),
            strict=True,
        )
    )
