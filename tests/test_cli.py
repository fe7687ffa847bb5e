import json

import pandas as pd
import pytest

from iqalign.cli import main
from iqalign.reports import family_comparison, overview_markdown


def test_metrics_json_lists_every_metric_with_required_fields(capsys):
    assert main(["metrics", "--json"]) == 0
    entries = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    names = {e["name"] for e in entries}
    assert {"brisque", "niqe", "piqe", "sharpness", "brightness", "contrast", "colourfulness", "noise_sigma",
            "task_maxprob", "task_margin", "task_negentropy", "task_ptrue", "task_truemargin"} <= names
    for e in entries:
        assert {"name", "family", "higher_is_better", "needs_labels", "available", "version"} <= set(e)
        assert e["family"] in {"classic", "statistic", "task"}
    by = {e["name"]: e for e in entries}
    assert by["brisque"]["higher_is_better"] is False and by["task_ptrue"]["needs_labels"] is True


def test_models_json_says_why_a_backend_is_unavailable(capsys):
    assert main(["models", "--json"]) == 0
    entries = {e["name"]: e for e in map(json.loads, capsys.readouterr().out.splitlines())}
    assert entries["efficientnet_lite2"]["available"] and entries["efficientnet_lite2"]["input_size"] == 260
    for e in entries.values():
        assert e["available"] or e["reason"]  # never unavailable without a reason


def test_bad_input_gives_a_clear_error_not_a_traceback(capsys, tmp_path):
    assert main(["benchmark", str(tmp_path / "nowhere"), "--out", str(tmp_path / "o")]) == 2
    assert "nowhere" in capsys.readouterr().err
    assert main(["benchmark", str(tmp_path), "--out", str(tmp_path / "o"), "--corruptions", "blurry"]) == 2
    assert "unknown corruption" in capsys.readouterr().err
    assert main(["benchmark", str(tmp_path), "--out", ""]) == 2
    assert "--out is empty" in capsys.readouterr().err
    assert main(["score", str(tmp_path), "--out", str(tmp_path / "o"), "--metrics", ","]) == 2
    assert "--metrics is empty" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()  # refused before any work or folder
    with pytest.raises(SystemExit):
        main(["benchmark", str(tmp_path), "--out", "o", "--severities", "one"])


def _table(rows):
    cols = ["metric", "model", "target", "scope", "n", "spearman", "spearman_lo", "spearman_hi", "kendall", "auroc"]
    return pd.DataFrame(rows, columns=cols)


def test_family_comparison_and_overview():
    table = _table([
        ("task_ptrue", "m", "p_true", "all", 100, 0.8, 0.7, 0.9, 0.6, 0.9),
        ("task_maxprob", "m", "p_true", "all", 100, 0.6, 0.5, 0.7, 0.4, 0.8),
        ("brisque", "m", "p_true", "all", 100, 0.3, 0.1, 0.45, 0.2, 0.6),
        ("sharpness", "m", "p_true", "all", 100, 0.5, 0.3, 0.75, 0.3, 0.7),
        ("task_ptrue", "m", "top1", "all", 100, 0.5, 0.4, 0.6, 0.4, 0.9),
    ])
    fam = {"task_ptrue": "task", "task_maxprob": "task", "brisque": "classic", "sharpness": "statistic"}
    comp = family_comparison(table, fam).iloc[0]
    assert comp["best_task"] == "task_ptrue" and comp["best_classic"] == "brisque" and comp["best_statistic"] == "sharpness"
    assert comp["task_beats_classic"]  # 0.7 > 0.45
    text = overview_markdown(table, fam)
    lines = [line for line in text.splitlines() if line.startswith("| task") or line.startswith("| brisque")]
    assert lines[0].startswith("| task_ptrue | task | +0.500 [+0.40, +0.60] | +0.800 [+0.70, +0.90]")
    assert lines[-1].startswith("| brisque")
    overlap = table.assign(spearman_lo=table["spearman_lo"].where(table["metric"] != "task_ptrue", 0.3))
    assert not family_comparison(overlap, fam).iloc[0]["task_beats_classic"]


def test_simulate_writes_the_same_tables_as_a_benchmark_folder(tmp_path, capsys):
    from iqalign.analysis.causal import DECOMPOSITION_COLUMNS, SENSITIVITY_COLUMNS

    args = ["simulate", "--out", str(tmp_path / "sim"), "--n-images", "12", "--n-train", "120", "--epochs", "1",
            "--corruptions", "blur,tint", "--severities", "2,5", "--n-boot", "20", "--n-perm", "20", "--quiet"]
    assert main(args) == 0
    out = tmp_path / "sim"
    for name in ("rows.parquet", "alignment.csv", "sensitivity.csv", "decomposition.csv", "population.csv",
                 "config.json", "summary.md"):
        assert (out / name).is_file(), name
    rows = pd.read_parquet(out / "rows.parquet")
    assert len(rows) == 12 * (1 + 2 * 2) and set(rows["corruption"]) == {"none", "blur", "tint"}
    assert list(pd.read_csv(out / "sensitivity.csv").columns) == SENSITIVITY_COLUMNS
    assert list(pd.read_csv(out / "decomposition.csv").columns) == DECOMPOSITION_COLUMNS
    assert "oracle_condition" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["simulate"])  # --out is required


def test_fresh_user_mistakes_get_one_line_errors(tmp_path, capsys):
    from importlib.util import find_spec

    # a clean-only benchmark intervenes on nothing
    assert main(["benchmark", str(tmp_path), "--out", str(tmp_path / "b"), "--severities", "0"]) == 2
    assert "at least one severity" in capsys.readouterr().err
    # simulate never overwrites a folder it did not write
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    assert main(["simulate", "--out", str(other), "--n-images", "4"]) == 2
    assert "not an earlier `iqalign simulate` result" in capsys.readouterr().err
    assert (other / "notes.txt").read_text() == "mine"
    if find_spec("torchvision") is None:
        from iqalign.models import load_model

        with pytest.raises(RuntimeError, match="pip install torchvision"):
            load_model("torchvision:resnet18")


def test_analyse_refuses_a_simulate_folder_before_writing(tmp_path, capsys):
    out = tmp_path / "sim"
    # 300 training scenes x 1 epoch = 5 optimiser steps: once a division by zero in the LR schedule
    assert main(["simulate", "--out", str(out), "--n-images", "6", "--n-train", "300", "--epochs", "1",
                 "--corruptions", "blur,blur", "--severities", "3", "--n-boot", "10", "--n-perm", "10", "--quiet"]) == 0
    capsys.readouterr()
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    assert main(["analyse", str(out)]) == 2
    assert "rerun `iqalign simulate`" in capsys.readouterr().err
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before
