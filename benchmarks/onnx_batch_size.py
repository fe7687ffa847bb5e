"""ONNX Runtime network time per image by batch size, EfficientNet-Lite0/1/2, all cores.

    python benchmarks/onnx_batch_size.py [--n 128] [--models efficientnet_lite0,...]

Same preprocessed views for every batch size, interleaved passes (3), median ms per image; also checks
that every batch size gives bit-identical logits to batch 32 (so the batch size is a free choice).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import available_cores, cpu_name  # noqa: E402

from iqalign.models import load_for_inference  # noqa: E402
from iqalign.sources import load_view  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SIZES = (1, 4, 8, 16, 32, 64)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=128)
    ap.add_argument("--models", default="efficientnet_lite0,efficientnet_lite1,efficientnet_lite2")
    ap.add_argument("--imagenet", type=Path, default=REPO.parent / "shared" / "data" / "imagenet-sample")
    args = ap.parse_args()
    views = [load_view(p) for p in sorted(args.imagenet.glob("*.JPEG"))[: args.n]]
    print(f"| model | {' | '.join(f'batch {b}' for b in SIZES)} | identical logits |")
    print("|---|" + "---:|" * (len(SIZES) + 1))
    for name in args.models.split(","):
        clf = load_for_inference(name, "onnx")
        x = clf.preprocessing(views)
        times = {b: [] for b in SIZES}
        outs = {}
        for b in SIZES:
            clf.logits(x[:b])  # warm-up
        for _ in range(3):
            for b in SIZES:
                t0 = time.perf_counter()
                outs[b] = np.concatenate([clf.logits(x[i:i + b]) for i in range(0, len(x), b)])
                times[b].append(1000 * (time.perf_counter() - t0) / len(x))
        same = all(np.array_equal(outs[b], outs[32]) for b in SIZES)
        print(f"| {name} | " + " | ".join(f"{np.median(times[b]):.2f}" for b in SIZES) + f" | {same} |")
    print(f"\nms per image (median of 3 interleaved passes, {len(views)} views). Machine: {cpu_name()}, "
          f"{available_cores()} cores. Command: `python benchmarks/onnx_batch_size.py --n {len(views)}`")


if __name__ == "__main__":
    main()
