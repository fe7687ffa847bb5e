"""Distribution summaries of ``score`` and ``compare``: hand-computed values on tiny frames, known orders,
and a small end-to-end run."""
from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.stats import percentileofscore

from iqalign.audit import (cliffs_delta, compare_scores, group_columns, histograms, percentile_ranks, quantile_table,
                           smd, worst_images)
from iqalign.audit import cli as audit_cli
from iqalign.audit.compare import compare_folders, expected_accuracy_change
from iqalign.sources import ImageRecord

SPECS = {"up": {"name": "up", "higher_is_better": True}, "down": {"name": "down", "higher_is_better": False}}


@pytest.fixture
def tiny() -> pd.DataFrame:
    """Four readable images and one unreadable (all NaN, with an error); two folders."""
    return pd.DataFrame({
        "path": ["/d/x/a.png", "/d/x/b.png", "/d/y/c.png", "/d/y/d.png", "/d/y/e.png"],
        "image_id": ["x/a.png", "x/b.png", "y/c.png", "y/d.png", "y/e.png"],
        "label": pd.array([None] * 5, dtype="Int64"),
        "up": [1.0, 2.0, 3.0, 4.0, np.nan],
        "down": [10.0, 40.0, 20.0, 30.0, np.nan],
        "error": [None, None, None, None, "y/e.png: cannot identify image file"],
        "g": ["x", "x", "y", "y", "y"],
    })


def test_quantiles_overall_by_hand(tiny):
    t = quantile_table(tiny, ["up", "down"]).set_index(["group", "metric"])
    up = t.loc[("all", "up")]
    assert (up["n_rows"], up["n_errors"], up["n"], up["n_missing"]) == (5, 1, 4, 1)
    # numpy's linear interpolation on [1, 2, 3, 4]: q = 1 + p * 3
    expected = {"min": 1, "q05": 1.15, "q25": 1.75, "median": 2.5, "q75": 3.25, "q95": 3.85, "max": 4, "mean": 2.5,
                "std": math.sqrt(5 / 3)}
    for key, value in expected.items():
        assert up[key] == pytest.approx(value), key
    down = t.loc[("all", "down")]
    assert down["median"] == pytest.approx(25.0) and down["q25"] == pytest.approx(17.5)


def test_quantiles_per_group_by_hand(tiny):
    t = quantile_table(tiny, ["up"], groups=["g"])
    assert list(t["group"]) == ["all", "g", "g"] and list(t["group_value"]) == ["all", "x", "y"]
    x = t[t["group_value"] == "x"].iloc[0]
    y = t[t["group_value"] == "y"].iloc[0]
    assert (x["n_rows"], x["n"], x["n_missing"], x["n_errors"]) == (2, 2, 0, 0)
    assert x["median"] == pytest.approx(1.5) and x["q05"] == pytest.approx(1.05) and x["std"] == pytest.approx(
        math.sqrt(0.5))
    assert (y["n_rows"], y["n"], y["n_missing"], y["n_errors"]) == (3, 2, 1, 1)
    assert y["median"] == pytest.approx(3.5) and y["max"] == 4


def test_quantiles_of_a_single_value_and_of_none():
    frame = pd.DataFrame({"path": ["a", "b"], "m": [5.0, np.nan], "error": [None, "broken"]})
    t = quantile_table(frame, ["m"]).iloc[0]
    assert t["n"] == 1 and t["median"] == 5 and t["q05"] == 5 and np.isnan(t["std"])
    empty = quantile_table(frame.iloc[1:], ["m"]).iloc[0]
    assert empty["n"] == 0 and empty["n_missing"] == 1 and np.isnan(empty["median"])


def test_histogram_counts_and_shared_edges(tiny):
    h = histograms(tiny, ["up"], bins=3, groups=["g"])
    overall = h[h["group"] == "all"]
    assert list(overall["left"]) == [1, 2, 3] and list(overall["right"]) == [2, 3, 4]
    assert list(overall["count"]) == [1, 1, 2]  # [1,2) [2,3) [3,4]: the last bin holds its right edge
    x = h[(h["group"] == "g") & (h["group_value"] == "x")]
    y = h[(h["group"] == "g") & (h["group_value"] == "y")]
    assert list(x["count"]) == [1, 1, 0] and list(y["count"]) == [0, 0, 2]
    assert list(x["left"]) == list(overall["left"]) == list(y["left"])  # shared edges


