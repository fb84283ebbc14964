"""Perplexity on held-out real text, calibration data, and text generation for quantized models.

Text: CPython's bundled help topics (``pydoc_data.topics``, ~465K characters of English prose and
code, always present, no download). Topics are sorted by name and split in two disjoint halves:
even-indexed topics give GPTQ calibration sequences, odd-indexed ones the held-out evaluation text.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch


def help_text(split: str) -> str:
    """The ``"calibration"`` or ``"eval"`` half of CPython's help topics, as one string.

    Raises
    ------
    ValueError
        On another ``split``.
    """
    from pydoc_data.topics import topics

    if split not in ("calibration", "eval"):
        raise ValueError(f"invalid split={split!r}: 'calibration' or 'eval'")
    names = sorted(topics)[(0 if split == "calibration" else 1) :: 2]
    return "\n\n".join(topics[n] for n in names)


def token_windows(tokenizer, text: str, seq_len: int, count: int | None) -> list[torch.Tensor]:
    """Consecutive non-overlapping windows of ``seq_len`` token ids (at most ``count``)."""
    if seq_len < 2:
        raise ValueError(f"invalid seq_len={seq_len}: need >= 2")
    ids = torch.tensor(tokenizer(text)["input_ids"], dtype=torch.long)
    n = len(ids) // seq_len if count is None else min(count, len(ids) // seq_len)
    return [ids[i * seq_len : (i + 1) * seq_len] for i in range(n)]


@torch.no_grad()
def perplexity(model, windows: Sequence[torch.Tensor]) -> float:
    """exp(mean next-token negative log-likelihood) over every predicted token of ``windows``.

    Each window is scored independently (no context carried across windows).
    """
    if not windows:
        raise ValueError("windows is empty")
    total, count = 0.0, 0
    for ids in windows:
        logits = model(ids[None]).logits[0, :-1].float()  # (T-1, vocab)
        nll = torch.nn.functional.cross_entropy(logits, ids[1:], reduction="sum")
        total += float(nll)
        count += len(ids) - 1
    return math.exp(total / count)


@torch.no_grad()
def generate(model, tokenizer, prompt: str, max_new_tokens: int = 64) -> tuple[str, int, float]:
    """Greedy chat completion of ``prompt``: (text, new tokens, seconds spent decoding)."""
    import time

    msgs = [{"role": "user", "content": prompt}]
    enc = tokenizer.apply_chat_template(msgs, add_generation_prompt=True, return_tensors="pt")
    ids = enc if torch.is_tensor(enc) else enc["input_ids"]
    t0 = time.perf_counter()
    out = model.generate(
        ids,
        attention_mask=torch.ones_like(ids),
        max_new_tokens=max_new_tokens,
        do_sample=False,
        pad_token_id=tokenizer.pad_token_id,
    )
    dt = time.perf_counter() - t0
    new = out[0, ids.shape[1] :]
    return tokenizer.decode(new, skip_special_tokens=True), len(new), dt
