"""The registry: every entry loads and declares what the report needs (oracle: the issue's rules)."""

import math
import re

import pytest

from mlroundup.experiments import registry
from mlroundup.experiments.registry import Metric


def test_every_entry_loads_with_unique_names():
    exps = registry.all_experiments()
    assert len(exps) == len(registry.EXPERIMENTS)
    assert len({e.name for e in exps}) == len(exps)


@pytest.mark.parametrize("path", registry.EXPERIMENTS)
def test_entry_declares_paper_claim_and_metrics(path):
    exp = registry._load(path)
    assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", exp.name)
    assert re.fullmatch(r"\d{4}\.\d{4,5}", exp.paper.arxiv)
    assert exp.paper.authors and exp.paper.title
    assert exp.claim.strip() and exp.claim.strip()[-1] == "."
    assert exp.metrics, "an experiment compares at least one published value"
    for m in exp.metrics:
        if isinstance(m, registry.Claim):  # a yes/no finding, with where the paper states it
            assert m.statement and m.source, m.name
            continue
        # a published value, or our own target with its reason (never mixed in one column)
        assert math.isfinite(m.reference)
        assert m.paper_value is not None or m.target_reason
        assert m.rel_tol >= 0 and m.abs_tol >= 0
        # yes/no findings are Claims, not numbers coded as 1/0
        assert m.unit not in ("1/0", "1 = yes"), m.name
    assert len(set(exp.metric_names)) == len(exp.metrics)


def test_select_by_name_and_method_and_unknown():
    exps = registry.all_experiments()
    first = exps[0]
    assert registry.select([first.name]) == [first]
    by_method = registry.select([first.method])
    assert by_method == [e for e in exps if e.method == first.method]
    with pytest.raises(KeyError, match="unknown experiment 'nope'; valid names: .*" + first.name):
        registry.select(["nope"])


# Verdicts: math.isclose semantics, checked on hand-picked numbers.
@pytest.mark.parametrize(
    ("metric", "ours", "verdict"),
    [
        (Metric("m", 2.2, rel_tol=0, abs_tol=0.005), 2.204, "reproduced"),
        (Metric("m", 2.2, rel_tol=0, abs_tol=0.005), 2.21, "not reproduced"),
        (Metric("m", 2.2, rel_tol=0, abs_tol=0.005, higher_is_better=True), 2.21, "better"),
        (Metric("m", 2.2, rel_tol=0, abs_tol=0.005, higher_is_better=True), 2.19, "not reproduced"),
        (Metric("m", 1.0, rel_tol=0.01, higher_is_better=False), 0.5, "better"),
        (Metric("m", 1.0, rel_tol=0.01, higher_is_better=False), 1.02, "not reproduced"),
        (Metric("m", 1.0, rel_tol=0.01), 1.009, "reproduced"),
        (Metric("m", 1.0), None, "not measured"),
        (Metric("m", 1.0), float("nan"), "not reproduced"),  # diverged: measured, and wrong
        (Metric("m", 1.0, higher_is_better=True), float("inf"), "not reproduced"),
    ],
)
def test_metric_verdict(metric, ours, verdict):
    assert metric.verdict(ours) == verdict


@pytest.mark.parametrize(
    "bad", [{"rel_tol": -0.1}, {"abs_tol": float("nan")}, {"paper_value": float("inf")}]
)
def test_metric_rejects_bad_tolerances(bad):
    kwargs = {"name": "m", "paper_value": 1.0, **bad}
    with pytest.raises(ValueError, match="invalid"):
        Metric(**kwargs)


# --- the one declaration pattern: settings per scale and yes/no claims ------------------------


def test_claim_verdicts_follow_what_the_paper_reports():
    from mlroundup.experiments.registry import Claim

    holds = Claim("c", statement="A beats B", source="Table 1")
    against = Claim("d", statement="every past frame is best", paper_holds=False)
    assert [holds.verdict(v) for v in (True, False, None)] == [
        "reproduced", "not reproduced", "not measured"]  # fmt: skip
    assert [against.verdict(v) for v in (True, False)] == ["not reproduced", "reproduced"]
    assert holds.verdict(float("nan")) == "not reproduced"
    with pytest.raises(TypeError, match="True/False/None"):
        holds.verdict("yes")
    with pytest.raises(ValueError, match="statement"):
        Claim("c", statement="")


