"""Every test folder is a package: pytest's default import mode collects two ``test_x.py`` files
of the same name in different folders only when each folder has an ``__init__.py`` (CI once
stopped with "import file mismatch" for tests/embedding_probes and tests/instruction_mining)."""

from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]


def test_every_test_folder_is_a_package():
    folders = {p.parent for p in TESTS.rglob("test_*.py")}
    missing = sorted(
        str(f.relative_to(TESTS)) for f in folders if not (f / "__init__.py").is_file()
    )
    assert not missing, f"add __init__.py to: {', '.join(missing)}"
