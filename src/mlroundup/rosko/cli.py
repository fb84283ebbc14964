"""``mlroundup rosko ...``: inspect the kernels this machine gets and their tile sizes."""

from __future__ import annotations

import click

from mlroundup.cli_types import FiniteFloatRange


@click.group("rosko")
def rosko() -> None:
    """Rosko sparse x dense matmul kernels (arXiv 2307.03930)."""


@rosko.command("info")
@click.option("-m", "m", type=click.IntRange(min=1), default=4096, show_default=True)
@click.option("-k", "k", type=click.IntRange(min=1), default=4096, show_default=True)
@click.option("-n", "n", type=click.IntRange(min=1), default=512, show_default=True)
@click.option(
    "--sparsity", type=FiniteFloatRange(0.0, 1.0), default=0.9, show_default=True,
    help="Fraction of zeros in A.",
)  # fmt: skip
@click.option("--threads", type=click.IntRange(min=1), default=None, help="Default: all CPUs.")
def info(m: int, k: int, n: int, sparsity: float, threads: int | None) -> None:
    """Show the ISA paths this CPU runs, its caches, and the model's tile sizes for a shape.

    \b
    Examples:
      mlroundup rosko info
      mlroundup rosko info -m 1536 -k 576 -n 256 --sparsity 0.95
    """
    from mlroundup.rosko.codegen import ISAS
    from mlroundup.rosko.matmul import available_isas, default_threads
    from mlroundup.rosko.tiling import block_sizes
    from mlroundup.utils.cpu import cache_sizes, cpu_model

    threads = threads or default_threads()
    runnable = available_isas()
    caches = ", ".join(f"{lvl} {size // 1024} KiB" for lvl, size in cache_sizes().items())
    click.echo(f"CPU: {cpu_model()}  ({caches})")
    for name in ISAS:
        click.echo(
            f"  {name:9s} {'runs here' if name in runnable else 'compiles, cannot run here'}"
        )
    width = ISAS[runnable[0]].width
    sizes = block_sizes(m, k, n, 1.0 - sparsity, threads=threads, vector_width=max(width, 8))
    click.echo(
        f"{m}x{k} ({100 * sparsity:g}% zeros) times {k}x{n} on {threads} threads, "
        f"{runnable[0]}: MR={sizes.mr} NR={sizes.nr} KC={sizes.kc} MC={sizes.mc} NC={sizes.nc}"
    )
