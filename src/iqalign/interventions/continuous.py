"""ImageNet-C corruptions at a *continuous* severity in [0, 5].

``imagecorruptions`` (the ``imagecorruptions-imaug`` fork used by :mod:`.corruptions`) hard-codes one
parameter tuple per integer severity (``c = [...][severity - 1]`` in each corruption function). Here each
corruption's parameters are linearly interpolated between neighbouring table rows, and between an
*identity* row (no corruption) and row 1 for severities below 1; the corruption's own algorithm is then run
with those parameters. Integer severities use the table rows unchanged, the same RNG seeding as
:func:`.corruptions.apply_condition` and the same float pipeline, so they give identical pixels.
Severity 0 returns an unmodified copy. See ``docs/continuous-severity.md`` for the per-corruption table.

Where the library function only accepts an integer severity, its few lines are restated below with the
parameters as arguments (each cites the library function it follows); the library's helpers
(``_motion_blur``, ``clipped_zoom``, ``plasma_fractal``, ``next_power_of_2`` and the numba pixel shuffle
of ``glass_blur``) are called directly. ``disk`` is restated so that fractional radii above 8 stay on an
integer grid.

Seeding: an integer severity ``k`` uses ``condition_seed(seed, image_id, Condition(name, k))`` exactly like
``apply_condition``. A non-integer severity ``s`` hashes the same fields with ``s`` written by ``repr``
(e.g. ``"2.5"``), so its random draws are independent of the neighbouring integer levels' draws.
"""
from __future__ import annotations

import importlib.resources
import math
from io import BytesIO
from typing import Callable, Sequence

import numpy as np

from .corruptions import _GLOBAL_RNG_LOCK, _TAKES_SEED, CORRUPTIONS, Condition, condition_seed

MAX_SEVERITY = 5.0

