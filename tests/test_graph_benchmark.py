"""`iqalign benchmark --conditions GRAPH`: rows drawn from a condition graph, do() for the whole run, per-node
effects from paired low/high contrasts, and a graph whose effect structure is known being recovered."""
import json

import numpy as np
import pandas as pd
import pytest
import yaml

from iqalign.analysis.node_effects import NODE_EFFECT_COLUMNS, node_effects_table
from iqalign.cli import main
from iqalign.conditions import GraphError
from iqalign.models import CallableClassifier, Preprocessing, register_model
from iqalign.pipeline import BenchmarkConfig, run_benchmark
from .helpers import tiny_classifier

def _coarse_edges(batch: np.ndarray) -> np.ndarray:
    """A model that only sees coarse edges: class 0's logit grows with the gradient energy of the 8x8-pooled
    grey image relative to its variance. Blur removes that energy (-35% at gaussian_blur 5 on the photos
    below); pixel noise barely reaches it (pooling averages 64 pixels: < 1% at gaussian_noise 1)."""
    grey = batch.mean(axis=1)
    n, h, w = grey.shape
    pooled = grey.reshape(n, h // 8, 8, w // 8, 8).mean(axis=(2, 4))
    energy = (np.diff(pooled, axis=1) ** 2).mean(axis=(1, 2)) + (np.diff(pooled, axis=2) ** 2).mean(axis=(1, 2))
    ratio = energy / (2.0 * pooled.var(axis=(1, 2)) + 1e-6)
    logits = np.zeros((n, 1000), np.float32)
    logits[:, 0] = np.log(999.0) + 5.0 * np.log(ratio / 0.6 + 1e-6)  # p_true 0.5 at a ratio of 0.6
    return logits


register_model("graph_target", lambda: tiny_classifier("graph_target", 3))
register_model("graph_ref", lambda: tiny_classifier("graph_ref", 4))
register_model("coarse_edges", lambda: CallableClassifier(_coarse_edges, "coarse_edges", Preprocessing(input_size=128)))

SMALL_GRAPH = {
    "name": "small",
    "nodes": {
        "haze": {"transform": "latent", "range": [0, 1], "distribution": {"type": "uniform"}},
        "blur": {"transform": "gaussian_blur", "range": [0, 4], "parents": {"haze": 3.0}, "bias": 0.5,
                 "noise_sd": 0.2},
        "jpeg": {"transform": "jpeg_compression", "range": [0, 2], "distribution": {"type": "uniform"}},
    },
}


def _write(tmp_path, graph, name="graph.yaml"):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(graph))
    return path


def _config(photo_dir, out, graph=None, **kw):
    base = dict(source=str(photo_dir / "labels.csv"), out=str(out), graph=graph if graph is None or isinstance(graph, dict) else str(graph),
                metrics=["sharpness", "task_maxprob"], models=["graph_target"], references=["graph_ref"], n_boot=50,
                workers=1, chunk_images=2)
    if kw.get("graph", base["graph"]) is not None:
        base["samples_per_image"] = 2
    return BenchmarkConfig(**{**base, **kw})


