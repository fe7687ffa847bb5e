"""Image sources: ImageNet class table, discovery (folder, imagefolder, manifest) and decoding."""
from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from iqalign.sources import (
    ImageDecodeError,
    ImageRecord,
    SourceProblem,
    class_name,
    class_table,
    discover,
    fixed_view,
    load_rgb,
    load_view,
    resolve_label,
    to_rgb,
)

SAMPLE = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "imagenet-sample"


def _save_rgb(path: Path, color=(10, 20, 30), size=(8, 6)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, color).save(path)
    return path


# --------------------------------------------------------------------------- class table


def test_class_table_columns_and_first_rows():
    table = class_table()
    assert list(table.columns) == ["index", "wnid", "name"]
    assert len(table) == 1000
    assert table.loc[0, "wnid"] == "n01440764" and table.loc[0, "name"] == "tench"
    assert table.loc[2, "name"] == "great white shark"  # first synonym, spaces kept
    assert table["wnid"].is_unique
    assert class_name(1) == "goldfish"


def test_resolve_label_forms():
    assert resolve_label(2) == 2
    assert resolve_label("2") == 2
    assert resolve_label(np.int64(7)) == 7
    assert resolve_label("n01440764") == 0
    assert resolve_label("N01443537") == 1
    for name in ["great_white_shark", "Great White Shark", "white shark", "man-eater", "GREAT-white_shark"]:
        assert resolve_label(name) == 2, name
    # Shared name that is the main name of exactly one class resolves to that class.
    assert resolve_label("partridge") == 86


def test_resolve_label_ambiguous_names_suggest_wnid():
    with pytest.raises(ValueError, match="ambiguous") as info:
        resolve_label("crane")
    message = str(info.value)
    assert "n02012849" in message and "n03126707" in message and "WordNet id" in message
    with pytest.raises(ValueError, match="ambiguous"):
        resolve_label("maillot")
    with pytest.raises(ValueError, match="ambiguous"):
        resolve_label("panda")  # secondary synonym of two classes


@pytest.mark.parametrize("value", ["no such class", "n00000001", "1000", -1, ""])
def test_resolve_label_unknown(value):
    with pytest.raises(ValueError) as info:
        resolve_label(value)
    if value != "":
        assert str(value) in str(info.value)


def test_every_unambiguous_main_name_round_trips():
    table = class_table()
    shared = {"crane", "cardigan", "maillot"}
    for index, name in zip(table["index"], table["name"]):
        if name.lower() in shared:
            continue
        assert resolve_label(name) == index, name


# --------------------------------------------------------------------------- records


def test_image_record_is_hashable_and_extra_ignored_in_equality(tmp_path):
    a = ImageRecord("x.png", tmp_path / "x.png", 1, "goldfish", extra={"camera": "a"})
    b = ImageRecord("x.png", tmp_path / "x.png", 1, "goldfish", extra={"camera": "b"})
    assert a == b and hash(a) == hash(b)
    assert ImageRecord("y.png", tmp_path / "y.png").extra == {}
    assert pickle.loads(pickle.dumps(a)).extra == {"camera": "a"}


# --------------------------------------------------------------------------- discovery


def test_folder_discovery_recursive_sorted_hidden_skipped(tmp_path):
    root = tmp_path / "imgs"
    for rel in ["z.jpg", "a/b/x.PNG", "B.jpeg", "a/c.TIFF", ".hidden.jpg", ".cache/y.jpg", "a/.h/w.png"]:
        _save_rgb(root / rel)
    (root / "notes.txt").write_text("not an image")
    (root / "a" / "readme.md").write_text("x")
    records, problems = discover(root)
    assert problems == []
    ids = [r.image_id for r in records]
    assert ids == ["B.jpeg", "a/b/x.PNG", "a/c.TIFF", "z.jpg"]
    assert all(r.label is None and r.class_name is None for r in records)
    assert all(r.path.is_absolute() and r.path.is_file() for r in records)
    assert records[1].path == (root / "a" / "b" / "x.PNG").resolve()
    # Explicit kind gives the same.
    assert [r.image_id for r in discover(root, kind="folder")[0]] == ids


