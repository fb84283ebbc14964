"""The child side of :mod:`mlroundup.benchmarks.harness` (one process per system; not for users).

Protocol: the parent writes JSON lines to this process's stdin (first the spec, then
``{"cmd": "pass"}`` per timed pass and ``{"cmd": "quit"}``); replies are JSON lines on the file
descriptor given as the only argument, so whatever a library prints to stdout or stderr cannot
corrupt them (that output goes to a log the parent quotes when this process dies).
"""

from __future__ import annotations

import importlib
import json
import math
import os
import sys
import time
import traceback
from typing import Any


def _thread_settings(threads: int) -> dict[str, Any]:
    """Cap every thread pool threadpoolctl sees at ``threads``; what they are now.

    threadpoolctl sets ``KMP_DUPLICATE_LIB_OK`` in ``os.environ`` when imported; it is put back as
    it was, so the system under test keeps the environment it was given.
    """
    before = os.environ.get("KMP_DUPLICATE_LIB_OK")
    try:
        import threadpoolctl
    except ImportError:  # pragma: no cover - a dependency of every extra
        threadpoolctl = None
    finally:
        if before is None:
            os.environ.pop("KMP_DUPLICATE_LIB_OK", None)
        else:
            os.environ["KMP_DUPLICATE_LIB_OK"] = before
    out: dict[str, Any] = {"requested": threads}
    if threadpoolctl is not None:
        threadpoolctl.threadpool_limits(limits=threads)
        out["threadpools"] = [
            {k: p.get(k) for k in ("user_api", "internal_api", "num_threads", "version", "prefix")}
            for p in threadpoolctl.threadpool_info()
        ]
    if "torch" in sys.modules:
        out["torch_threads"] = sys.modules["torch"].get_num_threads()
    try:
        out["cpu_affinity"] = sorted(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - macOS
        pass
    return out


def _env_diff(given: dict[str, str]) -> dict[str, Any]:
    now = dict(os.environ)
    return {
        "set": {k: v for k, v in now.items() if given.get(k) != v},
        "unset": sorted(set(given) - set(now)),
    }


_SCALARS = (int, float, str, bool, type(None))


def _reportable(value: Any) -> Any:
    """``value`` if it is a scalar or a flat dict/list of scalars (NumPy scalars converted)."""
    if hasattr(value, "item") and getattr(value, "ndim", None) == 0:
        value = value.item()
    if isinstance(value, _SCALARS):
        return value
    if isinstance(value, dict) and all(isinstance(v, _SCALARS) for v in value.values()):
        return {str(k): v for k, v in value.items()}
    if isinstance(value, list | tuple) and all(isinstance(v, _SCALARS) for v in value):
        return list(value)
    return None


def _run(step, prepare, calls: int) -> tuple[float, float, Any]:
    wall = cpu = 0.0
    value = None
    for _ in range(calls):
        if prepare is not None:
            prepare()
        t0, c0 = time.perf_counter(), time.process_time()
        value = step()
        wall += time.perf_counter() - t0
        cpu += time.process_time() - c0
    return wall, cpu, value


def main() -> None:
    from mlroundup.benchmarks.harness import Unavailable, Workload

    out = os.fdopen(int(sys.argv[1]), "w", buffering=1)
    given = dict(os.environ)

    def reply(**msg: Any) -> None:
        out.write(json.dumps(msg, default=str) + "\n")
        out.flush()

    spec = json.loads(sys.stdin.readline())
    for p in reversed(spec.get("sys_path", [])):
        if p not in sys.path:
            sys.path.insert(0, p)
    threads = int(spec["threads"])
    try:
        module, _, attr = spec["setup"].partition(":")
        work = getattr(importlib.import_module(module), attr)(threads=threads, **spec["params"])
        if not isinstance(work, Workload):
            work = Workload(step=work)
        settings = _thread_settings(threads)
        units = float(work.units)
        for _ in range(int(spec["warmup"])):
            _run(work.step, work.prepare, 1)
        calls = 1
        if work.prepare is None and spec["min_pass_s"] > 0:  # one more untimed call, to calibrate
            last = _run(work.step, None, 1)[0]
            calls = max(1, math.ceil(spec["min_pass_s"] / max(last, 1e-9)))
    except Unavailable as exc:
        reply(status="unavailable", reason=str(exc))
        return
    except BaseException:
        reply(status="error", reason=traceback.format_exc(limit=8))
        return
    reply(status="ready", info=work.info, calls_per_pass=calls, thread_settings=settings,
          env_changed=_env_diff(given))  # fmt: skip
    for line in sys.stdin:
        cmd = json.loads(line).get("cmd")
        if cmd != "pass":
            break
        try:
            wall, cpu, value = _run(work.step, work.prepare, calls)
        except BaseException:
            reply(status="error", reason=traceback.format_exc(limit=8))
            return
        reply(status="ok", wall_s=wall / calls / units, cpu_s=cpu / calls / units,
              result=_reportable(value))  # fmt: skip


if __name__ == "__main__":  # pragma: no cover
    main()
