"""``QuantLinear`` (a drop-in ``nn.Module`` over the generated kernels) and ``quantize_model``.

``QuantLinear`` keeps the codes, scales and minimums in the tile layout of the kernel this CPU
runs (buffers, handed to the kernel as NumPy views without copying). A batch of one row
(decoding) runs the GEMV kernel; more rows (prompt processing) run the GEMM kernel. Inference
only: gradients do not flow through it.

Checkpoints are portable: ``state_dict`` holds a canonical, CPU-independent form (the layout of
:data:`CHECKPOINT_FORMAT`, below), and loading lays it out for the kernel of the loading layer, so
a model saved on an AVX-512 machine (32-row tiles) loads and computes the same on an AVX2 one
(16-row tiles). The keys of a QuantLinear at ``prefix``:

``qweight`` : int32 tensor of shape (out_features, K_units * W)
    Row ``r`` holds the codes of output row ``r`` packed along K into 32-bit words, least
    significant bits first (:func:`mlroundup.qigen.layout.pack_rows`), K padded with zero codes to
    a multiple of the packing unit (``W`` words per unit of ``lcm(bits, 32) / bits`` values).
``scales``, ``mins`` : tensor of shape (out_features, G), dtype ``scale_dtype``
    Per (row, group) scale and minimum; the weight is ``scales * q + mins``.
``qformat`` : uint8 tensor
    UTF-8 JSON of the format: ``{"format", "bits", "group_size", "in_features",
    "out_features", "scale_dtype"}`` (a tensor, so safetensors files hold it too; the way
    bitsandbytes stores its quantization state).
``bias`` : float tensor of shape (out_features,), when the layer has one.

A checkpoint of another format (bits, group size, scale dtype or shape) is refused with an error
that names the difference. Checkpoints of the earlier, CPU-specific layout (4-D ``qweight`` of
shape (N_tiles, K_units, W, NR), no ``qformat``) still load: their tiles are undone first.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import nn

from mlroundup.qigen.codegen import ISAS, KernelSpec
from mlroundup.qigen.kernels import (
    I8_GEMM_MR,
    Kernel,
    available_isas,
    best_isa,
    compile_kernel,
    default_spec,
    gemm_mr,
    int8_gemm_fits,
    isa_supported,
    spec_group,
    tune,
)
from mlroundup.qigen.layout import (
    PackedWeight,
    check_group_size,
    pack,
    pack_rows,
    unit_shape,
    unpack_rows,
)
from mlroundup.qigen.quant import QuantizedWeight, quantize_gptq, quantize_rtn
from mlroundup.utils.threads import blas_threads

METHODS = ("rtn", "gptq")
#: Name and version of the canonical checkpoint layout (the ``qformat`` entry of a state_dict).
CHECKPOINT_FORMAT = "mlroundup.qigen.rows/1"


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
    spec : KernelSpec, optional
        The GEMV kernel to use (kind "gemv" or "gemv_i8", the weight's bits, group and scale
        dtype); it fixes the tile width ``spec.nr``. Default: autotuned, or the ISA's default.
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

    Raises
    ------
    ValueError
        If the group size is off the packing unit, ``isa`` (or ``spec.isa``) needs CPU
        features this machine lacks, or ``spec`` does not fit the weight (or comes with ``isa``
        or ``autotune``).
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
        spec: KernelSpec | None = None,
    ) -> None:
        super().__init__()
        n, k = qw.shape
        self.in_features, self.out_features = k, n
        self.bits, self.group_size = qw.bits, qw.group_size
        self.threads = threads
        self.scale_dtype = qw.scale_dtype
        check_group_size(qw.group_size, k, qw.bits)
        group = spec_group(qw.group_size, k, qw.bits)
        if spec is not None:
            if isa is not None or autotune:
                raise ValueError("give either spec, or isa / autotune, not both")
            want = (qw.bits, group, qw.scale_dtype)
            if (
                spec.kind not in ("gemv", "gemv_i8")
                or (spec.bits, spec.group_size, spec.scale_dtype) != want
            ):
                raise ValueError(
                    f"spec {spec.name} does not fit this weight: need a GEMV kernel with "
                    f"bits={want[0]}, group_size={want[1]}, scale_dtype={want[2]!r}"
                )
            isa = spec.isa
        isa = isa or best_isa()
        if isa not in ISAS:
            raise ValueError(f"invalid isa={isa!r}: one of {tuple(ISAS)}")
        if not isa_supported(isa):
            raise ValueError(
                f"isa={isa!r} needs CPU features {ISAS[isa].features} that this CPU lacks; "
                f"runnable here: {available_isas()}"
            )
        if spec is not None:
            gemv_spec = spec
        elif autotune:
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
        self._set_packed(pack(qw, gemv_spec.nr))
        self.bias = None if bias is None else nn.Parameter(bias.detach().float().clone(), False)

    def _set_packed(self, pw: PackedWeight) -> None:
        # the kernel's tiled layout: not saved (state_dict holds the canonical form instead)
        self.register_buffer("qweight", torch.from_numpy(pw.words.view(np.int32)), False)
        self.register_buffer("scales", torch.from_numpy(pw.scales), False)
        self.register_buffer("mins", torch.from_numpy(pw.mins), False)
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

    def quantized_weight(self) -> QuantizedWeight:
        """The codes, scales and minimums in the canonical (untiled) layout, as copies."""
        qw = self.packed.to_quantized()
        return QuantizedWeight(qw.q, qw.scales, qw.mins, self.bits, self.group_size,
                               self.scale_dtype)  # fmt: skip

    def checkpoint_format(self) -> dict:
        """The format a checkpoint must have to load into this layer (the ``qformat`` entry)."""
        k = self.in_features
        return {
            "format": CHECKPOINT_FORMAT,
            "bits": self.bits,
            "group_size": int(min(self.group_size, k)),  # K: one group per row
            "in_features": k,
            "out_features": self.out_features,
            "scale_dtype": self.scale_dtype,
        }

    def _save_to_state_dict(self, destination, prefix, keep_vars):
        """Save the canonical layout of the module docstring, not the kernel's tiles."""
        super()._save_to_state_dict(destination, prefix, keep_vars)  # the bias
        qw = self.quantized_weight()
        uv, _ = unit_shape(self.bits)
        kp = -(-self.in_features // uv) * uv
        q = np.zeros((self.out_features, kp), np.uint8)
        q[:, : self.in_features] = qw.q
        words = pack_rows(q, self.bits).reshape(self.out_features, -1)
        dt = np.dtype(self.scale_dtype)
        fmt = json.dumps(self.checkpoint_format(), sort_keys=True).encode()
        destination[prefix + "qweight"] = torch.from_numpy(words.view(np.int32))
        for name in ("scales", "mins"):  # contiguous (safetensors refuses views)
            a = np.ascontiguousarray(getattr(qw, name), dtype=dt)
            destination[prefix + name] = torch.from_numpy(a)
        destination[prefix + "qformat"] = torch.frombuffer(bytearray(fmt), dtype=torch.uint8)

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys,
                              unexpected_keys, error_msgs):  # fmt: skip
        """Read the canonical layout (or the earlier tiled one), check its format against this
        layer's and lay it out for this layer's kernel. On any mismatch the layer's weight is left
        as it was and the load raises (as for a shape mismatch), naming what differs."""
        names = (*self._PACKED, "qformat")
        ours = {n: state_dict[prefix + n] for n in names if prefix + n in state_dict}
        rest = {k: v for k, v in state_dict.items() if k[len(prefix):] not in names
                or not k.startswith(prefix)}  # fmt: skip
        super()._load_from_state_dict(rest, prefix, local_metadata, strict, missing_keys,
                                      unexpected_keys, error_msgs)  # fmt: skip
        if not ours:
            if strict:
                missing_keys.extend(prefix + n for n in names)
            return
        try:
            qw = self._read_checkpoint(ours)
        except ValueError as e:
            error_msgs.append(f"{prefix or 'QuantLinear '}: {e}")
            return
        self._set_packed(pack(qw, self.gemv.spec.nr))

    def _read_checkpoint(self, t: dict[str, torch.Tensor]) -> QuantizedWeight:
        n, k, bits = self.out_features, self.in_features, self.bits
        uv, uw = unit_shape(bits)
        kp = -(-k // uv) * uv
        g = int(min(self.group_size, k))
        n_groups = -(-k // g)
        missing = [m for m in self._PACKED if m not in t]
        if missing:
            raise ValueError(f"the checkpoint lacks {missing}")
        dt = getattr(torch, self.scale_dtype)
        for m in ("scales", "mins"):
            if t[m].dtype != dt:
                raise ValueError(
                    f"{m}: the checkpoint holds {t[m].dtype}, this QuantLinear packs {dt} "
                    f"(scale_dtype={self.scale_dtype}); build it with the checkpoint's format"
                )
        if t["qweight"].dtype != torch.int32:
            raise ValueError(
                f"qweight: need int32 words, the checkpoint holds {t['qweight'].dtype}"
            )
        if "qformat" not in t:
            return self._read_tiled(t, kp, n_groups)
        try:
            fmt = json.loads(bytes(t["qformat"].numpy().astype(np.uint8)).decode())
        except (ValueError, UnicodeDecodeError) as e:
            raise ValueError(f"qformat is not the JSON of a format ({e})") from None
        mine = self.checkpoint_format()
        if not isinstance(fmt, dict) or fmt.get("format") != CHECKPOINT_FORMAT:
            got = fmt.get("format") if isinstance(fmt, dict) else fmt
            raise ValueError(f"unknown checkpoint format {got!r}; this version reads "
                             f"{CHECKPOINT_FORMAT!r}")  # fmt: skip
        diff = [f"{key}={fmt.get(key)!r} (this layer: {mine[key]!r})"
                for key in mine if fmt.get(key) != mine[key]]  # fmt: skip
        if diff:
            raise ValueError(
                "the checkpoint holds another quantization format: "
                + ", ".join(diff)
                + "; build the layer with the checkpoint's format"
            )
        shapes = {"qweight": (n, kp // uv * uw), "scales": (n, n_groups), "mins": (n, n_groups)}
        for m, shape in shapes.items():
            if tuple(t[m].shape) != shape:
                raise ValueError(f"{m} of shape {tuple(t[m].shape)}: need {shape}")
        words = t["qweight"].numpy().view(np.uint32).reshape(n, kp // uv, uw)
        q = unpack_rows(words, bits)[:, :k]
        s, m_ = (t[m].numpy().astype(np.float32) for m in ("scales", "mins"))
        return QuantizedWeight(q, s, m_, bits, self.group_size, self.scale_dtype)

    def _read_tiled(self, t: dict[str, torch.Tensor], kp: int, n_groups: int) -> QuantizedWeight:
        """The earlier layout: the tiles of the saving machine's kernel (no format record, so
        only shapes and dtypes can be checked)."""
        w = t["qweight"]
        uv, uw = unit_shape(self.bits)
        if w.ndim != 4 or w.shape[1:3] != (kp // uv, uw) or w.shape[3] % 8 or w.shape[3] < 8:
            raise ValueError(
                f"qweight of shape {tuple(w.shape)} without qformat: neither this version's "
                f"layout ({self.out_features}, {kp // uv * uw}) with qformat, nor an earlier "
                f"tiled one (N_tiles, {kp // uv}, {uw}, NR)"
            )
        nt, nr = w.shape[0], w.shape[3]
        if nt * nr < self.out_features or (nt - 1) * nr >= self.out_features:
            raise ValueError(f"qweight holds {nt} tiles of {nr} rows: not {self.out_features} rows")
        for m in ("scales", "mins"):
            if tuple(t[m].shape) != (nt, n_groups, nr):
                raise ValueError(f"{m} of shape {tuple(t[m].shape)}: need {(nt, n_groups, nr)}")
        group = kp if self.group_size >= self.in_features else self.group_size
        pw = PackedWeight(w.numpy().view(np.uint32), t["scales"].numpy(), t["mins"].numpy(),
                          self.out_features, self.in_features, kp, self.bits, group, nr)  # fmt: skip
        qw = pw.to_quantized()
        return QuantizedWeight(qw.q, qw.scales, qw.mins, self.bits, self.group_size,
                               self.scale_dtype)  # fmt: skip

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
    with ThreadPoolExecutor(threads or default_threads()) as pool, blas_threads(1):
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