def test_histogram_of_a_constant_metric_and_an_empty_one():
    frame = pd.DataFrame({"path": list("abc"), "c": [2.0, 2.0, 2.0], "e": [np.nan] * 3})
    h = histograms(frame, ["c", "e"], bins=2)
    assert set(h["metric"]) == {"c"}
    assert list(h["left"]) == [1.5, 2.0] and h["count"].sum() == 3


def test_percentile_ranks_known_order_and_direction(tiny):
    p = percentile_ranks(tiny, ["up", "down"], SPECS)
    assert list(p["path"]) == list(tiny["path"])
    np.testing.assert_allclose(p["up"].iloc[:4], [12.5, 37.5, 62.5, 87.5])
    # lower is better: 10 best, 40 worst
    np.testing.assert_allclose(p["down"].iloc[:4], [87.5, 12.5, 62.5, 37.5])
    assert p[["up", "down"]].iloc[4].isna().all()  # the unreadable image has no rank


def test_percentile_ranks_ties_match_scipy_mean_kind():
    values = [5.0, 5.0, 1.0, 9.0]
    frame = pd.DataFrame({"path": list("abcd"), "m": values})
    p = percentile_ranks(frame, ["m"], {"m": True})["m"]
    np.testing.assert_allclose(p, [50.0, 50.0, 12.5, 87.5])
    np.testing.assert_allclose(p, [percentileofscore(values, v, kind="mean") for v in values])
    flipped = percentile_ranks(frame, ["m"], {"m": False})["m"]
    np.testing.assert_allclose(flipped, 100 - p)  # reversing the direction maps p to 100 - p
    assert percentile_ranks(frame.iloc[:1], ["m"], {"m": True})["m"].iloc[0] == 50.0


def test_worst_images_follow_direction_and_break_ties_by_path(tiny):
    w = worst_images(tiny, ["up", "down"], SPECS, n=2)
    up = w[w["metric"] == "up"]
    down = w[w["metric"] == "down"]
    assert list(up["image_id"]) == ["x/a.png", "x/b.png"] and list(up["rank"]) == [1, 2]
    assert list(down["image_id"]) == ["x/b.png", "y/d.png"]  # 40 then 30: lower is better
    assert list(down["value"]) == [40.0, 30.0] and list(down["percentile"]) == [12.5, 37.5]
    ties = pd.DataFrame({"path": ["z", "b", "a", "c"], "m": [5.0, 5.0, 5.0, 1.0]})
    assert list(worst_images(ties, ["m"], {"m": True}, n=3)["path"]) == ["c", "a", "b"]
    assert list(worst_images(ties, ["m"], {"m": False}, n=3)["path"]) == ["a", "b", "z"]
    assert len(worst_images(tiny, ["up"], SPECS, n=10)) == 4  # only images with a value


def test_group_columns_class_folder_and_manifest():
    records = [ImageRecord("a/1.png", Path("/d/a/1.png"), 1, "goldfish", {"camera": "x", "label": "1"}),
               ImageRecord("2.png", Path("/d/2.png"), None, None, {"camera": "", "label": ""})]
    g = group_columns(records, ["class", "folder", "camera"], "m.csv")
    assert list(g["class"]) == ["goldfish", "(none)"] and list(g["folder"]) == ["a", "."]
    assert list(g["camera"]) == ["x", "(empty)"]
    with pytest.raises(ValueError, match="m.csv has no column 'lens'"):
        group_columns(records, ["lens"], "m.csv")
    plain = [ImageRecord("1.png", Path("/d/1.png"))]
    with pytest.raises(ValueError, match="needs labels, and /d has none"):
        group_columns(plain, ["class"], "/d")
    with pytest.raises(ValueError, match="/d is not a CSV manifest"):
        group_columns(plain, ["camera"], "/d")


def test_cliffs_delta_and_smd_by_hand():
    a, b = [1.0, 2.0, 3.0], [2.0, 3.0, 4.0]
    # pairs with b > a: 1 + 2 + 3 = 6; b < a: 1 (2 < 3); ties 2 -> (6 - 1) / 9
    assert cliffs_delta(a, b) == pytest.approx(5 / 9)
    assert cliffs_delta(b, a) == pytest.approx(-5 / 9)
    assert smd(a, b) == pytest.approx(1.0)  # mean difference 1, pooled sd 1
    assert np.isnan(cliffs_delta([], b))


