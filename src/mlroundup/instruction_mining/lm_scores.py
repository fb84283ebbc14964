"""Token lengths, response perplexity and the reward proxy, from a causal language model.

For each pair the scorer counts the instruction's and the response's tokens, then reads the
log-probability of the response's tokens twice: after a prompt holding the instruction, and after
the same prompt with the instruction left empty. From these (Cao et al., arXiv 2307.06290,
indicator table; the proxy is ours):

- **perplexity** ``PPL = exp(-logp(y | x) / |y|)``, the response's perplexity given the instruction;
- **reward proxy** ``(logp(y | x) - logp(y | "")) / |y|`` in nats per token: how much the
  instruction helps predict the response (a pointwise mutual information; the inverse, as a log,
  of the "instruction-following difficulty" of Li et al. 2023). The paper's ``Rew`` is a trained
  reward model's score; none ships offline, so this proxy stands in for it, and a real reward
  model can be passed to :class:`~mlroundup.instruction_mining.indicators.Indicators` instead.

Only the first ``max_output_tokens`` response tokens are scored (and only what fits the model's
context after the prompt); the instruction is cut to its first ``max_input_tokens`` tokens in the
prompt. Lengths count every token. Scores are cached by the SHA-256 of (scorer, pair).

Two scorers: :class:`SmolLM2Scorer` (SmolLM2-135M-Instruct through :mod:`mlroundup.models`, its
ChatML template) and :class:`GPTScorer` (a :class:`mlroundup.training.GPT` with a plain
``### Instruction / ### Response`` template).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mlroundup.instruction_mining.cache import VectorCache
from mlroundup.instruction_mining.records import Pair, content_key

#: Columns of :meth:`ResponseScorer.score`.
COLUMNS = (
    "input_tokens",
    "output_tokens",
    "scored_tokens",
    "logprob_given_instruction",
    "logprob_without_instruction",
)
#: Pairs scored between cache writes.
CACHE_EVERY = 256


def perplexity(scores: np.ndarray) -> np.ndarray:
    """Response perplexity given the instruction, from :meth:`ResponseScorer.score` rows; shape (n,)."""
    return np.exp(-scores[:, 3] / scores[:, 2])


def reward_proxy(scores: np.ndarray) -> np.ndarray:
    """``(logp(y|x) - logp(y|"")) / |y|`` in nats per token, from score rows; shape (n,)."""
    return (scores[:, 3] - scores[:, 4]) / scores[:, 2]


def _no_progress(items: Iterable[Any], description: str, total: int | None = None):
    return items


class ResponseScorer:
    """Base of the scorers: truncation, batching and the cache; subclasses supply the model.

    Parameters
    ----------
    max_input_tokens, max_output_tokens : int
        Instruction tokens kept in the prompt; response tokens scored (>= 1).
    batch_size : int
        Sequences per forward pass.
    cache_dir : path, optional
        Parent of ``instruction_mining/`` (default ``default_cache_dir()``).
    cache : bool
        Read and write the score cache.
    progress : callable, optional
        ``progress(iterable, description, total)`` wraps the batch loop.
    """

    #: Longest sequence the model takes (prompt + scored response).
    context: int = 2048

    def __init__(
        self,
        max_input_tokens: int = 256,
        max_output_tokens: int = 256,
        batch_size: int = 8,
        cache_dir: Path | str | None = None,
        cache: bool = True,
        progress: Callable[..., Iterable[Any]] | None = None,
    ) -> None:
        for label, v in (("max_input_tokens", max_input_tokens),
                         ("max_output_tokens", max_output_tokens), ("batch_size", batch_size)):  # fmt: skip
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"invalid {label}={v!r}: a positive int")
        self.max_input_tokens, self.max_output_tokens = max_input_tokens, max_output_tokens
        self.batch_size = batch_size
        self.progress = progress or _no_progress
        self._cache_dir, self._use_cache = cache_dir, cache

    # --------------------------------------------------------------------- for subclasses
    @property
    def model_id(self) -> str:  # pragma: no cover - abstract
        raise NotImplementedError

    def encode(self, text: str) -> list[int]:  # pragma: no cover - abstract
        raise NotImplementedError

    def decode(self, ids: Sequence[int]) -> str:  # pragma: no cover - abstract
        raise NotImplementedError

    def prompt(self, instruction: str) -> list[int]:  # pragma: no cover - abstract
        """Token ids of the prompt that precedes the response ("" for no instruction)."""
        raise NotImplementedError

    def _logprob_sums(self, batch: list[tuple[list[int], int]]) -> list[float]:  # pragma: no cover
        """For each ``(ids, start)``, the summed log-probability of ``ids[start:]`` given
        ``ids[:start]``."""
        raise NotImplementedError

    # --------------------------------------------------------------------- shared
    @property
    def name(self) -> str:
        """Identifies the model and the truncation (part of every cache key)."""
        return f"lm-{self.model_id}-in{self.max_input_tokens}-out{self.max_output_tokens}"

    def _cache(self) -> VectorCache | None:
        if not self._use_cache:
            return None
        cache_dir = self._cache_dir
        if cache_dir is None:
            from mlroundup.utils.paths import default_cache_dir

            cache_dir = default_cache_dir()
        return VectorCache(
            Path(cache_dir) / "instruction_mining" / f"{self.name}.npz", len(COLUMNS)
        )

    def _sequences(self, pair: Pair) -> tuple[list[int], list[int], list[int], int, int]:
        instr_ids, resp_ids = self.encode(pair.instruction), self.encode(pair.response)
        cut = self.decode(instr_ids[: self.max_input_tokens])
        cond, uncond = self.prompt(cut), self.prompt("")
        room = self.context - max(len(cond), len(uncond))
        if room < 1:
            raise ValueError(f"the prompt of {pair.source or 'a pair'} fills the model's context")
        scored = resp_ids[: min(self.max_output_tokens, room)]
        return cond, uncond, scored, len(instr_ids), len(resp_ids)

    def score(self, pairs: Sequence[Pair]) -> np.ndarray:
        """Lengths and response log-probabilities of each pair.

        Returns
        -------
        ndarray of shape (n, 5), dtype float64
            Columns :data:`COLUMNS`: instruction tokens, response tokens, scored response tokens,
            log-probability (nats, summed over the scored tokens) given the instruction, and
            given an empty instruction.
        """
        cache = self._cache()
        keys = [content_key(self.name, p.instruction, p.response) for p in pairs]
        if cache is not None:
            found, out = cache.get(keys)
        else:
            found, out = np.zeros(len(pairs), bool), np.full((len(pairs), len(COLUMNS)), np.nan)
        todo = [int(i) for i in np.nonzero(~found)[0]]
        if not todo:
            return out
        prepared = {i: self._sequences(pairs[i]) for i in todo}
        todo.sort(key=lambda i: len(prepared[i][0]) + len(prepared[i][2]))  # similar lengths batch
        batches = [todo[i : i + self.batch_size] for i in range(0, len(todo), self.batch_size)]
        done: list[int] = []
        for b, idx in enumerate(
            self.progress(batches, f"scoring with {self.model_id}", len(batches))
        ):
            seqs = []
            for i in idx:
                cond, uncond, scored, _, _ = prepared[i]
                seqs += [(cond + scored, len(cond)), (uncond + scored, len(uncond))]
            sums = self._logprob_sums(seqs)
            for j, i in enumerate(idx):
                _, _, scored, n_in, n_out = prepared[i]
                out[i] = (n_in, n_out, len(scored), sums[2 * j], sums[2 * j + 1])
            done += idx
            if cache is not None and (len(done) >= CACHE_EVERY or b == len(batches) - 1):
                cache.put([keys[i] for i in done], out[done])
                done = []
        return out


def _gather_logprobs(torch, logits, ids, start: int) -> float:
    """Summed log-softmax of ``ids[start:]`` under ``logits`` of shape (T, V) for positions
    ``start-1 .. len(ids)-2``."""
    logp = torch.log_softmax(logits.float(), dim=-1)  # (r, V)
    target = torch.as_tensor(ids[start:], dtype=torch.long)  # (r,)
    return float(logp.gather(1, target[:, None]).sum())


class SmolLM2Scorer(ResponseScorer):
    """Scores with SmolLM2-135M-Instruct (:func:`mlroundup.models.load_smollm2`) and its ChatML
    template (with the model's default system prompt).

    Parameters
    ----------
    lm : mlroundup.models.LoadedModel, optional
        A loaded model (default: loaded on first use, ~1 s once converted, ~50 s the first time).
    **kwargs
        As :class:`ResponseScorer` (default ``batch_size=4``).
    """

    def __init__(self, lm: Any = None, **kwargs: Any) -> None:
        kwargs.setdefault("batch_size", 4)
        super().__init__(**kwargs)
        self._lm = lm
        self.context = 8192

    def _loaded(self) -> Any:
        if self._lm is None:
            from mlroundup.models import load_smollm2

            self._lm = load_smollm2(self._cache_dir)
        return self._lm

    @property
    def model_id(self) -> str:
        from mlroundup.models.smollm2 import MODEL_ID

        return MODEL_ID

    def encode(self, text: str) -> list[int]:
        return list(self._loaded().tokenizer(text, add_special_tokens=False)["input_ids"])

    def decode(self, ids: Sequence[int]) -> str:
        return self._loaded().tokenizer.decode(list(ids))

    def prompt(self, instruction: str) -> list[int]:
        tok = self._loaded().tokenizer
        text = tok.apply_chat_template(
            [{"role": "user", "content": instruction}], tokenize=False, add_generation_prompt=True
        )
        return self.encode(text)

    def _logprob_sums(self, batch: list[tuple[list[int], int]]) -> list[float]:
        import torch

        lm = self._loaded()
        width = max(len(ids) for ids, _ in batch)
        pad = lm.tokenizer.pad_token_id or 0
        x = torch.full((len(batch), width), pad, dtype=torch.long)  # (B, T), right-padded
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for b, (ids, _) in enumerate(batch):
            x[b, : len(ids)] = torch.as_tensor(ids)
            mask[b, : len(ids)] = 1
        with torch.no_grad():
            hidden = lm.model.model(input_ids=x, attention_mask=mask).last_hidden_state  # (B, T, C)
            sums = []
            for b, (ids, start) in enumerate(batch):
                # (r, C): the positions that predict ids[start:]
                h = hidden[b, start - 1 : len(ids) - 1]
                sums.append(_gather_logprobs(torch, lm.model.lm_head(h), ids, start))
        return sums


class GPTScorer(ResponseScorer):
    """Scores with a :class:`mlroundup.training.GPT` and a character-level tokenizer.

    The prompt is ``"### Instruction:\\n{instruction}\\n\\n### Response:\\n"``; the model's
    ``block_size`` bounds prompt + scored response.

    Parameters
    ----------
    model : GPT
        In eval mode.
    tokenizer : object
        ``encode(str) -> ndarray of int``, ``decode(ids) -> str``.
    model_id : str, optional
        Identifies the weights in cache keys (default: SHA-256 of the state dict).
    **kwargs
        As :class:`ResponseScorer`.
    """

    TEMPLATE = "### Instruction:\n{instruction}\n\n### Response:\n"

    def __init__(
        self, model: Any, tokenizer: Any, model_id: str | None = None, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.model, self.tokenizer = model, tokenizer
        self.context = int(model.cfg.block_size)
        self._model_id = model_id or f"gpt-{state_digest(model)[:16]}"

    @property
    def model_id(self) -> str:
        return self._model_id

    def encode(self, text: str) -> list[int]:
        return [int(i) for i in self.tokenizer.encode(text)]

    def decode(self, ids: Sequence[int]) -> str:
        return self.tokenizer.decode(ids)

    def prompt(self, instruction: str) -> list[int]:
        return self.encode(self.TEMPLATE.format(instruction=instruction))

    def _logprob_sums(self, batch: list[tuple[list[int], int]]) -> list[float]:
        import torch

        width = max(len(ids) for ids, _ in batch)
        x = torch.zeros((len(batch), width), dtype=torch.long)  # (B, T), right-padded (causal)
        for b, (ids, _) in enumerate(batch):
            x[b, : len(ids)] = torch.as_tensor(ids)
        was_training = self.model.training
        self.model.eval()
        with torch.no_grad():
            logits = self.model(x)  # (B, T, V)
        self.model.train(was_training)
        return [
            _gather_logprobs(torch, logits[b, start - 1 : len(ids) - 1], ids, start)
            for b, (ids, start) in enumerate(batch)
        ]


def state_digest(model: Any) -> str:
    """SHA-256 (hex) of a torch module's parameters and buffers, in state-dict order."""
    h = hashlib.sha256()
    for name, tensor in model.state_dict().items():
        h.update(name.encode())
        h.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()
