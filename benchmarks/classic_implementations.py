"""BRISQUE and NIQE: iqalign's implementations vs. other published Python ones, on the same images.

    nice -n 10 python benchmarks/classic_implementations.py [--n 100] [--distorted 10] [--imagenet DIR]

Images: the first ``--n`` photos of ``../shared/data/imagenet-sample/labels.csv`` as 224x224 views
(``iqalign.sources.load_view``: short side 256, centre crop), plus three distortions of the first
``--distorted`` of them (Gaussian blur sigma 2, Gaussian noise sigma 20 with a fixed seed, JPEG quality 10).
Every implementation scores the same uint8 RGB arrays; decoding and distorting are not timed.

Implementations compared (each one only when it can run here; otherwise a line says why):

* BRISQUE: ``iqalign`` (``brisque``) vs. the PyPI package ``brisque`` 0.2.0 (``BRISQUE().score``; the
  same SVR model files, its own features). Its code fails on numpy >= 2: ``mean_squares_sum`` divides by
  ``x.shape`` (a tuple), so 24 of its 36 features are 1-element 1-D arrays, and its ``scale_features``
  calls ``float()`` on them, which numpy deprecated in 1.25 and numpy 2.4 refuses (TypeError). The shim
  used here subclasses ``BRISQUE`` and turns those 1-element arrays into the Python floats that
  ``float()`` returned under older numpy, between its feature and scoring methods; every line of the
  package's own code runs unmodified. The benchmark first calls the unshimmed package and prints the
  error it raises.
* NIQE: ``iqalign`` (``niqe``, the authors' model; and ``niqe(model="skvideo")``) vs. scikit-video 1.1.11
  ``skvideo.measure.niqe`` on the luma 0.2989 R + 0.5870 G + 0.1140 B, the input its model was built for.
  Its code needs two symbols that are gone: ``scipy.misc.imresize`` (removed in SciPy 1.3) and ``np.int``
  (removed in NumPy 1.24). The shim puts back, in this process only, ``np.int = int`` and an ``imresize``
  for the one call it makes (``imresize(img, 0.5, interp='bicubic', mode='F')``: PIL bicubic on a float32
  'F' image to ``int(0.5 * size)``, as SciPy's implementation did).
* pyiqa (IQA-PyTorch) BRISQUE and NIQE, when ``import pyiqa`` works and its weight files can be had (it
  downloads them on first use, which fails offline); it is never installed by this script.

Per implementation: ms/image (process CPU time of one pass over all images after one warm-up call, one
thread for BLAS / OpenMP / OpenCV / torch), the ratio to iqalign's time, and agreement of the scores
with iqalign's (Pearson r, Spearman rho, max and median absolute difference over the images that both
score). Prints markdown.
"""
from __future__ import annotations

import _one_thread  # noqa: F401 - first: one thread for BLAS / OpenMP / OpenCV

import cv2  # noqa: E402

import argparse  # noqa: E402
import csv  # noqa: E402
import io  # noqa: E402
import platform  # noqa: E402
import shlex  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from importlib.metadata import PackageNotFoundError, version  # noqa: E402
from importlib.util import find_spec  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Callable  # noqa: E402

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402
from scipy import stats  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import cpu_name  # noqa: E402

from iqalign.metrics.classic import brisque as iq_brisque  # noqa: E402
from iqalign.metrics.classic import niqe as iq_niqe  # noqa: E402
from iqalign.sources import load_view  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
DEFAULT_IMAGENET = REPO.parent / "shared" / "data" / "imagenet-sample"
SKVIDEO_LUMA = np.array([0.2989, 0.5870, 0.1140])


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"


def _version(dist: str) -> str:
    try:
        return version(dist)
    except PackageNotFoundError:
        return "not installed"


# ---- images ---------------------------------------------------------------------------------------


def load_images(imagenet: Path, n: int, n_distorted: int) -> tuple[list[np.ndarray], list[str]]:
    with open(imagenet / "labels.csv", newline="") as fh:
        paths = [row["path"] for row in csv.DictReader(fh)][:n]
    photos = [load_view(imagenet / p) for p in paths]
    images, names = list(photos), [f"photo:{p}" for p in paths]
    rng = np.random.default_rng(0)
    for p, img in zip(paths[:n_distorted], photos[:n_distorted]):
        blur = cv2.GaussianBlur(img, (0, 0), 2.0, borderType=cv2.BORDER_REFLECT)
        noise = np.clip(np.round(img + rng.normal(0.0, 20.0, img.shape)), 0, 255).astype(np.uint8)
        buf = io.BytesIO()
        Image.fromarray(img).save(buf, format="JPEG", quality=10)
        jpeg = np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))
        images += [blur, noise, jpeg]
        names += [f"blur2:{p}", f"noise20:{p}", f"jpeg10:{p}"]
    return images, names


