"""A trainer that holds compute fixed and always finishes its schedule (Kaddour et al. 2023, Sec. 3).

:func:`train` runs a language model on a token stream (or any model on batches its method draws
itself) until a :class:`~.budget.Budget` is spent, setting the learning rate each step from the
fraction of the budget used, so the schedule reaches its floor when the budget runs out. Efficient-training methods plug in as a
:class:`~.method.Method`: hooks that choose the optimizer, change the model between steps, decide
which passes a step makes, and say what each pass costs. Evaluation is never charged.

Reproducibility: every random choice of step ``s`` (the batch, dropped layers, selected examples,
dropout) is drawn from a generator seeded by ``(seed, s, ...)``, not from a stream carried across
steps, so a run resumed from a checkpoint reproduces the uninterrupted run's losses exactly (under an
RST budget; a wall-clock budget depends on the clock by definition). On CPU a run is deterministic
for a fixed number of threads.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mlroundup.data.windows import batch_starts, windows
from mlroundup.training.budget import Budget, Charge
from mlroundup.training.checkpoint import load_checkpoint, save_checkpoint
from mlroundup.training.distributed import (
    World,
    all_reduce_scalar,
    average_gradients,
    barrier,
    init_from_env,
)
from mlroundup.training.method import Baseline, Method
from mlroundup.training.model import per_token_loss
from mlroundup.training.schedules import BudgetSchedule

LN2 = math.log(2.0)


class BudgetTooSmallError(ValueError):
    """The budget is shorter than one training step."""


class NonFiniteLossError(FloatingPointError):
    """The training loss became NaN or infinite; training stopped before the update.

    Attributes
    ----------
    step : int
        The step whose loss was not finite (0-based).
    checkpoint : pathlib.Path or None
        The last good checkpoint, if any was written.
    """

    def __init__(self, message: str, step: int, checkpoint: Path | None) -> None:
        super().__init__(message)
        self.step, self.checkpoint = step, checkpoint


@dataclass(frozen=True)
class TrainConfig:
    """Settings of a budgeted run (the budget and schedule are passed separately).

    Parameters
    ----------
    batch_size : int
        Global batch (sequences per optimizer step, over all processes); divisible by the number of
        processes.
    seq_len : int
        Tokens per training sequence; at most the model's ``block_size``.
    seed : int
        Seeds every random choice (see the module docstring).
    weight_decay : float
        Decoupled weight decay of the matrices (norms and biases are not decayed).
    betas : (float, float)
        AdamW's betas (methods with their own optimizer use their own).
    grad_clip : float or None
        Clip the global gradient norm to this (None: no clipping).
    eval_at : sequence of float
        Budget fractions at which to evaluate on the validation stream during training (the end of
        the budget is always evaluated).
    eval_sequences : int
        Validation windows per evaluation (evenly spaced over the stream, the same every time).
    eval_batch_size : int
    checkpoint_dir : path or None
        Where ``last.pt`` is written (atomically).
    checkpoint_every : int
        Write a checkpoint every this many steps (0: only at the end).
    max_steps : int or None
        Stop after this many steps even if budget is left (for tests and interrupted runs).
    progress : bool
        Show a progress bar (loss, tokens per second, budget left) on the main process.
    device : str
    """

    batch_size: int = 32
    seq_len: int = 128
    seed: int = 0
    weight_decay: float = 0.1
    betas: tuple[float, float] = (0.9, 0.95)
    grad_clip: float | None = 1.0
    eval_at: Sequence[float] = ()
    eval_sequences: int = 64
    eval_batch_size: int = 32
    checkpoint_dir: Path | str | None = None
    checkpoint_every: int = 0
    max_steps: int | None = None
    progress: bool = False
    device: str = "cpu"

    def __post_init__(self) -> None:
        for name in ("batch_size", "seq_len", "eval_sequences", "eval_batch_size"):
            v = getattr(self, name)
            if not (isinstance(v, int) and v > 0):
                raise ValueError(f"invalid {name}={v!r}: must be a positive int")
        if self.weight_decay < 0:
            raise ValueError(f"invalid weight_decay={self.weight_decay}: must be >= 0")
        if self.grad_clip is not None and not self.grad_clip > 0:
            raise ValueError(f"invalid grad_clip={self.grad_clip}: must be > 0 or None")
        if any(not 0.0 < f <= 1.0 for f in self.eval_at):
            raise ValueError(f"invalid eval_at={tuple(self.eval_at)}: fractions in (0, 1]")
        if self.checkpoint_every < 0:
            raise ValueError(f"invalid checkpoint_every={self.checkpoint_every}: must be >= 0")
        if self.max_steps is not None and self.max_steps < 1:
            raise ValueError(f"invalid max_steps={self.max_steps}: must be >= 1 or None")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["eval_at"] = list(self.eval_at)
        d["betas"] = list(self.betas)
        d["checkpoint_dir"] = None if self.checkpoint_dir is None else str(self.checkpoint_dir)
        return d


@dataclass
class Evaluation:
    """Validation loss at one point of a run."""

    step: int
    fraction: float
    loss: float  # nats per token
    bits_per_token: float
    bits_per_char: float


@dataclass
class TrainResult:
    """What :func:`train` returns.

    Attributes
    ----------
    model : torch.nn.Module
        The trained model (a new module if a method replaced it, e.g. layer stacking).
    steps : int
        Optimizer steps taken.
    used_s : float
        Budget used (seconds of the budget's kind); >= the budget unless stopped by ``max_steps``.
    wall_s : float
        Wall-clock seconds of training steps (evaluation and checkpoints excluded).
    history : list of dict
        Per step: ``step``, ``fraction`` (at the step's start), ``lr``, ``loss`` (training, nats per
        token), ``charged_s``.
    evals : list of Evaluation
        During training at ``eval_at`` and at the end (the last one is the final result).
    """

    model: torch.nn.Module
    steps: int
    used_s: float
    wall_s: float
    history: list[dict[str, float]] = field(default_factory=list)
    evals: list[Evaluation] = field(default_factory=list)

    @property
    def final(self) -> Evaluation:
        return self.evals[-1]

    @property
    def losses(self) -> list[float]:
        return [h["loss"] for h in self.history]


@torch.no_grad()
def evaluate(
    model: torch.nn.Module,
    stream,
    seq_len: int,
    n_sequences: int = 64,
    batch_size: int = 32,
    device: str = "cpu",
) -> tuple[float, float, float]:
    """Mean validation loss over fixed windows evenly spaced over ``stream``.

    Parameters
    ----------
    model : torch.nn.Module
        ``model(idx) -> logits`` of shape (B, T, V).
    stream : TokenStream
        ``tokens`` (uint16 array) and ``chars_per_token``.
    seq_len, n_sequences, batch_size : int

    Returns
    -------
    loss : float
        Nats per token.
    bits_per_token : float
        ``loss / ln 2``.
    bits_per_char : float
        ``loss / (ln 2 * chars_per_token)``, with the stream's characters per token.
    """
    n = len(stream.tokens)
    _check_length(n, seq_len, "validation")
    starts = np.unique(np.linspace(0, n - seq_len - 1, n_sequences).astype(np.int64))
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    for i in range(0, len(starts), batch_size):
        x, y = windows(stream.tokens, starts[i : i + batch_size], seq_len)
        x, y = x.to(device), y.to(device)
        total += float(per_token_loss(model(x), y).sum())
        count += y.numel()
    model.train(was_training)
    loss = total / count
    return loss, loss / LN2, loss / (LN2 * stream.chars_per_token)


def _check_length(n_tokens: int, seq_len: int, what: str) -> None:
    if n_tokens < seq_len + 1:
        raise ValueError(
            f"the {what} corpus has {n_tokens} tokens, too few for seq_len={seq_len} "
            f"(needs at least seq_len + 1 = {seq_len + 1}); use a shorter seq_len or more text"
        )


class Trainer:
    """The state of one budgeted run; methods reach the model, data and budget through it.

    Use :func:`train`; a :class:`~.method.Method` receives the trainer in its hooks and may use
    :meth:`forward`, :meth:`backward`, :meth:`sample`, :meth:`replace_model`, :meth:`rng` and the
    attributes ``model``, ``optimizer``, ``config``, ``budget``, ``step``, ``fraction``, ``world``.
    """

    def __init__(self, model, train_stream, val_stream, budget, schedule, method, config, world):
        self.model: torch.nn.Module = model.to(config.device)
        self.train_stream, self.val_stream = train_stream, val_stream
        self.budget: Budget = budget
        self.schedule: BudgetSchedule = schedule
        self.method: Method = method
        self.config: TrainConfig = config
        self.world: World = world
        self.local_batch = config.batch_size // world.size
        self.step = 0
        self.used = 0.0
        self.wall = 0.0
        self.history: list[dict[str, float]] = []
        self.evals: list[Evaluation] = []
        self.optimizer: torch.optim.Optimizer = method.make_optimizer(self)
        self.last_checkpoint: Path | None = None

    # ----------------------------------------------------------------------------- for methods
    @property
    def fraction(self) -> float:
        """Budget used so far, in [0, 1]."""
        return min(self.used / self.budget.total, 1.0)

    @property
    def n_layers(self) -> int:
        """Transformer layers of the current model: ``len(model.blocks)``, else its config's
        ``n_layer`` / ``num_hidden_layers`` (what RST charges are looked up by)."""
        blocks = getattr(self.model, "blocks", None)
        if blocks is not None:
            return len(blocks)
        cfg = getattr(self.model, "cfg", None) or getattr(self.model, "config", None)
        for name in ("n_layer", "num_hidden_layers"):
            if hasattr(cfg, name):
                return int(getattr(cfg, name))
        raise TypeError(
            f"cannot tell the depth of a {type(self.model).__name__}: give it `blocks` or a config "
            "with n_layer / num_hidden_layers"
        )

    def rng(self, *salt: int) -> np.random.Generator:
        """A generator for this step seeded by ``(seed, step, *salt)``."""
        return np.random.default_rng((self.config.seed, self.step, *salt))

    def sample(self, batch: int, salt: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
        """This process's share of a global batch of ``batch * world.size`` windows of this step.

        Raises
        ------
        RuntimeError
            If the run was given no token streams (``train(model, None, ...)``): a method that
            draws its own batches samples them itself, e.g. with :meth:`rng`.
        """
        cfg = self.config
        if self.train_stream is None:
            raise RuntimeError(
                f"method {self.method.name!r} asked the trainer for token windows, but train() was "
                "given no data (data=None): such a method draws its own batches in train_step"
            )
        starts = batch_starts(
            cfg.seed,
            self.step,
            len(self.train_stream.tokens),
            cfg.seq_len,
            batch * self.world.size,
            salt,
        )
        mine = starts[self.world.rank * batch : (self.world.rank + 1) * batch]
        x, y = windows(self.train_stream.tokens, mine, cfg.seq_len)
        return x.to(cfg.device), y.to(cfg.device)

    def forward(self, x: torch.Tensor, active_layers: Sequence[int] | None = None) -> torch.Tensor:
        """Logits (B, T, V) of the current model."""
        return self.model(x, active_layers=active_layers)

    def backward(self, loss: torch.Tensor) -> None:
        """Backpropagate ``loss`` and average the gradients over processes."""
        loss.backward()
        average_gradients(list(self.model.parameters()), self.world)

    def replace_model(self, model: torch.nn.Module, reset_optimizer: bool = True) -> None:
        """Swap in a new model (e.g. a stacked one) and, by default, a fresh optimizer."""
        self.model = model.to(self.config.device)
        if reset_optimizer:
            self.optimizer = self.method.make_optimizer(self)

    def param_groups(self) -> list[dict[str, Any]]:
        """Parameters split into decayed matrices and undecayed vectors (norms, biases)."""
        decay, no_decay = [], []
        for p in self.model.parameters():
            if p.requires_grad:
                (decay if p.dim() >= 2 else no_decay).append(p)
        return [
            {"params": decay, "weight_decay": self.config.weight_decay},
            {"params": no_decay, "weight_decay": 0.0},
        ]

    # ----------------------------------------------------------------------------- the loop
    def _charge(self, charges: Sequence[Charge], elapsed: float) -> float:
        if self.budget.kind == "steps":
            return float(sum(1 for c in charges if c.kind == "train"))
        if self.budget.table is not None:
            return self.budget.table.total(charges)
        return elapsed

    def _evaluate(self) -> Evaluation:
        loss, bpt, bpc = self.method.evaluate(self)
        ev = Evaluation(self.step, self.fraction, loss, bpt, bpc)
        self.evals.append(ev)
        return ev

    def _state(self) -> dict[str, Any]:
        cfg = getattr(self.model, "cfg", None)
        return {
            "model_config": cfg.to_dict() if hasattr(cfg, "to_dict") else None,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "method": {"name": self.method.name, "state": self.method.state_dict()},
            "trainer": {
                "step": self.step,
                "used": self.used,
                "wall": self.wall,
                "history": self.history,
                "evals": [asdict(e) for e in self.evals],
            },
            "run": self._identity(),
        }

    def _identity(self) -> dict[str, Any]:
        c = self.config.to_dict()
        for k in ("checkpoint_dir", "checkpoint_every", "max_steps", "progress", "device"):
            c.pop(k)
        return {
            "config": c,
            "budget_s": self.budget.total,
            "budget_kind": self.budget.kind,
            "rst_table": None if self.budget.table is None else self.budget.table.to_json(),
            "schedule": asdict(self.schedule),
            "method": self.method.name,
            "world_size": self.world.size,
        }

    def checkpoint(self) -> Path | None:
        """Write ``last.pt`` atomically (main process) and return its path.

        A model with a non-finite weight is never written, so ``last.pt`` stays the last good one
        (the next step's loss then stops the run).
        """
        if self.config.checkpoint_dir is None:
            return None
        if not all(bool(torch.isfinite(p).all()) for p in self.model.parameters()):
            return self.last_checkpoint
        path = Path(self.config.checkpoint_dir) / "last.pt"
        if self.world.main:
            save_checkpoint(path, self._state())
        barrier(self.world)
        self.last_checkpoint = path
        return path

    def resume(self, path: Path | str) -> None:
        """Restore a run from a checkpoint written by the same run (same config, budget, method).

        Raises
        ------
        ValueError
            If the checkpoint belongs to a different run (the differing field is named).
        """
        ckpt = load_checkpoint(path)
        mine = self._identity()
        for key, value in ckpt["run"].items():
            if mine.get(key) != value:
                raise ValueError(
                    f"checkpoint {path} is from a different run: {key}={value!r:.120}, "
                    f"this run has {mine.get(key)!r:.120}"
                )
        cfg = getattr(self.model, "cfg", None)
        saved_cfg = ckpt["model_config"]
        if saved_cfg is not None and cfg is not None and cfg.to_dict() != saved_cfg:
            # The run changed the model's shape (layer stacking): rebuild it at the saved shape.
            self.model = type(self.model)(type(cfg)(**saved_cfg)).to(self.config.device)
        self.model.load_state_dict(ckpt["model"])
        self.method.load_state_dict(ckpt["method"]["state"])
        self.optimizer = self.method.make_optimizer(self)
        self.optimizer.load_state_dict(ckpt["optimizer"])
        t = ckpt["trainer"]
        self.step, self.used, self.wall = t["step"], t["used"], t["wall"]
        self.history = list(t["history"])
        self.evals = [Evaluation(**e) for e in t["evals"]]
        self.last_checkpoint = Path(path)

    def run(
        self, on_step: Callable[[Trainer, dict[str, float]], None] | None = None
    ) -> TrainResult:
        cfg, budget = self.config, self.budget
        if budget.table is not None and self.step == 0:
            one = budget.table.cost(Charge("train", self.local_batch, self.n_layers))
            if one > budget.seconds:
                raise BudgetTooSmallError(
                    f"budget of {budget.seconds:g} reference seconds is shorter than one training "
                    f"step ({one:.4g} s at batch {self.local_batch}, {self.n_layers} layers)"
                )
        eval_points = sorted(set(cfg.eval_at) - {1.0})
        done_evals = sum(1 for f in eval_points if f <= self.fraction)
        self.method.on_start(self)
        bar = _Progress(budget, enabled=cfg.progress and self.world.main)
        tokens = 0
        try:
            while self.used < budget.total and (cfg.max_steps is None or self.step < cfg.max_steps):
                fraction = self.fraction
                self.method.before_step(self)
                lr = self.schedule.lr(fraction) * self.method.lr_multiplier
                for group in self.optimizer.param_groups:
                    group["lr"] = lr
                torch.manual_seed((cfg.seed * 1_000_003 + self.step) % 2**63)  # dropout etc.
                t0 = time.perf_counter()
                self.optimizer.zero_grad(set_to_none=True)
                out = self.method.train_step(self)
                loss = all_reduce_scalar(out.loss, self.world)
                if not math.isfinite(loss):
                    where = self.last_checkpoint or "none written"
                    raise NonFiniteLossError(
                        f"training loss is {loss} at step {self.step} (budget fraction "
                        f"{fraction:.3f}); stopped before the update; last good checkpoint: {where}",
                        self.step,
                        self.last_checkpoint,
                    )
                if cfg.grad_clip is not None:
                    norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), cfg.grad_clip)
                    if not math.isfinite(float(norm)):
                        raise NonFiniteLossError(
                            f"gradient norm is {float(norm)} at step {self.step} (loss {loss:.4g}); "
                            f"stopped before the update; last good checkpoint: "
                            f"{self.last_checkpoint or 'none written'}",
                            self.step,
                            self.last_checkpoint,
                        )
                self.optimizer.step()
                charges = list(out.charges) + list(self.method.after_step(self))
                elapsed = all_reduce_scalar(time.perf_counter() - t0, self.world, op="max")
                charged = self._charge(charges, elapsed)
                if self.step == 0 and budget.kind == "wall" and charged > budget.seconds:
                    raise BudgetTooSmallError(
                        f"budget of {budget.seconds:g} s is shorter than one training step "
                        f"(the first step took {charged:.4g} s)"
                    )
                self.used += charged
                self.wall += elapsed
                tokens += out.tokens
                record = {
                    "step": self.step,
                    "fraction": fraction,
                    "lr": lr,
                    "loss": loss,
                    "charged_s": charged,
                }
                self.history.append(record)
                self.step += 1
                if on_step is not None:
                    on_step(self, record)
                while done_evals < len(eval_points) and self.fraction >= eval_points[done_evals]:
                    self._evaluate()
                    done_evals += 1
                if cfg.checkpoint_every and self.step % cfg.checkpoint_every == 0:
                    self.checkpoint()
                bar.update(self.used, loss, tokens * self.world.size / max(self.wall, 1e-9))
        finally:
            bar.close()
        self._evaluate()
        self.checkpoint()
        return TrainResult(self.model, self.step, self.used, self.wall, self.history, self.evals)


class _Progress:
    """A rich progress bar over the budget: loss, tokens per second, budget left."""

    def __init__(self, budget: Budget, enabled: bool) -> None:
        self.bar = None
        if not enabled:
            return
        from rich.progress import BarColumn, Progress, TextColumn

        self.budget = budget
        self.bar = Progress(
            TextColumn("train"), BarColumn(), TextColumn("{task.fields[info]}"), transient=True
        )
        self.task = self.bar.add_task("train", total=budget.total, info="")
        self.bar.start()

    def update(self, used: float, loss: float, tok_s: float) -> None:
        if self.bar is None:
            return
        left = max(self.budget.total - used, 0.0)
        unit = self.budget.unit
        speed = f"{tok_s:,.0f} tok/s | " if tok_s > 0 else ""
        info = f"loss {loss:.3f} | {speed}{left:.1f} {unit} left"
        self.bar.update(self.task, completed=min(used, self.budget.total), info=info)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()


def train(
    model: torch.nn.Module,
    data,
    budget: Budget,
    schedule: BudgetSchedule,
    *,
    method: Method | None = None,
    config: TrainConfig | None = None,
    resume: Path | str | bool | None = None,
    on_step: Callable[[Trainer, dict[str, float]], None] | None = None,
) -> TrainResult:
    """Train ``model`` on ``data`` until ``budget`` is spent, with ``method``'s changes.

    Parameters
    ----------
    model : torch.nn.Module
        ``model(idx, active_layers=None) -> logits`` of shape (B, T, V), with ``blocks`` (the
        transformer layers; or a config with ``n_layer`` / ``num_hidden_layers``) — e.g.
        :class:`~.model.GPT`, whose ``cfg.block_size`` bounds ``seq_len``. A method with its own
        ``train_step`` may call the model differently. Initialize it (seeded) before the call.
    data : Corpus or (TokenStream, TokenStream) or None
        A corpus with ``"train"`` and ``"validation"`` splits, or a (train, validation) pair.
        ``None`` for a method that draws its own batches (images, video frames, ...): its
        ``train_step`` samples them (seeded by :meth:`Trainer.rng`, so resuming reproduces the
        run) and its ``evaluate`` returns ``(loss, nan, nan)`` (no bits per token); the budget,
        schedule, clipping, checkpoints, progress and data parallelism work as with tokens.
    budget : Budget
        Wall-clock seconds, reference seconds with an RST table, or steps (:meth:`Budget.of_steps`).
    schedule : BudgetSchedule
        Learning rate as a function of the budget fraction (any frozen dataclass with
        ``lr(fraction)``, e.g. ReLoRA's jagged schedule).
    method : Method, optional
        A training method (default: :class:`~.method.Baseline`, AdamW), e.g. one of
        :mod:`mlroundup.budgeted_training.methods`.
    config : TrainConfig, optional
    resume : path or bool, optional
        A checkpoint to resume from; ``True``: ``config.checkpoint_dir/last.pt`` if it exists.
    on_step : callable, optional
        Called after every step with the trainer and the step's record.

    Returns
    -------
    TrainResult

    Raises
    ------
    ValueError
        If a corpus split is shorter than ``seq_len + 1`` tokens, ``seq_len`` exceeds the model's
        block size, the batch does not split over the processes, or the RST table does not fit
        the model.
    BudgetTooSmallError
        If the budget is shorter than one training step.
    NonFiniteLossError
        If the training loss becomes NaN or infinite (the message names the step; the last good
        checkpoint is kept).

    Notes
    -----
    Under ``torchrun`` (``WORLD_SIZE`` > 1) every process calls ``train`` with the same arguments;
    each takes ``batch_size / world_size`` of every global batch and gradients are averaged, so the
    result matches one process with the same global batch (up to floating-point summation order).
    """
    config = config or TrainConfig()
    method = method or Baseline()
    if data is None:
        if type(method).train_step is Method.train_step or type(method).evaluate is Method.evaluate:
            raise ValueError(
                f"train() was given no data, but method {method.name!r} uses the trainer's token "
                "windows: with data=None the method overrides train_step and evaluate"
            )
        train_stream = val_stream = None
    elif isinstance(data, tuple):
        train_stream, val_stream = data
    else:
        train_stream, val_stream = data["train"], data["validation"]
    if train_stream is not None:
        _check_length(len(train_stream.tokens), config.seq_len, "training")
        _check_length(len(val_stream.tokens), config.seq_len, "validation")
        block = getattr(getattr(model, "cfg", None), "block_size", None)
        if block is not None and config.seq_len > block:
            raise ValueError(f"seq_len={config.seq_len} exceeds the model's block_size={block}")
    world = init_from_env(config.device)
    if config.batch_size % world.size:
        raise ValueError(
            f"batch_size={config.batch_size} is not divisible by the {world.size} processes"
        )
    if budget.table is not None:
        _check_table(budget.table, model, config)
    trainer = Trainer(model, train_stream, val_stream, budget, schedule, method, config, world)
    if resume is True:
        last = Path(config.checkpoint_dir) / "last.pt" if config.checkpoint_dir else None
        resume = last if last is not None and last.is_file() else None
    if resume:
        trainer.resume(resume)
    return trainer.run(on_step)


def _check_table(table, model, config: TrainConfig) -> None:
    meta = table.meta or {}
    if meta.get("seq_len") not in (None, config.seq_len):
        raise ValueError(
            f"the RST table was calibrated at seq_len={meta['seq_len']}, this run uses {config.seq_len}"
        )
    measured = meta.get("model") or {}
    cfg = getattr(model, "cfg", None)
    for key in ("d_model", "n_head", "vocab_size", "d_ff"):
        if key in measured and cfg is not None and measured[key] != getattr(cfg, key):
            raise ValueError(
                f"the RST table was calibrated for {key}={measured[key]}, the model has {getattr(cfg, key)}"
            )
