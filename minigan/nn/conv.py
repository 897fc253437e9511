"""Convolution by im2col + GEMM, and transposed convolution by GEMM + col2im.

Notation as in :mod:`minigan.kernels.reference`: input ``(N, C, H, W)``, kernel ``KH x KW``,
output ``(N, F, OH, OW)``, ``P = N*OH*OW`` output pixels, ``K = KH*KW*C`` values in a patch.

Convolution (cross-correlation, as every deep-learning library computes it)::

    y[n, f, oh, ow] = b[f] + sum_{c,i,j} W[f, c, i, j] * x_pad[n, c, oh*s + i, ow*s + j]

With ``cols = im2col(x)``, one row per output pixel holding the patch under it, of shape
``(P, K)``, and the weights as a matrix ``Wm (F, K)`` whose columns follow the same patch order,
this is one matrix product, ``Y = cols @ Wm.T`` of shape ``(P, F)``. Its derivatives are two
more products::

    dWm   = dY.T @ cols          (F, K)
    dcols = dY @ Wm              (P, K)   then   dx = col2im(dcols)

A transposed convolution is the adjoint of a convolution: the linear map whose matrix is the
transpose of the convolution's. Its forward pass is exactly a convolution's ``dx`` computation
(``col2im(X @ Wm)``) and its backward pass is exactly a convolution's forward computation
(``im2col(dy) @ Wm.T``). So the two layers below share one im2col/col2im pair, and each one's
backward is the other's forward. A transposed convolution with stride 2 doubles the image size:
this is how the DCGAN generator grows a 4x4 feature map into a 64x64 image.

Memory layout: channels last
----------------------------
The layers take and return arrays of shape ``(N, C, H, W)``, as PyTorch's, but the arrays they
return are *channels-last in memory* (PyTorch calls this ``channels_last``): the ``C`` values
of a pixel are neighbours, as in an ``(N, H, W, C)`` array, and ``y`` is that array's
``.transpose(0, 3, 1, 2)`` view. NumPy code does not notice (shape, indexing and arithmetic are
the same); what changes is speed:

* ``Y = cols @ Wm.T`` *is* the output, channels-last: ``(P, F) = (N, OH, OW, F)``. No transpose.
* The next layer's ``im2col`` copies runs of ``C`` neighbouring values per kernel tap instead
  of gathering single values with a stride, several times faster.
* Batch norm's per-channel sums run along rows of a ``(P, C)`` matrix, vectorised over channels.

So inside a network no image is ever transposed; an input that is not channels-last (the real
images, say) is copied once by the first layer. The price is that ``Wm`` is the weight
``W (F, C, KH, KW)`` reordered to ``(F, KH, KW, C)``, a copy of the (small) weight per call, and
the weight gradient is reordered back.

DCGAN's first and last layers map between 1x1 and 4x4 images with no padding: there a
convolution's patch is the whole image (``cols`` is the input itself, reshaped), and a
transposed convolution's output is one matrix product with nothing to add up. Both skip
im2col/col2im (``_is_dense_*`` below).
"""

from __future__ import annotations

import threading

import numpy as np

from .. import kernels
from ..backend import get_array_module
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


def matmul(a, b, out=None):
    """``a @ b`` by the array library's BLAS GEMM (NumPy's OpenBLAS, or cuBLAS under CuPy).

    Every matrix product of the two convolution layers goes through this one function, so that
    ``benchmarks/profile_step.py`` can time them as a group. ``out`` (C-contiguous, the right
    shape and dtype) receives the result without a new allocation.
    """
    if a.shape[1] == 1:  # an outer product (no sum): BLAS is slow at those, broadcasting is not
        return get_array_module(a).multiply(a, b, out=out)
    return get_array_module(a).matmul(a, b, out=out)


_scratch = threading.local()  # per thread: {(array module, dtype): flat reusable buffer}


def scratch(shape, dtype, xp):
    """A temporary array of ``shape``, carved out of one buffer that this thread reuses.

    A convolution's column matrices are large (64 MB for DCGAN's widest layer at batch 64) and
    many of them live only during one call: the columns of a transposed convolution's forward
    pass, the column gradients of both backward passes. Allocating each afresh makes the
    operating system map and zero fresh pages on every call; instead each thread keeps one
    growing buffer per array module and dtype. The contents are garbage on return, and the
    next ``scratch`` call overwrites them, so a caller uses at most one scratch array at a time
    and never keeps or returns it.
    """
    pool = getattr(_scratch, "pool", None)
    if pool is None:
        pool = _scratch.pool = {}
    key = (xp.__name__, np.dtype(dtype).str)
    size = int(np.prod(shape))
    buffer = pool.get(key)
    if buffer is None or buffer.size < size:
        buffer = pool[key] = xp.empty(size, dtype=dtype)
    return buffer[:size].reshape(shape)


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


