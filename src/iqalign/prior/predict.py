"""Predict a model's expected accuracy on unlabelled images from their quality distribution alone.

expected accuracy = mean over images of prior(Q(image)). The interval is a percentile bootstrap that
resamples the images (the new dataset's sampling) and, when the prior stores photo-bootstrap fits,
pairs each image resample with one of those fits (the calibration's sampling). It does NOT cover the
error of the prior itself under a shift of imaging conditions or content away from the benchmark's:
docs/results/prior_validation.md measures that error.
"""
from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from .fit import FORMAT_VERSION, _orient, evaluate_breakpoints, validate_prior


def expected_performance(prior: dict, values: Sequence[float]) -> np.ndarray:
    """The prior's expected performance for each metric value (NaN stays NaN)."""
    validate_prior(prior)
    values = np.asarray(values, dtype=float)
    oriented = _orient(values, bool(prior["metric_spec"]["higher_is_better"]))
    bp = prior["breakpoints"]
    out = evaluate_breakpoints(np.asarray(bp["x"], float), np.asarray(bp["y"], float), np.nan_to_num(oriented))
    return np.where(np.isnan(values), np.nan, out)


def predict_from_values(prior: dict, values: Sequence[float], *, n_boot: int = 2000, level: float = 0.95,
                        seed: int = 0, use_calibration_bootstrap: bool = True) -> dict:
    """Expected performance of the prior's model on images with these metric values, with an interval."""
    validate_prior(prior)
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    values = np.asarray(values, dtype=float)
    ok = values[~np.isnan(values)]
    n_nan = int(len(values) - len(ok))
    if len(ok) == 0:
        raise ValueError(f"no image has a value of '{prior['metric']}' ({len(values)} images, all NaN or errors)")
    hib = bool(prior["metric_spec"]["higher_is_better"])
    oriented = _orient(ok, hib)
    bp = prior["breakpoints"]
    point = float(evaluate_breakpoints(np.asarray(bp["x"], float), np.asarray(bp["y"], float), oriented).mean())
    fits = ((prior.get("bootstrap") or {}).get("fits") or []) if use_calibration_bootstrap else []
    rng = np.random.default_rng(seed)
    # mapped values under each calibration fit (or the point fit), then image resamples
    maps = [evaluate_breakpoints(np.asarray(f["x"], float), np.asarray(f["y"], float), oriented) for f in fits] \
        or [evaluate_breakpoints(np.asarray(bp["x"], float), np.asarray(bp["y"], float), oriented)]
    maps = np.stack(maps)
    draws = np.empty(n_boot)
    for b in range(n_boot):
        idx = rng.integers(0, len(ok), len(ok))
        draws[b] = maps[b % len(maps), idx].mean()
    alpha = (1 - level) / 2
    lo, hi = (float(v) for v in np.quantile(draws, [alpha, 1 - alpha])) if n_boot > 0 else (float("nan"),) * 2
    lo_bp, hi_bp = np.asarray(bp["x"], float)[[0, -1]]
    below, above = int((oriented < lo_bp).sum()), int((oriented > hi_bp).sum())
    return {
        "model": prior["model"], "target": prior.get("target", "top1"), "metric": prior["metric"],
        "prediction": point, "interval": [lo, hi], "level": level,
        "interval_covers": ("image resampling + calibration-photo resampling" if len(fits)
                            else "image resampling only"),
        "n_boot": n_boot, "n_images": int(len(values)), "n_used": int(len(ok)), "n_missing_metric": n_nan,
        "n_outside_calibration_range": below + above,
        "metric_summary": {"mean": float(ok.mean()), "median": float(np.median(ok)), "min": float(ok.min()),
                           "max": float(ok.max())},
    }


def _provenance(prior: dict) -> dict:
    keys = ("model", "target", "metric", "metric_spec", "references", "calibration", "source", "iqalign_version",
            "created", "format_version")
    out = {k: prior.get(k) for k in keys}
    if out.get("calibration"):
        out["calibration"] = {k: v for k, v in out["calibration"].items() if k != "conditions"} | \
            {"n_conditions": len(prior["calibration"].get("conditions", []))}
    return out


def check_score_folder(folder: Path, prior: dict) -> pd.DataFrame:
    """scores.parquet of a score folder, checked against the prior (metric present, version, references)."""
    scores_path, config_path = folder / "scores.parquet", folder / "config.json"
    if not scores_path.is_file():
        raise FileNotFoundError(f"{scores_path} not found")
    scores = pd.read_parquet(scores_path)
    metric = prior["metric"]
    if metric not in scores.columns:
        raise ValueError(f"{scores_path} has no column '{metric}' (the prior's metric); rescore with "
                         f"`iqalign score ... --metrics {metric}`")
    if config_path.is_file():
        config = json.loads(config_path.read_text())
        specs = {m["name"]: m for m in config.get("metrics", [])}
        spec = specs.get(metric, {})
        want = prior["metric_spec"].get("version")
        if spec.get("version") is not None and want is not None and str(spec["version"]) != str(want):
            raise ValueError(f"{config_path}: metric '{metric}' is version {spec['version']}, the prior was fitted "
                             f"on version {want}")
        if prior["metric_spec"].get("family") == "task":
            refs = list(config.get("references", []))
            if refs != list(prior["references"]):
                raise ValueError(f"{config_path}: '{metric}' was read from references {refs}, the prior from "
                                 f"{prior['references']}; rescore with --references {','.join(prior['references'])}")
    return scores


