"""Simple image statistics used as baseline "quality" metrics.

Each maps an RGB ``uint8`` image (H, W, 3) (or an (H, W) grayscale one; any size of at least 3x3) to
a float. Luma is ITU-R BT.601, ``Y = 0.299 R + 0.587 G + 0.114 B``, not rounded.

* ``sharpness``: variance of the 4-neighbour Laplacian (kernel [[0,1,0],[1,-4,1],[0,1,0]], OpenCV
  ``Laplacian(ksize=1)``, reflect-101 borders) of the luma in [0, 255] -- the usual
  "variance of the Laplacian" focus measure. Higher = sharper.
* ``brightness``: mean luma in [0, 1]. Registered as higher-is-better, but it is *not* monotone in
  quality: over- and under-exposure both hurt.
* ``contrast``: RMS contrast, the (population) standard deviation of luma in [0, 1].
* ``colourfulness``: Hasler & Suesstrunk (2003) M = sqrt(s_rg^2 + s_yb^2) + 0.3 sqrt(m_rg^2 + m_yb^2)
  with rg = R - G, yb = (R + G) / 2 - B on [0, 255] values (standard deviations and means over pixels).
  Their perceptual scale: 0 not colourful, ~15 slightly, ~33 moderately, ~45 averagely,
  ~59 quite, ~82 highly, ~109 extremely colourful.
* ``noise_sigma``: Immerkaer's (1996) fast noise estimate on luma in [0, 255]:
  ``sigma = sqrt(pi / 2) / (6 (W - 2) (H - 2)) * sum |I * N|`` with the difference-of-Laplacians
  kernel N = [[1,-2,1],[-2,4,-2],[1,-2,1]] over the interior pixels. Lower = cleaner. Structure
  (edges, fine texture) also contributes, so it over-estimates on detailed images.
"""
from __future__ import annotations

import cv2
import numpy as np

from .registry import MetricSpec, register

_LUMA = np.array([0.299, 0.587, 0.114])
_IMMERKAER = np.array([[1.0, -2.0, 1.0], [-2.0, 4.0, -2.0], [1.0, -2.0, 1.0]])
_LAPLACIAN = np.array([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]])


def _rgb(image: np.ndarray, name: str) -> np.ndarray:
    arr = np.asarray(image)
    if arr.ndim == 3 and arr.shape[2] == 4:
        arr = arr[..., :3]
    if arr.ndim == 2:
        arr = np.repeat(arr[..., None], 3, axis=2)
    if arr.ndim != 3 or arr.shape[2] != 3:
        raise ValueError(f"{name}: expected an (H, W, 3) RGB or (H, W) grayscale image, got shape {arr.shape}")
    if arr.dtype != np.uint8:
        raise ValueError(f"{name}: expected a uint8 image (values 0-255), got dtype {arr.dtype}")
    if min(arr.shape[:2]) < 3:
        raise ValueError(f"{name}: image is {arr.shape[0]}x{arr.shape[1]}; needs at least 3x3 pixels")
    return arr.astype(np.float64)


def _luma255(image: np.ndarray, name: str) -> np.ndarray:
    return np.ascontiguousarray(_rgb(image, name) @ _LUMA)


def sharpness(image: np.ndarray) -> float:
    """Variance of the Laplacian of the luma in [0, 255]."""
    lap = cv2.filter2D(_luma255(image, "sharpness"), cv2.CV_64F, _LAPLACIAN, borderType=cv2.BORDER_REFLECT_101)
    return float(lap.var())


def brightness(image: np.ndarray) -> float:
    """Mean luma in [0, 1]."""
    return float(_luma255(image, "brightness").mean() / 255.0)


def contrast(image: np.ndarray) -> float:
    """RMS contrast: standard deviation of the luma in [0, 1]."""
    return float(_luma255(image, "contrast").std() / 255.0)


def colourfulness(image: np.ndarray) -> float:
    """Hasler & Suesstrunk (2003) colourfulness M on [0, 255] RGB values."""
    rgb = _rgb(image, "colourfulness")
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    rg = r - g
    yb = 0.5 * (r + g) - b
    return float(np.hypot(rg.std(), yb.std()) + 0.3 * np.hypot(rg.mean(), yb.mean()))


def noise_sigma(image: np.ndarray) -> float:
    """Immerkaer's fast estimate of the noise standard deviation, in [0, 255] luma units."""
    y = _luma255(image, "noise_sigma")
    h, w = y.shape
    response = cv2.filter2D(y, cv2.CV_64F, _IMMERKAER)[1:-1, 1:-1]  # interior only: no border effects
    return float(np.sqrt(np.pi / 2.0) * np.abs(response).sum() / (6.0 * (w - 2) * (h - 2)))


_REF = "this package (iqalign), formula in iqalign.metrics.statistics"

for _name, _fn, _hib, _desc, _ref in (
    ("sharpness", sharpness, True,
     "Variance of the 4-neighbour Laplacian of the BT.601 luma in [0, 255]; higher = sharper.",
     "Pech-Pacheco et al. 2000 variance-of-Laplacian focus measure (OpenCV Laplacian, ksize=1)"),
    ("brightness", brightness, True,
     "Mean BT.601 luma in [0, 1]. Registered higher-is-better but NOT monotone in quality: "
     "over-exposure is bright and bad.",
     _REF),
    ("contrast", contrast, True,
     "RMS contrast: standard deviation of the BT.601 luma in [0, 1]; higher = more contrast.",
     "Peli 1990 RMS contrast"),
    ("colourfulness", colourfulness, True,
     "Hasler & Suesstrunk colourfulness M on [0, 255] RGB (0 = grey; ~33 moderately, ~59 quite, "
     "~109 extremely colourful); higher = more colourful.",
     "Hasler & Suesstrunk 2003, 'Measuring colourfulness in natural images', metric M (M^(3))"),
    ("noise_sigma", noise_sigma, False,
     "Immerkaer fast noise standard-deviation estimate on the BT.601 luma, [0, 255] units; lower = "
     "cleaner (image structure also raises it).",
     "Immerkaer 1996, 'Fast noise variance estimation'"),
):
    register(
        MetricSpec(
            name=_name,
            family="statistic",
            higher_is_better=_hib,
            needs_labels=False,
            version="1",
            description=_desc,
            reference=_ref,
            requires=(),
        ),
        image_fn=_fn,
    )
