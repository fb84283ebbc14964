"""Benchmark: our PEP oracle against PEPit on the silver step schedule.

Both sides solve the same worst-case problem (gradient descent, ``L``-smooth convex ``f``,
``||x_0 - x*|| <= 1``, ``L = 1``) for the same step list, in the same run. Ours: constraint
generation with CVXOPT and a structured KKT solver (:func:`mlroundup.longstep.pep.worst_case`,
``method="cg"``). PEPit: all interpolation inequalities through cvxpy, once with CVXOPT (the
same solver as ours) and once with Clarabel (PEPit's fastest). PEPit runs in a child process
with a time limit, so that a run that would take too long is cut off and reported as such.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import time
from collections.abc import Callable, Sequence

import numpy as np

__all__ = ["silver_steps", "pepit_worst_case", "run", "bench"]


def silver_steps(n: int) -> np.ndarray:
    """Silver step schedule ``h_t = 1 + rho^(nu(t) - 1)``, ``t = 1..n``.

    Parameters
    ----------
    n : int
        Number of steps (``>= 1``).

    Returns
    -------
    numpy.ndarray, shape (n,), float64
        Normalized step sizes (actual step ``h_t / L``).

    Raises
    ------
    ValueError
        If ``n`` is not a positive integer.

    Notes
    -----
    ``rho = 1 + sqrt(2)`` is the silver ratio and ``nu(t)`` the 2-adic valuation of ``t``
    (the exponent of 2 in ``t``); e.g. ``n = 7`` gives
    ``[sqrt2, 2, sqrt2, 2 + sqrt2, sqrt2, 2, sqrt2]``. Computed locally so that the benchmark
    does not depend on other modules.

    References
    ----------
    .. [1] J. M. Altschuler and P. A. Parrilo, "Acceleration by stepsize hedging II: silver
       stepsize schedule for smooth convex optimization", arXiv:2309.16530 (2023), Sec. 1.
    """
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
        raise ValueError(f"invalid n={n!r}: must be an integer >= 1")
    rho = 1.0 + np.sqrt(2.0)
    t = np.arange(1, int(n) + 1)
    nu = np.zeros(t.size, dtype=np.int64)
    rest = t.copy()
    while np.any(rest % 2 == 0):
        even = rest % 2 == 0
        nu[even] += 1
        rest[even] //= 2
    return 1.0 + rho ** (nu - 1.0)


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

    Notes
    -----
    Uses PEPit 0.5.1: ``PEP``, ``SmoothConvexFunction``, ``set_initial_condition``,
    ``set_performance_metric``, ``solve(wrapper="cvxpy", solver=...)``.

    References
    ----------
    .. [1] B. Goujaud et al., "PEPit: computer-assisted worst-case analyses of first-order
       optimization methods in Python", Math. Program. Comput. (2024).
    """
    from PEPit import PEP
    from PEPit.functions import SmoothConvexFunction

    h = np.asarray(steps, dtype=np.float64)
    problem = PEP()
    func = problem.declare_function(SmoothConvexFunction, L=L)
    xs = func.stationary_point()
    fs = func(xs)
    x0 = problem.set_initial_point()
    problem.set_initial_condition((x0 - xs) ** 2 <= R**2)
    x = x0
    for hk in h:
        x = x - (float(hk) / L) * func.gradient(x)
    problem.set_performance_metric(func(x) - fs)
    return float(problem.solve(wrapper="cvxpy", solver=solver, verbose=0))


def _pepit_child(steps, solver: str, queue) -> None:  # pragma: no cover - runs in a child
    t0 = time.perf_counter()
    c0 = time.process_time()
    try:
        val = pepit_worst_case(steps, solver=solver)
        queue.put(("ok", val, time.perf_counter() - t0, time.process_time() - c0))
    except Exception as exc:  # report the failure to the parent
        queue.put(("error", repr(exc), time.perf_counter() - t0, time.process_time() - c0))


def _timed_pepit(steps: np.ndarray, solver: str, timeout_s: float) -> dict:
    """PEPit in a child process: value, wall and CPU seconds, or a note on timeout/failure."""
    ctx = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_pepit_child, args=(np.asarray(steps), solver, queue))
    t0 = time.perf_counter()
    proc.start()
    try:
        kind, val, wall, cpu = queue.get(timeout=timeout_s)
    except Exception:  # queue.Empty: the run exceeded the time limit
        proc.terminate()
        proc.join()
        return {
            "value": None,
            "wall_s": None,
            "cpu_s": None,
            "note": f"capped: stopped after {time.perf_counter() - t0:.0f} s",
        }
    proc.join()
    if kind != "ok":
        return {"value": None, "wall_s": wall, "cpu_s": cpu, "note": f"failed: {val}"}
    return {"value": float(val), "wall_s": wall, "cpu_s": cpu, "note": ""}


