"""The numba kernels' own checks: dispatch, MINIGAN_KERNELS, life without numba, and the layers.

Each kernel of :mod:`minigan.kernels.cpu` against its readable twin, and training steps through
them, are in tests/test_fast_kernels.py, the same tests as for gpu.py. Here: what concerns numba
and the CPU alone, and the readable channels-last columns against the textbook ones.
"""

from __future__ import annotations

import types

import numpy as np
import pytest

pytest.importorskip("numba")

from minigan import kernels, nn  # noqa: E402
from minigan.kernels import cpu, reference  # noqa: E402
from minigan.nn import Conv2d, ConvTranspose2d  # noqa: E402

from .helpers import assert_same_bits, channels_last, run_python  # noqa: E402


# -- the channels-last columns --------------------------------------------------------------------


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


# -- dispatch -------------------------------------------------------------------------------------


def test_dispatch_picks_numba_for_numpy_arrays_and_reference_when_asked():
    x = np.zeros((1, 1, 2, 2), np.float32)
    with kernels.use_kernels("auto"):  # whatever MINIGAN_KERNELS says for the rest of the suite
        assert kernels.backend_for(x) is cpu
        with kernels.use_kernels("reference"):
            assert kernels.backend_for(x) is reference
        assert kernels.backend_for(x) is cpu
    for name in cpu.__all__:  # every fast kernel has a readable twin and a dispatcher
        assert hasattr(reference, name) and hasattr(kernels, name)


def test_a_device_name_asks_which_module_its_arrays_get():
    with kernels.use_kernels("auto"):
        assert kernels.backend_for("cpu") is cpu
        gpu_module = kernels.backend_for("cuda:0")  # gpu.py with a usable CuPy, else the reference
        assert gpu_module.__name__ in ("minigan.kernels.gpu", "minigan.kernels.reference")
        with kernels.use_kernels("reference"):
            assert kernels.backend_for("gpu") is reference
    for mode in ("auto", "reference"):  # a wrong name is an error in either mode
        with kernels.use_kernels(mode), pytest.raises(ValueError, match="use 'cpu' or 'gpu'"):
            kernels.backend_for("tpu")


def test_use_kernel_module_routes_every_kernel_whatever_the_mode_and_restores_the_choice(rng):
    """Every dispatcher calls the chosen module's kernel, for NumPy arrays, in either mode; the
    previous choice comes back on exit, also after an error; an incomplete module is refused."""
    calls = []

    def recorded(name):
        def kernel(*args, **kwargs):
            calls.append(name)
            return getattr(reference, name)(*args, **kwargs)
        return kernel

    module = types.SimpleNamespace(**{name: recorded(name) for name in kernels.KERNEL_NAMES})
    x = rng.standard_normal((2, 3, 4, 4)).astype(np.float32)
    with kernels.use_kernels("auto"):
        with kernels.use_kernel_module(module) as chosen:
            assert chosen is module and kernels.backend_for(x) is module and kernels.backend_for("gpu") is module
            with kernels.use_kernels("reference"):
                y, mask = kernels.relu_forward(x)
            assert_same_bits(y, reference.relu_forward(x)[0])
            nn.Conv2d(3, 2, 3, rng=0).forward(x)
        assert calls == ["relu_forward", "im2col_nhwc"]
        assert kernels.backend_for(x) is cpu
        with pytest.raises(RuntimeError, match="inside"):
            with kernels.use_kernel_module(module):
                raise RuntimeError("inside")
        assert kernels.backend_for(x) is cpu
        incomplete = types.SimpleNamespace(**{name: recorded(name) for name in kernels.KERNEL_NAMES[1:]})
        with pytest.raises(ValueError, match=f"lacks the kernel\\(s\\) {kernels.KERNEL_NAMES[0]}"):
            with kernels.use_kernel_module(incomplete):
                raise AssertionError("an incomplete module was used")
        assert kernels.backend_for(x) is cpu


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


# -- the layers -----------------------------------------------------------------------------------


@pytest.mark.parametrize("layer_class", [Conv2d, ConvTranspose2d])
def test_conv_layers_give_the_same_bits_for_either_input_layout(layer_class, rng):
    layer = layer_class(3, 5, 4, 2, 1, rng=rng)
    x = rng.standard_normal((2, 3, 6, 6)).astype(np.float32)
    y1, y2 = layer.forward(x), layer.forward(channels_last(x))
    assert_same_bits(np.ascontiguousarray(y1), np.ascontiguousarray(y2))
    assert y1.transpose(0, 2, 3, 1).flags.c_contiguous  # the output is channels-last