def test_empty_folder_and_missing_source(tmp_path):
    (tmp_path / "empty").mkdir()
    assert discover(tmp_path / "empty") == ([], [])
    with pytest.raises(FileNotFoundError, match="nope"):
        discover(tmp_path / "nope")


def test_imagefolder_with_wnid_and_name_subfolders(tmp_path):
    root = tmp_path / "classes"
    _save_rgb(root / "n01440764" / "a.jpg")
    _save_rgb(root / "n01440764" / "sub" / "b.png")
    _save_rgb(root / "goldfish" / "c.jpg")
    _save_rgb(root / "great_white_shark" / "d.jpg")
    _save_rgb(root / ".git" / "e.jpg")  # hidden: ignored, also for auto detection
    records, problems = discover(root, kind="imagefolder")  # names: explicit kind needed
    assert problems == []
    got = {r.image_id: (r.label, r.class_name) for r in records}
    assert got == {
        "n01440764/a.jpg": (0, "tench"),
        "n01440764/sub/b.png": (0, "tench"),
        "goldfish/c.jpg": (1, "goldfish"),
        "great_white_shark/d.jpg": (2, "great white shark"),
    }
    assert [r.image_id for r in records] == sorted(got)
    # Auto-detection does not trust class-name folders: a plain, unlabelled folder.
    assert [r.label for r in discover(root)[0]] == [None] * 4


def test_auto_falls_back_to_folder_and_explicit_imagefolder_names_bad_folder(tmp_path):
    root = tmp_path / "mixed"
    _save_rgb(root / "goldfish" / "a.jpg")
    _save_rgb(root / "holiday photos" / "b.jpg")
    records, _ = discover(root)
    assert [r.label for r in records] == [None, None]
    with pytest.raises(ValueError, match="holiday photos"):
        discover(root, kind="imagefolder")

    root2 = tmp_path / "loose"
    _save_rgb(root2 / "goldfish" / "a.jpg")
    _save_rgb(root2 / "top.jpg")  # an image directly in the root -> plain folder
    records, _ = discover(root2)
    assert [(r.image_id, r.label) for r in records] == [("goldfish/a.jpg", None), ("top.jpg", None)]
    records, problems = discover(root2, kind="imagefolder")
    assert [(r.image_id, r.label) for r in records] == [("goldfish/a.jpg", 1)]
    assert [p.path for p in problems] == ["top.jpg"]


def test_auto_imagefolder_needs_wordnet_id_subfolders(tmp_path):
    # Unlabelled photos sorted into numbered or everyday-named folders are a plain folder.
    for names in [["1", "2"], ["01", "sub"], ["cup", "monitor", "mask", "notebook"]]:
        root = tmp_path / "-".join(names)
        for name in names:
            _save_rgb(root / name / "photo.jpg")
        records, problems = discover(root)
        assert problems == [] and len(records) == len(names)
        assert all(r.label is None and r.class_name is None for r in records), names

    # WordNet ids of ImageNet-1k classes are detected; folders holding no images don't count.
    root = tmp_path / "wnids"
    _save_rgb(root / "n01440764" / "a.jpg")
    _save_rgb(root / "N01443537" / "deep" / "b.png")
    (root / "meta").mkdir()
    (root / "meta" / "readme.txt").write_text("no images here")
    (root / "n01484850").mkdir()  # empty class folder
    records, problems = discover(root)
    assert problems == []
    assert [(r.image_id, r.label) for r in records] == [("N01443537/deep/b.png", 1), ("n01440764/a.jpg", 0)]
    assert discover(root, kind="imagefolder") == (records, problems)

    # One non-WordNet-id folder holding images, or a WordNet id outside ImageNet-1k: plain folder.
    _save_rgb(root / "goldfish" / "c.jpg")
    assert {r.label for r in discover(root)[0]} == {None}
    root2 = tmp_path / "not1k"
    _save_rgb(root2 / "n01440764" / "a.jpg")
    _save_rgb(root2 / "n00000001" / "b.jpg")
    assert {r.label for r in discover(root2)[0]} == {None}
    # Only folders without images, or none at all: plain folder (empty).
    root3 = tmp_path / "bare"
    (root3 / "n01440764").mkdir(parents=True)
    assert discover(root3) == ([], [])


