"""Causal reading of a benchmark: what the intervention on imaging conditions does to Q and to M.

The benchmark intervenes on the imaging conditions C (corruption x severity) with the content S (the
source photo) held fixed, so three questions have direct answers from its rows (one row per
(image, condition); see ``docs/causal.md``):

* :func:`sensitivity_table` (*interventional sensitivity*): for every condition cell, how much does
  the metric Q move, and how much does the model's performance M move, relative to the clean view of
  the same photo (paired differences, grouped-bootstrap intervals)?  And across cells, does Q fall
  where M falls, by comparable ranks (Spearman of the Q effects against the M effects)?
* :func:`decomposition_table` (*decomposition*): how much of the all-rows association between Q and
  M is between photos (content) and how much within a photo (conditions), and does Q carry
  information about M beyond the condition label (partial association given the cell, with a
  permutation p-value)?
* :func:`population_summary` (*population of models*): per-model numbers summarised by their mean
  and the worst model, so a metric is not judged on one model's quirks.

Everything is a pure function of the rows; :func:`causal_tables` runs all three and
:func:`write_causal_tables` writes ``sensitivity.csv``, ``decomposition.csv`` and
``population.csv``.  Metrics are oriented with ``higher_is_better`` first (higher = better
quality); performance columns are used as they are (``loss``: lower is better).  Bootstrap intervals
resample *source images* (the same draws as :func:`iqalign.analysis.alignment_table` for the same
seed) and are percentile intervals.
"""
from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import sparse, stats

from .alignment import LOWER_IS_BETTER_TARGETS
from .bootstrap import rank_prep, resample_counts, weighted_centered_ranks

__all__ = [
    "SENSITIVITY_COLUMNS",
    "DECOMPOSITION_COLUMNS",
    "DECOMPOSITION_SCOPES",
    "POPULATION_COLUMNS",
    "sensitivity_table",
    "decomposition_table",
    "population_summary",
    "causal_tables",
    "write_causal_tables",
    "causal_markdown",
]

DEFAULT_TARGETS = ("top1", "top5", "p_true", "loss")

SENSITIVITY_COLUMNS = [
    "metric", "model", "target", "kind", "condition", "corruption", "severity", "n_images", "n_cells",
    "q_clean", "q_effect", "q_effect_lo", "q_effect_hi", "q_effect_sd",
    "m_clean", "m_effect", "m_effect_lo", "m_effect_hi", "m_effect_sd",
    "spearman", "spearman_lo", "spearman_hi", "n_worse_cells", "hit_rate", "false_alarm_rate",
]

DECOMPOSITION_SCOPES = ("all", "between", "within", "given_condition", "within_given_condition")

DECOMPOSITION_COLUMNS = ["metric", "model", "target", "scope", "n", "spearman", "spearman_lo",
                         "spearman_hi", "share", "p_value"]

POPULATION_COLUMNS = ["metric", "target", "scope", "n_models", "mean", "worst", "worst_model",
                      "worst_bound", "best", "best_model", "spread"]

# A variance component smaller than this fraction of the total is treated as zero (undefined rho).
_REL_TOL = 1e-9
# Upper bound on float64 elements held per chunk of bootstrap replicates (~200 MB).
_MAX_ELEMS = 25_000_000


# --------------------------------------------------------------------------
# Shared preparation
# --------------------------------------------------------------------------

@dataclass(frozen=True)
class _Design:
    """Rows indexed by (image, condition cell)."""

    codes: np.ndarray  # (n,) image index, images sorted as pd.factorize(sort=True)
    n_images: int
    cells: np.ndarray  # (n,) cell index, cells in first-appearance order
    cell_names: list[str]  # "clean" or "corruption@severity"
    cell_corruption: list[str]
    cell_severity: list[int]
    clean: int | None  # index of the clean cell (severity 0)


def _design(rows: pd.DataFrame, group_col: str, cell_cols: Sequence[str], who: str) -> _Design:
    cell_cols = list(cell_cols)
    if len(cell_cols) != 2:
        raise ValueError(f"{who}: cell_cols must name (corruption column, severity column), got {cell_cols}")
    for c in [group_col, *cell_cols]:
        if c not in rows.columns:
            raise ValueError(f"{who}: missing column {c!r} (available: {sorted(map(str, rows.columns))})")
        if rows[c].isna().any():
            raise ValueError(f"{who}: column {c!r} has missing values")
    codes, images = pd.factorize(rows[group_col], sort=True)
    corr = rows[cell_cols[0]].astype(str).to_numpy()
    try:
        sev = pd.to_numeric(rows[cell_cols[1]], errors="raise").to_numpy()
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{who}: severity column {cell_cols[1]!r} is not numeric: {exc}") from exc
    if not np.all(sev == np.round(sev)):
        raise ValueError(f"{who}: severity column {cell_cols[1]!r} must hold integers")
    sev = sev.astype(np.int64)
    # every severity-0 row is the clean condition, whatever its corruption column says
    names = np.where(sev == 0, "clean", np.char.add(np.char.add(corr.astype(str), "@"), sev.astype(str)))
    cells, uniq = pd.factorize(names, sort=False)
    first = {name: i for i, name in reversed(list(enumerate(names)))}
    cell_corr = ["none" if n == "clean" else corr[first[n]] for n in uniq]
    cell_sev = [0 if n == "clean" else int(sev[first[n]]) for n in uniq]
    k = len(uniq)
    key = codes.astype(np.int64) * max(k, 1) + cells
    if np.unique(key).size != key.size:
        raise ValueError(f"{who}: several rows for one ({group_col}, condition) pair; give one row per "
                         "image and condition")
    clean = list(uniq).index("clean") if "clean" in set(uniq) else None
    return _Design(codes.astype(np.int64), len(images), cells.astype(np.int64), list(map(str, uniq)),
                   cell_corr, cell_sev, clean)


