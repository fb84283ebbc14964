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
        # a published value, or our own target with its reason (never mixed in one column)
        assert math.isfinite(m.reference)
        assert m.paper_value is not None or m.target_reason
        assert m.rel_tol >= 0 and m.abs_tol >= 0
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
