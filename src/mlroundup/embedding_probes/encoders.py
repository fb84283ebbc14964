"""Encoders: the interface any image embedding plugs into, and four small ones trained here.

**The interface.** An encoder is any callable that takes a batch of images, a float32 array of
shape ``(N, H, W, 3)`` with values in ``[0, 1]``, and returns their embeddings, shape ``(N, D)``
(a NumPy array, a list of lists, or a torch tensor). :func:`embed` feeds it batches and checks
every answer: wrong shapes, a changing ``D`` or non-finite values raise
:class:`EncoderOutputError` naming the problem. CLIP, a timm model or your own network plug in
with a few lines (resize, normalise, run, return the pooled features).

**Four small encoders** (no pretrained image encoder is available offline, so these are trained
here, on CPU, in seconds): one convolutional network (:class:`ConvEncoder`, 32 x 32 input, three
stride-2 convolutions and a linear layer to ``dim``) trained four ways on composites of bundled
digits and photos (:func:`mlroundup.embedding_probes.images.make_composites`, the ``"encoder"``
digits, never the probe's):

``supervised``
    cross-entropy on the digit class (the paper's supervised baseline);
``contrastive``
    SimCLR (Chen et al. 2020): NT-Xent between two augmented views of an image, the views drawn
    from :data:`~mlroundup.embedding_probes.transforms.SIMCLR_AUGMENTATIONS`, a known subset of the
    probe's transformations; the embedding is taken before the projection head, as in SimCLR;
``mae``
    masked-autoencoder style (He et al. 2022): 75% of 4 x 4 patches are blanked (set to the mean
    grey) and a decoder reconstructs them, the loss on the masked pixels only; a convolutional
    encoder cannot drop masked tokens like MAE's ViT, so it sees them blank (as in SimMIM), and is
    probed on unmasked images;
``random``
    the same network at its random initialisation.

Trained weights are cached in ``<cache>/embedding_probes/<kind>-<hash>.pt`` (``<cache>`` is
:func:`mlroundup.utils.paths.default_cache_dir`), written atomically
(:func:`mlroundup.utils.files.atomic_writer`) under a file lock, keyed by the whole training
configuration, so a rerun loads them instead of training.

Why a training loop of its own: the shared trainer (``mlroundup.budgeted_training`` /
``mlroundup.training``) trains a GPT on token windows; these objectives need image batches, pairs
of augmented views and masks, so one small loop (:func:`train_encoder`) serves all three here.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from mlroundup.embedding_probes.transforms import check_image

#: The encoders trained here, in display order.
ENCODER_KINDS: tuple[str, ...] = ("supervised", "contrastive", "mae", "random")

#: Output length of the contrastive encoder's projection head (SimCLR's z).
PROJECTION_DIM = 64

#: Bump when the training code changes what a configuration produces (invalidates the cache).
TRAINING_VERSION = 2

Track = Callable[[Iterable[Any], str, int | None], Iterator[Any]]


class Encoder(Protocol):
    """Anything that maps images ``(N, H, W, 3)`` float32 in ``[0, 1]`` to embeddings ``(N, D)``."""

    def __call__(self, images: np.ndarray) -> Any: ...  # pragma: no cover


class EncoderOutputError(ValueError):
    """An encoder returned something that is not one finite ``(N, D)`` embedding per image."""


def check_batch(images: np.ndarray, what: str = "images") -> np.ndarray:
    """``images`` as float32 if it is a finite ``(N, H, W, 3)`` batch in ``[0, 1]`` with N >= 1.

    Raises
    ------
    ValueError
        Naming what is wrong.
    """
    if not isinstance(images, np.ndarray) or images.ndim != 4:
        shape = getattr(images, "shape", None)
        raise ValueError(f"{what} must be an array of shape (N, H, W, 3), got {shape}")
    if len(images) == 0:
        raise ValueError(f"{what} is empty")
    check_image(images[0], f"{what}[0]")  # shape, dtype
    x = images.astype(np.float32, copy=False)
    if not np.isfinite(x).all():
        raise ValueError(f"{what} has non-finite values")
    if float(x.min()) < 0.0 or float(x.max()) > 1.0:
        raise ValueError(f"{what} values must lie in [0, 1], got [{x.min():.4g}, {x.max():.4g}]")
    return x


def _as_array(out: Any, name: str) -> np.ndarray:
    if hasattr(out, "detach") and hasattr(out, "cpu"):  # a torch tensor, without importing torch
        out = out.detach().cpu().numpy()
    try:
        arr = np.asarray(out, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise EncoderOutputError(
            f"{name} returned {type(out).__name__}, not an array of numbers: {exc}"
        ) from None
    return arr


def embed(encoder: Encoder, images: np.ndarray, *, batch_size: int = 256,
          name: str = "encoder") -> np.ndarray:  # fmt: skip
    """Embed ``images`` with ``encoder``, ``batch_size`` images per call, checking every answer.

    Parameters
    ----------
    encoder : callable
        ``encoder(batch (b, H, W, 3) float32 in [0, 1]) -> (b, D)`` array-like or torch tensor.
    images : ndarray of shape (N, H, W, 3), dtype float32
        Values in ``[0, 1]``.
    batch_size : int
        Images per call (>= 1).
    name : str
        How the encoder is named in errors.

    Returns
    -------
    ndarray of shape (N, D), dtype float32

    Raises
    ------
    ValueError
        If ``images`` is not such a batch or ``batch_size < 1``.
    EncoderOutputError
        If an answer is not numeric, not 2-D, has a row count other than the batch's, a ``D``
        other than the first batch's, or holds NaN or infinity.
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"invalid batch_size={batch_size!r}: a positive integer")
    x = check_batch(images)
    parts: list[np.ndarray] = []
    dim = None
    for start in range(0, len(x), batch_size):
        batch = x[start : start + batch_size]
        arr = _as_array(encoder(batch), name)
        if arr.ndim != 2:
            raise EncoderOutputError(
                f"{name} returned shape {arr.shape} for {len(batch)} images; expected "
                f"({len(batch)}, D): one vector per image"
            )
        if arr.shape[0] != len(batch):
            raise EncoderOutputError(
                f"{name} returned {arr.shape[0]} rows for a batch of {len(batch)} images"
            )
        if arr.shape[1] < 1 or (dim is not None and arr.shape[1] != dim):
            raise EncoderOutputError(
                f"{name} returned vectors of length {arr.shape[1]}"
                + (f" after {dim} for earlier images" if dim is not None else "")
            )
        bad = ~np.isfinite(arr)
        if bad.any():
            rows = np.flatnonzero(bad.any(axis=1))
            raise EncoderOutputError(
                f"{name} returned non-finite values (NaN or inf) for {len(rows)} of {len(batch)} "
                f"images, first image {start + int(rows[0])}"
            )
        dim = arr.shape[1]
        parts.append(arr.astype(np.float32))
    return np.concatenate(parts)


