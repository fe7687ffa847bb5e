"""What produced a result: package versions and machine, saved with every run."""
from __future__ import annotations

import platform
from importlib.metadata import PackageNotFoundError, version

_PACKAGES = ("iqalign", "numpy", "scipy", "pandas", "pyarrow", "pillow", "scikit-image", "scikit-learn", "torch",
             "imagecorruptions-imaug", "efficientnet-lite-pytorch", "opencv-python", "onnxruntime", "libsvm-official")


def environment() -> dict:
    versions = {}
    for name in _PACKAGES:
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            versions[name] = None
    return {"python": platform.python_version(), "platform": platform.platform(), "packages": versions}
