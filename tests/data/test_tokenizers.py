"""Offline tokenizers (oracles: GPT-2's published token ids — "Hello world" is [15496, 995], " the"
is 262, "<|endoftext|>" is 50256 — and character round trips)."""

import pytest

from mlroundup.data.tokenizers import GPT2_EOT, CharTokenizer, GPT2Tokenizer, get_tokenizer


def test_gpt2_matches_published_ids_without_downloading(monkeypatch):
    import tiktoken

    monkeypatch.setattr(tiktoken, "get_encoding", lambda *a: pytest.fail("get_encoding downloads"))
    tok = GPT2Tokenizer()
    assert tok.encode("Hello world").tolist() == [15496, 995]
    assert tok.encode(" the").tolist() == [262]
    assert tok.encoding.eot_token == GPT2_EOT == 50256
    text = "To be, or not to be: that is the question.\n"
    assert tok.decode(tok.encode(text)) == text
    assert tok.encoding.n_vocab == tok.vocab_size == 50257


def test_char_tokenizer_round_trip_and_unknown_characters():
    tok = CharTokenizer.from_text("hello", "world!")
    assert tok.alphabet == "!dehlorw" and tok.vocab_size == 8
    assert tok.decode(tok.encode("hello world!".replace(" ", ""))) == "helloworld!"
    with pytest.raises(ValueError, match="'z'"):
        tok.encode("zebra")
    with pytest.raises(ValueError, match="distinct"):
        CharTokenizer("aa")


def test_get_tokenizer_names():
    assert get_tokenizer("char", "ab").vocab_size == 2
    with pytest.raises(ValueError, match="valid: char, gpt2"):
        get_tokenizer("bpe")
    with pytest.raises(ValueError, match="alphabet_text"):
        get_tokenizer("char")
