"""The readable kernels: plain array code, the definition every fast kernel is tested against.

Everything here works on NumPy and CuPy arrays alike (``xp = get_array_module(x)``), loops only
over kernel offsets, and favours clarity over speed. The numba kernels in ``cpu.py`` and the CuPy
kernels in ``gpu.py`` compute the same numbers faster; ``MINIGAN_KERNELS=reference`` makes
minigan use these everywhere.

Notation (used throughout minigan)
----------------------------------
``N``            batch size (images in a batch)
``C``            channels of the input image (``F`` filters = output channels of a convolution)
``H, W``         height and width of the input
``KH, KW``       height and width of the kernel (filter)
``stride``       step of the kernel between neighbouring outputs (the same along H and W)
``padding``      zeros added on every side of the input before the kernel slides over it
``OH, OW``       output height and width: ``OH = (H + 2*padding - KH) // stride + 1``
``P``            ``N * OH * OW``, the number of output pixels in the whole batch

The column matrix
-----------------
A convolution computes, for every output pixel, a dot product between one filter and the
``C x KH x KW`` patch of the input under it. ``im2col`` copies every patch into one column of a
matrix ``cols`` of shape ``(C*KH*KW, N*OH*OW)``:

    cols[(c, i, j), (n, oh, ow)] = x_padded[n, c, oh*stride + i, ow*stride + j]

(row index ``(c*KH + i)*KW + j``, column index ``(n*OH + oh)*OW + ow``). The convolution is then
one matrix product, ``W.reshape(F, C*KH*KW) @ cols``. ``col2im`` is the adjoint (transpose) of
``im2col``: it adds every column back onto the patch it came from, summing where patches
overlap. The gradient of ``im2col`` is ``col2im`` and vice versa, which is why a convolution's
backward pass and a transposed convolution's forward pass are the same computation.

The channels-last column matrix (what the layers use)
-----------------------------------------------------
The layout above is the textbook one (and the figure in the docs). The layers use its
transpose for channels-last images ``x (N, H, W, C)``: one ROW per output pixel,

    cols[(n, oh, ow), (i, j, c)] = x_padded[n, oh*stride + i, ow*stride + j, c]

of shape ``(N*OH*OW, KH*KW*C)`` (:func:`im2col_nhwc`, :func:`col2im_nhwc`). Same numbers, other
order; it is faster because each kernel tap copies ``C`` neighbouring values at once, and a
GEMM ``cols @ W.T`` then yields the output already channels-last, ``(N*OH*OW, F)``, so that
no layer ever transposes an image (see :mod:`minigan.nn.conv`).
"""

from __future__ import annotations

from ..backend import get_array_module

__all__ = [
    "conv_output_size",
    "im2col",
    "col2im",
    "im2col_nhwc",
    "col2im_nhwc",
    "batch_norm_forward_train",
    "batch_norm_backward_train",
    "leaky_relu_forward",
    "leaky_relu_backward",
    "relu_forward",
    "relu_backward",
    "adam_update",
    "ema_update",
]


def conv_output_size(size: int, kernel: int, stride: int, padding: int) -> int:
    """Output length of a convolution along one axis: ``(size + 2*padding - kernel) // stride + 1``."""
    out = (size + 2 * padding - kernel) // stride + 1
    if out < 1:
        raise ValueError(
            f"a kernel of size {kernel} with stride {stride} and padding {padding} does not fit "
            f"an input of size {size}"
        )
    return out


def im2col(x, kh: int, kw: int, stride: int, padding: int):
    """Gather every ``C x KH x KW`` input patch into a column.

    Args:
        x: images, shape ``(N, C, H, W)``.
    Returns:
        ``cols``, shape ``(C*KH*KW, N*OH*OW)``, same dtype as ``x`` (see the module docstring).
    """
    xp = get_array_module(x)
    n, c, h, w = x.shape
    oh = conv_output_size(h, kh, stride, padding)
    ow = conv_output_size(w, kw, stride, padding)
    if padding:
        x = xp.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    cols = xp.empty((c, kh, kw, n, oh, ow), dtype=x.dtype)
    for i in range(kh):  # kernel row offset
        i_stop = i + stride * (oh - 1) + 1
        for j in range(kw):  # kernel column offset
            j_stop = j + stride * (ow - 1) + 1
            # the input pixels that kernel tap (i, j) sees, for every output pixel
            tap = x[:, :, i:i_stop:stride, j:j_stop:stride]  # (N, C, OH, OW)
            cols[:, i, j] = tap.transpose(1, 0, 2, 3)  # (C, N, OH, OW)
    return cols.reshape(c * kh * kw, n * oh * ow)