def pixels(images: np.ndarray) -> np.ndarray:
    """A reference "encoder": the pixels, 2 x 2 average-pooled and flattened, ``(N, H/2*W/2*3)``.

    Every transformation changes pixels, so this is what a probe can read with no encoder at all.
    """
    x = check_batch(images)
    n, h, w, _ = x.shape
    h2, w2 = h // 2 * 2, w // 2 * 2
    pooled = x[:, :h2, :w2].reshape(n, h2 // 2, 2, w2 // 2, 2, 3).mean(axis=(2, 4))
    return pooled.reshape(n, -1)


# ----------------------------------------------------------------------------- configuration


@dataclass(frozen=True)
class EncoderConfig:
    """How one of the small encoders is built and trained.

    Parameters
    ----------
    kind : {"supervised", "contrastive", "mae", "random"}
    size : int
        Input side in pixels (a multiple of 8, >= 16).
    width : int
        Channels of the first convolution (then 2x and 4x).
    dim : int
        Embedding length.
    n_images : int
        Training composites.
    steps, batch_size : int
        Optimizer steps (AdamW, cosine decay to 10%) and images per step.
    lr : float
        Peak learning rate.
    seed : int
        Seeds the composites, the views, the masks, the initialisation and the batches.
    temperature : float
        NT-Xent temperature (contrastive).
    views : int
        Augmented views precomputed per image (contrastive, >= 2).
    mask_ratio : float
        Fraction of patches masked (mae), in (0, 1).
    patch : int
        Mask patch side in pixels (mae); divides ``size``.

    Raises
    ------
    ValueError
        If a field is out of range (the message names it).
    """

    kind: str
    size: int = 32
    width: int = 32
    dim: int = 128
    n_images: int = 1200
    steps: int = 200
    batch_size: int = 128
    lr: float = 2e-3
    seed: int = 0
    temperature: float = 0.2
    views: int = 4
    mask_ratio: float = 0.75
    patch: int = 4

    def __post_init__(self) -> None:
        if self.kind not in ENCODER_KINDS:
            raise ValueError(f"invalid kind {self.kind!r}; valid: {', '.join(ENCODER_KINDS)}")
        if self.size < 16 or self.size % 8:
            raise ValueError(f"invalid size={self.size}: a multiple of 8, at least 16")
        for name in ("width", "dim", "n_images", "batch_size", "views", "patch"):
            if getattr(self, name) < 1:
                raise ValueError(f"invalid {name}={getattr(self, name)}: at least 1")
        if self.steps < 0:
            raise ValueError(f"invalid steps={self.steps}: at least 0")
        if self.views < 2:
            raise ValueError(f"invalid views={self.views}: a contrastive pair needs 2")
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"invalid lr={self.lr}: a positive number")
        if not (math.isfinite(self.temperature) and self.temperature > 0):
            raise ValueError(f"invalid temperature={self.temperature}: a positive number")
        if not 0 < self.mask_ratio < 1:
            raise ValueError(f"invalid mask_ratio={self.mask_ratio}: in (0, 1)")
        if self.size % self.patch:
            raise ValueError(f"invalid patch={self.patch}: must divide size={self.size}")

    def key(self) -> str:
        """A short hash of the configuration and :data:`TRAINING_VERSION` (the cache key)."""
        blob = json.dumps({"v": TRAINING_VERSION, **dataclasses.asdict(self)}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


# ----------------------------------------------------------------------------- the network


def _torch_modules():
    import torch
    from torch import nn

    class ConvEncoder(nn.Module):
        """(B, 3, S, S) in [0, 1] -> (B, dim): three 3x3 stride-2 convolutions (width, 2 width,
        4 width channels, ReLU) and a linear layer from the (4 width, S/8, S/8) map."""

        def __init__(self, size: int, width: int, dim: int) -> None:
            super().__init__()
            self.size, self.width, self.dim = size, width, dim
            self.features = nn.Sequential(
                nn.Conv2d(3, width, 3, stride=2, padding=1), nn.ReLU(),  # (B, w, S/2, S/2)
                nn.Conv2d(width, 2 * width, 3, stride=2, padding=1), nn.ReLU(),  # (B, 2w, S/4, S/4)
                nn.Conv2d(2 * width, 4 * width, 3, stride=2, padding=1), nn.ReLU(),  # (B, 4w, S/8, S/8)
            )  # fmt: skip
            self.fc = nn.Linear(4 * width * (size // 8) ** 2, dim)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            h = self.features((x - 0.5) / 0.25)  # inputs centred: grey 0.5 -> 0
            return self.fc(h.flatten(1))  # (B, dim)

    class Decoder(nn.Module):
        """(B, dim) -> (B, 3, S, S) in [0, 1]: the encoder's mirror (transposed convolutions)."""

        def __init__(self, size: int, width: int, dim: int) -> None:
            super().__init__()
            self.shape = (4 * width, size // 8, size // 8)
            self.fc = nn.Linear(dim, int(np.prod(self.shape)))
            self.up = nn.Sequential(
                nn.ReLU(),
                nn.ConvTranspose2d(4 * width, 2 * width, 4, stride=2, padding=1), nn.ReLU(),
                nn.ConvTranspose2d(2 * width, width, 4, stride=2, padding=1), nn.ReLU(),
                nn.ConvTranspose2d(width, 3, 4, stride=2, padding=1), nn.Sigmoid(),
            )  # fmt: skip

        def forward(self, z: torch.Tensor) -> torch.Tensor:
            return self.up(self.fc(z).view(-1, *self.shape))  # (B, 3, S, S)

    return ConvEncoder, Decoder


def build_encoder(config: EncoderConfig):
    """A freshly initialised :class:`ConvEncoder` (torch ``nn.Module``), seeded by ``config.seed``."""
    import torch

    conv_encoder, _ = _torch_modules()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        return conv_encoder(config.size, config.width, config.dim)


def build_head(config: EncoderConfig):
    """What training puts on the encoder, freshly initialised (seed ``config.seed + 1``): a linear
    classifier to the 10 digits (supervised), SimCLR's projection head ``dim -> dim -> ReLU -> 64``
    (contrastive), the :class:`Decoder` (mae); None for ``kind="random"``."""
    import torch
    from torch import nn

    if config.kind == "random":
        return None
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed + 1)
        if config.kind == "supervised":
            return nn.Linear(config.dim, 10)
        if config.kind == "contrastive":
            return nn.Sequential(nn.Linear(config.dim, config.dim), nn.ReLU(),
                                 nn.Linear(config.dim, PROJECTION_DIM))  # fmt: skip
        return _torch_modules()[1](config.size, config.width, config.dim)


def _nt_xent(z: Any, temperature: float) -> Any:
    """SimCLR's NT-Xent loss (Chen et al. 2020, Eq. 1) of ``z`` (2B, d): rows i and i+B are a pair."""
    import torch
    import torch.nn.functional as F

    z = F.normalize(z, dim=1)
    n = len(z) // 2
    sim = z @ z.T / temperature  # (2B, 2B)
    sim.fill_diagonal_(float("-inf"))
    target = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)])
    return F.cross_entropy(sim, target)


