"""Element-wise activations: ReLU, LeakyReLU, Tanh, Sigmoid.

Each keeps the smallest thing its derivative needs: a mask or the output, never a copy it does
not use. Shapes: any; ``y`` and ``dx`` have the shape and dtype of ``x``.
"""

from __future__ import annotations

from .. import kernels
from ..backend import get_array_module
from .layer import Layer

__all__ = ["ReLU", "LeakyReLU", "Tanh", "Sigmoid", "sigmoid"]


class ReLU(Layer):
    """``y = max(x, 0)``;  ``dx = dy * [x > 0]`` (keeps the boolean mask, one byte a value)."""

    def forward(self, x):
        y, self._mask = kernels.relu_forward(x)
        return y

    def backward(self, dy):
        return kernels.relu_backward(dy, self._mask)

    def clear_cache(self):
        self._mask = None


class LeakyReLU(Layer):
    """``y = x`` for ``x > 0``, ``negative_slope * x`` otherwise (DCGAN's D uses slope 0.2)."""

    def __init__(self, negative_slope: float = 0.01):
        super().__init__()
        self.negative_slope = float(negative_slope)

    def forward(self, x):
        self._x = x
        return kernels.leaky_relu_forward(x, self.negative_slope)

    def backward(self, dy):
        return kernels.leaky_relu_backward(dy, self._x, self.negative_slope)

    def clear_cache(self):
        self._x = None

    def extra_repr(self):
        return f"negative_slope={self.negative_slope}"


class Tanh(Layer):
    """``y = tanh(x)``;  ``dx = dy * (1 - y**2)`` (the generator's last layer, images in [-1, 1])."""

    def forward(self, x):
        xp = get_array_module(x)
        self._y = xp.tanh(x)
        return self._y

    def backward(self, dy):
        return dy * (1 - self._y * self._y)

    def clear_cache(self):
        self._y = None


def sigmoid(x):
    """``1 / (1 + exp(-x))`` without overflow for large ``|x|`` (exp only of ``-|x|``)."""
    xp = get_array_module(x)
    e = xp.exp(-xp.abs(x))  # in (0, 1]: never overflows
    return xp.where(x >= 0, 1 / (1 + e), e / (1 + e))


class Sigmoid(Layer):
    """``y = sigmoid(x)``;  ``dx = dy * y * (1 - y)``."""

    def forward(self, x):
        self._y = sigmoid(x)
        return self._y

    def backward(self, dy):
        return dy * self._y * (1 - self._y)

    def clear_cache(self):
        self._y = None
