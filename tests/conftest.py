from pathlib import Path

import numpy as np
import pytest

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(autouse=True, scope="session")
def _private_cache(tmp_path_factory):
    """Exported ONNX models of the tests go to a temporary cache, not the user's ~/.cache."""
    mp = pytest.MonkeyPatch()
    mp.setenv("IQALIGN_CACHE", str(tmp_path_factory.mktemp("iqalign-cache")))
    yield
    mp.undo()


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
