"""Offline joint training of the Y-shaped model (task + reconstruction) on the shared trainer.

Before test time the model is trained jointly on both losses, ``L_task + w L_mae`` (Wang et al.
2023, Sec. 3; the official ``TTT.RECON_LOSS_WEIGHT`` is 1), on images that are not in the test
streams: random crops (position, scale, horizontal flip) of bundled still photographs
(:func:`training_crops`). The loop is :func:`mlroundup.training.train` (budget of steps, cosine
schedule, gradient clipping, atomic ``last.pt`` checkpoints, progress bar) with
:class:`JointMethod` drawing the image batches; :func:`pretrained_yvit` caches the trained model
atomically (:func:`mlroundup.training.save_checkpoint`) under a key of its settings.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mlroundup.training.budget import Charge
from mlroundup.training.method import Method, StepOutput
from mlroundup.ttt.model import YViT, YViTConfig, rgb_to_ycbcr
from mlroundup.ttt.streams import resize, rgb_to_luma, still_image

#: Stills the model trains on; the test streams use the clips and the other stills.
TRAIN_STILLS: tuple[str, ...] = (
    "astronaut", "coffee", "rocket", "immunohistochemistry", "hubble_deep_field", "china",
)  # fmt: skip


def training_crops(
    names: Sequence[str],
    n: int,
    size: tuple[int, int],
    seed: int = 0,
    saturation: tuple[float, float] = (1.0, 1.0),
) -> np.ndarray:
    """``n`` random crops of the named stills, resized to ``size``: (n, H, W, 3) float32 in [0, 1].

    Each crop takes a still uniformly at random, a relative side in [0.3, 1.0] of the image with
    the frame's aspect ratio, a uniform position, a horizontal flip with probability 1/2, and a
    saturation factor ``s ~ U(saturation)``: ``x -> Y + s (x - Y)`` about the pixel's BT.601 luma
    ``Y`` (torchvision's ColorJitter saturation; ``s = 0`` is grey, 1 the photo; the luma is
    unchanged, and ``s <= 1`` keeps pixels in [0, 1]).

    Raises
    ------
    ValueError
        If ``names`` is empty, ``n < 1`` or ``saturation`` is not ``0 <= lo <= hi <= 1``.
    """
    if not names or n < 1:
        raise ValueError(f"training_crops needs stills and n >= 1, got {list(names)} and n={n}")
    lo, hi = saturation
    if not 0.0 <= lo <= hi <= 1.0:
        raise ValueError(f"invalid saturation={saturation}: 0 <= lo <= hi <= 1")
    rng = np.random.default_rng(seed)
    images = []
    for name in names:  # downscale once: the smallest crop still has >= 2x the frame's pixels
        img = still_image(name)
        scale = min(1.0, 4 * size[0] / min(img.shape[:2]) / 0.6)
        images.append(resize(img, (round(img.shape[0] * scale), round(img.shape[1] * scale))))
    aspect = size[1] / size[0]
    out = np.empty((n, *size, 3), dtype=np.float32)
    for i in range(n):
        img = images[int(rng.integers(len(images)))]
        H, W = img.shape[:2]
        side = rng.uniform(0.3, 1.0)
        ch = int(min(H, W / aspect) * side)
        cw = int(ch * aspect)
        y0, x0 = int(rng.integers(0, H - ch + 1)), int(rng.integers(0, W - cw + 1))
        crop = resize(img[y0 : y0 + ch, x0 : x0 + cw], size)
        crop = crop[:, ::-1] if rng.random() < 0.5 else crop
        luma = rgb_to_luma(crop)[..., None]  # (H, W, 1)
        out[i] = luma + np.float32(rng.uniform(lo, hi)) * (crop - luma)
    return np.clip(out, 0.0, 1.0)


@dataclass
class _Indices:
    """What the shared trainer takes as a data stream: the image indices (the method samples)."""

    tokens: np.ndarray
    chars_per_token: float = 1.0


class JointMethod(Method):
    """One step of joint training: ``L_task + recon_weight * L_mae`` on a batch of crops.

    Parameters
    ----------
    train_images, val_images : ndarray of shape (N, H, W, 3), dtype=float32
        Training and validation crops.
    batch_size : int
    recon_weight : float
        Weight of the reconstruction loss (paper code: 1).
    """

    name = "ttt-joint"

    def __init__(
        self, train_images: np.ndarray, val_images: np.ndarray, batch_size: int,
        recon_weight: float = 1.0,
    ) -> None:  # fmt: skip
        if batch_size < 1:
            raise ValueError(f"invalid batch_size={batch_size}: must be >= 1")
        if not (math.isfinite(recon_weight) and recon_weight >= 0):
            raise ValueError(f"invalid recon_weight={recon_weight}: must be >= 0")
        self.train_ycc = _ycc(train_images)
        self.val_ycc = _ycc(val_images)
        self.batch_size, self.recon_weight = batch_size, recon_weight

    def _loss(self, model: YViT, ycc: torch.Tensor, generator=None) -> tuple[torch.Tensor, ...]:
        y, cbcr = ycc[:, :1], ycc[:, 1:]
        task = model.task_loss(y, cbcr)
        mae = model.ssl_loss(y, generator=generator)
        return task + self.recon_weight * mae, task, mae

    def train_step(self, trainer) -> StepOutput:
        idx = trainer.rng(0x77).integers(0, len(self.train_ycc), self.batch_size)
        ycc = self.train_ycc[torch.from_numpy(idx)].to(trainer.config.device)
        gen = torch.Generator().manual_seed(int(trainer.rng(0x78).integers(2**62)))
        loss, _, _ = self._loss(trainer.model, ycc, gen)
        trainer.backward(loss)
        return StepOutput(float(loss.detach()), [Charge("train", len(idx), trainer.n_layers)],
                          len(idx))  # fmt: skip

    @torch.no_grad()
    def evaluate(self, trainer) -> tuple[float, float, float]:
        """Validation (joint loss, task loss, reconstruction loss) on the validation crops with
        fixed masks (the trainer records them as loss / bits per token / bits per char)."""
        model = trainer.model
        was = model.training
        model.eval()
        gen = torch.Generator().manual_seed(0)
        totals = np.zeros(3)
        for i in range(0, len(self.val_ycc), 64):
            ycc = self.val_ycc[i : i + 64].to(trainer.config.device)
            parts = self._loss(model, ycc, gen)
            totals += np.array([float(p) for p in parts]) * len(ycc)
        model.train(was)
        loss, task, mae = totals / len(self.val_ycc)
        return float(loss), float(task), float(mae)

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "batch_size": self.batch_size,
                "recon_weight": self.recon_weight}  # fmt: skip


def _ycc(images: np.ndarray) -> torch.Tensor:
    x = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2)  # (N, 3, H, W)
    return rgb_to_ycbcr(x).contiguous()


@dataclass(frozen=True)
class PretrainSpec:
    """How the offline model is made (its cache key).

    Parameters
    ----------
    model : YViTConfig
    steps, batch_size, lr : int, int, float
        Optimizer steps, batch, peak learning rate (cosine, 5% warm-up, floor 10%).
    n_train, n_val : int
        Training and validation crops.
    recon_weight : float
    stills : tuple of str
        The stills the crops come from (never the test streams').
    saturation : (float, float)
        Range of the crops' saturation factor (:func:`training_crops`): photos are more
        colourful than most video, so the model also sees them less saturated.
    seed : int
    version : int
        Cache version of the training code.
    """

    model: YViTConfig = YViTConfig()
    steps: int = 600
    batch_size: int = 32
    lr: float = 2e-3
    n_train: int = 1536
    n_val: int = 128
    recon_weight: float = 1.0
    stills: tuple[str, ...] = TRAIN_STILLS
    saturation: tuple[float, float] = (0.0, 1.0)
    seed: int = 0
    #: Bumped when the code changes what a spec trains (2: zero-initialised colour head;
    #: 3: saturation jitter).
    version: int = 3

    def key(self) -> str:
        d = asdict(self)
        d["model"] = self.model.to_dict()
        blob = json.dumps(d, sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]


def train_yvit(
    spec: PretrainSpec,
    device: str = "cpu",
    checkpoint_dir: Path | str | None = None,
    progress: bool = False,
    on_step: Callable | None = None,
):
    """Jointly train a fresh :class:`YViT` per ``spec`` on :func:`mlroundup.training.train`.

    Returns
    -------
    model : YViT
        The trained model (on ``device``).
    result : mlroundup.training.TrainResult
        History and validations (``final.loss`` joint, ``bits_per_token`` slot = task loss,
        ``bits_per_char`` slot = reconstruction loss; see :meth:`JointMethod.evaluate`).
    """
    from mlroundup.training import Budget, BudgetSchedule, TrainConfig, train

    size = spec.model.image_size
    crops = training_crops(spec.stills, spec.n_train + spec.n_val, size, spec.seed,
                           spec.saturation)  # fmt: skip
    method = JointMethod(crops[: spec.n_train], crops[spec.n_train :], spec.batch_size,
                         spec.recon_weight)  # fmt: skip
    torch.manual_seed(spec.seed)
    model = YViT(spec.model)
    data = (_Indices(np.arange(spec.n_train)), _Indices(np.arange(spec.n_val)))
    config = TrainConfig(batch_size=spec.batch_size, seq_len=1, seed=spec.seed, weight_decay=0.05,
                         betas=(0.9, 0.95), grad_clip=1.0, eval_sequences=1,
                         checkpoint_dir=checkpoint_dir, progress=progress, device=device)  # fmt: skip
    result = train(model, data, Budget.of_steps(spec.steps),
                   BudgetSchedule(spec.lr, "cosine", warmup=0.05, floor=0.1), method=method,
                   config=config, on_step=on_step)  # fmt: skip
    return result.model, result


def save_yvit(path: Path | str, model: YViT, info: dict[str, Any] | None = None) -> Path:
    """Write the model's config and weights atomically (:func:`mlroundup.training.save_checkpoint`)."""
    from mlroundup.training import save_checkpoint

    return save_checkpoint(path, {"kind": "mlroundup.ttt.YViT", "config": model.cfg.to_dict(),
                                  "state": model.state_dict(), "info": info or {}})  # fmt: skip


def load_yvit(path: Path | str) -> YViT:
    """Read a model written by :func:`save_yvit`.

    Raises
    ------
    FileNotFoundError
        If there is no file at ``path``.
    ValueError
        If the file is damaged or not a :func:`save_yvit` checkpoint.
    """
    from mlroundup.training import load_checkpoint

    try:
        ckpt = load_checkpoint(path)
    except FileNotFoundError:
        raise
    except Exception as exc:  # noqa: BLE001 - torch raises many kinds on a damaged file
        raise ValueError(
            f"{path} is not a readable checkpoint ({type(exc).__name__}: {exc})"
        ) from None
    if not isinstance(ckpt, dict) or ckpt.get("kind") != "mlroundup.ttt.YViT":
        raise ValueError(f"{path} is not a YViT checkpoint written by mlroundup.ttt.save_yvit")
    model = YViT(YViTConfig.from_dict(ckpt["config"]))
    model.load_state_dict(ckpt["state"])
    return model


def pretrained_yvit(
    spec: PretrainSpec, cache_dir: Path | str, log: Callable[[str], None] | None = None,
    **train_kw: Any,
) -> tuple[YViT, dict[str, Any]]:  # fmt: skip
    """The model of ``spec`` from the cache (``cache_dir/ttt/yvit-<key>.pt``), trained and written
    there atomically when missing.

    Returns
    -------
    model : YViT
    info : dict
        ``path``, ``cached`` (bool) and, when trained now, the final validation losses.
    """
    path = Path(cache_dir) / "ttt" / f"yvit-{spec.key()}.pt"
    if path.is_file():
        try:
            return load_yvit(path), {"path": str(path), "cached": True}
        except (ValueError, RuntimeError, KeyError) as exc:
            if log:
                log(f"ignoring unreadable cached model {path}: {exc}")
    model, result = train_yvit(spec, **train_kw)
    final = result.final
    info = {"val_joint": final.loss, "val_task": final.bits_per_token,
            "val_mae": final.bits_per_char, "steps": result.steps}  # fmt: skip
    save_yvit(path, model, info)
    return model, {"path": str(path), "cached": False, **info}