def test_explicit_imagefolder_index_and_name_folders_and_errors_name_folder(tmp_path):
    root = tmp_path / "byindex"
    _save_rgb(root / "1" / "a.jpg")
    _save_rgb(root / "cup" / "b.jpg")
    records, _ = discover(root, kind="imagefolder")
    assert [(r.image_id, r.label, r.class_name) for r in records] == [
        ("1/a.jpg", 1, "goldfish"),
        ("cup/b.jpg", resolve_label("cup"), "cup"),
    ]
    for bad in ["1000", "crane", "summer 2019"]:
        root = tmp_path / f"bad-{bad}"
        _save_rgb(root / "n01440764" / "a.jpg")
        _save_rgb(root / bad / "b.jpg")
        with pytest.raises(ValueError) as info:
            discover(root, kind="imagefolder")
        assert f"class folder {bad!r}" in str(info.value) and str(root) in str(info.value)


def test_single_image_file_source(tmp_path):
    image = _save_rgb(tmp_path / "shots" / "Cat Photo.JPG", size=(40, 30))
    records, problems = discover(image)
    assert problems == []
    assert records == [ImageRecord(image_id="Cat Photo.JPG", path=image.resolve())]
    assert records[0].label is None and records[0].path.is_absolute()
    assert discover(image, kind="folder") == (records, [])
    assert load_view(records[0].path).shape == (224, 224, 3)
    # A relative path works the same.
    import os

    cwd = os.getcwd()
    try:
        os.chdir(tmp_path / "shots")
        assert discover("Cat Photo.JPG") == (records, [])
    finally:
        os.chdir(cwd)

    notes = tmp_path / "notes.txt"
    notes.write_text("hello")
    with pytest.raises(ValueError, match=r"notes\.txt.*neither an image.*nor a \.csv manifest"):
        discover(notes)
    with pytest.raises(ValueError, match="not a folder"):
        discover(image, kind="imagefolder")


def test_manifest_labels_problems_and_extra(tmp_path):
    data = tmp_path / "data"
    for name in ["a.png", "b.png", "c.png", "d.png"]:
        _save_rgb(data / "img" / name)
    outside = _save_rgb(tmp_path / "elsewhere" / "e.png")
    manifest = data / "manifest.csv"
    pd.DataFrame(
        {
            "path": ["img/a.png", "img/b.png", "img/c.png", "img/d.png", "img/missing.png", str(outside)],
            "label": ["0", "Goldfish", "n01484850", "not-a-class", "3", "4"],
            "camera": ["x", "y", "x", "y", "x", "z"],
        }
    ).to_csv(manifest, index=False)

    records, problems = discover(manifest)  # auto: .csv file -> manifest
    assert [(r.image_id, r.label, r.class_name) for r in records] == [
        ("img/a.png", 0, "tench"),
        ("img/b.png", 1, "goldfish"),
        ("img/c.png", 2, "great white shark"),
        (outside.resolve().as_posix(), 4, class_name(4)),
    ]
    assert records[0].path == (data / "img" / "a.png").resolve()
    assert records[0].extra == {"label": "0", "camera": "x"}
    assert records[3].extra["camera"] == "z"
    assert all(isinstance(p, SourceProblem) for p in problems)
    assert [p.path for p in problems] == ["img/d.png", "img/missing.png"]
    assert "not-a-class" in problems[0].reason
    assert "not found" in problems[1].reason


def test_manifest_label_column_fallbacks_and_errors(tmp_path):
    _save_rgb(tmp_path / "a.png")
    _save_rgb(tmp_path / "b.png")
    m1 = tmp_path / "wnid.csv"
    m1.write_text("path,wnid\na.png,n01443537\nb.png,\n")
    records, problems = discover(m1)
    assert problems == [] and [r.label for r in records] == [1, None]

    m2 = tmp_path / "custom.csv"
    m2.write_text("path,truth\na.png,tench\n")
    assert [r.label for r in discover(m2, label_column="truth")[0]] == [0]
    with pytest.raises(ValueError, match="nolabel"):
        discover(m2, label_column="nolabel")

    m3 = tmp_path / "nopath.csv"
    m3.write_text("file,label\na.png,0\n")
    with pytest.raises(ValueError) as info:
        discover(m3)
    assert "nopath.csv" in str(info.value) and "'file'" in str(info.value) and "'label'" in str(info.value)

    m4 = tmp_path / "dup.csv"
    m4.write_text("path\na.png\n./a.png\n")
    records, problems = discover(m4)
    assert len(records) == 1 and "duplicate" in problems[0].reason


