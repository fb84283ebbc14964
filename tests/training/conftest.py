"""Fixtures for the trainer tests (the helpers live in training_helpers.py); tests/budgeted_training
imports them too."""

import pytest
import torch

from mlroundup.training import Budget

from .training_helpers import linear_table, stream


@pytest.fixture(autouse=True)
def _one_thread():
    """One thread: reproducible sums, and no oversubscription on a shared 2-core machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def data():
    return stream(4000, 0, "train"), stream(1000, 1, "validation")


@pytest.fixture
def rst():
    return lambda seconds, **kw: Budget(seconds, linear_table(**kw))