# --- Parameter tables: identity row (severity 0) + the library's rows for severities 1..5. ---------------
# Rows are copied from imagecorruptions/corruptions.py (imagecorruptions-imaug 1.1.5); the identity rows are
# ours. Entries marked "int" in _INTEGER_FIELDS are rounded to the nearest integer after interpolation.
TABLES: dict[str, tuple[tuple[float, ...], ...]] = {
    # scale of additive N(0, scale) noise on [0, 1] intensities
    "gaussian_noise": ((0.0,), (.08,), (.12,), (0.18,), (0.26,), (0.38,)),
    # 1 / photon count (Poisson rate scale); the library's c = 60, 25, 12, 5, 3; identity c = infinity
    "shot_noise": ((0.0,), (1 / 60,), (1 / 25,), (1 / 12,), (1 / 5,), (1 / 3,)),
    # salt & pepper amount
    "impulse_noise": ((0.0,), (.03,), (.06,), (.09,), (0.17,), (0.27,)),
    # (disk radius, anti-alias sigma)
    "defocus_blur": ((0.0, 0.0), (3, 0.1), (4, 0.5), (6, 0.5), (8, 0.5), (10, 0.5)),
    # (gaussian sigma, max shuffle displacement [int], shuffle iterations [int])
    "glass_blur": ((0.0, 0, 0), (0.7, 1, 2), (0.9, 2, 1), (1, 2, 3), (1.1, 3, 2), (1.5, 4, 2)),
    # (kernel radius [int], kernel sigma)
    "motion_blur": ((0, 0.0), (10, 3), (15, 5), (15, 8), (15, 12), (20, 15)),
    # (stop, step) of np.arange(1, stop, step): the zoom factors averaged
    "zoom_blur": ((1.0, 0.0), (1.11, 0.01), (1.16, 0.01), (1.21, 0.02), (1.26, 0.02), (1.31, 0.03)),
    # (flake loc, flake scale, flake zoom, threshold, blur radius [int], blur sigma, image blend)
    "snow": ((0.0, 0.0, 3, 0.5, 10, 4, 1.0),
             (0.1, 0.3, 3, 0.5, 10, 4, 0.8),
             (0.2, 0.3, 2, 0.5, 12, 4, 0.7),
             (0.55, 0.3, 4, 0.9, 12, 8, 0.7),
             (0.55, 0.3, 4.5, 0.85, 12, 8, 0.65),
             (0.55, 0.3, 2.5, 0.85, 12, 12, 0.55)),
    # (image weight, frost weight)
    "frost": ((1.0, 0.0), (1, 0.4), (0.8, 0.6), (0.7, 0.7), (0.65, 0.7), (0.6, 0.75)),
    # (fog strength, plasma wibble decay)
    "fog": ((0.0, 2.0), (1.5, 2), (2., 2), (2.5, 1.7), (2.5, 1.5), (3., 1.4)),
    # V (HSV) offset
    "brightness": ((0.0,), (.1,), (.2,), (.3,), (.4,), (.5,)),
    # contrast factor around the channel means
    "contrast": ((1.0,), (0.4,), (.3,), (.2,), (.1,), (.05,)),
    # displacement amplitude alpha
    "elastic_transform": ((0.0,), (250 * 0.05,), (250 * 0.065,), (250 * 0.085,), (250 * 0.1,), (250 * 0.12,)),
    # down-scaling factor
    "pixelate": ((1.0,), (0.6,), (0.5,), (0.4,), (0.3,), (0.25,)),
    # JPEG quality [int]; identity row = no compression at all (see _jpeg_compression)
    "jpeg_compression": ((100,), (25,), (18,), (15,), (10,), (7,)),
    # scale of multiplicative N(0, scale) noise
    "speckle_noise": ((0.0,), (.15,), (.2,), (0.35,), (0.45,), (0.6,)),
    # gaussian sigma
    "gaussian_blur": ((0.0,), (1,), (2,), (3,), (4,), (6,)),
    # (loc, scale, sigma, threshold, intensity-or-sigma, mode [int]): mode 0 water, 1 mud (see _spatter)
    "spatter": ((0.65, 0.3, 4, 0.69, 0.0, 0),
                (0.65, 0.3, 4, 0.69, 0.6, 0),
                (0.65, 0.3, 3, 0.68, 0.6, 0),
                (0.65, 0.3, 2, 0.68, 0.5, 0),
                (0.65, 0.3, 1, 0.65, 1.5, 1),
                (0.67, 0.4, 1, 0.65, 1.5, 1)),
    # (saturation factor, saturation offset)
    "saturate": ((1.0, 0.0), (0.3, 0), (0.1, 0), (2, 0), (5, 0.1), (20, 0.2)),
}
_INTEGER_FIELDS: dict[str, tuple[int, ...]] = {
    "glass_blur": (1, 2), "motion_blur": (0,), "snow": (4,), "jpeg_compression": (0,), "spatter": (5,),
}


def _check(corruption: str, severity: float) -> float:
    if corruption not in CORRUPTIONS:
        raise ValueError(f"unknown corruption {corruption!r}; choose from: {', '.join(CORRUPTIONS)}")
    if isinstance(severity, bool) or not isinstance(severity, (int, float, np.integer, np.floating)):
        raise ValueError(f"severity must be a number in [0, 5], got {severity!r}")
    s = float(severity)
    if not 0.0 <= s <= MAX_SEVERITY:  # also rejects NaN
        raise ValueError(f"severity must be in [0, 5] for {corruption!r}, got {severity!r}")
    return s


def interpolated_parameters(corruption: str, severity: float) -> tuple[float, ...]:
    """The corruption's parameter row at ``severity``: the library's row itself at integers, else linear
    interpolation between the bracketing rows (row 0 = identity), integer fields rounded half up."""
    s = _check(corruption, severity)
    table = TABLES[corruption]
    k = int(math.floor(s))
    t = s - k
    if t == 0.0:
        return tuple(table[k])
    lo, hi = table[k], table[k + 1]
    row = [a + (b - a) * t for a, b in zip(lo, hi)]
    for i in _INTEGER_FIELDS.get(corruption, ()):
        row[i] = int(math.floor(row[i] + 0.5))
    return tuple(row)


