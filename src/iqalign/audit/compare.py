"""Compare two scored datasets (e.g. training data vs. production images), metric by metric.

For every metric both score folders hold:

* ``cliffs_delta`` = P(b > a) - P(b < a) over all pairs of one image of A and one of B, in the
  metric's own units (+1: every B value above every A value; 0: no shift). It is rank-based, so
  it does not care about the metric's scale or outliers, and it equals ``2 U / (n_a n_b) - 1``
  where U is the Mann-Whitney statistic of B against A (ties count one half).
* ``quality_delta``: the same, oriented by the metric's direction so that a negative value
  always means "B is lower quality".
* ``smd``: the standardized mean difference (Cohen's d) ``(mean_b - mean_a) / s_pooled`` with
  ``s_pooled = sqrt(((n_a - 1) s_a^2 + (n_b - 1) s_b^2) / (n_a + n_b - 2))``; reported beside the
  rank effect because it is familiar, but it assumes roughly normal, outlier-free values.
* ``p_mannwhitney``: two-sided Mann-Whitney U test (scipy's ``method="auto"``: exact for small
  samples without ties, else the normal approximation with tie and continuity correction);
  ``ks`` / ``p_ks``: two-sample Kolmogorov-Smirnov
  (any difference in shape, not only a shift); ``p_holm``: Holm's step-down adjustment of the
  p-values of ``test`` over the compared metrics.
* ``n_paired``, ``p_wilcoxon``: photos present in both (same ``image_id``, finite in both) and the
  two-sided Wilcoxon signed-rank test of their differences B - A. When A and B hold exactly the same
  photos (e.g. one dataset before and after a change in the pipeline), ``test`` is
  ``wilcoxon (paired)`` and the verdict uses it: photo-to-photo differences are far less noisy than
  the spread between photos, which the unpaired test has to overcome; otherwise ``test`` is
  ``mann-whitney``.
* ``magnitude``: |cliffs_delta| < 0.147 negligible, < 0.33 small, < 0.474 medium, else large
  (Romano et al. 2006); ``direction``: the sign of ``quality_delta`` alone; ``verdict``: "B is
  lower quality" / "B is higher quality" when ``p_holm < alpha`` and the magnitude is not
  negligible, else "no clear difference".

The expected accuracy under a performance prior is an optional hook: a callable that takes the
per-image scores of one dataset (a DataFrame, rows without a value dropped by the prior itself)
and returns ``(estimate, lo, hi)``.
"""
from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from .summaries import _spec_map, higher_is_better

__all__ = ["MAGNITUDES", "cliffs_delta", "compare_folders", "compare_scores", "comparison_json",
           "expected_accuracy_change", "load_prior_hook", "load_score_folder", "smd"]

#: upper bounds of |Cliff's delta| for negligible, small, medium (Romano et al. 2006); above: large
MAGNITUDES = ((0.147, "negligible"), (0.33, "small"), (0.474, "medium"))
ExpectedAccuracy = Callable[[pd.DataFrame], "tuple[float, float, float]"]


