"""The shared training harness of mlroundup: a GPT, a trainer under a fixed compute budget, budgets,
learning-rate schedules, atomic checkpoints and data-parallel helpers.

The trainer holds compute fixed -- wall-clock seconds, reference system time (RST) charged from a
table calibrated once, or a number of optimizer steps -- and sets the learning rate each step from
the fraction of the budget used, so its schedule always finishes (Kaddour et al. 2023, "No Train No
Gain", Sec. 3). Training methods plug in as :class:`Method` components (hooks for the optimizer, the
model between steps, the passes of a step and what each costs): the No Train No Gain methods live in
:mod:`mlroundup.budgeted_training`, ReLoRA in :mod:`mlroundup.relora`. This package imports no
method.

Worked example: a 4-layer GPT on Shakespeare for 300 steps under a cosine schedule (2% warm-up,
decayed to 0 at the last step), checkpointed every 100 steps; then a fresh one under one minute of
wall-clock time::

    import torch
    from mlroundup.data.tokens import shakespeare
    from mlroundup.training import GPT, GPTConfig, Budget, BudgetSchedule, TrainConfig, train

    corpus = shakespeare("char")
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=corpus.vocab_size, block_size=128, n_layer=4, d_model=144))
    config = TrainConfig(batch_size=32, seq_len=128, checkpoint_dir="ckpt", checkpoint_every=100)
    result = train(model, corpus, Budget.of_steps(300), BudgetSchedule(3e-3, "cosine"),
                   config=config)   # an interrupted run continues from ckpt/last.pt: resume=True
    result.steps                     # 300
    result.final.bits_per_char       # validation bits per character at the end
    result.history[-1]["lr"]         # 3e-3 * lr_factor(299 / 300): one step from the floor

    torch.manual_seed(0)
    result = train(GPT(model.cfg), corpus, Budget(60.0), BudgetSchedule(3e-3))

A method changes what a step does; a minimal one that backpropagates only the first half of each
batch and says what it cost::

    from mlroundup.training import Charge, Method, StepOutput, per_token_loss

    class HalfBatch(Method):
        name = "half-batch"

        def train_step(self, trainer):
            x, y = trainer.sample(trainer.local_batch)
            x, y = x[: len(x) // 2], y[: len(y) // 2]
            loss = per_token_loss(trainer.forward(x), y).mean()
            trainer.backward(loss)
            return StepOutput(float(loss.detach()), [Charge("train", len(x), trainer.n_layers)],
                              y.numel())

    train(GPT(model.cfg), corpus, Budget.of_steps(100), BudgetSchedule(3e-3), method=HalfBatch())

The schedule itself is a pure function of time (nanoGPT's ``get_lr``)::

    from mlroundup.training import warmup_decay
    warmup_decay(55, total=100, warmup=10, floor=0.1)    # 0.55: half-way down the cosine

Public names (imported lazily, so ``import mlroundup.training`` does not import torch):

============================== ================================================================
:mod:`.model`                  :class:`GPT`, :class:`GPTConfig`, :data:`PRESETS`, :func:`per_token_loss`
:mod:`.budget`                 :class:`Budget` (seconds, RST or steps), :class:`Charge`,
                               :class:`RSTTable`, :func:`calibrate`
:mod:`.schedules`              :func:`warmup_decay`, :func:`lr_factor`, :class:`BudgetSchedule`
:mod:`.method`                 :class:`Method`, :class:`StepOutput`, :class:`Baseline`
:mod:`.trainer`                :func:`train`, :class:`Trainer`, :class:`TrainConfig`,
                               :class:`TrainResult`, :class:`Evaluation`, :func:`evaluate`,
                               :class:`BudgetTooSmallError`, :class:`NonFiniteLossError`
:mod:`.checkpoint`             :func:`save_checkpoint`, :func:`load_checkpoint` (atomic writes)
:mod:`.distributed`            :class:`World`, :func:`init_from_env` (``torchrun``; gloo / NCCL)
============================== ================================================================

Token windows (``batch_starts``, ``windows``) are in :mod:`mlroundup.data.windows`.
"""

# Imported lazily (PEP 562) so that registering an experiment does not import torch.
from mlroundup.utils.lazy import lazy_exports

_EXPORTS = {
    "budget": ("Budget", "Charge", "RSTTable", "calibrate"),
    "checkpoint": ("load_checkpoint", "save_checkpoint"),
    "distributed": ("World", "init_from_env"),
    "method": ("Baseline", "Method", "StepOutput"),
    "model": ("GPT", "GPTConfig", "PRESETS", "per_token_loss"),
    "schedules": ("BudgetSchedule", "lr_factor", "warmup_decay"),
    "trainer": (
        "BudgetTooSmallError", "Evaluation", "NonFiniteLossError", "TrainConfig", "Trainer",
        "TrainResult", "evaluate", "train",
    ),
}  # fmt: skip
__getattr__, __all__ = lazy_exports(__name__, _EXPORTS)