@pytest.fixture(scope="module")
def graph_run(photo_dir, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("graph")
    graph = _write(tmp, SMALL_GRAPH)
    out = tmp / "out"
    return run_benchmark(_config(photo_dir, out, graph, node_contrast="range"), quiet=True), out, graph


def test_rows_hold_every_view_with_its_node_values(graph_run):
    result, out, _ = graph_run
    rows = pd.read_parquet(out / "rows.parquet")
    # 3 readable photos x (clean + 2 draws x (observed + 2 x 3 node contrasts))
    assert len(rows) == 3 * (1 + 2 * (1 + 2 * 3))
    assert rows.groupby("image_id")["arm"].value_counts().unstack().to_dict("list") == {
        "clean": [1, 1, 1], "high": [6, 6, 6], "low": [6, 6, 6], "sample": [2, 2, 2]}
    for col in ("cg_haze", "cg_blur", "cg_jpeg", "cg_order", "cg_do", "sharpness", "task_maxprob",
                "graph_target.p_true"):
        assert col in rows
    obs = rows[rows["arm"] == "sample"]
    assert (obs["cg_do"] == "").all() and (obs["condition"] == "graph").all()
    assert obs["cg_haze"].between(0, 1).all() and obs["cg_blur"].between(0, 4).all()
    # the order transforms were applied in is recorded: optics (blur) before processing (jpeg)
    assert set(obs["cg_order"]) <= {"blur>jpeg", "blur", "jpeg", ""}
    assert (obs["cg_order"] == "blur>jpeg").any()
    clean = rows[rows["arm"] == "clean"]
    assert clean["cg_blur"].isna().all() and (clean["sample"] == -1).all()


def test_contrast_arms_change_the_node_and_its_descendants_only(graph_run):
    _, out, _ = graph_run
    rows = pd.read_parquet(out / "rows.parquet")
    obs = rows[rows["arm"] == "sample"].set_index(["image_id", "sample"])
    for (node, arm), sub in rows[rows["arm"].isin(["low", "high"])].groupby(["node", "arm"]):
        level = {"haze": (0.0, 1.0), "blur": (0.0, 4.0), "jpeg": (0.0, 2.0)}[node][arm == "high"]
        assert (sub[f"cg_{node}"] == level).all()
        assert (sub["cg_do"] == f"{node}={level:g}").all()
        base = obs.loc[list(zip(sub["image_id"], sub["sample"]))]
        untouched = {"haze": ["jpeg"], "blur": ["haze", "jpeg"], "jpeg": ["haze", "blur"]}[node]
        for other in untouched:  # ancestors and unrelated nodes keep their drawn values exactly
            np.testing.assert_array_equal(sub[f"cg_{other}"].to_numpy(), base[f"cg_{other}"].to_numpy())
    haze_high = rows[(rows["node"] == "haze") & (rows["arm"] == "high")]
    np.testing.assert_array_equal(haze_high["cg_blur"].to_numpy() >= 3.0, True)  # blur = 0.5 + 3 x 1 + noise


def test_outputs_and_config_describe_the_graph(graph_run):
    result, out, graph = graph_run
    config = json.loads((out / "config.json").read_text())
    g = config["graph"]
    assert g["definition"]["nodes"]["blur"]["parents"] == {"haze": 3.0}
    assert g["contrasts"] == {"haze": [0.0, 1.0], "blur": [0.0, 4.0], "jpeg": [0.0, 2.0]}
    assert g["views_per_image"] == 15 and g["samples_per_image"] == 2
    assert config["config"]["graph"] == str(graph)
    for name in ("alignment.csv", "node_effects.csv", "decomposition.csv", "population.csv", "causal.md"):
        assert (out / name).is_file(), name
    assert not (out / "sensitivity.csv").exists()  # cells against clean do not apply to graph draws
    align = pd.read_csv(out / "alignment.csv")
    assert set(align["n"][align["scope"] == "all"]) == {6}  # the observational draws only: 3 photos x 2
    effects = pd.read_csv(out / "node_effects.csv")
    assert list(effects.columns) == NODE_EFFECT_COLUMNS
    assert set(effects["model"]) == {"graph_target"}  # graph_ref is a reference, not a target
    dec = pd.read_csv(out / "decomposition.csv")
    assert set(dec["scope"]) == {"all", "between", "within"}
    md = (out / "causal.md").read_text()
    assert "What moves graph_target" in md and "| blur | 0 -> 4 |" in md


def test_clean_rows_equal_the_grid_benchmark_and_a_constant_node_equals_its_corruption(photo_dir, tmp_path):
    """A node held at an integer severity gives that corruption's pixels: the rows agree with the grid run."""
    graph = _write(tmp_path, {"nodes": {"blur": {"transform": "gaussian_blur", "range": [0, 5],
                                                 "distribution": {"type": "constant", "value": 3}}}})
    g = run_benchmark(_config(photo_dir, tmp_path / "g", graph, samples_per_image=1, node_effects=False), quiet=True)
    grid = run_benchmark(_config(photo_dir, tmp_path / "grid", corruptions=["gaussian_blur"], severities=[3]), quiet=True)
    cols = ["sharpness", "task_maxprob", "graph_target.p_true"]
    a = g["rows"].set_index(["image_id", "arm"])[cols].sort_index()
    b = grid["rows"].assign(arm=lambda f: np.where(f["condition"] == "clean", "clean", "sample")) \
        .set_index(["image_id", "arm"])[cols].sort_index()
    pd.testing.assert_frame_equal(a, b)
    assert len(g["rows"]) == 3 * 2


def test_interventions_hold_a_node_for_the_whole_run(photo_dir, tmp_path):
    graph = _write(tmp_path, SMALL_GRAPH)
    free = run_benchmark(_config(photo_dir, tmp_path / "free", graph, node_effects=False), quiet=True)["rows"]
    held = run_benchmark(_config(photo_dir, tmp_path / "held", graph, interventions=["blur=0", "jpeg=1.5"]),
                         quiet=True)["rows"]
    obs_free, obs_held = (r[r["arm"] == "sample"].sort_values(["image_id", "sample"]) for r in (free, held))
    assert (obs_held["cg_blur"] == 0).all() and (obs_held["cg_jpeg"] == 1.5).all()
    assert (obs_held["cg_do"] == "blur=0,jpeg=1.5").all()
    np.testing.assert_array_equal(obs_held["cg_haze"].to_numpy(), obs_free["cg_haze"].to_numpy())  # the ancestor
    assert set(held["node"]) == {"", "haze"}  # held nodes are not contrasted
    # with blur held at 0, haze reaches no pixel: its contrast changes nothing
    pairs = held[held["node"] == "haze"].pivot_table(index=["image_id", "sample"], columns="arm", values="sharpness")
    np.testing.assert_array_equal(pairs["low"].to_numpy(), pairs["high"].to_numpy())
    assert len(free) == 3 * (1 + 2)


def test_spread_contrasts_use_the_percentiles_of_the_nodes_own_draws(photo_dir, tmp_path):
    """Default levels: the 10th and 90th percentiles of each node over the graph's draws (under the run's
    do()), the same for every photo; given as a dict, the graph needs no file."""
    from iqalign.conditions import load_graph, sample

    config = _config(photo_dir, tmp_path / "s", SMALL_GRAPH, interventions={"jpeg": 1.0})
    plan = config.contrasts()
    assert list(plan) == ["haze", "blur"]  # jpeg is held by the run
    draws = sample(load_graph(SMALL_GRAPH), "contrast-spread", 0, 2000, {"jpeg": 1.0})
    for node, (lo, hi) in plan.items():
        values = [d[node] for d in draws]
        assert (lo, hi) == tuple(round(float(q), 4) for q in np.quantile(values, [0.1, 0.9]))
    assert 0.05 < plan["haze"][0] < 0.15 and 0.85 < plan["haze"][1] < 0.95  # uniform on [0, 1]
    rows = run_benchmark(config, quiet=True)["rows"]
    for node, (lo, hi) in plan.items():
        sub = rows[rows["node"] == node]
        assert set(sub.loc[sub["arm"] == "low", f"cg_{node}"]) == {lo}
        assert set(sub.loc[sub["arm"] == "high", f"cg_{node}"]) == {hi}
    saved = json.loads((tmp_path / "s" / "config.json").read_text())
    assert saved["graph"]["node_contrast"] == "spread" and saved["graph"]["contrasts"] == {k: list(v) for k, v in
                                                                                           plan.items()}
    assert saved["config"]["graph"]["nodes"]["blur"]["parents"] == {"haze": 3.0}


def test_rerun_resumes_and_an_edited_graph_does_not(graph_run, photo_dir, tmp_path):
    result, out, graph = graph_run
    first = pd.read_parquet(out / "rows.parquet")
    sorted((out / "parts").glob("part-*.parquet"))[1].unlink()
    again = run_benchmark(_config(photo_dir, out, graph, node_contrast="range"), quiet=True)["rows"]
    pd.testing.assert_frame_equal(first, again)
    part = sorted((out / "parts").glob("part-*.parquet"))[0]
    saved = part.read_bytes()
    part.write_bytes(b"not parquet")
    with pytest.raises(RuntimeError, match="part-00000.parquet cannot be read.*delete that file"):
        run_benchmark(_config(photo_dir, out, graph, node_contrast="range"), quiet=True)
    part.write_bytes(saved)
    edited = json.loads(json.dumps(SMALL_GRAPH))
    edited["nodes"]["blur"]["bias"] = 1.0
    other = _write(tmp_path, edited, "other.yaml")
    with pytest.raises(RuntimeError, match="changed: graph.nodes.blur.bias"):
        run_benchmark(_config(photo_dir, out, other, node_contrast="range"), quiet=True)


def test_bad_graph_settings_are_refused_with_the_reason(photo_dir, tmp_path):
    graph = _write(tmp_path, SMALL_GRAPH)
    with pytest.raises(ValueError, match="leave out --corruptions"):
        _config(photo_dir, tmp_path / "a", graph, corruptions=["fog"])
    with pytest.raises(GraphError, match="has no node 'fog'"):
        _config(photo_dir, tmp_path / "a", graph, interventions=["fog=1"])
    with pytest.raises(GraphError, match="outside node 'jpeg'"):
        _config(photo_dir, tmp_path / "a", graph, interventions=["jpeg=7"])
    for kw in ({"interventions": ["jpeg=1"]}, {"samples_per_image": 2}, {"node_effects": False},
               {"node_contrast": "range"}):
        with pytest.raises(ValueError, match="only apply to a condition graph"):
            _config(photo_dir, tmp_path / "a", **kw)
    with pytest.raises(ValueError, match="--node-contrast must be one of spread, range"):
        _config(photo_dir, tmp_path / "a", graph, node_contrast="quantile")
    with pytest.raises(ValueError, match="--samples-per-image"):
        _config(photo_dir, tmp_path / "a", graph, samples_per_image=0)
    broken = _write(tmp_path, {"nodes": {"x": {"transform": "blurr", "range": [0, 1]}}}, "broken.yaml")
    with pytest.raises(GraphError, match="node 'x': field 'transform': unknown transform 'blurr'"):
        _config(photo_dir, tmp_path / "a", broken)
    with pytest.raises(GraphError, match="not found"):
        _config(photo_dir, tmp_path / "a", tmp_path / "missing.yaml")
    (tmp_path / "folder.yaml").mkdir()
    (tmp_path / "empty.yaml").write_text("\n")
    (tmp_path / "binary.yaml").write_bytes(b"\x89PNG\x00\xff")
    for name, why in (("folder.yaml", "is a folder"), ("empty.yaml", "empty.yaml: the file is empty"),
                      ("binary.yaml", "binary.yaml: not a UTF-8 text file")):
        with pytest.raises(GraphError, match=why):
            _config(photo_dir, tmp_path / "a", tmp_path / name)
    named = _write(tmp_path, {"name": "pretty", "nodes": {"x": {"transform": "fog", "range": [0, 9]}}}, "n.yaml")
    with pytest.raises(GraphError, match=f"{named}: graph 'pretty': node 'x': field 'range'"):
        _config(photo_dir, tmp_path / "a", named)  # the file is named even when the graph has a name
    with pytest.raises(GraphError, match="no example graph 'low_light'.*low_light_indoor"):
        _config(photo_dir, tmp_path / "a", "low_light")
    for name in ("a>b", "f(x)", "two\nlines"):  # would make cg_order / do(...) keys ambiguous
        with pytest.raises(GraphError, match="invalid node name"):
            _config(photo_dir, tmp_path / "a", {"nodes": {name: {"transform": "fog", "range": [0, 1],
                                                                 "distribution": {"type": "uniform"}}}})
    with pytest.raises(GraphError, match="too wide"):
        _config(photo_dir, tmp_path / "a", {"nodes": {"k": {"transform": "latent", "range": [-1e308, 1e308],
                                                            "distribution": {"type": "uniform"}}}})


def test_a_node_that_cannot_vary_is_not_contrasted_and_levels_keep_their_digits(photo_dir, tmp_path):
    graph = {"nodes": {"kelvin": {"transform": "latent", "range": [100000, 100001], "distribution": {"type": "uniform"}},
                       "fixed": {"transform": "fog", "range": [0, 0], "distribution": {"type": "constant", "value": 0}}}}
    config = _config(photo_dir, tmp_path / "k", graph, samples_per_image=1)
    plan = config.contrasts()
    assert list(plan) == ["kelvin"]  # "fixed" has a one-value range
    rows = run_benchmark(config, quiet=True)["rows"]
    keys = set(rows.loc[rows["node"] == "kelvin", "condition"])
    lo, hi = plan["kelvin"]
    assert keys == {f"do(kelvin={lo:.10g})", f"do(kelvin={hi:.10g})"} and len(keys) == 2  # not both "100000"


def test_cli_runs_an_example_graph_with_interventions(photo_dir, tmp_path, capsys):
    out = tmp_path / "cli"
    code = main(["benchmark", str(photo_dir / "labels.csv"), "--out", str(out), "--conditions", "compressed_web",
                 "--samples-per-image", "1", "--intervene", "jpeg=0", "--no-node-effects", "--metrics", "sharpness",
                 "--models", "graph_target", "--references", "graph_ref", "--workers", "1", "--n-boot", "20", "--quiet"])
    assert code == 0
    rows = pd.read_parquet(out / "rows.parquet")
    assert (rows.loc[rows["arm"] == "sample", "cg_jpeg"] == 0).all() and set(rows["arm"]) == {"clean", "sample"}
    assert not (out / "node_effects.csv").exists()
    assert "no node effects" in (out / "causal.md").read_text()
    code = main(["benchmark", str(photo_dir / "labels.csv"), "--out", str(tmp_path / "x"), "--conditions",
                 "low_light_indoor", "--intervene", "lux=1", "--models", "graph_target", "--quiet"])
    assert code == 2 and "has no node 'lux'" in capsys.readouterr().err
    code = main(["benchmark", str(photo_dir / "labels.csv"), "--out", str(tmp_path / "x"), "--conditions",
                 "low_light_indoor", "--severities", "3", "--models", "graph_target", "--quiet"])
    assert code == 2 and "leave out --corruptions and --severities" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:  # aliases given twice: an error, not "the last one wins"
        main(["benchmark", str(photo_dir / "labels.csv"), "--out", str(tmp_path / "x"), "--conditions",
              "low_light_indoor", "--graph", "outdoor_daylight"])
    assert exc.value.code == 2 and "a graph was already given (low_light_indoor)" in capsys.readouterr().err


# --- Per-node effects ----------------------------------------------------------------------------------------

def _known_rows(n_images: int = 30, draws: int = 2) -> pd.DataFrame:
    """Rows of a graph benchmark with known effects: M = base - 0.2 a; Q = base + 0.5 b (c moves nothing)."""
    rng = np.random.default_rng(0)
    out = []
    for i in range(n_images):
        base = rng.normal()
        for k in range(draws):
            drawn = {"a": rng.uniform(0, 1), "b": rng.uniform(0, 2), "c": rng.uniform(0, 1)}
            arms = [("sample", "", drawn)] + [(arm, n, {**drawn, n: level}) for n, (lo, hi) in
                                              {"a": (0, 1), "b": (0, 2), "c": (0, 1)}.items()
                                              for arm, level in (("low", lo), ("high", hi))]
            for arm, node, v in arms:
                out.append({"image_id": f"im{i}", "arm": arm, "sample": k, "node": node,
                            **{f"cg_{n}": x for n, x in v.items()},
                            "q": base + 0.5 * v["b"], "m.p_true": base - 0.2 * v["a"]})
    return pd.DataFrame(out)


def test_node_effects_recover_known_effects_exactly():
    rows = _known_rows()
    t = node_effects_table(rows, ["q"], ["m"], {"q": True}, targets=["p_true"], n_boot=200)
    nodes = t[t["kind"] == "node"].set_index("node")
    assert list(nodes.index) == ["a", "b", "c"]
    np.testing.assert_allclose(nodes["m_effect"], [-0.2, 0.0, 0.0], atol=1e-12)
    np.testing.assert_allclose(nodes["q_effect"], [0.0, 1.0, 0.0], atol=1e-12)  # 0.5 x (2 - 0)
    # every photo has the same difference: the bootstrap interval collapses onto the effect
    np.testing.assert_allclose(nodes["m_effect_lo"], nodes["m_effect"], atol=1e-12)
    np.testing.assert_allclose(nodes["q_effect_hi"], nodes["q_effect"], atol=1e-12)
    assert nodes.loc["a", "m_effect_sd"] < 0 and nodes.loc["b", "q_effect_sd"] > 0
    assert list(nodes["low"]) == [0, 0, 0] and list(nodes["high"]) == [1, 2, 1]
    agree = t[t["kind"] == "agreement"].iloc[0]
    assert agree["n_worse_nodes"] == 1  # only a hurts the model
    assert agree["hit_rate"] == 0.0  # and the metric does not fall on a
    assert agree["false_alarm_rate"] == 0.0  # it rises on b: not a false alarm of lower quality
    # observational association: Spearman of the drawn node value with Q / M over the observational rows
    from scipy.stats import spearmanr

    obs = rows[rows["arm"] == "sample"]
    assert nodes.loc["b", "q_obs_spearman"] == pytest.approx(spearmanr(obs["cg_b"], obs["q"])[0], abs=1e-12)
    assert nodes.loc["a", "m_obs_spearman"] == pytest.approx(spearmanr(obs["cg_a"], obs["m.p_true"])[0], abs=1e-12)


def test_a_view_without_its_partner_is_left_out():
    rows = _known_rows()
    drop = rows[(rows["arm"] == "high") & (rows["node"] == "a") & (rows["image_id"] == "im0")].index
    t = node_effects_table(rows.drop(drop), ["q"], ["m"], {"q": True}, targets=["p_true"], n_boot=0)
    assert t.set_index("node").loc["a", "n_images"] == 29 and t.set_index("node").loc["b", "n_images"] == 30
    only_low = rows[rows["arm"] != "high"]
    t = node_effects_table(only_low, ["q"], ["m"], {"q": True}, targets=["p_true"], n_boot=0)
    assert (t.loc[t["kind"] == "node", "n_images"] == 0).all() and t["m_effect"].isna().all()


def test_node_effects_need_contrast_rows():
    rows = _known_rows()
    with pytest.raises(ValueError, match="no do\\(node=low\\)"):
        node_effects_table(rows[rows["arm"] == "sample"], ["q"], ["m"], {"q": True}, targets=["p_true"])
    with pytest.raises(ValueError, match="missing column 'arm'"):
        node_effects_table(rows.drop(columns="arm"), ["q"], ["m"], {"q": True}, targets=["p_true"])


def test_a_known_effect_structure_is_recovered_end_to_end(tmp_path):
    """Only blur reaches the coarse-edge model. Noise shares blur's cause (dark), so it correlates with the
    model's failures observationally, but its interventional effect is ~0; a node with no children moves
    nothing at all. The per-node effects must say exactly that."""
    from PIL import Image
    from skimage import data

    photos = tmp_path / "photos"
    photos.mkdir()
    names = ["astronaut", "coffee", "chelsea", "rocket", "camera", "immunohistochemistry", "hubble_deep_field",
             "coins", "clock", "moon", "brick", "grass"]
    for name in names:
        Image.fromarray(getattr(data, name)()).save(photos / f"{name}.png")
    pd.DataFrame({"path": [f"{n}.png" for n in names], "label": 0}).to_csv(photos / "labels.csv", index=False)
    graph = _write(tmp_path, {"name": "known", "nodes": {
        "dark": {"transform": "latent", "range": [0, 1], "distribution": {"type": "uniform"}},
        "blur": {"transform": "gaussian_blur", "range": [0, 5], "parents": {"dark": 5.0}, "noise_sd": 0.3},
        "noise": {"transform": "gaussian_noise", "range": [0, 1], "parents": {"dark": 1.0}, "noise_sd": 0.1},
        "idle": {"transform": "latent", "range": [0, 1], "distribution": {"type": "uniform"}}}})
    out = tmp_path / "out"
    run_benchmark(BenchmarkConfig(source=str(photos / "labels.csv"), out=str(out), graph=str(graph),
                                  samples_per_image=3, metrics=["sharpness"], models=["coarse_edges"], references=[],
                                  n_boot=300, workers=1, engine="torch"), quiet=True)
    t = pd.read_csv(out / "node_effects.csv")
    m = t[(t["kind"] == "node") & (t["target"] == "p_true")].set_index("node")
    assert m.loc["blur", "m_effect_hi"] < 0 and m.loc["blur", "m_effect"] < -0.1  # blur hurts, clearly
    assert m.loc["dark", "m_effect_hi"] < 0  # dark hurts through blur (a total effect)
    assert abs(m.loc["noise", "m_effect"]) < 0.05 * abs(m.loc["blur", "m_effect"])  # noise barely reaches it
    assert m.loc["idle", "m_effect"] == 0 and m.loc["idle", "q_effect"] == 0  # no descendants: identical views
    # ... yet noise correlates with failure about as much as blur does: both follow dark
    assert m.loc["noise", "m_obs_spearman"] < -0.1 and m.loc["blur", "m_obs_spearman"] < -0.1
    # sharpness (a pixel statistic) rises with noise, which the model ignores; it falls with blur
    assert m.loc["noise", "q_effect_lo"] > 0 and m.loc["blur", "q_effect_hi"] < 0


def graph_result_has_tables(graph_run) -> bool:
    result, out, _ = graph_run
    return (result["node_effects"].shape == pd.read_csv(out / "node_effects.csv").shape
            and "sensitivity" not in result and len(result["decomposition"]) > 0)


def test_analyse_recomputes_a_graph_folder(graph_run):
    from iqalign.pipeline.benchmark import reanalyse

    _, out, _ = graph_run
    before = pd.read_csv(out / "node_effects.csv")
    (out / "node_effects.csv").unlink()
    reanalyse(out)
    pd.testing.assert_frame_equal(pd.read_csv(out / "node_effects.csv"), before)
    assert graph_result_has_tables(graph_run)
    reanalyse(out, n_boot=0)
    assert json.loads((out / "config.json").read_text())["config"]["n_boot"] == 0  # says how the tables were made
    after = pd.read_csv(out / "node_effects.csv")
    pd.testing.assert_series_equal(after["m_effect"], before["m_effect"])  # the same effects, no intervals
    assert after["m_effect_lo"].isna().all() and before["m_effect_lo"].notna().any()
    reanalyse(out, n_boot=50)  # as the fixture made it


def test_a_prior_fitted_on_a_graph_folder_uses_the_observational_draws(graph_run):
    from iqalign.prior.fit import fit_prior

    _, out, _ = graph_run
    prior = fit_prior(out, model="graph_target", metric="sharpness", n_boot=0)
    assert prior["calibration"]["conditions"] == ["graph"]
    assert prior["calibration"]["n_rows"] == 3 * 2  # 3 photos x 2 draws; no clean views, no contrasts
    everything = fit_prior(out, model="graph_target", metric="sharpness", n_boot=0,
                           conditions=["clean", "graph"])
    assert everything["calibration"]["n_rows"] == 3 * 3


def test_spread_levels_are_rounded_inside_the_range():
    """Levels are rounded to 4 decimals for the row keys, but never out of the node's range (do() refuses
    a latent value outside it)."""
    from iqalign.conditions import load_graph
    from iqalign.conditions.design import contrast_plan, graph_views

    g = load_graph({"nodes": {"k": {"transform": "latent", "range": [0, 0.12345],
                                    "distribution": {"type": "choice", "values": [0.12341, 0.12345]}}}})
    lo, hi = contrast_plan(g)["k"]
    assert (lo, hi) == (0.1234, 0.12345)  # round(0.12345, 4) would be 0.1235, outside the range
    views = graph_views(g, "x.jpg", seed=0, samples=1, contrasts={"k": (lo, hi)})
    assert [v.values["k"] for v in views[1:]] == [views[1].values["k"], 0.1234, 0.12345]
