"""The transformations a probe learns to recognise: 34 parameterised, seeded image edits in 7 families.

Rashtchian et al. ("Substance or Style", arXiv 2307.05610, Sec. 3) apply dozens of transformations
in families (style transfer, recolouring, overlays, noise, blur, compression, geometric changes) and
ask a probe on a frozen embedding which one was applied. This registry is our version on Pillow,
SciPy and scikit-image; :data:`IDENTITY` (the untouched image) is the 35th class of the
fine-grained task.

Each :class:`Transformation` maps a float32 RGB image ``(H, W, 3)`` in ``[0, 1]`` to one of the same
shape and range, drawing its parameters (a blur's sigma, a JPEG quality, a text's letters and place)
from ``numpy.random.default_rng(seed)``: the same image and seed give the same output, bit for bit.
Results are clipped to ``[0, 1]`` as part of each transformation's definition (a brightened white
stays white), never the input. The style family matches an image to a random crop of a bundled
texture (:data:`mlroundup.embedding_probes.images.TEXTURES`): histogram matching, Reinhard colour
transfer, and whitening-colouring (WCT) of the Gram statistics of pixel colours and of 3 x 3 patches,
a cheap stand-in for the paper's neural style transfer.
"""

from __future__ import annotations

import functools
import io
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

Fn = Callable[[np.ndarray, np.random.Generator], np.ndarray]

#: The families, in display order; ``"none"`` holds only :data:`IDENTITY`.
FAMILIES: tuple[str, ...] = (
    "none", "photometric", "colour", "blur_noise", "compression", "geometric", "overlay", "style",
)  # fmt: skip


@dataclass(frozen=True)
class Transformation:
    """One seeded image transformation.

    Attributes
    ----------
    name : str
        Unique name, e.g. ``"jpeg"``.
    family : str
        One of :data:`FAMILIES`.
    params : str
        The parameter range its seed draws from, for display.
    fn : callable
        ``fn(image, rng) -> image`` on a float32 copy of the input (may modify it).
    """

    name: str
    family: str
    params: str
    fn: Fn

    def __call__(self, image: np.ndarray, seed: int = 0) -> np.ndarray:
        """Apply to ``image`` (float ``(H, W, 3)`` in ``[0, 1]``) with parameters drawn from
        ``seed``; returns float32 of the same shape in ``[0, 1]``.

        Raises
        ------
        ValueError
            If ``image`` is not such an image (see :func:`check_image`).
        """
        x = check_image(image).copy()
        out = self.fn(x, np.random.default_rng(seed))
        if out.shape != x.shape:  # pragma: no cover - a registry bug, not a user error
            raise AssertionError(f"{self.name} changed the shape {x.shape} -> {out.shape}")
        return np.clip(out, 0.0, 1.0).astype(np.float32, copy=False)


def check_image(image: np.ndarray, what: str = "image") -> np.ndarray:
    """``image`` as float32 if it is a finite ``(H, W, 3)`` array in ``[0, 1]`` with sides >= 8.

    Raises
    ------
    ValueError
        Naming what is wrong (shape, dtype, range or non-finite values).
    """
    if not isinstance(image, np.ndarray):
        raise ValueError(f"{what} must be a NumPy array, got {type(image).__name__}")
    if image.ndim != 3 or image.shape[-1] != 3:
        raise ValueError(f"{what} must have shape (H, W, 3), got {image.shape}")
    if image.shape[0] < 8 or image.shape[1] < 8:
        raise ValueError(f"{what} must be at least 8 x 8 pixels, got {image.shape[:2]}")
    if not np.issubdtype(image.dtype, np.floating):
        raise ValueError(f"{what} must be float in [0, 1], got dtype {image.dtype}")
    x = image.astype(np.float32, copy=False)
    if not np.isfinite(x).all():
        raise ValueError(f"{what} has non-finite values")
    lo, hi = float(x.min()), float(x.max())
    if lo < 0.0 or hi > 1.0:
        raise ValueError(f"{what} values must lie in [0, 1], got [{lo:.4g}, {hi:.4g}]")
    return x


# ----------------------------------------------------------------------------- helpers


def _luma(x: np.ndarray) -> np.ndarray:
    return x @ np.array([0.299, 0.587, 0.114], dtype=np.float32)  # (H, W): ITU-R BT.601


def _random_colour(rng: np.random.Generator) -> np.ndarray:
    return rng.uniform(0.0, 1.0, 3).astype(np.float32)


def _paint(x: np.ndarray, mask: np.ndarray, colour: np.ndarray) -> np.ndarray:
    """Composite ``colour`` over ``x`` with alpha ``mask`` (H, W) in [0, 1]."""
    m = mask[..., None].astype(np.float32)
    return x * (1 - m) + colour * m


