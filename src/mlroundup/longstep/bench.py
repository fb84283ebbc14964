"""``mlroundup bench longstep``: our PEP oracle against PEPit on the silver step schedule.

Both sides solve the same worst-case problem (gradient descent, ``L``-smooth convex ``f``,
``||x_0 - x*|| <= 1``, ``L = 1``) for the same step list (:func:`mlroundup.longstep.schedules.silver`),
each in its own process on the fair harness (:mod:`mlroundup.benchmarks.harness`). Ours:
constraint generation with CVXOPT and a structured KKT solver
(:func:`mlroundup.longstep.pep.worst_case`). PEPit 0.5.1: all interpolation inequalities through
cvxpy, once with CVXOPT (the same solver as ours) and once with Clarabel (PEPit's fastest). A pass
longer than the time limit is stopped and reported; a solver stopped at some ``n`` is not run at
larger ``n``. Horizons: ``n = 15, 31, 63, 127`` on both sides; PEPit is capped at 300 s per
solve (``--scale quick``; 900 s at ``paper``), so at ``n = 127`` it shows only that it did not
finish within the cap.

Usage::

    mlroundup bench longstep --scale quick --json pep-bench.json
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mlroundup.benchmarks import Bench, BenchContext
from mlroundup.benchmarks.harness import Case, System, Unavailable, Workload

__all__ = ["BENCH", "pepit_worst_case"]

PEPIT_SOLVERS = ("CVXOPT", "CLARABEL")


@dataclass(frozen=True)
class Settings:
    ns: tuple[int, ...]  # horizons timed on both sides
    ours_only_ns: tuple[int, ...]  # further horizons, ours only
    repeats: int
    timeout_s: float  # limit of one solve


# Both sides at every horizon; PEPit is capped by ``timeout_s`` (one solve), shown as '>X' and not
# run at larger n once stopped (PEPit-Clarabel takes ~3 min at n = 63, far more at n = 127).
SETTINGS = {
    "quick": Settings(ns=(15, 31, 63, 127), ours_only_ns=(), repeats=2, timeout_s=300.0),
    "paper": Settings(ns=(15, 31, 63, 127), ours_only_ns=(), repeats=3, timeout_s=900.0),
}


def pepit_worst_case(steps, L: float = 1.0, R: float = 1.0, solver: str = "CLARABEL") -> float:
    """Worst case of ``f(x_n) - f*`` for gradient descent, computed by PEPit (reference).

    Parameters
    ----------
    steps : array_like, shape (n,)
        Normalized steps; the iteration is ``x_{k+1} = x_k - (h_k / L) grad f(x_k)``.
    L : float, default 1.0
        Smoothness constant.
    R : float, default 1.0
        Initial distance bound ``||x_0 - x*|| <= R``.
    solver : str, default "CLARABEL"
        cvxpy solver name passed to PEPit's cvxpy wrapper.

    Returns
    -------
    float
        PEPit's (dual) worst-case value.

    References
    ----------
    .. [1] B. Goujaud et al., "PEPit: computer-assisted worst-case analyses of first-order
       optimization methods in Python", Math. Program. Comput. (2024).
    """
    from PEPit import PEP
    from PEPit.functions import SmoothConvexFunction

    problem = PEP()
    func = problem.declare_function(SmoothConvexFunction, L=L)
    xs = func.stationary_point()
    fs = func(xs)
    x0 = problem.set_initial_point()
    problem.set_initial_condition((x0 - xs) ** 2 <= R**2)
    x = x0
    for hk in np.asarray(steps, dtype=np.float64):
        x = x - (float(hk) / L) * func.gradient(x)
    problem.set_performance_metric(func(x) - fs)
    return float(problem.solve(wrapper="cvxpy", solver=solver, verbose=0))


def ours_setup(threads: int, n: int) -> Workload:
    """Our oracle on ``n`` silver steps; a solve at ``n = 2`` first loads the solvers (untimed).
    Each call returns ``{"value", "rounds", "pairs", "status"}``."""
    from mlroundup.longstep.pep import worst_case
    from mlroundup.longstep.schedules import silver

    worst_case(silver(2))
    h = silver(n)

    def step() -> dict:
        r = worst_case(h)
        return {"value": r.value, "rounds": r.rounds, "pairs": r.n_constraints, "status": r.status}

    return Workload(step=step)


def pepit_setup(threads: int, n: int, solver: str) -> Workload:
    """PEPit with ``solver`` on ``n`` silver steps; a solve at ``n = 2`` first (untimed).

    Raises
    ------
    Unavailable
        If PEPit or the solver is not installed, or PEPit's cvxpy solve with ``solver`` fails
        here already at ``n = 2`` (the reason says which).
    """
    from mlroundup.longstep.schedules import silver

    try:
        pepit_worst_case(silver(2), solver=solver)
    except ImportError as exc:
        raise Unavailable(f"PEPit not installed ({exc})") from None
    except Exception as exc:  # cvxpy's SolverError: this solver cannot run PEPit's SDP here
        raise Unavailable(f"PEPit's cvxpy solve with {solver} fails at n = 2: "
                          f"{type(exc).__name__}: {exc}") from None  # fmt: skip
    h = silver(n)
    return Workload(step=lambda: {"value": pepit_worst_case(h, solver=solver)})


COLUMNS = [
    "n", "ours (s)", "ours CPU (s)", "status", "rounds", "pairs", "PEPit-CVXOPT (s)", "PEPit-Clarabel (s)",
    "ratio CVXOPT", "ratio Clarabel", "CPU ratio Clarabel", "ours value", "PEPit value",
    "rel. diff",
]  # fmt: skip


def _r(x, k: int = 2):
    return None if x is None else round(float(x), k)


def _ratio_cell(res, name: str, timeout_s: float):
    """PEPit / ours (wall) rounded; ``">X"`` (the time limit over ours) for a PEPit side stopped
    at the limit; None when either side has no time or ``name`` did not run."""
    r = res.results.get(name)
    if r is None:
        return None
    ratio = res.ratio(name, "ours")
    if ratio is not None:
        return _r(ratio)
    ours = res.results["ours"].median
    if r.status == "timed out" and ours:
        return f">{timeout_s / ours:.1f}"
    return None


# Goals of issue 18, printed beside the figures (checked here, never in tests).
GOAL_RATIO_N, GOAL_RATIO = 63, 10.0  # >= 10x PEPit-Clarabel (wall) at n = 63
GOAL_TIME_N, GOAL_TIME_S = 127, 120.0  # n = 127 under 2 minutes


def _goals(rows: list[list]) -> str:
    """One line: each goal, the measured figure and met / NOT met / not measured."""
    by_n = {r[0]: dict(zip(COLUMNS, r, strict=True)) for r in rows}

    def verdict(ok):
        return "not measured" if ok is None else ("met" if ok else "NOT met")

    parts = []
    r = by_n.get(GOAL_RATIO_N)
    ratio = r and r["ratio Clarabel"]
    if isinstance(ratio, str):  # '>X': PEPit stopped at the limit, a lower bound
        ok = float(ratio[1:]) >= GOAL_RATIO or None
    else:
        ok = None if ratio is None else ratio >= GOAL_RATIO
    parts.append(f"n={GOAL_RATIO_N}: PEPit-Clarabel / ours >= {GOAL_RATIO:g}x: {ratio} "
                 f"({verdict(ok)})")  # fmt: skip
    r = by_n.get(GOAL_TIME_N)
    t = r and r["ours (s)"]
    ok = None if t is None else t < GOAL_TIME_S
    parts.append(f"n={GOAL_TIME_N}: ours < {GOAL_TIME_S:g} s: {t} ({verdict(ok)})")
    for n in (GOAL_RATIO_N, GOAL_TIME_N):
        st = by_n.get(n, {}).get("status")
        parts.append(
            f"n={n}: status optimal: {st} ({verdict(None if st is None else st == 'optimal')})"
        )
    return "goals (issue 18): " + "; ".join(parts)


def run(ctx: BenchContext) -> None:
    """Time both sides at each horizon; one table of times, ratios, values and differences."""
    s = SETTINGS[ctx.scale]
    stopped: dict[str, int] = {}
    rows, why = [], []
    for n in (*s.ns, *s.ours_only_ns):
        systems = [System("ours", f"{__name__}:ours_setup", {"n": n}, ours=True)]
        if n in s.ns:
            systems += [System(f"PEPit-{sv}", f"{__name__}:pepit_setup", {"n": n, "solver": sv})
                        for sv in PEPIT_SOLVERS if sv not in stopped]  # fmt: skip
        why += [f"n={n}: PEPit-{sv} not run (stopped or unavailable at n={stopped[sv]})"
                for sv in stopped]  # fmt: skip
        res = ctx.measure(Case(f"n={n}", systems, threads=ctx.threads, repeats=s.repeats,
                               warmup=0, min_pass_s=0.0, timeout_s=s.timeout_s))  # fmt: skip
        ours = res["ours"]
        out = ours.result or {}
        row = [n, _r(ours.median), _r(ours.cpu_stats and ours.cpu_stats.median),
               out.get("status"), out.get("rounds"), out.get("pairs")]  # fmt: skip
        times, ratios, pepit_value = [], [], None
        for sv in PEPIT_SOLVERS:
            r = res.results.get(f"PEPit-{sv}")
            if r is not None and r.status in ("timed out", "unavailable"):
                stopped.setdefault(sv, n)
            times.append(_r(r.median) if r else None)
            ratios.append(_ratio_cell(res, f"PEPit-{sv}", s.timeout_s))
            if r is not None and r.ok and isinstance(r.result, dict) and pepit_value is None:
                pepit_value = r.result.get("value")
        clarabel = res.results.get("PEPit-CLARABEL")
        cpu_ratio = res.ratio("PEPit-CLARABEL", "ours", cpu=True) if clarabel else None
        if clarabel is not None and clarabel.ok and isinstance(clarabel.result, dict):
            pepit_value = clarabel.result.get("value")  # Clarabel's value first, as before
        value = out.get("value")
        diff = (None if value is None or not pepit_value
                else abs(value - pepit_value) / abs(pepit_value))  # fmt: skip
        row += [*times, *ratios, _r(cpu_ratio),
                None if value is None else float(f"{value:.10g}"), pepit_value,
                None if diff is None else float(f"{diff:.3g}")]  # fmt: skip
        rows.append(row)
    ctx.table(
        "worst case of GD, silver steps, L = R = 1: ours vs PEPit",
        COLUMNS,
        rows,
        note="seconds: median of the passes, each side in its own process; ratio = PEPit / ours "
        f"(wall; CPU ratio: process CPU time); '>X': PEPit stopped at the {s.timeout_s:.0f} s "
        "limit; empty: failed, stopped or not run. " + "; ".join(why),
    )  # fmt: skip
    ctx.note(_goals(rows))
    ctx.note(
        "ours: constraint generation (exact) over the interpolation pairs, started from the "
        "pairs of the schedule's two halves (solved first), intermediate rounds solved loosely, "
        "restricted SDPs by CVXOPT conelp with a rank-3 structured KKT solver (Clarabel as a "
        "per-round fallback); "
        "PEPit 0.5.1: all (n+2)(n+1) pairs through cvxpy. Warm-up: each process first solves "
        "n = 2 (imports, solver start-up), untimed."
    )


BENCH = Bench(name="longstep", title="PEP oracle vs PEPit", run=run)
