"""End to end: benchmark and score on real sample photos, with tiny models (tests/helpers.py)."""
import json

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from iqalign.models import register_model
from iqalign.pipeline import BenchmarkConfig, ScoreConfig, run_benchmark, run_score
from .helpers import tiny_classifier

register_model("tiny_target", lambda: tiny_classifier("tiny_target", 1))
register_model("tiny_ref", lambda: tiny_classifier("tiny_ref", 2))


def _config(photo_dir, out, **kw):
    base = dict(source=str(photo_dir / "labels.csv"), out=str(out), corruptions=["gaussian_noise", "gaussian_blur"],
                severities=[1, 5], metrics=["sharpness", "task_maxprob", "task_ptrue"], models=["tiny_target", "tiny_ref"],
                references=["tiny_ref"], n_boot=50, workers=1, chunk_images=2)
    base.update(kw)
    return BenchmarkConfig(**base)


@pytest.fixture(scope="module")
def bench(photo_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    return run_benchmark(_config(photo_dir, out), quiet=True), out


def test_rows_cover_every_image_and_condition(bench):
    result, out = bench
    rows = pd.read_parquet(out / "rows.parquet")
    assert len(rows) == 3 * (1 + 2 * 2)  # 3 readable photos x (clean + 2 corruptions x 2 severities)
    assert set(rows["condition"]) == {"clean", "gaussian_noise@1", "gaussian_noise@5", "gaussian_blur@1", "gaussian_blur@5"}
    assert sorted(rows["label"].unique()) == [281, 872, 967]
    for col in ("sharpness", "task_maxprob", "task_ptrue", "tiny_target.top1", "tiny_target.p_true", "tiny_ref.loss"):
        assert rows[col].notna().all(), col
    # blur lowers sharpness on every photo (clean vs gaussian_blur@5)
    piv = rows.pivot(index="image_id", columns="condition", values="sharpness")
    assert (piv["gaussian_blur@5"] < piv["clean"]).all()


def test_broken_file_is_reported_and_others_scored(bench):
    result, out = bench
    problems = result["problems"]
    assert any("broken.jpg" in p["path"] for p in problems)
    assert "broken.jpg" in (out / "problems.csv").read_text()


def test_reference_model_never_scored_by_its_own_metric(bench):
    result, out = bench
    table = pd.read_csv(out / "alignment.csv")
    assert list(table.columns) == ["metric", "model", "target", "scope", "n", "spearman", "spearman_lo", "spearman_hi",
                                   "kendall", "auroc"]
    ref_metrics = set(table.loc[table["model"] == "tiny_ref", "metric"])
    assert ref_metrics == {"sharpness"}  # task metrics come from tiny_ref itself: excluded
    assert {"task_maxprob", "task_ptrue", "sharpness"} == set(table.loc[table["model"] == "tiny_target", "metric"])
    config = json.loads((out / "config.json").read_text())
    assert config["references"] == ["tiny_ref"] and config["targets"] == ["tiny_target", "tiny_ref"]
    assert {"metric": "task_maxprob", "model": "tiny_ref", "why": "model is one of the references"} in config["excluded_pairs"]
    assert config["environment"]["packages"]["numpy"] == np.__version__
    md = (out / "alignment.md").read_text()
    assert "reference models" in md and "tiny_ref" in md


def test_rerun_resumes_and_reproduces(bench, photo_dir):
    result, out = bench
    first = pd.read_parquet(out / "rows.parquet")
    parts = sorted((out / "parts").glob("part-*.parquet"))
    assert len(parts) == 2
    parts[1].unlink()  # as if the run had died before its last chunk
    stamp = parts[0].stat().st_mtime_ns
    again = run_benchmark(_config(photo_dir, out), quiet=True)["rows"]
    assert parts[0].stat().st_mtime_ns == stamp  # finished chunk not recomputed
    pd.testing.assert_frame_equal(first, again)


def test_changed_settings_refuse_to_mix_with_old_parts(bench, photo_dir):
    _, out = bench
    with pytest.raises(RuntimeError, match="other settings"):
        run_benchmark(_config(photo_dir, out, seed=1), quiet=True)


def test_benchmark_needs_labels(tmp_path, photo_dir):
    with pytest.raises(ValueError, match="no labelled images"):
        run_benchmark(_config(photo_dir, tmp_path / "o", source=str(tmp_path)), quiet=True)


def test_score_unlabelled_folder_with_a_broken_file(photo_dir, tmp_path):
    out = tmp_path / "score"
    scores = run_score(ScoreConfig(source=str(photo_dir), out=str(out), metrics=["sharpness", "contrast", "task_maxprob"],
                                   references=["tiny_ref"], workers=1, source_kind="folder"), quiet=True)["scores"]
    saved = pd.read_parquet(out / "scores.parquet")
    pd.testing.assert_frame_equal(scores, saved)  # what run_score returns is what it wrote
    assert len(saved) == 4 and {"path", "sharpness", "contrast", "task_maxprob", "error"} <= set(saved.columns)
    bad = saved[saved["path"].str.endswith("broken.jpg")]
    assert len(bad) == 1 and "broken.jpg" in bad["error"].iloc[0] and np.isnan(bad["sharpness"].iloc[0])
    good = saved[saved["error"].isna()]
    assert len(good) == 3 and good[["sharpness", "contrast", "task_maxprob"]].notna().all().all()
    assert (good["task_maxprob"] > 0).all() and (good["task_maxprob"] <= 1).all()
    with pytest.raises(ValueError, match="needs labels"):
        run_score(ScoreConfig(source=str(photo_dir), out=str(tmp_path / "s2"), metrics=["task_ptrue"],
                              references=["tiny_ref"], source_kind="folder"), quiet=True)


def test_several_references_average_their_probabilities(photo_dir):
    from iqalign.models import load_model
    from iqalign.pipeline.measure import reference_probabilities
    from iqalign.sources import load_view

    views = [load_view(photo_dir / "coffee.png"), load_view(photo_dir / "camera.png")]
    both = reference_probabilities(views, ["tiny_target", "tiny_ref"])
    expected = (load_model("tiny_target").predict_proba(views) + load_model("tiny_ref").predict_proba(views)) / 2
    np.testing.assert_allclose(both, expected)
    np.testing.assert_allclose(both.sum(axis=1), 1.0)


def test_worker_processes_give_the_same_rows_as_in_process(bench, photo_dir, tmp_path):
    _, out = bench
    pooled = run_benchmark(_config(photo_dir, tmp_path / "pool", workers=2), quiet=True)["rows"]
    pd.testing.assert_frame_equal(pd.read_parquet(out / "rows.parquet"), pooled)


def test_changed_image_list_is_not_resumed(photo_dir, tmp_path):
    manifest = tmp_path / "m.csv"
    pd.DataFrame({"path": [str(photo_dir / "coffee.png")], "label": [967]}).to_csv(manifest, index=False)
    cfg = dict(source=str(manifest), metrics=["sharpness"], corruptions=["fog"], severities=[1])
    run_benchmark(_config(photo_dir, tmp_path / "o", **cfg), quiet=True)
    pd.DataFrame({"path": [str(photo_dir / "coffee.png")], "label": [968]}).to_csv(manifest, index=False)
    with pytest.raises(RuntimeError, match="changed: images"):
        run_benchmark(_config(photo_dir, tmp_path / "o", **cfg), quiet=True)


def test_file_replaced_under_the_same_name_is_not_resumed(tmp_path):
    from skimage import data

    photo = tmp_path / "photo.png"
    Image.fromarray(data.coffee()).save(photo)
    cfg = ScoreConfig(source=str(tmp_path), out=str(tmp_path / "o"), metrics=["sharpness"], workers=1,
                      source_kind="folder")
    run_score(cfg, quiet=True)
    Image.fromarray(data.chelsea()).save(photo)  # same path, other content
    with pytest.raises(RuntimeError, match="changed: images"):
        run_score(cfg, quiet=True)


def test_problems_csv_lists_bad_manifest_rows_and_broken_files(tmp_path, photo_dir):
    manifest = tmp_path / "m.csv"
    pd.DataFrame({"path": [str(photo_dir / "coffee.png"), "missing.png", str(photo_dir / "broken.jpg"),
                           str(photo_dir / "camera.png")],
                  "label": ["espresso", "tench", "tench", "not a class"]}).to_csv(manifest, index=False)
    result = run_benchmark(_config(photo_dir, tmp_path / "o", source=str(manifest), metrics=["sharpness"],
                                   corruptions=["fog"], severities=[1]), quiet=True)
    problems = pd.read_csv(tmp_path / "o" / "problems.csv")
    assert len(problems) == 3 and len(result["problems"]) == 3
    assert problems["path"].str.contains("missing.png").any() and problems["path"].str.contains("broken.jpg").any()
    assert problems["reason"].str.contains("not a class").any()
    config = json.loads((tmp_path / "o" / "config.json").read_text())
    assert config["n_images"] == 1 and config["n_rows"] == 2


def test_reanalyse_reproduces_the_table(bench):
    from iqalign.pipeline.benchmark import reanalyse

    _, out = bench
    before = pd.read_csv(out / "alignment.csv")
    pd.testing.assert_frame_equal(before, reanalyse(out).reset_index(drop=True), check_dtype=False)
    assert len(reanalyse(out, n_boot=0)["spearman_lo"].dropna()) == 0


def test_config_validation_names_the_problem(photo_dir, tmp_path):
    with pytest.raises(ValueError, match="seed must be >= 0"):
        _config(photo_dir, tmp_path, seed=-1)
    with pytest.raises(ValueError, match="at least one target model"):
        _config(photo_dir, tmp_path, models=" , ")
    assert _config(photo_dir, tmp_path, corruptions="fog,fog", models="tiny_target").corruptions == ["fog"]
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="not a folder"):
        _config(photo_dir, tmp_path / "file")
    with pytest.raises(ValueError, match="need at least one reference"):
        run_benchmark(_config(photo_dir, tmp_path / "o", references=[]), quiet=True)