@pytest.mark.skipif(not (SAMPLE / "labels.csv").exists(), reason="imagenet-sample not present")
def test_imagenet_sample_manifest():
    records, problems = discover(SAMPLE / "labels.csv")
    expected = pd.read_csv(SAMPLE / "labels.csv")
    assert problems == []
    assert len(records) == 800 == len(expected)
    assert [r.label for r in records] == expected["label"].tolist()
    assert [r.image_id for r in records] == expected["path"].tolist()
    assert records[0].extra["wnid"] == expected["wnid"][0]


# --------------------------------------------------------------------------- decoding


def test_exif_orientation_6_is_rotated(tmp_path):
    # Stored 60 wide x 30 tall, red block in the stored top-left corner, rest blue.
    stored = np.zeros((30, 60, 3), np.uint8)
    stored[:] = (0, 0, 255)
    stored[:10, :10] = (255, 0, 0)
    image = Image.fromarray(stored)
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    path = tmp_path / "rot.jpg"
    image.save(path, quality=95, exif=exif)
    out = load_rgb(path)
    assert out.shape == (60, 30, 3) and out.dtype == np.uint8
    # After a 90-degree clockwise rotation the stored top-left is the displayed top-right.
    assert np.allclose(out[2, -3], (255, 0, 0), atol=20)
    assert np.allclose(out[2, 2], (0, 0, 255), atol=20)
    assert np.allclose(out[-3, -3], (0, 0, 255), atol=20)


def test_16bit_png_is_scaled_not_clipped(tmp_path):
    values = np.array([[0, 65535, 32768, 257]], dtype=np.uint16)
    path = tmp_path / "deep.png"
    Image.fromarray(values).save(path)
    out = load_rgb(path)
    assert out.shape == (1, 4, 3)
    assert out[0, :, 0].tolist() == [0, 255, 128, 1]
    assert (out[..., 0] == out[..., 1]).all() and (out[..., 1] == out[..., 2]).all()


def test_16bit_big_endian_tiff(tmp_path):
    values = np.array([[0, 65535, 32768]], dtype=">u2")
    image = Image.frombytes("I;16B", (3, 1), values.tobytes())
    path = tmp_path / "deep.tif"
    image.save(path)
    assert load_rgb(path)[0, :, 1].tolist() == [0, 255, 128]


def test_int32_and_float_modes():
    as_i = Image.fromarray(np.array([[0, 65535, 32768]], dtype=np.int32))
    assert as_i.mode == "I"
    assert to_rgb(as_i)[0, :, 0].tolist() == [0, 255, 128]
    wide = Image.fromarray(np.array([[-10, 0, 10]], dtype=np.int32))
    assert to_rgb(wide)[0, :, 0].tolist() == [0, 128, 255]  # no white point: min-max stretch
    unit = Image.fromarray(np.array([[0.0, 1.0, 0.5]], dtype=np.float32))
    assert unit.mode == "F"
    assert to_rgb(unit)[0, :, 2].tolist() == [0, 255, 128]


