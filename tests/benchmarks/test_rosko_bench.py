"""Goal checks of the Rosko benchmark (oracle: hand-made sweeps with known minima)."""

from mlroundup.benchmarks import BENCHMARKS
from mlroundup.benchmarks.rosko import _goal_notes


def test_goal_notes_by_hand():
    points = [(50, 3.0, 0.5), (70, 1.2, 1.1), (90, 2.0, 3.0), (99, 1.6, None), (99.9, None, 9.0)]
    note = _goal_notes(points)
    assert "at >= 90% sparsity: 1.60x" in note  # min(2.0, 1.6); 99.9% has no MKL value
    assert "at >= 70% sparsity: 1.20x" in note
    assert "faster than dense BLAS from 70%" in note
    assert "slower than dense BLAS at every" in _goal_notes([(50, None, 0.9)])


def test_registered():
    assert BENCHMARKS["rosko"] == "mlroundup.benchmarks.rosko:bench"
