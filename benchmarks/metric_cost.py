"""Cost of every registered image metric, in ms per 224x224 image, on one CPU thread.

    nice -n 10 python benchmarks/metric_cost.py [--repeats 7] [--imagenet DIR] [--n-imagenet 20] [--tiles]
                                                [--clock cpu|wall] [--cpu N]

Images: 224x224 views (``iqalign.sources.fixed_view``: short side 256, centre crop) of four scikit-image
sample photos (astronaut, coffee, chelsea, rocket) and, when ``../shared/data/imagenet-sample`` exists
beside the checkout (or ``--imagenet`` names a folder with a ``labels.csv``), the first ``--n-imagenet``
(default 20) photos of its ``labels.csv`` (``iqalign.sources.load_view``). Image decoding is not timed.

``--tiles`` also times every metric on 448x448 tiles of four views each (2 x 2) and prints the cost per
224x224 view's worth of pixels beside the per-view cost: what batching four views into one array could
save at best. A per-pixel cost that is higher on the tiles means batching would not help.

Method: BLAS / OpenMP / OpenCV are limited to one thread; every metric gets one warm-up call (model files
are loaded and cached there), then each repeat times one pass over all images; the table gives the
median over repeats of (pass time / number of images). The default clock is the process CPU time, which
with one thread is the compute cost and is not inflated when other processes compete for the CPU;
``--clock wall`` uses ``time.perf_counter`` instead (equal on an idle machine). ``--cpu N`` pins the
process to core N (Linux). Prints markdown.
"""
from __future__ import annotations

import _one_thread  # noqa: F401 - first: one thread for BLAS / OpenMP / OpenCV

import os  # noqa: E402

import cv2  # noqa: E402

import argparse  # noqa: E402
import csv  # noqa: E402
import platform  # noqa: E402
import shlex  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import cpu_name  # noqa: E402

from iqalign.metrics.registry import get_metric, list_metrics  # noqa: E402
from iqalign.sources import fixed_view, load_view  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
DEFAULT_IMAGENET = REPO.parent / "shared" / "data" / "imagenet-sample"
N_IMAGENET = 20
SKIMAGE_PHOTOS = ("astronaut", "coffee", "chelsea", "rocket")


def _limit_torch_threads() -> None:
    torch = sys.modules.get("torch")  # only if the registry pulled it in; the image metrics do not use it
    if torch is not None:
        torch.set_num_threads(1)


def load_images(imagenet: Path | None, n_imagenet: int = N_IMAGENET) -> tuple[list[np.ndarray], str]:
    from skimage import data

    images = [fixed_view(getattr(data, name)()) for name in SKIMAGE_PHOTOS]
    what = f"{len(images)} scikit-image photos ({', '.join(SKIMAGE_PHOTOS)})"
    if imagenet is not None and (imagenet / "labels.csv").is_file():
        with open(imagenet / "labels.csv", newline="") as fh:
            paths = [row["path"] for row in csv.DictReader(fh)][:n_imagenet]
        images += [load_view(imagenet / p) for p in paths]
        what += f" + {len(paths)} ImageNet photos (first rows of {imagenet.name}/labels.csv)"
    return images, what


def time_pass(fn, images: list[np.ndarray], clock) -> float:
    """Seconds per image for one pass of ``fn`` over ``images``."""
    t0 = clock()
    for img in images:
        fn(img)
    return (clock() - t0) / len(images)




def tiles_of_four(images: list[np.ndarray]) -> list[np.ndarray]:
    """2 x 2 tiles (448x448) of consecutive 224x224 views; leftover views are dropped."""
    return [np.concatenate([np.concatenate(images[i:i + 2], axis=1), np.concatenate(images[i + 2:i + 4], axis=1)])
            for i in range(0, len(images) - 3, 4)]


def fmt_ms(ms: float) -> str:
    return f"{ms:.3f}" if ms < 1 else f"{ms:.2f}" if ms < 10 else f"{ms:.1f}"


