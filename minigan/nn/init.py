"""Weight initialisation.

:func:`uniform_fan_in` is every layer's default, PyTorch's: ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))``
for weights and biases (what ``kaiming_uniform_(a=sqrt(5))`` works out to). The DCGAN paper's
rule, ``N(0, 0.02)`` for every convolution weight, lives with the DCGAN in
:func:`minigan.models.dcgan.dcgan_init`.

It draws from a ``numpy.random.Generator`` so that a seed fixes every weight.
"""

from __future__ import annotations

import numpy as np

__all__ = ["uniform_fan_in"]


def uniform_fan_in(rng: np.random.Generator, shape, fan_in: int, dtype=np.float32):
    """An array of ``shape`` drawn from ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))``."""
    bound = 1.0 / np.sqrt(fan_in)
    return rng.uniform(-bound, bound, size=shape).astype(dtype)
