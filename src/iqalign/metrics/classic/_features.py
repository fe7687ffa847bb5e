"""Shared building blocks of the classic no-reference metrics (BRISQUE, NIQE, PIQE).

Everything here re-creates the MATLAB primitives that the reference implementations call, so that
features computed in Python land on the same numbers:

* :func:`rgb_to_gray_matlab` -- ``rgb2gray`` on a ``uint8`` image (ITU-R BT.601 weights derived
  from the NTSC matrix, rounded back to ``uint8``), returned as float64 in [0, 255];
* :func:`imresize_half` -- ``imresize(I, 0.5)``: bicubic (a = -0.5) with MATLAB's antialiasing
  kernel widening and symmetric edge handling, applied as a separable 8-tap filter at every second
  pixel (the weights come from the dense per-axis matrices, which small images still use);
* :func:`mscn` -- mean-subtracted contrast-normalised coefficients with the 7x7, sigma = 7/6
  Gaussian window (``fspecial('gaussian', 7, 7/6)``) and C = 1 on [0, 255] intensities;
* :func:`ggd_fit` / :func:`aggd_fit` -- the moment-matching (generalised / asymmetric generalised
  Gaussian) fits of the LIVE releases, which pick the shape on the grid 0.2:0.001:10. They are
  vectorised: the input may be a stack of samples (one row per block) and every row is fitted.
"""
from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np
from scipy.special import gamma as _gamma

# MATLAB rgb2gray: the first row of inv([1 .956 .621; 1 -.272 -.647; 1 -1.106 1.703]).
_RGB2GRAY = np.array([0.298936021293775, 0.587043074451121, 0.114020904255103])
_RGB2GRAY_ROW = _RGB2GRAY.reshape(1, 3)  # cv2.transform's 1x3 matrix

MIN_SIDE = 64  # smallest image side accepted by the classic metrics


def check_rgb_image(image: np.ndarray, min_side: int = MIN_SIDE, name: str = "metric") -> np.ndarray:
    """Validate an (H, W, 3) RGB ``uint8`` image (or (H, W) grayscale; an alpha channel is dropped)."""
    arr = np.asarray(image)
    if arr.ndim == 3 and arr.shape[2] == 4:
        arr = arr[..., :3]
    if not (arr.ndim == 2 or (arr.ndim == 3 and arr.shape[2] == 3)):
        raise ValueError(f"{name}: expected an (H, W, 3) RGB or (H, W) grayscale image, got shape {arr.shape}")
    if arr.dtype != np.uint8:
        raise ValueError(f"{name}: expected a uint8 image (values 0-255), got dtype {arr.dtype}")
    if min(arr.shape[:2]) < min_side:
        raise ValueError(
            f"{name}: image is {arr.shape[0]}x{arr.shape[1]} pixels; needs at least {min_side} pixels per side"
        )
    return arr


def rgb_to_gray_matlab(image: np.ndarray) -> np.ndarray:
    """MATLAB ``double(rgb2gray(uint8 image))``: float64 luma in [0, 255], rounded to integers.

    The weighted sum runs in float64 through ``cv2.transform`` (one pass, no temporary per channel).
    The rounding makes the exact summation order irrelevant: over all 2^24 colours the unrounded luma
    is never closer than 4.6e-6 to a .5 boundary, so any float64 evaluation rounds to the same integer
    (a test checks every colour against the plain formula).
    """
    arr = np.asarray(image)
    if arr.ndim == 2:
        return arr.astype(np.float64)
    gray = cv2.transform(np.ascontiguousarray(arr[..., :3], dtype=np.float64), _RGB2GRAY_ROW)
    # rgb2gray on uint8 rounds half away from zero; all values are non-negative here.
    np.add(gray, 0.5, out=gray)
    return np.floor(gray, out=gray)


