"""BRISQUE, NIQE and PIQE: calibration against published implementations, and invariants."""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from iqalign.metrics.classic import _features as F
from iqalign.metrics.classic import brisque as B
from iqalign.metrics.classic import niqe as N
from iqalign.metrics.classic import piqe as P

CALIB = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "iqa-calibration"
CALIB_IMAGES = ("I03", "I04", "I06")

# scikit-video 1.1.11 skvideo.measure.niqe() on 0.2989 R + 0.5870 G + 0.1140 B of the calibration
# images (run once with shims for numpy 2: np.int = int, scipy.misc.imresize -> PIL bicubic 'F').
SKVIDEO_NIQE = {"I03": 18.8807, "I04": 9.8983, "I06": 12.2755}


def _calibration() -> tuple[Path, dict[str, dict[str, float]]]:
    if not (CALIB / "reference_scores.csv").is_file():
        pytest.skip(f"{CALIB} is absent (needs ../shared beside the checkout)")
    with open(CALIB / "reference_scores.csv", newline="") as fh:
        rows = {r["metric"]: {k[:-4]: float(v) for k, v in r.items() if k.endswith(".bmp")} for r in csv.DictReader(fh)}
    return CALIB, rows


def _load(name: str) -> np.ndarray:
    from PIL import Image

    with Image.open(CALIB / f"{name}.bmp") as im:
        return np.asarray(im.convert("RGB"))


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    from skimage import data

    return data.astronaut()  # 512x512 RGB uint8


def _blurred(img: np.ndarray) -> np.ndarray:
    from skimage.filters import gaussian

    return np.round(gaussian(img, sigma=2, channel_axis=-1) * 255).astype(np.uint8)


def _noisy(img: np.ndarray) -> np.ndarray:
    rng = np.random.default_rng(0)
    return np.clip(np.round(img + rng.normal(0, 25, img.shape)), 0, 255).astype(np.uint8)


# ---- calibration ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", CALIB_IMAGES)
def test_brisque_matches_original_release(name):
    _, ref = _calibration()
    score = B.brisque(_load(name))
    assert abs(score - ref["brisque"][name]) <= B.CALIBRATION_TOLERANCE, (name, score, ref["brisque"][name])


@pytest.mark.parametrize("name", CALIB_IMAGES)
def test_piqe_matches_matlab(name):
    _, ref = _calibration()
    score = P.piqe(_load(name))
    assert abs(score - ref["piqe"][name]) <= P.CALIBRATION_TOLERANCE, (name, score, ref["piqe"][name])


@pytest.mark.parametrize("name", CALIB_IMAGES)
def test_niqe_skvideo_model_matches_scikit_video(name):
    _calibration()
    score = N.niqe(_load(name), "skvideo")
    assert abs(score - SKVIDEO_NIQE[name]) <= N.SKVIDEO_TOLERANCE, (name, score)


def test_niqe_skvideo_model_ranks_the_worst_calibration_image_worst():
    _, ref = _calibration()
    ours = {n: N.niqe(_load(n), "skvideo") for n in CALIB_IMAGES}
    assert max(ours, key=ours.get) == max(ref["niqe"], key=ref["niqe"].get) == "I03"


@pytest.mark.parametrize("name", CALIB_IMAGES)
def test_niqe_with_live_model_matches_original_release(name):
    _, ref = _calibration()
    score = N.niqe(_load(name))  # default: the authors' model, shipped as package data
    assert abs(score - ref["niqe"][name]) <= N.CALIBRATION_TOLERANCE_LIVE, (name, score, ref["niqe"][name])


def test_brisque_numpy_svr_equals_libsvm():
    svmutil = pytest.importorskip("libsvm.svmutil")
    rng = np.random.default_rng(3)
    model = svmutil.svm_load_model(str(B._model_dir() / "svm.txt"))
    m = B.load_model()
    for _ in range(5):
        x = rng.uniform(-1, 1, 36)
        feats = m["min"] + (x + 1) / 2 * (m["max"] - m["min"])
        nodes, _ = svmutil.gen_svm_nodearray([float(v) for v in x])
        assert B.predict(feats) == pytest.approx(svmutil.libsvm.svm_predict(model, nodes), abs=1e-8)


# ---- invariants (no shared data needed) ----------------------------------------------------------

METRICS = {"brisque": B.brisque, "niqe": N.niqe, "piqe": P.piqe}


@pytest.mark.parametrize("name", sorted(METRICS))
def test_blur_and_noise_make_scores_worse(name, astronaut):
    fn = METRICS[name]
    clean = fn(astronaut)
    assert fn(_blurred(astronaut)) > clean
    assert fn(_noisy(astronaut)) > clean


