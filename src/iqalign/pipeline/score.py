"""Score images (labels optional): one row per image, one column per metric, and an error column."""
from __future__ import annotations

import json
import math
from contextlib import closing
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..audit.summaries import group_columns, write_summaries
from ..sources import ImageDecodeError, ImageRecord, discover, load_view
from .benchmark import DEFAULT_REFERENCES, _names, check_out_folder, records_digest, select_subset
from .measure import image_metric_values, reference_probabilities, resolve_metrics, task_metric_values
from .provenance import environment
from .progress import Progress
from .store import PartStore
from .workers import ChunkWork, check_engine, computed_chunks, execution_info, inference_engine


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
    engine: str = "onnx"  # "onnx", "torch", or "ray" (ONNX Runtime in Ray actors: the same rows as "onnx")
    ray_address: str | None = None  # engine "ray": cluster to attach to (default: $RAY_ADDRESS, else a local instance)
    # decode big JPEGs (short side >= 1,024 px) at a reduced scale: ~4x faster on camera photos,
    # not the same pixels (load_view; docs/performance.md measures the effect on scores)
    jpeg_draft: bool = False
    # summaries (derived from the scores after every run; not part of the fingerprint, so changing
    # them reuses the scored parts): per-group tables for "class", "folder" and/or manifest columns,
    # and the number of lowest-quality images listed per metric (docs/audit.md)
    group_by: list[str] = field(default_factory=list)
    worst_n: int = 10
    histogram_bins: int = 20

    def __post_init__(self) -> None:
        self.source = str(Path(self.source).expanduser().resolve())
        self.metrics = _names(self.metrics)
        if self.metrics == []:
            raise ValueError("--metrics is empty; leave it out to use every available metric")
        self.references = _names(self.references) or []
        if self.workers < 0:
            raise ValueError(f"workers must be >= 0 (0 = one per core), got {self.workers}")
        check_engine(self.engine, self.ray_address)
        if self.limit is not None and self.limit <= 0:
            raise ValueError(f"limit must be positive, got {self.limit}")
        self.group_by = _names(self.group_by) or []
        if self.worst_n < 0:
            raise ValueError(f"worst_n must be >= 0, got {self.worst_n}")
        if self.histogram_bins < 1:
            raise ValueError(f"histogram_bins must be >= 1, got {self.histogram_bins}")
        check_out_folder(self.out)

    def fingerprint(self) -> dict:
        """The settings that decide the rows. ``engine`` is the inference engine: ``ray`` runs ONNX
        Runtime, so a folder started with ``onnx`` resumes with ``ray`` and the other way round."""
        keys = ("source", "metrics", "references", "limit", "view_size", "resize_to", "chunk_images", "source_kind")
        out = {**{k: getattr(self, k) for k in keys}, "engine": inference_engine(self.engine)}
        if self.jpeg_draft:  # only when on: folders written before the option existed keep their fingerprint
            out["jpeg_draft"] = True
        return out


@dataclass(frozen=True)
class ScoreWork(ChunkWork):
    """One chunk of ``score``: decode + image metrics per image, then the reference models' task metrics."""

    image_metrics: tuple[str, ...]
    task_metrics: tuple[str, ...]
    references: tuple[str, ...]
    view_size: int
    resize_to: int
    engine: str  # inference engine: "onnx" or "torch"
    jpeg_draft: bool = False

    def model_names(self) -> list[str]:
        return list(self.references) if self.task_metrics else []

    def prepare(self, record: ImageRecord) -> dict:
        from ..metrics.registry import get_metric

        try:
            view = load_view(record.path, size=self.view_size, resize_to=self.resize_to, jpeg_draft=self.jpeg_draft)
        except (ImageDecodeError, OSError, ValueError) as exc:
            return {"error": str(exc)}
        values, errors = image_metric_values(view, [get_metric(n) for n in self.image_metrics])
        return {"view": view, "values": values, "error": "; ".join(errors)}

    def finish(self, records, prepared) -> tuple[pd.DataFrame, list[dict]]:
        from ..metrics.registry import get_metric

        rows, views, ok_index = [], [], []
        for record, res in zip(records, prepared):
            row = {"path": str(record.path), "image_id": record.image_id, "label": record.label,
                   "error": res["error"] or None}
            if "view" in res:
                row.update(res["values"])
                ok_index.append(len(rows))
                views.append(res["view"])
            rows.append(row)
        frame = pd.DataFrame(rows)
        task_metrics = [get_metric(n) for n in self.task_metrics]
        if task_metrics and views:
            labels = None
            if any(m.spec.needs_labels for m in task_metrics):
                labels = frame.loc[ok_index, "label"].to_numpy(dtype=np.int64)
            probs = reference_probabilities(views, self.references, self.engine)
            for name, values in task_metric_values(probs, labels, task_metrics).items():
                frame[name] = math.nan
                frame.loc[ok_index, name] = values
        return frame, []  # unreadable images are rows with an error, not problems


def run_score(config: ScoreConfig, quiet: bool = False) -> dict:
    """Score every image of ``config.source``; an unreadable image gets a row with its error."""
    records, problems = discover(config.source, kind=config.source_kind)
    records = select_subset(records, config.limit)
    if not records and not problems:
        raise ValueError(f"no images found in {config.source}")
    groups = group_columns(records, config.group_by, config.source)  # fails early on a group it cannot make
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
    work = ScoreWork(tuple(image_metrics), tuple(m.name for m in task_metrics), tuple(config.references),
                     config.view_size, config.resize_to, inference_engine(config.engine), config.jpeg_draft)
    if todo:
        work.load_models()  # fail early (bad name) and export once, before the workers start
    progress = Progress(sum(len(chunks[i]) for i in todo), quiet)
    with closing(computed_chunks(work, {i: chunks[i] for i in todo}, engine=config.engine, workers=config.workers,
                                 ray_address=config.ray_address, quiet=quiet)) as done:
        for i, frame, chunk_problems in done:
            store.write(i, frame, chunk_problems)
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
        "execution": execution_info(config.engine, config.workers, config.ray_address),
        "n_errors": int(scores["error"].fillna("").astype(bool).sum()), "environment": environment(),
    }, indent=2, default=str))
    summaries = write_summaries(out, scores, [m.spec for m in metrics], groups if config.group_by else None,
                                bins=config.histogram_bins, worst_n=config.worst_n)
    return {"scores": scores, "out": out, "summaries": summaries}