def test_nan_metric_values_come_with_a_reason():
    from iqalign.metrics.registry import get_metric
    from iqalign.pipeline.measure import image_metric_values

    values, errors = image_metric_values(np.zeros((224, 224, 3), np.uint8), [get_metric("brisque"), get_metric("contrast")])
    assert np.isnan(values["brisque"]) and values["contrast"] == 0.0
    assert len(errors) == 1 and errors[0].startswith("brisque: undefined")


def test_torch_and_onnx_engines_agree(bench, photo_dir, tmp_path):
    _, out = bench  # default engine: ONNX Runtime
    onnx_rows = pd.read_parquet(out / "rows.parquet")
    torch_rows = run_benchmark(_config(photo_dir, tmp_path / "torch", engine="torch"), quiet=True)["rows"]
    np.testing.assert_array_equal(onnx_rows["tiny_target.pred"], torch_rows["tiny_target.pred"])
    np.testing.assert_allclose(onnx_rows["tiny_target.p_true"], torch_rows["tiny_target.p_true"], rtol=1e-4, atol=1e-7)
    np.testing.assert_allclose(onnx_rows["task_maxprob"], torch_rows["task_maxprob"], rtol=1e-4)
    config = json.loads((out / "config.json").read_text())
    assert config["models"]["tiny_target"]["engine"] == "onnxruntime"


