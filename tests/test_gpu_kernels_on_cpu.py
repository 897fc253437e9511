"""The CuPy kernels of minigan/kernels/gpu.py, checked on a machine without a GPU: what concerns
gpu.py alone.

``tests/cupy_on_cpu.py`` stands in for CuPy: it compiles each kernel's CUDA C body for the CPU
(g++) and runs gpu.py's Python code on NumPy arrays. gpu.py's kernels against the reference
kernels (and against cpu.py, whose sums run in the same order), and training steps through them,
are in tests/test_fast_kernels.py, the same tests as for the numba kernels. Here: gpu.py defines the
same kernels with the reference signatures, and its bodies compile as CUDA device code with
nvcc. What only a GPU can show (CuPy's launches, its broadcasting, speed) is in
tests/test_gpu.py.

Also here: without CuPy, importing gpu.py fails with ImportError and the reference serves CuPy
arrays, so a CPU-only machine never breaks.
"""

from __future__ import annotations

import inspect
import subprocess

import numpy as np
import pytest

from minigan.kernels import cpu, reference

from . import cupy_on_cpu
from .cases import DTYPES
from .helpers import run_python

pytestmark = pytest.mark.skipif(not cupy_on_cpu.have_compiler(), reason="needs g++ to compile the kernels for the CPU")


@pytest.fixture(scope="module")
def gpu():
    """minigan.kernels.gpu imported against the stand-in CuPy."""
    return cupy_on_cpu.import_gpu_kernels()


# -- the module as a whole ---------------------------------------------------------------------------


def test_gpu_defines_the_fast_kernels_with_the_reference_signatures(gpu):
    assert gpu.__all__ == cpu.__all__  # the same kernels are fast on both devices
    for name in gpu.__all__:
        ours, theirs = getattr(gpu, name), getattr(reference, name)
        assert inspect.signature(ours) == inspect.signature(theirs), name
        assert f"reference.{name}" in ours.__doc__, f"{name}'s docstring names the reference it mirrors"


def test_without_cupy_the_gpu_module_raises_importerror_and_the_reference_serves():
    code = ("import sys; sys.modules['cupy'] = None\n"  # any 'import cupy' now raises ImportError
            "from minigan import kernels\n"
            "try:\n"
            "    import minigan.kernels.gpu\n"
            "except ImportError:\n"
            "    print('ImportError', end=' ')\n"
            "print(kernels.backend_for('gpu').__name__, 'cupy' in sys.modules and sys.modules['cupy'] is not None)")
    assert run_python(code) == "ImportError minigan.kernels.reference False"


def test_importing_minigan_never_imports_cupy():
    code = ("import sys\n"
            "import minigan, minigan.nn, minigan.kernels, minigan.train, minigan.gan, minigan.sampling\n"
            "import minigan.latent, minigan.metrics, minigan.models.classifier, minigan.data, minigan.cli, minigan.viz\n"
            "import numpy as np\n"
            "from minigan import kernels\n"
            "kernels.backend_for(np.zeros(1))\n"
            "print('cupy' in sys.modules)")
    assert run_python(code) == "False"


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
        gpu.ema_update(x.copy(), x, 0.9)
    kernel_objects = [v for v in vars(gpu).values() if isinstance(v, cupy_on_cpu._Kernel)]
    assert len(kernel_objects) == 14
    try:
        cupy_on_cpu.cuda_check(kernel_objects)
    except subprocess.CalledProcessError as exc:
        pytest.fail(f"nvcc rejected a kernel:\n{exc.stdout}\n{exc.stderr}")
