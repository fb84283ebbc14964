"""Fixtures shared across test folders."""

import pytest


@pytest.fixture(scope="session")
def lm():
    """SmolLM2-135M-Instruct, loaded once per test process (tests must not modify it: they
    deep-copy the model before quantizing); skipped where the model or transformers is missing."""
    pytest.importorskip("transformers")
    from mlroundup.models import ModelUnavailableError, load_smollm2

    try:
        return load_smollm2()
    except ModelUnavailableError as exc:
        pytest.skip(str(exc))
