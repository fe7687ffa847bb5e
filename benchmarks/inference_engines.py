"""Images/second of the task classifiers in PyTorch eager vs ONNX Runtime, side by side in one run.

    nice -n 10 python benchmarks/inference_engines.py [--n 64] [--batch-size 32] [--repeats 5]
        [--models efficientnet_lite0,efficientnet_lite1,efficientnet_lite2] [--threads T]
        [--imagenet DIR] [--cache-dir DIR]

Images: ``--n`` 224x224 views (``iqalign.sources.load_view``: short side 256, centre crop) of the first
photos of ``../shared/data/imagenet-sample/labels.csv`` beside the checkout (or ``--imagenet``); when that
is absent, four scikit-image photos (astronaut, coffee, chelsea, rocket) repeated. Each model's own
preprocessing resizes them to its input size (224 / 240 / 260 px), as in the pipeline.

Method: both engines get the same number of threads (``--threads``, default: the cores this process may
use; ``torch.set_num_threads`` and ONNX Runtime's intra-op threads) and batches of ``--batch-size``. The
ONNX file is exported by ``iqalign.models.onnx_engine.to_onnx`` into a fresh temporary cache (so the
export time is measured) unless ``--cache-dir`` is given. After one warm-up pass per engine, each repeat
times one pass over all views with each engine in turn (interleaved, so a slow moment of the machine
hits both); the table gives the median over repeats of images per wall-clock second:

* *network*: ``clf.logits`` on the already preprocessed batches (the engines' own work);
* *end to end*: ``clf.predict_proba`` on the uint8 views (adds resizing / normalisation, identical for
  both engines, and the softmax).

Agreement: top-1 agreement fraction and max |probability difference| of the two engines on the views.
Prints markdown.
"""
from __future__ import annotations

import argparse
import csv
import os
import platform
import shlex
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import available_cores, cpu_name  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
DEFAULT_IMAGENET = REPO.parent / "shared" / "data" / "imagenet-sample"
DEFAULT_MODELS = ("efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2")
SKIMAGE_PHOTOS = ("astronaut", "coffee", "chelsea", "rocket")




def load_views(n: int, imagenet: Path | None) -> tuple[list[np.ndarray], str]:
    from iqalign.sources import fixed_view, load_view

    if imagenet is not None and (imagenet / "labels.csv").is_file():
        with open(imagenet / "labels.csv", newline="") as fh:
            paths = [row["path"] for row in csv.DictReader(fh)][:n]
        views = [load_view(imagenet / p) for p in paths]
        what = f"the first {len(views)} photos of {imagenet.name}/labels.csv"
        if len(views) < n:
            views = [views[i % len(views)] for i in range(n)]
            what += f", repeated to {n}"
        return views, what
    from skimage import data

    photos = [fixed_view(getattr(data, name)()) for name in SKIMAGE_PHOTOS]
    return [photos[i % len(photos)] for i in range(n)], \
        f"{len(photos)} scikit-image photos ({', '.join(SKIMAGE_PHOTOS)}) repeated to {n} (ImageNet sample absent)"




def rate(fn, n_images: int) -> float:
    t0 = time.perf_counter()
    fn()
    return n_images / (time.perf_counter() - t0)


def bench_model(name: str, views: list[np.ndarray], batch_size: int, repeats: int, cache_dir: Path) -> dict:
    from iqalign.models import load_model
    from iqalign.models.onnx_engine import cache_path, max_prob_diff, to_onnx

    torch_clf = load_model(name)
    torch_clf.batch_size = batch_size
    cached = cache_path(torch_clf, cache_dir).is_file()
    t0 = time.perf_counter()
    ort_clf = to_onnx(torch_clf, cache_dir=cache_dir)
    export_s = time.perf_counter() - t0
    ort_clf.batch_size = batch_size

    batches = [torch_clf.preprocessing(views[i:i + batch_size]) for i in range(0, len(views), batch_size)]
    engines = {"torch": torch_clf, "ort": ort_clf}
    net = {k: (lambda c=c: [c.logits(b) for b in batches]) for k, c in engines.items()}
    e2e = {k: (lambda c=c: c.predict_proba(views)) for k, c in engines.items()}
    for fns in (net, e2e):  # warm-up: first-call allocations, thread pools, ORT's lazy initialisation
        for fn in fns.values():
            fn()
    rates = {f"{mode}_{k}": [] for mode in ("net", "e2e") for k in engines}
    for _ in range(repeats):
        for k in engines:
            rates[f"net_{k}"].append(rate(net[k], len(views)))
            rates[f"e2e_{k}"].append(rate(e2e[k], len(views)))
    med = {k: statistics.median(v) for k, v in rates.items()}
    diff, agree = max_prob_diff(torch_clf, ort_clf, views)
    return {"name": name, "size": torch_clf.preprocessing.input_size, **med,
            "agree": agree, "diff": diff, "export_s": export_s, "cached": cached,
            "mb": ort_clf.path.stat().st_size / 1e6}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=64, help="number of views (default 64)")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=5, help="timed passes per engine (median reported)")
    ap.add_argument("--models", default=",".join(DEFAULT_MODELS), help="comma-separated registry names")
    ap.add_argument("--threads", type=int, default=None, help="threads per engine (default: available cores)")
    ap.add_argument("--imagenet", type=Path, default=DEFAULT_IMAGENET)
    ap.add_argument("--cache-dir", type=Path, default=None,
                    help="ONNX cache to use (default: a fresh temporary one, so the export is timed)")
    args = ap.parse_args(argv)

    threads = args.threads or available_cores()
    os.environ["IQALIGN_ORT_THREADS"] = str(threads)
    import onnxruntime
    import torch

    torch.set_num_threads(threads)
    views, what = load_views(args.n, args.imagenet)

    with tempfile.TemporaryDirectory(prefix="iqalign-onnx-bench-") as tmp:
        cache_dir = args.cache_dir or Path(tmp)
        rows = []
        for name in [m.strip() for m in args.models.split(",") if m.strip()]:
            print(f"... {name}", file=sys.stderr, flush=True)
            rows.append(bench_model(name, views, args.batch_size, args.repeats, cache_dir))

    cmd = "python benchmarks/inference_engines.py" + ("" if argv is None and len(sys.argv) == 1 else
                                                       " " + shlex.join(sys.argv[1:] if argv is None else argv))
    print(f"`{cmd}` - {len(views)} views ({what}), batch size {args.batch_size}, {threads} thread(s) per engine, "
          f"median of {args.repeats} interleaved passes after one warm-up. CPU: {cpu_name()} "
          f"({available_cores()} core(s) available); torch {torch.__version__}, onnxruntime {onnxruntime.__version__}.")
    print()
    print("| model | input px | network: PyTorch img/s | network: ONNX Runtime img/s | network speed-up "
          "| end to end: PyTorch img/s | end to end: ONNX Runtime img/s | end-to-end speed-up "
          "| top-1 agreement | max abs prob diff | export s (MB) |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        export = "cached" if r["cached"] else f"{r['export_s']:.1f}"
        print(f"| {r['name']} | {r['size']} | {r['net_torch']:.1f} | {r['net_ort']:.1f} | "
              f"{r['net_ort'] / r['net_torch']:.2f}x | {r['e2e_torch']:.1f} | {r['e2e_ort']:.1f} | "
              f"{r['e2e_ort'] / r['e2e_torch']:.2f}x | {r['agree']:.3f} | {r['diff']:.1e} | {export} ({r['mb']:.1f}) |")


if __name__ == "__main__":
    main()
