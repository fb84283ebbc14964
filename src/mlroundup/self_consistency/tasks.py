"""Evaluation tasks for the reproduction: sample once (cached), score every selection method.

Two tasks, both sampled from the bundled SmolLM2-135M-Instruct:

* HumanEval code generation, scored by running each completion's tests in the sandbox;
* capital cities: "What is the capital of X?", a short answer checkable against a reference,
  cheap enough that the selection effect can be measured at small scale.

Samples are cached per (model, prompt set, n, temperature, top_p, length limit, stop strings,
seed, batch size, sampler version), so re-running a report does not sample again.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mlroundup.self_consistency.selection import select
from mlroundup.utils.files import atomic_write_text

#: Bump when sampling changes in a way that changes the samples.
SAMPLER_VERSION = 1

#: Selection methods compared, in table order (the oracle is added separately).
METHODS = ("random", "sum-logprob", "mean-logprob", "majority", "ucs", "wucs", "consensus-wucs")

#: (country, capital): well-known pairs for the short-answer task.
CAPITALS = (
    ("France", "Paris"), ("Japan", "Tokyo"), ("Italy", "Rome"), ("Germany", "Berlin"),
    ("Spain", "Madrid"), ("Russia", "Moscow"), ("China", "Beijing"), ("Egypt", "Cairo"),
    ("England", "London"), ("Greece", "Athens"), ("Canada", "Ottawa"), ("Australia", "Canberra"),
    ("India", "New Delhi"), ("Ireland", "Dublin"), ("Portugal", "Lisbon"), ("Austria", "Vienna"),
    ("Norway", "Oslo"), ("Sweden", "Stockholm"), ("Poland", "Warsaw"), ("Turkey", "Ankara"),
    ("Kenya", "Nairobi"), ("Peru", "Lima"), ("Argentina", "Buenos Aires"), ("Cuba", "Havana"),
    ("Thailand", "Bangkok"), ("Finland", "Helsinki"), ("Denmark", "Copenhagen"),
    ("Hungary", "Budapest"), ("South Korea", "Seoul"), ("Vietnam", "Hanoi"),
    ("Belgium", "Brussels"), ("Switzerland", "Bern"), ("Brazil", "Brasilia"),
    ("Mexico", "Mexico City"), ("Chile", "Santiago"), ("Iran", "Tehran"),
    ("Netherlands", "Amsterdam"), ("Czech Republic", "Prague"), ("Nigeria", "Abuja"),
    ("Pakistan", "Islamabad"),
)  # fmt: skip


def capital_prompt(country: str) -> str:
    return f"What is the capital of {country}? Answer with the city name only."


def capital_correct(answer: str, capital: str) -> bool:
    """True when the answer names the capital (case-insensitive, whole words)."""
    return re.search(rf"\b{re.escape(capital)}\b", answer, flags=re.IGNORECASE) is not None


@dataclass
class SampleSpec:
    """Everything that determines a set of samples (the cache key)."""

    model: str
    prompts: Sequence[str]
    n: int
    temperature: float
    top_p: float
    max_new_tokens: int
    stop: Sequence[str]
    seed: int
    chat: bool
    max_batch: int
    response_prefix: Sequence[str] | None = None

    def key(self) -> str:
        blob = json.dumps(
            {
                "v": SAMPLER_VERSION,
                "model": self.model,
                "prompts": hashlib.sha256("\x00".join(self.prompts).encode()).hexdigest(),
                "n": self.n,
                "temperature": self.temperature,
                "top_p": self.top_p,
                "max_new_tokens": self.max_new_tokens,
                "stop": list(self.stop),
                "seed": self.seed,
                "chat": self.chat,
                "max_batch": self.max_batch,
                "prefix": None
                if self.response_prefix is None
                else hashlib.sha256("\x00".join(self.response_prefix).encode()).hexdigest(),
            },
            sort_keys=True,
        )
        return hashlib.sha256(blob.encode()).hexdigest()[:24]


def cached_samples(
    spec: SampleSpec,
    cache_dir: Path,
    load_model: Callable[[], Any],
    progress: Callable[[int], None] | None = None,
) -> tuple[list[list[Any]], bool]:
    """Samples for ``spec``, from ``cache_dir`` or freshly drawn (then cached atomically).

    Returns
    -------
    samples : list (per prompt) of list of Sample
    hit : bool
        Whether they came from the cache.
    """
    from mlroundup.models.sampling import Sample, sample

    path = Path(cache_dir) / "self_consistency" / f"samples-{spec.key()}.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        rows = [[Sample.from_json(s) for s in row] for row in data["samples"]]
        if len(rows) == len(spec.prompts) and all(len(r) == spec.n for r in rows):
            return rows, True
    except (OSError, ValueError, KeyError, TypeError):
        pass
    lm = load_model()
    rows = sample(
        lm,
        spec.prompts,
        spec.n,
        temperature=spec.temperature,
        top_p=spec.top_p,
        max_new_tokens=spec.max_new_tokens,
        stop=spec.stop,
        seed=spec.seed,
        chat=spec.chat,
        response_prefix=spec.response_prefix,
        max_batch=spec.max_batch,
        progress=progress,
    )
    atomic_write_text(path, json.dumps({"samples": [[s.to_json() for s in r] for r in rows]}))
    return rows, False


def score_methods(
    samples: Sequence[Sequence[Any]], correct: Sequence[Sequence[bool]], seed: int = 0
) -> dict[str, np.ndarray]:
    """Per-prompt success of each selection method, plus the exact random expectation and oracle.

    Parameters
    ----------
    samples : per prompt, the n Samples (token ids and log-probabilities are used)
    correct : per prompt, whether each sample is correct

    Returns
    -------
    dict of str to ndarray of shape (prompts,)
        ``random``: expected success of a uniform pick (fraction correct, exact); ``oracle``:
        1 if any sample is correct (pass@n); every other method: 1.0/0.0 for its pick.
    """
    out: dict[str, list[float]] = {m: [] for m in (*METHODS, "oracle")}
    for row, ok in zip(samples, correct, strict=True):
        ok_arr = np.asarray(ok, dtype=np.float64)
        toks = [s.token_ids for s in row]
        lps = [s.logprobs for s in row]
        texts = [s.text for s in row]
        for m in METHODS:
            if m == "random":
                out[m].append(float(ok_arr.mean()))
            elif m == "majority":
                out[m].append(ok_arr[select(texts, method="majority")[0]])
            else:
                out[m].append(ok_arr[select(toks, lps, method=m)[0]])
        out["oracle"].append(float(ok_arr.max()))
    return {m: np.asarray(v) for m, v in out.items()}


def bootstrap_ci(
    values: np.ndarray, seed: int = 0, n_boot: int = 2000, level: float = 0.95
) -> tuple[float, float]:
    """Percentile bootstrap CI of the mean over prompts (resampling prompts)."""
    v = np.asarray(values, dtype=np.float64)
    if v.size == 0:
        raise ValueError("values is empty")
    rng = np.random.default_rng(seed)
    means = v[rng.integers(0, v.size, size=(n_boot, v.size))].mean(axis=1)
    a = (1 - level) / 2
    return float(np.quantile(means, a)), float(np.quantile(means, 1 - a))
