"""The case lists the tests share, defined once: devices, dtypes, layers, convolution
geometries, image shapes, and the tiny training configuration.

Layers are built by factories from fixed seeds, so that two calls give the same weights (a CPU
and a GPU copy, or a fresh layer per test).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pytest

from minigan import nn
from minigan.backend import gpu_available

#: ``GPU`` marks a test that only means something on a GPU (``pytestmark = GPU`` in
#: tests/test_gpu.py, which compares the GPU with the CPU): the ``gpu`` marker, and a skip when
#: CuPy cannot reach a GPU.
GPU = [pytest.mark.gpu, pytest.mark.skipif(not gpu_available(), reason="CuPy cannot reach a GPU")]
#: Parametrize a test over every device: ``@pytest.mark.parametrize("device", DEVICES)``. The GPU
#: case carries ``GPU``, so GPU tests are the same tests, never a copied file.
DEVICES = ["cpu", pytest.param("gpu", marks=GPU)]

#: Every layer works in float32 (training) and float64 (gradient checks).
DTYPES = [np.float32, np.float64]

#: (kernel, stride, padding) with the padding smaller than the kernel, as every layer uses:
#: kernel sizes 1, 3, 4; strides 1, 2; paddings 0, 1, 2.
GEOMETRIES = [g for g in itertools.product((1, 3, 4), (1, 2), (0, 1, 2)) if g[2] < g[0] or g[2] == 0]

#: (N, H, W, C) channels-last images for the kernels: batch 1, odd sizes, one channel, and a
#: DCGAN-like shape. None is smaller than the largest kernel of GEOMETRIES.
IMAGES = [(1, 5, 7, 3), (3, 6, 5, 1), (2, 8, 8, 16)]


@dataclass(frozen=True)
class LayerCase:
    """One layer and an input for it: ``make()`` builds the layer (the same weights every call),
    ``shape`` is the shape of its input."""

    name: str
    make: Callable[[], nn.Layer]
    shape: tuple
    kind: str = ""  # for the activations and reshapes (no parameters, any shape): which one

    def __repr__(self) -> str:
        return self.name


def _elementwise(name, make, shapes):
    return [LayerCase(f"{name}-{len(shape)}d", make, shape, kind=name) for shape in shapes]


#: One of each layer of minigan.nn, with the variants the networks use (bias-free DCGAN blocks,
#: the dense first and last layers, output padding) and every activation on 2-d and 4-d input.
LAYERS = [
    LayerCase("conv", lambda: nn.Conv2d(3, 5, 3, 2, 1, rng=0), (2, 3, 9, 9)),
    LayerCase("conv-dcgan", lambda: nn.Conv2d(16, 32, 4, 2, 1, bias=False, rng=0), (4, 16, 16, 16)),
    LayerCase("conv-dense", lambda: nn.Conv2d(32, 1, 4, 1, 0, bias=False, rng=0), (4, 32, 4, 4)),
    LayerCase("convT", lambda: nn.ConvTranspose2d(3, 5, 4, 2, 1, rng=0), (2, 3, 5, 5)),
    LayerCase("convT-dcgan", lambda: nn.ConvTranspose2d(32, 16, 4, 2, 1, bias=False, rng=0), (4, 32, 8, 8)),
    LayerCase("convT-dense", lambda: nn.ConvTranspose2d(20, 32, 4, 1, 0, bias=False, rng=0), (4, 20, 1, 1)),
    LayerCase("convT-outpad", lambda: nn.ConvTranspose2d(3, 4, 3, 2, 1, rng=0, output_padding=1), (2, 3, 4, 4)),
    LayerCase("batchnorm", lambda: nn.BatchNorm2d(6), (4, 6, 5, 5)),
    LayerCase("linear", lambda: nn.Linear(7, 3, rng=0), (5, 7)),
    LayerCase("diffaugment", lambda: nn.DiffAugment(rng=0), (4, 3, 16, 16)),
    *_elementwise("relu", nn.ReLU, [(1, 12), (3, 3, 2, 2)]),
    *_elementwise("leaky", nn.LeakyReLU, [(1, 12), (3, 3, 2, 2)]),  # the default slope, 0.01
    *_elementwise("leaky0.2", lambda: nn.LeakyReLU(0.2), [(1, 12), (3, 3, 2, 2)]),
    *_elementwise("tanh", nn.Tanh, [(1, 12), (3, 3, 2, 2)]),
    *_elementwise("sigmoid", nn.Sigmoid, [(1, 12), (3, 3, 2, 2)]),
    *_elementwise("flatten", nn.Flatten, [(1, 12), (3, 3, 2, 2)]),
    *_elementwise("reshape", lambda: nn.Reshape(6, 2), [(1, 12), (3, 3, 2, 2)]),
]

#: The activations and reshapes of LAYERS.
ELEMENTWISE_LAYERS = [case for case in LAYERS if case.kind]


def tiny_train_config(out, **overrides):
    """A TrainConfig for the 16x16 tiny idols (tests/conftest.py): 2 epochs of 4 steps of 8
    images, widths 4, two snapshots in the first epoch, a log line every 2 steps, weights
    saved every epoch; ``overrides`` replace any field."""
    from minigan.train import TrainConfig

    base = dict(out=str(out), name="run", epochs=2, batch_size=8, nz=8, ngf=4, ndf=4,
                first_epoch_samples=2, log_every=2, fooled_n=16, seed=3, save_every=1)
    return TrainConfig(**{**base, **overrides})
