"""Small task models for the synthetic world: CNNs on the luma, trained in seconds on a CPU.

The models see only the luma (BT.601) of the RGB image, so the ``tint`` condition (a colour shift
with zero luma) is invisible to them by construction.  Training is seeded and runs with a fixed
number of torch threads (restored afterwards), so the same seed gives the same weights on the same
machine and software.
"""
from __future__ import annotations

import contextlib
from dataclasses import asdict, dataclass

import numpy as np

from .world import CLASSES, RELEVANT_CORRUPTIONS, apply_condition, render_scene, sample_content, to_luma

__all__ = ["TaskModelSpec", "TaskModel", "TrainingSet", "make_training_set", "train_task_model",
           "torch_threads"]

_MEAN, _STD = 0.5, 0.2
_TRAIN_STREAM = 1  # content stream of training images (the benchmark world uses stream 0)


@dataclass(frozen=True)
class TaskModelSpec:
    """How to build and train one task model of the population."""

    name: str
    width: int = 8  # channels of the stem (then 2x, 4x)
    augment: bool = True  # also train on corrupted views (moderately robust); False: clean only
    seed: int = 0  # added to the world seed for initialisation and shuffling
    epochs: int = 12
    lr: float = 3e-3
    batch_size: int = 64

    def to_dict(self) -> dict:
        return asdict(self)


@contextlib.contextmanager
def torch_threads(n: int):
    """Run torch with ``n`` intra-op threads, restoring the previous setting afterwards."""
    import torch

    old = torch.get_num_threads()
    torch.set_num_threads(max(1, int(n)))
    try:
        yield
    finally:
        torch.set_num_threads(old)


def _network(width: int, n_classes: int):
    """Strided 5x5 stem (half resolution), three 3x3 conv blocks with max-pools between, global average."""
    from torch import nn

    c = int(width)

    def block(i, o, k=3, stride=1):
        return [nn.Conv2d(i, o, k, stride=stride, padding=k // 2, bias=False), nn.BatchNorm2d(o), nn.ReLU()]

    return nn.Sequential(*block(1, c, 5, 2), *block(c, 2 * c), nn.MaxPool2d(2), *block(2 * c, 4 * c),
                         nn.MaxPool2d(2), *block(4 * c, 4 * c), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(4 * c, n_classes))


@dataclass
class TrainingSet:
    """Training images (luma, float32 ``(N, S, S)``): each scene clean and under one relevant condition."""

    clean: np.ndarray
    corrupted: np.ndarray
    labels: np.ndarray


def make_training_set(seed: int, n: int, size: int, max_severity: int = 3) -> TrainingSet:
    """``n`` training scenes (a content stream separate from the benchmark images), each rendered
    clean and under a random relevant condition at severity 1..``max_severity``."""
    rng = np.random.default_rng([seed, 7])
    clean = np.empty((n, size, size), np.float32)
    corrupted = np.empty((n, size, size), np.float32)
    labels = np.empty(n, np.int64)
    kinds = rng.integers(len(RELEVANT_CORRUPTIONS), size=n)
    sevs = rng.integers(1, max_severity + 1, size=n)
    for i in range(n):
        content = sample_content(seed, i, stream=_TRAIN_STREAM)
        scene = render_scene(content, size)
        labels[i] = content.label
        clean[i] = to_luma(apply_condition(scene, "none", 0))
        corrupted[i] = to_luma(apply_condition(scene, RELEVANT_CORRUPTIONS[kinds[i]], int(sevs[i]), seed=seed,
                                               index=i, stream=_TRAIN_STREAM))
    return TrainingSet(clean, corrupted, labels)


class TaskModel:
    """A trained CNN: ``predict_proba(images)`` maps RGB ``uint8`` ``(N, S, S, 3)`` to ``(N, K)``."""

    def __init__(self, spec: TaskModelSpec, net, train_accuracy: float, seconds: float):
        self.spec = spec
        self.net = net
        self.train_accuracy = train_accuracy
        self.seconds = seconds

    @property
    def name(self) -> str:
        return self.spec.name

    def predict_proba(self, images: np.ndarray, batch_size: int = 512, threads: int = 1) -> np.ndarray:
        import torch

        luma = to_luma(images) if np.asarray(images).ndim == 4 else np.asarray(images, np.float32)
        out = []
        self.net.eval()
        with torch_threads(threads), torch.no_grad():
            for a in range(0, len(luma), batch_size):
                x = torch.from_numpy((luma[a:a + batch_size, None] - _MEAN) / _STD)
                out.append(torch.softmax(self.net(x).double(), dim=1).numpy())
        return np.concatenate(out) if out else np.zeros((0, len(CLASSES)))

    def describe(self) -> dict:
        return {**self.spec.to_dict(), "train_accuracy": self.train_accuracy,
                "train_seconds": round(self.seconds, 2),
                "parameters": int(sum(p.numel() for p in self.net.parameters()))}


def train_task_model(spec: TaskModelSpec, data: TrainingSet, seed: int = 0, threads: int = 1) -> TaskModel:
    """Train ``spec`` on ``data``; deterministic for a given seed, thread count and machine.

    Each epoch, every scene is shown once: clean, or (``augment``) its corrupted view with
    probability 1/2.  Adam with a cosine learning-rate schedule, cross-entropy loss.
    """
    import time

    import torch

    t0 = time.perf_counter()
    with torch_threads(threads):
        torch.manual_seed(seed * 1009 + spec.seed)
        net = _network(spec.width, len(CLASSES))
        gen = torch.Generator().manual_seed(seed * 1013 + spec.seed)
        clean = torch.from_numpy((data.clean[:, None] - _MEAN) / _STD)
        corrupted = torch.from_numpy((data.corrupted[:, None] - _MEAN) / _STD)
        labels = torch.from_numpy(data.labels)
        n = len(labels)
        steps = spec.epochs * ((n + spec.batch_size - 1) // spec.batch_size)
        opt = torch.optim.Adam(net.parameters(), lr=spec.lr, weight_decay=1e-4)
        # at least 10 steps: OneCycleLR divides by zero when pct_start x total_steps == 1 (5 steps)
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=spec.lr, total_steps=max(steps, 10),
                                                    pct_start=0.2)
        loss_fn = torch.nn.CrossEntropyLoss()
        net.train()
        for _ in range(spec.epochs):
            order = torch.randperm(n, generator=gen)
            use_aug = (torch.rand(n, generator=gen) < 0.5) if spec.augment else torch.zeros(n, dtype=torch.bool)
            for a in range(0, n, spec.batch_size):
                idx = order[a:a + spec.batch_size]
                x = torch.where(use_aug[idx, None, None, None], corrupted[idx], clean[idx])
                opt.zero_grad(set_to_none=True)
                loss = loss_fn(net(x), labels[idx])
                loss.backward()
                opt.step()
                sched.step()
        net.eval()
        with torch.no_grad():
            acc = float((net(clean).argmax(1) == labels).double().mean())
    return TaskModel(spec, net, acc, time.perf_counter() - t0)
