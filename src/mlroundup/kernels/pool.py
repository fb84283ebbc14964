"""A persistent worker pool for compiled kernels: ``parallel_for(n_tasks, fn, ctx)`` in C.

Kernels that split their work across threads call the pool's C entry point instead of starting
threads per call. The pool is one small C library (:data:`SOURCE`), compiled and cached by
:func:`mlroundup.kernels.build.load_library`; since a library is loaded once per process there is
one pool per process, whatever kernel calls it. Generated C declares the entry point with
:data:`C_DECLARATIONS` and receives its address (:func:`parallel_for_address`) as an argument, so
a kernel library needs no link-time dependency on the pool.

Behaviour of ``mlr_parallel_for(n_tasks, fn, ctx, threads)``:

* runs ``fn(ctx, task, worker)`` exactly once for every ``task`` in ``[0, n_tasks)``, on at most
  ``min(n_tasks, threads)`` threads: the caller (``worker == 0``) and pool workers
  (``worker >= 1``); it returns when every task has finished;
* workers are started lazily, the first time a call needs them, and kept: repeated calls reuse
  them (never more than the largest ``threads - 1`` asked for);
* an idle worker spins for a short while (:data:`SPIN_MICROSECONDS`; a kernel called in a loop
  finds it awake) and then sleeps on a condition variable, so it never burns a core while idle;
* tasks are claimed from one atomic counter tagged with the call's generation, so a worker that
  wakes late finds the call finished and does nothing: a call never waits for a sleeping worker;
* a call made while the pool is busy (a second Python thread, or a task that calls
  ``parallel_for`` itself) runs its tasks on the calling thread, one after another: correct, never
  a deadlock;
* after ``fork()`` the child starts with an empty pool (a ``pthread_atfork`` handler resets it;
  the parent's workers do not exist there) and makes its own workers on first use;
* :func:`shutdown` (also registered with :mod:`atexit`) stops and joins every worker; a later call
  starts new ones.

Nothing here changes the process environment; the pool reads no environment variable.

Notes
-----
Claiming: a 64-bit word holds ``(generation << 32) | next_task``. A call writes its job (fn, ctx,
n_tasks) into the slot of its generation's parity, then publishes the new generation with
``next_task = 0``. A worker reads the word, reads the slot, and claims with compare-and-swap on
the word it read; the swap fails once the call's generation is over, and a slot is rewritten only
two generations later, so a claimed task always runs the job it was published with.
"""

from __future__ import annotations

import atexit
import ctypes
import functools
import threading
from typing import Any

from mlroundup.kernels.build import load_library

#: How long an idle worker spins before it sleeps (microseconds).
SPIN_MICROSECONDS = 100

#: Most threads (caller included) one call may use.
MAX_THREADS = 256

#: ``void fn(void *ctx, int64_t task, int worker)``: the task function's C type for ctypes.
TASK_FN = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_int64, ctypes.c_int)

#: C declarations a kernel includes to call the pool through the pointer it is given.
C_DECLARATIONS = r"""
typedef void (*mlr_task_fn)(void *ctx, int64_t task, int worker);
/* Runs fn(ctx, t, worker) for t in [0, n_tasks) on at most `threads` threads; 0, or -1 on bad
 * arguments. */
typedef int (*mlr_parallel_for_fn)(int64_t n_tasks, mlr_task_fn fn, void *ctx, int threads);
"""

