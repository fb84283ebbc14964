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
    response_prefix: Sequence[str] | None = None,
    max_batch: int = 64,
    progress: Callable[[int], None] | None = None,
) -> list[list[Sample]]:
    """Draw ``n`` generations for each prompt, batching several prompts' samples together.

    Each prompt is encoded once; its key/value cache is then copied to its n rows of a
    preallocated cache, and all rows of a batch are decoded together (ancestral sampling with
    temperature and nucleus/top-p).

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
        Batch b draws from a ``torch.Generator`` seeded with ``seed + b``: results depend on the
        seed, ``max_batch`` and the prompt order (not on global random state).
    chat : bool
        Apply the chat template.
    response_prefix : sequence of str, optional
        Text appended to each (templated) prompt that the generation continues, e.g. the start
        of the answer; one per prompt. Not part of the returned text.
    max_batch : int
        Most sequences decoded at once (prompts are grouped so that ``prompts x n`` fits; a
        prompt's n samples are never split). Larger batches amortize each step's reading of
        the weights; memory grows with ``max_batch`` x sequence length (KV cache).
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

    tok = lm.tokenizer
    texts = [
        tok.apply_chat_template(
            [{"role": "user", "content": p}], tokenize=False, add_generation_prompt=True
        )
        if chat
        else p
        for p in prompts
    ]
    if response_prefix is not None:
        if len(response_prefix) != len(prompts):
            raise ValueError(
                f"response_prefix has {len(response_prefix)} entries for {len(prompts)} prompts"
            )
        texts = [t + r for t, r in zip(texts, response_prefix, strict=True)]
    per_batch = max(1, max_batch // n)
    out: list[list[Sample]] = []
    for b, start in enumerate(range(0, len(texts), per_batch)):
        gen = torch.Generator().manual_seed(seed + b)
        out.extend(
            _sample_batch(
                lm,
                texts[start : start + per_batch],
                n,
                temperature,
                top_p,
                max_new_tokens,
                list(stop),
                gen,
            )  # fmt: skip
        )
        if progress is not None:
            progress(len(out))
    return out


def _sample_batch(
    lm: Any,
    texts: list[str],
    n: int,
    temperature: float,
    top_p: float,
    max_new_tokens: int,
    stop: list[str],
    gen: Any,
) -> list[list[Sample]]:
    """Prefill each prompt once, copy its KV cache n times, then decode all rows together."""
    import torch

    model, tok = lm.model, lm.tokenizer
    eos_ids = _eos_ids(lm)
    pad = tok.pad_token_id if tok.pad_token_id is not None else eos_ids[0]
    old_side = tok.padding_side
    tok.padding_side = "left"  # every row continues from its last real token
    try:
        enc = tok(texts, return_tensors="pt", padding=True, add_special_tokens=False)
    finally:
        tok.padding_side = old_side
    mask = enc["attention_mask"]  # (P, L)
    pos = (mask.cumsum(-1) - 1).clamp(min=0)  # positions ignore the left padding
    rows = len(texts) * n
    eos = torch.tensor(eos_ids)
    length = mask.shape[1]
    with torch.inference_mode():
        o = model(input_ids=enc["input_ids"], attention_mask=mask, position_ids=pos,
                  use_cache=True, logits_to_keep=1)  # fmt: skip
        cache = _static_copy(model, o.past_key_values, n, length + max_new_tokens)
        del o.past_key_values
        logits = o.logits[:, -1].repeat_interleave(n, 0)  # (P*n, V)
        # the mask spans the whole static cache; generated positions are switched on as they fill
        mask = torch.cat([mask, torch.zeros(len(texts), max_new_tokens, dtype=mask.dtype)], 1)
        mask = mask.repeat_interleave(n, 0)
        next_pos = pos[:, -1:].repeat_interleave(n, 0) + 1  # (P*n, 1)
        done = torch.zeros(rows, dtype=torch.bool)
        ids_t, lps_t = [], []
        for _ in range(max_new_tokens):
            logp = torch.log_softmax(logits.float(), dim=-1)  # model distribution, T = 1
            nxt = _draw(torch.softmax(logits.float() / temperature, dim=-1), top_p, gen)
            nxt = torch.where(done, torch.tensor(pad), nxt)
            ids_t.append(nxt)
            lps_t.append(logp.gather(1, nxt[:, None]).squeeze(1))
            done |= torch.isin(nxt, eos)
            if stop:
                gen_ids = torch.stack(ids_t, 1)
                for r in torch.nonzero(~done).flatten().tolist():
                    text = tok.decode(gen_ids[r].tolist(), skip_special_tokens=True)
                    if any(s_ in text for s_ in stop):
                        done[r] = True
            if bool(done.all()):
                break
            mask[:, length + len(ids_t) - 1] = 1
            o = model(input_ids=nxt[:, None], attention_mask=mask, position_ids=next_pos,
                      past_key_values=cache, use_cache=True)  # fmt: skip
            logits = o.logits[:, -1]
            next_pos = next_pos + 1
    ids_all = torch.stack(ids_t, 1).tolist()  # (P*n, T)
    lps_all = torch.stack(lps_t, 1).tolist()
    out: list[list[Sample]] = []
    for j in range(len(texts)):
        row = []
        for i in range(j * n, (j + 1) * n):
            ids = ids_all[i]
            end = next((k for k, t in enumerate(ids) if t in eos_ids), len(ids))
            row.append(_cut(tok, ids[:end], lps_all[i][:end], stop))
        out.append(row)
    return out


def _static_copy(model: Any, cache: Any, n: int, max_len: int) -> Any:
    """A preallocated (static) KV cache holding each prompt's keys/values repeated ``n`` times.

    Decoding then writes each new position in place; a growing cache would copy every layer's
    keys and values at every step (most of the decode time at n = 10 and long prompts).
    """
    from transformers import StaticCache

    static = StaticCache(config=model.config, max_cache_len=max_len)
    for i, layer in enumerate(cache.layers):
        k = layer.keys.repeat_interleave(n, 0)  # (P*n, heads, L, head_dim), prompt-major
        v = layer.values.repeat_interleave(n, 0)
        static.update(k, v, i)
        layer.keys = layer.values = None  # free the prompt-only copy early
    return static


def _draw(probs: Any, top_p: float, gen: Any) -> Any:
    """One token per row from ``probs`` (R, V), restricted to each row's nucleus.

    The nucleus is the smallest set of most probable tokens whose mass reaches ``top_p`` (a
    token is kept when the mass of the tokens ranked above it is < ``top_p``; Holtzman et al.
    2020). Only the top k tokens are ranked, with k grown until every row's nucleus lies within
    them, which gives the same set as a full sort of the vocabulary at a fraction of its cost.
    """
    import torch

    if top_p >= 1.0:
        return torch.multinomial(probs, 1, generator=gen).squeeze(1)
    vocab = probs.shape[-1]
    k = min(vocab, 256)
    while True:
        top, idx = probs.topk(k, dim=-1)  # sorted, descending
        cum = top.cumsum(-1)
        if k == vocab or bool((cum[:, -1] >= top_p).all()):
            break
        k = min(vocab, 4 * k)
    top = top.masked_fill(cum - top >= top_p, 0.0)  # mass before this token already >= top_p
    return idx.gather(1, torch.multinomial(top, 1, generator=gen)).squeeze(1)


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
