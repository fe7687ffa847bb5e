"""``--engine ray``: score and benchmark on Ray Data (a local Ray instance) give the local engine's rows,
row for row, and a results folder started by one engine is finished by the other."""
import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("ray.data")

from iqalign.cli import build_parser  # noqa: E402
from iqalign.models import CallableClassifier, Preprocessing, register_model  # noqa: E402
from iqalign.pipeline import BenchmarkConfig, ScoreConfig, run_benchmark, run_score  # noqa: E402
from iqalign.pipeline import ray_engine  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def _boom(batch):
    raise ValueError("boom in the model")


# A model registered from Python (not built in): the actors get it from the driver. It fails on use.
register_model("boom_ray_test", lambda: CallableClassifier(_boom, "boom_ray_test", Preprocessing(input_size=32)))


@pytest.fixture(scope="module")
def ray_local():
    """A local Ray instance (2 CPUs) for the module; the engine uses it as is and leaves it running."""
    import logging

    import ray

    mp = pytest.MonkeyPatch()
    mp.chdir(REPO)  # Ray puts the driver's folder on the workers' sys.path: this module is importable there
    mp.delenv("RAY_ADDRESS", raising=False)
    ray.init(num_cpus=2, include_dashboard=False, logging_level=logging.ERROR, log_to_driver=False)
    yield ray
    ray.shutdown()
    mp.undo()


def _score_config(photo_dir, out, **kw):
    base = dict(source=str(photo_dir / "labels.csv"), out=str(out), metrics=["sharpness", "task_maxprob", "task_ptrue"],
                references=["efficientnet_lite0"], workers=1, chunk_images=2)
    return ScoreConfig(**{**base, **kw})


def _bench_config(photo_dir, out, **kw):
    base = dict(source=str(photo_dir / "labels.csv"), out=str(out), corruptions=["gaussian_blur", "jpeg_compression"],
                severities=[3], metrics=["sharpness", "task_maxprob", "task_negentropy"],
                models=["efficientnet_lite0"], references=["efficientnet_lite0"], n_boot=20, workers=1, chunk_images=2)
    return BenchmarkConfig(**{**base, **kw})


def _sorted(frame: pd.DataFrame, keys) -> pd.DataFrame:
    return frame.sort_values(keys).reset_index(drop=True)


