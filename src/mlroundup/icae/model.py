"""The in-context autoencoder (Ge et al. 2023, arXiv 2307.06945, Sec. 3.1, Fig. 2) around a causal LM.

One language model plays both parts:

- **encoder**: the LM with a LoRA adapter (PEFT) reads ``[c_1 .. c_L, m_1 .. m_k]`` -- the
  context's token embeddings followed by ``k`` learnable memory-token embeddings -- and the
  last-layer hidden states at the ``k`` memory positions are the **memory slots**
  ``(z_1 .. z_k)``;
- **decoder**: the same LM with the adapter disabled (its own frozen weights, bit for bit) reads
  the slots in place of the context's embeddings, followed by whatever the task appends (an
  ``[AE]`` token and the context for autoencoding, the continuation for language modelling, an
  ``[FT]`` token and a prompt for fine-tuning; :mod:`mlroundup.icae.objectives`).

Only the LoRA matrices, the ``k`` memory embeddings and the special-token embeddings are trained
(about 1% of a 7B model's parameters in the paper). A context longer than one span is split into
segments, each compressed to ``k`` slots, and the slots concatenated in order (multi-span, Sec. 3.3.2
and Fig. 6; the official code's ``compute_num_segments``).

Checkpoints (:meth:`ICAE.save`) hold only what was trained, plus a fingerprint of the base model's
weights; :meth:`ICAE.load` refuses a checkpoint made for another base model.
"""

from __future__ import annotations

import hashlib
import json
import math
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import torch
from torch import nn

#: Checkpoint format written by :meth:`ICAE.save` (bump when the payload changes).
FORMAT = "mlroundup-icae"
FORMAT_VERSION = 1
#: Rows of :attr:`ICAE.special`: the autoencoding and fine-tuning task tokens.
AE, FT = 0, 1


class ContextTooShortError(ValueError):
    """The context has fewer tokens than the memory slots it would be compressed into."""


class ContextTooLongError(ValueError):
    """The context (plus the memory tokens) does not fit the model's window in one span."""


class BaseModelMismatchError(ValueError):
    """A saved ICAE was trained on another base model than the one it is loaded onto."""


@dataclass(frozen=True)
class ICAEConfig:
    """Settings of an :class:`ICAE`.

    Parameters
    ----------
    num_memory_slots : int
        ``k``, the memory slots per span (paper: 128 for a 512-token context, Sec. 4.1).
    lora_r : int
        LoRA rank (paper: 128 on Llama-7B; official code default 128).
    lora_alpha : float
        LoRA scaling numerator (official code: 32); the update is ``(alpha / r) B A``.
    lora_dropout : float
        Dropout on the LoRA input (official code: 0.05).
    target_modules : tuple of str
        Linear layers that get a LoRA adapter (paper: the query and value projections).
    segment_tokens : int or None
        Most tokens of one span in multi-span compression; None: ``4 k`` (the official code's
        ``mean_compression_rate = 4``), capped by the window.

    Raises
    ------
    ValueError
        If a value is out of range (named in the message).
    """

    num_memory_slots: int = 16
    lora_r: int = 16
    lora_alpha: float = 32.0
    lora_dropout: float = 0.05
    target_modules: tuple[str, ...] = ("q_proj", "v_proj")
    segment_tokens: int | None = None

    def __post_init__(self) -> None:
        for name in ("num_memory_slots", "lora_r"):
            v = getattr(self, name)
            if not (isinstance(v, int) and not isinstance(v, bool) and v > 0):
                raise ValueError(f"invalid {name}={v!r}: must be a positive int")
        if not (math.isfinite(self.lora_alpha) and self.lora_alpha > 0):
            raise ValueError(f"invalid lora_alpha={self.lora_alpha!r}: must be > 0")
        if not 0.0 <= self.lora_dropout < 1.0:
            raise ValueError(f"invalid lora_dropout={self.lora_dropout!r}: must be in [0, 1)")
        if not self.target_modules or not all(isinstance(m, str) for m in self.target_modules):
            raise ValueError(f"invalid target_modules={self.target_modules!r}: names of layers")
        if self.segment_tokens is not None and self.segment_tokens < self.num_memory_slots:
            raise ValueError(
                f"invalid segment_tokens={self.segment_tokens}: a span needs at least "
                f"num_memory_slots={self.num_memory_slots} tokens"
            )

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["target_modules"] = list(self.target_modules)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ICAEConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"unknown ICAE config fields {unknown}")
        d = dict(d)
        d["target_modules"] = tuple(d.get("target_modules", cls.target_modules))
        return cls(**d)