def simclr_views(images: np.ndarray, views: int, seed: int) -> np.ndarray:
    """``views`` SimCLR-style augmentations of each image, ``(N, views, H, W, 3)`` float32.

    Each view applies, with these probabilities and in this order: ``zoom_crop`` (0.5), ``hflip``
    (0.5), colour jitter (0.8: one of brighten / darken / neither, one of contrast_up /
    contrast_down / neither, then ``saturate`` and ``hue_shift`` with probability 0.5 each),
    ``grayscale`` (0.2), ``gaussian_blur`` (0.5): SimCLR's recipe (Chen et al. 2020, Appendix A)
    built from the registry's transformations, so the encoder's invariances are known exactly.
    """
    from mlroundup.embedding_probes.transforms import get

    t = {name: get(name) for name in
         ("zoom_crop", "hflip", "brighten", "darken", "contrast_up", "contrast_down",
          "saturate", "hue_shift", "grayscale", "gaussian_blur")}  # fmt: skip
    rng = np.random.default_rng([seed, 1])
    out = np.empty((len(images), views, *images.shape[1:]), dtype=np.float32)
    for i, img in enumerate(images):
        for v in range(views):
            x = img
            chain: list[str] = []
            if rng.random() < 0.5:
                chain.append("zoom_crop")
            if rng.random() < 0.5:
                chain.append("hflip")
            if rng.random() < 0.8:
                chain += [c for c in (rng.choice(["brighten", "darken", ""]),
                                      rng.choice(["contrast_up", "contrast_down", ""])) if c]  # fmt: skip
                chain += [c for c in ("saturate", "hue_shift") if rng.random() < 0.5]
            if rng.random() < 0.2:
                chain.append("grayscale")
            if rng.random() < 0.5:
                chain.append("gaussian_blur")
            for name in chain:
                x = t[name](x, int(rng.integers(2**31)))
            out[i, v] = x
    return out