@pytest.fixture(scope="module")
def local_score(photo_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("score-local")
    run_score(_score_config(photo_dir, out), quiet=True)
    return out


@pytest.mark.slow
def test_cli_starts_and_stops_its_own_local_instance(photo_dir, tmp_path):
    """`iqalign score --engine ray` with no cluster given: a local instance for the run, then gone."""
    import os
    import subprocess

    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    cmd = [sys.executable, "-m", "iqalign.cli", "score", str(photo_dir / "labels.csv"), "--out", str(tmp_path / "cli"),
           "--metrics", "sharpness,task_maxprob", "--engine", "ray", "--quiet"]
    done = subprocess.run(cmd, env=env, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "scored 3 of 4 images (1 unusable, 0 with a metric undefined" in done.stdout
    local = run_score(_score_config(photo_dir, tmp_path / "local", metrics=["sharpness", "task_maxprob"],
                                    chunk_images=64), quiet=True)["scores"]
    pd.testing.assert_frame_equal(_sorted(local, "path"), _sorted(pd.read_parquet(tmp_path / "cli" / "scores.parquet"),
                                                                   "path"), check_exact=True)


@pytest.mark.slow
def test_score_ray_equals_local(ray_local, photo_dir, local_score, tmp_path):
    ray_out = tmp_path / "ray"
    run_score(_score_config(photo_dir, ray_out, engine="ray", workers=2), quiet=True)
    local = pd.read_parquet(local_score / "scores.parquet")
    remote = pd.read_parquet(ray_out / "scores.parquet")
    assert len(local) == 4 and local["error"].notna().sum() == 1  # the broken file is a row with its error
    assert local["task_maxprob"].notna().sum() == 3
    pd.testing.assert_frame_equal(_sorted(local, "path"), _sorted(remote, "path"), check_exact=True)
    # the same parts, under the same fingerprint (the inference engine); config.json says where it ran
    assert (local_score / "parts" / "fingerprint.json").read_text() == (ray_out / "parts" / "fingerprint.json") \
        .read_text().replace(str(ray_out), str(local_score))
    assert json.loads((ray_out / "parts" / "fingerprint.json").read_text())["engine"] == "onnx"
    execution = json.loads((ray_out / "config.json").read_text())["execution"]
    assert execution["engine"] == "ray" and execution["inference_engine"] == "onnx"


@pytest.mark.slow
def test_benchmark_ray_equals_local(ray_local, photo_dir, tmp_path):
    local = run_benchmark(_bench_config(photo_dir, tmp_path / "local"), quiet=True)
    remote = run_benchmark(_bench_config(photo_dir, tmp_path / "ray", engine="ray"), quiet=True)
    keys = ["image_id", "condition"]
    assert len(local["rows"]) == 3 * 3  # 3 readable photos x (clean + 2 corruptions x 1 severity)
    pd.testing.assert_frame_equal(_sorted(local["rows"], keys), _sorted(remote["rows"], keys), check_exact=True)
    pd.testing.assert_frame_equal(local["alignment"], remote["alignment"], check_exact=True)
    assert local["problems"] == remote["problems"] and any("broken.jpg" in p["path"] for p in remote["problems"])
    for name in ("alignment.csv", "problems.csv"):
        assert (tmp_path / "local" / name).read_text() == (tmp_path / "ray" / name).read_text()


@pytest.mark.slow
def test_graph_benchmark_ray_equals_local(ray_local, photo_dir, tmp_path):
    """A condition-graph run: the graph travels to the actors and the views come out the same."""
    kw = dict(corruptions=None, severities=None, graph="compressed_web", samples_per_image=1, metrics=["sharpness"])
    local = run_benchmark(_bench_config(photo_dir, tmp_path / "local", **kw), quiet=True)
    remote = run_benchmark(_bench_config(photo_dir, tmp_path / "ray", engine="ray", **kw), quiet=True)
    keys = ["image_id", "sample", "condition"]
    assert len(local["rows"]) == 3 * (1 + 1 * (1 + 2 * 7))  # compressed_web has 7 nodes
    pd.testing.assert_frame_equal(_sorted(local["rows"], keys), _sorted(remote["rows"], keys), check_exact=True)
    assert (tmp_path / "local" / "node_effects.csv").read_text() == (tmp_path / "ray" / "node_effects.csv").read_text()


@pytest.mark.slow
def test_resume_across_engines(ray_local, photo_dir, local_score, tmp_path):
    """Half done locally, finished on Ray (and the reverse): the same scores as one run."""
    expected = _sorted(pd.read_parquet(local_score / "scores.parquet"), "path")
    started = tmp_path / "started-local"
    shutil.copytree(local_score, started)
    (started / "parts" / "part-00001.parquet").unlink()
    (started / "scores.parquet").unlink()
    run_score(_score_config(photo_dir, started, engine="ray"), quiet=True)
    pd.testing.assert_frame_equal(expected, _sorted(pd.read_parquet(started / "scores.parquet"), "path"),
                                  check_exact=True)

    started_on_ray = tmp_path / "started-ray"
    shutil.copytree(started, started_on_ray)  # its part 1 was written by a Ray actor
    (started_on_ray / "parts" / "part-00000.parquet").unlink()
    run_score(_score_config(photo_dir, started_on_ray, engine="onnx"), quiet=True)
    pd.testing.assert_frame_equal(expected, _sorted(pd.read_parquet(started_on_ray / "scores.parquet"), "path"),
                                  check_exact=True)


@pytest.mark.slow
def test_worker_failure_is_reported(ray_local, photo_dir, tmp_path):
    """An exception in an actor surfaces as one RuntimeError with the original reason (the CLI prints it);
    models registered from Python in the driver are known to the actors."""
    with pytest.raises(RuntimeError, match="a Ray worker failed: ValueError: boom in the model"):
        run_score(_score_config(photo_dir, tmp_path / "boom", metrics=["task_maxprob"], references=["boom_ray_test"],
                                engine="ray"), quiet=True)


def test_engine_settings():
    config = ScoreConfig(source=".", out="x", engine="ray", ray_address="ray://head:10001")
    assert config.fingerprint()["engine"] == "onnx" and "ray_address" not in config.fingerprint()
    assert BenchmarkConfig(source=".", out="x", engine="ray").fingerprint()["engine"] == "onnx"
    assert BenchmarkConfig(source=".", out="x", engine="torch").fingerprint()["engine"] == "torch"
    with pytest.raises(ValueError, match="onnx, torch, ray"):
        ScoreConfig(source=".", out="x", engine="spark")
    with pytest.raises(ValueError, match="only used with --engine ray"):
        BenchmarkConfig(source=".", out="x", ray_address="auto")
    args = build_parser().parse_args(["score", "imgs", "--out", "o", "--engine", "ray", "--ray-address", "auto"])
    assert (args.engine, args.ray_address) == ("ray", "auto")


def test_missing_ray_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now fails as if it were not installed
    with pytest.raises(RuntimeError, match=r"pip install 'iqalign\[ray\]'"):
        ray_engine.import_ray()


def test_records_travel_as_paths(photo_dir):
    from iqalign.sources import discover

    records, _ = discover(str(photo_dir / "labels.csv"))
    payload = ray_engine._encode_records(records)
    assert "coffee.png" in payload and np.array_equal([r.path for r in ray_engine._decode_records(payload)],
                                                      [r.path for r in records])
    assert ray_engine._decode_records(payload) == records


def test_unreachable_cluster_address_fails_fast():
    import socket
    import time

    from iqalign.pipeline.ray_engine import _check_reachable

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    t0 = time.perf_counter()
    with pytest.raises(RuntimeError, match=f"cannot connect to the Ray cluster at '127.0.0.1:{port}'"):
        _check_reachable(f"127.0.0.1:{port}", timeout_s=2)
    assert time.perf_counter() - t0 < 5
    _check_reachable("auto")  # left to Ray
    _check_reachable("ray://head:10001")
