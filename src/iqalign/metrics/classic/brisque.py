"""BRISQUE (Mittal, Moorthy & Bovik 2012), matched to the authors' original release.

Pipeline (after ``brisquescore.m`` / ``brisque_feature.m`` of the LIVE release):

* grayscale ``double(rgb2gray(uint8 image))`` in [0, 255] -- MATLAB weights, *rounded* to integers
  (rounding matters: unrounded luma moves the score of a smooth image by ~9 points);
* at each of 2 scales: MSCN coefficients with the 7x7, sigma 7/6 Gaussian window, zero padding
  (``filter2(..., 'same')``) and C = 1; a fit of the MSCN coefficients -> (shape, variance); AGGD
  fits of the products of neighbouring MSCN coefficients (horizontal, vertical, both diagonals) ->
  (shape, mean, left variance, right variance) each; shapes are picked on the 0.2:0.001:10 grid;
* 2 x 18 = 36 features, scaled to [-1, 1] with the model's ranges, fed to an RBF epsilon-SVR
  trained on LIVE.

The model. The SVR and its scaling ranges are the data files of the PyPI package ``brisque``
(``models/svm.txt``, a libsvm model, and ``models/normalize.pickle``), found on disk; the package's
Python code is never imported. They are *not* the original ``allmodel``/``allrange``: they are a
retraining on LIVE with the same SVR settings (C = 1024, gamma = 0.05; 770 instead of 774 support
vectors, whose scaled coordinates are close to the original ones) and ``normalize.pickle`` differs from
the original ``allrange`` (e.g. feature 1 spans [0.337, 9.999] instead of [0.338, 10]; the
second-scale ranges differ more). It must be used as a pair with ``svm.txt``.

Because that model was trained on features computed in Python, three feature details follow the
model's training features instead of the MATLAB release, chosen by checking the calibration images:
the second scale is a bicubic halving *without* antialiasing (OpenCV ``INTER_CUBIC``; MATLAB's
antialiased ``imresize`` moves I04/I06 by 10-11 points with this model), neighbour products cover only
in-image pairs (no ``circshift`` wrap-around), and the MSCN shape/variance come from the AGGD fit
(the release fits a symmetric GGD; the difference is < 0.6 points).

Prediction. ``sum_i coef_i * exp(-gamma * |x - sv_i|^2) - rho`` is evaluated with numpy from the
parsed model file (770 x 36), which is exactly libsvm's epsilon-SVR decision value (a test checks it
against ``libsvm.svmutil``); this avoids libsvm's ctypes bindings at run time.

Faithfulness: on the IQA-PyTorch calibration images I03/I04/I06 the scores are within
``CALIBRATION_TOLERANCE`` = 1.25 points of the authors' original release (0.21, 1.11, 0.33);
see docs/classic-iqa.md.
"""
from __future__ import annotations

import pickle
from functools import lru_cache
from importlib.util import find_spec
from pathlib import Path

import cv2
import numpy as np

from ._features import aggd_from_moments, aggd_mean_factor, aggd_moments, aggd_ratio, check_rgb_image, mscn
from ._features import rgb_to_gray_matlab

#: absolute tolerance (BRISQUE points) against the authors' release on the calibration images
CALIBRATION_TOLERANCE = 1.25


def _model_dir() -> Path:
    spec = find_spec("brisque")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("brisque: the PyPI package 'brisque' (data files of the LIVE-trained SVR) is not installed")
    path = Path(list(spec.submodule_search_locations)[0]) / "models"
    if not (path / "svm.txt").is_file() or not (path / "normalize.pickle").is_file():
        raise FileNotFoundError(f"brisque: model files not found in {path}")
    return path


def _parse_libsvm_model(text: str) -> dict:
    header: dict[str, str] = {}
    lines = text.splitlines()
    start = None
    for i, line in enumerate(lines):
        if line.strip() == "SV":
            start = i + 1
            break
        key, _, value = line.partition(" ")
        header[key] = value.strip()
    if start is None or header.get("svm_type") != "epsilon_svr" or header.get("kernel_type") != "rbf":
        raise ValueError("brisque: expected a libsvm epsilon-SVR model with an RBF kernel")
    coefs, rows = [], []
    for line in lines[start:]:
        parts = line.split()
        if not parts:
            continue
        coefs.append(float(parts[0]))
        rows.append({int(k): float(v) for k, v in (p.split(":") for p in parts[1:])})
    n_feat = max(max(r) for r in rows if r)
    sv = np.zeros((len(rows), n_feat))  # libsvm's sparse format: absent index = 0
    for i, r in enumerate(rows):
        for k, v in r.items():
            sv[i, k - 1] = v
    return {
        "gamma": float(header["gamma"]),
        "rho": float(header["rho"].split()[0]),
        "coef": np.asarray(coefs),
        "sv": sv,
    }


