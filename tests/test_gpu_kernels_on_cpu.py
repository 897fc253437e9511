"""The CuPy kernels of minigan/kernels/gpu.py, checked on a machine without a GPU.

``tests/cupy_on_cpu.py`` stands in for CuPy: it compiles each kernel's CUDA C body for the CPU
(g++) and runs gpu.py's Python code on NumPy arrays. So here gpu.py's index arithmetic, formulas
and wrappers are compared with the reference kernels (and with cpu.py, whose sums run in the
same order), and the bodies are compiled as CUDA device code with nvcc. What only a GPU can
show (CuPy's launches, its broadcasting, speed) is in tests/test_gpu.py.

Also here: without CuPy, importing gpu.py fails with ImportError and the reference serves CuPy
arrays, so a CPU-only machine never breaks.
"""

from __future__ import annotations

import importlib
import inspect
import itertools
import os
import subprocess
import sys

import numpy as np
import pytest

from minigan import kernels, optim
from minigan.gan import train_step
from minigan.kernels import cpu, reference
from minigan.models.dcgan import Discriminator, Generator

from . import cupy_on_cpu

pytestmark = pytest.mark.skipif(not cupy_on_cpu.have_compiler(), reason="needs g++ to compile the kernels for the CPU")

DTYPES = [np.float32, np.float64]
GEOMETRIES = [g for g in itertools.product((1, 3, 4), (1, 2), (0, 1, 2)) if g[2] < g[0] or g[2] == 0]
IMAGES = [(1, 5, 7, 3), (3, 6, 5, 1), (2, 8, 8, 16)]  # (N, H, W, C)


@pytest.fixture(scope="module")
def gpu():
    """minigan.kernels.gpu imported against the stand-in CuPy (removed again afterwards, so that
    the dispatcher never sees it)."""
    saved = {name: sys.modules.get(name) for name in ("cupy", "minigan.kernels.gpu")}
    sys.modules["cupy"] = cupy_on_cpu.stand_in_cupy()
    sys.modules.pop("minigan.kernels.gpu", None)
    try:
        module = importlib.import_module("minigan.kernels.gpu")
    finally:
        for name, value in saved.items():
            if value is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = value
        if hasattr(kernels, "gpu") and "minigan.kernels.gpu" not in sys.modules:
            delattr(kernels, "gpu")
    return module


def channels_last(x):
    return np.ascontiguousarray(x.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)


def assert_same_bits(a, b):
    assert a.dtype == b.dtype and a.shape == b.shape
    np.testing.assert_array_equal(a, b)


def assert_close(a, b, dtype):
    tol = 1e-6 if dtype == np.float32 else 1e-12
    assert a.dtype == b.dtype and a.shape == b.shape
    scale = max(float(np.max(np.abs(a))), 1e-30)
    assert float(np.max(np.abs(a - b))) <= tol * scale


# -- the module as a whole ---------------------------------------------------------------------------


def test_gpu_defines_the_fast_kernels_with_the_reference_signatures(gpu):
    assert gpu.__all__ == cpu.__all__  # the same kernels are fast on both devices
    for name in gpu.__all__:
        ours, theirs = getattr(gpu, name), getattr(reference, name)
        assert inspect.signature(ours) == inspect.signature(theirs), name
        assert f"reference.{name}" in ours.__doc__, f"{name}'s docstring names the reference it mirrors"


def run_python(code, **env):
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                          env={**os.environ, **env}).stdout.strip()


def test_without_cupy_the_gpu_module_raises_importerror_and_the_reference_serves():
    code = ("import sys; sys.modules['cupy'] = None\n"  # any 'import cupy' now raises ImportError
            "from minigan import kernels\n"
            "try:\n"
            "    import minigan.kernels.gpu\n"
            "except ImportError:\n"
            "    print('ImportError', end=' ')\n"
            "print(kernels._load('gpu'), 'cupy' in sys.modules and sys.modules['cupy'] is not None)")
    assert run_python(code) == "ImportError None False"


