from pathlib import Path

import numpy as np
import pytest

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="session")
def photo() -> np.ndarray:
    """A real 224x224 RGB photo shipped by scikit-image."""
    from skimage import data

    from iqalign.sources import fixed_view

    return fixed_view(data.chelsea())


def shared_path(*parts: str) -> Path:
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} is absent (needs ../shared beside the checkout)")
    return path
