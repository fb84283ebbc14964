"""The QIGen experiment: SmolLM2 perplexity over bits x group size (RTN and GPTQ), decode speed
of our kernels per format, and GEMV bandwidth, each beside the paper's claims.

How it stays cheap: perplexity does not need the kernels. Each (method, bits, group) format is
quantized linear by linear (:func:`~mlroundup.qigen.quant.quantize_rtn`, or layer-wise GPTQ
through :func:`~mlroundup.qigen.quant.quantize_gptq`) and its dequantized weights ``s * q + m``
are written into ONE working copy of the fp32 model (fake quantization). The kernels compute
exactly that model, which one check confirms: the 4-bit group-128 RTN codes in
:class:`~mlroundup.qigen.nn.QuantLinear` layers (generated GEMM kernels) score the same
perplexity as the fake-quantized model. Speed and size depend on the format only, so each
format is packed and timed once (one decoder layer's GEMVs standing for all 30 layers), and the
paper's kernel-speed claims are measured on a LLaMA-7B-sized GEMV streamed from DRAM.
"""

from __future__ import annotations

import math
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from mlroundup.experiments.registry import Claim, Experiment, Metric, Paper

PAPER = Paper(
    authors="T. Pegolotti, E. Frantar, D. Alistarh, M. Püschel",
    title="QIGen: Generating Efficient Kernels for Quantized Inference on Large Language Models",
    arxiv="2307.03738",
)

BITS = (2, 3, 4, 8)
GROUPS = (32, 64, 128, None)  # None: whole row
#: Relative perplexity difference above which the kernel path and the fake-quantized model are
#: declared different models (measured: ~1e-6, float32 summation order).
KERNEL_CHECK_RTOL = 1e-4


def _label(g):
    return "row" if g is None else str(g)


def configs(quick: bool) -> list[tuple[str, int, int | None]]:
    """The (method, bits, group) formats evaluated at each scale.

    Parameters
    ----------
    quick : bool
        True for the quick scale, False for the paper scale.

    Returns
    -------
    list of (str, int, int or None)
        ``(method, bits, group_size)`` with method ``"rtn"`` or ``"gptq"`` and group size None
        for whole rows. Quick: every group size at 4 bits (the group-size claims), 3 bits at
        groups 32 and 128 (the 3- vs 4-bit claim), one format each at 2 and 8 bits, and GPTQ at
        4 bits / group 128 (QIGen's format and weights). Paper: RTN and GPTQ at every
        bits x group of :data:`BITS` x :data:`GROUPS`.
    """
    full = [(b, g) for b in BITS for g in GROUPS]
    if not quick:
        return [(m, b, g) for m in ("rtn", "gptq") for b, g in full]
    out = [("rtn", b, g) for b, g in full if b == 4 or g == 128 or (b, g) == (3, 32)]
    return [*out, ("gptq", 4, 128)]


@dataclass(frozen=True)
class Settings:
    """One scale: ``formats`` (method, bits, group size or None for whole rows) to quantize;
    perplexity on ``eval_windows`` windows of ``window_tokens`` tokens (GPTQ calibrated on
    ``calibration_windows``); the kernel path checked on ``kernel_check_windows``; each decode
    step timed ``step_repeats`` times."""

    formats: tuple[tuple[str, int, int | None], ...]
    eval_windows: int
    calibration_windows: int
    kernel_check_windows: int
    step_repeats: int
    window_tokens: int = 256


SETTINGS = {
    "quick": Settings(formats=tuple(configs(True)), eval_windows=2, calibration_windows=4,
                      kernel_check_windows=1, step_repeats=7),
    "paper": Settings(formats=tuple(configs(False)), eval_windows=40, calibration_windows=32,
                      kernel_check_windows=2, step_repeats=21),
}  # fmt: skip


