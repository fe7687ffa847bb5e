"""Run PyTorch classifiers through ONNX Runtime: export once, cache on disk, fall back to PyTorch.

:func:`to_onnx` exports a :class:`~iqalign.models.base.TorchClassifier`'s module to ONNX (legacy
TorchScript exporter, fixed opset :data:`OPSET`, dynamic batch axis, the model's own input size) and
returns an :class:`ExportedOnnxClassifier` with the same name, preprocessing and number of classes.
The file is cached under :func:`default_cache_dir` and named by a SHA-256 over everything that
determines the exported graph: the module's parameters and buffers (names, dtypes, shapes, bytes, in
sorted order), its class and ``repr``, the input size, the torch version, the opset and
:data:`ENGINE_VERSION`. A second call with the same model reuses the file without exporting; a file is
written under a temporary name and moved into place with ``os.replace``, so processes exporting the
same model at once never see a half-written file.

:func:`accelerate` is the forgiving entry point: it returns the ONNX Runtime classifier, or the
PyTorch classifier unchanged with one :class:`OnnxFallbackWarning` saying why (onnx / onnxruntime
missing, export failed, or the exported model disagreed with PyTorch on ``verify_views``).

Exporter choice: ``torch.onnx.export(..., dynamo=False)``. The dynamo exporter (torch's default since
2.9) needs the ``onnxscript`` package, which is not a dependency (torch 2.13: ``ModuleNotFoundError:
No module named 'onnxscript'``); the legacy exporter needs nothing beyond torch.

Memory-efficient activations (``MemoryEfficientSwish`` of efficientnet_pytorch /
efficientnet_lite_pytorch, timm's ``*Me`` activations) are custom autograd functions. They are
swapped, in a copy of the module, for the mathematically identical torch modules before export. The
packages' own ``set_swish(memory_efficient=False)`` is deliberately not used: in
efficientnet_lite_pytorch it replaces *every* activation, including the Lite models' ReLU6, with
Swish, which changes the network.
"""
from __future__ import annotations

import copy
import hashlib
import io
import logging
import os
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from .base import Classifier, OnnxClassifier, Preprocessing, TorchClassifier

log = logging.getLogger(__name__)

#: Bump when the export recipe changes (names, axes, graph surgery): it invalidates cached files.
ENGINE_VERSION = "1"
#: ONNX opset of exported files; 17 is supported by every onnxruntime >= 1.14.
OPSET = 17
#: Default tolerance of :func:`accelerate`'s check, in probability units (max abs difference).
DEFAULT_ATOL = 1e-4
INPUT_NAME, OUTPUT_NAME = "input", "logits"
ENV_CACHE = "IQALIGN_CACHE"
ENV_THREADS = "IQALIGN_ORT_THREADS"
ENV_SPIN = "IQALIGN_ORT_SPIN"
#: Batch size of exported models under ONNX Runtime (the source model's, when smaller).
ORT_BATCH = 8


class OnnxFallbackWarning(RuntimeWarning):
    """ONNX Runtime could not be used for a model; it runs in PyTorch instead."""


def default_cache_dir() -> Path:
    """``$IQALIGN_CACHE/onnx`` when that variable is set, else ``~/.cache/iqalign/onnx``
    (``$XDG_CACHE_HOME/iqalign/onnx`` when ``XDG_CACHE_HOME`` is set)."""
    root = os.environ.get(ENV_CACHE)
    if root:
        return Path(root).expanduser() / "onnx"
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "iqalign" / "onnx"


