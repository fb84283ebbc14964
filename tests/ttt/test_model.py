"""The Y-shaped model: colour space, patches, MAE masking, shapes, errors."""

import numpy as np
import pytest
import torch
from PIL import Image

from mlroundup.ttt.model import (
    YViT,
    YViTConfig,
    patchify,
    random_masking,
    rgb_to_ycbcr,
    unpatchify,
    ycbcr_to_rgb,
)
from tests.ttt.conftest import TINY


def test_ycbcr_matches_pillow():
    """Oracle: Pillow's RGB -> YCbCr (JPEG full range) on random 8-bit pixels, within rounding."""
    rgb8 = np.random.default_rng(0).integers(0, 256, (6, 7, 3), dtype=np.uint8)
    ref = np.asarray(Image.fromarray(rgb8).convert("YCbCr"), dtype=np.float64) / 255
    x = torch.from_numpy(rgb8.astype(np.float64) / 255).permute(2, 0, 1)[None]
    ours = rgb_to_ycbcr(x)[0].permute(1, 2, 0).numpy()
    assert np.abs(ours - ref).max() <= 1.0 / 255 + 1e-9
    back = ycbcr_to_rgb(rgb_to_ycbcr(x)[:, :1], rgb_to_ycbcr(x)[:, 1:])
    assert torch.allclose(back, x, atol=1e-12)


def test_patchify_layout_and_inverse():
    """Oracle: patch (i, j) of a p x p grid holds pixels [i p:(i+1) p, j p:(j+1) p] in row order."""
    x = torch.arange(2 * 3 * 8 * 12, dtype=torch.float64).reshape(2, 3, 8, 12)
    p = patchify(x, 4)  # (2, 6, 48)
    assert p.shape == (2, 6, 48)
    want = x[1, :, 4:8, 8:12].permute(1, 2, 0).reshape(-1)  # patch row 1, column 2 -> index 5
    assert torch.equal(p[1, 5], want)
    assert torch.equal(unpatchify(p, 4, (2, 3), 3), x)


def test_random_masking_counts():
    """Oracle: MAE keeps int(L (1 - r)) patches per row; the mask marks the others, each once."""
    g = torch.Generator().manual_seed(0)
    keep, mask, restore = random_masking(5, 20, 3, g)
    assert keep.shape == (5, 3) and torch.equal(mask.sum(1), torch.full((5,), 17.0))
    for b in range(5):
        assert set(keep[b].tolist()) == set(torch.nonzero(mask[b] == 0).flatten().tolist())
        assert sorted(restore[b].tolist()) == list(range(20))
    assert YViTConfig(image_size=(48, 64), patch_size=8, mask_ratio=0.85).n_keep == int(48 * 0.15)


@torch.no_grad()
def test_shapes_and_loss(tiny_model):
    x = torch.rand(3, 1, *TINY.image_size)
    assert tiny_model.predict(x).shape == (3, 2, *TINY.image_size)
    assert tiny_model.colorize(x).shape == (3, 3, *TINY.image_size)
    loss = tiny_model.ssl_loss(x, torch.Generator().manual_seed(1))
    assert loss.ndim == 0 and float(loss) > 0
    # the same generator seed gives the same masks, hence the same loss
    again = tiny_model.ssl_loss(x, torch.Generator().manual_seed(1))
    assert float(loss) == float(again)


@torch.no_grad()
def test_ssl_loss_is_on_masked_patches_only(tiny_model):
    """Oracle: the loss is the per-patch MSE averaged over the masked patches only, summed by hand
    from the reconstruction under the same masks."""
    x = torch.rand(2, 1, *TINY.image_size)
    pred, mask = tiny_model.reconstruct(x, torch.Generator().manual_seed(3))
    target = patchify(x, TINY.patch_size)
    hand = sum(
        float(((pred[b, i] - target[b, i]) ** 2).mean())
        for b in range(2) for i in range(TINY.n_patches) if mask[b, i] == 1
    ) / float(mask.sum())  # fmt: skip
    assert abs(float(tiny_model.ssl_loss(x, torch.Generator().manual_seed(3))) - hand) < 1e-6


def test_config_and_input_errors(tiny_model):
    with pytest.raises(ValueError, match="patch_size"):
        YViTConfig(image_size=(10, 16), patch_size=4)
    with pytest.raises(ValueError, match="mask_ratio"):
        YViTConfig(mask_ratio=1.0)
    with pytest.raises(ValueError, match=r"\(B, 1, 16, 24\)"):
        tiny_model.predict(torch.rand(1, 3, 16, 24))
    assert YViTConfig.from_dict(TINY.to_dict()) == TINY
    assert isinstance(YViT(TINY), torch.nn.Module)


def test_lazy_public_api():
    """Every name the package lists resolves to the object of its module."""
    import mlroundup.ttt as ttt
    from mlroundup.ttt import online

    assert all(getattr(ttt, n) is not None for n in ttt.__all__)
    assert ttt.run_online is online.run_online
    with pytest.raises(AttributeError, match="no attribute"):
        ttt.nope  # noqa: B018


def test_untrained_colour_head_predicts_grey():
    """Oracle: the zero-initialised head's sigmoid(0) = 0.5 chroma, i.e. the luma as grey RGB."""
    m = YViT(TINY)
    x = torch.rand(2, 1, *TINY.image_size)
    with torch.no_grad():
        assert torch.equal(m.predict(x), torch.full((2, 2, *TINY.image_size), 0.5))
        assert torch.allclose(m.colorize(x), x.expand(-1, 3, -1, -1), atol=1e-6)
