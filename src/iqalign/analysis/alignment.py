"""Alignment of image quality metrics with deep-network performance.

Pure functions: a table of rows (source image x imaging condition) goes in, a
table of rank correlations with grouped-bootstrap confidence intervals comes
out.  See :func:`alignment_table` for the definitions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from .bootstrap import grouped_mean_boot, percentile_interval, pooled_spearman_boot, resample_counts

__all__ = [
    "TABLE_COLUMNS",
    "LOWER_IS_BETTER_TARGETS",
    "alignment_table",
    "within_group_stats",
    "to_markdown",
    "summarize_best",
]

TABLE_COLUMNS = ["metric", "model", "target", "scope", "n", "spearman", "spearman_lo",
                 "spearman_hi", "kendall", "auroc"]

#: Performance targets where a *lower* value is better (a useful quality metric
#: correlates negatively with them).  Used only for sorting / ranking output.
LOWER_IS_BETTER_TARGETS = frozenset({"loss"})

_SCOPES = ("all", "within")

# Groups (images) with more rows than this are handled by a per-group scipy
# loop instead of the padded pairwise-sign arrays (whose memory is O(rows^2)).
_MAX_PADDED_GROUP = 1500
# Elements per pairwise-sign chunk (float64): ~32 MB per array.
_PAIR_CHUNK_ELEMS = 4_000_000


# --------------------------------------------------------------------------
# Within-group statistics (per image, vectorised over images)
# --------------------------------------------------------------------------

class _Groups:
    """Per-image row index arrays, padded into a ``(G, M)`` matrix for vectorisation."""

    def __init__(self, codes: np.ndarray, n_groups: int):
        n = codes.size
        order = np.argsort(codes, kind="stable")
        sizes = np.bincount(codes, minlength=n_groups)
        bounds = np.concatenate([[0], np.cumsum(sizes)])
        self.n_rows = n
        self.n_groups = n_groups
        small = np.flatnonzero(sizes <= _MAX_PADDED_GROUP)
        self.small = small
        self.large = np.flatnonzero(sizes > _MAX_PADDED_GROUP)
        self.large_idx = [order[bounds[g]:bounds[g + 1]] for g in self.large]
        m = int(sizes[small].max()) if small.size else 0
        # index n points to an appended NaN (padding)
        pad = np.full((small.size, m), n, dtype=np.int64)
        for k, g in enumerate(small):
            idx = order[bounds[g]:bounds[g + 1]]
            pad[k, :idx.size] = idx
        self.pad = pad
        self.width = m

    def padded(self, v: np.ndarray) -> np.ndarray:
        return np.append(np.asarray(v, dtype=float), np.nan)[self.pad]


def _signs(a: np.ndarray) -> np.ndarray:
    """Pairwise sign matrix ``sign(a[:, i] - a[:, j])`` of ``(g, m)`` -> ``(g, m, m)``.

    NaN entries compare as neither greater nor smaller, so every pair involving
    a NaN gets 0 (and so does a tie, including inf == inf).
    """
    left = a[:, :, None]
    right = a[:, None, :]
    return (left > right).astype(float) - (left < right)


def _pair_stats(xp: np.ndarray, yp: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-row Spearman, Kendall tau-b and valid-count for padded ``(g, m)`` arrays.

    Uses only pairs where both values are present.  With ``s_ij = sign(x_i - x_j)``
    over the ``k`` valid rows, the average rank is ``(k+1)/2 + sum_j s_ij / 2``,
    so centred ranks are ``sum_j s_ij / 2`` and rho is their cosine; tau-b is
    ``sum s^x s^y / sqrt(sum |s^x| * sum |s^y|)``.  Undefined (constant
    variable, fewer than 3 rows) -> NaN.
    """
    valid = ~np.isnan(xp) & ~np.isnan(yp)
    xv = np.where(valid, xp, np.nan)
    yv = np.where(valid, yp, np.nan)
    k = valid.sum(axis=1)
    g, m = xp.shape
    rho = np.full(g, np.nan)
    tau = np.full(g, np.nan)
    if m == 0:
        return rho, tau, k
    step = max(1, _PAIR_CHUNK_ELEMS // (m * m))
    for a in range(0, g, step):
        sl = slice(a, a + step)
        sx = _signs(xv[sl])
        sy = _signs(yv[sl])
        cx = sx.sum(axis=2)
        cy = sy.sum(axis=2)
        sxx = np.einsum("ij,ij->i", cx, cx)
        syy = np.einsum("ij,ij->i", cy, cy)
        sxy = np.einsum("ij,ij->i", cx, cy)
        conc = np.einsum("ijk,ijk->i", sx, sy)
        ax = np.abs(sx).sum(axis=(1, 2))
        ay = np.abs(sy).sum(axis=(1, 2))
        ok = (k[sl] >= 3) & (sxx > 0) & (syy > 0)
        with np.errstate(invalid="ignore", divide="ignore"):
            r = np.where(ok, sxy / np.sqrt(sxx * syy), np.nan)
            t = np.where(ok, conc / np.sqrt(ax * ay), np.nan)
        rho[sl] = np.clip(r, -1, 1)
        tau[sl] = np.clip(t, -1, 1)
    return rho, tau, k


def _pair_auroc(qp: np.ndarray, cp: np.ndarray) -> np.ndarray:
    """Per-row AUROC P(q_correct > q_wrong) (+1/2 ties) for padded arrays; NaN if one class."""
    valid = ~np.isnan(qp) & ~np.isnan(cp)
    qv = np.where(valid, qp, np.nan)
    pos = (valid & (cp == 1)).astype(float)
    neg = (valid & (cp == 0)).astype(float)
    n1 = pos.sum(axis=1)
    n0 = neg.sum(axis=1)
    g, m = qp.shape
    out = np.full(g, np.nan)
    if m == 0:
        return out
    step = max(1, _PAIR_CHUNK_ELEMS // (m * m))
    for a in range(0, g, step):
        sl = slice(a, a + step)
        sq = _signs(qv[sl])
        s = np.einsum("gi,gij,gj->g", pos[sl], sq, neg[sl])
        denom = n1[sl] * n0[sl]
        with np.errstate(invalid="ignore", divide="ignore"):
            out[sl] = np.where(denom > 0, (denom + s) / (2 * denom), np.nan)
    return out


def _auroc(q: np.ndarray, correct: np.ndarray) -> float:
    """AUROC that oriented quality ``q`` ranks correct (1) above wrong (0) rows; ties 1/2."""
    ok = ~np.isnan(q) & ~np.isnan(correct)
    q = q[ok]
    c = correct[ok] == 1
    n1 = int(c.sum())
    n0 = int(c.size - n1)
    if n1 == 0 or n0 == 0:
        return float("nan")
    r = stats.rankdata(q)
    return float((r[c].sum() - n1 * (n1 + 1) / 2.0) / (n1 * n0))


def _scipy_group_stats(x: np.ndarray, y: np.ndarray) -> tuple[float, float, int]:
    ok = ~np.isnan(x) & ~np.isnan(y)
    x, y = x[ok], y[ok]
    k = int(x.size)
    if k < 3 or np.all(x == x[0]) or np.all(y == y[0]):
        return float("nan"), float("nan"), k
    return float(stats.spearmanr(x, y)[0]), float(stats.kendalltau(x, y)[0]), k


def within_group_stats(x: np.ndarray, y: np.ndarray, groups: np.ndarray
                       ) -> tuple[np.ndarray, np.ndarray]:
    """Per-group Spearman rho and Kendall tau-b of ``x`` vs ``y`` (NaN where undefined).

    ``groups`` labels each row; the result is indexed by
    ``pd.factorize(groups)[1]`` order.  NaN pairs are dropped; a group with
    fewer than 3 complete rows, or where either variable is constant, gets NaN.
    """
    codes, uniq = pd.factorize(np.asarray(groups))
    gr = _Groups(codes, len(uniq))
    rho, tau, _ = _within(gr, np.asarray(x, float), np.asarray(y, float))
    return rho, tau


def _within(gr: _Groups, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rho = np.full(gr.n_groups, np.nan)
    tau = np.full(gr.n_groups, np.nan)
    k = np.zeros(gr.n_groups, dtype=np.int64)
    if gr.small.size:
        r, t, kk = _pair_stats(gr.padded(x), gr.padded(y))
        rho[gr.small], tau[gr.small], k[gr.small] = r, t, kk
    for g, idx in zip(gr.large, gr.large_idx):
        rho[g], tau[g], k[g] = _scipy_group_stats(x[idx], y[idx])
    return rho, tau, k


def _within_auroc(gr: _Groups, q: np.ndarray, correct: np.ndarray) -> np.ndarray:
    out = np.full(gr.n_groups, np.nan)
    if gr.small.size:
        out[gr.small] = _pair_auroc(gr.padded(q), gr.padded(correct))
    for g, idx in zip(gr.large, gr.large_idx):
        out[g] = _auroc(q[idx], correct[idx])
    return out


# --------------------------------------------------------------------------
# Main entry point
# --------------------------------------------------------------------------

def _column(rows: pd.DataFrame, name: str, what: str) -> np.ndarray:
    if name not in rows.columns:
        raise ValueError(f"alignment_table: missing {what} column {name!r} "
                         f"(available: {sorted(map(str, rows.columns))})")
    try:
        return pd.to_numeric(rows[name], errors="raise").to_numpy(dtype=float, na_value=np.nan)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"alignment_table: column {name!r} ({what}) is not numeric: {exc}") from exc


def alignment_table(rows: pd.DataFrame, metrics: Sequence[str], models: Sequence[str],
                    higher_is_better: Mapping[str, bool],
                    targets: Sequence[str] = ("top1", "top5", "p_true", "loss"),
                    scopes: Sequence[str] = ("all", "within"), n_boot: int = 1000,
                    confidence: float = 0.95, seed: int = 0,
                    group_col: str = "image_id") -> pd.DataFrame:
    """Rank agreement between quality metrics and per-row network performance.

    Parameters
    ----------
    rows
        One row per (source image x imaging condition).  Needs ``group_col``,
        one float column per metric and a column ``f"{model}.{target}"`` per
        model and target.  NaN values are allowed: each computation drops the
        rows where either of its two variables is NaN.
    metrics, models, targets
        Which metric columns, models and performance targets to analyse.
    higher_is_better
        For every metric, whether a larger raw value means better quality.
        Metrics are first *oriented* (multiplied by -1 when False) so that
        higher always means better quality: a useful metric then has positive
        rho with ``top1``/``top5``/``p_true`` and negative rho with ``loss``.
    scopes
        ``"all"``: Spearman and Kendall tau-b over all complete rows pooled;
        ``n`` is the number of rows used.

        ``"within"``: does the metric track performance *for the same photo*
        across conditions?  The correlation is computed within each source
        image (``group_col``) across its conditions, then averaged (plain mean)
        over images.  An image is skipped when it has fewer than 3 complete
        rows or either variable is constant over them (the correlation is
        undefined there, e.g. an image classified correctly under every
        condition has no top-1 variation); ``n`` is the number of images that
        contributed.  This removes between-image differences (content,
        intrinsic difficulty) that a per-image constant metric could exploit.
    n_boot, confidence, seed
        Percentile bootstrap of Spearman rho at level ``confidence``.  The
        bootstrap resamples *source images* with replacement (all rows of a
        drawn image come along, an image drawn twice contributes twice), not
        rows, since rows of one image are dependent.  For ``"all"`` each
        replicate is the Spearman rho of the pooled rows of the resampled
        images; for ``"within"`` it is the mean of the per-image rhos over the
        resampled images (images whose rho is undefined are ignored).  The same
        image draws (derived from ``seed`` and the set of images) are used for
        every metric, model, target and scope, so results are deterministic and
        do not depend on which other metrics are analysed.  ``n_boot=0``
        disables the interval (NaN).
    group_col
        Column naming the source image.

    Returns
    -------
    DataFrame with columns ``metric, model, target, scope, n, spearman,
    spearman_lo, spearman_hi, kendall, auroc``, one row per (metric, model,
    target, scope) in input order.  ``auroc`` is the AUROC of the oriented
    metric for separating top-1 correct from wrong rows, P(quality of a
    correct row > quality of a wrong row) with ties counted 1/2, computed from
    the ``f"{model}.top1"`` column (1.0: low quality perfectly flags errors;
    0.5: chance).  For ``"within"`` it is averaged over images having both
    correct and wrong rows.  It does not depend on the target and is repeated
    for each target; NaN if undefined (one class only) or if the model has no
    ``top1`` column.
    """
    metrics = list(metrics)
    models = list(models)
    targets = list(targets)
    scopes = list(scopes)
    bad = [s for s in scopes if s not in _SCOPES]
    if bad:
        raise ValueError(f"alignment_table: unknown scope(s) {bad}; expected some of {_SCOPES}")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"alignment_table: confidence must be in (0, 1), got {confidence}")
    if n_boot < 0:
        raise ValueError(f"alignment_table: n_boot must be >= 0, got {n_boot}")
    for m in metrics:
        if m not in higher_is_better:
            raise ValueError(f"alignment_table: higher_is_better has no entry for metric {m!r}")
    if group_col not in rows.columns:
        raise ValueError(f"alignment_table: missing group column {group_col!r}")

    group_vals = rows[group_col]
    if group_vals.isna().any():
        raise ValueError(f"alignment_table: group column {group_col!r} has missing values")
    codes, uniq = pd.factorize(group_vals, sort=True)
    codes = codes.astype(np.int64)
    n_groups = len(uniq)

    x = {m: _column(rows, m, "metric") * (1.0 if higher_is_better[m] else -1.0) for m in metrics}
    y = {(mo, t): _column(rows, f"{mo}.{t}", "target") for mo in models for t in targets}
    correct: dict[str, np.ndarray | None] = {}
    for mo in models:
        col = f"{mo}.top1"
        c = _column(rows, col, "target") if col in rows.columns else None
        if c is not None:
            vals = c[~np.isnan(c)]
            if not np.isin(vals, (0.0, 1.0)).all():
                raise ValueError(f"alignment_table: column {col!r} must hold 0/1 (or NaN)")
        correct[mo] = c

    rng = np.random.default_rng(seed)
    counts = resample_counts(n_groups, n_boot, rng) if n_boot > 0 else np.zeros((0, n_groups), np.int64)

    results: dict[tuple[str, str, str, str], dict] = {}

    if "all" in scopes:
        # Group (metric, model, target) combos by their complete-row mask so
        # that ranks of a column are shared by all combos with the same rows.
        by_mask: dict[bytes, list[tuple[str, tuple[str, str]]]] = {}
        masks: dict[bytes, np.ndarray] = {}
        for m in metrics:
            for key in y:
                ok = ~np.isnan(x[m]) & ~np.isnan(y[key])
                b = np.packbits(ok).tobytes()
                masks.setdefault(b, ok)
                by_mask.setdefault(b, []).append((m, key))
        aurocs = {(m, mo): (_auroc(x[m], correct[mo]) if correct[mo] is not None else np.nan)
                  for m in metrics for mo in models}
        for b, combos in by_mask.items():
            ok = masks[b]
            cols: dict[str, np.ndarray] = {}
            pairs = []
            for m, (mo, t) in combos:
                xn, yn = f"x:{m}", f"y:{mo}.{t}"
                cols.setdefault(xn, x[m][ok])
                cols.setdefault(yn, y[(mo, t)][ok])
                pairs.append((xn, yn))
            boots = pooled_spearman_boot(cols, codes[ok], pairs, counts) if n_boot > 0 else {}
            for (m, (mo, t)), p in zip(combos, pairs):
                xv, yv = cols[p[0]], cols[p[1]]
                n = int(xv.size)
                if n >= 2 and np.ptp(xv) > 0 and np.ptp(yv) > 0:
                    rho = float(stats.spearmanr(xv, yv)[0])
                    tau = float(stats.kendalltau(xv, yv)[0])
                else:
                    rho = tau = float("nan")
                lo, hi = percentile_interval(boots[p], confidence) if n_boot > 0 else (np.nan, np.nan)
                results[(m, mo, t, "all")] = dict(n=n, spearman=rho, spearman_lo=lo, spearman_hi=hi,
                                                  kendall=tau, auroc=aurocs[(m, mo)])

    if "within" in scopes:
        gr = _Groups(codes, n_groups)
        aurocs_w = {}
        for m in metrics:
            for mo in models:
                if correct[mo] is None:
                    aurocs_w[(m, mo)] = float("nan")
                    continue
                per = _within_auroc(gr, x[m], correct[mo])
                aurocs_w[(m, mo)] = float(np.nanmean(per)) if np.isfinite(per).any() else float("nan")
        for m in metrics:
            for (mo, t), yv in y.items():
                rho_g, tau_g, _ = _within(gr, x[m], yv)
                contrib = np.isfinite(rho_g)
                n = int(contrib.sum())
                rho = float(rho_g[contrib].mean()) if n else float("nan")
                tau = float(np.nanmean(tau_g[contrib])) if n else float("nan")
                if n_boot > 0 and n:
                    lo, hi = percentile_interval(grouped_mean_boot(rho_g, counts), confidence)
                else:
                    lo, hi = float("nan"), float("nan")
                # no photo with a within-photo rho (fewer than 3 rows each): the scope is n/a, AUROC too
                results[(m, mo, t, "within")] = dict(n=n, spearman=rho, spearman_lo=lo,
                                                     spearman_hi=hi, kendall=tau,
                                                     auroc=aurocs_w[(m, mo)] if n else float("nan"))

    out = []
    for m in metrics:
        for mo in models:
            for t in targets:
                for s in scopes:
                    out.append(dict(metric=m, model=mo, target=t, scope=s, **results[(m, mo, t, s)]))
    table = pd.DataFrame(out, columns=TABLE_COLUMNS)
    table["n"] = table["n"].astype(np.int64)
    for c in TABLE_COLUMNS[5:]:
        table[c] = table[c].astype(float)
    return table


# --------------------------------------------------------------------------
# Presentation
# --------------------------------------------------------------------------

def _sort_key_frame(table: pd.DataFrame) -> pd.DataFrame:
    """Sort by model, target, scope (first-appearance order), then best alignment first.

    "Best" is the largest rho, except for targets in :data:`LOWER_IS_BETTER_TARGETS`
    (``loss``) where the most negative rho is best.  NaN rho goes last.
    """
    t = table.copy()
    sign = np.where(t["target"].isin(LOWER_IS_BETTER_TARGETS), -1.0, 1.0)
    t["_align"] = (t["spearman"] * sign).fillna(-np.inf)
    for c in ("model", "target", "scope"):
        t[f"_{c}"] = pd.Categorical(t[c], categories=list(dict.fromkeys(t[c])), ordered=True)
    t = t.sort_values(["_model", "_target", "_scope", "_align"],
                      ascending=[True, True, True, False], kind="stable")
    return t.drop(columns=["_align", "_model", "_target", "_scope"])


def _fmt(v, digits: int) -> str:
    if v is None or (isinstance(v, float) and not np.isfinite(v)):
        return "n/a"
    return f"{v:.{digits}f}"


def _cell(v) -> str:
    return str(v).replace("|", "\\|").replace("\n", " ")


def to_markdown(table: pd.DataFrame, digits: int = 3) -> str:
    """Render an :func:`alignment_table` result as a GitHub markdown table.

    The Spearman column carries its bootstrap interval, e.g.
    ``0.412 [0.35, 0.47]`` (interval bounds with one digit fewer than the
    estimate).  Rows are sorted by model, target and scope (in order of first
    appearance), then best-aligned metric first (descending rho; ascending
    for ``loss``, where a useful metric has negative rho).  Missing values
    show as ``n/a``.
    """
    missing = [c for c in TABLE_COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(f"to_markdown: table is missing column(s) {missing}")
    ci_digits = max(digits - 1, 1)
    header = ["model", "target", "scope", "metric", "n", "spearman [CI]", "kendall", "auroc"]
    lines = ["| " + " | ".join(header) + " |",
             "|" + "|".join(["---", "---", "---", "---", "---:", "---:", "---:", "---:"]) + "|"]
    for r in _sort_key_frame(table).itertuples(index=False):
        rho = _fmt(r.spearman, digits)
        if np.isfinite(r.spearman_lo) and np.isfinite(r.spearman_hi):
            rho += f" [{_fmt(r.spearman_lo, ci_digits)}, {_fmt(r.spearman_hi, ci_digits)}]"
        cells = [_cell(r.model), _cell(r.target), _cell(r.scope), _cell(r.metric), str(int(r.n)),
                 rho, _fmt(r.kendall, digits), _fmt(r.auroc, digits)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def summarize_best(table: pd.DataFrame, target: str = "top1", scope: str = "all") -> pd.DataFrame:
    """Per model, the metrics ranked by alignment for one target and scope.

    Returns columns ``model, rank, metric, spearman, spearman_lo, spearman_hi,
    kendall, auroc, n``; ``rank`` starts at 1 for the best metric of each
    model (highest rho, or most negative rho for ``loss``; NaN rho last).
    """
    sub = table[(table["target"] == target) & (table["scope"] == scope)]
    sub = _sort_key_frame(sub)
    sub = sub.assign(rank=sub.groupby("model", sort=False).cumcount() + 1)
    cols = ["model", "rank", "metric", "spearman", "spearman_lo", "spearman_hi", "kendall",
            "auroc", "n"]
    return sub[cols].reset_index(drop=True)
