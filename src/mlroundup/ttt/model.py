"""A small ViT-style Y-shaped network: shared encoder, MAE reconstruction head, colorization head.

The Y shape of TTT-MAE (Gandelsman et al. 2022; Wang et al. 2023, Sec. 3, Fig. 2): one encoder
``f`` feeds two heads, a masked-autoencoder decoder ``g`` (the self-supervised task, trainable at
test time) and a task head ``h`` (the main task). Input is the grey (luma) frame, so both tasks
see only what a test frame offers:

- **reconstruction** (:meth:`YViT.ssl_loss`): split the grey frame into ``p x p`` patches, keep a
  random ``1 - mask_ratio`` of them per image (MAE's per-sample shuffle: ``int(L (1 - r))`` kept
  patches; the paper and its code use ``r = 0.85``), encode only the kept patches, decode all
  positions with mask tokens, and score the mean squared error on the masked patches;
- **colorization** (:meth:`YViT.predict`): encode every patch and predict the two chroma channels
  (Cb, Cr of JPEG's full-range YCbCr) of each pixel; with the known luma this gives an RGB frame
  (:func:`ycbcr_to_rgb`), scored by PSNR against the clip (Sec. 5.4 of the paper colorizes video).

Read top to bottom: config, blocks, encoder, the two heads, the Y-shaped model.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

#: RGB -> YCbCr (JPEG / ITU-R BT.601 full range, values in [0, 1], offsets 0.5 on Cb, Cr).
_RGB2YCC = np.array(
    [[0.299, 0.587, 0.114], [-0.168736, -0.331264, 0.5], [0.5, -0.418688, -0.081312]],
    dtype=np.float64,
)
_YCC2RGB = np.linalg.inv(_RGB2YCC)


def rgb_to_ycbcr(rgb: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) RGB in [0, 1] -> (B, 3, H, W) Y, Cb, Cr in [0, 1] (JPEG full range)."""
    m = torch.as_tensor(_RGB2YCC, dtype=rgb.dtype, device=rgb.device)
    ycc = torch.einsum("ij,bjhw->bihw", m, rgb)
    offset = torch.tensor([0.0, 0.5, 0.5], dtype=rgb.dtype, device=rgb.device)
    return ycc + offset.view(1, 3, 1, 1)


def ycbcr_to_rgb(y: torch.Tensor, cbcr: torch.Tensor) -> torch.Tensor:
    """Luma (B, 1, H, W) and chroma (B, 2, H, W) -> RGB (B, 3, H, W), not clipped."""
    m = torch.as_tensor(_YCC2RGB, dtype=y.dtype, device=y.device)
    ycc = torch.cat([y, cbcr - 0.5], dim=1)  # (B, 3, H, W)
    return torch.einsum("ij,bjhw->bihw", m, ycc)


@dataclass(frozen=True)
class YViTConfig:
    """Shape of a :class:`YViT`.

    Parameters
    ----------
    image_size : (int, int)
        (H, W) of the input frames, each divisible by ``patch_size``.
    patch_size : int
        Side of the square patches (the paper's code masks 16-pixel patches at full resolution;
        our frames are ~20x smaller, so patches are smaller too).
    d_model, n_layer, n_head : int
        Encoder width, depth and heads (``d_model % n_head == 0``).
    d_decoder, n_decoder_layer : int
        MAE decoder width and depth.
    mask_ratio : float
        Fraction of patches hidden from the encoder in the reconstruction task, in (0, 1)
        (paper: 0.85, ``PRETRAIN.MASK_RATIO`` in the official config).
    mlp_ratio : int
    """

    image_size: tuple[int, int] = (48, 64)
    patch_size: int = 8
    d_model: int = 64
    n_layer: int = 3
    n_head: int = 4
    d_decoder: int = 32
    n_decoder_layer: int = 1
    mask_ratio: float = 0.85
    mlp_ratio: int = 2

    def __post_init__(self) -> None:
        h, w = self.image_size
        p = self.patch_size
        if p < 1 or h % p or w % p:
            raise ValueError(f"invalid patch_size={p}: must divide image_size={self.image_size}")
        if self.d_model % self.n_head:
            raise ValueError(f"d_model={self.d_model} is not divisible by n_head={self.n_head}")
        if not 0.0 < self.mask_ratio < 1.0:
            raise ValueError(f"invalid mask_ratio={self.mask_ratio}: must be in (0, 1)")
        for name in ("d_model", "n_layer", "n_head", "d_decoder", "n_decoder_layer", "mlp_ratio"):
            if getattr(self, name) < 1:
                raise ValueError(f"invalid {name}={getattr(self, name)}: must be >= 1")
        if self.d_decoder % 4:
            raise ValueError(f"invalid d_decoder={self.d_decoder}: must be divisible by 4 heads")

    @property
    def grid(self) -> tuple[int, int]:
        """Patches per column and per row."""
        return self.image_size[0] // self.patch_size, self.image_size[1] // self.patch_size

    @property
    def n_patches(self) -> int:
        gh, gw = self.grid
        return gh * gw

    @property
    def n_keep(self) -> int:
        """Patches the encoder sees in the reconstruction task: ``int(L (1 - mask_ratio))``."""
        return int(self.n_patches * (1 - self.mask_ratio))

    def to_dict(self) -> dict:
        d = asdict(self)
        d["image_size"] = list(self.image_size)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> YViTConfig:
        d = dict(d)
        d["image_size"] = tuple(d["image_size"])
        return cls(**d)


