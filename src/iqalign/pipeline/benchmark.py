"""The intervention benchmark: corrupt each photo under controlled conditions, measure every
quality metric Q and every target model's performance M, and test how well Q tracks M.

Data flow: sources -> fixed 224 px view -> do(condition) -> image metrics (worker processes)
-> reference + target models (main process, batched) -> rows (Parquet parts) -> alignment.
"""
from __future__ import annotations

import json
import math
import os
import sys
import time
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from ..interventions import Condition, apply_condition, condition_grid
from ..models import TARGETS, load_model, performance
from ..sources import ImageDecodeError, ImageRecord, discover, load_view
from .measure import image_metric_values, reference_probabilities, resolve_metrics, task_metric_values
from .provenance import environment
from .store import PartStore

def worker_context():
    """Start workers from a clean server process, not by forking a parent that holds torch threads."""
    import multiprocessing

    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")


DEFAULT_MODELS = ("efficientnet_lite1", "efficientnet_lite2")
DEFAULT_REFERENCES = ("efficientnet_lite0",)


@dataclass
class BenchmarkConfig:
    """Everything that decides a benchmark's numbers; saved as ``config.json`` in the results."""

    source: str
    out: str
    corruptions: list[str] | None = None  # None: all 19
    severities: list[int] = field(default_factory=lambda: [1, 3, 5])
    metrics: list[str] | None = None  # None: every available metric that fits the labels
    models: list[str] = field(default_factory=lambda: list(DEFAULT_MODELS))
    references: list[str] = field(default_factory=lambda: list(DEFAULT_REFERENCES))
    limit: int | None = None  # evenly spaced subset of the sorted images
    seed: int = 0
    view_size: int = 224
    resize_to: int = 256
    n_boot: int = 1000
    workers: int = 0  # 0: one per CPU core
    chunk_images: int = 8
    source_kind: str = "auto"

    def fingerprint(self) -> dict:
        keys = ("source", "corruptions", "severities", "metrics", "models", "references", "limit", "seed",
                "view_size", "resize_to", "chunk_images", "source_kind")
        return {k: getattr(self, k) for k in keys}


def select_subset(records: Sequence[ImageRecord], limit: int | None) -> list[ImageRecord]:
    """``limit`` evenly spaced records, so a subset of a sorted class tree still spans its classes."""
    records = list(records)
    if limit is None or limit >= len(records):
        return records
    if limit <= 0:
        raise ValueError(f"--limit must be positive, got {limit}")
    idx = np.unique(np.linspace(0, len(records) - 1, limit).round().astype(int))
    return [records[i] for i in idx]


def _prepare_image(record: ImageRecord, conditions: Sequence[Condition], seed: int, metric_names: Sequence[str],
                   view_size: int, resize_to: int) -> dict:
    """Worker: decode one photo, apply every condition, compute the image metrics on each view."""
    from ..metrics.registry import get_metric

    metrics = [get_metric(n) for n in metric_names]
    try:
        base = load_view(record.path, size=view_size, resize_to=resize_to)
    except (ImageDecodeError, OSError, ValueError) as exc:
        return {"error": str(exc)}
    views, values, problems = [], [], []
    for cond in conditions:
        try:
            view = apply_condition(base, cond, seed=seed, image_id=record.image_id)
        except Exception as exc:
            problems.append(f"{cond.key}: intervention failed: {type(exc).__name__}: {exc}")
            views.append(None)
            values.append({})
            continue
        vals, errs = image_metric_values(view, metrics)
        problems += [f"{cond.key}: {e}" for e in errs]
        views.append(view)
        values.append(vals)
    return {"views": views, "values": values, "problems": problems}


