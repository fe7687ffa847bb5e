"""Where the per-image work runs: worker processes, or this process when ``workers == 1``.

Worker processes start from a clean forkserver (never by forking a parent that holds torch
threads), ignore Ctrl-C (the owner handles it and reports once), and exit when the owner process is gone.
"""
from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
from concurrent.futures import Executor, Future, ProcessPoolExecutor


def _exit_when_gone(owner_pid: int, every_s: float = 1.0) -> None:
    """Exit this worker once the process that owns the pool is gone (e.g. after kill -9).

    Pool workers never see end-of-file on their task queue (they hold its write end too), and their
    parent is the forkserver, not the owner, so neither the queue nor PR_SET_PDEATHSIG notices.
    """
    while True:
        time.sleep(every_s)
        try:
            os.kill(owner_pid, 0)
        except ProcessLookupError:
            os._exit(1)
        except PermissionError:
            pass


def _worker_init(owner_pid: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the owner handles Ctrl-C and reports once
    threading.Thread(target=_exit_when_gone, args=(owner_pid,), daemon=True).start()
    try:  # one BLAS/OpenMP thread per worker: the workers are the parallelism
        from threadpoolctl import threadpool_limits

        threadpool_limits(1)
    except ImportError:
        pass
    try:
        import cv2

        cv2.setNumThreads(1)
    except ImportError:
        pass


class InProcessExecutor(Executor):
    """Runs each task at submit time in this process: no start-up cost, no pickling, easy debugging."""

    def submit(self, fn, /, *args, **kwargs) -> Future:
        future: Future = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:  # noqa: BLE001 - handed to the caller through the future
            future.set_exception(exc)
        return future


def make_executor(workers: int) -> Executor:
    """``workers`` processes (0 = one per CPU core); 1 means run in this process."""
    if workers < 0:
        raise ValueError(f"workers must be >= 0 (0 = one per core), got {workers}")
    n = workers or os.cpu_count() or 1
    if n == 1:
        return InProcessExecutor()
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
    return ProcessPoolExecutor(max_workers=n, mp_context=context, initializer=_worker_init, initargs=(os.getpid(),))


def prefetched(pool: Executor, chunks: dict, fn, *args, ahead: int = 2):
    """Yield ``(index, results)`` for each chunk in order, keeping ``ahead`` chunks in flight.

    Workers prepare the next chunks while the caller runs the current one through the models:
    memory stays bounded (at most ``ahead`` chunks wait) and neither side sits idle.
    ``chunks`` maps a chunk index to its records; each record is passed as ``fn(record, *args)``.
    """
    order = list(chunks)
    pending = {}

    def submit(i):
        pending[i] = [pool.submit(fn, record, *args) for record in chunks[i]]

    for i in order[:ahead]:
        submit(i)
    for pos, i in enumerate(order):
        if pos + ahead < len(order):
            submit(order[pos + ahead])
        yield i, [f.result() for f in pending.pop(i)]