def run(
    ns: Sequence[int] = (15, 31, 63),
    schedule: str = "silver",
    pepit_solvers: Sequence[str] = ("CVXOPT", "CLARABEL"),
    pepit_timeout_s: float = 600.0,
    ours_only_ns: Sequence[int] = (),
    progress: Callable[[str], None] | None = None,
) -> list[dict]:
    """Time our PEP oracle and PEPit on the same step lists, in the same run.

    Parameters
    ----------
    ns : sequence of int, default (15, 31, 63)
        Horizons ``n`` (numbers of steps) timed on both sides, each ``>= 1``.
    schedule : {"silver", "constant"}, default "silver"
        Step list: the silver schedule (see :func:`silver_steps`) or constant ``h = 1``.
    pepit_solvers : sequence of str, default ("CVXOPT", "CLARABEL")
        cvxpy solvers PEPit is run with (CVXOPT: the same solver as ours; Clarabel: PEPit's
        fastest).
    pepit_timeout_s : float, default 600
        Wall-clock limit of one PEPit run (seconds); longer runs are stopped and reported as
        capped (``None`` times). Once a solver is capped at some ``n``, larger ``n`` are skipped
        for it.
    ours_only_ns : sequence of int, default ()
        Further horizons timed for ours only (e.g. ``(127,)``).
    progress : callable(str), optional
        Receives a status message before each solve.

    Returns
    -------
    list of dict
        One dict per ``n`` with keys ``n``, ``ours_s`` / ``ours_cpu_s`` (wall / CPU seconds of
        :func:`~mlroundup.longstep.pep.worst_case`), ``ours_value``, ``ours_rounds``,
        ``ours_pairs``, ``ours_solver``, ``ours_status``, and for each PEPit solver ``S``
        (lower case) ``pepit_S_s``, ``pepit_S_cpu_s``, ``pepit_S_value``, ``ratio_S``
        (``pepit_S_s / ours_s``, wall), ``ratio_S_at_least`` (``timeout / ours_s`` when PEPit
        was capped), ``cpu_ratio_S`` and ``rel_diff_S`` (``|ours - pepit| / |pepit|``),
        ``pepit_S_note`` (why a PEPit cell is empty: failed, capped, skipped); plus
        ``schedule``. Failed or capped PEPit runs have ``None`` times and values.

    Raises
    ------
    ValueError
        On an unknown ``schedule``, an invalid ``n`` or a non-positive ``pepit_timeout_s``.

    Notes
    -----
    A tiny warm-up solve (``n = 2``) runs first so that import and solver start-up costs are
    not charged to the first ``n``; PEPit runs in a forked child (its own imports are warm).
    Wall times on a shared machine are inflated by other load; CPU times
    (``time.process_time`` of the solving process) are less so.
    """
    from mlroundup.longstep.pep import worst_case

    if schedule not in ("silver", "constant"):
        raise ValueError(f"invalid schedule={schedule!r}: must be 'silver' or 'constant'")
    ns = [int(n) for n in ns]
    extra = [int(n) for n in ours_only_ns]
    for n in ns + extra:
        if n < 1:
            raise ValueError(f"invalid n={n!r} in ns: must be >= 1")
    if not (float(pepit_timeout_s) > 0):
        raise ValueError(f"invalid pepit_timeout_s={pepit_timeout_s!r}: must be > 0")

    def say(msg: str) -> None:
        if progress is not None:
            progress(msg)

    def steps_for(n: int) -> np.ndarray:
        return silver_steps(n) if schedule == "silver" else np.ones(n)

    say("warm-up solves (n=2)")
    worst_case(steps_for(2))
    pepit_worst_case(steps_for(2), solver="CLARABEL")

    capped: dict[str, int] = {}
    rows = []
    for n in ns + extra:
        h = steps_for(n)
        say(f"n={n}: our PEP oracle (constraint generation, CVXOPT)")
        t0 = time.perf_counter()
        ours = worst_case(h)
        ours_s = time.perf_counter() - t0
        row = {
            "n": n,
            "schedule": schedule,
            "ours_s": ours_s,
            "ours_cpu_s": ours.cpu_time_s,
            "ours_value": ours.value,
            "ours_rounds": ours.rounds,
            "ours_pairs": ours.n_constraints,
            "ours_solver": ours.solver,
            "ours_status": ours.status,
        }
        for solver in pepit_solvers:
            key = solver.lower()
            if n in extra and n not in ns:
                res = {"value": None, "wall_s": None, "cpu_s": None, "note": "not run (ours only)"}
            elif solver in capped:
                res = {
                    "value": None,
                    "wall_s": None,
                    "cpu_s": None,
                    "note": f"skipped: capped at n={capped[solver]}",
                }
            else:
                say(f"n={n}: PEPit ({solver}), limit {pepit_timeout_s:.0f} s")
                res = _timed_pepit(h, solver, float(pepit_timeout_s))
                if res["note"].startswith("capped"):
                    capped[solver] = n
            val = res["value"]
            ok = val is not None and res["wall_s"] is not None
            row[f"pepit_{key}_s"] = res["wall_s"] if ok else None
            row[f"pepit_{key}_cpu_s"] = res["cpu_s"] if ok else None
            row[f"pepit_{key}_value"] = val
            row[f"pepit_{key}_note"] = res["note"]
            row[f"ratio_{key}"] = res["wall_s"] / ours_s if ok else None
            # A capped run still bounds the ratio from below.
            row[f"ratio_{key}_at_least"] = (
                float(pepit_timeout_s) / ours_s if res["note"].startswith("capped") else None
            )
            row[f"cpu_ratio_{key}"] = res["cpu_s"] / max(ours.cpu_time_s, 1e-9) if ok else None
            row[f"rel_diff_{key}"] = abs(ours.value - val) / abs(val) if ok else None
        rows.append(row)
        say(f"n={n}: ours {ours_s:.2f}s ({ours.rounds} rounds, {ours.n_constraints} pairs)")
    return rows


