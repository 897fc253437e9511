"""Shared fixtures: devices (CPU always; GPU when CuPy reaches one) and seeded generators."""

from __future__ import annotations

import numpy as np
import pytest

from minigan.backend import gpu_available

_GPU = gpu_available()

#: Parametrize a test over every device: ``@pytest.mark.parametrize("device", DEVICES)``.
#: The GPU case carries the ``gpu`` marker and is skipped when no GPU is usable, so GPU tests
#: are the same tests, never a copied file.
GPU = [pytest.mark.gpu, pytest.mark.skipif(not _GPU, reason="CuPy cannot reach a GPU")]
DEVICES = ["cpu", pytest.param("gpu", marks=GPU)]
#: ``GPU`` alone marks a test that only means something on a GPU (``pytestmark = GPU``):
#: tests/test_gpu.py, which compares the GPU with the CPU.


@pytest.fixture
def rng():
    return np.random.default_rng(1234)