def _nhwc(x):
    """``(N, C, H, W) -> (N, H, W, C)`` view: free for a channels-last array, else one copy."""
    return get_array_module(x).ascontiguousarray(x.transpose(0, 2, 3, 1))


def _weight_matrix(W):
    """The weight as a matrix whose patch axis follows the columns' ``(i, j, c)`` order.

    Conv2d: ``W (F, C, KH, KW) -> (F, KH*KW*C)``; ConvTranspose2d: ``W (C_in, C_out, KH, KW)
    -> (C_in, KH*KW*C_out)``. Both are ``W.transpose(0, 2, 3, 1)`` reshaped (a small copy).
    """
    return W.transpose(0, 2, 3, 1).reshape(W.shape[0], -1)


def _weight_from_matrix(Wm, shape):
    """The inverse of :func:`_weight_matrix`: ``(A, KH*KW*B) -> (A, B, KH, KW)`` (a view)."""
    a, b, kh, kw = shape
    return Wm.reshape(a, kh, kw, b).transpose(0, 3, 1, 2)


def _is_dense_conv(x_shape, kh, kw, padding):
    """True when the kernel covers the whole unpadded input (one output pixel per image).

    Then ``im2col(x)`` is just ``x`` as ``(N, H*W*C)``, and the convolution is a plain matrix
    product with nothing to copy: DCGAN's last discriminator layer (512x4x4 -> 1x1).
    """
    return padding == 0 and x_shape[2] == kh and x_shape[3] == kw


def _conv2d_forward(x, W, b, stride, padding, cols_buffer=None):
    """Returns ``y (N, F, OH, OW)`` (channels-last) and what the backward pass needs:
    ``(cols (P, K), Wm (F, K))``.

    ``cols_buffer``, when it has the right shape and dtype, receives the columns: the layer
    passes the one its previous call filled, so that the largest array of the pass (64 MB for
    DCGAN's second layer at batch 64) is not allocated afresh three times a step.
    """
    n, c, h, w = x.shape
    f, c_w, kh, kw = W.shape
    if c != c_w:
        raise ValueError(f"Conv2d expects {c_w} input channels, got input of shape {x.shape}")
    oh = conv_output_size(h, kh, stride, padding)
    ow = conv_output_size(w, kw, stride, padding)
    x4 = _nhwc(x)  # (N, H, W, C)
    Wm = _weight_matrix(W)  # (F, K)
    if _is_dense_conv(x.shape, kh, kw, padding):
        cols = x4.reshape(n, -1)  # (N, K): each image is its only patch
    else:
        if cols_buffer is not None and (cols_buffer.shape != (n * oh * ow, Wm.shape[1])
                                        or cols_buffer.dtype != x.dtype
                                        or get_array_module(cols_buffer) is not get_array_module(x)):
            cols_buffer = None
        cols = kernels.im2col_nhwc(x4, kh, kw, stride, padding, out=cols_buffer)  # (P, K)
    y = matmul(cols, Wm.T)  # (P, F) = (N, OH, OW, F): the whole convolution in one GEMM
    if b is not None:
        y += b
    return y.reshape(n, oh, ow, f).transpose(0, 3, 1, 2), (cols, Wm)  # (N, F, OH, OW)


def _is_dense_conv_transpose(x_shape, padding, output_padding):
    """True when every input image is one pixel and nothing is cropped: then each image's
    output is its ``(C_in,)`` vector times ``Wm (C_in, KH*KW*C_out)``, with no col2im.
    DCGAN's first generator layer (noise 100x1x1 -> 512x4x4)."""
    return x_shape[2] == 1 and x_shape[3] == 1 and padding == 0 and output_padding == 0


def _conv_transpose2d_forward(x, W, b, stride, padding, output_padding):
    """Returns ``y (N, C_out, OH, OW)`` (channels-last) and what the backward pass needs:
    ``(x2 (N*H*W, C_in), Wm (C_in, KH*KW*C_out))``."""
    n, c_in, h, w = x.shape
    c_in_w, c_out, kh, kw = W.shape
    if c_in != c_in_w:
        raise ValueError(f"ConvTranspose2d expects {c_in_w} input channels, got input of shape {x.shape}")
    oh = conv_transpose_output_size(h, kh, stride, padding, output_padding)
    ow = conv_transpose_output_size(w, kw, stride, padding, output_padding)
    xp = get_array_module(x)
    x2 = _nhwc(x).reshape(n * h * w, c_in)  # (N*H*W, C_in)
    Wm = _weight_matrix(W)  # (C_in, K)
    if _is_dense_conv_transpose(x.shape, padding, output_padding):
        y4 = matmul(x2, Wm).reshape(n, kh, kw, c_out)  # (N, KH, KW, C_out) = (N, OH, OW, C_out)
    else:
        # one GEMM, as in Conv2d's backward; the columns are a temporary
        cols = matmul(x2, Wm, out=scratch((n * h * w, Wm.shape[1]), x.dtype, xp))  # (N*H*W, K)
        y4 = kernels.col2im_nhwc(cols, (n, oh, ow, c_out), kh, kw, stride, padding)  # (N, OH, OW, C_out)
    if b is not None:
        y4 += b
    return y4.transpose(0, 3, 1, 2), (x2, Wm)  # (N, C_out, OH, OW)


