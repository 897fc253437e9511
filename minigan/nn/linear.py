"""Fully connected layers and shape changes: Linear, Flatten, Reshape."""

from __future__ import annotations

import numpy as np

from .init import uniform_fan_in
from .layer import Layer

__all__ = ["Linear", "Flatten", "Reshape"]


class Linear(Layer):
    """``y = x @ W.T + b``.

    Shapes: ``x (N, in_features)``, ``W (out_features, in_features)`` (PyTorch's layout),
    ``b (out_features,)``, ``y (N, out_features)``.
    Backward: ``dx = dy @ W``, ``dW += dy.T @ x``, ``db += dy.sum(0)``.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True,
                 dtype=np.float32, rng=None):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        rng = np.random.default_rng(rng)
        self.add_param("W", uniform_fan_in(rng, (out_features, in_features), in_features, dtype))
        if bias:
            self.add_param("b", uniform_fan_in(rng, (out_features,), in_features, dtype))

    def forward(self, x):
        x = self._x = self.as_param_dtype(x)
        y = x @ self.params["W"].T  # (N, out)
        if "b" in self.params:
            y += self.params["b"]
        return y

    def backward(self, dy):
        dy = self.as_param_dtype(dy)
        if self.requires_grad:
            self.grads["W"] += dy.T @ self._x  # (out, in)
            if "b" in self.params:
                self.grads["b"] += dy.sum(axis=0)
        return dy @ self.params["W"]  # (N, in)

    def clear_cache(self):
        self._x = None

    def extra_repr(self):
        return f"{self.in_features}, {self.out_features}, bias={'b' in self.params}"


class Reshape(Layer):
    """Reshape every sample: ``(N, *in_shape) -> (N, *shape)``; backward reshapes back."""

    def __init__(self, *shape: int):
        super().__init__()
        self.shape = tuple(shape)

    def forward(self, x):
        self._in_shape = x.shape
        return x.reshape(x.shape[0], *self.shape)

    def backward(self, dy):
        return dy.reshape(self._in_shape)

    def extra_repr(self):
        return ", ".join(map(str, self.shape))


class Flatten(Reshape):
    """``(N, C, H, W) -> (N, C*H*W)``."""

    def __init__(self):
        super().__init__(-1)

    def extra_repr(self):
        return ""
