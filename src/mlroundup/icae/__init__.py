"""In-context autoencoder (Ge et al. 2023, "In-context Autoencoder for Context Compression in a Large
Language Model", arXiv 2307.06945, ICLR 2024; official code: github.com/getao/icae).

A LoRA-adapted copy of a causal LM reads a context followed by ``k`` learnable memory tokens; its
last-layer states there are ``k`` memory slots that the frozen LM then reads in place of the
context::

    from mlroundup.icae import ICAE, ICAEConfig, load_base

    base = load_base("tiny")                      # a tiny LLaMA pretrained here on Shakespeare
    icae = ICAE(base.model, ICAEConfig(num_memory_slots=8), base.tokenizer, base.name, base.source)
    slots = icae.compress("To be, or not to be, that is the question:")   # (8, 128)
    icae.generate(slots, task="ae", max_new_tokens=42)                     # reconstruction
    icae.save("my.icae.pt"); icae2 = load_icae("my.icae.pt")               # same slots

Train with :func:`train_icae` and :class:`PretrainMethod` (autoencoding + language modelling)
or :class:`FinetuneMethod` (prompt with context), on the project's trainer.

Modules: :mod:`.model` (the ICAE, checkpoints, errors), :mod:`.objectives` (AE, LM, their mix,
fine-tuning), :mod:`.base` (the base models), :mod:`.train`, :mod:`.evaluate` (reconstruction and
continuation), :mod:`.cost` (latency and KV cache, encoder included), :mod:`.experiment`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlroundup.utils.lazy import lazy_exports

if TYPE_CHECKING:  # pragma: no cover
    from mlroundup.icae.model import ICAE

# Imported lazily (PEP 562) so that registering the experiment does not import torch.
_EXPORTS = {
    "model": (
        "ICAE", "ICAEConfig", "BaseModelMismatchError", "ContextTooLongError",
        "ContextTooShortError", "TextCodec", "base_fingerprint", "read_checkpoint",
    ),
    "objectives": ("Mix", "pretrain_loss", "ft_loss"),
    "base": (
        "BaseLM", "TinyLlamaSpec", "load_base", "load_source", "shakespeare_streams", "smollm2",
        "tiny_llama",
    ),
    "train": ("PretrainMethod", "FinetuneMethod", "QAExample", "train_icae"),
    "evaluate": ("reconstruct", "continuation_losses"),
    "cost": ("CostPoint", "measure_point", "measure_costs"),
}  # fmt: skip
__getattr__, _LAZY = lazy_exports(__name__, _EXPORTS)
__all__ = sorted([*_LAZY, "load_icae"])


def load_icae(path: Path | str, cache_dir: Path | str | None = None, **kw: Any) -> ICAE:
    """A saved ICAE together with the base model it was trained on (loaded as its checkpoint says).

    Raises
    ------
    FileNotFoundError, ValueError
        As :func:`~mlroundup.icae.model.read_checkpoint`.
    BaseModelMismatchError
        If the base model loaded today is not the one the ICAE was trained on.
    """
    from mlroundup.icae.base import load_source
    from mlroundup.icae.model import ICAE, read_checkpoint

    source = read_checkpoint(path)["base"].get("source") or {}
    if not source:
        raise ValueError(f"{path} does not say which base model it needs; use ICAE.load(path, lm)")
    base = load_source(source, cache_dir, **kw)
    return ICAE.load(path, base.model, base.tokenizer, base.name)
