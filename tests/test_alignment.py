"""Tests for iqalign.analysis.alignment (rank alignment + grouped bootstrap)."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sklearn.metrics import roc_auc_score

from iqalign.analysis import alignment as al
from iqalign.analysis import alignment_table, summarize_best, to_markdown, within_group_stats
from iqalign.analysis.bootstrap import (
    grouped_mean_boot,
    percentile_interval,
    pooled_spearman_boot,
    resample_counts,
)

TARGETS = ("top1", "top5", "p_true", "loss")


def _perf_frame(n_img: int = 60, per: int = 12, seed: int = 0) -> pd.DataFrame:
    """Rows with a continuous p_true and its derived targets for model 'm'."""
    rng = np.random.default_rng(seed)
    img = np.repeat(np.arange(n_img), per)
    sev = np.tile(np.arange(per), n_img)
    p = rng.uniform(0.01, 0.99, size=img.size)
    return pd.DataFrame({
        "image_id": [f"img{i:03d}" for i in img],
        "corruption": "noise",
        "severity": sev,
        "m.p_true": p,
        "m.top1": (p > 0.5).astype(float),
        "m.top5": (p > 0.2).astype(float),
        "m.loss": -np.log(p),
    })


def _get(table: pd.DataFrame, metric: str, target: str, scope: str, model: str = "m") -> pd.Series:
    sel = table[(table.metric == metric) & (table.model == model) & (table.target == target)
                & (table.scope == scope)]
    assert len(sel) == 1
    return sel.iloc[0]


def _xy_frame(x: np.ndarray, y: np.ndarray, img: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame({"image_id": img, "corruption": "c", "severity": 0, "q": x, "m.p_true": y})


# ---------------------------------------------------------------------------
# Exact values on perfectly (anti-)monotone metrics
# ---------------------------------------------------------------------------

def test_output_columns_and_row_order():
    df = _perf_frame()
    df["q"] = df["m.p_true"]
    df["m2.p_true"] = df["m.p_true"]
    tab = alignment_table(df, ["q"], ["m", "m2"], {"q": True}, targets=["p_true"], n_boot=20)
    assert list(tab.columns) == ["metric", "model", "target", "scope", "n", "spearman",
                                 "spearman_lo", "spearman_hi", "kendall", "auroc"]
    assert list(zip(tab.model, tab.scope)) == [("m", "all"), ("m", "within"),
                                               ("m2", "all"), ("m2", "within")]
    # m2 has no top1 column -> auroc undefined
    assert tab[tab.model == "m2"].auroc.isna().all()
    assert tab.n.dtype == np.int64


def test_perfect_monotone_metric_and_orientation():
    df = _perf_frame()
    df["mono"] = np.exp(3 * df["m.p_true"])  # strictly increasing transform
    df["inv"] = -5 * df["m.p_true"] + 2  # strictly decreasing: lower = better quality
    hib = {"mono": True, "inv": False, "inv_wrong": True}
    df["inv_wrong"] = df["inv"]
    tab = alignment_table(df, ["mono", "inv", "inv_wrong"], ["m"], hib, n_boot=100)
    for metric in ("mono", "inv"):
        for scope in ("all", "within"):
            r = _get(tab, metric, "p_true", scope)
            assert r.spearman == pytest.approx(1.0)
            assert r.kendall == pytest.approx(1.0)
            assert r.spearman_lo == pytest.approx(1.0) and r.spearman_hi == pytest.approx(1.0)
            loss = _get(tab, metric, "loss", scope)
            assert loss.spearman == pytest.approx(-1.0)
            assert loss.kendall == pytest.approx(-1.0)
            # top1 = (p_true > 0.5): the metric separates correct from wrong rows perfectly
            assert r.auroc == pytest.approx(1.0)
        assert _get(tab, metric, "p_true", "all").n == len(df)
        assert _get(tab, metric, "p_true", "within").n == df.image_id.nunique()
    # same values with the wrong orientation flag: everything flips
    r = _get(tab, "inv_wrong", "p_true", "all")
    assert r.spearman == pytest.approx(-1.0)
    assert r.auroc == pytest.approx(0.0)


def test_auroc_matches_sklearn_and_ties_count_half():
    rng = np.random.default_rng(3)
    df = _perf_frame(n_img=40, per=10, seed=3)
    df["q"] = np.round(df["m.p_true"] + rng.normal(0, 0.3, len(df)), 1)  # many ties
    tab = alignment_table(df, ["q"], ["m"], {"q": True}, targets=["top1"], n_boot=0)
    r = _get(tab, "q", "top1", "all")
    assert r.auroc == pytest.approx(roc_auc_score(df["m.top1"], df["q"]))
    assert np.isnan(r.spearman_lo) and np.isnan(r.spearman_hi)  # n_boot=0
    per_img = [roc_auc_score(g["m.top1"], g["q"]) for _, g in df.groupby("image_id")
               if g["m.top1"].nunique() == 2]
    assert _get(tab, "q", "top1", "within").auroc == pytest.approx(np.mean(per_img))
    # a metric constant everywhere ties all pairs -> exactly 0.5
    df["const"] = 1.0
    tab = alignment_table(df, ["const"], ["m"], {"const": True}, targets=["top1"], n_boot=0)
    assert _get(tab, "const", "top1", "all").auroc == pytest.approx(0.5)
    assert np.isnan(_get(tab, "const", "top1", "all").spearman)  # constant -> undefined
    assert _get(tab, "const", "top1", "within").n == 0


# ---------------------------------------------------------------------------
# Agreement with scipy on messy data (ties, NaN, odd group sizes)
# ---------------------------------------------------------------------------

def _messy_frame(seed: int = 7) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    sizes = rng.integers(1, 15, size=50)
    img = np.repeat([f"i{k:02d}" for k in range(sizes.size)], sizes)
    n = img.size
    p = rng.uniform(0, 1, n)
    q = np.round(p + rng.normal(0, 0.4, n), 1)
    q[rng.random(n) < 0.1] = np.nan
    p[rng.random(n) < 0.1] = np.nan
    df = pd.DataFrame({"image_id": img, "corruption": "c", "severity": 1, "q": q,
                       "m.p_true": p, "m.top1": np.where(np.isnan(p), np.nan, (p > 0.4) * 1.0)})
    # an image where the metric is constant, and one where the target is
    df.loc[df.image_id == "i03", "q"] = 0.5
    df.loc[df.image_id == "i04", "m.p_true"] = 0.25
    return df


def test_matches_scipy_reference():
    df = _messy_frame()
    tab = alignment_table(df, ["q"], ["m"], {"q": True}, targets=["p_true", "top1"], n_boot=0)
    for target in ("p_true", "top1"):
        sub = df[["image_id", "q", f"m.{target}"]].dropna()
        r = _get(tab, "q", target, "all")
        assert r.n == len(sub)
        assert r.spearman == pytest.approx(stats.spearmanr(sub.q, sub[f"m.{target}"])[0], abs=1e-12)
        assert r.kendall == pytest.approx(stats.kendalltau(sub.q, sub[f"m.{target}"])[0], abs=1e-12)
        rhos, taus = [], []
        for _, g in sub.groupby("image_id"):
            if len(g) >= 3 and g.q.nunique() > 1 and g[f"m.{target}"].nunique() > 1:
                rhos.append(stats.spearmanr(g.q, g[f"m.{target}"])[0])
                taus.append(stats.kendalltau(g.q, g[f"m.{target}"])[0])
        w = _get(tab, "q", target, "within")
        assert w.n == len(rhos) and w.n > 10
        assert w.spearman == pytest.approx(np.mean(rhos), abs=1e-12)
        assert w.kendall == pytest.approx(np.mean(taus), abs=1e-12)
    sub = df[["q", "m.top1"]].dropna()
    assert _get(tab, "q", "p_true", "all").auroc == pytest.approx(roc_auc_score(sub["m.top1"], sub.q))


def test_large_group_fallback_path_agrees(monkeypatch):
    df = _messy_frame(seed=11)
    fast = within_group_stats(df.q.to_numpy(), df["m.p_true"].to_numpy(), df.image_id.to_numpy())
    monkeypatch.setattr(al, "_MAX_PADDED_GROUP", 5)  # big images go through the scipy loop
    slow = within_group_stats(df.q.to_numpy(), df["m.p_true"].to_numpy(), df.image_id.to_numpy())
    np.testing.assert_allclose(fast[0], slow[0], atol=1e-12)
    np.testing.assert_allclose(fast[1], slow[1], atol=1e-12)
    assert np.isfinite(fast[0]).sum() > 10


# ---------------------------------------------------------------------------
# Bootstrap machinery
# ---------------------------------------------------------------------------

def test_weighted_bootstrap_equals_explicit_duplication():
    rng = np.random.default_rng(5)
    n_groups = 30
    codes = np.repeat(np.arange(n_groups), rng.integers(1, 8, n_groups))
    x = np.round(rng.normal(size=codes.size), 1)
    y = (x + rng.normal(size=codes.size) > 0).astype(float)  # binary: heavy ties
    counts = resample_counts(n_groups, 25, np.random.default_rng(1))
    assert (counts.sum(axis=1) == n_groups).all()
    got = pooled_spearman_boot({"x": x, "y": y}, codes, [("x", "y")], counts, max_elems=2_000)
    for b in range(counts.shape[0]):
        idx = np.concatenate([np.flatnonzero(codes == g) for g in range(n_groups)
                              for _ in range(counts[b, g])])
        assert got[("x", "y")][b] == pytest.approx(stats.spearmanr(x[idx], y[idx])[0], abs=1e-10)
    vals = rng.normal(size=n_groups)
    vals[[2, 7]] = np.nan  # non-contributing groups are ignored
    gm = grouped_mean_boot(vals, counts)
    for b in range(counts.shape[0]):
        rep = np.repeat(vals, counts[b])
        assert gm[b] == pytest.approx(np.nanmean(rep))


def test_percentile_interval():
    s = np.r_[np.arange(101.0), np.nan]
    assert percentile_interval(s, 0.9) == pytest.approx((5.0, 95.0))
    assert np.isnan(percentile_interval(np.array([np.nan]), 0.95)[0])


def _bivariate(n_img: int, per: int, r: float, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    z = rng.multivariate_normal([0, 0], [[1, r], [r, 1]], size=n_img * per)
    img = np.repeat(np.arange(n_img), per).astype(str)
    return _xy_frame(z[:, 0], z[:, 1], img)


def test_bootstrap_interval_covers_population_spearman():
    r = 0.5
    rho_pop = 6 / np.pi * np.arcsin(r / 2)
    covered = 0
    widths = []
    for seed in range(10):
        df = _bivariate(400, 5, r, seed)
        row = _get(alignment_table(df, ["q"], ["m"], {"q": True}, targets=["p_true"],
                                   scopes=["all"], n_boot=500, seed=seed), "q", "p_true", "all")
        assert row.spearman_lo < row.spearman < row.spearman_hi
        covered += row.spearman_lo <= rho_pop <= row.spearman_hi
        widths.append(row.spearman_hi - row.spearman_lo)
    assert covered >= 9
    # SE of rho with 2000 rows and rho~0.48 is ~0.018 -> 95% width ~0.07
    assert 0.04 < np.mean(widths) < 0.11
    small, big = (_get(alignment_table(_bivariate(n, 5, r, 99), ["q"], ["m"], {"q": True},
                                       targets=["p_true"], scopes=["all"], n_boot=500),
                       "q", "p_true", "all") for n in (100, 1600))
    w_small = small.spearman_hi - small.spearman_lo
    w_big = big.spearman_hi - big.spearman_lo
    assert w_big < 0.4 * w_small  # ~1/4 expected (16x the images)


def test_image_resampling_wider_than_row_resampling_under_clustering():
    rng = np.random.default_rng(21)
    n_img, per = 60, 20
    u = np.repeat(rng.normal(0, 1.5, n_img), per)  # strong per-image effect shared by both
    x = u + rng.normal(size=u.size)
    y = u + rng.normal(size=u.size)
    img = np.repeat(np.arange(n_img), per).astype(str)
    row = _get(alignment_table(_xy_frame(x, y, img), ["q"], ["m"], {"q": True},
                               targets=["p_true"], scopes=["all"], n_boot=1000, seed=0),
               "q", "p_true", "all")
    grouped_width = row.spearman_hi - row.spearman_lo
    # naive bootstrap that resamples rows independently
    idx = np.random.default_rng(0).integers(0, x.size, size=(1000, x.size))
    rx = stats.rankdata(x[idx], axis=1)
    ry = stats.rankdata(y[idx], axis=1)
    rx -= rx.mean(axis=1, keepdims=True)
    ry -= ry.mean(axis=1, keepdims=True)
    naive = (rx * ry).sum(1) / np.sqrt((rx * rx).sum(1) * (ry * ry).sum(1))
    lo, hi = np.quantile(naive, [0.025, 0.975])
    assert lo < row.spearman < hi
    assert grouped_width > 2.0 * (hi - lo)


def test_within_scope_removes_between_image_signal():
    rng = np.random.default_rng(4)
    n_img, per = 1000, 10
    a = np.repeat(rng.normal(0, 2, n_img), per)  # per-image difficulty
    metric = a + rng.normal(0, 0.3, a.size)  # knows only the image, not the condition
    logit = a + rng.normal(0, 1, a.size)  # within-image variation unrelated to the metric
    p = 1 / (1 + np.exp(-logit))
    img = np.repeat(np.arange(n_img), per).astype(str)
    df = _xy_frame(metric, p, img)
    tab = alignment_table(df, ["q"], ["m"], {"q": True}, targets=["p_true"], n_boot=500)
    allr = _get(tab, "q", "p_true", "all")
    within = _get(tab, "q", "p_true", "within")
    assert allr.spearman > 0.7
    assert abs(within.spearman) < 0.04  # SE ~0.01: true value is exactly 0
    assert within.spearman_lo < 0 < within.spearman_hi
    assert within.spearman_hi - within.spearman_lo < 0.06
    assert within.n == n_img


# ---------------------------------------------------------------------------
# NaN, determinism, validation
# ---------------------------------------------------------------------------

def test_nan_rows_are_dropped_per_computation():
    df = _perf_frame(n_img=30, per=10, seed=1)
    rng = np.random.default_rng(1)
    df["q"] = df["m.p_true"] + rng.normal(0, 0.2, len(df))
    holes = np.zeros(len(df), bool)
    holes[rng.choice(len(df), 25, replace=False)] = True
    holes[df.severity.to_numpy() == 0] = False  # every image keeps rows
    df_nan = df.copy()
    df_nan.loc[holes, "q"] = np.nan
    kw = dict(metrics=["q"], models=["m"], higher_is_better={"q": True}, n_boot=200, seed=3)
    with_nan = alignment_table(df_nan, **kw)
    dropped = alignment_table(df[~holes], **kw)
    pd.testing.assert_frame_equal(with_nan, dropped)
    n_holes = int(holes.sum())
    assert 15 < n_holes <= 25
    assert (with_nan[with_nan.scope == "all"].n == len(df) - n_holes).all()
    assert np.isfinite(with_nan[["spearman", "spearman_lo", "spearman_hi", "kendall",
                                 "auroc"]].to_numpy()).all()
    # a NaN only in one target affects only that target's n
    df_nan.loc[0:4, "m.loss"] = np.nan
    tab = alignment_table(df_nan, **kw)
    assert _get(tab, "q", "loss", "all").n == _get(tab, "q", "p_true", "all").n - int((~holes[:5]).sum())


def test_deterministic_for_seed():
    df = _bivariate(50, 6, 0.3, 0)
    kw = dict(metrics=["q"], models=["m"], higher_is_better={"q": True}, targets=["p_true"],
              n_boot=300)
    a = alignment_table(df, seed=5, **kw)
    b = alignment_table(df, seed=5, **kw)
    c = alignment_table(df, seed=6, **kw)
    pd.testing.assert_frame_equal(a, b)
    assert not np.allclose(a.spearman_lo, c.spearman_lo)
    np.testing.assert_array_equal(a.spearman, c.spearman)  # point estimates don't depend on seed
    # the interval of one metric does not depend on which other metrics are analysed
    df["q2"] = -df["q"] + 0.1 * np.arange(len(df)) % 3
    d = alignment_table(df, metrics=["q2", "q"], models=["m"], higher_is_better={"q": True, "q2": False},
                        targets=["p_true"], n_boot=300, seed=5)
    pd.testing.assert_frame_equal(d[d.metric == "q"].reset_index(drop=True), a)


def test_missing_columns_raise_naming_the_column():
    df = _perf_frame()
    df["q"] = df["m.p_true"]
    with pytest.raises(ValueError, match="'brisque'"):
        alignment_table(df, ["brisque"], ["m"], {"brisque": False})
    with pytest.raises(ValueError, match=re.escape("'other.top1'")):
        alignment_table(df, ["q"], ["other"], {"q": True})
    with pytest.raises(ValueError, match="'photo'"):
        alignment_table(df, ["q"], ["m"], {"q": True}, group_col="photo")
    with pytest.raises(ValueError, match="higher_is_better.*'q'"):
        alignment_table(df, ["q"], ["m"], {})
    with pytest.raises(ValueError, match="scope"):
        alignment_table(df, ["q"], ["m"], {"q": True}, scopes=["between"])
    df.loc[3, "m.top1"] = 0.7
    with pytest.raises(ValueError, match="0/1"):
        alignment_table(df, ["q"], ["m"], {"q": True})


# ---------------------------------------------------------------------------
# Presentation
# ---------------------------------------------------------------------------

def _demo_table() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    df = _perf_frame(n_img=40, per=8, seed=0)
    df["good"] = df["m.p_true"] + rng.normal(0, 0.1, len(df))
    df["bad"] = df["m.p_true"] + rng.normal(0, 1.0, len(df))
    df["brisque"] = -df["m.p_true"] + rng.normal(0, 0.3, len(df))
    return alignment_table(df, ["bad", "good", "brisque"], ["m"],
                           {"good": True, "bad": True, "brisque": False}, n_boot=100)


def test_to_markdown():
    tab = _demo_table()
    md = to_markdown(tab)
    lines = md.strip().splitlines()
    assert lines[0] == "| model | target | scope | metric | n | spearman [CI] | kendall | auroc |"
    assert lines[1].startswith("|---")
    assert len(lines) == 2 + len(tab)
    r = _get(tab, "good", "top1", "all")
    expected = f"{r.spearman:.3f} [{r.spearman_lo:.2f}, {r.spearman_hi:.2f}]"
    assert any(f"| good | {r.n} | {expected} |" in ln for ln in lines)
    body = [ln.split(" | ") for ln in lines[2:]]
    # first block: m / top1 / all, sorted by descending rho: good, brisque, bad
    assert [c[3] for c in body[:3]] == ["good", "brisque", "bad"]
    assert [c[1] for c in body[:3]] == ["top1"] * 3
    # loss block: most negative rho first
    loss_all = [c[3] for c in body if c[1] == "loss" and c[2] == "all"]
    assert loss_all == ["good", "brisque", "bad"]
    assert re.fullmatch(r"-?\d\.\d{3} \[-?\d\.\d{2}, -?\d\.\d{2}\]", body[0][5])


def test_summarize_best():
    tab = _demo_table()
    best = summarize_best(tab)
    assert list(best.metric) == ["good", "brisque", "bad"]
    assert list(best["rank"]) == [1, 2, 3]
    assert (best.model == "m").all()
    best_loss = summarize_best(tab, target="loss", scope="within")
    assert best_loss.metric.iloc[0] == "good"
    assert best_loss.spearman.iloc[0] < 0
