"""The numba kernels against their readable twins, dispatch, and the training step on both.

Every kernel of :mod:`minigan.kernels.cpu` must give the reference's bits (element-wise kernels,
im2col/col2im, Adam) or agree to float rounding (batch norm, whose float64 sums are more exact
than NumPy's float32 ones), on odd shapes, both dtypes and both memory layouts, and give the
same bits twice.
"""

from __future__ import annotations

import itertools
import os
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("numba")

from minigan import kernels, optim  # noqa: E402
from minigan.gan import train_step  # noqa: E402
from minigan.kernels import cpu, reference  # noqa: E402
from minigan.models.dcgan import Discriminator, Generator  # noqa: E402
from minigan.nn import Conv2d, ConvTranspose2d  # noqa: E402

DTYPES = [np.float32, np.float64]
# (kernel, stride, padding) with the padding smaller than the kernel, as every layer uses
GEOMETRIES = [g for g in itertools.product((1, 3, 4), (1, 2), (0, 1, 2)) if g[2] < g[0] or g[2] == 0]
# (N, H, W, C): batch 1, odd sizes, one channel, and a DCGAN-like shape
IMAGES = [(1, 5, 7, 3), (3, 6, 5, 1), (2, 8, 8, 16)]


def channels_last(x):
    """The same (N, C, H, W) values stored channels-last, as minigan's layers return them."""
    return np.ascontiguousarray(x.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)


def assert_same_bits(a, b):
    assert a.dtype == b.dtype and a.shape == b.shape
    np.testing.assert_array_equal(a, b)


def assert_close(a, b, dtype):
    """Within 1e-6 (float32) or 1e-12 (float64) of the larger array's scale."""
    tol = 1e-6 if dtype == np.float32 else 1e-12
    assert a.dtype == b.dtype and a.shape == b.shape
    scale = max(float(np.max(np.abs(a))), 1e-30)
    assert float(np.max(np.abs(a - b))) <= tol * scale, float(np.max(np.abs(a - b))) / scale


# -- im2col / col2im ------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("shape", IMAGES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("k,s,p", GEOMETRIES, ids=lambda *a: None)
def test_im2col_and_col2im_equal_the_reference(k, s, p, shape, dtype, rng):
    n, h, w, c = shape
    if h + 2 * p < k or w + 2 * p < k:
        pytest.skip("kernel larger than the padded image")
    x = rng.standard_normal(shape).astype(dtype)
    cols = reference.im2col_nhwc(x, k, k, s, p)
    assert_same_bits(cpu.im2col_nhwc(x, k, k, s, p), cols)
    buffer = np.full_like(cols, np.nan)  # a reused buffer: every entry must be overwritten
    assert cpu.im2col_nhwc(x, k, k, s, p, out=buffer) is buffer
    assert_same_bits(buffer, cols)
    dcols = rng.standard_normal(cols.shape).astype(dtype)
    dx = cpu.col2im_nhwc(dcols, shape, k, k, s, p)
    assert_same_bits(dx, reference.col2im_nhwc(dcols, shape, k, k, s, p))
    assert_same_bits(dx, cpu.col2im_nhwc(dcols, shape, k, k, s, p))  # deterministic