def patchify(x: torch.Tensor, p: int) -> torch.Tensor:
    """(B, C, H, W) -> (B, L, p*p*C) patches in row-major order."""
    B, C, H, W = x.shape
    x = x.reshape(B, C, H // p, p, W // p, p)  # (B, C, gh, p, gw, p)
    x = x.permute(0, 2, 4, 3, 5, 1)  # (B, gh, gw, p, p, C)
    return x.reshape(B, (H // p) * (W // p), p * p * C)


def unpatchify(x: torch.Tensor, p: int, grid: tuple[int, int], C: int) -> torch.Tensor:
    """(B, L, p*p*C) -> (B, C, H, W), the inverse of :func:`patchify`."""
    B = x.shape[0]
    gh, gw = grid
    x = x.reshape(B, gh, gw, p, p, C)  # (B, gh, gw, p, p, C)
    x = x.permute(0, 5, 1, 3, 2, 4)  # (B, C, gh, p, gw, p)
    return x.reshape(B, C, gh * p, gw * p)


def random_masking(
    batch: int, length: int, n_keep: int, generator: torch.Generator | None = None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """MAE's per-sample random masking by shuffling (He et al. 2022, Sec. 3).

    Returns
    -------
    ids_keep : LongTensor of shape (B, n_keep)
        Indices of the visible patches.
    mask : FloatTensor of shape (B, L)
        1 for a masked (hidden) patch, 0 for a visible one; each row sums to ``L - n_keep``.
    ids_restore : LongTensor of shape (B, L)
        Puts the shuffled sequence back in patch order.
    """
    noise = torch.rand(batch, length, generator=generator)
    ids_shuffle = torch.argsort(noise, dim=1)  # small noise: kept
    ids_restore = torch.argsort(ids_shuffle, dim=1)
    ids_keep = ids_shuffle[:, :n_keep]
    mask = torch.ones(batch, length)
    mask[:, :n_keep] = 0
    mask = torch.gather(mask, 1, ids_restore)
    return ids_keep, mask, ids_restore


class Block(nn.Module):
    """Pre-norm transformer block: ``x + attn(ln(x))``, then ``x + mlp(ln(x))``."""

    def __init__(self, d: int, n_head: int, mlp_ratio: int) -> None:
        super().__init__()
        self.n_head = n_head
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.qkv = nn.Linear(d, 3 * d)
        self.proj = nn.Linear(d, d)
        self.mlp = nn.Sequential(
            nn.Linear(d, mlp_ratio * d), nn.GELU(), nn.Linear(mlp_ratio * d, d)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, L, D = x.shape
        q, k, v = self.qkv(self.ln1(x)).split(D, dim=2)  # 3 x (B, L, D)
        q, k, v = (t.view(B, L, self.n_head, D // self.n_head).transpose(1, 2) for t in (q, k, v))
        a = F.scaled_dot_product_attention(q, k, v)  # (B, n_head, L, head_dim)
        x = x + self.proj(a.transpose(1, 2).reshape(B, L, D))
        return x + self.mlp(self.ln2(x))


class Encoder(nn.Module):
    """ViT encoder ``f``: patch embedding + learned positions + ``n_layer`` blocks + norm."""

    def __init__(self, cfg: YViTConfig, in_chans: int = 1) -> None:
        super().__init__()
        self.cfg = cfg
        self.embed = nn.Linear(cfg.patch_size**2 * in_chans, cfg.d_model)
        self.pos = nn.Parameter(0.02 * torch.randn(1, cfg.n_patches, cfg.d_model))
        self.blocks = nn.ModuleList(
            Block(cfg.d_model, cfg.n_head, cfg.mlp_ratio) for _ in range(cfg.n_layer)
        )
        self.norm = nn.LayerNorm(cfg.d_model)

    def forward(self, x: torch.Tensor, ids_keep: torch.Tensor | None = None) -> torch.Tensor:
        """(B, 1, H, W) -> tokens (B, L, d_model), or (B, n_keep, d_model) of the kept patches."""
        t = self.embed(patchify(x, self.cfg.patch_size)) + self.pos  # (B, L, d_model)
        if ids_keep is not None:
            t = torch.gather(t, 1, ids_keep.unsqueeze(-1).expand(-1, -1, t.shape[-1]))
        for blk in self.blocks:
            t = blk(t)
        return self.norm(t)


class MAEHead(nn.Module):
    """MAE decoder ``g``: visible tokens + mask tokens in patch order -> grey pixels per patch."""

    def __init__(self, cfg: YViTConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.proj = nn.Linear(cfg.d_model, cfg.d_decoder)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, cfg.d_decoder))
        self.pos = nn.Parameter(0.02 * torch.randn(1, cfg.n_patches, cfg.d_decoder))
        self.blocks = nn.ModuleList(
            Block(cfg.d_decoder, 4, cfg.mlp_ratio) for _ in range(cfg.n_decoder_layer)
        )
        self.norm = nn.LayerNorm(cfg.d_decoder)
        self.out = nn.Linear(cfg.d_decoder, cfg.patch_size**2)

    def forward(self, latent: torch.Tensor, ids_restore: torch.Tensor) -> torch.Tensor:
        """(B, n_keep, d_model), (B, L) -> predicted patches (B, L, p*p)."""
        t = self.proj(latent)  # (B, n_keep, d_decoder)
        B, n_keep, D = t.shape
        L = ids_restore.shape[1]
        t = torch.cat([t, self.mask_token.expand(B, L - n_keep, D)], dim=1)  # (B, L, d_decoder)
        t = torch.gather(t, 1, ids_restore.unsqueeze(-1).expand(-1, -1, D)) + self.pos
        for blk in self.blocks:
            t = blk(t)
        return self.out(self.norm(t))


class ColorHead(nn.Module):
    """Task head ``h``: encoder tokens -> Cb, Cr of every pixel of the patch."""

    def __init__(self, cfg: YViTConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.block = Block(cfg.d_model, cfg.n_head, cfg.mlp_ratio)
        self.norm = nn.LayerNorm(cfg.d_model)
        self.out = nn.Linear(cfg.d_model, cfg.patch_size**2 * 2)
        # Zero-initialised output: an untrained head predicts no colour (Cb = Cr = 0.5, the grey
        # guess) and training adds colour where the luma supports it.
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """(B, L, d_model) -> chroma (B, 2, H, W) (sigmoid: in (0, 1))."""
        t = self.out(self.norm(self.block(tokens)))  # (B, L, p*p*2)
        return torch.sigmoid(unpatchify(t, self.cfg.patch_size, self.cfg.grid, 2))


class YViT(nn.Module):
    """The Y-shaped model: ``encoder`` (f), ``ssl_head`` (g, MAE), ``task_head`` (h, colour).

    It implements the protocol of :mod:`mlroundup.ttt.online`: ``ssl_loss(x)`` trains ``f`` and
    ``g`` at test time; ``predict(x)`` uses ``f`` and ``h``.

    Parameters
    ----------
    cfg : YViTConfig

    Examples
    --------
    >>> model = YViT(YViTConfig())
    >>> grey = torch.rand(2, 1, 48, 64)
    >>> model.predict(grey).shape        # chroma
    torch.Size([2, 2, 48, 64])
    >>> float(model.ssl_loss(grey)) > 0
    True
    """

    def __init__(self, cfg: YViTConfig | None = None) -> None:
        super().__init__()
        self.cfg = cfg or YViTConfig()
        self.encoder = Encoder(self.cfg)
        self.ssl_head = MAEHead(self.cfg)
        self.task_head = ColorHead(self.cfg)

    def _check(self, x: torch.Tensor) -> None:
        H, W = self.cfg.image_size
        if x.ndim != 4 or x.shape[1] != 1 or tuple(x.shape[2:]) != (H, W):
            raise ValueError(
                f"expected grey frames of shape (B, 1, {H}, {W}), got {tuple(x.shape)}"
            )

    def reconstruct(
        self, x: torch.Tensor, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Masked reconstruction of grey frames (B, 1, H, W).

        Returns
        -------
        pred : Tensor of shape (B, L, p*p)
            Predicted grey pixels of every patch.
        mask : Tensor of shape (B, L)
            1 where the patch was hidden from the encoder.
        """
        self._check(x)
        ids_keep, mask, ids_restore = random_masking(
            x.shape[0], self.cfg.n_patches, self.cfg.n_keep, generator
        )
        latent = self.encoder(x, ids_keep.to(x.device))  # (B, n_keep, d_model)
        return self.ssl_head(latent, ids_restore.to(x.device)), mask.to(x.device)

    def ssl_loss(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """MAE loss: mean squared error on the masked patches' grey pixels (He et al. 2022, Eq. 1
        without per-patch normalisation)."""
        pred, mask = self.reconstruct(x, generator)
        target = patchify(x, self.cfg.patch_size)  # (B, L, p*p)
        per_patch = ((pred - target) ** 2).mean(dim=-1)  # (B, L)
        return (per_patch * mask).sum() / mask.sum()

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """Chroma (B, 2, H, W) in (0, 1) predicted from grey frames (B, 1, H, W)."""
        self._check(x)
        return self.task_head(self.encoder(x))

    def task_loss(self, x: torch.Tensor, chroma: torch.Tensor) -> torch.Tensor:
        """Mean squared error of the predicted chroma against the true (B, 2, H, W)."""
        return F.mse_loss(self.predict(x), chroma)

    def colorize(self, x: torch.Tensor) -> torch.Tensor:
        """RGB (B, 3, H, W) in [0, 1]: the known luma with the predicted chroma."""
        return ycbcr_to_rgb(x, self.predict(x)).clamp(0.0, 1.0)