class TextCodec:
    """Text <-> token ids for an ICAE: a transformers tokenizer or one of :mod:`mlroundup.data.tokenizers`.

    Parameters
    ----------
    tokenizer : object
        A transformers tokenizer (``__call__`` / ``decode``), or an object with
        ``encode(str) -> ids`` and ``decode(ids) -> str`` (e.g. :class:`~mlroundup.data.tokenizers.CharTokenizer`).
    """

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer
        self.is_hf = hasattr(tokenizer, "convert_tokens_to_ids")

    @property
    def eos_id(self) -> int | None:
        """The end-of-sequence id (None for a tokenizer without one, e.g. characters)."""
        return getattr(self.tokenizer, "eos_token_id", None) if self.is_hf else None

    def encode(self, text: str) -> list[int]:
        """Token ids of ``text`` (no special tokens added).

        Raises
        ------
        ValueError
            If the tokenizer cannot encode the text (e.g. a character outside an alphabet).
        """
        if self.is_hf:
            return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])
        return [int(i) for i in self.tokenizer.encode(text)]

    def decode(self, ids: Sequence[int]) -> str:
        ids = [int(i) for i in ids]
        if self.is_hf:
            return self.tokenizer.decode(ids, skip_special_tokens=True)
        return self.tokenizer.decode(ids)

    def chat_wrap(self) -> tuple[list[int], list[int]]:
        """Token ids before and after a user turn in the tokenizer's chat template, if it has one.

        ``([], [])`` for a tokenizer without a template. The template is rendered around a
        placeholder and split there, so the ids are exactly the template's.
        """
        if not (self.is_hf and getattr(self.tokenizer, "chat_template", None)):
            return [], []
        mark = "\x00ICAE\x00"
        text = self.tokenizer.apply_chat_template(
            [{"role": "user", "content": mark}], tokenize=False, add_generation_prompt=True
        )
        before, _, after = text.partition(mark)
        return self.encode(before), self.encode(after)


