"""Atomic file writes and an advisory inter-process lock.

A write goes to a fresh temporary file in the target's folder (same file system), is flushed and
fsynced, then renamed over the target with ``os.replace`` (atomic on POSIX and Windows), and the
folder is fsynced so the rename itself survives a crash. Readers see the old file or the whole new
one, never a torn file; a failed write leaves the target untouched and no temporary file behind.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

try:  # POSIX
    import fcntl
except ImportError:  # pragma: no cover - Windows: atomic renames alone keep entries whole
    fcntl = None  # type: ignore[assignment]


@contextlib.contextmanager
def file_lock(path: Path | str) -> Iterator[None]:
    """Hold an exclusive advisory lock on ``path`` (created if missing) for the ``with`` block.

    Two processes building the same cache entry serialize here. Where ``fcntl`` is unavailable the
    lock is a no-op and correctness rests on the atomic writes (the loser of a race rewrites the
    same bytes).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+b") as fh:
        if fcntl is not None:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            if fcntl is not None:
                fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def temp_path(final: Path | str, suffix: str = "") -> Path:
    """A fresh, unique file name in ``final``'s folder (same file system, so a rename is atomic)."""
    final = Path(final)
    fd, name = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".tmp" + suffix, dir=final.parent)
    os.close(fd)
    return Path(name)


def _umask() -> int:
    """The process's umask, read without changing it where Linux shows it (/proc/self/status);
    elsewhere set and restored at once."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    old = os.umask(0o022)
    os.umask(old)
    return old


def file_mode(final: Path | str) -> int:
    """The permission bits a file written to ``final`` should get: those of the file it
    replaces, else what ``open`` would give a new file (0o666 less the umask). A temporary file
    from :func:`temp_path` is created 0o600; give it this mode before renaming it into place."""
    try:
        return stat.S_IMODE(os.stat(final).st_mode)
    except FileNotFoundError:
        return 0o666 & ~_umask()


def fsync_dir(folder: Path | str) -> None:
    """Make renames into ``folder`` durable (a no-op where folders cannot be opened)."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def atomic_writer(final: Path | str) -> Iterator[BinaryIO]:
    """A binary file handle whose contents replace ``final`` atomically when the block ends.

    If the block raises, ``final`` is left as it was and the temporary file is removed.

    Examples
    --------
    >>> with atomic_writer(path) as fh:  # doctest: +SKIP
    ...     torch.save(state, fh)
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path(final)
    try:
        with open(tmp, "wb") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, file_mode(final))
        os.replace(tmp, final)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    fsync_dir(final.parent)


def atomic_write_bytes(final: Path | str, data: bytes) -> None:
    """Write ``data`` to ``final`` atomically (see the module docstring)."""
    with atomic_writer(final) as fh:
        fh.write(data)


def atomic_write_text(final: Path | str, text: str, encoding: str = "utf-8") -> None:
    """Write ``text`` to ``final`` atomically (see the module docstring)."""
    atomic_write_bytes(final, text.encode(encoding))