def test_importing_minigan_never_imports_cupy():
    code = ("import sys\n"
            "import minigan, minigan.nn, minigan.kernels, minigan.train, minigan.gan, minigan.sampling\n"
            "import minigan.latent, minigan.evaluate, minigan.data, minigan.cli\n"
            "import numpy as np\n"
            "from minigan import kernels\n"
            "kernels.backend_for(np.zeros(1))\n"
            "print('cupy' in sys.modules)")
    assert run_python(code) == "False"


# -- im2col / col2im --------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("shape", IMAGES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("k,s,p", GEOMETRIES, ids=lambda *a: None)
def test_im2col_and_col2im_equal_the_reference_bit_for_bit(gpu, k, s, p, shape, dtype, rng):
    n, h, w, c = shape
    if h + 2 * p < k or w + 2 * p < k:
        pytest.skip("kernel larger than the padded image")
    x = rng.standard_normal(shape).astype(dtype)
    cols = reference.im2col_nhwc(x, k, k, s, p)
    assert_same_bits(gpu.im2col_nhwc(x, k, k, s, p), cols)
    buffer = np.full_like(cols, np.nan)  # a reused buffer: every entry must be overwritten
    assert gpu.im2col_nhwc(x, k, k, s, p, out=buffer) is buffer
    assert_same_bits(buffer, cols)
    dcols = rng.standard_normal(cols.shape).astype(dtype)
    # a gather adding in the reference's order: the same bits, not just close
    assert_same_bits(gpu.col2im_nhwc(dcols, shape, k, k, s, p), reference.col2im_nhwc(dcols, shape, k, k, s, p))


def test_im2col_rejects_a_wrong_buffer(gpu):
    x = np.zeros((1, 4, 4, 2), np.float32)
    with pytest.raises(ValueError, match="C-contiguous"):
        gpu.im2col_nhwc(x, 3, 3, 1, 1, out=np.zeros((16, 17), np.float32))
    with pytest.raises(ValueError, match="expected"):
        gpu.col2im_nhwc(np.zeros((3, 18), np.float32), x.shape, 3, 3, 1, 1)


# -- batch normalisation -------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("layout", ["nchw", "channels_last"])
@pytest.mark.parametrize("shape", [(1, 3, 5, 7), (4, 20, 3, 3), (3, 2, 1, 1), (8, 6, 6, 6), (7, 3, 43, 1)],
                         ids=lambda s: "x".join(map(str, s)))
def test_batch_norm_equals_the_reference_and_cpu_formulas(gpu, shape, layout, dtype, rng):
    x = (rng.standard_normal(shape) * 3 + 2).astype(dtype)
    dy = rng.standard_normal(shape).astype(dtype)
    if layout == "channels_last":
        x, dy = channels_last(x), channels_last(dy)
    c = shape[1]
    gamma, beta = rng.uniform(0.5, 1.5, c).astype(dtype), rng.standard_normal(c).astype(dtype)
    # Up to 127 rows the sums are one group, added in row order as numba adds them: then equal bits
    # mean cpu.py's formulas, term for term. More rows are added group by group (other bits).
    one_group = shape[0] * shape[2] * shape[3] < 128
    same_as_cpu = assert_same_bits if one_group else lambda a, b: assert_close(a, b, dtype)
    ours = gpu.batch_norm_forward_train(x, gamma, beta, 1e-5)
    for a, b in zip(ours, reference.batch_norm_forward_train(x, gamma, beta, 1e-5)):
        assert_close(a, b, dtype)
    for a, b in zip(ours, cpu.batch_norm_forward_train(x, gamma, beta, 1e-5)):
        same_as_cpu(a, b)
    assert ours[0].transpose(0, 2, 3, 1).flags.c_contiguous  # y is channels-last, as on the CPU
    mean, inv_std = ours[1], ours[2]
    grads = gpu.batch_norm_backward_train(dy, x, mean, inv_std, gamma)
    for a, b in zip(grads, reference.batch_norm_backward_train(dy, x, mean, inv_std, gamma)):
        assert_close(a, b, dtype)
    for a, b in zip(grads, cpu.batch_norm_backward_train(dy, x, mean, inv_std, gamma)):
        same_as_cpu(a, b)
    for a, b in zip(ours + grads, gpu.batch_norm_forward_train(x, gamma, beta, 1e-5) +
                    gpu.batch_norm_backward_train(dy, x, mean, inv_std, gamma)):
        assert_same_bits(a, b)  # deterministic


