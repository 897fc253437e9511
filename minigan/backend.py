"""Devices: which array library holds an array, and moving arrays between them.

minigan's array code never names NumPy or CuPy directly on the hot path. It asks

    xp = get_array_module(x)

and then writes ``xp.zeros``, ``xp.matmul`` ... so that the same function runs on a CPU
(NumPy arrays) and on an NVIDIA GPU (CuPy arrays). CuPy is optional: it is imported only when
a GPU is asked for, and asking for one without a working CuPy raises :class:`DeviceError` with
the command that installs it.

Devices are named ``"cpu"`` and ``"gpu"`` (``"cuda"`` is accepted as a synonym of ``"gpu"``).
"""

from __future__ import annotations

import numpy as np

from .errors import DeviceError

__all__ = [
    "DeviceError",
    "get_array_module",
    "get_cupy",
    "gpu_available",
    "normalize_device",
    "device_of",
    "to_device",
    "to_numpy",
]

INSTALL_HINT = (
    'install CuPy for your CUDA version, for example  pip install -e ".[cuda12]"  '
    '(cupy-cuda12x) or  pip install -e ".[cuda13]"  (cupy-cuda13x), on a machine with an '
    "NVIDIA GPU and its driver"
)


_cupy = None  # the imported cupy module, once a GPU has been asked for and found working
_cupy_error: str | None = None  # why it could not be used, once that is known


def get_cupy():
    """Import CuPy and check that it can reach a GPU; raise :class:`DeviceError` if not.

    The result is cached, so only the first call pays for the import and the device query.
    """
    global _cupy, _cupy_error
    if _cupy is not None:
        return _cupy
    if _cupy_error is None:
        try:
            import cupy  # noqa: PLC0415 (optional dependency, imported on demand)
        except Exception as exc:  # ImportError, or a broken CUDA install raising on import
            _cupy_error = f"CuPy is not installed or failed to import ({exc.__class__.__name__}: {exc})"
        else:
            try:
                count = cupy.cuda.runtime.getDeviceCount()
            except Exception as exc:
                _cupy_error = f"CuPy is installed but cannot reach a CUDA device ({exc})"
            else:
                if count < 1:
                    _cupy_error = "CuPy is installed but no CUDA device is visible"
                else:
                    _cupy = cupy
                    return cupy
    raise DeviceError(f"device gpu needs a working CuPy: {_cupy_error}. To fix: {INSTALL_HINT}.", argument="device")


def gpu_available() -> bool:
    """True when CuPy imports and sees at least one CUDA device."""
    try:
        get_cupy()
    except DeviceError:
        return False
    return True


def normalize_device(device: str) -> str:
    """Return ``"cpu"`` or ``"gpu"`` for a user's device name; raise :class:`DeviceError` (a
    ValueError) otherwise."""
    name = str(device).strip().lower()
    if name in ("cpu", "numpy"):
        return "cpu"
    if name in ("gpu", "cuda", "cupy") or name.startswith("cuda:"):
        return "gpu"
    raise DeviceError(f"device {device!r} is unknown: use 'cpu' or 'gpu'", argument="device")


def get_array_module(*arrays):
    """Return the array module (``numpy`` or ``cupy``) that holds ``arrays``.

    Anything that is not a CuPy array (NumPy arrays, Python scalars, None) counts as NumPy, so
    CuPy is never imported just to answer this question.
    """
    if _cupy is not None:
        for a in arrays:
            if isinstance(a, _cupy.ndarray):
                return _cupy
    return np


def device_of(x) -> str:
    """``"gpu"`` for a CuPy array, ``"cpu"`` for anything else."""
    return "gpu" if get_array_module(x) is not np else "cpu"


def to_device(x, device: str):
    """Return ``x`` as an array on ``device`` (``"cpu"`` or ``"gpu"``), copying only if needed."""
    if normalize_device(device) == "cpu":
        return to_numpy(x)
    cp = get_cupy()
    return cp.asarray(x)


def to_numpy(x):
    """Return ``x`` as a NumPy array (a device-to-host copy for CuPy arrays)."""
    if _cupy is not None and isinstance(x, _cupy.ndarray):
        return _cupy.asnumpy(x)
    return np.asarray(x)
