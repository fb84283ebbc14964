"""Compute budgets: wall-clock seconds, or reference system time (RST) from a calibrated table.

Kaddour et al. (2023, Sec. 3.1) measure a budget in *reference system time*: the time the work
would take on one fixed reference machine, so that a budget means the same amount of work on a
noisy, shared or faster machine. :func:`calibrate` measures, once, the seconds per step of a model
for each (per-process batch size, number of active layers) — a training step (forward, backward,
optimizer update) and a forward-only pass — and stores them in an :class:`RSTTable`, saved with the
run. A trainer then charges each step from the table, not from the clock: every pass a method makes
is charged (the forward passes of selective backprop and RHO-loss, Sophia's Hessian estimate),
evaluation is not.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

CHARGE_KINDS = ("train", "forward")


@dataclass(frozen=True)
class Charge:
    """One pass a training step makes, to be charged to the budget.

    Parameters
    ----------
    kind : {"train", "forward"}
        ``train``: forward + backward + optimizer update; ``forward``: forward only, no grad.
    batch : int
        Sequences in the pass (per process), >= 0.
    layers : int
        Transformer blocks run, >= 0.
    """

    kind: str
    batch: int
    layers: int

    def __post_init__(self) -> None:
        if self.kind not in CHARGE_KINDS:
            raise ValueError(f"invalid kind={self.kind!r}; valid: {', '.join(CHARGE_KINDS)}")
        if self.batch < 0 or self.layers < 0:
            raise ValueError(
                f"invalid charge batch={self.batch}, layers={self.layers}: must be >= 0"
            )


@dataclass
class RSTTable:
    """Measured seconds per pass over a grid of (batch size, active layers).

    Parameters
    ----------
    batch_sizes : sequence of int
        Increasing per-process batch sizes (sequences).
    layers : sequence of int
        Increasing numbers of active layers (0 allowed).
    train_s, forward_s : array of shape (len(batch_sizes), len(layers))
        Seconds of a training step and of a forward pass (NaN: not measured).
    meta : dict
        What was measured: model shape, sequence length, machine, date.

    Notes
    -----
    :meth:`cost` interpolates bilinearly inside the grid (exact at grid points) and refuses to
    extrapolate.
    """

    batch_sizes: Sequence[int]
    layers: Sequence[int]
    train_s: Any
    forward_s: Any
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.batch_sizes = tuple(int(b) for b in self.batch_sizes)
        self.layers = tuple(int(v) for v in self.layers)
        self.train_s = np.asarray(self.train_s, dtype=float)
        self.forward_s = np.asarray(self.forward_s, dtype=float)
        shape = (len(self.batch_sizes), len(self.layers))
        for name in ("train_s", "forward_s"):
            a = getattr(self, name)
            if a.shape != shape:
                raise ValueError(f"{name} has shape {a.shape}, expected {shape}")
            if not np.all(np.isnan(a) | (np.isfinite(a) & (a >= 0))):
                raise ValueError(f"{name} must be >= 0 (NaN: not measured)")
        for name in ("batch_sizes", "layers"):
            v = getattr(self, name)
            if not v or any(b <= a for a, b in zip(v, v[1:], strict=False)):
                raise ValueError(f"{name}={v} must be non-empty and strictly increasing")

    def cost(self, charge: Charge) -> float:
        """Seconds the pass ``charge`` takes on the reference machine.

        Raises
        ------
        ValueError
            If the batch size or layer count lies outside the measured grid.
        """
        if charge.batch == 0:
            return 0.0
        table = self.train_s if charge.kind == "train" else self.forward_s
        cost = float(_bilinear(self.batch_sizes, self.layers, table, charge.batch, charge.layers))
        if not math.isfinite(cost):
            raise ValueError(
                f"the {charge.kind} cost at batch {charge.batch}, {charge.layers} layers was not "
                "calibrated; calibrate a table that measures it"
            )
        return cost

    def total(self, charges: Sequence[Charge]) -> float:
        return sum(self.cost(c) for c in charges)

    def to_json(self) -> dict:
        return {
            "batch_sizes": list(self.batch_sizes),
            "layers": list(self.layers),
            "train_s": [[None if np.isnan(v) else v for v in row] for row in self.train_s.tolist()],
            "forward_s": self.forward_s.tolist(),
            "meta": self.meta,
        }

    @classmethod
    def from_json(cls, d: dict) -> RSTTable:
        train_s = np.array(d["train_s"], dtype=float)  # None (not measured) -> NaN
        return cls(d["batch_sizes"], d["layers"], train_s, d["forward_s"], d.get("meta", {}))

    def save(self, path: Path | str) -> None:
        """Write the table as JSON to ``path``; refuses to overwrite an existing file."""
        path = Path(path)
        if path.exists():
            raise FileExistsError(f"{path} exists; not overwriting it")
        path.write_text(json.dumps(self.to_json(), indent=2), encoding="utf-8")

    @classmethod
    def load(cls, path: Path | str) -> RSTTable:
        return cls.from_json(json.loads(Path(path).read_text(encoding="utf-8")))


def _bilinear(xs: Sequence[int], ys: Sequence[int], z: np.ndarray, x: float, y: float) -> float:
    for name, v, grid in (("batch size", x, xs), ("layer count", y, ys)):
        if not grid[0] <= v <= grid[-1]:
            raise ValueError(
                f"{name} {v} is outside the calibrated range [{grid[0]}, {grid[-1]}]; "
                "calibrate a table that covers it"
            )

    def bracket(grid: Sequence[int], v: float) -> tuple[int, int, float]:
        j = int(np.searchsorted(grid, v, side="right")) - 1
        j = min(j, len(grid) - 2) if len(grid) > 1 else 0
        if len(grid) == 1:
            return 0, 0, 0.0
        return j, j + 1, (v - grid[j]) / (grid[j + 1] - grid[j])

    i0, i1, tx = bracket(xs, x)
    j0, j1, ty = bracket(ys, y)
    # Sum only the corners with a non-zero weight, so an unmeasured (NaN) neighbour of an exact grid
    # point does not poison it.
    total = 0.0
    for i, wx in ((i0, 1.0 - tx), (i1, tx)):
        for j, wy in ((j0, 1.0 - ty), (j1, ty)):
            if wx * wy > 0.0:
                total += wx * wy * float(z[i, j])
    return total


@dataclass(frozen=True)
class Budget:
    """How much compute a run may use: seconds (of the clock or of an RST table) or steps.

    Parameters
    ----------
    seconds : float, optional
        > 0; wall-clock seconds, or reference seconds when ``table`` is given.
    table : RSTTable, optional
        Charge each pass from this table (reference system time) instead of the clock.
    steps : int, optional
        > 0; a budget of optimizer steps instead of seconds (each training step costs 1,
        whatever it takes): arms compared at the same steps and tokens, as ReLoRA's Table 2.
        Build it with :meth:`of_steps`.

    Raises
    ------
    ValueError
        Unless exactly one of ``seconds`` and ``steps`` is given, positive and finite (and
        ``table`` only with ``seconds``).
    """

    seconds: float | None = None
    table: RSTTable | None = None
    steps: int | None = None

    def __post_init__(self) -> None:
        if (self.seconds is None) == (self.steps is None):
            raise ValueError("give a budget of seconds or of steps (exactly one)")
        if self.steps is not None:
            if isinstance(self.steps, bool) or not isinstance(self.steps, int) or self.steps < 1:
                raise ValueError(f"invalid budget steps={self.steps!r}: a positive integer")
            if self.table is not None:
                raise ValueError("a budget of steps charges 1 per step: it takes no RST table")
            return
        if not (isinstance(self.seconds, (int, float)) and math.isfinite(self.seconds)):
            raise ValueError(f"invalid budget seconds={self.seconds!r}")
        if self.seconds <= 0:
            raise ValueError(f"invalid budget seconds={self.seconds!r}: must be > 0")

    @classmethod
    def of_steps(cls, steps: int) -> Budget:
        """A budget of ``steps`` optimizer steps."""
        return cls(steps=steps)

    @property
    def kind(self) -> str:
        """``"steps"``, ``"rst"`` (reference seconds from a table) or ``"wall"`` (the clock)."""
        if self.steps is not None:
            return "steps"
        return "rst" if self.table is not None else "wall"

    @property
    def total(self) -> float:
        """The budget in its own unit (steps, or seconds)."""
        return float(self.steps if self.steps is not None else self.seconds)  # type: ignore[arg-type]

    @property
    def unit(self) -> str:
        return {"steps": "steps", "rst": "ref s", "wall": "s"}[self.kind]


def calibrate(
    model_factory,
    seq_len: int,
    batch_sizes: Sequence[int],
    layers: Sequence[int],
    *,
    vocab_size: int,
    forward_batch_sizes: Sequence[int] = (),
    repeats: int = 3,
    warmup: int = 1,
    seed: int = 0,
    smooth: bool = True,
) -> RSTTable:
    """Measure seconds per training step and per forward pass on this machine.

    Parameters
    ----------
    model_factory : callable ``(n_layer) -> torch.nn.Module``
        Builds the model measured; called once with ``max(layers)`` (at least 1). Its forward must
        accept ``(idx, active_layers=...)``; ``l`` active layers run blocks ``0..l-1``.
    seq_len : int
        Tokens per sequence.
    batch_sizes, layers : sequence of int
        The grid (per-process batch sizes; active layer counts, 0 allowed).
    vocab_size : int
        Token ids are drawn uniformly from ``[0, vocab_size)``.
    forward_batch_sizes : sequence of int
        Extra batch sizes measured for forward passes only (e.g. RHO-loss's large scoring batch);
        their training cost is recorded as NaN ("not measured") and never charged.
    repeats, warmup : int
        Timed and untimed repetitions per grid point; the fastest timed one is kept (the least
        disturbed by other work on the machine, as ``timeit`` advises).
    seed : int
    smooth : bool
        Replace the measurements by their least-squares fit to ``t = a + b * (c + d * layers)``
        (``a, c, d >= 0``: a fixed cost, a per-sequence cost, a per-sequence-per-layer cost), fitted
        separately for training steps and forward passes. On a shared machine single timings jump
        by tens of milliseconds; the fit keeps costs monotone in batch size and depth. The raw
        timings and the coefficients are kept in ``meta``.

    Returns
    -------
    RSTTable

    Raises
    ------
    ValueError
        For an empty grid or non-positive sizes.
    """
    import os
    import platform

    import torch

    from mlroundup.training.model import per_token_loss

    train_batches = set(batch_sizes)
    batch_sizes, layers = sorted(train_batches | set(forward_batch_sizes)), sorted(set(layers))
    if not batch_sizes or not layers or batch_sizes[0] <= 0 or layers[0] < 0:
        raise ValueError(f"invalid grid batch_sizes={batch_sizes}, layers={layers}")
    if repeats < 1 or warmup < 0:
        raise ValueError(f"invalid repeats={repeats} / warmup={warmup}")
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    model = model_factory(max(max(layers), 1))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    train_s = np.zeros((len(batch_sizes), len(layers)))
    forward_s = np.zeros_like(train_s)
    for i, b in enumerate(batch_sizes):
        x = torch.randint(0, vocab_size, (b, seq_len + 1), generator=gen)
        inp, tgt = x[:, :-1], x[:, 1:]
        for j, n in enumerate(layers):
            active = list(range(n))

            def train_step(inp=inp, tgt=tgt, active=active) -> None:
                opt.zero_grad(set_to_none=True)
                per_token_loss(model(inp, active_layers=active), tgt).mean().backward()
                opt.step()

            def forward(inp=inp, active=active) -> None:
                with torch.no_grad():
                    model(inp, active_layers=active)

            for k, fn in enumerate((train_step, forward)):
                if k == 0 and b not in train_batches:
                    train_s[i, j] = np.nan
                    continue
                times = []
                for r in range(warmup + repeats):
                    t0 = time.perf_counter()
                    fn()
                    if r >= warmup:
                        times.append(time.perf_counter() - t0)
                (train_s if k == 0 else forward_s)[i, j] = min(times)
    meta: dict[str, Any] = {}
    if smooth:
        meta["raw_train_s"] = [[None if np.isnan(v) else v for v in r] for r in train_s.tolist()]
        meta["raw_forward_s"] = forward_s.tolist()
        train_s, meta["fit_train"] = fit_linear_cost(batch_sizes, layers, train_s)
        forward_s, meta["fit_forward"] = fit_linear_cost(batch_sizes, layers, forward_s)
    meta |= {
        "seq_len": seq_len,
        "vocab_size": vocab_size,
        "model": getattr(getattr(model, "cfg", None), "to_dict", dict)(),
        "threads": torch.get_num_threads(),
        "machine": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "repeats": repeats,
    }
    return RSTTable(batch_sizes, layers, train_s, forward_s, meta)


def fit_linear_cost(
    batch_sizes: Sequence[int], layers: Sequence[int], seconds: np.ndarray
) -> tuple[np.ndarray, dict[str, float]]:
    """Least-squares fit of ``t(b, l) = a + c * b + d * b * l`` with ``a, c, d >= 0``.

    Parameters
    ----------
    batch_sizes, layers : sequence of int
        The grid.
    seconds : array of shape (len(batch_sizes), len(layers))
        Measurements; NaN entries are ignored and stay NaN in the result.

    Returns
    -------
    fitted : numpy.ndarray of the same shape
    coefficients : dict
        ``{"a": ..., "c": ..., "d": ...}`` in seconds.
    """
    from scipy.optimize import nnls

    b, layer = np.meshgrid(np.asarray(batch_sizes, float), np.asarray(layers, float), indexing="ij")
    design = np.stack([np.ones_like(b), b, b * layer], axis=-1)  # (nb, nl, 3)
    ok = ~np.isnan(seconds)
    coef, _ = nnls(design[ok], seconds[ok])
    fitted = np.where(ok, design @ coef, np.nan)
    return fitted, {"a": float(coef[0]), "c": float(coef[1]), "d": float(coef[2])}