def svr_rows(images: list[np.ndarray], repeats: int, clock) -> list[tuple[str, float]]:
    """BRISQUE's SVR evaluation alone: numpy decision function vs libsvm's ``svm_predict`` (same features)."""
    try:
        from libsvm import svmutil
    except ImportError:
        return []
    from iqalign.metrics.classic import brisque as B

    m = B.load_model()
    feats = [B.brisque_features(img) for img in images]
    feats = [f for f in feats if np.all(np.isfinite(f))]
    scaled = [-1.0 + 2.0 * (f - m["min"]) / (m["max"] - m["min"]) for f in feats]
    model = svmutil.svm_load_model(str(B._model_dir() / "svm.txt"))

    def libsvm_predict(x: np.ndarray) -> float:  # node-array building is part of libsvm's cost
        nodes, _ = svmutil.gen_svm_nodearray([float(v) for v in x])
        return svmutil.libsvm.svm_predict(model, nodes)

    rows = []
    for label, fn, inputs in (("numpy (`brisque.predict`, used)", B.predict, feats),
                              ("libsvm `svm_predict`", libsvm_predict, scaled)):
        fn(inputs[0])
        rows.append((label, 1e3 * statistics.median(time_pass(fn, inputs, clock) for _ in range(repeats))))
    return rows


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=7, help="timed passes per metric (default 7)")
    ap.add_argument("--imagenet", type=Path, default=DEFAULT_IMAGENET,
                    help="folder with labels.csv; its first --n-imagenet photos are added when present")
    ap.add_argument("--n-imagenet", type=int, default=N_IMAGENET, help=f"photos from labels.csv (default {N_IMAGENET})")
    ap.add_argument("--tiles", action="store_true",
                    help="also time 448x448 tiles of four views: would batching views into one array help?")
    ap.add_argument("--no-imagenet", action="store_true", help="use only the scikit-image photos")
    ap.add_argument("--clock", choices=("cpu", "wall"), default="cpu",
                    help="cpu: process CPU time (default); wall: perf_counter")
    ap.add_argument("--cpu", type=int, default=None, help="pin to this core (Linux sched_setaffinity)")
    args = ap.parse_args(argv)
    if args.cpu is not None:
        os.sched_setaffinity(0, {args.cpu})
    clock = time.process_time if args.clock == "cpu" else time.perf_counter

    images, what = load_images(None if args.no_imagenet else args.imagenet, args.n_imagenet)
    tiles = tiles_of_four(images) if args.tiles else []
    specs = [s for s in list_metrics() if get_metric(s.name).image_fn is not None]
    _limit_torch_threads()

    rows, skipped = [], []
    for spec in specs:
        ok, reason = spec.availability()
        if not ok:
            skipped.append(f"{spec.name} ({reason})")
            continue
        fn = get_metric(spec.name).image_fn
        fn(images[0])  # warm-up: loads and caches model files
        per_image = [time_pass(fn, images, clock) for _ in range(args.repeats)]
        per_tile = float("nan")
        if tiles:
            fn(tiles[0])
            per_tile = statistics.median(time_pass(fn, tiles, clock) for _ in range(args.repeats))
        rows.append((spec.name, 1e3 * statistics.median(per_image), 1e3 * per_tile / 4))

    args_used = sys.argv[1:] if argv is None else argv
    cmd = " ".join(shlex.quote(a) for a in ["benchmarks/metric_cost.py", *args_used])
    print(f"# Image-metric cost on {len(images)} photos, 224x224 views\n")
    print(f"Photos: {what}.\n")
    print(f"One thread; warm-up call, then median of {args.repeats} passes; "
          f"clock: {'process CPU time' if args.clock == 'cpu' else 'wall (perf_counter)'}"
          f"{'' if args.cpu is None else f'; pinned to core {args.cpu}'}.\n")
    if tiles:
        print(f"Tiles: {len(tiles)} 448x448 tiles of four consecutive views each; "
              "'per view in a tile' = tile time / 4.\n")
        print("| metric | ms/image (median) | images/s | ms per view in a 448x448 tile | tile / single views |")
        print("|---|---:|---:|---:|---:|")
        for name, ms, tile_ms in rows:
            print(f"| {name} | {fmt_ms(ms)} | {1e3 / ms:,.0f} | {fmt_ms(tile_ms)} | {tile_ms / ms:.2f} |")
    else:
        print("| metric | ms/image (median) | images/s |")
        print("|---|---:|---:|")
        for name, ms, _ in rows:
            print(f"| {name} | {fmt_ms(ms)} | {1e3 / ms:,.0f} |")
    if skipped:
        print(f"\nNot available, not timed: {'; '.join(skipped)}.")

    svr = svr_rows(images, args.repeats, clock)
    if svr:
        print("\nBRISQUE's SVR prediction alone (36 features -> score; same features, same model):\n")
        print("| SVR evaluation | ms/image (median) | images/s |")
        print("|---|---:|---:|")
        for label, ms in svr:
            print(f"| {label} | {fmt_ms(ms)} | {1e3 / ms:,.0f} |")

    print(f"\nMachine: {cpu_name()}, Python {platform.python_version()}, "
          f"numpy {np.__version__}, OpenCV {cv2.__version__}.")
    print(f"\nCommand: `python {cmd}`")


if __name__ == "__main__":
    main()
