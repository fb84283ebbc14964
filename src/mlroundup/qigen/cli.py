"""``mlroundup qigen ...``: quantize SmolLM2 with the generated kernels and generate text."""

from __future__ import annotations

import click


def _group(value: str, bits: int) -> int | None:
    """``'row'`` (whole rows) or a positive multiple of the packing unit of ``bits``-bit codes.

    Raises
    ------
    click.BadParameter
        Otherwise (exit status 2, before any model is loaded).
    """
    from mlroundup.qigen.layout import unit_shape

    if value == "row":
        return None
    uv, _ = unit_shape(bits)
    try:
        g = int(value)
    except ValueError:
        g = 0
    if g <= 0 or g % uv:
        raise click.BadParameter(
            f"{value!r}: 'row' or a positive multiple of {uv} (the packing unit of {bits}-bit "
            "codes), e.g. 32, 64, 128",
            param_hint="--group-size",
        )
    return g


@click.group("qigen")
def qigen() -> None:
    """QIGen: generated kernels for group-quantized LLM inference (arXiv 2307.03738)."""


@qigen.command("generate")
@click.argument("prompt")
@click.option("--bits", type=click.Choice(["2", "3", "4", "8"]), default="4", show_default=True)
@click.option(
    "--group-size",
    default="128",
    show_default=True,
    help="Input channels per group: 32, 64, 128, ... (a multiple of the packing unit: 16 at "
    "2 bits, 32 at 3 bits, 8 at 4 bits, 4 at 8 bits) or 'row'.",
)
@click.option("--method", type=click.Choice(["rtn", "gptq"]), default="rtn", show_default=True)
@click.option(
    "--scale-dtype",
    type=click.Choice(["float32", "float16"]),
    default="float32",
    show_default=True,
    help="Storage of each group's scale and minimum (float16 at 4 bits, group 32: the 5 bits "
    "per weight of llama.cpp's Q4_1).",
)
@click.option("--max-new-tokens", type=click.IntRange(1, 4096), default=64, show_default=True)
@click.option("--threads", type=click.IntRange(1, 1024), default=None, help="Kernel threads.")
def generate_cmd(
    prompt: str,
    bits: str,
    group_size: str,
    method: str,
    scale_dtype: str,
    max_new_tokens: int,
    threads: int | None,
) -> None:
    """Quantize SmolLM2-135M-Instruct and answer PROMPT (greedy decoding over the kernels,
    mlroundup.qigen.decode.QuantizedLlama; the output layer is quantized to 8 bits).

    \b
    Examples:
      mlroundup qigen generate "What is the capital of France?" --bits 4 --group-size 128
      mlroundup qigen generate "Name three fruits." --group-size 32 --method gptq
    (3 and 2 bits run, but this 135M model's text falls apart below 4 bits.)
    """
    from rich.console import Console

    from mlroundup.models import load_smollm2
    from mlroundup.qigen.decode import QuantizedLlama
    from mlroundup.qigen.evaluate import help_text, token_windows
    from mlroundup.qigen.nn import quantize_model

    err = Console(stderr=True)
    g = _group(group_size, int(bits))
    lm = load_smollm2(log=err.print)
    tok = lm.tokenizer
    enc = tok.apply_chat_template(
        [{"role": "user", "content": prompt}], add_generation_prompt=True, tokenize=True
    )
    ids = list(enc["input_ids"] if isinstance(enc, dict) or hasattr(enc, "keys") else enc)
    context = int(getattr(lm.model.config, "max_position_embeddings", 0) or 0)
    if context and len(ids) + max_new_tokens > context:
        raise click.BadParameter(
            f"the prompt ({len(ids)} tokens with the chat template) plus {max_new_tokens} new "
            f"tokens exceed the model's {context}-token context",
            param_hint="PROMPT / --max-new-tokens",
        )
    calib = token_windows(tok, help_text("calibration"), 256, 16) if method == "gptq" else None
    with err.status(f"quantizing to {bits} bits, group {group_size}, {method}"):
        quantize_model(lm.model, int(bits), g, method, calibration=calib, threads=threads,
                       scale_dtype=scale_dtype, log=err.print)  # fmt: skip
        dec = QuantizedLlama.from_model(
            lm.model, max_seq_len=len(ids) + max_new_tokens, threads=threads
        )
    out, timing = dec.generate(ids, max_new_tokens, eos_token_id=tok.eos_token_id)
    click.echo(tok.decode(out, skip_special_tokens=True))
    tps = timing["tokens_per_s"]  # NaN when only the first token was made (no decoding step)
    speed = f"{tps:.1f} tokens/s" if tps == tps else "n/a (one token)"
    err.print(
        f"[dim]prompt: {len(ids)} tokens in {timing['prompt_s']:.2f} s; decoding: "
        f"{speed} ({len(out)} tokens; output layer 8-bit)[/dim]"
    )
