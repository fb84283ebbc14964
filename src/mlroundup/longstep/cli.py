"""``mlroundup longstep ...``: certify a step-size pattern, compute a PEP worst case, print a schedule."""

from __future__ import annotations

import json

import click
import numpy as np


def _parse_pattern(text: str) -> np.ndarray:
    """Parse ``--pattern``: comma-separated finite step sizes > 0 (a usage error otherwise)."""
    parts = [p.strip() for p in text.split(",")]
    if not text.strip() or any(p == "" for p in parts):
        raise click.BadParameter(
            f"{text!r}: give comma-separated numbers with no empty entries", param_hint="--pattern"
        )
    try:
        values = np.asarray([float(p) for p in parts], dtype=np.float64)
    except ValueError:
        raise click.BadParameter(
            f"{text!r} is not a comma-separated list of numbers", param_hint="--pattern"
        ) from None
    bad = np.flatnonzero(~(np.isfinite(values) & (values > 0)))
    if bad.size:
        i = int(bad[0])
        raise click.BadParameter(
            f"step size h[{i}]={parts[i]} must be finite and > 0", param_hint="--pattern"
        )
    return values


def _installed_solver(_ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """``--solver``: one of cvxpy's installed solvers (a usage error otherwise, exit 2)."""
    if value is None:
        return None
    import cvxpy

    installed = cvxpy.installed_solvers()
    if value.upper() not in installed:
        raise click.BadParameter(
            f"{value!r} is not an installed cvxpy solver; installed: {', '.join(installed)}",
            param=param,
        )
    return value.upper()


@click.group()
def longstep() -> None:
    """Long-step gradient descent (Grimmer 2023; silver and OBS schedules): certify, pep, schedule."""


@longstep.command()
@click.option("--pattern", required=True, help="Comma-separated normalized steps h (step = h/L).")
@click.option("--no-exact", is_flag=True, help="Skip the exact rational verification.")
@click.option("--json", "as_json", is_flag=True, help="Print the certificate as JSON.")
def certify(pattern: str, no_exact: bool, as_json: bool) -> None:
    """Find Grimmer's straightforward certificate for a step-size pattern.

    Prints the certified rate constant (avg(h) minus the certificate's epsilon), Delta, and whether
    every condition was verified in exact rational arithmetic. A pattern with no certificate is
    reported as "not certified".

    \b
    Examples:
      mlroundup longstep certify --pattern 1.5,4.9,1.5
      mlroundup longstep certify --pattern 2.9,1.5 --json
    """
    from mlroundup.longstep.certificate import certify as run

    h = _parse_pattern(pattern)
    cert = run(h, exact=not no_exact)
    if as_json:
        click.echo(
            json.dumps(
                {
                    "pattern": list(cert.pattern),
                    "certified": cert.certified,
                    "constant": cert.constant,
                    "avg_h": float(np.mean(h)),
                    "delta": cert.delta,
                    "epsilon": cert.epsilon,
                    "exact_check": cert.exact_check,
                    "exact_detail": cert.exact_detail,
                    "solve_time_s": cert.solve_time_s,
                },
                indent=2,
            )
        )
        return
    click.echo(
        f"pattern      {', '.join(f'{v:g}' for v in h)}  (t = {h.size}, avg(h) = {h.mean():.6g})"
    )
    if not cert.certified:
        click.echo(
            "result       not certified: no straightforward certificate exists for this pattern"
        )
        if cert.exact_detail:
            click.echo(f"detail       {cert.exact_detail}")
        return
    click.echo(
        f"constant     {cert.constant:.6g}   (rate: f(x_T) - f* <= L D^2 / (constant * T) + O(1/T^2))"
    )
    click.echo(f"delta        {cert.delta:.6g}")
    click.echo(f"epsilon      {cert.epsilon:.3g}")
    if cert.exact_check is None:
        click.echo("exact check  skipped")
    else:
        status = "passed" if cert.exact_check else f"FAILED ({cert.exact_detail})"
        click.echo(f"exact check  {status}")
    click.echo(f"solve time   {cert.solve_time_s:.2f} s")


def _steps(schedule_name: str | None, pattern: str | None, n: int | None) -> np.ndarray:
    from mlroundup.longstep.schedules import schedule

    if (schedule_name is None) == (pattern is None):
        raise click.UsageError("give exactly one of --schedule or --pattern")
    if pattern is not None:
        h = _parse_pattern(pattern)
        return h if n is None else np.resize(h, n)
    if n is None:
        raise click.UsageError("--schedule needs -n")
    try:
        return schedule(schedule_name, n)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--schedule") from None


@longstep.command()
@click.option(
    "--schedule", "schedule_name", help="A named schedule (see `longstep schedule --help`)."
)
@click.option("--pattern", help="Comma-separated normalized steps (repeated/cut to -n if given).")
@click.option("-n", type=click.IntRange(min=1), help="Number of steps.")
@click.option(
    "--method",
    type=click.Choice(["full", "cg"]),
    default="cg",
    show_default=True,
    help="cg: constraint generation over the interpolation pairs, each restricted SDP solved "
    "by CVXOPT with a structured KKT solver (exact: stops when no pair is violated); full: one "
    "SDP over every pair (the reference; cost grows like n^6).",
)
@click.option(
    "--solver",
    default=None,
    callback=_installed_solver,
    help="Override the solver (default CVXOPT with the structured KKT; CLARABEL is faster on "
    "the full pair set but accurate only to ~1e-5 relative on long steps; any installed cvxpy "
    "conic solver, e.g. SCS).",
)
@click.option("--json", "as_json", is_flag=True)
def pep(
    schedule_name: str | None,
    pattern: str | None,
    n: int | None,
    method: str,
    solver: str | None,
    as_json: bool,
) -> None:
    """Exact worst case of f(x_n) - f* over L-smooth convex f with ||x0 - x*|| <= R (L = R = 1).

    Solved as a performance-estimation SDP (Taylor, Hendrickx & Glineur interpolation conditions).

    \b
    Examples:
      mlroundup longstep pep --schedule silver -n 31
      mlroundup longstep pep --pattern 1.5,4.9,1.5 -n 30
    """
    from mlroundup.longstep.pep import worst_case
    from mlroundup.longstep.schedules import published_bound

    h = _steps(schedule_name, pattern, n)
    res = worst_case(h, method=method, solver=solver)
    bound = published_bound(schedule_name, h.size) if schedule_name else None
    if as_json:
        click.echo(
            json.dumps(
                {
                    "n": int(h.size),
                    "steps": h.tolist(),
                    "worst_case": res.value,
                    "published_bound": bound,
                    "solver": res.solver,
                    "status": res.status,
                    "solve_time_s": res.solve_time_s,
                },
                indent=2,
            )
        )
        return
    click.echo(f"n            {h.size}  (sum h = {h.sum():.6g})")
    click.echo(f"worst case   {res.value:.8g}  * L R^2")
    if bound is not None:
        click.echo(
            f"published    {bound:.8g}  * L R^2  (worst case / bound = {res.value / bound:.6f})"
        )
    click.echo(f"solver       {res.solver} ({res.status}), {res.solve_time_s:.2f} s")


@longstep.command("schedule")
@click.argument("name")
@click.option("-n", type=click.IntRange(min=1), required=True, help="Number of steps.")
@click.option("--json", "as_json", is_flag=True)
def schedule_cmd(name: str, n: int, as_json: bool) -> None:
    """Print the first n normalized steps h_1..h_n of schedule NAME (step = h/L).

    NAME is one of: constant, silver, obs-f, obs-g, grimmer-2, grimmer-3, grimmer-7, grimmer-15,
    grimmer-31, grimmer-63, grimmer-127.

    \b
    Examples:
      mlroundup longstep schedule obs-f -n 15
      mlroundup longstep schedule silver -n 7 --json
    """
    from mlroundup.longstep.schedules import published_bound, schedule

    try:
        h = schedule(name, n)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="NAME") from None
    bound = published_bound(name, n)
    if as_json:
        click.echo(
            json.dumps({"name": name, "n": n, "steps": h.tolist(), "published_bound": bound})
        )
        return
    for i, v in enumerate(h, start=1):
        click.echo(f"h_{i:<4d} {v:.10g}")
    click.echo(f"sum h  {h.sum():.10g}")
    if bound is not None:
        click.echo(f"published bound on f(x_n) - f*: {bound:.8g} * L R^2")
