"""Augmentation: exact identities, the rotation's direction, flips, zoom, borders, parameter ranges."""

from __future__ import annotations

import numpy as np
import pytest

from minigan import kernels
from minigan.backend import to_device, to_numpy
from minigan.data import AUGMENT_PRESETS, augment_batch, augment_options, draw_augment_params
from minigan.data.augment import affine_batch, affine_batch_reference

from .cases import DEVICES


#: The tests that pin the transform run on both versions: the numba kernel behind affine_batch
#: for NumPy arrays, and the array-operations reference (also the CuPy path).
IMPLEMENTATIONS = [pytest.param(affine_batch, id="numba"), pytest.param(affine_batch_reference, id="reference")]


def batch(rng, n=4, c=3, h=16, w=16, dtype=np.float32):
    return rng.uniform(-1, 1, (n, c, h, w)).astype(dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("affine", IMPLEMENTATIONS)
def test_identity_returns_the_input(affine, rng, dtype):
    x = batch(rng, dtype=dtype)
    y = affine(x, np.ones(4), np.zeros(4), np.zeros(4, bool))
    assert y.dtype == dtype and y.shape == x.shape
    np.testing.assert_array_equal(y, x)


@pytest.mark.parametrize("angle,k", [(90, 1), (-90, -1), (180, 2), (270, 3), (-270, 1)])
@pytest.mark.parametrize("size", [16, 17])
@pytest.mark.parametrize("affine", IMPLEMENTATIONS)
def test_right_angles_match_rot90(affine, rng, angle, k, size):
    """Positive angles turn counter-clockwise on screen, as np.rot90 on the (H, W) axes."""
    x = batch(rng, h=size, w=size)
    y = affine(x, 1.0, float(angle), False)
    np.testing.assert_allclose(y, np.rot90(x, k, axes=(2, 3)), atol=1e-6)


@pytest.mark.parametrize("affine", IMPLEMENTATIONS)
def test_a_point_right_of_centre_moves_up_at_plus_90(affine):
    x = np.zeros((1, 1, 9, 9), np.float32)
    x[0, 0, 4, 7] = 1.0  # right of the centre (4, 4)
    y = affine(x, 1.0, 90.0, False)
    assert y[0, 0, 1, 4] == 1.0 and y.sum() == 1.0  # now above it


@pytest.mark.parametrize("affine", IMPLEMENTATIONS)
def test_flip_matches_reversing_the_columns(affine, rng):
    x = batch(rng)
    flips = np.array([True, False, True, False])
    y = affine(x, 1.0, 0.0, flips)
    np.testing.assert_array_equal(y[flips], x[flips][..., ::-1])
    np.testing.assert_array_equal(y[~flips], x[~flips])


@pytest.mark.parametrize("affine", IMPLEMENTATIONS)
def test_flip_is_applied_after_rotation(affine, rng):
    x = batch(rng)
    y = affine(x, 1.0, 90.0, True)
    np.testing.assert_allclose(y, np.rot90(x, 1, axes=(2, 3))[..., ::-1], atol=1e-6)


@pytest.mark.parametrize("affine", IMPLEMENTATIONS)
def test_each_sample_gets_its_own_parameters(affine, rng):
    x = batch(rng)
    y = affine(x, np.array([1.0, 1.0, 1.0, 1.0]), np.array([0.0, 90.0, 180.0, 0.0]),
               np.array([False, False, False, True]))
    np.testing.assert_array_equal(y[0], x[0])
    np.testing.assert_allclose(y[1], np.rot90(x[1], 1, axes=(1, 2)), atol=1e-6)
    np.testing.assert_allclose(y[2], np.rot90(x[2], 2, axes=(1, 2)), atol=1e-6)
    np.testing.assert_array_equal(y[3], x[3][..., ::-1])


@pytest.mark.parametrize("affine", IMPLEMENTATIONS)
def test_zoom_enlarges_about_the_centre(affine):
    x = -np.ones((1, 1, 32, 32), np.float32)
    x[..., 12:20, 12:20] = 1.0  # an 8x8 square in the middle
    y = affine(x, 2.0, 0.0, False)
    bright = y[0, 0] > 0
    rows, cols = np.flatnonzero(bright.any(1)), np.flatnonzero(bright.any(0))
    assert 14 <= len(rows) <= 18 and 14 <= len(cols) <= 18  # about 16x16
    assert abs(rows.mean() - 15.5) < 0.6 and abs(cols.mean() - 15.5) < 0.6


@pytest.mark.parametrize("border", ["edge", "reflect"])
@pytest.mark.parametrize("affine", IMPLEMENTATIONS)
def test_no_black_corners(affine, border):
    x = np.full((2, 3, 16, 16), 0.5, np.float32)
    y = affine(x, np.array([0.7, 1.0]), np.array([45.0, 30.0]), np.array([False, True]), border=border)
    np.testing.assert_allclose(y, 0.5, atol=1e-6)


@pytest.mark.parametrize("affine", IMPLEMENTATIONS)
def test_edge_border_repeats_the_border_pixel(affine):
    x = np.zeros((1, 1, 8, 8), np.float32)
    x[..., :, 0] = 1.0  # left column white
    y = affine(x, 0.5, 0.0, False, border="edge")  # zoom out: the border spreads outwards
    assert (y[0, 0, :, 0] == 1.0).all() and (y[0, 0, :, 1] > 0.4).all()


def test_parameters_are_drawn_within_the_ranges():
    rng = np.random.default_rng(0)
    zoom, angle, flip = draw_augment_params(2000, rng, zoom=(1.05, 1.25), rotate=12.0, flip=True)
    assert zoom.shape == angle.shape == flip.shape == (2000,)
    assert 1.05 <= zoom.min() and zoom.max() <= 1.25 and zoom.max() - zoom.min() > 0.15
    assert -12 <= angle.min() < -10 and 10 < angle.max() <= 12
    assert 0.4 < flip.mean() < 0.6
    _, angle, flip = draw_augment_params(100, rng, zoom=1.1, rotate=0.0, flip=False)
    assert (angle == 0).all() and not flip.any()


def test_augment_batch_shape_dtype_range_and_seeding(rng):
    x = batch(rng, n=8, h=64, w=64)
    y = augment_batch(x, np.random.default_rng(5), zoom=(1.0, 1.2), rotate=15.0, flip=True)
    assert y.shape == x.shape and y.dtype == np.float32
    assert y.min() >= x.min() - 1e-6 and y.max() <= x.max() + 1e-6
    again = augment_batch(x, np.random.default_rng(5), zoom=(1.0, 1.2), rotate=15.0, flip=True)
    np.testing.assert_array_equal(y, again)
    assert not np.allclose(y, x)


@pytest.mark.parametrize("border", ["edge", "reflect"])
def test_numba_kernel_matches_the_reference(rng, border):
    x = batch(rng, n=16, h=32, w=24)
    zoom, angle, flip = draw_augment_params(16, rng, zoom=(0.6, 1.5), rotate=60.0, flip=True)
    np.testing.assert_allclose(affine_batch(x, zoom, angle, flip, border),
                               affine_batch_reference(x, zoom, angle, flip, border), atol=1e-4)


def test_reference_mode_uses_the_reference(rng, monkeypatch):
    from minigan.data import augment

    calls = []
    monkeypatch.setattr(augment, "affine_batch_reference", lambda *a: calls.append(1) or a[0])
    x = batch(rng)
    with kernels.use_kernels("reference"):
        assert augment.affine_batch(x, 1.0, 0.0, False) is x and calls == [1]
    with kernels.use_kernels("auto"):  # the numba kernel: a new array, the reference not called
        assert augment.affine_batch(x, 1.0, 0.0, False) is not x and calls == [1]


@pytest.mark.parametrize("device", DEVICES)
def test_same_result_on_every_device(device, rng):
    x = batch(rng, n=6, h=32, w=32)
    params = (np.array([1.0, 1.1, 0.9, 1.2, 1.0, 1.05]), np.array([0, 10, -20, 33, 90, 5.0]),
              np.array([False, True, False, True, False, True]))
    expected = affine_batch_reference(x, *params)
    xd = to_device(x, device)
    got = affine_batch(xd, *(to_device(p, device) for p in params))
    assert type(got) is type(xd)
    np.testing.assert_allclose(to_numpy(got), expected, atol=1e-5)
    y = augment_batch(xd, np.random.default_rng(1))
    assert type(y) is type(xd) and y.shape == x.shape and y.dtype == np.float32


def test_augment_options():
    assert augment_options("none") is None and augment_options(None) is None
    assert augment_options("blog") == AUGMENT_PRESETS["blog"]
    assert augment_options("zoom=1.0:1.3,rotate=10,flip=1") == {"zoom": (1.0, 1.3), "rotate": 10.0, "flip": True}
    assert augment_options("rotate=5,border=reflect")["border"] == "reflect"
    with pytest.raises(ValueError, match="augment"):
        augment_options("sideways")
    for preset in AUGMENT_PRESETS.values():
        if preset:
            augment_batch(np.zeros((2, 3, 8, 8), np.float32), np.random.default_rng(0), **preset)