@pytest.mark.parametrize("k,s,p", [(4, 2, 1), (3, 1, 2), (1, 1, 0)])
def test_channels_last_columns_are_the_textbook_columns_reordered(k, s, p, rng):
    x = rng.standard_normal((2, 7, 6, 3))  # (N, H, W, C)
    n, h, w, c = x.shape
    oh, ow = (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1
    rows = reference.im2col_nhwc(x, k, k, s, p).reshape(n * oh * ow, k, k, c)  # (P, i, j, c)
    textbook = reference.im2col(np.ascontiguousarray(x.transpose(0, 3, 1, 2)), k, k, s, p)  # ((c, i, j), P)
    np.testing.assert_array_equal(rows.transpose(3, 1, 2, 0).reshape(c * k * k, -1), textbook)
    dcols = rng.standard_normal(textbook.shape)
    np.testing.assert_allclose(
        reference.col2im_nhwc(np.ascontiguousarray(dcols.reshape(c, k, k, -1).transpose(3, 1, 2, 0)).reshape(n * oh * ow, -1),
                              x.shape, k, k, s, p),
        reference.col2im(dcols, (n, c, h, w), k, k, s, p).transpose(0, 2, 3, 1), rtol=1e-12, atol=1e-12)


# -- batch normalisation ------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("layout", ["nchw", "channels_last"])
@pytest.mark.parametrize("shape", [(1, 3, 5, 7), (4, 20, 3, 3), (3, 2, 1, 1)], ids=lambda s: "x".join(map(str, s)))
def test_batch_norm_equals_the_reference(shape, layout, dtype, rng):
    x = (rng.standard_normal(shape) * 3 + 2).astype(dtype)
    dy = rng.standard_normal(shape).astype(dtype)
    if layout == "channels_last":
        x, dy = channels_last(x), channels_last(dy)
    c = shape[1]
    gamma, beta = rng.uniform(0.5, 1.5, c).astype(dtype), rng.standard_normal(c).astype(dtype)
    ours = cpu.batch_norm_forward_train(x, gamma, beta, 1e-5)
    theirs = reference.batch_norm_forward_train(x, gamma, beta, 1e-5)
    for a, b in zip(ours, theirs):
        assert_close(a, b, dtype)
    mean, inv_std = theirs[1], theirs[2]
    for a, b in zip(cpu.batch_norm_backward_train(dy, x, mean, inv_std, gamma),
                    reference.batch_norm_backward_train(dy, x, mean, inv_std, gamma)):
        assert_close(a, b, dtype)
    # the same bits twice
    for a, b in zip(ours, cpu.batch_norm_forward_train(x, gamma, beta, 1e-5)):
        assert_same_bits(a, b)
    for a, b in zip(cpu.batch_norm_backward_train(dy, x, mean, inv_std, gamma),
                    cpu.batch_norm_backward_train(dy, x, mean, inv_std, gamma)):
        assert_same_bits(a, b)


def test_batch_norm_keeps_the_channels_last_layout(rng):
    x = channels_last(rng.standard_normal((2, 3, 4, 5)).astype(np.float32))
    y = cpu.batch_norm_forward_train(x, np.ones(3, np.float32), np.zeros(3, np.float32), 1e-5)[0]
    assert y.shape == x.shape and y.strides == x.strides


# -- element-wise ---------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("layouts", [("nchw", "nchw"), ("channels_last", "channels_last"),
                                     ("channels_last", "nchw"), ("nchw", "channels_last")],
                         ids=lambda p: f"x-{p[0]}-dy-{p[1]}")
def test_activations_equal_the_reference(layouts, dtype, rng):
    x = rng.standard_normal((3, 5, 4, 7)).astype(dtype)
    x[0, 0, 0, :3] = [0.0, -0.0, np.inf]
    dy = rng.standard_normal(x.shape).astype(dtype)
    x = channels_last(x) if layouts[0] == "channels_last" else x
    dy = channels_last(dy) if layouts[1] == "channels_last" else dy
    assert_same_bits(cpu.leaky_relu_forward(x, 0.2), reference.leaky_relu_forward(x, 0.2))
    assert_same_bits(cpu.leaky_relu_backward(dy, x, 0.2), reference.leaky_relu_backward(dy, x, 0.2))
    (y, mask), (y_ref, mask_ref) = cpu.relu_forward(x), reference.relu_forward(x)
    assert_same_bits(y, y_ref)
    assert_same_bits(mask, mask_ref)
    assert_same_bits(cpu.relu_backward(dy, mask), reference.relu_backward(dy, mask_ref))
    assert cpu.relu_forward(x)[0].strides == x.strides  # the layout is kept


@pytest.mark.parametrize("shape", [(3, 4, 1, 1), (1, 3, 1, 5), (2, 1, 3, 3)], ids=lambda s: "x".join(map(str, s)))
def test_activations_with_unit_axes_in_either_layout(shape, rng):
    """Size-1 axes make an array both C-contiguous and channels-last: orders must still pair."""
    x = rng.standard_normal(shape).astype(np.float32)
    dy = rng.standard_normal(shape).astype(np.float32)
    for a, b in itertools.product((x, channels_last(x)), (dy, channels_last(dy))):
        assert_same_bits(cpu.leaky_relu_backward(b, a, 0.2), reference.leaky_relu_backward(dy, x, 0.2))
        assert_same_bits(cpu.relu_backward(b, cpu.relu_forward(a)[1]), reference.relu_backward(dy, x > 0))


@pytest.mark.parametrize("shape", [(2, 5), (7,), (3, 4, 5)])
def test_activations_take_any_shape_and_non_contiguous_views(shape, rng):
    x = rng.standard_normal(shape).astype(np.float32)
    dy = rng.standard_normal(shape).astype(np.float32)
    view = np.repeat(x, 2, axis=-1)[..., ::2]  # non-contiguous, same values as x
    for arr in (x, view):
        assert_same_bits(cpu.leaky_relu_forward(arr, 0.2), reference.leaky_relu_forward(x, 0.2))
        assert_same_bits(cpu.leaky_relu_backward(dy, arr, 0.2), reference.leaky_relu_backward(dy, x, 0.2))
        assert_same_bits(cpu.relu_backward(dy, cpu.relu_forward(arr)[1]), reference.relu_backward(dy, x > 0))


