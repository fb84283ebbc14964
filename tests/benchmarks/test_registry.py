"""The bench registry, :func:`run_bench` and ``mlroundup bench``'s refusals.

Oracles: the registry's own text (each entry's module path names its method), benches written
here whose measurements are known, and the call counts of a probe counted by hand."""

import json
import re

import pytest
from click.testing import CliRunner

import mlroundup.benchmarks as bm
from mlroundup.benchmarks import Bench, BenchContext, run_bench
from mlroundup.benchmarks.harness import Case, System
from mlroundup.cli import cli

from . import probes

P = probes.__name__


def test_every_entry_is_a_method_bench_named_after_its_package():
    """Oracle: the path of each entry, ``mlroundup.<method>.bench:BENCH``, names the method."""
    benches = bm.all_benches()
    assert len(benches) == len(bm.BENCHMARKS)
    for path, bench in zip(bm.BENCHMARKS, benches, strict=True):
        m = re.fullmatch(r"mlroundup\.(\w+)\.bench:BENCH", path)
        assert m, path
        assert bench.name == m.group(1)
        assert bench.title and callable(bench.run)


def test_unknown_name_lists_the_valid_ones():
    with pytest.raises(KeyError) as err:
        bm.load("no-such-bench")
    for path in bm.BENCHMARKS:
        assert path.split(".")[1] in str(err.value)


def test_bad_registry_entries_are_refused(monkeypatch):
    monkeypatch.setattr(bm, "BENCHMARKS", (f"{P}:count_probe",))
    with pytest.raises(TypeError, match="not a Bench"):
        bm.all_benches()
    monkeypatch.setattr(bm, "BENCHMARKS", (f"{__name__}:TINY", f"{__name__}:TINY"))
    with pytest.raises(ValueError, match="duplicate"):
        bm.all_benches()


def _tiny_run(ctx: BenchContext) -> None:
    res = ctx.measure(Case("tiny", [System("peer", f"{P}:count_probe", {"start": 100}),
                                    System("ours", f"{P}:count_probe", ours=True),
                                    System("gone", f"{P}:unavailable_probe")],
                           threads=ctx.threads, repeats=3, warmup=2, min_pass_s=0))  # fmt: skip
    ctx.table("calls", ["side", "last call"], [[n, res[n].result and res[n].result["calls"]]
                                                for n in ("peer", "ours", "gone")])  # fmt: skip
    ctx.note("tiny done")


TINY = Bench(name="tiny", title="Tiny", run=_tiny_run)


def test_run_bench_records_every_side_in_its_own_process():
    """Oracle: the probe counts its calls; 2 warm-ups + 3 passes of one call = 5 (plus its start)."""
    report = run_bench(TINY, scale="quick", threads=1)
    assert report.tables[0].rows == [["peer", 105], ["ours", 5], ["gone", None]]
    (res,) = report.measurements
    assert res["ours"].result == {"calls": 5, "threads": 1}
    pids = {res["peer"].pid, res["ours"].pid, res["gone"].pid}
    assert len(pids) == 3 and None not in pids
    assert res["gone"].status == "unavailable"
    assert any("gone unavailable" in n for n in report.notes)  # the missing side is said
    assert "tiny done" in report.notes
    assert report.environment  # the base environment the children started from
    out = json.loads(json.dumps(report.to_json()))
    assert out["threads"] == 1 and out["scale"] == "quick"
    assert out["measurements"][0]["systems"]["peer"]["result"]["calls"] == 105


def test_a_result_that_is_not_reportable_stays_none():
    report = run_bench(
        Bench("arr", "arr", lambda ctx: ctx.measure(Case(
            "arr", [System("a", f"{P}:array_probe")], threads=1, repeats=1, min_pass_s=0))),
        threads=1,
    )  # fmt: skip
    (res,) = report.measurements
    assert res["a"].ok and res["a"].result is None


@pytest.mark.parametrize("kw", [{"scale": "huge"}, {"threads": 0}, {"threads": True}])
def test_run_bench_refuses_bad_arguments(kw):
    with pytest.raises(ValueError):
        run_bench(TINY, **kw)


def test_cli_refuses_an_unknown_name_and_an_existing_json(tmp_path):
    runner = CliRunner()
    res = runner.invoke(cli, ["bench", "no-such-bench"])
    assert res.exit_code == 2
    assert "no-such-bench" in res.output and "rosko" in res.output
    existing = tmp_path / "out.json"
    existing.write_text("mine")
    res = runner.invoke(cli, ["bench", "rosko", "--json", str(existing)])
    assert res.exit_code == 2 and "not overwriting" in res.output
    assert existing.read_text() == "mine"
