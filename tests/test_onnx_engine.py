"""ONNX Runtime engine: exported models agree with PyTorch, the export cache, and the fallbacks."""
from __future__ import annotations

import csv
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from iqalign.models.base import CallableClassifier, OnnxClassifier, Preprocessing, TorchClassifier  # noqa: E402
from iqalign.models import onnx_engine  # noqa: E402
from iqalign.models.onnx_engine import (  # noqa: E402
    ExportedOnnxClassifier, OnnxFallbackWarning, accelerate, cache_path, default_cache_dir, ort_threads, to_onnx,
)

IMAGENET_SAMPLE = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "imagenet-sample"
SIZE, K = 32, 10


def tiny_module(seed: int = 0, activation=None):
    torch.manual_seed(seed)
    act = activation if activation is not None else torch.nn.ReLU()
    net = torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3, stride=2, padding=1), torch.nn.BatchNorm2d(8), torch.nn.ReLU6(),
        torch.nn.Conv2d(8, 16, 3, stride=2, padding=1), act,
        torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(16, K))
    with torch.no_grad():  # non-trivial BatchNorm statistics, so they matter to the output
        net[1].running_mean.uniform_(-0.5, 0.5)
        net[1].running_var.uniform_(0.5, 2.0)
    return net


def tiny_classifier(seed: int = 0, activation=None, batch_size: int = 4) -> TorchClassifier:
    return TorchClassifier(tiny_module(seed, activation), "tiny", Preprocessing(input_size=SIZE, mean=(127.0,) * 3,
                           std=(128.0,) * 3), num_classes=K, description="a tiny test net", batch_size=batch_size)


@pytest.fixture
def views() -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    # 7 views with batch size 4: a full batch and a ragged one (the batch axis is dynamic); 40 px: resized
    return [rng.integers(0, 256, (40, 40, 3), dtype=np.uint8) for _ in range(7)]


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("IQALIGN_CACHE", str(tmp_path / "default-cache"))


def test_exported_probabilities_equal_torch(tmp_path, views):
    clf = tiny_classifier()
    fast = to_onnx(clf, cache_dir=tmp_path)
    assert isinstance(fast, OnnxClassifier) and isinstance(fast, ExportedOnnxClassifier)
    assert (fast.name, fast.preprocessing, fast.num_classes, fast.batch_size) == ("tiny", clf.preprocessing, K, 4)
    assert "ONNX Runtime" in fast.description and str(fast.path) in fast.description
    assert fast.path.parent == tmp_path and fast.path.suffix == ".onnx"
    assert fast.describe()["engine"] == "onnxruntime"
    ref, got = clf.predict_proba(views), fast.predict_proba(views)
    assert got.shape == (7, K)
    np.testing.assert_allclose(got, ref, atol=1e-5, rtol=0)
    assert (got.argmax(1) == ref.argmax(1)).all()


def test_second_call_reuses_cached_file(tmp_path, views, monkeypatch):
    first = to_onnx(tiny_classifier(), cache_dir=tmp_path)
    mtime = first.path.stat().st_mtime_ns

    def no_export(*args, **kwargs):
        raise AssertionError("exported again despite a cached file")

    monkeypatch.setattr(torch.onnx, "export", no_export)
    monkeypatch.setattr(onnx_engine, "export_onnx_bytes", no_export)
    second = to_onnx(tiny_classifier(), cache_dir=tmp_path)  # a fresh module with the same weights
    assert second.path == first.path and second.path.stat().st_mtime_ns == mtime
    assert sorted(p.name for p in tmp_path.iterdir()) == [first.path.name]  # no temp files left behind
    np.testing.assert_array_equal(second.predict_proba(views), first.predict_proba(views))


