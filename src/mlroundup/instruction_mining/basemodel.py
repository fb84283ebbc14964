"""The quick-scale base model: a small character-level GPT pretrained here, then fine-tuned per subset.

Everything trains through the project's shared trainer (:func:`mlroundup.training.train`
with a step budget, :meth:`Budget.of_steps`); this module only turns pairs into token streams,
pretrains the base once (cached by its settings) and runs one short fine-tune per dataset.

Text is encoded one character per token over printable ASCII and the newline (96 symbols); tabs
become four spaces and any other character becomes ``?`` (:class:`AsciiTokenizer`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mlroundup.instruction_mining.records import Pair

ALPHABET = "\n" + "".join(chr(c) for c in range(32, 127))
#: The prompt format of training text (the same as :class:`~.lm_scores.GPTScorer`'s).
TEMPLATE = "### Instruction:\n{instruction}\n\n### Response:\n"


class AsciiTokenizer:
    """One token per character over :data:`ALPHABET` (96 symbols); see the module docstring."""

    name = "ascii96"
    vocab_size = len(ALPHABET)

    def __init__(self) -> None:
        from mlroundup.data.tokenizers import CharTokenizer

        self._chars = CharTokenizer(ALPHABET)
        self._table = {c: c for c in ALPHABET}

    def normalize(self, text: str) -> str:
        """``text`` with CR dropped, tabs as four spaces and other non-ASCII characters as ``?``."""
        text = text.replace("\r", "").replace("\t", "    ")
        return "".join(self._table.get(c, "?") for c in text)

    def encode(self, text: str) -> np.ndarray:
        """Token ids of the normalized ``text``, shape (len,), dtype int64."""
        return self._chars.encode(self.normalize(text))

    def decode(self, ids: Sequence[int]) -> str:
        return self._chars.decode(ids)


def ascii_fraction(text: str) -> float:
    """Fraction of the characters of ``text`` in :data:`ALPHABET` (tabs and CR count as in it)."""
    if not text:
        return 1.0
    ok = sum(1 for c in text if c in ALPHABET or c in "\t\r")
    return ok / len(text)


def format_example(pair: Pair, max_instruction_chars: int, max_response_chars: int) -> str:
    """The training text of a pair: the prompt template, the response, a blank line."""
    return (
        TEMPLATE.format(instruction=pair.instruction[:max_instruction_chars])
        + pair.response[:max_response_chars]
        + "\n\n"
    )


def token_stream(
    pairs: Sequence[Pair],
    tokenizer: AsciiTokenizer,
    max_instruction_chars: int,
    max_response_chars: int,
    name: str,
) -> Any:
    """The pairs' training texts, concatenated and tokenized, as a
    :class:`mlroundup.data.tokens.TokenStream` (in memory)."""
    from mlroundup.data.tokens import TokenStream

    text = "".join(format_example(p, max_instruction_chars, max_response_chars) for p in pairs)
    ids = tokenizer.encode(text).astype(np.uint16)
    return TokenStream(tokens=ids, n_chars=len(text), name=name)


@dataclass(frozen=True)
class BaseModelConfig:
    """The GPT and how it is pretrained and fine-tuned.

    Parameters
    ----------
    n_layer, n_head, d_model, block_size : int
        The GPT's shape (``block_size`` is also the training sequence length).
    pretrain_steps, pretrain_lr : int, float
        Pretraining budget (optimizer steps) and peak learning rate (cosine, 2% warmup).
    finetune_steps, finetune_lr : int, float
        Each fine-tune's budget and peak learning rate.
    batch_size : int
    eval_sequences : int
        Windows of the eval stream the eval loss averages over (the same windows every time).
    """

    n_layer: int = 2
    n_head: int = 4
    d_model: int = 96
    block_size: int = 256
    pretrain_steps: int = 300
    pretrain_lr: float = 3e-3
    finetune_steps: int = 24
    finetune_lr: float = 1e-3
    batch_size: int = 8
    eval_sequences: int = 48

    def gpt_config(self) -> Any:
        from mlroundup.training import GPTConfig

        return GPTConfig(vocab_size=AsciiTokenizer.vocab_size, block_size=self.block_size,
                         n_layer=self.n_layer, n_head=self.n_head, d_model=self.d_model)  # fmt: skip


def pretrained_base(
    cfg: BaseModelConfig,
    train_stream: Any,
    val_stream: Any,
    seed: int,
    cache_dir: Path | str,
    data_key: str,
) -> tuple[Any, dict[str, Any]]:
    """The pretrained base GPT, trained once and then read from ``cache_dir``.

    Parameters
    ----------
    cfg : BaseModelConfig
    train_stream, val_stream : TokenStream
        Pretraining text and the stream its final loss is measured on.
    seed : int
    cache_dir : path
        Parent of ``instruction_mining/``.
    data_key : str
        Identifies the pretraining text (part of the cache key with ``cfg`` and ``seed``).

    Returns
    -------
    model : GPT
        In eval mode.
    info : dict
        ``loss`` (validation, nats per token), ``steps``, ``wall_s``, ``cached``.
    """
    import torch

    from mlroundup.training import (
        GPT,
        Budget,
        BudgetSchedule,
        TrainConfig,
        load_checkpoint,
        save_checkpoint,
        train,
    )

    spec = json.dumps({"cfg": asdict(cfg), "seed": seed, "data": data_key, "v": 1}, sort_keys=True)
    key = hashlib.sha256(spec.encode()).hexdigest()[:16]
    path = Path(cache_dir) / "instruction_mining" / f"base-gpt-{key}.pt"
    model = GPT(cfg.gpt_config())
    if path.is_file():
        try:
            saved = load_checkpoint(path)
            model.load_state_dict(saved["model"])
            model.eval()
            return model, {**saved["info"], "cached": True}
        except (OSError, RuntimeError, KeyError, ValueError):
            pass  # damaged: train again and overwrite it
    torch.manual_seed(seed)
    model = GPT(cfg.gpt_config())
    res = train(model, (train_stream, val_stream), Budget.of_steps(cfg.pretrain_steps),
                BudgetSchedule(cfg.pretrain_lr),
                config=TrainConfig(batch_size=cfg.batch_size, seq_len=cfg.block_size, seed=seed,
                                   eval_sequences=cfg.eval_sequences))  # fmt: skip
    model = res.model.eval()
    info = {"loss": float(res.final.loss), "steps": int(res.steps), "wall_s": float(res.wall_s)}
    path.parent.mkdir(parents=True, exist_ok=True)
    save_checkpoint(path, {"model": model.state_dict(), "info": info})
    return model, {**info, "cached": False}


def finetune_eval_loss(
    base: Any,
    cfg: BaseModelConfig,
    train_stream: Any,
    eval_stream: Any,
    seed: int,
    steps: int | None = None,
) -> float:
    """Fine-tune a copy of ``base`` on ``train_stream`` for ``cfg.finetune_steps`` steps and
    return its loss on ``eval_stream`` (nats per token; the quality ``L`` of Cao et al., Sec. 3).

    Raises
    ------
    ValueError
        If a stream is shorter than one sequence (``block_size + 1`` tokens).
    """
    import copy

    from mlroundup.training import Budget, BudgetSchedule, TrainConfig, train

    model = copy.deepcopy(base).train()
    res = train(model, (train_stream, eval_stream), Budget.of_steps(steps or cfg.finetune_steps),
                BudgetSchedule(cfg.finetune_lr, warmup=0.1),
                config=TrainConfig(batch_size=cfg.batch_size, seq_len=cfg.block_size, seed=seed,
                                   weight_decay=0.0, eval_sequences=cfg.eval_sequences))  # fmt: skip
    return float(res.final.loss)