# ---- other implementations, with their shims -------------------------------------------------------


def brisque_package() -> tuple[Callable[[np.ndarray], float] | None, str]:
    """The PyPI package's ``BRISQUE().score``, shimmed for numpy 2; and a note on what was needed."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from brisque import BRISQUE
    except Exception as exc:  # noqa: BLE001 - report whatever stops it
        return None, f"`import brisque` fails: {_first_line(exc)}"
    probe = np.random.default_rng(1).integers(0, 256, (96, 96, 3), dtype=np.uint8)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            BRISQUE(url=False).score(probe)
        note = "runs unmodified (no shim needed)"
        obj = BRISQUE(url=False)
        return obj.score, note
    except Exception as exc:  # noqa: BLE001
        failure = _first_line(exc)

    class ShimmedBRISQUE(BRISQUE):
        """Converts the package's 1-element feature arrays to floats, as ``float()`` did before numpy 2."""

        def calculate_brisque_features(self, image, kernel_size=7, sigma=7 / 6):
            feats = super().calculate_brisque_features(image, kernel_size=kernel_size, sigma=sigma)
            return np.array([np.asarray(f, dtype=np.float64).reshape(-1)[0] if np.size(f) == 1 else f
                             for f in feats], dtype=object)

    obj = ShimmedBRISQUE(url=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        obj.score(probe)
    note = (f"unmodified it fails here with `{failure}`; runs with the shim (1-element feature arrays -> "
            "float between its own feature and scoring methods)")
    return obj.score, note


def _scipy_misc_imresize(arr, size, interp="bilinear", mode=None):
    """The one use scikit-video makes of the removed ``scipy.misc.imresize``: a float32 'F' image, bicubic."""
    if mode != "F" or interp != "bicubic" or not isinstance(size, float):
        raise NotImplementedError("shim covers imresize(img, <float>, interp='bicubic', mode='F') only")
    im = Image.fromarray(np.asarray(arr, dtype=np.float32))  # mode 'F'
    new_size = tuple((np.array(im.size) * size).astype(int))  # SciPy 1.2: (width, height) scaled, truncated
    return np.array(im.resize(new_size, resample=Image.BICUBIC))


def skvideo_niqe() -> tuple[Callable[[np.ndarray], float] | None, str]:
    """scikit-video's ``niqe`` on the luma its model assumes, shimmed for NumPy 2 / SciPy >= 1.3."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import scipy.misc
            import skvideo.measure
    except Exception as exc:  # noqa: BLE001
        return None, f"`import skvideo.measure` fails: {_first_line(exc)}"

    def score(img: np.ndarray) -> float:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return float(skvideo.measure.niqe(img.astype(np.float64) @ SKVIDEO_LUMA)[0])

    probe = np.random.default_rng(1).integers(0, 256, (224, 224, 3), dtype=np.uint8)
    failures, shims = [], []
    for _ in range(3):
        try:
            score(probe)
            break
        except AttributeError as exc:
            failures.append(_first_line(exc))
            if "imresize" in str(exc) and not hasattr(scipy.misc, "imresize"):
                scipy.misc.imresize = _scipy_misc_imresize
                shims.append("scipy.misc.imresize")
            elif "'int'" in str(exc) and "numpy" in str(exc):
                np.int = int  # type: ignore[attr-defined]
                shims.append("np.int = int")
            else:
                return None, f"fails with {failures[-1]} (no shim for it)"
    else:
        return None, f"still fails after shims: {'; '.join(failures)}"
    if not shims:
        return score, "runs unmodified (no shim needed)"
    return score, (f"unmodified it fails here with {' then '.join(f'`{f}`' for f in failures)}; runs with "
                   f"the shims {', '.join(f'`{s}`' for s in shims)} (this process only)")


def pyiqa_metrics() -> tuple[dict[str, Callable[[np.ndarray], float]], str]:
    """pyiqa's BRISQUE and NIQE on CPU, if the package is installed and its weight files can be loaded."""
    if find_spec("pyiqa") is None:
        return {}, ("not installed (`import pyiqa` fails); skipped. This script never installs it, and offline "
                    "it could not download its weight files anyway")
    try:
        import pyiqa
        import torch

        torch.set_num_threads(1)
    except Exception as exc:  # noqa: BLE001
        return {}, f"`import pyiqa` fails: {_first_line(exc)}; skipped"
    out, problems = {}, []
    for name in ("brisque", "niqe"):
        try:
            metric = pyiqa.create_metric(name, device="cpu")
        except Exception as exc:  # noqa: BLE001 - typically the weight download, offline
            problems.append(f"{name}: {_first_line(exc)}")
            continue

        def score(img: np.ndarray, metric=metric) -> float:
            x = torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1))).float().div(255.0)[None]
            with torch.no_grad():
                return float(metric(x).reshape(-1)[0])

        out[name] = score
    note = f"pyiqa {_version('pyiqa')}"
    if problems:
        note += "; could not create " + "; ".join(problems) + " (weights cannot be downloaded offline?)"
    return out, note


