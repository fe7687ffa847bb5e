"""One place that defines every quality metric: name, family, direction, label need, version.

Two kinds of metric exist and the registry keeps them apart because they are computed differently:

* image metrics map one RGB ``uint8`` array (H, W, 3) to a float (classic IQA and simple statistics);
* task metrics map a batch of reference-model class probabilities (N, K) (and, when they need
  them, the true labels) to N floats. They are computed once per image from the reference
  population's averaged probabilities, never from the model being evaluated.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from importlib.util import find_spec
from typing import Callable, Literal

import numpy as np

Family = Literal["classic", "statistic", "task"]
ImageFn = Callable[[np.ndarray], float]
TaskFn = Callable[[np.ndarray, "np.ndarray | None"], np.ndarray]


@dataclass(frozen=True)
class MetricSpec:
    """What a user (and the analysis) must know about a metric to read its numbers."""

    name: str
    family: Family
    higher_is_better: bool
    needs_labels: bool
    version: str
    description: str
    reference: str = ""  # which published implementation it follows
    requires: tuple[str, ...] = ()  # importable modules or package data it needs

    def availability(self) -> tuple[bool, str]:
        """Return (available, reason); the reason says what to install when unavailable."""
        for module in self.requires:
            if find_spec(module) is None:
                return False, f"needs the Python package providing '{module}'"
        return True, ""

    def to_dict(self) -> dict:
        available, reason = self.availability()
        return {**asdict(self), "requires": list(self.requires), "available": available, "reason": reason}


@dataclass(frozen=True)
class Metric:
    spec: MetricSpec
    image_fn: ImageFn | None = None
    task_fn: TaskFn | None = None

    @property
    def name(self) -> str:
        return self.spec.name


_REGISTRY: dict[str, Metric] = {}


def register(spec: MetricSpec, *, image_fn: ImageFn | None = None, task_fn: TaskFn | None = None) -> None:
    """Add a metric; exactly one of ``image_fn`` / ``task_fn`` must be given."""
    if (image_fn is None) == (task_fn is None):
        raise ValueError(f"metric '{spec.name}': give exactly one of image_fn or task_fn")
    if (task_fn is not None) != (spec.family == "task"):
        raise ValueError(f"metric '{spec.name}': task_fn is for family 'task' only")
    _REGISTRY[spec.name] = Metric(spec, image_fn, task_fn)


def _ensure_builtins() -> None:
    # Importing the modules registers their metrics; done lazily to keep `import iqalign` cheap.
    from . import classic, statistics, task  # noqa: F401


def get_metric(name: str) -> Metric:
    _ensure_builtins()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown metric '{name}'; known: {', '.join(sorted(_REGISTRY))}") from None


def list_metrics() -> list[MetricSpec]:
    _ensure_builtins()
    return [m.spec for m in _REGISTRY.values()]
