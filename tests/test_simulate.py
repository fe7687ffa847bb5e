"""Tests for iqalign.simulate: the synthetic causal world and its known answers."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from iqalign.metrics.statistics import colourfulness, sharpness
from iqalign.simulate import (CLASSES, CORRUPTIONS, ORACLE_METRICS, SimulationConfig, TaskModelSpec, apply_condition,
                              condition_grid, render_scene, run_simulation, sample_content, to_luma)

# ---------------------------------------------------------------------------
# The world
# ---------------------------------------------------------------------------


def test_content_and_pixels_are_pure_functions_of_the_seed():
    a, b = sample_content(3, 7), sample_content(3, 7)
    assert a == b and a != sample_content(3, 8) and a != sample_content(4, 7)
    assert a != sample_content(3, 7, stream=1)  # training images are other scenes
    scene = render_scene(a, 32)
    assert scene.shape == (32, 32) and np.array_equal(scene, render_scene(b, 32))
    for c in CORRUPTIONS:
        v1 = apply_condition(scene, c, 3, seed=3, index=7)
        v2 = apply_condition(scene, c, 3, seed=3, index=7)
        assert v1.dtype == np.uint8 and v1.shape == (32, 32, 3)
        assert np.array_equal(v1, v2)
        assert not np.array_equal(v1, apply_condition(scene, "none", 0)), c
    assert not np.array_equal(apply_condition(scene, "noise", 3, seed=3, index=7),
                              apply_condition(scene, "noise", 3, seed=3, index=8))
    labels = {sample_content(0, i).label for i in range(60)}
    assert labels == set(range(len(CLASSES)))


def test_tint_changes_colour_but_not_what_the_models_see():
    scene = render_scene(sample_content(0, 1), 32)
    clean = apply_condition(scene, "none", 0)
    assert colourfulness(clean) == pytest.approx(0.0)
    prev = 0.0
    for s in range(1, 6):
        tinted = apply_condition(scene, "tint", s, seed=0, index=1)
        assert np.abs(to_luma(tinted) - to_luma(clean)).max() <= 1.0 / 255 + 1e-6  # uint8 rounding only
        col = colourfulness(tinted)
        assert col > prev + 1.0
        prev = col


def test_relevant_conditions_degrade_monotonically():
    scene = render_scene(sample_content(0, 2), 32)
    sharp = [sharpness(apply_condition(scene, "blur", s)) for s in range(6)]
    assert all(a > b for a, b in zip(sharp, sharp[1:]))
    clean = to_luma(apply_condition(scene, "none", 0))
    for c in ("noise", "contrast", "jpeg", "weather"):
        err = [np.abs(to_luma(apply_condition(scene, c, s, index=2)) - clean).mean() for s in (1, 3, 5)]
        assert err[0] < err[1] < err[2], c


def test_condition_grid_and_config_validation():
    assert condition_grid(["blur", "tint"], [3, 1]) == [("none", 0), ("blur", 1), ("blur", 3), ("tint", 1),
                                                        ("tint", 3)]
    with pytest.raises(ValueError, match="unknown corruption"):
        condition_grid(["fog"], [1])
    with pytest.raises(ValueError, match="severities"):
        condition_grid(["blur"], [6])
    with pytest.raises(ValueError, match="need images of at least"):
        SimulationConfig(metrics=["brisque"], image_size=32)
    with pytest.raises(ValueError, match="unknown metric"):
        SimulationConfig(metrics=["oracle_nothing"])
    with pytest.raises(ValueError, match="names must differ"):
        SimulationConfig(population=[TaskModelSpec("a"), TaskModelSpec("a")])
    with pytest.raises(ValueError, match="reference"):
        SimulationConfig(metrics=["task_maxprob"], reference=None)
    cfg = SimulationConfig(image_size=64, epochs=3)
    assert "brisque" in cfg.metric_names() and "niqe" not in cfg.metric_names()
    assert all(s.epochs == 3 for s in cfg.population) and cfg.reference.epochs == 3


# ---------------------------------------------------------------------------
# Determinism of the whole run
# ---------------------------------------------------------------------------

def _tiny(seed: int, out=None) -> dict:
    cfg = SimulationConfig(out=out, n_images=10, seed=seed, corruptions=["blur", "tint"], severities=[2, 4],
                           n_train=60, epochs=1, n_boot=20, n_perm=20)
    return run_simulation(cfg, quiet=True)


def test_same_seed_same_results_other_seed_other_results(tmp_path):
    a = _tiny(0, out=str(tmp_path / "a"))
    b = _tiny(0)
    c = _tiny(1)
    for key in ("rows", "alignment", "sensitivity", "decomposition", "population"):
        pd.testing.assert_frame_equal(a[key], b[key])
    assert not a["rows"]["oracle_condition"].equals(c["rows"]["oracle_condition"])
    assert not a["rows"]["cnn_robust.p_true"].equals(c["rows"]["cnn_robust.p_true"])
    assert not a["rows"]["image_id"].equals(c["rows"]["image_id"])
    # written files reload to the same tables
    back = pd.read_parquet(tmp_path / "a" / "rows.parquet")
    pd.testing.assert_frame_equal(back, a["rows"])
    cfg = json.loads((tmp_path / "a" / "config.json").read_text())
    assert cfg["targets"] == ["cnn_robust", "cnn_clean"] and cfg["references"] == ["cnn_ref"]
    assert "task_negentropy" in a["rows"] and "cnn_ref.p_true" not in a["rows"]


# ---------------------------------------------------------------------------
# Known answers on a small world
# ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def world(tmp_path_factory):
    out = tmp_path_factory.mktemp("sim")
    cfg = SimulationConfig(out=str(out), n_images=120, seed=0, severities=[1, 3, 5], n_train=2000, epochs=8,
                           reference=None, n_boot=200, n_perm=200)
    return run_simulation(cfg, quiet=True)


MODELS = ("cnn_robust", "cnn_clean")


def _dec(world, metric, model, scope, target="p_true"):
    d = world["decomposition"]
    sel = d[(d.metric == metric) & (d.model == model) & (d.target == target) & (d.scope == scope)]
    assert len(sel) == 1
    return sel.iloc[0]


def _agreement(world, metric, model, target="p_true"):
    s = world["sensitivity"]
    sel = s[(s.metric == metric) & (s.model == model) & (s.target == target) & (s.kind == "agreement")]
    assert len(sel) == 1
    return sel.iloc[0]


def test_rows_have_the_benchmark_schema(world):
    rows, out = world["rows"], world["out"]
    assert len(rows) == 120 * (1 + len(CORRUPTIONS) * 3)
    for col in ("image_id", "path", "label", "class_name", "condition", "corruption", "severity"):
        assert col in rows
    for m in MODELS:
        for t in ("top1", "top5", "p_true", "loss", "pred"):
            assert f"{m}.{t}" in rows
    assert set(ORACLE_METRICS) | {"sharpness", "colourfulness"} <= set(rows.columns)
    clean = rows[rows.severity == 0]
    assert (clean.corruption == "none").all() and (clean.condition == "clean").all()
    assert rows.groupby("image_id").size().eq(19).all()
    for name in ("rows.parquet", "alignment.csv", "alignment.md", "sensitivity.csv", "decomposition.csv",
                 "population.csv", "config.json", "summary.md"):
        assert (out / name).is_file(), name
    assert "oracle_content" in (out / "summary.md").read_text()


def test_models_are_hurt_by_relevant_conditions_only(world):
    rows = world["rows"]
    for m in MODELS:
        acc = rows.groupby("corruption")[f"{m}.top1"].mean()
        assert acc["none"] > 0.45  # well above chance (1/6)
        assert acc["tint"] == pytest.approx(acc["none"], abs=0.03)
        for c in ("blur", "noise", "contrast", "jpeg", "weather"):
            assert acc[c] < acc["none"] - 0.03, (m, c)


def test_condition_only_metric_is_aligned_within_content(world):
    for m in MODELS:
        assert _dec(world, "oracle_condition", m, "within").spearman > 0.3
        assert _dec(world, "oracle_condition", m, "within").spearman_lo > 0.2
        agree = _agreement(world, "oracle_condition", m)
        assert agree.spearman > 0.5  # falls where M falls, in a similar order
        assert agree.hit_rate == 1.0  # and clearly falls wherever M clearly falls
        # nothing beyond the condition label
        assert abs(_dec(world, "oracle_condition", m, "given_condition").spearman) < 0.1
        assert abs(_dec(world, "oracle_condition", m, "within_given_condition").spearman) < 0.1


def test_content_only_metric_has_no_within_content_alignment(world):
    for m in MODELS:
        within = _dec(world, "oracle_content", m, "within")
        assert abs(within.spearman) < 0.1
        assert within.spearman_lo < 0.05 and within.spearman_hi > -0.05
        assert _dec(world, "oracle_content", m, "all").spearman > 0.1  # the all-rows number looks useful
        assert _dec(world, "oracle_content", m, "between").spearman > 0.2  # because content is carried
        beyond = _dec(world, "oracle_content", m, "given_condition")
        assert beyond.spearman > 0.1 and beyond.p_value < 0.05  # information beyond the condition label


def test_irrelevant_condition_metric_moves_while_the_model_does_not(world):
    s = world["sensitivity"]
    for m in MODELS:
        tint = s[(s.metric == "oracle_irrelevant") & (s.model == m) & (s.target == "p_true")
                 & (s.kind == "cell") & (s.corruption == "tint")].set_index("severity")
        assert tint.loc[5, "q_effect_sd"] < -2.0 and tint.loc[5, "q_effect_hi"] < 0
        assert (tint.q_effect_sd.diff().dropna() < 0).all()  # stronger tint, larger effect on Q
        assert (tint.m_effect.abs() < 0.005).all()
        assert (tint.m_effect_lo > -0.005).all() and (tint.m_effect_hi < 0.005).all()
        other = s[(s.metric == "oracle_irrelevant") & (s.model == m) & (s.target == "p_true")
                  & (s.kind == "cell") & (s.corruption == "blur")]
        assert (other.q_effect_sd.abs() < 0.3).all()  # it does not see what hurts the model
        agree = _agreement(world, "oracle_irrelevant", m)
        assert agree.spearman < 0.2 and agree.hit_rate < 0.1 and agree.false_alarm_rate > 0.3


def test_mixed_metric_carries_both_parts(world):
    for m in MODELS:
        assert _dec(world, "oracle_mix", m, "within").spearman > 0.25
        assert _dec(world, "oracle_mix", m, "between").spearman > 0.2


def test_population_summary_over_the_two_models(world):
    pop = world["population"]
    row = pop[(pop.metric == "oracle_condition") & (pop.target == "p_true") & (pop.scope == "within")].iloc[0]
    vals = [_dec(world, "oracle_condition", m, "within").spearman for m in MODELS]
    assert row.n_models == 2 and row["mean"] == pytest.approx(np.mean(vals))
    assert row.worst == pytest.approx(min(vals)) and row.worst_model == MODELS[int(np.argmin(vals))]
    assert set(pop.scope) >= {"within", "between", "rank_agreement"}
