"""Condition graphs: validation, seeded sampling, do() semantics, stage-ordered application."""
import copy
import json

import numpy as np
import pytest

from iqalign.conditions import (GraphError, apply_graph_sample, list_graphs, load_example, load_graph,
                                parse_interventions, plan, resolve_graph, row_fields, sample)
from iqalign.conditions.graph import STAGES

BASE = {
    "name": "toy",
    "nodes": {
        "light": {"transform": "latent", "range": [0, 1], "distribution": {"type": "uniform"}},
        "shake": {"transform": "latent", "range": [0, 1], "distribution": {"type": "normal", "mean": 0.5, "sd": 0.3}},
        "gain": {"transform": "latent", "stage": "sensor", "range": [0, 1], "parents": {"light": -1.0}, "bias": 1.0,
                 "noise_sd": 0.05},
        "jpeg": {"transform": "jpeg_compression", "range": [0, 3], "parents": {"noise": 0.5}, "bias": 0.5,
                 "noise_sd": 0.2},
        "noise": {"transform": "gaussian_noise", "range": [0, 3], "parents": {"gain": 3.0}, "noise_sd": 0.2},
        "blur": {"transform": "motion_blur", "range": [0, 3], "parents": {"shake": 2.0, "light": -1.0}, "bias": 0.5,
                 "noise_sd": 0.2},
        "fog": {"transform": "fog", "range": [0, 2], "distribution": {"type": "choice", "values": [0, 1, 2],
                                                                     "weights": [0.5, 0.3, 0.2]}},
    },
}


def graph_with(mutate):
    raw = copy.deepcopy(BASE)
    mutate(raw)
    return raw


# --- validation ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("mutate, words", [
    (lambda g: g["nodes"]["noise"].update(transform="gaussian_nosie"), ["noise", "transform", "gaussian_nosie"]),
    (lambda g: g["nodes"]["noise"].update(parents={"gian": 1.0}), ["noise", "parents", "gian"]),
    (lambda g: g["nodes"]["gain"].update(parents={"jpeg": 1.0}), ["cycle", "gain -> noise -> jpeg -> gain"]),
    (lambda g: g["nodes"]["gain"].update(parents={"gain": 1.0}), ["gain", "cycle"]),
    (lambda g: g["nodes"]["noise"].update(range=[0, 6]), ["noise", "range", "outside [0, 5]"]),
    (lambda g: g["nodes"]["noise"].update(range=[2, 1]), ["noise", "range", "lo 2 > hi 1"]),
    (lambda g: g["nodes"]["noise"].pop("range"), ["noise", "missing field 'range'"]),
    (lambda g: g["nodes"]["noise"].pop("transform"), ["noise", "missing field 'transform'"]),
    (lambda g: g["nodes"]["light"].pop("distribution"), ["light", "missing field 'distribution'"]),
    (lambda g: g["nodes"]["light"].update(distribution={"type": "gamma"}), ["light", "distribution", "gamma"]),
    (lambda g: g["nodes"]["shake"]["distribution"].pop("sd"), ["shake", "distribution", "'sd'"]),
    (lambda g: g["nodes"]["fog"]["distribution"].update(values=[0, 7, 2]), ["fog", "values", "7"]),
    (lambda g: g["nodes"]["noise"].update(stage="lens"), ["noise", "stage", "lens"]),
    (lambda g: g["nodes"]["noise"].update(weight=1), ["noise", "unknown field", "weight"]),
    (lambda g: g["nodes"]["noise"].update(distribution={"type": "uniform"}), ["noise", "parents", "distribution"]),
    (lambda g: g["nodes"]["light"].update(bias=1), ["light", "bias"]),
    (lambda g: g["nodes"]["noise"].update(noise_sd=-1), ["noise", "noise_sd"]),
    (lambda g: g["nodes"]["noise"].update(parents={"gain": "heavy"}), ["noise", "parents.gain", "heavy"]),
    (lambda g: g.update(nodes={}), ["nodes"]),
    (lambda g: g["nodes"].update(order=g["nodes"].pop("fog")), ["'order'", "reserved"]),
    (lambda g: g["nodes"].update({"a=b": g["nodes"].pop("fog")}), ["invalid node name", "'a=b'"]),
    (lambda g: g.update(edges=[]), ["unknown field", "edges"]),
])
def test_invalid_graphs_are_rejected_with_named_problem(mutate, words):
    with pytest.raises(GraphError) as e:
        load_graph(graph_with(mutate))
    for w in words:
        assert w in str(e.value), (w, str(e.value))


