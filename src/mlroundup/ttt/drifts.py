"""Composable drifts whose strength changes along a stream.

A drift maps a frame and a strength ``s`` (>= 0) to a changed frame; its strength at frame ``t``
of a ``T``-frame stream ramps linearly from ``start`` to ``end``::

    s(t) = start + (end - start) * t / (T - 1)        (s = start when T == 1)

Drifts compose left to right with ``|`` (``Contrast(0, 0.6) | Noise(0, 0.1)`` lowers contrast,
then adds noise) and apply with :func:`apply_drift`. Noise is drawn from a generator seeded by
``(seed, t)``, so a drifted stream is reproducible frame by frame.

Drifts stand in for the distribution shifts a deployed model meets along a video (the paper's
motivation, Wang et al. 2023, Sec. 1); which drifts we use is our choice, not the paper's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from mlroundup.ttt.streams import VideoStream


@dataclass(frozen=True)
class Drift:
    """Base class: a change of strength ``start`` at the first frame and ``end`` at the last.

    Raises
    ------
    ValueError
        If a strength is negative or not finite, or above the drift's :attr:`max_strength`.
    """

    start: float = 0.0
    end: float = 1.0

    #: Largest meaningful strength (e.g. contrast 1 = flat grey).
    max_strength = math.inf

    def __post_init__(self) -> None:
        for label in ("start", "end"):
            v = getattr(self, label)
            if not (math.isfinite(v) and 0 <= v <= self.max_strength):
                raise ValueError(
                    f"invalid {type(self).__name__}.{label}={v!r}: must be in [0, {self.max_strength}]"
                )

    def strength(self, t: int, n: int) -> float:
        """Strength at frame ``t`` of an ``n``-frame stream (linear ramp, see the module)."""
        if n == 1:
            return float(self.start)
        return float(self.start + (self.end - self.start) * t / (n - 1))

    def apply(self, frame: np.ndarray, s: float, rng: np.random.Generator) -> np.ndarray:
        """The frame (H, W, 3) float32 in [0, 1] changed at strength ``s``."""
        raise NotImplementedError

    def __or__(self, other: Drift) -> Compose:
        return Compose(drifts=(self, other))


@dataclass(frozen=True)
class Compose(Drift):
    """Drifts applied one after the other, each at its own strength."""

    drifts: tuple[Drift, ...] = ()

    def __or__(self, other: Drift) -> Compose:
        return Compose(drifts=(*self.drifts, other))


@dataclass(frozen=True)
class Contrast(Drift):
    """Contrast decay towards mid-grey: ``x -> 0.5 + (1 - s) (x - 0.5)``; s in [0, 1]."""

    max_strength = 1.0

    def apply(self, frame, s, rng):
        return 0.5 + (1.0 - s) * (frame - 0.5)


@dataclass(frozen=True)
class Noise(Drift):
    """Additive Gaussian noise of standard deviation ``s`` (pixel units), clipped to [0, 1]."""

    def apply(self, frame, s, rng):
        return np.clip(frame + s * rng.standard_normal(frame.shape), 0.0, 1.0)


@dataclass(frozen=True)
class Blur(Drift):
    """Gaussian blur of standard deviation ``s`` pixels (scikit-image), per channel."""

    def apply(self, frame, s, rng):
        if s == 0:
            return frame
        from skimage.filters import gaussian

        return gaussian(frame, sigma=s, channel_axis=-1, preserve_range=True)


@dataclass(frozen=True)
class ColourCast(Drift):
    """A colour cast: ``x -> (1 - s) x + s c`` with ``c`` the cast colour; s in [0, 1]."""

    colour: tuple[float, float, float] = (1.0, 0.6, 0.2)
    max_strength = 1.0

    def apply(self, frame, s, rng):
        c = np.asarray(self.colour, dtype=np.float32)
        return (1.0 - s) * frame + s * c


@dataclass(frozen=True)
class JPEG(Drift):
    """JPEG compression (Pillow) at quality ``round(95 - 90 s)``; s in [0, 1] (1 = quality 5)."""

    max_strength = 1.0

    @staticmethod
    def quality(s: float) -> int:
        return int(round(95 - 90 * s))

    def apply(self, frame, s, rng):
        import io

        from PIL import Image

        img = Image.fromarray(np.round(frame * 255).astype(np.uint8))
        buf = io.BytesIO()
        img.save(buf, format="JPEG", quality=self.quality(s))
        buf.seek(0)
        return np.asarray(Image.open(buf).convert("RGB"), dtype=np.float32) / 255.0


def _apply_one(drift: Drift, frame: np.ndarray, t: int, n: int, rng) -> np.ndarray:
    if isinstance(drift, Compose):
        for d in drift.drifts:
            frame = _apply_one(d, frame, t, n, rng)
        return frame
    return drift.apply(frame, drift.strength(t, n), rng)


def apply_drift(stream: VideoStream, drift: Drift, seed: int = 0) -> VideoStream:
    """The stream with ``drift`` applied frame by frame (cuts kept; name gets the drift's name).

    Parameters
    ----------
    stream : VideoStream
    drift : Drift
        One drift or a :class:`Compose` of several.
    seed : int
        Seeds the noise of frame ``t`` as ``(seed, t)``.

    Returns
    -------
    VideoStream
        float32 frames clipped to [0, 1].
    """
    n = len(stream)
    out = np.empty_like(stream.frames)
    for t in range(n):
        rng = np.random.default_rng((seed, t))
        out[t] = np.clip(_apply_one(drift, stream.frames[t], t, n, rng), 0.0, 1.0)
    label = drift_name(drift)
    return VideoStream(out, f"{stream.name}~{label}", stream.cuts, stream.fps)


def drift_name(drift: Drift) -> str:
    """A short name such as ``contrast(0-0.6)+noise(0-0.1)``."""
    if isinstance(drift, Compose):
        return "+".join(drift_name(d) for d in drift.drifts)
    return f"{type(drift).__name__.lower()}({drift.start:g}-{drift.end:g})"
