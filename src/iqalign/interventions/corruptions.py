"""The 19 ImageNet-C corruptions (Hendrycks & Dietterich, 2019) as seeded interventions.

The pixels come from ``imagecorruptions-imaug``, the maintained fork of ``imagecorruptions``
(the original fails on numpy 2). Those functions draw from numpy's global RNG, and two of them
(``impulse_noise``, ``glass_blur``) take a ``seed`` argument and otherwise draw fresh entropy.
We derive one seed per (run seed, image, corruption, severity) and feed both, so the same
inputs always give the same pixels, independent of processing order or worker count.
"""
from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np

#: The ImageNet-C corruptions in their canonical order: 15 "common" then 4 "validation" ones.
CORRUPTIONS: tuple[str, ...] = (
    "gaussian_noise", "shot_noise", "impulse_noise", "defocus_blur", "glass_blur", "motion_blur",
    "zoom_blur", "snow", "frost", "fog", "brightness", "contrast", "elastic_transform", "pixelate",
    "jpeg_compression", "speckle_noise", "gaussian_blur", "spatter", "saturate",
)
_TAKES_SEED = {"impulse_noise", "glass_blur"}
_GLOBAL_RNG_LOCK = threading.Lock()  # np.random's global state is shared by threads


@dataclass(frozen=True, order=True)
class Condition:
    """An imaging condition: a corruption at an integer severity (severity 0 = clean)."""

    corruption: str
    severity: int

    @property
    def is_clean(self) -> bool:
        return self.severity == 0

    @property
    def key(self) -> str:
        return "clean" if self.is_clean else f"{self.corruption}@{self.severity}"


CLEAN = Condition("none", 0)


def condition_grid(corruptions: Iterable[str] | None = None, severities: Iterable[int] = (1, 2, 3, 4, 5),
                   include_clean: bool = True) -> list[Condition]:
    """Clean plus every (corruption, severity) pair, validated, in canonical order."""
    names = list(CORRUPTIONS if corruptions is None else corruptions)
    unknown = [c for c in names if c not in CORRUPTIONS]
    if unknown:
        raise ValueError(f"unknown corruption(s) {unknown}; choose from: {', '.join(CORRUPTIONS)}")
    levels = sorted(set(int(s) for s in severities))
    bad = [s for s in levels if not 0 <= s <= 5]
    if bad:
        raise ValueError(f"severities must be integers 0-5 (0 = clean), got {bad}")
    grid = [CLEAN] if include_clean or 0 in levels else []
    grid += [Condition(c, s) for c in names for s in levels if s > 0]
    return grid


def condition_seed(seed: int, image_id: str, condition: Condition) -> int:
    """A 32-bit seed that depends only on the run seed, the image and the condition."""
    text = f"{seed}\x1f{image_id}\x1f{condition.corruption}\x1f{condition.severity}".encode()
    return int.from_bytes(hashlib.blake2b(text, digest_size=4).digest(), "little")


def apply_condition(image: np.ndarray, condition: Condition, *, seed: int = 0, image_id: str = "") -> np.ndarray:
    """Return ``image`` (RGB uint8, H x W x 3) as seen under ``condition``; deterministic."""
    if condition.is_clean:
        return image
    if condition.corruption not in CORRUPTIONS:
        raise ValueError(f"unknown corruption '{condition.corruption}'")
    if not 1 <= condition.severity <= 5:
        raise ValueError(f"severity must be 1-5 for '{condition.corruption}', got {condition.severity}")
    from imagecorruptions import corrupt  # heavy import (numba, cv2): only when corrupting

    s = condition_seed(seed, image_id, condition)
    kwargs = {"seed": s} if condition.corruption in _TAKES_SEED else {}
    with _GLOBAL_RNG_LOCK:
        np.random.seed(s)
        out = corrupt(np.ascontiguousarray(image), severity=condition.severity,
                      corruption_name=condition.corruption, **kwargs)
    if out.shape != image.shape:  # frost/fog crop tiles; keep the view size stable
        raise RuntimeError(f"{condition.key} changed the image shape {image.shape} -> {out.shape}")
    return out


def conditions_from_keys(keys: Sequence[str]) -> list[Condition]:
    """Parse 'clean' / 'corruption@severity' keys (as written in config.json)."""
    out = []
    for k in keys:
        if k == "clean":
            out.append(CLEAN)
        else:
            name, _, sev = k.partition("@")
            out.append(Condition(name, int(sev)))
    return out