def test_experiment_requires_one_frozen_settings_dataclass_per_scale():
    from dataclasses import dataclass

    from mlroundup.experiments.registry import Experiment, Metric, Paper

    @dataclass(frozen=True)
    class S:
        n: int

    @dataclass
    class Mutable:
        n: int

    kw = dict(name="x", method="x", title="x", paper=Paper("a", "t", "0"), claim="c",
              metrics=(Metric("m", 1.0),), run=lambda ctx: None)  # fmt: skip
    exp = Experiment(**kw, settings={"quick": S(1), "paper": S(2)})
    assert exp.settings_for("paper") == S(2)
    with pytest.raises(ValueError, match="valid: quick, paper"):
        exp.settings_for("huge")
    with pytest.raises(ValueError, match=r"lack the scales \['paper'\]"):
        Experiment(**kw, settings={"quick": S(1)})
    with pytest.raises(ValueError, match="one frozen dataclass"):
        Experiment(**kw, settings={"quick": Mutable(1), "paper": Mutable(2)})
    with pytest.raises(ValueError, match="one frozen dataclass"):
        Experiment(**kw, settings={"quick": {"n": 1}, "paper": {"n": 2}})
    with pytest.raises(ValueError, match="repeat"):
        Experiment(**{**kw, "metrics": (Metric("m", 1.0), Metric("m", 2.0))},
                   settings={"quick": S(1), "paper": S(2)})  # fmt: skip


def test_every_registered_experiment_declares_settings_for_every_scale():
    import dataclasses

    from mlroundup.experiments.registry import SCALES, all_experiments

    for exp in all_experiments():
        assert set(exp.settings) == set(SCALES), exp.name
        for scale in SCALES:
            assert dataclasses.is_dataclass(exp.settings[scale]), exp.name


def test_runner_passes_the_scales_settings_or_a_tests_shrunk_copy(tmp_path):
    import dataclasses

    from mlroundup.experiments import runner
    from mlroundup.experiments.registry import Claim, Experiment, Metric
    from mlroundup.experiments.schema import Outcome, validate

    from .conftest import PAPER, SETTINGS

    seen = []

    def run(ctx):
        seen.append(ctx.settings)
        return Outcome(values={"steps": float(ctx.settings.steps), "holds": True,
                               "fails": False, "unknown": None})  # fmt: skip

    exp = Experiment(name="fake-claims", method="fake", title="Claims", paper=PAPER, claim="c",
                     metrics=(Metric("steps", 5.0), Claim("holds", statement="A beats B"),
                              Claim("fails", statement="C beats D", source="Sec. 2"),
                              Claim("unknown", statement="E")),
                     run=run, settings=SETTINGS)  # fmt: skip
    run_dir, doc = runner.reproduce([exp], out=tmp_path, scale="paper", show_progress=False)
    validate(doc)
    assert seen == [SETTINGS["paper"]]
    (entry,) = doc["experiments"]
    assert entry["settings"] == {"steps": 5}
    by = {m["name"]: m for m in entry["metrics"]}
    assert by["steps"]["kind"] == "metric" and by["steps"]["verdict"] == "reproduced"
    assert (by["holds"]["kind"], by["holds"]["paper"], by["holds"]["ours"]) == ("claim", True, True)
    assert by["holds"]["verdict"] == "reproduced"
    assert (by["fails"]["ours"], by["fails"]["verdict"]) == (False, "not reproduced")
    assert by["unknown"]["verdict"] == "not measured"
    assert entry["verdict"] == "not reproduced"
    page = (run_dir / "index.html").read_text()
    assert "Claim: C beats D." in page
    shrunk = dataclasses.replace(SETTINGS["quick"], steps=1)
    entry = runner.run_one(exp, runner.RunContext(settings=shrunk), tmp_path)
    assert seen[-1] == shrunk and entry["settings"] == {"steps": 1}
