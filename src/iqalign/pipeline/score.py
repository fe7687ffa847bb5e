"""Score images (labels optional): one row per image, one column per metric, and an error column."""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..sources import ImageDecodeError, ImageRecord, discover, load_view
from .benchmark import DEFAULT_REFERENCES, Progress, _names, check_out_folder, records_digest, select_subset
from .measure import image_metric_values, reference_probabilities, resolve_metrics, task_metric_values
from .provenance import environment
from .store import PartStore
from .workers import make_executor, prefetched


@dataclass
class ScoreConfig:
    source: str
    out: str
    metrics: list[str] | None = None  # None: every available label-free metric (+ label-aware if labelled)
    references: list[str] = field(default_factory=lambda: list(DEFAULT_REFERENCES))
    limit: int | None = None
    view_size: int = 224
    resize_to: int = 256
    workers: int = 0
    chunk_images: int = 64
    source_kind: str = "auto"
    engine: str = "onnx"  # or "torch"

    def __post_init__(self) -> None:
        self.source = str(Path(self.source).expanduser().resolve())
        self.metrics = _names(self.metrics)
        if self.metrics == []:
            raise ValueError("--metrics is empty; leave it out to use every available metric")
        self.references = _names(self.references) or []
        if self.workers < 0:
            raise ValueError(f"workers must be >= 0 (0 = one per core), got {self.workers}")
        if self.engine not in ("onnx", "torch"):
            raise ValueError(f"engine must be 'onnx' or 'torch', got '{self.engine}'")
        if self.limit is not None and self.limit <= 0:
            raise ValueError(f"limit must be positive, got {self.limit}")
        check_out_folder(self.out)

    def fingerprint(self) -> dict:
        keys = ("source", "metrics", "references", "limit", "view_size", "resize_to", "chunk_images", "source_kind",
                "engine")
        return {k: getattr(self, k) for k in keys}


def _score_view(record: ImageRecord, metric_names, view_size: int, resize_to: int) -> dict:
    from ..metrics.registry import get_metric

    try:
        view = load_view(record.path, size=view_size, resize_to=resize_to)
    except (ImageDecodeError, OSError, ValueError) as exc:
        return {"error": str(exc)}
    values, errors = image_metric_values(view, [get_metric(n) for n in metric_names])
    return {"view": view, "values": values, "error": "; ".join(errors)}


def run_score(config: ScoreConfig, quiet: bool = False) -> dict:
    """Score every image of ``config.source``; an unreadable image gets a row with its error."""
    records, problems = discover(config.source, kind=config.source_kind)
    records = select_subset(records, config.limit)
    if not records and not problems:
        raise ValueError(f"no images found in {config.source}")
    have_labels = bool(records) and all(r.label is not None for r in records)
    metrics = resolve_metrics(config.metrics, have_labels=have_labels)
    image_metrics = [m.name for m in metrics if m.image_fn is not None]
    task_metrics = [m for m in metrics if m.task_fn is not None]
    if task_metrics and not config.references:
        raise ValueError(f"task-guided metrics {[m.name for m in task_metrics]} need a reference model (--references)")

    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    store = PartStore(out, {**config.fingerprint(), "images": records_digest(records)})
    chunks = [records[i:i + config.chunk_images] for i in range(0, len(records), config.chunk_images)]
    todo = [i for i in range(len(chunks)) if not store.done(i)]
    progress = Progress(sum(len(chunks[i]) for i in todo), quiet)
    with make_executor(config.workers) as pool:
        for i, results in prefetched(pool, {i: chunks[i] for i in todo}, _score_view, image_metrics,
                                     config.view_size, config.resize_to):
            store.write(i, _chunk_frame(chunks[i], results, task_metrics, config.references, config.engine))
            progress.update(len(chunks[i]))

    scores = store.read_all(len(chunks))
    if problems:  # files discovery could not use (bad manifest rows, missing files)
        extra = pd.DataFrame({"path": [str(p.path) for p in problems], "error": [p.reason for p in problems]})
        scores = pd.concat([scores, extra], ignore_index=True)
    columns = ["path", "image_id", "label"] + [m.name for m in metrics] + ["error"]
    scores = scores.reindex(columns=[c for c in columns if c in scores.columns or c == "error"])
    scores["label"] = scores["label"].astype("Int64") if "label" in scores else pd.NA
    scores.to_parquet(out / "scores.parquet", index=False)
    (out / "config.json").write_text(json.dumps({
        "command": "score", "config": asdict(config), "metrics": [m.spec.to_dict() for m in metrics],
        "references": config.references if task_metrics else [], "n_images": len(records),
        "n_errors": int(scores["error"].fillna("").astype(bool).sum()), "environment": environment(),
    }, indent=2, default=str))
    return {"scores": scores, "out": out}


def _chunk_frame(records, results, task_metrics, references, engine) -> pd.DataFrame:
    rows, views, ok_index = [], [], []
    for record, res in zip(records, results):
        row = {"path": str(record.path), "image_id": record.image_id, "label": record.label, "error": res["error"] or None}
        if "view" in res:
            row.update(res["values"])
            ok_index.append(len(rows))
            views.append(res["view"])
        rows.append(row)
    frame = pd.DataFrame(rows)
    if task_metrics and views:
        labels = None
        if any(m.spec.needs_labels for m in task_metrics):
            labels = frame.loc[ok_index, "label"].to_numpy(dtype=np.int64)
        probs = reference_probabilities(views, references, engine)
        for name, values in task_metric_values(probs, labels, task_metrics).items():
            frame[name] = math.nan
            frame.loc[ok_index, name] = values
    return frame
