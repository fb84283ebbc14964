"""Bookkeeping of ``mlroundup bench longstep`` on planted timings (no process, no wall time),
and what its setups report. Oracles: ratios and differences computed by hand from the planted
values; the one-step worst case of gradient descent in closed form."""

import math

import pytest

import mlroundup.longstep.bench as lb

from .fakes import PlantedContext


def _plant(case, system):
    n = system.params["n"]
    if system.name == "ours":
        return {"wall": [1.0, 3.0], "cpu": [0.5, 0.5], "result": {"value": 0.1, "rounds": n,
                                                                   "pairs": 2 * n}}  # fmt: skip
    if system.name == "PEPit-CVXOPT" and n == 5:
        return {"status": "timed out", "reason": "pass 1 ran past 10 s"}
    return {"wall": [4.0, 8.0], "cpu": [1.0, 1.0], "result": {"value": 0.1 * (1 + 1e-6)}}


def test_table_from_planted_timings(monkeypatch):
    monkeypatch.setattr(lb, "SETTINGS", {"quick": lb.Settings((3, 5, 9), (17,), 2, 10.0)})
    ctx = PlantedContext(_plant)
    lb.run(ctx)
    (table,) = ctx.report.tables
    assert table.columns == lb.COLUMNS
    rows = {r[0]: dict(zip(lb.COLUMNS, r, strict=True)) for r in table.rows}
    assert list(rows) == [3, 5, 9, 17]
    r3 = rows[3]
    assert r3["ours (s)"] == 2.0 and r3["ours CPU (s)"] == 0.5  # medians of [1, 3], [0.5, 0.5]
    assert (r3["rounds"], r3["pairs"]) == (3, 6)
    assert r3["PEPit-CVXOPT (s)"] == 6.0 and r3["ratio CVXOPT"] == 3.0  # 6 / 2
    assert r3["ratio Clarabel"] == 3.0 and r3["CPU ratio Clarabel"] == 2.0  # 1 / 0.5
    assert r3["rel. diff"] == pytest.approx(1e-6 / (1 + 1e-6), rel=1e-3)
    # stopped at the limit: a lower bound, limit / ours = 10 / 2
    assert rows[5]["PEPit-CVXOPT (s)"] is None and rows[5]["ratio CVXOPT"] == ">5.0"
    # not started again at a larger n; Clarabel still runs
    names9 = [s.name for s in ctx.cases[2].systems]
    assert names9 == ["ours", "PEPit-CLARABEL"]
    assert rows[9]["ratio CVXOPT"] is None and rows[9]["ratio Clarabel"] == 3.0
    assert [s.name for s in ctx.cases[3].systems] == ["ours"]  # ours only
    assert rows[17]["PEPit value"] is None and rows[17]["ours value"] == 0.1
    assert "n=9: PEPit-CVXOPT not run (stopped or unavailable at n=5)" in table.note
    assert any("PEPit-CVXOPT timed out" in n for n in ctx.report.notes)


def test_ours_setup_returns_the_one_step_worst_case():
    """One step h: exact worst case max(1/(4h+2), (1-h)^2/2) (Drori & Teboulle 2014); silver's
    first step is sqrt 2."""
    work = lb.ours_setup(threads=1, n=1)
    out = work.step()
    h = math.sqrt(2)
    assert out["value"] == pytest.approx(max(1 / (4 * h + 2), (1 - h) ** 2 / 2), rel=1e-6)
    assert out["rounds"] >= 1 and out["pairs"] >= 1


def test_an_unavailable_solver_is_not_started_again(monkeypatch):
    monkeypatch.setattr(lb, "SETTINGS", {"quick": lb.Settings((3, 5), (), 2, 10.0)})

    def plant(case, system):
        if system.name == "PEPit-CVXOPT":
            return {"status": "unavailable", "reason": "SolverError"}
        return _plant(case, system)

    ctx = PlantedContext(plant)
    lb.run(ctx)
    assert [s.name for s in ctx.cases[1].systems] == ["ours", "PEPit-CLARABEL"]
    assert "n=5: PEPit-CVXOPT not run (stopped or unavailable at n=3)" in ctx.report.tables[0].note


def test_goals_line_from_planted_rows():
    """Oracle: the goals of issue 18 (>= 10x at n = 63, n = 127 under 120 s, status optimal)
    judged by hand on planted rows: 12.5x met, 130 s NOT met, '>3.0' (PEPit stopped) not a
    verdict, a missing row not measured."""

    def row(n, t, status, ratio):
        r = dict.fromkeys(lb.COLUMNS)
        r.update({"n": n, "ours (s)": t, "status": status, "ratio Clarabel": ratio})
        return [r[c] for c in lb.COLUMNS]

    line = lb._goals([row(63, 8.0, "optimal", 12.5), row(127, 130.0, "optimal_inaccurate", None)])
    assert "12.5 (met)" in line
    assert "ours < 120 s: 130.0 (NOT met)" in line
    assert "n=63: status optimal: optimal (met)" in line
    assert "n=127: status optimal: optimal_inaccurate (NOT met)" in line
    line = lb._goals([row(63, 100.0, "optimal", ">3.0")])
    assert ">3.0 (not measured)" in line and "ours < 120 s: None (not measured)" in line