# -- element-wise -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("layouts", [("nchw", "nchw"), ("channels_last", "channels_last"),
                                     ("channels_last", "nchw"), ("nchw", "channels_last")],
                         ids=lambda p: f"x-{p[0]}-dy-{p[1]}")
def test_activations_equal_the_reference_and_keep_the_layout(gpu, layouts, dtype, rng):
    x = rng.standard_normal((3, 5, 4, 7)).astype(dtype)
    x[0, 0, 0, :4] = [0.0, -0.0, np.inf, np.nan]
    dy = rng.standard_normal(x.shape).astype(dtype)
    x = channels_last(x) if layouts[0] == "channels_last" else x
    dy = channels_last(dy) if layouts[1] == "channels_last" else dy
    assert_same_bits(gpu.leaky_relu_forward(x, 0.2), reference.leaky_relu_forward(x, 0.2))
    assert_same_bits(gpu.leaky_relu_backward(dy, x, 0.2), reference.leaky_relu_backward(dy, x, 0.2))
    (y, mask), (y_ref, mask_ref) = gpu.relu_forward(x), reference.relu_forward(x)
    assert_same_bits(y, y_ref)
    assert_same_bits(mask, mask_ref)
    assert_same_bits(gpu.relu_backward(dy, mask), reference.relu_backward(dy, mask_ref))
    for out in (y, mask, gpu.leaky_relu_forward(x, 0.2), gpu.leaky_relu_backward(dy, x, 0.2)):
        assert out.strides == x.strides or out.dtype == np.bool_  # the layout of x is kept
    assert gpu.relu_backward(dy, mask).strides == x.strides


@pytest.mark.parametrize("shape", [(2, 5), (7,), (3, 4, 1, 1)])
def test_activations_take_any_shape_and_non_contiguous_views(gpu, shape, rng):
    x = rng.standard_normal(shape).astype(np.float32)
    dy = rng.standard_normal(shape).astype(np.float32)
    view = np.repeat(x, 2, axis=-1)[..., ::2]  # non-contiguous, same values as x
    for arr in (x, view):
        assert_same_bits(gpu.leaky_relu_forward(arr, 0.2), reference.leaky_relu_forward(x, 0.2))
        assert_same_bits(gpu.leaky_relu_backward(dy, arr, 0.2), reference.leaky_relu_backward(dy, x, 0.2))
        assert_same_bits(gpu.relu_backward(dy, gpu.relu_forward(arr)[1]), reference.relu_backward(dy, x > 0))


# -- Adam -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("shape", [(7,), (3, 1000), (64, 3, 4, 4)], ids=lambda s: "x".join(map(str, s)))
def test_adam_update_equals_the_reference_bit_for_bit(gpu, shape, dtype, rng):
    p, g, m = (rng.standard_normal(shape).astype(dtype) for _ in range(3))
    v = np.abs(rng.standard_normal(shape)).astype(dtype)
    ours = [a.copy() for a in (p, g, m, v)]
    theirs = [a.copy() for a in (p, g, m, v)]
    for t in (1, 2, 3):
        args = (2e-4 / (1 - 0.5**t), 0.5, 0.999, (1 - 0.999**t) ** 0.5, 1e-8)
        gpu.adam_update(*ours, *args)
        reference.adam_update(*theirs, *args)
    for a, b in zip(ours, theirs):
        assert_same_bits(a, b)


