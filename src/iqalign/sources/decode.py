"""Decode any supported image file to one well-defined 8-bit RGB array, and take the fixed view.

Conversions (all to ``(H, W, 3) uint8`` RGB, after honouring EXIF orientation):

* ``L`` and ``1`` (bilevel: 0/255) are replicated to three channels; ``CMYK``, ``YCbCr``,
  ``LAB``, ``HSV`` and other colour modes go through PIL's conversion to RGB.
* 16-bit integer images (``I;16``, ``I;16B``, ``I;16L``, ...) are scaled, not clipped:
  ``v -> round(v * 255 / 65535)`` (65535 -> 255, 32768 -> 128).
* 32-bit integer ``I`` images whose values lie in 0..65535 (how PIL often opens 16-bit PNG and
  TIFF files) are scaled the same way; other ``I`` images, which have no agreed white point,
  are stretched linearly from their minimum to their maximum.
* Float ``F`` images with values in [0, 1] are scaled by 255; otherwise they are stretched
  from minimum to maximum. Non-finite values are treated as 0.
* Images with alpha (``RGBA``, ``LA``, ``PA``, palette with a transparent colour, premultiplied
  modes) are composited over white: ``out = (c * a + 255 * (255 - a)) / 255``, rounded.
  Dropping alpha instead would expose whatever colour happens to be stored under fully
  transparent pixels (often black, sometimes junk left by editors), which is arbitrary content
  the quality metrics and models would then score; compositing over white is deterministic
  and matches how such images are displayed on a page.
* Animated images (GIF, WebP, APNG): the first frame.

Every failure (missing or empty file, not an image, truncated data, decompression bomb) raises
:class:`ImageDecodeError`, a ``ValueError`` naming the file and the reason. :func:`load_view`
also refuses images smaller than :data:`MIN_SIDE` (16) pixels on either side: scaling such a
sliver up to the 256-pixel view invents nearly all of its content, so quality scores and
predictions on it would say nothing about the image.
"""
from __future__ import annotations

import math
import os
import warnings
from pathlib import Path
from typing import Callable, TypeVar

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

__all__ = ["DRAFT_FACTOR", "MAX_ASPECT", "MIN_SIDE", "ImageDecodeError", "ImageTooSmallError", "fixed_view", "load_rgb", "load_view", "to_rgb"]

MIN_SIDE = 16
"""Smallest width and height, in pixels, that :func:`load_view` accepts."""

MAX_ASPECT = 4
""":func:`fixed_view` first centre-crops the long side to ``MAX_ASPECT`` times the short side."""

DRAFT_FACTOR = 2
"""With ``jpeg_draft``, libjpeg's reduced decode keeps the short side >= ``DRAFT_FACTOR * resize_to``."""

T = TypeVar("T")

_ALPHA_MODES = frozenset({"RGBA", "LA", "PA", "RGBa", "La"})


class ImageDecodeError(ValueError):
    """An image file could not be decoded; ``path`` and ``reason`` say which and why."""

    def __init__(self, path: str | os.PathLike[str], reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"cannot decode image {self.path}: {reason}")

    def __reduce__(self):  # keep it picklable across worker processes
        return (type(self), (self.path, self.reason))


class ImageTooSmallError(ImageDecodeError):
    """The image decodes, but is smaller than :data:`MIN_SIDE` on a side (the message says so, not "cannot decode")."""

    def __init__(self, path: str | os.PathLike[str], reason: str) -> None:
        ValueError.__init__(self, f"image {path} is too small: {reason}")
        self.path, self.reason = str(path), reason


