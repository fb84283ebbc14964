"""Setup functions the harness tests run in child processes (each does almost no work)."""

import os
import time
from pathlib import Path

from mlroundup.benchmarks.harness import Unavailable, Workload


def env_probe(threads):
    """Reports the environment the child was given, and the thread count it was asked for."""
    return Workload(step=lambda: None, info={"env": dict(os.environ), "threads": threads})


def order_probe(threads, name, path):
    """Appends ``name`` to ``path`` on every call: the file is the order the calls ran in."""

    def step():
        with open(path, "a") as f:
            f.write(name + "\n")

    return step


def crash_probe(threads, crash_on_call, path):
    """Prints a line and ends the process with exit code 7 on call ``crash_on_call`` (1-based)."""
    calls = []

    def step():
        calls.append(1)
        if len(calls) == crash_on_call:
            print("probe: about to crash", flush=True)
            os._exit(7)

    return step


def raise_probe(threads):
    raise RuntimeError("probe setup failed on purpose")


def unavailable_probe(threads):
    raise Unavailable("the probe's library is not installed")


def sleep_probe(threads, seconds):
    return lambda: time.sleep(seconds)


def pid_probe(threads, path):
    """Writes its process id to ``path`` (read by :func:`state_probe`)."""
    Path(path).write_text(str(os.getpid()))
    return lambda: None


def state_probe(threads, pid_path, out):
    """On every call, appends the scheduler state of the process in ``pid_path`` to ``out``
    (``T``: stopped) -- what another side is doing while this one is timed."""

    def step():
        pid = Path(pid_path).read_text().strip()
        stat = Path(f"/proc/{pid}/stat").read_text()
        with open(out, "a") as f:
            f.write(stat.rsplit(")", 1)[1].split()[0] + "\n")

    return step


def count_probe(threads, start=0):
    """Each call returns how many calls this process has made so far, plus ``start``."""
    calls = [start]

    def step():
        calls[0] += 1
        return {"calls": calls[0], "threads": threads}

    return Workload(step=step, info={"start": start})


def array_probe(threads):
    """Each call returns an array (not reportable: the result stays None)."""
    import numpy as np

    return lambda: np.zeros(3)
