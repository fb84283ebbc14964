"""``mlroundup mine score`` and ``mlroundup mine select`` on tiny files, through click's runner
(SmolLM2-135M-Instruct and MiniLM for real; the caches go to a temporary folder)."""

import json

import pytest
from click.testing import CliRunner

from mlroundup.cli import cli

RECORDS = [
    {"instruction": "What is 2 + 2?", "response": "2 + 2 = 4.", "id": "a"},
    {"instruction": "Name a colour.", "response": "Blue."},
    {"instruction": "Say hello in French.", "response": "Bonjour !"},
    {"instruction": "Write a haiku about rain.", "response": "Soft rain on the roof / the garden drinks slowly / grey clouds move away"},
    {"instruction": "What is the capital of Italy?", "response": "Rome is the capital of Italy."},
    {"instruction": "Give a synonym of happy.", "response": "Joyful."},
    {"instruction": "Sort 3, 1, 2.", "response": "1, 2, 3"},
    {"instruction": "Explain gravity in one sentence.", "response": "Gravity is the attraction between masses."},
]  # fmt: skip


def _file(tmp_path, records=RECORDS, name="d.jsonl"):
    f = tmp_path / name
    f.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return f


@pytest.fixture
def smollm2(lm, monkeypatch):
    """The suite's SmolLM2 (tests/conftest.py), loaded once per session: the commands get that
    loaded model instead of loading their own copy (everything else runs as the user's would)."""
    pytest.importorskip("sentence_transformers")
    import mlroundup.models
    from mlroundup.instruction_mining.embeddings import model_dir

    try:
        model_dir()
    except FileNotFoundError as exc:
        pytest.skip(str(exc))
    monkeypatch.setattr(mlroundup.models, "load_smollm2", lambda *a, **k: lm)
    return lm


def test_score_then_select(tmp_path, smollm2, monkeypatch):
    monkeypatch.setenv("MLROUNDUP_CACHE", str(tmp_path / "cache"))  # select reads score's cache
    data = _file(tmp_path)
    runner = CliRunner()
    short = ["--max-input-tokens", "16", "--max-output-tokens", "16"]  # less to compute
    res = runner.invoke(
        cli, ["mine", "score", str(data), "--out", str(tmp_path / "s.jsonl"), *short]
    )
    assert res.exit_code == 0, res.output
    rows = [json.loads(line) for line in (tmp_path / "s.jsonl").read_text().splitlines()]
    assert [r["line"] for r in rows] == list(range(1, 9)) and rows[0]["id"] == "a"
    assert sorted(r["rank"] for r in rows) == list(range(1, 9))
    for r in rows:
        # the paper's rule, by hand: 1.0694 - 0.1498 Rew + 8.257e-5 Len - 0.9350 Knn_6
        hand = 1.0694 - 0.1498 * r["reward"] + 8.257e-5 * r["output_length"] - 0.9350 * r["knn_6"]
        assert r["predicted_log_loss"] == pytest.approx(hand, abs=1e-9)
        assert r["perplexity"] > 1 and r["output_length"] >= 1 and 0 < r["knn_6"] <= 2
    best = sorted(rows, key=lambda r: r["rank"])[:3]
    assert all(
        a["predicted_log_loss"] <= b["predicted_log_loss"]
        for a, b in zip(best, best[1:], strict=False)
    )

    out = tmp_path / "sub.jsonl"
    res = runner.invoke(cli, ["mine", "select", str(data), "--top", "3", "--out", str(out), *short])
    assert res.exit_code == 0, res.output
    lines = data.read_text().splitlines()
    # the input's own lines, byte for byte, best first: the three the score command ranked 1-3
    assert out.read_text().splitlines() == [lines[r["line"] - 1] for r in best]
    assert "wrote 3 of 8 records" in res.output
    assert sorted(p.name for p in (tmp_path / "cache" / "instruction_mining").glob("*.npz")) == [
        "embeddings-all-MiniLM-L6-v2-len128.npz",
        "lm-smollm2-135m-instruct-q4_1-in16-out16.npz",
    ]


def test_never_overwrites_and_checks_input_first(tmp_path):
    data = _file(tmp_path)
    runner = CliRunner()
    existing = tmp_path / "keep.jsonl"
    existing.write_text("mine\n")
    res = runner.invoke(cli, ["mine", "select", str(data), "--top", "2", "--out", str(existing)])
    assert res.exit_code == 2 and "not overwriting" in res.output
    assert existing.read_text() == "mine\n"

    bad = _file(tmp_path, RECORDS[:2] + [{"instruction": "x", "response": 5}] + RECORDS[3:],
                name="bad.jsonl")  # fmt: skip
    out = tmp_path / "never.jsonl"
    res = runner.invoke(cli, ["mine", "score", str(bad), "--out", str(out)])
    assert res.exit_code == 1
    assert f"{bad}:3: field 'response' must be a string, got a number" in res.output
    assert not out.exists()

    res = runner.invoke(cli, ["mine", "select", str(data), "--top", "9", "--out", str(out)])
    assert res.exit_code == 2 and "exceeds the 8 records" in res.output
    assert not out.exists()

    res = runner.invoke(cli, ["mine", "score", str(data), "--out", str(data)])
    assert res.exit_code == 2 and not out.exists()

    res = runner.invoke(cli, ["mine", "score", str(data), "--out", str(out), "--knn-k", "3"])
    assert res.exit_code == 2 and "uses KNN-6" in res.output and not out.exists()


def test_rule_file_option(tmp_path):
    from mlroundup.instruction_mining.cli import _rule

    names = ["input_length", "output_length", "reward", "perplexity", "mtld", "knn_6"]
    f = tmp_path / "rule.json"
    f.write_text(json.dumps({"intercept": 0.5, "coefficients": {"mtld": -0.01}}))
    rule = _rule(str(f), names)
    assert rule.predict([[0, 0, 0, 0, 10.0, 0]])[0] == pytest.approx(0.4)
    f.write_text(json.dumps({"intercept": 0.5, "coefficients": {"unknown": 1.0}}))
    import click

    with pytest.raises(click.BadParameter, match="unknown"):
        _rule(str(f), names)