def _numeric(rows: pd.DataFrame, name: str, what: str, who: str) -> np.ndarray:
    if name not in rows.columns:
        raise ValueError(f"{who}: missing {what} column {name!r} (available: {sorted(map(str, rows.columns))})")
    try:
        return pd.to_numeric(rows[name], errors="raise").to_numpy(dtype=float, na_value=np.nan)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{who}: column {name!r} ({what}) is not numeric: {exc}") from exc


def _inputs(rows, metrics, models, higher_is_better, targets, exclude, who):
    metrics, models, targets = list(metrics), list(models), list(targets)
    for m in metrics:
        if m not in higher_is_better:
            raise ValueError(f"{who}: higher_is_better has no entry for metric {m!r}")
    x = {m: _numeric(rows, m, "metric", who) * (1.0 if higher_is_better[m] else -1.0) for m in metrics}
    y = {(mo, t): _numeric(rows, f"{mo}.{t}", "performance", who) for mo in models for t in targets}
    x = {m: np.where(np.isfinite(v), v, np.nan) for m, v in x.items()}
    y = {k: np.where(np.isfinite(v), v, np.nan) for k, v in y.items()}
    skip = {(str(a), str(b)) for a, b in exclude}
    combos = [(m, mo, t) for m in metrics for mo in models for t in targets if (m, mo) not in skip]
    return x, y, combos


def _check(n_boot: int, confidence: float, who: str, n_perm: int = 0) -> None:
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"{who}: confidence must be in (0, 1), got {confidence}")
    if n_boot < 0 or n_perm < 0:
        raise ValueError(f"{who}: n_boot and n_perm must be >= 0")


def _counts(n_images: int, n_boot: int, seed: int) -> np.ndarray:
    # the same image draws as alignment_table for the same seed
    return resample_counts(n_images, n_boot, np.random.default_rng(seed)) if n_boot > 0 else \
        np.zeros((0, n_images), np.int64)


