"""The fair harness's properties, each against an oracle the harness does not compute."""

import json
import subprocess
import sys

import numpy as np
import pytest

from mlroundup.benchmarks.harness import Case, System, measure, redacted, summarize

from . import probes

P = probes.__name__


def _sys(label, fn, **params):
    return System(label, f"{P}:{fn}", params)


SCRIPT = r"""
import json, os, sys
sys.path[:0] = json.loads(sys.argv[1])
from mlroundup.benchmarks.harness import Case, System, measure
os.environ["LATE_VARIABLE"] = "set by the parent after it started"
os.environ["PLANTED"] = "changed by the parent"
P = sys.argv[2]
res = measure(Case("env", [System("a", P + ":env_probe"),
                           System("b", P + ":env_probe", env={"ONLY_B": "1"})],
                   threads=1, repeats=1, min_pass_s=0))
print(json.dumps({n: {"env": r.info["env"], "env_set": r.env_set, "status": r.status,
                      "reason": r.reason} for n, r in res.results.items()}))
"""


def test_child_gets_the_original_environment_not_the_parents_later_changes():
    """Oracle: the environment we start the parent with (a dict built here). The parent changes
    one of its variables and adds another after it started; each child must see exactly the
    starting dict, plus the one variable its own System declares."""
    # LANG set: without a locale, Python itself adds LC_CTYPE at start-up (PEP 538 coercion)
    start_env = {"PATH": "/usr/bin:/bin", "PLANTED": "original", "HOME": "/nonexistent",
                 "LANG": "C.UTF-8"}  # fmt: skip
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, json.dumps(sys.path), P],
        env=start_env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    assert got["a"]["status"] == "ok", got["a"]["reason"]
    assert got["a"]["env"] == start_env
    assert got["b"]["env"] == {**start_env, "ONLY_B": "1"}
    assert got["b"]["env_set"] == {"ONLY_B": "1"} and got["a"]["env_set"] == {}


def test_passes_interleave_after_the_warm_ups(tmp_path):
    """Oracle: the order written by the children themselves into one file, against the order
    derived by hand: setups one after another (each with its 2 warm-up calls), then the timed
    passes alternating A, B, A, B, A, B (one call per pass with min_pass_s=0)."""
    log = tmp_path / "calls.txt"
    case = Case("order", [_sys("A", "order_probe", name="A", path=str(log)),
                          _sys("B", "order_probe", name="B", path=str(log))],
                threads=1, repeats=3, warmup=2, min_pass_s=0)  # fmt: skip
    res = measure(case)
    assert log.read_text().split() == ["A", "A", "B", "B", "A", "B", "A", "B", "A", "B"]
    assert res.order == [("A", 0), ("B", 0), ("A", 1), ("B", 1), ("A", 2), ("B", 2)]
    assert [len(res[n].wall_s) for n in "AB"] == [3, 3]
    assert res["A"].calls_per_pass == 1


def test_idle_sides_are_stopped_while_another_is_timed(tmp_path):
    """Oracle: the kernel's scheduler state of the idle side (``/proc/PID/stat``: ``T`` =
    stopped), read by the running side during each of its calls."""
    pid_file, states = tmp_path / "pid", tmp_path / "states"
    case = Case("stop", [_sys("idle", "pid_probe", path=str(pid_file)),
                         _sys("busy", "state_probe", pid_path=str(pid_file), out=str(states))],
                threads=1, repeats=3, warmup=1, min_pass_s=0)  # fmt: skip
    res = measure(case)
    assert all(r.ok for r in res.results.values())
    assert states.read_text().split() == ["T"] * 4  # 1 warm-up + 3 passes


def test_median_and_spread_against_numpy():
    """Oracle: NumPy's median and percentiles on planted timings (odd and even counts), and the
    hand values of a small list."""
    rng = np.random.default_rng(0)
    for n in (1, 2, 5, 6, 11):
        planted = rng.lognormal(-6, 0.5, n).tolist()
        s = summarize(planted)
        assert s.median == pytest.approx(np.median(planted), rel=1e-12)
        assert s.q1 == pytest.approx(np.percentile(planted, 25), rel=1e-12)
        assert s.q3 == pytest.approx(np.percentile(planted, 75), rel=1e-12)
        assert (s.min, s.max, s.n) == (min(planted), max(planted), n)
    s = summarize([4.0, 1.0, 3.0, 2.0])  # sorted 1 2 3 4: median 2.5, q1 1.75, q3 3.25
    assert (s.median, s.q1, s.q3, s.iqr) == (2.5, 1.75, 3.25, 1.5)
    for bad in ([], [1.0, float("nan")], [-1.0]):
        with pytest.raises(ValueError, match="invalid seconds"):
            summarize(bad)


