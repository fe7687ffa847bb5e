"""Image sources: find images and their ImageNet labels, and decode them to one RGB convention."""
from __future__ import annotations

from .decode import MAX_ASPECT, MIN_SIDE, ImageDecodeError, ImageTooSmallError, fixed_view, load_rgb, load_view, to_rgb
from .discover import IMAGE_EXTENSIONS, discover, is_image_file
from .imagenet_classes import NUM_CLASSES, class_name, class_table, class_wnid, resolve_label
from .records import ImageRecord, SourceProblem

__all__ = [
    "IMAGE_EXTENSIONS",
    "MAX_ASPECT",
    "MIN_SIDE",
    "NUM_CLASSES",
    "ImageDecodeError",
    "ImageTooSmallError",
    "ImageRecord",
    "SourceProblem",
    "class_name",
    "class_table",
    "class_wnid",
    "discover",
    "fixed_view",
    "is_image_file",
    "load_rgb",
    "load_view",
    "resolve_label",
    "to_rgb",
]