def test_cache_file_depends_on_weights_and_input_size(tmp_path):
    a, a_again, b = tiny_classifier(seed=0), tiny_classifier(seed=0), tiny_classifier(seed=1)
    assert cache_path(a, tmp_path) == cache_path(a_again, tmp_path)
    assert cache_path(a, tmp_path) != cache_path(b, tmp_path)
    with torch.no_grad():  # a buffer (BatchNorm statistics) alone also changes the key
        a_again.module[1].running_var.add_(1e-3)
    assert cache_path(a, tmp_path) != cache_path(a_again, tmp_path)
    bigger = TorchClassifier(a.module, "tiny", Preprocessing(input_size=48), num_classes=K)
    assert cache_path(a, tmp_path) != cache_path(bigger, tmp_path)
    fa, fb = to_onnx(a, cache_dir=tmp_path), to_onnx(b, cache_dir=tmp_path)
    assert fa.path != fb.path and fa.path.is_file() and fb.path.is_file()


def test_default_cache_dir_and_threads(monkeypatch, tmp_path):
    monkeypatch.setenv("IQALIGN_CACHE", str(tmp_path))
    assert default_cache_dir() == tmp_path / "onnx"
    monkeypatch.delenv("IQALIGN_CACHE")
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    assert default_cache_dir() == Path.home() / ".cache" / "iqalign" / "onnx"
    monkeypatch.setenv("IQALIGN_ORT_THREADS", "1")
    assert ort_threads() == 1
    monkeypatch.setenv("IQALIGN_ORT_THREADS", "zero")
    with pytest.raises(ValueError, match="IQALIGN_ORT_THREADS"):
        ort_threads()
    monkeypatch.delenv("IQALIGN_ORT_THREADS")
    assert ort_threads() >= 1


def test_accelerate_returns_onnx_and_verifies(tmp_path, views):
    clf = tiny_classifier()
    with warnings.catch_warnings():
        warnings.simplefilter("error", OnnxFallbackWarning)
        fast = accelerate(clf, verify_views=views, atol=1e-5, cache_dir=tmp_path)
    assert isinstance(fast, ExportedOnnxClassifier)


def test_fallback_when_export_raises(tmp_path, views, monkeypatch):
    def broken_export(*args, **kwargs):
        raise RuntimeError("unsupported operator aten::boom")

    monkeypatch.setattr(torch.onnx, "export", broken_export)
    clf = tiny_classifier()
    with pytest.warns(OnnxFallbackWarning, match="aten::boom") as record:
        out = accelerate(clf, cache_dir=tmp_path)
    assert out is clf
    assert len([w for w in record if issubclass(w.category, OnnxFallbackWarning)]) == 1
    assert "PyTorch" in str(record[0].message) and "tiny" in str(record[0].message)
    assert not list(tmp_path.glob("*"))  # nothing half-written left in the cache


