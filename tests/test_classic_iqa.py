"""BRISQUE, NIQE and PIQE: calibration against published implementations, and invariants."""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from iqalign.metrics.classic import _features as F
from iqalign.metrics.classic import brisque as B
from iqalign.metrics.classic import niqe as N
from iqalign.metrics.classic import piqe as P

CALIB = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "iqa-calibration"
CALIB_IMAGES = ("I03", "I04", "I06")

# scikit-video 1.1.11 skvideo.measure.niqe() on 0.2989 R + 0.5870 G + 0.1140 B of the calibration
# images (run once with shims for numpy 2: np.int = int, scipy.misc.imresize -> PIL bicubic 'F').
SKVIDEO_NIQE = {"I03": 18.8807, "I04": 9.8983, "I06": 12.2755}


def _calibration() -> tuple[Path, dict[str, dict[str, float]]]:
    if not (CALIB / "reference_scores.csv").is_file():
        pytest.skip(f"{CALIB} is absent (needs ../shared beside the checkout)")
    with open(CALIB / "reference_scores.csv", newline="") as fh:
        rows = {r["metric"]: {k[:-4]: float(v) for k, v in r.items() if k.endswith(".bmp")} for r in csv.DictReader(fh)}
    return CALIB, rows


def _load(name: str) -> np.ndarray:
    from PIL import Image

    with Image.open(CALIB / f"{name}.bmp") as im:
        return np.asarray(im.convert("RGB"))


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    from skimage import data

    return data.astronaut()  # 512x512 RGB uint8


def _blurred(img: np.ndarray) -> np.ndarray:
    from skimage.filters import gaussian

    return np.round(gaussian(img, sigma=2, channel_axis=-1) * 255).astype(np.uint8)


def _noisy(img: np.ndarray) -> np.ndarray:
    rng = np.random.default_rng(0)
    return np.clip(np.round(img + rng.normal(0, 25, img.shape)), 0, 255).astype(np.uint8)


# ---- calibration ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", CALIB_IMAGES)
def test_brisque_matches_original_release(name):
    _, ref = _calibration()
    score = B.brisque(_load(name))
    assert abs(score - ref["brisque"][name]) <= B.CALIBRATION_TOLERANCE, (name, score, ref["brisque"][name])


@pytest.mark.parametrize("name", CALIB_IMAGES)
def test_piqe_matches_matlab(name):
    _, ref = _calibration()
    score = P.piqe(_load(name))
    assert abs(score - ref["piqe"][name]) <= P.CALIBRATION_TOLERANCE, (name, score, ref["piqe"][name])


@pytest.mark.parametrize("name", CALIB_IMAGES)
def test_niqe_skvideo_model_matches_scikit_video(name):
    _calibration()
    score = N.niqe(_load(name), "skvideo")
    assert abs(score - SKVIDEO_NIQE[name]) <= N.SKVIDEO_TOLERANCE, (name, score)


def test_niqe_skvideo_model_ranks_the_worst_calibration_image_worst():
    _, ref = _calibration()
    ours = {n: N.niqe(_load(n), "skvideo") for n in CALIB_IMAGES}
    assert max(ours, key=ours.get) == max(ref["niqe"], key=ref["niqe"].get) == "I03"


@pytest.mark.parametrize("name", CALIB_IMAGES)
def test_niqe_with_live_model_matches_original_release(name):
    _, ref = _calibration()
    score = N.niqe(_load(name))  # default: the authors' model, shipped as package data
    assert abs(score - ref["niqe"][name]) <= N.CALIBRATION_TOLERANCE_LIVE, (name, score, ref["niqe"][name])


def test_brisque_numpy_svr_equals_libsvm():
    svmutil = pytest.importorskip("libsvm.svmutil")
    rng = np.random.default_rng(3)
    model = svmutil.svm_load_model(str(B._model_dir() / "svm.txt"))
    m = B.load_model()
    for _ in range(5):
        x = rng.uniform(-1, 1, 36)
        feats = m["min"] + (x + 1) / 2 * (m["max"] - m["min"])
        nodes, _ = svmutil.gen_svm_nodearray([float(v) for v in x])
        assert B.predict(feats) == pytest.approx(svmutil.libsvm.svm_predict(model, nodes), abs=1e-8)


