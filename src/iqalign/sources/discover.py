"""Find the images of a source: a plain folder, an ImageNet-style class folder, a CSV manifest,
or a single image file.

``discover`` returns ``(records, problems)``. Records are deterministic: folder sources are
sorted by ``image_id``; a manifest keeps its row order. Problems are files or rows that could
not be used (unresolvable label, missing file, duplicate path, image outside any class folder)
and never stop discovery; configuration errors (missing source, manifest without a ``path``
column, an explicit class folder whose name is not an ImageNet class, a file source that is
neither an image nor a ``.csv`` manifest) raise.

Files are not opened here; unreadable images are found when they are decoded.
"""
from __future__ import annotations

import os
import re
from pathlib import Path, PurePosixPath
from typing import Literal

import pandas as pd

from .imagenet_classes import class_name, resolve_label
from .records import ImageRecord, SourceProblem

__all__ = ["IMAGE_EXTENSIONS", "discover", "is_image_file"]

IMAGE_EXTENSIONS = frozenset(
    {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".gif", ".ppm", ".pgm"}
)

Kind = Literal["auto", "folder", "imagefolder", "manifest"]
_KINDS = ("auto", "folder", "imagefolder", "manifest")
_LABEL_FALLBACKS = ("wnid", "class_name")
# Auto-detection only trusts WordNet ids: index ("1", "01") or class-name ("cup", "mask",
# "notebook") sub-folders are far too often ordinary folder names.
_WNID_FOLDER = re.compile(r"n[0-9]{8}", re.IGNORECASE)


def is_image_file(name: str | os.PathLike[str]) -> bool:
    """Whether a file name has one of the supported image extensions (case-insensitive)."""
    return Path(name).suffix.lower() in IMAGE_EXTENSIONS


def _hidden(name: str) -> bool:
    return name.startswith(".")


def _walk_images(root: Path) -> list[Path]:
    """All non-hidden image files below ``root`` (hidden files and folders skipped)."""
    found: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not _hidden(d)]
        for name in filenames:
            if not _hidden(name) and is_image_file(name):
                found.append(Path(dirpath) / name)
    return found


def _image_id(path: Path, root: Path) -> str:
    return path.relative_to(root).as_posix()


def _top_level(root: Path) -> tuple[list[Path], list[Path]]:
    """Non-hidden (image files, sub-folders) directly in ``root``."""
    images: list[Path] = []
    folders: list[Path] = []
    for entry in sorted(root.iterdir()):
        if _hidden(entry.name):
            continue
        if entry.is_dir():
            folders.append(entry)
        elif entry.is_file() and is_image_file(entry.name):
            images.append(entry)
    return images, folders


def _has_image(folder: Path) -> bool:
    """Whether any non-hidden image file lies below ``folder`` (stops at the first one)."""
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = [d for d in dirnames if not _hidden(d)]
        if any(not _hidden(name) and is_image_file(name) for name in filenames):
            return True
    return False


def _is_imagenet_wnid(name: str) -> bool:
    """Whether ``name`` is exactly the WordNet id of an ImageNet-1k class (e.g. ``n01440764``)."""
    if not _WNID_FOLDER.fullmatch(name):
        return False
    try:
        resolve_label(name)
    except ValueError:
        return False
    return True


def _looks_like_imagefolder(root: Path) -> bool:
    """No images directly in ``root``, and every sub-folder holding images is an ImageNet-1k
    WordNet id (at least one such sub-folder)."""
    images, folders = _top_level(root)
    if images:
        return False
    found_class = False
    for folder in folders:
        if _is_imagenet_wnid(folder.name):
            found_class = found_class or _has_image(folder)
        elif _has_image(folder):
            return False
    return found_class


def _discover_folder(root: Path) -> tuple[list[ImageRecord], list[SourceProblem]]:
    records = [ImageRecord(image_id=_image_id(p, root), path=p) for p in _walk_images(root)]
    records.sort(key=lambda r: r.image_id)
    return records, []


def _discover_single(given: Path) -> tuple[list[ImageRecord], list[SourceProblem]]:
    """A single image file: one unlabelled record named by the file name as given (a symlink
    keeps its own name, like files inside a folder source)."""
    path = given.absolute().parent.resolve() / given.name
    return [ImageRecord(image_id=given.name, path=path)], []


def _discover_imagefolder(root: Path) -> tuple[list[ImageRecord], list[SourceProblem]]:
    images, folders = _top_level(root)
    problems = [
        SourceProblem(path=_image_id(p, root), reason="image is not inside a class folder")
        for p in images
    ]
    records: list[ImageRecord] = []
    for folder in folders:
        found = _walk_images(folder)
        if not found:  # a folder holding no images names no class (e.g. "meta/", "docs/")
            continue
        try:
            label = resolve_label(folder.name)
        except ValueError as exc:
            raise ValueError(
                f"class folder {folder.name!r} in {root} is not an ImageNet-1k class: {exc}"
            ) from None
        name = class_name(label)
        for p in found:
            records.append(ImageRecord(image_id=_image_id(p, root), path=p, label=label, class_name=name))
    records.sort(key=lambda r: r.image_id)
    problems.sort(key=lambda p: p.path)
    return records, problems


def _pick_label_column(columns: list[str], label_column: str, manifest: Path) -> str | None:
    if label_column in columns:
        return label_column
    if label_column != "label":
        raise ValueError(
            f"manifest {manifest} has no label column {label_column!r}; its columns are {columns}"
        )
    for candidate in _LABEL_FALLBACKS:
        if candidate in columns:
            return candidate
    return None


