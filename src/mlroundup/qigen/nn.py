"""``QuantLinear`` (a drop-in ``nn.Module`` over the generated kernels) and ``quantize_model``.

``QuantLinear`` keeps the packed codes, scales and minimums as buffers (so ``state_dict`` holds
them) and hands NumPy views of them and of the activations to the kernel without copying. A batch
of one row (decoding) runs the GEMV kernel; more rows (prompt processing) run the GEMM kernel.
Inference only: gradients do not flow through it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import nn

from mlroundup.qigen.codegen import KernelSpec
from mlroundup.qigen.kernels import (
    I8_GEMM_MR,
    Kernel,
    best_isa,
    compile_kernel,
    default_spec,
    gemm_mr,
    int8_gemm_fits,
    spec_group,
    tune,
)
from mlroundup.qigen.layout import PackedWeight, check_group_size, pack
from mlroundup.qigen.quant import QuantizedWeight, quantize_gptq, quantize_rtn

METHODS = ("rtn", "gptq")


class QuantLinear(nn.Module):
    """A linear layer ``y = x W^T + b`` with ``W`` group-quantized and packed for QIGen kernels.

    Build one with :meth:`from_linear` (or :meth:`from_quantized`).

    Attributes
    ----------
    in_features, out_features : int
    bits, group_size : int
    gemv, gemm : Kernel
        The kernels used for one row and for several rows.

    Parameters
    ----------
    qw : QuantizedWeight
    bias : Tensor of shape (out_features,), optional
    isa : str, optional
        Kernel ISA (default: the best this CPU runs).
    autotune : bool
        Time the GEMV candidates for this shape (remembered per CPU and shape); else a default.
    threads : int, optional
        Kernel threads (default :func:`mlroundup.qigen.kernels.default_threads`).
    int8_activations : bool
        Let the autotuner pick the integer GEMV (activations rounded to int8 per block of 32),
        and run several rows (prompts) through the integer GEMM where the format allows it
        (4-bit codes, groups a multiple of 32, K a multiple of 32, an AVX2 or AVX-512 VNNI CPU;
        1.5-1.7x the float GEMM here, at about 1% relative error per product). One row then
        runs whichever GEMV was chosen (float unless autotuned to the integer one), so a row's
        result can differ by that ~1% with the batch it comes in.

    Non-finite activations (NaN, infinities) make their whole output row NaN; activations
    beyond ~1e36 in magnitude overflow the kernels' float32 partial sums.
    max_nv : int, optional
        Autotune only tiles of at most this many vectors (see
        :func:`mlroundup.qigen.kernels.tune`); 2 keeps the GEMM used for prompts fast.
    """

    def __init__(
        self,
        qw: QuantizedWeight,
        bias: torch.Tensor | None = None,
        *,
        isa: str | None = None,
        autotune: bool = False,
        threads: int | None = None,
        int8_activations: bool = False,
        max_nv: int | None = None,
    ) -> None:
        super().__init__()
        n, k = qw.shape
        self.in_features, self.out_features = k, n
        self.bits, self.group_size = qw.bits, qw.group_size
        self.threads = threads
        self.scale_dtype = qw.scale_dtype
        check_group_size(qw.group_size, k, qw.bits)
        isa = isa or best_isa()
        group = spec_group(qw.group_size, k, qw.bits)
        if autotune:
            gemv_spec, _ = tune(
                "gemv", n, k, qw.bits, qw.group_size, isas=[isa], threads=threads,
                int8_activations=int8_activations, max_nv=max_nv, scale_dtype=qw.scale_dtype,
            )  # fmt: skip
        else:
            gemv_spec = default_spec("gemv", qw.bits, group, isa, qw.scale_dtype)
        # the GEMM shares the GEMV's tile layout; its row block fills the vector registers
        if int8_activations and int8_gemm_fits(qw.bits, group, k, isa):
            kind, mr = "gemm_i8", I8_GEMM_MR.get(gemv_spec.nv, 2)
        else:
            kind, mr = "gemm", gemm_mr(gemv_spec.nv, isa)
        gemm_spec = KernelSpec(kind, qw.bits, group, gemv_spec.nv, mr, isa, qw.scale_dtype)
        self.gemv: Kernel = compile_kernel(gemv_spec)
        self.gemm: Kernel = compile_kernel(gemm_spec)
        pw = pack(qw, gemv_spec.nr)
        self.register_buffer("qweight", torch.from_numpy(pw.words.view(np.int32)))
        self.register_buffer("scales", torch.from_numpy(pw.scales))
        self.register_buffer("mins", torch.from_numpy(pw.mins))
        self.bias = None if bias is None else nn.Parameter(bias.detach().float().clone(), False)
        self._pw_meta = (pw.n, pw.k, pw.k_padded, pw.bits, pw.group_size, pw.nr)

    @classmethod
    def from_linear(
        cls,
        linear: nn.Linear,
        bits: int = 4,
        group_size: int | None = 128,
        *,
        method: str = "rtn",
        hessian: np.ndarray | None = None,
        scale_dtype: str = "float32",
        **kwargs,
    ) -> QuantLinear:
        """Quantize ``linear``'s weight (RTN, or GPTQ given the input Hessian) and pack it,
        with scales and minimums stored as ``scale_dtype`` ("float32" or "float16").

        Raises
        ------
        ValueError
            If ``method`` is unknown, or GPTQ is asked for without ``hessian``.
        """
        if method not in METHODS:
            raise ValueError(f"invalid method={method!r}: one of {METHODS}")
        w = linear.weight.detach().float().cpu().numpy()
        if method == "gptq":
            if hessian is None:
                raise ValueError("method='gptq' needs the layer's input hessian")
            qw = quantize_gptq(w, hessian, bits, group_size, scale_dtype=scale_dtype)
        else:
            qw = quantize_rtn(w, bits, group_size, scale_dtype=scale_dtype)
        return cls(qw, linear.bias, **kwargs)

    @property
    def packed(self) -> PackedWeight:
        """The buffers as a :class:`PackedWeight` (NumPy views, no copy)."""
        n, k, kp, bits, g, nr = self._pw_meta
        return PackedWeight(
            self.qweight.numpy().view(np.uint32),
            self.scales.numpy(),
            self.mins.numpy(),
            n,
            k,
            kp,
            bits,
            g,
            nr,
        )

    def dequantized_weight(self) -> torch.Tensor:
        """The float32 weight ``s * q + m`` of shape (out_features, in_features)."""
        return torch.from_numpy(self.packed.to_quantized().dequantize())

    @torch.no_grad()
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] != self.in_features:
            raise ValueError(
                f"input of shape {tuple(x.shape)}: last dim must be {self.in_features}"
            )
        lead, dtype = x.shape[:-1], x.dtype
        x2 = x.detach().reshape(-1, self.in_features).to(torch.float32).contiguous()
        out = torch.empty(x2.shape[0], self.out_features, dtype=torch.float32)
        kern = self.gemv if x2.shape[0] == 1 else self.gemm
        xin = x2.numpy()
        kern(self.packed, xin[0] if x2.shape[0] == 1 else xin, out.numpy(), self.threads)
        if self.bias is not None:
            out += self.bias
        out = out.reshape(*lead, self.out_features)
        return out.to(dtype) if dtype.is_floating_point else out  # float32 inside, like the kernels

    _PACKED = ("qweight", "scales", "mins")

    def _apply(self, fn, recurse=True):
        """Module-wide casts (``model.float()``, ``.half()``, ``.to(torch.bfloat16)``) change the
        bias but leave the packed codes, scales and minimums in the format the kernels read."""
        kept = {n: self._buffers[n] for n in self._PACKED}
        super()._apply(fn, recurse)
        for n, t in kept.items():
            if self._buffers[n].dtype != t.dtype:
                self._buffers[n] = t
        return self

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys,
                              unexpected_keys, error_msgs):  # fmt: skip
        """Refuse packed buffers of another dtype (e.g. float32 scales into a float16 layer)
        instead of silently rounding them on copy; the layer's packed weight is then left as it
        was (the load raises, as for a shape mismatch)."""
        bad = [
            n for n in self._PACKED
            if prefix + n in state_dict and state_dict[prefix + n].dtype != self._buffers[n].dtype
        ]  # fmt: skip
        for n in bad:
            error_msgs.append(
                f"{prefix}{n}: the checkpoint holds {state_dict[prefix + n].dtype}, this "
                f"QuantLinear packs {self._buffers[n].dtype} (scale_dtype={self.scale_dtype}); "
                "build it with the checkpoint's format"
            )
        skip = {prefix + n for n in self._PACKED} if bad else set()  # codes, scales, minimums
        if bad:  # go together: load none of them
            state_dict = {k: v for k, v in state_dict.items() if k not in skip}
        n_missing = len(missing_keys)
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys,
                                      unexpected_keys, error_msgs)  # fmt: skip
        missing_keys[n_missing:] = [k for k in missing_keys[n_missing:] if k not in skip]

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, bits={self.bits}, "
            f"group_size={self.group_size}, scale_dtype={self.scale_dtype}, "
            f"kernel={self.gemv.spec.name}"
        )


def _linears(module: nn.Module, skip: Sequence[str]) -> list[tuple[str, nn.Linear]]:
    return [
        (name, m)
        for name, m in module.named_modules()
        if isinstance(m, nn.Linear) and not any(name == s or name.endswith("." + s) for s in skip)
    ]


def _replace(root: nn.Module, name: str, new: nn.Module) -> None:
    parent, _, attr = name.rpartition(".")
    setattr(root.get_submodule(parent) if parent else root, attr, new)


class _Stop(Exception):
    pass


def _one_blas_thread():
    """Limit NumPy's BLAS to one thread (if threadpoolctl is installed): GPTQ's small products
    gain nothing from BLAS threads, and on a busy machine their spinning made one decoder layer
    2-3x slower."""
    import contextlib

    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - optional
        return contextlib.nullcontext()
    return threadpool_limits(1, user_api="blas")


def gptq_layerwise(
    model: nn.Module,
    calibration: Sequence[torch.Tensor],
    bits: int = 4,
    group_size: int | None = 128,
    *,
    skip: Sequence[str] = ("lm_head",),
    threads: int | None = None,
    scale_dtype: str = "float32",
    log: Callable[[str], None] = lambda _m: None,
) -> dict[str, QuantizedWeight]:
    """GPTQ every linear of a LLaMA model's decoder layers, one layer after the other.

    The layer's input Hessians ``sum x x^T`` are collected on the calibration tokens with the
    earlier layers already quantized (Frantar et al., arXiv 2210.17323, Sec. 4), then each
    linear is quantized by :func:`~mlroundup.qigen.quant.quantize_gptq` and its dequantized
    weight ``s q + m`` is written into ``model`` (in place: the model becomes the fake-quantized
    model the kernels compute). The inputs of each layer are kept and pushed through it once it
    is quantized, so the model runs once, not once per layer; ``x^T x`` is formed once per
    distinct input (q/k/v, and gate/up, share theirs), in float32 as the reference GPTQ code,
    summed in float64. Linears sharing an input share its Hessian and are quantized as one
    matrix of stacked rows (GPTQ's rows are independent given the Hessian); a layer's matrices
    are quantized concurrently on ``threads`` threads.

    Parameters
    ----------
    model : transformers.LlamaForCausalLM (anything with ``model.model.layers``)
    calibration : sequence of LongTensor of shape (T,) or (B, T)
        Token ids, all of the same length T (stacked into one batch).
    bits, group_size
        As :func:`mlroundup.qigen.quant.quantize_rtn`.
    skip : sequence of str
        Names (or name suffixes) of linears left alone.
    threads : int, optional
        Default :func:`mlroundup.qigen.kernels.default_threads`.
    scale_dtype : {"float32", "float16"}
        Storage of scales and minimums (:func:`mlroundup.qigen.quant.quantize_gptq`).

    Returns
    -------
    dict of str to QuantizedWeight
        By the linear's name in ``model`` (e.g. ``"model.layers.0.self_attn.q_proj"``).

    Raises
    ------
    ValueError
        If ``calibration`` is empty or its windows differ in length.
    """
    from concurrent.futures import ThreadPoolExecutor

    from mlroundup.qigen.kernels import default_threads

    rows = [c[None] if c.dim() == 1 else c for c in calibration]
    if not rows:
        raise ValueError("method='gptq' needs calibration token ids")
    if len({r.shape[1] for r in rows}) != 1:
        raise ValueError("calibration windows must all have the same length")
    ids = torch.cat(rows)
    blocks = model.model.layers
    captured = {}

    def grab(_mod, args, kwargs):
        captured["args"], captured["kwargs"] = args, kwargs
        raise _Stop

    hook = blocks[0].register_forward_pre_hook(grab, with_kwargs=True)
    try:
        with torch.no_grad():
            model(ids, use_cache=False)
    except _Stop:
        pass
    finally:
        hook.remove()
    hidden, rest, kwargs = captured["args"][0], captured["args"][1:], captured["kwargs"]
    names = {id(m): name for name, m in model.named_modules()}
    out: dict[str, QuantizedWeight] = {}
    with ThreadPoolExecutor(threads or default_threads()) as pool, _one_blas_thread():
        for i, block in enumerate(blocks):
            layers = [m for _n, m in _linears(block, skip)]
            inputs: dict[int, list] = {id(m): [] for m in layers}  # the x^T x each one saw
            last: dict = {}  # q/k/v (and gate/up) see the same input tensor: one x^T x

            def pre(mod, args, inputs=inputs, last=last):
                if last.get("x") is not args[0]:
                    x = args[0].detach().reshape(-1, args[0].shape[-1]).float()
                    last["x"], last["xtx"] = args[0], (x.T @ x).double()  # holding x keeps `is`
                inputs[id(mod)].append(last["xtx"])

            hooks = [m.register_forward_pre_hook(pre) for m in layers]
            try:
                with torch.no_grad():
                    block(hidden, *rest, **kwargs)
            finally:
                for h in hooks:
                    h.remove()
                last.clear()
            # Linears that saw the same inputs share one Hessian, and GPTQ treats rows
            # independently given the Hessian, so their rows are quantized as one matrix
            # (q/k/v, gate/up): the same result, fewer passes of the per-column loop.
            shared: dict[tuple, list] = {}
            for m in layers:
                key = (m.in_features, *(id(t) for t in inputs[id(m)]))
                shared.setdefault(key, []).append(m)
            jobs = sorted(shared.values(), key=lambda ms: -sum(m.weight.numel() for m in ms))

            def run(ms, inputs=inputs):
                w = torch.cat([m.weight.detach().float() for m in ms]).numpy()
                k = ms[0].in_features  # zeros if never called: every column is dead
                h = sum(inputs[id(ms[0])], torch.zeros((k, k), dtype=torch.float64)).numpy()
                qw = quantize_gptq(w, h, bits, group_size, scale_dtype=scale_dtype)
                cuts = np.cumsum([0] + [m.out_features for m in ms])
                return [
                    QuantizedWeight(
                        qw.q[a:b],
                        qw.scales[a:b],
                        qw.mins[a:b],
                        qw.bits,
                        qw.group_size,
                        qw.scale_dtype,
                    )  # fmt: skip
                    for a, b in zip(cuts[:-1], cuts[1:], strict=True)
                ]

            with torch.no_grad():
                for ms, qws in zip(jobs, pool.map(run, jobs), strict=True):
                    for m, qw in zip(ms, qws, strict=True):
                        m.weight.copy_(torch.from_numpy(qw.dequantize()))
                        out[names[id(m)]] = qw
                res = block(hidden, *rest, **kwargs)
            hidden = res[0] if isinstance(res, tuple) else res
            if (i + 1) % 10 == 0 or i + 1 == len(blocks):
                log(f"gptq {bits}-bit: layer {i + 1}/{len(blocks)}")
    return out


def quantize_model(
    model: nn.Module,
    bits: int = 4,
    group_size: int | None = 128,
    method: str = "rtn",
    *,
    calibration: Sequence[torch.Tensor] | None = None,
    skip: Sequence[str] = ("lm_head",),
    isa: str | None = None,
    autotune: bool = False,
    threads: int | None = None,
    int8_activations: bool = False,
    scale_dtype: str = "float32",
    log: Callable[[str], None] = lambda _m: None,
) -> nn.Module:
    """Replace every ``nn.Linear`` of a transformers LLaMA-architecture model by a QuantLinear.

    Parameters
    ----------
    model : transformers.LlamaForCausalLM (or any module; for GPTQ it needs ``model.model.layers``)
        Modified in place and returned.
    bits, group_size
        As :func:`mlroundup.qigen.quant.quantize_rtn`.
    method : {"rtn", "gptq"}
        GPTQ quantizes decoder layer by layer (:func:`gptq_layerwise`, Frantar et al. Sec. 4):
        each layer's input Hessians are collected on ``calibration`` with the earlier layers
        already quantized.
    calibration : sequence of LongTensor of shape (T,) or (B, T)
        Token ids (GPTQ only).
    skip : sequence of str
        Names (or name suffixes) of linears to leave in float (default: the output head, as in
        GPTQ and QIGen).
    isa, autotune, threads, int8_activations
        Passed to :class:`QuantLinear`.
    scale_dtype : {"float32", "float16"}
        Storage of scales and minimums; "float16" at 4 bits and group 32 is the size of
        llama.cpp's Q4_1 (5 bits per weight).

    Raises
    ------
    ValueError
        On an unknown ``method`` or GPTQ without ``calibration``.
    """
    if method not in METHODS:
        raise ValueError(f"invalid method={method!r}: one of {METHODS}")
    if any(isinstance(m, QuantLinear) for m in model.modules()):
        raise ValueError(
            "the model is already quantized (it holds QuantLinear layers); quantize a fresh copy"
        )
    if isinstance(model, nn.Linear):
        raise ValueError(
            "quantize_model swaps the linear layers inside a model; quantize a single "
            "nn.Linear with QuantLinear.from_linear"
        )
    kw = {
        "isa": isa,
        "autotune": autotune,
        "threads": threads,
        "int8_activations": int8_activations,
    }
    if method == "rtn":
        for name, lin in _linears(model, skip):
            _replace(model, name, QuantLinear.from_linear(
                lin, bits, group_size, scale_dtype=scale_dtype, **kw))  # fmt: skip
        return model
    if not calibration:
        raise ValueError("method='gptq' needs calibration token ids")
    qws = gptq_layerwise(model, calibration, bits, group_size, skip=skip, threads=threads,
                         scale_dtype=scale_dtype, log=log)  # fmt: skip
    for name, lin in _linears(model, skip):
        if name in qws:
            _replace(model, name, QuantLinear(qws[name], lin.bias, **kw))
        else:  # linears outside the decoder blocks, if any
            _replace(model, name, QuantLinear.from_linear(
                lin, bits, group_size, scale_dtype=scale_dtype, **kw))  # fmt: skip
    return model


def dequantize_model(model: nn.Module) -> nn.Module:
    """Replace every QuantLinear by an ``nn.Linear`` holding its dequantized weight (in place).

    The result computes the same function with float32 matmuls; used to evaluate many formats
    quickly and as the oracle of the kernel path.
    """
    for name, m in list(model.named_modules()):
        if isinstance(m, QuantLinear):
            lin = nn.Linear(m.in_features, m.out_features, bias=m.bias is not None)
            with torch.no_grad():
                lin.weight.copy_(m.dequantized_weight())
                if m.bias is not None:
                    lin.bias.copy_(m.bias)
            _replace(model, name, lin)
    return model


def quantized_bytes(model: nn.Module) -> int:
    """Bytes of every QuantLinear's packed codes, scales and minimums."""
    return sum(m.packed.nbytes for m in model.modules() if isinstance(m, QuantLinear))
