"""``--engine ray``: the chunks of ``score`` and ``benchmark`` computed on Ray Data, by actors that
hold the models.

The driver (this process) discovers the images, decides which chunks are still to do, and writes
each chunk's rows with the same :class:`~iqalign.pipeline.store.PartStore` as the local engine, as
soon as the chunk arrives: a killed Ray run resumes like a local one, and a folder started by one
engine is finished by the other (the rows are the same). The actors run
:meth:`ChunkWork.compute <iqalign.pipeline.workers.ChunkWork.compute>`, the very code the local
engine runs, with the models under ONNX Runtime.

Chunks travel as paths, not pixels: every worker reads the files itself, so on a cluster the images
must be visible at the same paths on every node (shared storage), and iqalign must be installed there.

Ray is imported only here, and only when ``engine == "ray"``.
"""
from __future__ import annotations

import json
import logging
import os
import pickle
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
import pandas as pd

from ..sources import ImageRecord
from .workers import ChunkWork, limit_threads

INSTALL_HINT = "pip install 'iqalign[ray]'"


def import_ray():
    """``ray`` with Ray Data, or a RuntimeError that says how to install it."""
    try:
        import ray
        import ray.data  # noqa: F401 - Ray Data is a separate extra of ray
    except ImportError as exc:
        raise RuntimeError(f"--engine ray needs Ray with Ray Data ({exc}); install it with: {INSTALL_HINT}") from None
    return ray


def _encode_records(records: Sequence[ImageRecord]) -> str:
    """A chunk as it travels to an actor: paths and labels (JSON), never pixels."""
    return json.dumps([{"image_id": r.image_id, "path": str(r.path), "label": r.label, "class_name": r.class_name}
                       for r in records])


def _decode_records(text: str) -> list[ImageRecord]:
    return [ImageRecord(image_id=d["image_id"], path=Path(d["path"]), label=d["label"], class_name=d["class_name"])
            for d in json.loads(text)]


def _custom_models(names: Sequence[str]) -> dict:
    """Models registered from Python in this process (``register_model``) that a fresh worker
    process would not know: sent to the actors (their factory must pickle, e.g. be importable there)."""
    from ..models import registry

    out = {}
    for name in names:
        entry = registry._REGISTRY.get(name)
        if entry is not None and not (getattr(entry.factory, "__module__", None) or "").startswith("iqalign."):
            out[name] = entry
    return out


class ChunkActor:
    """A Ray Data actor: loads the models once, then computes whole chunks (batch_size=1)."""

    def __init__(self, work: ChunkWork, custom_models: dict | None = None):
        import ray

        from ..models import register_model
        from ..models.onnx_engine import ENV_THREADS

        cpus = ray.get_runtime_context().get_assigned_resources().get("CPU", 1)
        threads = max(1, int(cpus))
        # As in the local worker processes: this actor's CPUs are its threads (Ray may not pin them,
        # and several actors share a node); ONNX Runtime too, unless IQALIGN_ORT_THREADS says otherwise.
        limit_threads(threads)
        os.environ.setdefault(ENV_THREADS, str(threads))
        for name, entry in (custom_models or {}).items():
            register_model(name, entry.factory, entry.description, entry.requires, **entry.extra)
        work.load_models()
        self.work = work

    def __call__(self, batch: dict) -> dict:
        results = []
        for payload in batch["records"]:
            frame, problems = self.work.compute(_decode_records(str(payload)))
            # pickled, not converted to Arrow: the driver gets the exact frame the local engine builds
            results.append(pickle.dumps((frame, problems), protocol=pickle.HIGHEST_PROTOCOL))
        return {"index": np.asarray(batch["index"], dtype=np.int64), "result": np.array(results, dtype=object)}


