"""``mlroundup qigen ...``: quantize SmolLM2 with the generated kernels and generate text."""

from __future__ import annotations

import click


def _group(value: str) -> int | None:
    return None if value in ("row", "-1", "0") else int(value)


@click.group("qigen")
def qigen() -> None:
    """QIGen: generated kernels for group-quantized LLM inference (arXiv 2307.03738)."""


@qigen.command("generate")
@click.argument("prompt")
@click.option("--bits", type=click.Choice(["2", "3", "4", "8"]), default="4", show_default=True)
@click.option("--group-size", default="128", show_default=True, help="32, 64, 128, ... or 'row'.")
@click.option("--method", type=click.Choice(["rtn", "gptq"]), default="rtn", show_default=True)
@click.option("--max-new-tokens", type=click.IntRange(1, 4096), default=64, show_default=True)
@click.option("--threads", type=click.IntRange(1, 1024), default=None, help="Kernel threads.")
def generate_cmd(
    prompt: str, bits: str, group_size: str, method: str, max_new_tokens: int, threads: int | None
) -> None:
    """Quantize SmolLM2-135M-Instruct and answer PROMPT (greedy decoding).

    \b
    Examples:
      mlroundup qigen generate "What is the capital of France?" --bits 4 --group-size 128
      mlroundup qigen generate "Name three fruits." --bits 3 --group-size 64 --method gptq
    """
    from rich.console import Console

    from mlroundup.models import load_smollm2
    from mlroundup.qigen.evaluate import generate as gen
    from mlroundup.qigen.evaluate import help_text, token_windows
    from mlroundup.qigen.nn import quantize_model

    err = Console(stderr=True)
    try:
        g = _group(group_size)
    except ValueError:
        raise click.BadParameter(
            f"{group_size!r}: an int or 'row'", param_hint="--group-size"
        ) from None
    lm = load_smollm2(log=err.print)
    calib = (
        token_windows(lm.tokenizer, help_text("calibration"), 256, 16) if method == "gptq" else None
    )
    with err.status(f"quantizing to {bits} bits, group {group_size}, {method}"):
        quantize_model(
            lm.model, int(bits), g, method, calibration=calib, threads=threads, log=err.print
        )
    text, n, dt = gen(lm.model, lm.tokenizer, prompt, max_new_tokens)
    click.echo(text)
    err.print(f"[dim]{n} tokens in {dt:.2f} s ({n / dt:.1f} tokens/s, prompt included)[/dim]")
