"""Fixtures for the TTT tests: one torch thread, a tiny Y-shaped model, small streams."""

import numpy as np
import pytest
import torch

from mlroundup.ttt.model import YViT, YViTConfig
from mlroundup.ttt.streams import VideoStream

TINY = YViTConfig(image_size=(16, 24), patch_size=4, d_model=16, n_layer=1, n_head=2,
                  d_decoder=8, n_decoder_layer=1, mlp_ratio=2)  # fmt: skip


@pytest.fixture(autouse=True)
def _one_thread():
    """One thread: reproducible sums, and no oversubscription on a shared 2-core machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def tiny_model() -> YViT:
    """A random tiny YViT whose colour head is not at its zero start (as after training), so
    that changes of the encoder show in the predictions."""
    torch.manual_seed(0)
    model = YViT(TINY)
    torch.nn.init.normal_(model.task_head.out.weight, std=0.3)
    return model


def smooth_stream(n: int, seed: int = 0, size=(16, 24)) -> VideoStream:
    """A slowly drifting colour gradient (no cuts): frame t is a fixed random field shifted by t/4."""
    rng = np.random.default_rng(seed)
    base = rng.uniform(0.2, 0.8, (size[0], size[1] + n, 3)).astype(np.float32)
    frames = np.stack([base[:, t // 4 : t // 4 + size[1]] for t in range(n)])
    return VideoStream(np.ascontiguousarray(frames), f"smooth{seed}")
