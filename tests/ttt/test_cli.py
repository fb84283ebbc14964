"""``mlroundup ttt run`` with click's runner: files written, never overwritten, clear errors."""

import csv
import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from mlroundup.cli import cli
from mlroundup.ttt.online import psnr
from mlroundup.ttt.streams import load_clip
from mlroundup.ttt.train import save_yvit


@pytest.fixture
def model_file(tmp_path, tiny_model):
    return save_yvit(tmp_path / "tiny.pt", tiny_model)


def test_run_writes_metrics_and_frames(tmp_path, model_file, tiny_model):
    """Oracle: the fixed model's PSNR of each frame, computed here from its colourized frames with
    NumPy; one CSV row per frame; the PNG strips are 4 frames wide."""
    out = tmp_path / "run"
    args = ["ttt", "run", "carphone_distorted", "--window", "4", "--out", str(out),
            "--model", str(model_file), "--max-frames", "6", "--save-frames", "2"]  # fmt: skip
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 0, res.output
    assert "6 frames of carphone_distorted.mp4" in res.output
    rows = list(csv.DictReader((out / "metrics.csv").open()))
    assert [int(r["frame"]) for r in rows] == list(range(6))
    stream = load_clip("carphone_distorted", tiny_model.cfg.image_size, max_frames=6)
    grey = torch.from_numpy(stream.grey()).unsqueeze(1)
    with torch.no_grad():
        rgb = tiny_model.colorize(grey).permute(0, 2, 3, 1).numpy()
    for t, r in enumerate(rows):
        assert float(r["psnr_fixed_db"]) == pytest.approx(psnr(rgb[t], stream.frames[t]), abs=1e-3)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["frames"] == 6 and summary["saved_frames"] == [0, 5]
    ttt = np.mean([float(r["psnr_ttt_db"]) for r in rows])
    assert summary["psnr_ttt_db"] == pytest.approx(ttt, abs=1e-3)
    from PIL import Image

    img = Image.open(out / "frames" / "frame_00005.png")
    h, w = tiny_model.cfg.image_size
    assert img.size == (4 * w, h)

    again = CliRunner().invoke(cli, args)
    assert again.exit_code == 1 and "not overwriting" in again.output
    assert json.loads((out / "summary.json").read_text()) == summary


def test_run_errors(tmp_path, model_file):
    runner = CliRunner()
    base = ["ttt", "run", "--out", str(tmp_path / "o"), "--model", str(model_file)]
    res = runner.invoke(cli, [*base, str(tmp_path / "missing.mp4")])
    assert res.exit_code == 1 and "no video file" in res.output
    bad = tmp_path / "x.mp4"
    bad.write_bytes(b"\x00" * 300)
    res = runner.invoke(cli, [*base, str(bad)])
    assert res.exit_code == 1 and "cannot decode" in res.output
    res = runner.invoke(cli, [*base, "bikes", "--window", "0"])
    assert res.exit_code == 2 and "positive number of frames" in res.output
    res = runner.invoke(cli, [*base, "bikes", "--window", "8", "--max-window", "4"])
    assert res.exit_code == 2 and "only with --window scene" in res.output
    for lr in ("inf", "nan"):
        res = runner.invoke(cli, [*base, "bikes", "--lr", lr])
        assert res.exit_code == 2 and "--lr" in res.output and "not a finite number" in res.output
    foreign = tmp_path / "foreign.pt"
    torch.save({"kind": "other"}, foreign)
    res = runner.invoke(cli, ["ttt", "run", "bikes", "--out", str(tmp_path / "o"),
                              "--model", str(foreign)])  # fmt: skip
    assert res.exit_code == 1 and "not a YViT checkpoint" in res.output
    assert not (tmp_path / "o").exists()