def train_encoder(config: EncoderConfig, *, track: Track | None = None,
                  ) -> tuple[Any, Any, list[float]]:  # fmt: skip
    """Train one of the small encoders as ``config`` says; returns ``(module, head, losses)``.

    Parameters
    ----------
    config : EncoderConfig
    track : callable, optional
        ``track(iterable, description, total)`` wrapping the step loop in a progress bar
        (``RunContext.track`` fits); None shows none.

    Returns
    -------
    module : torch.nn.Module
        The :class:`ConvEncoder` (in eval mode).
    head : torch.nn.Module or None
        What training put on top (eval mode): the classifier (supervised), the projection head
        (contrastive), the decoder (mae); None for ``kind="random"``.
    losses : list of float
        Training loss at each step (empty for ``kind="random"``).

    Raises
    ------
    mlroundup.training.NonFiniteLossError
        (a FloatingPointError) If the loss becomes non-finite (names the step).

    Notes
    -----
    Runs on the project's shared trainer (:func:`mlroundup.training.train`, ``data=None``, a step
    budget of ``config.steps``, AdamW with weight decay 1e-4 on the matrices, cosine decay to 10%
    of ``config.lr``) with :func:`EncoderObjective` as the method.
    """
    import torch

    from mlroundup.embedding_probes.images import make_composites
    from mlroundup.training import Budget, BudgetSchedule, TrainConfig, train

    model = build_encoder(config)
    if config.kind == "random":
        return model.eval(), None, []
    data = make_composites(config.n_images, config.size, part="encoder", seed=config.seed)
    views = None
    if config.kind == "contrastive":
        views = torch.from_numpy(simclr_views(data.images, config.views, config.seed))
        views = views.permute(0, 1, 4, 2, 3).contiguous()  # (N, V, 3, S, S)
    head = build_head(config)
    if config.steps == 0:
        return model.eval(), head.eval(), []
    objective = EncoderObjective(config, data.images, data.labels, views)
    progress = None
    if track is not None:
        progress = iter(track(range(config.steps), f"train {config.kind} encoder", config.steps))

    def on_step(_trainer: Any, _record: dict[str, float]) -> None:
        if progress is not None:
            next(progress, None)

    pair = torch.nn.ModuleDict({"encoder": model, "head": head})
    res = train(
        pair, None, Budget.of_steps(config.steps),
        BudgetSchedule(config.lr, kind="cosine", warmup=0.0, floor=0.1),
        method=objective,
        config=TrainConfig(batch_size=min(config.batch_size, len(data.images)), seed=config.seed,
                           weight_decay=1e-4, grad_clip=None),
        on_step=on_step,
    )  # fmt: skip
    if progress is not None:
        for _ in progress:  # close the bar
            pass
    return model.eval(), head.eval(), res.losses


