"""A synthetic world where content and imaging conditions are explicit, independent causes.

Content S (drawn once per image from the seed): a shape class (the label Y), its size, rotation,
position and polarity, background clutter (distracting strokes and blobs) and an occluding band
over part of the object.  Small, cluttered, occluded objects are harder to classify.

Imaging conditions C (set by the caller, applied to the rendered scene): ``blur``, ``noise``,
``contrast``, ``jpeg``, ``weather`` (bright occluding flakes), which the task model's input sees, and
``tint``, a colour shift that leaves the luma unchanged: the task models read luma only, so by
construction tint changes the image (and any metric that looks at colour) but not what the model
sees. Each has severities 1-5 (0 = clean).

Everything is a pure function of ``(seed, image index, condition)``: pixels never depend on order.
"""
from __future__ import annotations

import io
from dataclasses import asdict, dataclass

import numpy as np
from scipy import ndimage

__all__ = [
    "CLASSES",
    "CORRUPTIONS",
    "RELEVANT_CORRUPTIONS",
    "IRRELEVANT_CORRUPTIONS",
    "SEVERITY_LEVELS",
    "Content",
    "sample_content",
    "render_scene",
    "apply_condition",
    "to_luma",
    "condition_grid",
]

CLASSES: tuple[str, ...] = ("disk", "ring", "square", "triangle", "cross", "bar")
RELEVANT_CORRUPTIONS: tuple[str, ...] = ("blur", "noise", "contrast", "jpeg", "weather")
IRRELEVANT_CORRUPTIONS: tuple[str, ...] = ("tint",)
CORRUPTIONS: tuple[str, ...] = RELEVANT_CORRUPTIONS + IRRELEVANT_CORRUPTIONS

#: Physical amount of each condition at severities 1..5 (index 0 = clean).
SEVERITY_LEVELS: dict[str, tuple[float, ...]] = {
    "blur": (0.0, 0.6, 0.9, 1.3, 1.8, 2.4),  # Gaussian sigma in pixels at 32 px (scaled with size)
    "noise": (0.0, 0.04, 0.08, 0.12, 0.18, 0.26),  # additive Gaussian sigma on [0, 1] luma
    "contrast": (1.0, 0.6, 0.45, 0.33, 0.24, 0.16),  # factor on the deviation from the mean luma
    "jpeg": (100, 40, 22, 12, 7, 3),  # JPEG quality
    "weather": (0.0, 0.04, 0.08, 0.12, 0.17, 0.23),  # fraction of the image under bright flakes
    "tint": (0.0, 0.025, 0.05, 0.075, 0.1, 0.12),  # chroma amplitude on [0, 1] RGB (luma unchanged)
}

_LUMA = np.array([0.299, 0.587, 0.114])
_LO, _HI = 0.13, 0.87  # clean luma range: leaves room for the tint without clipping
_STREAM_CONTENT, _STREAM_CONDITION = 0, 1


@dataclass(frozen=True)
class Content:
    """The content factors of one image (the scene S)."""

    label: int
    size: float  # object radius as a fraction of half the image side, 0.3-0.75
    clutter: float  # 0-1: number and strength of distracting strokes and blobs
    occlusion: float  # 0-0.35: half-width of the band across the object, as a fraction of its radius
    angle: float
    cx: float  # centre offset as a fraction of the free margin, -1..1
    cy: float
    background: float  # background luma
    polarity: float  # +1 bright object, -1 dark object
    strength: float  # object - background luma difference
    seed: int  # for the clutter and texture

    @property
    def class_name(self) -> str:
        return CLASSES[self.label]

    def to_dict(self) -> dict:
        return asdict(self)


def _rng(*key: int) -> np.random.Generator:
    return np.random.default_rng([int(k) & 0xFFFFFFFF for k in key])


def sample_content(seed: int, index: int, stream: int = 0) -> Content:
    """Content factors of image ``index`` of world ``seed``; ``stream`` separates training from test images."""
    r = _rng(seed, stream, _STREAM_CONTENT, index)
    return Content(
        label=int(r.integers(len(CLASSES))),
        size=float(r.uniform(0.3, 0.75)),
        clutter=float(r.uniform(0.0, 1.0)),
        occlusion=float(r.uniform(0.0, 0.35) if r.random() < 0.5 else 0.0),
        angle=float(r.uniform(0, 2 * np.pi)),
        cx=float(r.uniform(-1, 1)),
        cy=float(r.uniform(-1, 1)),
        background=float(r.uniform(0.35, 0.65)),
        polarity=float(r.choice([-1.0, 1.0])),
        strength=float(r.uniform(0.16, 0.24)),
        seed=int(r.integers(2**31 - 1)),
    )


