"""Per-view measurements shared by `score` and `benchmark`: image metrics and reference probabilities."""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from ..metrics.registry import Metric, get_metric
from ..models import load_for_inference


def resolve_metrics(names: Sequence[str] | None, *, have_labels: bool, families: Sequence[str] | None = None) -> list[Metric]:
    """Metrics to compute: the named ones (validated) or every available one that fits the data."""
    from ..metrics.registry import list_metrics

    if names:
        metrics = [get_metric(n) for n in names]
        for m in metrics:
            ok, reason = m.spec.availability()
            if not ok:
                raise RuntimeError(f"metric '{m.name}' is not available: {reason}")
            if m.spec.needs_labels and not have_labels:
                raise ValueError(f"metric '{m.name}' needs labels, but the images have none")
        return metrics
    return [get_metric(s.name) for s in list_metrics()
            if s.availability()[0] and (have_labels or not s.needs_labels)
            and (families is None or s.family in families)]


def image_metric_values(view: np.ndarray, metrics: Sequence[Metric]) -> tuple[dict[str, float], list[str]]:
    """Every image metric on one view; a failing metric gives NaN and a message, not a crash."""
    values, errors = {}, []
    for m in metrics:
        if m.image_fn is None:
            continue
        try:
            values[m.name] = float(m.image_fn(view))
        except Exception as exc:  # one metric's failure must not lose the others
            values[m.name] = math.nan
            errors.append(f"{m.name}: {type(exc).__name__}: {exc}")
            continue
        if math.isnan(values[m.name]):
            errors.append(f"{m.name}: undefined on this image (NaN; e.g. a flat image has no texture statistics)")
    return values, errors


def reference_probabilities(views: Sequence[np.ndarray], references: Sequence[str], engine: str = "onnx") -> np.ndarray:
    """Class probabilities averaged over the reference population (a population of one is fine)."""
    probs = [load_for_inference(r, engine).predict_proba(views) for r in references]
    sizes = {p.shape[1] for p in probs}
    if len(sizes) > 1:
        raise ValueError(f"references {list(references)} disagree on the number of classes: {sorted(sizes)}")
    return np.mean(probs, axis=0)


def task_metric_values(probs: np.ndarray, labels: np.ndarray | None, metrics: Sequence[Metric]) -> dict[str, np.ndarray]:
    return {m.name: m.task_fn(probs, labels) for m in metrics if m.task_fn is not None}
