"""Continuous ImageNet-C severities: integer-severity equivalence with apply_condition, identity at 0,
monotone effects between levels, determinism and argument validation."""
import math

import numpy as np
import pytest

from iqalign.interventions.continuous import TABLES, apply_continuous, interpolated_parameters
from iqalign.interventions.corruptions import CORRUPTIONS, Condition, apply_condition


def _sharpness(img: np.ndarray) -> float:
    """Variance of a 4-neighbour Laplacian of the gray image."""
    g = img.astype(np.float64).mean(axis=2)
    lap = g[1:-1, :-2] + g[1:-1, 2:] + g[:-2, 1:-1] + g[2:, 1:-1] - 4 * g[1:-1, 1:-1]
    return float(lap.var())


@pytest.mark.parametrize("corruption", CORRUPTIONS)
def test_integer_severities_reproduce_apply_condition_exactly(photo, corruption):
    for level in range(1, 6):
        want = apply_condition(photo, Condition(corruption, level), seed=7, image_id="chelsea")
        for sev in (level, float(level), np.float64(level)):
            got = apply_continuous(photo, corruption, sev, seed=7, image_id="chelsea")
            assert got.dtype == np.uint8 and got.shape == photo.shape
            np.testing.assert_array_equal(got, want, err_msg=f"{corruption}@{level} ({type(sev).__name__})")


def test_integer_equivalence_on_a_non_square_image(photo):
    img = np.ascontiguousarray(photo[:160, :200])  # frost crops, pixelate sizes, fog plasma map differ
    for corruption in CORRUPTIONS:
        want = apply_condition(img, Condition(corruption, 3), seed=9, image_id="crop")
        got = apply_continuous(img, corruption, 3, seed=9, image_id="crop")
        np.testing.assert_array_equal(got, want, err_msg=corruption)


@pytest.mark.parametrize("corruption", CORRUPTIONS)
def test_severity_zero_is_the_identity_and_near_zero_is_close(photo, corruption):
    out = apply_continuous(photo, corruption, 0, seed=1, image_id="a")
    np.testing.assert_array_equal(out, photo)
    assert out is not photo and not np.shares_memory(out, photo)
    # the identity parameters give the identity up to the library's float -> uint8 truncation (<= 1 level)
    tiny = apply_continuous(photo, corruption, 1e-6, seed=1, image_id="a")
    diff = np.abs(tiny.astype(int) - photo)
    if corruption == "pixelate":  # int(224 * (1 - eps)) = 223: a one-pixel resample, small on average
        assert diff.mean() < 0.25
    else:
        assert diff.max() <= 1


@pytest.mark.parametrize("corruption", CORRUPTIONS)
def test_fractional_severities_run_and_keep_the_shape(photo, corruption):
    for sev in (0.5, 2.5, 3.5, 4.5):
        out = apply_continuous(photo, corruption, sev, seed=2, image_id="b")
        assert out.dtype == np.uint8 and out.shape == photo.shape


GRID = [k / 2 for k in range(0, 11)]  # 0, 0.5, 1, ..., 5


# (zoom_blur is left out: the library's own levels are not monotone in this measure, e.g. 2 -> 3 and 4 -> 5)
@pytest.mark.parametrize("corruption", ["gaussian_blur", "defocus_blur"])
def test_blur_reduces_sharpness_monotonically(photo, corruption):
    values = [_sharpness(apply_continuous(photo, corruption, s, seed=3, image_id="c")) for s in GRID]
    assert all(b < a for a, b in zip(values, values[1:])), values


def test_contrast_and_noise_effects_are_monotone(photo):
    contrast = [apply_continuous(photo, "contrast", s).astype(float).std() for s in GRID]
    assert all(b < a for a, b in zip(contrast, contrast[1:])), contrast
    for name in ("gaussian_noise", "speckle_noise", "impulse_noise"):
        err = [np.abs(apply_continuous(photo, name, s, seed=4, image_id="d").astype(float) - photo).mean()
               for s in GRID]
        assert all(b > a for a, b in zip(err, err[1:])), (name, err)
    bright = [apply_continuous(photo, "brightness", s).astype(float).mean() for s in GRID]
    assert all(b > a for a, b in zip(bright, bright[1:])), bright


def test_parameters_interpolate_linearly_between_table_rows():
    assert interpolated_parameters("gaussian_noise", 1.5) == pytest.approx((0.10,))
    assert interpolated_parameters("gaussian_noise", 0.25) == pytest.approx((0.02,))
    assert interpolated_parameters("contrast", 0.5) == pytest.approx((0.7,))
    assert interpolated_parameters("defocus_blur", 4.5) == pytest.approx((9.0, 0.5))
    # shot noise interpolates 1 / photons; integer rows are the library's photon counts
    assert 1 / interpolated_parameters("shot_noise", 2)[0] == pytest.approx(25)
    assert interpolated_parameters("shot_noise", 1.5)[0] == pytest.approx((1 / 60 + 1 / 25) / 2)
    # integer-valued fields are rounded half up
    assert interpolated_parameters("glass_blur", 3.5) == pytest.approx((1.05, 3, 3))
    assert interpolated_parameters("motion_blur", 0.5) == pytest.approx((5, 1.5))
    for name, rows in TABLES.items():
        assert len(rows) == 6, name
        for k in range(6):
            assert interpolated_parameters(name, k) == tuple(rows[k])


def test_deterministic_for_a_seed_and_varies_with_it(photo):
    for name in ("gaussian_noise", "impulse_noise", "glass_blur", "snow", "spatter", "frost", "fog"):
        a = apply_continuous(photo, name, 2.3, seed=5, image_id="e")
        b = apply_continuous(photo, name, 2.3, seed=5, image_id="e")
        np.testing.assert_array_equal(a, b, err_msg=name)
    a = apply_continuous(photo, "gaussian_noise", 2.3, seed=5, image_id="e")
    assert not np.array_equal(a, apply_continuous(photo, "gaussian_noise", 2.3, seed=6, image_id="e"))
    assert not np.array_equal(a, apply_continuous(photo, "gaussian_noise", 2.3, seed=5, image_id="f"))


def test_spatter_crossfades_between_water_and_mud(photo):
    lo = apply_continuous(photo, "spatter", 3.0 + 1e-9, seed=8).astype(int)
    hi = apply_continuous(photo, "spatter", 4.0 - 1e-9, seed=8).astype(int)
    assert lo.shape == hi.shape == photo.shape
    assert not np.array_equal(lo, hi)


@pytest.mark.parametrize("bad", [-0.1, 5.01, 6, math.nan, math.inf, -math.inf])
def test_out_of_range_severity_raises_naming_the_value(photo, bad):
    with pytest.raises(ValueError, match=repr(bad).replace(".", r"\.")):
        apply_continuous(photo, "gaussian_noise", bad)


def test_invalid_arguments_raise(photo):
    with pytest.raises(ValueError, match="'fuzz'"):
        apply_continuous(photo, "fuzz", 1.0)
    with pytest.raises(ValueError, match="'2'"):
        apply_continuous(photo, "gaussian_noise", "2")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="True"):
        apply_continuous(photo, "gaussian_noise", True)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="uint8"):
        apply_continuous(photo.astype(np.float32), "contrast", 1.0)
    with pytest.raises(ValueError, match="32 pixels"):
        apply_continuous(photo[:16, :16], "contrast", 1.0)
