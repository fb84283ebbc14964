"""The harness moved to mlroundup.training; user code written against mlroundup.budgeted_training
keeps working. Oracle: the package's public names before the move (its ``_EXPORTS`` at commit
0c5c4cd), each of which must still resolve -- to the very object mlroundup.training exports."""

import pytest

import mlroundup.budgeted_training as bt
import mlroundup.training as tr
from mlroundup.budgeted_training import methods

#: mlroundup.budgeted_training.__all__ before the move, by the module that defined each name.
BEFORE = {
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
OLD_NAMES = sorted(n for names in BEFORE.values() for n in names)
#: The method protocol moved to mlroundup.training with the harness; the methods stayed.
MOVED = set(OLD_NAMES) - set(BEFORE["methods"]) | {"Baseline", "Method", "StepOutput"}


def test_every_old_name_is_still_exported():
    assert set(OLD_NAMES) <= set(bt.__all__)


@pytest.mark.parametrize("name", OLD_NAMES)
def test_old_name_resolves_to_the_same_object(name):
    obj = getattr(bt, name)
    if name in MOVED:
        assert obj is getattr(tr, name)
    else:
        assert obj is getattr(methods, name)
    ns: dict = {}
    exec(f"from mlroundup.budgeted_training import {name} as x", ns)
    assert ns["x"] is obj


def test_methods_are_components_of_the_shared_trainer():
    assert methods.Method is tr.Method and methods.Baseline is tr.Baseline
    assert all(issubclass(cls, tr.Method) for cls in methods.METHODS.values())
    assert methods.METHODS["baseline"] is tr.Baseline


def test_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        bt.Nope  # noqa: B018
