"""Distribution summaries of a ``score`` run: quantiles, histograms, percentile ranks, worst images.

Everything here is a pure function of the scores table (``scores.parquet``: ``path, image_id, label``,
one column per metric, ``error``) and the metrics' specs (their direction, ``higher_is_better``).

Conventions (docs/audit.md explains them for users):

* A value takes part in a statistic when it is finite. A row whose image could not be read has
  NaN for every metric, and a metric that is undefined on an image gives NaN for that metric only;
  both are counted (``n_missing``; rows with an error message also in ``n_errors``), never used.
* Quantiles are numpy's default (linear interpolation between order statistics, "type 7"); ``std``
  is the sample standard deviation (``ddof=1``; NaN for fewer than two values).
* Histograms share their bin edges across groups (``numpy.histogram_bin_edges`` of all the metric's
  finite values): ``bins`` equal-width bins from the minimum to the maximum; every bin is
  ``[left, right)`` except the last, which is ``[left, right]``.
* Percentile ranks are oriented so that a low percentile means low quality: for a metric where
  lower is better the order is reversed. The rank is the mid-rank percentile
  ``100 * (n_below + n_equal / 2) / n`` (``scipy.stats.percentileofscore(kind="mean")``), where
  ``n_equal`` counts the image itself; tied images share one value, one image alone gets 50, and
  reversing the direction maps p to 100 - p.
* Worst images: the ``n`` lowest-quality finite values per metric, ties broken by ``path``.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path, PurePosixPath

import numpy as np
import pandas as pd

__all__ = [
    "BUILTIN_GROUPS",
    "QUANTILES",
    "group_columns",
    "higher_is_better",
    "histograms",
    "metric_columns",
    "percentile_ranks",
    "quantile_table",
    "summary_markdown",
    "worst_images",
    "write_summaries",
]

#: the quantile columns of ``quantile_table`` and their probabilities
QUANTILES = {"q05": 0.05, "q25": 0.25, "median": 0.5, "q75": 0.75, "q95": 0.95}
#: group names that do not come from a manifest column
BUILTIN_GROUPS = ("class", "folder")
NO_GROUP = "(none)"  # rows that belong to no group (files discovery could not use)
EMPTY = "(empty)"  # an empty manifest cell
_ID_COLUMNS = ("path", "image_id", "label", "error", "class_name")


def metric_columns(scores: pd.DataFrame, specs: Mapping | Sequence | None = None) -> list[str]:
    """The metric columns of ``scores``: those named in ``specs`` when given (in the frame's order),
    else every numeric column but ``label``."""
    if specs is not None:
        names = set(_spec_map(specs))
        return [c for c in scores.columns if c in names]
    numeric = pd.api.types.is_numeric_dtype
    return [c for c in scores.columns
            if c not in _ID_COLUMNS and numeric(scores[c]) and not pd.api.types.is_bool_dtype(scores[c])]


def _spec_map(specs) -> dict:
    """``specs`` as {name: spec}; accepts a mapping, or a sequence of spec dicts / MetricSpec objects."""
    if isinstance(specs, Mapping):
        return dict(specs)
    out = {}
    for s in specs:
        name = s["name"] if isinstance(s, Mapping) else s.name
        out[name] = s
    return out


def higher_is_better(specs, metric: str) -> bool:
    """The direction of ``metric`` in ``specs`` (a {name: spec / dict / bool} mapping or a list of specs)."""
    spec = _spec_map(specs).get(metric)
    if spec is None:
        raise KeyError(f"metric '{metric}' has no spec (direction unknown)")
    if isinstance(spec, (bool, np.bool_)):
        return bool(spec)
    if isinstance(spec, Mapping):
        return bool(spec["higher_is_better"])
    return bool(spec.higher_is_better)


def _values(frame: pd.DataFrame, metric: str) -> np.ndarray:
    v = pd.to_numeric(frame[metric], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    return v[np.isfinite(v)]


def _has_error(frame: pd.DataFrame) -> pd.Series:
    if "error" not in frame:
        return pd.Series(False, index=frame.index)
    return frame["error"].fillna("").astype(str).str.strip().astype(bool)


def _groups(scores: pd.DataFrame, groups: Iterable[str] | None) -> Iterable[tuple[str, str, pd.DataFrame]]:
    """("all", "all", everything), then (group, value, rows) for every value of every group column."""
    yield "all", "all", scores
    for g in groups or []:
        if g not in scores.columns:
            raise KeyError(f"group column '{g}' is not in the scores table; its columns are {list(scores.columns)}")
        keys = scores[g].astype("string").fillna(NO_GROUP)
        for value in sorted(keys.unique()):
            yield g, str(value), scores[(keys == value).to_numpy()]


def _stats(values: np.ndarray) -> dict:
    n = len(values)
    if n == 0:
        return {"mean": np.nan, "std": np.nan, "min": np.nan, **{k: np.nan for k in QUANTILES}, "max": np.nan}
    q = np.quantile(values, list(QUANTILES.values()))
    return {"mean": float(values.mean()), "std": float(values.std(ddof=1)) if n > 1 else np.nan,
            "min": float(values.min()), **{k: float(x) for k, x in zip(QUANTILES, q)}, "max": float(values.max())}


def quantile_table(scores: pd.DataFrame, metrics: Sequence[str] | None = None,
                   groups: Sequence[str] | None = None) -> pd.DataFrame:
    """One row per (group, group_value, metric): ``n_rows`` (rows in the group), ``n_errors`` (rows with
    an error message), ``n`` (finite values used), ``n_missing`` (rows without a value: unreadable
    image or metric undefined), ``mean, std, min, q05, q25, median, q75, q95, max``.

    ``groups`` names columns of ``scores`` (see :func:`group_columns`); the overall rows come first
    with ``group = group_value = "all"``; a group's values are in sorted order."""
    metrics = list(metrics) if metrics is not None else metric_columns(scores)
    rows = []
    for group, value, part in _groups(scores, groups):
        n_errors = int(_has_error(part).sum())
        for m in metrics:
            v = _values(part, m)
            rows.append({"group": group, "group_value": value, "metric": m, "n_rows": len(part),
                         "n_errors": n_errors, "n": len(v), "n_missing": len(part) - len(v), **_stats(v)})
    columns = ["group", "group_value", "metric", "n_rows", "n_errors", "n", "n_missing", "mean", "std", "min",
               *QUANTILES, "max"]
    return pd.DataFrame(rows, columns=columns)


def histograms(scores: pd.DataFrame, metrics: Sequence[str] | None = None, bins: int = 20,
               groups: Sequence[str] | None = None) -> pd.DataFrame:
    """Counts per bin: one row per (group, group_value, metric, bin) with ``left, right, count``.

    A metric's edges come from all its finite values (``bins`` equal-width bins from min to max;
    numpy widens a constant metric to [v - 0.5, v + 0.5]) and are shared by every group, so groups
    can be compared bin by bin. Bins are ``[left, right)``, the last ``[left, right]``. A metric
    with no finite value has no rows."""
    if int(bins) < 1:
        raise ValueError(f"bins must be >= 1, got {bins}")
    metrics = list(metrics) if metrics is not None else metric_columns(scores)
    edges = {}
    for m in metrics:
        v = _values(scores, m)
        if len(v):
            edges[m] = np.histogram_bin_edges(v, bins=int(bins))
    rows = []
    for group, value, part in _groups(scores, groups):
        for m, e in edges.items():
            counts, _ = np.histogram(_values(part, m), bins=e)
            for i, c in enumerate(counts):
                rows.append({"group": group, "group_value": value, "metric": m, "bin": i,
                             "left": float(e[i]), "right": float(e[i + 1]), "count": int(c)})
    return pd.DataFrame(rows, columns=["group", "group_value", "metric", "bin", "left", "right", "count"])


def _oriented(scores: pd.DataFrame, metric: str, specs) -> np.ndarray:
    """The metric as a quality where higher is better (NaN kept)."""
    v = pd.to_numeric(scores[metric], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    v = np.where(np.isfinite(v), v, np.nan)
    return v if higher_is_better(specs, metric) else -v


def percentile_ranks(scores: pd.DataFrame, metrics: Sequence[str] | None, specs) -> pd.DataFrame:
    """Every image's percentile rank within the dataset, per metric, strictly between 0 and 100: low = low quality.

    Returns ``path, image_id`` (those of ``scores`` that exist) and one column per metric, in the
    row order of ``scores``; a missing value stays NaN. Mid-rank percentile:
    ``100 * (n_below + n_equal / 2) / n`` over the ``n`` finite values, in the quality order (the
    metric's order, reversed where lower is better); ties share one value."""
    from scipy.stats import rankdata

    metrics = list(metrics) if metrics is not None else metric_columns(scores, specs)
    out = scores[[c for c in ("path", "image_id") if c in scores.columns]].copy()
    for m in metrics:
        q = _oriented(scores, m, specs)
        ok = np.isfinite(q)
        pct = np.full(len(q), np.nan)
        if ok.any():
            # average 1-based rank r of a tie block of size t at n_below = b: r = b + (t + 1) / 2,
            # so r - 1/2 = b + t / 2
            pct[ok] = 100.0 * (rankdata(q[ok], method="average") - 0.5) / ok.sum()
        out[m] = pct
    return out.reset_index(drop=True)


def worst_images(scores: pd.DataFrame, metrics: Sequence[str] | None, specs, n: int = 10) -> pd.DataFrame:
    """The ``n`` lowest-quality images per metric (fewer when fewer have a value).

    One row per (metric, rank): ``metric, rank`` (1 = worst), ``path, image_id, label`` (as present),
    ``value`` (the metric, in its own units), ``percentile`` (as :func:`percentile_ranks`) and
    ``higher_is_better``. Quality order: ascending where higher is better, descending otherwise;
    equal values are ordered by ``path``."""
    if int(n) < 0:
        raise ValueError(f"the number of worst images must be >= 0, got {n}")
    metrics = list(metrics) if metrics is not None else metric_columns(scores, specs)
    ids = [c for c in ("path", "image_id", "label") if c in scores.columns]
    pct = percentile_ranks(scores, metrics, specs)
    frames = []
    base = scores.reset_index(drop=True)
    for m in metrics:
        q = _oriented(base, m, specs)
        ok = np.flatnonzero(np.isfinite(q))
        paths = base["path"].astype(str).to_numpy() if "path" in base else np.arange(len(base)).astype(str)
        order = ok[np.lexsort((paths[ok], q[ok]))][: int(n)]  # last key is the primary one
        part = base.loc[order, ids].copy()
        part.insert(0, "rank", np.arange(1, len(order) + 1))
        part.insert(0, "metric", m)
        part["value"] = pd.to_numeric(base.loc[order, m], errors="coerce").to_numpy(dtype=np.float64)
        part["percentile"] = pct.loc[order, m].to_numpy()
        part["higher_is_better"] = higher_is_better(specs, m)
        frames.append(part)
    columns = ["metric", "rank", *ids, "value", "percentile", "higher_is_better"]
    if not frames:
        return pd.DataFrame(columns=columns)
    return pd.concat(frames, ignore_index=True)[columns]


# -- groups ----------------------------------------------------------------------------------------

def group_columns(records, group_by: Sequence[str] | None, source: str = "the source") -> pd.DataFrame:
    """The group of every record: ``path, image_id`` plus one column per name in ``group_by``.

    ``class``: the class name of the record's label (``(none)`` for an unlabelled record in a
    partly labelled source); ``folder``: the sub-folder holding the image, relative to the source
    root (``.`` for the root itself); any other name: that column of a CSV manifest (an empty cell
    is ``(empty)``). Raises ``ValueError`` naming ``source`` for a group it cannot provide (``class``
    without labels, a column the manifest lacks, a column on a source that is not a manifest)."""
    group_by = list(dict.fromkeys(g.strip() for g in (group_by or []) if g and g.strip()))
    records = list(records)
    frame = pd.DataFrame({"path": [str(r.path) for r in records], "image_id": [r.image_id for r in records]})
    manifest_columns = list(dict.fromkeys(c for r in records for c in (r.extra or {})))
    for g in group_by:
        if g == "class":
            if records and not any(r.label is not None for r in records):
                raise ValueError(f"--group-by class needs labels, and {source} has none "
                                 "(label a manifest's images, or use an ImageFolder tree)")
            frame[g] = [(r.class_name or f"class {r.label}") if r.label is not None else NO_GROUP for r in records]
        elif g == "folder":
            frame[g] = [str(PurePosixPath(r.image_id).parent) for r in records]
        elif g in manifest_columns:
            frame[g] = [((r.extra or {}).get(g) or EMPTY) for r in records]
        else:
            if manifest_columns:
                raise ValueError(f"--group-by {g}: the manifest {source} has no column '{g}'; group by "
                                 f"{', '.join(BUILTIN_GROUPS + tuple(manifest_columns))}")
            raise ValueError(f"--group-by {g}: {source} is not a CSV manifest with such a column; group by "
                             f"{' or '.join(BUILTIN_GROUPS)}, or by a column of a manifest")
    return frame


def _attach_groups(scores: pd.DataFrame, groups: pd.DataFrame | None) -> tuple[pd.DataFrame, list[str]]:
    if groups is None:
        return scores, []
    names = [c for c in groups.columns if c not in ("path", "image_id")]
    if not names:
        return scores, []
    keys = ["path", "image_id"]
    left = scores.drop(columns=[c for c in names if c in scores.columns])
    left = left.assign(_order=np.arange(len(left)))
    right = groups.drop_duplicates(keys)
    merged = left.merge(right, on=keys, how="left").sort_values("_order").drop(columns="_order")
    return merged.reset_index(drop=True), names


# -- files -----------------------------------------------------------------------------------------

def _fmt(x) -> str:
    if x is None or (isinstance(x, float) and not np.isfinite(x)):
        return "-"
    if isinstance(x, (float, np.floating)):
        return f"{x:.4g}"
    return str(x)


def _md_table(frame: pd.DataFrame) -> str:
    head = "| " + " | ".join(frame.columns) + " |"
    rule = "|" + "|".join("---" for _ in frame.columns) + "|"
    body = ["| " + " | ".join(_fmt(v).replace("|", "\\|") for v in row) + " |"
            for row in frame.itertuples(index=False, name=None)]
    return "\n".join([head, rule, *body])


def summary_markdown(quantiles: pd.DataFrame, worst: pd.DataFrame, specs, n_rows: int, n_errors: int,
                     top: int = 5) -> str:
    """A human-readable overview: overall quantiles, medians per group, the worst images."""
    lines = ["# Score summary", "",
             f"{n_rows} rows, {n_errors} with an error (counted, not used: a statistic uses the finite "
             "values only). Percentile ranks: low = low quality, whatever the metric's direction.", "",
             "## Overall", ""]
    overall = quantiles[quantiles["group"] == "all"].copy()
    overall.insert(1, "better", ["higher" if higher_is_better(specs, m) else "lower" for m in overall["metric"]])
    lines += [_md_table(overall[["metric", "better", "n", "n_missing", "mean", "std", "min", "q05", "median", "q95",
                                 "max"]]), ""]
    for group in [g for g in quantiles["group"].unique() if g != "all"]:
        part = quantiles[quantiles["group"] == group]
        wide = part.pivot(index="group_value", columns="metric", values="median")
        wide = wide[[m for m in dict.fromkeys(part["metric"])]]
        counts = part.drop_duplicates("group_value").set_index("group_value")["n_rows"]
        wide.insert(0, "rows", counts.reindex(wide.index))
        table = wide.reset_index().rename(columns={"group_value": group})
        lines += [f"## Median per {group}", "", _md_table(table), ""]
    if len(worst):
        lines += [f"## Worst images (up to {top} per metric; all of them in worst.csv)", ""]
        shown = worst[worst["rank"] <= top]
        key = "image_id" if "image_id" in shown else "path"
        lines += [_md_table(shown[["metric", "rank", key, "value", "percentile"]]), ""]
    return "\n".join(lines)


SUMMARY_FILES = ("summary_quantiles.csv", "summary_histograms.csv", "percentiles.parquet", "worst.csv", "summary.md")


def write_summaries(out: str | Path, scores: pd.DataFrame, specs, groups: pd.DataFrame | None = None,
                    bins: int = 20, worst_n: int = 10) -> dict[str, Path]:
    """Write the summary files of a score folder and return their paths by name.

    ``specs``: the metrics' specs (direction); the metrics are the columns of ``scores`` they name.
    ``groups``: :func:`group_columns` of the run's records (``None``: overall only)."""
    out = Path(out)
    metrics = metric_columns(scores, specs)
    frame, names = _attach_groups(scores, groups)
    quantiles = quantile_table(frame, metrics, names)
    hist = histograms(frame, metrics, bins=bins, groups=names)
    pct = percentile_ranks(scores, metrics, specs)
    worst = worst_images(scores, metrics, specs, worst_n)
    paths = {name: out / name for name in SUMMARY_FILES}
    quantiles.to_csv(paths["summary_quantiles.csv"], index=False)
    hist.to_csv(paths["summary_histograms.csv"], index=False)
    pct.to_parquet(paths["percentiles.parquet"], index=False)
    worst.to_csv(paths["worst.csv"], index=False)
    paths["summary.md"].write_text(summary_markdown(quantiles, worst, specs, len(scores),
                                                    int(_has_error(scores).sum())))
    return paths
