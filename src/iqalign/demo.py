"""The demo: a small real benchmark on photos that installed packages ship (no downloads).

Each photo was labelled by hand with the ImageNet class that names its main object.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

# (package, loader name, ImageNet label index, why that class)
DEMO_PHOTOS: tuple[tuple[str, str, int, str], ...] = (
    ("skimage", "coffee", 967, "espresso: a cup of espresso on a saucer"),
    ("skimage", "chelsea", 281, "tabby cat: Chelsea is a tabby"),
    ("skimage", "camera", 872, "tripod: the cameraman's camera stands on a tripod (grayscale photo)"),
    ("skimage", "rocket", 657, "missile: a launch rocket on its pad (ImageNet has no 'rocket' class)"),
    ("skimage", "clock", 892, "wall clock"),
    ("sklearn", "china.jpg", 698, "palace: a Chinese palace building"),
)


def _load(package: str, name: str) -> np.ndarray:
    if package == "skimage":
        import skimage.data

        return getattr(skimage.data, name)()
    from sklearn.datasets import load_sample_image

    return load_sample_image(name)


def write_demo_photos(folder: Path) -> Path:
    """Write the demo photos as PNG files with a ``labels.csv`` manifest; return the manifest path."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for package, name, label, why in DEMO_PHOTOS:
        stem = Path(name).stem
        Image.fromarray(_load(package, name)).save(folder / f"{stem}.png")
        rows.append({"path": f"{stem}.png", "label": label, "source": f"{package}.{name}", "why": why})
    manifest = folder / "labels.csv"
    pd.DataFrame(rows).to_csv(manifest, index=False)
    return manifest
