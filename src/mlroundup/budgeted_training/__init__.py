"""Budgeted training (Kaddour et al. 2023, "No Train No Gain", arXiv 2307.06440).

A trainer that holds compute fixed — wall-clock seconds, or reference system time (RST) from a
table calibrated once — and always finishes its learning-rate schedule, with the paper's efficient
training methods as components it accepts. It is the shared training harness of mlroundup::

    from mlroundup.budgeted_training import GPT, GPTConfig, Budget, BudgetSchedule, TrainConfig, train
    from mlroundup.data.tokens import shakespeare

    corpus = shakespeare("char")
    model = GPT(GPTConfig(vocab_size=corpus.vocab_size, block_size=128))
    result = train(model, corpus, Budget(60.0), BudgetSchedule(3e-3), config=TrainConfig())
    result.final.bits_per_char

Modules: :mod:`.model` (the GPT), :mod:`.schedule` (schedules of the budget fraction),
:mod:`.budget` (budgets, RST tables, calibration), :mod:`.trainer`, :mod:`.methods` (layer stacking,
layer dropping, selective backprop, RHO-loss, Lion, Sophia), :mod:`.optim` (Sophia-G),
:mod:`.checkpoint`, :mod:`.distributed`.
"""

# Imported lazily (PEP 562) so that registering the experiment does not import torch.
_EXPORTS = {
    "budget": ("Budget", "Charge", "RSTTable", "calibrate"),
    "methods": (
        "METHODS", "Baseline", "LayerDrop", "LayerStacking", "LionMethod", "Method", "RHOLoss",
        "SelectiveBackprop", "SophiaMethod", "StepOutput", "get_method",
    ),
    "model": ("GPT", "PRESETS", "GPTConfig"),
    "schedule": ("BudgetSchedule", "lr_factor"),
    "trainer": (
        "BudgetTooSmallError", "NonFiniteLossError", "TrainConfig", "Trainer", "TrainResult",
        "evaluate", "train",
    ),
}  # fmt: skip
_WHERE = {name: module for module, names in _EXPORTS.items() for name in names}
__all__ = sorted(_WHERE)


def __getattr__(name: str):
    if name in _WHERE:
        import importlib

        return getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