def test_load_from_json_and_yaml_files(tmp_path):
    p = tmp_path / "toy.json"
    p.write_text(json.dumps(BASE))
    g = load_graph(p)
    assert g.name == "toy" and set(g.nodes) == set(BASE["nodes"])
    yaml = pytest.importorskip("yaml")
    q = tmp_path / "toy.yaml"
    q.write_text(yaml.safe_dump(BASE, sort_keys=False))
    assert load_graph(q).order == g.order
    bad = tmp_path / "toy.txt"
    bad.write_text("{}")
    with pytest.raises(GraphError, match="file type"):
        load_graph(bad)
    with pytest.raises(GraphError, match="not found"):
        load_graph(tmp_path / "missing.yaml")


def test_topological_order_and_relatives():
    g = load_graph(BASE)
    order = list(g.order)
    for n, node in g.nodes.items():
        assert all(order.index(p) < order.index(n) for p in node.parents)
    assert order.index("noise") < order.index("jpeg")  # declared after jpeg, but jpeg's parent
    assert g.descendants("light") == {"gain", "noise", "jpeg", "blur"}
    assert g.ancestors("jpeg") == {"noise", "gain", "light"}
    with pytest.raises(GraphError, match="'nope'"):
        g.descendants("nope")


# --- interventions parsing ----------------------------------------------------------------------------------

def test_parse_interventions():
    g = load_graph(BASE)
    assert parse_interventions(["gain=0.8", " jpeg = 0 "], g) == {"gain": 0.8, "jpeg": 0.0}
    assert parse_interventions(None) == {}
    for items, words in [(["gain"], "NODE=VALUE"), (["=1"], "NODE=VALUE"), (["gain="], "NODE=VALUE"),
                         (["gain=high"], "'high' is not a number"), (["gain=nan"], "finite"),
                         (["gain=1", "gain=0"], "twice"), (["exposure=0.5"], "no node 'exposure'"),
                         (["gain=1.5"], "gain"), (["noise=5.5"], "[0, 5]")]:
        with pytest.raises(GraphError, match=words.replace("[", r"\[").replace("]", r"\]")):
            parse_interventions(items, g)
    # a transform node's do() domain is its whole severity scale, not just its natural range
    assert parse_interventions(["jpeg=4.5"], g) == {"jpeg": 4.5}


# --- sampling -----------------------------------------------------------------------------------------------

def test_samples_are_deterministic_and_seeded_per_image():
    g = load_graph(BASE)
    a = sample(g, "img-1", seed=3, n=5)
    assert a == sample(g, "img-1", seed=3, n=5)
    assert a[:2] == sample(g, "img-1", seed=3, n=2)  # sample i does not depend on n
    assert a != sample(g, "img-1", seed=4, n=5)
    assert a != sample(g, "img-2", seed=3, n=5)
    assert a[0] != a[1]
    for s in a:
        assert list(s) == list(g.order)
        for n, v in s.items():
            lo, hi = g.nodes[n].range
            assert lo <= v <= hi
        assert s["fog"] in (0.0, 1.0, 2.0)


def test_child_follows_its_formula():
    g = load_graph(graph_with(lambda r: r["nodes"]["gain"].update(noise_sd=0.0)))
    for s in sample(g, "x", seed=0, n=20):
        assert s["gain"] == pytest.approx(min(max(1.0 - s["light"], 0.0), 1.0))


def test_intervention_sets_node_moves_descendants_only():
    g = load_graph(BASE)
    base = sample(g, "img", seed=7, n=50)
    hi = sample(g, "img", seed=7, n=50, interventions={"gain": 1.0})
    lo = sample(g, "img", seed=7, n=50, interventions={"gain": 0.0})
    for b, h, l in zip(base, hi, lo):
        assert h["gain"] == 1.0 and l["gain"] == 0.0
        for n in ("light", "shake", "blur", "fog"):  # ancestors and non-descendants: identical draws
            assert b[n] == h[n] == l[n]
        # paired: the same noise draws, so a larger parent never gives a smaller child (positive weights)
        assert l["noise"] <= b["noise"] <= h["noise"]
        assert l["jpeg"] <= b["jpeg"] <= h["jpeg"]
    assert np.mean([h["noise"] for h in hi]) > np.mean([b["noise"] for b in base]) + 0.5
    assert np.mean([h["jpeg"] for h in hi]) > np.mean([l["jpeg"] for l in lo]) + 0.3


