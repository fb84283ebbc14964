"""A benchmark harness that is fair by construction: every system in its own fresh process.

A :class:`Case` names the systems to compare (ours and each peer) as :class:`System` entries: a
``"module:function"`` that builds the work inside the child process, JSON parameters, and the
variables this side sets for itself. :func:`measure` then, for each case:

1. starts one fresh Python process per system, with an explicit environment built from the
   user's **original** environment (the one this process was started with, read from
   ``/proc/self/environ``; nothing our code or the caller set in ``os.environ`` afterwards reaches
   a child) plus that system's own :attr:`System.env`, recorded in the results;
2. in the child: builds the work (untimed), caps every thread pool threadpoolctl sees at the
   case's thread count (the same for every side; each setup also gets ``threads``), runs the
   warm-up calls (excluded), chooses the calls per pass so a pass lasts at least
   :attr:`Case.min_pass_s`, and records its thread settings;
3. times the passes interleaved, ``A, B, A, B, ...``; while one side runs every other child is
   stopped (``SIGSTOP``), so no idle peer's spinning threads compete for the cores;
4. reports per system the per-call wall and CPU seconds of every pass, their median and spread
   (quartiles, interquartile range, min, max), or why there are none: a side whose setup says it
   is unavailable, that raised, crashed or ran past :attr:`Case.timeout_s` is reported with its
   reason and the tail of its output, never dropped.

Example (a peer and ours on the same problem; the functions live in a method's ``bench.py``)::

    from mlroundup.benchmarks.harness import Case, System, measure

    case = Case("1024x1024", (System("numpy", "mypkg.bench:numpy_setup", {"n": 1024}),
                              System("ours", "mypkg.bench:ours_setup", {"n": 1024}, ours=True)),
                threads=2, repeats=5)
    result = measure(case)
    result.ratio("numpy", "ours")   # median seconds of numpy / median of ours; > 1: ours faster

A setup function is called in the child as ``fn(threads=threads, **params)`` and returns a
zero-argument callable or a :class:`Workload`; it raises :class:`Unavailable` when its system
cannot run here (a library not installed).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import select
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "Case",
    "CaseResult",
    "Stats",
    "System",
    "SystemResult",
    "Unavailable",
    "Workload",
    "measure",
    "original_environ",
    "redacted",
    "summarize",
]

#: Statuses of a :class:`SystemResult`.
STATUSES = ("ok", "unavailable", "crashed", "timed out")

_SNAPSHOT = dict(os.environ)  # fallback where /proc/self/environ cannot be read
_SECRET = re.compile(r"TOKEN|SECRET|PASSW|CREDENTIAL|API_?KEY|ACCESS_KEY|PRIVATE|AUTH|COOKIE", re.I)


class Unavailable(Exception):
    """Raised by a setup function when its system cannot run here; the message says why."""


@dataclass
class Workload:
    """What a setup function returns: the call to time, and facts to report.

    Parameters
    ----------
    step : callable
        Zero-argument call timed by the harness. What it returns is reported
        (:attr:`SystemResult.result`, from the last timed call) when it is a number, a string,
        a bool, None, or a flat dict or list of those.
    prepare : callable, optional
        Untimed call made before every ``step`` (e.g. reset a decoder and feed its prompt, so
        ``step`` times decoding only). With it, every pass is one call.
    units : float, default 1
        Units of work per ``step`` (e.g. tokens decoded); the times reported are per unit.
    info : dict, optional
        JSON-serialisable facts about this side (a value it computed, bytes it reads, versions).
    """

    step: Callable[[], object]
    prepare: Callable[[], object] | None = None
    units: float = 1.0
    info: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class System:
    """One side of a comparison.

    Parameters
    ----------
    name : str
        Label in tables and JSON (unique within a case).
    setup : str
        ``"module:function"`` importable in the child; called as ``fn(threads=..., **params)``.
    params : mapping, optional
        JSON-serialisable keyword arguments of ``setup``.
    env : mapping of str to str, optional
        Variables this side sets for itself on top of the user's environment (recorded).
    ours : bool, default False
        Whether this is mlroundup's side.
    """

    name: str
    setup: str
    params: Mapping[str, Any] = field(default_factory=dict)
    env: Mapping[str, str] = field(default_factory=dict)
    ours: bool = False

    def __post_init__(self) -> None:
        module, _, attr = self.setup.partition(":")
        if not module or not attr:
            raise ValueError(f"invalid setup={self.setup!r}: must be 'module:function'")
        bad = {
            k: v for k, v in self.env.items() if not isinstance(k, str) or not isinstance(v, str)
        }
        if bad:
            raise ValueError(f"invalid env for {self.name!r}: names and values must be str: {bad}")


@dataclass(frozen=True)
class Case:
    """Systems timed side by side on one problem.

    Parameters
    ----------
    label : str
        The problem, e.g. ``"2048x2048 at 90%"``.
    systems : sequence of System
        In the order their passes interleave (names unique).
    threads : int
        Threads for every side.
    repeats : int, default 5
        Timed passes per system (>= 1).
    warmup : int, default 1
        Untimed calls per system before the first pass (>= 0).
    min_pass_s : float, default 0.05
        A pass repeats the call until it lasts at least this long (from the last warm-up call's
        time; 0: one call per pass).
    timeout_s : float, default 600
        Longest wait, in seconds, for a child's setup or for one of its passes; past it the
        child is killed and reported "timed out".
    """

    label: str
    systems: Sequence[System]
    threads: int
    repeats: int = 5
    warmup: int = 1
    min_pass_s: float = 0.05
    timeout_s: float = 600.0

    def __post_init__(self) -> None:
        names = [s.name for s in self.systems]
        if not names or len(set(names)) != len(names):
            raise ValueError(f"invalid systems {names}: at least one, names unique")
        for name, value, low in (("threads", self.threads, 1), ("repeats", self.repeats, 1),
                                 ("warmup", self.warmup, 0)):  # fmt: skip
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"invalid {name}={value!r}: an integer >= {low}")
        if not (self.min_pass_s >= 0 and math.isfinite(self.min_pass_s)):
            raise ValueError(f"invalid min_pass_s={self.min_pass_s!r}: finite and >= 0")
        if not (self.timeout_s > 0):
            raise ValueError(f"invalid timeout_s={self.timeout_s!r}: must be > 0")


@dataclass(frozen=True)
class Stats:
    """Median and spread of per-call seconds over a system's passes (NumPy's linear quantiles)."""

    n: int
    median: float
    q1: float
    q3: float
    min: float
    max: float

    @property
    def iqr(self) -> float:
        return self.q3 - self.q1

    def to_json(self) -> dict[str, float]:
        return {"n": self.n, "median": self.median, "q1": self.q1, "q3": self.q3,
                "iqr": self.iqr, "min": self.min, "max": self.max}  # fmt: skip


def summarize(seconds: Sequence[float]) -> Stats:
    """:class:`Stats` of ``seconds`` (one value per pass).

    Raises
    ------
    ValueError
        If ``seconds`` is empty or holds a negative or non-finite value.
    """
    a = np.asarray(seconds, dtype=np.float64)
    if a.ndim != 1 or a.size == 0 or not np.all(np.isfinite(a)) or np.any(a < 0):
        raise ValueError(
            f"invalid seconds={list(seconds)!r}: a non-empty list of finite values >= 0"
        )
    q1, med, q3 = np.quantile(a, [0.25, 0.5, 0.75])
    return Stats(int(a.size), float(med), float(q1), float(q3), float(a.min()), float(a.max()))


@dataclass
class SystemResult:
    """One side's measurements in a case, or the reason it has none."""

    name: str
    ours: bool
    status: str
    reason: str = ""
    wall_s: list[float] = field(default_factory=list)  # per unit of work, one per pass
    cpu_s: list[float] = field(default_factory=list)
    calls_per_pass: int = 0
    info: dict[str, Any] = field(default_factory=dict)
    env_set: dict[str, str] = field(default_factory=dict)
    env_changed_in_child: dict[str, Any] = field(default_factory=dict)
    thread_settings: dict[str, Any] = field(default_factory=dict)
    pid: int | None = None
    result: Any = None  # what the last timed call returned (numbers, strings; else None)

    @property
    def ok(self) -> bool:
        return self.status == "ok" and bool(self.wall_s)

    @property
    def stats(self) -> Stats | None:
        return summarize(self.wall_s) if self.ok else None

    @property
    def cpu_stats(self) -> Stats | None:
        return summarize(self.cpu_s) if self.ok else None

    @property
    def median(self) -> float | None:
        s = self.stats
        return None if s is None else s.median

    def to_json(self) -> dict[str, Any]:
        s, c = self.stats, self.cpu_stats
        return {
            "name": self.name, "ours": self.ours, "status": self.status, "reason": self.reason,
            "wall_s": self.wall_s, "cpu_s": self.cpu_s, "calls_per_pass": self.calls_per_pass,
            "wall": None if s is None else s.to_json(), "cpu": None if c is None else c.to_json(),
            "info": self.info, "env_set": self.env_set,
            "env_changed_in_child": self.env_changed_in_child,
            "thread_settings": self.thread_settings, "pid": self.pid, "result": self.result,
        }  # fmt: skip