def continuous_seed(seed: int, image_id: str, corruption: str, severity: float) -> int:
    """The RNG seed: ``apply_condition``'s seed at integer severities, a distinct hash otherwise."""
    s = float(severity)
    key = int(s) if s.is_integer() else s
    return condition_seed(seed, image_id, Condition(corruption, key))  # type: ignore[arg-type]


# --- The corruptions with explicit parameters. Each takes the uint8 array, the parameter row and the
# --- derived seed, and returns what the library function returns (float array or PIL image). -----------

def _gaussian_noise(x, p, seed):  # imagecorruptions.gaussian_noise
    x = np.array(x) / 255.
    return np.clip(x + np.random.normal(size=x.shape, scale=p[0]), 0, 1) * 255


def _shot_noise(x, p, seed):  # imagecorruptions.shot_noise, with c = 1 / p[0]
    x = np.array(x) / 255.
    if p[0] == 0.0:
        return np.clip(x, 0, 1) * 255
    c = 1.0 / p[0]
    return np.clip(np.random.poisson(x * c) / float(c), 0, 1) * 255


def _impulse_noise(x, p, seed):  # imagecorruptions.impulse_noise
    import skimage as sk

    x = sk.util.random_noise(np.array(x) / 255., 's&p', seed, amount=p[0])
    return np.clip(x, 0, 1) * 255


def _speckle_noise(x, p, seed):  # imagecorruptions.speckle_noise
    x = np.array(x) / 255.
    return np.clip(x + x * np.random.normal(size=x.shape, scale=p[0]), 0, 1) * 255


def _gaussian_blur(x, p, seed):  # imagecorruptions.gaussian_blur
    from skimage.filters import gaussian

    x = gaussian(np.array(x) / 255., sigma=p[0], channel_axis=-1)
    return np.clip(x, 0, 1) * 255


def _glass_blur(x, p, seed):  # imagecorruptions.glass_blur
    from imagecorruptions.corruptions import _shuffle_pixels_njit_glass_blur
    from skimage.filters import gaussian

    sigma, delta, iterations = float(p[0]), int(p[1]), int(p[2])
    x = np.uint8(gaussian(np.array(x) / 255., sigma=sigma, channel_axis=-1) * 255)
    if delta > 0 and iterations > 0:  # randint(-0, 0) would fail; no displacement = no shuffle
        x = _shuffle_pixels_njit_glass_blur(x.shape[0], x.shape[1], x, (sigma, delta, iterations), seed)
    return np.clip(gaussian(x / 255., sigma=sigma, channel_axis=-1), 0, 1) * 255


def _disk(radius: float, alias_blur: float) -> np.ndarray:
    """imagecorruptions.disk, on an integer grid for any radius (the library's grid is arange(-r, r+1),
    off-grid for a fractional r > 8; identical for the table's integer radii); alias_blur 0 = no blur."""
    import cv2

    half = 8 if radius <= 8 else int(math.ceil(radius))
    ksize = (3, 3) if radius <= 8 else (5, 5)
    grid = np.arange(-half, half + 1)
    xx, yy = np.meshgrid(grid, grid)
    aliased = np.array((xx ** 2 + yy ** 2) <= radius ** 2, dtype=np.float32)
    aliased /= np.sum(aliased)
    if alias_blur <= 0:  # cv2 would derive a sigma from ksize when sigmaX == 0
        return aliased
    return cv2.GaussianBlur(aliased, ksize=ksize, sigmaX=alias_blur)


def _defocus_blur(x, p, seed):  # imagecorruptions.defocus_blur
    import cv2

    x = np.array(x) / 255.
    kernel = _disk(p[0], p[1])
    channels = np.array([cv2.filter2D(x[:, :, d], -1, kernel) for d in range(3)]).transpose((1, 2, 0))
    return np.clip(channels, 0, 1) * 255