SOURCE = (
    r"""/* mlr_pool: persistent worker pool of mlroundup.kernels.pool (see its docstring). */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>
"""
    + C_DECLARATIONS
    + r"""
#define MAX_THREADS """
    + str(MAX_THREADS)
    + r"""
#define SPIN_NS ((int64_t)"""
    + str(SPIN_MICROSECONDS)
    + r""" * 1000)

#if defined(__x86_64__) || defined(__i386__)
#define CPU_RELAX() __builtin_ia32_pause()
#elif defined(__aarch64__)
#define CPU_RELAX() __asm__ __volatile__("yield")
#else
#define CPU_RELAX() ((void)0)
#endif

typedef struct {
    _Atomic(mlr_task_fn) fn;
    _Atomic(void *) ctx;
    _Atomic int64_t n;
    _Atomic int threads;           /* workers with id >= threads stay out of this job */
} slot_t;

static struct {
    _Atomic uint64_t state;        /* (generation << 32) | next task */
    slot_t slot[2];                /* the job of generation g is in slot[g & 1] */
    _Atomic int64_t done;          /* tasks finished in the current generation */
    _Atomic int busy;              /* a call is in flight (one dispatcher at a time) */
    _Atomic int stop;              /* workers exit */
    _Atomic int sleepers;          /* workers waiting on the condition variable */
    _Atomic int n_workers;         /* started and not yet joined */
    _Atomic uint32_t start_gen;    /* generation before the call that starts a worker */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t threads[MAX_THREADS];
} P = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Claim and run tasks of generation `gen` until none is left; returns how many ran here. */
static int64_t run_tasks(uint32_t gen, int worker) {
    const slot_t *s = &P.slot[gen & 1];
    uint64_t w = atomic_load(&P.state);
    int64_t ran = 0;
    while ((uint32_t)(w >> 32) == gen) {
        if (worker >= atomic_load(&s->threads)) break;
        const mlr_task_fn fn = atomic_load(&s->fn);
        void *ctx = atomic_load(&s->ctx);
        const int64_t n = atomic_load(&s->n);
        const int64_t t = (int64_t)(w & 0xffffffffu);
        if (t >= n) break;
        if (atomic_compare_exchange_weak(&P.state, &w, w + 1)) {
            fn(ctx, t, worker);
            atomic_fetch_add(&P.done, 1);
            ++ran;
            w = atomic_load(&P.state);
        }
    }
    return ran;
}

static void *worker_main(void *arg) {
    const int id = (int)(intptr_t)arg;
    uint32_t seen = atomic_load(&P.start_gen); /* so it joins the call that started it */
    for (;;) {
        /* spin a short while for the next generation, then sleep */
        uint32_t gen = (uint32_t)(atomic_load(&P.state) >> 32);
        if (gen == seen && !atomic_load(&P.stop)) {
            const int64_t until = now_ns() + SPIN_NS;
            for (int i = 1;; ++i) {
                CPU_RELAX();
                gen = (uint32_t)(atomic_load(&P.state) >> 32);
                if (gen != seen || atomic_load(&P.stop)) break;
                if ((i & 255) == 0 && now_ns() > until) break;
            }
        }
        if (gen == seen && !atomic_load(&P.stop)) {
            pthread_mutex_lock(&P.mu);
            atomic_fetch_add(&P.sleepers, 1);
            while ((uint32_t)(atomic_load(&P.state) >> 32) == seen && !atomic_load(&P.stop))
                pthread_cond_wait(&P.cv, &P.mu);
            atomic_fetch_sub(&P.sleepers, 1);
            pthread_mutex_unlock(&P.mu);
            gen = (uint32_t)(atomic_load(&P.state) >> 32);
        }
        if (atomic_load(&P.stop)) return NULL;
        seen = gen;
        run_tasks(gen, id);
    }
}

/* In a child after fork() only the forking thread exists: forget the parent's workers. */
static void atfork_child(void) {
    atomic_store(&P.n_workers, 0);
    atomic_store(&P.sleepers, 0);
    atomic_store(&P.busy, 0);
    atomic_store(&P.stop, 0);
    pthread_mutex_init(&P.mu, NULL);
    pthread_cond_init(&P.cv, NULL);
}

static void register_atfork(void) { pthread_atfork(NULL, NULL, atfork_child); }

/* Start workers until there are `want` (caller holds `busy`); fewer if the system refuses. */
static void grow(int want) {
    int have = atomic_load(&P.n_workers);
    if (have >= want) return;
    atomic_store(&P.start_gen, (uint32_t)(atomic_load(&P.state) >> 32));
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old); /* workers inherit: signals go to other threads */
    for (; have < want; ++have)
        if (pthread_create(&P.threads[have], NULL, worker_main, (void *)(intptr_t)(have + 1)))
            break;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    atomic_store(&P.n_workers, have);
}

int mlr_parallel_for(int64_t n_tasks, mlr_task_fn fn, void *ctx, int threads) {
    if (n_tasks < 0 || n_tasks > 0xffffffffLL || !fn || threads < 1 || threads > MAX_THREADS)
        return -1;
    if (n_tasks == 0) return 0;
    int expected = 0;
    if (threads == 1 || n_tasks == 1 || !atomic_compare_exchange_strong(&P.busy, &expected, 1)) {
        for (int64_t t = 0; t < n_tasks; ++t) fn(ctx, t, 0); /* busy or serial: run here */
        return 0;
    }
    pthread_once(&atfork_once, register_atfork);
    const int want = (int)((n_tasks < threads ? n_tasks : threads) - 1);
    grow(want);
    const uint32_t gen = (uint32_t)(atomic_load(&P.state) >> 32) + 1;
    slot_t *s = &P.slot[gen & 1];
    atomic_store(&s->fn, fn);
    atomic_store(&s->ctx, ctx);
    atomic_store(&s->n, n_tasks);
    atomic_store(&s->threads, threads);
    atomic_store(&P.done, 0);
    atomic_store(&P.state, (uint64_t)gen << 32);
    if (atomic_load(&P.sleepers) > 0) {
        pthread_mutex_lock(&P.mu);
        pthread_cond_broadcast(&P.cv);
        pthread_mutex_unlock(&P.mu);
    }
    run_tasks(gen, 0);
    for (int i = 1; atomic_load(&P.done) < n_tasks; ++i) {
        if (i < 4096) CPU_RELAX();
        else sched_yield(); /* a worker holds the last task: let it run */
    }
    atomic_store(&P.busy, 0);
    return 0;
}

/* Workers started (and not joined). */
int mlr_pool_workers(void) { return atomic_load(&P.n_workers); }

/* Stop and join every worker; 0, or -1 if a call is in flight (nothing is stopped then). */
int mlr_pool_shutdown(void) {
    int expected = 0;
    if (!atomic_compare_exchange_strong(&P.busy, &expected, 1)) return -1;
    const int n = atomic_load(&P.n_workers);
    pthread_mutex_lock(&P.mu);
    atomic_store(&P.stop, 1);
    pthread_cond_broadcast(&P.cv);
    pthread_mutex_unlock(&P.mu);
    for (int i = 0; i < n; ++i) pthread_join(P.threads[i], NULL);
    atomic_store(&P.n_workers, 0);
    atomic_store(&P.stop, 0);
    atomic_store(&P.busy, 0);
    return 0;
}
"""
)

