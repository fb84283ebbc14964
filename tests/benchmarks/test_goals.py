"""The shared goal wording of every bench (mlroundup.benchmarks.goals). Oracle: hand arithmetic,
e.g. 0.8 of a 1.0 goal is 100 (1 - 0.8) = 20% short; 1.2 meets 1.0 and is 100 (1 - 1.2/1.3) = 8%
below a 1.3 aim."""

import math

import pytest

from mlroundup.benchmarks.goals import goal_status


def test_met_short_and_aim():
    assert goal_status(0.8, 1.0, 1.3) == "short by 20%"
    assert goal_status(1.2, 1.0, 1.3) == "met; 8% below the aim"
    assert goal_status(1.3, 1.0, 1.3) == "met, aim met"
    assert goal_status(0.68, 0.85) == "short by 20%"
    # below 1% a shortfall keeps one decimal, never "0%": 1 - 0.998 = 0.2%
    assert goal_status(0.998, 1.0) == "short by 0.2%"
    assert goal_status(0.9999, 1.0, 1.3) == "short by < 0.1%"
    assert goal_status(1.29, 1.0, 1.3) == "met; 0.8% below the aim"  # 1 - 1.29 / 1.3
    assert goal_status(0.9904, 1.0) == "short by 1%"  # 0.96% rounds to one whole percent
    assert goal_status(0.9, 0.85) == "met"
    assert goal_status(None, 1.0) is None


def test_strict_goal_needs_more_than_equal():
    """'Faster than MKL' at a 1x goal: a tie is not faster."""
    assert goal_status(1.0, 1.0) == "met"
    assert goal_status(1.0, 1.0, strict=True) == "short by 0%"
    assert goal_status(1.5, 1.0, strict=True) == "met"


@pytest.mark.parametrize(
    "args, match",
    [((1.0, 0.0), "goal"), ((1.0, math.inf), "goal"), ((1.0, 1.0, -1.0), "aim"),
     ((1.0, 1.3, 1.0), "below the goal"), ((math.nan, 1.0), "NaN")],
)  # fmt: skip
def test_bad_input_is_named(args, match):
    with pytest.raises(ValueError, match=match):
        goal_status(*args)
