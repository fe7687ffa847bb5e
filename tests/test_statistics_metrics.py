"""Image statistics: hand-computed values on tiny synthetic images."""
from __future__ import annotations

import math

import numpy as np
import pytest

from iqalign.metrics import statistics as S

ALL = {
    "sharpness": S.sharpness,
    "brightness": S.brightness,
    "contrast": S.contrast,
    "colourfulness": S.colourfulness,
    "noise_sigma": S.noise_sigma,
}


def _rgb(gray: np.ndarray) -> np.ndarray:
    return np.repeat(np.asarray(gray, dtype=np.uint8)[..., None], 3, axis=2)


def _checkerboard(n: int = 8) -> np.ndarray:
    return _rgb((np.indices((n, n)).sum(axis=0) % 2) * 255)


def test_constant_image():
    img = _rgb(np.full((8, 8), 51))
    assert S.sharpness(img) == 0.0
    assert S.contrast(img) == 0.0
    assert S.colourfulness(img) == 0.0
    assert S.noise_sigma(img) == 0.0
    assert S.brightness(img) == pytest.approx(51 / 255)


def test_black_and_white_brightness():
    assert S.brightness(_rgb(np.zeros((4, 4)))) == 0.0
    assert S.brightness(_rgb(np.full((4, 4), 255))) == pytest.approx(1.0)


def test_checkerboard_laplacian_variance_and_contrast():
    img = _checkerboard(8)
    # 4-neighbour Laplacian of a one-pixel 0/255 checkerboard is -1020 on white and +1020 on black
    # pixels (reflect-101 borders mirror a pixel of the opposite colour), so its variance is 1020^2.
    assert S.sharpness(img) == pytest.approx(1020.0**2)
    assert S.contrast(img) == pytest.approx(0.5)  # luma 0 or 1, half each
    assert S.brightness(img) == pytest.approx(0.5)


def test_stripes_sharpness_by_hand():
    # vertical stripes 0,0,255,255,0,0,255,255 in every row: the Laplacian (only the horizontal part
    # is non-zero) is 0,255,-255,-255,255,255,-255,0 -- the end pixels see their one inner
    # neighbour twice under reflect-101 borders -- so mean 0 and variance 6/8 * 255^2.
    row = np.array([0, 0, 255, 255] * 2)
    img = _rgb(np.tile(row, (6, 1)))
    assert S.sharpness(img) == pytest.approx(0.75 * 255.0**2)


def test_colourfulness_by_hand():
    red = np.zeros((4, 4, 3), dtype=np.uint8)
    red[..., 0] = 255
    # rg = 255, yb = 127.5 everywhere: no spread, M = 0.3 * sqrt(255^2 + 127.5^2)
    assert S.colourfulness(red) == pytest.approx(0.3 * math.hypot(255, 127.5))
    half = red.copy()
    half[:2] = [0, 255, 0]  # half red, half green: rg = +-255 (std 255, mean 0), yb = 127.5
    assert S.colourfulness(half) == pytest.approx(255 + 0.3 * 127.5)


@pytest.mark.parametrize("sigma", [5.0, 10.0, 20.0])
def test_noise_sigma_recovers_gaussian_noise(sigma):
    rng = np.random.default_rng(int(sigma))
    base = np.tile(np.linspace(60, 190, 256), (256, 1))  # smooth ramp: no structure for the kernel
    noisy = np.clip(np.round(base + rng.normal(0, sigma, base.shape)), 0, 255)
    est = S.noise_sigma(_rgb(noisy))
    assert est == pytest.approx(sigma, rel=0.15)
    assert S.noise_sigma(_rgb(np.round(base))) < 0.5  # the ramp alone is (almost) noise-free


def test_noise_and_blur_move_statistics_the_right_way():
    from skimage import data
    from skimage.filters import gaussian

    img = data.astronaut()
    blurred = np.round(gaussian(img, sigma=2, channel_axis=-1) * 255).astype(np.uint8)
    noisy = np.clip(np.round(img + np.random.default_rng(0).normal(0, 15, img.shape)), 0, 255).astype(np.uint8)
    assert S.sharpness(blurred) < S.sharpness(img)
    assert S.noise_sigma(noisy) > S.noise_sigma(img)


@pytest.mark.parametrize("name", sorted(ALL))
def test_input_validation(name):
    fn = ALL[name]
    with pytest.raises(ValueError, match="uint8"):
        fn(np.zeros((8, 8, 3), dtype=np.float64))
    with pytest.raises(ValueError, match="shape"):
        fn(np.zeros((8, 8, 5), dtype=np.uint8))
    with pytest.raises(ValueError, match="3x3"):
        fn(np.zeros((2, 8, 3), dtype=np.uint8))
    gray = np.arange(64, dtype=np.uint8).reshape(8, 8)
    assert fn(gray) == pytest.approx(fn(_rgb(gray)))  # 2-D input = equal RGB channels


@pytest.mark.parametrize("name", sorted(ALL))
def test_returns_python_float_deterministically(name):
    img = np.random.default_rng(0).integers(0, 256, (32, 40, 3), dtype=np.uint8)
    a, b = ALL[name](img), ALL[name](img)
    assert isinstance(a, float) and a == b


