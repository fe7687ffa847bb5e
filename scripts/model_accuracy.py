"""Measure the built-in classifiers' accuracy on the 800 ImageNet photos, under three preprocessings.

    python scripts/model_accuracy.py [../shared/data/imagenet-sample] > docs/results/model_accuracy.md

Rows: (a) iqalign's pipeline: the 224 px ImageNet-C view (short side 256, centre crop), resized to the
model's input size, (x - 127) / 128; (b) the model's native crop (short side size + 32, centre crop);
(c) as (a) but with ImageNet mean/std, to show what the wrong normalisation costs.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

from iqalign.models import load_model, performance
from iqalign.models.base import Preprocessing
from iqalign.sources import fixed_view, load_rgb

root = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).resolve().parents[2] / "shared/data/imagenet-sample")
labels = pd.read_csv(root / "labels.csv")
images = [load_rgb(root / p) for p in labels["path"]]
y = labels["label"].to_numpy()
views = [fixed_view(im) for im in images]

print(f"# Built-in classifiers on {len(y)} ImageNet photos (one per class)\n")
print("Reproduce: `python scripts/model_accuracy.py ../shared/data/imagenet-sample`\n")
print("| model | preprocessing | top-1 | top-5 | mean p_true |")
print("|---|---|---|---|---|")
for name in ("efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2"):
    clf = load_model(name)
    size = clf.preprocessing.input_size
    native = [fixed_view(im, size=size, resize_to=size + 32) for im in images]
    lite = clf.preprocessing
    wrong = Preprocessing(input_size=size)
    for label, inputs, pre in (("iqalign view 224 -> %d, (x-127)/128" % size, views, lite),
                               ("native crop %d of %d, (x-127)/128" % (size, size + 32), native, lite),
                               ("iqalign view, ImageNet mean/std (wrong)", views, wrong)):
        clf.preprocessing = pre
        perf = performance(clf.predict_proba(inputs), y)
        print(f"| {name} | {label} | {perf['top1'].mean():.3f} | {perf['top5'].mean():.3f} | {perf['p_true'].mean():.3f} |",
              flush=True)
    clf.preprocessing = lite