def _round_div(numerator: np.ndarray, denominator: int) -> np.ndarray:
    """Integer division rounding half up, for non-negative integer arrays."""
    return (numerator + denominator // 2) // denominator


def _scale_16bit(values: np.ndarray) -> np.ndarray:
    v = np.clip(values.astype(np.int64), 0, 65535)
    return _round_div(v * 255, 65535).astype(np.uint8)


def _stretch(values: np.ndarray) -> np.ndarray:
    v = values.astype(np.float64)
    lo, hi = float(v.min()), float(v.max())
    if hi <= lo:
        return np.zeros(v.shape, dtype=np.uint8)
    return np.rint((v - lo) * (255.0 / (hi - lo))).astype(np.uint8)


def _gray_to_rgb(gray: np.ndarray) -> np.ndarray:
    return np.repeat(gray[:, :, None], 3, axis=2)


def _composite_over_white(rgba: np.ndarray) -> np.ndarray:
    rgb = rgba[:, :, :3].astype(np.uint32)
    alpha = rgba[:, :, 3:4].astype(np.uint32)
    out = _round_div(rgb * alpha + 255 * (255 - alpha), 255)
    return out.astype(np.uint8)


def to_rgb(image: Image.Image) -> np.ndarray:
    """Convert a loaded PIL image of any mode to an (H, W, 3) uint8 RGB array (no EXIF handling)."""
    mode = image.mode
    if mode == "RGB":
        return np.asarray(image, dtype=np.uint8).copy()
    if mode in ("L", "1"):
        return _gray_to_rgb(np.asarray(image.convert("L"), dtype=np.uint8))
    if mode.startswith("I;16"):
        return _gray_to_rgb(_scale_16bit(np.asarray(image)))
    if mode == "I" or mode.startswith("I;"):
        values = np.asarray(image.convert("I") if mode != "I" else image)
        if values.size and values.min() >= 0 and values.max() <= 65535:
            return _gray_to_rgb(_scale_16bit(values))
        return _gray_to_rgb(_stretch(values))
    if mode == "F":
        values = np.nan_to_num(np.asarray(image, dtype=np.float64), nan=0.0, posinf=0.0, neginf=0.0)
        if values.size and values.min() >= 0.0 and values.max() <= 1.0:
            return _gray_to_rgb(np.rint(values * 255.0).astype(np.uint8))
        return _gray_to_rgb(_stretch(values))
    if mode == "P":
        if "transparency" in image.info:
            return _composite_over_white(np.asarray(image.convert("RGBA"), dtype=np.uint8))
        return np.asarray(image.convert("RGB"), dtype=np.uint8).copy()
    if mode in _ALPHA_MODES:
        return _composite_over_white(np.asarray(image.convert("RGBA"), dtype=np.uint8))
    return np.asarray(image.convert("RGB"), dtype=np.uint8).copy()


def _open_reason(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    if "truncated" in text.lower():
        return f"truncated or corrupt image data ({text})"
    return text


def _decode(path: str | os.PathLike[str], convert: Callable[[Image.Image], T], draft_to: int | None = None) -> T:
    """Open ``path``, check it, load the first frame, apply EXIF orientation and return ``convert(image)``;
    any failure becomes an :class:`ImageDecodeError`. ``draft_to``: see :func:`load_view`."""
    p = Path(path)
    try:
        size = p.stat().st_size
    except FileNotFoundError:
        raise ImageDecodeError(p, "file not found") from None
    except OSError as exc:
        raise ImageDecodeError(p, f"cannot access file ({exc})") from None
    if not p.is_file():
        raise ImageDecodeError(p, "not a regular file")
    if size == 0:
        raise ImageDecodeError(p, "empty file (zero bytes)")
    try:
        with warnings.catch_warnings():
            # PIL warns above MAX_IMAGE_PIXELS and raises above twice that; we refuse both.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(p) as im:
                limit = Image.MAX_IMAGE_PIXELS
                width, height = im.size
                if limit is not None and width * height > limit:
                    raise ImageDecodeError(
                        p,
                        f"decompression bomb guard: {width}x{height} = {width * height} pixels exceeds "
                        f"PIL's limit of {limit} (PIL.Image.MAX_IMAGE_PIXELS)",
                    )
                if width == 0 or height == 0:
                    raise ImageDecodeError(p, f"image has zero size ({width}x{height})")
                if getattr(im, "n_frames", 1) > 1:
                    im.seek(0)
                if draft_to and im.format == "JPEG" and min(width, height) >= 2 * draft_to:
                    # libjpeg scales by 1/2, 1/4 or 1/8 while decoding; PIL picks the largest
                    # reduction that keeps both sides >= the requested size
                    scale = draft_to / min(width, height)
                    im.draft("RGB", (math.ceil(width * scale), math.ceil(height * scale)))
                im.load()
                try:
                    oriented = ImageOps.exif_transpose(im)
                except Exception as exc:  # a broken EXIF block should not lose the pixels
                    warnings.warn(f"{p}: ignoring unreadable EXIF orientation ({exc})", stacklevel=3)
                    oriented = im
                return convert(oriented)
    except ImageDecodeError:
        raise
    except Image.DecompressionBombError as exc:
        raise ImageDecodeError(p, f"decompression bomb guard: {exc}") from None
    except UnidentifiedImageError:
        raise ImageDecodeError(p, "not an image (format not recognised)") from None
    except (OSError, ValueError, SyntaxError, EOFError, MemoryError, TypeError, IndexError, KeyError) as exc:
        raise ImageDecodeError(p, _open_reason(exc)) from None


def load_rgb(path: str | os.PathLike[str]) -> np.ndarray:
    """Decode ``path`` to an (H, W, 3) uint8 RGB array (EXIF orientation applied; first frame).

    Raises :class:`ImageDecodeError` for any failure.
    """
    return _decode(path, to_rgb)


def _round_half_up(x: float) -> int:
    return int(np.floor(x + 0.5))


def fixed_view(image: np.ndarray, size: int = 224, resize_to: int = 256) -> np.ndarray:
    """Resize so the shorter side is ``resize_to``, then center-crop ``size`` x ``size``.

    This is the ImageNet-C view (Resize(256) + CenterCrop(224)) that corruptions and metrics
    see. Resizing is PIL bicubic, which antialiases when downscaling; the longer side is
    rounded half up. The crop offset is ``round((side - size) / 2)`` as torchvision does.

    An image whose long side exceeds ``MAX_ASPECT`` (4) times its short side is first
    centre-cropped along the long side to ``4 * short`` pixels (offset ``(long - 4 * short) // 2``),
    so a 1 x 4000 strip is never resized to 256 x 1,024,000. The final crop spans at most the
    middle quarter of that pre-crop, so it shows the same part of the image; images within
    the 4:1 ratio are untouched. Any image of at least 1 x 1 pixels works here; the minimum
    size policy (:data:`MIN_SIDE`) lives in :func:`load_view`.
    """
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        desc = f"{image.dtype} array of shape {image.shape}" if isinstance(image, np.ndarray) else type(image).__name__
        raise ValueError(f"fixed_view expects an (H, W, 3) uint8 RGB array, got {desc}")
    if size < 1 or resize_to < size:
        raise ValueError(f"need 1 <= size <= resize_to, got size={size}, resize_to={resize_to}")
    h, w = image.shape[:2]
    if h == 0 or w == 0:
        raise ValueError("fixed_view got an empty image")
    return _view_of_pil(Image.fromarray(image), size, resize_to)


def _view_of_pil(image: Image.Image, size: int, resize_to: int) -> np.ndarray:
    """:func:`fixed_view`'s steps on an RGB PIL image: no round trip through numpy before the crop."""
    w, h = image.size
    if h > MAX_ASPECT * w:
        top = (h - MAX_ASPECT * w) // 2
        image = image.crop((0, top, w, top + MAX_ASPECT * w))
    elif w > MAX_ASPECT * h:
        left = (w - MAX_ASPECT * h) // 2
        image = image.crop((left, 0, left + MAX_ASPECT * h, h))
    w, h = image.size
    if h <= w:
        new_h, new_w = resize_to, max(resize_to, _round_half_up(w * resize_to / h))
    else:
        new_h, new_w = max(resize_to, _round_half_up(h * resize_to / w)), resize_to
    if (new_h, new_w) != (h, w):
        image = image.resize((new_w, new_h), Image.Resampling.BICUBIC)
    top = int(round((new_h - size) / 2.0))
    left = int(round((new_w - size) / 2.0))
    return np.array(image.crop((left, top, left + size, top + size)), dtype=np.uint8)


def load_view(
    path: str | os.PathLike[str], size: int = 224, resize_to: int = 256, *, min_side: int = MIN_SIDE,
    jpeg_draft: bool = False,
) -> np.ndarray:
    """``fixed_view(load_rgb(path), size, resize_to)``: the decoded, resized, center-cropped view.

    RGB images go from the decoder to the resize without a detour through numpy (same pixels).
    With ``jpeg_draft``, a JPEG whose short side is at least 4 x ``resize_to`` (1,024 px) is decoded
    at 1/2, 1/4 or 1/8 scale by libjpeg, keeping the short side at least :data:`DRAFT_FACTOR` x
    ``resize_to``, then resized as usual: about 4x faster on 6-megapixel photos, and not the same
    pixels (docs/performance.md measures the effect on scores). Smaller images and other formats
    decode as without it.

    Raises :class:`ImageDecodeError` when the decoded image (after EXIF orientation) is
    narrower or shorter than ``min_side`` pixels (default :data:`MIN_SIDE`, 16).
    """
    if size < 1 or resize_to < size:
        raise ValueError(f"need 1 <= size <= resize_to, got size={size}, resize_to={resize_to}")

    def view(image: Image.Image) -> np.ndarray:
        width, height = image.size
        if min(height, width) < min_side:
            raise ImageTooSmallError(path, f"image is {width}x{height} px; at least {min_side} px per side needed")
        if image.mode == "RGB":
            return _view_of_pil(image, size, resize_to)
        return fixed_view(to_rgb(image), size=size, resize_to=resize_to)

    # decode to at least twice the resized short side, so the bicubic resize still does the last
    # >= 2x reduction and its antialiasing (a 1/8 draft straight to 256 px moved views 3x more)
    return _decode(path, view, draft_to=DRAFT_FACTOR * resize_to if jpeg_draft else None)
