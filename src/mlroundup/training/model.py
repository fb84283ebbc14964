"""A small decoder-only transformer (GPT), in one file that reads top to bottom.

Pre-norm blocks (LayerNorm -> causal self-attention -> residual, LayerNorm -> MLP -> residual),
rotary (RoPE, Su et al. 2021) or learned positions, tied input/output embeddings. Sizes from ~0.1M
to ~30M parameters (:data:`PRESETS`). The forward pass can skip layers (``active_layers``) for
progressive layer dropping, and :meth:`GPT.stacked` doubles the depth by copying layers (layer
stacking), so both methods of Kaddour et al. (2023) work on this one model.

Shapes: ``B`` batch, ``T`` sequence length, ``C`` = ``d_model``, ``H`` heads, ``D`` = C / H, ``V`` vocab.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class GPTConfig:
    """Shape of a :class:`GPT`.

    Parameters
    ----------
    vocab_size : int
        ``V``; > 0.
    block_size : int
        Longest sequence ``T`` the model accepts; > 0.
    n_layer, n_head, d_model : int
        Depth, heads per attention, width; ``d_model % n_head == 0`` (and the head size even for
        RoPE).
    d_ff : int or None
        MLP hidden width (default ``4 * d_model``).
    positions : {"rope", "learned"}
    dropout : float
        In [0, 1).
    """

    vocab_size: int
    block_size: int = 128
    n_layer: int = 4
    n_head: int = 4
    d_model: int = 128
    d_ff: int | None = None
    positions: str = "rope"
    dropout: float = 0.0

    def __post_init__(self) -> None:
        for name in ("vocab_size", "block_size", "n_layer", "n_head", "d_model"):
            v = getattr(self, name)
            if not (isinstance(v, int) and v > 0):
                raise ValueError(f"invalid {name}={v!r}: must be a positive int")
        if self.d_model % self.n_head:
            raise ValueError(f"d_model={self.d_model} is not divisible by n_head={self.n_head}")
        if self.positions not in ("rope", "learned"):
            raise ValueError(f"invalid positions={self.positions!r}; valid: rope, learned")
        if self.positions == "rope" and (self.d_model // self.n_head) % 2:
            raise ValueError(f"RoPE needs an even head size, got {self.d_model // self.n_head}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"invalid dropout={self.dropout}: must be in [0, 1)")
        if self.d_ff is not None and self.d_ff <= 0:
            raise ValueError(f"invalid d_ff={self.d_ff}: must be > 0")

    @property
    def ff(self) -> int:
        return self.d_ff or 4 * self.d_model

    def to_dict(self) -> dict:
        return asdict(self)


#: Named sizes (vocab and block size are set by the data), at an 84-character vocabulary: about
#: 0.12M, 1M, 6.3M and 30M parameters. Depths are multiples of 4 so layer stacking (two doublings)
#: can start from a quarter of them.
PRESETS: dict[str, dict] = {
    "tiny": dict(n_layer=4, n_head=4, d_model=48),
    "1m": dict(n_layer=4, n_head=4, d_model=144),
    "6m": dict(n_layer=8, n_head=8, d_model=256),
    "30m": dict(n_layer=8, n_head=8, d_model=560),
}


def rope_tables(T: int, head_dim: int, base: float = 10000.0) -> tuple[torch.Tensor, torch.Tensor]:
    """cos and sin tables of shape (T, head_dim / 2) for rotary embeddings (Su et al. 2021, eq. 34)."""
    inv_freq = base ** (-torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim)  # (D/2,)
    angles = torch.outer(torch.arange(T, dtype=torch.float32), inv_freq)  # (T, D/2)
    return angles.cos(), angles.sin()


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate pairs (x[..., 2i], x[..., 2i+1]) of x, shape (B, H, T, D), by the angles of row t."""
    x1, x2 = x[..., 0::2], x[..., 1::2]  # (B, H, T, D/2) each
    out = torch.stack((x1 * cos - x2 * sin, x1 * sin + x2 * cos), dim=-1)  # (B, H, T, D/2, 2)
    return out.flatten(-2)  # (B, H, T, D)


class CausalSelfAttention(nn.Module):
    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        self.n_head, self.head_dim = cfg.n_head, cfg.d_model // cfg.n_head
        self.qkv = nn.Linear(cfg.d_model, 3 * cfg.d_model, bias=False)
        self.proj = nn.Linear(cfg.d_model, cfg.d_model, bias=False)
        self.dropout = cfg.dropout
        self.rope = cfg.positions == "rope"

    def forward(
        self, x: torch.Tensor, rope: tuple[torch.Tensor, torch.Tensor] | None
    ) -> torch.Tensor:
        B, T, C = x.shape
        q, k, v = self.qkv(x).split(C, dim=2)  # (B, T, C) each
        q, k, v = (t.view(B, T, self.n_head, self.head_dim).transpose(1, 2) for t in (q, k, v))
        # q, k, v: (B, H, T, D)
        if rope is not None:
            q, k = apply_rope(q, *rope), apply_rope(k, *rope)
        y = F.scaled_dot_product_attention(
            q, k, v, is_causal=True, dropout_p=self.dropout if self.training else 0.0
        )  # (B, H, T, D)
        y = y.transpose(1, 2).reshape(B, T, C)  # (B, T, C)
        return self.proj(y)