def ort_threads() -> int:
    """Intra-op threads: ``$IQALIGN_ORT_THREADS`` when set, else the cores this process may use."""
    value = os.environ.get(ENV_THREADS, "").strip()
    if value:
        try:
            n = int(value)
        except ValueError:
            raise ValueError(f"{ENV_THREADS} must be a positive integer, got {value!r}") from None
        if n < 1:
            raise ValueError(f"{ENV_THREADS} must be a positive integer, got {value!r}")
        return n
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def session_options():
    """CPU session options: all graph optimisations, :func:`ort_threads` intra-op threads that do not
    spin while idle (unless ``IQALIGN_ORT_SPIN=1``)."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL  # one branch at a time: CNNs are a chain
    opts.intra_op_num_threads = ort_threads()
    opts.inter_op_num_threads = 1
    if os.environ.get(ENV_SPIN, "").strip() != "1":
        # idle intra-op threads sleep instead of spinning, leaving the cores to the decoding workers:
        # `iqalign score` on 1,000 photos 6% faster (docs/performance.md); IQALIGN_ORT_SPIN=1 spins
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return opts


class ExportedOnnxClassifier(OnnxClassifier):
    """An :class:`OnnxClassifier` for a file exported from a PyTorch classifier by :func:`to_onnx`.

    Same ``name``, ``preprocessing``, ``num_classes`` and ``batch_size`` as the PyTorch classifier;
    the session uses :func:`session_options`.
    """

    def __init__(self, path: Path, source: "Classifier | WeightsIdentity", cache_key: str):
        import onnxruntime as ort

        self.session = ort.InferenceSession(str(path), sess_options=session_options(),
                                            providers=["CPUExecutionProvider"])
        self.input_name = self.session.get_inputs()[0].name
        self.path, self.cache_key = Path(path), cache_key
        # ``source`` only lends its identity (name, preprocessing, classes, batch size, description):
        # a WeightsIdentity when the file is found by its weights key, without building the module
        self.name, self.preprocessing = source.name, source.preprocessing
        # batches of ORT_BATCH: 5-8% faster than 32 on 2 cores, bit-identical logits (benchmarks/onnx_batch_size.py)
        self.num_classes, self.batch_size = source.num_classes, min(source.batch_size, ORT_BATCH)
        what = source.description or source.name
        self.description = f"{what} [ONNX Runtime {ort.__version__}, CPU; exported from PyTorch, cached at {path}]"

    def describe(self) -> dict:
        out = super().describe()
        out.update(engine="onnxruntime", onnx_path=str(self.path), exported_from="TorchClassifier",
                   cache_key=self.cache_key, opset=OPSET, engine_version=ENGINE_VERSION)
        return out


# --------------------------------------------------------------------------------------------
# cache key


def _tensor_bytes(t) -> bytes:
    import torch

    t = t.detach().cpu().contiguous()
    if t.is_quantized or t.layout != torch.strided:
        raise TypeError(f"cannot hash a {t.layout} / quantized tensor")
    return t.reshape(-1).view(torch.uint8).numpy().tobytes()


def cache_key(module, input_size: int) -> str:
    """SHA-256 (hex) over what determines the exported graph; see the module docstring."""
    import torch

    h = hashlib.sha256()

    def add(*parts) -> None:
        for part in parts:
            data = part if isinstance(part, bytes) else str(part).encode()
            h.update(len(data).to_bytes(8, "little"))  # length-prefixed: no ambiguous concatenations
            h.update(data)

    cls = type(module)
    add("iqalign-onnx", ENGINE_VERSION, "torch", torch.__version__, "opset", OPSET, "legacy-exporter",
        "input", 3, int(input_size), int(input_size), "class", f"{cls.__module__}.{cls.__qualname__}",
        "repr", repr(module))
    state = module.state_dict()
    # non-persistent buffers are not in the state_dict but still end up in the graph as constants
    extra = {f"<buffer>{k}": v for k, v in module.named_buffers() if k not in state}
    for name in sorted(state):
        value = state[name]
        if isinstance(value, torch.Tensor):
            add("tensor", name, value.dtype, tuple(value.shape), _tensor_bytes(value))
        else:  # extra state
            add("extra", name, repr(value))
    for name in sorted(extra):
        value = extra[name]
        add("tensor", name, value.dtype, tuple(value.shape), _tensor_bytes(value))
    return h.hexdigest()


def _location(clf: TorchClassifier, cache_dir: Path | None) -> tuple[Path, str]:
    key = cache_key(clf.module, clf.preprocessing.input_size)
    folder = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    return folder / f"{type(clf.module).__name__}-{key}.onnx", key


def cache_path(clf: TorchClassifier, cache_dir: Path | None = None) -> Path:
    """Where :func:`to_onnx` keeps (or would keep) ``clf``'s exported file."""
    return _location(clf, cache_dir)[0]


# --------------------------------------------------------------------------------------------
# export


def _exportable(module):
    """``module`` itself, or a deep copy with memory-efficient (custom autograd) activations swapped
    for the identical torch modules."""
    import torch.nn as nn

    swaps = {"MemoryEfficientSwish": nn.SiLU, "SwishMe": nn.SiLU, "MishMe": nn.Mish,
             "HardSwishMe": nn.Hardswish, "HardSigmoidMe": nn.Hardsigmoid}
    if not any(type(m).__name__ in swaps for m in module.modules()):
        return module
    module = copy.deepcopy(module)
    for parent in list(module.modules()):
        for child_name, child in list(parent.named_children()):
            new = swaps.get(type(child).__name__)
            if new is not None:
                setattr(parent, child_name, new())
    return module.eval()


