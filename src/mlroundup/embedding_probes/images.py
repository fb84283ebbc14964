"""Images for probing: the bundled photos, textures and digits, composites of them, and a user's folder.

Every image here is a float32 array of shape ``(H, W, 3)`` with values in ``[0, 1]`` (a batch:
``(N, H, W, 3)``). Nothing is downloaded: the photos and textures are the files scikit-image and
scikit-learn install beside their code (read from disk, never through ``skimage.data``'s fetcher),
and the digits are :func:`sklearn.datasets.load_digits`.

The experiment's images are **composites** (:func:`make_composites`): a handwritten digit (the
*substance*, the semantic label) drawn in a random colour over a random crop of a bundled photo
(the *style*: colours, textures, edges that a transformation can change). The digit class is
independent of the background, so a probe that reads the digit reads content, not image statistics.
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

#: Colour photos installed with scikit-image (``skimage/data``) and scikit-learn
#: (``sklearn/datasets/images``) used as backgrounds: ``name -> (package, file)``.
PHOTOS: dict[str, tuple[str, str]] = {
    "astronaut": ("skimage", "astronaut.png"),
    "chelsea": ("skimage", "chelsea.png"),
    "coffee": ("skimage", "coffee.png"),
    "motorcycle": ("skimage", "motorcycle_left.png"),
    "rocket": ("skimage", "rocket.jpg"),
    "china": ("sklearn", "china.jpg"),
    "flower": ("sklearn", "flower.jpg"),
}

#: Textures that the style transformations match an image to: ``name -> (package, file, tint)``.
#: The grey textures are tinted by ``tint`` (RGB multipliers) so that a style carries colour too.
TEXTURES: dict[str, tuple[str, str, tuple[float, float, float]]] = {
    "brick": ("skimage", "brick.png", (1.0, 0.55, 0.35)),
    "grass": ("skimage", "grass.png", (0.45, 0.9, 0.35)),
    "gravel": ("skimage", "gravel.png", (0.55, 0.6, 1.0)),
    "ihc": ("skimage", "ihc.png", (1.0, 1.0, 1.0)),
}

#: File name endings read as images by :func:`load_image_folder` (lower case).
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm")

#: The fewest images :func:`load_image_folder` accepts: the probes split images into a training
#: and a test part (30% by default), and a test part of fewer than three images says little.
MIN_IMAGES = 10


class ImageReadError(ValueError):
    """A file that should be an image cannot be read (the message names the file)."""


def _package_dir(package: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"{package} is not installed; it ships the bundled images")
    return Path(spec.submodule_search_locations[0])


def bundled_path(package: str, file: str) -> Path:
    """Path of an image file installed with ``package`` (``"skimage"`` or ``"sklearn"``).

    Raises
    ------
    FileNotFoundError
        If the package or the file is missing.
    """
    sub = {"skimage": ("data",), "sklearn": ("datasets", "images")}[package]
    path = _package_dir(package).joinpath(*sub, file)
    if not path.is_file():
        raise FileNotFoundError(f"bundled image {path} is missing (from {package})")
    return path


def read_image(path: Path | str) -> np.ndarray:
    """Read one image file as float32 RGB in ``[0, 1]``, shape ``(H, W, 3)``.

    Grey images are repeated over the three channels; an alpha channel is composited on white.

    Raises
    ------
    ImageReadError
        If the file cannot be opened or decoded as an image.
    """
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    try:
        with Image.open(path) as im:
            im.load()
            if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
                im = im.convert("RGBA")
                white = Image.new("RGBA", im.size, (255, 255, 255, 255))
                im = Image.alpha_composite(white, im)
            rgb = im.convert("RGB")
            arr = np.asarray(rgb, dtype=np.float32) / 255.0
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise ImageReadError(f"cannot read image {path}: {exc}") from None
    if arr.ndim != 3 or arr.shape[0] < 1 or arr.shape[1] < 1:
        raise ImageReadError(f"cannot read image {path}: empty image of shape {arr.shape}")
    return arr


def resize(image: np.ndarray, size: int | tuple[int, int], resample: str = "bicubic") -> np.ndarray:
    """Resize a float RGB image to ``size`` (``(height, width)``, or one int for a square).

    Parameters
    ----------
    image : ndarray of shape (H, W, 3), dtype float
        Values in ``[0, 1]``.
    size : int or (int, int)
    resample : {"nearest", "bilinear", "bicubic", "lanczos", "box"}

    Returns
    -------
    ndarray of shape (height, width, 3), dtype float32, values in ``[0, 1]``.
    """
    from PIL import Image

    h, w = (size, size) if isinstance(size, int) else size
    mode = getattr(Image.Resampling, resample.upper())
    chans = [
        Image.fromarray(np.ascontiguousarray(image[..., c], dtype=np.float32), mode="F").resize(
            (w, h), mode
        )
        for c in range(3)
    ]
    out = np.stack([np.asarray(c, dtype=np.float32) for c in chans], axis=-1)
    return np.clip(out, 0.0, 1.0)


def center_square(image: np.ndarray, size: int) -> np.ndarray:
    """The largest centred square of ``image``, resized to ``size`` x ``size`` (bicubic)."""
    h, w = image.shape[:2]
    s = min(h, w)
    top, left = (h - s) // 2, (w - s) // 2
    return resize(image[top : top + s, left : left + s], size)


def bundled_photos() -> dict[str, np.ndarray]:
    """The background photos of :data:`PHOTOS`, each float32 ``(H, W, 3)`` at full size."""
    return {name: read_image(bundled_path(pkg, f)) for name, (pkg, f) in PHOTOS.items()}


def bundled_textures() -> dict[str, np.ndarray]:
    """The style textures of :data:`TEXTURES` (grey ones tinted), float32 ``(H, W, 3)``."""
    out = {}
    for name, (pkg, f, tint) in TEXTURES.items():
        out[name] = np.clip(read_image(bundled_path(pkg, f)) * np.float32(tint), 0, 1)
    return out


def random_crop(image: np.ndarray, size: int, rng: np.random.Generator,
                scale: tuple[float, float] = (0.1, 0.35)) -> np.ndarray:  # fmt: skip
    """A random square crop covering a side fraction ``scale`` of the shorter side, resized to
    ``size`` (bicubic)."""
    h, w = image.shape[:2]
    side = max(4, int(round(min(h, w) * rng.uniform(*scale))))
    top = int(rng.integers(0, h - side + 1))
    left = int(rng.integers(0, w - side + 1))
    return resize(image[top : top + side, left : left + side], size)


@dataclass(frozen=True)
class ImageSet:
    """A batch of images with their semantic labels.

    Attributes
    ----------
    images : ndarray of shape (N, H, W, 3), dtype float32
        Values in ``[0, 1]``.
    labels : ndarray of shape (N,), dtype int64, or None
        Semantic label of each image (None: unlabelled).
    label_names : tuple of str
        Name of each label value.
    names : tuple of str
        Where each image came from (file name, or a description of a composite).
    """

    images: np.ndarray
    labels: np.ndarray | None
    label_names: tuple[str, ...]
    names: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.images)


def digits_split(part: str, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's 1,797 handwritten digits (8 x 8, values 0..16), split once by a fixed
    permutation: ``"encoder"`` (the first 1,000, to train encoders) or ``"probe"`` (the other 797,
    never seen by an encoder). Returns ``(images (n, 8, 8) float32 in [0, 1], labels (n,))``.

    Raises
    ------
    ValueError
        If ``part`` is neither ``"encoder"`` nor ``"probe"``.
    """
    from sklearn.datasets import load_digits

    if part not in ("encoder", "probe"):
        raise ValueError(f"invalid part {part!r}; valid: 'encoder', 'probe'")
    d = load_digits()
    order = np.random.default_rng(seed).permutation(len(d.target))
    idx = order[:1000] if part == "encoder" else order[1000:]
    return (d.images[idx] / 16.0).astype(np.float32), d.target[idx].astype(np.int64)