# ---- invariants (no shared data needed) ----------------------------------------------------------

METRICS = {"brisque": B.brisque, "niqe": N.niqe, "piqe": P.piqe}


@pytest.mark.parametrize("name", sorted(METRICS))
def test_blur_and_noise_make_scores_worse(name, astronaut):
    fn = METRICS[name]
    clean = fn(astronaut)
    assert fn(_blurred(astronaut)) > clean
    assert fn(_noisy(astronaut)) > clean


@pytest.mark.parametrize("name", sorted(METRICS))
def test_deterministic_and_input_untouched(name, astronaut):
    img = astronaut[:224, 100:324].copy()
    before = img.copy()
    a, b = METRICS[name](img), METRICS[name](img)
    assert a == b and np.isfinite(a)
    np.testing.assert_array_equal(img, before)


@pytest.mark.parametrize("name", sorted(METRICS))
def test_too_small_image_raises(name):
    img = np.zeros((40, 200, 3), dtype=np.uint8)
    with pytest.raises(ValueError, match="pixels"):
        METRICS[name](img)


def test_niqe_needs_one_whole_patch():
    img = np.random.default_rng(0).integers(0, 256, (80, 300, 3), dtype=np.uint8)
    with pytest.raises(ValueError, match="96"):
        N.niqe(img)
    assert np.isfinite(N.niqe(np.random.default_rng(0).integers(0, 256, (100, 130, 3), dtype=np.uint8)))


@pytest.mark.parametrize("name", ["brisque", "piqe"])
def test_small_and_odd_sizes_work(name):
    rng = np.random.default_rng(1)
    for shape in [(64, 64, 3), (65, 97, 3), (224, 224, 3)]:
        assert np.isfinite(METRICS[name](rng.integers(0, 256, shape, dtype=np.uint8)))


@pytest.mark.parametrize("name", sorted(METRICS))
def test_rejects_non_uint8_and_bad_shapes(name):
    with pytest.raises(ValueError, match="uint8"):
        METRICS[name](np.zeros((128, 128, 3), dtype=np.float32))
    with pytest.raises(ValueError, match="shape"):
        METRICS[name](np.zeros((128, 128, 2), dtype=np.uint8))


def test_grayscale_input_equals_rgb_with_equal_channels(astronaut):
    gray = astronaut[..., 1]
    rgb = np.repeat(gray[..., None], 3, axis=2)
    assert B.brisque(gray) == pytest.approx(B.brisque(rgb))
    assert P.piqe(gray) == pytest.approx(P.piqe(rgb))


def test_uniform_image_scores():
    flat = np.full((128, 128, 3), 90, dtype=np.uint8)
    assert P.piqe(flat) == 100.0  # as MATLAB: no active block
    assert np.isnan(B.brisque(flat)) and np.isnan(N.niqe(flat))  # features undefined


