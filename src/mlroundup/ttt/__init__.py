"""Test-time training on video streams (Wang, Sun, Tandon, Gandelsman, Chen, Efros, Wang,
"Test-Time Training on Video Streams", arXiv 2307.05014, JMLR 2025; official code:
github.com/renwang435/video-ttt-release).

A Y-shaped model (shared encoder, masked-autoencoder head, task head) adapts online: for each new
frame it takes gradient steps on the reconstruction loss over a sliding window of recent frames
(explicit memory), carries its weights to the next frame (implicit memory), predicts the frame,
and gets its original weights back when the video ends::

    from mlroundup.ttt import PretrainSpec, TTTConfig, load_clip, pretrained_yvit, run_online
    from mlroundup.utils.paths import default_cache_dir

    model, _ = pretrained_yvit(PretrainSpec(), default_cache_dir())   # trained once, then cached
    stream = load_clip("bikes", size=model.cfg.image_size, max_frames=120)
    result = run_online(model, stream, TTTConfig(window=16))
    result.scores                # per-frame colorization PSNR (dB)

Any ``nn.Module`` with ``encoder``, ``ssl_head`` and ``task_head`` parts and ``ssl_loss`` /
``predict`` methods works (:class:`~mlroundup.ttt.online.TTTModel`).

Modules: :mod:`.streams` (clips, stills, concatenations), :mod:`.drifts`, :mod:`.model` (the
YViT), :mod:`.train` (offline joint training, cached checkpoints), :mod:`.online` (the arms and
the scene-cut detector), :mod:`.experiment`, :mod:`.cli`.
"""

from __future__ import annotations

from mlroundup.utils.lazy import lazy_exports

# Imported lazily (PEP 562) so that registering the experiment does not import torch.
_EXPORTS = {
    "streams": (
        "CLIPS", "STILLS", "VideoStream", "VideoDecodeError", "read_video", "load_clip",
        "clip_path", "still_image", "image_stream", "concat", "rgb_to_luma",
    ),
    "drifts": (
        "Drift", "Compose", "Contrast", "Noise", "Blur", "ColourCast", "JPEG", "apply_drift",
    ),
    "model": ("YViT", "YViTConfig", "rgb_to_ycbcr", "ycbcr_to_rgb"),
    "train": ("PretrainSpec", "train_yvit", "pretrained_yvit", "save_yvit", "load_yvit"),
    "online": (
        "TTTModel", "TTTConfig", "StreamResult", "Task", "Colorization", "CutDetector",
        "check_model", "run_fixed", "run_online", "run_offline", "run_arm", "psnr",
    ),
}  # fmt: skip
__getattr__, __all__ = lazy_exports(__name__, _EXPORTS)
