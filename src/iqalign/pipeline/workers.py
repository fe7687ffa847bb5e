"""Where the per-image work runs: worker processes, or this process when ``workers == 1``; or, with
``engine="ray"``, Ray actors (``ray_engine.py``).

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
from typing import Iterator, Sequence

import pandas as pd

EXECUTION_ENGINES = ("onnx", "torch", "ray")  # what --engine accepts


def check_engine(engine: str, ray_address: str | None = None) -> None:
    """ValueError unless ``engine`` is one --engine accepts (and a Ray address comes with ``ray``)."""
    if engine not in EXECUTION_ENGINES:
        raise ValueError(f"engine must be one of {', '.join(EXECUTION_ENGINES)}, got '{engine}'")
    if ray_address and engine != "ray":
        raise ValueError(f"a Ray address ({ray_address}) is only used with --engine ray, not '{engine}'")


def inference_engine(engine: str) -> str:
    """The engine the models run on: ``ray`` runs them under ONNX Runtime inside Ray actors, so its
    rows equal ``onnx``'s (and a results folder started with one resumes with the other)."""
    check_engine(engine)
    return "onnx" if engine == "ray" else engine


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


def limit_threads(n: int = 1) -> None:
    """``n`` BLAS/OpenMP and OpenCV threads in this process: where processes are the parallelism
    (local worker processes, Ray actors), threads inside each would only compete for the cores."""
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(n)
    except ImportError:
        pass
    try:
        import cv2

        cv2.setNumThreads(n)
    except ImportError:
        pass


def _worker_init(owner_pid: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the owner handles Ctrl-C and reports once
    threading.Thread(target=_exit_when_gone, args=(owner_pid,), daemon=True).start()
    limit_threads(1)  # one BLAS/OpenMP thread per worker: the workers are the parallelism


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


def execution_info(engine: str, workers: int, ray_address: str | None = None) -> dict:
    """Where a run's chunks were computed (for config.json; not part of the fingerprint)."""
    info = {"engine": engine, "inference_engine": inference_engine(engine), "workers": workers}
    if engine == "ray":
        from importlib.metadata import PackageNotFoundError, version

        try:
            ray_version = version("ray")
        except PackageNotFoundError:
            ray_version = None
        info.update(ray_address=ray_address or os.environ.get("RAY_ADDRESS") or "local instance", ray_version=ray_version)
    return info


class ChunkWork:
    """How one chunk of images becomes its rows: the one definition both engines run.

    ``prepare(record)`` is the per-image part (decode, intervene, image metrics: no models);
    ``finish(records, prepared)`` runs the models on the prepared views and returns the chunk's rows
    and problems. ``compute(records)`` is the two in a row. The local engine runs ``prepare`` in
    worker processes and ``finish`` in the main process (which holds the models); a Ray actor holds
    the models and runs ``compute``. Subclasses are picklable dataclasses of names and settings.
    """

    def model_names(self) -> list[str]:
        return []

    def load_models(self) -> None:
        """Load (and export, once) every model ``finish`` uses, so it fails here and not mid-run."""
        from ..models import load_for_inference

        for name in self.model_names():
            load_for_inference(name, self.engine)

    def prepare(self, record) -> dict:
        raise NotImplementedError

    def finish(self, records, prepared) -> tuple[pd.DataFrame, list[dict]]:
        raise NotImplementedError

    def compute(self, records) -> tuple[pd.DataFrame, list[dict]]:
        return self.finish(records, [self.prepare(r) for r in records])


def computed_chunks(work: ChunkWork, chunks: dict[int, Sequence], *, engine: str, workers: int,
                    ray_address: str | None = None, quiet: bool = False) -> Iterator[tuple[int, pd.DataFrame, list[dict]]]:
    """Yield ``(index, rows, problems)`` for each chunk of ``chunks`` (index -> records) as it is done.

    Local engines yield in index order; ``ray`` yields in the order chunks finish on the actors.
    """
    if engine == "ray":
        from .ray_engine import ray_computed_chunks

        yield from ray_computed_chunks(work, chunks, actors=workers, address=ray_address, quiet=quiet)
        return
    with make_executor(workers) as pool:
        for i, prepared in prefetched(pool, chunks, work.prepare):
            yield (i, *work.finish(chunks[i], prepared))