_LOCK = threading.Lock()


@functools.cache
def _library() -> ctypes.CDLL:
    lib = load_library(SOURCE, "mlr_pool", ("-pthread",))
    lib.mlr_parallel_for.argtypes = [ctypes.c_int64, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int]
    lib.mlr_parallel_for.restype = ctypes.c_int
    lib.mlr_pool_workers.argtypes = []
    lib.mlr_pool_workers.restype = ctypes.c_int
    lib.mlr_pool_shutdown.argtypes = []
    lib.mlr_pool_shutdown.restype = ctypes.c_int
    atexit.register(lib.mlr_pool_shutdown)
    return lib


@functools.cache
def parallel_for_address() -> int:
    """Address of the C entry point ``mlr_parallel_for`` (type ``mlr_parallel_for_fn`` in
    :data:`C_DECLARATIONS`), to pass to a compiled kernel.

    Raises
    ------
    mlroundup.kernels.build.CompileError
        If the pool cannot be compiled (no C compiler, or it fails).
    """
    return ctypes.cast(_library().mlr_parallel_for, ctypes.c_void_p).value


def parallel_for(n_tasks: int, fn: Any, ctx: Any = None, *, threads: int) -> None:
    """Run ``fn(ctx, task, worker)`` once for every ``task`` in ``range(n_tasks)`` on the pool.

    Parameters
    ----------
    n_tasks : int
        Number of tasks, in ``[0, 2**32)``.
    fn : TASK_FN instance or int
        The task function: a :data:`TASK_FN` (a C function from a loaded library, or a Python
        callable wrapped in ``TASK_FN``; keep the wrapper alive during the call) or the address of
        a C function of that type.
    ctx : int, ctypes pointer, array or structure, optional
        Its address is passed unchanged to every task (``NULL`` if None).
    threads : int
        Most threads to use, the caller included, in ``[1, MAX_THREADS]``.

    Raises
    ------
    ValueError
        If ``n_tasks`` or ``threads`` is out of range or ``fn`` is None.
    """
    if isinstance(threads, bool) or not isinstance(threads, int) or not 1 <= threads <= MAX_THREADS:
        raise ValueError(f"invalid threads={threads!r}: an integer in [1, {MAX_THREADS}]")
    if isinstance(n_tasks, bool) or not isinstance(n_tasks, int) or not 0 <= n_tasks < 1 << 32:
        raise ValueError(f"invalid n_tasks={n_tasks!r}: an integer in [0, 2**32)")
    if fn is None:
        raise ValueError("fn is None: pass a TASK_FN or a C function's address")
    address = fn if isinstance(fn, int) else ctypes.cast(fn, ctypes.c_void_p).value
    # a new name for the address: ``ctx`` keeps the object (and its memory) alive during the call
    if isinstance(ctx, ctypes._Pointer):
        ctx_address = ctypes.cast(ctx, ctypes.c_void_p).value
    elif isinstance(ctx, (ctypes.Array, ctypes.Structure)):
        ctx_address = ctypes.addressof(ctx)
    else:
        ctx_address = ctx
    rc = _library().mlr_parallel_for(n_tasks, address, ctx_address, threads)
    if rc != 0:  # pragma: no cover - arguments were checked above
        raise ValueError(f"mlr_parallel_for refused n_tasks={n_tasks}, threads={threads}")


def workers() -> int:
    """Worker threads the pool has started in this process (0 before first use)."""
    return _library().mlr_pool_workers()


def shutdown() -> bool:
    """Stop and join the pool's workers (a later call starts new ones).

    Returns
    -------
    bool
        True if stopped; False if a call was in flight on another thread (nothing stopped).
    """
    with _LOCK:
        return _library().mlr_pool_shutdown() == 0