def test_intervention_distribution_shift_over_images():
    g = load_example("low_light_indoor")
    ids = [f"img{i}" for i in range(200)]
    dark = [sample(g, i, seed=0, interventions={"illuminance": 0.05})[0] for i in ids]
    bright = [sample(g, i, seed=0, interventions={"illuminance": 0.95})[0] for i in ids]
    natural = [sample(g, i, seed=0)[0] for i in ids]
    mean = lambda rows, k: float(np.mean([r[k] for r in rows]))  # noqa: E731
    for k in ("exposure", "gain", "shot_noise", "read_noise", "motion_blur", "defocus_blur"):
        assert mean(dark, k) > mean(bright, k), k
    # camera_shake is a root unrelated to illuminance: its distribution (here: its draws) is unchanged
    assert [r["camera_shake"] for r in dark] == [r["camera_shake"] for r in natural]
    # intervening on a child leaves its ancestors' values exactly as sampled
    do_jpeg = [sample(g, i, seed=0, interventions={"jpeg": 0})[0] for i in ids]
    for a, b in zip(natural, do_jpeg):
        assert b["jpeg"] == 0.0
        assert {k: v for k, v in a.items() if k != "jpeg"} == {k: v for k, v in b.items() if k != "jpeg"}


def test_multiple_interventions():
    g = load_graph(BASE)
    s = sample(g, "i", seed=1, interventions={"light": 0.2, "noise": 0.0})[0]
    assert s["light"] == 0.2 and s["noise"] == 0.0
    assert s["gain"] == sample(g, "i", seed=1, interventions={"light": 0.2})[0]["gain"]  # light's child responds
    # jpeg sees the intervened noise, not gain's consequence
    assert s["jpeg"] == sample(g, "i", seed=1, interventions={"noise": 0.0})[0]["jpeg"]


# --- application --------------------------------------------------------------------------------------------

def test_plan_follows_stages_then_topology():
    g = load_graph(BASE)
    values = sample(g, "i", seed=0, interventions={"fog": 1.0, "blur": 1.0, "noise": 1.0, "jpeg": 1.0})[0]
    steps = plan(g, values)
    assert [s.node for s in steps] == ["fog", "blur", "noise", "jpeg"]
    assert [STAGES.index(s.stage) for s in steps] == sorted(STAGES.index(s.stage) for s in steps)
    values["blur"] = 0.0
    assert [s.node for s in plan(g, values)] == ["fog", "noise", "jpeg"]  # zero severity: not applied
    with pytest.raises(GraphError, match="lack"):
        plan(g, {"fog": 1.0})


def test_apply_graph_sample_on_photo(photo):
    g = load_graph(BASE)
    zeros = {n: 0.0 for n in g.order}
    out, steps = apply_graph_sample(photo, g, zeros, seed=0, image_id="cat")
    assert steps == [] and np.array_equal(out, photo) and out is not photo
    values = {**zeros, "noise": 1.0, "jpeg": 2.0}
    out1, steps = apply_graph_sample(photo, g, values, seed=0, image_id="cat")
    assert [s.node for s in steps] == ["noise", "jpeg"]
    assert out1.shape == photo.shape and out1.dtype == np.uint8
    assert np.abs(out1.astype(int) - photo).mean() > 1.0
    out2, _ = apply_graph_sample(photo, g, values, seed=0, image_id="cat")
    assert np.array_equal(out1, out2)
    row = row_fields(g, values, steps, interventions={"jpeg": 2.0})
    assert row["cg_graph"] == "toy" and row["cg_order"] == "noise>jpeg" and row["cg_do"] == "jpeg=2"
    assert all(row[f"cg_{n}"] == values[n] for n in g.order)


# --- shipped examples ---------------------------------------------------------------------------------------

def test_example_graphs_load_and_sample(photo):
    names = list_graphs()
    assert {"outdoor_daylight", "low_light_indoor", "compressed_web"} <= set(names)
    for name in names:
        g = load_example(name)
        assert resolve_graph(name).order == g.order
        rows = sample(g, "photo", seed=0, n=30)
        assert rows == sample(g, "photo", seed=0, n=30)
        assert any(plan(g, r) for r in rows)
        assert any(n.is_latent for n in g.nodes.values())
        # every node varies across samples unless it is constant by design
        for n in g.order:
            assert len({round(r[n], 9) for r in rows}) > 1, (name, n)
    g = load_example("compressed_web")
    out, steps = apply_graph_sample(photo, g, sample(g, "photo", seed=0)[0], seed=0, image_id="photo")
    assert out.shape == photo.shape and steps
    with pytest.raises(GraphError, match="unknown example"):
        load_example("underwater")


def test_draw_graph(tmp_path):
    from iqalign.conditions.draw import draw_graph

    p = draw_graph(load_graph(BASE), tmp_path / "g.png")
    assert p.stat().st_size > 5000


def test_documented_example_is_valid():
    from pathlib import Path

    yaml = pytest.importorskip("yaml")
    doc = (Path(__file__).resolve().parents[1] / "docs" / "condition-graphs.md").read_text()
    block = doc.split("```yaml\n", 1)[1].split("```", 1)[0]
    g = load_graph(yaml.safe_load(block))
    assert g.order == ("illuminance", "exposure", "shot_noise")