def test_piqe_in_range_and_masks_consistent(astronaut):
    blocks = P.piqe_blocks(astronaut)
    assert blocks["active"].size == (512 // 16) ** 2
    assert not np.any(blocks["artifact"] & ~blocks["active"])
    assert 0.0 <= P.piqe(astronaut) <= 100.0


# ---- building blocks -----------------------------------------------------------------------------


def test_imresize_half_uses_matlab_antialiased_bicubic_weights():
    mat = F._half_resize_matrix(20)
    expected = np.array([-0.01171875, -0.03515625, 0.11328125, 0.43359375, 0.43359375, 0.11328125, -0.03515625, -0.01171875])
    np.testing.assert_allclose(mat[5, 7:15], expected)  # output 6 (1-based) centred at input 11.5
    np.testing.assert_allclose(mat.sum(axis=1), 1.0)
    const = np.full((30, 21), 7.0)
    out = F.imresize_half(const)
    assert out.shape == (15, 11)
    np.testing.assert_allclose(out, 7.0)


def test_matlab_rgb2gray_rounds():
    px = np.array([[[255, 0, 0], [0, 255, 0], [0, 0, 255], [10, 20, 30]]], dtype=np.uint8)
    np.testing.assert_array_equal(F.rgb_to_gray_matlab(px), [[76.0, 150.0, 29.0, 18.0]])


def test_ggd_and_aggd_fits_recover_shape():
    from scipy.stats import gennorm

    for shape in (0.8, 1.0, 2.0):
        x = gennorm.rvs(shape, size=(2, 200_000), random_state=np.random.default_rng(int(shape * 10)))
        a_ggd, _ = F.ggd_fit(x)
        a_aggd, left, right = F.aggd_fit(x)
        np.testing.assert_allclose(a_ggd, shape, rtol=0.05)
        np.testing.assert_allclose(a_aggd, shape, rtol=0.05)
        np.testing.assert_allclose(left, right, rtol=0.03)


def test_registered_specs():
    from iqalign.metrics.registry import get_metric

    for name in ("brisque", "niqe", "piqe"):
        m = get_metric(name)
        assert m.spec.family == "classic" and m.spec.higher_is_better is False
        assert m.spec.needs_labels is False and m.spec.reference and m.image_fn is not None
        assert m.spec.availability()[0]


# ---- the fast code computes the same values ------------------------------------------------------
# The building blocks were rewritten for speed (docs/performance.md). The scores must not move: these
# are the values of git 12c4298 (before the rewrite) on 224x224 crops of scikit-image photos, a blurred
# and a noisy astronaut (`_views`); asserted to 1e-9 relative.

BEFORE_SPEEDUP = {
    "astronaut": {"brisque": 3.074191305315793, "niqe": 3.7904529179653372, "niqe_skvideo": 44.493913186933405, "piqe": 29.937900755888048},
    "coffee": {"brisque": 9.84147115705079, "niqe": 8.22734450707935, "niqe_skvideo": 30.630114031707, "piqe": 32.96421973777164},
    "chelsea": {"brisque": 4.77153529155143, "niqe": 3.140461489178409, "niqe_skvideo": 27.318352792334313, "piqe": 30.720505112493186},
    "rocket": {"brisque": 24.884820003243334, "niqe": 13.141626025743024, "niqe_skvideo": 40.47594777200093, "piqe": 49.87979568995511},
    "astronaut_box5": {"brisque": 44.37482991068643, "niqe": 7.473249016029866, "niqe_skvideo": 50.12618071949025, "piqe": 78.7038692481879},
    "astronaut_noise25": {"brisque": 47.11607663251149, "niqe": 12.231758725115501, "niqe_skvideo": 28.768722038240636, "piqe": 55.539161528495306},
}


@pytest.mark.parametrize("metric", ["brisque", "niqe", "niqe_skvideo", "piqe"])
def test_scores_unchanged_by_the_speedup(metric, pinned_views):
    fns = {"brisque": B.brisque, "niqe": N.niqe, "niqe_skvideo": lambda im: N.niqe(im, "skvideo"), "piqe": P.piqe}
    fn = fns[metric]
    for name, img in pinned_views.items():
        assert fn(img) == pytest.approx(BEFORE_SPEEDUP[name][metric], rel=1e-9, abs=1e-9), name


def _aggd_fit_masked(x):
    """The plain estimateaggdparam (masked sums), as iqalign computed it before the speed-up."""
    x = np.asarray(x, dtype=np.float64)
    sq = x * x
    neg, pos = x < 0, x > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        left = np.sqrt(np.where(neg, sq, 0.0).sum(axis=-1) / neg.sum(axis=-1))
        right = np.sqrt(np.where(pos, sq, 0.0).sum(axis=-1) / pos.sum(axis=-1))
        g = left / right
        r_hat = np.mean(np.abs(x), axis=-1) ** 2 / np.mean(sq, axis=-1)
        r_norm = r_hat * (g**3 + 1.0) * (g + 1.0) / (g * g + 1.0) ** 2
    # MATLAB [min, idx] = min((r_gam - rhatnorm).^2): the first grid entry closest to each target
    nearest = np.argmin(np.abs(F._R_AGGD[None, :] - np.nan_to_num(r_norm).reshape(-1, 1)), axis=1)
    alpha = np.where(np.isfinite(r_norm), F._GAM[nearest].reshape(r_norm.shape), np.nan)
    return alpha, left, right


def test_aggd_fit_from_moments_equals_masked_fit():
    rng = np.random.default_rng(7)
    rows = [rng.normal(size=5000), rng.standard_t(3, size=5000) * 1e-3, rng.laplace(size=5000) * 1e3,
            np.abs(rng.normal(size=5000)),  # no negative sample: left scale and shape undefined
            -np.abs(rng.normal(size=5000)), np.zeros(5000), np.r_[np.zeros(100), rng.normal(size=4900)]]
    x = np.stack(rows)
    short = np.concatenate([x[:, :1000]] * 30)  # 210 short sets: reduced in chunks, not one by one
    for sample in (x, x[:2], x[0], short, short[:3, :7]):
        fast, slow = F.aggd_fit(sample), _aggd_fit_masked(sample)
        for a, b in zip(fast, slow):
            np.testing.assert_array_equal(np.isnan(a), np.isnan(b))
            np.testing.assert_allclose(a, b, rtol=1e-12)
    # moments of several sets fitted together = fitted one by one
    moments = F.aggd_moments(x)
    assert moments.shape == (len(rows), 6)
    together = F.aggd_from_moments(moments)
    for i, row in enumerate(rows):
        for a, b in zip(together, F.aggd_fit(row)):
            np.testing.assert_array_equal(a[i], b)


def test_imresize_half_filter_equals_the_dense_matrices():
    rng = np.random.default_rng(2)
    for shape in [(192, 192), (96, 96), (97, 131), (9, 8), (8, 30), (7, 40), (3, 5)]:
        img = rng.uniform(0, 255, shape)
        dense = F._half_resize_matrix(shape[0]) @ img @ F._half_resize_matrix(shape[1]).T
        out = F.imresize_half(img)
        assert out.shape == dense.shape and out.flags.c_contiguous
        np.testing.assert_allclose(out, dense, rtol=0, atol=1e-11)


def test_rgb_to_gray_equals_the_plain_formula_on_every_colour():
    # The unrounded luma of no colour lies within 4.6e-6 of a .5 boundary, so any float64 evaluation
    # rounds alike; checked here over all 2^24 colours, in 16 slabs of 2^20.
    weights = F._RGB2GRAY
    for r0 in range(0, 256, 16):
        c = np.arange(r0 << 16, (r0 + 16) << 16, dtype=np.uint32)
        rgb = np.stack([c >> 16, (c >> 8) & 255, c & 255], axis=-1).astype(np.uint8).reshape(1024, 1024, 3)
        plain = np.floor(rgb.astype(np.float64) @ weights + 0.5)
        np.testing.assert_array_equal(F.rgb_to_gray_matlab(rgb), plain)


def test_niqe_patch_features_equal_the_np_roll_version():
    rng = np.random.default_rng(4)
    structdis = rng.normal(size=(192, 288))
    for size, dup in ((96, False), (48, True)):
        blocks = N._patches(structdis, size)
        n = blocks.shape[0]
        alpha, left, right = _aggd_fit_masked(blocks.reshape(n, -1))
        cols = [alpha, (left + right) * F.aggd_ratio(alpha) / 2.0]
        for k, shift in enumerate(N._SHIFTS):
            a, left, right = _aggd_fit_masked((blocks * np.roll(blocks, shift, axis=(1, 2))).reshape(n, -1))
            ratio = F.aggd_ratio(a)
            bl, br = left * ratio, right * ratio
            cols += [a, (br - bl) * F.aggd_mean_factor(a), bl, bl if (dup and k >= 2) else br]
        fast = N._patch_features(structdis, size, dup)
        np.testing.assert_allclose(fast, np.stack(cols, axis=1), rtol=1e-9, atol=1e-15)


def test_piqe_segment_std_equals_numpy_bit_for_bit():
    rng = np.random.default_rng(5)
    for scale in (1e-3, 1.0, 1e3):
        edges = rng.normal(size=(300, 4, 16)) * scale + rng.normal(size=(300, 4, 1))
        ref = np.lib.stride_tricks.sliding_window_view(edges, P.SEGMENT, axis=2).std(axis=-1, ddof=1)
        np.testing.assert_array_equal(P._segment_std(edges), ref)