def test_reported_stats_are_those_of_the_reported_passes(tmp_path):
    """Oracle: NumPy on the per-pass seconds the result carries; the ratio by hand from them."""
    log = tmp_path / "calls.txt"
    res = measure(Case("stats", [_sys("A", "order_probe", name="A", path=str(log)),
                                 _sys("B", "order_probe", name="B", path=str(log))],
                       threads=1, repeats=5, min_pass_s=0.001))  # fmt: skip
    for name in "AB":
        r = res[name]
        assert r.stats.median == pytest.approx(np.median(r.wall_s))
        assert r.cpu_stats.median == pytest.approx(np.median(r.cpu_s))
        assert r.to_json()["wall"]["iqr"] == pytest.approx(
            np.percentile(r.wall_s, 75) - np.percentile(r.wall_s, 25)
        )
    assert res.ratio("A", "B") == pytest.approx(
        np.median(res["A"].wall_s) / np.median(res["B"].wall_s)
    )


def test_a_peer_that_crashes_is_reported_not_hidden(tmp_path):
    """Oracle: what each probe does by construction -- exit code 7 after printing a line on its
    2nd call, an exception in setup, an Unavailable, a pass longer than the time limit -- must
    come back as that status with that evidence, while the healthy side keeps all its passes."""
    log = tmp_path / "calls.txt"
    case = Case(
        "crash",
        [_sys("ours", "order_probe", name="ours", path=str(log)),
         _sys("crasher", "crash_probe", crash_on_call=2, path=str(log)),
         _sys("raiser", "raise_probe"), _sys("absent", "unavailable_probe"),
         _sys("sleeper", "sleep_probe", seconds=60.0)],
        threads=1, repeats=3, warmup=0, min_pass_s=0, timeout_s=2.0,
    )  # fmt: skip
    res = measure(case)
    assert res["ours"].ok and len(res["ours"].wall_s) == 3
    crasher = res["crasher"]
    assert crasher.status == "crashed" and not crasher.ok and crasher.median is None
    assert "exit code 7" in crasher.reason and "probe: about to crash" in crasher.reason
    assert len(crasher.wall_s) == 1  # its first pass ran
    assert res["raiser"].status == "crashed"
    assert "probe setup failed on purpose" in res["raiser"].reason
    assert res["absent"].status == "unavailable"
    assert res["absent"].reason == "the probe's library is not installed"
    assert res["sleeper"].status == "timed out" and "ran past 2 s" in res["sleeper"].reason
    problems = res.problems()
    assert len(problems) == 4 and all(p.startswith("crash: ") for p in problems)
    assert res.ratio("crasher", "ours") is None
    doc = json.loads(json.dumps(res.to_json()))
    assert (
        doc["systems"]["crasher"]["status"] == "crashed"
        and doc["systems"]["crasher"]["wall"] is None
    )


def test_same_thread_count_recorded_for_every_side():
    """Oracle: the case's thread count: each side's setup received it, and every thread pool
    threadpoolctl found in each child reports it."""
    res = measure(Case("threads", [_sys("a", "env_probe"), _sys("b", "env_probe")],
                       threads=2, repeats=1, min_pass_s=0))  # fmt: skip
    for r in res.results.values():
        assert r.info["threads"] == 2 and r.thread_settings["requested"] == 2
        pools = r.thread_settings["threadpools"]
        assert pools and all(p["num_threads"] == 2 for p in pools)
        assert r.env_changed_in_child == {"set": {}, "unset": []}


def test_bad_declarations_are_refused():
    """Oracle: the documented rules of System and Case."""
    with pytest.raises(ValueError, match="module:function"):
        System("x", "no_colon")
    with pytest.raises(ValueError, match="env"):
        System("x", "m:f", env={"A": 1})
    with pytest.raises(ValueError, match="names unique"):
        Case("c", [System("x", "m:f"), System("x", "m:g")], threads=1)
    with pytest.raises(ValueError, match="threads"):
        Case("c", [System("x", "m:f")], threads=0)


def test_secret_looking_values_are_redacted():
    """Oracle: names chosen by hand on either side of the rule."""
    env = {"HF_TOKEN": "t", "AWS_SECRET_ACCESS_KEY": "s", "OPENAI_API_KEY": "k", "PATH": "/bin",
           "OMP_NUM_THREADS": "2"}  # fmt: skip
    assert redacted(env) == {"AWS_SECRET_ACCESS_KEY": "<redacted>", "HF_TOKEN": "<redacted>",
                             "OMP_NUM_THREADS": "2", "OPENAI_API_KEY": "<redacted>",
                             "PATH": "/bin"}  # fmt: skip