def score_images(images: str, prior: dict, out: str | Path, *, workers: int = 0, limit: int | None = None,
                 source_kind: str = "auto", engine: str = "onnx", quiet: bool = False) -> pd.DataFrame:
    """Run iqalign's score pipeline on ``images`` with only the prior's metric (and its references)."""
    from ..pipeline import ScoreConfig, run_score

    from ..metrics.registry import get_metric

    metric = prior["metric"]
    spec = get_metric(metric).spec  # KeyError with the known names if unknown here
    want = prior["metric_spec"].get("version")
    if want is not None and str(spec.version) != str(want):
        raise ValueError(f"the prior was fitted on '{metric}' version {want}; this iqalign computes version "
                         f"{spec.version}: refit the prior")
    references = list(prior["references"]) if spec.family == "task" else []
    if spec.family == "task" and not references:
        raise ValueError(f"the prior for task metric '{metric}' records no reference models; refit it")
    if spec.family == "task" and prior["model"] in references:
        raise ValueError(f"the prior's model '{prior['model']}' is one of its metric's references {references}")
    config = ScoreConfig(source=str(images), out=str(out), metrics=[metric], references=references, limit=limit,
                         workers=workers, source_kind=source_kind, engine=engine)
    return run_score(config, quiet=quiet)["scores"]


def predict(images: str | Path, prior: dict, *, out: str | Path | None = None, n_boot: int = 2000,
            level: float = 0.95, seed: int = 0, workers: int = 0, limit: int | None = None,
            source_kind: str = "auto", engine: str = "onnx", quiet: bool = False) -> dict:
    """Expected performance of ``prior``'s model on ``images``: a score folder (with scores.parquet) is
    read as is; anything else is scored first (into ``out``, or a temporary folder removed afterwards)."""
    validate_prior(prior)
    images = Path(images)
    if images.is_dir() and (images / "scores.parquet").is_file():
        scores, scored_in = check_score_folder(images, prior), str(images)
    elif not images.exists():
        raise FileNotFoundError(f"images {images} not found")
    elif out is not None:
        scores, scored_in = score_images(str(images), prior, out, workers=workers, limit=limit,
                                         source_kind=source_kind, engine=engine, quiet=quiet), str(out)
    else:
        with tempfile.TemporaryDirectory(prefix="iqalign-predict-") as tmp:
            scores = score_images(str(images), prior, tmp, workers=workers, limit=limit, source_kind=source_kind,
                                  engine=engine, quiet=quiet)
        scored_in = None
    if prior["metric"] not in scores:
        raise ValueError(f"no column '{prior['metric']}' in the scores of {images}")
    # unreadable: an error and no metric value at all; an image whose one metric is undefined (a flat
    # image has no BRISQUE) is readable and counted in n_missing_metric instead
    errors = scores["error"].fillna("").astype(bool) if "error" in scores else pd.Series(False, index=scores.index)
    metric_cols = [c for c in scores.columns if c not in ("path", "image_id", "label", "error")]
    errors &= scores[metric_cols].isna().all(axis=1)
    values = scores.loc[~errors, prior["metric"]].to_numpy(dtype=float)
    if len(values) == 0:
        raise ValueError(f"no usable image in {images} ({int(errors.sum())} unreadable)")
    result = predict_from_values(prior, values, n_boot=n_boot, level=level, seed=seed)
    result.update({"images": str(images), "scores": scored_in, "n_errors": int(errors.sum()),
                   "n_images": int(len(scores)), "prior": _provenance(prior),
                   "result_format": {"name": "iqalign-performance-prediction", "version": FORMAT_VERSION}})
    return result


def summary_text(result: dict) -> str:
    lo, hi = result["interval"]
    what = {"top1": "top-1 accuracy", "top5": "top-5 accuracy", "p_true": "mean probability of the true class"}
    lines = [f"expected {what.get(result['target'], result['target'])} of {result['model']} on {result['images']}: "
             f"{result['prediction']:.3f}  [{lo:.3f}, {hi:.3f}] ({result['level']:.0%}; covers "
             f"{result['interval_covers']}, not the shift of imaging conditions away from the benchmark's)",
             f"from {result['metric']} on {result['n_used']} images ({result['n_errors']} unreadable, "
             f"{result['n_missing_metric']} without a value; {result['n_outside_calibration_range']} outside the "
             "calibration range, clipped)"]
    prior = result.get("prior") or {}
    cal = prior.get("calibration") or {}
    if cal:
        lines.append(f"prior: fitted on {cal.get('n_rows')} rows ({cal.get('n_photos')} photos x "
                     f"{cal.get('n_conditions')} conditions) of {(prior.get('source') or {}).get('results_dir')}")
    return "\n".join(lines)
