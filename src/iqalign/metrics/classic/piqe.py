"""PIQE (Venkatanath et al. 2015), following MATLAB's ``piqe()`` (Image Processing Toolbox).

Steps, as in MATLAB:

* pad the RGB image at the bottom/right by edge replication to a multiple of 16, convert with
  ``rgb2gray`` (rounded ``uint8``) to [0, 255];
* MSCN coefficients with ``imgaussfilt(., 7/6, 'FilterSize', 7, 'Padding', 'replicate')`` and C = 1;
* split into non-overlapping 16x16 blocks; a block is *active* (spatially prominent) when the sample
  variance of its MSCN coefficients exceeds 0.1;
* an active block shows a *noticeable artifact* when any 6-pixel segment (11 per edge) of any of its
  four edges has a sample standard deviation below 0.1;
* an active block is *noisy* when ``sigma > 2 * beta``, where ``sigma`` is the block's MSCN standard
  deviation and ``beta = |sigma - r| / max(sigma, r)`` with ``r`` the ratio of the standard deviations
  of the two centre columns and of the "surround". MATLAB deletes column 8 and then column 9 of the
  already-shortened block, so the surround is every column except the 8th and the 10th (1-based);
  that quirk is reproduced;
* score = ``100 * (sum over active blocks of [artifact] (1 - v) + [noisy] v + 1) / (n_active + 1)``,
  v being the block variance; in [0, 100], lower is better.

All blocks are processed at once (no Python loop over blocks). On the calibration images the scores
equal MATLAB's to the two decimals it reports (tolerance asserted: ``CALIBRATION_TOLERANCE`` = 0.05).
"""
from __future__ import annotations

import numpy as np

from ._features import check_rgb_image, mscn, rgb_to_gray_matlab

BLOCK = 16
ACTIVITY_THRESHOLD = 0.1
IMPAIRED_THRESHOLD = 0.1
SEGMENT = 6
#: absolute tolerance against MATLAB piqe() on the calibration images
CALIBRATION_TOLERANCE = 0.05


def _segment_std(edges: np.ndarray) -> np.ndarray:
    """Sample std (ddof 1) of every run of ``SEGMENT`` consecutive values along the last axis.

    Equal, bit for bit, to ``sliding_window_view(edges, SEGMENT, axis=-1).std(axis=-1, ddof=1)``: numpy
    sums a run this short from left to right, and so do the slice additions here, which run over all
    windows at once instead of reducing thousands of length-6 windows one by one.
    """
    m = edges.shape[-1] - SEGMENT + 1
    windows = [edges[..., k : k + m] for k in range(SEGMENT)]
    total = windows[0].copy()
    for w in windows[1:]:
        total += w
    mean = total / SEGMENT
    dev = windows[0] - mean
    sq = dev * dev
    for w in windows[1:]:
        np.subtract(w, mean, out=dev)
        np.multiply(dev, dev, out=dev)
        sq += dev
    sq /= SEGMENT - 1
    return np.sqrt(sq, out=sq)


def piqe_blocks(image: np.ndarray) -> dict[str, np.ndarray]:
    """Per-block quantities of PIQE: variance, activity, artifact and noise flags (row-major blocks)."""
    arr = check_rgb_image(image, name="piqe")
    h, w = arr.shape[:2]
    pad = ((0, (-h) % BLOCK), (0, (-w) % BLOCK)) + (((0, 0),) if arr.ndim == 3 else ())
    if pad[0][1] or pad[1][1]:
        arr = np.pad(arr, pad, mode="edge")
    gray = rgb_to_gray_matlab(arr)
    imnorm, _ = mscn(gray, padding="replicate")
    rows, cols = gray.shape
    blocks = imnorm.reshape(rows // BLOCK, BLOCK, cols // BLOCK, BLOCK).transpose(0, 2, 1, 3).reshape(-1, BLOCK, BLOCK)
    n = blocks.shape[0]
    var = blocks.reshape(n, -1).var(axis=1, ddof=1)
    active = var > ACTIVITY_THRESHOLD

    # Noticeable-distortion criterion: segments of 6 contiguous pixels along the 4 block edges.
    edges = np.stack([blocks[:, 0, :], blocks[:, :, -1], blocks[:, -1, :], blocks[:, :, 0]], axis=1)
    artifact = (_segment_std(edges) < IMPAIRED_THRESHOLD).any(axis=(1, 2))

    # Noise criterion: centre (columns 8, 9; 1-based) vs surround (all but columns 8 and 10).
    centre = blocks[:, :, 7:9].transpose(0, 2, 1).reshape(n, -1)
    surround = np.concatenate([blocks[:, :, :7], blocks[:, :, 8:9], blocks[:, :, 10:]], axis=2).reshape(n, -1)
    sigma = np.sqrt(var)
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = centre.std(axis=1, ddof=1) / surround.std(axis=1, ddof=1)
        ratio = np.where(np.isnan(ratio), 0.0, ratio)
        beta = np.abs(sigma - ratio) / np.maximum(sigma, ratio)
        noisy = sigma > 2.0 * beta  # NaN (flat block) compares False, as in MATLAB
    return {"variance": var, "active": active, "artifact": artifact & active, "noisy": noisy & active}


def piqe(image: np.ndarray) -> float:
    """PIQE score of an RGB ``uint8`` image (H, W >= 64) in [0, 100]; lower is better.

    Equals MATLAB ``piqe()`` within ``CALIBRATION_TOLERANCE`` on the calibration images. A
    uniform image has no active block and scores 100, as in MATLAB.
    """
    b = piqe_blocks(image)
    v = b["variance"]
    distortion = np.sum(b["artifact"] * (1.0 - v) + b["noisy"] * v)
    return float(100.0 * (distortion + 1.0) / (np.count_nonzero(b["active"]) + 1.0))