# -- Adam -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("shape", [(7,), (3, 1000), (64, 3, 4, 4)], ids=lambda s: "x".join(map(str, s)))
def test_adam_update_equals_the_reference_bit_for_bit(shape, dtype, rng):
    p, g, m = (rng.standard_normal(shape).astype(dtype) for _ in range(3))
    v = np.abs(rng.standard_normal(shape)).astype(dtype)
    ours = [a.copy() for a in (p, g, m, v)]
    theirs = [a.copy() for a in (p, g, m, v)]
    for t in (1, 2, 3):  # three steps: the moments carry over
        args = (2e-4 / (1 - 0.5**t), 0.5, 0.999, (1 - 0.999**t) ** 0.5, 1e-8)
        cpu.adam_update(*ours, *args)
        reference.adam_update(*theirs, *args)
    for a, b in zip(ours, theirs):
        assert_same_bits(a, b)


# -- dispatch -------------------------------------------------------------------------------------


def test_dispatch_picks_numba_for_numpy_arrays_and_reference_when_asked():
    x = np.zeros((1, 1, 2, 2), np.float32)
    assert kernels.backend_for(x) is cpu
    with kernels.use_kernels("reference"):
        assert kernels.backend_for(x) is reference
    assert kernels.backend_for(x) is cpu
    for name in cpu.__all__:  # every fast kernel has a readable twin and a dispatcher
        assert hasattr(reference, name) and hasattr(kernels, name)


def run_python(code, **env):
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                          env={**os.environ, **env}).stdout.strip()


def test_environment_variable_forces_the_reference_kernels():
    code = "import numpy as np; from minigan import kernels; print(kernels.backend_for(np.zeros(1)).__name__)"
    assert run_python(code, MINIGAN_KERNELS="reference") == "minigan.kernels.reference"
    assert run_python(code, MINIGAN_KERNELS="auto") == "minigan.kernels.cpu"


def test_without_numba_everything_runs_on_the_reference():
    code = ("import sys; sys.modules['numba'] = None\n"  # any 'import numba' now raises ImportError
            "import numpy as np\n"
            "from minigan import kernels, nn\n"
            "x = np.ones((1, 2, 5, 5), np.float32)\n"
            "y = nn.Conv2d(2, 3, 3, 2, 1, rng=0).forward(x)\n"
            "print(kernels.backend_for(x).__name__, y.shape)")
    assert run_python(code) == "minigan.kernels.reference (1, 3, 3, 3)"


# -- the layers and a training step -----------------------------------------------------------------


@pytest.mark.parametrize("layer_class", [Conv2d, ConvTranspose2d])
def test_conv_layers_give_the_same_bits_for_either_input_layout(layer_class, rng):
    layer = layer_class(3, 5, 4, 2, 1, rng=rng)
    x = rng.standard_normal((2, 3, 6, 6)).astype(np.float32)
    y1, y2 = layer.forward(x), layer.forward(channels_last(x))
    assert_same_bits(np.ascontiguousarray(y1), np.ascontiguousarray(y2))
    assert y1.transpose(0, 2, 3, 1).flags.c_contiguous  # the output is channels-last


def small_gan_losses(mode, steps=3):
    rng = np.random.default_rng(5)
    with kernels.use_kernels(mode):
        G = Generator(nz=8, ngf=8, image_size=16, rng=1)
        D = Discriminator(ndf=8, image_size=16, rng=2)
        opt_g, opt_d = optim.Adam(G), optim.Adam(D)
        losses = []
        for _ in range(steps):
            real = rng.uniform(-1, 1, (6, 3, 16, 16)).astype(np.float32)
            z = rng.standard_normal((6, 8)).astype(np.float32)
            result = train_step(G, D, opt_g, opt_d, real, z, real_label=0.9)
            losses.append([float(result.loss_d), float(result.loss_g)])
        return np.array(losses), G, D


def test_numba_and_reference_kernels_train_alike():
    """Three DCGAN steps: the same losses and weights to float32 rounding on both paths."""
    ours, G1, D1 = small_gan_losses("auto")
    theirs, G2, D2 = small_gan_losses("reference")
    np.testing.assert_allclose(ours, theirs, rtol=1e-5)
    for a, b in zip(list(G1.state_dict().values()) + list(D1.state_dict().values()),
                    list(G2.state_dict().values()) + list(D2.state_dict().values())):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
    again, _, _ = small_gan_losses("auto")
    np.testing.assert_array_equal(ours, again)  # deterministic
