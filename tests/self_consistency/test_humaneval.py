"""HumanEval data and scoring through the sandbox.

Oracle: the problems' own canonical solutions must pass their tests, and an obviously wrong body
must fail (Chen et al., arXiv 2107.03374: every canonical solution passes).
"""

import pytest

he = pytest.importorskip("mlroundup.self_consistency.humaneval")


@pytest.fixture(scope="module")
def problems():
    try:
        return he.load_problems()
    except FileNotFoundError as exc:
        pytest.skip(str(exc))


def test_all_164_problems(problems):
    assert len(problems) == 164
    assert problems[0]["task_id"] == "HumanEval/0"
    assert {"prompt", "test", "entry_point", "canonical_solution"} <= set(problems[0])


def test_quick_subset_is_fixed_and_easiest(problems):
    sub = he.easiest(problems, 5)
    assert len(sub) == 5
    longest = max(len(p["canonical_solution"].strip()) for p in sub)
    others = [p for p in problems if p not in sub]
    assert all(len(p["canonical_solution"].strip()) >= longest for p in others)


def test_canonical_solutions_pass_and_wrong_ones_fail(problems):
    sub = he.easiest(problems, 3)
    for p in sub:
        ok = he.evaluate(p, [p["canonical_solution"], "    return None\n"])
        assert ok == [True, False], p["task_id"]


def test_chat_prompt_prefills_the_function(problems):
    user, prefix = he.chat_prompt(problems[0])
    assert problems[0]["prompt"] in user
    assert prefix.endswith(problems[0]["prompt"] + he.BODY_PREFIX)
