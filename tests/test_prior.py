"""Performance prior (iqalign.prior): known answers on synthetic rows, file format, refusals, CLI."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from iqalign.prior import (expected_performance, fit_prior, fit_prior_from_rows, load_prior, predict,
                           predict_from_values, save_prior)
from iqalign.prior.cli import register
from iqalign.prior.fit import FORMAT, evaluate_breakpoints, isotonic_breakpoints

MODEL = "m2"
SPEC_UP = {"name": "q", "family": "statistic", "version": "1", "higher_is_better": True, "needs_labels": False}


def step_rows(n_photos: int = 10, correct=(2, 5, 9), metric_sign: float = 1.0) -> pd.DataFrame:
    """Photos x 3 conditions with metric 1, 2, 3; at level k, ``correct[k]`` of the photos are right:
    monotone group means 0.2, 0.5, 0.9, which the isotonic fit must reproduce exactly."""
    rows = []
    for level, n_right in enumerate(correct, start=1):
        for p in range(n_photos):
            rows.append({"image_id": f"p{p}", "condition": f"c@{level}", "q": metric_sign * level,
                         f"{MODEL}.top1": float(p < n_right), f"{MODEL}.p_true": 0.1 * level})
    return pd.DataFrame(rows)


def fit(rows=None, spec=SPEC_UP, **kw) -> dict:
    kw.setdefault("n_boot", 0)
    return fit_prior_from_rows(step_rows() if rows is None else rows, model=MODEL, metric="q", metric_spec=spec, **kw)


def test_step_data_gives_group_means_and_one_step_prediction():
    prior = fit()
    assert prior["breakpoints"]["y"] == pytest.approx([0.2, 0.5, 0.9])
    assert prior["breakpoints"]["x"] == pytest.approx([1, 2, 3])
    res = predict_from_values(prior, [2.0] * 50, n_boot=200)
    assert res["prediction"] == pytest.approx(0.5)
    assert res["interval"] == pytest.approx([0.5, 0.5])  # one step, no calibration refits: no spread
    assert res["interval_covers"] == "image resampling only"
    assert predict_from_values(prior, [1.0, 3.0] * 10, n_boot=10)["prediction"] == pytest.approx(0.55)
    # outside the calibration range: clipped to the end steps, and counted
    out = predict_from_values(prior, [-5.0, 100.0], n_boot=10)
    assert out["prediction"] == pytest.approx((0.2 + 0.9) / 2) and out["n_outside_calibration_range"] == 2
    # between breakpoints: linear, as sklearn's IsotonicRegression.predict
    assert expected_performance(prior, [1.5, np.nan])[0] == pytest.approx(0.35)
    assert np.isnan(expected_performance(prior, [np.nan])[0])


def test_non_monotone_means_are_pooled():
    prior = fit(step_rows(correct=(6, 4, 9)))  # 0.6 then 0.4: pooled to 0.5, 0.5
    assert evaluate_breakpoints(np.array(prior["breakpoints"]["x"]), np.array(prior["breakpoints"]["y"]),
                                np.array([1.0, 2.0, 3.0])) == pytest.approx([0.5, 0.5, 0.9])


def test_lower_is_better_metric_is_oriented():
    spec = {**SPEC_UP, "higher_is_better": False}
    prior = fit(step_rows(metric_sign=-1.0), spec=spec)  # metric -1, -2, -3: lower = better
    assert predict_from_values(prior, [-3.0] * 5, n_boot=5)["prediction"] == pytest.approx(0.9)
    assert predict_from_values(prior, [-1.0] * 5, n_boot=5)["prediction"] == pytest.approx(0.2)
    assert predict_from_values(prior, [-10.0], n_boot=5)["prediction"] == pytest.approx(0.9)  # clipped at the best
    assert "lower is better" in prior["orientation"]


def test_breakpoints_match_sklearn_predict():
    from sklearn.isotonic import IsotonicRegression

    rng = np.random.default_rng(0)
    x = rng.normal(size=500)
    y = (rng.random(500) < 1 / (1 + np.exp(-2 * x))).astype(float)
    xt, yt = isotonic_breakpoints(x, y)
    iso = IsotonicRegression(out_of_bounds="clip").fit(x, y)
    grid = np.linspace(-4, 4, 101)
    assert evaluate_breakpoints(xt, yt, grid) == pytest.approx(iso.predict(grid))


def test_target_p_true_conditions_and_bootstrap_fits():
    prior = fit(target="p_true", conditions=["c@1", "c@3"], n_boot=20, seed=1)
    assert prior["target"] == "p_true" and prior["calibration"]["conditions"] == ["c@1", "c@3"]
    assert prior["breakpoints"]["y"] == pytest.approx([0.1, 0.3])
    assert prior["bootstrap"]["n_boot"] == 20 and prior["calibration"]["n_photos"] == 10
    res = predict_from_values(prior, np.linspace(1, 3, 30), n_boot=300)
    assert res["interval"][0] <= res["prediction"] <= res["interval"][1]
    assert res["interval_covers"].startswith("image resampling + calibration")


def test_refusals_have_clear_messages():
    task = {**SPEC_UP, "family": "task"}
    with pytest.raises(ValueError, match="include the model 'm2'"):
        fit(spec=task, references=["m2"])
    ok = fit(spec=task, references=["ref0"])
    assert ok["references"] == ["ref0"]
    assert fit(references=["ref0"])["references"] == []  # a non-task metric has no references
    with pytest.raises(ValueError, match="needs the true labels"):
        fit(spec={**SPEC_UP, "needs_labels": True})
    with pytest.raises(ValueError, match="target must be"):
        fit(target="loss")
    with pytest.raises(ValueError, match=r"condition\(s\) \['nope@1'\]"):
        fit(conditions=["nope@1"])
    with pytest.raises(ValueError, match="lack column"):
        fit_prior_from_rows(step_rows(), model="other", metric="q", metric_spec=SPEC_UP, n_boot=0)
    with pytest.raises(ValueError, match="no image has a value"):
        predict_from_values(fit(), [np.nan, np.nan])


def test_save_load_round_trip_and_format_errors(tmp_path):
    prior = fit(n_boot=5)
    path = save_prior(prior, tmp_path / "sub" / "p.json")
    loaded = load_prior(path)
    assert loaded == json.loads(json.dumps(prior))
    assert loaded["format"] == FORMAT and loaded["format_version"] == 1
    values = np.linspace(0, 4, 17)
    assert predict_from_values(loaded, values, n_boot=50)["prediction"] == \
        pytest.approx(predict_from_values(prior, values, n_boot=50)["prediction"])

    with pytest.raises(FileNotFoundError, match="missing.json"):
        load_prior(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("not json")
    with pytest.raises(ValueError, match="bad.json is not a prior file"):
        load_prior(bad)
    bad.write_text(json.dumps({**prior, "format": "something-else"}))
    with pytest.raises(ValueError, match="not an iqalign performance prior"):
        load_prior(bad)
    bad.write_text(json.dumps({**prior, "format_version": 99}))
    with pytest.raises(ValueError, match="format version 99"):
        load_prior(bad)
    bad.write_text(json.dumps({**prior, "breakpoints": {"x": [2, 1], "y": [0, 1]}}))
    with pytest.raises(ValueError, match="not increasing"):
        load_prior(bad)
    damaged = {k: v for k, v in prior.items() if k != "metric"}
    bad.write_text(json.dumps(damaged))
    with pytest.raises(ValueError, match="lacks 'metric'"):
        load_prior(bad)


def write_benchmark(folder, rows: pd.DataFrame, spec=SPEC_UP, references=("ref0",)):
    folder.mkdir(parents=True, exist_ok=True)
    rows.to_parquet(folder / "rows.parquet", index=False)
    (folder / "config.json").write_text(json.dumps({
        "command": "benchmark", "config": {"source": "labels.csv", "seed": 0}, "targets": [MODEL, "ref0"],
        "references": list(references), "metrics": [spec, {**spec, "name": "tq", "family": "task"}],
        "models": {MODEL: {"name": MODEL}}}))
    return folder


def test_fit_prior_from_folder_records_provenance(tmp_path):
    rows = step_rows()
    rows["tq"] = rows["q"]
    folder = write_benchmark(tmp_path / "bench", rows)
    prior = fit_prior(folder, model=MODEL, metric="q", n_boot=3, photos=[f"p{i}" for i in range(10)])
    src = prior["source"]
    assert src["rows_digest"].startswith("sha256:") and src["results_dir"] == str(folder.resolve())
    assert prior["calibration"]["n_rows"] == 30 and prior["iqalign_version"] and prior["created"]
    with pytest.raises(ValueError, match="'ref0' itself"):
        fit_prior(folder, model="ref0", metric="tq")  # the benchmark's excluded pair
    with pytest.raises(ValueError, match="not a target"):
        fit_prior(folder, model="m9", metric="q")
    with pytest.raises(ValueError, match="measured: q, tq"):
        fit_prior(folder, model=MODEL, metric="nope")
    with pytest.raises(FileNotFoundError, match="rows.parquet not found"):
        fit_prior(tmp_path / "empty", model=MODEL, metric="q")
    (tmp_path / "score").mkdir()
    (tmp_path / "score" / "rows.parquet").write_bytes(b"")
    (tmp_path / "score" / "config.json").write_text(json.dumps({"command": "score"}))
    with pytest.raises(ValueError, match="not from `iqalign benchmark`"):
        fit_prior(tmp_path / "score", model=MODEL, metric="q")


def cli(argv):
    parser = argparse.ArgumentParser(prog="iqalign")
    sub = parser.add_subparsers(dest="command", required=True)
    commands = register(sub)
    assert set(commands) == {"calibrate", "predict"}
    args = parser.parse_args(argv)
    return commands[args.command](args)


def calibrated(tmp_path, n_boot: int) -> Path:
    """``iqalign calibrate`` on step rows (metric ``tq``); the prior file's path."""
    rows = step_rows()
    rows["tq"] = rows["q"]
    bench = write_benchmark(tmp_path / "bench", rows)
    prior_path = tmp_path / "prior.json"
    assert cli(["calibrate", str(bench), "--model", MODEL, "--metric", "tq", "--out", str(prior_path),
                "--n-boot", str(n_boot)]) == 0
    return prior_path


