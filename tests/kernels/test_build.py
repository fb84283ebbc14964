"""Compile-and-cache machinery (oracles: values computed by hand in C and NumPy; file-system facts)."""

import ctypes
import json
import multiprocessing as mp
import os

import numpy as np
import pytest

from mlroundup.kernels import build

SRC = """
#include <stddef.h>
void axpy(size_t n, float a, const float *x, float *y) {
    for (size_t i = 0; i < n; ++i) y[i] += a * x[i];
}
int answer(void) { return 42; }
"""


def _axpy(lib):
    fn = lib.axpy
    fn.argtypes = [ctypes.c_size_t, ctypes.c_float, ctypes.c_void_p, ctypes.c_void_p]
    fn.restype = None
    return fn


def test_build_load_and_zero_copy(tmp_path):
    lib = build.load_library(SRC, "t_axpy", cache_dir=tmp_path)
    x = np.arange(5, dtype=np.float32)
    y = np.ones(5, dtype=np.float32)
    _axpy(lib)(5, 2.0, build.ptr(x), build.ptr(y))
    # oracle: y = 1 + 2 x, written in place (no copy was made)
    np.testing.assert_array_equal(y, 1 + 2 * np.arange(5, dtype=np.float32))
    assert lib.answer() == 42


def test_cache_reused_and_keyed_by_flags(tmp_path):
    first = build.build(SRC, "t_key", cache_dir=tmp_path)
    again = build.build(SRC, "t_key", cache_dir=tmp_path)
    assert first.compiled and not again.compiled and first.path == again.path
    other = build.build(SRC, "t_key", ["-O1"], cache_dir=tmp_path)
    assert other.compiled and other.key != first.key
    changed = build.build(SRC + "\n/* edit */\n", "t_key", cache_dir=tmp_path)
    assert changed.key != first.key
    # nothing half-written is left behind
    assert not [p for p in (tmp_path / "kernels").iterdir() if ".tmp" in p.name]


def test_corrupted_entry_is_rebuilt(tmp_path):
    first = build.build(SRC, "t_corrupt", cache_dir=tmp_path)
    first.path.write_bytes(b"not an ELF file")  # checksum no longer matches the manifest
    second = build.build(SRC, "t_corrupt", cache_dir=tmp_path)
    assert second.compiled
    assert ctypes.CDLL(str(second.path)).answer() == 42


def test_entry_that_fails_to_load_is_rebuilt(tmp_path):
    src = SRC + "\nint other(void) { return 7; }\n"
    first = build.build(src, "t_dlopen", cache_dir=tmp_path)
    # corrupt the library *and* its manifest consistently: only dlopen can notice
    first.path.write_bytes(b"garbage")
    manifest = first.path.with_suffix(".json")
    meta = json.loads(manifest.read_text())
    meta["sha256"] = build._sha256_file(first.path)
    manifest.write_text(json.dumps(meta))
    lib = build.load_library(src, "t_dlopen", cache_dir=tmp_path)
    assert lib.other() == 7


def test_compile_error_carries_compiler_message(tmp_path):
    with pytest.raises(build.CompileError, match="undeclared|not declared|undefined"):
        build.build("int f(void) { return no_such_symbol; }\n", "t_bad", cache_dir=tmp_path)


def test_no_compiler_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("CC", "definitely-not-a-compiler-xyz")
    with pytest.raises(build.CompilerNotFoundError, match="no working C compiler"):
        build.build(SRC, "t_nocc", cache_dir=tmp_path)


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="name"):
        build.build(SRC, "bad/name", cache_dir=tmp_path)
    with pytest.raises(ValueError, match="empty"):
        build.build("   ", "t_empty", cache_dir=tmp_path)
    with pytest.raises(ValueError, match="C-contiguous"):
        build.ptr(np.zeros((4, 4), np.float32)[:, ::2])
    with pytest.raises(ValueError, match="does not match"):
        build.ptr(np.zeros(4, np.float64), ctypes.c_float)


def _build_in_child(args):
    cache, tag = args
    src = SRC + f"\n/* {tag} */\n"
    built = build.build(src, "t_race", cache_dir=cache)
    return str(built.path), built.compiled, ctypes.CDLL(str(built.path)).answer()


def test_two_processes_compiling_at_once(tmp_path):
    ctx = mp.get_context("spawn" if os.name != "posix" else "fork")
    with ctx.Pool(2) as pool:
        results = pool.map(_build_in_child, [(str(tmp_path), "race")] * 2)
    paths = {r[0] for r in results}
    assert len(paths) == 1
    assert all(r[2] == 42 for r in results)
    # the lock serializes them: exactly one process ran the compiler
    assert sorted(r[1] for r in results) == [False, True]
