"""Tests of ``mlroundup probe`` (the command object, invoked with click's runner)."""

import json

import numpy as np
import pytest
from click.testing import CliRunner

from mlroundup.embedding_probes.cli import probe

ENCODERS = """
import numpy as np

def means(images):
    return np.concatenate([images.mean(axis=(1, 2)), images.std(axis=(1, 2))], axis=1)

def nan(images):
    return np.full((len(images), 3), np.nan)
"""


@pytest.fixture
def folder(tmp_path, monkeypatch):
    from PIL import Image

    from mlroundup.embedding_probes.images import make_composites

    imgs = make_composites(12, 32, seed=3).images
    for i, im in enumerate(imgs):
        sub = tmp_path / "imgs" / ("a" if i % 2 else "b")
        sub.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.round(im * 255).astype(np.uint8)).save(sub / f"{i}.png")
    (tmp_path / "user_encoders_ep.py").write_text(ENCODERS)
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


def test_probe_user_encoder_writes_json(folder):
    """Oracle: the JSON holds every readout, the semantic classes are the two subfolder names,
    and accuracies are fractions; a second run refuses to overwrite the file."""
    out = folder / "r.json"
    args = [str(folder / "imgs"), "--encoder", "user_encoders_ep:means", "--json", str(out)]
    res = CliRunner().invoke(probe, args)
    assert res.exit_code == 0, res.output
    doc = json.loads(out.read_text())
    assert doc["semantic"]["classes"] == ["a", "b"]
    assert all(0 <= v <= 1 for v in doc["summary"].values())
    again = CliRunner().invoke(probe, args)
    assert again.exit_code != 0 and "not overwriting" in again.output


@pytest.mark.parametrize(
    ("spec", "match"),
    [("user_encoders_ep:nan", "non-finite"), ("no_such_mod_ep:f", "cannot import"),
     ("user_encoders_ep:missing", "no attribute"), ("nonsense", "module:function")],
)  # fmt: skip
def test_probe_refuses_bad_encoders(folder, spec, match):
    """Oracle: the issue's error cases, each named in the message, with a non-zero exit."""
    res = CliRunner().invoke(probe, [str(folder / "imgs"), "--encoder", spec])
    assert res.exit_code != 0 and match in res.output


def test_probe_refuses_too_few_images(tmp_path):
    """Oracle: an empty folder has 0 images, fewer than the 10 required."""
    res = CliRunner().invoke(probe, [str(tmp_path), "--encoder", "pixels"])
    assert res.exit_code != 0 and "at least 10" in res.output