def export_onnx_bytes(module, input_size: int, *, metadata: dict[str, str] | None = None) -> bytes:
    """The serialized ONNX model of ``module`` (legacy exporter, :data:`OPSET`, dynamic batch)."""
    import torch

    module = _exportable(module)
    was_training = module.training
    module.eval()
    dummy = torch.zeros(2, 3, int(input_size), int(input_size))  # batch 2: no batch-1 special cases
    buf = io.BytesIO()
    try:
        with torch.no_grad(), warnings.catch_warnings():
            # "You are using the legacy TorchScript-based ONNX export" and tracer chatter
            warnings.simplefilter("ignore")
            torch.onnx.export(module, (dummy,), buf, dynamo=False, opset_version=OPSET,
                              input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
                              dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}},
                              do_constant_folding=True)
    finally:
        module.train(was_training)
    data = buf.getvalue()
    if metadata:
        import onnx

        model = onnx.load_from_string(data)
        for key, value in metadata.items():
            entry = model.metadata_props.add()
            entry.key, entry.value = key, str(value)
        onnx.checker.check_model(model)
        data = model.SerializeToString()
    return data


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem[:40]}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)  # atomic on one file system: readers see the old file or the new one
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def to_onnx(clf: TorchClassifier, cache_dir: Path | None = None) -> ExportedOnnxClassifier:
    """Export ``clf`` to ONNX (or reuse the cached file) and return an ONNX Runtime classifier.

    Raises whatever the export or ONNX Runtime raises; :func:`accelerate` turns that into a fallback.
    """
    if not isinstance(clf, TorchClassifier):
        raise TypeError(f"to_onnx needs a TorchClassifier, got {type(clf).__name__}")
    import torch

    size = int(clf.preprocessing.input_size)
    path, key = _location(clf, cache_dir)
    if path.is_file():
        try:
            out = ExportedOnnxClassifier(path, clf, key)
            log.info("model '%s': ONNX Runtime with cached export %s", clf.name, path)
            return out
        except Exception as exc:  # unreadable (e.g. truncated by a full disk): export again
            log.warning("model '%s': cached ONNX file %s is unusable (%s); exporting again", clf.name, path, exc)
    data = export_onnx_bytes(clf.module, size, metadata={
        "iqalign.model": clf.name, "iqalign.cache_key": key, "iqalign.engine_version": ENGINE_VERSION,
        "iqalign.torch_version": torch.__version__, "iqalign.input_size": str(size)})
    _write_atomic(path, data)
    log.info("model '%s': exported to ONNX (%.1f MB) at %s", clf.name, len(data) / 1e6, path)
    return ExportedOnnxClassifier(path, clf, key)


# --------------------------------------------------------------------------------------------
# weights-keyed cache: start without torch


@dataclass(frozen=True)
class WeightsIdentity:
    """Everything :func:`cached_by_weights` needs to know about a registered model without building it.

    ``arch`` names the code that builds the module from ``weights_file`` (a package pinned to one
    version, e.g. ``"efficientnet-lite-pytorch==0.1.0:efficientnet-lite0"``): with the weights'
    bytes, the torch version, :data:`OPSET` and :data:`ENGINE_VERSION` it determines the exported
    graph, so a file exported once can be found again from these alone.
    """

    name: str
    preprocessing: Preprocessing
    weights_file: str
    arch: str
    num_classes: int = 1000
    batch_size: int = 32
    description: str = ""


def _file_sha256(path: str | os.PathLike[str]) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def weights_key(identity: WeightsIdentity) -> str:
    """SHA-256 (hex) over the weight file's bytes, the architecture code, the input size, the torch
    version (read from package metadata: no torch import), :data:`OPSET` and :data:`ENGINE_VERSION`."""
    from importlib.metadata import version

    h = hashlib.sha256()
    for part in ("iqalign-onnx-weights", ENGINE_VERSION, "torch", version("torch"), "opset", OPSET,
                 "arch", identity.arch, "input", int(identity.preprocessing.input_size),
                 "weights", _file_sha256(identity.weights_file)):
        data = str(part).encode()
        h.update(len(data).to_bytes(8, "little"))
        h.update(data)
    return h.hexdigest()


def weights_cache_path(identity: WeightsIdentity, cache_dir: Path | None = None) -> tuple[Path, str]:
    key = weights_key(identity)
    folder = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    return folder / f"{identity.name}-weights-{key}.onnx", key