def col2im(cols, x_shape, kh: int, kw: int, stride: int, padding: int):
    """Scatter-add columns back onto the image they were gathered from (the adjoint of im2col).

    Args:
        cols: shape ``(C*KH*KW, N*OH*OW)``.
        x_shape: ``(N, C, H, W)``, the shape of the image ``im2col`` was applied to.
    Returns:
        ``x``, shape ``(N, C, H, W)``, where each pixel is the sum of every column entry that
        was copied from it.
    """
    xp = get_array_module(cols)
    n, c, h, w = x_shape
    oh = conv_output_size(h, kh, stride, padding)
    ow = conv_output_size(w, kw, stride, padding)
    cols = cols.reshape(c, kh, kw, n, oh, ow)
    x = xp.zeros((n, c, h + 2 * padding, w + 2 * padding), dtype=cols.dtype)
    for i in range(kh):
        i_stop = i + stride * (oh - 1) + 1
        for j in range(kw):
            j_stop = j + stride * (ow - 1) + 1
            x[:, :, i:i_stop:stride, j:j_stop:stride] += cols[:, i, j].transpose(1, 0, 2, 3)
    if padding:
        x = x[:, :, padding : padding + h, padding : padding + w]
    return xp.ascontiguousarray(x)


def im2col_nhwc(x, kh: int, kw: int, stride: int, padding: int, out=None):
    """Gather every ``KH x KW x C`` patch of channels-last images into a row.

    Args:
        x: images, shape ``(N, H, W, C)`` (channels last).
        out: optional C-contiguous ``(N*OH*OW, KH*KW*C)`` array of ``x``'s dtype to write into.
    Returns:
        ``cols``, shape ``(N*OH*OW, KH*KW*C)``:
        ``cols[(n, oh, ow), (i, j, c)] = x_padded[n, oh*stride + i, ow*stride + j, c]``.
    """
    xp = get_array_module(x)
    n, h, w, c = x.shape
    oh = conv_output_size(h, kh, stride, padding)
    ow = conv_output_size(w, kw, stride, padding)
    if padding:
        x = xp.pad(x, ((0, 0), (padding, padding), (padding, padding), (0, 0)))
    shape = (n * oh * ow, kh * kw * c)
    if out is None:
        out = xp.empty(shape, dtype=x.dtype)
    elif out.shape != shape or out.dtype != x.dtype:
        raise ValueError(f"im2col_nhwc: out has shape {out.shape} and dtype {out.dtype}, expected {shape} and {x.dtype}")
    cols = out.reshape(n, oh, ow, kh, kw, c)  # a view: writing it fills out
    for i in range(kh):  # kernel row offset
        i_stop = i + stride * (oh - 1) + 1
        for j in range(kw):  # kernel column offset
            j_stop = j + stride * (ow - 1) + 1
            cols[:, :, :, i, j, :] = x[:, i:i_stop:stride, j:j_stop:stride, :]  # (N, OH, OW, C)
    return out


def col2im_nhwc(cols, x_shape, kh: int, kw: int, stride: int, padding: int):
    """The adjoint of :func:`im2col_nhwc`: add every row's entries back onto the pixels they
    came from.

    The taps are added in the order ``(i, j)`` descending. That is the order in which a loop
    over the patches, ``(oh, ow)`` ascending, meets them at any one pixel: the order of the fast
    kernel, so that both give the same bits (float addition is not associative).

    Args:
        cols: shape ``(N*OH*OW, KH*KW*C)``.
        x_shape: ``(N, H, W, C)``, the shape of the channels-last images.
    Returns:
        ``x``, shape ``(N, H, W, C)``.
    """
    xp = get_array_module(cols)
    n, h, w, c = x_shape
    oh = conv_output_size(h, kh, stride, padding)
    ow = conv_output_size(w, kw, stride, padding)
    cols = cols.reshape(n, oh, ow, kh, kw, c)
    x = xp.zeros((n, h + 2 * padding, w + 2 * padding, c), dtype=cols.dtype)
    for i in reversed(range(kh)):
        i_stop = i + stride * (oh - 1) + 1
        for j in reversed(range(kw)):
            j_stop = j + stride * (ow - 1) + 1
            x[:, i:i_stop:stride, j:j_stop:stride, :] += cols[:, :, :, i, j, :]
    if padding:
        x = x[:, padding : padding + h, padding : padding + w, :]
    return xp.ascontiguousarray(x)


