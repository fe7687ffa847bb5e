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


@pytest.fixture(scope="session")
def pinned_views() -> dict[str, np.ndarray]:
    """Centre 224x224 crops of scikit-image photos (no resampling), a 5x5 box-blurred and a noisy
    astronaut: the inputs whose scores the metric tests pin."""
    from skimage import data

    views = {}
    for name in ("astronaut", "coffee", "chelsea", "rocket"):
        img = getattr(data, name)()
        top, left = (img.shape[0] - 224) // 2, (img.shape[1] - 224) // 2
        views[name] = np.ascontiguousarray(img[top:top + 224, left:left + 224])
    a = views["astronaut"]
    pad = np.pad(a.astype(np.float64), ((2, 2), (2, 2), (0, 0)), mode="edge")
    box = sum(pad[i:i + 224, j:j + 224] for i in range(5) for j in range(5)) / 25.0
    views["astronaut_box5"] = np.round(box).astype(np.uint8)
    rng = np.random.default_rng(0)
    views["astronaut_noise25"] = np.clip(np.round(a + rng.normal(0, 25, a.shape)), 0, 255).astype(np.uint8)
    return views


@pytest.fixture(scope="module")
def photo_dir(tmp_path_factory):
    """Three sample photos (one grayscale) and a broken JPEG, with a labels.csv manifest."""
    import pandas as pd
    from PIL import Image
    from skimage import data

    root = tmp_path_factory.mktemp("photos")
    Image.fromarray(data.coffee()).save(root / "coffee.png")
    Image.fromarray(data.chelsea()).save(root / "chelsea.jpg", quality=95)
    Image.fromarray(data.camera()).save(root / "camera.png")  # grayscale
    (root / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is not really a jpeg")
    pd.DataFrame({"path": ["coffee.png", "chelsea.jpg", "camera.png", "broken.jpg"],
                  "label": ["espresso", "tabby", "872", "n01440764"]}).to_csv(root / "labels.csv", index=False)
    return root