def _motion_blur(x, p, seed):  # imagecorruptions.motion_blur
    from imagecorruptions.corruptions import _motion_blur as library_motion_blur

    x = np.array(x)
    angle = np.random.uniform(-45, 45)
    radius, sigma = int(p[0]), float(p[1])
    if radius == 0:  # a one-tap kernel: the identity
        return np.clip(x.astype(np.float32), 0, 255)
    return np.clip(library_motion_blur(x, radius=radius, sigma=sigma, angle=angle), 0, 255)


def _zoom_blur(x, p, seed):  # imagecorruptions.zoom_blur
    from imagecorruptions.corruptions import clipped_zoom

    x = (np.array(x) / 255.).astype(np.float32)
    if p[0] <= 1.0 or p[1] <= 0.0:
        return np.clip(x, 0, 1) * 255
    factors = np.arange(1, p[0], p[1])
    out = np.zeros_like(x)
    for zoom_factor in factors:
        layer = clipped_zoom(x, zoom_factor)[:x.shape[0], :x.shape[1], :]
        out[:layer.shape[0], :layer.shape[1]] += layer
    x = (x + out) / (len(factors) + 1)
    return np.clip(x, 0, 1) * 255


def _snow(x, p, seed):  # imagecorruptions.snow
    import cv2
    from imagecorruptions.corruptions import _motion_blur as library_motion_blur
    from imagecorruptions.corruptions import clipped_zoom

    x = np.array(x, dtype=np.float32) / 255.
    layer = np.random.normal(size=x.shape[:2], loc=p[0], scale=p[1])
    layer = clipped_zoom(layer[..., np.newaxis], p[2])
    layer[layer < p[3]] = 0
    layer = np.clip(layer.squeeze(), 0, 1)
    layer = library_motion_blur(layer, radius=int(p[4]), sigma=p[5], angle=np.random.uniform(-135, -45))
    layer = np.round(layer * 255).astype(np.uint8) / 255.
    layer = layer[..., np.newaxis][:x.shape[0], :x.shape[1], :]
    gray = cv2.cvtColor(x, cv2.COLOR_RGB2GRAY).reshape(x.shape[0], x.shape[1], 1)
    x = p[6] * x + (1 - p[6]) * np.maximum(x, gray * 1.5 + 0.5)
    if layer.shape[:2] == x.shape[:2]:
        return np.clip(x + layer + np.rot90(layer, k=2), 0, 1) * 255
    # the library's fallback when the zoomed layer came out smaller than the image
    x[:layer.shape[0], :layer.shape[1]] += layer + np.rot90(layer, k=2)
    return np.clip(x, 0, 1) * 255


def _frost(x, p, seed):  # imagecorruptions.frost
    import cv2

    idx = np.random.randint(6)
    name = ['frost1.png', 'frost2.png', 'frost3.png', 'frost4.jpg', 'frost5.jpg', 'frost6.jpg'][idx]
    with importlib.resources.as_file(importlib.resources.files("imagecorruptions") / "frost" / name) as path:
        frost = cv2.imread(str(path))
    fh, fw = frost.shape[:2]
    h, w = np.array(x).shape[:2]
    scale = 1
    if fh < h and fw >= w:
        scale = h / fh
    elif fh >= h and fw < w:
        scale = w / fw
    elif fh < h and fw < w:
        scale = np.maximum(h / fh, w / fw)
    scale *= 1.1
    frost = cv2.resize(frost, dsize=(int(np.ceil(fw * scale)), int(np.ceil(fh * scale))),
                       interpolation=cv2.INTER_CUBIC)
    top, left = np.random.randint(0, frost.shape[0] - h), np.random.randint(0, frost.shape[1] - w)
    frost = frost[top:top + h, left:left + w][..., [2, 1, 0]]
    return np.clip(p[0] * np.array(x) + p[1] * frost, 0, 255)


def _fog(x, p, seed):  # imagecorruptions.fog
    from imagecorruptions.corruptions import next_power_of_2, plasma_fractal

    shape = np.array(x).shape
    map_size = next_power_of_2(int(np.max(shape)))
    x = np.array(x) / 255.
    max_val = x.max()
    x += p[0] * plasma_fractal(mapsize=map_size, wibbledecay=p[1])[:shape[0], :shape[1]][..., np.newaxis]
    return np.clip(x * max_val / (max_val + p[0]), 0, 1) * 255


