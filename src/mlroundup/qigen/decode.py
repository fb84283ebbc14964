"""Batch-1 LLaMA inference over the QIGen kernels, without a framework's per-token overhead.

QIGen's end-to-end numbers come from a decoder whose time goes into the quantized products
(Pegolotti et al., arXiv 2307.03738, Sec. 5: LLaMA inference in their own C++ driver). Inside
transformers, a decoding step of a model as small as SmolLM2-135M spends most of its time in
Python module calls rather than in the kernels, so this module runs the LLaMA forward pass
itself, over a preallocated key/value cache. A decoding step (one token) is one call into C
(:mod:`mlroundup.qigen.driver`: norms, rotary embedding, attention and the MLP activation between
the GEMV kernels, called through function pointers); a prompt runs NumPy for those parts around
the GEMM kernels.
The query/key/value projections share one input and are fused into one product, as are the
gate and up projections (rows of the quantized matrices concatenated: the same codes, scales
and minimums, fewer and larger kernel calls).

The forward pass follows transformers' ``LlamaForCausalLM`` (RMSNorm, rotary embedding with
``rotate_half``, grouped-query attention, SiLU-gated MLP; Touvron et al. 2023, arXiv
2302.13971), which is the test oracle.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from mlroundup.kernels.autotune import median_time
from mlroundup.qigen.codegen import ISAS
from mlroundup.qigen.driver import DecodeDriver
from mlroundup.qigen.kernels import best_isa, default_threads
from mlroundup.qigen.quant import QuantizedWeight, quantize_rtn
from mlroundup.utils.threads import blas_threads


@dataclass
class _Product:
    """One quantized product ``out = x @ W.T`` with its buffers and prepared calls."""

    x: np.ndarray  # (k_padded,)
    out: np.ndarray  # (n,)
    gemv: Any
    layer: Any  # QuantLinear (GEMM path for several rows)
    k: int
    threads: int  # the GEMV's threads (the C decode step calls layer.gemv with them)

    def __call__(self, v: np.ndarray) -> np.ndarray:
        self.x[: self.k] = v
        self.gemv()
        return self.out

    def rows(self, v: np.ndarray) -> np.ndarray:
        """Several rows (prompt processing): the GEMM kernel."""
        import torch

        return self.layer(torch.from_numpy(np.ascontiguousarray(v, np.float32))).numpy()


def _concat(qws: list[QuantizedWeight]) -> QuantizedWeight:
    if len({(q.bits, q.group_size, q.shape[1], q.scale_dtype) for q in qws}) != 1:
        raise ValueError(
            "fused projections need the same bits, group size, scale dtype and input width"
        )
    return QuantizedWeight(
        np.concatenate([q.q for q in qws]),
        np.concatenate([q.scales for q in qws]),
        np.concatenate([q.mins for q in qws]),
        qws[0].bits,
        qws[0].group_size,
        qws[0].scale_dtype,
    )


def _fastest_threads(call: Any, threads: int) -> int:
    """1 or ``threads``, whichever runs ``call(t)`` faster: waking a second thread costs more
    than it saves on the smallest products."""
    if threads <= 1:
        return 1
    t1 = median_time(lambda: call(1), warmup=3, repeats=15)
    tn = median_time(lambda: call(threads), warmup=3, repeats=15)
    return 1 if t1 <= tn else threads


def _product(
    qw: QuantizedWeight, *, threads: int, autotune: bool, isa: str | None, int8: bool = False
) -> _Product:
    from mlroundup.qigen.nn import QuantLinear

    layer = QuantLinear(qw, autotune=autotune, threads=threads, isa=isa, max_nv=2,
                        int8_activations=int8)  # fmt: skip
    pw = layer.packed
    x = np.zeros(pw.k_padded, np.float32)
    out = np.zeros(pw.n, np.float32)
    kern = layer.gemv
    best = _fastest_threads(lambda t: kern.prepare(pw, x, out, t)(), threads)
    layer.threads = threads  # prompt rows: the GEMM always has enough work for every thread
    return _Product(x, out, kern.prepare(pw, x, out, best), layer, pw.k, best)


def _quantized(module: Any, name: str) -> QuantizedWeight:
    from mlroundup.qigen.nn import QuantLinear

    if not isinstance(module, QuantLinear):
        raise ValueError(
            f"{name} is a {type(module).__name__}, not a QuantLinear: quantize the model first "
            "(mlroundup.qigen.nn.quantize_model)"
        )
    if module.bias is not None:
        raise ValueError(f"{name} has a bias; LLaMA projections have none")
    return module.packed.to_quantized()


def _rms_norm(x: np.ndarray, w: np.ndarray, eps: float) -> np.ndarray:
    var = np.mean(x * x, axis=-1, keepdims=True)
    return (x / np.sqrt(var + eps)) * w


@dataclass(frozen=True)
class LlamaDims:
    """The sizes a LLaMA decoding step needs (transformers' ``LlamaConfig`` names in brackets).

    Attributes
    ----------
    heads, kv_heads, head_dim : int
        Query heads (``num_attention_heads``), key/value heads (``num_key_value_heads``;
        grouped-query attention when fewer) and their width.
    rms_norm_eps : float
    rope_theta : float
        Base of the rotary embedding's frequencies.
    """

    heads: int
    kv_heads: int
    head_dim: int
    rms_norm_eps: float = 1e-5
    rope_theta: float = 10000.0

    def __post_init__(self) -> None:
        for name in ("heads", "kv_heads", "head_dim"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"invalid {name}={v!r}: must be an int >= 1")
        if self.heads % self.kv_heads or self.head_dim % 2:
            raise ValueError(
                f"heads={self.heads} must be a multiple of kv_heads={self.kv_heads} and "
                f"head_dim={self.head_dim} even"
            )
        for name in ("rms_norm_eps", "rope_theta"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v > 0):
                raise ValueError(f"invalid {name}={v!r}: must be finite and > 0")


class QuantizedLlama:
    """A quantized LLaMA-architecture model that decodes one token at a time over QIGen kernels.

    Build one from a transformers model with :meth:`from_model`, or with random codes of given
    shapes (speed measurements) with :meth:`random`.

    Parameters
    ----------
    dims : LlamaDims
    embed : ndarray of shape (vocab, hidden), float32
        Token embeddings (kept by reference).
    final_norm : ndarray of shape (hidden,), float32
    blocks : iterable of dict
        Per decoder layer (read once, in order): ``ln1``, ``ln2`` (RMSNorm weights, shape
        (hidden,)) and the QuantizedWeight of the fused ``qkv`` (rows: queries, keys, values),
        ``o``, the fused ``gate_up`` (rows: gate, then up) and ``down`` projections.
    head : QuantizedWeight or ndarray of shape (vocab, hidden)
        The output layer, quantized (kernel) or float32 (a NumPy product).
    max_seq_len : int
        Length of the key/value cache: prompt plus generated tokens, at most.
    threads : int, optional
        Kernel threads (default :func:`mlroundup.qigen.kernels.default_threads`); each GEMV
        uses 1 or ``threads``, whichever was faster when the model was built.
    autotune : bool
        Autotune the products' kernels (remembered per CPU and shape).
    isa : str, optional
        Kernel ISA (default: the best this CPU runs).
    int8_activations : bool
        Round activations to int8 per block of 32 (llama.cpp's way; about 1% relative error per
        product) where it is faster: prompts (several tokens) always run the integer GEMM when
        the format allows it (4-bit, groups and widths multiples of 32); decoding steps use the
        integer GEMV only where ``autotune`` finds it faster. The error can flip a greedy choice
        on a borderline token: SmolLM2-135M at 4-bit g32 answers "What is the capital of
        France?" correctly with exact activations, but starts its answer with another token
        (the model's own top-2 margin there is 0.1 logit) and drifts with int8 prompts.

    Raises
    ------
    ValueError
        On shapes that do not fit ``dims`` or ``max_seq_len`` < 1.
    """

    def __init__(
        self,
        dims: LlamaDims,
        embed: np.ndarray,
        final_norm: np.ndarray,
        blocks: Any,
        head: Any,
        *,
        max_seq_len: int = 2048,
        threads: int | None = None,
        autotune: bool = True,
        isa: str | None = None,
        int8_activations: bool = False,
    ) -> None:
        if isinstance(max_seq_len, bool) or not isinstance(max_seq_len, int) or max_seq_len < 1:
            raise ValueError(f"invalid max_seq_len={max_seq_len!r}: must be an int >= 1")
        embed = np.asarray(embed)
        if embed.ndim != 2 or embed.dtype != np.float32:
            raise ValueError(f"invalid embed: need float32 (vocab, hidden), got {embed.dtype} "
                             f"{embed.shape}")  # fmt: skip
        vocab, hidden = embed.shape
        d = dims
        q_rows, kv_rows = d.heads * d.head_dim, d.kv_heads * d.head_dim
        threads = threads or default_threads()
        self.dims, self.threads, self.max_seq_len = dims, threads, max_seq_len
        self.n_heads, self.n_kv, self.head_dim, self.eps = (
            d.heads, d.kv_heads, d.head_dim, float(d.rms_norm_eps))  # fmt: skip
        inv = 1.0 / d.rope_theta ** (np.arange(0, d.head_dim, 2, dtype=np.float64) / d.head_dim)
        ang = np.arange(max_seq_len, dtype=np.float64)[:, None] * inv[None, :]
        self._cos = np.cos(np.concatenate([ang, ang], 1)).astype(np.float32)  # (S, hd)
        self._sin = np.sin(np.concatenate([ang, ang], 1)).astype(np.float32)
        self.embed = embed
        self.norm = np.asarray(final_norm, np.float32).reshape(hidden)
        kw = {"threads": threads, "autotune": autotune, "isa": isa, "int8": int8_activations}
        self.layers = []
        for i, blk in enumerate(blocks):
            expect = {"qkv": (q_rows + 2 * kv_rows, hidden), "o": (hidden, q_rows),
                      "gate_up": (None, hidden), "down": (hidden, None)}  # fmt: skip
            for name, shape in expect.items():
                got = blk[name].shape
                if any(e is not None and e != g for e, g in zip(shape, got, strict=True)):
                    raise ValueError(f"blocks[{i}][{name!r}] has shape {got}, expected {shape}")
            if blk["gate_up"].shape[0] != 2 * blk["down"].shape[1]:
                raise ValueError(f"blocks[{i}]: gate_up rows must be twice down's columns")
            self.layers.append(
                {
                    "ln1": np.asarray(blk["ln1"], np.float32).reshape(hidden),
                    "ln2": np.asarray(blk["ln2"], np.float32).reshape(hidden),
                    **{name: _product(blk[name], **kw) for name in expect},
                }
            )
        if isinstance(head, QuantizedWeight):
            if head.shape != (vocab, hidden):
                raise ValueError(f"head has shape {head.shape}, expected {(vocab, hidden)}")
            self.head: Any = _product(head, **{**kw, "int8": False})
        else:
            self.head = np.asarray(head, np.float32).reshape(vocab, hidden)
        self.vocab_size = vocab
        self._k = np.zeros((len(self.layers), d.kv_heads, max_seq_len, d.head_dim), np.float32)
        self._v = np.zeros_like(self._k)
        self.position = 0
        # One-token steps run in C (mlroundup.qigen.driver): the final norm's output goes
        # straight into the quantized head's input buffer.
        out = self.head.x if isinstance(self.head, _Product) else np.zeros(hidden, np.float32)
        self._driver = DecodeDriver(self, out, ISAS[isa or best_isa()].flags)

    @classmethod
    def from_model(
        cls,
        model: Any,
        *,
        lm_head_bits: int | None = 8,
        lm_head_group_size: int = 32,
        **kwargs: Any,
    ) -> QuantizedLlama:
        """From a transformers ``LlamaForCausalLM`` whose decoder linears were replaced by
        :func:`mlroundup.qigen.nn.quantize_model` (any bits, group size, RTN or GPTQ).

        The model is read, not modified; its embedding table is shared.

        Parameters
        ----------
        model : transformers.LlamaForCausalLM
        lm_head_bits : {8, 4, ...} or None
            Quantize a float output head (``quantize_model`` skips it by default) with RTN at
            this many bits, groups of ``lm_head_group_size`` (8 bits, group 32 is the format of
            llama.cpp's Q8_0 output layer); ``None`` keeps it float32. A head that is already a
            QuantLinear is used as it is.
        lm_head_group_size : int
        **kwargs
            ``max_seq_len``, ``threads``, ``autotune``, ``isa``, ``int8_activations``.

        Raises
        ------
        ValueError
            If a projection is not a QuantLinear, or the configuration uses what is not
            implemented here (rope scaling, attention or MLP biases, an activation other than
            SiLU).
        """
        from mlroundup.qigen.nn import QuantLinear

        cfg = model.config
        rope = getattr(cfg, "rope_parameters", None) or {}
        rope_type = rope.get("rope_type", "default")
        if rope_type != "default":
            raise ValueError(f"rope_type={rope_type!r} is not supported (only 'default')")
        if getattr(cfg, "attention_bias", False) or getattr(cfg, "mlp_bias", False):
            raise ValueError("attention or MLP biases are not supported")
        if getattr(cfg, "hidden_act", "silu") != "silu":
            raise ValueError(f"hidden_act={cfg.hidden_act!r} is not supported (only 'silu')")
        heads = cfg.num_attention_heads
        dims = LlamaDims(
            heads, cfg.num_key_value_heads,
            getattr(cfg, "head_dim", None) or cfg.hidden_size // heads,
            float(cfg.rms_norm_eps),
            float(rope.get("rope_theta", getattr(cfg, "rope_theta", 10000.0))),
        )  # fmt: skip

        def arr(t: Any) -> np.ndarray:
            return t.detach().float().numpy().copy()

        blocks = []
        for i, block in enumerate(model.model.layers):
            att, mlp = block.self_attn, block.mlp
            nm = f"model.layers.{i}"
            blocks.append(
                {
                    "ln1": arr(block.input_layernorm.weight),
                    "ln2": arr(block.post_attention_layernorm.weight),
                    "qkv": _concat(
                        [
                            _quantized(att.q_proj, f"{nm}.self_attn.q_proj"),
                            _quantized(att.k_proj, f"{nm}.self_attn.k_proj"),
                            _quantized(att.v_proj, f"{nm}.self_attn.v_proj"),
                        ]
                    ),
                    "o": _quantized(att.o_proj, f"{nm}.self_attn.o_proj"),
                    "gate_up": _concat(
                        [
                            _quantized(mlp.gate_proj, f"{nm}.mlp.gate_proj"),
                            _quantized(mlp.up_proj, f"{nm}.mlp.up_proj"),
                        ]
                    ),
                    "down": _quantized(mlp.down_proj, f"{nm}.mlp.down_proj"),
                }  # fmt: skip
            )
        head = model.lm_head
        if isinstance(head, QuantLinear):
            qhead: Any = _quantized(head, "lm_head")
        elif lm_head_bits is None:
            qhead = arr(head.weight)
        else:
            qhead = quantize_rtn(arr(head.weight), lm_head_bits, lm_head_group_size)
        embed = model.model.embed_tokens.weight.detach().float().numpy()
        return cls(dims, embed, arr(model.model.norm.weight), blocks, qhead, **kwargs)

    @classmethod
    def random(
        cls,
        shape: Any,
        bits: int,
        group_size: int | None,
        *,
        head_bits: int = 8,
        head_group_size: int = 32,
        seed: int = 0,
        scale_dtype: str = "float32",
        **kwargs: Any,
    ) -> QuantizedLlama:
        """A model of the given shapes with random codes, scales and minimums: for speed
        measurements (a kernel's time does not depend on the values).

        Parameters
        ----------
        shape : mlroundup.qigen.llamacpp.LlamaShape
            ``hidden``, ``ffn``, ``layers``, ``heads``, ``kv_heads``, ``vocab``.
        bits, group_size
            Format of the decoder's products.
        head_bits, head_group_size
            Format of the output layer.
        scale_dtype : {"float32", "float16"}
            Storage of the decoder products' scales and minimums (the head keeps float32).
        **kwargs
            As the constructor.

        Raises
        ------
        ValueError
            If the shapes do not form a valid :class:`LlamaDims` (e.g. ``heads`` not a
            multiple of ``kv_heads``) or a format is unsupported (bits, group size).
        """
        from mlroundup.qigen.measure import random_quantized

        h, f, hd = shape.hidden, shape.ffn, shape.hidden // shape.heads
        kv = hd * shape.kv_heads
        if group_size is None:  # whole rows
            group_size = 1 << 30
        rng = np.random.default_rng(seed)
        # made one layer at a time as the constructor packs them: the unpacked codes (a byte
        # per weight: 6.5 GB at LLaMA-7B shapes) never exist for the whole model at once
        blocks = (
            {
                "ln1": np.ones(h, np.float32),
                "ln2": np.ones(h, np.float32),
                "qkv": random_quantized(h + 2 * kv, h, bits, group_size, seed + 4 * i, scale_dtype),
                "o": random_quantized(h, h, bits, group_size, seed + 4 * i + 1, scale_dtype),
                "gate_up": random_quantized(
                    2 * f, h, bits, group_size, seed + 4 * i + 2, scale_dtype
                ),
                "down": random_quantized(h, f, bits, group_size, seed + 4 * i + 3, scale_dtype),
            }
            for i in range(shape.layers)
        )
        embed = rng.standard_normal((shape.vocab, h), dtype=np.float32) * 0.02
        head = random_quantized(
            shape.vocab, h, head_bits, head_group_size, seed=seed + 4 * shape.layers
        )
        dims = LlamaDims(shape.heads, shape.kv_heads, hd)
        return cls(dims, embed, np.ones(h, np.float32), blocks, head, **kwargs)

    @property
    def weight_bytes(self) -> int:
        """Bytes of weights one decoding step reads (int): every product's packed codes, scales
        and minimums, and the output layer (packed, or float32); not the token embeddings (one
        row is looked up per token) or the norms. Divided by a read bandwidth it gives the
        memory-bound time per token (``mlroundup bench qigen``'s bound)."""
        total = sum(
            lay[name].layer.packed.nbytes
            for lay in self.layers
            for name in ("qkv", "o", "gate_up", "down")
        )
        head = (
            self.head.layer.packed.nbytes if isinstance(self.head, _Product) else self.head.nbytes
        )
        return int(total + head)

    def reset(self) -> None:
        """Forget the cached context (the next token is at position 0)."""
        self.position = 0

    def _rope(self, x: np.ndarray, pos: slice) -> np.ndarray:
        """Rotary embedding of ``x`` (heads, T, hd) at positions ``pos`` (transformers'
        ``rotate_half`` convention: the two halves of each head are the pair coordinates)."""
        h = self.head_dim // 2
        rot = np.concatenate([-x[..., h:], x[..., :h]], axis=-1)
        return x * self._cos[pos] + rot * self._sin[pos]

    def forward(self, tokens: Any) -> np.ndarray:
        """Run ``tokens`` after the cached context; return the logits of the last one.

        Parameters
        ----------
        tokens : sequence of int
            One token (decoding: one C step, :mod:`mlroundup.qigen.driver`, over the GEMV
            kernels) or several (prompt processing: NumPy around the GEMM kernels).

        Returns
        -------
        ndarray of shape (vocab_size,), float32

        Raises
        ------
        ValueError
            If ``tokens`` is empty, holds a non-integer or an id outside the vocabulary, or
            would run past ``max_seq_len``.
        """
        return self._forward(tokens)

    def _forward(self, tokens: Any) -> np.ndarray:
        raw = np.asarray(tokens)
        if raw.ndim > 1:
            raise ValueError(f"tokens must be a 1-D sequence of ids, got shape {raw.shape}")
        if raw.size and raw.dtype.kind not in "iu":
            raise ValueError(
                f"token ids must be integers, got {raw.dtype}: {raw.ravel()[:8].tolist()}"
            )
        ids = raw.astype(np.int64).reshape(-1)
        t = ids.size
        if t == 0:
            raise ValueError("tokens is empty")
        if ids.min() < 0 or ids.max() >= self.vocab_size:
            raise ValueError(f"token ids must be in [0, {self.vocab_size}), got {ids.tolist()}")
        p0 = self.position
        if p0 + t > self.max_seq_len:
            raise ValueError(f"{p0} cached + {t} new tokens exceed max_seq_len={self.max_seq_len}")
        if t == 1:  # decoding: the whole step in C, no BLAS (unless the head is float32)
            self._driver.step(int(ids[0]), p0)
            self.position = p0 + 1
            if isinstance(self.head, np.ndarray):
                with blas_threads(1):
                    return self.head @ self._driver.out
            self.head.gemv()
            return self.head.out.copy()
        # A prompt: NumPy's BLAS on one thread: its workers busy-wait after a product (OpenBLAS's
        # default), so a threaded attention matmul between kernel calls left a thread spinning on
        # a core the kernels' threads need (half the prompt speed of a 1.1B model here). A decoded
        # token skips it (no BLAS there; the limit costs ~10 us per use).
        with blas_threads(1):
            return self._prompt(ids, t, p0)

    def _prompt(self, ids: np.ndarray, t: int, p0: int) -> np.ndarray:
        nh, nkv, hd = self.n_heads, self.n_kv, self.head_dim
        grp = nh // nkv
        pos = slice(p0, p0 + t)
        scale = 1.0 / math.sqrt(hd)
        h = self.embed[ids]  # (T, D) fancy indexing copies
        causal = np.triu(np.full((t, t), -np.inf, np.float32), 1)  # over the new tokens
        for li, lay in enumerate(self.layers):  # prompt: NumPy around the GEMM kernels
            x = _rms_norm(h, lay["ln1"], self.eps)
            qkv = lay["qkv"].rows(x)
            q = qkv[:, : nh * hd].reshape(t, nh, hd).transpose(1, 0, 2)  # (H, T, hd)
            k = qkv[:, nh * hd : (nh + nkv) * hd].reshape(t, nkv, hd).transpose(1, 0, 2)
            v = qkv[:, (nh + nkv) * hd :].reshape(t, nkv, hd).transpose(1, 0, 2)
            self._k[li, :, pos] = self._rope(k, pos)
            self._v[li, :, pos] = v
            q = self._rope(q, pos).reshape(nkv, grp * t, hd)  # query heads grouped by KV head
            kc, vc = self._k[li, :, : p0 + t], self._v[li, :, : p0 + t]
            s = np.matmul(q, kc.transpose(0, 2, 1)) * scale  # (KV, G*T, P+T)
            s = s.reshape(nkv, grp, t, p0 + t)
            s[..., p0:] += causal  # cached positions are all visible
            s = s.reshape(nkv, grp * t, p0 + t)
            s = np.exp(s - s.max(-1, keepdims=True))
            s /= s.sum(-1, keepdims=True)
            a = np.matmul(s, vc).reshape(nh, t, hd).transpose(1, 0, 2).reshape(t, nh * hd)
            h = h + lay["o"].rows(a)
            x = _rms_norm(h, lay["ln2"], self.eps)
            gu = lay["gate_up"].rows(x)
            g, u = np.split(gu, 2, axis=1)
            with np.errstate(over="ignore"):  # exp(-g) = inf for g << 0 gives SiLU = 0
                act = g / (1.0 + np.exp(-g)) * u  # SiLU(gate) * up
            h = h + lay["down"].rows(act)
        self.position = p0 + t
        x = _rms_norm(h[-1], self.norm, self.eps)
        if isinstance(self.head, np.ndarray):
            return self.head @ x
        return self.head(x).copy()

    def generate(
        self,
        prompt_ids: Any,
        max_new_tokens: int,
        *,
        eos_token_id: int | None = None,
    ) -> tuple[list[int], dict[str, float]]:
        """Greedy decoding after ``prompt_ids`` (the cache is reset first).

        Returns
        -------
        tokens : list of int
            The generated ids (stopping after ``eos_token_id``, which is included).
        timing : dict
            ``prompt_s`` (prompt processing), ``decode_s`` (all later tokens), seconds, and
            ``tokens_per_s`` (decoded tokens per second, prompt excluded).

        Raises
        ------
        ValueError
            If ``max_new_tokens`` is not an int >= 1, if prompt + new tokens cannot fit in
            ``max_seq_len`` (checked before any work), or as :meth:`forward` (empty prompt, ids
            outside the vocabulary).
        """
        if isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, int):
            raise ValueError(f"invalid max_new_tokens={max_new_tokens!r}: must be an int >= 1")
        if max_new_tokens < 1:
            raise ValueError(f"invalid max_new_tokens={max_new_tokens!r}: must be an int >= 1")
        n_prompt = np.asarray(prompt_ids).size
        if n_prompt + max_new_tokens - 1 > self.max_seq_len:  # the last token is never fed back
            raise ValueError(
                f"{n_prompt} prompt + {max_new_tokens} new tokens need max_seq_len >= "
                f"{n_prompt + max_new_tokens - 1}, this model has {self.max_seq_len}"
            )
        self.reset()
        t0 = time.perf_counter()
        logits = self.forward(prompt_ids)
        t1 = time.perf_counter()
        out = [int(np.argmax(logits))]
        while len(out) < max_new_tokens and out[-1] != eos_token_id:
            out.append(int(np.argmax(self.forward([out[-1]]))))
        t2 = time.perf_counter()
        steps = len(out) - 1
        return out, {
            "prompt_s": t1 - t0,
            "decode_s": t2 - t1,
            "tokens_per_s": steps / (t2 - t1) if steps else float("nan"),
        }