def test_palette_rgba_grayscale_exact(tmp_path):
    pal = Image.new("P", (2, 1))
    pal.putpalette([255, 0, 0, 0, 128, 255] + [0] * (256 * 3 - 6))
    pal.putpixel((0, 0), 0)
    pal.putpixel((1, 0), 1)
    pal.save(tmp_path / "pal.png")
    assert load_rgb(tmp_path / "pal.png").tolist() == [[[255, 0, 0], [0, 128, 255]]]

    pal.save(tmp_path / "pal_t.png", transparency=1)  # index 1 fully transparent -> white
    assert load_rgb(tmp_path / "pal_t.png").tolist() == [[[255, 0, 0], [255, 255, 255]]]

    rgba = np.array([[[200, 100, 50, 255], [200, 100, 50, 128], [0, 0, 0, 0]]], np.uint8)
    Image.fromarray(rgba, "RGBA").save(tmp_path / "rgba.png")
    # 200*128/255 + 255*127/255 = 227.4; 100 -> 177.2; 50 -> 152.1
    assert load_rgb(tmp_path / "rgba.png").tolist() == [[[200, 100, 50], [227, 177, 152], [255, 255, 255]]]

    la = Image.fromarray(np.array([[[100, 255], [100, 0]]], np.uint8), "LA")
    la.save(tmp_path / "la.png")
    assert load_rgb(tmp_path / "la.png").tolist() == [[[100, 100, 100], [255, 255, 255]]]

    gray = Image.fromarray(np.array([[0, 77, 255]], np.uint8), "L")
    gray.save(tmp_path / "gray.png")
    assert load_rgb(tmp_path / "gray.png").tolist() == [[[0, 0, 0], [77, 77, 77], [255, 255, 255]]]

    bilevel = Image.new("1", (2, 1))
    bilevel.putpixel((1, 0), 1)
    bilevel.save(tmp_path / "bw.png")
    assert load_rgb(tmp_path / "bw.png").tolist() == [[[0, 0, 0], [255, 255, 255]]]


def test_cmyk_and_animated_gif(tmp_path):
    cmyk = Image.new("CMYK", (2, 1))
    cmyk.putpixel((0, 0), (0, 0, 0, 0))
    cmyk.putpixel((1, 0), (255, 0, 0, 0))
    cmyk.save(tmp_path / "cmyk.tif")
    assert load_rgb(tmp_path / "cmyk.tif").tolist() == [[[255, 255, 255], [0, 255, 255]]]

    frames = [Image.new("RGB", (4, 4), c) for c in [(255, 0, 0), (0, 255, 0), (0, 0, 255)]]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:], duration=50, loop=0)
    out = load_rgb(tmp_path / "anim.gif")
    assert out.shape == (4, 4, 3) and (out == (255, 0, 0)).all()


def test_decode_errors_name_the_file(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    good = tmp_path / "good.jpg"
    Image.fromarray(rng.integers(0, 256, (256, 256, 3), dtype=np.uint8)).save(good, quality=90)
    data = good.read_bytes()
    truncated = tmp_path / "truncated.jpg"
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageDecodeError, match="truncated.jpg") as info:
        load_rgb(truncated)
    assert isinstance(info.value, ValueError) and info.value.path.endswith("truncated.jpg")
    assert "truncated" in info.value.reason

    text = tmp_path / "notes.jpg"
    text.write_text("this is not a JPEG")
    with pytest.raises(ImageDecodeError, match="notes.jpg.*not an image"):
        load_rgb(text)

    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    with pytest.raises(ImageDecodeError, match="empty.png.*zero bytes"):
        load_rgb(empty)

    with pytest.raises(ImageDecodeError, match="absent.png"):
        load_rgb(tmp_path / "absent.png")

    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    with pytest.raises(ImageDecodeError, match="good.jpg.*decompression bomb"):
        load_rgb(good)

    err = pickle.loads(pickle.dumps(ImageDecodeError("x.png", "why")))
    assert err.path == "x.png" and err.reason == "why"


# --------------------------------------------------------------------------- fixed view