def batch_norm_forward_train(x, gamma, beta, eps: float):
    """Batch normalisation of ``x`` with the statistics of this batch.

    For each channel ``c`` over the ``M = N*H*W`` values of the batch::

        mean_c = sum(x) / M,   var_c = sum((x - mean_c)**2) / M   (biased)
        y = gamma_c * (x - mean_c) / sqrt(var_c + eps) + beta_c

    Args:
        x: shape ``(N, C, H, W)``; gamma, beta: shape ``(C,)``.
    Returns:
        ``y`` (like ``x``), ``mean`` and ``inv_std = 1/sqrt(var + eps)`` (both ``(C,)``), and the
        biased ``var`` (``(C,)``) for the running statistics.
    """
    axes = (0, 2, 3)
    mean = x.mean(axis=axes)  # (C,)
    centred = x - mean[None, :, None, None]  # (N, C, H, W)
    var = (centred * centred).mean(axis=axes)  # (C,)
    inv_std = 1.0 / (var + eps) ** 0.5  # (C,)
    y = centred * (gamma * inv_std)[None, :, None, None] + beta[None, :, None, None]
    return y, mean, inv_std, var


def batch_norm_backward_train(dy, x, mean, inv_std, gamma):
    """Gradients of :func:`batch_norm_forward_train` (batch statistics depend on ``x`` too).

    With ``xhat = (x - mean) * inv_std`` and sums over the ``M = N*H*W`` values of a channel::

        dbeta  = sum(dy)
        dgamma = sum(dy * xhat)
        dx     = gamma * inv_std / M * (M * dy - dbeta - xhat * dgamma)

    Returns ``dx`` (like ``x``), ``dgamma`` and ``dbeta`` (``(C,)``).
    """
    axes = (0, 2, 3)
    m = x.size // x.shape[1]
    xhat = (x - mean[None, :, None, None]) * inv_std[None, :, None, None]
    dbeta = dy.sum(axis=axes)
    dgamma = (dy * xhat).sum(axis=axes)
    scale = (gamma * inv_std / m)[None, :, None, None]
    dx = scale * (m * dy - dbeta[None, :, None, None] - xhat * dgamma[None, :, None, None])
    return dx, dgamma, dbeta


def leaky_relu_forward(x, negative_slope: float):
    """``y = x`` where ``x > 0``, else ``negative_slope * x``."""
    xp = get_array_module(x)
    return xp.where(x > 0, x, x * negative_slope)


def leaky_relu_backward(dy, x, negative_slope: float):
    """``dx = dy`` where ``x > 0``, else ``negative_slope * dy``."""
    xp = get_array_module(dy)
    return xp.where(x > 0, dy, dy * negative_slope)


def relu_forward(x):
    """``y = x`` where ``x > 0``, else ``0``. Returns ``y`` and the boolean ``mask = x > 0``.

    The mask (one byte per value) is all that the backward pass needs.
    """
    xp = get_array_module(x)
    mask = x > 0
    return xp.where(mask, x, 0).astype(x.dtype, copy=False), mask


def relu_backward(dy, mask):
    """``dx = dy`` where ``mask`` (``x > 0``), else ``0``."""
    xp = get_array_module(dy)
    return xp.where(mask, dy, 0).astype(dy.dtype, copy=False)


def adam_update(p, g, m, v, step_size: float, beta1: float, beta2: float, sqrt_bias2: float,
                eps: float) -> None:
    """One Adam update of parameter ``p`` with gradient ``g``, IN PLACE on ``p``, ``m``, ``v``.

    PyTorch's rule, term for term (the bias corrections folded into ``step_size`` and
    ``sqrt_bias2`` by the caller: ``step_size = lr / (1 - beta1**t)``,
    ``sqrt_bias2 = sqrt(1 - beta2**t)``)::

        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g**2
        p = p - step_size * m / (sqrt(v) / sqrt_bias2 + eps)

    All four arrays have one shape and dtype; every operation is done in that dtype.
    """
    xp = get_array_module(p)
    m *= beta1
    m += (1 - beta1) * g
    v *= beta2
    v += (1 - beta2) * (g * g)
    denom = xp.sqrt(v)
    denom /= sqrt_bias2
    denom += eps
    p -= step_size * (m / denom)


def ema_update(average, x, decay: float) -> None:
    """One step of an exponential moving average, IN PLACE on ``average``::

        average = decay * average + (1 - decay) * x

    ``average`` and ``x`` have one shape and dtype; both operations are done in that dtype.
    ``decay = 0`` copies ``x``; ``decay = 1`` leaves ``average`` as it is.
    """
    average *= decay
    average += (1 - decay) * x
