"""Batch normalisation over the channels of an image batch.

Training mode normalises each channel with the mean and variance of the current batch (over
``N, H, W``) and keeps exponential running averages of them; evaluation mode uses the running
averages instead, so that an image's output does not depend on the rest of its batch. The
bookkeeping follows PyTorch exactly: ``running = (1 - momentum) * running + momentum * batch``
with the *unbiased* batch variance (``M / (M - 1)`` times the biased one used to normalise).
The maths of both passes is in :func:`minigan.kernels.reference.batch_norm_forward_train` and
:func:`~minigan.kernels.reference.batch_norm_backward_train`.
"""

from __future__ import annotations

import numpy as np

from .. import kernels
from ..backend import get_array_module
from .layer import Layer

__all__ = ["BatchNorm2d"]


class BatchNorm2d(Layer):
    """``y = gamma * (x - mean) / sqrt(var + eps) + beta`` per channel; ``x, y (N, C, H, W)``.

    Parameters ``gamma``, ``beta`` ``(C,)``; buffers ``running_mean``, ``running_var`` ``(C,)``.
    """

    buffers = ("running_mean", "running_var")

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float = 0.1,
                 dtype=np.float32):
        super().__init__()
        self.num_features, self.eps, self.momentum = int(num_features), float(eps), float(momentum)
        self.add_param("gamma", np.ones(num_features, dtype=dtype))
        self.add_param("beta", np.zeros(num_features, dtype=dtype))
        self.running_mean = np.zeros(num_features, dtype=dtype)
        self.running_var = np.ones(num_features, dtype=dtype)

    def forward(self, x):
        if x.ndim != 4 or x.shape[1] != self.num_features:
            raise ValueError(f"BatchNorm2d({self.num_features}) expects (N, {self.num_features}, H, W), got {x.shape}")
        x = self.as_param_dtype(x, "gamma")
        gamma, beta = self.params["gamma"], self.params["beta"]
        if self.training:
            m = x.size // x.shape[1]  # values per channel
            if m < 2:
                raise ValueError("BatchNorm2d in training mode needs more than one value per channel "
                                 f"(got input of shape {x.shape}); use eval mode for a single 1x1 sample")
            y, mean, inv_std, var = kernels.batch_norm_forward_train(x, gamma, beta, self.eps)
            mom = self.momentum
            self.running_mean *= 1 - mom
            self.running_mean += mom * mean
            self.running_var *= 1 - mom
            self.running_var += (mom * m / (m - 1)) * var  # unbiased, as PyTorch
            self._cache = ("train", x, mean, inv_std)
            return y
        xp = get_array_module(x)
        inv_std = 1 / xp.sqrt(self.running_var + self.eps)  # (C,)
        scale = gamma * inv_std  # (C,)
        y = x * scale[None, :, None, None] + (beta - self.running_mean * scale)[None, :, None, None]
        self._cache = ("eval", x, self.running_mean.copy(), inv_std)
        return y

    def backward(self, dy):
        mode, x, mean, inv_std = self._cache
        gamma = self.params["gamma"]
        dy = self.as_param_dtype(dy, "gamma")
        if mode == "train":
            dx, dgamma, dbeta = kernels.batch_norm_backward_train(dy, x, mean, inv_std, gamma)
        else:  # a fixed affine map per channel
            dx = dy * (gamma * inv_std)[None, :, None, None]
            if self.requires_grad:
                xhat = (x - mean[None, :, None, None]) * inv_std[None, :, None, None]
                dgamma, dbeta = (dy * xhat).sum(axis=(0, 2, 3)), dy.sum(axis=(0, 2, 3))
        if self.requires_grad:
            self.grads["gamma"] += dgamma
            self.grads["beta"] += dbeta
        return dx

    def clear_cache(self):
        self._cache = None

    def extra_repr(self):
        return f"{self.num_features}, eps={self.eps}, momentum={self.momentum}"