class MLP(nn.Module):
    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        self.fc = nn.Linear(cfg.d_model, cfg.ff, bias=False)
        self.proj = nn.Linear(cfg.ff, cfg.d_model, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(F.gelu(self.fc(x)))  # (B, T, C)


class Block(nn.Module):
    """Pre-norm transformer block: x + attn(ln(x)), then x + mlp(ln(x))."""

    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(cfg.d_model), nn.LayerNorm(cfg.d_model)
        self.attn, self.mlp = CausalSelfAttention(cfg), MLP(cfg)
        self.drop = nn.Dropout(cfg.dropout)

    def forward(
        self, x: torch.Tensor, rope: tuple[torch.Tensor, torch.Tensor] | None
    ) -> torch.Tensor:
        x = x + self.drop(self.attn(self.ln1(x), rope))  # (B, T, C)
        return x + self.drop(self.mlp(self.ln2(x)))  # (B, T, C)


class GPT(nn.Module):
    """Decoder-only transformer language model.

    Parameters
    ----------
    cfg : GPTConfig

    Examples
    --------
    >>> model = GPT(GPTConfig(vocab_size=65, block_size=64, n_layer=2, n_head=2, d_model=32))
    >>> logits = model(torch.zeros(3, 16, dtype=torch.long))  # (3, 16, 65)
    """

    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.tok_emb = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.pos_emb = (
            nn.Embedding(cfg.block_size, cfg.d_model) if cfg.positions == "learned" else None
        )
        self.drop = nn.Dropout(cfg.dropout)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layer))
        self.ln_f = nn.LayerNorm(cfg.d_model)
        self.head = nn.Linear(cfg.d_model, cfg.vocab_size, bias=False)
        self.head.weight = self.tok_emb.weight  # tied embeddings
        if cfg.positions == "rope":
            cos, sin = rope_tables(cfg.block_size, cfg.d_model // cfg.n_head)
            self.register_buffer("rope_cos", cos, persistent=False)
            self.register_buffer("rope_sin", sin, persistent=False)
        self.apply(self._init)
        # GPT-2's scaled init of the residual projections: std 0.02 / sqrt(2 * n_layer).
        for name, p in self.named_parameters():
            if name.endswith("proj.weight"):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * cfg.n_layer))

    @staticmethod
    def _init(module: nn.Module) -> None:
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def num_params(self) -> int:
        """Number of distinct parameters (tied embeddings counted once)."""
        return sum(p.numel() for p in self.parameters())

    def forward(
        self, idx: torch.Tensor, active_layers: Sequence[int] | None = None
    ) -> torch.Tensor:
        """Logits of the next token at every position.

        Parameters
        ----------
        idx : torch.Tensor of shape (B, T), dtype int64
            Token ids, ``T <= block_size``.
        active_layers : sequence of int, optional
            Indices of the blocks to run, in order; the others are skipped (identity). Default: all.

        Returns
        -------
        torch.Tensor of shape (B, T, V)

        Raises
        ------
        ValueError
            If ``T > block_size`` or a layer index is out of range.
        """
        B, T = idx.shape
        if T > self.cfg.block_size:
            raise ValueError(f"sequence length {T} exceeds block_size={self.cfg.block_size}")
        x = self.tok_emb(idx)  # (B, T, C)
        if self.pos_emb is not None:
            x = x + self.pos_emb(torch.arange(T, device=idx.device))  # (B, T, C)
        x = self.drop(x)
        rope = (self.rope_cos[:T], self.rope_sin[:T]) if self.pos_emb is None else None
        layers = range(len(self.blocks)) if active_layers is None else active_layers
        for i in layers:
            if not 0 <= i < len(self.blocks):
                raise ValueError(f"active layer {i} out of range [0, {len(self.blocks)})")
            x = self.blocks[i](x, rope)  # (B, T, C)
        return self.head(self.ln_f(x))  # (B, T, V)

    def stacked(self) -> GPT:
        """A model of twice the depth whose layer ``i + L`` is a copy of layer ``i`` (Gong et al.
        2019, "Efficient training of BERT by progressively stacking", section 3).

        Embeddings, the final norm and the head are copied; the new model has the same input and
        output shapes. The result is a new module: build a new optimizer for it.
        """
        cfg = replace(self.cfg, n_layer=2 * self.cfg.n_layer)
        new = GPT(cfg).to(self.tok_emb.weight.device)
        src = copy.deepcopy(self.state_dict())
        L = self.cfg.n_layer
        state = {k: v for k, v in src.items() if not k.startswith("blocks.")}
        for k, v in src.items():
            if k.startswith("blocks."):
                _, i, rest = k.split(".", 2)
                state[f"blocks.{i}.{rest}"] = v
                state[f"blocks.{int(i) + L}.{rest}"] = v.clone()
        new.load_state_dict(state)
        return new


def per_token_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Cross-entropy in nats of each target under ``logits``.

    Parameters
    ----------
    logits : torch.Tensor of shape (B, T, V)
    targets : torch.Tensor of shape (B, T), dtype int64

    Returns
    -------
    torch.Tensor of shape (B, T)
    """
    B, T, V = logits.shape
    return F.cross_entropy(logits.reshape(B * T, V), targets.reshape(B * T), reduction="none").view(
        B, T
    )