@dataclass
class CaseResult:
    """Every system's result in a case, and the order the passes ran in."""

    case: Case
    results: dict[str, SystemResult]
    order: list[tuple[str, int]]  # (system, pass index) in the order timed

    def __getitem__(self, name: str) -> SystemResult:
        return self.results[name]

    def median(self, name: str, cpu: bool = False) -> float | None:
        """Median per-unit seconds of ``name`` (CPU seconds with ``cpu``), None if it has none."""
        r = self.results[name]
        s = r.cpu_stats if cpu else r.stats
        return None if s is None else s.median

    def ratio(self, peer: str, ours: str, cpu: bool = False) -> float | None:
        """``median(peer) / median(ours)``: > 1 means ``ours`` is faster; None if either is missing."""
        p, o = self.median(peer, cpu), self.median(ours, cpu)
        return None if p is None or o is None or o == 0 else p / o

    def problems(self) -> list[str]:
        """One line per system that has no measurements: name, status and reason."""
        return [f"{self.case.label}: {r.name} {r.status}: {r.reason}"
                for r in self.results.values() if not r.ok]  # fmt: skip

    def to_json(self) -> dict[str, Any]:
        c = self.case
        return {
            "label": c.label, "threads": c.threads, "repeats": c.repeats, "warmup": c.warmup,
            "min_pass_s": c.min_pass_s, "timeout_s": c.timeout_s,
            "order": [list(o) for o in self.order],
            "systems": {n: r.to_json() for n, r in self.results.items()},
        }  # fmt: skip