class _Progress:
    """One line per chunk on stderr: images done, rate, time left."""

    def __init__(self, total: int, quiet: bool):
        self.total, self.quiet, self.start, self.done = total, quiet, time.time(), 0

    def update(self, n: int) -> None:
        self.done += n
        if self.quiet:
            return
        rate = self.done / max(time.time() - self.start, 1e-9)
        left = (self.total - self.done) / rate if rate > 0 else math.inf
        print(f"  {self.done}/{self.total} images, {rate:.2f} img/s, ~{left:.0f} s left", file=sys.stderr, flush=True)


def run_benchmark(config: BenchmarkConfig, quiet: bool = False) -> dict:
    """Run (or resume) a benchmark; write rows, alignment and config into ``config.out``.

    Returns a dict with the rows and alignment DataFrames and the output paths.
    """
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    conditions = condition_grid(config.corruptions, config.severities)
    records, problems = discover(config.source, kind=config.source_kind)
    unlabelled = [r for r in records if r.label is None]
    problems = [{"path": str(p.path), "reason": p.reason} for p in problems]
    problems += [{"path": str(r.path), "reason": "no label (the benchmark needs the true class)"} for r in unlabelled]
    records = select_subset([r for r in records if r.label is not None], config.limit)
    if not records:
        raise ValueError(f"no labelled images found in {config.source}: use an ImageFolder tree or a CSV "
                         "manifest with a label column (see `iqalign benchmark --help`)")

    metrics = resolve_metrics(config.metrics, have_labels=True)
    image_metrics = [m for m in metrics if m.image_fn is not None]
    task_metrics = [m for m in metrics if m.task_fn is not None]
    targets = list(dict.fromkeys(config.models))
    references = list(dict.fromkeys(config.references)) if task_metrics else []
    for name in targets + references:
        load_model(name)  # fail early, before hours of work, on a bad model name

    store = PartStore(out, config.fingerprint())
    chunks = [records[i:i + config.chunk_images] for i in range(0, len(records), config.chunk_images)]
    todo = [i for i in range(len(chunks)) if not store.done(i)]
    if not quiet:
        print(f"iqalign benchmark: {len(records)} images x {len(conditions)} conditions, "
              f"{len(image_metrics) + len(task_metrics)} metrics, targets {targets}, references {references}; "
              f"{len(chunks) - len(todo)}/{len(chunks)} chunks already done", file=sys.stderr, flush=True)

    workers = config.workers or os.cpu_count() or 1
    progress = _Progress(sum(len(chunks[i]) for i in todo), quiet)
    problem_log = out / "problems.csv"
    with ProcessPoolExecutor(max_workers=workers, mp_context=worker_context()) as pool:
        pending: dict[int, list[Future]] = {}

        def submit(i: int) -> None:
            pending[i] = [pool.submit(_prepare_image, r, conditions, config.seed, [m.name for m in image_metrics],
                                      config.view_size, config.resize_to) for r in chunks[i]]

        for i in todo[:2]:
            submit(i)
        for pos, i in enumerate(todo):
            if pos + 2 < len(todo):
                submit(todo[pos + 2])  # keep two chunks in flight: bounded memory, busy workers
            prepared = [f.result() for f in pending.pop(i)]
            frame, chunk_problems = _measure_chunk(chunks[i], prepared, conditions, task_metrics, targets, references)
            store.write(i, frame)
            _append_problems(problem_log, chunk_problems)
            progress.update(len(chunks[i]))

    rows = store.read_all(len(chunks))
    rows.to_parquet(out / "rows.parquet", index=False)
    all_problems = problems + (pd.read_csv(problem_log).to_dict("records") if problem_log.exists() else [])

    alignment = analyse(rows, metrics, targets, references, config)
    alignment.to_csv(out / "alignment.csv", index=False)
    (out / "alignment.md").write_text(render_alignment_md(alignment, targets, references, config, len(records),
                                                                {m.name: m.spec.family for m in metrics}))
    saved_config = {
        "command": "benchmark", "config": asdict(config), "conditions": [c.key for c in conditions],
        "targets": targets, "references": references,
        "excluded_pairs": [{"metric": m.name, "model": t, "why": "model is one of the references"}
                           for m in task_metrics for t in targets if t in references],
        "metrics": [m.spec.to_dict() for m in metrics],
        "models": {n: load_model(n).describe() for n in targets + references},
        "n_images": len(records), "n_rows": int(len(rows)), "problems": all_problems,
        "environment": environment(),
    }
    (out / "config.json").write_text(json.dumps(saved_config, indent=2, default=str))
    return {"rows": rows, "alignment": alignment, "out": out, "problems": all_problems}


