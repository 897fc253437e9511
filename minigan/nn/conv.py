"""Convolution by im2col + GEMM, and transposed convolution by GEMM + col2im.

Notation as in :mod:`minigan.kernels.reference`: input ``(N, C, H, W)``, kernel ``KH x KW``,
output ``(N, F, OH, OW)``, ``P = N*OH*OW`` output pixels.

Convolution (cross-correlation, as every deep-learning library computes it)::

    y[n, f, oh, ow] = b[f] + sum_{c,i,j} W[f, c, i, j] * x_pad[n, c, oh*s + i, ow*s + j]

With ``cols = im2col(x)`` of shape ``(C*KH*KW, P)`` and ``W2 = W.reshape(F, C*KH*KW)`` this is one
matrix product, ``Y = W2 @ cols`` of shape ``(F, P)``. Its derivatives are two more products::

    dW2   = dY @ cols.T          (F, C*KH*KW)
    dcols = W2.T @ dY            (C*KH*KW, P)   then   dx = col2im(dcols)

A transposed convolution is the adjoint of a convolution: the linear map whose matrix is the
transpose of the convolution's. Its forward pass is exactly a convolution's ``dx`` computation
(``col2im(W2.T @ X)``) and its backward pass is exactly a convolution's forward computation
(``W2 @ im2col(dy)``). So the two layers below share one im2col/col2im pair, and each one's
backward is the other's forward. A transposed convolution with stride 2 doubles the image size:
this is how the DCGAN generator grows a 4x4 feature map into a 64x64 image.
"""

from __future__ import annotations

import numpy as np

from .. import kernels
from ..kernels import conv_output_size
from .init import uniform_fan_in
from .layer import Layer

__all__ = [
    "Conv2d",
    "ConvTranspose2d",
    "conv2d",
    "conv_transpose2d",
    "conv_transpose_output_size",
]


def conv_transpose_output_size(size: int, kernel: int, stride: int, padding: int,
                               output_padding: int = 0) -> int:
    """Output length of a transposed convolution: ``(size - 1)*stride - 2*padding + kernel + output_padding``."""
    out = (size - 1) * stride - 2 * padding + kernel + output_padding
    if out < 1:
        raise ValueError(f"transposed convolution output size {out} < 1 for input size {size}")
    return out


def conv2d(x, W, stride: int = 1, padding: int = 0, b=None):
    """Convolution forward pass without a layer (no cache): ``x (N, C, H, W) -> (N, F, OH, OW)``."""
    y, _ = _conv2d_forward(x, W, b, stride, padding)
    return y


def conv_transpose2d(x, W, stride: int = 1, padding: int = 0, b=None, output_padding: int = 0):
    """Transposed convolution without a layer: ``x (N, C_in, H, W) -> (N, C_out, OH, OW)``.

    ``W`` has shape ``(C_in, C_out, KH, KW)``. For the same ``W`` (read as ``(F, C, KH, KW)`` by
    :func:`conv2d`), ``<conv2d(x, W), y> == <x, conv_transpose2d(y, W)>`` for all ``x, y``.
    """
    y, _ = _conv_transpose2d_forward(x, W, b, stride, padding, output_padding)
    return y


def _conv2d_forward(x, W, b, stride, padding):
    """Returns ``y (N, F, OH, OW)`` and ``cols (C*KH*KW, P)`` for the backward pass."""
    n, c, h, w = x.shape
    f, c_w, kh, kw = W.shape
    if c != c_w:
        raise ValueError(f"Conv2d expects {c_w} input channels, got input of shape {x.shape}")
    oh = conv_output_size(h, kh, stride, padding)
    ow = conv_output_size(w, kw, stride, padding)
    cols = kernels.im2col(x, kh, kw, stride, padding)  # (C*KH*KW, P)
    y = W.reshape(f, -1) @ cols  # (F, P): the whole convolution in one GEMM
    if b is not None:
        y += b[:, None]
    return kernels.cnhw_to_nchw(y, n, oh, ow), cols  # (N, F, OH, OW)


def _conv_transpose2d_forward(x, W, b, stride, padding, output_padding):
    """Returns ``y (N, C_out, OH, OW)`` and ``x2 = x as (C_in, N*H*W)`` for the backward pass."""
    n, c_in, h, w = x.shape
    c_in_w, c_out, kh, kw = W.shape
    if c_in != c_in_w:
        raise ValueError(f"ConvTranspose2d expects {c_in_w} input channels, got input of shape {x.shape}")
    oh = conv_transpose_output_size(h, kh, stride, padding, output_padding)
    ow = conv_transpose_output_size(w, kw, stride, padding, output_padding)
    x2 = kernels.nchw_to_cnhw(x)  # (C_in, N*H*W)
    cols = W.reshape(c_in, -1).T @ x2  # (C_out*KH*KW, N*H*W): one GEMM, as in Conv2d's backward
    y = kernels.col2im(cols, (n, c_out, oh, ow), kh, kw, stride, padding)  # (N, C_out, OH, OW)
    if b is not None:
        y += b[None, :, None, None]
    return y, x2