def base_fingerprint(lm: nn.Module) -> str:
    """SHA-256 (hex, first 16 digits) of a model's architecture and every weight's bytes.

    Computed on the plain model (before LoRA layers are injected): same weights and shapes, same
    fingerprint. Used to refuse an ICAE checkpoint on another base model.
    """
    h = hashlib.sha256()
    cfg = getattr(lm, "config", None)
    if cfg is not None and hasattr(cfg, "to_dict"):
        arch = {
            k: v
            for k, v in cfg.to_dict().items()
            if k in ("model_type", "vocab_size", "hidden_size", "num_hidden_layers",
                     "num_attention_heads", "num_key_value_heads", "intermediate_size")
        }  # fmt: skip
        h.update(json.dumps(arch, sort_keys=True).encode())
    for name, t in sorted(lm.state_dict().items()):
        h.update(name.encode())
        h.update(str(tuple(t.shape)).encode())
        h.update(t.detach().to("cpu", torch.float32).contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def read_checkpoint(path: Path | str) -> dict[str, Any]:
    """The payload of an ICAE checkpoint (:meth:`ICAE.save`): config, base model, trained tensors.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If the file is not an ICAE checkpoint of a version this code reads.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no ICAE checkpoint at {path}")
    try:  # tensors and plain containers only: no pickled code runs from a user's file
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - torch raises many kinds for a foreign file
        raise ValueError(f"{path} is not an ICAE checkpoint ({type(exc).__name__})") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise ValueError(f"{path} is not an ICAE checkpoint (format {FORMAT!r})")
    if ckpt.get("version") != FORMAT_VERSION:
        raise ValueError(
            f"{path} is ICAE checkpoint version {ckpt.get('version')}; this code reads "
            f"version {FORMAT_VERSION}"
        )
    return ckpt


def _window(lm: nn.Module) -> int | None:
    cfg = getattr(lm, "config", None)
    return getattr(cfg, "max_position_embeddings", None)


class ICAE(nn.Module):
    """In-context autoencoder over a transformers causal LM (Ge et al. 2023, Sec. 3.1).

    Parameters
    ----------
    lm : transformers.PreTrainedModel
        A causal LM (``LlamaForCausalLM`` or any with ``get_input_embeddings`` and a
        ``base_model`` that returns ``last_hidden_state``). **Modified in place**: PEFT injects
        LoRA layers into it; with the adapter disabled it computes exactly what it did before.
        Its weights are frozen.
    config : ICAEConfig, optional
    tokenizer : object, optional
        For the text API (:meth:`compress`, :meth:`generate`); see :class:`TextCodec`.
    base_name : str
        A readable name of the base model, stored in checkpoints.
    base_source : dict, optional
        How to load the base model again (:attr:`mlroundup.icae.base.BaseLM.source`), stored
        in checkpoints so :func:`mlroundup.icae.load_icae` can rebuild the pair.

    Attributes
    ----------
    lm : peft.PeftModel
        The LM with its adapter; :meth:`decoder_logits` runs it with the adapter disabled.
    memory : torch.nn.Parameter of shape (k, d), float32
        The memory-token embeddings ``m_1 .. m_k``.
    special : torch.nn.Parameter of shape (2, d)
        Embeddings of the ``[AE]`` (row :data:`AE`) and ``[FT]`` (row :data:`FT`) task tokens.
    fingerprint : str
        :func:`base_fingerprint` of the base model.

    Notes
    -----
    The memory and task embeddings start as draws from N(0, s^2), s the standard deviation of the
    LM's token-embedding matrix (so they live on the scale of real tokens); LoRA's ``B`` starts at
    zero, so the untrained encoder is the base LM.
    """

    def __init__(
        self,
        lm: nn.Module,
        config: ICAEConfig | None = None,
        tokenizer: Any = None,
        base_name: str = "",
        base_source: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        from peft import LoraConfig, get_peft_model

        self.config = config or ICAEConfig()
        self.base_name = base_name
        self.base_source = dict(base_source or {})
        self.fingerprint = base_fingerprint(lm)
        self.window = _window(lm)
        for p in lm.parameters():
            p.requires_grad_(False)
        lora = LoraConfig(
            r=self.config.lora_r,
            lora_alpha=self.config.lora_alpha,
            lora_dropout=self.config.lora_dropout,
            target_modules=list(self.config.target_modules),
            bias="none",
        )
        with warnings.catch_warnings():  # PEFT asks a deprecated transformers property
            warnings.simplefilter("ignore", FutureWarning)
            self.lm = get_peft_model(lm, lora)
        emb = lm.get_input_embeddings().weight
        d = emb.shape[1]
        std = float(emb.detach().float().std())
        k = self.config.num_memory_slots
        self.memory = nn.Parameter(torch.randn(k, d, dtype=emb.dtype, device=emb.device) * std)
        self.special = nn.Parameter(torch.randn(2, d, dtype=emb.dtype, device=emb.device) * std)
        self.codec = TextCodec(tokenizer) if tokenizer is not None else None

    # --------------------------------------------------------------------------- model parts
    @property
    def k(self) -> int:
        return self.config.num_memory_slots

    @property
    def hidden_size(self) -> int:
        return int(self.memory.shape[1])

    @property
    def base(self) -> nn.Module:
        """The causal LM (its LoRA layers switch with the adapter)."""
        return self.lm.get_base_model()

    def embed(self, ids: torch.Tensor) -> torch.Tensor:
        """Token embeddings of ``ids`` (B, T) -> (B, T, d), from the frozen LM."""
        return self.base.get_input_embeddings()(ids)

    def encode(self, ids: torch.Tensor) -> torch.Tensor:
        """Memory slots of one span per row: ``(B, L)`` token ids -> ``(B, k, d)``.

        The encoder (adapter on) reads ``[e(c_1) .. e(c_L), m_1 .. m_k]`` with causal attention;
        the slots are its last-layer hidden states (after the final norm) at the memory positions.

        Raises
        ------
        ContextTooShortError
            If ``L < k``.
        ContextTooLongError
            If ``L + k`` exceeds the model's window.
        """
        if ids.dim() != 2:
            raise ValueError(f"ids must be (batch, length), got shape {tuple(ids.shape)}")
        self.check_span(int(ids.shape[1]))
        b = ids.shape[0]
        x = torch.cat([self.embed(ids), self.memory.expand(b, -1, -1)], dim=1)  # (B, L+k, d)
        h = self.base.base_model(inputs_embeds=x).last_hidden_state  # (B, L+k, d)
        return h[:, -self.k :]  # (B, k, d)

    def check_span(self, n_tokens: int) -> None:
        """Raise the documented error if one span of ``n_tokens`` cannot be compressed."""
        if n_tokens < self.k:
            raise ContextTooShortError(
                f"the context has {n_tokens} tokens, fewer than the k={self.k} memory slots: "
                "an ICAE compresses a context, it never expands one"
            )
        if self.window is not None and n_tokens + self.k > self.window:
            raise ContextTooLongError(
                f"the context has {n_tokens} tokens; with the k={self.k} memory tokens that is "
                f"{n_tokens + self.k} positions, beyond the model's window of {self.window}; "
                "compress it in segments (multi_span=True)"
            )

    def decoder_logits(self, embeds: torch.Tensor) -> torch.Tensor:
        """Logits ``(B, T, V)`` of the frozen LM (adapter disabled) on input embeddings ``(B, T, d)``."""
        if self.window is not None and embeds.shape[1] > self.window:
            raise ContextTooLongError(
                f"the decoder input has {embeds.shape[1]} positions, beyond the model's window "
                f"of {self.window}"
            )
        with self.lm.disable_adapter():
            return self.base(inputs_embeds=embeds).logits

    # --------------------------------------------------------------------------- multi-span
    def segment_bounds(self, n_tokens: int) -> list[tuple[int, int]]:
        """``[(start, end), ...]`` of the spans a context of ``n_tokens`` is split into.

        As the official code: ``n = ceil(N / S)`` segments of ``ceil(N / n)`` tokens (the last
        shorter), ``S`` = :attr:`ICAEConfig.segment_tokens` (default ``4 k``), capped so that a
        span and its memory tokens fit the window.

        Raises
        ------
        ContextTooShortError
            If a segment would be shorter than ``k`` tokens (the message says how long).
        """
        cap = self.config.segment_tokens or 4 * self.k
        if self.window is not None:
            cap = min(cap, self.window - self.k)
        if n_tokens < self.k:
            self.check_span(n_tokens)
        n_seg = max(1, math.ceil(n_tokens / cap))
        seg = math.ceil(n_tokens / n_seg)
        bounds = [(s, min(s + seg, n_tokens)) for s in range(0, n_tokens, seg)]
        short = [e - s for s, e in bounds if e - s < self.k]
        if short:
            raise ContextTooShortError(
                f"splitting {n_tokens} tokens into spans of {seg} leaves a last span of "
                f"{short[0]} tokens, fewer than k={self.k}; give a longer context or set "
                "segment_tokens so the segments come out even"
            )
        return bounds

    def encode_ids(self, ids: Sequence[int], multi_span: bool = False) -> torch.Tensor:
        """Memory slots of one context: token ids (N,) -> ``(n_segments * k, d)``.

        Parameters
        ----------
        ids : sequence of int
        multi_span : bool
            Split the context into spans (:meth:`segment_bounds`), compress each, concatenate
            the slots in order; otherwise the whole context is one span.

        Raises
        ------
        ContextTooShortError, ContextTooLongError
            As :meth:`encode`.
        """
        t = torch.as_tensor(list(ids), dtype=torch.long, device=self.memory.device)
        if not multi_span:
            return self.encode(t[None])[0]
        return torch.cat([self.encode(t[None, s:e])[0] for s, e in self.segment_bounds(len(t))])

    # --------------------------------------------------------------------------- text API
    def _codec(self) -> TextCodec:
        if self.codec is None:
            raise ValueError("this ICAE has no tokenizer: pass tokenizer= to use text")
        return self.codec

    @torch.no_grad()
    def compress(self, text: str, multi_span: bool = False) -> torch.Tensor:
        """Memory slots of ``text``, shape ``(k, d)`` (``(n_segments * k, d)`` multi-span), float32.

        Raises
        ------
        ContextTooShortError
            If the text has fewer tokens than ``k`` (or a segment would).
        ContextTooLongError
            If the text does not fit the window in one span and ``multi_span`` is False.
        """
        return self.encode_ids(self._codec().encode(text), multi_span=multi_span)

    @torch.no_grad()
    def generate(
        self,
        slots: torch.Tensor,
        prompt: str = "",
        *,
        task: str = "ft",
        max_new_tokens: int = 64,
        stop_at_eos: bool = True,
    ) -> str:
        """Greedy text from the frozen decoder conditioned on memory slots.

        Parameters
        ----------
        slots : torch.Tensor of shape (n, d)
            From :meth:`compress`.
        prompt : str
            Text after the slots (a question for ``"ft"``, a start for ``"lm"``).
        task : {"ft", "lm", "ae"}
            ``"ft"``: ``[slots][FT] prompt`` (inside the tokenizer's chat template if it has
            one), the prompt-with-context fine-tuning format; ``"lm"``: ``[slots] prompt``,
            continuation; ``"ae"``: ``[slots][AE]``, reconstruction of the context (the prompt
            must be empty).
        max_new_tokens : int
        stop_at_eos : bool

        Returns
        -------
        str
            The generated text (prompt not included).
        """
        ids = self.generate_ids(slots, self._codec().encode(prompt) if prompt else [],
                                task=task, max_new_tokens=max_new_tokens, stop_at_eos=stop_at_eos)  # fmt: skip
        return self._codec().decode(ids)

    def decoder_prefix(
        self, slots: torch.Tensor, prompt_ids: Sequence[int], task: str
    ) -> torch.Tensor:
        """Decoder input embeddings ``(1, T, d)`` for ``task`` (see :meth:`generate`)."""
        if slots.dim() != 2 or slots.shape[1] != self.hidden_size:
            raise ValueError(
                f"slots must be (n, {self.hidden_size}), got shape {tuple(slots.shape)}"
            )
        dev = self.memory.device
        parts = [slots.to(dev, self.memory.dtype)]
        if task == "ae":
            if prompt_ids:
                raise ValueError("task='ae' reconstructs the context: give no prompt")
            parts.append(self.special[AE : AE + 1])
        elif task == "ft":
            before, after = self.codec.chat_wrap() if self.codec is not None else ([], [])
            ids = lambda xs: torch.as_tensor(list(xs), dtype=torch.long, device=dev)  # noqa: E731
            parts = [self.embed(ids(before)[None])[0], *parts, self.special[FT : FT + 1]]
            parts.append(self.embed(ids(list(prompt_ids) + after)[None])[0])
        elif task == "lm":
            t = torch.as_tensor(list(prompt_ids), dtype=torch.long, device=dev)
            parts.append(self.embed(t[None])[0])
        else:
            raise ValueError(f"invalid task={task!r}; valid: ft, lm, ae")
        return torch.cat(parts)[None]  # (1, T, d)

    @torch.no_grad()
    def generate_ids(
        self,
        slots: torch.Tensor,
        prompt_ids: Sequence[int] = (),
        *,
        task: str = "ft",
        max_new_tokens: int = 64,
        stop_at_eos: bool = True,
    ) -> list[int]:
        """Greedy token ids from the frozen decoder with a KV cache (see :meth:`generate`).

        Raises
        ------
        ValueError
            If ``max_new_tokens < 1`` or the task is unknown.
        ContextTooLongError
            If the prefix and ``max_new_tokens`` do not fit the window.
        """
        if max_new_tokens < 1:
            raise ValueError(f"invalid max_new_tokens={max_new_tokens}: must be >= 1")
        x = self.decoder_prefix(slots, prompt_ids, task)
        if self.window is not None and x.shape[1] + max_new_tokens > self.window:
            raise ContextTooLongError(
                f"{x.shape[1]} decoder positions + max_new_tokens={max_new_tokens} exceed the "
                f"model's window of {self.window}"
            )
        eos = self.codec.eos_id if (self.codec is not None and stop_at_eos) else None
        out: list[int] = []
        with self.lm.disable_adapter():
            res = self.base(inputs_embeds=x, use_cache=True)
            for _ in range(max_new_tokens):
                nxt = int(res.logits[0, -1].argmax())
                if eos is not None and nxt == eos:
                    break
                out.append(nxt)
                if len(out) == max_new_tokens:
                    break
                step = torch.tensor([[nxt]], device=x.device)
                res = self.base(input_ids=step, past_key_values=res.past_key_values, use_cache=True)
        return out

    # --------------------------------------------------------------------------- checkpoints
    def trainable_state_dict(self) -> dict[str, torch.Tensor]:
        """The trained tensors only: LoRA matrices, memory and task embeddings (on CPU)."""
        return {n: p.detach().cpu().clone() for n, p in self.named_parameters() if p.requires_grad}

    def save(self, path: Path | str, *, overwrite: bool = False) -> Path:
        """Write what was trained, the config and the base model's fingerprint, atomically.

        Raises
        ------
        FileExistsError
            If ``path`` exists and ``overwrite`` is False.
        """
        from mlroundup.training import save_checkpoint

        path = Path(path)
        if path.exists() and not overwrite:
            raise FileExistsError(f"{path} exists; pass overwrite=True to replace it")
        payload = {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "config": self.config.to_dict(),
            "base": {
                "name": self.base_name,
                "fingerprint": self.fingerprint,
                "source": self.base_source,
                "window": self.window,
                "hidden_size": self.hidden_size,
            },  # fmt: skip
            "state": self.trainable_state_dict(),
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        return save_checkpoint(path, payload)

    @classmethod
    def load(
        cls, path: Path | str, lm: nn.Module, tokenizer: Any = None, base_name: str = ""
    ) -> ICAE:
        """An ICAE saved by :meth:`save`, rebuilt on ``lm`` (modified in place, as the constructor).

        Raises
        ------
        FileNotFoundError
            If ``path`` does not exist.
        ValueError
            If the file is not an ICAE checkpoint of a known version.
        BaseModelMismatchError
            If ``lm`` is not the base model the ICAE was trained on (names and fingerprints in
            the message).
        """
        ckpt = read_checkpoint(path)
        fp = base_fingerprint(lm)
        saved = ckpt["base"]
        if fp != saved["fingerprint"]:
            raise BaseModelMismatchError(
                f"{path} was trained on base model {saved['name'] or '?'} (fingerprint "
                f"{saved['fingerprint']}); the model given is {base_name or '?'} (fingerprint "
                f"{fp}): load it onto the base model it was trained on"
            )
        icae = cls(lm, ICAEConfig.from_dict(ckpt["config"]), tokenizer,
                   base_name=base_name or saved["name"], base_source=saved.get("source"))  # fmt: skip
        missing, unexpected = icae.load_state_dict(ckpt["state"], strict=False)
        trained = {n for n, p in icae.named_parameters() if p.requires_grad}
        lacking = sorted(trained & set(missing))
        if lacking or unexpected:
            raise ValueError(
                f"{path} does not match this ICAE: missing {lacking[:3]}, unexpected "
                f"{list(unexpected)[:3]}"
            )
        return icae

    def parameter_counts(self) -> tuple[int, int]:
        """(trained parameters, base-model parameters)."""
        trained = sum(p.numel() for p in self.parameters() if p.requires_grad)
        base = sum(p.numel() for p in self.parameters() if not p.requires_grad)
        return trained, base