def test_compare_known_shift_and_direction():
    rng = np.random.default_rng(0)
    a = pd.DataFrame({"up": rng.normal(0, 1, 200), "down": rng.normal(0, 1, 200)})
    b = pd.DataFrame({"up": rng.normal(-1, 1, 150), "down": rng.normal(-1, 1, 150)})
    t = compare_scores(a, b, ["up", "down"], SPECS).set_index("metric")
    assert t.loc["up", "cliffs_delta"] < -0.3 and t.loc["up", "quality_delta"] == t.loc["up", "cliffs_delta"]
    assert t.loc["up", "p_mannwhitney"] < 1e-6 and t.loc["up", "p_ks"] < 1e-6
    assert t.loc["up", "verdict"] == t.loc["up", "direction"] == "B is lower quality"
    # lower is better and B is lower: B is higher quality
    assert t.loc["down", "quality_delta"] == -t.loc["down", "cliffs_delta"] > 0
    assert t.loc["down", "verdict"] == "B is higher quality"
    assert t.loc["up", "smd"] == pytest.approx(smd(a["up"], b["up"]))
    assert (t.loc["up", "n_a"], t.loc["up", "n_b"]) == (200, 150)
    # Cliff's delta is 2U/(n_a n_b) - 1 with U the Mann-Whitney statistic of B against A
    assert t.loc["up", "cliffs_delta"] == pytest.approx(2 * t.loc["up", "mannwhitney_u"] / (200 * 150) - 1)


def test_compare_identical_samples_has_no_shift():
    x = pd.DataFrame({"up": np.random.default_rng(1).normal(size=50)})
    r = compare_scores(x, x.copy(), ["up"], SPECS).iloc[0]
    assert r["cliffs_delta"] == 0 and r["smd"] == 0
    assert r["p_mannwhitney"] == pytest.approx(1.0) and r["p_ks"] == pytest.approx(1.0)
    assert r["verdict"] == "no clear difference" and r["magnitude"] == "negligible" and r["direction"] == "no shift"


def test_compare_pairs_the_same_photos():
    """The same 60 photos before and after a change that lowers quality slightly on every photo: the spread
    between photos hides it from the unpaired test; the paired test on the same photos sees it."""
    from scipy.stats import mannwhitneyu, wilcoxon

    rng = np.random.default_rng(3)
    ids = [f"p{i}.jpg" for i in range(60)]
    before = rng.normal(0, 1, 60)
    after = before - 0.3 + rng.normal(0, 0.05, 60)
    a = pd.DataFrame({"image_id": ids, "up": before})
    b = pd.DataFrame({"image_id": ids[::-1], "up": after[::-1]})  # row order does not matter: ids pair them
    r = compare_scores(a, b, ["up"], SPECS).iloc[0]
    assert r["test"] == "wilcoxon (paired)" and r["n_paired"] == 60
    assert r["p_wilcoxon"] == pytest.approx(wilcoxon(after - before).pvalue)
    assert r["p_mannwhitney"] == pytest.approx(mannwhitneyu(after, before).pvalue)
    assert r["p_wilcoxon"] < 1e-9 < 0.05 < r["p_mannwhitney"]
    assert r["p_holm"] == r["p_wilcoxon"]  # one metric: Holm leaves it alone
    assert r["verdict"] == "B is lower quality"
    unpaired = compare_scores(a, b, ["up"], SPECS, pair_on=None).iloc[0]
    assert unpaired["test"] == "mann-whitney" and unpaired["verdict"] == "no clear difference"
    # partly the same photos: counted, but the verdict stays unpaired
    part = compare_scores(a, b.iloc[:40], ["up"], SPECS).iloc[0]
    assert part["test"] == "mann-whitney" and part["n_paired"] == 40 and part["p_holm"] == part["p_mannwhitney"]
    same = compare_scores(a, a.copy(), ["up"], SPECS).iloc[0]
    assert same["p_wilcoxon"] == 1.0 and same["verdict"] == "no clear difference"


def test_expected_accuracy_hook():
    a = pd.DataFrame({"up": [0.8, 0.9]})
    b = pd.DataFrame({"up": [0.5, 0.7]})
    hook = lambda s: (s["up"].mean(), s["up"].min(), s["up"].max())  # noqa: E731
    acc = expected_accuracy_change(a, b, hook)
    assert acc["a"]["estimate"] == pytest.approx(0.85) and acc["b"]["estimate"] == pytest.approx(0.6)
    assert acc["change"] == pytest.approx(-0.25)
    assert acc["change_lo"] == pytest.approx(0.5 - 0.9) and acc["change_hi"] == pytest.approx(0.7 - 0.8)


