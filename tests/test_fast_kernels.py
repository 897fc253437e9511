"""The fast kernels against their readable twins, each check written once for both fast modules.

``fast`` is :mod:`minigan.kernels.cpu` (numba) or :mod:`minigan.kernels.gpu` run on the CPU,
its CUDA C compiled with g++ through the CuPy stand-in of ``tests/cupy_on_cpu.py``. Every
kernel must give the reference's bits (element-wise kernels, im2col/col2im, Adam) or agree to
float rounding (batch norm, whose float64 sums are more exact than NumPy's float32 ones), on
odd shapes, both dtypes and both memory layouts, and give the same bits twice; three training
steps through it must agree with the reference's. Where gpu.py must also equal numba (batch
norm, training), the test says so.

Checks of one module alone: tests/test_kernels_cpu.py (numba, dispatch), and
tests/test_gpu_kernels_on_cpu.py (gpu.py's signatures, no CuPy, nvcc). On a real GPU:
tests/test_gpu.py.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from minigan import kernels, optim
from minigan.gan import train_step
from minigan.kernels import reference
from minigan.models.dcgan import Discriminator, Generator

from . import cupy_on_cpu
from .cases import DTYPES, GEOMETRIES, IMAGES
from .helpers import assert_close, assert_same_bits, channels_last


def numba_kernels():
    """:mod:`minigan.kernels.cpu`; the test is skipped where numba is not installed."""
    pytest.importorskip("numba")
    from minigan.kernels import cpu

    return cpu


FAST_KERNELS = {"numba": numba_kernels, "gpu-on-cpu": cupy_on_cpu.import_gpu_kernels}
NEEDS_GXX = pytest.mark.skipif(not cupy_on_cpu.have_compiler(), reason="needs g++ to compile gpu.py's kernels for the CPU")


@pytest.fixture(scope="module", params=["numba", pytest.param("gpu-on-cpu", marks=NEEDS_GXX)])
def fast(request):
    """A module of fast kernels: cpu.py (numba), or gpu.py with its CUDA C compiled for the CPU."""
    return FAST_KERNELS[request.param]()


# -- im2col / col2im ------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("shape", IMAGES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("k,s,p", GEOMETRIES, ids=lambda *a: None)
def test_im2col_and_col2im_equal_the_reference_bit_for_bit(fast, k, s, p, shape, dtype, rng):
    x = rng.standard_normal(shape).astype(dtype)
    cols = reference.im2col_nhwc(x, k, k, s, p)
    assert_same_bits(fast.im2col_nhwc(x, k, k, s, p), cols)
    buffer = np.full_like(cols, np.nan)  # a reused buffer: every entry must be overwritten
    assert fast.im2col_nhwc(x, k, k, s, p, out=buffer) is buffer
    assert_same_bits(buffer, cols)
    dcols = rng.standard_normal(cols.shape).astype(dtype)
    dx = fast.col2im_nhwc(dcols, shape, k, k, s, p)
    # a gather adding in the reference's order: the same bits, not just close
    assert_same_bits(dx, reference.col2im_nhwc(dcols, shape, k, k, s, p))
    assert_same_bits(dx, fast.col2im_nhwc(dcols, shape, k, k, s, p))  # deterministic


def test_im2col_rejects_a_wrong_buffer(fast):
    x = np.zeros((1, 4, 4, 2), np.float32)
    with pytest.raises(ValueError, match="C-contiguous"):
        fast.im2col_nhwc(x, 3, 3, 1, 1, out=np.zeros((16, 17), np.float32))
    with pytest.raises(ValueError, match="expected"):
        fast.col2im_nhwc(np.zeros((3, 18), np.float32), x.shape, 3, 3, 1, 1)


# -- batch normalisation ------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("layout", ["nchw", "channels_last"])
@pytest.mark.parametrize("shape", [(1, 3, 5, 7), (4, 20, 3, 3), (3, 2, 1, 1), (8, 6, 6, 6), (7, 3, 43, 1)],
                         ids=lambda s: "x".join(map(str, s)))
def test_batch_norm_equals_the_reference(fast, shape, layout, dtype, rng):
    x = (rng.standard_normal(shape) * 3 + 2).astype(dtype)
    dy = rng.standard_normal(shape).astype(dtype)
    if layout == "channels_last":
        x, dy = channels_last(x), channels_last(dy)
    c = shape[1]
    gamma, beta = rng.uniform(0.5, 1.5, c).astype(dtype), rng.standard_normal(c).astype(dtype)
    ours = fast.batch_norm_forward_train(x, gamma, beta, 1e-5)
    theirs = reference.batch_norm_forward_train(x, gamma, beta, 1e-5)
    for a, b in zip(ours, theirs):
        assert_close(a, b)
    assert ours[0].transpose(0, 2, 3, 1).flags.c_contiguous  # y is channels-last, whatever x's layout
    mean, inv_std = theirs[1], theirs[2]
    grads = fast.batch_norm_backward_train(dy, x, mean, inv_std, gamma)
    for a, b in zip(grads, reference.batch_norm_backward_train(dy, x, mean, inv_std, gamma)):
        assert_close(a, b)
    for a, b in zip(ours + grads, fast.batch_norm_forward_train(x, gamma, beta, 1e-5) +
                    fast.batch_norm_backward_train(dy, x, mean, inv_std, gamma)):
        assert_same_bits(a, b)  # deterministic
    numba = numba_kernels()
    if fast is not numba:
        # gpu.py adds a channel's rows in groups of 128, each group in row order as numba adds them:
        # up to 127 rows equal bits mean cpu.py's formulas, term for term; more rows, other bits.
        one_group = shape[0] * shape[2] * shape[3] < 128
        same_as_numba = assert_same_bits if one_group else assert_close
        for a, b in zip(ours + grads, numba.batch_norm_forward_train(x, gamma, beta, 1e-5) +
                        numba.batch_norm_backward_train(dy, x, mean, inv_std, gamma)):
            same_as_numba(a, b)


# -- element-wise ---------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("layouts", [("nchw", "nchw"), ("channels_last", "channels_last"),
                                     ("channels_last", "nchw"), ("nchw", "channels_last")],
                         ids=lambda p: f"x-{p[0]}-dy-{p[1]}")
def test_activations_equal_the_reference_and_keep_the_layout(fast, layouts, dtype, rng):
    x = rng.standard_normal((3, 5, 4, 7)).astype(dtype)
    x[0, 0, 0, :4] = [0.0, -0.0, np.inf, np.nan]
    dy = rng.standard_normal(x.shape).astype(dtype)
    x = channels_last(x) if layouts[0] == "channels_last" else x
    dy = channels_last(dy) if layouts[1] == "channels_last" else dy
    assert_same_bits(fast.leaky_relu_forward(x, 0.2), reference.leaky_relu_forward(x, 0.2))
    assert_same_bits(fast.leaky_relu_backward(dy, x, 0.2), reference.leaky_relu_backward(dy, x, 0.2))
    (y, mask), (y_ref, mask_ref) = fast.relu_forward(x), reference.relu_forward(x)
    assert_same_bits(y, y_ref)
    assert_same_bits(mask, mask_ref)
    assert_same_bits(fast.relu_backward(dy, mask), reference.relu_backward(dy, mask_ref))
    for out in (y, mask, fast.leaky_relu_forward(x, 0.2), fast.leaky_relu_backward(dy, x, 0.2)):
        assert out.strides == x.strides or out.dtype == np.bool_  # the layout of x is kept
    assert fast.relu_backward(dy, mask).strides == x.strides


@pytest.mark.parametrize("shape", [(3, 4, 1, 1), (1, 3, 1, 5), (2, 1, 3, 3)], ids=lambda s: "x".join(map(str, s)))
def test_activations_with_unit_axes_in_either_layout(fast, shape, rng):
    """Size-1 axes make an array both C-contiguous and channels-last: orders must still pair."""
    x = rng.standard_normal(shape).astype(np.float32)
    dy = rng.standard_normal(shape).astype(np.float32)
    for a, b in itertools.product((x, channels_last(x)), (dy, channels_last(dy))):
        assert_same_bits(fast.leaky_relu_backward(b, a, 0.2), reference.leaky_relu_backward(dy, x, 0.2))
        assert_same_bits(fast.relu_backward(b, fast.relu_forward(a)[1]), reference.relu_backward(dy, x > 0))


@pytest.mark.parametrize("shape", [(2, 5), (7,), (3, 4, 5), (3, 4, 1, 1)])
def test_activations_take_any_shape_and_non_contiguous_views(fast, shape, rng):
    x = rng.standard_normal(shape).astype(np.float32)
    dy = rng.standard_normal(shape).astype(np.float32)
    view = np.repeat(x, 2, axis=-1)[..., ::2]  # non-contiguous, same values as x
    for arr in (x, view):
        assert_same_bits(fast.leaky_relu_forward(arr, 0.2), reference.leaky_relu_forward(x, 0.2))
        assert_same_bits(fast.leaky_relu_backward(dy, arr, 0.2), reference.leaky_relu_backward(dy, x, 0.2))
        assert_same_bits(fast.relu_backward(dy, fast.relu_forward(arr)[1]), reference.relu_backward(dy, x > 0))


# -- Adam -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("shape", [(7,), (3, 1000), (64, 3, 4, 4)], ids=lambda s: "x".join(map(str, s)))
def test_adam_update_equals_the_reference_bit_for_bit(fast, shape, dtype, rng):
    p, g, m = (rng.standard_normal(shape).astype(dtype) for _ in range(3))
    v = np.abs(rng.standard_normal(shape)).astype(dtype)
    ours = [a.copy() for a in (p, g, m, v)]
    theirs = [a.copy() for a in (p, g, m, v)]
    for t in (1, 2, 3):  # three steps: the moments carry over
        args = (2e-4 / (1 - 0.5**t), 0.5, 0.999, (1 - 0.999**t) ** 0.5, 1e-8)
        fast.adam_update(*ours, *args)
        reference.adam_update(*theirs, *args)
    for a, b in zip(ours, theirs):
        assert_same_bits(a, b)


# -- training steps ---------------------------------------------------------------------------------


class Recording:
    """``module``'s kernels, each noting its name in ``served`` when it is called."""

    def __init__(self, module):
        self.module, self.served = module, set()

    def __getattr__(self, name):
        kernel = getattr(self.module, name)

        def call(*args, **kwargs):
            self.served.add(name)
            return kernel(*args, **kwargs)

        return call