def test_cli_calibrate_then_predict_on_a_score_folder(tmp_path, capsys):
    prior_path = calibrated(tmp_path, n_boot=5)
    assert "3 breakpoints" in capsys.readouterr().out
    scores = tmp_path / "scores"
    scores.mkdir()
    pd.DataFrame({"path": ["a", "b", "c", "d"], "image_id": list("abcd"), "label": pd.NA,
                  "tq": [3.0, 3.0, np.nan, 3.0], "error": [None, None, "unreadable", None]}
                 ).to_parquet(scores / "scores.parquet", index=False)
    (scores / "config.json").write_text(json.dumps({"command": "score", "references": ["ref0"],
                                                    "metrics": [{"name": "tq", "version": "1"}]}))
    out_json = tmp_path / "pred.json"
    assert cli(["predict", str(scores), "--prior", str(prior_path), "--json", str(out_json), "--n-boot", "100"]) == 0
    text = capsys.readouterr().out
    assert "expected top-1 accuracy of m2" in text and "0.900" in text
    result = json.loads(out_json.read_text())
    assert result["prediction"] == pytest.approx(0.9) and result["n_errors"] == 1 and result["n_used"] == 3
    assert result["prior"]["source"]["rows_digest"].startswith("sha256:")

    (scores / "config.json").write_text(json.dumps({"command": "score", "references": ["other"], "metrics": []}))
    with pytest.raises(ValueError, match="rescore with --references ref0"):
        cli(["predict", str(scores), "--prior", str(prior_path)])


