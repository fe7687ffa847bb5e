"""Exact vs draft-mode JPEG decoding of camera-sized photos: time per image and effect on scores.

    python benchmarks/jpeg_draft.py [--n 100] [--scale 6] [--imagenet DIR]

The ImageNet sample's photos (about 500 x 375) are too small for draft mode to apply (it needs a short
side of at least 4 x 256 px), so this makes camera-sized JPEGs from them: each photo upscaled
``--scale`` times (bicubic; 6x gives about 3000 x 2250 px, 6.75 MP) and saved at quality 90. Their
content is smoother than a real camera's, so the score differences below are a lower bound for
fine-textured photos; the decode times are representative (libjpeg's cost grows with the pixel count).

Side by side in one run, on the same files: ``load_view`` exact and with ``jpeg_draft=True`` (ms per
image, ratio), then the difference between the two views (mean absolute pixel difference) and between
their scores (Lite0 task_maxprob and sharpness: Spearman rho and max absolute difference).
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image
from scipy.stats import spearmanr

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import available_cores, cpu_name  # noqa: E402

from iqalign.metrics.registry import get_metric  # noqa: E402
from iqalign.models import load_for_inference  # noqa: E402
from iqalign.sources import load_view  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=100)
    ap.add_argument("--scale", type=int, default=6)
    ap.add_argument("--imagenet", type=Path, default=REPO.parent / "shared" / "data" / "imagenet-sample")
    args = ap.parse_args()
    sources = sorted(args.imagenet.glob("*.JPEG"))[: args.n]
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for src in sources:
            with Image.open(src) as im:
                big = im.convert("RGB").resize((im.width * args.scale, im.height * args.scale), Image.Resampling.BICUBIC)
            paths.append(Path(tmp) / src.name)
            big.save(paths[-1], quality=90)
        megapixels = np.mean([Image.open(p).width * Image.open(p).height for p in paths]) / 1e6
        seconds = {False: 0.0, True: 0.0}
        views = {}
        for rep in range(2):  # interleaved, the first pass also warms the page cache
            for draft in (False, True):
                t0 = time.perf_counter()
                views[draft] = [load_view(p, jpeg_draft=draft) for p in paths]
                if rep:
                    seconds[draft] = time.perf_counter() - t0
    lite0 = load_for_inference("efficientnet_lite0")
    maxprob = {d: lite0.predict_proba(v).max(axis=1) for d, v in views.items()}
    sharp = get_metric("sharpness").image_fn
    sharpness = {d: np.array([sharp(x) for x in v]) for d, v in views.items()}
    pixel_diff = np.mean([np.abs(a.astype(int) - b.astype(int)).mean() for a, b in zip(views[False], views[True])])

    n = len(paths)
    print(f"{n} JPEGs, mean {megapixels:.2f} MP (ImageNet-sample photos upscaled {args.scale}x, quality 90)\n")
    print("| decoding | ms per image (decode + 224 px view) | images/s |")
    print("|---|---:|---:|")
    for draft, label in ((False, "exact (full decode, bicubic)"), (True, "`jpeg_draft=True` (libjpeg DCT scaling, then bicubic)")):
        print(f"| {label} | {1000 * seconds[draft] / n:.1f} | {n / seconds[draft]:.1f} |")
    print(f"\nspeed-up {seconds[False] / seconds[True]:.2f}x; mean absolute pixel difference between the views "
          f"{pixel_diff:.2f} (0-255 scale)")
    for name, vals in (("task_maxprob (Lite0)", maxprob), ("sharpness", sharpness)):
        rho = spearmanr(vals[False], vals[True])[0]
        print(f"{name}: Spearman rho exact vs draft {rho:.4f}, max abs difference {np.abs(vals[False] - vals[True]).max():.4g}")
    print(f"\nMachine: {cpu_name()}, {available_cores()} cores. Command: `python benchmarks/jpeg_draft.py --n {n} --scale {args.scale}`")


if __name__ == "__main__":
    main()
