"""The registered experiment and the command line (oracles: the results schema; the shipped table's
own numbers for the quick budgets; files the commands must write)."""

import json
from dataclasses import replace

import pytest

from mlroundup.budgeted_training import experiment as E
from mlroundup.cli import main
from mlroundup.training import Charge


def test_shipped_reference_table_fits_the_quick_scale():
    sc = E.SETTINGS["quick"]
    table = E.reference_table(sc.reference_table)
    assert table.meta["seq_len"] == sc.seq_len
    assert {k: table.meta["model"][k] for k in ("n_layer", "n_head", "d_model")} == {
        "n_layer": 4, "n_head": 4, "d_model": 48,
    }  # fmt: skip
    step = table.cost(Charge("train", sc.batch_size, 4))
    steps = [b / step for b in sc.budgets]
    assert 20 < steps[0] < 40 and steps[2] == pytest.approx(4 * steps[0])
    # RHO-loss's scoring batch is measured (forward only).
    assert table.cost(Charge("forward", 10 * sc.batch_size, 4)) > 0


@pytest.mark.slow
def test_reproduce_budgeted_training_end_to_end_at_a_reduced_quick_scale(tmp_path, monkeypatch):
    from mlroundup.experiments.registry import select
    from mlroundup.experiments.runner import reproduce
    from mlroundup.experiments.schema import validate

    small = replace(
        E.SETTINGS["quick"], budgets=(0.2, 0.4, 0.8), method_budgets=(0.2,), il_budget=0.2,
        eval_sequences=32,
    )  # fmt: skip
    monkeypatch.setitem(E.SETTINGS, "quick", small)
    run_dir, doc = reproduce(select(["budgeted-training"]), out=tmp_path, show_progress=False)
    validate(doc)
    (entry,) = doc["experiments"]
    assert entry["status"] == "ok", entry["error"]
    assert {m["name"] for m in entry["metrics"]} == set(E.BUDGETED_TRAINING.metric_names)
    assert all(m["ours"] is not None for m in entry["metrics"])
    rows = entry["tables"][0]["rows"]
    assert len(rows) == 3 * 2 + len(E.METHOD_NAMES)
    assert (run_dir / entry["figures"][0]["path"]).is_file()
    assert entry["config"]["rst_table"]["meta"]["seq_len"] == small.seq_len


def test_cli_calibrate_then_train(tmp_path, capsys):
    table = tmp_path / "rst.json"
    args = ["budgeted-training", "calibrate", "--preset", "tiny", "--seq-len", "16",
            "--batch-sizes", "1,4", "--layers", "0,4", "--repeats", "1", "--out", str(table)]  # fmt: skip
    assert main(args) == 0
    assert main(args) == 2  # never overwrites
    out = tmp_path / "run.json"
    rc = main(["budgeted-training", "train", "--preset", "tiny", "--seq-len", "16", "--batch-size",
               "4", "--budget", "0.3", "--rst", str(table), "--method", "layer-drop", "--lr", "3e-3",
               "--json", str(out)])  # fmt: skip
    assert rc == 0
    result = json.loads(out.read_text())
    assert result["used_s"] >= 0.3 and result["steps"] == len(result["history"]) >= 1
    assert "bits/char" in capsys.readouterr().out


@pytest.mark.slow
def test_paper_scale_code_path_calibrates_and_averages_seeds():
    """The paper scale's own path (calibration on this machine, several seeds, methods at every
    budget), run with the tiny model and tiny budgets."""
    from mlroundup.experiments.runner import RunContext

    small = replace(
        E.SETTINGS["quick"], budgets=(0.2, 0.4), method_budgets=(0.2, 0.4), seeds=(0, 1),
        il_budget=0.2, eval_sequences=32, reference_table=None, threads=1,
    )  # fmt: skip
    out = E.run(RunContext(scale="paper", settings=small))
    rows = out.tables[0].rows
    assert len(rows) == 2 * (2 + len(E.METHOD_NAMES))
    assert all(r[3] >= 0 for r in rows)  # a seed standard deviation for every row
    table = out.config["rst_table"]
    assert table["meta"]["seq_len"] == small.seq_len and "fit_train" in table["meta"]
    assert 160 in table["batch_sizes"]  # RHO-loss's scoring batch, measured forward-only