@contextmanager
def connected(address: str | None, quiet: bool):
    """Ray, connected: to ``address`` or ``$RAY_ADDRESS`` when given (an existing cluster: used as is,
    never shut down), else to a new local instance sized to this machine (shut down at the end).
    A Ray already initialised in this process (e.g. by the caller) is used as is and left running."""
    ray = import_ray()
    if ray.is_initialized():
        yield ray
        return
    address = address or os.environ.get("RAY_ADDRESS") or None
    kwargs = {"logging_level": logging.ERROR if quiet else logging.WARNING, "log_to_driver": not quiet}
    if address:
        _check_reachable(address)
        try:
            ray.init(address=address, **kwargs)
        except (ConnectionError, TimeoutError, OSError, ValueError) as exc:
            raise RuntimeError(f"cannot connect to the Ray cluster at '{address}': {_cause(exc)}") from None
    else:  # "local": a new instance even if `ray start` left one on this machine (RAY_ADDRESS=auto joins that)
        ray.init(address="local", include_dashboard=False, **kwargs)
    try:
        yield ray
    finally:
        ray.shutdown()  # for a cluster this only disconnects: the cluster and its other jobs go on


def _check_reachable(address: str, timeout_s: float = 5.0) -> None:
    """Fail fast on a ``host:port`` nobody answers: ray.init would otherwise retry for minutes.
    Other forms (``auto``, ``ray://...``, ``local``) are left to Ray."""
    if "://" in address or ":" not in address:
        return
    host, _, port = address.rpartition(":")
    if not port.isdigit():
        return
    import socket

    try:
        socket.create_connection((host, int(port)), timeout=timeout_s).close()
    except OSError as exc:
        raise RuntimeError(f"cannot connect to the Ray cluster at '{address}': nothing answers there "
                           f"within {timeout_s:.0f} s ({exc})") from None


def _quiet_ray_data(quiet: bool) -> None:
    """Our own progress lines replace Ray Data's progress bars; its INFO chatter goes unless asked for."""
    import ray.data

    ray.data.DataContext.get_current().enable_progress_bars = False
    logging.getLogger("ray.data").setLevel(logging.ERROR if quiet else logging.WARNING)
    logging.getLogger("ray.data._internal.progress").setLevel(logging.ERROR)  # "Progress bars disabled": we know


def _cluster_cpus(ray) -> int:
    return max(1, int(ray.cluster_resources().get("CPU", 1)))


def ray_computed_chunks(work: ChunkWork, chunks: dict[int, Sequence[ImageRecord]], *, actors: int = 0,
                        address: str | None = None, quiet: bool = False) -> Iterator[tuple[int, pd.DataFrame, list[dict]]]:
    """Yield ``(index, rows, problems)`` for each chunk as an actor finishes it (completion order).

    ``actors``: size of the actor pool (0: one per CPU of the cluster; never more than the chunks).
    Each actor takes one CPU and holds every model of ``work``.
    """
    if not chunks:
        return
    import_ray()  # before loading models: a missing Ray is the first thing to say
    work.load_models()  # fail early on a bad model name, and export to ONNX once before the actors start
    custom = _custom_models(work.model_names())
    with connected(address, quiet) as ray:
        _quiet_ray_data(quiet)
        size = min(actors or _cluster_cpus(ray), len(chunks))
        items = [{"index": int(i), "records": _encode_records(records)} for i, records in chunks.items()]
        ds = _from_items(ray, items)  # one block per chunk: each chunk streams back on its own
        ds = ds.map_batches(ChunkActor, batch_size=1, batch_format="numpy", num_cpus=1,
                            compute=ray.data.ActorPoolStrategy(size=size),
                            fn_constructor_kwargs={"work": work, "custom_models": custom})
        try:
            for row in ds.iter_rows():
                frame, problems = pickle.loads(row["result"])
                yield int(row["index"]), frame, problems
        except ray.exceptions.RayError as exc:
            raise RuntimeError(f"a Ray worker failed: {_cause(exc)}") from exc


def _from_items(ray, items: list[dict]):
    try:
        return ray.data.from_items(items, override_num_blocks=len(items))
    except TypeError:  # Ray < 2.10
        return ray.data.from_items(items, parallelism=len(items))


def _cause(exc: BaseException) -> str:
    """The user-facing reason inside Ray's wrappers: Ray carries the worker's traceback as text, and the
    original exception's ``Type: message`` is its last line before Ray's own wrapping."""
    head = str(exc).split("The above exception was the direct cause")[0]
    lines = [line.strip() for line in head.strip().splitlines() if line.strip()]
    return lines[-1] if lines else type(exc).__name__
