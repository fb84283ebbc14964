"""The shell scripts' embedded Python imports names that exist (a moved module once broke
scripts/build_llama_cpp.sh at its first step, outside every test)."""

import importlib
import re
from pathlib import Path

import pytest

SCRIPTS = sorted((Path(__file__).resolve().parents[2] / "scripts").glob("*.sh"))
IMPORT = re.compile(r"^\s*from (mlroundup[\w.]*) import ([\w, ]+)$", re.M)
CASES = [(s.name, m, n.strip()) for s in SCRIPTS for m, ns in IMPORT.findall(s.read_text())
         for n in ns.split(",")]  # fmt: skip


def test_some_script_imports_are_checked():
    assert any(name == "build_llama_cpp.sh" for name, _, _ in CASES)


@pytest.mark.parametrize(("script", "module", "name"), CASES)
def test_script_imports_exist(script, module, name):
    assert hasattr(importlib.import_module(module), name), f"{script}: {module}.{name}"