def original_environ() -> dict[str, str]:
    """The environment this process was started with.

    Read from ``/proc/self/environ`` (the block the kernel handed to the program; later changes to
    ``os.environ``, by our code or anyone's, do not alter it); where that cannot be read, a copy
    of ``os.environ`` taken when this module was first imported.
    """
    try:
        raw = Path("/proc/self/environ").read_bytes()
    except OSError:
        return dict(_SNAPSHOT)
    env = {}
    for item in raw.split(b"\0"):
        name, sep, value = item.partition(b"=")
        if sep and name:
            env[os.fsdecode(name)] = os.fsdecode(value)
    return env


def redacted(env: Mapping[str, str]) -> dict[str, str]:
    """``env`` with the values of variables whose names look secret (token, key, password, ...)
    replaced by ``"<redacted>"``: what the results record."""
    return {k: ("<redacted>" if _SECRET.search(k) else v) for k, v in sorted(env.items())}


class _Child:
    """A worker process and the pipes to it."""

    def __init__(self, system: System, case: Case, base_env: Mapping[str, str], log_dir: Path):
        self.system = system
        self.log = log_dir / f"{len(list(log_dir.iterdir())):03d}.log"
        env = dict(base_env)
        env.update(system.env)
        read_fd, write_fd = os.pipe()
        self._buf = b""
        self._fd = read_fd
        src = str(Path(__file__).resolve().parents[2])
        code = f"import sys; sys.path.insert(0, {src!r}); from mlroundup.benchmarks.worker import main; main()"
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-c", code, str(write_fd)],
                stdin=subprocess.PIPE, stdout=out, stderr=subprocess.STDOUT, env=env,
                pass_fds=(write_fd,), start_new_session=True,
            )  # fmt: skip
        os.close(write_fd)
        spec = {
            "setup": system.setup, "params": dict(system.params), "threads": case.threads,
            "warmup": case.warmup, "min_pass_s": case.min_pass_s,
            "sys_path": [p for p in sys.path if isinstance(p, str)],
        }  # fmt: skip
        self.send(spec)

    def send(self, msg: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write((json.dumps(msg) + "\n").encode())
        self.proc.stdin.flush()

    def receive(self, timeout_s: float) -> dict[str, Any] | None:
        """The child's next message; None on end of file (it died); TimeoutError past the limit."""
        deadline = time.monotonic() + timeout_s
        while b"\n" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError
            ready, _, _ = select.select([self._fd], [], [], left)
            if not ready:
                continue
            chunk = os.read(self._fd, 1 << 16)
            if not chunk:
                return None
            self._buf += chunk
        line, _, self._buf = self._buf.partition(b"\n")
        return json.loads(line)

    def signal(self, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, sig)

    def stop(self, timeout_s: float = 2.0) -> None:
        """``SIGSTOP`` the child's process group and wait until the kernel reports the child
        stopped (``/proc/PID/stat`` state ``T``): the signal is delivered asynchronously, so
        without the wait an idle side can still run for a moment while the next side is timed.
        Where ``/proc`` cannot be read, or the child has ended, returns after sending."""
        self.signal(signal.SIGSTOP)
        stat = Path(f"/proc/{self.proc.pid}/stat")
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                state = stat.read_text().rpartition(")")[2].split()[0]
            except (OSError, IndexError):
                return
            if state in ("T", "t", "Z", "X"):
                return
            time.sleep(0.0002)

    def tail(self, n: int = 1500) -> str:
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return ""
        return text[-n:].strip()

    def close(self, kill: bool = False) -> None:
        if self.proc.poll() is None and not kill:
            self.signal(signal.SIGCONT)
            with contextlib.suppress(OSError, ValueError):
                self.send({"cmd": "quit"})
                self.proc.stdin.close()  # type: ignore[union-attr]
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                kill = True
        if kill and self.proc.poll() is None:
            self.signal(signal.SIGCONT)
            self.signal(signal.SIGKILL)
            self.proc.wait()
        with contextlib.suppress(OSError, ValueError):
            if self.proc.stdin is not None:
                self.proc.stdin.close()
        with contextlib.suppress(OSError):
            os.close(self._fd)


def _died(child: _Child, result: SystemResult, when: str) -> None:
    code = child.proc.wait()
    result.status = "crashed"
    result.reason = f"the process ended {when} (exit code {code}); its output ends: {child.tail()}"


def measure(
    case: Case,
    *,
    log: Callable[[str], None] = lambda _m: None,
    base_env: Mapping[str, str] | None = None,
) -> CaseResult:
    """Time every system of ``case`` in its own fresh process, passes interleaved.

    Parameters
    ----------
    case : Case
        The systems and the timing settings.
    log : callable(str), optional
        Progress messages.
    base_env : mapping, optional
        The environment every child starts from (default: :func:`original_environ`).

    Returns
    -------
    CaseResult
        Per system: status, per-pass seconds per unit of work, the exact variables added to the
        base environment, what changed in the child's own environment during its setup, its
        thread settings; and the order of the passes.
    """
    base = original_environ() if base_env is None else dict(base_env)
    pausable = hasattr(signal, "SIGSTOP") and os.name == "posix"
    results: dict[str, SystemResult] = {}
    live: dict[str, _Child] = {}
    order: list[tuple[str, int]] = []
    with tempfile.TemporaryDirectory(prefix="mlroundup-bench-") as tmp:
        try:
            for system in case.systems:
                res = results[system.name] = SystemResult(
                    system.name, system.ours, "ok", env_set=dict(system.env)
                )
                log(f"{case.label}: starting {system.name}")
                child = _Child(system, case, base, Path(tmp))
                res.pid = child.proc.pid
                try:
                    msg = child.receive(case.timeout_s)
                except TimeoutError:
                    child.close(kill=True)
                    res.status, res.reason = "timed out", f"setup ran past {case.timeout_s:g} s"
                    continue
                if msg is None:
                    _died(child, res, "during setup")
                    child.close(kill=True)
                    continue
                if msg.get("status") != "ready":
                    res.status = "unavailable" if msg.get("status") == "unavailable" else "crashed"
                    res.reason = msg.get("reason", "")
                    child.close(kill=True)
                    continue
                res.info = msg.get("info", {})
                res.calls_per_pass = int(msg.get("calls_per_pass", 1))
                res.thread_settings = msg.get("thread_settings", {})
                res.env_changed_in_child = msg.get("env_changed", {})
                live[system.name] = child
                if pausable:
                    child.stop()
            for i in range(case.repeats):
                for system in case.systems:
                    child = live.get(system.name)
                    if child is None:
                        continue
                    res = results[system.name]
                    if pausable:
                        child.signal(signal.SIGCONT)
                    log(f"{case.label}: {system.name} pass {i + 1}/{case.repeats}")
                    try:
                        child.send({"cmd": "pass"})
                        msg = child.receive(case.timeout_s)
                    except TimeoutError:
                        res.status = "timed out"
                        res.reason = f"pass {i + 1} ran past {case.timeout_s:g} s"
                        child.close(kill=True)
                        del live[system.name]
                        continue
                    except (BrokenPipeError, OSError):
                        msg = None
                    if msg is None or msg.get("status") != "ok":
                        if msg is None:
                            _died(child, res, f"in pass {i + 1}")
                        else:
                            res.status, res.reason = "crashed", msg.get("reason", "")
                        child.close(kill=True)
                        del live[system.name]
                        continue
                    order.append((system.name, i))
                    res.wall_s.append(float(msg["wall_s"]))
                    res.cpu_s.append(float(msg["cpu_s"]))
                    res.result = msg.get("result")
                    if pausable:
                        child.stop()
        finally:
            for child in live.values():
                child.close()
    return CaseResult(case, results, order)
