"""Task and reference classifiers: one registry, names users can type, preprocessing in the spec."""
from .base import Classifier, Preprocessing, TorchClassifier, CallableClassifier
from .registry import ENGINES, available_models, load_for_inference, load_model, register_model, ModelEntry
from .performance import TARGETS, performance

__all__ = [
    "Classifier", "Preprocessing", "TorchClassifier", "CallableClassifier",
    "ENGINES", "available_models", "load_for_inference", "load_model", "register_model", "ModelEntry", "TARGETS", "performance",
]
