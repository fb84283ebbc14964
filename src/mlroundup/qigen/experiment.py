"""The QIGen experiment: SmolLM2 perplexity over bits x group size (RTN and GPTQ), decode speed
of our kernels per format, and GEMV bandwidth, each beside the paper's claims."""

from __future__ import annotations

from mlroundup.experiments.registry import Experiment, Metric, Paper

PAPER = Paper(
    authors="T. Pegolotti, E. Frantar, D. Alistarh, M. Püschel",
    title="QIGen: Generating Efficient Kernels for Quantized Inference on Large Language Models",
    arxiv="2307.03738",
)

BITS = (2, 3, 4, 8)
GROUPS = (32, 64, 128, None)  # None: whole row


def _label(g):
    return "row" if g is None else str(g)


def _decode_seconds(model, threads: int, repeats: int) -> float:
    """Median seconds of one decode step's worth of quantized GEMVs (every QuantLinear, batch 1)."""
    import torch

    from mlroundup.kernels.autotune import median_time
    from mlroundup.qigen.nn import QuantLinear

    layers = [m for m in model.modules() if isinstance(m, QuantLinear)]
    xs = [torch.randn(1, m.in_features) for m in layers]

    def step():
        for m, x in zip(layers, xs, strict=True):
            m(x)

    return median_time(step, warmup=1, repeats=repeats)