def make_composites(n: int, size: int = 32, *, part: str = "probe", seed: int = 0) -> ImageSet:
    """``n`` composites: a digit of :func:`digits_split` (``part``) over a crop of a bundled photo.

    Each composite draws, from one seeded generator: a photo of :data:`PHOTOS` and a square crop of
    it (10-35% of its shorter side, resized to ``size``); a digit (cycled through the part, so
    every class appears ~n/10 times); its height (50-75% of ``size``) and position; and its colour,
    dark on a bright background and bright on a dark one. The digit's grey level is its alpha.

    Parameters
    ----------
    n : int
        Number of images (>= 1).
    size : int
        Side in pixels (>= 16).
    part : {"probe", "encoder"}
        Which digits (see :func:`digits_split`).
    seed : int

    Returns
    -------
    ImageSet
        ``labels`` are the digit classes 0..9.

    Raises
    ------
    ValueError
        If ``n < 1`` or ``size < 16``.
    """
    if n < 1:
        raise ValueError(f"invalid n={n}: at least 1 image")
    if size < 16:
        raise ValueError(f"invalid size={size}: at least 16 pixels")
    rng = np.random.default_rng(seed)
    photos = bundled_photos()
    photo_names = list(photos)
    digits, digit_labels = digits_split(part)
    order = rng.permutation(len(digits))
    images = np.empty((n, size, size, 3), dtype=np.float32)
    labels = np.empty(n, dtype=np.int64)
    names = []
    for i in range(n):
        photo = photo_names[int(rng.integers(len(photo_names)))]
        bg = random_crop(photos[photo], size, rng)
        k = int(order[i % len(order)])
        side = int(round(size * rng.uniform(0.7, 0.9)))
        alpha = resize(np.repeat(digits[k][..., None], 3, axis=-1), side, "bilinear")[..., :1]
        top = int(rng.integers(0, size - side + 1))
        left = int(rng.integers(0, size - side + 1))
        region = bg[top : top + side, left : left + side]
        bright = float(region.mean()) > 0.5
        colour = rng.uniform(0.0, 0.3, 3) if bright else rng.uniform(0.7, 1.0, 3)
        bg[top : top + side, left : left + side] = region * (1 - alpha) + colour * alpha
        images[i] = bg
        labels[i] = digit_labels[k]
        names.append(f"digit {digit_labels[k]} on {photo}")
    return ImageSet(images, labels, tuple(str(d) for d in range(10)), tuple(names))