def _encoder_objective_class():
    import torch
    import torch.nn.functional as F

    from mlroundup.training.budget import Charge
    from mlroundup.training.method import Method, StepOutput

    class _EncoderObjective(Method):
        """The training objective of one small encoder as a method of the shared trainer
        (:func:`mlroundup.training.train` with ``data=None``): each step draws its batch (and
        views or masks) from the trainer's per-step generator, so a run is reproducible.

        ``kind="supervised"``: cross-entropy of the digit; ``"contrastive"``: SimCLR's NT-Xent
        (Chen et al. 2020) on two distinct precomputed views; ``"mae"``: squared error on the
        masked patches (masked patches set to grey), as He et al. 2022.
        """

        name = "encoder-objective"

        def __init__(self, config, images: np.ndarray, labels: np.ndarray, views) -> None:
            self.config = config
            self.images = torch.from_numpy(images).permute(0, 3, 1, 2).contiguous()  # (N,3,S,S)
            self.labels = torch.from_numpy(labels)
            self.views = views
            self.name = f"{config.kind}-encoder"

        def make_optimizer(self, trainer):
            return torch.optim.AdamW(trainer.param_groups(), lr=0.0)

        def train_step(self, trainer) -> StepOutput:
            c = self.config
            rng = trainer.rng()
            encoder, head = trainer.model["encoder"], trainer.model["head"]
            trainer.model.train()
            b = trainer.local_batch
            idx = torch.from_numpy(rng.integers(len(self.images), size=b))
            if c.kind == "supervised":
                loss = F.cross_entropy(head(encoder(self.images[idx])), self.labels[idx])
            elif c.kind == "contrastive":
                a = rng.integers(c.views, size=b)
                other = (a + rng.integers(1, c.views, size=b)) % c.views
                a, other = torch.from_numpy(a), torch.from_numpy(other)
                pair = torch.cat([self.views[idx, a], self.views[idx, other]])  # two distinct
                loss = _nt_xent(head(encoder(pair)), c.temperature)
            else:
                x = self.images[idx]
                grid = c.size // c.patch
                keep = torch.from_numpy(rng.random((b, 1, grid, grid)) >= c.mask_ratio)
                mask = (~keep).float().repeat_interleave(c.patch, 2).repeat_interleave(c.patch, 3)
                recon = head(encoder(x * (1 - mask) + 0.5 * mask))  # masked patches grey
                loss = ((recon - x) ** 2 * mask).sum() / (3 * mask.sum()).clamp(min=1)
            trainer.backward(loss)
            return StepOutput(float(loss.detach()), [Charge("train", b, 0)], 0)

        def evaluate(self, trainer):
            last = trainer.history[-1]["loss"] if trainer.history else math.nan
            return last, math.nan, math.nan  # the probes are the evaluation

    return _EncoderObjective