def _pil_mask(shape: tuple[int, ...], draw: Callable) -> np.ndarray:
    """An alpha mask (H, W) in [0, 1] drawn by ``draw(ImageDraw)`` on a black 'L' image."""
    from PIL import Image, ImageDraw

    im = Image.new("L", (shape[1], shape[0]), 0)
    draw(ImageDraw.Draw(im))
    return np.asarray(im, dtype=np.float32) / 255.0


def _hsv_edit(x: np.ndarray, edit: Callable[[np.ndarray], None]) -> np.ndarray:
    from skimage.color import hsv2rgb, rgb2hsv

    hsv = rgb2hsv(x)
    edit(hsv)
    return hsv2rgb(np.clip(hsv, 0, 1)).astype(np.float32)


def _codec(x: np.ndarray, fmt: str, quality: int) -> np.ndarray:
    from PIL import Image, features

    if fmt == "WEBP" and not features.check("webp"):  # pragma: no cover - Pillow built without it
        raise RuntimeError(
            "this Pillow was built without WebP support; the webp transformation needs it"
        )
    buf = io.BytesIO()
    Image.fromarray(np.round(x * 255).astype(np.uint8)).save(buf, format=fmt, quality=quality)
    buf.seek(0)
    with Image.open(buf) as im:
        return np.asarray(im.convert("RGB"), dtype=np.float32) / 255.0