def load_image_folder(folder: Path | str, size: int, *, min_images: int = MIN_IMAGES) -> ImageSet:
    """Read every image under ``folder`` (recursively), centre-cropped square and resized to ``size``.

    Files are taken in sorted path order; hidden files and files whose names do not end in one of
    :data:`IMAGE_SUFFIXES` are skipped. When every image lies in a subfolder of ``folder`` and
    there are at least two subfolders, the subfolder names are the semantic labels (the
    ``ImageFolder`` layout); otherwise the images are unlabelled.

    Parameters
    ----------
    folder : path
    size : int
        Side of the square images returned (>= 16).
    min_images : int
        The fewest images accepted (default :data:`MIN_IMAGES`).

    Returns
    -------
    ImageSet

    Raises
    ------
    NotADirectoryError
        If ``folder`` is not a folder.
    ImageReadError
        If a file with an image suffix cannot be read (the message names it).
    ValueError
        If fewer than ``min_images`` images are found, or ``size < 16``.
    """
    if size < 16:
        raise ValueError(f"invalid size={size}: at least 16 pixels")
    folder = Path(folder)
    if not folder.is_dir():
        raise NotADirectoryError(f"{folder} is not a folder")
    paths = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for f in sorted(files):
            if not f.startswith(".") and f.lower().endswith(IMAGE_SUFFIXES):
                paths.append(Path(root) / f)
    paths.sort()
    if len(paths) < min_images:
        raise ValueError(
            f"{folder} has {len(paths)} image file(s) ({', '.join(IMAGE_SUFFIXES)}); "
            f"probing needs at least {min_images}"
        )
    images = np.stack([center_square(read_image(p), size) for p in paths])
    rel = [p.relative_to(folder) for p in paths]
    groups = [r.parts[0] if len(r.parts) > 1 else None for r in rel]
    if None not in groups and len(set(groups)) >= 2:
        label_names = tuple(sorted(set(groups)))
        labels = np.array([label_names.index(g) for g in groups], dtype=np.int64)
    else:
        label_names, labels = (), None
    return ImageSet(images, labels, label_names, tuple(str(r) for r in rel))