def EncoderObjective(config, images, labels, views):  # noqa: N802 - a class made on first use
    """The :class:`~mlroundup.training.method.Method` training ``config``'s encoder (torch is
    imported on first use). ``images`` (N, S, S, 3) float32 in [0, 1], ``labels`` (N,) int64,
    ``views`` (N, V, 3, S, S) float32 tensor for the contrastive kind, else None."""
    return _encoder_objective_class()(config, images, labels, views)


# ----------------------------------------------------------------------------- ready encoders


@dataclass
class TorchEncoder:
    """A trained :class:`ConvEncoder` as an :class:`Encoder`: images ``(N, H, W, 3)`` in ``[0, 1]``
    -> embeddings ``(N, dim)`` float32. Images of another size are resized (bicubic) to
    ``config.size`` first.

    Attributes
    ----------
    model : torch.nn.Module
        The encoder.
    head : torch.nn.Module or None
        What training put on top (see :func:`build_head`).
    config : EncoderConfig
    losses : list of float
        The training loss per step.
    cached : bool
        Whether the weights were loaded from the cache rather than trained in this process.
    train_seconds : float
        Wall time of training (0 when loaded).
    path : pathlib.Path or None
        The checkpoint file.
    output : {"embedding", "projection"}
        What a call returns: the encoder's embedding (default; SimCLR's h), or, for the
        contrastive encoder, the projection head's output (SimCLR's z, ``PROJECTION_DIM`` long),
        the vector the NT-Xent loss made invariant to the augmentations.
    """

    model: Any
    head: Any = None
    config: EncoderConfig = field(default_factory=lambda: EncoderConfig("random"))
    losses: list[float] = field(default_factory=list)
    cached: bool = False
    train_seconds: float = 0.0
    path: Path | None = None
    output: str = "embedding"

    def __post_init__(self) -> None:
        if self.output not in ("embedding", "projection"):
            raise ValueError(f"invalid output {self.output!r}; valid: 'embedding', 'projection'")
        if self.output == "projection" and self.config.kind != "contrastive":
            raise ValueError(
                f"output='projection' needs the contrastive encoder, not {self.config.kind!r}"
            )

    def projection(self) -> TorchEncoder:
        """The same encoder returning the projection head's output (contrastive only)."""
        return dataclasses.replace(self, output="projection")

    def __call__(self, images: np.ndarray) -> np.ndarray:
        import torch

        from mlroundup.embedding_probes.images import resize

        x = check_batch(images)
        s = self.config.size
        if x.shape[1:3] != (s, s):
            x = np.stack([resize(im, s) for im in x])
        with torch.no_grad():
            t = torch.from_numpy(np.ascontiguousarray(x)).permute(0, 3, 1, 2)  # (N, 3, S, S)
            h = self.model(t)
            return (self.head(h) if self.output == "projection" else h).numpy()


