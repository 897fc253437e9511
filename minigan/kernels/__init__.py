"""Kernel dispatch: one name per kernel, the implementation chosen by the array's device.

The layers call ``kernels.im2col_nhwc(x, ...)`` and never care which version runs:

* NumPy arrays use the numba kernels of :mod:`minigan.kernels.cpu` when numba is installed,
* CuPy arrays use the CUDA kernels of :mod:`minigan.kernels.gpu`,
* ``MINIGAN_KERNELS=reference`` (or :func:`use_kernels("reference") <use_kernels>`) forces the
  readable versions of :mod:`minigan.kernels.reference` on every device,
* and :func:`use_kernel_module` routes every call to one module of kernels, whatever the device
  (to test a backend, e.g. gpu.py's code compiled for the CPU, on arrays it is not chosen for).

Every kernel of every backend has the signature and the result of its reference version; the
tests compare them.
"""

from __future__ import annotations

import contextlib
import importlib
import os

from ..backend import get_array_module, normalize_device
from . import reference
from .reference import conv_output_size

# The kernels that have fast versions. Each backend module defines all of them. (reference.py
# also has the textbook NCHW im2col/col2im of chapter 2: oracles for the tests, never dispatched.)
KERNEL_NAMES = tuple(name for name in reference.__all__ if name not in ("conv_output_size", "im2col", "col2im"))

_MODES = ("auto", "reference")
_mode = os.environ.get("MINIGAN_KERNELS", "auto").strip().lower() or "auto"
if _mode not in _MODES:
    raise ValueError(f"MINIGAN_KERNELS={_mode!r}: use one of {', '.join(_MODES)}")

_fast_modules: dict[str, object] = {}
_override = None  # the module that serves every call inside use_kernel_module, or None


def kernel_mode() -> str:
    """``"auto"`` (fast kernels where available) or ``"reference"``."""
    return _mode


def set_kernel_mode(mode: str) -> None:
    """Choose ``"auto"`` or ``"reference"`` kernels for the rest of the process."""
    global _mode
    mode = mode.strip().lower()
    if mode not in _MODES:
        raise ValueError(f"unknown kernel mode {mode!r}: use one of {', '.join(_MODES)}")
    _mode = mode


@contextlib.contextmanager
def use_kernels(mode: str):
    """Context manager: run the enclosed code with ``"auto"`` or ``"reference"`` kernels."""
    previous = _mode
    set_kernel_mode(mode)
    try:
        yield
    finally:
        set_kernel_mode(previous)


@contextlib.contextmanager
def use_kernel_module(module):
    """Context manager: every kernel call in the enclosed code goes to ``module``, on every
    device and in either mode.

    ``module`` is any object with one function per name of :data:`KERNEL_NAMES`, each with the
    signature and the result of its reference version: :mod:`minigan.kernels.reference`,
    :mod:`minigan.kernels.cpu`, gpu.py imported against a stand-in CuPy, or a wrapper that
    records the calls. A module that lacks a kernel is refused before anything runs. Inside,
    :func:`backend_for` answers ``module``; the previous choice is restored on exit.

    >>> from minigan.kernels import reference
    >>> with use_kernel_module(reference):
    ...     backend_for("cpu") is reference
    True
    """
    global _override
    missing = [name for name in KERNEL_NAMES if not callable(getattr(module, name, None))]
    if missing:
        raise ValueError(f"{getattr(module, '__name__', module)!r} lacks the kernel(s) {', '.join(missing)}")
    previous = _override
    _override = module
    try:
        yield module
    finally:
        _override = previous


def _load(module_name: str):
    """Import ``minigan.kernels.<module_name>`` once; None if it cannot be used here."""
    if module_name not in _fast_modules:
        try:
            _fast_modules[module_name] = importlib.import_module(f"{__name__}.{module_name}")
        except ImportError:
            _fast_modules[module_name] = None
    return _fast_modules[module_name]


def backend_for(x):
    """The kernel module that serves arrays like ``x`` under the current mode.

    ``x`` is an array, or a device name (``"cpu"`` or ``"gpu"``): ``backend_for("gpu")`` is
    the module CuPy arrays would get, which is the reference where CuPy cannot be imported.
    """
    on_cpu = normalize_device(x) == "cpu" if isinstance(x, str) else get_array_module(x).__name__ == "numpy"
    if _override is not None:
        return _override
    if _mode == "reference":
        return reference
    module = _load("cpu" if on_cpu else "gpu")
    return module if module is not None else reference


def _pick(name: str, x):
    """The implementation of kernel ``name`` for arrays like ``x``."""
    return getattr(backend_for(x), name)


# One thin function per kernel, so that a reader finds each name here and its maths in
# reference.py. Each passes its arguments straight to the chosen implementation.


def im2col_nhwc(x, kh, kw, stride, padding, out=None):
    return _pick("im2col_nhwc", x)(x, kh, kw, stride, padding, out=out)


def col2im_nhwc(cols, x_shape, kh, kw, stride, padding):
    return _pick("col2im_nhwc", cols)(cols, x_shape, kh, kw, stride, padding)


def batch_norm_forward_train(x, gamma, beta, eps):
    return _pick("batch_norm_forward_train", x)(x, gamma, beta, eps)


def batch_norm_backward_train(dy, x, mean, inv_std, gamma):
    return _pick("batch_norm_backward_train", dy)(dy, x, mean, inv_std, gamma)


def leaky_relu_forward(x, negative_slope):
    return _pick("leaky_relu_forward", x)(x, negative_slope)


def leaky_relu_backward(dy, x, negative_slope):
    return _pick("leaky_relu_backward", dy)(dy, x, negative_slope)


def relu_forward(x):
    return _pick("relu_forward", x)(x)


def relu_backward(dy, mask):
    return _pick("relu_backward", dy)(dy, mask)


def adam_update(p, g, m, v, step_size, beta1, beta2, sqrt_bias2, eps):
    return _pick("adam_update", p)(p, g, m, v, step_size, beta1, beta2, sqrt_bias2, eps)


def ema_update(average, x, decay):
    return _pick("ema_update", average)(average, x, decay)


for _name in KERNEL_NAMES:  # the reference docstring documents each dispatcher
    globals()[_name].__doc__ = getattr(reference, _name).__doc__
del _name

__all__ = ["KERNEL_NAMES", "conv_output_size", "kernel_mode", "set_kernel_mode", "use_kernels",
           "use_kernel_module", "backend_for", *KERNEL_NAMES]
