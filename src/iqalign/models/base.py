"""A classifier is something that turns RGB views into class probabilities.

Every backend (PyTorch module, ONNX file, user callable) carries its own preprocessing, because
the wrong mean/std silently costs accuracy: EfficientNet-Lite measured 88.0% top-1 with its own
(x - 127) / 128 scaling and 79.0% with the usual ImageNet mean/std on the same photos
(docs/results/model_accuracy.md).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Callable, Sequence

import numpy as np
from PIL import Image

IMAGENET_MEAN_255 = (0.485 * 255, 0.456 * 255, 0.406 * 255)
IMAGENET_STD_255 = (0.229 * 255, 0.224 * 255, 0.225 * 255)


@dataclass(frozen=True)
class Preprocessing:
    """How an RGB uint8 view becomes the network input: resize, then (x - mean) / std, NCHW."""

    input_size: int = 224
    mean: tuple[float, float, float] = IMAGENET_MEAN_255  # in 0-255 units
    std: tuple[float, float, float] = IMAGENET_STD_255
    interpolation: str = "bicubic"

    def __call__(self, views: Sequence[np.ndarray]) -> np.ndarray:
        resample = {"bicubic": Image.BICUBIC, "bilinear": Image.BILINEAR}[self.interpolation]
        size = self.input_size
        batch = np.empty((len(views), 3, size, size), dtype=np.float32)
        mean = np.asarray(self.mean, np.float32)
        std = np.asarray(self.std, np.float32)
        for i, view in enumerate(views):
            if view.shape[:2] != (size, size):
                view = np.asarray(Image.fromarray(view).resize((size, size), resample))
            batch[i] = ((view.astype(np.float32) - mean) / std).transpose(2, 0, 1)
        return batch

    def to_dict(self) -> dict:
        return asdict(self)


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


class Classifier:
    """Base class: subclasses implement ``logits``; ``predict_proba`` batches and normalises."""

    name: str
    preprocessing: Preprocessing
    num_classes: int = 1000
    batch_size: int = 32
    description: str = ""

    def logits(self, batch: np.ndarray) -> np.ndarray:  # (N, 3, S, S) float32 -> (N, K)
        raise NotImplementedError

    def predict_proba(self, views: Sequence[np.ndarray]) -> np.ndarray:
        """Class probabilities (N, K) float64 for RGB uint8 views."""
        out = []
        for start in range(0, len(views), self.batch_size):
            batch = self.preprocessing(views[start:start + self.batch_size])
            out.append(np.asarray(self.logits(batch), dtype=np.float64))
        if not out:
            return np.zeros((0, self.num_classes))
        probs = softmax(np.concatenate(out))
        if probs.shape[1] != self.num_classes:
            raise ValueError(f"model '{self.name}' returned {probs.shape[1]} classes, expected {self.num_classes}")
        return probs

    def describe(self) -> dict:
        return {"name": self.name, "num_classes": self.num_classes, "preprocessing": self.preprocessing.to_dict(),
                "description": self.description, "backend": type(self).__name__}


class TorchClassifier(Classifier):
    """Any ``torch.nn.Module`` mapping (N, 3, S, S) to logits."""

    def __init__(self, module, name: str, preprocessing: Preprocessing, num_classes: int = 1000,
                 description: str = "", batch_size: int = 32):
        import torch

        self._torch = torch
        self.module = module.eval()
        self.name, self.preprocessing, self.num_classes = name, preprocessing, num_classes
        self.description, self.batch_size = description, batch_size

    def logits(self, batch: np.ndarray) -> np.ndarray:
        with self._torch.inference_mode():
            return self.module(self._torch.from_numpy(batch)).float().numpy()


class CallableClassifier(Classifier):
    """A user function from a float32 NCHW batch (already preprocessed) to logits."""

    def __init__(self, fn: Callable[[np.ndarray], np.ndarray], name: str, preprocessing: Preprocessing,
                 num_classes: int = 1000, description: str = "user callable", batch_size: int = 32):
        self.fn, self.name, self.preprocessing = fn, name, preprocessing
        self.num_classes, self.description, self.batch_size = num_classes, description, batch_size

    def logits(self, batch: np.ndarray) -> np.ndarray:
        return np.asarray(self.fn(batch))


class OnnxClassifier(Classifier):
    """An ONNX file run by ONNX Runtime on the CPU; input NCHW float32, output logits."""

    def __init__(self, path: str, name: str | None = None, preprocessing: Preprocessing | None = None,
                 num_classes: int | None = None, batch_size: int = 32):
        import onnxruntime as ort

        self.session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        inp = self.session.get_inputs()[0]
        self.input_name = inp.name
        self.name = name or str(path)
        size = inp.shape[-1] if isinstance(inp.shape[-1], int) else 224
        self.preprocessing = preprocessing or Preprocessing(input_size=size)
        out_shape = self.session.get_outputs()[0].shape
        self.num_classes = num_classes or (out_shape[-1] if isinstance(out_shape[-1], int) else 1000)
        self.description = f"ONNX file {path}"
        # an export without dynamic axes fixes the batch size (often 1): feed batches of that size
        self.batch_size = inp.shape[0] if isinstance(inp.shape[0], int) and inp.shape[0] > 0 else batch_size

    def logits(self, batch: np.ndarray) -> np.ndarray:
        return self.session.run(None, {self.input_name: batch})[0]
