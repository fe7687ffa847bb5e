"""Performance M of a classifier on one image: the four targets the alignment analysis uses."""
from __future__ import annotations

import numpy as np

TARGETS: tuple[str, ...] = ("top1", "top5", "p_true", "loss")
_EPS = 1e-12


def performance(probs: np.ndarray, labels: np.ndarray) -> dict[str, np.ndarray]:
    """Per-row top1/top5 correctness, probability of the true class and cross-entropy.

    ``probs`` is (N, K) class probabilities, ``labels`` (N,) integer class indices.
    Ties count against the model: the true class's rank is the number of other classes with a
    probability at least as high, so a flat (uninformative) output is never "correct" and results
    do not depend on the platform's sort order.
    """
    labels = np.asarray(labels, dtype=np.int64)
    if probs.ndim != 2 or len(probs) != len(labels):
        raise ValueError(f"probs {probs.shape} and labels {labels.shape} do not match")
    if labels.size and (labels.min() < 0 or labels.max() >= probs.shape[1]):
        raise ValueError(f"labels must be in [0, {probs.shape[1]}), got {labels.min()}..{labels.max()}")
    rows = np.arange(len(labels))
    p_true = probs[rows, labels]
    rank = (probs >= p_true[:, None]).sum(axis=1) - 1  # other classes scoring at least as high
    return {
        "top1": (rank < 1).astype(np.float64),
        "top5": (rank < 5).astype(np.float64),
        "p_true": p_true.astype(np.float64),
        "loss": -np.log(np.maximum(p_true, _EPS)),
        "pred": probs.argmax(axis=1).astype(np.int64),
    }