def three_training_steps(module):
    """Three small DCGAN steps with every kernel call served by ``module``: the losses, the
    weights, and the kernels that were called."""
    rng = np.random.default_rng(5)
    G, D = Generator(nz=8, ngf=8, image_size=16, rng=1), Discriminator(ndf=8, image_size=16, rng=2)
    opt_g, opt_d = optim.Adam(G), optim.Adam(D)
    losses = []
    with kernels.use_kernel_module(Recording(module)) as recording:
        for _ in range(3):
            real = rng.uniform(-1, 1, (6, 3, 16, 16)).astype(np.float32)
            z = rng.standard_normal((6, 8)).astype(np.float32)
            result = train_step(G, D, opt_g, opt_d, real, z, real_label=0.9)
            losses.append([float(result.loss_d), float(result.loss_g)])
    weights = {**G.state_dict(), **{f"D.{k}": v for k, v in D.state_dict().items()}}
    return np.array(losses), weights, recording.served


@pytest.fixture(scope="module")
def reference_steps():
    return three_training_steps(reference)


def test_training_steps_through_the_fast_kernels_agree_with_the_reference(fast, reference_steps):
    """Three DCGAN steps with every kernel call routed to ``fast``: every fast kernel runs, the
    losses and weights are the reference's to float32 rounding, and the same bits twice."""
    losses, weights, served = three_training_steps(fast)
    assert served == set(kernels.KERNEL_NAMES) - {"ema_update"}  # the average is the trainer's, not part of a step
    reference_losses, reference_weights, _ = reference_steps
    np.testing.assert_allclose(losses, reference_losses, rtol=1e-5)
    for k in weights:
        np.testing.assert_allclose(weights[k], reference_weights[k], rtol=1e-4, atol=1e-6, err_msg=k)
    np.testing.assert_array_equal(losses, three_training_steps(fast)[0])  # deterministic
    numba = numba_kernels()
    if fast is not numba:  # gpu.py's sums run in numba's order: closer to numba than to the reference
        numba_losses, numba_weights, _ = three_training_steps(numba)
        np.testing.assert_allclose(losses, numba_losses, rtol=1e-6)
        for k in weights:
            np.testing.assert_allclose(weights[k], numba_weights[k], rtol=1e-5, atol=1e-7, err_msg=k)
