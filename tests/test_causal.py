"""Tests for iqalign.analysis.causal: interventional sensitivity, decomposition, population."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from iqalign.analysis import causal as ca
from iqalign.analysis.bootstrap import resample_counts
from iqalign.analysis.causal import (DECOMPOSITION_COLUMNS, POPULATION_COLUMNS, SENSITIVITY_COLUMNS, causal_markdown,
                                     causal_tables, decomposition_table, population_summary, sensitivity_table,
                                     write_causal_tables)


def _grid(n_img: int, cells=(("blur", 1), ("blur", 3), ("noise", 1), ("noise", 3)), clean: bool = True):
    """Image x condition frame in benchmark layout (clean: corruption 'none', severity 0)."""
    conds = ([("none", 0)] if clean else []) + list(cells)
    rows = [{"image_id": f"img{i:03d}", "corruption": c, "severity": s,
             "condition": "clean" if s == 0 else f"{c}@{s}"} for i in range(n_img) for c, s in conds]
    return pd.DataFrame(rows)


def _get(table, metric, target, scope, model="m"):
    sel = table[(table.metric == metric) & (table.model == model) & (table.target == target) & (table.scope == scope)]
    assert len(sel) == 1
    return sel.iloc[0]


# ---------------------------------------------------------------------------
# Sensitivity: paired differences against the clean row of the same image
# ---------------------------------------------------------------------------

def _tiny():
    """3 images x (clean, a@1, b@1, c@1) with hand-set Q and M."""
    df = _grid(3, cells=(("a", 1), ("b", 1), ("c", 1)))
    # per image: clean, a, b, c
    q = np.array([[10, 8, 9, 4],
                  [20, 17, 20, 15],
                  [30, 26, 28, 24]], float)
    p = np.array([[0.9, 0.7, 0.8, 0.2],
                  [0.8, 0.7, 0.8, 0.3],
                  [0.7, 0.6, 0.6, 0.1]])
    df["q"] = q.ravel()
    df["q_low"] = -q.ravel()  # lower is better: same metric once oriented
    df["m.p_true"] = p.ravel()
    df["m.loss"] = -np.log(p.ravel())
    return df, q, p


def test_sensitivity_hand_computed():
    df, q, p = _tiny()
    tab = sensitivity_table(df, ["q", "q_low"], ["m"], {"q": True, "q_low": False}, targets=["p_true", "loss"],
                            n_boot=0)
    assert list(tab.columns) == SENSITIVITY_COLUMNS
    for metric in ("q", "q_low"):  # orientation: identical numbers
        cells = tab[(tab.metric == metric) & (tab.target == "p_true") & (tab.kind == "cell")]
        assert list(cells.condition) == ["a@1", "b@1", "c@1"]
        assert list(cells.severity) == [1, 1, 1]
        np.testing.assert_allclose(cells.q_effect, (q[:, 1:] - q[:, :1]).mean(axis=0))
        np.testing.assert_allclose(cells.m_effect, (p[:, 1:] - p[:, :1]).mean(axis=0))
        np.testing.assert_allclose(cells.q_clean, q[:, 0].mean())
        np.testing.assert_allclose(cells.m_clean, p[:, 0].mean())
        assert (cells.n_images == 3).all() and (cells.n_cells == 1).all()
        assert cells.q_effect_lo.isna().all()  # n_boot = 0: no intervals
        np.testing.assert_allclose(cells.q_effect_sd, cells.q_effect / np.std(q.ravel()))
        agree = tab[(tab.metric == metric) & (tab.target == "p_true") & (tab.kind == "agreement")].iloc[0]
        assert agree.condition == "all" and pd.isna(agree.severity) and agree.n_cells == 3 and agree.n_images == 3
        qe, me = (q[:, 1:] - q[:, :1]).mean(0), (p[:, 1:] - p[:, :1]).mean(0)
        assert agree.spearman == pytest.approx(stats.spearmanr(qe, me)[0])
        assert np.isnan(agree.hit_rate) and np.isnan(agree.false_alarm_rate)  # need intervals
    # loss: M effect is the raw change of the loss; agreement negative
    loss = tab[(tab.metric == "q") & (tab.target == "loss")]
    cells = loss[loss.kind == "cell"]
    np.testing.assert_allclose(cells.m_effect, (-np.log(p[:, 1:]) + np.log(p[:, :1])).mean(axis=0))
    agree = loss[loss.kind == "agreement"].iloc[0]
    assert agree.spearman < 0


def test_hit_and_false_alarm_rates():
    """Cells: M clearly falls in a, b; not in c (M unchanged) and d (M rises). Q falls in a and c."""
    rng = np.random.default_rng(1)
    df = _grid(30, cells=(("a", 1), ("b", 1), ("c", 1), ("d", 1)))
    cell = df.condition.map({"clean": 0, "a@1": 1, "b@1": 2, "c@1": 3, "d@1": 4}).to_numpy()
    q_shift = np.array([0, -1, 0, -1, 0])[cell]
    m_shift = np.array([0, -0.3, -0.3, 0, 0.2])[cell]
    df["q"] = q_shift + rng.normal(0, 0.05, len(df))
    df["m.p_true"] = 0.6 + m_shift + rng.normal(0, 0.02, len(df))
    df["m.loss"] = -np.log(df["m.p_true"])
    tab = sensitivity_table(df, ["q"], ["m"], {"q": True}, targets=["p_true", "loss"], n_boot=200)
    for target in ("p_true", "loss"):  # the same reading for a lower-is-better target
        agree = tab[(tab.kind == "agreement") & (tab.target == target)].iloc[0]
        assert agree.hit_rate == pytest.approx(0.5)  # of a, b: only a
        assert agree.false_alarm_rate == pytest.approx(0.5)  # of c, d: c


def test_sensitivity_drops_incomplete_pairs_and_unpaired_images():
    df, q, p = _tiny()
    df.loc[(df.image_id == "img000") & (df.condition == "a@1"), "m.p_true"] = np.nan  # one cell, one image
    df = df[~((df.image_id == "img001") & (df.condition == "clean"))]  # image 1 has no clean row
    tab = sensitivity_table(df, ["q"], ["m"], {"q": True}, targets=["p_true"], n_boot=0)
    cells = tab[tab.kind == "cell"].set_index("condition")
    assert cells.loc["a@1", "n_images"] == 1 and cells.loc["b@1", "n_images"] == 2
    assert cells.loc["a@1", "q_effect"] == pytest.approx(q[2, 1] - q[2, 0])
    assert cells.loc["b@1", "q_effect"] == pytest.approx(np.mean(q[[0, 2], 2] - q[[0, 2], 0]))
    assert tab[tab.kind == "agreement"].iloc[0].n_images == 2


def test_sensitivity_bootstrap_matches_explicit_resampling():
    rng = np.random.default_rng(0)
    df = _grid(25)
    df["q"] = rng.normal(size=len(df))
    df["m.p_true"] = rng.uniform(size=len(df))
    n_boot, seed = 300, 5
    tab = sensitivity_table(df, ["q"], ["m"], {"q": True}, targets=["p_true"], n_boot=n_boot, seed=seed)
    counts = resample_counts(25, n_boot, np.random.default_rng(seed))
    wide_q = df.pivot(index="image_id", columns="condition", values="q")
    wide_m = df.pivot(index="image_id", columns="condition", values="m.p_true")
    cells = tab[tab.kind == "cell"].set_index("condition")
    reps_q, reps_m = [], []
    for c in cells.index:
        dq = (wide_q[c] - wide_q["clean"]).to_numpy()
        dm = (wide_m[c] - wide_m["clean"]).to_numpy()
        rq = counts @ dq / 25
        rm = counts @ dm / 25
        reps_q.append(rq)
        reps_m.append(rm)
        lo, hi = np.quantile(rq, [0.025, 0.975])
        assert cells.loc[c, "q_effect_lo"] == pytest.approx(lo) and cells.loc[c, "q_effect_hi"] == pytest.approx(hi)
        lo, hi = np.quantile(rm, [0.025, 0.975])
        assert cells.loc[c, "m_effect_lo"] == pytest.approx(lo) and cells.loc[c, "m_effect_hi"] == pytest.approx(hi)
    rho = [stats.spearmanr(a, b)[0] for a, b in zip(np.array(reps_q).T, np.array(reps_m).T)]
    agree = tab[tab.kind == "agreement"].iloc[0]
    assert (agree.spearman_lo, agree.spearman_hi) == pytest.approx(tuple(np.quantile(rho, [0.025, 0.975])))
    # same seed, same numbers
    again = sensitivity_table(df, ["q"], ["m"], {"q": True}, targets=["p_true"], n_boot=n_boot, seed=seed)
    pd.testing.assert_frame_equal(tab, again)


def test_sensitivity_needs_clean_rows_and_unique_rows():
    df = _grid(4, clean=False)
    df["q"], df["m.p_true"] = 1.0, 0.5
    with pytest.raises(ValueError, match="no clean rows"):
        sensitivity_table(df, ["q"], ["m"], {"q": True}, targets=["p_true"])
    df = _grid(4)
    df["q"], df["m.p_true"] = 1.0, 0.5
    with pytest.raises(ValueError, match="several rows"):
        sensitivity_table(pd.concat([df, df.iloc[:1]]), ["q"], ["m"], {"q": True}, targets=["p_true"])
    with pytest.raises(ValueError, match="higher_is_better"):
        sensitivity_table(df, ["q"], ["m"], {}, targets=["p_true"])
    with pytest.raises(ValueError, match="m.top1"):
        sensitivity_table(df, ["q"], ["m"], {"q": True}, targets=["top1"])


# ---------------------------------------------------------------------------
# Decomposition: exact agreement with explicit rank computations
# ---------------------------------------------------------------------------

def _pearson(a, b):
    return float(np.corrcoef(a, b)[0, 1])


def _world(n_img=40, seed=0, content_w=1.0, cond_w=1.0, noise=0.5):
    """Q and M both driven by an image effect (content) and a cell effect (condition)."""
    rng = np.random.default_rng(seed)
    df = _grid(n_img)
    img = df.image_id.str[3:].astype(int).to_numpy()
    cell = pd.factorize(df.condition)[0]
    content = rng.normal(size=n_img)[img]
    cond = np.array([0, -1, -3, -0.5, -2])[cell]
    df["m.p_true"] = content + cond + rng.normal(0, noise, len(df))
    df["q"] = content_w * content + cond_w * cond + rng.normal(0, noise, len(df))
    return df


def _explicit(df, q="q", y="m.p_true"):
    """Reference implementation of every scope with pandas and least squares."""
    rq = stats.rankdata(df[q])
    ry = stats.rankdata(df[y])
    g = df.image_id.to_numpy()
    c = df.condition.to_numpy()
    f = pd.DataFrame({"g": g, "c": c, "q": rq, "y": ry})
    im = f.groupby("g")[["q", "y"]].transform("mean")
    cm = f.groupby("c")[["q", "y"]].transform("mean")
    means = f.groupby("g")[["q", "y"]].mean()
    dummies = np.column_stack([pd.get_dummies(g).to_numpy(float), pd.get_dummies(c).to_numpy(float)])

    def resid(v):
        coef, *_ = np.linalg.lstsq(dummies, v, rcond=None)
        return v - dummies @ coef
    return {"all": _pearson(rq, ry), "between": _pearson(means.q, means.y),
            "within": _pearson(f.q - im.q, f.y - im.y), "given_condition": _pearson(f.q - cm.q, f.y - cm.y),
            "within_given_condition": _pearson(resid(rq), resid(ry))}


@pytest.mark.parametrize("incomplete", [False, True])
def test_decomposition_matches_explicit_computation(incomplete):
    df = _world()
    if incomplete:  # drop some rows: image sizes differ, the two-way residual needs iterating
        df = df.drop(index=[3, 7, 8, 50, 51, 52, 120]).reset_index(drop=True)
    tab = decomposition_table(df, ["q"], ["m"], {"q": True}, targets=["p_true"], n_boot=0, n_perm=0)
    assert list(tab.columns) == DECOMPOSITION_COLUMNS
    assert list(tab.scope) == list(ca.DECOMPOSITION_SCOPES)
    ref = _explicit(df)
    for scope, value in ref.items():
        r = _get(tab, "q", "p_true", scope)
        if scope == "between" and incomplete:
            continue  # rows-weighted image means; checked below
        assert r.spearman == pytest.approx(value, abs=1e-9), scope
    assert _get(tab, "q", "p_true", "all").spearman == pytest.approx(stats.spearmanr(df.q, df["m.p_true"])[0])
    assert _get(tab, "q", "p_true", "between").n == 40
    assert _get(tab, "q", "p_true", "within").n == len(df)
    if incomplete:  # between = Pearson of image mean ranks weighted by the image's rows
        rq, ry = stats.rankdata(df.q), stats.rankdata(df["m.p_true"])
        f = pd.DataFrame({"g": df.image_id, "q": rq - rq.mean(), "y": ry - ry.mean()}).groupby("g")
        mq, my, n = f.q.mean(), f.y.mean(), f.size()
        want = (n * mq * my).sum() / np.sqrt((n * mq ** 2).sum() * (n * my ** 2).sum())
        assert _get(tab, "q", "p_true", "between").spearman == pytest.approx(want, abs=1e-9)


def test_decomposition_shares_add_up_and_orientation():
    df = _world(seed=3)
    df["q_neg"] = -df["q"]
    tab = decomposition_table(df, ["q", "q_neg"], ["m"], {"q": True, "q_neg": False}, targets=["p_true"],
                              n_boot=50, n_perm=50)
    a = tab[tab.metric == "q"].reset_index(drop=True)
    b = tab[tab.metric == "q_neg"].reset_index(drop=True)
    pd.testing.assert_series_equal(a.spearman, b.spearman)
    share = a.set_index("scope").share
    assert share["all"] == pytest.approx(1.0)
    assert share["between"] + share["within"] == pytest.approx(1.0)
    for _, r in a.iterrows():
        assert r.spearman_lo <= r.spearman + 1e-12 and r.spearman <= r.spearman_hi + 1e-12
        assert np.isnan(r.p_value) == (r.scope not in ("given_condition", "within_given_condition"))


def test_bootstrap_replicates_equal_explicit_duplication():
    df = _world(n_img=15, seed=4)
    codes = pd.factorize(df.image_id, sort=True)[0]
    cells = pd.factorize(df.condition)[0]
    lay = ca._Layout(codes, cells, 15, 5)
    cols = {"q": df.q.to_numpy(), "y": df["m.p_true"].to_numpy()}
    counts = resample_counts(15, 6, np.random.default_rng(2))
    rho, share, _ = ca._decomp_reps(cols, [("q", "y")], lay, counts)
    for b in range(counts.shape[0]):
        parts = []
        for g in range(15):
            for k in range(counts[b, g]):
                part = df[codes == g].copy()
                part["image_id"] = f"{g}-{k}"  # a copy drawn twice is two images with equal rows
                parts.append(part)
        dup = pd.concat(parts, ignore_index=True)
        ref = _explicit(dup)
        for scope, value in ref.items():
            assert rho[(("q", "y"), scope)][b] == pytest.approx(value, abs=1e-9), (b, scope)


def test_content_only_and_condition_only_metrics():
    """The known answers in miniature: content-only has no within-photo alignment, condition-only no
    information beyond the condition label."""
    rng = np.random.default_rng(11)
    df = _world(n_img=80, seed=11, noise=0.3)
    img = df.image_id.str[3:].astype(int).to_numpy()
    content = df.groupby("image_id")["m.p_true"].transform("mean").to_numpy()
    cond = df.groupby("condition")["m.p_true"].transform("mean").to_numpy()
    df["content_exact"] = content  # constant within each photo
    df["content_only"] = content + rng.normal(0, 0.01, len(df))
    df["cond_only"] = cond + rng.normal(0, 0.01, len(df))
    assert img.size == len(df)
    tab = decomposition_table(df, ["content_exact", "content_only", "cond_only"], ["m"],
                              dict.fromkeys(["content_exact", "content_only", "cond_only"], True),
                              targets=["p_true"], n_boot=200, n_perm=200)
    assert np.isnan(_get(tab, "content_exact", "p_true", "within").spearman)  # no within-photo variance
    assert _get(tab, "content_exact", "p_true", "between").spearman > 0.9
    w = _get(tab, "content_only", "p_true", "within")
    assert abs(w.spearman) < 0.1 and w.spearman_lo < 0 < w.spearman_hi
    assert _get(tab, "content_only", "p_true", "all").spearman > 0.3
    g = _get(tab, "content_only", "p_true", "given_condition")
    assert g.spearman > 0.5 and g.p_value == pytest.approx(1 / 201)
    assert _get(tab, "cond_only", "p_true", "within").spearman > 0.7
    g = _get(tab, "cond_only", "p_true", "given_condition")
    assert abs(g.spearman) < 0.1 and g.p_value > 0.01
    assert _get(tab, "cond_only", "p_true", "given_condition").share < 0.05


def test_permutation_pvalue_calibrated_under_independence():
    ps = []
    for seed in range(20):
        rng = np.random.default_rng(100 + seed)
        df = _grid(20)
        df["q"] = rng.normal(size=len(df))
        df["m.p_true"] = rng.normal(size=len(df))
        tab = decomposition_table(df, ["q"], ["m"], {"q": True}, targets=["p_true"], n_boot=0, n_perm=99,
                                  seed=seed)
        ps.append(_get(tab, "q", "p_true", "given_condition").p_value)
    ps = np.array(ps)
    assert ((ps > 0) & (ps <= 1)).all()
    assert (ps < 0.05).sum() <= 3  # about 1 expected in 20


def test_exclude_and_deterministic():
    df = _world()
    df["r"] = df["q"] * 2
    kw = dict(targets=["p_true"], n_boot=40, n_perm=40, seed=9)
    t1 = decomposition_table(df, ["q", "r"], ["m"], {"q": True, "r": True}, exclude=[("r", "m")], **kw)
    assert set(t1.metric) == {"q"}
    t2 = decomposition_table(df, ["q", "r"], ["m"], {"q": True, "r": True}, exclude=[("r", "m")], **kw)
    pd.testing.assert_frame_equal(t1, t2)


# ---------------------------------------------------------------------------
# Population summary and the combined tables
# ---------------------------------------------------------------------------

def test_population_summary_hand_computed():
    t = pd.DataFrame({"metric": ["q"] * 6, "model": ["a", "b", "c"] * 2,
                      "target": ["p_true"] * 3 + ["loss"] * 3, "scope": ["within"] * 6,
                      "spearman": [0.5, 0.2, np.nan, -0.5, -0.2, -0.4],
                      "spearman_lo": [0.4, 0.1, np.nan, -0.6, -0.3, -0.5],
                      "spearman_hi": [0.6, 0.3, np.nan, -0.4, -0.1, -0.3]})
    s = population_summary(t)
    assert list(s.columns) == POPULATION_COLUMNS
    p = s[s.target == "p_true"].iloc[0]
    assert p.n_models == 2 and p["mean"] == pytest.approx(0.35)
    assert p.worst == pytest.approx(0.2) and p.worst_model == "b" and p.worst_bound == pytest.approx(0.1)
    assert p.best == pytest.approx(0.5) and p.best_model == "a" and p.spread == pytest.approx(0.3)
    loss = s[s.target == "loss"].iloc[0]  # lower is better: the worst is the least negative
    assert loss.n_models == 3 and loss.worst_model == "b" and loss.worst_bound == pytest.approx(-0.1)
    assert loss.best_model == "a" and loss.spread == pytest.approx(0.3)


def test_causal_tables_write_and_markdown(tmp_path):
    df = _world(n_img=20)
    df["m2.p_true"] = df["m.p_true"] + np.random.default_rng(0).normal(0, 1, len(df))
    tables = causal_tables(df, ["q"], ["m", "m2"], {"q": True}, targets=["p_true"], n_boot=30, n_perm=30)
    assert set(tables) == {"sensitivity", "decomposition", "population"}
    pop = tables["population"]
    assert set(pop.scope) == set(ca.DECOMPOSITION_SCOPES) | {"rank_agreement"}
    row = pop[pop.scope == "within"].iloc[0]
    assert row.n_models == 2 and row.worst_model == "m2"
    paths = write_causal_tables(tmp_path, tables)
    for name in ("sensitivity", "decomposition", "population"):
        back = pd.read_csv(paths[name])
        assert list(back.columns) == list(tables[name].columns) and len(back) == len(tables[name])
    md = causal_markdown(tables)
    assert "**m**" in md and "**m2**" in md and "| q |" in md
    # no clean rows: decomposition still runs, sensitivity is empty
    no_clean = df[df.severity > 0]
    t = causal_tables(no_clean, ["q"], ["m"], {"q": True}, targets=["p_true"], n_boot=0, n_perm=0)
    assert t["sensitivity"].empty and len(t["decomposition"]) == 5