# -- the layers and training steps on gpu.py ----------------------------------------------------------------


def gan_losses(pick, steps=3):
    rng = np.random.default_rng(5)
    G, D = Generator(nz=8, ngf=8, image_size=16, rng=1), Discriminator(ndf=8, image_size=16, rng=2)
    opt_g, opt_d = optim.Adam(G), optim.Adam(D)
    losses = []
    original = kernels._pick
    kernels._pick = pick
    try:
        for _ in range(steps):
            real = rng.uniform(-1, 1, (6, 3, 16, 16)).astype(np.float32)
            z = rng.standard_normal((6, 8)).astype(np.float32)
            result = train_step(G, D, opt_g, opt_d, real, z, real_label=0.9)
            losses.append([float(result.loss_d), float(result.loss_g)])
    finally:
        kernels._pick = original
    return np.array(losses), {**G.state_dict(), **{f"D.{k}": v for k, v in D.state_dict().items()}}


def test_training_steps_through_gpu_kernels_equal_the_numba_ones(gpu):
    """Three DCGAN steps with every kernel call routed to gpu.py (its CUDA C compiled for the
    CPU): the same losses and weights as with the numba kernels."""
    used = set()

    def through_gpu(name, x):
        used.add(name)
        return getattr(gpu, name, None) or getattr(reference, name)

    ours, ours_w = gan_losses(through_gpu)
    theirs, theirs_w = gan_losses(lambda name, x: getattr(cpu, name, None) or getattr(reference, name))
    assert used >= {"im2col_nhwc", "col2im_nhwc", "batch_norm_forward_train", "batch_norm_backward_train",
                    "relu_forward", "relu_backward", "leaky_relu_forward", "leaky_relu_backward", "adam_update"}
    np.testing.assert_allclose(ours, theirs, rtol=1e-6)
    for k in ours_w:
        np.testing.assert_allclose(ours_w[k], theirs_w[k], rtol=1e-5, atol=1e-7, err_msg=k)


# -- the CUDA C compiles as device code ------------------------------------------------------------------------


@pytest.mark.skipif(not cupy_on_cpu.have_nvcc(), reason="nvcc (the CUDA toolkit) is not installed")
def test_every_kernel_body_compiles_as_cuda_device_code(gpu, rng):
    """nvcc (not NVRTC, which CuPy uses, but the same device compiler) accepts every kernel's body
    for float32 and float64, with --fmad=false."""
    for dtype in DTYPES:  # run each kernel once per dtype, so that its sources exist
        x = rng.standard_normal((2, 3, 4, 4)).astype(dtype)
        gpu.col2im_nhwc(gpu.im2col_nhwc(np.ascontiguousarray(x.transpose(0, 2, 3, 1)), 3, 3, 1, 1), (2, 4, 4, 3), 3, 3, 1, 1)
        _, mean, inv_std, _ = gpu.batch_norm_forward_train(x, np.ones(3, dtype), np.zeros(3, dtype), 1e-5)
        gpu.batch_norm_backward_train(x, x, mean, inv_std, np.ones(3, dtype))
        gpu.leaky_relu_backward(x, gpu.leaky_relu_forward(x, 0.2), 0.2)
        gpu.relu_backward(x, gpu.relu_forward(x)[1])
        gpu.adam_update(*(x.copy() for _ in range(3)), np.abs(x), 1e-3, 0.5, 0.999, 0.1, 1e-8)
    kernel_objects = [v for v in vars(gpu).values() if isinstance(v, cupy_on_cpu._Kernel)]
    assert len(kernel_objects) == 13
    try:
        cupy_on_cpu.cuda_check(kernel_objects)
    except subprocess.CalledProcessError as exc:
        pytest.fail(f"nvcc rejected a kernel:\n{exc.stdout}\n{exc.stderr}")