def cached_by_weights(identity: WeightsIdentity, cache_dir: Path | None = None) -> ExportedOnnxClassifier | None:
    """The ONNX Runtime classifier for ``identity`` when an earlier run exported it, else ``None``.

    Neither torch nor the model's module is loaded: this is what makes a warm start ~2 s faster
    (``import torch`` alone takes 1.6 s here), in every process that runs a model.
    """
    if onnx_unavailable_reason() is not None:
        return None
    path, key = weights_cache_path(identity, cache_dir)
    if not path.is_file():
        return None
    try:
        return ExportedOnnxClassifier(path, identity, key)
    except Exception as exc:  # truncated or unreadable: the caller exports again
        log.warning("model '%s': cached ONNX file %s is unusable (%s)", identity.name, path, exc)
        return None


def remember_by_weights(identity: WeightsIdentity, exported: ExportedOnnxClassifier,
                        cache_dir: Path | None = None) -> None:
    """Make ``exported`` findable by :func:`cached_by_weights` (a hard link, or a copy, written atomically)."""
    path, _ = weights_cache_path(identity, cache_dir)
    if path.is_file():
        return
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        try:
            os.link(exported.path, tmp)
        except OSError:
            _write_atomic(tmp, Path(exported.path).read_bytes())
        os.replace(tmp, path)
    except OSError as exc:  # a read-only cache only costs the slower start next time
        log.warning("model '%s': cannot record the weights-keyed cache entry %s (%s)", identity.name, path, exc)
        try:
            os.unlink(tmp)
        except OSError:
            pass


# --------------------------------------------------------------------------------------------
# forgiving entry point


def onnx_unavailable_reason() -> str | None:
    """Why ONNX Runtime cannot be used here, or ``None`` when onnx and onnxruntime import."""
    for module in ("onnx", "onnxruntime"):
        try:
            __import__(module)
        except Exception as exc:  # ImportError, or a broken binary wheel
            return f"the Python package '{module}' cannot be imported ({type(exc).__name__}: {exc}); " \
                   f"pip install 'iqalign[onnx]'"
    return None


def max_prob_diff(a: Classifier, b: Classifier, views: Sequence[np.ndarray]) -> tuple[float, float]:
    """(max abs probability difference, top-1 agreement fraction) of two classifiers on ``views``."""
    pa, pb = a.predict_proba(views), b.predict_proba(views)
    if pa.shape != pb.shape:
        return float("inf"), 0.0
    if not len(pa):
        return 0.0, 1.0
    return float(np.abs(pa - pb).max()), float((pa.argmax(1) == pb.argmax(1)).mean())


def accelerate(clf: Classifier, *, verify_views: Sequence[np.ndarray] | None = None,
               atol: float = DEFAULT_ATOL, cache_dir: Path | None = None) -> Classifier:
    """``clf`` run by ONNX Runtime when possible, else ``clf`` itself.

    Only :class:`TorchClassifier` is converted; any other classifier is returned as is, silently.
    When onnx / onnxruntime are missing or the export fails, ``clf`` is returned and one
    :class:`OnnxFallbackWarning` says why. With ``verify_views`` (RGB uint8 views), the exported
    model's probabilities are compared with PyTorch's on them, and PyTorch is kept (with a warning)
    when they differ by more than ``atol`` anywhere.
    """
    if not isinstance(clf, TorchClassifier):
        return clf
    reason = onnx_unavailable_reason()
    if reason is None:
        try:
            fast = to_onnx(clf, cache_dir=cache_dir)
        except Exception as exc:
            reason = f"the ONNX export failed ({type(exc).__name__}: {str(exc).strip()[:300]})"
        else:
            if not verify_views:
                return fast
            try:
                diff, agree = max_prob_diff(clf, fast, verify_views)
            except Exception as exc:
                reason = f"ONNX Runtime failed on the check views ({type(exc).__name__}: {str(exc).strip()[:300]})"
            else:
                if diff <= atol:
                    log.info("model '%s': ONNX Runtime matches PyTorch on %d views (max |dp| %.2g, top-1 agreement %.3f)",
                             clf.name, len(verify_views), diff, agree)
                    return fast
                reason = (f"the exported model disagrees with PyTorch on {len(verify_views)} check views: "
                          f"max |probability difference| {diff:.3g} > {atol:g}, top-1 agreement {agree:.3f}")
    warnings.warn(f"model '{clf.name}': running in PyTorch (slower), not ONNX Runtime: {reason}",
                  OnnxFallbackWarning, stacklevel=2)
    return clf


__all__ = ["ENGINE_VERSION", "OPSET", "WeightsIdentity", "cached_by_weights", "remember_by_weights",
           "weights_cache_path", "weights_key", "DEFAULT_ATOL", "OnnxFallbackWarning", "ExportedOnnxClassifier",
           "accelerate", "to_onnx", "cache_key", "cache_path", "default_cache_dir", "ort_threads",
           "session_options", "export_onnx_bytes", "onnx_unavailable_reason", "max_prob_diff"]
