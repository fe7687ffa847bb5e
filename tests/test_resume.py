"""A run killed with SIGKILL mid-way resumes to the same result as an uninterrupted run."""
import os
import signal
import subprocess
import sys
import textwrap
import time

import pandas as pd
from PIL import Image

SCRIPT = textwrap.dedent("""
    import sys, torch
    from iqalign.models import Preprocessing, TorchClassifier, register_model
    from iqalign.pipeline import BenchmarkConfig, run_benchmark

    def tiny():
        torch.manual_seed(0)
        net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 5, stride=4), torch.nn.AdaptiveAvgPool2d(1),
                                  torch.nn.Flatten(), torch.nn.Linear(4, 1000))
        return TorchClassifier(net, "tiny", Preprocessing(input_size=64))

    if __name__ == "__main__":
        register_model("tiny", tiny)
        run_benchmark(BenchmarkConfig(source=sys.argv[1], out=sys.argv[2], models=["tiny"], references=["tiny"],
                                      metrics=["sharpness", "brisque", "task_maxprob"],
                                      corruptions=["glass_blur", "zoom_blur", "gaussian_noise"], severities=[1, 2, 3],
                                      chunk_images=1, workers=int(sys.argv[3]), n_boot=20), quiet=True)
""")


def _photos(root):
    from skimage import data

    names = []
    for name in ("coffee", "chelsea", "rocket", "astronaut", "camera", "clock"):
        Image.fromarray(getattr(data, name)()).save(root / f"{name}.png")
        names.append(f"{name}.png")
    pd.DataFrame({"path": names, "label": [967, 281, 657, 0, 872, 892]}).to_csv(root / "labels.csv", index=False)
    return root / "labels.csv"


def test_kill_9_then_rerun_equals_uninterrupted(tmp_path):
    manifest = _photos(tmp_path)
    script = tmp_path / "run.py"
    script.write_text(SCRIPT)
    full, killed = tmp_path / "full", tmp_path / "killed"
    subprocess.run([sys.executable, str(script), str(manifest), str(full), "1"], check=True, timeout=600)

    proc = subprocess.Popen([sys.executable, str(script), str(manifest), str(killed), "2"], start_new_session=True)
    deadline = time.time() + 300
    while not (killed / "parts" / "part-00001.parquet").exists() and time.time() < deadline:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)  # the owner only: its workers must notice and exit by themselves
    proc.wait()
    assert not (killed / "rows.parquet").exists(), "the run finished before it could be killed"
    done_before = len(list((killed / "parts").glob("part-*.parquet")))
    assert 2 <= done_before < 6
    subprocess.run([sys.executable, str(script), str(manifest), str(killed), "2"], check=True, timeout=600)
    pd.testing.assert_frame_equal(pd.read_parquet(full / "rows.parquet"), pd.read_parquet(killed / "rows.parquet"))
    pd.testing.assert_frame_equal(pd.read_csv(full / "alignment.csv"), pd.read_csv(killed / "alignment.csv"))
    assert not list((killed / "parts").glob("*.tmp"))