def _shape_mask(label: int, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Inside test of a unit-radius shape in rotated coordinates ``(u, v)``."""
    ax, ay = np.abs(u), np.abs(v)
    rho = np.hypot(u, v)
    name = CLASSES[label]
    if name == "disk":
        return rho <= 1.0
    if name == "ring":
        return (rho <= 1.0) & (rho >= 0.55)
    if name == "square":
        return (ax <= 0.8) & (ay <= 0.8)
    if name == "triangle":  # equilateral, circumradius 1
        inside = v >= -0.5
        for a in (np.pi / 6, 5 * np.pi / 6):  # the two upper edges
            inside &= (u * np.cos(a) + v * np.sin(a)) <= 0.5
        return inside
    if name == "cross":
        return ((ax <= 0.3) & (ay <= 1.0)) | ((ay <= 0.3) & (ax <= 1.0))
    if name == "bar":
        return (ax <= 1.0) & (ay <= 0.3)
    raise ValueError(f"unknown class {label}")


def render_scene(content: Content, size: int = 32) -> np.ndarray:
    """The clean scene as luma in [0, 1], ``(size, size)`` float (2x supersampled edges)."""
    ss = 2
    n = size * ss
    r = _rng(content.seed)
    coords = (np.arange(n) + 0.5) / ss  # pixel centres in output-pixel units
    yy, xx = np.meshgrid(coords, coords, indexing="ij")
    half = size / 2.0
    radius = content.size * half
    margin = max(half - radius - 1.0, 0.0)
    cx, cy = half + content.cx * margin, half + content.cy * margin
    x, y = (xx - cx) / radius, (yy - cy) / radius
    ca, sa = np.cos(content.angle), np.sin(content.angle)
    u, v = ca * x + sa * y, -sa * x + ca * y
    obj = _shape_mask(content.label, u, v).astype(float)

    # background: smooth low-frequency texture
    tex = ndimage.gaussian_filter(r.normal(size=(n, n)), sigma=3.0 * ss * size / 32)
    tex /= max(float(tex.std()), 1e-9)
    img = content.background + 0.02 * tex

    # clutter: strokes and blobs of either polarity, behind the object
    k = int(round(content.clutter * 9))
    clutter = np.zeros((n, n))
    for _ in range(k):
        amp = r.uniform(0.5, 1.0) * content.clutter * content.strength * r.choice([-1.0, 1.0])
        px, py = r.uniform(0, size, 2)
        if r.random() < 0.5:  # stroke
            ang = r.uniform(0, np.pi)
            length = r.uniform(0.2, 0.5) * size
            width = r.uniform(0.6, 1.2) * size / 32
            du, dv = xx - px, yy - py
            along = du * np.cos(ang) + dv * np.sin(ang)
            across = -du * np.sin(ang) + dv * np.cos(ang)
            m = (np.abs(along) <= length / 2) & (np.abs(across) <= width)
        else:  # blob
            rad = r.uniform(0.05, 0.12) * size
            m = np.hypot(xx - px, yy - py) <= rad
        clutter[m] = amp
    img = img + clutter
    img = np.where(obj > 0, content.background + content.polarity * content.strength, img)

    # occluding band across the object, background-coloured
    if content.occlusion > 0:
        ang = r.uniform(0, np.pi)
        off = r.uniform(-0.5, 0.5) * radius
        d = (xx - cx) * np.cos(ang) + (yy - cy) * np.sin(ang) - off
        band = np.abs(d) <= content.occlusion * radius
        img = np.where(band, content.background + 0.02 * tex, img)

    img = img.reshape(size, ss, size, ss).mean(axis=(1, 3))
    return np.clip(img, _LO, _HI)


def _tint_direction(seed: int, index: int) -> np.ndarray:
    """A random hue direction with zero luma, scaled so that its largest channel is 1."""
    r = _rng(seed, _STREAM_CONDITION, index, 999)
    e1 = np.array([1.0, -_LUMA[0] / _LUMA[1], 0.0])
    e2 = np.cross(_LUMA, e1)
    e1 /= np.linalg.norm(e1)
    e2 /= np.linalg.norm(e2)
    a = r.uniform(0, 2 * np.pi)
    d = np.cos(a) * e1 + np.sin(a) * e2
    return d / np.abs(d).max()


def apply_condition(scene: np.ndarray, corruption: str, severity: int, *, seed: int = 0, index: int = 0,
                    stream: int = 0) -> np.ndarray:
    """The scene (luma in [0, 1]) seen under ``corruption`` at ``severity``: an RGB ``uint8`` image.

    Severity 0 (or corruption ``"none"``) is the clean view.  Random parts (noise, flakes, tint hue)
    are seeded by ``(seed, stream, index, corruption, severity)``.
    """
    severity = int(severity)
    if severity == 0 or corruption == "none":
        return _to_uint8(np.repeat(scene[..., None], 3, axis=2))
    if corruption not in SEVERITY_LEVELS:
        raise ValueError(f"unknown corruption {corruption!r}; choose from {', '.join(CORRUPTIONS)}")
    if not 1 <= severity <= 5:
        raise ValueError(f"severity must be 0-5, got {severity}")
    level = SEVERITY_LEVELS[corruption][severity]
    r = _rng(seed, stream, _STREAM_CONDITION, index, CORRUPTIONS.index(corruption), severity)
    size = scene.shape[0]
    img = scene.astype(float)
    if corruption == "blur":
        img = ndimage.gaussian_filter(img, sigma=level * size / 32, mode="reflect")
    elif corruption == "noise":
        img = img + r.normal(0.0, level, img.shape)
    elif corruption == "contrast":
        m = img.mean()
        img = m + (img - m) * level
    elif corruption == "jpeg":
        img = _jpeg(img, int(level))
    elif corruption == "weather":
        img = _weather(img, level, r)
    elif corruption == "tint":
        rgb = img[..., None] + level * _tint_direction(seed, index)[None, None, :]
        return _to_uint8(rgb)
    return _to_uint8(np.repeat(np.clip(img, 0.0, 1.0)[..., None], 3, axis=2))


def _to_uint8(rgb: np.ndarray) -> np.ndarray:
    return np.clip(np.round(rgb * 255.0), 0, 255).astype(np.uint8)


def _jpeg(img: np.ndarray, quality: int) -> np.ndarray:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.clip(np.round(img * 255), 0, 255).astype(np.uint8), mode="L").save(
        buf, format="JPEG", quality=quality)
    buf.seek(0)
    return np.asarray(Image.open(buf).convert("L"), dtype=float) / 255.0


def _weather(img: np.ndarray, cover: float, r: np.random.Generator) -> np.ndarray:
    """Bright soft flakes covering about ``cover`` of the image."""
    size = img.shape[0]
    radius = r.uniform(0.6, 1.6, size=4096) * size / 32
    need = cover * size * size
    k = int(np.searchsorted(np.cumsum(np.pi * radius ** 2), need)) + 1
    rad = radius[:k]
    px, py = r.uniform(0, size, (2, k))
    yy, xx = np.mgrid[0:size, 0:size] + 0.5
    alpha = np.zeros_like(img)
    for x0, y0, rr in zip(px, py, rad):
        d = np.hypot(xx - x0, yy - y0)
        alpha = np.maximum(alpha, np.clip(rr + 0.5 - d, 0.0, 1.0))
    return img * (1 - alpha) + 0.95 * alpha


def to_luma(images: np.ndarray) -> np.ndarray:
    """BT.601 luma in [0, 1] of RGB ``uint8`` images ``(..., H, W, 3)``: what the task models see."""
    return np.asarray(images, dtype=np.float32) @ _LUMA.astype(np.float32) / np.float32(255.0)


def condition_grid(corruptions=None, severities=(1, 2, 3, 4, 5)) -> list[tuple[str, int]]:
    """``[("none", 0)]`` (clean) plus every (corruption, severity) pair, validated, in canonical order."""
    names = list(CORRUPTIONS if corruptions is None else corruptions)
    unknown = [c for c in names if c not in CORRUPTIONS]
    if unknown:
        raise ValueError(f"unknown corruption(s) {unknown}; choose from: {', '.join(CORRUPTIONS)}")
    levels = sorted(set(int(s) for s in severities if int(s) != 0))
    bad = [s for s in levels if not 1 <= s <= 5]
    if bad:
        raise ValueError(f"severities must be integers 1-5 (0 = clean is always included), got {bad}")
    return [("none", 0)] + [(c, s) for c in names for s in levels]