def _score_folder(path: Path, values: list[float]) -> Path:
    path.mkdir(parents=True)
    pd.DataFrame({"path": [f"{i}.png" for i in range(len(values))], "image_id": [f"{i}.png" for i in
                  range(len(values))], "up": values, "error": None}).to_parquet(path / "scores.parquet")
    (path / "config.json").write_text(json.dumps({"metrics": [{"name": "up", "higher_is_better": True,
                                                               "version": "1"}]}))
    return path


def test_compare_cli(tmp_path, capsys):
    a = _score_folder(tmp_path / "a", [float(v) for v in range(20)])
    b = _score_folder(tmp_path / "b", [float(v) - 10 for v in range(20)])
    parser = argparse.ArgumentParser()
    commands = audit_cli.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["compare", str(a), str(b), "--out", str(tmp_path / "c.json")])
    assert commands["compare"](args) == 0
    text = capsys.readouterr().out
    assert "B is lower quality" in text and "up" in text
    saved = json.loads((tmp_path / "c.json").read_text())
    assert saved["metrics"][0]["cliffs_delta"] == pytest.approx(compare_scores(
        pd.read_parquet(a / "scores.parquet"), pd.read_parquet(b / "scores.parquet"), ["up"],
        {"up": True}).loc[0, "cliffs_delta"])
    assert saved["expected_accuracy"] is None
    with pytest.raises(FileNotFoundError, match="is not a score folder"):
        compare_folders(a, tmp_path)
    with pytest.raises(FileNotFoundError, match="score folder not found"):
        compare_folders(a, tmp_path / "nowhere")
    with pytest.raises(ValueError, match="'nope' is not in the score folder"):
        compare_folders(a, b, metrics=["nope"])
    with pytest.raises(FileNotFoundError, match="prior file not found"):
        compare_folders(a, b, prior=tmp_path / "none.json")


def test_compare_with_a_performance_prior(tmp_path):
    prior_module = pytest.importorskip("iqalign.prior")
    # a prior where accuracy rises with 'up': 0 below 10, 1 from 10 on
    x = np.arange(20.0)
    rows = pd.DataFrame({"image_id": [f"p{i}" for i in range(20)], "condition": "clean", "up": x,
                         "m.top1": (x >= 10).astype(float)})
    prior = prior_module.fit_prior_from_rows(rows, model="m", metric="up", n_boot=0,
                                             metric_spec={"name": "up", "higher_is_better": True, "version": "1"})
    path = prior_module.save_prior(prior, tmp_path / "prior.json")
    a = _score_folder(tmp_path / "a", [float(v) for v in range(20)])  # half at or above 10
    b = _score_folder(tmp_path / "b", [float(v) - 10 for v in range(20)])  # none
    result = compare_folders(a, b, prior=path)
    acc = result["expected_accuracy"]
    assert acc["a"]["estimate"] == pytest.approx(0.5) and acc["b"]["estimate"] == pytest.approx(0.0)
    assert acc["change"] == pytest.approx(-0.5) and acc["change_lo"] <= -0.5 <= acc["change_hi"]
    assert any("prior" in n for n in result["notes"])


def test_score_cli_options():
    parser = argparse.ArgumentParser()
    audit_cli.add_score_options(parser)
    args = parser.parse_args(["--group-by", "class,folder", "--worst", "3"])
    assert audit_cli.score_config_kwargs(args) == {"group_by": ["class", "folder"], "worst_n": 3}
    assert audit_cli.score_config_kwargs(parser.parse_args([])) == {"group_by": [], "worst_n": 10}