class _ConvBase(Layer):
    def __init__(self, in_channels, out_channels, kernel_size, stride, padding, bias,
                 dtype, rng, weight_shape):
        super().__init__()
        if isinstance(kernel_size, (tuple, list)):
            if len(set(kernel_size)) != 1:
                raise ValueError("minigan supports square kernels only")
            kernel_size = kernel_size[0]
        self.in_channels, self.out_channels = int(in_channels), int(out_channels)
        self.kernel_size, self.stride, self.padding = int(kernel_size), int(stride), int(padding)
        if self.stride < 1 or self.padding < 0 or self.kernel_size < 1:
            raise ValueError(f"bad convolution geometry: kernel {kernel_size}, stride {stride}, padding {padding}")
        rng = np.random.default_rng(rng)
        # PyTorch's default: fan_in = W.shape[1] * KH * KW for both layer kinds
        fan_in = weight_shape[1] * self.kernel_size * self.kernel_size
        self.add_param("W", uniform_fan_in(rng, weight_shape, fan_in, dtype))
        if bias:
            self.add_param("b", uniform_fan_in(rng, (self.out_channels,), fan_in, dtype))

    def clear_cache(self):
        self._cache = None

    def extra_repr(self):
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, padding={self.padding}, bias={'b' in self.params}")


class Conv2d(_ConvBase):
    """2-D convolution. ``W (out_channels, in_channels, KH, KW)``, ``b (out_channels,)``.

    ``x (N, C_in, H, W) -> y (N, C_out, OH, OW)`` with ``OH = (H + 2*padding - KH)//stride + 1``.
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, bias=True,
                 dtype=np.float32, rng=None):
        k = kernel_size[0] if isinstance(kernel_size, (tuple, list)) else kernel_size
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, bias, dtype, rng,
                         (out_channels, in_channels, k, k))

    def forward(self, x):
        y, cols = _conv2d_forward(x, self.params["W"], self.params.get("b"), self.stride, self.padding)
        self._cache = (x.shape, cols)
        return y

    def backward(self, dy):
        x_shape, cols = self._cache
        W = self.params["W"]
        f, k = self.out_channels, self.kernel_size
        dy2 = kernels.nchw_to_cnhw(dy)  # (F, P)
        if self.requires_grad:
            self.grads["W"] += (dy2 @ cols.T).reshape(W.shape)  # (F, C, KH, KW)
            if "b" in self.params:
                self.grads["b"] += dy2.sum(axis=1)
        dcols = W.reshape(f, -1).T @ dy2  # (C*KH*KW, P)
        # the adjoint of im2col: exactly what ConvTranspose2d.forward computes
        return kernels.col2im(dcols, x_shape, k, k, self.stride, self.padding)  # (N, C, H, W)


class ConvTranspose2d(_ConvBase):
    """2-D transposed convolution, the adjoint of :class:`Conv2d`.

    ``W (in_channels, out_channels, KH, KW)`` (PyTorch's layout), ``b (out_channels,)``.
    ``x (N, C_in, H, W) -> y (N, C_out, OH, OW)`` with
    ``OH = (H - 1)*stride - 2*padding + KH + output_padding``.
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, bias=True,
                 dtype=np.float32, rng=None, output_padding=0):
        k = kernel_size[0] if isinstance(kernel_size, (tuple, list)) else kernel_size
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, bias, dtype, rng,
                         (in_channels, out_channels, k, k))
        if not 0 <= output_padding < max(stride, 1):
            raise ValueError(f"output_padding must be in [0, stride), got {output_padding}")
        self.output_padding = int(output_padding)

    def forward(self, x):
        y, x2 = _conv_transpose2d_forward(x, self.params["W"], self.params.get("b"), self.stride,
                                          self.padding, self.output_padding)
        self._cache = (x.shape, x2)
        return y

    def backward(self, dy):
        (n, c_in, h, w), x2 = self._cache
        W = self.params["W"]
        k = self.kernel_size
        dcols = kernels.im2col(dy, k, k, self.stride, self.padding)  # (C_out*KH*KW, N*H*W)
        if self.requires_grad:
            self.grads["W"] += (x2 @ dcols.T).reshape(W.shape)  # (C_in, C_out, KH, KW)
            if "b" in self.params:
                self.grads["b"] += dy.sum(axis=(0, 2, 3))
        # a convolution of dy with W: exactly what Conv2d.forward computes
        dx2 = W.reshape(c_in, -1) @ dcols  # (C_in, N*H*W)
        return kernels.cnhw_to_nchw(dx2, n, h, w)  # (N, C_in, H, W)