def _cubic(x: np.ndarray) -> np.ndarray:
    ax = np.abs(x)
    ax2, ax3 = ax * ax, ax * ax * ax
    return (1.5 * ax3 - 2.5 * ax2 + 1.0) * (ax <= 1) + (-0.5 * ax3 + 2.5 * ax2 - 4.0 * ax + 2.0) * (
        (ax > 1) & (ax <= 2)
    )


@lru_cache(maxsize=64)
def _half_resize_matrix(n_in: int) -> np.ndarray:
    """(ceil(n/2), n) matrix of MATLAB imresize(., 0.5, 'bicubic') along one axis, antialiased."""
    scale = 0.5
    n_out = int(np.ceil(n_in * scale))
    kernel_width = 4.0 / scale  # bicubic support 4, widened by 1/scale for antialiasing
    u = np.arange(1, n_out + 1, dtype=np.float64)
    x = u / scale + 0.5 * (1.0 - 1.0 / scale)  # output centre in input coordinates (1-based)
    left = np.floor(x - kernel_width / 2.0)
    taps = int(np.ceil(kernel_width)) + 2
    idx = left[:, None] + np.arange(taps)[None, :]  # 1-based input indices
    w = scale * _cubic(scale * (x[:, None] - idx))
    w /= w.sum(axis=1, keepdims=True)
    # symmetric ("mirror with edge repeat") boundary handling
    mirror = np.concatenate([np.arange(n_in), np.arange(n_in - 1, -1, -1)])
    cols = mirror[np.mod(idx.astype(np.int64) - 1, 2 * n_in)]
    mat = np.zeros((n_out, n_in))
    np.add.at(mat, (np.repeat(np.arange(n_out), taps), cols.ravel()), w.ravel())
    return mat


@lru_cache(maxsize=1)
def _half_resize_kernel() -> np.ndarray:
    """The 8 non-zero taps shared by every row of :func:`_half_resize_matrix` (inputs 2u-3 .. 2u+4)."""
    return np.ascontiguousarray(_half_resize_matrix(40)[10, 17:25])


def imresize_half(img: np.ndarray) -> np.ndarray:
    """MATLAB ``imresize(img, 0.5)`` for a 2-D float image (bicubic with antialiasing).

    At scale 0.5 every output pixel uses the same 8 weights on inputs 2u-3 .. 2u+4 (0-based), and
    MATLAB's symmetric edge handling is OpenCV's ``BORDER_REFLECT``; so this is a separable 8-tap
    filter sampled at every second pixel (equal to the dense matrices of :func:`_half_resize_matrix`
    within rounding, about 1e-13 on [0, 255] values, and several times faster). Images with a side
    under 8 pixels, where the mirror would fold more than once, use the matrices.
    """
    img = np.asarray(img, dtype=np.float64)
    if min(img.shape) < 8:
        rows = _half_resize_matrix(img.shape[0])
        cols = _half_resize_matrix(img.shape[1])
        return rows @ img @ cols.T
    k = _half_resize_kernel()
    full = cv2.sepFilter2D(np.ascontiguousarray(img), cv2.CV_64F, k, k, anchor=(3, 3), borderType=cv2.BORDER_REFLECT)
    return np.ascontiguousarray(full[::2, ::2])


@lru_cache(maxsize=4)
def gaussian_window_1d(size: int = 7, sigma: float = 7.0 / 6.0) -> np.ndarray:
    """1-D factor of ``fspecial('gaussian', size, sigma)`` (the 2-D window is its outer product)."""
    half = (size - 1) / 2.0
    x = np.arange(size) - half
    w = np.exp(-(x * x) / (2.0 * sigma * sigma))
    return w / w.sum()


_BORDERS = {"constant": cv2.BORDER_CONSTANT, "replicate": cv2.BORDER_REPLICATE}


def gaussian_filter(img: np.ndarray, padding: str = "constant") -> np.ndarray:
    """7x7, sigma 7/6 Gaussian filtering with MATLAB's zero ('same') or 'replicate' padding."""
    k = gaussian_window_1d()
    return cv2.sepFilter2D(img, cv2.CV_64F, k, k, borderType=_BORDERS[padding])