def _interval(reps: np.ndarray, confidence: float) -> tuple[np.ndarray, np.ndarray]:
    """Column-wise percentile interval of ``(B, k)`` replicates, ignoring non-finite ones."""
    k = reps.shape[1] if reps.ndim == 2 else 0
    if reps.shape[0] == 0:
        return np.full(k, np.nan), np.full(k, np.nan)
    a = 1.0 - confidence
    if np.isfinite(reps).all():  # the usual case; much faster than nanquantile
        q = np.quantile(reps, [a / 2.0, 1.0 - a / 2.0], axis=0)
        return q[0], q[1]
    r = np.where(np.isfinite(reps), reps, np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns give NaN
        q = np.nanquantile(r, [a / 2.0, 1.0 - a / 2.0], axis=0)
    return q[0], q[1]


def _row_spearman(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Spearman rho of each row of ``a`` with the same row of ``b`` ``(B, k)``; NaN if undefined."""
    out = np.full(a.shape[0], np.nan)
    ok = np.isfinite(a).all(axis=1) & np.isfinite(b).all(axis=1)
    if a.shape[1] < 3 or not ok.any():
        return out
    ra = stats.rankdata(a[ok], axis=1)
    rb = stats.rankdata(b[ok], axis=1)
    ra -= ra.mean(axis=1, keepdims=True)
    rb -= rb.mean(axis=1, keepdims=True)
    den = np.sqrt((ra * ra).sum(axis=1) * (rb * rb).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.where(den > 0, (ra * rb).sum(axis=1) / den, np.nan)
    out[ok] = np.clip(r, -1.0, 1.0)
    return out


@dataclass(frozen=True)
class PairedEffects:
    """Per-unit paired effects on Q and M with intervals, and how the two agree across units (cells of a
    grid benchmark, nodes of a condition graph); see :func:`paired_effects`."""

    n_images: np.ndarray
    q_base: np.ndarray
    q_effect: np.ndarray
    q_lo: np.ndarray
    q_hi: np.ndarray
    q_effect_sd: np.ndarray
    m_base: np.ndarray
    m_effect: np.ndarray
    m_lo: np.ndarray
    m_hi: np.ndarray
    m_effect_sd: np.ndarray
    n_defined: int
    spearman: float
    spearman_lo: float
    spearman_hi: float
    n_worse: object  # int, or pd.NA without intervals
    hit_rate: float
    false_alarm_rate: float


def paired_effects(dq: np.ndarray, dy: np.ndarray, q_base: np.ndarray, y_base: np.ndarray, valid: np.ndarray,
                   counts: np.ndarray, sd: float, sd_m: float, target: str, confidence: float,
                   min_effect: float) -> PairedEffects:
    """Mean over images of per-image paired differences ``dq``/``dy`` ``(G, U)`` for each of U units, with
    percentile intervals from the image-bootstrap ``counts`` ``(B, G)``; effects in SD units (``sd``,
    ``sd_m``); Spearman agreement of the Q and M effects across units; and the hit / false-alarm rates of
    :func:`sensitivity_table` (M clearly worse: interval wholly on the worse side of 0 and at least
    ``min_effect`` SD; Q clearly falls likewise). Entries where ``valid`` is False are ignored."""
    vf = valid.astype(float)
    dq, dy = np.where(valid, dq, 0.0), np.where(valid, dy, 0.0)
    qc, yc = np.where(valid, q_base, 0.0), np.where(valid, y_base, 0.0)
    nimg = valid.sum(axis=0)
    units = valid.shape[1]
    with np.errstate(invalid="ignore", divide="ignore"):
        q_eff, y_eff = dq.sum(0) / nimg, dy.sum(0) / nimg
        q_cl, y_cl = qc.sum(0) / nimg, yc.sum(0) / nimg
        if counts.shape[0]:
            cv = counts @ vf
            q_b, y_b = (counts @ dq) / cv, (counts @ dy) / cv
        else:
            q_b = y_b = np.zeros((0, units))
        q_eff_sd = q_eff / sd if sd > 0 else np.full(units, np.nan)
        y_eff_sd = y_eff / sd_m if sd_m > 0 else np.full(units, np.nan)
    q_lo, q_hi = _interval(q_b, confidence)
    y_lo, y_hi = _interval(y_b, confidence)
    sel = np.flatnonzero(np.isfinite(q_eff) & np.isfinite(y_eff))
    rho = float(_row_spearman(q_eff[sel][None, :], y_eff[sel][None, :])[0])
    lo = hi = float("nan")
    if counts.shape[0] and sel.size >= 3:
        lo, hi = (float(v[0]) for v in _interval(_row_spearman(q_b[:, sel], y_b[:, sel])[:, None], confidence))
    hit = false_alarm = float("nan")
    n_worse: object = pd.NA
    if counts.shape[0]:
        ok = np.isfinite(q_lo) & np.isfinite(q_hi) & np.isfinite(y_lo) & np.isfinite(y_hi)
        ok &= np.isfinite(q_eff_sd) & np.isfinite(y_eff_sd)
        if target in LOWER_IS_BETTER_TARGETS:
            worse = ok & (y_lo > 0) & (y_eff_sd >= min_effect)  # M clearly worse
        else:
            worse = ok & (y_hi < 0) & (y_eff_sd <= -min_effect)
        q_falls = ok & (q_hi < 0) & (q_eff_sd <= -min_effect)  # Q clearly says quality fell
        calm = ok & ~worse
        n_worse = int(worse.sum())
        hit = float(q_falls[worse].mean()) if worse.any() else float("nan")
        false_alarm = float(q_falls[calm].mean()) if calm.any() else float("nan")
    return PairedEffects(nimg, q_cl, q_eff, q_lo, q_hi, q_eff_sd, y_cl, y_eff, y_lo, y_hi, y_eff_sd, int(sel.size),
                         rho, lo, hi, n_worse, hit, false_alarm)


# --------------------------------------------------------------------------
# Interventional sensitivity
# --------------------------------------------------------------------------

def sensitivity_table(rows: pd.DataFrame, metrics: Sequence[str], models: Sequence[str],
                      higher_is_better: Mapping[str, bool], targets: Sequence[str] = DEFAULT_TARGETS,
                      n_boot: int = 1000, confidence: float = 0.95, seed: int = 0,
                      group_col: str = "image_id", cell_cols: Sequence[str] = ("corruption", "severity"),
                      exclude: Iterable[tuple[str, str]] = (), min_effect: float = 0.1) -> pd.DataFrame:
    """Effect of each condition cell on Q and on M, paired against the clean view of the same image.

    Parameters
    ----------
    rows
        One row per (source image, condition): ``group_col``, the two ``cell_cols`` (corruption
        name and integer severity; every severity-0 row is the clean condition), one float column
        per metric and ``f"{model}.{target}"`` per model and target.  Each image needs its clean
        row to contribute.  NaN values are dropped pairwise.
    metrics, models, targets, higher_is_better
        As in :func:`iqalign.analysis.alignment_table`: metrics are oriented so that higher means
        better quality; performance columns are used unchanged.
    n_boot, confidence, seed
        Percentile bootstrap over source images (the same draws for every metric, model, target and
        cell, and the same as ``alignment_table`` for the same ``seed``); ``n_boot=0``: no intervals.
    exclude
        ``(metric, model)`` pairs to leave out (e.g. a task metric whose references include the model).
    min_effect
        Smallest effect, in standard deviations, that counts as a clear move for ``hit_rate`` and
        ``false_alarm_rate``.

    Returns
    -------
    DataFrame with columns :data:`SENSITIVITY_COLUMNS`.  For each (metric, model, target), one row
    per non-clean cell (``kind == "cell"``, in order of first appearance) followed by one summary
    row (``kind == "agreement"``, ``condition == "all"``, ``corruption == "all"``, no severity):

    * ``n_images``: images with finite Q and M under both the cell and clean (cell rows); images
      contributing to any cell (agreement row).  ``n_cells``: 1 (cell rows); cells with a defined
      effect (agreement row).
    * ``q_clean``, ``m_clean``: mean oriented Q / mean M of those images' clean views.
    * ``q_effect`` (``_lo``, ``_hi``): mean over images of Q(image, cell) - Q(image, clean), with its
      interval; negative = the metric says quality fell.  ``q_effect_sd``: the same in units of the
      standard deviation of the oriented metric over all complete rows (comparable across metrics).
    * ``m_effect`` (``_lo``, ``_hi``): mean over images of M(image, cell) - M(image, clean); for
      ``top1``/``top5``/``p_true`` negative = the model got worse, for ``loss`` positive.
      ``m_effect_sd``: the same in units of the standard deviation of M over all complete rows.
    * agreement rows: ``spearman`` (``_lo``, ``_hi``): Spearman rho across cells between
      ``q_effect`` and ``m_effect`` (> 0 for a useful metric with top1/top5/p_true, < 0 with loss),
      each bootstrap replicate recomputing all cell effects on the same image draw;
      ``n_worse_cells``: cells where M *clearly* gets worse: its interval lies wholly on the worse
      side of 0 and the effect is at least ``min_effect`` standard deviations of M.  ``hit_rate``:
      the fraction of those cells where Q clearly falls (``q_effect_hi < 0`` and ``q_effect_sd <=
      -min_effect``); ``false_alarm_rate``: the fraction of the other cells where Q clearly falls
      (e.g. a metric reacting to a condition the model ignores).  Both NaN without intervals
      (``n_boot=0``) or without such cells.
    """
    who = "sensitivity_table"
    _check(n_boot, confidence, who)
    d = _design(rows, group_col, cell_cols, who)
    x, y, combos = _inputs(rows, metrics, models, higher_is_better, targets, exclude, who)
    if d.clean is None:
        raise ValueError(f"{who}: no clean rows (severity 0); each image's clean view is the reference "
                         "for its paired differences")
    counts = _counts(d.n_images, n_boot, seed).astype(float)
    cells = [k for k in range(len(d.cell_names)) if k != d.clean]
    g, kk = d.n_images, len(d.cell_names)

    def matrix(v: np.ndarray) -> np.ndarray:
        m = np.full((g, kk), np.nan)
        m[d.codes, d.cells] = v
        return m

    qm = {m: matrix(v) for m, v in x.items()}
    ym = {k: matrix(v) for k, v in y.items()}
    out: list[dict] = []
    for m, mo, t in combos:
        q, yy = qm[m], ym[(mo, t)]
        both = np.isfinite(x[m]) & np.isfinite(y[(mo, t)])
        sd = float(np.std(x[m][both])) if both.any() else float("nan")
        sd_m = float(np.std(y[(mo, t)][both])) if both.any() else float("nan")
        ok_clean = np.isfinite(q[:, d.clean]) & np.isfinite(yy[:, d.clean])
        valid = np.isfinite(q[:, cells]) & np.isfinite(yy[:, cells]) & ok_clean[:, None]  # (G, C)
        e = paired_effects(q[:, cells] - q[:, [d.clean]], yy[:, cells] - yy[:, [d.clean]],
                           np.broadcast_to(q[:, [d.clean]], valid.shape), np.broadcast_to(yy[:, [d.clean]], valid.shape),
                           valid, counts, sd, sd_m, t, confidence, min_effect)
        for j, k in enumerate(cells):
            out.append(dict(metric=m, model=mo, target=t, kind="cell", condition=d.cell_names[k],
                            corruption=d.cell_corruption[k], severity=d.cell_severity[k],
                            n_images=int(e.n_images[j]), n_cells=1, q_clean=e.q_base[j], q_effect=e.q_effect[j],
                            q_effect_lo=e.q_lo[j], q_effect_hi=e.q_hi[j], q_effect_sd=e.q_effect_sd[j],
                            m_clean=e.m_base[j], m_effect=e.m_effect[j], m_effect_lo=e.m_lo[j], m_effect_hi=e.m_hi[j],
                            m_effect_sd=e.m_effect_sd[j]))
        out.append(dict(metric=m, model=mo, target=t, kind="agreement", condition="all", corruption="all",
                        severity=pd.NA, n_images=int(valid.any(axis=1).sum()), n_cells=e.n_defined,
                        spearman=e.spearman, spearman_lo=e.spearman_lo, spearman_hi=e.spearman_hi,
                        n_worse_cells=e.n_worse, hit_rate=e.hit_rate, false_alarm_rate=e.false_alarm_rate))
    table = pd.DataFrame(out, columns=SENSITIVITY_COLUMNS)
    table["severity"] = table["severity"].astype("Int64")
    table["n_worse_cells"] = table["n_worse_cells"].astype("Int64")
    for c in ("n_images", "n_cells"):
        table[c] = table[c].astype(np.int64)
    for c in SENSITIVITY_COLUMNS[9:]:
        if c != "n_worse_cells":
            table[c] = table[c].astype(float)
    return table


# --------------------------------------------------------------------------
# Decomposition: between / within content, and beyond the condition label
# --------------------------------------------------------------------------

class _Layout:
    """Row structure of one complete-row mask: image and cell incidence, completeness."""

    def __init__(self, codes: np.ndarray, cells: np.ndarray, n_images: int, n_cells: int):
        n = codes.size
        self.codes, self.cells, self.n = codes, cells, n
        self.n_images, self.n_cells = n_images, n_cells
        ones = np.ones(n)
        self.s_img = sparse.csr_matrix((ones, (codes, np.arange(n))), shape=(n_images, n))
        self.s_cell = sparse.csr_matrix((ones, (cells, np.arange(n))), shape=(n_cells, n))
        self.size = np.bincount(codes, minlength=n_images).astype(float)  # rows per image
        present_img = np.unique(codes)
        present_cell = np.unique(cells)
        self.present = present_img
        # complete: every present image has every present cell (rows are unique per pair)
        self.complete = n == present_img.size * present_cell.size

    def img_mean(self, v: np.ndarray) -> np.ndarray:
        with np.errstate(invalid="ignore", divide="ignore"):
            m = np.asarray(self.s_img @ v) / self.size[:, None]
        return np.nan_to_num(m)

    def cell_mean(self, wv: np.ndarray, wc: np.ndarray) -> np.ndarray:
        with np.errstate(invalid="ignore", divide="ignore"):
            m = np.asarray(self.s_cell @ wv) / wc
        return np.nan_to_num(m)


def _two_way_residual(lay: _Layout, r: np.ndarray, w: np.ndarray, wc: np.ndarray,
                      max_iter: int = 200, tol: float = 1e-10) -> np.ndarray:
    """Residual of ``r`` after removing additive image and (weighted) cell effects (alternating projections)."""
    res = r - lay.img_mean(r)[lay.codes]
    scale = max(float(np.abs(r).max()), 1.0) if r.size else 1.0
    for _ in range(max_iter):
        c = lay.cell_mean(w * res, wc)
        res -= c[lay.cells]
        i = lay.img_mean(res)
        res -= i[lay.codes]
        if max(np.abs(c).max(initial=0.0), np.abs(i).max(initial=0.0)) < tol * scale:
            break
    return res


_PARTS = ("all", "between", "within", "given_condition", "within_given_condition")


def _decomp_reps(columns: Mapping[str, np.ndarray], pairs: Sequence[tuple[str, str]], lay: _Layout,
                 counts: np.ndarray, keep_residuals: bool = False):
    """For each pair and scope: ``(B,)`` rho and ``(B,)`` cross-product share; optionally residuals.

    Works on the pooled ranks of the resampled rows (ranks recomputed for every replicate under the
    image multiplicities ``counts`` ``(B, G)``).  With centred ranks r, the row cross product splits
    exactly as ``<r_q, r_m> = between + within`` (image means) and ``= cells + beyond`` (cell
    means); for a complete design also ``= between + cells + two-way residual``.
    """
    n_boot = counts.shape[0]
    rho = {(p, s): np.full(n_boot, np.nan) for p in pairs for s in _PARTS}
    share = {(p, s): np.full(n_boot, np.nan) for p in pairs for s in _PARTS}
    residuals: dict = {}
    if lay.n == 0 or n_boot == 0 or not pairs:
        return rho, share, residuals
    names = list(dict.fromkeys([c for p in pairs for c in p]))
    preps = {c: rank_prep(columns[c], lay.codes, lay.n_images) for c in names}
    per_col = len(names) * (3 if lay.complete else 4) + 3
    chunk = max(1, min(n_boot, int(_MAX_ELEMS // (lay.n * per_col))))
    for b0 in range(0, n_boot, chunk):
        cnt_t = np.ascontiguousarray(counts[b0:b0 + chunk].T, dtype=float)  # (G, b)
        w = cnt_t[lay.codes]  # (n, b)
        wc = np.asarray(lay.s_cell @ w)  # (K, b)
        wimg = cnt_t * lay.size[:, None]  # (G, b) total weight of each image's rows
        r, wr, mi, mc, ss, ssb, ssc, res2, ss2 = {}, {}, {}, {}, {}, {}, {}, {}, {}
        for c in names:
            r[c], ss[c] = weighted_centered_ranks(cnt_t, preps[c], w)
            wr[c] = w * r[c]
            mi[c] = lay.img_mean(r[c])
            mc[c] = lay.cell_mean(wr[c], wc)
            ssb[c] = np.einsum("gb,gb,gb->b", wimg, mi[c], mi[c])
            ssc[c] = np.einsum("kb,kb,kb->b", wc, mc[c], mc[c])
            if lay.complete:
                ss2[c] = ss[c] - ssb[c] - ssc[c]
            else:
                res2[c] = _two_way_residual(lay, r[c], w, wc)
                ss2[c] = np.einsum("nb,nb,nb->b", w, res2[c], res2[c])
            if keep_residuals:
                residuals[c] = dict(given=r[c] - mc[c][lay.cells],
                                    two_way=(r[c] - mi[c][lay.codes] - mc[c][lay.cells]) if lay.complete
                                    else res2[c])
        sl = slice(b0, b0 + chunk)
        for p in pairs:
            a, b = p
            cross = np.einsum("nb,nb->b", wr[a], r[b])
            cb = np.einsum("gb,gb,gb->b", wimg, mi[a], mi[b])
            cc = np.einsum("kb,kb,kb->b", wc, mc[a], mc[b])
            if lay.complete:
                c2 = cross - cb - cc
            else:
                c2 = np.einsum("nb,nb,nb->b", w, res2[a], res2[b])
            parts = {"all": (cross, ss[a], ss[b]), "between": (cb, ssb[a], ssb[b]),
                     "within": (cross - cb, ss[a] - ssb[a], ss[b] - ssb[b]),
                     "given_condition": (cross - cc, ss[a] - ssc[a], ss[b] - ssc[b]),
                     "within_given_condition": (c2, ss2[a], ss2[b])}
            for s, (cv, va, vb) in parts.items():
                ok = (va > _REL_TOL * ss[a]) & (vb > _REL_TOL * ss[b]) & (ss[a] > 0) & (ss[b] > 0)
                with np.errstate(invalid="ignore", divide="ignore"):
                    rr = np.where(ok, cv / np.sqrt(np.abs(va * vb)), np.nan)
                    sh = np.where(cross != 0, cv / cross, np.nan)
                rho[(p, s)][sl] = np.clip(rr, -1.0, 1.0)
                share[(p, s)][sl] = sh
    return rho, share, residuals


def _perm_pvalue(rq: np.ndarray, rm: np.ndarray, lay: _Layout, perms: np.ndarray) -> float:
    """Two-sided p of the residual cross product when images are permuted jointly across cells.

    ``rq``, ``rm`` are per-row residuals; they are laid out as (image, cell) matrices (missing = 0)
    and Q's image labels are permuted (the same permutation in every cell), which keeps each image's
    condition profile and breaks only the pairing of Q's images with M's.
    """
    if perms.shape[0] == 0:
        return float("nan")
    img = lay.present
    pos = np.full(lay.n_images, -1)
    pos[img] = np.arange(img.size)
    mq = np.zeros((img.size, lay.n_cells))
    mm = np.zeros((img.size, lay.n_cells))
    mq[pos[lay.codes], lay.cells] = rq
    mm[pos[lay.codes], lay.cells] = rm
    k = mq @ mm.T  # k[j, i] = sum over cells of Q-residual of image j times M-residual of image i
    obs = float(np.trace(k))
    perm = np.argsort(perms[:, :img.size], axis=1)  # uniform random permutations of the present images
    null = k[perm, np.arange(img.size)[None, :]].sum(axis=1)
    scale = max(abs(obs), float(np.abs(k).sum()) / max(img.size, 1), 1e-300)
    hits = np.sum(np.abs(null) >= abs(obs) - 1e-9 * scale)
    return float((1 + hits) / (1 + perms.shape[0]))


def decomposition_table(rows: pd.DataFrame, metrics: Sequence[str], models: Sequence[str],
                        higher_is_better: Mapping[str, bool], targets: Sequence[str] = DEFAULT_TARGETS,
                        n_boot: int = 1000, n_perm: int = 1000, confidence: float = 0.95, seed: int = 0,
                        group_col: str = "image_id", cell_cols: Sequence[str] = ("corruption", "severity"),
                        exclude: Iterable[tuple[str, str]] = ()) -> pd.DataFrame:
    """Split the rank association between Q and M into content and condition parts.

    All scopes work on the *pooled ranks* of the oriented metric and of the performance column over
    the complete rows (so ``all`` is exactly Spearman's rho), and are Pearson correlations of rank
    residuals:

    * ``all``: the ranks themselves (the pooled Spearman rho of ``alignment.csv``).
    * ``between`` (*between content*): per-image mean ranks, weighted by the image's rows.  Does the
      metric rank photos (content, intrinsic difficulty) the way the model does?
    * ``within`` (*within content*): ranks minus their image's mean.  With the photo held fixed,
      does the metric move with the model as the conditions change?
    * ``given_condition``: ranks minus the mean rank of their condition cell.  Does the metric carry
      information about M beyond the condition label (partial association given the cell)?  Content
      information counts here; a metric that only reads the condition label scores ~0.
    * ``within_given_condition``: ranks minus additive image and cell effects.  Does the metric know
      which photo is hurt more by which condition, beyond both the photo and the condition label?

    ``n`` is rows used (images for ``between``).  ``spearman_lo``/``_hi``: percentile bootstrap over
    images (ranks recomputed for each replicate; the same draws as ``alignment_table`` for the same
    seed).  ``share``: this scope's part of the all-rows rank cross product (``between`` + ``within``
    = 1; 1 - ``given_condition`` is the part carried by the condition label); unstable when the
    all-rows rho is near 0.  ``p_value`` (``given_condition`` and ``within_given_condition`` only):
    two-sided permutation test of no association, permuting the metric's images jointly across
    cells (``n_perm`` permutations, smallest possible p is 1 / (n_perm + 1)); exact for a complete
    design (every image under every condition).  A scope is NaN where either variable has no variance
    in it (e.g. ``within`` for a metric that is constant within every photo).
    """
    who = "decomposition_table"
    _check(n_boot, confidence, who, n_perm)
    d = _design(rows, group_col, cell_cols, who)
    x, y, combos = _inputs(rows, metrics, models, higher_is_better, targets, exclude, who)
    counts = _counts(d.n_images, n_boot, seed)
    perm_draws = np.random.default_rng([seed, 1]).random((n_perm, d.n_images)) if n_perm else \
        np.zeros((0, d.n_images))

    # group combos by complete-row mask so that ranks are shared
    by_mask: dict[bytes, list[tuple[str, str, str]]] = {}
    masks: dict[bytes, np.ndarray] = {}
    for m, mo, t in combos:
        ok = np.isfinite(x[m]) & np.isfinite(y[(mo, t)])
        key = np.packbits(ok).tobytes()
        masks.setdefault(key, ok)
        by_mask.setdefault(key, []).append((m, mo, t))

    results: dict[tuple[str, str, str], list[dict]] = {}
    for key, group in by_mask.items():
        idx = np.flatnonzero(masks[key])
        lay = _Layout(d.codes[idx], d.cells[idx], d.n_images, len(d.cell_names))
        cols: dict[str, np.ndarray] = {}
        pairs = []
        for m, mo, t in group:
            qa, ya = f"q:{m}", f"m:{mo}.{t}"
            cols[qa], cols[ya] = x[m][idx], y[(mo, t)][idx]
            pairs.append((qa, ya))
        pairs = list(dict.fromkeys(pairs))
        point, share, resid = _decomp_reps(cols, pairs, lay, np.ones((1, d.n_images)), keep_residuals=True)
        boot, _, _ = _decomp_reps(cols, pairs, lay, counts)
        n_rows, n_img = int(idx.size), int(lay.present.size)
        for (m, mo, t), p in zip(group, pairs):
            out = []
            for s in _PARTS:
                lo, hi = _interval(boot[(p, s)][:, None], confidence) if n_boot else (np.array([np.nan]),) * 2
                pv = float("nan")
                if s in ("given_condition", "within_given_condition") and n_rows and \
                        np.isfinite(point[(p, s)][0]):
                    part = "given" if s == "given_condition" else "two_way"
                    pv = _perm_pvalue(resid[p[0]][part][:, 0], resid[p[1]][part][:, 0], lay, perm_draws)
                out.append(dict(metric=m, model=mo, target=t, scope=s,
                                n=n_img if s == "between" else n_rows,
                                spearman=float(point[(p, s)][0]), spearman_lo=float(lo[0]),
                                spearman_hi=float(hi[0]), share=float(share[(p, s)][0]), p_value=pv))
            results[(m, mo, t)] = out

    table = pd.DataFrame([r for c in combos for r in results[c]], columns=DECOMPOSITION_COLUMNS)
    table["n"] = table["n"].astype(np.int64)
    for c in DECOMPOSITION_COLUMNS[5:]:
        table[c] = table[c].astype(float)
    return table


# --------------------------------------------------------------------------
# Population of target models
# --------------------------------------------------------------------------

def population_summary(table: pd.DataFrame, value: str = "spearman", lo: str = "spearman_lo",
                       hi: str = "spearman_hi", keys: Sequence[str] | None = None,
                       model_col: str = "model") -> pd.DataFrame:
    """Summarise a per-model table over the population of target models.

    ``table`` is any table with one row per model and key (``alignment.csv``,
    :func:`decomposition_table`, or the ``kind == "agreement"`` rows of :func:`sensitivity_table`).
    ``keys`` (default: whichever of ``metric, target, scope, kind`` it has) identify a summary row.
    Alignment is oriented by target: for ``loss`` (lower is better) a *more negative* rho is better.

    Returns columns :data:`POPULATION_COLUMNS` (``scope`` is ``kind`` when the table has no
    ``scope``): ``n_models`` with a finite value, their ``mean``, the ``worst`` value and
    ``worst_model``, ``worst_bound`` (the end of the worst model's interval farther from good
    alignment: its lower bound, or upper bound for ``loss``: a conservative guarantee over the
    population), ``best`` and ``best_model``, and ``spread`` (best minus worst, absolute).
    """
    if keys is None:
        keys = [c for c in ("metric", "target", "scope", "kind") if c in table.columns]
    keys = list(keys)
    missing = [c for c in [*keys, value, model_col] if c not in table.columns]
    if missing:
        raise ValueError(f"population_summary: table is missing column(s) {missing}")
    out = []
    for k, sub in table.groupby(keys, sort=False, dropna=False):
        k = k if isinstance(k, tuple) else (k,)
        rec = dict(zip(keys, k))
        target = rec.get("target", "")
        sign = -1.0 if target in LOWER_IS_BETTER_TARGETS else 1.0
        v = sub[value].to_numpy(dtype=float)
        ok = np.isfinite(v)
        rec["scope"] = rec.get("scope", rec.get("kind", ""))
        rec.setdefault("metric", "")
        rec.setdefault("target", "")
        rec.update(n_models=int(ok.sum()), mean=np.nan, worst=np.nan, worst_model="", worst_bound=np.nan,
                   best=np.nan, best_model="", spread=np.nan)
        if ok.any():
            models = sub[model_col].astype(str).to_numpy()[ok]
            vo = v[ok] * sign
            iw, ib = int(np.argmin(vo)), int(np.argmax(vo))
            bound_col = lo if sign > 0 else hi
            bound = sub[bound_col].to_numpy(dtype=float)[ok][iw] if bound_col in sub.columns else np.nan
            rec.update(mean=float(v[ok].mean()), worst=float(v[ok][iw]), worst_model=models[iw],
                       worst_bound=float(bound), best=float(v[ok][ib]), best_model=models[ib],
                       spread=float(vo.max() - vo.min()))
        out.append(rec)
    extra = [c for c in keys if c not in POPULATION_COLUMNS and c != "kind"]
    return pd.DataFrame(out, columns=POPULATION_COLUMNS + extra)


# --------------------------------------------------------------------------
# All together
# --------------------------------------------------------------------------

def causal_tables(rows: pd.DataFrame, metrics: Sequence[str], models: Sequence[str],
                  higher_is_better: Mapping[str, bool], targets: Sequence[str] = DEFAULT_TARGETS,
                  n_boot: int = 1000, n_perm: int = 1000, confidence: float = 0.95, seed: int = 0,
                  exclude: Iterable[tuple[str, str]] = (), group_col: str = "image_id",
                  cell_cols: Sequence[str] = ("corruption", "severity"), min_effect: float = 0.1
                  ) -> dict[str, pd.DataFrame]:
    """Run :func:`sensitivity_table`, :func:`decomposition_table` and :func:`population_summary`.

    Returns ``{"sensitivity": ..., "decomposition": ..., "population": ...}``.  ``population``
    summarises every decomposition scope and the sensitivity rank agreement (scope
    ``rank_agreement``) over ``models``.  Sensitivity needs clean rows (severity 0); without them
    the sensitivity table is empty.
    """
    exclude = list(exclude)
    kw = dict(targets=targets, n_boot=n_boot, confidence=confidence, seed=seed, group_col=group_col,
              cell_cols=cell_cols, exclude=exclude)
    has_clean = cell_cols[1] in rows.columns and bool((pd.to_numeric(rows[cell_cols[1]]) == 0).any())
    sens = sensitivity_table(rows, metrics, models, higher_is_better, min_effect=min_effect, **kw) if has_clean else \
        pd.DataFrame(columns=SENSITIVITY_COLUMNS)
    dec = decomposition_table(rows, metrics, models, higher_is_better, n_perm=n_perm, **kw)
    agree = sens[sens["kind"] == "agreement"].assign(scope="rank_agreement")
    pop = pd.concat([population_summary(dec, keys=["metric", "target", "scope"]),
                     population_summary(agree, keys=["metric", "target", "scope"])], ignore_index=True)
    return {"sensitivity": sens, "decomposition": dec, "population": pop}


def write_causal_tables(out: str | Path, tables: Mapping[str, pd.DataFrame]) -> dict[str, Path]:
    """Write ``sensitivity.csv``, ``decomposition.csv`` and ``population.csv`` (those present) into ``out``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name in ("sensitivity", "decomposition", "population"):
        if name in tables:
            paths[name] = out / f"{name}.csv"
            tables[name].to_csv(paths[name], index=False)
    return paths


def format_ci(v: float, lo: float = np.nan, hi: float = np.nan, digits: int = 2) -> str:
    """``+0.12 [+0.05, +0.20]``; ``n/a`` for a missing value (markdown tables)."""
    if not np.isfinite(v):
        return "n/a"
    text = f"{v:+.{digits}f}"
    if np.isfinite(lo) and np.isfinite(hi):
        text += f" [{lo:+.{digits}f}, {hi:+.{digits}f}]"
    return text


def causal_markdown(tables: Mapping[str, pd.DataFrame], target: str = "p_true") -> str:
    """A short markdown view: per model and metric, the decomposition and the rank agreement for ``target``."""
    dec = tables["decomposition"]
    sens = tables.get("sensitivity", pd.DataFrame(columns=SENSITIVITY_COLUMNS))
    dec = dec[dec["target"] == target]
    agree = sens[(sens["kind"] == "agreement") & (sens["target"] == target)].set_index(["model", "metric"])
    lines = []
    for model in dict.fromkeys(dec["model"]):
        sub = dec[dec["model"] == model].set_index(["metric", "scope"])
        metrics = list(dict.fromkeys(dec[dec["model"] == model]["metric"]))
        within = {m: sub.loc[(m, "within"), "spearman"] for m in metrics}
        metrics.sort(key=lambda m: -within[m] if np.isfinite(within[m]) else np.inf)
        lines += [f"**{model}**, target `{target}` (Spearman rho [95% CI]; p: permutation test)", "",
                  "| metric | all rows | between content | within content | given condition (p) "
                  "| within, given condition (p) | rank agreement across cells |",
                  "|---|---:|---:|---:|---:|---:|---:|"]
        for m in metrics:
            cells = []
            for s in _PARTS:
                r = sub.loc[(m, s)]
                text = format_ci(r.spearman, r.spearman_lo, r.spearman_hi)
                if s in ("given_condition", "within_given_condition") and np.isfinite(r.p_value):
                    text += f" (p={r.p_value:.3g})"
                cells.append(text)
            if (model, m) in agree.index:
                a = agree.loc[(model, m)]
                cells.append(format_ci(a.spearman, a.spearman_lo, a.spearman_hi))
            else:
                cells.append("n/a")
            lines.append(f"| {m} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines) + "\n"
