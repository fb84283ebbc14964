"""Tests of the encoder interface, the image folder reader and the small encoders."""

import numpy as np
import pytest

from mlroundup.embedding_probes.encoders import EncoderConfig, EncoderOutputError, embed, pixels
from mlroundup.embedding_probes.images import ImageReadError, load_image_folder, make_composites


@pytest.fixture(scope="module")
def images():
    return make_composites(12, 32, seed=1).images


def test_user_callable_accepted(images):
    """Oracle: a hand-written encoder (channel means) gives the means computed by NumPy, and a
    torch tensor answer is accepted; batches are stitched in order."""
    import torch

    out = embed(lambda x: x.mean(axis=(1, 2)), images, batch_size=5)
    assert np.allclose(out, images.mean(axis=(1, 2)), atol=1e-6)
    out_t = embed(lambda x: torch.from_numpy(x.mean(axis=(1, 2))), images, batch_size=5)
    assert np.allclose(out_t, out)


@pytest.mark.parametrize(
    ("encoder", "match"),
    [
        (lambda x: x.mean(axis=(1, 2, 3)), "expected"),  # 1-D
        (lambda x: np.ones((len(x) + 1, 4)), "rows"),
        (lambda x: np.full((len(x), 4), np.nan), "non-finite"),
        (lambda x: np.ones((len(x), 4 if x[0, 0, 0, 0] > -1 and len(x) == 5 else 3)), "length"),
        (lambda x: "abc", "not an array"),
    ],
)
def test_bad_encoder_refused(images, encoder, match):
    """Oracle: the documented refusals (wrong rank, wrong rows, NaN, changing D, not numbers)."""
    with pytest.raises(EncoderOutputError, match=match):
        embed(encoder, images, batch_size=5)


def test_pixels_is_2x2_average_pool(images):
    """Oracle: 2 x 2 average pooling by explicit slicing."""
    x = images[:2]
    hand = (x[:, ::2, ::2] + x[:, 1::2, ::2] + x[:, ::2, 1::2] + x[:, 1::2, 1::2]) / 4
    assert np.allclose(pixels(x), hand.reshape(2, -1), atol=1e-6)


def test_image_folder_errors(tmp_path):
    """Oracle: the issue's error cases: too few images, an unreadable file (named)."""
    from PIL import Image

    for i in range(3):
        Image.new("RGB", (20, 20), (i * 40, 0, 0)).save(tmp_path / f"{i}.png")
    with pytest.raises(ValueError, match="at least 10"):
        load_image_folder(tmp_path, 32)
    for i in range(3, 10):
        Image.new("RGB", (20, 20), (i * 20, 0, 0)).save(tmp_path / f"{i}.png")
    s = load_image_folder(tmp_path, 32)
    assert s.images.shape == (10, 32, 32, 3) and s.labels is None
    (tmp_path / "broken.png").write_bytes(b"not a png")
    with pytest.raises(ImageReadError, match="broken.png"):
        load_image_folder(tmp_path, 32)


def test_config_refuses_bad_fields():
    """Oracle: the documented refusals name the field."""
    with pytest.raises(ValueError, match="kind"):
        EncoderConfig("clip")
    with pytest.raises(ValueError, match="mask_ratio"):
        EncoderConfig("mae", mask_ratio=1.0)


def test_checkpoint_cached_and_reloaded(tmp_path, images):
    """Oracle: a second load_or_train of the same configuration reads the checkpoint (cached)
    and embeds bit-identically to the freshly trained network; the file is in the cache folder."""
    from mlroundup.embedding_probes.encoders import load_or_train

    cfg = EncoderConfig("supervised", width=8, dim=16, n_images=32, steps=2, batch_size=8)
    first = load_or_train(cfg, tmp_path)
    second = load_or_train(cfg, tmp_path)
    assert not first.cached and second.cached
    assert first.path.is_file() and first.path.parent.parent == tmp_path
    assert np.array_equal(first(images), second(images))
    assert len(second.losses) == 2


@pytest.mark.parametrize("kind", ["supervised", "contrastive", "mae"])
def test_training_on_the_shared_trainer_lowers_the_loss_reproducibly(kind):
    """Oracles: the supervised loss starts near ln(10) (ten digits, an untrained classifier) and
    every objective falls over a few dozen steps; a second run of the same configuration gives the
    same losses (the per-step generator of the shared trainer)."""
    import math

    from mlroundup.embedding_probes.encoders import train_encoder

    cfg = EncoderConfig(kind, width=8, dim=16, n_images=64, steps=30, batch_size=16, lr=3e-3)
    _, _, losses = train_encoder(cfg)
    assert len(losses) == 30 and all(math.isfinite(v) for v in losses)
    assert np.mean(losses[-5:]) < np.mean(losses[:5])
    if kind == "supervised":
        assert abs(losses[0] - math.log(10)) < 0.5
    assert train_encoder(cfg)[2] == losses