def _tradeoff_figure(results: dict, ppl_fp32: float):
    """Two panels: perplexity vs MB of the quantized linears, and vs layer tokens/s."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
    markers = {2: "v", 3: "s", 4: "o", 8: "^"}
    for (method, bits, g), (ppl, nbytes, step_s, _chk) in sorted(
        results.items(), key=lambda kv: (kv[0][0], kv[0][1], kv[0][2] or 1 << 30)
    ):
        style = {"marker": markers[bits], "color": f"C{BITS.index(bits)}",
                 "fillstyle": "full" if method == "gptq" else "none", "linestyle": ""}  # fmt: skip
        axes[0].plot(nbytes / 1e6, ppl, **style)
        axes[1].plot(1 / step_s, ppl, **style)
        axes[0].annotate(f"{method} g{_label(g)}", (nbytes / 1e6, ppl), fontsize=6)
    for ax in axes:
        ax.axhline(ppl_fp32, color="k", lw=0.8, ls="--", label="fp32")
        ax.set_yscale("log")
    for bits in BITS:
        axes[0].plot([], [], marker=markers[bits], color=f"C{BITS.index(bits)}", ls="",
                     label=f"{bits}-bit")  # fmt: skip
    axes[0].set_xlabel("quantized linear layers (MB)")
    axes[1].set_xlabel("decode steps/s of the quantized layers (kernels only)")
    axes[0].set_ylabel("perplexity (held-out text)")
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    return fig


def run(ctx):
    import copy

    import torch

    from mlroundup.experiments.schema import Outcome, Table
    from mlroundup.models import load_smollm2
    from mlroundup.qigen.evaluate import help_text, perplexity, token_windows
    from mlroundup.qigen.kernels import default_threads
    from mlroundup.qigen.measure import gemv_throughput, last_level_cache_bytes, read_bandwidth
    from mlroundup.qigen.nn import dequantize_model, quantize_model, quantized_bytes

    torch.manual_seed(ctx.seed)
    threads = default_threads()
    torch.set_num_threads(threads)
    lm = load_smollm2(ctx.cache_dir)
    base = lm.model
    n_eval, n_cal = (4, 4) if ctx.quick else (40, 32)
    evalw = token_windows(lm.tokenizer, help_text("eval"), 256, n_eval)
    calib = token_windows(lm.tokenizer, help_text("calibration"), 256, n_cal)
    ppl_fp32 = perplexity(base, evalw)
    full = [(b, g) for b in BITS for g in GROUPS]
    if ctx.quick:  # every group size at 4 bits; 3 bits at 32 and 128; one at 2 and 8; GPTQ 4/128
        configs = [("rtn", b, g) for b, g in full if b == 4 or g == 128 or (b, g) == (3, 32)]
        configs += [("gptq", 4, 128)]
    else:
        configs = [(m, b, g) for m in ("rtn", "gptq") for b, g in full]
    rows, results = [], {}
    for method, bits, g in ctx.track(configs, "quantize + perplexity"):
        model = copy.deepcopy(base)
        quantize_model(model, bits, g, method, calibration=calib, threads=threads)
        nbytes = quantized_bytes(model)
        step_s = _decode_seconds(model, threads, 3 if ctx.quick else 7)
        ppl_kernel = None
        if (method, bits, g) == ("rtn", 4, 128):  # the kernel path itself, as a check
            ppl_kernel = perplexity(model, evalw[:2])
        dequantize_model(model)
        ppl = perplexity(model, evalw)
        if ppl_kernel is not None:
            ppl_kernel = (ppl_kernel, perplexity(model, evalw[:2]))
        results[(method, bits, g)] = (ppl, nbytes, step_s, ppl_kernel)
        rows.append([method, bits, _label(g), ppl, ppl / ppl_fp32 - 1, nbytes / 1e6, 1 / step_s])
        del model

    tables = [
        Table(
            "SmolLM2-135M-Instruct perplexity on held-out CPython help text",
            ["method", "bits", "group", "perplexity", "vs fp32", "linear MB", "layer tokens/s"],
            [["fp32", 32, "-", ppl_fp32, 0.0, None, None], *rows],
            note=(
                f"{sum(len(w) for w in evalw)} tokens in {len(evalw)} windows of 256; GPTQ "
                f"calibrated on {len(calib)} disjoint windows. 'linear MB': packed codes + fp32 "
                "scales/minimums of the quantized linears (embeddings/lm_head stay fp32). "
                "'layer tokens/s': 1 / (time of all quantized GEMVs of one decode step), kernels "
                f"only, {threads} threads, untuned default tiles. The shipped weights were already "
                "Q4_1-quantized once."
            ),
        )
    ]
    r4 = {g: results[("rtn", 4, g)] for g in GROUPS}
    smaller_better = float(r4[32][0] < r4[128][0] < r4[None][0])
    smaller_slower = float(r4[32][2] > r4[128][2])
    # 4-bit vs 3-bit per byte: every 3-bit point is dominated (size and perplexity) by a 4-bit one
    pts = {k: v for k, v in results.items()}
    three = [v for (_m, b, _g), v in pts.items() if b == 3]
    four = [v for (_m, b, _g), v in pts.items() if b == 4]
    dominated = sum(any(f[1] <= t[1] * 1.35 and f[0] < t[0] for f in four) for t in three)
    ppl_check = results[("rtn", 4, 128)][3]

    llc = last_level_cache_bytes()
    bw = read_bandwidth(8 * llc, threads)
    gemv_rows = []
    for name, (n, k) in {
        "llama7b 4096x4096": (4096, 4096),
        "smollm2 1536x576": (1536, 576),
    }.items():
        t = gemv_throughput(n, k, 4, 128, threads=threads, dram=True, llc_bytes=llc)
        gemv_rows.append([name, t.kernel, t.gbps, bw / 1e9, t.gbps * 1e9 / bw])
    tables.append(
        Table(
            "4-bit group-128 GEMV, weights streamed from DRAM, vs measured read bandwidth",
            ["shape", "kernel", "GB/s", "read GB/s", "fraction"],
            gemv_rows,
        )
    )
    best_4 = min((v[0] for (m, b, g), v in results.items() if b == 4 and m == "gptq"), default=None)
    notes = [
        f"4-bit group-128 RTN through the kernels vs dequantized fp32 matmuls, first 2 windows: "
        f"perplexity {ppl_check[0]:.4f} vs {ppl_check[1]:.4f}.",
        f"{dominated} of {len(three)} 3-bit formats are beaten on perplexity by a 4-bit format at "
        "most 1.35x their size (the paper claims 4-bit is the better trade-off per byte).",
        "The llama.cpp comparison (the paper's 2.6x) is measured by `mlroundup bench qigen` "
        "(needs the optional llama-cpp-python build), not here.",
        "Timings were taken on a 2-core machine shared with other jobs.",
    ]
    if best_4 is not None:
        notes.append(f"best 4-bit GPTQ perplexity: {best_4:.3f} (fp32 {ppl_fp32:.3f}).")
    figures = [("Perplexity vs linear-layer bytes and vs decode speed, per bits x group size "
                "(the paper's trade-off figure)", _tradeoff_figure(results, ppl_fp32))]  # fmt: skip
    return Outcome(
        figures=figures,
        values={
            "ppl_increase_4bit_g128": results[("rtn", 4, 128)][0] / ppl_fp32 - 1,
            "smaller_groups_lower_ppl": smaller_better,
            "smaller_groups_slower": smaller_slower,
            "three_bit_dominated_fraction": dominated / max(1, len(three)),
            "gemv_dram_bandwidth_fraction": gemv_rows[0][4],
        },
        tables=tables,
        notes=notes,
        config={
            "scale": ctx.scale,
            "threads": threads,
            "eval_windows": len(evalw),
            "calibration_windows": len(calib),
            "configs": len(configs),
        },  # fmt: skip
    )


QIGEN_SMOLLM2 = Experiment(
    name="qigen-smollm2",
    method="qigen",
    title="Group-quantized SmolLM2: perplexity vs bits and group size, kernel bandwidth",
    paper=PAPER,
    claim=(
        "Generated group-quantized kernels run at the memory-bandwidth limit; smaller groups give "
        "lower perplexity but lower throughput; 4-bit beats 3-bit per byte."
    ),
    metrics=(
        Metric(
            "ppl_increase_4bit_g128",
            0.0,
            abs_tol=0.15,
            higher_is_better=False,
            source="our margin (not the paper's): 4-bit g128 within 15% of fp32 perplexity",
        ),
        Metric(
            "smaller_groups_lower_ppl",
            1.0,
            abs_tol=0.0,
            source="paper, evaluation: perplexity vs group size (g32 < g128 < row)",
        ),
        Metric(
            "smaller_groups_slower",
            1.0,
            abs_tol=0.0,
            source="paper, evaluation: throughput vs group size",
        ),
        Metric(
            "three_bit_dominated_fraction",
            1.0,
            abs_tol=0.0,
            higher_is_better=True,
            source="paper, evaluation: 4-bit gives a better size/perplexity trade-off than 3-bit",
        ),
        Metric(
            "gemv_dram_bandwidth_fraction",
            0.8,
            rel_tol=0.0,
            higher_is_better=True,
            unit="of read bandwidth",
            source="issue goal (>= 80% of measured read bandwidth)",
        ),
    ),  # fmt: skip
    run=run,
    budget_s={"quick": 1800.0, "paper": 14400.0},
)
