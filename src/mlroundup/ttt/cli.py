"""``mlroundup ttt``: online test-time training over a user's video clip."""

from __future__ import annotations

import json
from pathlib import Path

import click

from mlroundup.cli_types import FiniteFloatRange

#: Files ``ttt run`` writes into ``--out`` (besides ``frames/frame_<t>.png``).
OUTPUTS = ("metrics.csv", "summary.json")


def _window(value: str) -> int | str:
    if value in ("all", "scene"):
        return value
    try:
        k = int(value)
    except ValueError:
        k = 0
    if k < 1:
        raise click.BadParameter(f"{value!r}: a positive number of frames, 'all' or 'scene'")
    return k


@click.group("ttt")
def ttt() -> None:
    """Test-time training on video streams (Wang et al. 2023, arXiv 2307.05014)."""


@ttt.command("run")
@click.argument("video")
@click.option("--window", default="16", show_default=True,
              help="Explicit memory: frames k, 'all' (every past frame) or 'scene' (cleared at "
              "detected cuts).")  # fmt: skip
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder for metrics.csv, summary.json and frames/ (created; existing files "
              "are never overwritten).")  # fmt: skip
@click.option("--model", "model_path", type=click.Path(dir_okay=False, path_type=Path),
              default=None, help="A YViT checkpoint (mlroundup.ttt.save_yvit); default: the "
              "ttt-video experiment's quick model, trained once into the cache.")  # fmt: skip
@click.option(
    "--max-window",
    default=None,
    type=click.IntRange(min=1),
    help="With --window scene: at most this many recent frames since the last cut.",
)
@click.option("--lr", default=1e-3, show_default=True, type=FiniteFloatRange(min=0.0))
@click.option("--steps", default=1, show_default=True, type=click.IntRange(min=0),
              help="TTT steps per frame.")  # fmt: skip
@click.option("--batch", default=8, show_default=True, type=click.IntRange(min=1),
              help="At most this many window frames per step.")  # fmt: skip
@click.option("--no-implicit", is_flag=True, help="Reset the weights before every frame.")
@click.option("--max-frames", default=None, type=click.IntRange(min=1))
@click.option("--stride", default=1, show_default=True, type=click.IntRange(min=1),
              help="Keep every stride-th frame.")  # fmt: skip
@click.option("--save-frames", default=4, show_default=True, type=click.IntRange(min=0),
              help="Predicted frames written as PNG (evenly spaced).")  # fmt: skip
@click.option("--seed", default=0, show_default=True, type=int)
def run_cmd(video: str, window: str, out_dir: Path, model_path: Path | None,
            max_window: int | None, lr: float,
            steps: int, batch: int, no_implicit: bool, max_frames: int | None, stride: int,
            save_frames: int, seed: int) -> None:  # fmt: skip
    """Adapt online over VIDEO (a file FFmpeg reads, or a shipped clip: bikes, bigbuckbunny,
    carphone_pristine, carphone_distorted) and write the per-frame colorization PSNR of the fixed
    model and of online TTT, and a few predicted frames.

    \b
    Examples:
      mlroundup ttt run my_clip.mp4 --window 16 --out runs/my_clip
      mlroundup ttt run bikes --window scene --max-window 16 --out runs/bikes
    """
    import numpy as np
    import torch

    from mlroundup.ttt.online import TTTConfig, check_model, run_fixed, run_online
    from mlroundup.ttt.streams import CLIPS, VideoDecodeError, clip_path, read_video

    k = _window(window)
    if max_window is not None and k != "scene":
        raise click.BadParameter("only with --window scene", param_hint="--max-window")
    if out_dir.exists() and not out_dir.is_dir():
        raise click.ClickException(f"--out {out_dir} exists and is not a folder")
    taken = [n for n in (*OUTPUTS, "frames") if (out_dir / n).exists()]
    if taken:
        raise click.ClickException(
            f"{out_dir} already holds {', '.join(taken)}; not overwriting (choose another --out)"
        )
    path = Path(video)
    if not path.exists() and video in CLIPS:
        path = clip_path(video)
    model = _load_model(model_path)
    try:
        check_model(model)
        stream = read_video(path, model.cfg.image_size, max_frames, stride)
    except (FileNotFoundError, VideoDecodeError, TypeError) as exc:
        raise click.ClickException(str(exc)) from None
    cfg = TTTConfig(window=k, max_window=max_window, lr=lr, steps=steps, batch=batch, implicit=not no_implicit,
                    seed=seed)  # fmt: skip
    n = len(stream)
    keep = (
        set(np.linspace(0, n - 1, save_frames).round().astype(int).tolist())
        if save_frames
        else set()
    )
    saved: dict[int, np.ndarray] = {}
    grey = torch.from_numpy(stream.grey()).unsqueeze(1)  # (T, 1, H, W)

    def grab(t: int, score: float) -> None:
        if t in keep:
            with torch.no_grad():
                saved[t] = model.colorize(grey[t : t + 1])[0].permute(1, 2, 0).numpy()

    fixed = run_fixed(model, stream)
    online = run_online(model, stream, cfg, on_frame=grab)
    with torch.no_grad():
        fixed_rgb = {t: model.colorize(grey[t : t + 1])[0].permute(1, 2, 0).numpy() for t in keep}
    _write(out_dir, stream, fixed, online, cfg, saved, fixed_rgb, path)
    click.echo(
        f"{n} frames of {path.name}: PSNR fixed {fixed.mean:.2f} dB, online TTT "
        f"(window {k}) {online.mean:.2f} dB ({online.mean - fixed.mean:+.2f} dB), "
        f"{1000 * online.seconds_per_frame:.0f} ms per frame; wrote {out_dir}"
    )