def _finite(values) -> np.ndarray:
    v = pd.to_numeric(pd.Series(values), errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    return v[np.isfinite(v)]


def cliffs_delta(a, b) -> float:
    """P(b > a) - P(b < a) over all pairs (NaN when either sample is empty); exact, O((n_a + n_b) log)."""
    a, b = np.sort(_finite(a)), _finite(b)
    if len(a) == 0 or len(b) == 0:
        return math.nan
    below = np.searchsorted(a, b, side="left")  # a values < each b
    above = len(a) - np.searchsorted(a, b, side="right")  # a values > each b
    return float((below.sum() - above.sum()) / (len(a) * len(b)))


def smd(a, b) -> float:
    """Cohen's d of B against A with the pooled sample standard deviation (NaN if undefined)."""
    a, b = _finite(a), _finite(b)
    if len(a) < 2 or len(b) < 2:
        return math.nan
    pooled = ((len(a) - 1) * a.var(ddof=1) + (len(b) - 1) * b.var(ddof=1)) / (len(a) + len(b) - 2)
    diff = b.mean() - a.mean()
    if pooled == 0:
        return 0.0 if diff == 0 else math.copysign(math.inf, diff)
    return float(diff / math.sqrt(pooled))


def _magnitude(delta: float) -> str:
    if not np.isfinite(delta):
        return "-"
    for bound, name in MAGNITUDES:
        if abs(delta) < bound:
            return name
    return "large"


def _holm(p: Sequence[float]) -> np.ndarray:
    p = np.asarray(p, dtype=np.float64)
    out = np.full(len(p), np.nan)
    ok = np.flatnonzero(np.isfinite(p))
    if len(ok) == 0:
        return out
    order = ok[np.argsort(p[ok], kind="stable")]
    m = len(order)
    adjusted = np.maximum.accumulate((m - np.arange(m)) * p[order])
    out[order] = np.minimum(adjusted, 1.0)
    return out


def _tests(a: np.ndarray, b: np.ndarray) -> dict:
    from scipy.stats import ks_2samp, mannwhitneyu

    if len(a) == 0 or len(b) == 0:
        return {"mannwhitney_u": math.nan, "p_mannwhitney": math.nan, "ks": math.nan, "p_ks": math.nan}
    if np.ptp(np.concatenate([a, b])) == 0:  # all values equal: no evidence of any difference
        return {"mannwhitney_u": len(a) * len(b) / 2, "p_mannwhitney": 1.0, "ks": 0.0, "p_ks": 1.0}
    mw = mannwhitneyu(b, a, alternative="two-sided")
    ks = ks_2samp(a, b)
    return {"mannwhitney_u": float(mw.statistic), "p_mannwhitney": float(mw.pvalue), "ks": float(ks.statistic),
            "p_ks": float(ks.pvalue)}


def _paired(a: pd.DataFrame, b: pd.DataFrame, m: str, pair_on: str | None) -> tuple[int, float, bool]:
    """(photos in both with finite values, Wilcoxon p on B - A, whether A and B hold exactly those photos)."""
    from scipy.stats import wilcoxon

    if not pair_on or pair_on not in a.columns or pair_on not in b.columns:
        return 0, math.nan, False
    fa = a[[pair_on, m]].assign(v=pd.to_numeric(a[m], errors="coerce")).dropna(subset=["v"])
    fb = b[[pair_on, m]].assign(v=pd.to_numeric(b[m], errors="coerce")).dropna(subset=["v"])
    fa, fb = fa[np.isfinite(fa["v"])], fb[np.isfinite(fb["v"])]
    if fa[pair_on].duplicated().any() or fb[pair_on].duplicated().any():
        return 0, math.nan, False  # ids do not name photos one to one
    both = fa.merge(fb, on=pair_on, suffixes=("_a", "_b"))
    n = len(both)
    same = n > 0 and n == len(fa) == len(fb)
    diff = (both["v_b"] - both["v_a"]).to_numpy(dtype=np.float64)
    if n < 2:
        return n, math.nan, same
    p = 1.0 if not np.any(diff != 0) else float(wilcoxon(diff, alternative="two-sided").pvalue)
    return n, p, same


def compare_scores(a: pd.DataFrame, b: pd.DataFrame, metrics: Sequence[str] | None, specs,
                   alpha: float = 0.05, pair_on: str | None = "image_id") -> pd.DataFrame:
    """One row per metric: ``metric, higher_is_better, n_a, n_b, median_a, median_b, mean_a, mean_b,
    mean_diff`` (B - A), ``cliffs_delta, quality_delta, magnitude, smd, mannwhitney_u, p_mannwhitney,
    ks, p_ks, n_paired, p_wilcoxon, test, p_holm, direction`` (the sign of ``quality_delta`` alone: "B is
    lower quality", "B is higher quality" or "no shift") and ``verdict`` (the direction when ``p_holm <
    alpha`` and the magnitude is not negligible, else "no clear difference"). Only finite values are used
    (rows with errors drop out). ``pair_on``: the column naming a photo in both (None: never paired)."""
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be between 0 and 1, got {alpha}")
    if metrics is None:
        names = set(_spec_map(specs))
        metrics = [m for m in a.columns if m in names and m in b.columns]
    rows = []
    for m in metrics:
        for name, frame in (("A", a), ("B", b)):
            if m not in frame.columns:
                raise KeyError(f"metric '{m}' is not in the scores of {name}")
        va, vb = _finite(a[m]), _finite(b[m])
        hib = higher_is_better(specs, m)
        delta = cliffs_delta(va, vb)
        rows.append({
            "metric": m, "higher_is_better": hib, "n_a": len(va), "n_b": len(vb),
            "median_a": float(np.median(va)) if len(va) else math.nan,
            "median_b": float(np.median(vb)) if len(vb) else math.nan,
            "mean_a": float(va.mean()) if len(va) else math.nan, "mean_b": float(vb.mean()) if len(vb) else math.nan,
            "mean_diff": float(vb.mean() - va.mean()) if len(va) and len(vb) else math.nan,
            "cliffs_delta": delta, "quality_delta": delta if hib else -delta, "magnitude": _magnitude(delta),
            "smd": smd(va, vb), **_tests(va, vb),
        })
        n_paired, p_w, same = _paired(a, b, m, pair_on)
        rows[-1].update(n_paired=n_paired, p_wilcoxon=p_w,
                        test="wilcoxon (paired)" if same and np.isfinite(p_w) else "mann-whitney")
    columns = ["metric", "higher_is_better", "n_a", "n_b", "median_a", "median_b", "mean_a", "mean_b", "mean_diff",
               "cliffs_delta", "quality_delta", "magnitude", "smd", "mannwhitney_u", "p_mannwhitney", "ks", "p_ks",
               "n_paired", "p_wilcoxon", "test", "p_holm", "direction", "verdict"]
    table = pd.DataFrame(rows, columns=columns)
    p_test = np.where(table["test"] == "wilcoxon (paired)", table["p_wilcoxon"], table["p_mannwhitney"]) \
        if len(table) else np.zeros(0)
    table["p_holm"] = _holm(p_test.astype(np.float64)) if len(table) else []

    def verdict(r) -> str:
        if not (np.isfinite(r.p_holm) and r.p_holm < alpha) or r.magnitude in ("negligible", "-"):
            return "no clear difference"
        return "B is lower quality" if r.quality_delta < 0 else "B is higher quality"

    def direction(q: float) -> str:
        if not np.isfinite(q) or q == 0:
            return "no shift" if q == 0 else "-"
        return "B is lower quality" if q < 0 else "B is higher quality"

    table["direction"] = [direction(q) for q in table["quality_delta"]] if len(table) else []
    table["verdict"] = [verdict(r) for r in table.itertuples(index=False)] if len(table) else []
    return table


def expected_accuracy_change(a: pd.DataFrame, b: pd.DataFrame, expected_accuracy: ExpectedAccuracy) -> dict:
    """``expected_accuracy`` on A and on B, and the change B - A. ``change_lo/hi`` is the
    conservative range ``[lo_b - hi_a, hi_b - lo_a]`` (no assumption about how the two
    intervals' errors relate)."""
    def call(frame):
        res = expected_accuracy(frame)
        if isinstance(res, dict):
            res = (res["estimate"], res.get("lo", math.nan), res.get("hi", math.nan))
        if np.isscalar(res):
            res = (res, math.nan, math.nan)
        est, lo, hi = (float(x) for x in res)
        return est, lo, hi

    ea, la, ha = call(a)
    eb, lb, hb = call(b)
    return {"a": {"estimate": ea, "lo": la, "hi": ha}, "b": {"estimate": eb, "lo": lb, "hi": hb},
            "change": eb - ea, "change_lo": lb - ha, "change_hi": hb - la}


def load_prior_hook(path: str | Path, folders: Sequence[str | Path] = ()) -> tuple[ExpectedAccuracy | None, str]:
    """``(hook, note)`` for a performance prior file written by ``iqalign calibrate``.

    With ``iqalign.prior`` installed, the prior is read by ``iqalign.prior.load_prior`` and the hook
    is ``iqalign.prior.predict_from_values`` on the prior's metric column: ``(prediction, interval lo,
    interval hi)``; each of ``folders`` is first checked against the prior (metric present, same
    version and references) by ``iqalign.prior.predict.check_score_folder``. Without it, ``hook`` is
    None and ``note`` says why (the comparison goes on without expected accuracy).

    A loader returning an object (not a dict) is also accepted when it has
    ``expected_accuracy(values) -> (estimate, lo, hi)``; ``values`` is its ``metric`` column as a
    1-D array when it names one, else the scores DataFrame."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"prior file not found: {path}")
    try:
        import iqalign.prior as prior_module
    except ImportError:
        return None, (f"expected accuracy skipped: reading the prior {path} needs iqalign.prior "
                      "(from `iqalign calibrate`), which this installation lacks")
    loader = getattr(prior_module, "load_prior", None)
    if loader is None:
        return None, f"expected accuracy skipped: iqalign.prior has no load_prior() to read {path}"
    prior = loader(path)
    if isinstance(prior, dict):
        predict = getattr(prior_module, "predict_from_values", None)
        if predict is None:
            return None, f"expected accuracy skipped: iqalign.prior has no predict_from_values() to use {path}"
        try:
            from iqalign.prior.predict import check_score_folder
        except ImportError:
            check_score_folder = None
        if check_score_folder is not None:
            for folder in folders:
                check_score_folder(Path(folder), prior)
        metric = prior["metric"]
        covers = []

        def from_prior(frame: pd.DataFrame):
            if metric not in frame.columns:
                raise ValueError(f"the prior {path} is for metric '{metric}', which the scores lack")
            res = predict(prior, pd.to_numeric(frame[metric], errors="coerce").to_numpy(dtype=np.float64))
            covers.append(res.get("interval_covers", ""))
            return res["prediction"], res["interval"][0], res["interval"][1]

        note = (f"expected {prior.get('target', 'top1')} of {prior.get('model')} from the prior {path} "
                f"(metric {metric}; the interval covers the images' sampling and the calibration's, not the "
                "prior's own error under a shift)")
        return from_prior, note
    fn = getattr(prior, "expected_accuracy", None)
    if fn is None and callable(prior):
        fn = prior
    if fn is None:
        return None, f"expected accuracy skipped: the prior read from {path} offers no expected_accuracy()"
    metric = getattr(prior, "metric", None)
    if isinstance(metric, str):
        def hook(frame: pd.DataFrame):
            if metric not in frame.columns:
                raise ValueError(f"the prior {path} is for metric '{metric}', which the scores lack")
            return fn(_finite(frame[metric]))
        return hook, f"expected accuracy from the prior {path} (metric {metric})"
    return fn, f"expected accuracy from the prior {path}"


def _references(folder: Path) -> list[str]:
    """The reference models a score folder's task metrics were computed from (config.json)."""
    try:
        return list(json.loads((Path(folder) / "config.json").read_text()).get("references") or [])
    except (OSError, ValueError):
        return []


def load_score_folder(folder: str | Path) -> tuple[pd.DataFrame, list[dict]]:
    """``(scores, metric specs)`` of a ``score`` output folder; errors name the folder."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"score folder not found: {folder}")
    scores_path, config_path = folder / "scores.parquet", folder / "config.json"
    if not scores_path.is_file():
        benchmark = (folder / "rows.parquet").is_file()
        hint = " (a benchmark folder: compare needs `iqalign score` output)" if benchmark else ""
        raise FileNotFoundError(f"{folder} is not a score folder: it has no scores.parquet{hint}")
    if not config_path.is_file():
        raise FileNotFoundError(f"{folder} has scores.parquet but no config.json (metric directions unknown)")
    try:
        config = json.loads(config_path.read_text())
        specs = list(config["metrics"])
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise ValueError(f"{config_path} is not a score config (no 'metrics' list): {exc}") from None
    try:
        scores = pd.read_parquet(scores_path)
    except Exception as exc:  # pyarrow raises its own types
        raise ValueError(f"{scores_path} is not a readable Parquet file: {exc}") from None
    return scores, specs


def compare_folders(a: str | Path, b: str | Path, metrics: Sequence[str] | None = None, prior: str | Path | None = None,
                    alpha: float = 0.05, expected_accuracy: ExpectedAccuracy | None = None) -> dict:
    """Compare two score folders: ``{"a", "b", "table", "expected_accuracy", "notes"}``.

    Metrics default to those both folders scored (in A's order). A metric named in ``metrics``
    that one folder lacks raises ``ValueError`` naming that folder."""
    scores_a, specs_a = load_score_folder(a)
    scores_b, specs_b = load_score_folder(b)
    map_a, map_b = _spec_map(specs_a), _spec_map(specs_b)
    notes = []
    if metrics is None:
        metrics = [m for m in map_a if m in map_b and m in scores_a.columns and m in scores_b.columns]
        only = sorted((set(map_a) ^ set(map_b)))
        if only:
            notes.append(f"not in both folders, skipped: {', '.join(only)}")
        if not metrics:
            raise ValueError(f"{a} and {b} have no metric in common")
    else:
        for m in metrics:
            for folder, spec_map, scores in ((a, map_a, scores_a), (b, map_b, scores_b)):
                if m not in spec_map or m not in scores.columns:
                    raise ValueError(f"metric '{m}' is not in the score folder {folder}; it has "
                                     f"{', '.join(c for c in spec_map if c in scores.columns)}")
    refs = [_references(folder) for folder in (a, b)]
    differ = [m for m in metrics if map_a[m].get("family") == "task" and refs[0] != refs[1]]
    if differ:  # a task metric is a function of its reference models: other references, another metric
        notes.append(f"task metrics from different reference models ({', '.join(refs[0]) or 'none'} in {a}, "
                     f"{', '.join(refs[1]) or 'none'} in {b}) are not comparable, skipped: {', '.join(differ)}; "
                     "rescore one folder with the other's --references")
        metrics = [m for m in metrics if m not in differ]
        if not metrics:
            raise ValueError("nothing to compare: every metric in common is a task metric from different references")
    for m in metrics:
        va, vb = map_a[m].get("version"), map_b[m].get("version")
        if va != vb:
            notes.append(f"{m}: version {va} in {a} but {vb} in {b}; values may not be comparable")
        if bool(map_a[m]["higher_is_better"]) != bool(map_b[m]["higher_is_better"]):
            raise ValueError(f"metric '{m}' has opposite directions in {a} and {b}")
    table = compare_scores(scores_a, scores_b, metrics, map_a, alpha=alpha)
    accuracy = None
    if expected_accuracy is None and prior is not None:
        expected_accuracy, note = load_prior_hook(prior, folders=(a, b))
        notes.append(note)
    if expected_accuracy is not None:
        ok = lambda s: s[~s["error"].fillna("").astype(bool)] if "error" in s else s  # noqa: E731
        accuracy = expected_accuracy_change(ok(scores_a), ok(scores_b), expected_accuracy)
    return {"a": str(a), "b": str(b), "table": table, "expected_accuracy": accuracy, "notes": notes}


def comparison_json(result: dict) -> dict:
    """``compare_folders``'s result as plain JSON (NaN as null)."""
    def clean(x):
        if isinstance(x, dict):
            return {k: clean(v) for k, v in x.items()}
        if isinstance(x, list):
            return [clean(v) for v in x]
        if isinstance(x, (np.floating, float)):
            return float(x) if np.isfinite(x) else None
        if isinstance(x, np.integer):
            return int(x)
        if isinstance(x, np.bool_):
            return bool(x)
        return x

    return clean({"a": result["a"], "b": result["b"], "metrics": result["table"].to_dict("records"),
                  "expected_accuracy": result["expected_accuracy"], "notes": result["notes"]})