def _resize_back(x: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    from mlroundup.embedding_probes.images import resize

    return x if x.shape == shape else resize(x, shape[:2])


@functools.cache
def _textures() -> tuple[np.ndarray, ...]:
    from mlroundup.embedding_probes.images import bundled_textures

    return tuple(bundled_textures().values())


def _style_reference(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A random crop of a random bundled texture, resized to ``x``'s size."""
    from mlroundup.embedding_probes.images import resize

    tex = _textures()[int(rng.integers(len(_textures())))]
    h, w = tex.shape[:2]
    side = int(round(min(h, w) * rng.uniform(0.15, 0.4)))
    top, left = int(rng.integers(0, h - side + 1)), int(rng.integers(0, w - side + 1))
    return resize(tex[top : top + side, left : left + side], x.shape[:2])


def _wct(content: np.ndarray, style: np.ndarray, eps: float) -> np.ndarray:
    """Whitening-colouring transform (Li et al. 2017) of feature rows: ``content`` (n, d) gets the
    mean and covariance (the centred Gram matrix) of ``style`` (m, d)."""

    def sqrt_and_inv(c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        w, v = np.linalg.eigh(c + eps * np.eye(len(c)))
        w = np.maximum(w, eps)
        return (v * np.sqrt(w)) @ v.T, (v / np.sqrt(w)) @ v.T

    mc, ms = content.mean(0), style.mean(0)
    _, whiten = sqrt_and_inv(np.cov(content - mc, rowvar=False))
    colour, _ = sqrt_and_inv(np.cov(style - ms, rowvar=False))
    return (content - mc) @ whiten @ colour + ms


def _patches(x: np.ndarray, k: int) -> np.ndarray:
    """All k x k patches of ``x`` (reflect-padded), as rows (H*W, k*k*3)."""
    p = k // 2
    padded = np.pad(x, ((p, p), (p, p), (0, 0)), mode="reflect")
    win = np.lib.stride_tricks.sliding_window_view(padded, (k, k), axis=(0, 1))  # (H, W, 3, k, k)
    return win.reshape(x.shape[0] * x.shape[1], -1)


def _fold(rows: np.ndarray, shape: tuple[int, ...], k: int) -> np.ndarray:
    """Inverse of :func:`_patches`: each pixel the mean of the k*k patch entries covering it."""
    h, w, c = shape
    p = k // 2
    win = rows.reshape(h, w, c, k, k)
    acc = np.zeros((h + 2 * p, w + 2 * p, c), dtype=np.float64)
    for i in range(k):
        for j in range(k):
            acc[i : i + h, j : j + w] += win[:, :, :, i, j]
    count = np.zeros((h + 2 * p, w + 2 * p, 1))
    for i in range(k):
        for j in range(k):
            count[i : i + h, j : j + w] += 1
    return (acc / count)[p : p + h, p : p + w].astype(np.float32)


# ----------------------------------------------------------------------------- photometric


def _brighten(x, rng):
    return x + rng.uniform(0.15, 0.3)


def _darken(x, rng):
    return x - rng.uniform(0.15, 0.3)


def _contrast(lo: float, hi: float) -> Fn:
    def fn(x, rng):
        m = x.mean()
        return (x - m) * rng.uniform(lo, hi) + m

    return fn


def _gamma(x, rng):
    return x ** rng.uniform(0.4, 0.6)


# ----------------------------------------------------------------------------- colour


def _grayscale(x, rng):
    return np.repeat(_luma(x)[..., None], 3, axis=-1)


def _hue_shift(x, rng):
    shift = rng.uniform(0.25, 0.75)

    def edit(hsv):
        hsv[..., 0] = (hsv[..., 0] + shift) % 1.0

    return _hsv_edit(x, edit)


def _saturate(x, rng):
    factor = rng.uniform(1.8, 2.6)

    def edit(hsv):
        hsv[..., 1] = hsv[..., 1] * factor

    return _hsv_edit(x, edit)


def _invert(x, rng):
    return 1.0 - x


_PERMUTATIONS = ((0, 2, 1), (1, 0, 2), (1, 2, 0), (2, 0, 1), (2, 1, 0))


def _channel_permute(x, rng):
    return x[..., list(_PERMUTATIONS[int(rng.integers(len(_PERMUTATIONS)))])]


def _posterize(x, rng):
    levels = int(rng.integers(3, 5))  # 3 or 4 levels per channel
    return np.round(x * (levels - 1)) / (levels - 1)


# ----------------------------------------------------------------------------- blur and noise


def _gaussian_blur(x, rng):
    from scipy.ndimage import gaussian_filter

    s = rng.uniform(0.8, 1.5)
    return gaussian_filter(x, sigma=(s, s, 0), mode="reflect")


def _motion_blur(x, rng):
    from scipy.ndimage import convolve

    length = int(rng.choice([5, 7, 9]))
    angle = rng.uniform(0, np.pi)
    kernel = np.zeros((length, length), dtype=np.float32)
    c = length // 2
    for t in np.linspace(-c, c, 4 * length):
        kernel[int(round(c + t * np.sin(angle))), int(round(c + t * np.cos(angle)))] = 1.0
    kernel /= kernel.sum()
    return convolve(x, kernel[..., None], mode="reflect")


def _median(x, rng):
    from scipy.ndimage import median_filter

    k = int(rng.integers(3, 5))  # 3 or 4
    return median_filter(x, size=(k, k, 1), mode="reflect")


def _gaussian_noise(x, rng):
    return x + rng.normal(0.0, rng.uniform(0.05, 0.1), x.shape).astype(np.float32)


def _salt_pepper(x, rng):
    amount = rng.uniform(0.03, 0.08)
    u = rng.random(x.shape[:2])
    x[u < amount / 2] = 0.0
    x[u > 1 - amount / 2] = 1.0
    return x


# ----------------------------------------------------------------------------- compression


def _jpeg(x, rng):
    return _codec(x, "JPEG", int(rng.integers(5, 21)))


def _webp(x, rng):
    return _codec(x, "WEBP", int(rng.integers(5, 21)))


def _pixelate(x, rng):
    from mlroundup.embedding_probes.images import resize

    k = int(rng.integers(3, 5))  # blocks of 3 or 4 pixels
    h, w = x.shape[:2]
    small = resize(x, (max(1, h // k), max(1, w // k)), "box")
    return resize(small, (h, w), "nearest")


def _palette(x, rng):
    from PIL import Image

    colours = int(rng.integers(4, 9))
    im = Image.fromarray(np.round(x * 255).astype(np.uint8))
    q = im.quantize(colors=colours, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    return np.asarray(q.convert("RGB"), dtype=np.float32) / 255.0


# ----------------------------------------------------------------------------- geometric


def _hflip(x, rng):
    return x[:, ::-1].copy()


def _vflip(x, rng):
    return x[::-1].copy()


def _rotate90(x, rng):
    k = int(rng.choice([1, 3]))
    return _resize_back(np.ascontiguousarray(np.rot90(x, k)), x.shape)


def _rotate_small(x, rng):
    from skimage.transform import rotate

    angle = rng.uniform(10, 25) * rng.choice([-1.0, 1.0])
    return rotate(x, angle, mode="reflect", order=1).astype(np.float32)


def _zoom_crop(x, rng):
    from mlroundup.embedding_probes.images import resize

    h, w = x.shape[:2]
    f = rng.uniform(0.5, 0.75)
    ch, cw = max(4, int(round(h * f))), max(4, int(round(w * f)))
    top, left = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
    return resize(x[top : top + ch, left : left + cw], (h, w))


def _swirl(x, rng):
    from skimage.transform import swirl

    h, w = x.shape[:2]
    centre = (w / 2 + rng.uniform(-0.15, 0.15) * w, h / 2 + rng.uniform(-0.15, 0.15) * h)
    out = swirl(x, center=centre, strength=rng.uniform(2.0, 4.0),
                radius=rng.uniform(0.5, 0.8) * min(h, w), mode="reflect", order=1)  # fmt: skip
    return out.astype(np.float32)


# ----------------------------------------------------------------------------- overlays

_LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ0123456789"


def _text(x, rng):
    from PIL import ImageFont

    h, w = x.shape[:2]
    text = "".join(rng.choice(list(_LETTERS), size=int(rng.integers(3, 6))))
    font = ImageFont.load_default(size=max(6, int(round(h * rng.uniform(0.25, 0.4)))))
    pos = (int(rng.integers(0, max(1, w // 3))), int(rng.integers(0, max(1, h - h // 3))))
    mask = _pil_mask(x.shape, lambda d: d.text(pos, text, fill=255, font=font))
    return _paint(x, mask, _random_colour(rng))


def _shapes(x, rng):
    h, w = x.shape[:2]
    for _ in range(int(rng.integers(1, 4))):
        sh, sw = int(h * rng.uniform(0.2, 0.4)), int(w * rng.uniform(0.2, 0.4))
        top, left = int(rng.integers(0, h - sh + 1)), int(rng.integers(0, w - sw + 1))
        box = (left, top, left + sw, top + sh)
        ellipse = bool(rng.integers(2))
        mask = _pil_mask(
            x.shape, lambda d, e=ellipse, b=box: (d.ellipse if e else d.rectangle)(b, fill=255)
        )
        x = _paint(x, mask, _random_colour(rng))
    return x


def _grid(x, rng):
    h, w = x.shape[:2]
    step = int(rng.integers(5, 10))
    oy, ox = int(rng.integers(step)), int(rng.integers(step))
    mask = np.zeros((h, w), dtype=np.float32)
    mask[oy::step, :] = 1.0
    mask[:, ox::step] = 1.0
    return _paint(x, mask, _random_colour(rng))


def _border(x, rng):
    h, w = x.shape[:2]
    b = int(rng.integers(2, 5))
    mask = np.ones((h, w), dtype=np.float32)
    mask[b : h - b, b : w - b] = 0.0
    return _paint(x, mask, _random_colour(rng))


# ----------------------------------------------------------------------------- style


def _histogram_match(x, rng):
    from skimage.exposure import match_histograms

    return match_histograms(x, _style_reference(x, rng), channel_axis=-1).astype(np.float32)


def _colour_transfer(x, rng):
    """Reinhard et al. (2001): per-channel mean and standard deviation matched in CIELAB;
    colours outside sRGB are clipped."""
    from skimage.color import lab2rgb, rgb2lab

    lab, ref = rgb2lab(x), rgb2lab(_style_reference(x, rng))
    mu, sd = lab.mean((0, 1)), lab.std((0, 1)) + 1e-3
    out = (lab - mu) / sd * ref.std((0, 1)) + ref.mean((0, 1))
    out[..., 0] = np.clip(out[..., 0], 0.0, 100.0)
    with warnings.catch_warnings():  # out-of-gamut colours are clipped, as the docstring says
        warnings.simplefilter("ignore", UserWarning)
        return lab2rgb(out).astype(np.float32)


def _gram_colour(x, rng):
    ref = _style_reference(x, rng)
    rows = _wct(x.reshape(-1, 3).astype(np.float64), ref.reshape(-1, 3).astype(np.float64), 1e-4)
    return rows.reshape(x.shape).astype(np.float32)


def _gram_patches(x, rng):
    ref = _style_reference(x, rng)
    k = 3
    rows = _wct(_patches(x, k).astype(np.float64), _patches(ref, k).astype(np.float64), 1e-3)
    return _fold(rows, x.shape, k)


# ----------------------------------------------------------------------------- the registry


def _identity(x, rng):
    return x


#: The untouched image: class 0 of the fine-grained task, family ``"none"``.
IDENTITY = Transformation("identity", "none", "-", _identity)

TRANSFORMATIONS: tuple[Transformation, ...] = (
    IDENTITY,
    Transformation("brighten", "photometric", "+[0.15, 0.3]", _brighten),
    Transformation("darken", "photometric", "-[0.15, 0.3]", _darken),
    Transformation("contrast_up", "photometric", "x[1.6, 2.2] about the mean", _contrast(1.6, 2.2)),
    Transformation("contrast_down", "photometric", "x[0.35, 0.55] about the mean",
                   _contrast(0.35, 0.55)),
    Transformation("gamma", "photometric", "x ** [0.4, 0.6]", _gamma),
    Transformation("grayscale", "colour", "BT.601 luma", _grayscale),
    Transformation("hue_shift", "colour", "hue + [0.25, 0.75] turn", _hue_shift),
    Transformation("saturate", "colour", "saturation x[1.8, 2.6]", _saturate),
    Transformation("invert", "colour", "1 - x", _invert),
    Transformation("channel_permute", "colour", "one of 5 RGB permutations", _channel_permute),
    Transformation("posterize", "colour", "3 or 4 levels per channel", _posterize),
    Transformation("gaussian_blur", "blur_noise", "sigma [0.8, 1.5] px", _gaussian_blur),
    Transformation("motion_blur", "blur_noise", "line of 5/7/9 px, any angle", _motion_blur),
    Transformation("median_filter", "blur_noise", "3 x 3 or 4 x 4", _median),
    Transformation("gaussian_noise", "blur_noise", "sigma [0.05, 0.1]", _gaussian_noise),
    Transformation("salt_pepper", "blur_noise", "[3%, 8%] of pixels", _salt_pepper),
    Transformation("jpeg", "compression", "quality [5, 20]", _jpeg),
    Transformation("webp", "compression", "quality [5, 20]", _webp),
    Transformation("pixelate", "compression", "3 or 4 px blocks", _pixelate),
    Transformation("palette", "compression", "median-cut palette of 4-8 colours", _palette),
    Transformation("hflip", "geometric", "left-right mirror", _hflip),
    Transformation("vflip", "geometric", "top-bottom mirror", _vflip),
    Transformation("rotate90", "geometric", "90 or 270 degrees", _rotate90),
    Transformation("rotate_small", "geometric", "+-[10, 25] degrees, reflected edges",
                   _rotate_small),
    Transformation("zoom_crop", "geometric", "crop [50%, 75%] of each side, resized back",
                   _zoom_crop),
    Transformation("swirl", "geometric", "strength [2, 4], radius [0.5, 0.8] x side", _swirl),
    Transformation("text", "overlay", "3-5 letters, height [25%, 40%], random colour", _text),
    Transformation("shapes", "overlay", "1-3 ellipses/rectangles, [20%, 40%] of a side", _shapes),
    Transformation("grid", "overlay", "1 px lines every 5-9 px", _grid),
    Transformation("border", "overlay", "2-4 px frame", _border),
    Transformation("histogram_match", "style", "per-channel histogram of a texture crop",
                   _histogram_match),
    Transformation("colour_transfer", "style", "CIELAB mean/std of a texture crop (Reinhard)",
                   _colour_transfer),
    Transformation("gram_colour", "style", "colour mean + Gram matrix of a texture crop (WCT)",
                   _gram_colour),
    Transformation("gram_patches", "style", "3x3-patch mean + Gram matrix of a texture (WCT)",
                   _gram_patches),
)  # fmt: skip

#: SimCLR's augmentations (Chen et al. 2020, Sec. 3 and Appendix A: random resized crop and flip,
#: colour jitter of brightness / contrast / saturation / hue, random grayscale, Gaussian blur), as
#: the registry's transformations that the contrastive encoder trains to be invariant to.
SIMCLR_AUGMENTATIONS: tuple[str, ...] = (
    "zoom_crop", "hflip", "brighten", "darken", "contrast_up", "contrast_down", "saturate",
    "hue_shift", "grayscale", "gaussian_blur",
)  # fmt: skip


def names() -> list[str]:
    """Names of every transformation, identity first, in registry order."""
    return [t.name for t in TRANSFORMATIONS]


def get(name: str) -> Transformation:
    """The transformation called ``name``.

    Raises
    ------
    KeyError
        If there is none; the message lists the valid names.
    """
    for t in TRANSFORMATIONS:
        if t.name == name:
            return t
    raise KeyError(f"unknown transformation {name!r}; valid: {', '.join(names())}")


def family_members() -> dict[str, list[str]]:
    """``family -> names of its transformations``, in :data:`FAMILIES` order."""
    out: dict[str, list[str]] = {f: [] for f in FAMILIES}
    for t in TRANSFORMATIONS:
        out[t.family].append(t.name)
    return out


def _check_registry() -> None:
    seen = set()
    for t in TRANSFORMATIONS:
        if t.name in seen or t.family not in FAMILIES:
            raise AssertionError(f"registry entry {t.name!r} repeats or has an unknown family")
        seen.add(t.name)
    if not set(SIMCLR_AUGMENTATIONS) <= seen:
        raise AssertionError("SIMCLR_AUGMENTATIONS names a transformation not in the registry")


_check_registry()
