"""The HTML report: self-contained, escaped, robust to missing pieces, and rendered by a real
headless Chromium (skipped when no Chromium is installed)."""
import json
import re
import shutil
import subprocess
import time

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from iqalign.models import register_model
from iqalign.pipeline import BenchmarkConfig, ScoreConfig, run_benchmark, run_score
from iqalign.reports.html import render_report
from iqalign.reports.html_cli import register, write_report

from .helpers import tiny_classifier

ODD_NAME = 'odd <b>&"name.png'  # a file name that must be escaped everywhere


register_model("report_target", lambda: tiny_classifier("report_target", 11))
register_model("report_ref", lambda: tiny_classifier("report_ref", 12))
register_model("report_target2", lambda: tiny_classifier("report_target2", 13))


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    """Five scikit-image photos (one with an odd name, one grayscale, two per scene) and a broken file."""
    from skimage import data

    root = tmp_path_factory.mktemp("report-photos")
    items = [("coffee.png", data.coffee(), "espresso", "indoor"), ("chelsea.jpg", data.chelsea(), "tabby", "indoor"),
             ("camera.png", data.camera(), "872", "outdoor"), (ODD_NAME, data.astronaut(), "n01440764", "outdoor"),
             ("rocket.jpg", data.rocket(), "n01440764", "outdoor")]
    for name, img, _, _ in items:
        Image.fromarray(img).save(root / name, format="PNG" if name.endswith(".png") else "JPEG", quality=92)
    (root / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not a jpeg")
    rows = [(n, lab, scene) for n, _, lab, scene in items] + [("broken.jpg", "tabby", "indoor")]
    pd.DataFrame(rows, columns=["path", "label", "scene"]).to_csv(root / "labels.csv", index=False)
    return root


@pytest.fixture(scope="module")
def score_dir(photos, tmp_path_factory):
    out = tmp_path_factory.mktemp("report-score")
    run_score(ScoreConfig(source=str(photos / "labels.csv"), out=str(out), metrics=["sharpness", "contrast", "brisque"],
                          workers=1, group_by=["scene"], worst_n=4), quiet=True)
    return out


@pytest.fixture(scope="module")
def bench_dir(photos, tmp_path_factory):
    out = tmp_path_factory.mktemp("report-bench")
    cfg = BenchmarkConfig(source=str(photos / "labels.csv"), out=str(out), corruptions=["gaussian_noise", "gaussian_blur"],
                          severities=[1, 5], metrics=["sharpness", "contrast", "task_maxprob"],
                          models=["report_target"], references=["report_ref"], n_boot=30, workers=1, chunk_images=8)
    run_benchmark(cfg, quiet=True)
    return out


@pytest.fixture(scope="module")
def graph_bench_dir(photos, tmp_path_factory):
    """A condition-graph benchmark (no sensitivity.csv; node_effects.csv instead) with two target models."""
    out = tmp_path_factory.mktemp("report-graph-bench")
    cfg = BenchmarkConfig(source=str(photos / "labels.csv"), out=str(out), graph="low_light_indoor", samples_per_image=2,
                          metrics=["sharpness", "contrast", "task_maxprob"], models=["report_target", "report_target2"],
                          references=["report_ref"], n_boot=30, workers=1, chunk_images=8)
    run_benchmark(cfg, quiet=True)
    assert (out / "node_effects.csv").is_file() and not (out / "sensitivity.csv").exists()
    return out


@pytest.fixture(scope="module")
def report(score_dir, bench_dir):
    path = write_report(score_dir, bench_dir)
    return path, path.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def graph_report(score_dir, graph_bench_dir, tmp_path_factory):
    path = write_report(score_dir, graph_bench_dir, tmp_path_factory.mktemp("graph-report") / "report.html")
    return path, path.read_text(encoding="utf-8")


# ------------------------------------------------------------------------------------------------
# the HTML itself
# ------------------------------------------------------------------------------------------------

def _attributes(html: str, name: str) -> list[str]:
    return re.findall(rf'\s{name}\s*=\s*"([^"]*)"', html)


def test_report_is_self_contained(report, score_dir):
    path, html = report
    assert path == score_dir / "report.html"
    assert html.startswith("<!DOCTYPE html>")
    for value in _attributes(html, "src") + _attributes(html, "href"):
        assert not value.startswith(("http:", "https:", "//", "file:")), value
    assert "http://" not in html and "https://" not in html  # not even in the text
    assert "@import" not in html and "url(" not in html  # no external style sheets or fonts
    srcs = _attributes(html, "src")
    assert srcs and all(s.startswith(("data:image/png;base64,", "data:image/jpeg;base64,")) for s in srcs)
    assert all(h.startswith("#") for h in _attributes(html, "href"))  # nav anchors only
    assert path.stat().st_size < 5_000_000


def test_report_sections_and_numbers(report):
    _, html = report
    for anchor in ("overview", "distributions", "groups", "quantiles", "gallery", "alignment", "sensitivity",
                   "decomposition", "configuration"):
        assert f'id="{anchor}"' in html and f'href="#{anchor}"' in html, anchor
    assert "Grouped by <b>scene</b>: 2 of 2 groups" in html  # box plots per --group-by column
    assert "target model report_target" in html and "AUROC" in html
    assert html.count('src="data:image/jpeg;base64,') >= 3  # gallery thumbnails
    assert "<details><summary>score config.json</summary>" in html
    assert "broken.jpg" in html  # listed among the rows with an error


def _section_ids(html: str) -> list[str]:
    return re.findall(r'<section id="([^"]+)"', html)


def _section_html(html: str, anchor: str) -> str:
    start = html.index(f'<section id="{anchor}">')
    return html[start:html.index("</section>", start)]


def test_grid_report_sections_unchanged(report):
    _, html = report
    assert _section_ids(html) == ["overview", "distributions", "groups", "quantiles", "gallery", "alignment",
                                  "sensitivity", "decomposition", "configuration"]
    assert "Condition graph" not in html and 'id="graph"' not in html
    sens = _section_html(html, "sensitivity")
    assert sens.count("<img ") == 1 and 'class="note"' not in sens
    assert "imaging conditions change" in _section_html(html, "decomposition")


def test_graph_report_draws_node_effects(graph_report, graph_bench_dir):
    _, html = graph_report
    assert _section_ids(html) == ["overview", "distributions", "groups", "quantiles", "gallery", "alignment", "graph",
                                  "decomposition", "configuration"]
    assert 'href="#graph"' in html and 'href="#sensitivity"' not in html
    assert "sensitivity.csv is missing" not in html and "could not be drawn" not in html
    graph = _section_html(html, "graph")
    assert "Condition graph: what moves the model, and which metrics follow" in graph
    assert "condition graph <b>low_light_indoor</b>" in graph and "2 draw(s) per photo" in graph
    effects = pd.read_csv(graph_bench_dir / "node_effects.csv")
    models = list(dict.fromkeys(effects["model"]))
    assert models == ["report_target", "report_target2"]
    assert graph.count('<img class="plot"') == len(models)  # one figure per target model
    for model in models:
        assert f"target model {model} " in graph
    nodes = list(dict.fromkeys(effects.loc[effects["kind"] == "node", "node"]))
    config = json.loads((graph_bench_dir / "config.json").read_text())
    assert nodes and set(nodes) == set(config["graph"]["contrasts"])
    for node in nodes:
        assert node in graph
    assert 'class="note"' not in graph
    srcs = _attributes(html, "src")
    assert srcs and all(s.startswith(("data:image/png;base64,", "data:image/jpeg;base64,")) for s in srcs)
    assert "http://" not in html and "https://" not in html
    # the decomposition copes with the graph's three scopes and says what "within" means here
    dec = _section_html(html, "decomposition")
    assert dec.count("<img ") == 1 and 'class="note"' not in dec and "draw of the graph" in dec
    assert _section_html(html, "alignment").count("<table") == len(models)


def test_graph_section_sorts_nodes_by_the_models_effect(graph_bench_dir):
    from iqalign.reports.html import _graph_effects

    effects = pd.read_csv(graph_bench_dir / "node_effects.csv")
    html = _graph_effects(graph_bench_dir, json.loads((graph_bench_dir / "config.json").read_text()))
    for model in ("report_target", "report_target2"):
        rows = effects[(effects["model"] == model) & (effects["target"] == "p_true") & (effects["kind"] == "node")]
        first = rows[rows["metric"] == rows["metric"].iloc[0]]
        order = ", ".join(first.sort_values("m_effect", kind="stable")["node"])
        assert f"most harmful to most helpful: {order})" in html
    # no config.json: the section still draws, with "?" for the graph
    html = _graph_effects(graph_bench_dir, None)
    assert html.count("<img ") == 2 and "condition graph <b>?</b>" in html


def test_graph_report_without_node_effects(score_dir, graph_bench_dir, tmp_path):
    bench = tmp_path / "bench"
    shutil.copytree(graph_bench_dir, bench, ignore=shutil.ignore_patterns("parts", "rows.parquet"))
    (bench / "node_effects.csv").unlink()
    cfg = json.loads((bench / "config.json").read_text())
    cfg["graph"]["contrasts"] = {}
    (bench / "config.json").write_text(json.dumps(cfg))
    html = render_report(score_dir, bench)
    assert 'id="graph"' in html and "run without node contrasts" in html
    assert 'id="sensitivity"' not in html and "sensitivity.csv" not in html.split('id="configuration"')[0]
    assert "could not be drawn" not in html


def test_file_names_are_escaped(report):
    _, html = report
    assert ODD_NAME not in html and "<b>&" not in html
    assert "odd &lt;b&gt;&amp;&quot;name.png" in html
    # every <b> in the page is one the report wrote itself
    assert all(m.group(0) == "<b>" for m in re.finditer(r"<b\b[^>]*>", html))


def test_missing_pieces_render_notes(score_dir, tmp_path):
    copy = tmp_path / "score"
    shutil.copytree(score_dir, copy)
    scores = pd.read_parquet(copy / "scores.parquet")
    scores["contrast"] = np.nan  # a metric without any value
    scores["label"] = None  # no labels
    scores.to_parquet(copy / "scores.parquet")
    cfg = json.loads((copy / "config.json").read_text())
    cfg["config"]["group_by"] = []
    (copy / "config.json").write_text(json.dumps(cfg))
    worst = pd.read_csv(copy / "worst.csv")
    worst.loc[0, "path"] = str(tmp_path / "gone.png")  # an image that cannot be read any more
    worst.to_csv(copy / "worst.csv", index=False)
    html = render_report(copy, tmp_path / "no-such-benchmark")
    assert "No finite values (nothing to plot): contrast." in html
    assert "No labels and no --group-by column" in html
    assert "image could not be read" in html
    assert "does not exist" in html
    html = render_report(copy)
    assert "No benchmark folder given" in html
    with pytest.raises(FileNotFoundError, match="scores.parquet"):
        render_report(tmp_path)


def test_cli_register_and_out(score_dir, tmp_path):
    import argparse

    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command")
    commands = register(sub)
    out = tmp_path / "r.html"
    args = parser.parse_args(["report", str(score_dir), "--out", str(out)])
    assert commands[args.command](args) == 0 and out.is_file()
    assert args.benchmark is None


# ------------------------------------------------------------------------------------------------
# a real browser
# ------------------------------------------------------------------------------------------------

def _chromium() -> str:
    exe = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if exe is None:
        pytest.skip("no Chromium installed (Debian: apt-get install chromium)")
    return exe


def _run_chromium(exe: str, tmp_path, *args: str) -> subprocess.CompletedProcess:
    profile = tmp_path / f"profile-{time.monotonic_ns()}"
    cmd = [exe, "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
           "--hide-scrollbars", f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60)


@pytest.fixture(params=["grid", "graph"])
def any_report(request):
    return request.getfixturevalue("report" if request.param == "grid" else "graph_report")


def test_chromium_renders_images_without_errors(any_report, tmp_path):
    exe = _chromium()
    path, html = any_report
    done = _run_chromium(exe, tmp_path, "--virtual-time-budget=5000", "--dump-dom", path.as_uri())
    assert done.returncode == 0, done.stderr[-2000:]
    body = re.search(r"<body([^>]*)>", done.stdout)
    assert body, done.stdout[:500]
    # the page's own script: every <img> decoded (complete, naturalWidth > 0)
    assert 'data-images="ok"' in body.group(1), body.group(1)
    count = int(re.search(r'data-image-count="(\d+)"', body.group(1)).group(1))
    assert count == html.count("<img ") and count >= 6
    console = [line for line in done.stderr.splitlines() if ":CONSOLE" in line or "Uncaught" in line]
    assert not console, console


def test_chromium_screenshot_is_not_blank(any_report, tmp_path):
    exe = _chromium()
    path, _ = any_report
    shot = tmp_path / "shot.png"
    done = _run_chromium(exe, tmp_path, f"--screenshot={shot}", "--window-size=1280,2000", path.as_uri())
    assert done.returncode == 0 and shot.is_file(), done.stderr[-2000:]
    with Image.open(shot) as im:
        assert im.size == (1280, 2000)
        pixels = np.asarray(im.convert("RGB"))
    assert pixels.std() > 20  # not one flat colour
    colours = np.unique(pixels.reshape(-1, 3)[::7], axis=0)
    assert len(colours) > 200  # text, plots and photos, not a blank page
    # the header band is the report's dark blue (#1f3b57), so the style sheet applied
    assert np.abs(pixels[10, 640].astype(int) - [0x1F, 0x3B, 0x57]).max() <= 8


def test_box_plots_fall_back_to_the_next_grouping_with_shared_groups():
    import pandas as pd

    from iqalign.reports.html import _group_values

    scores = pd.DataFrame({"image_id": ["a/1.png", "b/2.png", "c/3.png", "d/4.png"], "label": [1, 2, 3, 4],
                           "kind": ["animal", "animal", "object", "object"], "up": [1.0, 2.0, 3.0, 4.0]})
    name, values, note = _group_values(scores, {"config": {"group_by": ["class", "kind"]}})
    assert name == "kind" and list(values) == ["animal", "animal", "object", "object"]
    assert "class: every group has a single image" in note
    name, _, _ = _group_values(scores, {"config": {"group_by": ["folder"]}})
    assert name == "folder"  # nothing shared anywhere: the first, so the page can say why