def checkpoint_path(config: EncoderConfig, cache_dir: Path | str | None = None) -> Path:
    """Where :func:`load_or_train` keeps ``config``'s weights."""
    from mlroundup.utils.paths import default_cache_dir

    root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    return root / "embedding_probes" / f"{config.kind}-{config.key()}.pt"


def load_or_train(config: EncoderConfig, cache_dir: Path | str | None = None, *,
                  track: Track | None = None) -> TorchEncoder:  # fmt: skip
    """The encoder ``config`` describes: loaded from the cache, else trained and saved there.

    ``kind="random"`` is rebuilt from its seed (nothing to cache). Two processes asking for the
    same configuration at once train it once (a file lock); a checkpoint that fails to load (say,
    from a crash of an older version) is trained again and replaced.

    Parameters
    ----------
    config : EncoderConfig
    cache_dir : path, optional
        Default :func:`mlroundup.utils.paths.default_cache_dir`.
    track : callable, optional
        Progress bar for training (see :func:`train_encoder`).

    Returns
    -------
    TorchEncoder
    """
    import torch

    from mlroundup.utils.files import atomic_writer, file_lock

    if config.kind == "random":
        return TorchEncoder(build_encoder(config).eval(), None, config)
    path = checkpoint_path(config, cache_dir)
    with file_lock(path.with_suffix(".lock")):
        if path.is_file():
            try:
                payload = torch.load(path, map_location="cpu", weights_only=True)
                model, head = build_encoder(config), build_head(config)
                model.load_state_dict(payload["model"])
                head.load_state_dict(payload["head"])
                return TorchEncoder(model.eval(), head.eval(), config, list(payload["losses"]),
                                    True, 0.0, path)  # fmt: skip
            except Exception:  # noqa: BLE001 - an unreadable cache entry is rebuilt
                pass
        started = time.perf_counter()
        model, head, losses = train_encoder(config, track=track)
        seconds = time.perf_counter() - started
        with atomic_writer(path) as fh:
            torch.save({"model": model.state_dict(), "head": head.state_dict(), "losses": losses,
                        "config": dataclasses.asdict(config)}, fh)  # fmt: skip
    return TorchEncoder(model, head, config, losses, False, seconds, path)


def _rich_track(items: Iterable[Any], description: str, total: int | None) -> Iterator[Any]:
    from rich.console import Console
    from rich.progress import track

    yield from track(items, description=description, total=total, console=Console(stderr=True))


_READY: dict[str, TorchEncoder] = {}


def _ready(kind: str, images: np.ndarray) -> np.ndarray:
    if kind not in _READY:
        _READY[kind] = load_or_train(EncoderConfig(kind), track=_rich_track)
    return _READY[kind](images)


def supervised(images: np.ndarray) -> np.ndarray:
    """The supervised encoder at its default configuration (trained on first use, then cached)."""
    return _ready("supervised", images)


def contrastive(images: np.ndarray) -> np.ndarray:
    """The SimCLR-style encoder at its default configuration (trained on first use, then cached)."""
    return _ready("contrastive", images)


def mae(images: np.ndarray) -> np.ndarray:
    """The MAE-style encoder at its default configuration (trained on first use, then cached)."""
    return _ready("mae", images)


def random_init(images: np.ndarray) -> np.ndarray:
    """The randomly initialised encoder (seed 0)."""
    return _ready("random", images)
