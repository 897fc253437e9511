"""Devices: NumPy by default; a clear error, with the install command, when CuPy is missing."""

from __future__ import annotations

import numpy as np
import pytest

from minigan import backend
from minigan.errors import DeviceError, MiniganError


def test_numpy_is_the_default():
    x = np.zeros(3)
    assert backend.get_array_module(x) is np
    assert backend.get_array_module(1.0, None) is np
    assert backend.to_numpy(x) is x or np.shares_memory(backend.to_numpy(x), x)
    assert backend.to_device(x, "cpu") is x
    assert backend.device_of(x) == "cpu"


@pytest.mark.parametrize("name,expected", [("cpu", "cpu"), ("GPU", "gpu"), ("cuda", "gpu"), ("cuda:0", "gpu")])
def test_device_names(name, expected):
    assert backend.normalize_device(name) == expected


def test_unknown_device_name():
    with pytest.raises(ValueError, match="use 'cpu' or 'gpu'"):
        backend.normalize_device("tpu")


@pytest.mark.skipif(backend.gpu_available(), reason="a GPU is available here")
def test_gpu_without_cupy_says_how_to_install():
    with pytest.raises(DeviceError, match=r'pip install -e "\.\[cuda12\]"') as info:
        backend.to_device(np.zeros(2), "gpu")
    assert isinstance(info.value, MiniganError)
    assert "the GPU (--device gpu) needs a working CuPy" in str(info.value)