@lru_cache(maxsize=1)
def load_model() -> dict:
    """The LIVE-trained SVR and its feature ranges, from the ``brisque`` package data files."""
    path = _model_dir()
    model = _parse_libsvm_model((path / "svm.txt").read_text())
    with open(path / "normalize.pickle", "rb") as fh:
        ranges = pickle.load(fh)  # a plain dict of two lists of floats
    model["min"] = np.asarray(ranges["min_"], dtype=np.float64)
    model["max"] = np.asarray(ranges["max_"], dtype=np.float64)
    model["sv_sq"] = np.einsum("ij,ij->i", model["sv"], model["sv"])
    if model["sv"].shape[1] != 36 or model["min"].size != 36:
        raise ValueError("brisque: model files do not describe 36 features")
    return model


def _pair_moments(structdis: np.ndarray) -> list[np.ndarray]:
    """AGGD moments of the products of each MSCN coefficient with its right, lower, lower-right and
    upper-right neighbour.

    Only pairs inside the image are used (no wrap-around), as in the features the shipped SVR was
    trained on; the original release's ``circshift`` would add one wrapped row/column per product.
    One product buffer is reused for the four products.
    """
    m = structdis
    h, w = m.shape
    buf = np.empty(h * w)
    out = []
    for a, b in (
        (m[:, :-1], m[:, 1:]),  # horizontal, shift [0 1]
        (m[:-1, :], m[1:, :]),  # vertical, shift [1 0]
        (m[:-1, :-1], m[1:, 1:]),  # main diagonal, shift [1 1]
        (m[1:, :-1], m[:-1, 1:]),  # secondary diagonal, shift [-1 1]
    ):
        prod = buf[: a.size].reshape(a.shape)
        np.multiply(a, b, out=prod)
        out.append(aggd_moments(prod.ravel()))
    return out


def downscale_half(img: np.ndarray) -> np.ndarray:
    """Second-scale image: bicubic (a = -0.75) halving *without* antialiasing (OpenCV INTER_CUBIC).

    The original release uses MATLAB ``imresize(I, 0.5)`` (antialiased), but the shipped SVR was
    trained on features of the non-antialiased halving; with the antialiased one the calibration
    scores move by 10-11 points (see docs/classic-iqa.md), with this one they match.
    """
    return cv2.resize(img, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_CUBIC)


def _scale_features(img: np.ndarray) -> np.ndarray:
    """The 36 BRISQUE features of a [0, 255] grayscale float image.

    The ten AGGD fits (MSCN and four neighbour products, at two scales) are reduced to their moments
    first and then fitted together, in one vectorised grid search.
    """
    moments = []
    for scale in range(2):
        structdis, _ = mscn(img, padding="constant")
        moments.append(aggd_moments(structdis.ravel()))
        moments += _pair_moments(structdis)
        if scale == 0:
            img = downscale_half(img)
    alpha, left, right = aggd_from_moments(np.stack(moments).reshape(2, 5, 6))
    lsq, rsq = left * left, right * right
    # MSCN: shape and variance of an AGGD fit (the original fits a symmetric GGD; the SVR's
    # training features used the AGGD shape and the mean of the two side variances).
    mscn_feats = np.stack([alpha[:, 0], (lsq[:, 0] + rsq[:, 0]) / 2.0], axis=1)  # (2, 2)
    a = alpha[:, 1:]
    mean = (right[:, 1:] - left[:, 1:]) * aggd_mean_factor(a) * aggd_ratio(a)
    pair_feats = np.stack([a, mean, lsq[:, 1:], rsq[:, 1:]], axis=2).reshape(2, 16)  # per pair: 4
    return np.concatenate([mscn_feats, pair_feats], axis=1).reshape(36)


def brisque_features(image: np.ndarray) -> np.ndarray:
    """36 BRISQUE features of an RGB ``uint8`` image (or a grayscale one), as the shipped SVR expects them."""
    arr = check_rgb_image(image, name="brisque")
    return _scale_features(rgb_to_gray_matlab(arr))


def predict(features: np.ndarray) -> float:
    """Scale the features to [-1, 1] with the model's ranges and evaluate the RBF epsilon-SVR."""
    m = load_model()
    x = -1.0 + 2.0 * (features - m["min"]) / (m["max"] - m["min"])
    d2 = m["sv_sq"] - 2.0 * (m["sv"] @ x) + x @ x
    return float(m["coef"] @ np.exp(-m["gamma"] * np.maximum(d2, 0.0)) - m["rho"])


def brisque(image: np.ndarray) -> float:
    """BRISQUE score of an RGB ``uint8`` image (H, W, 3), H, W >= 64; lower is better (about 0-100).

    Matches the authors' original release (LIVE-trained SVR) within ``CALIBRATION_TOLERANCE``
    points on the calibration images. A featureless (constant) image has undefined features and
    scores NaN.
    """
    feats = brisque_features(image)
    if not np.all(np.isfinite(feats)):
        return float("nan")
    return predict(feats)
