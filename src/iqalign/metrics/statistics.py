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

# How the statistics are computed (the definitions above are unchanged). On uint8 input, 1000 x luma
# = 299 R + 587 G + 114 B is an integer below 2^24, and so are rg = R - G, 2 yb = R + G - 2 B, the
# Laplacian of 1000 x luma and its Immerkaer response: float32 holds all of them exactly, so OpenCV
# computes them exactly in float32 (half the memory traffic of float64, no rounding at all). Means come
# from exact channel sums; variances from OpenCV's double-precision sums of squares after subtracting
# the integer nearest the mean (so E[x^2] - E[x]^2 does not cancel). The results equal the plain float64
# formulas within about 1e-15 relative (tests compare them on photos, noise and near-constant images).
_W1000 = np.round(_LUMA * 1000.0).astype(np.float32).reshape(1, 3)  # 299, 587, 114
_RG = np.array([[1.0, -1.0, 0.0]], dtype=np.float32)  # rg = R - G
_YB2 = np.array([[1.0, 1.0, -2.0]], dtype=np.float32)  # 2 yb = R + G - 2 B
_LAPLACIAN32 = _LAPLACIAN.astype(np.float32)
_IMMERKAER32 = _IMMERKAER.astype(np.float32)


def _rgb8(image: np.ndarray, name: str) -> np.ndarray:
    """The validated (H, W, 3) ``uint8`` RGB image (grayscale repeated to three channels, alpha dropped)."""
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
    return np.ascontiguousarray(arr)


def _channel_sums(rgb8: np.ndarray) -> list[int]:
    """Exact integer sums of R, G and B."""
    return [int(v) for v in cv2.sumElems(rgb8)[:3]]


def _luma1000(rgb8: np.ndarray) -> np.ndarray:
    """1000 x BT.601 luma as float32 (H, W); every value is an exact integer."""
    return cv2.transform(rgb8.astype(np.float32), _W1000)


def _variance(x: np.ndarray, total: int | None = None) -> float:
    """Population variance of a single-channel float32 image of exact integers.

    ``total`` (the exact sum) is computed when not given. The integer nearest the mean is subtracted
    (exactly, in float32) before OpenCV's double-precision mean / sum-of-squares pass.
    """
    n = x.shape[0] * x.shape[1]
    if total is None:
        total = int(cv2.sumElems(x)[0])
    _, std = cv2.meanStdDev(x - np.float32(round(total / n)))
    return float(std[0, 0]) ** 2


def sharpness(image: np.ndarray) -> float:
    """Variance of the Laplacian of the luma in [0, 255]."""
    lap = cv2.filter2D(_luma1000(_rgb8(image, "sharpness")), cv2.CV_32F, _LAPLACIAN32,
                       borderType=cv2.BORDER_REFLECT_101)  # exact: 1000 x the Laplacian of the luma
    return float(_variance(lap) / 1e6)


def brightness(image: np.ndarray) -> float:
    """Mean luma in [0, 1]."""
    rgb8 = _rgb8(image, "brightness")
    r, g, b = _channel_sums(rgb8)
    n = rgb8.shape[0] * rgb8.shape[1]
    return float((299 * r + 587 * g + 114 * b) / (n * 255_000))  # exact integers, one rounding


def contrast(image: np.ndarray) -> float:
    """RMS contrast: standard deviation of the luma in [0, 1]."""
    rgb8 = _rgb8(image, "contrast")
    r, g, b = _channel_sums(rgb8)
    var = _variance(_luma1000(rgb8), 299 * r + 587 * g + 114 * b)
    return float(np.sqrt(var) / 255_000.0)


def colourfulness(image: np.ndarray) -> float:
    """Hasler & Suesstrunk (2003) colourfulness M on [0, 255] RGB values."""
    rgb8 = _rgb8(image, "colourfulness")
    r, g, b = _channel_sums(rgb8)
    n = rgb8.shape[0] * rgb8.shape[1]
    s_rg, s_yb2 = r - g, r + g - 2 * b
    rgb32 = rgb8.astype(np.float32)
    var_rg = _variance(cv2.transform(rgb32, _RG), s_rg)
    var_yb2 = _variance(cv2.transform(rgb32, _YB2), s_yb2)
    std_rg, std_yb = np.sqrt(var_rg), np.sqrt(var_yb2) / 2.0
    return float(np.hypot(std_rg, std_yb) + 0.3 * np.hypot(s_rg / n, s_yb2 / (2 * n)))


def noise_sigma(image: np.ndarray) -> float:
    """Immerkaer's fast estimate of the noise standard deviation, in [0, 255] luma units."""
    y = _luma1000(_rgb8(image, "noise_sigma"))
    h, w = y.shape
    response = cv2.filter2D(y, cv2.CV_32F, _IMMERKAER32)[1:-1, 1:-1]  # interior only: no border effects
    total = cv2.norm(response, cv2.NORM_L1) / 1000.0  # exact integers, summed in double
    return float(np.sqrt(np.pi / 2.0) * total / (6.0 * (w - 2) * (h - 2)))


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
