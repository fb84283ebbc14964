"""The shared utility layer (mlroundup.utils). Oracles: the file system's own state after an
injected failure, the environment variables' documented meaning, torch's own thread getter."""

import os

import pytest

from mlroundup.utils import files, paths, threads


def test_atomic_write_replaces_whole_or_not_at_all(tmp_path, monkeypatch):
    target = tmp_path / "out.json"
    files.atomic_write_text(target, "old")
    with pytest.raises(OSError, match="injected"), files.atomic_writer(target) as fh:
        fh.write(b"half")
        raise OSError("disk full (injected)")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]  # no temporary file left
    synced = []
    monkeypatch.setattr(files.os, "fsync", lambda fd: synced.append(fd))
    files.atomic_write_bytes(tmp_path / "sub" / "new.bin", b"\x00\x01")
    assert (tmp_path / "sub" / "new.bin").read_bytes() == b"\x00\x01"
    assert len(synced) == 2  # the file's data, then the folder holding the rename


def test_default_cache_dir_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("MLROUNDUP_CACHE", str(tmp_path / "c"))
    assert paths.default_cache_dir() == tmp_path / "c"
    monkeypatch.delenv("MLROUNDUP_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert paths.default_cache_dir() == tmp_path / "xdg" / "mlroundup"


def test_default_threads_reads_mlroundup_threads(monkeypatch):
    monkeypatch.delenv(threads.THREADS_ENV, raising=False)
    assert threads.default_threads() == len(os.sched_getaffinity(0))
    monkeypatch.setenv(threads.THREADS_ENV, "3")
    assert threads.default_threads() == 3
    for bad in ("0", "-2", "two"):
        monkeypatch.setenv(threads.THREADS_ENV, bad)
        with pytest.raises(ValueError, match="MLROUNDUP_THREADS"):
            threads.default_threads()


def test_every_kernel_family_uses_the_one_default_threads(monkeypatch):
    from mlroundup.qigen import kernels as qk
    from mlroundup.rosko import matmul as rm

    monkeypatch.setenv(threads.THREADS_ENV, "5")
    assert qk.default_threads() == rm.default_threads() == 5


def test_thread_limits_are_restored():
    torch = pytest.importorskip("torch")
    threadpoolctl = pytest.importorskip("threadpoolctl")
    before = torch.get_num_threads()
    with threads.torch_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
    with pytest.raises(ValueError, match="threads"):
        with threads.torch_threads(0):
            pass
    import numpy  # noqa: F401  (loads the BLAS threadpoolctl reports)

    def blas():
        return [
            i["num_threads"] for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas"
        ]

    outside = blas()
    with threads.blas_threads(1):
        assert set(blas()) <= {1}
    assert blas() == outside


def test_blas_loaded_after_the_first_limit_is_limited_too():
    """A BLAS the process loads after blas_threads first ran (NumPy imported later here; MKL
    through ctypes in the Rosko bench) is limited as well. Oracle: a fresh threadpoolctl scan,
    in a new process so the load order is known."""
    pytest.importorskip("threadpoolctl")
    import json
    import subprocess
    import sys

    program = (
        "from mlroundup.utils import threads\n"
        "with threads.blas_threads(1):\n"
        "    pass\n"  # the view is made before any BLAS is loaded
        "import numpy, threadpoolctl\n"
        "with threads.blas_threads(1):\n"
        "    pools = [i['num_threads'] for i in threadpoolctl.threadpool_info()"
        " if i['user_api'] == 'blas']\n"
        "import json; print(json.dumps(pools))\n"
    )
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "2", "OMP_NUM_THREADS": "2"}
    out = subprocess.run([sys.executable, "-c", program], env=env, capture_output=True,
                         text=True, check=True).stdout  # fmt: skip
    pools = json.loads(out)
    assert pools and set(pools) == {1}


def test_lazy_exports_import_on_first_use_relative_and_absolute():
    """Oracle: the objects the standard library's own modules define."""
    import json.decoder
    import sys

    from mlroundup.utils.lazy import lazy_exports

    sys.modules.pop("json.tool", None)
    getattr_, names = lazy_exports("json", {"tool": ("main",), "json.decoder": ("JSONDecoder",)})
    assert names == ["JSONDecoder", "main"]
    assert "json.tool" not in sys.modules  # nothing imported until asked
    assert getattr_("JSONDecoder") is json.decoder.JSONDecoder
    assert getattr_("main") is sys.modules["json.tool"].main
    with pytest.raises(AttributeError, match="module 'json' has no attribute 'nope'"):
        getattr_("nope")
    with pytest.raises(ValueError, match="'main' is listed under json.tool and json.decoder"):
        lazy_exports("json", {"tool": ("main",), "json.decoder": ("main",)})


def test_every_lazy_package_name_resolves():
    import importlib

    for pkg in ("budgeted_training", "embedding_probes", "icae", "instruction_mining",
                "training", "ttt"):  # fmt: skip
        module = importlib.import_module(f"mlroundup.{pkg}")
        for name in module.__all__:
            assert getattr(module, name) is not None, (pkg, name)


def test_atomic_writes_get_the_mode_open_would_give_or_keep_the_replaced_files(tmp_path):
    """Oracle: the mode a plain open() gives a new file under the same umask; chmod's own."""
    import os
    import stat

    from mlroundup.utils.files import atomic_write_text

    old = os.umask(0o027)
    try:
        (tmp_path / "plain").write_text("x")
        atomic_write_text(tmp_path / "ours", "x")
        mode = stat.S_IMODE((tmp_path / "ours").stat().st_mode)
        assert mode == stat.S_IMODE((tmp_path / "plain").stat().st_mode) == 0o640
        (tmp_path / "ours").chmod(0o604)
        atomic_write_text(tmp_path / "ours", "y")
        assert stat.S_IMODE((tmp_path / "ours").stat().st_mode) == 0o604
    finally:
        os.umask(old)
