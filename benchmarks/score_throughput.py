"""End-to-end `iqalign score` with the Lite0 task-guided metric vs a plain PyTorch eager loop.

    python benchmarks/score_throughput.py [--n 1000] [--imagenet DIR]

Both sides, measured one after the other in this run, on the same N photo files (the ImageNet
sample's 800 JPEGs, linked again under new names to reach N), process start to finish:

* baselines: a plain Python loop in one process: PIL decode, short side 256 (bicubic), centre crop
  224, (x - 127) / 128, EfficientNet-Lite0 in PyTorch eager, max class probability; one image at a
  time (the plain loop) and in batches of 32 (a stronger baseline);
* iqalign: `iqalign score DIR --metrics task_maxprob` as a subprocess (worker processes decode while
  ONNX Runtime runs the model; the ONNX file comes from the cache, exported beforehand).

Prints images/s of each, the ratio, and Spearman's rho between the two sets of scores.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import available_cores, cpu_name  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
BASELINE = r'''
import sys, time, numpy as np, torch
from PIL import Image
from iqalign.models import load_model
batch_size = int(sys.argv[1])
paths = sys.argv[2:]
model = load_model("efficientnet_lite0").module
scores = []
batch = []
def flush():
    x = torch.from_numpy(np.stack(batch))
    with torch.inference_mode():
        scores.extend(torch.softmax(model(x), dim=1).max(dim=1).values.tolist())
    batch.clear()
for p in paths:
    im = Image.open(p).convert("RGB")
    w, h = im.size
    s = 256 / min(w, h)
    im = im.resize((round(w * s), round(h * s)), Image.BICUBIC)
    w, h = im.size
    l, t = round((w - 224) / 2), round((h - 224) / 2)
    a = (np.asarray(im.crop((l, t, l + 224, t + 224)), dtype=np.float32) - 127.0) / 128.0
    batch.append(a.transpose(2, 0, 1))
    if len(batch) == batch_size:
        flush()
if batch:
    flush()
np.save(sys.stdin.readline().strip(), np.array(scores))
'''


def photo_folder(src: Path, n: int, dest: Path) -> list[Path]:
    photos = sorted(src.glob("*.JPEG"))
    out = []
    for i in range(n):
        link = dest / f"{i:05d}_{photos[i % len(photos)].name}"
        link.symlink_to(photos[i % len(photos)])
        out.append(link)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--imagenet", type=Path, default=REPO.parent / "shared" / "data" / "imagenet-sample")
    args = ap.parse_args()
    import pandas as pd
    from scipy.stats import spearmanr

    from iqalign.models import load_for_inference

    load_for_inference("efficientnet_lite0", "onnx")  # export into the cache before timing
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        folder = tmp / "photos"
        folder.mkdir()
        paths = photo_folder(args.imagenet, args.n, folder)

        baseline_s = {}
        for bs in (1, 32):
            t0 = time.perf_counter()
            scores_file = tmp / f"baseline{bs}.npy"
            subprocess.run([sys.executable, "-c", BASELINE, str(bs), *map(str, paths)], input=f"{scores_file}\n",
                           text=True, check=True)
            baseline_s[bs] = time.perf_counter() - t0

        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "iqalign.cli", "score", str(folder), "--out", str(tmp / "out"),
                        "--metrics", "task_maxprob", "--quiet"], check=True, stdout=subprocess.DEVNULL)
        iqalign_s = time.perf_counter() - t0

        ours = pd.read_parquet(tmp / "out" / "scores.parquet").set_index("path")["task_maxprob"]
        base = pd.Series(np.load(scores_file), index=[str(p) for p in paths])
        ours.index = [str(Path(p)) for p in ours.index]
        joined = pd.concat([base.rename("baseline"), ours.rename("iqalign")], axis=1, join="inner")
        rho = spearmanr(joined["baseline"], joined["iqalign"])[0]

    n = args.n
    print(f"| pipeline | seconds for {n} photos | images/s |")
    print("|---|---:|---:|")
    for bs, secs in baseline_s.items():
        what = "plain PyTorch eager loop, one image at a time" if bs == 1 else f"PyTorch eager loop, batches of {bs}"
        print(f"| {what} | {secs:.1f} | {n / secs:.1f} |")
    print(f"| `iqalign score --metrics task_maxprob` (ONNX Runtime, workers) | {iqalign_s:.1f} | {n / iqalign_s:.1f} |")
    print(f"\nspeed-up: {baseline_s[1] / iqalign_s:.2f}x over the plain loop, {baseline_s[32] / iqalign_s:.2f}x over "
          f"the batched loop; Spearman rho between iqalign's and the batched loop's scores: {rho:.5f} "
          f"over {len(joined)} photos")
    print(f"\nMachine: {cpu_name()}, {available_cores()} cores. Command: `python benchmarks/score_throughput.py --n {n}`")


if __name__ == "__main__":
    main()
