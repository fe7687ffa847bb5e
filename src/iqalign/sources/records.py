"""What discovery produces: one record per usable image, one problem per unusable file."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["ImageRecord", "SourceProblem"]


@dataclass(frozen=True)
class ImageRecord:
    """One image of a source.

    ``image_id`` is stable across machines: the path relative to the source root (for a
    manifest, relative to the manifest's folder) with POSIX separators; an absolute manifest
    path outside that folder keeps its absolute POSIX form. ``label`` is the ImageNet-1k class
    index or ``None`` when the source carries no labels; ``class_name`` is that class's first
    synonym. ``extra`` holds a manifest's other columns as strings (empty otherwise); it takes
    no part in equality or hashing.
    """

    image_id: str
    path: Path
    label: int | None = None
    class_name: str | None = None
    extra: Mapping[str, str] = field(default_factory=dict, compare=False, hash=False)


@dataclass
class SourceProblem:
    """A file (or manifest row) that could not be used, and why."""

    path: str
    reason: str