def test_predict_scores_images_with_the_prior_metric(tmp_path):
    """End to end through iqalign's score pipeline (an image metric: no models needed)."""
    from PIL import Image
    from skimage import data

    photos = tmp_path / "photos"
    photos.mkdir()
    for name, img in (("a.png", data.astronaut()), ("b.png", data.chelsea())):
        Image.fromarray(img).save(photos / name)
    rows = pd.DataFrame({"image_id": ["x", "x", "y", "y"], "condition": ["clean", "blur@1"] * 2,
                         "sharpness": [1e3, 1.0, 1e3, 1.0], f"{MODEL}.top1": [1.0, 0.0, 1.0, 0.0]})
    spec = {"name": "sharpness", "family": "statistic", "version": "1", "higher_is_better": True,
            "needs_labels": False}
    prior = fit_prior_from_rows(rows, model=MODEL, metric="sharpness", metric_spec=spec, n_boot=0)
    result = predict(photos, prior, out=tmp_path / "scored", workers=1, n_boot=50, quiet=True)
    scores = pd.read_parquet(tmp_path / "scored" / "scores.parquet")
    assert {"path", "image_id", "sharpness", "error"} <= set(scores.columns)
    assert result["n_images"] == 2 and result["n_errors"] == 0
    assert result["prediction"] == pytest.approx(float(np.mean(expected_performance(prior, scores["sharpness"]))))
    with pytest.raises(FileNotFoundError, match="nowhere"):
        predict(tmp_path / "nowhere", prior)


def test_damaged_or_inconsistent_priors_are_refused(tmp_path):
    prior = fit(n_boot=3)
    bad = tmp_path / "bad.json"
    for change, message in (({"bootstrap": {"fits": "not a list"}}, "bootstrap fits are damaged"),
                            ({"breakpoints": {"x": [0, 1], "y": [0.5, 5.0]}}, r"outside \[0, 1\]"),
                            ({"metric": "task_ptrue"}, "metric_spec is for")):
        bad.write_text(json.dumps({**prior, **change}))
        with pytest.raises(ValueError, match=message):
            load_prior(bad)


def test_predict_counts_undefined_metric_apart_from_unreadable(tmp_path, capsys):
    prior_path = calibrated(tmp_path, n_boot=0)
    scores = tmp_path / "scores"
    scores.mkdir()
    # c: unreadable (no value at all); d: readable, but its metric is undefined (e.g. a flat image)
    pd.DataFrame({"path": list("abcd"), "image_id": list("abcd"), "label": pd.NA, "tq": [3.0, 3.0, np.nan, np.nan],
                  "sharp": [1.0, 2.0, np.nan, 0.0], "error": [None, None, "cannot decode", "tq: undefined"]}
                 ).to_parquet(scores / "scores.parquet", index=False)
    (scores / "config.json").write_text(json.dumps({"command": "score", "references": ["ref0"],
                                                    "metrics": [{"name": "tq", "version": "1"}]}))
    out_json = tmp_path / "pred.json"
    assert cli(["predict", str(scores), "--prior", str(prior_path), "--json", str(out_json), "--n-boot", "10"]) == 0
    result = json.loads(out_json.read_text())
    assert (result["n_errors"], result["n_missing_metric"], result["n_used"]) == (1, 1, 2)