def test_score_writes_summaries_that_agree_with_the_scores(photo_dir, tmp_path):
    from iqalign.pipeline import ScoreConfig, run_score

    manifest = photo_dir / "labels.csv"
    frame = pd.read_csv(manifest)
    frame["path"] = [str(photo_dir / p) for p in frame["path"]]
    frame["camera"] = ["phone", "dslr", "phone", "dslr"]
    frame.to_csv(tmp_path / "m.csv", index=False)
    out = tmp_path / "o"
    cfg = dict(source=str(tmp_path / "m.csv"), out=str(out), metrics=["sharpness", "contrast"], workers=1)
    config = ScoreConfig(**cfg, group_by=["class", "camera"], worst_n=2)
    assert config.fingerprint() == ScoreConfig(**cfg).fingerprint()  # summaries take no part in resuming
    result = run_score(config, quiet=True)
    scores = pd.read_parquet(out / "scores.parquet")
    for name in ("summary_quantiles.csv", "summary_histograms.csv", "percentiles.parquet", "worst.csv", "summary.md"):
        assert (out / name).is_file() and result["summaries"][name] == out / name
    q = pd.read_csv(out / "summary_quantiles.csv", keep_default_na=False, na_values=[""])
    good = scores[scores["error"].isna()]
    assert len(good) == 3
    for m in ("sharpness", "contrast"):
        row = q[(q["group"] == "all") & (q["metric"] == m)].iloc[0]
        assert (row["n_rows"], row["n"], row["n_errors"], row["n_missing"]) == (4, 3, 1, 1)
        assert row["median"] == pytest.approx(good[m].median()) and row["max"] == pytest.approx(good[m].max())
    by_camera = q[(q["group"] == "camera") & (q["metric"] == "sharpness")].set_index("group_value")
    phone = scores[scores["path"].str.endswith(("coffee.png", "camera.png"))]["sharpness"]
    assert by_camera.loc["phone", "mean"] == pytest.approx(phone.mean()) and by_camera.loc["dslr", "n"] == 1
    by_class = q[(q["group"] == "class") & (q["metric"] == "contrast")]
    assert by_class["n_rows"].sum() == 4 and len(by_class) == 4  # espresso, tabby, 872's class, tench (broken)
    h = pd.read_csv(out / "summary_histograms.csv")
    assert h[(h["group"] == "all") & (h["metric"] == "sharpness")]["count"].sum() == 3
    assert h[(h["group"] == "camera") & (h["metric"] == "sharpness")]["count"].sum() == 3
    pct = pd.read_parquet(out / "percentiles.parquet")
    assert list(pct["path"]) == list(scores["path"])
    ok = scores["error"].isna().to_numpy()
    np.testing.assert_allclose(np.sort(pct.loc[ok, "sharpness"]), [100 / 6, 50, 500 / 6])
    order = scores.loc[ok, "sharpness"].rank().to_numpy()  # higher sharpness, higher percentile
    np.testing.assert_array_equal(pct.loc[ok, "sharpness"].rank().to_numpy(), order)
    w = pd.read_csv(out / "worst.csv")
    sharp = w[w["metric"] == "sharpness"]
    assert list(sharp["path"]) == list(good.sort_values("sharpness")["path"].iloc[:2])
    assert "## Median per camera" in (out / "summary.md").read_text()
    # other summary settings reuse the scored parts (no "changed" error) and rewrite the files
    run_score(ScoreConfig(**cfg, worst_n=1), quiet=True)
    assert len(pd.read_csv(out / "worst.csv")) == 2
    assert set(pd.read_csv(out / "summary_quantiles.csv")["group"]) == {"all"}
    with pytest.raises(ValueError, match="no column 'lens'"):
        run_score(ScoreConfig(**cfg, group_by=["lens"]), quiet=True)


def test_compare_skips_task_metrics_from_other_references(tmp_path):
    def folder(name, refs):
        path = tmp_path / name
        path.mkdir()
        pd.DataFrame({"path": ["x.png", "y.png", "z.png"], "image_id": ["x", "y", "z"], "up": [1.0, 2.0, 3.0],
                      "task_maxprob": [0.2, 0.5, 0.9], "error": None}).to_parquet(path / "scores.parquet")
        (path / "config.json").write_text(json.dumps({"references": refs, "metrics": [
            {"name": "up", "higher_is_better": True, "version": "1", "family": "statistic"},
            {"name": "task_maxprob", "higher_is_better": True, "version": "1", "family": "task"}]}))
        return path

    a, b = folder("a", ["efficientnet_lite0"]), folder("b", ["efficientnet_lite1"])
    result = compare_folders(a, b)
    assert list(result["table"]["metric"]) == ["up"]
    assert any("different reference models" in n and "task_maxprob" in n for n in result["notes"])
    same = compare_folders(a, folder("c", ["efficientnet_lite0"]))
    assert set(same["table"]["metric"]) == {"up", "task_maxprob"}
    with pytest.raises(ValueError, match="nothing to compare"):
        compare_folders(a, b, metrics=["task_maxprob"])
