"""Fixtures for the method tests: the trainer tests' own (tests/training/conftest.py), so both
folders train on the same synthetic streams and hand-made RST tables."""

from training.conftest import _one_thread, data, rst  # noqa: F401  (fixtures, used by name)
