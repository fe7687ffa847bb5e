"""Fit a performance prior: a monotone map from a quality metric Q to the expected performance of a
model M, learned from a benchmark's rows (isotonic regression), saved as a small versioned JSON file.

The prior is ``E[M | Q = q]`` on the benchmark's images and conditions. It is stored as the isotonic
breakpoints (metric oriented so that higher is better, then linear interpolation between breakpoints
and clipping outside them, exactly as scikit-learn's ``IsotonicRegression.predict`` with
``out_of_bounds="clip"``), so using a prior needs only numpy. Optionally the file also holds the
breakpoints of fits on photo-bootstrap resamples of the calibration rows, which let ``predict`` put
the calibration's own sampling uncertainty into its interval.
"""
from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

FORMAT = "iqalign-performance-prior"
FORMAT_VERSION = 1
TARGETS = ("top1", "top5", "p_true")  # per-row performance columns a prior can be fitted on (means in [0, 1])


def _orient(values: np.ndarray, higher_is_better: bool) -> np.ndarray:
    values = np.asarray(values, dtype=float)
    return values if higher_is_better else -values


def isotonic_breakpoints(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Increasing isotonic regression of y on x; its breakpoints (X_thresholds_, y_thresholds_)."""
    from sklearn.isotonic import IsotonicRegression

    iso = IsotonicRegression(increasing=True, out_of_bounds="clip", y_min=0.0, y_max=1.0)
    iso.fit(np.asarray(x, dtype=float), np.asarray(y, dtype=float))
    return np.asarray(iso.X_thresholds_, dtype=float), np.asarray(iso.y_thresholds_, dtype=float)


def evaluate_breakpoints(x_thr: np.ndarray, y_thr: np.ndarray, oriented: np.ndarray) -> np.ndarray:
    """The isotonic fit at ``oriented`` values: linear between breakpoints, clipped outside (as sklearn)."""
    if len(x_thr) == 1:
        return np.full(np.shape(oriented), float(y_thr[0]))
    return np.interp(oriented, x_thr, y_thr)


def _digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return "sha256:" + h.hexdigest()


def _package_version() -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("iqalign")
    except PackageNotFoundError:
        return None


def _round(values: np.ndarray, digits: int = 7) -> list[float]:
    """Breakpoints for JSON: 7 significant digits keep the file small and the map unchanged in practice."""
    return [float(f"{v:.{digits}g}") for v in np.asarray(values, dtype=float)]


def fit_prior_from_rows(rows: pd.DataFrame, *, model: str, metric: str, metric_spec: dict,
                        references: Sequence[str] = (), target: str = "top1", conditions: Sequence[str] | None = None,
                        n_boot: int = 50, seed: int = 0, source: dict | None = None) -> dict:
    """Fit the prior on benchmark ``rows`` (one row per image x condition) and return it as a dict.

    ``metric_spec``: the metric's entry of the benchmark's config.json (needs ``higher_is_better``;
    ``version``, ``family`` and ``needs_labels`` are checked and recorded). ``references``: the
    reference models behind task-guided metrics; a task metric whose references include ``model``
    is refused (its score would be read from the model under test). ``conditions``: keep only these
    condition keys ('clean', 'fog@3', ...). ``n_boot``: fits on photo-bootstrap resamples stored
    with the prior (0: none; the prediction interval then covers only the new images' sampling).
    """
    if target not in TARGETS:
        raise ValueError(f"target must be one of {', '.join(TARGETS)}, got '{target}'")
    if "higher_is_better" not in metric_spec:
        raise ValueError(f"metric spec of '{metric}' lacks 'higher_is_better'")
    family = metric_spec.get("family")
    references = list(references or [])
    if family == "task" and model in references:
        raise ValueError(f"metric '{metric}' is read from the reference model(s) {references}, which include the model "
                         f"'{model}' itself: a prior for {model} must use a metric from other models (the benchmark "
                         "excludes this pair for the same reason)")
    if metric_spec.get("needs_labels"):
        raise ValueError(f"metric '{metric}' needs the true labels, so it cannot be computed on unlabelled images; "
                         "choose a label-free metric (e.g. task_maxprob, task_negentropy, brisque)")
    column = f"{model}.{target}"
    missing = [c for c in ("image_id", "condition", metric, column) if c not in rows.columns]
    if missing:
        models = sorted({c.split(".")[0] for c in rows.columns if "." in c})
        raise ValueError(f"rows lack column(s) {missing} (models in these rows: {', '.join(models) or 'none'})")
    if conditions is not None:
        conditions = list(dict.fromkeys(conditions))
        unknown = sorted(set(conditions) - set(rows["condition"].unique()))
        if unknown:
            raise ValueError(f"condition(s) {unknown} are not in the rows")
        rows = rows[rows["condition"].isin(conditions)]
    used = rows[["image_id", "condition", metric, column]].dropna()
    n_dropped = int(len(rows) - len(used))
    if len(used) < 2 or used["image_id"].nunique() < 2:
        raise ValueError(f"too few usable rows to fit a prior ({len(used)} rows with both {metric} and {column})")
    hib = bool(metric_spec["higher_is_better"])
    x = _orient(used[metric].to_numpy(), hib)
    y = used[column].to_numpy(dtype=float)
    x_thr, y_thr = isotonic_breakpoints(x, y)

    boot = []
    if n_boot > 0:
        rng = np.random.default_rng(seed)
        codes, photos = pd.factorize(used["image_id"])
        order = np.argsort(codes, kind="stable")
        starts = np.searchsorted(codes[order], np.arange(len(photos) + 1))
        for _ in range(n_boot):
            pick = rng.integers(0, len(photos), len(photos))
            idx = np.concatenate([order[starts[p]:starts[p + 1]] for p in pick])
            bx, by = isotonic_breakpoints(x[idx], y[idx])
            boot.append({"x": _round(bx), "y": _round(by)})

    return {
        "format": FORMAT, "format_version": FORMAT_VERSION,
        "model": model, "target": target, "metric": metric,
        "metric_spec": {k: metric_spec.get(k) for k in ("name", "family", "version", "higher_is_better", "needs_labels")},
        "references": references if family == "task" else [],
        "orientation": "x = metric" if hib else "x = -metric (lower is better)",
        "breakpoints": {"x": _round(x_thr), "y": _round(y_thr)},
        "bootstrap": {"unit": "photo", "n_boot": len(boot), "seed": seed, "fits": boot},
        "calibration": {
            "n_rows": int(len(used)), "n_rows_dropped_nan": n_dropped, "n_photos": int(used["image_id"].nunique()),
            "conditions": sorted(used["condition"].unique().tolist()),
            "mean_target": float(y.mean()),
            "metric_range": [float(np.nanmin(used[metric])), float(np.nanmax(used[metric]))],
        },
        "source": source or {},
        "iqalign_version": _package_version(),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def fit_prior(results_dir: str | Path, *, model: str, metric: str, target: str = "top1",
              conditions: Sequence[str] | None = None, photos: Sequence[str] | None = None,
              n_boot: int = 50, seed: int = 0) -> dict:
    """Fit a prior on a finished benchmark folder (rows.parquet + config.json); ``photos`` keeps only
    those image ids (e.g. a fitting split). On a condition-graph benchmark ``conditions`` defaults to
    ``["graph"]``: the graph's observational draws, not the clean views or the do() contrasts."""
    folder = Path(results_dir)
    rows_path, config_path = folder / "rows.parquet", folder / "config.json"
    for p in (rows_path, config_path):
        if not p.is_file():
            raise FileNotFoundError(f"{p} not found: RESULTS_DIR must be a finished `iqalign benchmark` folder")
    try:
        config = json.loads(config_path.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{config_path} is not valid JSON: {exc}") from None
    if config.get("command") != "benchmark":
        raise ValueError(f"{config_path} is not from `iqalign benchmark` (command: {config.get('command')!r}); "
                         "a prior needs labelled rows with model performance")
    specs = {m["name"]: m for m in config.get("metrics", [])}
    if metric not in specs:
        raise ValueError(f"metric '{metric}' is not in {config_path}; measured: {', '.join(specs) or 'none'}")
    targets = config.get("targets", [])
    if model not in targets:
        raise ValueError(f"model '{model}' was not a target of the benchmark in {folder}; targets: {', '.join(targets)}")
    rows = pd.read_parquet(rows_path)
    if conditions is None and "graph" in config:
        conditions = ["graph"]
    if photos is not None:
        keep = set(photos)
        rows = rows[rows["image_id"].isin(keep)]
        if rows.empty:
            raise ValueError(f"none of the {len(keep)} requested photos is in {rows_path}")
    source = {"results_dir": str(folder.resolve()), "rows_digest": _digest(rows_path),
              "benchmark_source": config.get("config", {}).get("source"),
              "benchmark_seed": config.get("config", {}).get("seed"),
              "model_description": config.get("models", {}).get(model),
              "photos_subset": None if photos is None else len(set(photos))}
    return fit_prior_from_rows(rows, model=model, metric=metric, metric_spec=specs[metric],
                               references=config.get("references", []), target=target, conditions=conditions,
                               n_boot=n_boot, seed=seed, source=source)


def save_prior(prior: dict, path: str | Path) -> Path:
    validate_prior(prior, str(path))
    path = Path(path)
    if path.parent and not path.parent.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
    # one top-level key per line, lists kept on one line: small and still readable
    body = ",\n".join(f" {json.dumps(k)}: {json.dumps(v)}" for k, v in prior.items())
    path.write_text("{\n" + body + "\n}\n")
    return path


def validate_prior(prior: dict, where: str = "prior") -> dict:
    """Check format name, version and the fields ``predict`` needs; a clear error naming ``where``."""
    if not isinstance(prior, dict) or prior.get("format") != FORMAT:
        got = prior.get("format") if isinstance(prior, dict) else type(prior).__name__
        raise ValueError(f"{where} is not an iqalign performance prior (format {got!r}, expected {FORMAT!r}); "
                         "make one with `iqalign calibrate`")
    version = prior.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION or version < 1:
        raise ValueError(f"{where} has prior format version {version!r}; this iqalign reads version "
                         f"{FORMAT_VERSION} (upgrade iqalign, or refit with `iqalign calibrate`)")
    for key in ("model", "metric", "metric_spec", "breakpoints", "references"):
        if key not in prior:
            raise ValueError(f"{where} lacks '{key}': the file is damaged; refit with `iqalign calibrate`")
    bp = prior["breakpoints"]
    x, y = np.asarray(bp.get("x", []), float), np.asarray(bp.get("y", []), float)
    if len(x) == 0 or len(x) != len(y) or np.any(np.diff(x) < 0) or np.any(np.diff(y) < 0):
        raise ValueError(f"{where}: breakpoints are empty, of unequal length or not increasing; refit the prior")
    if not isinstance(prior["metric_spec"], dict) or "higher_is_better" not in prior["metric_spec"]:
        raise ValueError(f"{where}: metric_spec lacks 'higher_is_better'")
    if prior["metric_spec"].get("name", prior["metric"]) != prior["metric"]:
        raise ValueError(f"{where}: metric '{prior['metric']}' but metric_spec is for "
                         f"'{prior['metric_spec'].get('name')}': the file is damaged; refit the prior")
    if np.any((y < 0) | (y > 1)):  # top1, top5 and p_true are all in [0, 1]
        raise ValueError(f"{where}: expected performance outside [0, 1] in the breakpoints; refit the prior")
    fits = (prior.get("bootstrap") or {}).get("fits") if isinstance(prior.get("bootstrap"), dict) else None
    if prior.get("bootstrap") is not None and not isinstance(prior.get("bootstrap"), dict) or \
            fits is not None and not (isinstance(fits, list) and all(
                isinstance(f, dict) and len(f.get("x", [])) == len(f.get("y", [])) > 0 for f in fits)):
        raise ValueError(f"{where}: the bootstrap fits are damaged; refit the prior (or delete 'bootstrap')")
    return prior


def load_prior(path: str | Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"prior {path} not found")
    try:
        prior = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path} is not a prior file (not JSON: {exc})") from None
    return validate_prior(prior, str(path))
