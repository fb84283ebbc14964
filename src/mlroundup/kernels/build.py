"""Compile generated C at first use with the system compiler, cache the shared library, load it.

A kernel module is C source text (usually generated) plus compiler flags. :func:`load_library`
compiles it once into a shared library under the user cache folder
(:func:`mlroundup.utils.paths.default_cache_dir` ``/ "kernels"``) and loads it with
:mod:`ctypes`; later calls, in this process or another, reuse the cached file. NumPy arrays are passed
to the loaded functions without copying through :func:`ptr`.

Cache entries are keyed by a SHA-256 of everything that changes the machine code: the source, the
compiler's path and version banner, the flags, and the CPU model and instruction-set features
(flags such as ``-march=native`` depend on them). Each entry is a library file plus a small JSON
manifest holding the library's SHA-256. An entry whose manifest is missing, whose checksum does not
match, or which fails to load is treated as corrupted and rebuilt. Two processes building the same
entry at once serialize on a lock file; the library is compiled to a temporary name and renamed into
place atomically, so no reader ever sees a half-written library.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import json
import os
import shutil
import subprocess
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mlroundup.utils.cpu import cpu_model, kernel_features
from mlroundup.utils.files import atomic_write_bytes, file_lock, temp_path

#: Flags every build gets: optimized, position-independent shared library, C11.
BASE_FLAGS: tuple[str, ...] = ("-O3", "-std=c11", "-fPIC", "-shared")

#: Bumped when the cache layout changes, so old entries are never misread.
CACHE_FORMAT = 1

_COMPILER_CANDIDATES = ("cc", "gcc", "clang")


class CompileError(RuntimeError):
    """The C compiler failed; the message holds its command line and its diagnostics."""


class CompilerNotFoundError(CompileError):
    """No C compiler was found (set ``$CC`` to one)."""


@dataclass(frozen=True)
class Compiler:
    """A C compiler on this machine.

    Attributes
    ----------
    path : str
        Absolute path of the executable.
    version : str
        First line of ``<path> --version`` (part of the cache key).
    """

    path: str
    version: str


@functools.cache
def _probe_compiler(command: str) -> Compiler | None:
    path = shutil.which(command)
    if path is None:
        return None
    try:
        out = subprocess.run(
            [path, "--version"], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        return None
    lines = (out.stdout or out.stderr).strip().splitlines()
    return Compiler(path=os.path.realpath(path), version=lines[0] if lines else "unknown")


def find_compiler(name: str | None = None) -> Compiler:
    """The C compiler to use: ``name``, else ``$CC``, else the first of cc, gcc, clang on ``PATH``.

    Raises
    ------
    CompilerNotFoundError
        If the requested compiler (or every candidate) is missing or does not run.
    """
    requested = name or os.environ.get("CC")
    candidates = (requested,) if requested else _COMPILER_CANDIDATES
    for cand in candidates:
        found = _probe_compiler(cand)
        if found is not None:
            return found
    raise CompilerNotFoundError(
        f"no working C compiler found (tried {', '.join(candidates)}); install gcc or clang, "
        "or set $CC to a C compiler"
    )


def cache_key(source: str, compiler: Compiler, flags: Sequence[str]) -> str:
    """SHA-256 (hex) of the source, compiler, flags, CPU model and kernel features."""
    doc = {
        "format": CACHE_FORMAT,
        "source": source,
        "compiler": [compiler.path, compiler.version],
        "flags": list(flags),
        "cpu": cpu_model(),
        "features": kernel_features(),
    }
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()


def kernel_cache_dir(cache_dir: Path | str | None = None) -> Path:
    """``<cache_dir>/kernels`` (default: the user cache folder of ``mlroundup``)."""
    if cache_dir is None:
        from mlroundup.utils.paths import default_cache_dir

        cache_dir = default_cache_dir()
    return Path(cache_dir) / "kernels"


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _entry_ok(lib: Path, manifest: Path) -> bool:
    try:
        meta = json.loads(manifest.read_text())
        return lib.is_file() and meta.get("sha256") == _sha256_file(lib)
    except (OSError, ValueError, AttributeError):
        return False


def _compile(compiler: Compiler, source: str, flags: Sequence[str], out: Path) -> None:
    src = temp_path(out, suffix=".c")
    try:
        src.write_text(source)
        cmd = [compiler.path, *BASE_FLAGS, *flags, str(src), "-o", str(out)]
        try:
            res = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False)
        except (OSError, subprocess.SubprocessError) as exc:
            raise CompileError(f"could not run the C compiler: {' '.join(cmd)}: {exc}") from exc
        if res.returncode != 0:
            diag = (res.stderr or res.stdout).strip()
            raise CompileError(
                f"C compilation failed (exit {res.returncode}): {' '.join(cmd)}\n{diag}"
            )
    finally:
        src.unlink(missing_ok=True)


@dataclass(frozen=True)
class BuiltLibrary:
    """A compiled and cached shared library.

    Attributes
    ----------
    path : pathlib.Path
        The library file in the cache.
    key : str
        Its cache key (see :func:`cache_key`).
    compiled : bool
        True if this call ran the compiler, False if the cached file was reused.
    """

    path: Path
    key: str
    compiled: bool


def build(
    source: str,
    name: str,
    flags: Sequence[str] = (),
    *,
    cache_dir: Path | str | None = None,
    compiler: str | None = None,
) -> BuiltLibrary:
    """Compile ``source`` into a cached shared library, or reuse the cached one.

    Parameters
    ----------
    source : str
        Complete C translation unit.
    name : str
        Human-readable prefix of the cached file name (letters, digits, ``_``, ``-``, ``.``).
    flags : sequence of str
        Extra compiler flags (e.g. ``["-mavx2", "-mfma"]``), after :data:`BASE_FLAGS`.
    cache_dir : path, optional
        Root cache folder; entries live in ``<cache_dir>/kernels``.
    compiler : str, optional
        Compiler command; default ``$CC`` or the first of cc, gcc, clang.

    Returns
    -------
    BuiltLibrary

    Raises
    ------
    ValueError
        If ``name`` has characters outside ``[A-Za-z0-9_.-]`` or ``source`` is empty.
    CompilerNotFoundError
        If no C compiler is available.
    CompileError
        If compilation fails; the message includes the compiler's diagnostics.
    """
    if not name or not all(c.isalnum() or c in "_.-" for c in name):
        raise ValueError(f"invalid name={name!r}: use letters, digits, '_', '-', '.'")
    if not source.strip():
        raise ValueError("source is empty")
    cc = find_compiler(compiler)
    key = cache_key(source, cc, flags)
    folder = kernel_cache_dir(cache_dir)
    folder.mkdir(parents=True, exist_ok=True)
    stem = f"{name}-{key[:20]}"
    lib, manifest = folder / f"{stem}.so", folder / f"{stem}.json"
    if _entry_ok(lib, manifest):
        return BuiltLibrary(lib, key, compiled=False)
    with file_lock(folder / f"{stem}.lock"):
        if _entry_ok(lib, manifest):  # another process built it while we waited
            return BuiltLibrary(lib, key, compiled=False)
        _rebuild(cc, source, flags, lib, manifest, key)
    return BuiltLibrary(lib, key, compiled=True)


def _rebuild(
    cc: Compiler, source: str, flags: Sequence[str], lib: Path, manifest: Path, key: str
) -> None:
    """Compile to a temporary file, then rename the library and write its manifest (caller locks)."""
    tmp = temp_path(lib, suffix=".so")
    try:
        _compile(cc, source, flags, tmp)
        digest = _sha256_file(tmp)
        manifest.unlink(missing_ok=True)  # no manifest, no valid entry, until both are in place
        os.replace(tmp, lib)
    finally:
        tmp.unlink(missing_ok=True)
    meta = {"sha256": digest, "key": key, "compiler": [cc.path, cc.version], "flags": list(flags)}
    atomic_write_bytes(manifest, json.dumps(meta, indent=1).encode())


_LOADED: dict[str, ctypes.CDLL] = {}
_LOADED_LOCK = threading.Lock()


def load_library(
    source: str,
    name: str,
    flags: Sequence[str] = (),
    *,
    cache_dir: Path | str | None = None,
    compiler: str | None = None,
) -> ctypes.CDLL:
    """Build (or reuse) ``source`` as in :func:`build` and load it with :mod:`ctypes`.

    A library that is in the cache but fails to load (a truncated or foreign file) is rebuilt once.
    Loaded libraries are memoized per cache key for the life of the process.

    Returns
    -------
    ctypes.CDLL
        The loaded library; declare ``argtypes``/``restype`` of its functions before calling them.

    Raises
    ------
    CompilerNotFoundError, CompileError, ValueError
        As :func:`build`.
    OSError
        If a freshly compiled library still cannot be loaded.
    """
    built = build(source, name, flags, cache_dir=cache_dir, compiler=compiler)
    with _LOADED_LOCK:
        if built.key in _LOADED:
            return _LOADED[built.key]
        try:
            handle = ctypes.CDLL(str(built.path))
        except OSError:
            if built.compiled:
                raise
            folder = built.path.parent
            stem = built.path.stem
            cc = find_compiler(compiler)
            with file_lock(folder / f"{stem}.lock"):
                _rebuild(cc, source, flags, built.path, folder / f"{stem}.json", built.key)
            handle = ctypes.CDLL(str(built.path))
        _LOADED[built.key] = handle
        return handle


def ptr(array: np.ndarray, ctype: type = ctypes.c_float) -> ctypes._Pointer:
    """A ctypes pointer to ``array``'s data, without copying.

    Parameters
    ----------
    array : numpy.ndarray
        Must be C-contiguous (or 1-D) and stay alive while the pointer is used.
    ctype : ctypes type
        Element type of the pointer (``c_float``, ``c_double``, ``c_int32``, ...); its size must
        equal ``array.itemsize``.

    Raises
    ------
    ValueError
        If ``array`` is not C-contiguous or its item size does not match ``ctype``.
    """
    if not array.flags.c_contiguous:
        raise ValueError("array must be C-contiguous to pass it to a kernel without copying")
    if array.itemsize != ctypes.sizeof(ctype):
        raise ValueError(
            f"array of dtype {array.dtype} does not match the kernel's {ctype.__name__}"
        )
    return array.ctypes.data_as(ctypes.POINTER(ctype))
