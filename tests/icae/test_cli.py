"""``mlroundup icae compress|ask``: output, exit codes (0 ok, 1 refused, 2 usage) and messages.

A real checkpoint of a (very small) Shakespeare base in a private cache: the CLI rebuilds the base
from what the checkpoint says, as a user's would."""

import pytest
import torch

from mlroundup.cli import main
from mlroundup.data.shakespeare import archive_path
from mlroundup.icae import ICAE, ICAEConfig, TinyLlamaSpec, tiny_llama

SMALL = TinyLlamaSpec(hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                      num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=96,
                      steps=2, batch_size=2, seq_len=32)  # fmt: skip


@pytest.fixture
def checkpoint(tmp_path, monkeypatch):
    monkeypatch.setenv("MLROUNDUP_SHAKESPEARE", str(archive_path()))  # before the cache moves
    monkeypatch.setenv("MLROUNDUP_CACHE", str(tmp_path / "cache"))
    base = tiny_llama(SMALL, tmp_path / "cache")
    torch.manual_seed(0)
    icae = ICAE(base.model, ICAEConfig(num_memory_slots=4), base.tokenizer, base.name, base.source)
    return icae.save(tmp_path / "t.icae.pt")


def test_compress_reports_the_slots_and_saves_them(checkpoint, tmp_path, capsys):
    text = tmp_path / "scene.txt"
    content = "Enter HAMLET.\nTo be, or not to be, that is the question.\n"
    text.write_text(content)
    save = tmp_path / "slots.pt"
    assert (
        main(["icae", "compress", str(text), "--checkpoint", str(checkpoint), "--save", str(save)])
        == 0
    )
    out = capsys.readouterr().out
    assert f"{len(content)} tokens -> 1 span(s) x 4 slots = 4 memory slots of 32 numbers" in out
    assert torch.load(save).shape == (4, 32)
    assert (
        main(["icae", "compress", str(text), "--checkpoint", str(checkpoint), "--save", str(save)])
        == 1
    )
    assert "exists" in capsys.readouterr().err


def test_long_files_need_multi_span_and_short_ones_are_refused(checkpoint, tmp_path, capsys):
    long = tmp_path / "long.txt"
    long.write_text("Good night, sweet prince. " * 10)  # 260 characters, window 96
    assert main(["icae", "compress", str(long), "--checkpoint", str(checkpoint)]) == 1
    assert "--multi-span" in capsys.readouterr().err
    assert (
        main(["icae", "compress", str(long), "--checkpoint", str(checkpoint), "--multi-span"]) == 0
    )
    assert "260 tokens -> 17 span(s)" in capsys.readouterr().out  # spans of at most 4k = 16
    short = tmp_path / "short.txt"
    short.write_text("Ay.")
    assert main(["icae", "compress", str(short), "--checkpoint", str(checkpoint)]) == 1
    assert "fewer than the k=4 memory slots" in capsys.readouterr().err


def test_ask_answers_from_the_slots(checkpoint, tmp_path, capsys):
    text = tmp_path / "scene.txt"
    text.write_text("Enter HAMLET.\nTo be, or not to be, that is the question.\n")
    argv = ["icae", "ask", str(text), "Who enters?", "--checkpoint", str(checkpoint),
            "--max-new-tokens", "7"]  # fmt: skip
    assert main(argv) == 0
    assert len(capsys.readouterr().out.rstrip("\n")) == 7  # one character per token
    assert main([*argv[:3], "", "--task", "ae", *argv[4:]]) == 0
    assert main([*argv, "--task", "ae"]) == 1
    assert "give no prompt" in capsys.readouterr().err
    assert main([*argv, "--max-new-tokens", "0"]) == 2


def test_a_checkpoint_for_another_base_is_refused(checkpoint, tmp_path, capsys):
    payload = torch.load(checkpoint, weights_only=True)
    payload["base"]["fingerprint"] = "0" * 16
    other = tmp_path / "other.icae.pt"
    torch.save(payload, other)
    text = tmp_path / "scene.txt"
    text.write_text("To be, or not to be, that is the question.")
    assert main(["icae", "compress", str(text), "--checkpoint", str(other)]) == 1
    assert "trained on base model" in capsys.readouterr().err


def test_without_a_trained_icae_the_message_says_how_to_get_one(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MLROUNDUP_CACHE", str(tmp_path / "empty"))
    text = tmp_path / "scene.txt"
    text.write_text("To be, or not to be, that is the question.")
    assert main(["icae", "compress", str(text)]) == 1
    assert "mlroundup reproduce icae" in capsys.readouterr().err