def test_registered_specs():
    from iqalign.metrics.registry import get_metric

    directions = {"sharpness": True, "brightness": True, "contrast": True, "colourfulness": True, "noise_sigma": False}
    for name, hib in directions.items():
        spec = get_metric(name).spec
        assert spec.family == "statistic" and spec.higher_is_better is hib and spec.needs_labels is False
    assert "not monotone" in get_metric("brightness").spec.description.lower()


# ---- the fast code computes the same values ------------------------------------------------------
# The statistics are computed on exact integers in float32 and from exact sums (see the module). They
# must equal the plain float64 formulas of their definitions, written out here, and the values of git
# 12c4298 (before the rewrite) on 224x224 crops of scikit-image photos (`_views`).

_LUMA = np.array([0.299, 0.587, 0.114])


def _plain(name: str, image: np.ndarray) -> float:
    import cv2

    rgb = np.asarray(image)
    if rgb.ndim == 2:
        rgb = np.repeat(rgb[..., None], 3, axis=2)
    rgb = rgb[..., :3].astype(np.float64)
    y = np.ascontiguousarray(rgb @ _LUMA)
    if name == "sharpness":
        lap = np.array([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]])
        return float(cv2.filter2D(y, cv2.CV_64F, lap, borderType=cv2.BORDER_REFLECT_101).var())
    if name == "brightness":
        return float(y.mean() / 255.0)
    if name == "contrast":
        return float(y.std() / 255.0)
    if name == "colourfulness":
        rg, yb = rgb[..., 0] - rgb[..., 1], 0.5 * (rgb[..., 0] + rgb[..., 1]) - rgb[..., 2]
        return float(np.hypot(rg.std(), yb.std()) + 0.3 * np.hypot(rg.mean(), yb.mean()))
    k = np.array([[1.0, -2.0, 1.0], [-2.0, 4.0, -2.0], [1.0, -2.0, 1.0]])
    h, w = y.shape
    resp = cv2.filter2D(y, cv2.CV_64F, k)[1:-1, 1:-1]
    return float(np.sqrt(np.pi / 2.0) * np.abs(resp).sum() / (6.0 * (w - 2) * (h - 2)))


BEFORE_SPEEDUP = {
    "astronaut": {"sharpness": 1337.0916122120104, "brightness": 0.4602484336703432, "contrast": 0.2912427784967938, "colourfulness": 80.09006922926925, "noise_sigma": 3.12954858072901},
    "coffee": {"sharpness": 1140.120146346659, "brightness": 0.40203586129764407, "contrast": 0.2827835685705839, "colourfulness": 79.19639164273957, "noise_sigma": 2.9924358852590975},
    "chelsea": {"sharpness": 754.6149149315181, "brightness": 0.4431750337635054, "contrast": 0.134710403239803, "colourfulness": 41.22569476308466, "noise_sigma": 3.5322666696655394},
    "rocket": {"sharpness": 402.30573369497813, "brightness": 0.2870885019632853, "contrast": 0.09680097531995402, "colourfulness": 33.9224569906001, "noise_sigma": 0.8877950997833118},
    "astronaut_box5": {"sharpness": 38.05119065211697, "brightness": 0.4601633064944728, "contrast": 0.2790282856755905, "colourfulness": 78.67652785089544, "noise_sigma": 0.24658778910077606},
    "astronaut_noise25": {"sharpness": 5931.969281260435, "brightness": 0.465128097332683, "contrast": 0.288018483035414, "colourfulness": 92.80002967210251, "noise_sigma": 15.762749047389732},
}


@pytest.mark.parametrize("name", sorted(ALL))
def test_values_unchanged_by_the_speedup(name, pinned_views):
    for view, img in pinned_views.items():
        assert ALL[name](img) == pytest.approx(BEFORE_SPEEDUP[view][name], rel=1e-12, abs=1e-12), view


def _awkward_images() -> dict[str, np.ndarray]:
    from skimage import data

    rng = np.random.default_rng(11)
    big = np.tile(data.astronaut(), (3, 2, 1))  # 1536x1024: sums of squares beyond 2^53
    near_flat = np.full((300, 200, 3), 200, dtype=np.uint8)
    near_flat[17, 33] = [201, 200, 200]  # one pixel differs by one level: tiny variances on a large mean
    tinted = np.empty((64, 80, 3), dtype=np.uint8)
    tinted[...] = [250, 10, 5]
    tinted[::7, ::5, 1] += 1
    return {
        "random": rng.integers(0, 256, (57, 91, 3), dtype=np.uint8),
        "big": big,
        "near_flat": near_flat,
        "tinted": tinted,
        "extremes": (rng.random((40, 40, 3)) < 0.5).astype(np.uint8) * 255,
        "gray_2d": rng.integers(0, 256, (33, 47), dtype=np.uint8),
        "rgba": rng.integers(0, 256, (20, 30, 4), dtype=np.uint8),
        "strided_view": data.chelsea()[::3, 5:-7:2],
        "tiny": rng.integers(0, 256, (3, 3, 3), dtype=np.uint8),
    }


@pytest.mark.parametrize("name", sorted(ALL))
def test_fast_statistics_equal_the_plain_formulas(name):
    for label, img in _awkward_images().items():
        assert ALL[name](img) == pytest.approx(_plain(name, img), rel=1e-9, abs=1e-12), label