def mscn(img: np.ndarray, padding: str = "constant", c: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """MSCN coefficients ``(I - mu) / (sigma + c)`` and the local deviation map ``sigma``.

    ``img`` is float64 in [0, 255]. ``padding='constant'`` is BRISQUE's ``filter2(w, I, 'same')``;
    ``'replicate'`` is NIQE's ``imfilter(I, w, 'replicate')`` and PIQE's ``imgaussfilt``.
    """
    img = np.ascontiguousarray(img, dtype=np.float64)
    mu = gaussian_filter(img, padding)
    tmp = np.multiply(img, img)
    sigma = gaussian_filter(tmp, padding)
    # The same operations as sqrt(|G(I^2) - mu^2|) and (I - mu) / (sigma + c), in place (no temporaries).
    np.multiply(mu, mu, out=tmp)
    np.subtract(sigma, tmp, out=sigma)
    np.abs(sigma, out=sigma)
    np.sqrt(sigma, out=sigma)
    out = np.subtract(img, mu, out=mu)
    np.add(sigma, c, out=tmp)
    np.divide(out, tmp, out=out)
    return out, sigma


# ---- generalised Gaussian fits ---------------------------------------------------------------

_GAM = 0.2 + 0.001 * np.arange(9801)  # MATLAB 0.2:0.001:10
_G1, _G2, _G3 = _gamma(1.0 / _GAM), _gamma(2.0 / _GAM), _gamma(3.0 / _GAM)
_R_AGGD = _G2 * _G2 / (_G1 * _G3)  # increasing in the shape parameter
_R_GGD = _G1 * _G3 / (_G2 * _G2)  # = 1 / _R_AGGD, decreasing


def _nearest_on_grid(table: np.ndarray, target: np.ndarray, increasing: bool) -> np.ndarray:
    """Index of the grid entry closest to each target (first index on ties, like MATLAB min)."""
    target = np.asarray(target, dtype=np.float64)
    t = table if increasing else table[::-1]
    pos = np.searchsorted(t, target)
    lo = np.clip(pos - 1, 0, t.size - 1)
    hi = np.clip(pos, 0, t.size - 1)
    d_lo = np.abs(t[lo] - target)
    d_hi = np.abs(t[hi] - target)
    if increasing:
        best = np.where(d_lo <= d_hi, lo, hi)  # lower index wins ties
    else:
        best = np.where(d_hi <= d_lo, hi, lo)  # in reversed order the higher index is first in MATLAB
        best = t.size - 1 - best
    return np.where(np.isnan(target), 0, best)


def ggd_fit(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric GGD fit (BRISQUE ``estimateggdparam``) along the last axis.

    Returns ``(shape, sigma)`` with ``sigma = sqrt(mean(x^2))``.
    """
    x = np.asarray(x, dtype=np.float64)
    sigma_sq = np.mean(x * x, axis=-1)
    e = np.mean(np.abs(x), axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        rho = sigma_sq / (e * e)
    alpha = _GAM[_nearest_on_grid(_R_GGD, rho, increasing=False)]
    alpha = np.where(np.isfinite(rho), alpha, np.nan)
    return alpha, np.sqrt(sigma_sq)


_LONG_ROW = 4096  # sample sets at least this long are reduced one by one, shorter ones in chunks
_CHUNK = 65536  # samples per chunk of short sets (keeps the scratch buffer about 1 MB)


def aggd_moments(x: np.ndarray) -> np.ndarray:
    """Sufficient statistics of an AGGD fit along the last axis: shape (..., 6).

    The columns are ``n_neg, n_pos, sum(x^2 | x < 0), sum(x^2 | x > 0), sum(|x|), n``. They come from
    ``min(x, 0)`` and ``max(x, 0)`` written into one scratch buffer, dot products and sums of those, and
    two counts: a few fast passes over memory, no masked copies of the samples, and no large temporaries
    (allocating and freeing those on every call made the C allocator hand memory back to the system and
    fault it in again). Long sample sets (BRISQUE's whole image, NIQE's 96x96 patches) are reduced one
    at a time with 1-D BLAS dots and counts, short ones (NIQE's 48x48 patches) in chunks of rows.
    :func:`aggd_from_moments` turns any stack of moments into fits, so the grid search runs once for
    many sample sets.
    """
    x = np.asarray(x, dtype=np.float64)
    n = x.shape[-1]
    rows = x.reshape(-1, n)
    out = np.empty((rows.shape[0], 6))
    out[:, 5] = n
    if n >= _LONG_ROW:
        scratch = np.empty(n)
        for i, r in enumerate(rows):
            xn = np.minimum(r, 0.0, out=scratch)
            out[i, 2] = xn @ xn
            out[i, 4] = -xn.sum()
            xp = np.maximum(r, 0.0, out=scratch)
            out[i, 3] = xp @ xp
            out[i, 4] += xp.sum()
            out[i, 0] = np.count_nonzero(r < 0)
            out[i, 1] = np.count_nonzero(r > 0)
        return out.reshape(x.shape[:-1] + (6,))
    step = max(1, _CHUNK // max(n, 1))
    ones = np.ones(n)
    for start in range(0, rows.shape[0], step):
        r = rows[start : start + step]
        k = r.shape[0]
        both = np.empty((2 * k, n))  # min(x, 0) rows, then max(x, 0) rows
        np.minimum(r, 0.0, out=both[:k])
        np.maximum(r, 0.0, out=both[k:])
        sq = np.einsum("ij,ij->i", both, both)
        sums = both @ ones
        o = out[start : start + k]
        o[:, 0] = np.add.reduce(r < 0, axis=1, dtype=np.intp)
        o[:, 1] = np.add.reduce(r > 0, axis=1, dtype=np.intp)
        o[:, 2], o[:, 3] = sq[:k], sq[k:]
        o[:, 4] = sums[k:] - sums[:k]
    return out.reshape(x.shape[:-1] + (6,))


def aggd_from_moments(moments: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(shape, left_std, right_std)`` of the AGGD fits whose :func:`aggd_moments` are given (..., 6)."""
    m = np.asarray(moments, dtype=np.float64)
    n_neg, n_pos, neg_sq, pos_sq, abs_sum, n = (m[..., i] for i in range(6))
    with np.errstate(divide="ignore", invalid="ignore"):
        left = np.sqrt(neg_sq / n_neg)
        right = np.sqrt(pos_sq / n_pos)
        g = left / right
        r_hat = (abs_sum / n) ** 2 / ((neg_sq + pos_sq) / n)
        r_norm = r_hat * (g**3 + 1.0) * (g + 1.0) / (g * g + 1.0) ** 2
    alpha = _GAM[_nearest_on_grid(_R_AGGD, r_norm, increasing=True)]
    alpha = np.where(np.isfinite(r_norm), alpha, np.nan)
    return alpha, left, right


def aggd_fit(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Asymmetric GGD fit (LIVE ``estimateaggdparam``) along the last axis.

    Returns ``(shape, left_std, right_std)``: the shape picked on the 0.2:0.001:10 grid and the root
    mean squares of the strictly negative / strictly positive samples (NaN when there are none).
    """
    return aggd_from_moments(aggd_moments(x))


def aggd_ratio(alpha: np.ndarray) -> np.ndarray:
    """``sqrt(Gamma(1/a) / Gamma(3/a))``: converts a standard deviation to the AGGD scale beta."""
    return np.sqrt(_gamma(1.0 / alpha) / _gamma(3.0 / alpha))


def aggd_mean_factor(alpha: np.ndarray) -> np.ndarray:
    """``Gamma(2/a) / Gamma(1/a)``: the AGGD mean is ``(beta_r - beta_l) * this``."""
    return _gamma(2.0 / alpha) / _gamma(1.0 / alpha)
