"""Budgeted training (Kaddour et al. 2023, "No Train No Gain", arXiv 2307.06440): the paper's
efficient-training methods and its experiment.

The trainer that holds compute fixed -- wall-clock seconds, or reference system time (RST) from a
table calibrated once -- and always finishes its learning-rate schedule is the project's shared
training harness, :mod:`mlroundup.training` (GPT, trainer, budgets, schedules, checkpoints,
data-parallel helpers). This package holds what is the paper's own: the efficient-training methods
as :class:`~mlroundup.training.Method` components the trainer accepts (:mod:`.methods`: layer
stacking, layer dropping, selective backprop, RHO-loss, Lion, Sophia; :mod:`.optim`: Sophia-G), the
registered experiment (:mod:`.experiment`, with its reference RST table in ``reference/``) and the
``mlroundup budgeted-training`` commands (:mod:`.cli`)::

    import torch
    from mlroundup.budgeted_training import LayerDrop
    from mlroundup.data.tokens import shakespeare
    from mlroundup.training import GPT, GPTConfig, Budget, BudgetSchedule, TrainConfig, train

    corpus = shakespeare("char")
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=corpus.vocab_size, block_size=128))
    result = train(model, corpus, Budget(60.0), BudgetSchedule(3e-3), method=LayerDrop(),
                   config=TrainConfig())
    result.final.bits_per_char

The harness's names exported here before it moved (``GPT``, ``Budget``, ``train``, ``Method``, ...)
still resolve, to the same objects as in :mod:`mlroundup.training`.
"""

# Imported lazily (PEP 562) so that registering the experiment does not import torch.
from mlroundup.utils.lazy import lazy_exports

_EXPORTS = {
    # The shared harness, re-exported from mlroundup.training (where they now live).
    "mlroundup.training": (
        "Budget", "Charge", "RSTTable", "calibrate", "GPT", "PRESETS", "GPTConfig",
        "BudgetSchedule", "lr_factor", "BudgetTooSmallError", "NonFiniteLossError", "TrainConfig",
        "Trainer", "TrainResult", "evaluate", "train", "Baseline", "Method", "StepOutput",
    ),
    # The paper's methods.
    "mlroundup.budgeted_training.methods": (
        "METHODS", "LayerDrop", "LayerStacking", "LionMethod", "RHOLoss", "SelectiveBackprop",
        "SophiaMethod", "get_method",
    ),
}  # fmt: skip
__getattr__, __all__ = lazy_exports(__name__, _EXPORTS)
