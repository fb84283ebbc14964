"""The persistent worker pool (oracles: per-task counters written by a C task, the kernel's own
list of this process's threads in /proc/self/task, a child process's exit status)."""

import ctypes
import os
import threading
import time

import numpy as np
import pytest

from mlroundup.kernels import build, pool

# A task that counts its runs and records the worker that ran it; `spin` iterations of busy work
# give other workers time to claim tasks too.
TASKS_SRC = r"""
#include <stdatomic.h>
#include <stdint.h>
typedef struct { _Atomic int *count; int *worker; int64_t spin; } ctx_t;
void count_task(void *arg, int64_t t, int w) {
    ctx_t *c = (ctx_t *)arg;
    volatile int64_t x = 0;
    for (int64_t i = 0; i < c->spin; ++i) x += i;
    atomic_fetch_add(&c->count[t], 1);
    c->worker[t] = w;
}
"""


class Ctx(ctypes.Structure):
    _fields_ = [("count", ctypes.c_void_p), ("worker", ctypes.c_void_p), ("spin", ctypes.c_int64)]


@pytest.fixture(scope="module")
def count_task(tmp_path_factory):
    lib = build.load_library(TASKS_SRC, "t_pool_tasks", cache_dir=tmp_path_factory.mktemp("k"))
    return ctypes.cast(lib.count_task, ctypes.c_void_p).value


def _run(count_task, n_tasks, threads, spin=0):
    count = np.zeros(n_tasks, dtype=np.int32)
    worker = np.full(n_tasks, -1, dtype=np.int32)
    ctx = Ctx(count.ctypes.data, worker.ctypes.data, spin)
    pool.parallel_for(n_tasks, count_task, ctx, threads=threads)
    return count, worker


def _threads_now():
    return len(os.listdir("/proc/self/task"))


@pytest.mark.parametrize("threads", [1, 2, 3, 4, 5])
@pytest.mark.parametrize("n_tasks", [0, 1, 3, 7, 31, 1001])
def test_every_task_runs_exactly_once(count_task, n_tasks, threads):
    for spin in (0, 2000):
        count, worker = _run(count_task, n_tasks, threads, spin)
        np.testing.assert_array_equal(count, np.ones(n_tasks, dtype=np.int32))
        # worker 0 is the caller; at most `threads` distinct threads took part
        assert np.all((worker >= 0) & (worker < threads))


def test_repeated_calls_reuse_the_workers(count_task):
    assert pool.shutdown()  # earlier tests may have asked for more threads
    _run(count_task, 8, 4)
    before, workers = _threads_now(), pool.workers()
    assert 1 <= workers <= 3  # caller + at most threads - 1 workers (fewer if a start failed)
    for i in range(300):
        count, _ = _run(count_task, 1 + i % 9, 1 + i % 4)
        assert count.sum() == 1 + i % 9
    assert _threads_now() == before and pool.workers() == workers


def test_idle_workers_sleep(count_task):
    """After the short spin, idle workers block: the process's CPU time stops growing."""
    _run(count_task, 8, 3)
    time.sleep(0.05)  # past the spin window
    t0, c0 = time.perf_counter(), time.process_time()
    time.sleep(0.3)
    used = time.process_time() - c0
    assert used < 0.1 * (time.perf_counter() - t0), used  # spinning workers would use ~2x


def test_shutdown_joins_workers_and_the_pool_restarts(count_task):
    _run(count_task, 4, 3)
    assert pool.workers() >= 1
    base = _threads_now() - pool.workers()
    assert pool.shutdown()
    assert pool.workers() == 0 and _threads_now() == base
    count, _ = _run(count_task, 5, 3)
    np.testing.assert_array_equal(count, np.ones(5, dtype=np.int32))


def test_works_in_a_child_after_fork(count_task):
    _run(count_task, 6, 3)  # the parent has live workers when it forks
    assert pool.workers() >= 1
    pid = os.fork()
    if pid == 0:  # child: exit status 0 only if the pool works and made its own workers
        ok = False
        try:
            before = _threads_now()
            ok = pool.workers() == 0
            for _ in range(20):
                count, _ = _run(count_task, 9, 3)
                ok = ok and bool(np.all(count == 1))
            ok = ok and _threads_now() == before + pool.workers()
        finally:
            os._exit(0 if ok else 1)
    deadline = time.monotonic() + 60
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() > deadline:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
            pytest.fail("child deadlocked in the pool after fork")
        time.sleep(0.01)
    assert os.waitstatus_to_exitcode(status) == 0
    count, _ = _run(count_task, 9, 3)  # the parent's pool is unaffected
    assert np.all(count == 1)


def test_concurrent_calls_from_two_python_threads(count_task):
    errors = []

    def hammer():
        try:
            for i in range(200):
                count, _ = _run(count_task, 3 + i % 11, 3, spin=200)
                if not np.all(count == 1):
                    errors.append(count)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    workers = [threading.Thread(target=hammer) for _ in range(2)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(120)
    assert not any(w.is_alive() for w in workers), "a concurrent call deadlocked"
    assert not errors


def test_nested_call_from_a_task_runs_inline():
    seen = []

    def inner(_ctx, t, _w):
        seen.append(("inner", t))

    inner_fn = pool.TASK_FN(inner)

    def outer(_ctx, t, _w):
        pool.parallel_for(4, inner_fn, None, threads=2)
        seen.append(("outer", t))

    outer_fn = pool.TASK_FN(outer)
    pool.parallel_for(3, outer_fn, None, threads=3)
    assert sorted(seen) == sorted(
        [("outer", t) for t in range(3)] + [("inner", t) for t in range(4)] * 3
    )


def test_bad_arguments_are_refused(count_task):
    with pytest.raises(ValueError, match="threads"):
        pool.parallel_for(3, count_task, None, threads=0)
    with pytest.raises(ValueError, match="threads"):
        pool.parallel_for(3, count_task, None, threads=pool.MAX_THREADS + 1)
    with pytest.raises(ValueError, match="n_tasks"):
        pool.parallel_for(-1, count_task, None, threads=2)
    with pytest.raises(ValueError, match="fn"):
        pool.parallel_for(3, None, None, threads=2)


def test_the_pool_reads_and_writes_no_environment(count_task, monkeypatch):
    before = dict(os.environ)
    _run(count_task, 5, 2)
    pool.shutdown()
    assert dict(os.environ) == before
    assert "getenv" not in pool.SOURCE
