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
def window_nlls(model, windows: Sequence[torch.Tensor], batch_size: int = 1) -> list[float]:
    """Summed next-token negative log-likelihood (nats) of each window, scored independently.

    Parameters
    ----------
    model : transformers causal LM
        Called as ``model(ids, use_cache=False)`` on a LongTensor of shape (B, T); its ``logits``
        have shape (B, T, vocab).
    windows : sequence of LongTensor of shape (T,)
        Token ids, ``T >= 2``; window ``i`` contributes the ``T - 1`` predictions of tokens 1..T-1.
    batch_size : int
        Windows per forward pass (consecutive windows of equal length are stacked); the result
        does not depend on it beyond float32 rounding.

    Returns
    -------
    list of float
        ``-sum_t log p(ids[t] | ids[:t])`` for ``t = 1..T-1``, one entry per window.

    Raises
    ------
    ValueError
        If ``windows`` is empty, a window is not 1-D with at least 2 tokens, or ``batch_size < 1``.
    """
    if not windows:
        raise ValueError("windows is empty")
    if batch_size < 1:
        raise ValueError(f"invalid batch_size={batch_size!r}: must be >= 1")
    for i, w in enumerate(windows):
        if w.dim() != 1 or len(w) < 2:
            raise ValueError(f"invalid windows[{i}] of shape {tuple(w.shape)}: need (T,), T >= 2")
    out: list[float] = []
    i = 0
    while i < len(windows):
        chunk = [windows[i]]
        while len(chunk) < batch_size and i + len(chunk) < len(windows):
            nxt = windows[i + len(chunk)]
            if len(nxt) != len(chunk[0]):
                break
            chunk.append(nxt)
        ids = torch.stack(chunk)
        logits = model(ids, use_cache=False).logits[:, :-1].float()  # (B, T-1, vocab)
        nll = torch.nn.functional.cross_entropy(
            logits.reshape(-1, logits.shape[-1]), ids[:, 1:].reshape(-1), reduction="none"
        )
        out.extend(float(v) for v in nll.view(len(chunk), -1).double().sum(dim=1))
        i += len(chunk)
    return out


def perplexity(model, windows: Sequence[torch.Tensor], batch_size: int = 1) -> float:
    """exp(mean next-token negative log-likelihood) over every predicted token of ``windows``.

    Each window is scored independently (no context carried across windows); ``batch_size`` as
    :func:`window_nlls`, which raises the ``ValueError`` s.
    """
    nlls = window_nlls(model, windows, batch_size)
    return math.exp(sum(nlls) / sum(len(w) - 1 for w in windows))


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