def _ratio_cell(row: dict, key: str):
    """Measured ratio, ``">X"`` for a capped PEPit run, or ``None``."""
    if row[f"ratio_{key}"] is not None:
        return round(float(row[f"ratio_{key}"]), 2)
    if row.get(f"ratio_{key}_at_least") is not None:
        return f">{row[f'ratio_{key}_at_least']:.1f}"
    return None


def bench(scale: str, log: Callable[[str], None]):
    """``mlroundup bench longstep``: our PEP oracle against PEPit (CVXOPT and Clarabel).

    Parameters
    ----------
    scale : {"quick", "paper"}
        ``"quick"``: ``n = 15, 31, 63`` on both sides (PEPit runs capped at 300 s each).
        ``"paper"``: the same plus ``n = 127`` for ours only (PEPit capped at 900 s).
    log : callable(str)
        Progress messages.

    Returns
    -------
    mlroundup.benchmarks.BenchReport
        One table (times, ratios PEPit / ours, values, relative differences) and notes with the
        load average and the caveats.

    Raises
    ------
    ValueError
        On an unknown ``scale``.
    """
    from mlroundup.benchmarks import BenchReport
    from mlroundup.experiments.schema import Table

    if scale not in ("quick", "paper"):
        raise ValueError(f"invalid scale={scale!r}: must be 'quick' or 'paper'")
    load_before = os.getloadavg()
    rows = run(
        ns=(15, 31, 63),
        pepit_timeout_s=300.0 if scale == "quick" else 900.0,
        ours_only_ns=(127,) if scale == "paper" else (),
        progress=log,
    )
    load_after = os.getloadavg()

    def r(x, k=3):
        return None if x is None else round(float(x), k)

    table = Table(
        title="worst case of GD, silver steps, L = R = 1: ours vs PEPit",
        columns=[
            "n",
            "ours (s)",
            "ours CPU (s)",
            "rounds",
            "pairs",
            "PEPit-CVXOPT (s)",
            "PEPit-Clarabel (s)",
            "ratio CVXOPT",
            "ratio Clarabel",
            "CPU ratio Clarabel",
            "ours value",
            "PEPit value",
            "rel. diff",
        ],
        rows=[
            [
                row["n"],
                r(row["ours_s"], 2),
                r(row["ours_cpu_s"], 2),
                row["ours_rounds"],
                row["ours_pairs"],
                r(row["pepit_cvxopt_s"], 2),
                r(row["pepit_clarabel_s"], 2),
                _ratio_cell(row, "cvxopt"),
                _ratio_cell(row, "clarabel"),
                r(row["cpu_ratio_clarabel"], 2),
                float(f"{row['ours_value']:.10g}"),
                row["pepit_clarabel_value"]
                if row["pepit_clarabel_value"] is not None
                else row["pepit_cvxopt_value"],
                float(f"{row['rel_diff_clarabel']:.3g}")
                if row["rel_diff_clarabel"] is not None
                else None,
            ]
            for row in rows
        ],
        note="ratio = PEPit wall time / ours (same run); '>X': PEPit capped at the time limit; "
        "empty cells: PEPit failed, capped or not run. "
        + "; ".join(
            f"n={row['n']}: "
            + ", ".join(
                f"PEPit-{k} {row[f'pepit_{k}_note']}"
                for k in ("cvxopt", "clarabel")
                if row[f"pepit_{k}_note"]
            )
            for row in rows
            if any(row[f"pepit_{k}_note"] for k in ("cvxopt", "clarabel"))
        ),
    )
    notes = [
        f"load average (1, 5, 15 min) before: {tuple(round(x, 2) for x in load_before)}, "
        f"after: {tuple(round(x, 2) for x in load_after)} on {os.cpu_count()} CPUs"
        + (
            " -- the machine was shared, wall times are inflated"
            if max(load_before[0], load_after[0]) > (os.cpu_count() or 1)
            else ""
        ),
        "ours: constraint generation (exact) over the interpolation pairs, restricted SDPs by "
        "CVXOPT conelp with a rank-3 structured KKT solver (Clarabel as a per-round fallback); "
        "PEPit 0.5.1: all (n+2)(n+1) pairs through cvxpy.",
    ]
    return BenchReport(name="longstep", title="PEP oracle vs PEPit", tables=[table], notes=notes)
