"""Incremental results: one Parquet part per chunk of source images, so a run that stops keeps
what it finished and a rerun of the same command skips it.

A run folder holds ``parts/`` with ``fingerprint.json`` (the settings that decide the rows) and
``part-00000.parquet``...; a part is written to a temporary name and renamed, so a killed run
never leaves a half-written part behind.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd


def changed_keys(old, new, prefix: str = "") -> list[str]:
    """Dotted paths where two JSON-like values differ, descending into dicts present on both sides
    (``graph.nodes.blur.bias``), so a refusal to resume can say what changed."""
    if isinstance(old, dict) and isinstance(new, dict):
        out = []
        for k in sorted(set(old) | set(new), key=str):
            if old.get(k) != new.get(k):
                out += changed_keys(old[k], new[k], f"{prefix}{k}.") if k in old and k in new else [f"{prefix}{k}"]
        return out
    return [prefix.rstrip(".")] if old != new else []


class PartStore:
    def __init__(self, out_dir: Path, fingerprint: dict):
        self.dir = Path(out_dir) / "parts"
        self.dir.mkdir(parents=True, exist_ok=True)
        fp_path = self.dir / "fingerprint.json"
        text = json.dumps(fingerprint, sort_keys=True, indent=1)
        if fp_path.exists():
            if fp_path.read_text() != text:
                changed = changed_keys(json.loads(fp_path.read_text()), json.loads(text))
                raise RuntimeError(
                    f"{self.dir.parent} holds results of a run with other settings or images (changed: "
                    f"{', '.join(changed)}); use another --out folder, or delete that one to start over")
        else:
            fp_path.write_text(text)

    def path(self, index: int) -> Path:
        return self.dir / f"part-{index:05d}.parquet"

    def done(self, index: int) -> bool:
        return self.path(index).exists()

    def write(self, index: int, frame: pd.DataFrame, problems: list[dict] | None = None) -> None:
        """Write a chunk's rows (and the problems met on the way) atomically: the part file last."""
        if problems:
            tmp = self._problems_path(index).with_suffix(".tmp")
            pd.DataFrame(problems, columns=["path", "reason"]).to_csv(tmp, index=False)
            os.replace(tmp, self._problems_path(index))
        tmp = self.path(index).with_suffix(".tmp")
        frame.to_parquet(tmp, index=False)
        os.replace(tmp, self.path(index))

    def _read(self, index: int) -> pd.DataFrame:
        try:
            return pd.read_parquet(self.path(index))
        except Exception as exc:  # noqa: BLE001 - any unreadable part: say which, and how to recover
            raise RuntimeError(f"{self.path(index)} cannot be read ({type(exc).__name__}: {exc}); delete that file "
                               "and rerun the same command to recompute its chunk") from None

    def _problems_path(self, index: int) -> Path:
        return self.dir / f"problems-{index:05d}.csv"

    def read_problems(self, count: int) -> list[dict]:
        paths = [self._problems_path(i) for i in range(count) if self.done(i) and self._problems_path(i).exists()]
        return [r for p in paths for r in pd.read_csv(p).to_dict("records")]

    def read_all(self, count: int) -> pd.DataFrame:
        frames = [self._read(i) for i in range(count) if self.done(i)]
        frames = [f for f in frames if len(f)]
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