def _discover_manifest(manifest: Path, label_column: str) -> tuple[list[ImageRecord], list[SourceProblem]]:
    try:
        frame = pd.read_csv(manifest, dtype=str, keep_default_na=False, skipinitialspace=True)
    except pd.errors.EmptyDataError:
        raise ValueError(f"manifest {manifest} is empty (it needs a header with a 'path' column)") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise ValueError(f"manifest {manifest} is not a readable CSV file: {exc}") from None
    frame.columns = [str(c).strip() for c in frame.columns]
    columns = list(frame.columns)
    if "path" not in columns:
        raise ValueError(f"manifest {manifest} has no 'path' column; its columns are {columns}")
    label_col = _pick_label_column(columns, label_column, manifest)
    base = manifest.parent
    extra_cols = [c for c in columns if c != "path"]

    records: list[ImageRecord] = []
    problems: list[SourceProblem] = []
    seen: dict[str, int] = {}
    for row_number, row in enumerate(frame.itertuples(index=False, name=None), start=2):
        values = dict(zip(columns, (str(v).strip() for v in row)))
        raw_path = values["path"]
        where = f"row {row_number} of {manifest.name}"
        if not raw_path:
            problems.append(SourceProblem(path="", reason=f"{where}: empty path"))
            continue
        given = Path(raw_path)
        full = given if given.is_absolute() else base / given
        full = Path(os.path.normpath(full.absolute()))
        try:
            image_id = _image_id(full, base)
        except ValueError:
            image_id = PurePosixPath(full.as_posix()).as_posix()
        if not full.is_file():
            reason = "is a folder, not a file" if full.is_dir() else "file not found"
            problems.append(SourceProblem(path=raw_path, reason=f"{where}: {reason} ({full})"))
            continue
        label: int | None = None
        name: str | None = None
        if label_col is not None and values[label_col]:
            try:
                label = resolve_label(values[label_col])
            except ValueError as exc:
                problems.append(SourceProblem(path=raw_path, reason=f"{where}: bad {label_col!r}: {exc}"))
                continue
            name = class_name(label)
        if image_id in seen:
            problems.append(
                SourceProblem(path=raw_path, reason=f"{where}: duplicate of row {seen[image_id]} ({image_id})")
            )
            continue
        seen[image_id] = row_number
        extra = {c: values[c] for c in extra_cols}
        records.append(ImageRecord(image_id=image_id, path=full, label=label, class_name=name, extra=extra))
    return records, problems


def discover(
    source: str | os.PathLike[str],
    *,
    kind: Kind = "auto",
    label_column: str = "label",
) -> tuple[list[ImageRecord], list[SourceProblem]]:
    """Find the images of ``source`` and their labels.

    * ``folder``: every image below the folder (recursive; extensions case-insensitive; hidden
      files and folders skipped), unlabelled, sorted by ``image_id``.
    * ``imagefolder``: images inside sub-folders named after their class (WordNet id, class
      index or class name); images directly in the root are reported as problems, sub-folders
      holding no images are ignored, and a sub-folder holding images whose name is not an
      ImageNet-1k class raises a ``ValueError`` naming that folder.
    * ``manifest``: a CSV with a ``path`` column (relative to the manifest's folder, or
      absolute) and optionally a label column (``label_column``; when that is the default
      ``"label"`` and absent, ``wnid`` then ``class_name`` are used). Rows with an
      unresolvable label, a missing file or a duplicate path become problems; an empty label
      cell gives an unlabelled record. All columns but ``path`` are kept in ``record.extra``.
    * a single image file (``auto`` or ``folder``): one unlabelled record whose ``image_id``
      is the file name. Other files that are not ``.csv`` manifests raise ``ValueError``.
    * ``auto``: ``manifest`` for a ``.csv`` file; the single-image source for an image file;
      ``imagefolder`` when the folder has no images directly in it and every sub-folder holding
      images is named by an ImageNet-1k WordNet id (``n`` + 8 digits, e.g. ``n01440764``),
      there being at least one; ``folder`` otherwise. Class-index or class-name sub-folders
      (``1/``, ``goldfish/``) are never auto-detected, since ordinary photo folders are often
      named like that (``1/``, ``2/``, ``cup/``, ``monitor/``): pass ``kind="imagefolder"``
      for them.

    An empty source gives ``([], [])``; the caller decides whether that is an error.
    """
    if kind not in _KINDS:
        raise ValueError(f"unknown source kind {kind!r}; choose one of {', '.join(_KINDS)}")
    given = Path(source).expanduser()
    if not given.exists():
        raise FileNotFoundError(f"image source not found: {source}")
    path = given.resolve()

    if kind == "auto":
        if path.is_file():
            if path.suffix.lower() == ".csv":
                kind = "manifest"
            elif is_image_file(given.name):
                return _discover_single(given)
            else:
                raise ValueError(
                    f"image source {source} is a file but neither an image "
                    f"({', '.join(sorted(IMAGE_EXTENSIONS))}) nor a .csv manifest"
                )
        elif _looks_like_imagefolder(path):
            kind = "imagefolder"
        else:
            kind = "folder"

    if kind == "manifest":
        if not path.is_file():
            raise ValueError(f"manifest {source} is not a file")
        return _discover_manifest(path, label_column)
    if kind == "folder" and path.is_file() and is_image_file(given.name):
        return _discover_single(given)
    if not path.is_dir():
        raise ValueError(f"image source {source} is not a folder (kind={kind!r})")
    if kind == "imagefolder":
        return _discover_imagefolder(path)
    return _discover_folder(path)
