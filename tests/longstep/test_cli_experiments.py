"""The longstep command line and registered experiments.

Oracles: Drori & Teboulle's tight constant-step rate 1/(4n+2); the silver schedule's first terms
(sqrt 2, 2, sqrt 2, 2 + sqrt 2, ...; Altschuler & Parrilo 2023) derived by hand; Grimmer (2023)
Table 1's certified constant 2.633 for the pattern (1.5, 4.9, 1.5).
"""

import json
import math

import pytest

from mlroundup.cli import main

RHO = 1 + math.sqrt(2)


def test_schedule_command_prints_silver(capsys):
    assert main(["longstep", "schedule", "silver", "-n", "4", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    expected = [math.sqrt(2), 2.0, math.sqrt(2), 1 + RHO]  # h_t = 1 + rho^(nu(t)-1)
    assert out["steps"] == pytest.approx(expected, rel=1e-14)


def test_schedule_command_unknown_name_is_usage_error(capsys):
    assert main(["longstep", "schedule", "golden", "-n", "4"]) == 2
    assert "silver" in capsys.readouterr().err  # the message lists the valid names


def test_pep_command_constant_step(capsys):
    n = 5
    assert main(["longstep", "pep", "--schedule", "constant", "-n", str(n), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["worst_case"] == pytest.approx(1 / (4 * n + 2), rel=1e-6)


def test_pep_command_needs_one_source(capsys):
    assert main(["longstep", "pep", "-n", "3"]) == 2
    assert main(["longstep", "pep", "--pattern", "1,x"]) == 2


@pytest.mark.parametrize("pattern", ["1.0,-2.0", "nan,1.5", "inf", "0", "1.5,,2"])
def test_bad_patterns_are_usage_errors(pattern, capsys):
    # oracle: the rule - a non-finite or non-positive step is bad input, named in the message
    assert main(["longstep", "pep", f"--pattern={pattern}", "-n", "3"]) == 2
    assert main(["longstep", "certify", f"--pattern={pattern}"]) == 2
    err = capsys.readouterr().err
    assert "--pattern" in err and "Traceback" not in err


def test_pep_unknown_schedule_is_usage_error(capsys):
    assert main(["longstep", "pep", "--schedule", "bogus", "-n", "5"]) == 2
    assert "silver" in capsys.readouterr().err


def test_certify_command(capsys):
    assert main(["longstep", "certify", "--pattern", "1.5,4.9,1.5", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["certified"] is True and out["exact_check"] is True
    assert out["constant"] == pytest.approx(2.633, abs=0.0005)  # Grimmer Table 1


@pytest.mark.slow
def test_reproduce_longstep_quick(tmp_path):
    """End to end: the three longstep experiments at quick scale reproduce their claims."""
    from mlroundup.experiments.registry import select
    from mlroundup.experiments.runner import reproduce
    from mlroundup.experiments.schema import validate

    run_dir, doc = reproduce(select(["longstep"]), out=tmp_path, show_progress=False)
    validate(doc)
    by_name = {e["name"]: e for e in doc["experiments"]}
    assert set(by_name) == {"longstep-certificates", "longstep-worst-case", "longstep-real-data"}
    for e in by_name.values():
        assert e["status"] == "ok", e["error"]
    cert = {m["name"]: m for m in by_name["longstep-certificates"]["metrics"]}
    for t in (2, 3, 7, 15, 31, 63):
        assert cert[f"constant t={t}"]["verdict"] == "reproduced"
    wc = {m["name"]: m for m in by_name["longstep-worst-case"]["metrics"]}
    assert wc["constant: worst case x (4n+2)"]["ours"] == pytest.approx(1.0, rel=1e-5)
    assert wc["silver: worst case / bound"]["ours"] <= 1.0 + 1e-4
    assert (run_dir / "index.html").stat().st_size > 10_000