def _brightness(x, p, seed):  # imagecorruptions.brightness
    import skimage as sk

    x = sk.color.rgb2hsv(np.array(x) / 255.)
    x[:, :, 2] = np.clip(x[:, :, 2] + p[0], 0, 1)
    return np.clip(sk.color.hsv2rgb(x), 0, 1) * 255


def _contrast(x, p, seed):  # imagecorruptions.contrast
    x = np.array(x) / 255.
    means = np.mean(x, axis=(0, 1), keepdims=True)
    return np.clip((x - means) * p[0] + means, 0, 1) * 255


def _saturate(x, p, seed):  # imagecorruptions.saturate
    import skimage as sk

    x = sk.color.rgb2hsv(np.array(x) / 255.)
    x[:, :, 1] = np.clip(x[:, :, 1] * p[0] + p[1], 0, 1)
    return np.clip(sk.color.hsv2rgb(x), 0, 1) * 255


def _elastic_transform(x, p, seed):  # imagecorruptions.elastic_transform
    from scipy.ndimage import map_coordinates
    from skimage.filters import gaussian

    image = np.array(x, dtype=np.float32) / 255.
    shape = image.shape
    sigma = np.array(shape[:2]) * 0.01
    alpha = p[0]
    max_d = shape[0] * 0.005
    dx = (gaussian(np.random.uniform(-max_d, max_d, size=shape[:2]), sigma, mode='reflect', truncate=3)
          * alpha).astype(np.float32)[..., np.newaxis]
    dy = (gaussian(np.random.uniform(-max_d, max_d, size=shape[:2]), sigma, mode='reflect', truncate=3)
          * alpha).astype(np.float32)[..., np.newaxis]
    xx, yy, zz = np.meshgrid(np.arange(shape[1]), np.arange(shape[0]), np.arange(shape[2]))
    indices = np.reshape(yy + dy, (-1, 1)), np.reshape(xx + dx, (-1, 1)), np.reshape(zz, (-1, 1))
    return np.clip(map_coordinates(image, indices, order=1, mode='reflect').reshape(shape), 0, 1) * 255


def _pixelate(x, p, seed):  # imagecorruptions.pixelate
    from PIL import Image

    img = Image.fromarray(x)
    h, w = x.shape[:2]
    img = img.resize((max(1, int(w * p[0])), max(1, int(h * p[0]))), Image.BOX)
    return img.resize((w, h), Image.NEAREST)


def _jpeg_compression(x, p, seed):  # imagecorruptions.jpeg_compression
    from PIL import Image

    if p[0] >= 100:  # the identity row: no compression (JPEG at quality 100 is still lossy)
        return x.copy()
    out = BytesIO()
    Image.fromarray(x).save(out, 'JPEG', quality=int(p[0]))
    return Image.open(out)


