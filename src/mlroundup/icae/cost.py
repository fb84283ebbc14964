"""The cost side of context compression, measured: when do memory slots pay for their encoder?

For a context of ``L`` tokens compressed to ``k`` slots, a query with a ``p``-token prompt that
generates ``n`` tokens costs

- with the **full context**: ``prefill(L + p) + n * decode(L + p + ...)``;
- with the **ICAE**: ``encode(L + k) + prefill(k + p) + n * decode(k + p + ...)``,

where the encoder pass (the LM with its adapter, over the context and the memory tokens) is paid
once per context. The KV cache holds ``L + p`` positions against ``k + p``: per position
``2 * layers * kv_heads * head_dim`` numbers (:func:`kv_bytes_per_position`). Ge et al. (2023,
Sec. 3.3.4 and Table on latency) report speedups with slots computed ahead of time; here every
term is timed, the encoder included, and the break-even points follow:

- ``break_even_tokens``: generated tokens after which one query with a fresh compression is
  cheaper than the full context (``inf`` when decoding with slots is not faster per token);
- ``break_even_queries``: queries sharing one compression after which it pays, at ``n`` tokens
  each.

Timings are medians of ``repeats`` runs after one warm-up, on whatever device the model is on
(CPU here), with the thread count the caller set.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import torch

if TYPE_CHECKING:  # pragma: no cover
    from mlroundup.icae.model import ICAE


def kv_bytes_per_position(config: Any, bytes_per_value: int = 4) -> int:
    """Bytes one position adds to a LLaMA-style KV cache: ``2 * layers * kv_heads * head_dim * bytes``."""
    heads = config.num_attention_heads
    kv = getattr(config, "num_key_value_heads", None) or heads
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // heads
    return 2 * config.num_hidden_layers * kv * head_dim * bytes_per_value


def kv_cache_bytes(cache: Any) -> int:
    """Bytes held by the key and value tensors of a transformers cache (measured, not computed).

    Raises
    ------
    TypeError
        For a cache layout this does not know.
    """
    if hasattr(cache, "layers"):  # transformers >= 4.56 DynamicCache
        return sum(int(lay.keys.nbytes) + int(lay.values.nbytes) for lay in cache.layers
                   if getattr(lay, "keys", None) is not None)  # fmt: skip
    if hasattr(cache, "key_cache"):
        return sum(int(t.nbytes) for t in (*cache.key_cache, *cache.value_cache))
    if isinstance(cache, (tuple, list)):
        return sum(int(k.nbytes) + int(v.nbytes) for k, v in cache)
    raise TypeError(f"unknown KV cache type {type(cache).__name__}")


def _median_time(fn: Callable[[], Any], repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


@dataclass
class CostPoint:
    """Measured cost of one context length.

    Attributes
    ----------
    context_tokens, slots, prompt_tokens, new_tokens : int
        ``L``, ``k``, ``p``, ``n``.
    encode_s : float
        Encoder pass over ``L + k`` positions (adapter on).
    prefill_full_s, prefill_slots_s : float
        Decoder pass over ``L + p`` (full context) and ``k + p`` (slots) positions.
    decode_full_s, decode_slots_s : float
        Mean seconds per generated token with the cache of each.
    kv_full_bytes, kv_slots_bytes : int
        KV-cache bytes after the prefill, measured from the cache tensors.
    """

    context_tokens: int
    slots: int
    prompt_tokens: int
    new_tokens: int
    encode_s: float
    prefill_full_s: float
    prefill_slots_s: float
    decode_full_s: float
    decode_slots_s: float
    kv_full_bytes: int
    kv_slots_bytes: int

    def query_full_s(self, n: int | None = None) -> float:
        """One query with the full context, ``n`` generated tokens (default ``new_tokens``)."""
        n = self.new_tokens if n is None else n
        return self.prefill_full_s + n * self.decode_full_s

    def query_slots_s(self, n: int | None = None, encode: bool = True) -> float:
        """One query with memory slots (``encode``: including this context's compression)."""
        n = self.new_tokens if n is None else n
        return (self.encode_s if encode else 0.0) + self.prefill_slots_s + n * self.decode_slots_s

    @property
    def speedup_one_query(self) -> float:
        """Full-context time / ICAE time for one query, compression included (>1: ICAE faster)."""
        return self.query_full_s() / self.query_slots_s()

    @property
    def speedup_precompressed(self) -> float:
        """Same, with the slots computed ahead of time (the paper's latency setting)."""
        return self.query_full_s() / self.query_slots_s(encode=False)

    @property
    def break_even_tokens(self) -> float:
        """Generated tokens from which one freshly compressed query is cheaper (0: at once; inf: never)."""
        extra = self.encode_s + self.prefill_slots_s - self.prefill_full_s
        saving = self.decode_full_s - self.decode_slots_s
        if extra <= 0:
            return 0.0
        return extra / saving if saving > 0 else math.inf

    @property
    def break_even_queries(self) -> float:
        """Queries sharing one compression from which it pays (at ``new_tokens`` each; inf: never)."""
        saving = self.query_full_s() - self.query_slots_s(encode=False)
        return self.encode_s / saving if saving > 0 else math.inf

    @property
    def kv_reduction(self) -> float:
        """KV bytes with the full context / with the slots."""
        return self.kv_full_bytes / self.kv_slots_bytes

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.update(speedup_one_query=self.speedup_one_query,
                 speedup_precompressed=self.speedup_precompressed,
                 break_even_tokens=self.break_even_tokens,
                 break_even_queries=self.break_even_queries, kv_reduction=self.kv_reduction)  # fmt: skip
        return d


@torch.no_grad()
def measure_point(
    icae: ICAE,
    context_tokens: int,
    prompt_tokens: int = 16,
    new_tokens: int = 16,
    repeats: int = 3,
    seed: int = 0,
) -> CostPoint:
    """Time one context length for ``icae`` (its ``k`` slots) against the full context.

    Token ids are random (cost does not depend on them). Both decoders are the frozen LM with
    the adapter disabled, so the two sides differ only in what they read.

    Raises
    ------
    ValueError
        If the full context, prompt and generation do not fit the model's window.
    """
    window = icae.window
    need = context_tokens + prompt_tokens + new_tokens
    if window is not None and need > window:
        raise ValueError(
            f"context {context_tokens} + prompt {prompt_tokens} + {new_tokens} new tokens = "
            f"{need} positions exceed the window of {window}"
        )
    icae.eval()
    g = torch.Generator().manual_seed(seed)
    vocab = icae.base.get_input_embeddings().weight.shape[0]
    dev = icae.memory.device
    ctx = torch.randint(0, vocab, (1, context_tokens), generator=g).to(dev)
    prompt = torch.randint(0, vocab, (1, prompt_tokens), generator=g).to(dev)
    base = icae.base
    slots = icae.encode(ctx)  # (1, k, d)
    full_in = icae.embed(torch.cat([ctx, prompt], 1))  # (1, L+p, d)
    slot_in = torch.cat([slots, icae.embed(prompt)], 1)  # (1, k+p, d)

    def prefill(x):
        with icae.lm.disable_adapter():
            return base(inputs_embeds=x, use_cache=True)

    def decode(x):
        res = prefill(x)
        step = torch.zeros(1, 1, dtype=torch.long, device=dev)
        with icae.lm.disable_adapter():
            for _ in range(new_tokens):
                res = base(input_ids=step, past_key_values=res.past_key_values, use_cache=True)
        return res

    encode_s = _median_time(lambda: icae.encode(ctx), repeats)
    pre_full = _median_time(lambda: prefill(full_in), repeats)
    pre_slots = _median_time(lambda: prefill(slot_in), repeats)
    dec_full = (_median_time(lambda: decode(full_in), repeats) - pre_full) / new_tokens
    dec_slots = (_median_time(lambda: decode(slot_in), repeats) - pre_slots) / new_tokens
    kv_full = kv_cache_bytes(prefill(full_in).past_key_values)
    kv_slots = kv_cache_bytes(prefill(slot_in).past_key_values)
    return CostPoint(context_tokens, icae.k, prompt_tokens, new_tokens, encode_s, pre_full,
                     pre_slots, max(dec_full, 0.0), max(dec_slots, 0.0), kv_full, kv_slots)  # fmt: skip


def measure_costs(
    make_icae: Callable[[int], ICAE],
    context_lengths: Sequence[int],
    ratio: int = 4,
    prompt_tokens: int = 16,
    new_tokens: int = 16,
    repeats: int = 3,
    track: Callable[[Sequence[int], str], Any] = lambda xs, _d: xs,
) -> list[CostPoint]:
    """:func:`measure_point` at each context length, compressing ``ratio`` times (``k = L / ratio``).

    Parameters
    ----------
    make_icae : callable
        ``make_icae(k)`` returns an ICAE with ``k`` slots whose window holds the longest context
        (for timing, untrained weights of the right architecture serve: cost does not depend on
        the weights).
    context_lengths : sequence of int
        Each a multiple of ``ratio``.

    Raises
    ------
    ValueError
        If a length is not a multiple of ``ratio``.
    """
    bad = [n for n in context_lengths if n % ratio]
    if bad:
        raise ValueError(f"context lengths {bad} are not multiples of ratio={ratio}")
    return [measure_point(make_icae(n // ratio), n, prompt_tokens, new_tokens, repeats)
            for n in track(list(context_lengths), "cost")]  # fmt: skip
