"""Batch normalisation over the channels of an image batch.

Training mode normalises each channel with the mean and variance of the current batch (over
``N, H, W``) and keeps exponential running averages of them; evaluation mode uses the running
averages instead, so that an image's output does not depend on the rest of its batch. The
bookkeeping follows PyTorch exactly: ``running = (1 - momentum) * running + momentum * batch``
with the *unbiased* batch variance (``M / (M - 1)`` times the biased one used to normalise).
The maths of both passes is in :func:`minigan.kernels.reference.batch_norm_forward_train` and
:func:`~minigan.kernels.reference.batch_norm_backward_train`.

:class:`ConditionalBatchNorm2d` is class-conditional batch norm (de Vries et al. 2017, Dumoulin
et al. 2017, BigGAN): the same normalisation, with a scale and shift per image that depend on a
condition vector ``c (N, K)``, the labels' one-hots::

    xhat            = (x - mean) / sqrt(var + eps)             as BatchNorm2d, per channel
    gamma_n, beta_n = gamma + c[n] @ Wg,  beta + c[n] @ Wb      (N, C): a learned row per class
    y[n]            = gamma_n * xhat[n] + beta_n

and its backward pass, with sums over the ``H, W`` positions of one image::

    dgamma_n = sum(dy[n] * xhat[n]),   dbeta_n = sum(dy[n])     (N, C)
    dWg = c.T @ dgamma_n,  dWb = c.T @ dbeta_n,  dgamma = sum_n dgamma_n,  dbeta = sum_n dbeta_n
    dc  = dgamma_n @ Wg.T + dbeta_n @ Wb.T
    dx  = BatchNorm2d's dx for an upstream gradient dy * gamma_n and a scale of 1

``Wg`` and ``Wb`` start at zero, so an untrained layer is a plain BatchNorm2d.
"""

from __future__ import annotations

import numpy as np

from .. import kernels
from ..backend import get_array_module
from .layer import Layer

__all__ = ["BatchNorm2d", "ConditionalBatchNorm2d"]


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
            m = self._check_batch(x)  # values per channel
            y, mean, inv_std, var = kernels.batch_norm_forward_train(x, gamma, beta, self.eps)
            self._update_running(mean, var, m)
            self._cache = ("train", x, mean, inv_std)
            return y
        xp = get_array_module(x)
        inv_std = 1 / xp.sqrt(self.running_var + self.eps)  # (C,)
        scale = gamma * inv_std  # (C,)
        y = x * scale[None, :, None, None] + (beta - self.running_mean * scale)[None, :, None, None]
        self._cache = ("eval", x, self.running_mean.copy(), inv_std)
        return y

    def _check_batch(self, x) -> int:
        """The number of values per channel of a training batch (ValueError when under 2)."""
        m = x.size // x.shape[1]
        if m < 2:
            raise ValueError(f"{type(self).__name__} in training mode needs more than one value per channel "
                             f"(got input of shape {x.shape}); use eval mode for a single 1x1 sample")
        return m

    def _update_running(self, mean, var, m: int) -> None:
        mom = self.momentum
        self.running_mean *= 1 - mom
        self.running_mean += mom * mean
        self.running_var *= 1 - mom
        self.running_var += (mom * m / (m - 1)) * var  # unbiased, as PyTorch

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


class ConditionalBatchNorm2d(BatchNorm2d):
    """Class-conditional batch norm: ``forward(x, c)`` with ``x (N, C, H, W)`` and a condition
    ``c (N, K)`` (one-hots, or any mix of them); see the module docstring.

    Parameters ``gamma``, ``beta`` ``(C,)`` as :class:`BatchNorm2d`, and ``Wg``, ``Wb``
    ``(K, C)``, zero at first. ``backward(dy)`` returns ``dx`` and leaves ``dL/dc`` in
    ``condition_grad``, for the network that made ``c`` to add into its own input gradient.
    """

    def __init__(self, num_features: int, condition_size: int, eps: float = 1e-5, momentum: float = 0.1,
                 dtype=np.float32):
        super().__init__(num_features, eps, momentum, dtype)
        if int(condition_size) < 1:
            raise ValueError(f"condition_size must be positive, got {condition_size}")
        self.condition_size = int(condition_size)
        self.add_param("Wg", np.zeros((self.condition_size, num_features), dtype=dtype))
        self.add_param("Wb", np.zeros((self.condition_size, num_features), dtype=dtype))
        self.condition_grad = None

    def forward(self, x, c=None):
        if c is None:
            raise ValueError("ConditionalBatchNorm2d needs the condition of its images: forward(x, c)")
        if x.ndim != 4 or x.shape[1] != self.num_features:
            raise ValueError(f"ConditionalBatchNorm2d({self.num_features}) expects (N, {self.num_features}, H, W), "
                             f"got {x.shape}")
        if c.ndim != 2 or c.shape != (x.shape[0], self.condition_size):
            raise ValueError(f"ConditionalBatchNorm2d expects a condition of shape ({x.shape[0]}, "
                             f"{self.condition_size}), got {c.shape}")
        xp = get_array_module(x)
        x, c = self.as_param_dtype(x, "gamma"), self.as_param_dtype(c, "gamma")
        p = self.params
        gamma_n = p["gamma"][None, :] + c @ p["Wg"]  # (N, C)
        beta_n = p["beta"][None, :] + c @ p["Wb"]
        if self.training:
            m = self._check_batch(x)
            ones, zeros = xp.ones_like(p["gamma"]), xp.zeros_like(p["beta"])
            xhat, mean, inv_std, var = kernels.batch_norm_forward_train(x, ones, zeros, self.eps)
            self._update_running(mean, var, m)
            mode = "train"
        else:
            mean, inv_std = self.running_mean.copy(), 1 / xp.sqrt(self.running_var + self.eps)
            xhat = (x - mean[None, :, None, None]) * inv_std[None, :, None, None]
            mode = "eval"
        self._cache = (mode, x, mean, inv_std, c, gamma_n)  # xhat is made again in backward: one map kept, not two
        return xhat * gamma_n[:, :, None, None] + beta_n[:, :, None, None]

    def backward(self, dy):
        mode, x, mean, inv_std, c, gamma_n = self._cache
        xp = get_array_module(x)
        dy = self.as_param_dtype(dy, "gamma")
        xhat = (x - mean[None, :, None, None]) * inv_std[None, :, None, None]
        dgamma_n = (dy * xhat).sum(axis=(2, 3))  # (N, C)
        dbeta_n = dy.sum(axis=(2, 3))
        dxhat = dy * gamma_n[:, :, None, None]
        if mode == "train":
            dx, _, _ = kernels.batch_norm_backward_train(dxhat, x, mean, inv_std, xp.ones_like(self.params["gamma"]))
        else:
            dx = dxhat * inv_std[None, :, None, None]
        if self.requires_grad:
            self.grads["gamma"] += dgamma_n.sum(axis=0)
            self.grads["beta"] += dbeta_n.sum(axis=0)
            self.grads["Wg"] += c.T @ dgamma_n
            self.grads["Wb"] += c.T @ dbeta_n
        self.condition_grad = dgamma_n @ self.params["Wg"].T + dbeta_n @ self.params["Wb"].T  # (N, K)
        return dx

    def clear_cache(self):
        self._cache = self.condition_grad = None

    def extra_repr(self):
        return f"{self.num_features}, condition_size={self.condition_size}, eps={self.eps}, momentum={self.momentum}"