# ---- running and comparing --------------------------------------------------------------------------


@dataclass
class Run:
    label: str
    fn: Callable[[np.ndarray], float]
    scores: np.ndarray = field(default_factory=lambda: np.empty(0))
    ms: float = float("nan")
    errors: int = 0


def run(impl: Run, images: list[np.ndarray]) -> Run:
    impl.fn(images[0])  # warm-up: model files, caches, imports
    scores = np.full(len(images), np.nan)
    t0 = time.process_time()
    for i, img in enumerate(images):
        try:
            scores[i] = impl.fn(img)
        except Exception:  # noqa: BLE001 - counted and reported
            impl.errors += 1
    impl.ms = 1e3 * (time.process_time() - t0) / len(images)
    impl.scores = scores
    return impl


def agreement(a: np.ndarray, b: np.ndarray) -> dict[str, float]:
    ok = np.isfinite(a) & np.isfinite(b)
    if ok.sum() < 3:
        return {"n": int(ok.sum()), "pearson": np.nan, "spearman": np.nan, "max_abs": np.nan, "median_abs": np.nan}
    d = np.abs(a[ok] - b[ok])
    return {
        "n": int(ok.sum()),
        "pearson": float(stats.pearsonr(a[ok], b[ok])[0]),
        "spearman": float(stats.spearmanr(a[ok], b[ok])[0]),
        "max_abs": float(d.max()),
        "median_abs": float(np.median(d)),
    }


def largest_differences(a: Run, b: Run, names: list[str], k: int = 3) -> str:
    d = np.abs(a.scores - b.scores)
    order = [i for i in np.argsort(-np.nan_to_num(d, nan=-1.0)) if np.isfinite(d[i])][:k]
    return "; ".join(f"{names[i]} ({a.scores[i]:.2f} vs {b.scores[i]:.2f})" for i in order)