def test_fixed_view_center_crop_without_resize():
    # Shorter side already 256: no resampling, so the crop must be exact.
    h, w = 256, 300
    rows, cols = np.mgrid[0:h, 0:w]
    image = np.stack([rows % 256, cols % 256, cols // 256], axis=-1).astype(np.uint8)
    view = fixed_view(image)
    assert view.shape == (224, 224, 3) and view.dtype == np.uint8
    top, left = 16, 38  # (256-224)/2, (300-224)/2
    assert view[0, 0].tolist() == image[top, left].tolist()
    assert np.array_equal(view, image[top : top + 224, left : left + 224])


def test_fixed_view_resize_matches_pil_and_shapes():
    rng = np.random.default_rng(1)
    image = rng.integers(0, 256, (300, 400, 3), dtype=np.uint8)
    view = fixed_view(image)
    assert view.shape == (224, 224, 3)
    # Shorter side 300 -> 256, longer 400*256/300 = 341.3 -> 341; crop offsets 16 and round(58.5) = 58.
    resized = np.asarray(Image.fromarray(image).resize((341, 256), Image.Resampling.BICUBIC))
    assert np.array_equal(view, resized[16:240, 58:282])
    portrait = rng.integers(0, 256, (500, 120, 3), dtype=np.uint8)
    assert fixed_view(portrait, size=64, resize_to=80).shape == (64, 64, 3)
    flat = np.full((90, 130, 3), 123, np.uint8)
    assert (fixed_view(flat) == 123).all()  # upscaling a flat image stays flat
    with pytest.raises(ValueError):
        fixed_view(image[..., 0])
    with pytest.raises(ValueError):
        fixed_view(image, size=300, resize_to=256)


def test_load_view(tmp_path):
    path = tmp_path / "photo.png"
    Image.new("RGB", (320, 240), (12, 34, 56)).save(path)
    view = load_view(path)
    assert view.shape == (224, 224, 3) and (view == (12, 34, 56)).all()


@pytest.mark.parametrize("shape", [(375, 500), (500, 333), (256, 256), (90, 700), (1200, 40), (240, 320)])
@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_load_view_equals_fixed_view_of_load_rgb(tmp_path, shape, fmt):
    # load_view skips the numpy round trip for RGB files; the pixels must not change
    rng = np.random.default_rng(sum(shape))
    smooth = np.kron(rng.integers(0, 256, (shape[0] // 10 + 1, shape[1] // 10 + 1, 3)), np.ones((10, 10, 1)))
    image = np.clip(smooth[: shape[0], : shape[1]] + rng.normal(0, 8, (*shape, 3)), 0, 255).astype(np.uint8)
    path = tmp_path / f"photo.{fmt.lower()}"
    Image.fromarray(image).save(path, format=fmt)
    for size, resize_to in ((224, 256), (64, 80), (100, 100)):
        assert np.array_equal(load_view(path, size=size, resize_to=resize_to),
                              fixed_view(load_rgb(path), size=size, resize_to=resize_to))


def test_jpeg_draft_only_for_large_jpegs_and_close(tmp_path):
    rng = np.random.default_rng(5)
    small = np.kron(rng.integers(0, 256, (40, 50, 3)), np.ones((10, 10, 1))).astype(np.uint8)  # 400 x 500
    Image.fromarray(small).save(tmp_path / "small.jpg", quality=95)
    # below 2 x 256 on the short side: decoded in full either way
    assert np.array_equal(load_view(tmp_path / "small.jpg", jpeg_draft=True), load_view(tmp_path / "small.jpg"))
    big = np.asarray(Image.fromarray(small).resize((2000, 1600), Image.Resampling.BICUBIC))
    Image.fromarray(big).save(tmp_path / "big.jpg", quality=95)
    Image.fromarray(big).save(tmp_path / "big.png")
    exact, drafted = load_view(tmp_path / "big.jpg"), load_view(tmp_path / "big.jpg", jpeg_draft=True)
    assert drafted.shape == exact.shape == (224, 224, 3)
    diff = np.abs(exact.astype(int) - drafted.astype(int))
    assert 0 < diff.mean() < 2.0, diff.mean()  # scaled in the DCT domain: not the same pixels, but close
    assert np.array_equal(load_view(tmp_path / "big.png", jpeg_draft=True), load_view(tmp_path / "big.png"))


def _plain_view(image: np.ndarray, size: int = 224, resize_to: int = 256) -> np.ndarray:
    """The resize + centre-crop written out by hand (no aspect pre-crop)."""
    h, w = image.shape[:2]
    if h <= w:
        new_h, new_w = resize_to, max(resize_to, int(np.floor(w * resize_to / h + 0.5)))
    else:
        new_h, new_w = max(resize_to, int(np.floor(h * resize_to / w + 0.5))), resize_to
    resized = np.asarray(Image.fromarray(image).resize((new_w, new_h), Image.Resampling.BICUBIC))
    top, left = int(round((new_h - size) / 2)), int(round((new_w - size) / 2))
    return resized[top : top + size, left : left + size]


def test_fixed_view_extreme_aspect_is_precropped(monkeypatch):
    rng = np.random.default_rng(2)
    requested: list[tuple[int, int]] = []
    real_resize = Image.Image.resize

    def spy(self, size, *args, **kwargs):
        requested.append(tuple(size))
        return real_resize(self, size, *args, **kwargs)

    monkeypatch.setattr(Image.Image, "resize", spy)
    wide = rng.integers(0, 256, (2, 20000, 3), dtype=np.uint8)
    view = fixed_view(wide)
    assert view.shape == (224, 224, 3) and view.dtype == np.uint8
    # Never resized to 256 x 2,560,000 (2 GB): the long side is pre-cropped to 4 x 2 = 8 px.
    assert requested == [(1024, 256)]
    by_hand = wide[:, (20000 - 8) // 2 : (20000 - 8) // 2 + 8]
    assert np.array_equal(view, _plain_view(by_hand))

    tall = rng.integers(0, 256, (20000, 2, 3), dtype=np.uint8)
    requested.clear()
    view = fixed_view(tall)
    assert requested == [(256, 1024)]
    assert np.array_equal(view, _plain_view(tall[9996:10004]))

    # Odd excess, and a strip already at or below the resize target.
    strip = rng.integers(0, 256, (300, 1501, 3), dtype=np.uint8)
    assert np.array_equal(fixed_view(strip), _plain_view(strip[:, 150:1350]))
    one = rng.integers(0, 256, (1, 4000, 3), dtype=np.uint8)
    assert np.array_equal(fixed_view(one), _plain_view(one[:, 1998:2002]))


def test_fixed_view_normal_aspect_unchanged():
    rng = np.random.default_rng(3)
    for shape in [(300, 451, 3), (451, 300, 3), (256, 1024, 3), (1200, 300, 3), (100, 100, 3)]:
        image = rng.integers(0, 256, shape, dtype=np.uint8)
        assert np.array_equal(fixed_view(image), _plain_view(image)), shape
    # 300 x 451 explicitly: 451 * 256 / 300 = 384.85 -> 385; offsets 16 and round(80.5) = 80.
    image = rng.integers(0, 256, (300, 451, 3), dtype=np.uint8)
    resized = np.asarray(Image.fromarray(image).resize((385, 256), Image.Resampling.BICUBIC))
    assert np.array_equal(fixed_view(image), resized[16:240, 80:304])


def test_load_view_tiny_and_sliver_images(tmp_path):
    sliver = tmp_path / "sliver.png"
    Image.new("RGB", (1, 4000), (1, 2, 3)).save(sliver)
    with pytest.raises(ImageDecodeError) as info:
        load_view(sliver)
    assert "sliver.png" in str(info.value)
    assert info.value.reason == "image is 1x4000 px; at least 16 px per side needed"
    dot = tmp_path / "dot.png"
    Image.new("RGB", (1, 1)).save(dot)
    with pytest.raises(ImageDecodeError, match=r"^image .*dot\.png is too small: image is 1x1 px") as tiny:
        load_view(dot)  # a size problem, not "cannot decode"
    import pickle

    again = pickle.loads(pickle.dumps(tiny.value))  # crosses worker processes intact
    assert type(again) is type(tiny.value) and str(again) == str(tiny.value) and again.reason == tiny.value.reason
    small = tmp_path / "small.png"
    Image.new("RGB", (15, 40)).save(small)
    with pytest.raises(ImageDecodeError, match="15x40 px"):
        load_view(small)
    assert load_view(small, min_side=1).shape == (224, 224, 3)
    # Exactly the minimum works, also with an extreme aspect ratio (pre-cropped, so cheap).
    ok = tmp_path / "ok.png"
    Image.fromarray(np.random.default_rng(4).integers(0, 256, (16, 20000, 3), dtype=np.uint8)).save(ok)
    view = load_view(ok)
    assert view.shape == (224, 224, 3)
    assert np.array_equal(view, _plain_view(load_rgb(ok)[:, 9968:10032]))
    # fixed_view itself accepts any non-empty array.
    assert fixed_view(np.zeros((1, 1, 3), np.uint8)).shape == (224, 224, 3)
    from iqalign.sources import MIN_SIDE

    assert MIN_SIDE == 16
