"""Runner, results.json schema and HTML report, on a fake experiment (oracle: the documented schema
and the issue's rules: new dated folder, never overwrite, latest link, self-contained HTML)."""

import json
import re

import pytest

from mlroundup.experiments import runner
from mlroundup.experiments.schema import RESULTS_SCHEMA, overall_verdict, validate

from .conftest import FAIL, OK


def test_reproduce_writes_valid_document_and_report(tmp_path):
    run_dir, doc = runner.reproduce([OK, FAIL], out=tmp_path, seed=7, show_progress=False)
    assert run_dir.parent == tmp_path
    on_disk = json.loads((run_dir / "results.json").read_text())
    assert on_disk == doc
    validate(doc)
    ok, fail = doc["experiments"]
    assert (
        ok["status"] == "ok"
        and ok["seed"] == 7
        and ok["config"] == {"seed_used": 7, "scale": "quick"}
    )
    verdicts = {m["name"]: (m["ours"], m["ratio"], m["verdict"]) for m in ok["metrics"]}
    assert verdicts["exact"] == (2.0, 1.0, "reproduced")
    assert verdicts["close"][2] == "better" and verdicts["close"][1] == pytest.approx(1.04)
    assert verdicts["missing"] == (None, None, "not measured")
    assert ok["verdict"] == "reproduced"  # the unmeasured metric does not count against it
    assert fail["status"] == "failed" and fail["error"] == "RuntimeError: boom\nsecond line"
    assert "Traceback" in (run_dir / "logs" / "fake-fail.txt").read_text()
    run = doc["run"]
    assert run["scale"] == "quick" and run["cpu_model"] and isinstance(run["cpu_features"], list)
    assert run["packages"]["numpy"]
    page = (run_dir / "index.html").read_text()
    # self-contained: the figure is embedded and nothing is loaded from the network
    assert "data:image/png;base64," in page
    assert not re.search(r"""(src|href)=["']?https?://(?!arxiv\.org)""", page)
    assert "numbers &lt;b&gt;" in page  # table titles are escaped
    assert (tmp_path / "latest").resolve() == run_dir.resolve()


def test_runs_never_overwrite_each_other(tmp_path):
    first, _ = runner.reproduce([OK], out=tmp_path, show_progress=False)
    second, _ = runner.reproduce([OK], out=tmp_path, show_progress=False)
    assert (
        first != second
        and (first / "results.json").is_file()
        and (second / "results.json").is_file()
    )
    assert (tmp_path / "latest").resolve() == second.resolve()


def test_same_second_gets_a_suffix(tmp_path):
    import datetime as dt

    now = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    a = runner.new_run_dir(tmp_path, now)
    b = runner.new_run_dir(tmp_path, now)
    assert a.name == "2026-01-02T03-04-05Z" and b.name == "2026-01-02T03-04-05Z-2"


def test_latest_that_is_not_our_link_is_left_alone(tmp_path):
    user_file = tmp_path / "latest"
    user_file.write_text("mine")
    runner.reproduce([OK], out=tmp_path, show_progress=False)
    assert user_file.read_text() == "mine"


def test_out_that_is_a_file_is_refused(tmp_path):
    f = tmp_path / "x"
    f.write_text("keep")
    with pytest.raises(NotADirectoryError):
        runner.reproduce([OK], out=f, show_progress=False)
    assert f.read_text() == "keep"


def test_bad_scale_and_empty_selection():
    with pytest.raises(ValueError, match="invalid scale 'big'"):
        runner.reproduce([OK], scale="big")
    with pytest.raises(ValueError, match="no experiments"):
        runner.reproduce([])


def test_schema_rejects_a_broken_document(tmp_path):
    import jsonschema

    _, doc = runner.reproduce([OK], out=tmp_path, show_progress=False)
    del doc["experiments"][0]["metrics"][0]["paper"]
    with pytest.raises(jsonschema.ValidationError):
        validate(doc)
    assert RESULTS_SCHEMA["properties"]["schema_version"]["const"] == doc["schema_version"]


@pytest.mark.parametrize(
    ("verdicts", "expected"),
    [
        ([], "not measured"),
        (["not measured"], "not measured"),
        (["better", "reproduced"], "reproduced"),
        (["better", "not reproduced", "not measured"], "not reproduced"),
        (["better", "not measured"], "better"),
    ],
)
def test_overall_verdict(verdicts, expected):
    assert overall_verdict(verdicts) == expected


def test_diverged_values_are_not_reproduced_and_threads_are_restored(tmp_path):
    """A NaN/inf value is a measurement that missed (the issue's rule), stored as null in JSON; the
    runner restores torch's thread count whatever the experiment set (oracle: torch's getter)."""
    torch = pytest.importorskip("torch")
    from mlroundup.experiments.registry import Experiment, Metric

    from .conftest import PAPER, SETTINGS

    def run(ctx):
        from mlroundup.experiments.schema import Outcome

        torch.set_num_threads(1 if torch.get_num_threads() > 1 else 2)
        return Outcome(values={"loss": float("nan"), "speed": float("inf")})

    exp = Experiment(name="fake-diverged", method="fake", title="Diverged", paper=PAPER,
                     claim="It diverges.", run=run,
                     metrics=(Metric("loss", 1.0), Metric("speed", 2.0, higher_is_better=True)),
                     settings=SETTINGS)  # fmt: skip
    before = torch.get_num_threads()
    _, doc = runner.reproduce([exp], out=tmp_path, show_progress=False)
    assert torch.get_num_threads() == before
    (entry,) = doc["experiments"]
    assert [(m["ours"], m["verdict"]) for m in entry["metrics"]] == [
        (None, "not reproduced"), (None, "not reproduced")]  # fmt: skip
    assert entry["verdict"] == "not reproduced"
    validate(doc)


def test_our_target_is_its_own_column_never_the_papers(tmp_path):
    """A metric judged against our own goal keeps the paper column empty and shows the target and
    its reason apart, in results.json, the HTML report and the terminal table."""
    import io

    from rich.console import Console

    from mlroundup.experiments.registry import Experiment, Metric
    from mlroundup.experiments.schema import Outcome
    from mlroundup.report.terminal import results_table

    from .conftest import PAPER, SETTINGS

    with pytest.raises(ValueError, match="target_reason"):
        Metric("m", None, target=1.0)
    with pytest.raises(ValueError, match="paper_value or a target"):
        Metric("m", None)
    goal = Metric("bw_fraction", None, rel_tol=0.0, higher_is_better=True, target=0.8,
                  target_reason="our goal: 80% of read bandwidth")  # fmt: skip
    exp = Experiment(name="fake-target", method="fake", title="Target", paper=PAPER,
                     claim="Fast.", run=lambda ctx: Outcome(values={"bw_fraction": 0.9}),
                     metrics=(goal, Metric("paper_one", 2.0)), settings=SETTINGS)  # fmt: skip
    run_dir, doc = runner.reproduce([exp], out=tmp_path, show_progress=False)
    validate(doc)
    m, p = doc["experiments"][0]["metrics"]
    assert (m["paper"], m["target"], m["verdict"]) == (None, 0.8, "better")
    assert m["ratio"] == pytest.approx(0.9 / 0.8)
    assert (p["paper"], p["target"]) == (2.0, None)
    page = (run_dir / "index.html").read_text()
    assert "target (ours)" in page and "our goal: 80% of read bandwidth" in page
    buf = io.StringIO()
    Console(file=buf, width=200).print(results_table(doc))
    header = next(line for line in buf.getvalue().splitlines() if "metric" in line)
    assert header.index("paper") < header.index("target") < header.index("ours")