class _ConvBase(Layer):
    def __init__(self, in_channels, out_channels, kernel_size, stride, padding, bias,
                 dtype, rng, weight_shape):
        super().__init__()
        self._cache = None
        self._cols_buffer = None  # Conv2d: the im2col output of the last call, reused by the next
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
        self._cols_buffer = None

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
        x = self.as_param_dtype(x)
        # the previous call's column matrix is dead once a new forward pass starts: reuse it
        y, saved = _conv2d_forward(x, self.params["W"], self.params.get("b"), self.stride, self.padding,
                                   cols_buffer=self._cols_buffer)
        self._cache = (x.shape, saved)
        if not _is_dense_conv(x.shape, self.kernel_size, self.kernel_size, self.padding):
            self._cols_buffer = saved[0]  # our own array (a dense layer's cols is its input)
        return y

    def backward(self, dy):
        (n, c, h, w), (cols, Wm) = self._cache  # cols (P, K), Wm (F, K)
        W = self.params["W"]
        k = self.kernel_size
        dy = self.as_param_dtype(dy)
        xp = get_array_module(dy)
        dy2 = _nhwc(dy).reshape(-1, self.out_channels)  # (P, F): free, dy is channels-last
        if self.requires_grad:
            dWm = matmul(dy2.T, cols, out=scratch(Wm.shape, Wm.dtype, xp))  # (F, K)
            self.grads["W"] += _weight_from_matrix(dWm, W.shape)  # (F, C, KH, KW)
            if "b" in self.params:
                self.grads["b"] += dy2.sum(axis=0)
        if not self.needs_input_grad:
            return None
        if _is_dense_conv((n, c, h, w), k, k, self.padding):
            dx4 = matmul(dy2, Wm).reshape(n, h, w, c)  # (N, H, W, C)
        else:
            dcols = matmul(dy2, Wm, out=scratch(cols.shape, cols.dtype, xp))  # (P, K)
            # the adjoint of im2col: exactly what ConvTranspose2d.forward computes
            dx4 = kernels.col2im_nhwc(dcols, (n, h, w, c), k, k, self.stride, self.padding)  # (N, H, W, C)
        return dx4.transpose(0, 3, 1, 2)  # (N, C, H, W), channels-last


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
        x = self.as_param_dtype(x)
        y, saved = _conv_transpose2d_forward(x, self.params["W"], self.params.get("b"), self.stride,
                                             self.padding, self.output_padding)
        self._cache = (x.shape, saved)
        return y

    def backward(self, dy):
        (n, c_in, h, w), (x2, Wm) = self._cache  # x2 (N*H*W, C_in), Wm (C_in, K)
        W = self.params["W"]
        k = self.kernel_size
        dy = self.as_param_dtype(dy)
        xp = get_array_module(dy)
        dy4 = _nhwc(dy)  # (N, OH, OW, C_out): free, dy is channels-last
        if _is_dense_conv_transpose((n, c_in, h, w), self.padding, self.output_padding):
            dcols = dy4.reshape(n, -1)  # (N, K): each output image is one row
        else:
            dcols = kernels.im2col_nhwc(dy4, k, k, self.stride, self.padding,
                                        out=scratch((n * h * w, Wm.shape[1]), dy.dtype, xp))  # (N*H*W, K)
        if self.requires_grad:
            self.grads["W"] += _weight_from_matrix(matmul(x2.T, dcols), W.shape)  # (C_in, C_out, KH, KW)
            if "b" in self.params:
                self.grads["b"] += dy4.sum(axis=(0, 1, 2))
        if not self.needs_input_grad:
            return None
        # a convolution of dy with W: exactly what Conv2d.forward computes
        dx2 = matmul(dcols, Wm.T)  # (N*H*W, C_in)
        return dx2.reshape(n, h, w, c_in).transpose(0, 3, 1, 2)  # (N, C_in, H, W), channels-last
