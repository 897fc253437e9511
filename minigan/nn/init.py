"""Weight initialisation.

* :func:`uniform_fan_in` is every layer's default, PyTorch's: ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))``
  for weights and biases (what ``kaiming_uniform_(a=sqrt(5))`` works out to).
* :func:`dcgan_init` is the DCGAN paper's rule: every convolution weight ``N(0, 0.02)``,
  BatchNorm's ``gamma ~ N(1, 0.02)`` and ``beta = 0``.

Both draw from a ``numpy.random.Generator`` so that a seed fixes every weight.
"""

from __future__ import annotations

import numpy as np

from ..backend import device_of, to_device

__all__ = ["uniform_fan_in", "dcgan_init"]


def uniform_fan_in(rng: np.random.Generator, shape, fan_in: int, dtype=np.float32):
    """An array of ``shape`` drawn from ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))``."""
    bound = 1.0 / np.sqrt(fan_in)
    return rng.uniform(-bound, bound, size=shape).astype(dtype)


def dcgan_init(model, rng=None, std: float = 0.02):
    """Re-initialise ``model`` in place as the DCGAN paper does; returns ``model``.

    Convolutions and transposed convolutions: ``W ~ N(0, std)``, bias 0. BatchNorm:
    ``gamma ~ N(1, std)``, ``beta = 0``. The numbers are drawn on the CPU (so that a seed gives
    the same weights on every device) and copied into the existing arrays.
    """
    from .conv import Conv2d, ConvTranspose2d  # noqa: PLC0415 (conv imports this module)
    from .norm import BatchNorm2d  # noqa: PLC0415

    rng = np.random.default_rng(rng)

    def fill(layer, key, values):
        target = layer.params[key]
        target[...] = to_device(values.astype(target.dtype), device_of(target))

    for _, layer in model.named_layers():
        if isinstance(layer, (Conv2d, ConvTranspose2d)):
            fill(layer, "W", rng.normal(0.0, std, size=layer.params["W"].shape))
            if "b" in layer.params:
                layer.params["b"][...] = 0
        elif isinstance(layer, BatchNorm2d):
            fill(layer, "gamma", rng.normal(1.0, std, size=layer.params["gamma"].shape))
            layer.params["beta"][...] = 0
    return model
