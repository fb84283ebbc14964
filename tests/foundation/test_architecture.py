"""The layout shows the architecture: read every module's imports (ast, no execution) and check
the layering rules of the style guide. Oracle: the rules themselves, applied to the source text."""

import ast
from pathlib import Path

import mlroundup

ROOT = Path(mlroundup.__file__).parent
#: Subpackages that hold one method of the mission each.
METHODS = {"longstep", "qigen", "rosko", "relora", "budgeted_training", "self_consistency",
           "ttt", "instruction_mining", "embedding_probes", "icae"}  # fmt: skip
#: Shared machinery that must not import a method.
SHARED = {"utils", "kernels", "data", "models", "report", "experiments", "training", "benchmarks"}


def _imports(path: Path) -> list[tuple[str, list[str]]]:
    """(module imported, names taken from it) for every import statement, relative ones
    resolved against the file's package."""
    pkg = ".".join(path.relative_to(ROOT.parent).with_suffix("").parts[:-1])
    out = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out += [(a.name, []) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = pkg.split(".")[: len(pkg.split(".")) - node.level + 1]
                base = ".".join([*parts, base] if base else parts)
            out.append((base, [a.name for a in node.names]))
    return out


def _modules():
    return sorted(p for p in ROOT.rglob("*.py") if "__pycache__" not in p.parts)


def _package(path: Path) -> str:
    rel = path.relative_to(ROOT).parts
    return rel[0] if len(rel) > 1 else rel[0].removesuffix(".py")


def test_shared_packages_import_no_method():
    bad = []
    for path in _modules():
        if _package(path) not in SHARED:
            continue
        for mod, _ in _imports(path):
            parts = mod.split(".")
            if parts[0] == "mlroundup" and len(parts) > 1 and parts[1] in METHODS:
                bad.append(f"{path.relative_to(ROOT)} imports {mod}")
    assert not bad, "\n".join(bad)


def test_utils_import_nothing_else_of_mlroundup():
    bad = [f"{p.relative_to(ROOT)} imports {m}" for p in _modules() if _package(p) == "utils"
           for m, _ in _imports(p)
           if m.startswith("mlroundup") and not m.startswith("mlroundup.utils")]  # fmt: skip
    assert not bad, "\n".join(bad)


def test_no_method_takes_another_methods_private_names():
    bad = []
    for path in _modules():
        own = _package(path)
        for mod, names in _imports(path):
            parts = mod.split(".")
            if parts[0] != "mlroundup" or len(parts) < 2 or parts[1] not in METHODS:
                continue
            if parts[1] == own:
                continue
            private = [n for n in names if n.startswith("_")]
            if any(p.startswith("_") for p in parts[2:]) or private:
                bad.append(f"{path.relative_to(ROOT)}: {mod} {private}")
    assert not bad, "\n".join(bad)
