"""ReLoRA adapters for any PyTorch model: wrap linear layers, merge and re-initialize, unwrap.

Lialin et al. (2023, Sec. 3): each wrapped weight ``W`` is frozen and trained through a low-rank
update, ``y = x W^T + s x (B A)^T`` with ``A`` of shape (r, in), ``B`` of shape (out, r) and
``s = lora_alpha / r``; every few thousand steps the update is merged into ``W`` (``W <- W + s B A``)
and the factors are re-initialized (``A`` Kaiming-uniform, ``B = 0``), so the network's function is
unchanged by the merge while the *sum* of the merged updates can reach high rank. Attention and MLP
projections are wrapped; embeddings, norms, biases and the LM head stay full-rank and trainable
(official code: ``target_modules=["attn", "attention", "mlp"]``, ``torchrun_main.py``).

Names follow PEFT's ``tuners/lora/layer.py``: ``base_layer``, ``lora_A``, ``lora_B``, ``r``,
``lora_alpha``, ``scaling``, ``get_delta_weight``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

#: Default targets: linear layers whose qualified name contains one of these (the official code's
#: rule; ``attn``/``mlp`` are LLaMA's and our GPT's names, ``attention`` Pythia's).
DEFAULT_TARGETS: tuple[str, ...] = ("attn", "attention", "mlp")


class NonFiniteMergeError(FloatingPointError):
    """A merge would have written a NaN or infinite weight; nothing was changed."""


class ReLoRALinear(nn.Module):
    """A frozen :class:`torch.nn.Linear` plus a trainable low-rank update that can be merged into it.

    Parameters
    ----------
    base_layer : torch.nn.Linear
        The layer wrapped; its ``weight`` is frozen (``requires_grad=False``) and kept by reference.
        Its ``bias`` (if any) stays trainable, as a full-rank vector.
    r : int
        Rank of the update, >= 1 (paper: 128 for every model size, Sec. 4).
    lora_alpha : float
        ``scaling = lora_alpha / r`` (code default ``--lora_alpha 32``), > 0.
    lora_dropout : float
        Dropout on the adapter's input, in [0, 1) (code: 0.1; 0 makes the forward deterministic).
    generator : torch.Generator, optional
        Draws ``A`` at construction and at every re-initialization (default: the global one).

    Attributes
    ----------
    lora_A : torch.nn.Linear
        ``in_features -> r``, weight of shape (r, in_features).
    lora_B : torch.nn.Linear
        ``r -> out_features``, weight of shape (out_features, r), zero after each (re)initialization.
    merge_count : torch.Tensor
        0-d int64 buffer: merges done so far (saved with the state dict).

    Notes
    -----
    Forward: ``y = base_layer(x) + scaling * lora_B(lora_A(dropout(x)))``, shapes (..., in) ->
    (..., out). With ``B = 0`` the output equals the base layer's, so wrapping and merging leave the
    network's function unchanged.
    """

    def __init__(
        self,
        base_layer: nn.Linear,
        r: int,
        lora_alpha: float = 32.0,
        lora_dropout: float = 0.0,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        if not isinstance(base_layer, nn.Linear):
            raise TypeError(
                f"base_layer must be a torch.nn.Linear, got {type(base_layer).__name__}"
            )
        if not (isinstance(r, int) and r >= 1):
            raise ValueError(f"invalid r={r!r}: must be an int >= 1")
        if not (math.isfinite(lora_alpha) and lora_alpha > 0):
            raise ValueError(f"invalid lora_alpha={lora_alpha!r}: must be > 0")
        if not 0.0 <= lora_dropout < 1.0:
            raise ValueError(f"invalid lora_dropout={lora_dropout!r}: must be in [0, 1)")
        self.base_layer = base_layer
        base_layer.weight.requires_grad_(False)
        self.r = r
        self.lora_alpha = float(lora_alpha)
        self.scaling = self.lora_alpha / r
        self.lora_dropout = nn.Dropout(lora_dropout) if lora_dropout > 0 else nn.Identity()
        w = base_layer.weight
        self.lora_A = nn.Linear(
            base_layer.in_features, r, bias=False, device=w.device, dtype=w.dtype
        )
        self.lora_B = nn.Linear(
            r, base_layer.out_features, bias=False, device=w.device, dtype=w.dtype
        )
        self.register_buffer("merge_count", torch.zeros((), dtype=torch.long, device=w.device))
        self.generator = generator
        self.reset_lora_parameters()

    @property
    def in_features(self) -> int:
        return self.base_layer.in_features

    @property
    def out_features(self) -> int:
        return self.base_layer.out_features

    @torch.no_grad()
    def reset_lora_parameters(self) -> None:
        """``A`` Kaiming-uniform (``a = sqrt(5)``, nn.Linear's default), ``B = 0`` (LoRA, Hu et al.
        2021, Sec. 4.1; ReLoRA's ``merge_and_reinit``)."""
        nn.init.kaiming_uniform_(self.lora_A.weight, a=math.sqrt(5), generator=self.generator)
        nn.init.zeros_(self.lora_B.weight)

    def get_delta_weight(self) -> torch.Tensor:
        """``scaling * B @ A``, of shape (out_features, in_features), in the weight's dtype."""
        return (self.lora_B.weight @ self.lora_A.weight) * self.scaling

    @torch.no_grad()
    def merged_weight(self) -> torch.Tensor:
        """The effective weight ``W + scaling * B @ A`` (a new tensor; nothing is changed)."""
        return self.base_layer.weight + self.get_delta_weight()

    @torch.no_grad()
    def check_merge(self, merged: torch.Tensor | None = None) -> None:
        """Raise :class:`NonFiniteMergeError` if merging now would write a non-finite weight."""
        merged = self.merged_weight() if merged is None else merged
        if not bool(torch.isfinite(merged).all()):
            raise NonFiniteMergeError(
                f"merging this layer ({self.out_features}x{self.in_features}, r={self.r}) would "
                "write a NaN or infinite weight; the weight and the adapter were left unchanged"
            )

    @torch.no_grad()
    def merge_and_reinit(self) -> None:
        """``W <- W + scaling * B @ A``, then ``A`` re-drawn Kaiming-uniform and ``B <- 0``.

        The layer's function is unchanged (up to floating-point rounding of the sum). There is no
        ``unmerge``: the merged update cannot be told apart from ``W`` afterwards.

        Raises
        ------
        NonFiniteMergeError
            If ``W + scaling * B @ A`` has a NaN or infinity; ``W``, ``A`` and ``B`` are untouched.
        """
        merged = self.merged_weight()
        self.check_merge(merged)
        self.base_layer.weight.copy_(merged)
        self.reset_lora_parameters()
        self.merge_count += 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(..., in_features) -> (..., out_features)``."""
        result = F.linear(x, self.base_layer.weight, self.base_layer.bias)
        return result + self.lora_B(self.lora_A(self.lora_dropout(x))) * self.scaling

    def extra_repr(self) -> str:
        return f"r={self.r}, lora_alpha={self.lora_alpha:g}, scaling={self.scaling:g}"


def _parent(model: nn.Module, name: str) -> tuple[nn.Module, str]:
    parent_name, _, child = name.rpartition(".")
    return (model.get_submodule(parent_name) if parent_name else model), child


def target_names(
    model: nn.Module, targets: Sequence[str] | Callable[[str, nn.Module], bool] = DEFAULT_TARGETS
) -> list[str]:
    """Qualified names of the :class:`torch.nn.Linear` layers of ``model`` that ``targets`` selects.

    ``targets`` is a sequence of substrings (a layer is selected when its name contains one) or a
    predicate ``(name, module) -> bool``. Layers already inside a :class:`ReLoRALinear` are skipped.
    """
    inside = {n for n, m in model.named_modules() if isinstance(m, ReLoRALinear)}
    chosen = []
    for name, module in model.named_modules():
        if not isinstance(module, nn.Linear) or name.rpartition(".")[0] in inside:
            continue
        if callable(targets):
            hit = targets(name, module)
        else:
            hit = any(t in name for t in targets)
        if hit:
            chosen.append(name)
    return chosen


def wrap_relora(
    model: nn.Module,
    r: int = 128,
    lora_alpha: float = 32.0,
    *,
    targets: Sequence[str] | Callable[[str, nn.Module], bool] = DEFAULT_TARGETS,
    lora_dropout: float = 0.0,
    generator: torch.Generator | None = None,
) -> list[str]:
    """Replace the selected linear layers of ``model`` by :class:`ReLoRALinear`, in place.

    Only the wrapped weights are frozen: embeddings, norms, biases, the LM head and every other
    parameter keep their ``requires_grad``, as in the paper and the official code (which trains every
    parameter it does not wrap). The model's function is unchanged by wrapping (``B = 0``).

    Parameters
    ----------
    model : torch.nn.Module
    r, lora_alpha, lora_dropout, generator
        As :class:`ReLoRALinear` (defaults: the official code's ``--lora_r 128``, ``--lora_alpha 32``).
    targets : sequence of str or callable
        See :func:`target_names` (default: attention and MLP projections).

    Returns
    -------
    list of str
        Qualified names of the wrapped layers.

    Raises
    ------
    ValueError
        If nothing matches ``targets``, or a selected layer's weight is shared with another module
        (e.g. an LM head tied to the embedding: freezing it would freeze the embedding too).
    """
    names = target_names(model, targets)
    if not names:
        raise ValueError(f"no nn.Linear layer of the model matches targets={targets!r}")
    counts: dict[int, int] = {}
    for _, p in model.named_parameters(remove_duplicate=False):
        counts[id(p)] = counts.get(id(p), 0) + 1
    for name in names:
        if counts[id(model.get_submodule(name).weight)] > 1:
            raise ValueError(
                f"the weight of {name!r} is shared with another module (tied weights); "
                "leave it out of targets"
            )
    for name in names:
        parent, child = _parent(model, name)
        setattr(
            parent,
            child,
            ReLoRALinear(getattr(parent, child), r, lora_alpha, lora_dropout, generator),
        )
    return names


def relora_modules(model: nn.Module) -> dict[str, ReLoRALinear]:
    """The :class:`ReLoRALinear` layers of ``model`` by qualified name."""
    return {n: m for n, m in model.named_modules() if isinstance(m, ReLoRALinear)}


def lora_parameters(model: nn.Module) -> list[nn.Parameter]:
    """The adapter factors (``lora_A.weight``, ``lora_B.weight``) of every wrapped layer."""
    out: list[nn.Parameter] = []
    for m in relora_modules(model).values():
        out += [m.lora_A.weight, m.lora_B.weight]
    return out


@torch.no_grad()
def merge_and_reinit(model: nn.Module) -> int:
    """Merge every adapter of ``model`` into its weight and re-initialize it; all or nothing.

    Returns
    -------
    int
        Number of layers merged.

    Raises
    ------
    NonFiniteMergeError
        If any layer's merge would write a non-finite weight; then no layer is changed.
    """
    mods = relora_modules(model)
    for name, m in mods.items():
        try:
            m.check_merge()
        except NonFiniteMergeError as exc:
            raise NonFiniteMergeError(f"{name}: {exc}") from None
    for m in mods.values():
        m.merge_and_reinit()
    return len(mods)


@torch.no_grad()
def effective_weights(
    model: nn.Module, names: Iterable[str] | None = None
) -> dict[str, torch.Tensor]:
    """Copies of the effective weight of linear layers, by qualified layer name.

    A :class:`ReLoRALinear` gives ``W + scaling * B @ A``, an ``nn.Linear`` its ``weight``; so the
    same names index a model before and after :func:`wrap_relora`. Default ``names``: every wrapped
    layer, else every layer :func:`target_names` selects by default.
    """
    if names is None:
        names = list(relora_modules(model)) or target_names(model)
    out = {}
    for name in names:
        m = model.get_submodule(name)
        if isinstance(m, ReLoRALinear):
            out[name] = m.merged_weight().detach().clone()
        elif isinstance(m, nn.Linear):
            out[name] = m.weight.detach().clone()
        else:
            raise TypeError(f"{name!r} is a {type(m).__name__}, not a linear layer")
    return out


@torch.no_grad()
def unwrap_relora(model: nn.Module) -> nn.Module:
    """Merge every adapter and put the plain ``nn.Linear`` layers back, in place (irreversible).

    The result has the original model's structure and state-dict keys, with trainable weights.

    Raises
    ------
    NonFiniteMergeError
        As :func:`merge_and_reinit` (then nothing is changed).
    """
    merge_and_reinit(model)
    for name, m in relora_modules(model).items():
        m.base_layer.weight.requires_grad_(True)
        parent, child = _parent(model, name)
        setattr(parent, child, m.base_layer)
    return model