def _write(lins, weights) -> None:
    """Copy ``weights`` (tensors or float32 arrays, one per linear) into the linears in place."""
    import torch

    with torch.no_grad():
        for (_name, m), w in zip(lins, weights, strict=True):
            m.weight.copy_(torch.as_tensor(w))


def _cpu_seconds() -> tuple[float, float] | None:
    """(CPU seconds every process on the machine has used, CPU seconds this process has used),
    from ``/proc/stat`` (Linux; None elsewhere). "This process" includes its waited-for children
    (the compiler runs that build kernels)."""
    try:
        import resource

        with open("/proc/stat") as f:
            fields = [int(v) for v in f.readline().split()[1:]]
        hz = os.sysconf("SC_CLK_TCK")
    except (ImportError, OSError, ValueError, AttributeError):
        return None
    busy = sum(fields[:8]) - fields[3] - fields[4]  # all but idle and iowait (steal counts)
    own = [resource.getrusage(w) for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
    return busy / hz, sum(r.ru_utime + r.ru_stime for r in own)


def _sharing_note(start, end, wall_s: float) -> str:
    """Say how much CPU time other processes took from the machine during the run."""
    if start is None or end is None:
        return "Whether other jobs shared the machine during the run was not measured."
    others = max(0.0, (end[0] - start[0]) - (end[1] - start[1]))
    ncpu = os.cpu_count() or 1
    return (
        f"Other processes used {others:.0f} CPU-seconds during the run's {wall_s:.0f} s on "
        f"{ncpu} CPUs ({others / (wall_s * ncpu):.0%} of the machine); the higher, the more "
        "pessimistic the timings."
    )


def _with_dequantized(qw):
    return qw, qw.dequantize()


def _gptq_into(model, lins, orig, calib, bits: int, group: int | None, threads: int, log) -> list:
    """GPTQ-quantize every decoder linear of ``model`` from the fp32 weights ``orig``, writing the
    dequantized weights into it (:func:`mlroundup.qigen.nn.gptq_layerwise`); returns the
    :class:`~mlroundup.qigen.quant.QuantizedWeight` per linear of ``lins``. On this
    already-quantized model GPTQ's rounding decisions are sensitive to float details (variants
    differing only in summation order gave 4-bit group-128 perplexities 21.2-23.2 on 4 windows
    during development, RTN: 26.7)."""
    from mlroundup.qigen.nn import gptq_layerwise

    _write(lins, orig)
    qws = gptq_layerwise(model, calib, bits, group, threads=threads, log=log)
    return [qws[name] for name, _m in lins]


def _packed_step(qws, threads: int, pool, repeat: int = 1):
    """The kernel calls of one decode step's GEMVs and their weight bytes.

    Each weight of ``qws`` is packed for the default (untuned) GEMV tile of its format; kernels
    are built once per distinct spec. The calls run every weight once, ``repeat`` times (one
    decoder layer's weights standing for the ``repeat`` identical-shaped layers). Returns
    ``(calls, nbytes)``: zero-argument callables and ``repeat`` x the bytes of packed codes +
    float32 scales and minimums.
    """
    import numpy as np

    from mlroundup.qigen.kernels import compile_kernel, default_spec, spec_group
    from mlroundup.qigen.layout import pack

    rng = np.random.default_rng(0)
    specs = [default_spec("gemv", qw.bits, spec_group(qw.group_size, qw.shape[1], qw.bits))
             for qw in qws]  # fmt: skip
    kernels = {spec: compile_kernel(spec) for spec in set(specs)}
    packed = pool.map(lambda a: pack(a[0], a[1].nr), zip(qws, specs, strict=True))
    calls, nbytes = [], 0
    for qw, spec, pw in zip(qws, specs, packed, strict=True):
        n, k = qw.shape
        nbytes += pw.nbytes
        x = np.zeros(pw.k_padded, np.float32)
        x[:k] = rng.standard_normal(k)
        out = np.empty(n, np.float32)
        calls.append(kernels[spec].prepare(pw, x, out, threads))  # no per-call Python checks
    return calls * repeat, nbytes * repeat


def _time_steps(steps: dict, rounds: int) -> dict:
    """Median seconds of each decode step in ``steps`` (key -> list of calls), interleaved: each
    round runs every step once, so slow phases of a shared machine hit all formats alike."""
    import statistics

    times = {key: [] for key in steps}
    for r in range(rounds + 1):  # round 0 warms up
        for key, calls in steps.items():
            t0 = time.perf_counter()
            for c in calls:
                c()
            if r:
                times[key].append(time.perf_counter() - t0)
    return {key: statistics.median(v) for key, v in times.items()}


def _tradeoff_figure(results: dict, ppl_fp32: float):
    """Two panels: perplexity vs MB of the quantized linears, and vs decode steps/s."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
    markers = {2: "v", 3: "s", 4: "o", 8: "^"}
    for (method, bits, g), r in sorted(
        results.items(), key=lambda kv: (kv[0][0], kv[0][1], kv[0][2] or 1 << 30)
    ):
        style = {"marker": markers[bits], "color": f"C{BITS.index(bits)}",
                 "fillstyle": "full" if method == "gptq" else "none", "linestyle": ""}  # fmt: skip
        axes[0].plot(r["bytes"] / 1e6, r["ppl"], **style)
        axes[1].plot(1 / r["step_s"], r["ppl"], **style)
        axes[0].annotate(f"{method} g{_label(g)}", (r["bytes"] / 1e6, r["ppl"]), fontsize=6)
    for ax in axes:
        ax.axhline(ppl_fp32, color="k", lw=0.8, ls="--", label="fp32")
        ax.set_yscale("log")
    for bits in sorted({b for _m, b, _g in results}):
        axes[0].plot([], [], marker=markers[bits], color=f"C{BITS.index(bits)}", ls="",
                     label=f"{bits}-bit")  # fmt: skip
    axes[0].set_xlabel("quantized linear layers (MB)")
    axes[1].set_xlabel("decode steps/s of the quantized layers (kernels only)")
    axes[0].set_ylabel("perplexity (held-out text)")
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    return fig


def run(ctx):
    """Run the experiment at ``ctx.scale`` (see the module docstring).

    Parameters
    ----------
    ctx : mlroundup.experiments.runner.RunContext

    Returns
    -------
    mlroundup.experiments.schema.Outcome
        Metric values, the perplexity / size / speed table, the GEMV bandwidth table, the
        trade-off figure and notes.

    Raises
    ------
    mlroundup.models.ModelUnavailableError
        If SmolLM2 cannot be loaded.
    RuntimeError
        If the kernel path and the fake-quantized model disagree (relative perplexity difference
        above :data:`KERNEL_CHECK_RTOL`), so the table would not describe the kernels.
    """
    import torch

    from mlroundup.experiments.schema import Outcome, Table
    from mlroundup.models import load_smollm2
    from mlroundup.qigen.evaluate import help_text, token_windows, window_nlls
    from mlroundup.qigen.kernels import available_isas, candidates, default_threads
    from mlroundup.qigen.measure import gemv_throughput, last_level_cache_bytes, read_bandwidth
    from mlroundup.qigen.nn import QuantLinear, _linears, _replace
    from mlroundup.qigen.quant import quantize_rtn

    t_start = time.perf_counter()
    busy_start = _cpu_seconds()
    torch.manual_seed(ctx.seed)
    threads = default_threads()
    torch.set_num_threads(threads)
    lm = load_smollm2(ctx.cache_dir)
    timings = {"load": time.perf_counter() - t_start}
    model = lm.model  # the one working copy: each format's weights are written into it
    model.eval()
    lins = _linears(model, ("lm_head",))
    orig = [m.weight.detach().clone() for _n, m in lins]
    st = ctx.settings
    seq = st.window_tokens
    n_eval, n_cal = st.eval_windows, st.calibration_windows
    n_check = st.kernel_check_windows
    batch = 4
    evalw = token_windows(lm.tokenizer, help_text("eval"), seq, n_eval)
    calib = token_windows(lm.tokenizer, help_text("calibration"), seq, n_cal)
    n_tokens = sum(len(w) - 1 for w in evalw)

    def ppl_of(nlls):
        return math.exp(sum(nlls) / n_tokens)

    t0 = time.perf_counter()
    ppl_fp32 = ppl_of(window_nlls(model, evalw, batch))
    timings["fp32 perplexity"] = time.perf_counter() - t0

    # Decode-step timing uses decoder layer 0's linears for all (identically shaped) layers.
    n_layers = len(model.model.layers)
    layer0 = [i for i, (name, _m) in enumerate(lins) if name.startswith("model.layers.0.")]
    shapes = [tuple(m.weight.shape) for _n, m in lins]
    if shapes != [shapes[i] for i in layer0] * n_layers:
        raise RuntimeError("decoder layers differ in linear shapes; decode-step timing assumes not")

    results, steps = {}, {}
    t_quant = t_gptq = t_pack = t_ppl = 0.0
    with ThreadPoolExecutor(threads) as pool:
        for method, bits, g in ctx.track(st.formats, "quantize + perplexity"):
            t0 = time.perf_counter()
            if method == "gptq":
                qws = _gptq_into(model, lins, orig, calib, bits, g, threads, ctx.log)
                t_gptq += time.perf_counter() - t0
            else:

                def rtn(w, b=bits, g=g):
                    return _with_dequantized(quantize_rtn(w.numpy(), b, g))

                pairs = list(pool.map(rtn, orig))
                qws = [qw for qw, _d in pairs]
                _write(lins, [d for _qw, d in pairs])
                del pairs
                t_quant += time.perf_counter() - t0
            t0 = time.perf_counter()
            if (bits, g) not in steps:  # speed and size depend on the format only
                steps[(bits, g)] = _packed_step([qws[i] for i in layer0], threads, pool, n_layers)
            t_pack += time.perf_counter() - t0
            t0 = time.perf_counter()
            nlls = window_nlls(model, evalw, batch)
            t_ppl += time.perf_counter() - t0
            results[(method, bits, g)] = {"ppl": ppl_of(nlls), "nlls": nlls}
            if (method, bits, g) == ("rtn", 4, 128):
                # The kernel path once: the same codes in QuantLinear layers (generated GEMM
                # kernels) in place of the fake-quantized linears, on the first windows.
                t0 = time.perf_counter()
                for (name, m), qw in zip(lins, qws, strict=True):
                    _replace(model, name, QuantLinear(qw, m.bias, threads=threads))
                try:
                    kernel_nlls = window_nlls(model, evalw[:n_check], batch)
                finally:
                    for name, m in lins:
                        _replace(model, name, m)
                timings["kernel check"] = time.perf_counter() - t0
            del qws
    _write(lins, orig)
    timings["RTN"] = t_quant
    timings["pack"] = t_pack
    timings["GPTQ"] = t_gptq
    timings["perplexities"] = t_ppl

    t0 = time.perf_counter()
    step_s = _time_steps({k: c for k, (c, _b) in steps.items()}, st.step_repeats)
    for (_m, bits, g), r in results.items():
        r["step_s"], r["bytes"] = step_s[(bits, g)], steps[(bits, g)][1]
    del steps
    timings["decode-step timing"] = time.perf_counter() - t0

    rows = [["fp32", 32, "-", ppl_fp32, 0.0, None, None]]
    for (method, bits, g), r in results.items():
        rows.append([method, bits, _label(g), r["ppl"], r["ppl"] / ppl_fp32 - 1,
                     r["bytes"] / 1e6, 1 / r["step_s"]])  # fmt: skip
    tables = [
        Table(
            "SmolLM2-135M-Instruct perplexity on held-out CPython help text",
            ["method", "bits", "group", "perplexity", "vs fp32", "linear MB", "layer tokens/s"],
            rows,
            note=(
                f"{n_tokens} predicted tokens in {len(evalw)} windows of {seq}; GPTQ calibrated "
                f"on {len(calib)} disjoint windows. Perplexity of each format is measured on the "
                "fp32 model with the format's dequantized weights (what the kernels compute; "
                "checked once, see notes). 'linear MB': packed codes + fp32 scales/minimums of "
                f"the {len(lins)} quantized linears (embeddings/lm_head stay fp32). 'layer "
                "tokens/s': 1 / median time of one decode step's GEMVs through our kernels "
                f"(decoder layer 0's {len(layer0)} linears run {n_layers} times, standing for the "
                f"{n_layers} identically shaped layers; default untuned tiles, {threads} threads, "
                "formats interleaved); speed and size depend on the format only, so GPTQ shares "
                "RTN's numbers."
            ),
        )
    ]
    r4 = {g: results[("rtn", 4, g)] for g in GROUPS}
    ppls4 = [r4[g]["ppl"] for g in GROUPS]
    smaller_better = bool(all(a < b for a, b in zip(ppls4, ppls4[1:], strict=False)))
    # 4-bit vs 3-bit per byte: every 3-bit point is beaten on perplexity by a 4-bit one at most
    # 1.35x its size
    three = [r for (_m, b, _g), r in results.items() if b == 3]
    four = [r for (_m, b, _g), r in results.items() if b == 4]
    dominated = sum(
        any(f["bytes"] <= t["bytes"] * 1.35 and f["ppl"] < t["ppl"] for f in four) for t in three
    )
    rtn128, gptq128 = results[("rtn", 4, 128)], results[("gptq", 4, 128)]
    check_tokens = sum(len(w) - 1 for w in evalw[:n_check])
    ppl_kernel = math.exp(sum(kernel_nlls) / check_tokens)
    ppl_of_subset = math.exp(sum(rtn128["nlls"][:n_check]) / check_tokens)
    kernel_rel = abs(ppl_kernel / ppl_of_subset - 1)
    if not kernel_rel <= KERNEL_CHECK_RTOL:
        raise RuntimeError(
            f"kernel path perplexity {ppl_kernel!r} differs from the fake-quantized model's "
            f"{ppl_of_subset!r} by {kernel_rel:.2e} relative (> {KERNEL_CHECK_RTOL}): the table "
            "would not describe what the kernels compute"
        )

    # Kernel speed where the paper measures it: a LLaMA-7B layer, weights streamed from DRAM.
    t0 = time.perf_counter()
    llc = last_level_cache_bytes()
    bw = read_bandwidth(8 * llc, threads)
    big = 4096
    kinds = ["gemv"]
    if any(candidates("gemv_i8", 4, 128, isa) for isa in available_isas()):
        kinds.append("gemv_i8")
    gemv = {(kind, g): gemv_throughput(big, big, 4, g, threads=threads, dram=True,
                                       llc_bytes=llc, kind=kind)
            for g in (32, 128) for kind in kinds}  # fmt: skip

    def fastest(g):
        return min((r for r in gemv if r[1] == g), key=lambda r: gemv[r].seconds)

    best = fastest(128)
    gemv_rows = [
        [kind, _label(g), t.kernel, t.seconds * 1e6, t.weight_bytes / 1e6, t.gbps,
         t.gbps * 1e9 / bw, (kind, g) == best]
        for (kind, g), t in gemv.items()
    ]  # fmt: skip
    smaller_slower = bool(gemv[fastest(32)].seconds > gemv[best].seconds)
    timings["bandwidth + GEMV"] = time.perf_counter() - t0
    tables.append(
        Table(
            f"4-bit GEMV on the LLaMA-7B q/k/v/o shape ({big}x{big}), weights streamed from DRAM",
            [
                "kind",
                "group",
                "kernel (autotuned)",
                "us per GEMV",
                "weight MB",
                "GB/s",
                "fraction of read GB/s",
                "used for metric",
            ],
            gemv_rows,
            note=(
                "'gemv': float activations; 'gemv_i8': activations rounded to int8 per block of 32 "
                "(integer dot products, about 1% relative error per product). GB/s counts packed "
                "codes + scales + minimums per product, rotating copies totalling 4x the "
                f"last-level cache ({llc / 2**20:.0f} MiB). Read bandwidth {bw / 1e9:.1f} GB/s "
                f"(a summing kernel over {8 * llc / 2**20:.0f} MiB, {threads} threads). The "
                "bandwidth metric uses the faster group-128 kind; the group-size speed metric "
                "compares the faster kind at group 32 with the faster at group 128."
            ),
        )
    )
    step_gbps = r4[128]["bytes"] / r4[128]["step_s"] / 1e9
    speeds = [1 / r["step_s"] for r in results.values()]
    busy_end = _cpu_seconds()
    notes = [
        "The shipped SmolLM2 weights are already Q4_1 (4-bit codes with a scale and a minimum per "
        "group of 32 input channels, llama.cpp's format): 4-bit group-32 RTN reproduces them "
        f"exactly (perplexity {r4[32]['ppl']:.4f} vs fp32 {ppl_fp32:.4f}), and every other format "
        "re-quantizes an already-quantized model on a misaligned grid, which is why group 128 "
        "loses more here than on the paper's fp16 LLaMA models.",
        "Kernel check: the 4-bit group-128 RTN codes packed into QuantLinear layers (generated "
        f"GEMM kernels) vs the fake-quantized fp32 model, first {n_check} window(s): perplexity "
        f"{ppl_kernel:.6f} vs {ppl_of_subset:.6f} (relative difference {kernel_rel:.1e}; the run "
        f"fails above {KERNEL_CHECK_RTOL:g}).",
        f"GPTQ vs RTN at 4 bits / group 128: perplexity {gptq128['ppl']:.3f} vs "
        f"{rtn128['ppl']:.3f} (fp32 {ppl_fp32:.3f}). GPTQ's result on this model moves by a few "
        "percent with float summation details (thread counts, float32 vs float64 Hessian "
        "products), because re-quantizing Q4_1 weights puts many of them near rounding "
        "boundaries; compare the gap to RTN with that.",
        f"{dominated} of {len(three)} 3-bit formats are beaten on perplexity by a 4-bit format at "
        "most 1.35x their size (the paper: 4-bit is the better trade-off per byte).",
        f"A SmolLM2 decode step runs its 4-bit group-128 weights through the kernels at "
        f"{step_gbps:.1f} GB/s (shapes up to 1536x576, cache-resident; "
        f"{r4[128]['step_s'] / len(lins) * 1e6:.0f} us per GEMV on average), against "
        f"{gemv[best].gbps:.1f} GB/s for the 4096x4096 GEMV from DRAM: at these small shapes "
        "fixed per-call costs (Python, thread start-up) weigh heavily, and 'layer tokens/s' "
        f"spans only {min(speeds):.0f}-{max(speeds):.0f} across formats. The group-size speed "
        "claim is therefore measured on the 4096x4096 shape, as in the paper's LLaMA layers: "
        f"fastest kernel {gemv[fastest(32)].seconds * 1e6:.0f} us at group 32 vs "
        f"{gemv[best].seconds * 1e6:.0f} us at group 128 (float 'gemv' alone: "
        f"{gemv[('gemv', 32)].seconds * 1e6:.0f} vs {gemv[('gemv', 128)].seconds * 1e6:.0f} us).",
        "The llama.cpp comparison (the paper's 2.6x speed-up) is measured by "
        "`mlroundup bench qigen` (needs the optional llama-cpp-python build), not here.",
        _sharing_note(busy_start, busy_end, time.perf_counter() - t_start),
        "Phase times (s): " + ", ".join(f"{k} {v:.1f}" for k, v in timings.items()) + ".",
    ]
    figures = [("Perplexity vs linear-layer bytes and vs decode speed, per bits x group size "
                "(the paper's trade-off figure)", _tradeoff_figure(results, ppl_fp32))]  # fmt: skip
    return Outcome(
        figures=figures,
        values={
            "ppl_increase_gptq_4bit_g128": gptq128["ppl"] / ppl_fp32 - 1,
            "gptq_beats_rtn_4bit_g128": bool(gptq128["ppl"] < rtn128["ppl"]),
            "smaller_groups_lower_ppl": smaller_better,
            "smaller_groups_slower": smaller_slower,
            "three_bit_dominated_fraction": dominated / max(1, len(three)),
            "gemv_dram_bandwidth_fraction": gemv[best].gbps * 1e9 / bw,
        },
        tables=tables,
        notes=notes,
        config={
            "threads": threads,
            "eval_windows": len(evalw),
            "calibration_windows": len(calib),
            "window_tokens": seq,
            "configs": len(results),
            "kernel_check_windows": n_check,
            "gemv_metric_kind": best[0],
        },
    )


QIGEN_SMOLLM2 = Experiment(
    name="qigen-smollm2",
    method="qigen",
    title="Group-quantized SmolLM2: perplexity vs bits and group size, kernel bandwidth",
    paper=PAPER,
    claim=(
        "Generated group-quantized kernels run at the memory-bandwidth limit; smaller groups give "
        "lower perplexity but lower throughput; 4-bit beats 3-bit per byte; GPTQ beats RTN."
    ),
    metrics=(
        Metric(
            "ppl_increase_gptq_4bit_g128",
            None,
            abs_tol=0.15,
            higher_is_better=False,
            source="QIGen reports GPTQ 4-bit g128 near fp32 perplexity on LLaMA; no number for "
            "SmolLM2",
            target=0.0,
            target_reason="GPTQ 4-bit g128 (QIGen's format and weights) within 15% of the fp32 "
            "perplexity of SmolLM2-135M (a small model loses more than a 7B one)",
        ),
        Claim(
            "gptq_beats_rtn_4bit_g128",
            statement="GPTQ's 4-bit group-128 perplexity is below RTN's",
            source="GPTQ paper (Frantar et al., arXiv 2210.17323), Tables 3-4: GPTQ perplexity "
            "below RTN's at 4 bits",
        ),
        Claim(
            "smaller_groups_lower_ppl",
            statement="at 4 bits, perplexity falls with the group size: g32 < g64 < g128 < row",
            source="paper, evaluation: perplexity vs group size (4-bit g32 < g64 < g128 < row)",
        ),
        Claim(
            "smaller_groups_slower",
            statement="the 4-bit group-32 GEMV is slower than the group-128 one",
            source="paper, evaluation: throughput vs group size (4-bit g32 slower than g128)",
        ),
        Metric(
            "three_bit_dominated_fraction",
            None,
            abs_tol=0.0,
            higher_is_better=True,
            source="paper, evaluation: 4-bit gives a better size/perplexity trade-off than 3-bit "
            "(no fraction printed)",
            target=1.0,
            target_reason="the paper's finding read as 'every 3-bit format is beaten on "
            "perplexity by a 4-bit format at most 1.35x its size'",
        ),
        Metric(
            "gemv_dram_bandwidth_fraction",
            None,
            rel_tol=0.0,
            higher_is_better=True,
            unit="of read bandwidth",
            source="QIGen: generated kernels run near the memory-bandwidth limit (no fraction "
            "printed)",
            target=0.8,
            target_reason="our goal: >= 80% of the measured read bandwidth (best of the float "
            "and int8 GEMV)",
        ),
    ),
    run=run,
    settings=SETTINGS,
    budget_s={"quick": 120.0, "paper": 14400.0},
)