def test_fallback_when_onnxruntime_missing(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import onnxruntime -> ImportError
    clf = tiny_classifier()
    with pytest.warns(OnnxFallbackWarning, match="onnxruntime"):
        assert accelerate(clf, cache_dir=tmp_path) is clf


def test_fallback_when_verification_fails(tmp_path, views, monkeypatch):
    clf = tiny_classifier()
    real_logits = ExportedOnnxClassifier.logits
    monkeypatch.setattr(ExportedOnnxClassifier, "logits", lambda self, batch: real_logits(self, batch) * 1.5)
    with pytest.warns(OnnxFallbackWarning, match="disagrees"):
        assert accelerate(clf, verify_views=views, cache_dir=tmp_path) is clf


def test_non_torch_classifiers_pass_through(tmp_path):
    clf = CallableClassifier(lambda b: np.zeros((len(b), K)), "fn", Preprocessing(input_size=SIZE), num_classes=K)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert accelerate(clf, cache_dir=tmp_path) is clf


def test_memory_efficient_swish_exports_without_touching_the_module(tmp_path, views):
    utils = pytest.importorskip("efficientnet_lite_pytorch.utils")
    clf = tiny_classifier(activation=utils.MemoryEfficientSwish())
    fast = to_onnx(clf, cache_dir=tmp_path)
    np.testing.assert_allclose(fast.predict_proba(views), clf.predict_proba(views), atol=1e-5, rtol=0)
    kinds = [type(m).__name__ for m in clf.module.modules()]
    assert "MemoryEfficientSwish" in kinds and "ReLU6" in kinds and "SiLU" not in kinds  # not mutated


@pytest.mark.slow
def test_efficientnet_lite0_onnx_matches_torch_on_photos(tmp_path):
    if not (IMAGENET_SAMPLE / "labels.csv").is_file():
        pytest.skip(f"{IMAGENET_SAMPLE} is absent (needs ../shared beside the checkout)")
    pytest.importorskip("efficientnet_lite_pytorch")
    from iqalign.models import load_model
    from iqalign.sources import load_view

    clf = load_model("efficientnet_lite0")
    with open(IMAGENET_SAMPLE / "labels.csv", newline="") as fh:
        paths = [row["path"] for row in csv.DictReader(fh)][:16]
    views = [load_view(IMAGENET_SAMPLE / p, size=clf.preprocessing.input_size) for p in paths]
    fast = to_onnx(clf, cache_dir=tmp_path)
    ref, got = clf.predict_proba(views), fast.predict_proba(views)
    assert (got.argmax(1) == ref.argmax(1)).all()
    np.testing.assert_allclose(got, ref, atol=1e-4, rtol=0)


def _register_tiny_with_identity(tmp_path, seed: int):
    """A registered model whose export can be found from its weight file, like the Lite models."""
    from iqalign.models import register_model
    from iqalign.models.onnx_engine import WeightsIdentity

    weights = tmp_path / "tiny-weights.pt"
    torch.save(tiny_module(seed).state_dict(), weights)
    prep = Preprocessing(input_size=SIZE, mean=(127.0,) * 3, std=(128.0,) * 3)
    built = []

    def factory():
        built.append(1)
        net = tiny_module(0)
        net.load_state_dict(torch.load(weights))
        return TorchClassifier(net, "tiny-registered", prep, num_classes=K, batch_size=4)

    register_model("tiny-registered", factory, identity=lambda: WeightsIdentity(
        "tiny-registered", prep, str(weights), "tests.tiny_module:v1", num_classes=K, batch_size=4))
    return weights, built


def test_registered_model_starts_from_the_weights_keyed_cache(tmp_path, views):
    from iqalign.models import load_for_inference, registry

    weights, built = _register_tiny_with_identity(tmp_path, seed=3)
    first = load_for_inference("tiny-registered")
    assert isinstance(first, ExportedOnnxClassifier) and built == [1]
    reference = registry.load_model("tiny-registered").predict_proba(views)
    registry._ACCELERATED.clear()
    registry._LOADED.clear()  # a new process, as far as the registry knows
    second = load_for_inference("tiny-registered")
    assert built == [1], "the module was built again although its export was cached by weights"
    assert second.path != first.path and "-weights-" in second.path.name
    assert (second.name, second.num_classes, second.batch_size) == ("tiny-registered", K, 4)
    np.testing.assert_allclose(second.predict_proba(views), reference, atol=1e-5, rtol=0)

    # new weights in the same file: a new key, so the stale export is not used
    torch.save(tiny_module(4).state_dict(), weights)
    registry._ACCELERATED.clear()
    registry._LOADED.clear()
    third = load_for_inference("tiny-registered")
    assert built == [1, 1] and third.path != second.path
    fresh = registry.load_model("tiny-registered").predict_proba(views)
    np.testing.assert_allclose(third.predict_proba(views), fresh, atol=1e-5, rtol=0)
    assert np.abs(fresh - reference).max() > 1e-3
    registry._REGISTRY.pop("tiny-registered")


@pytest.mark.slow
def test_lite0_warm_start_does_not_import_torch(tmp_path):
    import subprocess

    code = ("import sys; from iqalign.models import load_for_inference; "
            "c = load_for_inference('efficientnet_lite0'); print(type(c).__name__, 'torch' in sys.modules)")
    env = {**__import__("os").environ, "IQALIGN_CACHE": str(tmp_path / "cache")}
    cold = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    warm = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert cold.stdout.split() == ["ExportedOnnxClassifier", "True"]
    assert warm.stdout.split() == ["ExportedOnnxClassifier", "False"]