def _spatter(x, p, seed):  # imagecorruptions.spatter (mode 0 = water, mode 1 = mud)
    import cv2
    from skimage.filters import gaussian

    rgb = np.array(x)
    x = np.array(x, dtype=np.float32) / 255.
    liquid = np.random.normal(size=x.shape[:2], loc=p[0], scale=p[1])
    liquid = gaussian(liquid, sigma=p[2])
    liquid[liquid < p[3]] = 0
    if p[5] == 0:
        liquid = (liquid * 255).astype(np.uint8)
        dist = 255 - cv2.Canny(liquid, 50, 150)
        dist = cv2.distanceTransform(dist, cv2.DIST_L2, 5)
        _, dist = cv2.threshold(dist, 20, 20, cv2.THRESH_TRUNC)
        dist = cv2.blur(dist, (3, 3)).astype(np.uint8)
        dist = cv2.equalizeHist(dist)
        ker = np.array([[-2, -1, 0], [-1, 1, 1], [0, 1, 2]])
        dist = cv2.filter2D(dist, cv2.CV_8U, ker)
        dist = cv2.blur(dist, (3, 3)).astype(np.float32)
        m = cv2.cvtColor(liquid * dist, cv2.COLOR_GRAY2BGRA)
        m /= np.max(m, axis=(0, 1))
        m *= p[4]
        ones = np.ones_like(m[..., :1])
        color = np.concatenate((175 / 255. * ones, 238 / 255. * ones, 238 / 255. * ones), axis=2)
        color = cv2.cvtColor(color, cv2.COLOR_BGR2BGRA)
        x = cv2.cvtColor(x, cv2.COLOR_BGR2BGRA)
        return cv2.cvtColor(np.clip(x + m * color, 0, 1), cv2.COLOR_BGRA2BGR) * 255
    m = np.where(liquid > p[3], 1, 0)
    m = gaussian(m.astype(np.float32), sigma=p[4])
    m[m < 0.8] = 0
    ones = np.ones_like(rgb[..., :1])
    color = np.concatenate((63 / 255. * ones, 42 / 255. * ones, 20 / 255. * ones), axis=2)
    color *= m[..., np.newaxis]
    x *= (1 - m[..., np.newaxis])
    return np.clip(x + color, 0, 1) * 255


_FUNCS: dict[str, Callable] = {
    "gaussian_noise": _gaussian_noise, "shot_noise": _shot_noise, "impulse_noise": _impulse_noise,
    "defocus_blur": _defocus_blur, "glass_blur": _glass_blur, "motion_blur": _motion_blur,
    "zoom_blur": _zoom_blur, "snow": _snow, "frost": _frost, "fog": _fog, "brightness": _brightness,
    "contrast": _contrast, "elastic_transform": _elastic_transform, "pixelate": _pixelate,
    "jpeg_compression": _jpeg_compression, "speckle_noise": _speckle_noise, "gaussian_blur": _gaussian_blur,
    "spatter": _spatter, "saturate": _saturate,
}
assert set(_FUNCS) == set(CORRUPTIONS) == set(TABLES)


def _run(image: np.ndarray, corruption: str, params: Sequence[float], rng_seed: int) -> np.ndarray:
    with _GLOBAL_RNG_LOCK:
        np.random.seed(rng_seed)
        out = _FUNCS[corruption](image, params, rng_seed if corruption in _TAKES_SEED else None)
    return np.uint8(out)  # as imagecorruptions.corrupt: truncation, not rounding


def apply_continuous(image: np.ndarray, corruption: str, severity: float, *, seed: int = 0,
                     image_id: str = "") -> np.ndarray:
    """``image`` (RGB uint8, H x W x 3) under ``corruption`` at a continuous ``severity`` in [0, 5].

    0 returns a copy of the image; integer severities give the same pixels as
    ``apply_condition(image, Condition(corruption, k), seed=seed, image_id=image_id)``.
    Deterministic in (seed, image_id, corruption, severity).
    """
    s = _check(corruption, severity)
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected an RGB uint8 image (H x W x 3), got {image.dtype} {image.shape}")
    if min(image.shape[:2]) < 32:
        raise ValueError(f"image width and height must be at least 32 pixels, got {image.shape[:2]}")
    if s == 0.0:
        return image.copy()
    image = np.ascontiguousarray(image)
    rng_seed = continuous_seed(seed, image_id, corruption, s)
    if corruption == "spatter" and 3.0 < s < 4.0:
        # water (levels 1-3) and mud (levels 4-5) are different algorithms; the mode cannot be interpolated,
        # so cross-fade the level-3 and level-4 renderings made with this severity's seed.
        t = s - 3.0
        water = _run(image, corruption, TABLES[corruption][3], rng_seed).astype(np.float64)
        mud = _run(image, corruption, TABLES[corruption][4], rng_seed).astype(np.float64)
        out = np.uint8((1 - t) * water + t * mud)
    else:
        out = _run(image, corruption, interpolated_parameters(corruption, s), rng_seed)
    if out.shape != image.shape:
        raise RuntimeError(f"{corruption}@{s:g} changed the image shape {image.shape} -> {out.shape}")
    return out