def test_score_jpeg_draft_changes_only_big_jpegs_and_is_part_of_the_fingerprint(tmp_path):
    from skimage import data

    photos = tmp_path / "photos"
    photos.mkdir()
    coffee = Image.fromarray(data.coffee())  # 600 x 400: decoded in full either way
    coffee.save(photos / "small.jpg", quality=92)
    coffee.resize((2400, 1600), Image.Resampling.BICUBIC).save(photos / "big.jpg", quality=92)

    def scores(out, draft):
        cfg = ScoreConfig(source=str(photos), out=str(out), metrics=["sharpness"], workers=1,
                          source_kind="folder", jpeg_draft=draft)
        return run_score(cfg, quiet=True)["scores"].set_index("path")["sharpness"]

    exact, drafted = scores(tmp_path / "exact", False), scores(tmp_path / "draft", True)
    small, big = str(photos / "small.jpg"), str(photos / "big.jpg")
    assert drafted[small] == exact[small]
    assert drafted[big] != exact[big] and abs(drafted[big] / exact[big] - 1) < 0.1
    with pytest.raises(RuntimeError, match="jpeg_draft"):
        scores(tmp_path / "exact", True)  # never mixes rows decoded both ways


def test_benchmark_folder_has_the_causal_tables(bench):
    from iqalign.analysis.causal import DECOMPOSITION_COLUMNS, DECOMPOSITION_SCOPES, SENSITIVITY_COLUMNS

    _, out = bench
    rows = pd.read_parquet(out / "rows.parquet")
    sens = pd.read_csv(out / "sensitivity.csv")
    dec = pd.read_csv(out / "decomposition.csv")
    pop = pd.read_csv(out / "population.csv")
    assert list(sens.columns) == SENSITIVITY_COLUMNS and list(dec.columns) == DECOMPOSITION_COLUMNS
    # the reference model is never judged by its own task metrics, as in alignment.csv
    judged = set(map(tuple, dec[["metric", "model"]].drop_duplicates().to_numpy()))
    assert ("task_maxprob", "tiny_ref") not in judged and ("task_maxprob", "tiny_target") in judged
    assert ("sharpness", "tiny_ref") in judged
    assert set(dec["scope"]) == set(DECOMPOSITION_SCOPES)
    # a cell's effects are paired differences against the same photos' clean rows
    cell = sens[(sens["kind"] == "cell") & (sens["metric"] == "sharpness") & (sens["model"] == "tiny_target")
                & (sens["target"] == "p_true") & (sens["condition"] == "gaussian_blur@5")].iloc[0]
    piv = rows.pivot(index="image_id", columns="condition", values="sharpness")
    assert cell["q_effect"] == pytest.approx((piv["gaussian_blur@5"] - piv["clean"]).mean())
    pt = rows.pivot(index="image_id", columns="condition", values="tiny_target.p_true")
    assert cell["m_effect"] == pytest.approx((pt["gaussian_blur@5"] - pt["clean"]).mean())
    assert set(pop["scope"]) >= {"within", "rank_agreement"}
    assert "sharpness" in (out / "causal.md").read_text()


def test_corruptions_in_any_order_name_the_same_run(photo_dir, tmp_path):
    """A rerun listing the same corruptions in another order resumes instead of being refused."""
    a = _config(photo_dir, tmp_path / "x", corruptions=["gaussian_blur", "fog", "gaussian_noise"])
    b = _config(photo_dir, tmp_path / "x", corruptions=["gaussian_noise", "gaussian_blur", "fog"])
    assert a.corruptions == b.corruptions == ["gaussian_noise", "fog", "gaussian_blur"]  # ImageNet-C order
    assert a.fingerprint() == b.fingerprint()
