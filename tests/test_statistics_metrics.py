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
