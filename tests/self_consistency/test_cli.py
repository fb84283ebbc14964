"""`mlroundup self-consistency select` on JSONL files: the chosen generation per prompt, and
clear errors; `mlroundup select` / `mlroundup sample`, its former names, still run the same commands.

Oracle: the selections are checked against `select()` called directly and against majority /
UCS picks that are obvious by construction.
"""

import json

from mlroundup.cli import main

SELECT = ["self-consistency", "select"]


def _write(path, records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")


def test_select_writes_one_choice_per_prompt(tmp_path, capsys):
    src = tmp_path / "samples.jsonl"
    _write(
        src,
        [
            {"id": "a", "generations": ["return x + 1", "return x+1", "print(x)"]},
            {"id": "b", "generations": ["Paris", "Lyon", "Paris"]},
        ],
    )
    out = tmp_path / "chosen.jsonl"
    assert main([*SELECT, str(src), "--method", "ucs", "--out", str(out)]) == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["id"] for r in rows] == ["a", "b"]
    assert rows[0]["generation"].startswith("return x")
    assert rows[1]["generation"] == "Paris" and rows[1]["index"] == 0
    # never overwrites
    assert main([*SELECT, str(src), "--method", "ucs", "--out", str(out)]) == 2


def test_select_consensus_wucs_with_tokens_and_logprobs(tmp_path, capsys):
    src = tmp_path / "s.jsonl"
    rec = {
        "id": 7,
        "generations": ["ab", "a", "cd"],
        "tokens": [["a", "b"], ["a"], ["c", "d"]],
        "logprobs": [[-0.1, -0.2], [-0.3], [-0.1, -0.1]],
    }
    _write(src, [rec])
    assert main([*SELECT, str(src)]) == 0
    row = json.loads(capsys.readouterr().out)
    from mlroundup.self_consistency import select

    idx, scores = select(rec["tokens"], rec["logprobs"], "consensus-wucs")
    assert row["index"] == idx and row["generation"] == rec["generations"][idx]
    assert row["scores"] == [float(s) for s in scores]


def test_select_errors_name_the_line(tmp_path, capsys):
    src = tmp_path / "bad.jsonl"
    src.write_text('{"generations": ["a"]}\nnot json\n', encoding="utf-8")
    assert main([*SELECT, str(src), "--method", "ucs"]) == 1
    assert "bad.jsonl:2" in capsys.readouterr().err
    _write(src, [{"generations": ["a", "b"], "logprobs": [[-0.1]]}])
    assert main([*SELECT, str(src), "--method", "wucs"]) == 1
    assert "logprobs has 1 entries" in capsys.readouterr().err
    _write(src, [{"generations": ["a"], "logprobs": [[0.5]]}])
    assert main([*SELECT, str(src), "--method", "mean-logprob"]) == 1
    assert "must be finite and <= 0" in capsys.readouterr().err


def test_select_without_logprobs_suggests_a_method_and_writes_nothing(tmp_path, capsys):
    src = tmp_path / "plain.jsonl"
    _write(src, [{"id": 1, "generations": ["a b", "a c", "a b"]}])
    out = tmp_path / "chosen.jsonl"
    assert main([*SELECT, str(src), "--out", str(out)]) == 1  # default: consensus-wucs
    err = capsys.readouterr().err
    assert "plain.jsonl:1" in err and "logprobs" in err and "--method ucs" in err
    assert not out.exists()  # nothing half-written


def test_select_empty_input_is_an_error(tmp_path, capsys):
    src = tmp_path / "empty.jsonl"
    src.write_text("\n\n", encoding="utf-8")
    assert main([*SELECT, str(src), "--method", "ucs"]) == 1
    assert "no records" in capsys.readouterr().err


def test_select_help_documents_the_samples_format(capsys):
    assert main([*SELECT, "--help"]) == 0
    text = capsys.readouterr().out
    assert '"generations"' in text and '"logprobs"' in text


def test_select_output_is_strict_json_and_skips_empty_generations(tmp_path, capsys):
    """Oracle: RFC 8259 JSON has no -Infinity (``json.loads`` with a strict parse_constant),
    and the documented rule that an empty generation is never chosen over a non-empty one."""
    src = tmp_path / "s.jsonl"
    rec = {"id": 1, "generations": ["", "Paris", ""], "tokens": [[], [7], []],
           "logprobs": [[], [-0.4], []]}  # fmt: skip
    _write(src, [rec])

    def no_constants(name):
        raise AssertionError(f"non-standard JSON constant {name}")

    for method in ("mean-logprob", "sum-logprob", "ucs", "consensus-wucs", "majority"):
        assert main([*SELECT, str(src), "--method", method]) == 0
        row = json.loads(capsys.readouterr().out, parse_constant=no_constants)
        assert row["index"] == 1 and row["generation"] == "Paris", method


def test_select_rejects_infinite_logprobs_and_missing_out_folder(tmp_path, capsys):
    src = tmp_path / "s.jsonl"
    _write(src, [{"generations": ["a", "b"], "logprobs": [[float("-inf")], [-0.1]]}])
    assert main([*SELECT, str(src), "--method", "wucs"]) == 1
    err = capsys.readouterr().err
    assert "must be finite" in err and "np.float64" not in err
    _write(src, [{"generations": ["a", "b"]}])
    out = tmp_path / "missing" / "x.jsonl"
    assert main([*SELECT, str(src), "--method", "ucs", "--out", str(out)]) == 2
    assert "not an existing folder" in capsys.readouterr().err


def test_old_top_level_names_are_aliases_of_the_group(tmp_path, capsys):
    """Oracle: the alias and the group's command give byte-identical output for the same input,
    and the top-level help marks the old names as aliases of the group's commands."""
    src = tmp_path / "s.jsonl"
    _write(src, [{"id": "a", "generations": ["Paris", "Lyon", "Paris"]}])
    assert main([*SELECT, str(src), "--method", "ucs"]) == 0
    grouped = capsys.readouterr().out
    assert main(["select", str(src), "--method", "ucs"]) == 0
    assert capsys.readouterr().out == grouped and json.loads(grouped)["generation"] == "Paris"
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "Alias of `mlroundup self-consistency select`" in out
    assert "Alias of `mlroundup self-consistency sample`" in out
    assert main(["self-consistency", "--help"]) == 0
    out = capsys.readouterr().out
    assert "select" in out and "sample" in out
    for argv in (["sample", "--help"], ["self-consistency", "sample", "--help"]):
        assert main(argv) == 0
        assert "--temperature" in capsys.readouterr().out
    # an alias is a copy: the group's own command keeps its name and help
    from mlroundup.self_consistency.cli import select_cmd, self_consistency

    assert self_consistency.commands["select"] is select_cmd and select_cmd.name == "select"
    assert select_cmd.short_help is None
