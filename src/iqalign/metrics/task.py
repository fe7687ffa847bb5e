"""Task-guided quality metrics: how confidently reference classifiers read the image.

Each function receives the reference population's class probabilities (N, K), averaged over the
references (a single reference is a population of one), and, for label-aware metrics, the true
labels. The reference models are never the model being evaluated (the benchmark enforces it).
"""
from __future__ import annotations

import numpy as np

from .registry import MetricSpec, register

_EPS = 1e-12


def _need_labels(labels: np.ndarray | None, name: str) -> np.ndarray:
    if labels is None:
        raise ValueError(f"metric '{name}' needs labels; use a labelled source or a label-free metric")
    return np.asarray(labels, dtype=np.int64)


def _top2(probs: np.ndarray) -> np.ndarray:
    return -np.sort(-np.partition(probs, -2, axis=1)[:, -2:], axis=1)  # (N, 2): best, second


def task_maxprob(probs: np.ndarray, labels: np.ndarray | None = None) -> np.ndarray:
    return probs.max(axis=1)


def task_margin(probs: np.ndarray, labels: np.ndarray | None = None) -> np.ndarray:
    top = _top2(probs)
    return top[:, 0] - top[:, 1]


def task_negentropy(probs: np.ndarray, labels: np.ndarray | None = None) -> np.ndarray:
    return (probs * np.log(np.maximum(probs, _EPS))).sum(axis=1)


def task_ptrue(probs: np.ndarray, labels: np.ndarray | None = None) -> np.ndarray:
    y = _need_labels(labels, "task_ptrue")
    return probs[np.arange(len(y)), y]


def task_truemargin(probs: np.ndarray, labels: np.ndarray | None = None) -> np.ndarray:
    y = _need_labels(labels, "task_truemargin")
    rows = np.arange(len(y))
    p_true = probs[rows, y]
    others = probs.copy()
    others[rows, y] = -np.inf
    return p_true - others.max(axis=1)


_SPECS = [
    (task_maxprob, False, "highest class probability of the reference population"),
    (task_margin, False, "gap between the two highest class probabilities"),
    (task_negentropy, False, "negative Shannon entropy (nats) of the class distribution"),
    (task_ptrue, True, "probability of the true class"),
    (task_truemargin, True, "true-class probability minus the best other class (in [-1, 1])"),
]
for _fn, _labels, _desc in _SPECS:
    register(MetricSpec(name=_fn.__name__, family="task", higher_is_better=True, needs_labels=_labels,
                        version="1", description=_desc + "; from the reference models (--references)",
                        reference="Drenkow & Unberath, arXiv:2503.02797 (task-guided IQA)"),
             task_fn=_fn)