def _measure_chunk(records, prepared, conditions, task_metrics, targets, references):
    """Main process: run models on the prepared views of one chunk and build its rows."""
    meta, views, problems = [], [], []
    for record, prep in zip(records, prepared):
        if "error" in prep:
            problems.append({"path": str(record.path), "reason": prep["error"]})
            continue
        problems += [{"path": str(record.path), "reason": p} for p in prep["problems"]]
        for cond, view, vals in zip(conditions, prep["views"], prep["values"]):
            if view is None:
                continue
            meta.append({"image_id": record.image_id, "path": str(record.path), "label": record.label,
                         "class_name": record.class_name, "condition": cond.key, "corruption": cond.corruption,
                         "severity": cond.severity, **vals})
            views.append(view)
    frame = pd.DataFrame(meta)
    if not views:
        return frame, problems
    labels = frame["label"].to_numpy(dtype=np.int64)
    if task_metrics:
        probs = reference_probabilities(views, references)
        for name, values in task_metric_values(probs, labels, task_metrics).items():
            frame[name] = values
    for model in targets:
        perf = performance(load_model(model).predict_proba(views), labels)
        for key, values in perf.items():
            frame[f"{model}.{key}"] = values
    return frame, problems


def _append_problems(path: Path, problems: list[dict]) -> None:
    if problems:
        pd.DataFrame(problems, columns=["path", "reason"]).to_csv(path, mode="a", header=not path.exists(), index=False)


def analyse(rows: pd.DataFrame, metrics, targets, references, config: BenchmarkConfig) -> pd.DataFrame:
    """Alignment per target model, leaving out task metrics whose references include that model."""
    from ..analysis import alignment_table

    tables = []
    for model in targets:
        usable = [m for m in metrics if not (m.spec.family == "task" and model in references)]
        usable = [m for m in usable if m.name in rows and rows[m.name].notna().any()]
        if not usable or f"{model}.top1" not in rows:
            continue
        tables.append(alignment_table(rows, [m.name for m in usable], [model],
                                      {m.name: m.spec.higher_is_better for m in usable}, targets=TARGETS,
                                      n_boot=config.n_boot, seed=config.seed))
    return pd.concat(tables, ignore_index=True) if tables else pd.DataFrame()


def render_alignment_md(alignment: pd.DataFrame, targets, references, config: BenchmarkConfig, n_images: int,
                        families: dict[str, str]) -> str:
    from ..analysis import to_markdown
    from ..reports import overview_markdown

    head = [
        "# Alignment of quality metrics with model performance", "",
        f"- images: {n_images} from `{config.source}`; conditions: clean + "
        f"{len(config.corruptions) if config.corruptions else 19} corruptions x severities {config.severities}; seed {config.seed}",
        f"- target models (performance M): {', '.join(targets)}",
        f"- reference models (task-guided metrics): {', '.join(references) or 'none'}"
        + (" (never scored against themselves)" if references else ""),
        "- every metric is oriented so that higher = better quality: a useful metric has rho > 0 with "
        "top1/top5/p_true and rho < 0 with loss; AUROC is for flagging top-1 errors by low quality",
        f"- intervals: 95% bootstrap over source images ({config.n_boot} resamples); scope `all` pools rows, "
        "`within` correlates conditions of the same photo and averages over photos", "",
    ]
    return ("\n".join(head) + "## Overview\n\n" + overview_markdown(alignment, families)
            + "\n## Full table\n\n" + to_markdown(alignment) + "\n")
