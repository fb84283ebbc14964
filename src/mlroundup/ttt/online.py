"""Online test-time training on a video stream, its baselines, and a scene-aware window.

Online TTT-MAE (Wang et al. 2023, Sec. 3, Eq. 2): for each new frame ``x_t`` the model
``f_t = f_{t-1}`` (implicit memory: weights carried) takes ``steps`` gradient steps on the
self-supervised loss over a sliding window of the last ``k`` frames (explicit memory),
then predicts frame ``t`` with encoder + task head. After the video the original weights are
restored, so every video starts from the same model.

The model protocol (:class:`TTTModel`) is small, so any ``nn.Module`` works:

- ``encoder``, ``ssl_head``, ``task_head``: the three parts (``nn.Module`` each); test-time
  training updates the encoder and the self-supervised head (the official code's default); the task
  head stays as trained;
- ``ssl_loss(x, generator=None) -> Tensor``: the self-supervised loss of a batch of inputs;
- ``predict(x) -> Tensor``: the task output for a batch of inputs.

A :class:`Task` turns RGB frames into model inputs and scores predictions against the frames
(:class:`Colorization`: grey in, PSNR of the colourized frame out).

Arms (:func:`run_arm`): ``fixed`` (no TTT), ``online`` (window ``k`` in 1, 4, 16, 64, ...;
``"all"`` = every past frame; ``"scene"`` = the frames since the last detected cut, at most
``max_window`` of them, beyond the paper: :class:`CutDetector` on grey-frame differences),
``online`` with ``implicit=False`` (weights reset before every frame: TTT-MAE per frame with a
window), and ``offline`` (TTT on the whole video, every frame including the future, then predict).
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np
import torch
from torch import nn

from mlroundup.ttt.streams import VideoStream


@runtime_checkable
class TTTModel(Protocol):
    """What the online loop needs of a model (see the module docstring)."""

    encoder: nn.Module
    ssl_head: nn.Module
    task_head: nn.Module

    def ssl_loss(
        self, x: torch.Tensor, generator: torch.Generator | None = None
    ) -> torch.Tensor: ...

    def predict(self, x: torch.Tensor) -> torch.Tensor: ...


def check_model(model: Any) -> None:
    """Raise TypeError naming what a model lacks of :class:`TTTModel`."""
    missing = [n for n in ("encoder", "ssl_head", "task_head")
               if not isinstance(getattr(model, n, None), nn.Module)]  # fmt: skip
    missing += [n for n in ("ssl_loss", "predict") if not callable(getattr(model, n, None))]
    if missing:
        raise TypeError(
            f"{type(model).__name__} cannot be test-time trained: it lacks {', '.join(missing)} "
            "(a TTT model has encoder, ssl_head and task_head modules and ssl_loss / predict "
            "methods; see mlroundup.ttt.online)"
        )


def adapted_parameters(model: TTTModel) -> list[nn.Parameter]:
    """The parameters test-time training updates: the encoder's and the self-supervised head's."""
    seen, params = set(), []
    for part in (model.encoder, model.ssl_head):
        for p in part.parameters():
            if id(p) not in seen and p.requires_grad:
                seen.add(id(p))
                params.append(p)
    return params


def snapshot(model: nn.Module) -> dict[str, torch.Tensor]:
    """A detached copy of every parameter and buffer (restored by :func:`restore`)."""
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def restore(model: nn.Module, state: dict[str, torch.Tensor]) -> None:
    """Copy a :func:`snapshot` back into the model in place (bit for bit)."""
    with torch.no_grad():
        for k, v in model.state_dict().items():
            v.copy_(state[k])


# ------------------------------------------------------------------------------------------- tasks
class Task:
    """Turns frames into model inputs and scores the model's predictions (higher is better)."""

    name = "task"
    unit = ""

    def inputs(self, frames: np.ndarray) -> torch.Tensor:
        """(T, H, W, 3) float32 RGB -> model inputs (T, ...)."""
        raise NotImplementedError

    def score(self, prediction: torch.Tensor, frames: np.ndarray) -> np.ndarray:
        """Per-frame score (T,) of predictions (T, ...) against the frames (T, H, W, 3)."""
        raise NotImplementedError


