"""Tests of the transformation registry: determinism and hand-computed effects."""

import numpy as np
import pytest

from mlroundup.embedding_probes import transforms as T
from mlroundup.embedding_probes.transforms import TRANSFORMATIONS, get


@pytest.fixture(scope="module")
def image():
    """A smooth 24 x 24 RGB image with values in [0.2, 0.6] (no clipping by +-0.3 shifts... up)."""
    rng = np.random.default_rng(0)
    return (0.2 + 0.4 * rng.random((24, 24, 3))).astype(np.float32)


@pytest.mark.parametrize("t", TRANSFORMATIONS, ids=lambda t: t.name)
def test_deterministic_and_changes_image(t, image):
    """Oracle: the same seed gives bit-identical output; every transformation but the identity
    changes the pixels; shape and range are kept."""
    a, b = t(image, 7), t(image, 7)
    assert np.array_equal(a, b)
    assert a.shape == image.shape and a.dtype == np.float32
    assert 0.0 <= a.min() and a.max() <= 1.0
    if t.name == "identity":
        assert np.array_equal(a, image)
    else:
        assert np.abs(a - image).mean() > 1e-3


def test_registry_size_and_families():
    """Oracle: the issue asks for about 30 transformations in families; names are unique."""
    names = T.names()
    assert len(names) == len(set(names)) >= 30
    assert set(T.family_members()) == set(T.FAMILIES)
    assert all(m for m in T.family_members().values())


def test_brighten_is_a_constant_shift_in_range(image):
    """Oracle: brighten adds one constant in [0.15, 0.3] (no pixel reaches 1 from <= 0.6 + 0.3)."""
    d = get("brighten")(image, 3) - image
    assert np.allclose(d, d.mean(), atol=1e-6)
    assert 0.15 <= d.mean() <= 0.3


def test_rotate90_equals_numpy_rot90(image):
    """Oracle: np.rot90 by 1 or 3 quarter turns of a square image."""
    for seed in range(6):
        out = get("rotate90")(image, seed)
        assert any(np.array_equal(out, np.rot90(image, k)) for k in (1, 3))


def test_flips_invert_grayscale_by_hand(image):
    """Oracle: mirror by slicing, 1 - x, and the BT.601 luma 0.299 R + 0.587 G + 0.114 B."""
    assert np.array_equal(get("hflip")(image), image[:, ::-1])
    assert np.array_equal(get("vflip")(image), image[::-1])
    assert np.allclose(get("invert")(image), 1 - image)
    g = get("grayscale")(image)
    luma = 0.299 * image[..., 0] + 0.587 * image[..., 1] + 0.114 * image[..., 2]
    for c in range(3):
        assert np.allclose(g[..., c], luma, atol=1e-6)


def test_jpeg_error_falls_with_quality():
    """Oracle: a lossy codec's mean error is monotone non-increasing in its quality."""
    from mlroundup.embedding_probes.images import make_composites

    x = make_composites(1, 32).images[0]
    errs = [np.abs(T._codec(x, "JPEG", q) - x).mean() for q in (5, 20, 50, 95)]
    assert errs == sorted(errs, reverse=True) and errs[0] > errs[-1]


def test_bad_images_refused():
    """Oracle: the documented refusals of check_image, each naming the problem."""
    t = get("hflip")
    with pytest.raises(ValueError, match="shape"):
        t(np.zeros((16, 16), np.float32))
    with pytest.raises(ValueError, match="non-finite"):
        t(np.full((16, 16, 3), np.nan, np.float32))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        t(np.full((16, 16, 3), 2.0, np.float32))
    with pytest.raises(ValueError, match="dtype"):
        t(np.zeros((16, 16, 3), np.uint8))
    with pytest.raises(KeyError, match="valid"):
        get("nope")