def _load_model(model_path: Path | None):
    from mlroundup.ttt.train import load_yvit, pretrained_yvit

    if model_path is not None:
        try:
            return load_yvit(model_path)
        except (FileNotFoundError, ValueError) as exc:
            raise click.ClickException(str(exc)) from None
    from mlroundup.ttt.experiment import SETTINGS, pretrain_spec
    from mlroundup.utils.paths import default_cache_dir

    spec = pretrain_spec(SETTINGS["quick"])
    model, info = pretrained_yvit(spec, default_cache_dir(), log=click.echo)
    if not info["cached"]:
        click.echo(f"trained the default model once; cached at {info['path']}")
    return model


def _write(out_dir: Path, stream, fixed, online, cfg, saved, fixed_rgb, source: Path) -> None:
    """metrics.csv, summary.json and frames/*.png, each written atomically, none over a file."""
    import csv
    import io

    import numpy as np
    from PIL import Image

    from mlroundup.utils.files import atomic_write_bytes, atomic_write_text

    out_dir.mkdir(parents=True, exist_ok=True)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["frame", "psnr_fixed_db", "psnr_ttt_db", "ssl_loss", "cut_detected", "window"])
    cuts = set(online.cuts)
    for t in range(len(stream)):
        win = online.windows[t]
        w.writerow([t, f"{fixed.scores[t]:.4f}", f"{online.scores[t]:.4f}",
                    f"{online.ssl_losses[t]:.6f}", int(t in cuts),
                    f"{win[0]}-{win[-1]}" if win else ""])  # fmt: skip
    atomic_write_text(out_dir / "metrics.csv", buf.getvalue())
    summary = {
        "video": str(source), "frames": len(stream), "size": list(stream.size),
        "config": {k: v for k, v in cfg.__dict__.items() if k != "detector"},
        "psnr_fixed_db": fixed.mean, "psnr_ttt_db": online.mean,
        "gain_db": online.mean - fixed.mean, "seconds_per_frame": online.seconds_per_frame,
        "cuts_detected": online.cuts, "saved_frames": sorted(saved),
        "paper": "Wang et al. 2023, Test-Time Training on Video Streams, arXiv 2307.05014",
    }  # fmt: skip
    atomic_write_text(out_dir / "summary.json", json.dumps(summary, indent=2))
    if saved:
        (out_dir / "frames").mkdir()
    for t, rgb in sorted(saved.items()):
        grey = np.repeat(stream.grey()[t][..., None], 3, axis=2)
        strip = np.concatenate([grey, fixed_rgb[t], rgb, stream.frames[t]], axis=1)
        png = io.BytesIO()
        Image.fromarray(np.round(np.clip(strip, 0, 1) * 255).astype(np.uint8)).save(png, "PNG")
        atomic_write_bytes(out_dir / "frames" / f"frame_{t:05d}.png", png.getvalue())