class Colorization(Task):
    """Predict colour from the grey frame; score: PSNR (dB) of the RGB frame made from the true luma
    and the predicted chroma (clipped to [0, 1]) against the clip's frame, peak 1.

    ``PSNR = 10 log10(1 / MSE)`` over the frame's pixels and channels.
    """

    name = "colorization"
    unit = "dB"

    def inputs(self, frames: np.ndarray) -> torch.Tensor:
        from mlroundup.ttt.streams import rgb_to_luma

        return torch.from_numpy(rgb_to_luma(frames)).unsqueeze(1)  # (T, 1, H, W)

    def score(self, prediction: torch.Tensor, frames: np.ndarray) -> np.ndarray:
        from mlroundup.ttt.model import ycbcr_to_rgb

        y = self.inputs(frames).to(prediction)
        rgb = ycbcr_to_rgb(y, prediction).clamp(0.0, 1.0).permute(0, 2, 3, 1)  # (T, H, W, 3)
        target = torch.from_numpy(frames).to(rgb)
        mse = ((rgb - target) ** 2).flatten(1).mean(1).double().clamp_min(1e-12)
        return (10.0 * torch.log10(1.0 / mse)).cpu().numpy()


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR (dB, peak 1) between two arrays of the same shape."""
    mse = float(np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2))
    return float(10 * np.log10(1.0 / max(mse, 1e-12)))


# ---------------------------------------------------------------------------------- scene cuts
@dataclass(frozen=True)
class CutDetector:
    """A causal shot-boundary detector on consecutive frame differences.

    ``d_t`` is the mean absolute difference of the grey frames ``t`` and ``t - 1`` (pixel units,
    in [0, 1]). Frame ``t`` starts a new scene when ``d_t >= min_diff`` and
    ``d_t >= ratio * median(d_{t-h}, ..., d_{t-1})`` over the last ``h = history`` differences
    since the last cut (the median alone when fewer are known; only ``min_diff`` for the first
    difference after a cut). A cut needs a jump large in absolute terms and against the scene's
    own motion, so a fast pan does not count as a cut but a change of shot does.

    Parameters
    ----------
    min_diff : float
        Smallest difference that can be a cut, in (0, 1].
    ratio : float
        How many times the recent median a cut must exceed (>= 1).
    history : int
        Differences in the running median (>= 1).
    """

    min_diff: float = 0.08
    ratio: float = 3.0
    history: int = 8

    def __post_init__(self) -> None:
        if not 0 < self.min_diff <= 1:
            raise ValueError(f"invalid min_diff={self.min_diff}: must be in (0, 1]")
        if self.ratio < 1:
            raise ValueError(f"invalid ratio={self.ratio}: must be >= 1")
        if self.history < 1:
            raise ValueError(f"invalid history={self.history}: must be >= 1")

    def stepper(self) -> Callable[[np.ndarray], bool]:
        """A causal detector: call it with each grey frame (H, W) in order; True at a cut."""
        prev: list[np.ndarray | None] = [None]
        recent: deque[float] = deque(maxlen=self.history)

        def step(grey: np.ndarray) -> bool:
            last, prev[0] = prev[0], grey
            if last is None:
                return False
            d = float(np.mean(np.abs(grey - last)))
            cut = d >= self.min_diff and (not recent or d >= self.ratio * float(np.median(recent)))
            if cut:
                recent.clear()
            else:
                recent.append(d)
            return cut

        return step

    def detect(self, stream: VideoStream) -> list[int]:
        """Indices of the frames that start a new scene (causal, as in the online loop)."""
        step = self.stepper()
        return [t for t, g in enumerate(stream.grey()) if step(g)]


# ------------------------------------------------------------------------------------------- arms
@dataclass(frozen=True)
class TTTConfig:
    """Knobs of test-time training (Wang et al. 2023, Sec. 3-4 and Table 4).

    Parameters
    ----------
    window : int, "all" or "scene"
        Explicit memory: the last ``k`` frames (k >= 1; the paper's default 16), every past frame,
        or every frame since the last detected scene cut (beyond the paper).
    steps : int
        Gradient steps per frame (the official ``TTT.ST_ITERS``: 1).
    lr : float
        AdamW learning rate (official runs: 1e-4 on a Swin-S; a small model from scratch wants
        more).
    weight_decay : float
        AdamW decoupled weight decay (official: 0.05).
    batch : int
        At most this many frames of the window per step (a random subset, always with the
        current frame, when the window is larger).
    implicit : bool
        Carry the weights to the next frame (implicit memory); False resets them before every
        frame (the paper's ablation without implicit memory).
    restart_optimizer : bool
        A fresh optimizer state for every frame (the official ``--restart_optimizer``).
    max_window : int or None
        With ``window="scene"``: at most this many most recent frames since the last cut (a
        sliding window of ``max_window`` frames cleared at cuts); None: every frame since the cut.
    scene_resets_weights : bool
        With ``window="scene"``: also restore the original weights at a detected cut.
    detector : CutDetector
    grad_clip : float or None
        Clip the gradient norm of the adapted parameters.
    seed : int
        Seeds the masks and window subsets.
    """

    window: int | str = 16
    steps: int = 1
    lr: float = 1e-3
    weight_decay: float = 0.05
    batch: int = 16
    implicit: bool = True
    restart_optimizer: bool = False
    max_window: int | None = None
    scene_resets_weights: bool = False
    detector: CutDetector = field(default_factory=CutDetector)
    grad_clip: float | None = 1.0
    seed: int = 0

    def __post_init__(self) -> None:
        w = self.window
        if isinstance(w, bool) or not ((isinstance(w, int) and w >= 1) or w in ("all", "scene")):
            raise ValueError(f"invalid window={w!r}: a positive int, 'all' or 'scene'")
        if self.max_window is not None and (w != "scene" or self.max_window < 1):
            raise ValueError(
                f"invalid max_window={self.max_window}: a positive int, only with window='scene'"
            )
        for name in ("steps", "batch"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < (0 if name == "steps" else 1):
                raise ValueError(f"invalid {name}={v!r}: an int >= {0 if name == 'steps' else 1}")
        for name in ("lr", "weight_decay"):
            v = getattr(self, name)
            if not (isinstance(v, int | float) and math.isfinite(v) and v >= 0):
                raise ValueError(f"invalid {name}={v!r}: must be a finite number >= 0")
        if self.grad_clip is not None and not self.grad_clip > 0:
            raise ValueError(f"invalid grad_clip={self.grad_clip}: must be > 0 or None")


@dataclass
class StreamResult:
    """What one arm measured over one stream.

    Attributes
    ----------
    arm : str
    scores : ndarray of shape (T,)
        The task's per-frame score (PSNR in dB for colorization).
    ssl_losses : ndarray of shape (T,)
        Self-supervised loss of the last step at each frame (NaN where no step was taken).
    windows : list of tuple of int
        Frame indices each frame's steps trained on (its explicit memory); empty for ``fixed``.
    cuts : list of int
        Frames where the arm's detector fired (``window="scene"`` only).
    seen : list of int
        Every frame index any step trained on.
    seconds_per_frame : float
        Wall time per frame (adaptation and prediction).
    """

    arm: str
    scores: np.ndarray
    ssl_losses: np.ndarray
    windows: list[tuple[int, ...]] = field(default_factory=list)
    cuts: list[int] = field(default_factory=list)
    seen: list[int] = field(default_factory=list)
    seconds_per_frame: float = 0.0

    @property
    def mean(self) -> float:
        return float(np.mean(self.scores))


def _optimizer(params: Sequence[nn.Parameter], cfg: TTTConfig) -> torch.optim.Optimizer:
    return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)


def _step(model, params, opt, x: torch.Tensor, cfg: TTTConfig, gen: torch.Generator) -> float:
    opt.zero_grad(set_to_none=True)
    loss = model.ssl_loss(x, generator=gen)
    loss.backward()
    if cfg.grad_clip is not None:
        torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip)
    opt.step()
    return float(loss.detach())


@torch.no_grad()
def _predict(model, x: torch.Tensor) -> torch.Tensor:
    return model.predict(x)


def run_fixed(model: TTTModel, stream: VideoStream, task: Task | None = None) -> StreamResult:
    """The fixed model: predict every frame with the trained weights (no test-time training)."""
    check_model(model)
    task = task or Colorization()
    t0 = time.perf_counter()
    was = model.training
    model.eval()
    x = task.inputs(stream.frames)
    preds = torch.cat([_predict(model, x[i : i + 64]) for i in range(0, len(x), 64)])
    model.train(was)
    scores = task.score(preds, stream.frames)
    n = len(stream)
    return StreamResult(
        "fixed", scores, np.full(n, np.nan), seconds_per_frame=(time.perf_counter() - t0) / n
    )


def run_online(
    model: TTTModel,
    stream: VideoStream,
    cfg: TTTConfig | None = None,
    task: Task | None = None,
    on_frame: Callable[[int, float], None] | None = None,
) -> StreamResult:
    """Online TTT over one video (Wang et al. 2023, Sec. 3): adapt on the window, then predict.

    For frame ``t``: (scene window: clear the window if the detector fires), append ``t`` to the
    window, (no implicit memory: restore the original weights), take ``cfg.steps`` AdamW steps on
    ``ssl_loss`` over the window (at most ``cfg.batch`` frames, the current one always in), then
    predict frame ``t``. The original weights are restored when the video ends, also on error.

    Parameters
    ----------
    model : TTTModel
    stream : VideoStream
    cfg : TTTConfig, optional
    task : Task, optional
        Default :class:`Colorization`.
    on_frame : callable, optional
        Called as ``on_frame(t, score)`` after each frame.

    Returns
    -------
    StreamResult

    Raises
    ------
    TypeError
        If the model lacks a part of :class:`TTTModel`.
    """
    check_model(model)
    cfg = cfg or TTTConfig()
    task = task or Colorization()
    x_all = task.inputs(stream.frames)
    n = len(stream)
    original = snapshot(model)
    params = adapted_parameters(model)
    gen = torch.Generator().manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    k = {"all": None, "scene": cfg.max_window}.get(cfg.window, cfg.window)
    window: deque[int] = deque(maxlen=k)
    detect = cfg.detector.stepper() if cfg.window == "scene" else None
    grey = stream.grey() if detect is not None else None
    scores = np.empty(n)
    losses = np.full(n, np.nan)
    windows, cuts, seen = [], [], set()
    was = model.training
    opt = _optimizer(params, cfg)
    t0 = time.perf_counter()
    try:
        for t in range(n):
            if detect is not None and detect(grey[t]):
                cuts.append(t)
                window.clear()
                if cfg.scene_resets_weights:
                    restore(model, original)
                    opt = _optimizer(params, cfg)
            window.append(t)
            if not cfg.implicit:
                restore(model, original)
            if cfg.restart_optimizer or not cfg.implicit:
                opt = _optimizer(params, cfg)
            idx = _subset(list(window), cfg.batch, rng)
            windows.append(tuple(idx))
            if cfg.steps:
                seen.update(idx)
                model.train()
                for _ in range(cfg.steps):
                    losses[t] = _step(model, params, opt, x_all[idx], cfg, gen)
            model.eval()
            scores[t] = task.score(_predict(model, x_all[t : t + 1]), stream.frames[t : t + 1])[0]
            if on_frame is not None:
                on_frame(t, float(scores[t]))
    finally:
        restore(model, original)
        model.train(was)
    name = "online" if cfg.implicit else "online-no-implicit"
    window_name = f"scene<={k}" if cfg.window == "scene" and k else cfg.window
    return StreamResult(
        f"{name}(window={window_name})", scores, losses, windows, cuts, sorted(seen),
        (time.perf_counter() - t0) / n,
    )  # fmt: skip


def _subset(window: list[int], batch: int, rng: np.random.Generator) -> list[int]:
    """The whole window if it fits in ``batch``, else the newest frame plus a random sample."""
    if len(window) <= batch:
        return window
    rest = rng.choice(len(window) - 1, size=batch - 1, replace=False)
    return sorted([window[i] for i in rest] + [window[-1]])


def run_offline(
    model: TTTModel,
    stream: VideoStream,
    cfg: TTTConfig | None = None,
    task: Task | None = None,
    total_steps: int | None = None,
) -> StreamResult:
    """Offline TTT on the whole test video (Wang et al. 2023, Sec. 4.2, "offline TTT, all frames"):
    ``total_steps`` AdamW steps (default: as many as online TTT takes, ``T * cfg.steps``) on
    batches of ``cfg.batch`` frames drawn in passes over a fresh random order of all ``T`` frames
    (every frame, past and future, is trained on), then predict every frame with the final weights.
    The original weights are restored afterwards.

    Returns
    -------
    StreamResult
        ``windows`` lists each step's batch.
    """
    check_model(model)
    cfg = cfg or TTTConfig()
    task = task or Colorization()
    x_all = task.inputs(stream.frames)
    n = len(stream)
    total = n * cfg.steps if total_steps is None else int(total_steps)
    original = snapshot(model)
    params = adapted_parameters(model)
    gen = torch.Generator().manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    opt = _optimizer(params, cfg)
    losses = np.full(n, np.nan)
    batches, order = [], []
    was = model.training
    t0 = time.perf_counter()
    try:
        model.train()
        for s in range(total):
            if len(order) < min(cfg.batch, n):
                order.extend(int(i) for i in rng.permutation(n))
            idx = sorted(order[: min(cfg.batch, n)])
            del order[: min(cfg.batch, n)]
            batches.append(tuple(idx))
            loss = _step(model, params, opt, x_all[idx], cfg, gen)
            losses[min(s * n // max(total, 1), n - 1)] = loss
        model.eval()
        preds = torch.cat([_predict(model, x_all[i : i + 64]) for i in range(0, n, 64)])
        scores = task.score(preds, stream.frames)
    finally:
        restore(model, original)
        model.train(was)
    seen = sorted({i for b in batches for i in b})
    return StreamResult("offline(all frames)", scores, losses, batches, [], seen,
                        (time.perf_counter() - t0) / n)  # fmt: skip


def run_arm(
    model: TTTModel, stream: VideoStream, arm: str, cfg: TTTConfig | None = None,
    task: Task | None = None,
) -> StreamResult:  # fmt: skip
    """One named arm: ``"fixed"``, ``"online"``, ``"offline"`` or ``"no-implicit"``.

    Raises
    ------
    ValueError
        If ``arm`` is not one of those (the message lists them).
    """
    cfg = cfg or TTTConfig()
    if arm == "fixed":
        return run_fixed(model, stream, task)
    if arm == "online":
        return run_online(model, stream, cfg, task)
    if arm == "no-implicit":
        return run_online(model, stream, dataclasses.replace(cfg, implicit=False), task)
    if arm == "offline":
        return run_offline(model, stream, cfg, task)
    raise ValueError(f"unknown arm {arm!r}; valid: fixed, online, offline, no-implicit")
