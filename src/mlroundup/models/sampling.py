"""Batched sampling of n generations per prompt, with each sampled token's log-probability.

The log-probabilities are those of the model's own distribution (softmax of the raw logits,
temperature 1, no top-p truncation) at each sampled token, which is what "the model's token
probabilities" means for the reranking scores; the sampling itself uses ``temperature``/``top_p``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass
class Sample:
    """One generation.

    Attributes
    ----------
    text : str
        Decoded generation, cut before the first stop string (the stop string is not included).
    token_ids : list of int
        The generated tokens kept (end-of-sequence and padding removed).
    logprobs : list of float
        Natural-log probability of each kept token under the model, ``len(token_ids)`` values.
    """

    text: str
    token_ids: list[int]
    logprobs: list[float]

    def to_json(self) -> dict[str, Any]:
        return {"text": self.text, "token_ids": self.token_ids, "logprobs": self.logprobs}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Sample:
        return cls(d["text"], list(d["token_ids"]), list(d["logprobs"]))


def _check(n: int, temperature: float, top_p: float, max_new_tokens: int) -> None:
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"invalid n={n!r}: must be an int >= 1")
    if not (
        isinstance(temperature, (int, float)) and math.isfinite(temperature) and temperature > 0
    ):
        raise ValueError(f"invalid temperature={temperature!r}: must be finite and > 0")
    if not (isinstance(top_p, (int, float)) and 0 < top_p <= 1):
        raise ValueError(f"invalid top_p={top_p!r}: must be in (0, 1]")
    if (
        isinstance(max_new_tokens, bool)
        or not isinstance(max_new_tokens, int)
        or max_new_tokens < 1
    ):
        raise ValueError(f"invalid max_new_tokens={max_new_tokens!r}: must be an int >= 1")


def _cut(tokenizer: Any, ids: list[int], lps: list[float], stop: Sequence[str]) -> Sample:
    """Cut a generation before its first stop string, keeping the tokens that make that prefix.

    The kept tokens are the shortest prefix whose decoding reaches the cut point (the last one
    may straddle it); found by bisection over prefix lengths.
    """
    text = tokenizer.decode(ids, skip_special_tokens=True)
    cut = min((i for i in (text.find(s) for s in stop if s) if i >= 0), default=-1)
    if cut < 0:
        return Sample(text, ids, lps)
    lo, hi = 0, len(ids)  # find the smallest k with len(decode(ids[:k])) >= cut
    while lo < hi:
        mid = (lo + hi) // 2
        if len(tokenizer.decode(ids[:mid], skip_special_tokens=True)) >= cut:
            hi = mid
        else:
            lo = mid + 1
    return Sample(text[:cut], ids[:lo], lps[:lo])


def sample(
    lm: Any,
    prompts: Sequence[str],
    n: int,
    *,
    temperature: float = 0.8,
    top_p: float = 0.95,
    max_new_tokens: int = 128,
    stop: Sequence[str] = (),
    seed: int = 0,
    chat: bool = False,
    max_batch: int = 64,
    progress: Callable[[int], None] | None = None,
) -> list[list[Sample]]:
    """Draw ``n`` generations for each prompt, batching several prompts' samples together.

    Parameters
    ----------
    lm : LoadedModel
        From :func:`mlroundup.models.load_smollm2` (anything with ``.model`` and ``.tokenizer``).
    prompts : sequence of str
        Raw text to continue; with ``chat=True``, user messages put through the tokenizer's chat
        template (with the assistant turn opened).
    n : int
        Generations per prompt (>= 1).
    temperature, top_p : float
        Sampling temperature (> 0) and nucleus mass (0 < top_p <= 1).
    max_new_tokens : int
        Length limit of each generation, tokens.
    stop : sequence of str
        A generation ends at the first of these strings (cut off and not returned).
    seed : int
        Batch b is sampled after ``torch.manual_seed(seed + b)``: results depend on the seed,
        ``max_batch`` and the prompt order.
    chat : bool
        Apply the chat template.
    max_batch : int
        Most sequences decoded at once (prompts are grouped so that ``prompts x n`` fits; a
        prompt's n samples are never split). On CPU one decoding step reads all weights, so
        larger batches cost little more per step.
    progress : callable, optional
        Called with the number of prompts done after each batch.

    Returns
    -------
    list (per prompt) of list of n Sample

    Raises
    ------
    ValueError
        For an out-of-range argument (named in the message) or an empty prompt list.
    """
    _check(n, temperature, top_p, max_new_tokens)
    if not prompts:
        raise ValueError("prompts is empty")
    if isinstance(max_batch, bool) or not isinstance(max_batch, int) or max_batch < 1:
        raise ValueError(f"invalid max_batch={max_batch!r}: must be an int >= 1")
    import torch

    model, tok = lm.model, lm.tokenizer
    eos_ids = _eos_ids(lm)
    pad = tok.pad_token_id if tok.pad_token_id is not None else eos_ids[0]
    texts = [
        tok.apply_chat_template(
            [{"role": "user", "content": p}], tokenize=False, add_generation_prompt=True
        )
        if chat
        else p
        for p in prompts
    ]
    per_batch = max(1, max_batch // n)
    out: list[list[Sample]] = []
    old_side = tok.padding_side
    tok.padding_side = "left"  # generation continues every row from its last real token
    try:
        for b, start in enumerate(range(0, len(texts), per_batch)):
            chunk = texts[start : start + per_batch]
            enc = tok(chunk, return_tensors="pt", padding=True, add_special_tokens=False)
            plen = enc["input_ids"].shape[1]
            torch.manual_seed(seed + b)
            with torch.inference_mode():
                gen = model.generate(
                    **enc,
                    do_sample=True,
                    temperature=float(temperature),
                    top_p=float(top_p),
                    top_k=0,
                    max_new_tokens=max_new_tokens,
                    num_return_sequences=n,
                    output_logits=True,
                    return_dict_in_generate=True,
                    pad_token_id=pad,
                    eos_token_id=eos_ids,
                    stop_strings=list(stop) or None,
                    tokenizer=tok if stop else None,
                )
                seqs = gen.sequences[:, plen:]  # (len(chunk) * n, T), prompt-major
                # log p(token) under the raw model distribution, step by step: (rows, T)
                lp = torch.stack(
                    [
                        torch.log_softmax(step.float(), dim=-1)
                        .gather(1, seqs[:, t : t + 1])
                        .squeeze(1)
                        for t, step in enumerate(gen.logits)
                    ],
                    dim=1,
                )
            for j in range(len(chunk)):
                row = []
                for i in range(j * n, (j + 1) * n):
                    ids = seqs[i].tolist()
                    end = next((k for k, t in enumerate(ids) if t in eos_ids), len(ids))
                    row.append(_cut(tok, ids[:end], lp[i, :end].tolist(), stop))
                out.append(row)
            if progress is not None:
                progress(len(out))
    finally:
        tok.padding_side = old_side
    return out


def _eos_ids(lm: Any) -> list[int]:
    """Token ids that end a generation: the tokenizer's and the generation config's EOS."""
    ids = []
    for v in (lm.tokenizer.eos_token_id, getattr(lm.model.generation_config, "eos_token_id", None)):
        for t in v if isinstance(v, (list, tuple)) else [v]:
            if t is not None and t not in ids:
                ids.append(int(t))
    if not ids:
        raise ValueError("the tokenizer defines no end-of-sequence token")
    return ids