@pytest.mark.parametrize("name", sorted(METRICS))
def test_deterministic_and_input_untouched(name, astronaut):
    img = astronaut[:224, 100:324].copy()
    before = img.copy()
    a, b = METRICS[name](img), METRICS[name](img)
    assert a == b and np.isfinite(a)
    np.testing.assert_array_equal(img, before)


@pytest.mark.parametrize("name", sorted(METRICS))
def test_too_small_image_raises(name):
    img = np.zeros((40, 200, 3), dtype=np.uint8)
    with pytest.raises(ValueError, match="pixels"):
        METRICS[name](img)


def test_niqe_needs_one_whole_patch():
    img = np.random.default_rng(0).integers(0, 256, (80, 300, 3), dtype=np.uint8)
    with pytest.raises(ValueError, match="96"):
        N.niqe(img)
    assert np.isfinite(N.niqe(np.random.default_rng(0).integers(0, 256, (100, 130, 3), dtype=np.uint8)))


@pytest.mark.parametrize("name", ["brisque", "piqe"])
def test_small_and_odd_sizes_work(name):
    rng = np.random.default_rng(1)
    for shape in [(64, 64, 3), (65, 97, 3), (224, 224, 3)]:
        assert np.isfinite(METRICS[name](rng.integers(0, 256, shape, dtype=np.uint8)))


@pytest.mark.parametrize("name", sorted(METRICS))
def test_rejects_non_uint8_and_bad_shapes(name):
    with pytest.raises(ValueError, match="uint8"):
        METRICS[name](np.zeros((128, 128, 3), dtype=np.float32))
    with pytest.raises(ValueError, match="shape"):
        METRICS[name](np.zeros((128, 128, 2), dtype=np.uint8))


def test_grayscale_input_equals_rgb_with_equal_channels(astronaut):
    gray = astronaut[..., 1]
    rgb = np.repeat(gray[..., None], 3, axis=2)
    assert B.brisque(gray) == pytest.approx(B.brisque(rgb))
    assert P.piqe(gray) == pytest.approx(P.piqe(rgb))


def test_uniform_image_scores():
    flat = np.full((128, 128, 3), 90, dtype=np.uint8)
    assert P.piqe(flat) == 100.0  # as MATLAB: no active block
    assert np.isnan(B.brisque(flat)) and np.isnan(N.niqe(flat))  # features undefined


def test_piqe_in_range_and_masks_consistent(astronaut):
    blocks = P.piqe_blocks(astronaut)
    assert blocks["active"].size == (512 // 16) ** 2
    assert not np.any(blocks["artifact"] & ~blocks["active"])
    assert 0.0 <= P.piqe(astronaut) <= 100.0


# ---- building blocks -----------------------------------------------------------------------------


def test_imresize_half_uses_matlab_antialiased_bicubic_weights():
    mat = F._half_resize_matrix(20)
    expected = np.array([-0.01171875, -0.03515625, 0.11328125, 0.43359375, 0.43359375, 0.11328125, -0.03515625, -0.01171875])
    np.testing.assert_allclose(mat[5, 7:15], expected)  # output 6 (1-based) centred at input 11.5
    np.testing.assert_allclose(mat.sum(axis=1), 1.0)
    const = np.full((30, 21), 7.0)
    out = F.imresize_half(const)
    assert out.shape == (15, 11)
    np.testing.assert_allclose(out, 7.0)


def test_matlab_rgb2gray_rounds():
    px = np.array([[[255, 0, 0], [0, 255, 0], [0, 0, 255], [10, 20, 30]]], dtype=np.uint8)
    np.testing.assert_array_equal(F.rgb_to_gray_matlab(px), [[76.0, 150.0, 29.0, 18.0]])


def test_ggd_and_aggd_fits_recover_shape():
    from scipy.stats import gennorm

    for shape in (0.8, 1.0, 2.0):
        x = gennorm.rvs(shape, size=(2, 200_000), random_state=np.random.default_rng(int(shape * 10)))
        a_ggd, _ = F.ggd_fit(x)
        a_aggd, left, right = F.aggd_fit(x)
        np.testing.assert_allclose(a_ggd, shape, rtol=0.05)
        np.testing.assert_allclose(a_aggd, shape, rtol=0.05)
        np.testing.assert_allclose(left, right, rtol=0.03)


def test_registered_specs():
    from iqalign.metrics.registry import get_metric

    for name in ("brisque", "niqe", "piqe"):
        m = get_metric(name)
        assert m.spec.family == "classic" and m.spec.higher_is_better is False
        assert m.spec.needs_labels is False and m.spec.reference and m.image_fn is not None
        assert m.spec.availability()[0]