def table(metric: str, ours: Run, others: list[Run], n_images: int, names: list[str]) -> None:
    print(f"\n## {metric}\n")
    print("| implementation | ms/image | time / iqalign's | scored | mean score | Pearson r vs iqalign | "
          "Spearman rho vs iqalign | max abs diff | median abs diff |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for impl in [ours, *others]:
        ag = agreement(ours.scores, impl.scores)
        scored = int(np.isfinite(impl.scores).sum())
        same = impl is ours
        print(f"| {impl.label} | {impl.ms:.2f} | {impl.ms / ours.ms:.1f}x | {scored}/{n_images} | "
              f"{np.nanmean(impl.scores):.2f} | "
              + (" - | - | - | - |" if same else
                 f"{ag['pearson']:.3f} | {ag['spearman']:.3f} | {ag['max_abs']:.2f} | {ag['median_abs']:.2f} |"))
    for impl in others:
        if not impl.label.startswith("iqalign"):  # iqalign's own options are on other scales
            print(f"\nLargest differences, {ours.label} vs {impl.label}: {largest_differences(ours, impl, names)}.")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=100, help="photos (first rows of labels.csv; default 100)")
    ap.add_argument("--distorted", type=int, default=10,
                    help="add blur / noise / JPEG versions of the first N photos (default 10)")
    ap.add_argument("--imagenet", type=Path, default=DEFAULT_IMAGENET, help="folder with labels.csv")
    args = ap.parse_args(argv)
    if not (args.imagenet / "labels.csv").is_file():
        raise SystemExit(f"{args.imagenet}/labels.csv not found (needs ../shared beside the checkout, or --imagenet)")

    images, names = load_images(args.imagenet, args.n, min(args.distorted, args.n))
    n_photos = min(args.n, len(images))
    notes: list[str] = []

    brisque_runs = [Run("iqalign `brisque`", iq_brisque.brisque)]
    niqe_runs = [Run("iqalign `niqe` (authors' model)", iq_niqe.niqe),
                 Run("iqalign `niqe(model=\"skvideo\")`", lambda im: iq_niqe.niqe(im, "skvideo"))]

    fn, note = brisque_package()
    notes.append(f"- `brisque` {_version('brisque')} (PyPI): {note}.")
    if fn is not None:
        brisque_runs.append(Run(f"PyPI `brisque` {_version('brisque')} `BRISQUE().score`", fn))
    fn, note = skvideo_niqe()
    notes.append(f"- scikit-video {_version('scikit-video')} `skvideo.measure.niqe`: {note}.")
    if fn is not None:
        niqe_runs.append(Run(f"scikit-video {_version('scikit-video')} `skvideo.measure.niqe`", fn))
    pyiqa_fns, note = pyiqa_metrics()
    notes.append(f"- pyiqa: {note}.")
    if "brisque" in pyiqa_fns:
        brisque_runs.append(Run("pyiqa `brisque` (CPU)", pyiqa_fns["brisque"]))
    if "niqe" in pyiqa_fns:
        niqe_runs.append(Run("pyiqa `niqe` (CPU)", pyiqa_fns["niqe"]))

    for impl in brisque_runs + niqe_runs:
        run(impl, images)

    args_used = sys.argv[1:] if argv is None else argv
    cmd = " ".join(shlex.quote(a) for a in ["benchmarks/classic_implementations.py", *args_used])
    print(f"# BRISQUE and NIQE implementations on {len(images)} images, 224x224\n")
    print(f"Images: {n_photos} ImageNet-sample photos (first rows of {args.imagenet.name}/labels.csv, `load_view`) "
          f"+ blur (sigma 2), noise (sigma 20) and JPEG (q 10) versions of the first {min(args.distorted, args.n)}.\n")
    print("One thread; one warm-up call, then one timed pass over all images; clock: process CPU time. "
          "Agreement is against the first row of each table, over the images both scored.\n")
    print("What ran, and how:\n")
    print("\n".join(notes))
    table("BRISQUE", brisque_runs[0], brisque_runs[1:], len(images), names)
    table("NIQE", niqe_runs[0], niqe_runs[1:], len(images), names)
    if len(niqe_runs) > 2:  # scikit-video against the iqalign option built to reproduce it
        sk, ours_sk = niqe_runs[2], niqe_runs[1]
        ag = agreement(ours_sk.scores, sk.scores)
        d = np.abs(ours_sk.scores - sk.scores)
        print(f"\nscikit-video vs. iqalign `niqe(model=\"skvideo\")` (same model, same feature conventions): "
              f"Pearson r {ag['pearson']:.4f}, Spearman rho {ag['spearman']:.4f}, max abs diff {ag['max_abs']:.3f}, "
              f"median abs diff {ag['median_abs']:.4f}; within 0.05 on {int(np.sum(d <= 0.05))}/{ag['n']} images; "
              f"time ratio {sk.ms / ours_sk.ms:.1f}x. Largest differences: {largest_differences(ours_sk, sk, names)}.")
    errors = [f"{r.label}: {r.errors}" for r in brisque_runs + niqe_runs if r.errors]
    if errors:
        print(f"\nImages an implementation raised on (left out of its agreement): {'; '.join(errors)}.")
    print(f"\nMachine: {cpu_name()}, Python {platform.python_version()}, numpy {np.__version__}, "
          f"SciPy {_version('scipy')}, OpenCV {cv2.__version__}, scikit-image {_version('scikit-image')}, "
          f"Pillow {_version('pillow')}.")
    print(f"\nCommand: `python {cmd}`")


if __name__ == "__main__":
    main()
